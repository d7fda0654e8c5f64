// BertForPreTraining: the encoder plus HF's two pretraining heads, over one flat parameter
// buffer and one flat gradient buffer (layout: ParameterLayout).
//
// Legend: B batch, T sequence, H hidden, V vocab, M masked tokens of the batch (≤ B·P).
//   pooled      [B, H]  tanh(hidden[:, 0]·Wpᵀ + bp)              (BertPooler)
//   nspLogits   [B, 2]  pooled·Wnᵀ + bn → softmax (kept)          (cls.seq_relationship)
//   mlmRows     [M]     flat row b·T + position of each labelled slot, in slot order
//   mlmIn       [M, H]  hidden rows at the masked positions (gathered: the MLM head runs only there)
//   mlmPre      [M, H]  mlmIn·Wtᵀ + bt;  mlmAct = gelu(mlmPre)   (transform dense + act)
//   mlmOut      [M, H]  LayerNorm(mlmAct)
//   mlmLogits   [M, V]  mlmOut·Wordᵀ + cls.predictions.bias → softmax (kept, in place)
// Losses as HF BertForPreTraining: MLM = mean CE over the masked tokens, NSP = mean over
// sequences, total = their sum; forward returns sums and counts so ranks combine exactly.

import Foundation

public final class BertForPreTraining {
    public let config: BertConfig
    public let layout: ParameterLayout
    public let parameters: UnsafeMutableBufferPointer<Float>   // [layout.count]
    public let gradients: UnsafeMutableBufferPointer<Float>    // [layout.count], same layout
    public let encoder: BertEncoder
    public let maxBatch: Int, maxSeqLength: Int, maxPredictions: Int
    let generator: DropoutGenerator

