// BertForPreTraining: the encoder plus HF's two pretraining heads, over one flat parameter
// buffer and one flat gradient buffer (layout: ParameterLayout).
//
// Legend: B batch, T sequence, H hidden, V vocab, M masked tokens of the batch (≤ B·P).
//   first       [B, H]  each sequence's first row ([CLS]) of the encoder's hidden states
//   pooled      [B, H]  tanh(first·Wpᵀ + bp)                       (BertPooler)
//   nspLogits   [B, 2]  pooled·Wnᵀ + bn → softmax (kept)          (cls.seq_relationship)
//   mlmRows     [M]     encoder row of each labelled slot's position, in slot order
//   mlmIn       [M, H]  hidden rows at the masked positions (gathered: the MLM head runs only there)
//   mlmPre      [M, H]  mlmIn·Wtᵀ + bt;  mlmAct = gelu(mlmPre)   (transform dense + act)
//   mlmOut      [M, H]  LayerNorm(mlmAct)
//   mlmLogits   [M, V]  mlmOut·Wordᵀ + cls.predictions.bias → softmax (kept, in place)
// Losses as HF BertForPreTraining: MLM = mean CE over the masked tokens, NSP = mean over
// sequences, total = their sum; forward returns sums and counts so ranks combine exactly.

import Foundation

/// HF's two pretraining heads (`cls.*`): the MLM transform and output bias (its decoder is the
/// word-embedding matrix, tied), and the next-sentence classifier on the pooled output.
public enum PretrainingHeads {
    public static func declaration(_ config: BertConfig) -> HeadDeclaration {
        let H = config.hiddenSize
        return HeadDeclaration(name: "pretraining", tensors: [
            TensorDeclaration("cls.predictions.transform.dense.weight", [H, H], decays: true),
            TensorDeclaration("cls.predictions.transform.dense.bias", [H], decays: false),
            TensorDeclaration("cls.predictions.transform.LayerNorm.weight", [H], decays: false),
            TensorDeclaration("cls.predictions.transform.LayerNorm.bias", [H], decays: false),
            TensorDeclaration("cls.predictions.bias", [config.vocabSize], decays: false),
            TensorDeclaration("cls.seq_relationship.weight", [2, H], decays: true),
            TensorDeclaration("cls.seq_relationship.bias", [2], decays: false),
        ])
    }

    /// Offsets of the pretraining head tensors in a layout that declared them.
    struct Offsets {
        let transformWeight, transformBias, transformLnGamma, transformLnBeta: Int  // [H, H], [H], [H], [H]
        let mlmBias: Int          // [V]  output bias of the tied decoder
        let nspWeight, nspBias: Int  // [2, H], [2]
        init(_ layout: ParameterLayout) {
            transformWeight = layout.offset(of: "cls.predictions.transform.dense.weight")
            transformBias = layout.offset(of: "cls.predictions.transform.dense.bias")
            transformLnGamma = layout.offset(of: "cls.predictions.transform.LayerNorm.weight")
            transformLnBeta = layout.offset(of: "cls.predictions.transform.LayerNorm.bias")
            mlmBias = layout.offset(of: "cls.predictions.bias")
            nspWeight = layout.offset(of: "cls.seq_relationship.weight")
            nspBias = layout.offset(of: "cls.seq_relationship.bias")
        }
    }
}

public final class BertForPreTraining {
    public let config: BertConfig
    public let layout: ParameterLayout
    public let parameters: UnsafeMutableBufferPointer<Float>   // [layout.count]
    public let gradients: UnsafeMutableBufferPointer<Float>    // [layout.count], same layout
    public let encoder: BertEncoder
    public let maxBatch: Int, maxSeqLength: Int, maxPredictions: Int
    let heads: PretrainingHeads.Offsets
    let pooler: PoolerOffsets

    // Head activations of the last forward.
    private var batchSize = 0, maskedCount = 0
    private let mlmRows: UnsafeMutableBufferPointer<Int32>
    private let mlmLabels: UnsafeMutableBufferPointer<Int32>
    private let nspLabels: UnsafeMutableBufferPointer<Int32>
    private let first, pooled, nspLogits, mlmIn, mlmPre, mlmAct, mlmOut, mlmMean, mlmRstd, mlmLogits: UnsafeMutableBufferPointer<Float>
    // Backward scratch.
    private let dHidden, dFirst, dPooled, dMlmA, dMlmB: UnsafeMutableBufferPointer<Float>
    private let arena = Arena()

