// `bert-pretrain train` (the default subcommand): data-parallel pretraining under mpirun.
// Every rank runs this same command; rank 0 alone writes checkpoints, metrics.csv and loss.svg.

import ArgumentParser
import Distributed
import Foundation
import Logging
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Pretrain BERT (masked LM + next sentence) on HDF5 shards, one process per MPI rank.",
        discussion: """
        Run under mpirun (or srun); every rank reads its part of every global batch (batch size × ranks × \
        accumulation steps) and gradients are summed over ranks each step. Checkpoints go to OUTPUT/epoch-NNNN \
        after every epoch (and OUTPUT/step-NNNNNNN every --checkpoint-every-steps, or on SIGTERM/SIGUSR1).
          mpirun -np 8 bert-pretrain --config bert-base --data shards/ --epochs 3 --batch-size 32 --lr 1e-4 --output run/
          mpirun -np 8 bert-pretrain --resume --output run/

        A resume may use another number of ranks: it keeps the global batch (the data order and the schedule \
        depend on it), with --batch-size/--accumulation-steps given or chosen so that batch × ranks × accumulation \
        stays the same.
        """)

    // MARK: Model and data
    @Option(help: "Model: a preset (bert-tiny, bert-mini, bert-small, bert-medium, bert-base, bert-large) or a config.json. With a preset, vocab_size is taken from the vocabulary.")
    var config: String = TrainingOptions.defaults.config

    @Option(help: "Directory of training shards (every *training*.hdf5 in it).")
    var data: String?

    @Option(parsing: .upToNextOption, help: "Held-out shard files or directories (a directory: its *test* shards, or all its shards if it has none). Default: the *test* shards beside the training ones.")
    var evalData: [String] = []

    @Flag(inversion: .prefixedNo, help: "Check every shard's size and SHA-256 against the manifest.json beside it before opening it.")
    var verifyShards = true

    @Option(help: "Output directory (checkpoints, metrics.csv, loss.svg).")
    var output: String = TrainingOptions.defaults.output

    @Option(help: "vocab.txt. Default: the vocab.txt beside the shards.")
    var vocab: String?

    @Option(help: "Start from the weights of this Hugging Face BERT checkpoint directory (continued pretraining); its config.json is the model's.")
    var initFrom: String?

    // MARK: Schedule
    @Option(help: "Passes over the training data.")
    var epochs: Int = TrainingOptions.defaults.epochs

    // Optional so that --resume can tell a given value from the default (given: checked against the saved
    // global batch; not given: chosen to keep it). The defaults are in the help.
    @Option(help: "Sequences per rank per micro-batch (default: \(TrainingOptions.defaults.batchSize)). With --resume: default the saved one if it keeps the global batch on this many ranks, else the largest smaller one that does.")
    var batchSize: Int?

    @Option(help: "Micro-batches accumulated per optimizer step (default: \(TrainingOptions.defaults.accumulationSteps)). With --resume: default what keeps the saved global batch.")
    var accumulationSteps: Int?

    @Option(help: "Peak learning rate.")
    var lr: Double = TrainingOptions.defaults.learningRate

    @Option(help: "Fraction of all steps spent in linear warm-up.")
    var warmupProportion: Double = TrainingOptions.defaults.warmupProportion

    @Option(help: "Warm-up steps (overrides --warmup-proportion).")
    var warmupSteps: Int?

    @Option(help: "Decay after warm-up: linear, or poly (power 0.5).")
    var schedule: ScheduleKind = TrainingOptions.defaults.schedule

    @Option(help: "adamw or lamb.")
    var optimizer: OptimizerKind = TrainingOptions.defaults.optimizer

    @Option(help: "Decoupled weight decay (not on biases and LayerNorm).")
    var weightDecay: Double = TrainingOptions.defaults.weightDecay

    @Option(help: "Clip the global gradient norm (after the all-reduce) to this value.")
    var maxGradNorm: Double = TrainingOptions.defaults.maxGradNorm

    @Option(help: "Override the config's hidden_dropout_prob.")
    var hiddenDropout: Double?

    @Option(help: "Override the config's attention_probs_dropout_prob.")
    var attentionDropout: Double?

    @Option(help: "Seed of initialisation, data order, dropout and dynamic masking.")
    var seed: UInt64 = TrainingOptions.defaults.seed

    @Flag(help: "Re-mask every sequence each time it is seen (15%, 80/10/10), seeded per (seed, epoch, instance).")
    var dynamicMasking = TrainingOptions.defaults.dynamicMasking

    // MARK: Checkpoints, logs, faults and debugging
    @OptionGroup var control: RunFlags

    @Option(help: "Stop the run after this many consecutive steps with a non-finite loss or gradient (each is skipped).")
    var maxNonFiniteSteps: Int = TrainingOptions.defaults.maxNonFiniteSteps

    @Flag(help: "Fail at the first non-finite loss or gradient instead of skipping the update.")
    var failOnNonFinite = TrainingOptions.defaults.failOnNonFinite

    @Flag(help: "Debug: after every step check that all ranks hold identical parameters.")
    var checkParameterSync = TrainingOptions.defaults.checkParameterSync

    @Flag(help: "Skip the held-out evaluation at the end of every epoch.")
    var skipEval = TrainingOptions.defaults.skipEval


    func validate() throws {
        if !control.resume && data == nil { throw ValidationError("--data is required (unless --resume)") }
        for (value, name) in [(epochs, "--epochs"), (batchSize ?? 1, "--batch-size"), (accumulationSteps ?? 1, "--accumulation-steps"),
                              (maxNonFiniteSteps, "--max-non-finite-steps")] where value < 1 {
            throw ValidationError("\(name) must be at least 1, got \(value)")
        }
        if !(lr > 0) { throw ValidationError("--lr must be positive, got \(lr)") }
        if !(warmupProportion >= 0 && warmupProportion <= 1) { throw ValidationError("--warmup-proportion must be in [0, 1], got \(warmupProportion)") }
        if let w = warmupSteps, w < 0 { throw ValidationError("--warmup-steps must be ≥ 0") }
        if !(maxGradNorm > 0) { throw ValidationError("--max-grad-norm must be positive, got \(maxGradNorm)") }
        for (p, name) in [(hiddenDropout, "--hidden-dropout"), (attentionDropout, "--attention-dropout")] {
            if let p, !(p >= 0 && p < 1) { throw ValidationError("\(name) must be in [0, 1), got \(p)") }
        }
        if initFrom != nil && control.resume { throw ValidationError("--init-from starts a new run; --resume continues one: give one of them") }
    }

    var options: TrainingOptions {
        var o = TrainingOptions()
        o.config = config; o.data = data ?? ""; o.evalData = evalData.isEmpty ? nil : evalData; o.verifyShards = verifyShards; o.output = output; o.vocab = vocab
        o.epochs = epochs; o.batchSize = batchSize ?? o.batchSize; o.accumulationSteps = accumulationSteps ?? o.accumulationSteps
        o.learningRate = lr; o.warmupProportion = warmupProportion; o.warmupSteps = warmupSteps
        o.schedule = schedule; o.optimizer = optimizer; o.weightDecay = weightDecay; o.maxGradNorm = maxGradNorm
        o.hiddenDropout = hiddenDropout; o.attentionDropout = attentionDropout; o.seed = seed
        o.initFrom = initFrom; o.dynamicMasking = dynamicMasking
        o.maxNonFiniteSteps = maxNonFiniteSteps; o.failOnNonFinite = failOnNonFinite
        o.checkParameterSync = checkParameterSync; o.skipEval = skipEval
        control.apply(to: &o)
        return o
    }

    func run() throws {
        control.run(output: output, label: "bert-pretrain") { world, logger, resumeDir in
            let trainer = try Trainer(options: options, resumeFrom: resumeDir, communicator: world, logger: logger,
                                      resumeBatchSize: batchSize, resumeAccumulationSteps: accumulationSteps)
            if case .finished = try trainer.run() { logger.info("training finished") }
        }
    }
}

extension ScheduleKind: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