    // Head activations of the last forward.
    private var batchSize = 0, seqLength = 0, maskedCount = 0
    private let mlmRows: UnsafeMutableBufferPointer<Int32>
    private let mlmLabels: UnsafeMutableBufferPointer<Int32>
    private let nspLabels: UnsafeMutableBufferPointer<Int32>
    private let pooled, nspLogits, mlmIn, mlmPre, mlmAct, mlmOut, mlmMean, mlmRstd, mlmLogits: UnsafeMutableBufferPointer<Float>
    // Backward scratch.
    private let dHidden, dPooled, dMlmA, dMlmB: UnsafeMutableBufferPointer<Float>
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
        self.maxBatch = maxBatch
        self.maxSeqLength = maxSeqLength
        self.maxPredictions = maxPredictions
        let a = arena
        parameters = a.allocate(Float.self, count: layout.count)
        gradients = a.allocate(Float.self, count: layout.count)
        generator = DropoutGenerator(seed: 0)
        encoder = BertEncoder(config: config, layout: layout, parameters: parameters.baseAddress!,
                              gradients: gradients.baseAddress!, generator: generator,
                              maxBatch: maxBatch, maxSeqLength: maxSeqLength)
        let H = config.hiddenSize, V = config.vocabSize, M = maxBatch * maxPredictions
        mlmRows = a.allocate(Int32.self, count: M)
        mlmLabels = a.allocate(Int32.self, count: M)
        nspLabels = a.allocate(Int32.self, count: maxBatch)
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
        dPooled = a.allocate(Float.self, count: maxBatch * H)
        dMlmA = a.allocate(Float.self, count: M * H)
        dMlmB = a.allocate(Float.self, count: M * H)
    }

    // MARK: Initialisation and dropout state

    /// HF `_init_weights`: N(0, initializer_range) for linear and embedding weights, zero biases,
    /// LayerNorm γ=1 β=0, `cls.predictions.bias` 0, and the [PAD] row of the word embeddings 0
    /// (nn.Embedding padding_idx). Deterministic in `seed`.
    public func initializeWeights(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        for spec in layout.tensors {
            Checkpoint.initialize(spec, in: parameters, std: Float(config.initializerRange), rng: &rng)
        }
        let word = layout.embeddings.word + Int(bertPadTokenId) * config.hiddenSize
        parameters.baseAddress!.advanced(by: word).update(repeating: 0, count: config.hiddenSize)
    }

    public func seedDropout(_ seed: UInt64) { generator.reseed(seed) }

    /// The dropout generator's state (4 words), to save and restore for an exact resume.
    public var dropoutState: [UInt64] {
        get { generator.words }
        set { generator.words = newValue }
    }

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
        // Labelled slots, in slot order.
        var m = 0
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
                m += 1
            }
            nspLabels[b] = nsp
        }
        batchSize = B
        seqLength = T
        maskedCount = m

        try encoder.forward(inputIds: batch.inputIds.baseAddress!, segmentIds: batch.segmentIds.baseAddress!,
                            inputMask: batch.inputMask.baseAddress!, batchSize: B, seqLength: T, training: training)
        let hiddenStates = encoder.hiddenStates
        let p = parameters.baseAddress!, h = layout.heads
        var loss = PretrainingLoss()

        // Pooler on position 0 of each sequence (row stride T·H), then NSP.
        linearForward(pooled.baseAddress!, hiddenStates, ldx: T * H, weight: p + h.poolerWeight, bias: p + h.poolerBias,
                      rows: B, inFeatures: H, outFeatures: H)
        for i in 0..<(B * H) { pooled[i] = fastTanh(pooled[i]) }
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
        let B = batchSize, T = seqLength, m = maskedCount
        let H = config.hiddenSize, V = config.vocabSize
        let p = parameters.baseAddress!, g = gradients.baseAddress!, h = layout.heads
        let hiddenStates = encoder.hiddenStates
        let dh = dHidden.baseAddress!
        dh.update(repeating: 0, count: B * T * H)

        // NSP and pooler: gradient lands on position 0 of each sequence (row stride T·H).
        crossEntropyBackward(nspLogits.baseAddress!, labels: nspLabels.baseAddress!, rows: B, classes: 2, scale: nspScale)
        linearBackward(dx: dPooled.baseAddress!, dWeight: g + h.nspWeight, dBias: g + h.nspBias, dOut: nspLogits.baseAddress!,
                       x: pooled.baseAddress!, weight: p + h.nspWeight, rows: B, inFeatures: H, outFeatures: 2)
        for i in 0..<(B * H) { dPooled[i] *= 1 - pooled[i] * pooled[i] }   // tanh' = 1 − tanh²
        linearBackward(dx: dh, ldDx: T * H, accumulate: true, dWeight: g + h.poolerWeight, dBias: g + h.poolerBias,
                       dOut: dPooled.baseAddress!, x: hiddenStates, ldx: T * H, weight: p + h.poolerWeight,
                       rows: B, inFeatures: H, outFeatures: H)

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
        gradientsReady?(h.range)
        encoder.backward(dHidden: dh, gradientsReady: gradientsReady)
    }
}

// MARK: Cross-entropy (softmax over classes, per row)

/// Softmax of logits[N, C] in place; adds −log p[label] to `lossSum` (in Double) and counts
/// rows whose arg-max is the label. Labels were range-checked.
func crossEntropyForward(_ logits: UnsafeMutablePointer<Float>, labels: UnsafePointer<Int32>, rows n: Int, classes c: Int,
                         lossSum: inout Double, correct: inout Int) {
    for r in 0..<n {
        let row = logits + r * c
        let maxValue = vectorMax(row, count: c)
        let label = Int(labels[r])
        // Correct when the label is the first arg-max (torch.argmax picks the first of ties).
        if row[label] == maxValue && !(0..<label).contains(where: { row[$0] == maxValue }) { correct += 1 }
        for j in 0..<c { row[j] = fastExp(row[j] - maxValue) }
        let sum = vectorSum(row, count: c)
        // −log softmax[label] = log Σ e^(z − max) − (z_label − max); row[label] holds e^(z_label − max).
        lossSum += Foundation.log(Double(sum)) - Foundation.log(Double(row[label]))
        let inverse = 1 / sum
        for j in 0..<c { row[j] *= inverse }
    }
}

/// dLogits[N, C] = scale · (softmax − onehot(label)), in place over the kept softmax.
func crossEntropyBackward(_ probs: UnsafeMutablePointer<Float>, labels: UnsafePointer<Int32>, rows n: Int, classes c: Int,
                          scale: Float) {
    for r in 0..<n {
        let row = probs + r * c
        for j in 0..<c { row[j] *= scale }
        row[Int(labels[r])] -= scale
    }
}
