// ClassificationTask: fine-tuning BertForSequenceClassification on task files (HF run_glue.py's
// inputs and outputs) through the same Trainer as pretraining.
//
// Data: the files are read and encoded once on every rank (they are small next to a pretraining
// corpus); the data plan permutes the training examples per epoch and cuts global batches exactly as
// for pretraining, and each micro-batch is trimmed to its longest row (padded keys change nothing).
// Evaluation: rank r takes examples r, r+R, …; predictions are gathered so that every rank computes
// the same metrics; rank 0 writes eval_results.json and predict_results.txt.

import BERT
import Distributed
import Foundation
import Logging
import Storage
import Tokenization
import Training

public final class ClassificationTask: TrainingTask {
    public let model: BertForSequenceClassification
    public let config: BertConfig
    public let head: ClassifierConfig
    public let labels: LabelSet
    let train: EncodedTaskData
    let validation: EncodedTaskData?
    let test: EncodedTaskData?
    public let vocabPath: String?
    public let vocabSHA256: String?
    let output: String
    let logger: Logger
    var lastEvaluation: (loss: Double, metrics: [MetricValue])? = nil

    // Loading: the current position in the data plan, and the micro-batches (allocated once).
    var plan: DataPlan?
    var rank = 0, epoch = 1, stepInEpoch = 0, lastEpoch = 0
    var order: [Int] = []
    let batches: [ClassificationBatch]

    /// Reads and encodes the task files and builds the model (weights are the trainer's business).
    /// The encoder's configuration comes from `resumeFrom` or `options.initFrom`, else `options.config`
    /// with `options.vocab` (training from scratch).
    public init(options: TrainingOptions, resumeFrom: String?, communicator: Communicator, logger: Logger) throws {
        guard let f = options.fineTuning else { throw TrainingError.badOption("not a fine-tuning run (no task files)") }
        self.logger = logger
        output = options.output
        let source = resumeFrom ?? options.initFrom
        // Vocabulary: the checkpoint's, else --vocab.
        let vocabPath = source.map { ($0 as NSString).appendingPathComponent(Checkpoint.vocabFile) }
            .flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil } ?? options.vocab
        guard let vocabPath else {
            throw TrainingError.badOption("no vocabulary: \(source.map { "\($0) has no vocab.txt; " } ?? "")give --vocab")
        }
        self.vocabPath = vocabPath
        vocabSHA256 = try SHA256.hex(ofFile: vocabPath)
        let vocabulary = try Vocabulary(path: vocabPath)
        let lowerCase: (lowerCase: Bool, source: String) =
            try source.map { try lowerCaseSetting(checkpointDirectory: $0, default: f.lowerCase) } ?? (f.lowerCase, "the flag")
        if communicator.isRoot { logger.info("tokenizer: \(vocabPath), lower-case \(lowerCase.lowerCase) (from \(lowerCase.source))") }

        // Task files → examples → model inputs.
        let taskOptions = TaskOptions(labelColumn: f.labelColumn, textColumn: f.textColumn, textPairColumn: f.textPairColumn,
                                      task: TaskChoice(rawValue: f.task) ?? .auto)
        let data = try TaskData.load(train: f.trainFile, validation: f.validationFile, test: f.testFile, options: taskOptions)
        labels = data.labels
        let encoder = try TaskEncoder(tokenizer: BertTokenizer(vocabulary: vocabulary, lowerCase: lowerCase.lowerCase),
                                      maxSeqLength: f.maxSeqLength)
        train = encoder.encode(data.train)
        validation = data.validation.map(encoder.encode)
        test = data.test.map(encoder.encode)
        if communicator.isRoot {
            let all: [EncodedTaskData] = [train] + [validation, test].compactMap { $0 }
            for d in all where d.truncatedCount > 0 {
                logger.warning("\(d.path): \(d.truncatedCount) of \(d.count) examples truncated to --max-seq-length \(f.maxSeqLength)")
            }
        }

