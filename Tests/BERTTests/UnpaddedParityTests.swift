// The unpadded path (real tokens only, the default) against the rectangular one (`--padded`, which
// HFParityTests ties to Hugging Face): padded positions never influence a real one, so losses agree to
// 1e-6 relative and every gradient tensor to 1e-5 of its largest entry — with dropout too, since a
// packed sequence draws its padded twin's masks. Batches mix lengths from 3 tokens to full length,
// one has no padding and one is a single row; pretraining and sequence classification.
@testable import BERT
import XCTest

final class UnpaddedParityTests: XCTestCase {
    static let T = 12, P = 3

    /// Rows of the given real lengths at T, ids in [5, 101), labels on real tokens (never [CLS]).
    func pretrainingBatch(_ lengths: [Int], seed: UInt64) -> PretrainingBatch {
        let T = Self.T, P = Self.P, B = lengths.count
        let batch = PretrainingBatch(maxBatch: B, maxSeqLength: T, maxPredictions: P)
        var state = seed
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        for (b, n) in lengths.enumerated() {
            for t in 0..<T {
                batch.inputIds[b * T + t] = t < n ? Int32(5 + next(96)) : 0
                batch.segmentIds[b * T + t] = t < n && t >= n / 2 ? 1 : 0
                batch.inputMask[b * T + t] = t < n ? 1 : 0
            }
            for s in 0..<P {
                let used = s < min(P, n - 1)
                batch.maskedPositions[b * P + s] = used ? Int32(1 + (s + next(n - 1)) % (n - 1)) : 0
                batch.maskedLabels[b * P + s] = used ? Int32(5 + next(96)) : -1
            }
            batch.nextSentenceLabels[b] = Int32(next(2))
            batch.instances[b] = 100 + 3 * b
        }
        batch.step = 7
        return batch
    }

    /// The gradients of the last forward's mean losses.
    func backward(_ model: BertForPreTraining, _ loss: PretrainingLoss) -> [Float] {
        model.zeroGradients()
        model.backward(mlmScale: 1 / Float(loss.mlmCount), nspScale: 1 / Float(loss.nspCount), gradientsReady: nil)
        return Array(model.gradients)
    }

    /// Losses to 1e-6 relative, gradients as `compareGradients`, of a run against its reference.
    func comparePretraining(_ run: (PretrainingLoss, [Float]), _ reference: (PretrainingLoss, [Float]), layout: ParameterLayout,
                            _ what: String) {
        XCTAssertEqual(run.0.mlmCount, reference.0.mlmCount, what)
        XCTAssertEqual(run.0.mlmLossSum, reference.0.mlmLossSum, accuracy: 1e-6 * abs(reference.0.mlmLossSum), what)
        XCTAssertEqual(run.0.nspLossSum, reference.0.nspLossSum, accuracy: 1e-6 * abs(reference.0.nspLossSum), what)
        compareGradients(run.1, reference.1, layout: layout, what)
    }

    /// A tiny pretraining model at T, weights from `seed`, dropout seeded `seed + 1`.
    func pretrainer(dropout: Double, sequences: Int, seed: UInt64) throws -> BertForPreTraining {
        var config = TinyModel.config(dropout: dropout)
        config.maxPositionEmbeddings = Self.T
        let model = try BertForPreTraining(config: config, maxBatch: sequences, maxSeqLength: Self.T, maxPredictions: Self.P)
        model.initializeWeights(seed: seed)
        model.seedDropout(seed + 1)
        return model
    }

    static let lengthMixes = [[3, 12, 7, 5, 11], [12, 12, 12], [7]]

    /// Each tensor to 1e-5 of its largest entry, with a floor of 1e-6 of the model's largest gradient entry for
    /// tensors whose true gradient is 0 or cancels (the key bias: softmax ignores a shift of a row; a regression
    /// bias: a sum of ±1 terms), where only rounding noise is left to compare.
    func compareGradients(_ packed: [Float], _ padded: [Float], layout: ParameterLayout, _ what: String) {
        let overall = padded.map(abs).max() ?? 0
        for spec in layout.tensors {
            let scale = spec.range.map { abs(padded[$0]) }.max() ?? 0
            let worst = spec.range.map { abs(packed[$0] - padded[$0]) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-5 * scale + 1e-6 * overall,
                                     "\(what): gradient of \(spec.name) differs by \(worst) (largest |entry| \(scale), of all \(overall))")
        }
    }

