// PretrainingTask: BertForPreTraining on HDF5 shards — vocabulary, model configuration, the shards
// (verified against their manifest, then checked row by row), optional dynamic masking, the
// batch loader and held-out evaluation. The loop itself is the Trainer's.

import BERT
import Distributed
import Foundation
import Logging
import PretrainingData
import ShardFormat
import Storage
import Tokenization

public final class PretrainingTask: TrainingTask {
    public let model: BertForPreTraining
    public let config: BertConfig
    let trainData: PretrainingDataset
    let evalData: PretrainingDataset?
    let masking: DynamicMasking?
    public let vocabPath: String?
    public let vocabSHA256: String?
    var loader: BatchLoader?

    /// Opens and checks the data and builds the model (weights are the trainer's business).
    /// The configuration comes from the checkpoint resumed or initialised from, else `options.config`.
    public init(options: TrainingOptions, resumeFrom: String?, communicator: Communicator, logger: Logger) throws {
        // Vocabulary and model configuration.
        let vocabPath = options.vocab ?? PretrainingTask.besideShards(options.data, "vocab.txt")
        self.vocabPath = vocabPath
        var vocab: Vocabulary? = nil
        if let vocabPath {
            vocab = try Vocabulary(path: vocabPath)
            vocabSHA256 = try SHA256.hex(ofFile: vocabPath)
        } else {
            vocabSHA256 = nil
        }
        let special = vocab.map(SpecialTokenIds.init)   // [CLS]/[SEP]/… by name, for the shard checks
        var config: BertConfig
        if let dir = resumeFrom ?? options.initFrom {
            config = try Checkpoint.config(in: dir)
        } else {
            config = try BertConfig.named(options.config)
            if BertConfig.preset(options.config) != nil {
                guard let vocab else {
                    throw TrainingError.badOption("--config \(options.config) is a preset: give --vocab (or put vocab.txt beside the shards) so the vocabulary size is known")
                }
                config.vocabSize = vocab.count
            }
        }
        if resumeFrom == nil {
            if let p = options.hiddenDropout { config.hiddenDropoutProb = p }
            if let p = options.attentionDropout { config.attentionProbsDropoutProb = p }
        }
        try config.validate()
        if let vocab, vocab.count != config.vocabSize {
            logger.warning("vocab \(vocabPath ?? "") has \(vocab.count) tokens but the model's vocab_size is \(config.vocabSize)")
        }
        self.config = config

        // Data: every rank opens every shard (each rank reads part of every global batch).
        communicator.mark(.openingShards, activity: "opening the shards in \(options.data)")
        let trainPaths = try ShardFiles.list(in: options.data, containing: "training")
        guard !trainPaths.isEmpty else { throw TrainingError.noShards(directory: options.data, pattern: "training") }
        let evalPaths = options.skipEval ? [] : try options.evalData.map { try ShardFiles.expand($0) } ?? ShardFiles.list(in: options.data, containing: "test")
        if options.verifyShards ?? true {
            try ShardVerification.verify(trainPaths + evalPaths, communicator: communicator) { if communicator.isRoot { logger.info("\($0)") } }
        }
        trainData = try PretrainingDataset(paths: trainPaths, maxPositions: config.maxPositionEmbeddings, vocabSHA256: vocabSHA256)
        evalData = evalPaths.isEmpty ? nil
            : try PretrainingDataset(paths: evalPaths, maxPositions: config.maxPositionEmbeddings, vocabSHA256: vocabSHA256)
        // Each rank checks the content of its share of the shards before step 1.
        communicator.mark(.checkingShards, activity: "checking its share of the shards")
        let myShards = Array(stride(from: communicator.rank, to: trainPaths.count, by: communicator.size))
        try trainData.validateContent(shardNumbers: myShards, vocabSize: config.vocabSize, special: special)
        if let evalData {
            try evalData.validateContent(shardNumbers: Array(stride(from: communicator.rank, to: evalData.paths.count, by: communicator.size)),
                                         vocabSize: config.vocabSize, special: special)
        }

        model = try BertForPreTraining(config: config, maxBatch: max(options.batchSize, 1),
                                       maxSeqLength: max(trainData.maxSeqLength, evalData?.maxSeqLength ?? 0),
                                       maxPredictions: max(trainData.maxPredictions, evalData?.maxPredictions ?? 0))
        if options.dynamicMasking {
            guard let vocab else { throw TrainingError.badOption("--dynamic-masking needs the vocabulary (--vocab) for the [MASK] id") }
            // Whole-word masking when the shards were built with it (their attribute says so).
            let wholeWord = try PretrainingDataset.openShard(trainData.paths[0]).metadata.wholeWordMask ?? false
            masking = DynamicMasking(maxPredictions: trainData.maxPredictions,
                                     vocabulary: MaskingVocabulary(tokens: vocab.tokens, clsId: vocab.clsId,
                                                                   sepId: vocab.sepId, maskId: vocab.maskId),
                                     wholeWordMask: wholeWord, seed: options.seed)
        } else {
            masking = nil
        }
    }