        // Model: the checkpoint's encoder (or the named config) under a classifier for these labels.
        var config: BertConfig
        if let source {
            config = try Checkpoint.config(in: source)
        } else {
            config = try BertConfig.named(options.config)
            if BertConfig.preset(options.config) != nil { config.vocabSize = vocabulary.count }
        }
        if resumeFrom == nil {
            if let p = options.hiddenDropout { config.hiddenDropoutProb = p }
            if let p = options.attentionDropout { config.attentionProbsDropoutProb = p }
        }
        try config.validate()
        guard vocabulary.count == config.vocabSize else {
            throw TrainingError.badOption("\(vocabPath) has \(vocabulary.count) tokens but the model's vocab_size is \(config.vocabSize)")
        }
        guard f.maxSeqLength <= config.maxPositionEmbeddings else {
            throw TrainingError.badOption("--max-seq-length \(f.maxSeqLength) exceeds the model's max_position_embeddings \(config.maxPositionEmbeddings)")
        }
        self.config = config
        let problem: ProblemType = labels.kind == .regression ? .regression : .singleLabelClassification
        head = ClassifierConfig(problemType: problem, labels: labels.kind == .regression ? ["LABEL_0"] : labels.names,
                                classifierDropout: f.classifierDropout)
        if let source, let existing = try ClassifierConfig.load(checkpoint: source), existing.labels != head.labels,
           communicator.isRoot {
            logger.warning("\(source) was fine-tuned for labels \(existing.labels); this task's are \(head.labels)")
        }
        model = try BertForSequenceClassification(config: config, numLabels: labels.numLabels, problemType: problem,
                                                  classifierDropout: f.classifierDropout,
                                                  maxBatch: max(options.batchSize, 1), maxSeqLength: f.maxSeqLength)
        batches = (0..<options.accumulationSteps).map { _ in
            ClassificationBatch(maxBatch: max(options.batchSize, 1), maxSeqLength: f.maxSeqLength)
        }
    }

    public var instanceCount: Int { train.count }

    public var metricsColumns: MetricsColumns {
        let names = TaskMetrics.names(for: labels.kind)
        return MetricsColumns(names: names, lossCurves: [],
                              scoreCurves: labels.kind == .regression ? ["pearson", "spearmanr"] : names)
    }

    // MARK: Batches

    public func startLoading(plan: DataPlan, rank: Int, epoch: Int, firstStep: Int, lastEpoch: Int) {
        self.plan = plan
        self.rank = rank
        self.epoch = epoch
        self.stepInEpoch = firstStep
        self.lastEpoch = lastEpoch
        order = plan.order(epoch: epoch)
    }

    public func nextMicroBatches() throws -> [ClassificationBatch] {
        guard let plan, epoch <= lastEpoch else { throw TrainingError.badOption("no more batches (past the last epoch)") }
        let step = (epoch - 1) * plan.stepsPerEpoch + stepInEpoch
        for (a, batch) in batches.enumerated() {
            fill(batch, rows: plan.instances(order: order, step: stepInEpoch, micro: a, rank: rank), from: train)
            batch.step = step
        }
        stepInEpoch += 1
        if stepInEpoch == plan.stepsPerEpoch {
            stepInEpoch = 0
            epoch += 1
            if epoch <= lastEpoch { order = plan.order(epoch: epoch) }
        }
        return batches
    }

    public func stopLoading() {}
    public var loadWaitSeconds: Double { 0 }

    /// Copies examples `rows` into `batch`, trimmed to the longest of them.
    func fill<C: Collection>(_ batch: ClassificationBatch, rows: C, from data: EncodedTaskData) where C.Element == Int {
        var T = 1   // the longest row (a loop, not map/max: no allocation per step)
        for row in rows { T = max(T, Int(data.lengths[row])) }
        let S = data.maxSeqLength
        batch.batchSize = rows.count
        batch.seqLength = T
        for (b, row) in rows.enumerated() {
            for t in 0..<T {
                batch.inputIds[b * T + t] = data.inputIds[row * S + t]
                batch.segmentIds[b * T + t] = data.segmentIds[row * S + t]
                batch.inputMask[b * T + t] = data.inputMask[row * S + t]
            }
            switch data.labels {
            case .classIds(let ids): batch.labels[b] = ids[row]
            case .values(let values): batch.values[b] = values[row]
            case .none: batch.labels[b] = 0; batch.values[b] = 0
            }
            batch.instances[b] = row
        }
    }

    // MARK: Evaluation and predictions

    /// Logits of every example of `data` (all ranks share the work; every rank gets all of them, in
    /// example order) and the summed loss (0 without labels).
    func predict(_ data: EncodedTaskData, communicator: Communicator, batchSize: Int) throws -> (logits: [Float], lossSum: Double) {
        let C = labels.numLabels, R = communicator.size
        let mine = Array(stride(from: communicator.rank, to: data.count, by: R))
        var local = [Float](repeating: 0, count: mine.count * C)
        var lossSum = 0.0
        let batch = ClassificationBatch(maxBatch: max(batchSize, 1), maxSeqLength: data.maxSeqLength)
        let hasLabels: Bool = { if case .none = data.labels { return false } else { return true } }()
        for start in stride(from: 0, to: mine.count, by: max(batchSize, 1)) {
            let rows = mine[start..<min(start + batchSize, mine.count)]
            fill(batch, rows: rows, from: data)
            let loss = try model.forward(batch, training: false)
            if hasLabels { lossSum += loss.lossSum }
            for (k, v) in model.logits.enumerated() { local[start * C + k] = v }
        }
        lossSum = try communicator.allReduce(lossSum)
        // Gather every rank's logits; rank r's k-th example is example r + k·R.
        let bytes = local.withUnsafeBytes { Array($0) }
        let all = try communicator.allGather(bytes: bytes)
        var logits = [Float](repeating: 0, count: data.count * C)
        for (r, chunk) in all.enumerated() {
            chunk.withUnsafeBytes { raw in
                let values = raw.bindMemory(to: Float.self)
                for k in 0..<(values.count / C) {
                    for c in 0..<C { logits[(r + k * R) * C + c] = values[k * C + c] }
                }
            }
        }
        return (logits, lossSum)
    }

    /// Class ids (first arg-max, as torch.argmax) or regression values from logits.
    func predictions(_ logits: [Float]) -> TaskLabels {
        let C = labels.numLabels
        if labels.kind == .regression { return .values(logits) }
        let n = logits.count / C
        return .classIds((0..<n).map { i in
            var best = 0
            for c in 1..<C where logits[i * C + c] > logits[i * C + best] { best = c }
            return Int32(best)
        })
    }

    func metrics(predicted: TaskLabels, actual: TaskLabels) -> [MetricValue] {
        switch (predicted, actual) {
        case (.classIds(let p), .classIds(let a)): return TaskMetrics.classification(predicted: p, actual: a, numLabels: labels.numLabels)
        case (.values(let p), .values(let a)): return TaskMetrics.regression(predicted: p, actual: a)
        default: return []
        }
    }

    public func trainValues(_ w: MetricsWindow) -> [Double] {
        // Training rows: accuracy of the summed predictions (classification), the MSE (regression).
        let names = metricsColumns.names
        return names.map { name in
            switch name {
            case "accuracy": return w.mlmAccuracy
            case "mse": return w.steps > 0 ? w.mlmLoss : .nan
            default: return .nan
            }
        }
    }

    public func evaluate(communicator: Communicator, batchSize: Int) throws -> TaskEvaluation? {
        guard let validation else { return nil }
        let (logits, lossSum) = try predict(validation, communicator: communicator, batchSize: batchSize)
        let loss = lossSum / Double(max(validation.count, 1))
        let values = metrics(predicted: predictions(logits), actual: validation.labels)
        lastEvaluation = (loss, values)
        let summary = (["loss \(String(format: "%.4f", loss))"] + values.map { "\($0.name) \(String(format: "%.4f", $0.value))" })
            .joined(separator: ", ") + " on \(validation.count) examples"
        return TaskEvaluation(loss: loss, values: values.map(\.value), summary: summary)
    }

    /// eval_results.json (the last evaluation) and, with a test file, predict_results.txt, as run_glue.py.
    public func finish(communicator: Communicator, batchSize: Int, epoch: Int) throws {
        if communicator.isRoot, let (loss, values) = lastEvaluation {
            let text = TaskReports.evalResults(metrics: values, loss: loss, epoch: Double(epoch))
            try AtomicFile.write(Data(text.utf8), to: (output as NSString).appendingPathComponent("eval_results.json"))
        }
        guard let test else { return }
        let (logits, _) = try predict(test, communicator: communicator, batchSize: batchSize)
        guard communicator.isRoot else { return }
        let text: String
        switch predictions(logits) {
        case .classIds(let ids): text = TaskReports.predictResults(classIds: ids, labelNames: labels.names)
        case .values(let values): text = TaskReports.predictResults(values: values)
        case .none: return
        }
        let path = (output as NSString).appendingPathComponent("predict_results.txt")
        try AtomicFile.write(Data(text.utf8), to: path)
        logger.info("predictions for \(test.count) examples of \(test.path): \(path)")
    }

    // MARK: Checkpoints

    public func checkpointConfigJSON() throws -> Data? { try head.configJSON(encoder: config) }

    public var description: String {
        """
        model: \(config.numHiddenLayers) layers, hidden \(config.hiddenSize), \(config.numAttentionHeads) heads, vocab \(config.vocabSize), \(model.layout.count) parameters, dropout \(config.hiddenDropoutProb)/\(config.attentionProbsDropoutProb), classifier dropout \(model.classifierDropout)
        task: \(labels.kind == .regression ? "regression" : "classification over \(labels.names)"); \(train.count) training examples (\(train.path)), validation \(validation.map { "\($0.count) (\($0.path))" } ?? "none"), test \(test.map { "\($0.count) (\($0.path))" } ?? "none"); T = \(train.maxSeqLength)
        vocab: \(vocabPath ?? "none") \(vocabSHA256 ?? "")
        """
    }
}

extension Trainer where Task == ClassificationTask {
    /// Fine-tuning (`bert-pretrain finetune`): a sequence classifier on `options.fineTuning`'s task files.
    public convenience init(fineTuning options: TrainingOptions, resumeFrom: String?, communicator: Communicator, logger: Logger,
                            resumeBatchSize: Int? = nil, resumeAccumulationSteps: Int? = nil) throws {
        try self.init(options: options, resumeFrom: resumeFrom, communicator: communicator, logger: logger,
                      resumeBatchSize: resumeBatchSize, resumeAccumulationSteps: resumeAccumulationSteps) { resolved in
            try ClassificationTask(options: resolved, resumeFrom: resumeFrom, communicator: communicator, logger: logger)
        }
    }
}
