// The vectorisable exp/erf/tanh and GELU against Double references on dense grids.
@testable import BERT
import CKernels
import Foundation
import XCTest

final class FastMathTests: XCTestCase {
    func testExpRelativeErrorWithinFourUlp() {
        var worst = 0.0, at: Float = 0
        var x: Float = -87
        while x < 88 {
            let ours = Double(bp_fast_exp(x)), reference = Foundation.exp(Double(x))
            let error = abs(ours - reference) / reference
            if error > worst { worst = error; at = x }
            x += 0.001_37
        }
        XCTAssertLessThan(worst, 4 * 0x1p-24, "fastExp worst relative error \(worst) at x = \(at)")
        XCTAssertEqual(bp_fast_exp(-10000), 0)
        XCTAssertEqual(bp_fast_exp(0), 1, accuracy: 1e-7)
    }

    func testErfWithinTwoTenthsOfAMicroOfDoubleErf() {
        var worst = 0.0, at: Float = 0
        var x: Float = -6
        while x <= 6 {
            let error = abs(Double(bp_fast_erf(x)) - Foundation.erf(Double(x)))
            if error > worst { worst = error; at = x }
            x += 0.000_73
        }
        // 2e-7 ≈ 1.7 ulp of values near 1 (ulp = 1.19e-7 in [0.5, 1)).
        XCTAssertLessThan(worst, 2e-7, "fastErf worst absolute error \(worst) at x = \(at)")
        // Near 0 erf is ~1.128x: the small branch keeps relative accuracy there.
        for x: Float in [1e-6, 1e-3, 0.01, 0.3] {
            let reference = Foundation.erf(Double(x))
            XCTAssertEqual(Double(bp_fast_erf(x)), reference, accuracy: 3e-7 * reference, "x = \(x)")
        }
    }

    func testTanhWithinAFewUlp() {
        var x: Float = -12
        while x <= 12 {
            XCTAssertEqual(Double(bp_fast_tanh(x)), Foundation.tanh(Double(x)), accuracy: 2.5e-7, "x = \(x)")
            x += 0.0137
        }
    }

    func testGELUFormsAndDerivativesMatchDouble() {
        let xs: [Float] = stride(from: -8, through: 8, by: 0.0113).map { Float($0) }
        var out = [Float](repeating: 0, count: xs.count), grad = [Float](repeating: 1, count: xs.count)
        for activation in [Activation.gelu, .geluTanh(name: "gelu_new")] {
            geluForward(&out, xs, count: xs.count, activation: activation)
            for i in grad.indices { grad[i] = 1 }
            geluBackward(&grad, x: xs, count: xs.count, activation: activation)
            for (i, xf) in xs.enumerated() {
                let x = Double(xf)
                let value: Double, slope: Double
                switch activation {
                case .gelu:
                    value = 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot()))
                    slope = 0.5 * (1 + Foundation.erf(x / 2.0.squareRoot())) + x * Foundation.exp(-x * x / 2) / (2 * Double.pi).squareRoot()
                case .geluTanh:
                    let u = (2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)
                    value = 0.5 * x * (1 + Foundation.tanh(u))
                    slope = 0.5 * (1 + Foundation.tanh(u))
                        + 0.5 * x * (1 - Foundation.tanh(u) * Foundation.tanh(u)) * (2 / Double.pi).squareRoot() * (1 + 3 * 0.044715 * x * x)
                }
                XCTAssertEqual(Double(out[i]), value, accuracy: 1e-6 * max(1, abs(value)), "\(activation.name)(\(x))")
                XCTAssertEqual(Double(grad[i]), slope, accuracy: 2e-6 * max(1, abs(slope)), "\(activation.name)'(\(x))")
            }
            // In place (the inference path has its own one-pointer loop) gives what the two-buffer call gives.
            var inPlace = xs
            inPlace.withUnsafeMutableBufferPointer { geluForward($0.baseAddress!, $0.baseAddress!, count: xs.count, activation: activation) }
            for i in xs.indices { XCTAssertEqual(inPlace[i], out[i], accuracy: 1e-7 * max(1, abs(out[i])), "in place \(activation.name)(\(xs[i]))") }
        }
    }
}
