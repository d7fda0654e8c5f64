// --precision bf16 at the level of one product: every shape the model multiplies (linear forward and
// both backward products, the attention products on strided views of the fused QKV rows, transposed
// operands, alpha and beta) equals a float64 sum over the bf16-rounded inputs, the rounding itself is
// round-to-nearest-even (checked against an independent rounding in Double), and bf16 is not fp32.
@testable import BERT
import CKernels
import XCTest

final class BF16ProductTests: XCTestCase {
    override func tearDown() { MatrixProducts.use(.fp32); MatrixProducts.readsWeightCopy = true }

    /// x rounded to the nearest bf16 value (8 significant bits), ties to the even one, computed in Double
    /// from the float's two bf16 neighbours: independent of the bit trick the kernels use.
    static func roundedToBF16(_ x: Float) -> Float {
        if !x.isFinite { return x }
        let below = Float(bitPattern: x.bitPattern & 0xFFFF_0000)   // toward zero
        let above = Float(bitPattern: (x.bitPattern & 0xFFFF_0000) &+ 0x1_0000)   // away from zero (may be ±inf)
        // Past the largest bf16 the next value up is ±2¹²⁸ (IEEE: a value that far rounds to ±inf).
        let aboveValue = above.isInfinite ? (x < 0 ? -0x1p128 : 0x1p128) : Double(above)
        let dBelow = abs(Double(x) - Double(below)), dAbove = abs(aboveValue - Double(x))
        if dBelow < dAbove { return below }
        if dAbove < dBelow { return above }
        return (below.bitPattern >> 16) & 1 == 0 ? below : above
    }

