// Shared fixtures of the model tests: a tiny odd-shaped config and a batch with padding,
// several masked positions and an empty prediction slot.
@testable import BERT
import XCTest

enum TinyModel {
    /// 3 layers, hidden 24, 3 heads (D = 8), intermediate 40, vocab 101: odd enough that a
    /// swapped dimension cannot go unnoticed.
    static func config(dropout: Double = 0, activation: Activation = .gelu) -> BertConfig {
        var c = BertConfig()
        c.vocabSize = 101
        c.hiddenSize = 24
        c.numHiddenLayers = 3
        c.numAttentionHeads = 3
        c.intermediateSize = 40
        c.maxPositionEmbeddings = 16
        c.typeVocabSize = 2
        c.hiddenAct = activation
        c.hiddenDropoutProb = dropout
        c.attentionProbsDropoutProb = dropout
        c.initializerRange = 0.3
        c.layerNormEps = 1e-12
        return c
    }

    static let batchSize = 3, seqLength = 9, predictions = 4

    /// Three sequences of length 9; sequence 1 has 3 padded positions, sequence 2 has 5.
    /// Sequence 0 fills 3 of its 4 prediction slots (the last is empty, label −1).
    static func batch() -> PretrainingBatch {
        let B = batchSize, T = seqLength, P = predictions
        let batch = PretrainingBatch(maxBatch: B, maxSeqLength: T, maxPredictions: P)
        let lengths = [9, 6, 4]
        var state: UInt64 = 12345
        func nextId() -> Int32 {   // real tokens in [5, 101): never the [PAD] id 0
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int32(5 + (state >> 33) % 96)
        }
        for b in 0..<B {
            for t in 0..<T {
                let real = t < lengths[b]
                batch.inputIds[b * T + t] = real ? nextId() : 0
                batch.segmentIds[b * T + t] = real && t >= lengths[b] / 2 ? 1 : 0
                batch.inputMask[b * T + t] = real ? 1 : 0
            }
        }
        let slots: [[(Int32, Int32)]] = [[(2, 17), (5, 40), (7, 99), (0, -1)],
                                         [(1, 3), (4, 64), (0, -1), (0, -1)],
                                         [(2, 8), (0, -1), (0, -1), (0, -1)]]
        for b in 0..<B {
            for s in 0..<P {
                batch.maskedPositions[b * P + s] = slots[b][s].0
                batch.maskedLabels[b * P + s] = slots[b][s].1
            }
        }
        batch.nextSentenceLabels[0] = 1   // mostly 1 so the NSP bias gradient is not ~0 by chance
        batch.nextSentenceLabels[1] = 1
        batch.nextSentenceLabels[2] = 1
        return batch
    }

    /// A model whose LayerNorm γ/β and biases are moved off 1/0 as well, so a gradient
    /// that forgets γ or a bias cannot pass by accident.
    static func model(dropout: Double = 0, activation: Activation = .gelu) throws -> BertForPreTraining {
        let model = try BertForPreTraining(config: config(dropout: dropout, activation: activation),
                                           maxBatch: batchSize, maxSeqLength: seqLength, maxPredictions: predictions)
        model.initializeWeights(seed: 7)
        var state: UInt64 = 99
        for spec in model.layout.tensors where spec.shape.count == 1 {
            for i in spec.range {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                model.parameters[i] += Float(Int64(state >> 40) - (1 << 23)) / Float(1 << 23) * 0.2
            }
        }
        model.seedDropout(2024)
        return model
    }
}
