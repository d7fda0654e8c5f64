// TrainingOptions: the run's full configuration, as the command line gave it.
//
// The CLI (`bert-pretrain train`) fills it; the trainer logs it once, saves it as JSON in
// every checkpoint's trainer state, and `--resume` reads it back so that a resumed run
// continues with exactly the settings it started with.

import Foundation
import BERT

public enum ScheduleKind: String, Codable, Sendable, CaseIterable {
    /// Linear warm-up, then linear decay to zero (BERT's schedule).
    case linear
    /// Linear warm-up, then polynomial decay (power 0.5, NVIDIA's LAMB recipe).
    case poly
}

public enum OptimizerKind: String, Codable, Sendable, CaseIterable {
    case adamw, lamb
}

public struct TrainingOptions: Codable, Equatable, Sendable {
    /// Preset name or path to a config.json (ignored with `initFrom`: the checkpoint's config is used).
    public var config: String = "bert-base"
    /// Directory of `*training*` shards.
    public var data: String = ""
    /// Held-out shard files or directories (a directory: its `*test*` shards, or all its shards when it
    /// has none); nil = the `*test*` shards beside the training ones.
    public var evalData: [String]? = nil
    public var output: String = "run"
    /// vocab.txt; nil = the vocab.txt beside the shards (if any).
    public var vocab: String? = nil
    public var epochs: Int = 1
    /// Sequences per rank per micro-batch.
    public var batchSize: Int = 32
    public var accumulationSteps: Int = 1
    public var learningRate: Double = 1e-4
    public var warmupProportion: Double = 0.01
    /// Overrides `warmupProportion` when set.
    public var warmupSteps: Int? = nil
    public var schedule: ScheduleKind = .linear
    public var optimizer: OptimizerKind = .adamw
    public var weightDecay: Double = 0.01
    public var maxGradNorm: Double = 1.0
    public var hiddenDropout: Double? = nil
    public var attentionDropout: Double? = nil
    public var seed: UInt64 = 12345
    public var initFrom: String? = nil
    public var dynamicMasking: Bool = false
    /// 0 = only at the end of every epoch.
    public var checkpointEverySteps: Int = 0
    /// Checkpoints kept (oldest removed first); 0 = keep all.
    public var keepLast: Int = 0
    public var logEverySteps: Int = 10
    /// Consecutive non-finite steps tolerated before the run stops.
    public var maxNonFiniteSteps: Int = 5
    /// Fail at the first non-finite loss or gradient instead of skipping the update.
    public var failOnNonFinite: Bool = false
    /// Debug: after every step, check that every rank holds identical parameters.
    public var checkParameterSync: Bool = false
    /// Debug / tests: stop (with a checkpoint) after this many optimizer steps in total.
    public var stopAfterSteps: Int? = nil
    /// Check every shard against the manifest.json beside it before HDF5 opens it (ShardVerification);
    /// nil means on (optional so that options saved before the setting existed still load).
    public var verifyShards: Bool? = nil
    /// Compute every batch as the [B, T] rectangle, padding included, instead of real tokens only (for comparison);
    /// nil means false (optional so that options saved before the setting existed still load).
    public var padded: Bool? = nil
    /// The matrix products' precision (`--precision`); nil means fp32 (optional so that options saved before
    /// the setting existed still load). A resume keeps the saved one.
    public var precision: Precision? = nil
    /// Skip the held-out evaluation at the end of each epoch.
    public var skipEval: Bool = false
    /// Seconds without progress before the stall watchdog ends the job; nil = max(300, 20 × median step), 0 = off.
    public var stallTimeout: Double? = nil
    /// Fine-tuning runs (`bert-pretrain finetune`): the task files and their settings; nil for pretraining.
    public var fineTuning: FineTuningOptions? = nil

    public init() {}

    /// The defaults, declared once above: the command line's options take theirs from here (so `--help` shows them).
    public static let defaults = TrainingOptions()

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    public static func decode(json: Data) throws -> TrainingOptions {
        try JSONDecoder().decode(TrainingOptions.self, from: json)
    }
}

/// What a fine-tuning run reads besides the run options (saved in its trainer state like them).
public struct FineTuningOptions: Codable, Equatable, Sendable {
    public var trainFile: String = ""
    public var validationFile: String? = nil
    public var testFile: String? = nil
    public var maxSeqLength: Int = 128
    public var textColumn: String? = nil
    public var textPairColumn: String? = nil
    public var labelColumn: String = "label"
    /// auto, classification or regression.
    public var task: String = "auto"
    /// nil: the config's hidden dropout.
    public var classifierDropout: Double? = nil
    /// Lower-case the text when the checkpoint has no tokenizer_config.json saying.
    public var lowerCase: Bool = true

    public init() {}

    public static let defaults = FineTuningOptions()
}

extension TrainingOptions {
    /// `bert-pretrain finetune`'s defaults where they differ from pretraining's: run_glue.py's recipe
    /// (3 epochs, 2e-5, 10% warm-up, seed 42), into "finetune".
    public static let fineTuningDefaults: TrainingOptions = {
        var o = TrainingOptions()
        o.output = "finetune"; o.epochs = 3; o.learningRate = 2e-5; o.warmupProportion = 0.1; o.seed = 42
        o.fineTuning = FineTuningOptions()
        return o
    }()
}