    /// Bytes of parameters + gradients, and of activations + scratch (encoder and heads).
    public var parameterBytes: Int { 2 * layout.count * MemoryLayout<Float>.stride }
    public var activationBytes: Int { encoder.activationBytes + arena.bytes - parameterBytes }

    /// Allocates parameters, gradients and every activation for the largest batch once; first checks
    /// that they, and `optimizerMoments` parameter-sized optimizer buffers, fit in physical memory.
    public init(config: BertConfig, maxBatch: Int, maxSeqLength: Int, maxPredictions: Int, optimizerMoments: Int = 2) throws {
        try config.validate()
        if maxSeqLength > config.maxPositionEmbeddings {
            throw BertInputError.sequenceTooLong(length: maxSeqLength, capacity: maxSeqLength,
                                                 maxPositionEmbeddings: config.maxPositionEmbeddings)
        }
        precondition(maxBatch > 0 && maxSeqLength > 0 && maxPredictions >= 0, "model capacity must be positive")
        try MemoryRequirement(config: config, maxBatch: maxBatch, maxSeqLength: maxSeqLength, maxPredictions: maxPredictions,
                              optimizerMoments: optimizerMoments).check()
        self.config = config
        self.layout = ParameterLayout(config: config)
        heads = PretrainingHeads.Offsets(layout)
        pooler = layout.pooler!
        self.maxBatch = maxBatch
        self.maxSeqLength = maxSeqLength
        self.maxPredictions = maxPredictions
        let a = arena
        parameters = a.allocate(Float.self, count: layout.count)
        gradients = a.allocate(Float.self, count: layout.count)
        encoder = BertEncoder(config: config, layout: layout, parameters: parameters.baseAddress!,
                              gradients: gradients.baseAddress!, maxBatch: maxBatch, maxSeqLength: maxSeqLength)
        let H = config.hiddenSize, V = config.vocabSize, M = maxBatch * maxPredictions
        mlmRows = a.allocate(Int32.self, count: M)
        mlmLabels = a.allocate(Int32.self, count: M)
        nspLabels = a.allocate(Int32.self, count: maxBatch)
        first = a.allocate(Float.self, count: maxBatch * H)
        pooled = a.allocate(Float.self, count: maxBatch * H)
        nspLogits = a.allocate(Float.self, count: maxBatch * 2)
        mlmIn = a.allocate(Float.self, count: M * H)
        mlmPre = a.allocate(Float.self, count: M * H)
        mlmAct = a.allocate(Float.self, count: M * H)
        mlmOut = a.allocate(Float.self, count: M * H)
        mlmMean = a.allocate(Float.self, count: M)
        mlmRstd = a.allocate(Float.self, count: M)
        mlmLogits = a.allocate(Float.self, count: M * V)
        dHidden = a.allocate(Float.self, count: maxBatch * maxSeqLength * H)
        dFirst = a.allocate(Float.self, count: maxBatch * H)
        dPooled = a.allocate(Float.self, count: maxBatch * H)
        dMlmA = a.allocate(Float.self, count: M * H)
        dMlmB = a.allocate(Float.self, count: M * H)
    }

    // MARK: Initialisation and dropout seed

    /// HF `_init_weights` over the whole layout, deterministic in `seed`.
    public func initializeWeights(seed: UInt64) { layout.initializeWeights(parameters, seed: seed) }

    /// The run's seed for dropout: masks are keyed by (seed, batch.step, batch.instances[b], layer, site),
    /// so there is no generator state to save; the same seed on every rank.
    public func seedDropout(_ seed: UInt64) { encoder.dropoutSeed = seed }

    public func zeroGradients() { gradients.update(repeating: 0) }

    // MARK: Forward

