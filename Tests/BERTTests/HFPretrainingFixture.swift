// What the BertForPreTraining fixtures made by transformers share (hf-parity, hf-bf16): the batch as
// make_fixture.py writes it, tensors as {"shape", "values"}, and the checkpoint loaded into our model.
import Foundation
import XCTest
@testable import BERT

struct FixtureTensor: Decodable {
    let shape: [Int]
    let values: [Double]
}

/// A pretraining batch as lists (HF's names); masked positions per sequence may differ in number.
struct FixturePretrainingBatch: Decodable {
    let input_ids: [[Int32]]
    let token_type_ids: [[Int32]]
    let attention_mask: [[Int32]]
    let masked_positions: [[Int32]]
    let masked_labels: [[Int32]]
    let next_sentence_labels: [Int32]

    var batchSize: Int { input_ids.count }
    var seqLength: Int { input_ids[0].count }
    var maxPredictions: Int { masked_positions.map(\.count).max()! }

    /// Our batch: unused prediction slots get position 0 and label −1.
    func pretrainingBatch() -> PretrainingBatch {
        let B = batchSize, T = seqLength, P = maxPredictions
        let batch = PretrainingBatch(maxBatch: B, maxSeqLength: T, maxPredictions: P)
        batch.batchSize = B
        batch.seqLength = T
        batch.maxPredictions = P
        for s in 0..<B {
            for t in 0..<T {
                batch.inputIds[s * T + t] = input_ids[s][t]
                batch.segmentIds[s * T + t] = token_type_ids[s][t]
                batch.inputMask[s * T + t] = attention_mask[s][t]
            }
            for k in 0..<P {
                let used = k < masked_positions[s].count
                batch.maskedPositions[s * P + k] = used ? masked_positions[s][k] : 0
                batch.maskedLabels[s * P + k] = used ? masked_labels[s][k] : -1
            }
            batch.nextSentenceLabels[s] = next_sentence_labels[s]
        }
        return batch
    }

    /// The fixture's checkpoint directory in our BertForPreTraining sized for this batch; every tensor
    /// must load, none be fresh, unknown or warned about.
    func model(checkpoint dir: String, file: StaticString = #filePath, line: UInt = #line) throws -> BertForPreTraining {
        let model = try BertForPreTraining(config: try Checkpoint.config(in: dir), maxBatch: batchSize, maxSeqLength: seqLength,
                                           maxPredictions: maxPredictions)
        let report = try Checkpoint.load(from: dir, into: model.parameters, layout: model.layout, seed: 0, logger: nil)
        XCTAssertEqual(report.loaded.count, model.layout.tensors.count, file: file, line: line)
        XCTAssertEqual(report.initialized + report.unknown + report.warnings, [], file: file, line: line)
        return model
    }
}
