// BertForSequenceClassification (HF): the encoder, the pooler, dropout and one linear layer.
//
// Legend: B batch, T sequence, H hidden, C labels (1 for regression).
//   pooled   [B, H]  tanh(hidden[:, 0]·Wpᵀ + bp)                      (Pooler.swift)
//   dropped  [B, H]  dropout(pooled, classifier_dropout ?? hidden_dropout_prob)
//   logits   [B, C]  dropped·Wcᵀ + bc                                 (`classifier`)
// Loss by problem type, as HF: single-label classification = mean cross-entropy over sequences;
// regression (C = 1) = mean (logit − value)². Forward returns the sum and count, so ranks and
// micro-batches combine exactly; backward takes 1 / (the global count) as its scale.

import Foundation

/// HF `config.problem_type` values this head trains.
public enum ProblemType: String, Codable, Sendable {
    case singleLabelClassification = "single_label_classification"
    case regression
}

/// The classifier's tensors (`classifier.weight` [C, H], `classifier.bias` [C]).
public enum ClassifierHead {
    public static func declaration(hiddenSize H: Int, labels C: Int) -> HeadDeclaration {
        HeadDeclaration(name: "classifier", tensors: [
            TensorDeclaration("classifier.weight", [C, H], decays: true),
            TensorDeclaration("classifier.bias", [C], decays: false),
        ])
    }
}

/// A batch of (pairs of) texts with their labels, in preallocated buffers laid out with the current B, T.
public final class ClassificationBatch {
    public let maxBatch: Int, maxSeqLength: Int
    public var batchSize: Int
    public var seqLength: Int
    public let inputIds: UnsafeMutableBufferPointer<Int32>     // [B, T]
    public let segmentIds: UnsafeMutableBufferPointer<Int32>   // [B, T]  0 = [CLS] A [SEP], 1 = B [SEP]
    public let inputMask: UnsafeMutableBufferPointer<Int32>    // [B, T]  1 real token, 0 padding
    public let labels: UnsafeMutableBufferPointer<Int32>       // [B]  class id (classification)
    public let values: UnsafeMutableBufferPointer<Float>       // [B]  target (regression)
    /// Each row's global example index and the optimizer step: they key the dropout masks (Dropout.swift).
    public let instances: UnsafeMutableBufferPointer<Int>      // [B]
    public var step = 0
    private let arena = Arena()

    public init(maxBatch: Int, maxSeqLength: Int) {
        precondition(maxBatch > 0 && maxSeqLength > 0, "batch capacity must be positive")
        self.maxBatch = maxBatch
        self.maxSeqLength = maxSeqLength
        batchSize = maxBatch
        seqLength = maxSeqLength
        let n = maxBatch * maxSeqLength
        inputIds = arena.allocate(Int32.self, count: n)
        segmentIds = arena.allocate(Int32.self, count: n)
        inputMask = arena.allocate(Int32.self, count: n)
        labels = arena.allocate(Int32.self, count: maxBatch)
        values = arena.allocate(Float.self, count: maxBatch)
        instances = arena.allocate(Int.self, count: maxBatch)
        for b in 0..<maxBatch { instances[b] = b }
    }
}

/// Loss sum, count and correct predictions of one forward (correct stays 0 for regression).
public struct ClassificationLoss: Equatable, Sendable {
    public var lossSum: Double = 0, count: Int = 0, correct: Int = 0
    public init() {}
    public var loss: Double { count > 0 ? lossSum / Double(count) : 0 }
    public var accuracy: Double { count > 0 ? Double(correct) / Double(count) : 0 }
}

public final class BertForSequenceClassification {
    public let config: BertConfig
    public let layout: ParameterLayout
    public let numLabels: Int
    public let problemType: ProblemType
    /// Dropout before the classifier (HF `classifier_dropout`, else `hidden_dropout_prob`).
    public let classifierDropout: Float
    public let parameters: UnsafeMutableBufferPointer<Float>   // [layout.count]
    public let gradients: UnsafeMutableBufferPointer<Float>    // [layout.count]
    public let encoder: BertEncoder
    public let maxBatch: Int, maxSeqLength: Int
    let pooler: PoolerOffsets
    let classifierWeight: Int, classifierBias: Int

    private var batchSize = 0, dropping = false
    private let first, dFirst, pooled, dropped, logitsBuffer, probs, dLogits, dDropped, dHidden: UnsafeMutableBufferPointer<Float>
    private let keep: UnsafeMutableBufferPointer<UInt8>       // [B, H] dropout mask of the pooled output
    private let labels: UnsafeMutableBufferPointer<Int32>     // [B]
    private let values: UnsafeMutableBufferPointer<Float>     // [B]
    private let arena = Arena()