    func testPretrainingUnpaddedEqualsPadded() throws {
        for dropout in [0.0, 0.1] {
            for lengths in Self.lengthMixes {
                let what = "lengths \(lengths), dropout \(dropout)"
                let model = try pretrainer(dropout: dropout, sequences: lengths.count, seed: 11)
                let batch = pretrainingBatch(lengths, seed: UInt64(lengths.count))
                func run(packed: Bool) throws -> (PretrainingLoss, [Float]) {
                    model.encoder.packsSequences = packed
                    let loss = try model.forward(batch, training: true)
                    XCTAssertEqual(model.encoder.rows.isPacked, packed, what)
                    XCTAssertEqual(model.encoder.rows.count, packed ? lengths.reduce(0, +) : lengths.count * Self.T, what)
                    return (loss, backward(model, loss))
                }
                comparePretraining(try run(packed: true), try run(packed: false), layout: model.layout, what)
            }
        }
    }

    /// A tiny classifier (dropout 0.1, weights from `seed`) and a batch of rows of the given real lengths at T.
    func classifier(_ problem: ProblemType, lengths: [Int], seed: UInt64) throws -> (BertForSequenceClassification, ClassificationBatch) {
        var config = TinyModel.config(dropout: 0.1)
        config.maxPositionEmbeddings = Self.T
        let B = lengths.count, labels = problem == .regression ? 1 : 3
        let model = try BertForSequenceClassification(config: config, numLabels: labels, problemType: problem,
                                                      maxBatch: B, maxSeqLength: Self.T)
        model.initializeWeights(seed: seed)
        model.seedDropout(seed + 1)
        let source = pretrainingBatch(lengths, seed: seed + UInt64(B))
        let batch = ClassificationBatch(maxBatch: B, maxSeqLength: Self.T)
        batch.inputIds.baseAddress!.update(from: source.inputIds.baseAddress!, count: B * Self.T)
        batch.segmentIds.baseAddress!.update(from: source.segmentIds.baseAddress!, count: B * Self.T)
        batch.inputMask.baseAddress!.update(from: source.inputMask.baseAddress!, count: B * Self.T)
        for b in 0..<B {
            batch.labels[b] = Int32((b + Int(seed)) % labels)
            batch.values[b] = Float(b) * 0.7 - 1
            batch.instances[b] = 50 + 2 * b
        }
        batch.step = 3
        return (model, batch)
    }

    func testClassificationUnpaddedEqualsPadded() throws {
        for problem in [ProblemType.singleLabelClassification, .regression] {
            for lengths in Self.lengthMixes {
                let what = "lengths \(lengths), \(problem.rawValue)", B = lengths.count
                let (model, batch) = try classifier(problem, lengths: lengths, seed: 12)
                func run(packed: Bool) throws -> (ClassificationLoss, [Float]) {
                    model.encoder.packsSequences = packed
                    let loss = try model.forward(batch, training: true)
                    XCTAssertEqual(model.encoder.rows.isPacked, packed, what)
                    model.zeroGradients()
                    model.backward(scale: 1 / Float(B), gradientsReady: nil)
                    return (loss, Array(model.gradients))
                }
                let (paddedLoss, paddedGradients) = try run(packed: false)
                let (packedLoss, packedGradients) = try run(packed: true)
                XCTAssertEqual(packedLoss.lossSum, paddedLoss.lossSum, accuracy: 1e-6 * abs(paddedLoss.lossSum), what)
                compareGradients(packedGradients, paddedGradients, layout: model.layout, what)
            }
        }
    }

    /// Pretraining's encoder computes its last layer at [CLS] and the labelled positions only (a position listed
    /// twice is read once); loss and gradients agree with the every-row layer as in the classifier's test below.
    /// Adds a deterministic ±0.05 to every parameter, so that no bias is 0 (HF initialises them so, which hides
    /// a bias term a computation forgets).
    func perturbEveryParameter(_ parameters: UnsafeMutableBufferPointer<Float>) {
        for i in parameters.indices { parameters[i] += 0.05 * Float(sin(Double(i) * 0.731)) }
    }

