// The element-wise passes split across threads compute exactly what the serial pass does
// (each element, row or column is still done by one thread in the same order), so results
// must agree bit for bit; sizes are above the chunking threshold so the parallel path runs.
@testable import BERT
import XCTest

final class ParallelTests: XCTestCase {
    override func tearDown() { Parallel.threads = 1 }

    func testThreadedPassesMatchSerialBitForBit() {
        let rows = 300, columns = 250, n = rows * columns
        let x = (0..<n).map { Float(sin(Double($0) * 0.37)) * 3 }
        let gamma = (0..<columns).map { 1 + Float($0 % 7) * 0.1 }, beta = (0..<columns).map { Float($0 % 5) * 0.05 }
        func run(threads: Int) -> [[UInt32]] {
            Parallel.threads = threads
            var gelu = [Float](repeating: 0, count: n), grad = [Float](repeating: 1, count: n)
            geluForward(&gelu, x, count: n, activation: .gelu)
            geluBackward(&grad, x: x, count: n, activation: .gelu)
            var sums = [Float](repeating: 0, count: columns)
            columnSums(x, rows: rows, columns: columns, into: &sums)
            var ln = [Float](repeating: 0, count: n), mean = [Float](repeating: 0, count: rows), rstd = mean
            layerNormForward(&ln, mean: &mean, rstd: &rstd, x, gamma: gamma, beta: beta, rows: rows, channels: columns, eps: 1e-12)
            return [gelu, grad, sums, ln, mean, rstd].map { $0.map(\.bitPattern) }
        }
        let serial = run(threads: 1), threaded = run(threads: 2)
        for (k, name) in ["gelu", "gelu'", "column sums", "layer norm", "mean", "rstd"].enumerated() {
            XCTAssertEqual(serial[k], threaded[k], "\(name) differs between 1 and 2 threads")
        }
        // And the serial sums are right (independent check, Double).
        for c in [0, 17, columns - 1] {
            let expected = (0..<rows).reduce(0.0) { $0 + Double(x[$1 * columns + c]) }
            XCTAssertEqual(Double(Float(bitPattern: serial[2][c])), expected, accuracy: 1e-4 * max(1, abs(expected)))
        }
    }
}