    func testRoundingIsNearestEven() {
        func bits(_ x: Float) -> UInt16 { bp_bf16_bits(x) }
        XCTAssertEqual(bits(1), 0x3F80)
        XCTAssertEqual(bits(1 + 0x1p-8), 0x3F80, "a tie rounds to the even neighbour (down)")
        XCTAssertEqual(bits(1 + 3 * 0x1p-8), 0x3F82, "a tie rounds to the even neighbour (up)")
        XCTAssertEqual(bits(1 + 0x1p-8 + 0x1p-20), 0x3F81, "just above a tie rounds up")
        XCTAssertEqual(bits(-2.5), 0xC020)
        XCTAssertEqual(bits(.infinity), 0x7F80)
        XCTAssertEqual(bits(-.infinity), 0xFF80)
        XCTAssertEqual(bits(.greatestFiniteMagnitude), 0x7F80, "rounds past the largest bf16: +inf")
        XCTAssertTrue(Float(bitPattern: UInt32(bits(.nan)) << 16).isNaN)
        XCTAssertTrue(Float(bitPattern: UInt32(bits(Float(bitPattern: 0x7F80_0001))) << 16).isNaN, "a NaN with only low payload bits stays NaN")
        // Random floats over many magnitudes, subnormals included, against the Double rounding.
        var state: UInt64 = 7
        var values: [Float] = [0, -0, .leastNonzeroMagnitude, .leastNormalMagnitude]
        for _ in 0..<20_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            values.append(Float(bitPattern: UInt32(truncatingIfNeeded: state >> 32) & 0xFF7F_FFFF))   // finite
        }
        var rounded = [Float](repeating: 0, count: values.count)
        bp_round_rows_bf16(&rounded, values, 1, values.count, values.count)
        for (x, r) in zip(values, rounded) {
            let expected = Self.roundedToBF16(x)
            XCTAssertEqual(r.bitPattern, expected.bitPattern, "bf16(\(x)) = \(r), expected \(expected)")
            XCTAssertEqual(UInt32(bits(x)) << 16, expected.bitPattern)
        }
    }

    struct Case {
        let name: String
        var transA = false, transB = false
        let m: Int, n: Int, k: Int
        var alpha: Float = 1, beta: Float = 0
        let lda: Int, ldb: Int, ldc: Int
    }

    /// The model's products at a small config (N = 40 rows, H = 32, 3H = 96, I = 48, A = 4 heads of D = 8,
    /// one sequence of T = 12 in the fused QKV rows of stride 96), and edge sizes.
    static let cases: [Case] = {
        let N = 40, H = 32, I = 48, T = 12, D = 8, qkv = 3 * H
        return [
            Case(name: "QKV forward x·Wᵀ", transB: true, m: N, n: qkv, k: H, beta: 1, lda: H, ldb: H, ldc: qkv),
            Case(name: "FFN forward x·Wᵀ", transB: true, m: N, n: I, k: H, beta: 1, lda: H, ldb: H, ldc: I),
            Case(name: "linear backward dx = dOut·W", m: N, n: H, k: I, lda: I, ldb: H, ldc: H),
            Case(name: "linear backward dx += dOut·W", m: N, n: H, k: I, beta: 1, lda: I, ldb: H, ldc: H),
            Case(name: "linear backward dW += dOutᵀ·x", transA: true, m: I, n: H, k: N, beta: 1, lda: I, ldb: H, ldc: H),
            Case(name: "scores q·kᵀ/√D (strided)", transB: true, m: T, n: T, k: D, alpha: 1 / Float(D).squareRoot(),
                 lda: qkv, ldb: qkv, ldc: T),
            Case(name: "context P·v (strided v, strided ctx)", m: T, n: D, k: T, lda: T, ldb: qkv, ldc: H),
            Case(name: "dWeights = dctx·vᵀ", transB: true, m: T, n: T, k: D, lda: H, ldb: qkv, ldc: T),
            Case(name: "dv = Pᵀ·dctx", transA: true, m: T, n: D, k: T, lda: T, ldb: H, ldc: qkv),
            Case(name: "dk = dSᵀ·q/√D", transA: true, m: T, n: D, k: T, alpha: 1 / Float(D).squareRoot(), lda: T, ldb: qkv, ldc: qkv),
            Case(name: "one row", transB: true, m: 1, n: 7, k: 5, lda: 5, ldb: 5, ldc: 7),
            Case(name: "k = 1", m: 6, n: 5, k: 1, lda: 1, ldb: 5, ldc: 5),
            Case(name: "both transposed", transA: true, transB: true, m: 9, n: 11, k: 13, alpha: 0.5, beta: 1, lda: 9, ldb: 13, ldc: 11),
        ]
    }()

    /// Values that are not bf16-representable, over a few magnitudes, one stream per seed.
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let u = Double(state >> 11) / Double(1 << 53)
            return Float((u - 0.5) * 4 * (1 + Double(state & 3)))
        }
    }

    /// C = alpha·op(A)·op(B) + beta·C in float64 on bf16-rounded A and B (C's input not rounded: it is the
    /// float32 accumulator the product adds onto).
    static func reference(_ c: Case, a: [Float], b: [Float], cIn: [Float]) -> [Double] {
        var out = cIn.map(Double.init)
        for i in 0..<c.m {
            for j in 0..<c.n {
                var sum = 0.0
                for p in 0..<c.k {
                    let x = c.transA ? a[p * c.lda + i] : a[i * c.lda + p]
                    let y = c.transB ? b[j * c.ldb + p] : b[p * c.ldb + j]
                    sum += Double(roundedToBF16(x)) * Double(roundedToBF16(y))
                }
                out[i * c.ldc + j] = Double(c.alpha) * sum + Double(c.beta) * out[i * c.ldc + j]
            }
        }
        return out
    }

    static func run(_ c: Case, a: [Float], b: [Float], cIn: [Float]) -> [Float] {
        var out = cIn
        sgemm(transA: c.transA, transB: c.transB, m: c.m, n: c.n, k: c.k, alpha: c.alpha, a: a, lda: c.lda, b: b, ldb: c.ldb,
              beta: c.beta, c: &out, ldc: c.ldc)
        return out
    }

    func testEveryProductShapeEqualsFloat64OnRoundedInputs() {
        for emulate in [false, true] {
            let path = MatrixProducts.use(.bf16, emulate: emulate)
            XCTAssertNotEqual(path, .openblasFP32)
            for (index, c) in Self.cases.enumerated() {
                let aCount = (c.transA ? c.k : c.m) * c.lda, bCount = (c.transB ? c.n : c.k) * c.ldb
                let a = Self.values(aCount, seed: UInt64(3 * index + 1)), b = Self.values(bCount, seed: UInt64(3 * index + 2))
                let cIn = Self.values(c.m * c.ldc, seed: UInt64(3 * index + 3))
                let expected = Self.reference(c, a: a, b: b, cIn: cIn)
                let ours = Self.run(c, a: a, b: b, cIn: cIn)
                let scale = expected.map(abs).max()!
                var worst = 0.0
                for i in 0..<c.m {
                    for j in 0..<c.ldc {
                        let e = i * c.ldc + j
                        if j >= c.n {   // columns past n (a strided C) are not touched
                            XCTAssertEqual(ours[e].bitPattern, cIn[e].bitPattern, "\(c.name): wrote outside the product")
                            continue
                        }
                        worst = max(worst, abs(Double(ours[e]) - expected[e]) / scale)
                    }
                }
                XCTAssertLessThanOrEqual(worst, 1e-5, "\(c.name) on \(path.rawValue): relative error \(worst)")

                // bf16 is not a no-op: the float32 product of the unrounded inputs differs by ~2⁻⁹ relative.
                MatrixProducts.use(.fp32)
                let fp32 = Self.run(c, a: a, b: b, cIn: cIn)
                MatrixProducts.use(.bf16, emulate: emulate)
                let difference = zip(fp32, ours).map { abs(Double($0) - Double($1)) }.max()! / scale
                if c.k > 1 { XCTAssertGreaterThan(difference, 1e-4, "\(c.name): bf16 equals fp32 (\(difference))") }
            }
        }
    }

    /// Products run from several threads at once (attention's workers) use per-thread operand buffers: the
    /// same results as run one after another.
    func testConcurrentProductsMatchSerialBitForBit() {
        MatrixProducts.use(.bf16)
        let c = Self.cases[5], count = 8
        let inputs = (0..<count).map { i in
            (Self.values(c.m * c.lda, seed: UInt64(100 + i)), Self.values(c.n * c.ldb, seed: UInt64(200 + i)))
        }
        let cIn = [Float](repeating: 0, count: c.m * c.ldc)
        let serial = inputs.map { Self.run(c, a: $0.0, b: $0.1, cIn: cIn) }
        let results = UnsafeMutableBufferPointer<[Float]>.allocate(capacity: count)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: count) { i in results[i] = Self.run(c, a: inputs[i].0, b: inputs[i].1, cIn: cIn) }
        for i in 0..<count { XCTAssertEqual(results[i].map(\.bitPattern), serial[i].map(\.bitPattern), "product \(i)") }
    }

    /// On oneDNN a product whose operand lies in a model's parameters reads their bf16 copy: the same
    /// numbers as converting the operand, bit for bit; the copy is what is read (a parameter changed
    /// without `refresh` is not seen), `refresh` brings it up to date, and a freed copy is never read.
    func testProductsReadTheWeightCopyOnlyWhileItLives() throws {
        guard OneDNN.hasBF16Kernel else { throw XCTSkip("oneDNN has no bf16 kernel on this CPU (needs AVX512-BF16 or AMX)") }
        MatrixProducts.use(.bf16)
        let m = 5, n = 24, k = 40, offset = 13   // y = x·Wᵀ with W [n, k] in the middle of the parameters
        let x = Self.values(m * k, seed: 1)
        let parameters = UnsafeMutableBufferPointer<Float>.allocate(capacity: offset + n * k + 7)
        defer { parameters.deallocate() }
        for (i, v) in Self.values(parameters.count, seed: 2).enumerated() { parameters[i] = v }
        func product(_ weight: UnsafePointer<Float>) -> [Float] {
            var out = [Float](repeating: 0, count: m * n)
            sgemm(transB: true, m: m, n: n, k: k, a: x, lda: k, b: weight, ldb: k, c: &out, ldc: n)
            return out
        }
        let weight = UnsafePointer(parameters.baseAddress! + offset)
        let converted = product(weight)
        var copy: BF16Weights? = BF16Weights(of: parameters.baseAddress!, count: parameters.count)
        copy!.refresh()
        XCTAssertTrue(MatrixProducts.weights === copy)
        XCTAssertEqual(product(weight).map(\.bitPattern), converted.map(\.bitPattern), "the copy gives other numbers")

        for i in offset..<(offset + n * k) { parameters[i] *= 2 }   // an update the copy has not seen
        XCTAssertEqual(product(weight).map(\.bitPattern), converted.map(\.bitPattern), "the product did not read the copy")
        copy!.refresh()
        let doubled = product(weight)
        XCTAssertEqual(doubled, converted.map { 2 * $0 }, "refresh did not bring the copy up to date")
        copy = nil
        XCTAssertNil(MatrixProducts.weights)
        for i in offset..<(offset + n * k) { parameters[i] /= 2 }
        XCTAssertEqual(product(weight).map(\.bitPattern), converted.map(\.bitPattern), "a freed copy was read")
    }

    /// Training reads the copy made at the start of each forward: two steps with an update between give
    /// the losses and gradients of converting every weight where it is read, bit for bit (a copy left
    /// from before the update would give step 2 the old weights).
    func testTrainingStepsWithTheWeightCopyEqualConvertingEveryProduct() throws {
        guard OneDNN.hasBF16Kernel else { throw XCTSkip("oneDNN has no bf16 kernel on this CPU (needs AVX512-BF16 or AMX)") }
        func twoSteps(readingTheCopy: Bool) throws -> [[Float]] {
            MatrixProducts.use(.bf16)
            MatrixProducts.readsWeightCopy = readingTheCopy
            let model = try TinyModel.model(dropout: 0.1)
            let batch = TinyModel.batch()
            var results: [[Float]] = []
            for _ in 0..<2 {
                let loss = try model.trainingForward(batch)
                let firstScale = Float(1 / loss.first.count), secondScale = Float(1 / loss.second.count)
                model.zeroGradients()
                model.backward(firstScale: firstScale, secondScale: secondScale, gradientsReady: nil)
                let gradients: [Float] = Array(model.gradients)
                results.append([Float(loss.loss)] + gradients)
                for i in 0..<model.parameters.count { model.parameters[i] -= 0.5 * model.gradients[i] }
            }
            return results
        }
        let withCopy = try twoSteps(readingTheCopy: true), converting = try twoSteps(readingTheCopy: false)
        XCTAssertNotEqual(withCopy[0][0], withCopy[1][0], "the update changed nothing: the test would not see a stale copy")
        for s in 0..<2 {
            XCTAssertEqual(withCopy[s][0], converting[s][0], "step \(s + 1) loss")
            XCTAssertTrue(withCopy[s] == converting[s], "step \(s + 1): gradients differ")
        }
    }
}
