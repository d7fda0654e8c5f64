// Every parameter tensor's gradient against central finite differences of the loss.
//
// Why these tolerances hold (Float forward, loss L ≈ 5):
// - We perturb θ± = θ ± h·v and compare L(θ+) − L(θ−) with g·(θ+ − θ−), using the perturbation
//   actually stored in Float, so rounding of θ± is not an error term.
// - Rounding noise of one Float forward here is ~1e-6 absolute (a few hundred ops of relative
//   error 6e-8 on values of order 1); the difference of two is ≲ 3e-6.
// - Truncation of the central difference is (h³/3)·L''' ≈ 3e-7 for h = 1e-2 and L''' = O(1).
// - A gradient direction v = g/‖g‖ moves L by 2h‖g‖ ≥ 2e-4 for ‖g‖ ≥ 1e-2 (asserted), so the
//   noise is ≤ 1.5 % of the signal at worst and ~0.1 % typically: tolerance 2 % relative.
// - A random ±1 direction and single entries catch errors orthogonal to g; their signal can be
//   small, so they get 2 % relative plus an absolute floor of 1e-5 (3× the noise bound).
// Dropout is on (p = 0.1). Its masks are keyed by (seed, batch.step, instance, layer, site), all
// fixed here, so every evaluation draws the same masks and dropout's backward is checked too
// (ModelBehaviourTests.testKeyedDropoutMasksAreFixedByTheirKeys makes sure of it).
@testable import BERT
import XCTest

final class GradientCheckTests: XCTestCase {
    func checkGradients(activation: Activation) throws {
        let model = try TinyModel.model(dropout: 0.1, activation: activation)
        let batch = TinyModel.batch()
        var first = try model.forward(batch, training: true)
        XCTAssertEqual(first.mlmCount, 6)
        XCTAssertEqual(first.nspCount, 3)
        let mlmScale = 1 / Float(first.mlmCount), nspScale = 1 / Float(first.nspCount)
        func loss() throws -> Double {
            let l = try model.forward(batch, training: true)
            return l.mlmLossSum * Double(mlmScale) + l.nspLossSum * Double(nspScale)
        }
        first = try model.forward(batch, training: true)
        model.zeroGradients()
        model.backward(mlmScale: mlmScale, nspScale: nspScale, gradientsReady: nil)
        let grad = Array(model.gradients)
        let theta = model.parameters
        let h: Float = 1e-2

        /// L(θ + h·v) − L(θ − h·v) and the predicted g·(θ+ − θ−) for v over `range`.
        func difference(_ range: Range<Int>, _ direction: [Float]) throws -> (fd: Double, predicted: Double) {
            let saved = Array(theta[range])
            var predicted = 0.0
            for (k, i) in range.enumerated() { theta[i] = saved[k] + h * direction[k] }
            var delta = range.enumerated().map { Double(theta[$0.element]) }
            let plus = try loss()
            for (k, i) in range.enumerated() { theta[i] = saved[k] - h * direction[k]; delta[k] -= Double(theta[i]) }
            let minus = try loss()
            for (k, i) in range.enumerated() { theta[i] = saved[k]; predicted += Double(grad[i]) * delta[k] }
            return (plus - minus, predicted)
        }

        var state: UInt64 = 5
        for spec in model.layout.tensors {
            let range = spec.range
            let g = range.map { grad[$0] }
            let norm = g.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            if spec.name.hasSuffix("attention.self.key.bias") {
                // q·(k + b) shifts every score of a row by the same q·b, which softmax ignores:
                // the true gradient is 0, so ours must be rounding noise only.
                XCTAssertLessThan(norm, 1e-5, "\(spec.name): gradient norm \(norm), expected 0 (softmax shift invariance)")
                continue
            }
            XCTAssertGreaterThan(norm, 1e-2, "\(spec.name): gradient norm \(norm) too small for a meaningful check")
            // 1. Along the gradient itself.
            let along = try difference(range, g.map { Float(Double($0) / norm) })
            XCTAssertEqual(along.fd, along.predicted, accuracy: 2e-2 * abs(along.predicted),
                           "\(spec.name) along g: finite difference \(along.fd), gradient predicts \(along.predicted)")
            // 2. Along a random ±1 direction.
            let signs: [Float] = g.map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return (state >> 63) == 0 ? 1 : -1
            }
            let scale = 1 / Float(g.count).squareRoot()
            let random = try difference(range, signs.map { $0 * scale })
            XCTAssertEqual(random.fd, random.predicted, accuracy: 2e-2 * abs(random.predicted) + 1e-5,
                           "\(spec.name) random direction: finite difference \(random.fd), gradient predicts \(random.predicted)")
            // 3. The two entries with the largest |g|, and one in the middle of the tensor.
            let order = g.indices.sorted { abs(g[$0]) > abs(g[$1]) }
            for k in Set([order[0], order[min(1, order.count - 1)], g.count / 2]) {
                let i = range.lowerBound + k
                let single = try difference(i..<(i + 1), [1])
                XCTAssertEqual(single.fd, single.predicted, accuracy: 2e-2 * abs(single.predicted) + 1e-5,
                               "\(spec.name)[\(k)]: finite difference \(single.fd), gradient predicts \(single.predicted)")
            }
        }
    }

    func testEveryGradientMatchesFiniteDifferencesExactGELU() throws {
        try checkGradients(activation: .gelu)
    }

    func testEveryGradientMatchesFiniteDifferencesTanhGELU() throws {
        try checkGradients(activation: .geluTanh(name: "gelu_new"))
    }
}