    /// Forward over the batch; caches what backward needs. `training` false = dropout off.
    /// Throws on out-of-range ids / positions naming the sequence and position, before any work.
    public func forward(_ batch: PretrainingBatch, training: Bool) throws -> PretrainingLoss {
        let B = batch.batchSize, T = batch.seqLength, P = batch.maxPredictions
        let H = config.hiddenSize, V = config.vocabSize
        if P > maxPredictions { throw BertInputError.tooManyPredictions(predictions: P, capacity: maxPredictions) }
        try encoder.validate(inputIds: batch.inputIds.baseAddress!, segmentIds: batch.segmentIds.baseAddress!,
                             inputMask: batch.inputMask.baseAddress!, batchSize: B, seqLength: T)
        // Labelled slots, in slot order (their rows are set after the encoder placed the sequences). A labelled
        // position in the padding (no shard has one; a hand-made batch may) keeps the batch rectangular.
        var m = 0, labelsOnRealTokens = true
        let mask = batch.inputMask.baseAddress!
        for b in 0..<B {
            let nsp = batch.nextSentenceLabels[b]
            if nsp != 0 && nsp != 1 { throw BertInputError.nextSentenceLabelInvalid(sequence: b, label: nsp) }
            for s in 0..<P {
                let label = batch.maskedLabels[b * P + s]
                if label < 0 { continue }
                if Int(label) >= V { throw BertInputError.maskedLabelOutOfRange(sequence: b, slot: s, label: label, vocabSize: V) }
                let position = batch.maskedPositions[b * P + s]
                if position < 0 || Int(position) >= T {
                    throw BertInputError.maskedPositionOutOfRange(sequence: b, slot: s, position: position, seqLength: T)
                }
                mlmRows[m] = Int32(b * T) + position
                mlmLabels[m] = label
                labelsOnRealTokens = labelsOnRealTokens && mask[b * T + Int(position)] == 1
                m += 1
            }
            nspLabels[b] = nsp
        }
        batchSize = B
        maskedCount = m
        // The last layer computes the rows the heads read: [CLS] (the pooler) and the labelled positions.
        let labels = batch.maskedLabels.baseAddress!
        encoder.readPositions.firstAndSlots(sequences: B, slots: batch.maskedPositions.baseAddress!, perSequence: P) { b, s in
            labels[b * P + s] >= 0
        }

        try encoder.forward(inputIds: batch.inputIds.baseAddress!, segmentIds: batch.segmentIds.baseAddress!,
                            inputMask: batch.inputMask.baseAddress!, batchSize: B, seqLength: T, training: training,
                            instances: batch.instances.baseAddress!, step: batch.step, pack: labelsOnRealTokens, reads: .listed)
        for r in 0..<m {
            let (b, position) = (Int(mlmRows[r]) / T, Int(mlmRows[r]) % T)
            mlmRows[r] = Int32(encoder.row(sequence: b, position: position)!)
        }
        let hiddenStates = encoder.hiddenStates
        let p = parameters.baseAddress!, h = heads
        var loss = PretrainingLoss()

        // Pooler on position 0 of each sequence, then NSP.
        poolerForward(pooled.baseAddress!, first: first.baseAddress!, hidden: hiddenStates, rows: encoder.outputRows,
                      weight: p + pooler.weight, bias: p + pooler.bias, hiddenSize: H)
        linearForward(nspLogits.baseAddress!, pooled.baseAddress!, weight: p + h.nspWeight, bias: p + h.nspBias,
                      rows: B, inFeatures: H, outFeatures: 2)
        crossEntropyForward(nspLogits.baseAddress!, labels: nspLabels.baseAddress!, rows: B, classes: 2,
                            lossSum: &loss.nspLossSum, correct: &loss.nspCorrect)
        loss.nspCount = B

        // MLM head at the labelled positions only.
        if m > 0 {
            for r in 0..<m {
                (mlmIn.baseAddress! + r * H).update(from: hiddenStates + Int(mlmRows[r]) * H, count: H)
            }
            linearForward(mlmPre.baseAddress!, mlmIn.baseAddress!, weight: p + h.transformWeight, bias: p + h.transformBias,
                          rows: m, inFeatures: H, outFeatures: H)
            geluForward(mlmAct.baseAddress!, mlmPre.baseAddress!, count: m * H, activation: config.hiddenAct)
            layerNormForward(mlmOut.baseAddress!, mean: mlmMean.baseAddress!, rstd: mlmRstd.baseAddress!, mlmAct.baseAddress!,
                             gamma: p + h.transformLnGamma, beta: p + h.transformLnBeta, rows: m, channels: H,
                             eps: Float(config.layerNormEps))
            // Tied decoder: logits = mlmOut·Wordᵀ + bias
            linearForward(mlmLogits.baseAddress!, mlmOut.baseAddress!, weight: p + layout.embeddings.word,
                          bias: p + h.mlmBias, rows: m, inFeatures: H, outFeatures: V)
            crossEntropyForward(mlmLogits.baseAddress!, labels: mlmLabels.baseAddress!, rows: m, classes: V,
                                lossSum: &loss.mlmLossSum, correct: &loss.mlmCorrect)
        }
        loss.mlmCount = m
        return loss
    }

