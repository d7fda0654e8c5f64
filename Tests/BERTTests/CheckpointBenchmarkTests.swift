import Foundation
import XCTest
@testable import BERT

/// Save and load times of a bert-base checkpoint (440 MB), measured only when CHECKPOINT_BENCH=1:
///   CHECKPOINT_BENCH=1 swift test -c release --filter CheckpointBenchmarkTests
/// Prints seconds; checks that the loaded parameters equal the saved ones.
final class CheckpointBenchmarkTests: XCTestCase {
    func testSaveAndLoadBertBase() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["CHECKPOINT_BENCH"] == "1", "set CHECKPOINT_BENCH=1 to measure")
        let layout = ParameterLayout(config: BertConfig.preset("bert-base")!)
        let n = layout.count
        let parameters = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        let loaded = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        defer { parameters.deallocate(); loaded.deallocate() }
        for i in 0..<n { parameters[i] = Float(i % 1013) * 1e-4 - 0.05 }
        let dir = try temporaryDirectory(self) + "/epoch-0001"
        func seconds(_ body: () throws -> Void) rethrows -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        let save = try seconds { try Checkpoint.save(parameters: UnsafeBufferPointer(parameters), layout: layout, to: dir) }
        let load = try seconds { _ = try Checkpoint.load(from: dir, into: loaded, layout: layout, seed: 0, logger: nil) }
        print("bert-base checkpoint (\(n) parameters): save \(String(format: "%.2f", save)) s (fsynced), load \(String(format: "%.2f", load)) s")
        XCTAssertEqual(memcmp(parameters.baseAddress!, loaded.baseAddress!, 4 * n), 0)
    }
}
