// oneDNN's matmul behind `sgemm`'s bf16 path. The float32 product (same plumbing: strides, transposes,
// alpha, beta, the primitive cache, per-thread streams) is checked on any CPU against a float64
// reference; the bf16 product only where oneDNN has a bf16 kernel, against the reference on the
// bf16-rounded operands and against the emulated bf16 path of `sgemm`.
@testable import BERT
import CBLAS
import CDNNL
import CKernels
import Foundation
import XCTest

final class OneDNNTests: XCTestCase {
    private var blasThreads: Int32 = 1

    override func setUp() { blasThreads = openblas_get_num_threads() }
    override func tearDown() {
        MatrixProducts.use(.fp32)
        openblas_set_num_threads(blasThreads)
    }

    /// One product: operands as stored (A is [m, k], or [k, m] when transA, at row stride lda, starting
    /// at offsetA in its buffer — a head's columns of the fused QKV rows), C likewise.
    struct Case: CustomStringConvertible {
        var name: String
        var transA = false, transB = false
        var m: Int, n: Int, k: Int
        var lda: Int, ldb: Int, ldc: Int
        var offsetA = 0, offsetB = 0, offsetC = 0
        var alpha: Float = 1, beta: Float = 0

        var aCount: Int { offsetA + (transA ? k : m) * lda }
        var bCount: Int { offsetB + (transB ? n : k) * ldb }
        var cCount: Int { offsetC + m * ldc }
        var description: String {
            "\(name): m=\(m) n=\(n) k=\(k) transA=\(transA) transB=\(transB) lda=\(lda) ldb=\(ldb) ldc=\(ldc) alpha=\(alpha) beta=\(beta)"
        }
    }

    /// Every transpose combination on strided operands (lda, ldb, ldc above what the shape needs),
    /// alpha 1 and not, beta 0 and 1; then the model's shapes (N = 40 rows, H = 32, 4 heads of D = 8,
    /// T = 12, fused QKV rows of 3H = 96), k = 1 and m = 1.
    static let cases: [Case] = {
        var cases: [Case] = []
        for transA in [false, true] {
            for transB in [false, true] {
                for alpha: Float in [1, 0.37] {
                    for beta: Float in [0, 1] {
                        let m = 5, n = 7, k = 3
                        cases.append(Case(name: "strided", transA: transA, transB: transB, m: m, n: n, k: k,
                                          lda: (transA ? m : k) + 3, ldb: (transB ? k : n) + 2, ldc: n + 4,
                                          offsetA: 1, offsetB: 2, offsetC: 3, alpha: alpha, beta: beta))
                    }
                }
            }
        }
        let N = 40, H = 32, D = 8, T = 12, threeH = 96
        cases += [
            // Fused QKV projection: x[N, H] · W[3H, H]ᵀ.
            Case(name: "qkv projection", transB: true, m: N, n: threeH, k: H, lda: H, ldb: H, ldc: threeH),
            // Scores of head 1: q · kᵀ read from the fused rows (stride 3H), scaled by 1/√D.
            Case(name: "q·kᵀ per head", transB: true, m: T, n: T, k: D, lda: threeH, ldb: threeH, ldc: T,
                 offsetA: D, offsetB: H + D, alpha: 1 / Float(D).squareRoot()),
            // Context of head 2: weights[T, T] · v[T, D] (stride 3H) into ctx's columns (stride H).
            Case(name: "weights·v", m: T, n: D, k: T, lda: T, ldb: threeH, ldc: H, offsetB: 2 * H + 2 * D, offsetC: 2 * D),
            // dv = weightsᵀ · dctx into the fused gradient rows.
            Case(name: "weightsᵀ·dctx", transA: true, m: T, n: D, k: T, lda: T, ldb: H, ldc: threeH, offsetB: D, offsetC: 2 * H),
            // dq = scale · dWeights · k, accumulated (beta 1).
            Case(name: "dq += dW·k", m: T, n: D, k: T, lda: T, ldb: threeH, ldc: threeH, offsetB: H, alpha: 0.35, beta: 1),
            // dWeight[3H, H] += dOutᵀ[3H, N] · x[N, H].
            Case(name: "dWeight += dOutᵀ·x", transA: true, m: threeH, n: H, k: N, lda: threeH, ldb: H, ldc: H, beta: 1),
            // dx = dOut[N, 3H] · W[3H, H].
            Case(name: "dx = dOut·W", m: N, n: H, k: threeH, lda: threeH, ldb: H, ldc: H),
            Case(name: "k = 1", m: 6, n: 5, k: 1, lda: 1, ldb: 5, ldc: 5, alpha: 2, beta: 1),
            Case(name: "k = 1 transposed", transA: true, transB: true, m: 6, n: 5, k: 1, lda: 6, ldb: 1, ldc: 5),
            Case(name: "m = 1", m: 1, n: 9, k: 7, lda: 7, ldb: 9, ldc: 9, beta: 1),
            Case(name: "m = 1 transA", transA: true, transB: true, m: 1, n: 9, k: 7, lda: 3, ldb: 7, ldc: 9),
        ]
        return cases
    }()

