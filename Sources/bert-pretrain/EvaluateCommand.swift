// `bert-pretrain evaluate`: masked-LM and next-sentence loss and accuracy of any HF BERT checkpoint
// on shards, dropout off, every instance once. Under mpirun the ranks share the instances and the
// sums are reduced, so the result does not depend on the number of ranks.

import ArgumentParser
import BERT
import Distributed
import Foundation
import Logging
import ShardFormat
import Tokenization
import Training

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Evaluate a checkpoint: loss, MLM/NSP loss and accuracy over every instance of the shards.",
        discussion: """
        A directory given to --data stands for its *test* shards (all its .hdf5 files if it has none).
          bert-pretrain evaluate --checkpoint run/epoch-0003 --data shards/ --json
        """)

    @Option(help: "Hugging Face BERT checkpoint directory (config.json + model.safetensors).")
    var checkpoint: String

    @Option(parsing: .upToNextOption, help: "Shard files or directories.")
    var data: [String]

    @Option(help: "Sequences per forward pass (per rank).")
    var batchSize: Int = 32

    @Flag(inversion: .prefixedNo, help: "Check every shard's size and SHA-256 against the manifest.json beside it before opening it.")
    var verifyShards = true

    @Flag(help: "Compute each batch as the [batch, max length] rectangle, padding included, instead of real tokens only (the default; the same results up to float summation order): for comparison.")
    var padded = false

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @OptionGroup var threadFlag: ThreadFlag

    @OptionGroup var precisionFlag: PrecisionFlag

    func validate() throws {
        if data.isEmpty { throw ValidationError("give at least one shard file or directory to --data") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() throws {
        let world = Communicator.world()
        RankLogHandler.bootstrap(rank: world.rank, size: world.size)
        let logger = Logger(label: "bert-pretrain")
        do {
            threadFlag.configure(world, logger: logger)
            precisionFlag.configure(logger: world.isRoot ? logger : nil)
            let config = try Checkpoint.config(in: checkpoint)
            let paths = try ShardFiles.expand(data)
            if verifyShards {
                try ShardVerification.verify(paths, communicator: world) { if world.isRoot { logger.info("\($0)") } }
            }
            let dataset = try PretrainingDataset(paths: paths, maxPositions: config.maxPositionEmbeddings,
                                                 vocabSHA256: nil)
            // [CLS]/[SEP] by name when the checkpoint carries its vocab.txt (else taken from each shard's first instance).
            let vocabPath = (checkpoint as NSString).appendingPathComponent("vocab.txt")
            let special = FileManager.default.fileExists(atPath: vocabPath) ? SpecialTokenIds(try Vocabulary(path: vocabPath)) : nil
            try Evaluator.validate(dataset, vocabSize: config.vocabSize, special: special, communicator: world)
            let model = try BertForPreTraining(config: config, maxBatch: batchSize, maxSeqLength: dataset.maxSeqLength,
                                               maxPredictions: dataset.maxPredictions)
            model.encoder.packsSequences = !padded
            _ = try Checkpoint.load(from: checkpoint, into: model.parameters, layout: model.layout, seed: 0,
                                    logger: world.isRoot ? logger : nil)
            let batch = PretrainingBatch(maxBatch: batchSize, maxSeqLength: dataset.maxSeqLength,
                                         maxPredictions: dataset.maxPredictions)
            batch.batchSize = batchSize
            let progress = ProgressMeter(label: "evaluate", unit: "seq", total: Double(dataset.count), enabled: world.isRoot)
            let r = try Evaluator.evaluate(model: model, dataset: dataset, batch: batch, communicator: world, progress: progress)
            if world.isRoot {
                if json {
                    print(r.json)
                } else {
                    print(String(format: "loss          %.6f\nmlm_loss      %.6f\nnsp_loss      %.6f\nmlm_accuracy  %.6f\nnsp_accuracy  %.6f",
                                 r.loss, r.mlmLoss, r.nspLoss, r.mlmAccuracy, r.nspAccuracy))
                    print("sequences     \(r.sequences)\nmasked_tokens \(r.maskedTokens)")
                    print(String(format: "context-free baseline on these masked tokens: accuracy %.6f (the most frequent token), loss %.6f (their unigram entropy)",
                                 r.unigramAccuracy, r.unigramLoss))
                }
            }
        } catch {
            world.abort("\(error)")
        }
        world.finalize()
    }
}