    func testPretrainingLastLayerAtReadRowsEqualsEveryRow() throws {
        for lengths in Self.lengthMixes {
            let model = try pretrainer(dropout: 0.1, sequences: lengths.count, seed: 15)
            perturbEveryParameter(model.parameters)   // biases and LayerNorms away from HF's 0 and 1
            let batch = pretrainingBatch(lengths, seed: 80 + UInt64(lengths.count))
            batch.maskedPositions[1] = batch.maskedPositions[0]   // sequence 0 lists a position twice
            batch.maskedLabels[1] = batch.maskedLabels[0] == 7 ? 8 : 7
            for packed in [true, false] {
                let what = "lengths \(lengths), packed \(packed)"
                model.encoder.packsSequences = packed
                func run(trimmed: Bool) throws -> (PretrainingLoss, [Float]) {
                    model.encoder.trimsLastLayer = trimmed
                    let loss = try model.forward(batch, training: true)
                    if trimmed {
                        let reads = model.encoder.readPositions, P = Self.P
                        for b in 0..<lengths.count {
                            let listed = Set((0..<P).filter { batch.maskedLabels[b * P + $0] >= 0 }.map { batch.maskedPositions[b * P + $0] } + [0])
                            XCTAssertEqual(reads.rows.rows(of: b).map { reads.positions[$0] }, listed.sorted(), what)
                        }
                    }
                    return (loss, backward(model, loss))
                }
                let full = try run(trimmed: false)
                comparePretraining(try run(trimmed: true), full, layout: model.layout, what)
            }
        }
    }

    /// A classifier's encoder computes its last layer at the first rows only (keys and values at every row): the
    /// rows it skips have no path to the loss, so the loss agrees to 1e-6 relative and every gradient to 1e-5 of
    /// its largest entry with the every-row layer, packed and padded, with dropout (the read rows draw their
    /// every-row twins' masks); with keys and values projected, and folded into attention (FoldedAttention).
    func testClassificationLastLayerAtFirstRowsEqualsEveryRow() throws {
        for problem in [ProblemType.singleLabelClassification, .regression] {
            for lengths in Self.lengthMixes {
                let B = lengths.count
                let (model, batch) = try classifier(problem, lengths: lengths, seed: 14)
                perturbEveryParameter(model.parameters)   // biases and LayerNorms away from HF's 0 and 1
                for packed in [true, false] {
                    let what = "lengths \(lengths), \(problem.rawValue), packed \(packed)"
                    model.encoder.packsSequences = packed
                    func run(trimmed: Bool) throws -> (ClassificationLoss, [Float]) {
                        model.encoder.trimsLastLayer = trimmed
                        let loss = try model.forward(batch, training: true)
                        XCTAssertEqual(model.encoder.outputRows.count, trimmed ? B : model.encoder.rows.count, what)
                        XCTAssertEqual(model.encoder.row(sequence: B - 1, position: 0), trimmed ? B - 1 : model.encoder.rows.start(B - 1), what)
                        XCTAssertEqual(model.encoder.row(sequence: 0, position: 1), trimmed ? nil : model.encoder.rows.start(0) + 1, what)
                        model.zeroGradients()
                        model.backward(scale: 1 / Float(B), gradientsReady: nil)
                        return (loss, Array(model.gradients))
                    }
                    let (fullLoss, fullGradients) = try run(trimmed: false)
                    for folds in [true, false] {
                        model.encoder.foldsKeysAndValues = folds
                        let (trimmedLoss, trimmedGradients) = try run(trimmed: true)
                        XCTAssertEqual(model.encoder.folded, folds, "\(what): the folded form must run when allowed")
                        let what = "\(what), folded \(folds)"
                        XCTAssertEqual(trimmedLoss.lossSum, fullLoss.lossSum, accuracy: 1e-6 * abs(fullLoss.lossSum), what)
                        compareGradients(trimmedGradients, fullGradients, layout: model.layout, what)
                    }
                }
            }
        }
    }

    /// What packing must not take: a row whose padding is not a suffix, and a labelled position in the padding
    /// (no shard has either; a hand-made batch may) keep the batch rectangular, with the same results.
    func testBatchesThatCannotBePackedRunRectangular() throws {
        let model = try pretrainer(dropout: 0, sequences: 2, seed: 13)
        let holed = pretrainingBatch([6, 9], seed: 3)
        holed.inputMask[Self.T + 4] = 0   // a hole inside the second row
        _ = try model.forward(holed, training: false)
        XCTAssertFalse(model.encoder.rows.isPacked, "a mask with a hole must not be packed")
        let labelled = pretrainingBatch([6, 9], seed: 3)
        labelled.maskedPositions[0] = 8   // in row 0's padding (length 6)
        _ = try model.forward(labelled, training: false)
        XCTAssertFalse(model.encoder.rows.isPacked, "a labelled padded position must keep the batch rectangular")
        let fine = pretrainingBatch([6, 9], seed: 3)
        model.encoder.trimsLastLayer = false   // every position has its row
        _ = try model.forward(fine, training: false)
        XCTAssertTrue(model.encoder.rows.isPacked)
        XCTAssertEqual(model.encoder.rows.count, 15)
        XCTAssertEqual(model.encoder.row(sequence: 1, position: 8), 14)
        XCTAssertNil(model.encoder.row(sequence: 0, position: 6))
    }
}
