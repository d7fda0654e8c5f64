// The training-step benchmark behind `bert-pretrain bench`: one model replica stepped on a synthetic
// batch shaped like ../shared/peer-bench/torch_bert_bench.py's, or on real batches read from shards
// (ShardBatches.swift), timed step by step, with the FLOP count of the peer's formula, so that the
// figures compare with PyTorch's directly.

import BERT
import Dispatch
import Foundation
import Optim

public enum BenchTask: String, CaseIterable, Codable, Sendable {
    /// BertForPreTraining: gathered MLM head + NSP.
    case pretraining
    /// BertForSequenceClassification with 2 labels, clipped at 1.0 as HF Trainer steps it.
    case classification
}

/// What a benchmark run measures, as the command line gives it.
public struct StepBenchmarkSettings: Sendable {
    public var config: BertConfig
    public var task: BenchTask = .pretraining
    public var batchSize = 32
    public var seqLength = 128
    public var predictions = 20
    public var steps = 5
    public var warmup = 2
    public var seed: UInt64 = 1234
    /// Shards to time real batches of (a folder or one file; ShardBatches); nil: the synthetic batch.
    /// With shards, T and P are the shards' and `seqLength`, `predictions` are not used.
    public var data: String? = nil
    /// The rectangular [B·T] path (encoder.packsSequences false) instead of computing real tokens only.
    public var padded = false
    /// The matrix products' precision (MatrixProducts.use): bf16 takes oneDNN where the CPU has a bf16 kernel.
    public var precision: Precision = .fp32

    public init(config: BertConfig) { self.config = config }
}

/// Step times and losses of a run, with the model's sizes.
public struct StepTimings: Sendable {
    /// Seconds of each timed step (warm-up excluded).
    public var seconds: [Double]
    /// The loss of every step, warm-up included.
    public var losses: [Double]
    public var parameterCount: Int
    public var activationBytes: Int
    public var parameterBytes: Int
    /// T and P of the batches timed: the settings' for the synthetic batch, the shards' with `data`.
    public var seqLength: Int
    public var predictions: Int
    /// Padded positions ÷ B·T over the timed steps (0 for the full-length synthetic batch).
    public var paddingShare: Double
    /// Distinct batches the steps cycled over (1 for the synthetic batch).
    public var distinctBatches: Int
    /// Which code computed the products (openblas-fp32, emulated-bf16, onednn-bf16).
    public var products: ProductPath

    public var median: Double { seconds.sorted()[seconds.count / 2] }
}

public enum StepBenchmark {
    /// Builds the model, fills the synthetic batch (or reads the shards' batches) and times `warmup + steps`
    /// steps (forward, zero gradients, backward, clipping for classification, AdamW); step s computes batch
    /// s mod K of the K distinct batches.
    public static func run(_ s: StepBenchmarkSettings) throws -> StepTimings {
        let batches: [PretrainingBatch], paddingShare: Double
        let T: Int, P: Int
        if let data = s.data {
            let shards = try ShardBatches(data: data, batchSize: s.batchSize, steps: s.warmup + s.steps,
                                          maxPositions: s.config.maxPositionEmbeddings)
            batches = shards.batches
            T = shards.seqLength; P = shards.predictions
            paddingShare = shards.paddingShare(steps: s.warmup..<(s.warmup + s.steps))
        } else {
            let batch = PretrainingBatch(maxBatch: s.batchSize, maxSeqLength: s.seqLength, maxPredictions: s.predictions)
            SyntheticBatch.fill(batch, batchSize: s.batchSize, seqLength: s.seqLength, predictions: s.predictions,
                                vocabSize: s.config.vocabSize, seed: s.seed &+ 2)
            batches = [batch]
            T = s.seqLength; P = s.predictions
            paddingShare = 0
        }
        let products = MatrixProducts.use(s.precision)
        defer { MatrixProducts.use(.fp32) }
        let seconds: [Double], losses: [Double], sizes: (parameters: Int, activationBytes: Int, parameterBytes: Int)
        switch s.task {
        case .pretraining:
            let model = try BertForPreTraining(config: s.config, maxBatch: s.batchSize, maxSeqLength: T, maxPredictions: P)
            model.encoder.packsSequences = !s.padded
            (seconds, losses) = try timeSteps(model, batches: batches, clip: false, settings: s)
            sizes = (model.layout.count, model.activationBytes, model.parameterBytes)
        case .classification:
            let model = try BertForSequenceClassification(config: s.config, numLabels: 2, problemType: .singleLabelClassification,
                                                          maxBatch: s.batchSize, maxSeqLength: T)
            model.encoder.packsSequences = !s.padded
            (seconds, losses) = try timeSteps(model, batches: batches.map(SyntheticBatch.pairs(from:)), clip: true, settings: s)
            sizes = (model.layout.count, model.activationBytes, model.parameterBytes)
        }
        return StepTimings(seconds: seconds, losses: losses, parameterCount: sizes.parameters, activationBytes: sizes.activationBytes,
                           parameterBytes: sizes.parameterBytes, seqLength: T, predictions: P, paddingShare: paddingShare,
                           distinctBatches: batches.count, products: products)
    }