    public var instanceCount: Int { trainData.count }
    public var metricsColumns: MetricsColumns { .pretraining }

    // MARK: Batches

    public func startLoading(plan: DataPlan, rank: Int, epoch: Int, firstStep: Int, lastEpoch: Int) {
        let loader = BatchLoader(dataset: trainData, plan: plan, rank: rank, masking: masking)
        self.loader = loader
        loader.start(epoch: epoch, firstStep: firstStep, lastEpoch: lastEpoch)
    }

    public func nextMicroBatches() throws -> [PretrainingBatch] { try loader!.next() }
    public func stopLoading() { loader?.stop() }
    public var loadWaitSeconds: Double { loader?.waitSeconds ?? 0 }

    // MARK: Metrics

    public func trainValues(_ w: MetricsWindow) -> [Double] {
        [w.steps > 0 ? w.mlmLoss : .nan, w.steps > 0 ? w.nspLoss : .nan, w.mlmAccuracy, w.nspAccuracy]
    }

    public func evaluate(communicator: Communicator, batchSize: Int) throws -> TaskEvaluation? {
        guard let evalData else { return nil }
        let batch = PretrainingBatch(maxBatch: batchSize, maxSeqLength: evalData.maxSeqLength, maxPredictions: evalData.maxPredictions)
        batch.batchSize = batchSize
        // A silent meter: its per-batch updates tell the stall watchdog that a long evaluation progresses.
        let ticks = ProgressMeter(label: "held-out", unit: "seq", total: nil, enabled: false)
        let r = try Evaluator.evaluate(model: model, dataset: evalData, batch: batch, communicator: communicator, progress: ticks)
        let f = { (x: Double) in String(format: "%.4f", x) }
        return TaskEvaluation(loss: r.loss, values: [r.mlmLoss, r.nspLoss, r.mlmAccuracy, r.nspAccuracy],
                              summary: "loss \(f(r.loss)) (MLM \(f(r.mlmLoss)), NSP \(f(r.nspLoss))), MLM accuracy \(f(r.mlmAccuracy)), NSP accuracy \(f(r.nspAccuracy)) on \(r.sequences) sequences")
    }

    public var description: String {
        """
        model: \(config.numHiddenLayers) layers, hidden \(config.hiddenSize), \(config.numAttentionHeads) heads, vocab \(config.vocabSize), \(model.layout.count) parameters, dropout \(config.hiddenDropoutProb)/\(config.attentionProbsDropoutProb)
        data: \(trainData.count) training instances in \(trainData.paths.count) shards (T = \(trainData.maxSeqLength), P = \(trainData.maxPredictions)); held-out: \(evalData.map { "\($0.count) instances in \($0.paths.count) shards" } ?? "none")
        vocab: \(vocabPath ?? "none") \(vocabSHA256 ?? "")
        """
    }

    static func besideShards(_ data: String, _ name: String) -> String? {
        let path = (data as NSString).appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }
}