    public init(config: BertConfig, numLabels: Int, problemType: ProblemType, classifierDropout: Double? = nil,
                maxBatch: Int, maxSeqLength: Int) throws {
        try config.validate()
        if maxSeqLength > config.maxPositionEmbeddings {
            throw BertInputError.sequenceTooLong(length: maxSeqLength, capacity: maxSeqLength,
                                                 maxPositionEmbeddings: config.maxPositionEmbeddings)
        }
        guard numLabels >= 1, problemType != .regression || numLabels == 1,
              problemType != .singleLabelClassification || numLabels >= 2 else {
            throw ConfigError.invalid(field: "num_labels", reason: "\(numLabels) labels for \(problemType.rawValue): classification needs at least 2, regression exactly 1")
        }
        let dropout = classifierDropout ?? config.hiddenDropoutProb
        guard dropout >= 0 && dropout < 1 else {
            throw ConfigError.invalid(field: "classifier_dropout", reason: "\(dropout) is not in [0, 1)")
        }
        precondition(maxBatch > 0 && maxSeqLength > 0, "model capacity must be positive")
        // Refuse, before allocating, what cannot fit (the pretraining model's estimate bounds this one's).
        try MemoryRequirement(config: config, maxBatch: maxBatch, maxSeqLength: maxSeqLength, maxPredictions: 0,
                              optimizerMoments: 2).check()
        self.config = config
        self.numLabels = numLabels
        self.problemType = problemType
        self.classifierDropout = Float(dropout)
        self.maxBatch = maxBatch
        self.maxSeqLength = maxSeqLength
        layout = ParameterLayout(config: config, pooler: true,
                                 heads: [ClassifierHead.declaration(hiddenSize: config.hiddenSize, labels: numLabels)])
        pooler = layout.pooler!
        classifierWeight = layout.offset(of: "classifier.weight")
        classifierBias = layout.offset(of: "classifier.bias")
        let a = arena, H = config.hiddenSize, C = numLabels
        parameters = a.allocate(Float.self, count: layout.count)
        gradients = a.allocate(Float.self, count: layout.count)
        encoder = BertEncoder(config: config, layout: layout, parameters: parameters.baseAddress!,
                              gradients: gradients.baseAddress!, maxBatch: maxBatch, maxSeqLength: maxSeqLength)
        first = a.allocate(Float.self, count: maxBatch * H)
        dFirst = a.allocate(Float.self, count: maxBatch * H)
        pooled = a.allocate(Float.self, count: maxBatch * H)
        dropped = a.allocate(Float.self, count: maxBatch * H)
        keep = a.allocate(UInt8.self, count: maxBatch * H)
        logitsBuffer = a.allocate(Float.self, count: maxBatch * C)
        probs = a.allocate(Float.self, count: maxBatch * C)
        dLogits = a.allocate(Float.self, count: maxBatch * C)
        dDropped = a.allocate(Float.self, count: maxBatch * H)
        dHidden = a.allocate(Float.self, count: maxBatch * maxSeqLength * H)
        labels = a.allocate(Int32.self, count: maxBatch)
        values = a.allocate(Float.self, count: maxBatch)
    }

    /// Bytes of parameters + gradients, and of activations + scratch (encoder and head).
    public var parameterBytes: Int { 2 * layout.count * MemoryLayout<Float>.stride }
    public var activationBytes: Int { encoder.activationBytes + arena.bytes - parameterBytes }

    /// HF `_init_weights` over the whole layout, deterministic in `seed`.
    public func initializeWeights(seed: UInt64) { layout.initializeWeights(parameters, seed: seed) }

    /// The run's seed for dropout (masks keyed by seed, step, example, layer, site; the same on every rank).
    public func seedDropout(_ seed: UInt64) { encoder.dropoutSeed = seed }

    public func zeroGradients() { gradients.update(repeating: 0) }

    /// Logits [B, C] of the last forward (raw: before softmax), row-major.
    public var logits: UnsafeBufferPointer<Float> { UnsafeBufferPointer(rebasing: logitsBuffer[0..<(batchSize * numLabels)]) }

    // MARK: Forward

