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

    /// Attention splits the (b, h) pairs across workers with OpenBLAS at one thread each; each pair's masks
    /// are keyed (sequence, layer, head, query), so outputs, gradients and masks match bit for bit, in the
    /// rectangular layout (second sequence padded after 50 tokens) and packed (lengths 64 and 50).
    func testThreadedAttentionMatchesSerialBitForBit() {
        let s = AttentionShape(heads: 3, headSize: 64)   // T·T·D at the parallel threshold
        let B = 2, T = 64, H = s.hidden, A = s.heads
        let qkv = (0..<(B * T * 3 * H)).map { Float(sin(Double($0) * 0.013)) * 2 }
        let dctx = (0..<(B * T * H)).map { Float(cos(Double($0) * 0.029)) }
        var maskBias = [Float](repeating: 0, count: B * T)
        for j in 50..<T { maskBias[T + j] = -10_000 }
        let keys = (0..<B).map { DropoutSite.sequenceKey(seed: 42, step: 3, instance: 10 + $0) }
        for packed in [false, true] {
            let rows = SequenceRows(capacity: B)
            maskBias.withUnsafeBufferPointer { bias in
                if packed { rows.pack(sequences: B) { [64, 50][$0] } } else { rows.rectangle(sequences: B, length: T, maskBias: bias.baseAddress!) }
            }
            let N = rows.count, blocks = A * rows.squareOffsets[B]
            func run(threads: Int) -> (outputs: [[UInt32]], keep: [UInt8]) {
                BLAS.setThreads(threads)
                defer { BLAS.setThreads(1) }
                var ctx = [Float](repeating: 0, count: N * H), probs = [Float](repeating: 0, count: blocks)
                var keep = [UInt8](repeating: 0, count: blocks), dqkv = [Float](repeating: 0, count: N * 3 * H)
                let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: 2 * attentionScratchPerWorker(seq: T))
                defer { scratch.deallocate() }
                attentionForward(ctx: &ctx, probs: &probs, keep: &keep, qkv: qkv, rows: rows, shape: s,
                                 dropProbability: 0.1, sequenceKeys: keys, layer: 1, scratch: scratch)
                attentionBackward(dqkv: &dqkv, dctx: dctx, qkv: qkv, probs: probs, keep: keep, rows: rows, shape: s,
                                  dropProbability: 0.1, scratch: scratch)
                return ([ctx, probs, dqkv].map { $0.map(\.bitPattern) }, keep)
            }
            let serial = run(threads: 1), threaded = run(threads: 2)
            for (k, name) in ["ctx", "probs", "dqkv"].enumerated() {
                XCTAssertEqual(serial.outputs[k], threaded.outputs[k], "attention \(name) differs between 1 and 2 threads (packed \(packed))")
            }
            XCTAssertEqual(serial.keep, threaded.keep, "dropout masks differ between 1 and 2 threads (packed \(packed))")
            // The masks are really drawn (about 10 % dropped) and every probability row sums to 1.
            let dropped = Double(serial.keep.filter { $0 == 0 }.count) / Double(serial.keep.count)
            XCTAssertTrue(abs(dropped - 0.1) < 0.01, "dropped fraction \(dropped), expected about 0.1")
            let probs = serial.outputs[1].map { Float(bitPattern: $0) }
            let lastLength = rows.length(B - 1), lastBlock = A * rows.squareOffsets[B - 1] + (A - 1) * lastLength * lastLength
            for (start, n) in [(0, T), ((T - 1) * T, T), (lastBlock + 7 * lastLength, lastLength)] {
                let sum = probs[start..<(start + n)].reduce(0.0) { $0 + Double($1) }
                XCTAssertEqual(sum, 1, accuracy: 1e-5, "probability row at \(start) sums to \(sum)")
            }
        }
    }
}
