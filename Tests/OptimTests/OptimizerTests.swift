import BERT
import Foundation
import XCTest
@testable import Optim
import Storage

/// |observed − expected| ≤ rtol·|expected| + atol, with both values in the message.
func assertClose(_ observed: Float, _ expected: Double, rtol: Double = 1e-5, atol: Double = 1e-7, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    let error = abs(Double(observed) - expected)
    XCTAssertLessThanOrEqual(error, rtol * abs(expected) + atol,
                             "\(what): observed \(observed), expected \(expected) (error \(error))", file: file, line: line)
}

final class OptimizerTests: XCTestCase {
    /// Vocab 6, hidden 2, 1 layer, 1 head, intermediate 2, 2 positions: 96 parameters in 30 tensors.
    static let layout: ParameterLayout = {
        var c = BertConfig()
        c.vocabSize = 6; c.hiddenSize = 2; c.numHiddenLayers = 1; c.numAttentionHeads = 1
        c.intermediateSize = 2; c.maxPositionEmbeddings = 2; c.typeVocabSize = 2
        return ParameterLayout(config: c)
    }()
    static let learningRates: [Float] = [0.1, 0.05, 0.02]

    // Same formulas as Fixtures/optim-reference/make_expected.py.
    static func initialParameters(zeroTokenType: Bool = false) -> [Float] {
        var p = (0..<layout.count).map { Float(0.5 * sin(0.37 * Double($0) + 0.1)) }
        if zeroTokenType { for i in layout.tensor(named: "bert.embeddings.token_type_embeddings.weight")!.range { p[i] = 0 } }
        return p
    }
    static func gradient(step t: Int) -> [Float] {
        (0..<layout.count).map { Float(0.2 * cos(0.11 * Double($0) * Double(t) + 0.3 * Double(t))) }
    }

    private func run(_ optimizer: Optimizer, _ parameters: inout [Float], steps: ClosedRange<Int>) {
        for t in steps {
            let g = Self.gradient(step: t)
            parameters.withUnsafeMutableBufferPointer { p in
                g.withUnsafeBufferPointer { optimizer.step(parameters: p, gradients: $0, learningRate: Self.learningRates[t - 1]) }
            }
        }
    }

    func testLayoutMatchesTheReferenceScript() {
        XCTAssertEqual(Self.layout.count, 96)
        XCTAssertEqual(Self.layout.tensors.count, 30)
        XCTAssertEqual(ReferenceValues.adamW.count, 96)
    }

    // MARK: AdamW

    func testAdamWMatchesPyTorchOverThreeSteps() {
        let adam = AdamW(layout: Self.layout, weightDecay: 0.5)
        var p = Self.initialParameters()
        run(adam, &p, steps: 1...3)
        XCTAssertEqual(adam.stepCount, 3)
        for spec in Self.layout.tensors {
            for i in spec.range { assertClose(p[i], Double(ReferenceValues.adamW[i]), "\(spec.name)[\(i - spec.offset)]") }
        }
    }

    func testAdamWTwoStepsByHandShowBiasCorrectionAndDecayExclusion() {
        // Default hyper-parameters (β 0.9/0.999, ε 1e-6, weight decay 0.01), lr 1e-3, two steps.
        let adam = AdamW(layout: Self.layout)
        let lr = 1e-3, wd = 0.01, eps = 1e-6
        let word = Self.layout.embeddings.word          // decays
        let gamma = Self.layout.embeddings.lnGamma      // LayerNorm γ: no decay
        var p = [Float](repeating: 0, count: Self.layout.count)
        p[word] = 0.5; p[gamma] = 0.5
        var g = [Float](repeating: 0, count: Self.layout.count)
        g[word] = 0.004; g[gamma] = 0.004
        func step() {
            p.withUnsafeMutableBufferPointer { pp in
                g.withUnsafeBufferPointer { adam.step(parameters: pp, gradients: $0, learningRate: Float(lr)) }
            }
        }
        step()
        // Step 1: m̂ = g, v̂ = g², so the step is lr·g/(|g|+ε) ≈ lr whatever |g| is. Without bias
        // correction it would be lr·0.1·g/(√0.001·|g|) ≈ 3.16·lr.
        let adamStep1 = lr * 0.004 / (0.004 + eps)
        assertClose(p[word], 0.5 * (1 - lr * wd) - adamStep1, "decaying weight after step 1")
        assertClose(p[gamma], 0.5 - adamStep1, "LayerNorm γ after step 1 (no decay)")
        XCTAssertGreaterThan(p[gamma] - p[word], 4e-6, "decay visible: 0.5·lr·wd = 5e-6 apart")

        // Step 2 with g2 = −0.002: m = 0.9·0.1·0.004 + 0.1·(−0.002), v = 0.999·0.001·0.004² + 0.001·0.002².
        let p1w = Double(p[word]), p1g = Double(p[gamma])
        g[word] = -0.002; g[gamma] = -0.002
        step()
        let m = 0.9 * 0.1 * 0.004 + 0.1 * -0.002
        let v = 0.999 * 0.001 * 0.004 * 0.004 + 0.001 * 0.002 * 0.002
        let adamStep2 = lr / (1 - 0.81) * m / ((v / (1 - 0.999 * 0.999)).squareRoot() + eps)
        assertClose(p[word], p1w * (1 - lr * wd) - adamStep2, "decaying weight after step 2")
        assertClose(p[gamma], p1g - adamStep2, "LayerNorm γ after step 2")
        assertClose(adam.expAvg[gamma], m, "exp_avg")
        assertClose(adam.expAvgSq[gamma], v, "exp_avg_sq")
        // Untouched elements (zero gradient, zero weight) stay exactly zero.
        XCTAssertEqual(p[word + 1], 0)
    }