    /// Forward over the batch; caches what backward needs. `training` false = dropout off.
    /// Labels are checked (class ids in [0, C), finite regression targets) before any work.
    public func forward(_ batch: ClassificationBatch, training: Bool) throws -> ClassificationLoss {
        let B = batch.batchSize, T = batch.seqLength, H = config.hiddenSize, C = numLabels
        for b in 0..<B {
            switch problemType {
            case .singleLabelClassification:
                let label = batch.labels[b]
                if label < 0 || Int(label) >= C { throw BertInputError.classLabelOutOfRange(sequence: b, label: Int(label), classes: C) }
                labels[b] = label
            case .regression:
                let value = batch.values[b]
                if !value.isFinite { throw BertInputError.regressionTargetNotFinite(sequence: b, value: value) }
                values[b] = value
            }
        }
        try encoder.forward(inputIds: batch.inputIds.baseAddress!, segmentIds: batch.segmentIds.baseAddress!,
                            inputMask: batch.inputMask.baseAddress!, batchSize: B, seqLength: T, training: training,
                            instances: batch.instances.baseAddress!, step: batch.step, reads: .firstPositions)
        batchSize = B
        let p = parameters.baseAddress!
        poolerForward(pooled.baseAddress!, first: first.baseAddress!, hidden: encoder.hiddenStates, rows: encoder.outputRows,
                      weight: p + pooler.weight, bias: p + pooler.bias, hiddenSize: H)
        dropping = training && classifierDropout > 0
        var input = UnsafePointer(pooled.baseAddress!)
        if dropping {
            for b in 0..<B {
                let key = DropoutSite.sequenceKey(seed: encoder.dropoutSeed, step: batch.step, instance: batch.instances[b])
                DropoutSite.classifierInput.fillRowMask(keep.baseAddress! + b * H, sequence: key, layer: 0, count: H,
                                                        dropProbability: classifierDropout)
            }
            dropoutApply(pooled.baseAddress!, mask: keep.baseAddress!, count: B * H, dropProbability: classifierDropout,
                         into: dropped.baseAddress!)
            input = UnsafePointer(dropped.baseAddress!)
        }
        linearForward(logitsBuffer.baseAddress!, input, weight: p + classifierWeight, bias: p + classifierBias,
                      rows: B, inFeatures: H, outFeatures: C)

        var loss = ClassificationLoss()
        loss.count = B
        switch problemType {
        case .singleLabelClassification:
            probs.baseAddress!.update(from: logitsBuffer.baseAddress!, count: B * C)
            crossEntropyForward(probs.baseAddress!, labels: labels.baseAddress!, rows: B, classes: C,
                                lossSum: &loss.lossSum, correct: &loss.correct)
        case .regression:
            meanSquaredErrorForward(logitsBuffer.baseAddress!, targets: values.baseAddress!, rows: B, lossSum: &loss.lossSum)
        }
        return loss
    }

    // MARK: Backward

    /// Accumulates into `gradients` the gradient of `scale` · (the loss sum of the last forward)
    /// (HF on one rank: scale = 1 / batch size). `gradientsReady` receives the pooler and
    /// classifier range, then layers L−1 … 0, then the embeddings.
    public func backward(scale: Float, gradientsReady: ((Range<Int>) -> Void)?) {
        let B = batchSize, H = config.hiddenSize, C = numLabels
        let p = parameters.baseAddress!, g = gradients.baseAddress!
        let dl = dLogits.baseAddress!, dh = dHidden.baseAddress!
        switch problemType {
        case .singleLabelClassification:
            dl.update(from: probs.baseAddress!, count: B * C)
            crossEntropyBackward(dl, labels: labels.baseAddress!, rows: B, classes: C, scale: scale)
        case .regression:
            meanSquaredErrorBackward(dl, predictions: logitsBuffer.baseAddress!, targets: values.baseAddress!, rows: B, scale: scale)
        }
        // Classifier, then dropout back to the pooled output (dDropped becomes dPooled).
        let input = dropping ? dropped.baseAddress! : pooled.baseAddress!
        linearBackward(dx: dDropped.baseAddress!, dWeight: g + classifierWeight, dBias: g + classifierBias, dOut: dl,
                       x: input, weight: p + classifierWeight, rows: B, inFeatures: H, outFeatures: C)
        if dropping {
            dropoutApply(dDropped.baseAddress!, mask: keep.baseAddress!, count: B * H, dropProbability: classifierDropout)
        }
        dh.update(repeating: 0, count: encoder.outputRows.count * H)
        poolerBackward(dHidden: dh, dFirst: dFirst.baseAddress!, rows: encoder.outputRows, dWeight: g + pooler.weight,
                       dBias: g + pooler.bias, dPooled: dDropped.baseAddress!, pooled: pooled.baseAddress!,
                       first: first.baseAddress!, weight: p + pooler.weight, hiddenSize: H)
        gradientsReady?(layout.headRange)
        encoder.backward(dHidden: dh, gradientsReady: gradientsReady)
    }
}
