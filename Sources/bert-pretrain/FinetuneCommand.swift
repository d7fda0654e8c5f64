// `bert-pretrain finetune`: sequence classification or regression on labelled task files (HF
// run_glue.py's inputs and outputs), data-parallel under mpirun like pretraining.

import ArgumentParser
import FineTuning
import Foundation
import Training

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune a pretrained BERT for sequence classification or regression ([CLS] → pooler → dropout → linear).",
        discussion: """
        Task files as Hugging Face's run_glue.py takes them: CSV or TSV with a header row, or JSON lines (by \
        extension). Label column `label`; texts `sentence1` + `sentence2`, else `text` + `text_pair`, else the first \
        one or two other columns. Integer or string labels: classification over the sorted distinct training labels; \
        float labels: regression (MSE). Pairs are encoded [CLS] A [SEP] B [SEP], truncated longest-first.
        Every epoch rank 0 writes OUTPUT/epoch-NNNN (a Hugging Face BertForSequenceClassification directory), \
        a metrics.csv row for the validation set and loss.svg; at the end OUTPUT/eval_results.json and, with \
        --test-file, OUTPUT/predict_results.txt.
          mpirun -np 2 bert-pretrain finetune --init-from run/epoch-0003 --train-file train.csv --validation-file dev.csv --output ft/
          mpirun -np 2 bert-pretrain finetune --config bert-tiny --vocab vocab.txt ...   (from scratch: the baseline)
        """)

    // MARK: Model and data
    @Option(help: "Start from this checkpoint: ours, any Hugging Face BertForPreTraining/BertModel directory (a missing pooler is initialised), or a BertForSequenceClassification directory (its classifier is kept).")
    var initFrom: String?

    @Option(help: "Without --init-from: train from scratch with this preset or config.json (the baseline that shows what pretraining bought).")
    var config: String = TrainingOptions.fineTuningDefaults.config

    @Option(help: "vocab.txt. Default: the one in the --init-from directory.")
    var vocab: String?

    @Option(help: "Training task file (.csv, .tsv, .jsonl or .json).")
    var trainFile: String?

    @Option(help: "Validation task file, evaluated after every epoch.")
    var validationFile: String?

    @Option(help: "Test task file: predictions written to OUTPUT/predict_results.txt at the end.")
    var testFile: String?

    @Option(help: "Column of the first text (default: sentence1, text, or the first non-label column).")
    var textColumn: String?

    @Option(help: "Column of the second text of a pair (default: sentence2, text_pair, or the second non-label column).")
    var textPairColumn: String?

    @Option(help: "Column of the labels.")
    var labelColumn: String = FineTuningOptions.defaults.labelColumn

    @Option(help: "auto (from the training labels), classification or regression.")
    var task: TaskChoice = TaskChoice(rawValue: FineTuningOptions.defaults.task) ?? .auto

    @Option(help: "Tokens per example, special tokens included; longer inputs are truncated.")
    var maxSeqLength: Int = FineTuningOptions.defaults.maxSeqLength

    @Flag(inversion: .prefixedNo, help: "Lower-case the text when the checkpoint has no tokenizer_config.json saying whether to.")
    var lowerCase = FineTuningOptions.defaults.lowerCase

    @Option(help: "Output directory (checkpoints, metrics.csv, loss.svg, eval_results.json, predict_results.txt).")
    var output: String = TrainingOptions.fineTuningDefaults.output

    // MARK: Schedule
    @Option(help: "Passes over the training data.")
    var epochs: Int = TrainingOptions.fineTuningDefaults.epochs

    @Option(help: "Examples per rank per micro-batch (default: \(TrainingOptions.fineTuningDefaults.batchSize)). With --resume: chosen to keep the saved global batch.")
    var batchSize: Int?

    @Option(help: "Micro-batches accumulated per optimizer step (default: \(TrainingOptions.fineTuningDefaults.accumulationSteps)).")
    var accumulationSteps: Int?

    @Option(help: "Peak learning rate (AdamW).")
    var lr: Double = TrainingOptions.fineTuningDefaults.learningRate

    @Option(help: "Fraction of all steps spent in linear warm-up, then linear decay to 0.")
    var warmupProportion: Double = TrainingOptions.fineTuningDefaults.warmupProportion

    @Option(help: "Decoupled weight decay (not on biases and LayerNorm).")
    var weightDecay: Double = TrainingOptions.fineTuningDefaults.weightDecay

    @Option(help: "Clip the global gradient norm to this value.")
    var maxGradNorm: Double = TrainingOptions.fineTuningDefaults.maxGradNorm

    @Option(help: "Dropout before the classifier (default: the config's hidden_dropout_prob).")
    var classifierDropout: Double?

    @Option(help: "Seed of the classifier's initialisation, data order and dropout.")
    var seed: UInt64 = TrainingOptions.fineTuningDefaults.seed

    // MARK: Checkpoints, logs, faults
    @OptionGroup var control: RunFlags

    func validate() throws {
        if !control.resume && trainFile == nil { throw ValidationError("--train-file is required (unless --resume)") }
        if initFrom != nil && control.resume { throw ValidationError("--init-from starts a new run; --resume continues one: give one of them") }
        for (value, name) in [(epochs, "--epochs"), (batchSize ?? 1, "--batch-size"), (accumulationSteps ?? 1, "--accumulation-steps"),
                              (maxSeqLength - 2, "--max-seq-length − 2")] where value < 1 {
            throw ValidationError("\(name) must be at least 1, got \(value)")
        }
        if !(lr > 0) { throw ValidationError("--lr must be positive, got \(lr)") }
        if !(warmupProportion >= 0 && warmupProportion <= 1) { throw ValidationError("--warmup-proportion must be in [0, 1], got \(warmupProportion)") }
        if !(maxGradNorm > 0) { throw ValidationError("--max-grad-norm must be positive, got \(maxGradNorm)") }
        if let p = classifierDropout, !(p >= 0 && p < 1) { throw ValidationError("--classifier-dropout must be in [0, 1), got \(p)") }
    }

    var options: TrainingOptions {
        var o = TrainingOptions.fineTuningDefaults
        o.config = config; o.vocab = vocab; o.initFrom = initFrom; o.output = output
        o.epochs = epochs; o.batchSize = batchSize ?? o.batchSize; o.accumulationSteps = accumulationSteps ?? o.accumulationSteps
        o.learningRate = lr; o.warmupProportion = warmupProportion; o.weightDecay = weightDecay; o.maxGradNorm = maxGradNorm
        o.seed = seed
        control.apply(to: &o)
        var f = FineTuningOptions.defaults
        f.trainFile = trainFile ?? ""; f.validationFile = validationFile; f.testFile = testFile; f.maxSeqLength = maxSeqLength
        f.textColumn = textColumn; f.textPairColumn = textPairColumn; f.labelColumn = labelColumn; f.task = task.rawValue
        f.classifierDropout = classifierDropout; f.lowerCase = lowerCase
        o.fineTuning = f
        return o
    }

    func run() throws {
        control.run(output: output, label: "bert-pretrain finetune") { world, logger, resumeDir in
            let trainer = try Trainer(fineTuning: options, resumeFrom: resumeDir, communicator: world, logger: logger,
                                      resumeBatchSize: batchSize, resumeAccumulationSteps: accumulationSteps)
            if case .finished = try trainer.run() { logger.info("fine-tuning finished") }
        }
    }
}

extension TaskChoice: ExpressibleByArgument {}
