import BERT
import Foundation
import XCTest
@testable import Optim

/// Step times on the bert-base layout (110M parameters), measured only when OPTIM_BENCH=1:
///   OPTIM_BENCH=1 swift test -c release --filter OptimizerBenchmarkTests
/// Prints milliseconds per step; checks that every step moved the parameters and kept them finite.
final class OptimizerBenchmarkTests: XCTestCase {
    func testStepTimesOnBertBase() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["OPTIM_BENCH"] == "1", "set OPTIM_BENCH=1 to measure")
        let layout = ParameterLayout(config: BertConfig.preset("bert-base")!)
        let n = layout.count
        let parameters = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        let gradients = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        defer { parameters.deallocate(); gradients.deallocate() }
        for i in 0..<n { parameters[i] = Float(i % 1000) * 1e-4 - 0.05; gradients[i] = Float(i % 977) * 1e-5 - 0.004 }
        let optimizers: [Optimizer] = [AdamW(layout: layout), LAMB(layout: layout)]
        for optimizer in optimizers {
            var times: [Double] = []
            for _ in 0..<5 {
                let before = parameters[12345]
                let start = DispatchTime.now().uptimeNanoseconds
                optimizer.step(parameters: parameters, gradients: UnsafeBufferPointer(gradients), learningRate: 1e-4)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                XCTAssertNotEqual(parameters[12345], before)
            }
            let start = DispatchTime.now().uptimeNanoseconds
            let norm = clipGradientNorm(gradients, maxNorm: .infinity)
            let clipMs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            XCTAssertTrue(norm.isFinite)
            print("\(optimizer.kind) step on bert-base (\(n) parameters): median \(String(format: "%.1f", times.sorted()[2])) ms; global norm \(String(format: "%.1f", clipMs)) ms")
        }
        XCTAssertTrue((0..<n).allSatisfy { parameters[$0].isFinite })
    }
}
