// Dropout determinism and resume, input validation, gradient bucket order, and that a
// training step leaves the heap as it found it (buffers come from the model's arena at init).
@testable import BERT
import Foundation
import Glibc
import Randomness
import XCTest

final class ModelBehaviourTests: XCTestCase {
    /// Bit patterns of the final hidden states: determinism means exact equality, so here (and
    /// only here) floats are compared exactly, through their bits.
    private func hiddenBits(_ model: BertForPreTraining) -> [UInt32] {
        let n = model.encoder.outputRows.count * model.config.hiddenSize
        return (0..<n).map { model.encoder.hiddenStates[$0].bitPattern }
    }

    func testWithoutDropoutTwoForwardsAreIdentical() throws {
        let model = try TinyModel.model(dropout: 0)
        let batch = TinyModel.batch()
        _ = try model.forward(batch, training: true)
        let first = hiddenBits(model)
        _ = try model.forward(batch, training: true)
        XCTAssertEqual(first, hiddenBits(model))
        // With dropout configured, evaluation mode is deterministic too.
        let dropping = try TinyModel.model(dropout: 0.1)
        _ = try dropping.forward(batch, training: false)
        let evalFirst = hiddenBits(dropping)
        _ = try dropping.forward(batch, training: false)
        XCTAssertEqual(evalFirst, hiddenBits(dropping))
    }

    /// Masks are a function of (seed, step, instance, layer, site): the same keys draw the same masks,
    /// another step or seed other ones.
    func testKeyedDropoutMasksAreFixedByTheirKeys() throws {
        let model = try TinyModel.model(dropout: 0.1)
        let batch = TinyModel.batch()
        _ = try model.forward(batch, training: true)
        let first = hiddenBits(model)
        _ = try model.forward(batch, training: true)
        XCTAssertEqual(first, hiddenBits(model), "the same keys must draw the same masks")
        _ = try model.forward(batch, training: false)
        XCTAssertNotEqual(first, hiddenBits(model), "the masks must drop something")
        batch.step = 1
        _ = try model.forward(batch, training: true)
        XCTAssertNotEqual(first, hiddenBits(model), "another step must draw other masks")
        batch.step = 0
        model.seedDropout(2025)
        _ = try model.forward(batch, training: true)
        XCTAssertNotEqual(first, hiddenBits(model), "another seed must draw other masks")
        model.seedDropout(2024)   // TinyModel's seed
        _ = try model.forward(batch, training: true)
        XCTAssertEqual(first, hiddenBits(model))
    }

    /// A sequence's masks follow its instance number: alone, in another row, or with less padding, its
    /// hidden states are those it had in the full batch (up to the summation order of the products).
    func testKeyedDropoutFollowsTheInstanceNotTheRowOrPadding() throws {
        let model = try TinyModel.model(dropout: 0.1)
        model.encoder.trimsLastLayer = false   // every position's hidden state is compared
        let H = model.config.hiddenSize, T = TinyModel.seqLength, lengths = [9, 6, 4]
        let full = TinyModel.batch()
        for b in 0..<3 { full.instances[b] = 1000 + 7 * b }
        full.step = 5
        _ = try model.forward(full, training: true)
        let reference = Array(UnsafeBufferPointer(start: model.encoder.hiddenStates, count: model.encoder.rows.count * H))
        let referenceRow = (0..<3).map { b in (0..<T).map { model.encoder.row(sequence: b, position: $0) } }

        /// Row `r` of the full batch alone in a batch of length `length` (≥ its real length).
        func alone(_ r: Int, length: Int) -> PretrainingBatch {
            let one = PretrainingBatch(maxBatch: 1, maxSeqLength: T, maxPredictions: TinyModel.predictions)
            one.batchSize = 1
            one.seqLength = length
            for t in 0..<length {
                one.inputIds[t] = full.inputIds[r * T + t]
                one.segmentIds[t] = full.segmentIds[r * T + t]
                one.inputMask[t] = full.inputMask[r * T + t]
            }
            for s in 0..<TinyModel.predictions {
                one.maskedPositions[s] = full.maskedPositions[r * TinyModel.predictions + s]
                one.maskedLabels[s] = full.maskedLabels[r * TinyModel.predictions + s]
            }
            one.instances[0] = full.instances[r]
            one.step = full.step
            return one
        }
        func assertRowMatches(_ r: Int, length: Int, _ what: String) throws {
            _ = try model.forward(alone(r, length: length), training: true)
            var worst: Float = 0
            for t in 0..<lengths[r] {   // real positions (padded ones are not defined to match)
                for c in 0..<H {
                    let x = model.encoder.hiddenStates[t * H + c], y = reference[referenceRow[r][t]! * H + c]
                    worst = max(worst, abs(x - y) / max(abs(y), 1))
                }
            }
            XCTAssertLessThan(worst, 1e-5, "\(what): row \(r) differs from the full batch's by \(worst)")
        }
        try assertRowMatches(1, length: T, "alone in row 0")
        try assertRowMatches(2, length: T, "alone in row 0")
        try assertRowMatches(2, length: lengths[2], "alone without padding")
        try assertRowMatches(1, length: 7, "alone with less padding")
        // Control: with another instance number the same row gets other masks.
        let other = alone(1, length: T)
        other.instances[0] += 1
        _ = try model.forward(other, training: true)
        let moved = (0..<(lengths[1] * H)).map { abs(model.encoder.hiddenStates[$0] - reference[referenceRow[1][0]! * H + $0]) }.max() ?? 0
        XCTAssertGreaterThan(moved, 1e-2, "another instance number must draw other masks")
    }

