import Foundation
import XCTest
@testable import BERT

/// Our BertForSequenceClassification against Hugging Face's on the committed fixtures
/// (Fixtures/hf-classification, made by make_fixture.py in float64 with dropout off): a 3-class
/// classifier and a regression model, 4 pairs with padding (12, 9, 6 and 3 tokens). Checkpoints
/// and label names are read with our own readers; logits and the loss must match to 1e-5
/// relative, every recorded gradient element (classifier, pooler, encoder layer 1, embeddings)
/// to 1e-4 relative with an absolute floor of 1e-5 × the tensor's largest entry.
final class ClassificationParityTests: XCTestCase {
    struct Fixture: Decodable {
        struct Batch: Decodable {
            let input_ids: [[Int32]]
            let token_type_ids: [[Int32]]
            let attention_mask: [[Int32]]
            let labels: [Double]
        }
        struct Tensor: Decodable {
            let shape: [Int]
            let values: [Double]
        }
        struct Expected: Decodable {
            let loss: Double
            let logits: [[Double]]
            let gradients: [String: Tensor]
        }
        let problem_type: String
        let id2label: [String: String]
        let batch: Batch
        let expected: Expected
    }

    func check(_ name: String) throws {
        let dir = try fixturePath("hf-classification/checkpoint-\(name)")
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: try fixturePath("hf-classification/\(name).json"))))
        let head = try XCTUnwrap(try ClassifierConfig.load(checkpoint: dir))
        XCTAssertEqual(head.problemType.rawValue, fixture.problem_type)
        XCTAssertEqual(head.labels, (0..<fixture.id2label.count).map { fixture.id2label[String($0)]! })

        let b = fixture.batch, B = b.input_ids.count, T = b.input_ids[0].count
        let model = try BertForSequenceClassification(config: try Checkpoint.config(in: dir), numLabels: head.numLabels,
                                                      problemType: head.problemType, classifierDropout: head.classifierDropout,
                                                      maxBatch: B, maxSeqLength: T)
        let report = try Checkpoint.load(from: dir, into: model.parameters, layout: model.layout, seed: 0, logger: nil)
        XCTAssertEqual(report.loaded.count, model.layout.tensors.count)
        XCTAssertEqual(report.initialized + report.unknown + report.warnings, [])

        let batch = ClassificationBatch(maxBatch: B, maxSeqLength: T)
        batch.batchSize = B
        batch.seqLength = T
        for s in 0..<B {
            for t in 0..<T {
                batch.inputIds[s * T + t] = b.input_ids[s][t]
                batch.segmentIds[s * T + t] = b.token_type_ids[s][t]
                batch.inputMask[s * T + t] = b.attention_mask[s][t]
            }
            batch.labels[s] = Int32(b.labels[s])
            batch.values[s] = Float(b.labels[s])
        }

        let loss = try model.forward(batch, training: false)
        XCTAssertEqual(loss.count, B)
        XCTAssertLessThanOrEqual(abs(loss.loss - fixture.expected.loss) / abs(fixture.expected.loss), 1e-5,
                                 "\(name) loss: ours \(loss.loss), Hugging Face \(fixture.expected.loss)")
        let C = head.numLabels
        for s in 0..<B {
            for c in 0..<C {
                let ours = Double(model.logits[s * C + c]), theirs = fixture.expected.logits[s][c]
                XCTAssertLessThanOrEqual(abs(ours - theirs), 1e-5 * abs(theirs) + 1e-7,
                                         "\(name) logit [\(s), \(c)]: ours \(ours), Hugging Face \(theirs)")
            }
        }

        model.zeroGradients()
        model.backward(scale: 1 / Float(B), gradientsReady: nil)
        XCTAssertGreaterThanOrEqual(fixture.expected.gradients.count, 20)
        for (tensorName, tensor) in fixture.expected.gradients.sorted(by: { $0.key < $1.key }) {
            let spec = try XCTUnwrap(model.layout.tensor(named: tensorName), tensorName)
            XCTAssertEqual(spec.shape, tensor.shape, tensorName)
            let scale = tensor.values.map(abs).max()!
            if scale < 1e-12 {
                // The key bias shifts every score of a row alike, which softmax ignores: its true
                // gradient is 0 (HF's 1e-18 is float64 noise), so ours must be float32 noise only.
                let largest = (0..<spec.count).map { abs(model.gradients[spec.offset + $0]) }.max()!
                XCTAssertLessThanOrEqual(largest, 1e-7, "\(name): gradient of \(tensorName) should be 0, largest |entry| \(largest)")
                continue
            }
            var worst = (index: 0, excess: -Double.infinity, ours: 0.0, theirs: 0.0)
            for (k, theirs) in tensor.values.enumerated() {
                let ours = Double(model.gradients[spec.offset + k])
                let allowed = 1e-4 * abs(theirs) + 1e-5 * scale
                if abs(ours - theirs) - allowed > worst.excess { worst = (k, abs(ours - theirs) - allowed, ours, theirs) }
            }
            XCTAssertLessThanOrEqual(worst.excess, 0,
                                     "\(name): gradient of \(tensorName)[\(worst.index)]: ours \(worst.ours), Hugging Face \(worst.theirs) (largest |entry| \(scale))")
        }
    }

    func testThreeClassClassifierMatchesHuggingFace() throws { try check("classification") }

    /// Re-saved by our writer (as `finetune` saves), the classifier reads back bit for bit. The directory
    /// is kept for the by-hand check with transformers:
    ///   python3 Tests/BERTTests/Fixtures/hf-classification/make_fixture.py check $TMPDIR/classification-resaved
    func testResavedClassifierReadsBackIdentically() throws {
        let dir = try fixturePath("hf-classification/checkpoint-classification")
        let head = try XCTUnwrap(try ClassifierConfig.load(checkpoint: dir))
        let config = try Checkpoint.config(in: dir)
        func model() throws -> BertForSequenceClassification {
            try BertForSequenceClassification(config: config, numLabels: head.numLabels, problemType: head.problemType,
                                              maxBatch: 1, maxSeqLength: 8)
        }
        let original = try model()
        _ = try Checkpoint.load(from: dir, into: original.parameters, layout: original.layout, seed: 0, logger: nil)
        let out = NSTemporaryDirectory() + "classification-resaved"
        try Checkpoint.save(parameters: UnsafeBufferPointer(original.parameters), layout: original.layout, to: out,
                            configJSON: try head.configJSON(encoder: config), vocabPath: dir + "/vocab.txt")
        let again = try model()
        let report = try Checkpoint.load(from: out, into: again.parameters, layout: again.layout, seed: 0, logger: nil)
        XCTAssertEqual(report.initialized + report.unknown, [])
        XCTAssertEqual(Array(again.parameters), Array(original.parameters))
        XCTAssertEqual(try ClassifierConfig.load(checkpoint: out), head)
    }

    func testRegressionMatchesHuggingFace() throws { try check("regression") }
}
