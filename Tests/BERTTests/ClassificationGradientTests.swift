// BertForSequenceClassification: every tensor's gradient (pooler, cross-entropy or MSE, classifier,
// classifier dropout, encoder) against finite differences, on the odd-shaped tiny config.
@testable import BERT
import XCTest

final class ClassificationGradientTests: XCTestCase {
    static func model(_ problem: ProblemType, labels: Int, dropout: Double) throws -> BertForSequenceClassification {
        let model = try BertForSequenceClassification(config: TinyModel.config(dropout: dropout), numLabels: labels,
                                                      problemType: problem, classifierDropout: dropout,
                                                      maxBatch: TinyModel.batchSize, maxSeqLength: TinyModel.seqLength)
        model.initializeWeights(seed: 11)
        var state: UInt64 = 77
        for spec in model.layout.tensors where spec.shape.count == 1 {   // biases and LayerNorm off 0/1
            for i in spec.range {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                model.parameters[i] += Float(Int64(state >> 40) - (1 << 23)) / Float(1 << 23) * 0.2
            }
        }
        model.seedDropout(99)
        return model
    }

    /// The tiny pretraining batch's texts (lengths 9, 6, 4) with class labels / regression targets.
    static func batch() -> ClassificationBatch {
        let source = TinyModel.batch(), B = TinyModel.batchSize, T = TinyModel.seqLength
        let batch = ClassificationBatch(maxBatch: B, maxSeqLength: T)
        batch.inputIds.baseAddress!.update(from: source.inputIds.baseAddress!, count: B * T)
        batch.segmentIds.baseAddress!.update(from: source.segmentIds.baseAddress!, count: B * T)
        batch.inputMask.baseAddress!.update(from: source.inputMask.baseAddress!, count: B * T)
        for (b, (label, value)) in [(Int32(2), Float(0.7)), (0, -1.3), (1, 2.4)].enumerated() {
            batch.labels[b] = label
            batch.values[b] = value
        }
        return batch
    }

    func check(_ problem: ProblemType, labels: Int) throws {
        let model = try Self.model(problem, labels: labels, dropout: 0.1)
        let batch = Self.batch()
        let scale = 1 / Float(batch.batchSize)
        func loss() throws -> Double {   // the same dropout masks every time: they are keyed, not streamed
            return try model.forward(batch, training: true).lossSum * Double(scale)
        }
        let start = try loss()
        XCTAssertTrue(start.isFinite && start > 0.05, "loss \(start)")
        model.zeroGradients()
        model.backward(scale: scale, gradientsReady: nil)
        try FiniteDifferences.check(layout: model.layout, parameters: model.parameters, gradient: Array(model.gradients), loss: loss)
    }

    func testClassificationGradientsMatchFiniteDifferences() throws {
        try check(.singleLabelClassification, labels: 3)
    }

    func testRegressionGradientsMatchFiniteDifferences() throws {
        try check(.regression, labels: 1)
    }

    /// Only the layout's sections: encoder, pooler, classifier — no MLM/NSP tensor.
    func testLayoutHoldsNoPretrainingHeads() throws {
        let model = try Self.model(.singleLabelClassification, labels: 3, dropout: 0)
        let names = model.layout.tensors.map(\.name)
        XCTAssertFalse(names.contains { $0.hasPrefix("cls.") }, "\(names)")
        XCTAssertEqual(Array(names.suffix(4)), ["bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"])
        XCTAssertEqual(model.layout.tensor(named: "classifier.weight")?.shape, [3, 24])
        XCTAssertEqual(model.layout.headRange.upperBound, model.layout.count)
        XCTAssertEqual(model.layout.count, ParameterLayout(config: model.config).count
                       - ParameterLayout(config: model.config).tensors.filter { $0.name.hasPrefix("cls.") }.reduce(0) { $0 + $1.count }
                       + 3 * 24 + 3)
    }

    func testLabelsAreChecked() throws {
        let model = try Self.model(.singleLabelClassification, labels: 3, dropout: 0)
        let batch = Self.batch()
        batch.labels[1] = 3
        XCTAssertThrowsError(try model.forward(batch, training: false)) { error in
            XCTAssertEqual("\(error)", "sequence 1: class label 3 outside [0, 3)")
        }
        let regression = try Self.model(.regression, labels: 1, dropout: 0)
        batch.values[2] = .nan
        XCTAssertThrowsError(try regression.forward(batch, training: false))
        XCTAssertThrowsError(try BertForSequenceClassification(config: TinyModel.config(), numLabels: 1, problemType: .singleLabelClassification,
                                                               maxBatch: 2, maxSeqLength: 8))
    }
}