    func testDropoutKeepsAboutOneMinusPAndScales() {
        var generator = Xoshiro256StarStar(keys: [1])
        let n = 100_000
        let mask = UnsafeMutablePointer<UInt8>.allocate(capacity: n)
        defer { mask.deallocate() }
        generator.fillMask(mask, count: n, dropProbability: 0.1)
        let kept = (0..<n).reduce(0) { $0 + Int(mask[$1]) }
        // Binomial(1e5, 0.9): standard deviation ~95; 5σ bound.
        XCTAssertEqual(Double(kept), 90_000, accuracy: 475, "kept \(kept) of \(n)")
        var x: [Float] = [2, 2, 2, 2]
        var m: [UInt8] = [1, 0, 1, 0]
        dropoutApply(&x, mask: &m, count: 4, dropProbability: 0.2)
        XCTAssertEqual(x[0], 2.5, accuracy: 1e-6)
        XCTAssertEqual(x[1], 0, accuracy: 0)
    }

    func testOutOfRangeInputsThrowNamingSequenceAndPosition() throws {
        let model = try TinyModel.model()
        func expect(_ error: BertInputError, _ change: (PretrainingBatch) -> Void) {
            let batch = TinyModel.batch()
            change(batch)
            XCTAssertThrowsError(try model.forward(batch, training: true)) { thrown in
                XCTAssertEqual(thrown as? BertInputError, error, "\(thrown)")
            }
        }
        let T = TinyModel.seqLength, P = TinyModel.predictions
        expect(.tokenOutOfRange(sequence: 1, position: 4, id: 101, vocabSize: 101)) { $0.inputIds[1 * T + 4] = 101 }
        expect(.tokenOutOfRange(sequence: 2, position: 0, id: -3, vocabSize: 101)) { $0.inputIds[2 * T] = -3 }
        expect(.segmentOutOfRange(sequence: 0, position: 8, id: 2, typeVocabSize: 2)) { $0.segmentIds[8] = 2 }
        expect(.maskedPositionOutOfRange(sequence: 1, slot: 1, position: 9, seqLength: 9)) { $0.maskedPositions[1 * P + 1] = 9 }
        expect(.maskedLabelOutOfRange(sequence: 0, slot: 2, label: 500, vocabSize: 101)) { $0.maskedLabels[2] = 500 }
        expect(.nextSentenceLabelInvalid(sequence: 2, label: 2)) { $0.nextSentenceLabels[2] = 2 }
        expect(.batchTooLarge(batch: 4, capacity: 3)) { $0.batchSize = 4 }
        // T beyond max_position_embeddings (16): the config check comes before the buffer check.
        let long = try BertForPreTraining(config: TinyModel.config(), maxBatch: 1, maxSeqLength: 16, maxPredictions: 1)
        let batch = PretrainingBatch(maxBatch: 1, maxSeqLength: 17, maxPredictions: 1)
        XCTAssertThrowsError(try long.forward(batch, training: false)) { error in
            XCTAssertTrue("\(error)".contains("max_position_embeddings 16"), "\(error)")
        }
        XCTAssertThrowsError(try BertForPreTraining(config: TinyModel.config(), maxBatch: 1, maxSeqLength: 17, maxPredictions: 1))
        let message = "\(BertInputError.tokenOutOfRange(sequence: 1, position: 4, id: 101, vocabSize: 101))"
        XCTAssertTrue(message.contains("sequence 1") && message.contains("position 4"), message)
    }