    /// Operand values: a fixed pseudo-random pattern in (-2, 2), different per buffer.
    static func values(_ count: Int, seed: Int) -> [Float] {
        (0..<count).map { Float(sin(Double($0 * 7 + seed * 131) * 0.618) * 2) }
    }

    /// C as the float64 reference computes it from the given operands and starting C.
    static func reference(_ c: Case, _ a: [Float], _ b: [Float], _ c0: [Float]) -> [Double] {
        var out = c0.map(Double.init)
        for i in 0..<c.m {
            for j in 0..<c.n {
                var sum = 0.0
                for p in 0..<c.k {
                    let av = a[c.offsetA + (c.transA ? p * c.lda + i : i * c.lda + p)]
                    let bv = b[c.offsetB + (c.transB ? j * c.ldb + p : p * c.ldb + j)]
                    sum += Double(av) * Double(bv)
                }
                let index = c.offsetC + i * c.ldc + j
                out[index] = Double(c.alpha) * sum + (c.beta == 0 ? 0 : Double(c.beta) * Double(c0[index]))
            }
        }
        return out
    }

    /// Whether `ours` matches the reference to 1e-5 of the reference's largest |entry| in C (every
    /// element of the buffer: those outside the m × n block must be untouched).
    static func assertClose(_ ours: [Float], _ reference: [Double], _ c: Case, _ what: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        let scale = max(reference.map(abs).max() ?? 0, 1e-30)
        var worst = 0.0, at = 0
        for index in reference.indices {
            let error = abs(Double(ours[index]) - reference[index])
            if error > worst { worst = error; at = index }
        }
        XCTAssertLessThanOrEqual(worst / scale, 1e-5, "\(what) \(c): worst error \(worst) at \(at) (scale \(scale))",
                                 file: file, line: line)
    }

    struct Operands {
        var a: [Float], b: [Float], c: [Float]
        init(_ c: Case, index: Int) {
            a = OneDNNTests.values(c.aCount, seed: 3 * index)
            b = OneDNNTests.values(c.bCount, seed: 3 * index + 1)
            self.c = OneDNNTests.values(c.cCount, seed: 3 * index + 2)
        }
    }