    // MARK: LAMB

    func testLAMBMatchesTheApexReferenceOverThreeSteps() {
        let lamb = LAMB(layout: Self.layout, weightDecay: 0.1)
        var p = Self.initialParameters(zeroTokenType: true)
        run(lamb, &p, steps: 1...3)
        for spec in Self.layout.tensors {
            for i in spec.range { assertClose(p[i], Double(ReferenceValues.lamb[i]), "\(spec.name)[\(i - spec.offset)]") }
        }
        for (k, spec) in Self.layout.tensors.enumerated() {
            assertClose(lamb.lastTrustRatios[k], Double(ReferenceValues.lambTrustRatios[k]), "trust ratio of \(spec.name)")
        }
    }

    func testLAMBFirstStepByHandWithZeroNormAndNoDecayTensors() {
        let lr: Float = 0.1, wd = 0.1, eps = 1e-6
        let lamb = LAMB(layout: Self.layout, weightDecay: Float(wd))
        var p = Self.initialParameters(zeroTokenType: true)
        let p0 = p
        let g = Self.gradient(step: 1)
        p.withUnsafeMutableBufferPointer { pp in g.withUnsafeBufferPointer { lamb.step(parameters: pp, gradients: $0, learningRate: lr) } }
        let layout = Self.layout
        // Step 1: m̂ = g, v̂ = g², so the Adam part of u is g/(|g|+ε).
        func adamPart(_ i: Int) -> Double { Double(g[i]) / (abs(Double(g[i])) + eps) }

        // ‖p‖ = 0 (token-type embeddings): ratio falls back to 1, u = g/(|g|+ε) + wd·0.
        let tokenType = layout.tensors.firstIndex { $0.name == "bert.embeddings.token_type_embeddings.weight" }!
        XCTAssertEqual(lamb.lastTrustRatios[tokenType], 1)
        for i in layout.tensors[tokenType].range { assertClose(p[i], -Double(lr) * adamPart(i), "token type [\(i)]") }

        // No weight decay (LayerNorm γ): no trust ratio, plain lr·u.
        let gammaIndex = layout.tensors.firstIndex { $0.name == "bert.embeddings.LayerNorm.weight" }!
        XCTAssertEqual(lamb.lastTrustRatios[gammaIndex], 1)
        for i in layout.tensors[gammaIndex].range { assertClose(p[i], Double(p0[i]) - Double(lr) * adamPart(i), "γ [\(i)]") }

        // Decaying tensor (pooler weight): u = adam + wd·p, ratio = ‖p‖/‖u‖.
        let pooler = layout.tensors.first { $0.name == "bert.pooler.dense.weight" }!
        let u = pooler.range.map { adamPart($0) + wd * Double(p0[$0]) }
        let ratio = sqrt(pooler.range.map { Double(p0[$0]) * Double(p0[$0]) }.reduce(0, +)) / sqrt(u.map { $0 * $0 }.reduce(0, +))
        for (k, i) in pooler.range.enumerated() { assertClose(p[i], Double(p0[i]) - Double(lr) * ratio * u[k], "pooler [\(k)]") }
    }

    func testLAMBTrustRatioForAllAppliesItToLayerNormToo() {
        let lamb = LAMB(layout: Self.layout, trustRatioForAll: true)
        var p = Self.initialParameters()
        run(lamb, &p, steps: 1...1)
        let gammaIndex = Self.layout.tensors.firstIndex { $0.name == "bert.embeddings.LayerNorm.weight" }!
        let spec = Self.layout.tensors[gammaIndex]
        let pNorm = sqrt(spec.range.map { Double(Self.initialParameters()[$0]) }.map { $0 * $0 }.reduce(0, +))
        // u ≈ sign(g) elementwise at step 1, so ‖u‖ ≈ √2 for two elements.
        assertClose(lamb.lastTrustRatios[gammaIndex], pNorm / 2.0.squareRoot(), rtol: 1e-4, "γ trust ratio")
    }

    // MARK: Exact resume

