// Forward losses and gradients against Hugging Face BertForPreTraining, using the checkpoint
// helper's committed fixture (Fixtures/hf-parity: HF model saved by save_pretrained, a batch with
// padding, HF's float64 losses and 13 gradient tensors, dropout off; see Fixtures/README.md).
// Tolerance: our forward is Float; against a float64 reference, relative error of ~1e-7 per op
// accumulates to ~1e-6 over the 2 layers and heads, so 1e-5 relative (of the tensor's largest
// entry for gradients) is the bound; observed errors are ~2e-7.
@testable import BERT
import Foundation
import XCTest

final class PretrainingVsTransformersTests: XCTestCase {
    func testLossesAndGradientsMatchTransformers() throws {
        let dir = try XCTUnwrap(Bundle.module.path(forResource: "Fixtures", ofType: nil)) + "/hf-parity"
        let config = try BertConfig.load(path: dir + "/checkpoint/config.json")
        let B = 3, T = 12, P = 4
        let model = try BertForPreTraining(config: config, maxBatch: B, maxSeqLength: T, maxPredictions: P)
        _ = try Checkpoint.load(from: dir + "/checkpoint", into: model.parameters, layout: model.layout, seed: 1, logger: nil)
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/parity.json"))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let b = try XCTUnwrap(json["batch"] as? [String: Any])
        let ids = try XCTUnwrap(b["input_ids"] as? [[Int]]), types = try XCTUnwrap(b["token_type_ids"] as? [[Int]])
        let mask = try XCTUnwrap(b["attention_mask"] as? [[Int]])
        let positions = try XCTUnwrap(b["masked_positions"] as? [[Int]]), labels = try XCTUnwrap(b["masked_labels"] as? [[Int]])
        let nsp = try XCTUnwrap(b["next_sentence_labels"] as? [Int])
        let batch = PretrainingBatch(maxBatch: B, maxSeqLength: T, maxPredictions: P)
        for s in 0..<B {
            for t in 0..<T {
                batch.inputIds[s * T + t] = Int32(ids[s][t])
                batch.segmentIds[s * T + t] = Int32(types[s][t])
                batch.inputMask[s * T + t] = Int32(mask[s][t])
            }
            for k in 0..<P {   // unused slots: label −1
                batch.maskedPositions[s * P + k] = k < positions[s].count ? Int32(positions[s][k]) : 0
                batch.maskedLabels[s * P + k] = k < labels[s].count ? Int32(labels[s][k]) : -1
            }
            batch.nextSentenceLabels[s] = Int32(nsp[s])
        }
        let loss = try model.forward(batch, training: false)
        let expected = try XCTUnwrap(json["expected"] as? [String: Any])
        for (ours, key) in [(loss.mlmLoss, "mlm_loss"), (loss.nspLoss, "nsp_loss"), (loss.loss, "loss")] {
            let reference = try XCTUnwrap(expected[key] as? Double)
            XCTAssertEqual(ours, reference, accuracy: 1e-5 * abs(reference), "\(key): ours \(ours), transformers \(reference)")
        }
        XCTAssertEqual(loss.mlmCount, 8)
        XCTAssertEqual(loss.nspCount, 3)

        model.zeroGradients()
        model.backward(mlmScale: 1 / Float(loss.mlmCount), nspScale: 1 / Float(loss.nspCount), gradientsReady: nil)
        let gradients = try XCTUnwrap(expected["gradients"] as? [String: Any])
        XCTAssertEqual(gradients.count, 13)
        func flatten(_ x: Any) -> [Double] {
            if let a = x as? [Any] { return a.flatMap(flatten) }
            return [(x as? NSNumber)?.doubleValue ?? .nan]
        }
        for (name, value) in gradients {
            let spec = try XCTUnwrap(model.layout.tensor(named: name), name)
            let reference = flatten(try XCTUnwrap((value as? [String: Any])?["values"]))
            XCTAssertEqual(reference.count, spec.count, name)
            let largest = reference.map(abs).max() ?? 0
            var worst = (error: 0.0, index: 0)
            for (k, i) in spec.range.enumerated() where abs(Double(model.gradients[i]) - reference[k]) > worst.error {
                worst = (abs(Double(model.gradients[i]) - reference[k]), k)
            }
            XCTAssertLessThanOrEqual(worst.error, 1e-5 * largest,
                                     "\(name)[\(worst.index)]: ours \(model.gradients[spec.offset + worst.index]), transformers \(reference[worst.index])")
        }
    }
}