    // MARK: Backward

    /// Accumulates into `gradients` the gradient of
    ///   mlmScale · Σ(masked-token CE) + nspScale · Σ(sequence NSP CE)
    /// of the last forward (HF on one rank: mlmScale = 1/mlmCount, nspScale = 1/nspCount).
    /// `gradientsReady` receives each contiguous range of `gradients` once it is final: the
    /// heads, then layers L−1 … 0, then the embeddings (whose word table the tied decoder also feeds).
    public func backward(mlmScale: Float, nspScale: Float, gradientsReady: ((Range<Int>) -> Void)?) {
        let B = batchSize, m = maskedCount
        let H = config.hiddenSize, V = config.vocabSize
        let p = parameters.baseAddress!, g = gradients.baseAddress!, h = heads
        let dh = dHidden.baseAddress!
        dh.update(repeating: 0, count: encoder.outputRows.count * H)

        // NSP and pooler: gradient lands on position 0 of each sequence.
        crossEntropyBackward(nspLogits.baseAddress!, labels: nspLabels.baseAddress!, rows: B, classes: 2, scale: nspScale)
        linearBackward(dx: dPooled.baseAddress!, dWeight: g + h.nspWeight, dBias: g + h.nspBias, dOut: nspLogits.baseAddress!,
                       x: pooled.baseAddress!, weight: p + h.nspWeight, rows: B, inFeatures: H, outFeatures: 2)
        poolerBackward(dHidden: dh, dFirst: dFirst.baseAddress!, rows: encoder.outputRows, dWeight: g + pooler.weight,
                       dBias: g + pooler.bias, dPooled: dPooled.baseAddress!, pooled: pooled.baseAddress!,
                       first: first.baseAddress!, weight: p + pooler.weight, hiddenSize: H)

        if m > 0 {
            let dA = dMlmA.baseAddress!, dB = dMlmB.baseAddress!
            crossEntropyBackward(mlmLogits.baseAddress!, labels: mlmLabels.baseAddress!, rows: m, classes: V, scale: mlmScale)
            // Tied decoder: d(mlmOut) = dLogits·Word, dWord += dLogitsᵀ·mlmOut, dBias += Σ rows
            linearBackward(dx: dA, dWeight: g + layout.embeddings.word, dBias: g + h.mlmBias, dOut: mlmLogits.baseAddress!,
                           x: mlmOut.baseAddress!, weight: p + layout.embeddings.word, rows: m, inFeatures: H, outFeatures: V)
            layerNormBackward(dx: dB, dGamma: g + h.transformLnGamma, dBeta: g + h.transformLnBeta, dOut: dA,
                              x: mlmAct.baseAddress!, mean: mlmMean.baseAddress!, rstd: mlmRstd.baseAddress!,
                              gamma: p + h.transformLnGamma, rows: m, channels: H)
            geluBackward(dB, x: mlmPre.baseAddress!, count: m * H, activation: config.hiddenAct)
            linearBackward(dx: dA, dWeight: g + h.transformWeight, dBias: g + h.transformBias, dOut: dB,
                           x: mlmIn.baseAddress!, weight: p + h.transformWeight, rows: m, inFeatures: H, outFeatures: H)
            // Scatter back to the hidden rows (a position may be listed twice: accumulate).
            for r in 0..<m {
                let row = dh + Int(mlmRows[r]) * H, d = dA + r * H
                for c in 0..<H { row[c] += d[c] }
            }
        }
        gradientsReady?(layout.headRange)
        encoder.backward(dHidden: dh, gradientsReady: gradientsReady)
    }
}