    static func runF32(_ c: Case, _ operands: Operands) -> [Float] {
        var out = operands.c
        operands.a.withUnsafeBufferPointer { a in
            operands.b.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { o in
                    OneDNN.matmulF32(transA: c.transA, transB: c.transB, m: c.m, n: c.n, k: c.k, alpha: c.alpha,
                                     a: a.baseAddress! + c.offsetA, lda: c.lda, b: b.baseAddress! + c.offsetB, ldb: c.ldb,
                                     beta: c.beta, c: o.baseAddress! + c.offsetC, ldc: c.ldc)
                }
            }
        }
        return out
    }

    // MARK: - float32 (any CPU)

    func testF32MatchesFloat64Reference() {
        for (index, c) in Self.cases.enumerated() {
            let operands = Operands(c, index: index)
            let first = Self.runF32(c, operands)
            Self.assertClose(first, Self.reference(c, operands.a, operands.b, operands.c), c, "f32")
            // The second call takes the cached primitive and this thread's bound memory objects.
            let second = Self.runF32(c, operands)
            XCTAssertEqual(first, second, "f32 second call (cache hit) \(c)")
        }
    }

    /// Unpadded batches change the row count every step and attention runs at each sequence's length: a
    /// new size of a known kind of product (transposes, alpha, beta) creates no primitive.
    func testNewSizesReuseTheKindsPrimitive() {
        let base = Case(name: "qkv projection, N rows", transB: true, m: 40, n: 96, k: 32, lda: 32, ldb: 32, ldc: 96)
        _ = Self.runF32(base, Operands(base, index: 0))
        let count = OneDNN.primitiveCount
        for (i, rows) in [1, 7, 33, 129].enumerated() {
            var c = base; c.m = rows
            let operands = Operands(c, index: i + 1)
            Self.assertClose(Self.runF32(c, operands), Self.reference(c, operands.a, operands.b, operands.c), c, "f32 at m = \(rows)")
            var head = Self.cases.first { $0.name == "q·kᵀ per head" }!
            head.m = rows; head.n = rows; head.ldc = rows   // a sequence of this length
            let headOperands = Operands(head, index: i + 9)
            Self.assertClose(Self.runF32(head, headOperands), Self.reference(head, headOperands.a, headOperands.b, headOperands.c),
                             head, "f32 scores at T = \(rows)")
        }
        XCTAssertLessThanOrEqual(OneDNN.primitiveCount, count + 1, "sizes created primitives (the scores' kind may be new)")
    }

    func testF32EmptySumLeavesBetaC() {
        let c = Case(name: "k = 0", m: 3, n: 4, k: 0, lda: 1, ldb: 4, ldc: 5, alpha: 2, beta: 0.5)
        let operands = Operands(c, index: 0)
        XCTAssertEqual(Self.runF32(c, operands), operands.c.enumerated().map { $0.offset % 5 < 4 ? $0.element * 0.5 : $0.element })
        var zero = c; zero.beta = 0
        XCTAssertEqual(Self.runF32(zero, operands), operands.c.enumerated().map { $0.offset % 5 < 4 ? 0 : $0.element })
        // As the door hands it over in bf16: the contiguous copies of empty operands have 0 columns, so
        // lda (here, not transposed) and ldb (transposed) are 0.
        var out = operands.c
        let dummy: [UInt16] = [0]
        out.withUnsafeMutableBufferPointer { o in
            OneDNN.matmulBF16(transA: false, transB: true, m: 3, n: 4, k: 0, alpha: 1, a: dummy, lda: 0, b: dummy, ldb: 0,
                              beta: 2, c: o.baseAddress!, ldc: 5)
        }
        XCTAssertEqual(out, operands.c.enumerated().map { $0.offset % 5 < 4 ? $0.element * 2 : $0.element })
    }

    /// beta = 0 writes C without reading it, as BLAS does: NaN in C does not leak into the result.
    func testF32BetaZeroIgnoresNaNInC() {
        for name in ["k = 0", "qkv projection", "strided"] {
            let c = name == "k = 0" ? Case(name: name, m: 3, n: 4, k: 0, lda: 1, ldb: 4, ldc: 4)
                                    : Self.cases.first { $0.name == name && $0.beta == 0 }!
            var operands = Operands(c, index: 2)
            let reference = Self.reference(c, operands.a, operands.b, operands.c)
            operands.c = [Float](repeating: .nan, count: c.cCount)
            let ours = Self.runF32(c, operands)
            for i in 0..<c.m {
                for j in 0..<c.n {
                    let index = c.offsetC + i * c.ldc + j
                    XCTAssertEqual(Double(ours[index]), reference[index], accuracy: 1e-5 * 8, "\(c) at (\(i), \(j))")
                }
            }
        }
    }

    func testF32ConcurrentCallsMatchSerial() {
        let operands = Self.cases.indices.map { Operands(Self.cases[$0], index: $0) }
        let serial = Self.cases.indices.map { Self.runF32(Self.cases[$0], operands[$0]) }
        // Each case twice, on 2 threads at once (the same primitives from two threads at the same time).
        let count = Self.cases.count
        let results = UnsafeMutableBufferPointer<[Float]>.allocate(capacity: 2 * count)
        results.initialize(repeating: [])
        defer { results.deinitialize(); results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            for i in 0..<count { results[worker * count + i] = Self.runF32(Self.cases[i], operands[i]) }
        }
        for i in 0..<2 * count {
            XCTAssertEqual(results[i], serial[i % count], "concurrent \(Self.cases[i % count])")
        }
    }

    /// As attention's workers run them: OpenBLAS held at 1 thread, products side by side; oneDNN
    /// follows OpenBLAS's count on each calling thread.
    func testThreadCountFollowsOpenBLAS() {
        let c = Self.cases.first { $0.name == "qkv projection" }!, operands = Operands(c, index: 1)
        let reference = Self.reference(c, operands.a, operands.b, operands.c)
        openblas_set_num_threads(2)
        Self.assertClose(Self.runF32(c, operands), reference, c, "2 threads")
        XCTAssertEqual(omp_get_max_threads(), 2)
        Parallel.forEachBlockWithSerialBLAS(4, workers: 2) { _, _ in
            Self.assertClose(Self.runF32(c, operands), reference, c, "serial BLAS worker")
            XCTAssertEqual(omp_get_max_threads(), 1)
        }
        openblas_set_num_threads(1)
        Self.assertClose(Self.runF32(c, operands), reference, c, "1 thread")
        XCTAssertEqual(omp_get_max_threads(), 1)
    }

    // MARK: - bf16 (CPUs with a bf16 kernel)

    private func requireBF16Kernel() throws {
        guard OneDNN.hasBF16Kernel else {
            throw XCTSkip("oneDNN has no bf16 matmul kernel on this CPU (implementation: \(OneDNN.bf16Implementation ?? "none")); sgemm's bf16 runs emulated")
        }
    }

    /// The buffer rounded to bf16 (nearest even) as float32 values, and as bit patterns.
    static func bf16(_ x: [Float]) -> (rounded: [Float], bits: [UInt16]) {
        var rounded = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { bp_round_rows_bf16(&rounded, $0.baseAddress!, 1, x.count, x.count) }
        return (rounded, rounded.map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) })
    }

    func testBF16MatchesFloat64ReferenceOnRoundedOperands() throws {
        try requireBF16Kernel()
        for (index, c) in Self.cases.enumerated() {
            let operands = Operands(c, index: index)
            let a = Self.bf16(operands.a), b = Self.bf16(operands.b)
            var out = operands.c
            a.bits.withUnsafeBufferPointer { a16 in
                b.bits.withUnsafeBufferPointer { b16 in
                    out.withUnsafeMutableBufferPointer { o in
                        OneDNN.matmulBF16(transA: c.transA, transB: c.transB, m: c.m, n: c.n, k: c.k, alpha: c.alpha,
                                          a: a16.baseAddress! + c.offsetA, lda: c.lda, b: b16.baseAddress! + c.offsetB, ldb: c.ldb,
                                          beta: c.beta, c: o.baseAddress! + c.offsetC, ldc: c.ldc)
                    }
                }
            }
            Self.assertClose(out, Self.reference(c, a.rounded, b.rounded, operands.c), c, "bf16")
        }
    }

    func testSgemmBF16OnOneDNNMatchesEmulation() throws {
        try requireBF16Kernel()
        func run(_ c: Case, _ operands: Operands) -> [Float] {
            var out = operands.c
            operands.a.withUnsafeBufferPointer { a in
                operands.b.withUnsafeBufferPointer { b in
                    out.withUnsafeMutableBufferPointer { o in
                        sgemm(transA: c.transA, transB: c.transB, m: c.m, n: c.n, k: c.k, alpha: c.alpha,
                              a: a.baseAddress! + c.offsetA, lda: c.lda, b: b.baseAddress! + c.offsetB, ldb: c.ldb,
                              beta: c.beta, c: o.baseAddress! + c.offsetC, ldc: c.ldc)
                    }
                }
            }
            return out
        }
        for (index, c) in Self.cases.enumerated() {
            let operands = Operands(c, index: index)
            XCTAssertEqual(MatrixProducts.use(.bf16), .onednnBF16)
            let onednn = run(c, operands)
            XCTAssertEqual(MatrixProducts.use(.bf16, emulate: true), .emulatedBF16)
            let emulated = run(c, operands)
            Self.assertClose(onednn, emulated.map(Double.init), c, "sgemm bf16 oneDNN vs emulated")
        }
    }

    // MARK: - Which CPUs get the bf16 path

    /// Without AVX512-BF16 or AMX-BF16 there is no bf16 instruction to gain from: the bf16 path must be
    /// the emulation (on this AVX2-only machine oneDNN 2.6 has no bf16 matmul at all).
    func testNoBF16KernelWithoutBF16Instructions() throws {
        #if os(Linux)
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        guard let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            throw XCTSkip("no flags line in /proc/cpuinfo")
        }
        let flags = Set(flagsLine.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).map(String.init))
        if flags.contains("avx512_bf16") || flags.contains("amx_bf16") {
            throw XCTSkip("this CPU has bf16 instructions (oneDNN's bf16 implementation: \(OneDNN.bf16Implementation ?? "none"))")
        }
        XCTAssertFalse(OneDNN.hasBF16Kernel, "no avx512_bf16/amx_bf16 in /proc/cpuinfo, yet oneDNN's bf16 matmul counts as a kernel: \(OneDNN.bf16Implementation ?? "none")")
        XCTAssertEqual(MatrixProducts.use(.bf16), .emulatedBF16)
        #else
        throw XCTSkip("reads /proc/cpuinfo (Linux)")
        #endif
    }
}