    /// Step i computes batches[i mod K]. Throws if a batch is refused by the model (a shard row out of
    /// its vocabulary, say): the forward checks its inputs before any work.
    static func timeSteps<M: TrainableModel>(_ model: M, batches: [M.Batch], clip: Bool,
                                             settings s: StepBenchmarkSettings) throws -> (seconds: [Double], losses: [Double]) {
        model.initializeWeights(seed: s.seed)
        model.seedDropout(s.seed &+ 1)
        let optimizer = AdamW(layout: model.layout, weightDecay: 0.01)
        var losses: [Double] = [], seconds: [Double] = []
        for i in 0..<(s.warmup + s.steps) {
            let batch = batches[i % batches.count]
            let counts = batch.lossCounts
            let start = DispatchTime.now().uptimeNanoseconds
            let loss = try model.trainingForward(batch)
            model.zeroGradients()
            model.backward(firstScale: 1 / Float(max(1, counts.first)), secondScale: 1 / Float(max(1, counts.second)), gradientsReady: nil)
            if clip { _ = clipGradientNorm(model.gradients, maxNorm: 1) }
            optimizer.step(parameters: model.parameters, gradients: UnsafeBufferPointer(model.gradients), learningRate: 1e-4)
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            losses.append(loss.loss)
            if i >= s.warmup { seconds.append(elapsed) }
        }
        return (seconds, losses)
    }
}

/// The FLOPs of a training step by the peer benchmark's formula, with the gathered MLM head
/// (multiply-add = 2, training = 3 × forward). LayerNorm, GELU, softmax, biases, embedding lookups
/// and the optimizer are not counted.
public enum StepFLOPs {
    public static let formula = """
          per token:    2L(4H² + 2HI) + 4LTH + 2H² + 2HV·(P/T)
          per sequence: 2(H² + 2H)
          step:         3·(B·T·per_token + B·per_sequence)
        """

    /// `formula` with L layers, H hidden, I intermediate, V vocab, T sequence length, P predictions, B batch.
    public static func perStep(config c: BertConfig, batch B: Int, seq T: Int, predictions P: Int) -> Double {
        let L = Double(c.numHiddenLayers), H = Double(c.hiddenSize), I = Double(c.intermediateSize)
        let V = Double(c.vocabSize), S = Double(T)
        let perToken = 2 * L * (4 * H * H + 2 * H * I) + 4 * L * S * H + 2 * H * H + 2 * H * V * Double(P) / S
        let perSequence = 2 * (H * H + 2 * H)
        return 3 * (Double(B) * S * perToken + Double(B) * perSequence)
    }
}