    func testGradientsReadyCoversTheBufferOnceInOrder() throws {
        let model = try TinyModel.model(dropout: 0.1)
        let loss = try model.forward(TinyModel.batch(), training: true)
        var ranges: [Range<Int>] = []
        model.zeroGradients()
        model.backward(mlmScale: 1 / Float(loss.mlmCount), nspScale: 1 / Float(loss.nspCount)) { ranges.append($0) }
        let layout = model.layout
        let expected = [layout.headRange] + layout.layers.reversed().map(\.range) + [layout.embeddingRange]
        XCTAssertEqual(ranges, expected)
        let sorted = ranges.sorted { $0.lowerBound < $1.lowerBound }
        XCTAssertEqual(sorted.first?.lowerBound, 0)
        XCTAssertEqual(sorted.last?.upperBound, layout.count)
        for (a, b) in zip(sorted, sorted.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound, "gap or overlap at \(a) / \(b)") }
    }

    func testTrainingStepsDoNotGrowTheHeap() throws {
        let model = try TinyModel.model(dropout: 0.1)
        let batch = TinyModel.batch()
        func step() throws {
            let loss = try model.forward(batch, training: true)
            model.zeroGradients()
            model.backward(mlmScale: 1 / Float(loss.mlmCount), nspScale: 1 / Float(loss.nspCount), gradientsReady: nil)
        }
        try step()
        // Bytes in use from the C heap (small chunks + mmapped blocks) before and after more steps.
        func inUse() -> Int { HeapUsage.bytesInUse() }
        _ = inUse()   // the first call allocates malloc_info's own state
        let before = inUse()
        for _ in 0..<5 { try step() }
        let after = inUse()
        XCTAssertGreaterThan(before, 0, "malloc_info gave no totals")
        XCTAssertEqual(after, before, "heap in use grew from \(before) to \(after) bytes over 5 steps")
    }

    func testInitialisationFollowsHuggingFace() throws {
        var config = TinyModel.config()
        config.initializerRange = 0.02
        let model = try BertForPreTraining(config: config, maxBatch: 1, maxSeqLength: 4, maxPredictions: 1)
        model.initializeWeights(seed: 3)
        let layout = model.layout
        for spec in layout.tensors {
            let values = spec.range.map { Double(model.parameters[$0]) }
            if spec.name.hasSuffix("LayerNorm.weight") {
                XCTAssertTrue(values.allSatisfy { $0 == 1 }, spec.name)
            } else if spec.name.hasSuffix("bias") {
                XCTAssertTrue(values.allSatisfy { $0 == 0 }, spec.name)
            } else {
                let start = spec.name == "bert.embeddings.word_embeddings.weight" ? config.hiddenSize : 0  // [PAD] row is 0
                let sample = Array(values[start...])
                let mean = sample.reduce(0, +) / Double(sample.count)
                let std = (sample.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(sample.count)).squareRoot()
                // n ≥ 48 samples: the sample std of N(0, 0.02) is within 40 % with overwhelming probability.
                XCTAssertEqual(std, 0.02, accuracy: 0.008, "\(spec.name): std \(std)")
                XCTAssertEqual(mean, 0, accuracy: 4 * 0.02 / Double(sample.count).squareRoot(), "\(spec.name): mean \(mean)")
            }
        }
        XCTAssertTrue((0..<config.hiddenSize).allSatisfy { model.parameters[layout.embeddings.word + $0] == 0 },
                      "word embedding row of [PAD] must start at 0 (nn.Embedding padding_idx)")
        let again = try BertForPreTraining(config: config, maxBatch: 1, maxSeqLength: 4, maxPredictions: 1)
        again.initializeWeights(seed: 3)
        XCTAssertTrue(zip(model.parameters, again.parameters).allSatisfy { $0.bitPattern == $1.bitPattern }, "same seed, same weights")
    }
}

/// glibc heap bytes in use, from `malloc_info`'s XML totals (the Glibc module does not import
/// <malloc.h>, so mallinfo2 is out of reach): current arena size − free chunks + mmapped blocks.
enum HeapUsage {
    typealias MallocInfo = @convention(c) (Int32, UnsafeMutablePointer<FILE>?) -> Int32

    static func bytesInUse() -> Int {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "malloc_info"),
              let file = tmpfile() else { return -1 }
        defer { fclose(file) }
        let mallocInfo = unsafeBitCast(symbol, to: MallocInfo.self)
        guard mallocInfo(0, file) == 0 else { return -1 }
        rewind(file)
        var text = ""
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), file) != nil { text += String(cString: buffer) }
        // The totals after the per-arena sections: the last occurrence of each line.
        func total(_ prefix: String) -> Int {
            guard let line = text.split(separator: "\n").last(where: { $0.contains(prefix) }),
                  let sizeRange = line.range(of: "size=\"") else { return 0 }
            return Int(line[sizeRange.upperBound...].prefix { $0.isNumber }) ?? 0
        }
        return total("<system type=\"current\"") - total("<total type=\"fast\"") - total("<total type=\"rest\"")
            + total("<total type=\"mmap\"")
    }
}