    func testSavedStateResumesBitForBit() throws {
        let dir = (NSTemporaryDirectory() as NSString).appendingPathComponent("optim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let makers: [() -> Optimizer] = [{ AdamW(layout: Self.layout) }, { LAMB(layout: Self.layout) }]
        for make in makers {
            let straight = make()
            var a = Self.initialParameters()
            run(straight, &a, steps: 1...3)

            let first = make()
            var b = Self.initialParameters()
            run(first, &b, steps: 1...1)
            let path = dir + "/\(first.kind).safetensors"
            try first.saveState(to: path, layout: Self.layout)
            let file = try Safetensors.read(path: path)
            XCTAssertNotNil(file["exp_avg.bert.pooler.dense.weight"])
            XCTAssertEqual(file.metadata["step"], "1")

            let resumed = make()
            try resumed.loadState(from: path, layout: Self.layout)
            XCTAssertEqual(resumed.stepCount, 1)
            run(resumed, &b, steps: 2...3)
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(first.kind): resumed run equals the straight run")
        }
        // Another optimizer's state is refused.
        let m = errorMessage { try LAMB(layout: Self.layout).loadState(from: dir + "/AdamW.safetensors", layout: Self.layout) }
        XCTAssertTrue(m.contains("state of optimizer AdamW, this run uses LAMB"), m)
    }

    // MARK: Schedules

    func testLinearScheduleByHand() {
        let s = LearningRateSchedule(peak: 1e-3, warmupSteps: 10, totalSteps: 110, kind: .linear)
        let expected: [(Int, Double)] = [(1, 1e-4), (5, 5e-4), (9, 9e-4), (10, 1e-3), (60, 5e-4), (109, 1e-5), (110, 0), (500, 0)]
        for (step, rate) in expected { assertClose(s.rate(atStep: step), rate, atol: 1e-10, "linear step \(step)") }
        let noWarmup = LearningRateSchedule(peak: 2e-3, warmupSteps: 0, totalSteps: 4)
        assertClose(noWarmup.rate(atStep: 1), 1.5e-3, "no warm-up, step 1 of 4")
    }

    func testPolynomialScheduleByHand() {
        let s = LearningRateSchedule(peak: 1e-3, warmupSteps: 10, totalSteps: 100, kind: .polynomial(power: 0.5))
        let expected: [(Int, Double)] = [(2, 2e-4), (10, 1e-3 * 0.9.squareRoot()), (75, 5e-4), (96, 2e-4), (100, 0), (101, 0)]
        for (step, rate) in expected { assertClose(s.rate(atStep: step), rate, atol: 1e-10, "polynomial step \(step)") }
        let quadratic = LearningRateSchedule(peak: 1, warmupSteps: 0, totalSteps: 10, kind: .polynomial(power: 2))
        assertClose(quadratic.rate(atStep: 5), 0.25, "power 2 at half way")
    }

    // MARK: Clipping

    func testClippingScalesToTheMaximumAndReturnsThePreClipNorm() {
        var g: [Float] = [3, 4, 12, 0]
        let norm = g.withUnsafeMutableBufferPointer { clipGradientNorm($0, maxNorm: 6.5) }
        assertClose(norm, 13, "norm before clipping")
        for (o, e) in zip(g, [1.5, 2, 6, 0]) { assertClose(o, e, "clipped element") }

        var small: [Float] = [0.3, -0.4]
        let n2 = small.withUnsafeMutableBufferPointer { clipGradientNorm($0, maxNorm: 1) }
        assertClose(n2, 0.5, "small norm")
        XCTAssertEqual(small, [0.3, -0.4], "below the maximum nothing changes")

        // 1001 elements (not a multiple of the 8 lanes), checked against a plain Double sum.
        var long = (0..<1001).map { Float(sin(Double($0))) }
        let reference = sqrt(long.map { Double($0) * Double($0) }.reduce(0, +))
        let n3 = long.withUnsafeMutableBufferPointer { clipGradientNorm($0, maxNorm: 0) }
        assertClose(n3, reference, "norm of 1001 elements, measure only")
        XCTAssertEqual(long[1000], Float(sin(1000.0)), "maxNorm 0 only measures")
    }

    func testNonFiniteNormIsReportedAndGradientsLeftAsTheyAre() {
        var g: [Float] = [1, .nan, 2]
        let norm = g.withUnsafeMutableBufferPointer { clipGradientNorm($0, maxNorm: 1) }
        XCTAssertTrue(norm.isNaN, "\(norm)")
        XCTAssertEqual(g[0], 1)
        XCTAssertEqual(g[2], 2)
        var h: [Float] = [1, .infinity]
        XCTAssertEqual(h.withUnsafeMutableBufferPointer { clipGradientNorm($0, maxNorm: 1) }, .infinity)
        XCTAssertEqual(h[0], 1)
    }
}

/// The error message of `body`, or a failure when it does not throw.
func errorMessage(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> String {
    do {
        try body()
        XCTFail("expected an error", file: file, line: line)
        return ""
    } catch {
        return "\(error)"
    }
}
