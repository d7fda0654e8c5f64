// Trainer: the epoch loop of data-parallel pretraining on every MPI rank.
//
// One optimizer step (`step()`), top to bottom:
//   next batch → global counts → zero grads → forward + backward (per micro-batch; the last
//   one's backward starts the bucketed all-reduce) → finish all-reduce → clip → update → record.
// Everything else (checkpoints, evaluation, metrics rows, stop requests) happens between steps
// in `run()`.
//
// Normalisation: the loss of a step is Σ(masked-token CE)/M + Σ(sequence NSP CE)/S with M and S
// the masked tokens and sequences of the whole global batch (all ranks, all micro-batches), so N
// ranks × batch b compute the same update as 1 rank × batch N·b.

import BERT
import Corpus
import Distributed
import Foundation
import Logging
import Optim
import Storage
import Tokenization

public final class Trainer {
    public enum Outcome: Equatable { case finished, stopped(checkpoint: String) }

    let options: TrainingOptions
    let communicator: Communicator
    let logger: Logger
    let model: BertForPreTraining
    let optimizer: Optimizer
    let schedule: LearningRateSchedule
    let plan: DataPlan
    let trainData: PretrainingDataset
    let evalData: PretrainingDataset?
    let loader: BatchLoader
    let reducer: GradientReducer
    let vocabPath: String?
    let vocabSHA256: String?
    let metrics: MetricsLog?          // rank 0 only
    var state: TrainerState
    let progress: ProgressMeter
    var lastProgress: UInt64 = 0
    /// Seconds spent in steps (this process), to put the data-wait time in proportion.
    var stepSeconds = 0.0
    /// backward's callback, made once (a closure built per step would allocate).
    let gradientsReady: (Range<Int>) -> Void
    /// Per-step all-reduce scratch: [masked tokens, sequences] and the step's sums (see `reduceStepSums`).
    let counts = UnsafeMutableBufferPointer<Double>.allocate(capacity: 2)
    let sums = UnsafeMutableBufferPointer<Double>.allocate(capacity: 7)

    /// Prepares a run: a fresh one from `options`, or, with `resumeFrom`, the run saved in that checkpoint.
    public init(options: TrainingOptions, resumeFrom: String?, communicator: Communicator, logger: Logger) throws {
        self.communicator = communicator
        self.logger = logger
        var options = options
        var resumed: TrainerState? = nil
        if let dir = resumeFrom {
            let saved = try TrainerState.load(checkpoint: dir)
            guard saved.ranks == communicator.size else {
                throw TrainingError.badCheckpoint(path: dir, reason: "written by a run of \(saved.ranks) ranks; resume it with mpirun -np \(saved.ranks) (this job has \(communicator.size))")
            }
            // The saved configuration wins, except where the run's results cannot depend on it.
            let commandLine = options
            options = saved.options
            options.output = commandLine.output
            options.stopAfterSteps = commandLine.stopAfterSteps
            options.checkParameterSync = commandLine.checkParameterSync
            resumed = saved
        }
        self.options = options

        // Vocabulary and model configuration.
        let vocabPath = options.vocab ?? Trainer.besideShards(options.data, "vocab.txt")
        self.vocabPath = vocabPath
        var vocabSize: Int? = nil
        if let vocabPath {
            let vocab = try Vocabulary(path: vocabPath)
            vocabSize = vocab.count
            vocabSHA256 = try SHA256.hex(ofFile: vocabPath)
        } else {
            vocabSHA256 = nil
        }
        var config: BertConfig
        if let resumedDir = resumeFrom {
            config = try Checkpoint.config(in: resumedDir)
        } else if let initFrom = options.initFrom {
            config = try Checkpoint.config(in: initFrom)
        } else {
            config = try BertConfig.named(options.config)
            if BertConfig.preset(options.config) != nil {
                guard let vocabSize else {
                    throw TrainingError.badOption("--config \(options.config) is a preset: give --vocab (or put vocab.txt beside the shards) so the vocabulary size is known")
                }
                config.vocabSize = vocabSize
            }
        }
        if resumeFrom == nil {
            if let p = options.hiddenDropout { config.hiddenDropoutProb = p }
            if let p = options.attentionDropout { config.attentionProbsDropoutProb = p }
        }
        try config.validate()
        if let vocabSize, vocabSize != config.vocabSize {
            logger.warning("vocab \(vocabPath ?? "") has \(vocabSize) tokens but the model's vocab_size is \(config.vocabSize)")
        }

        // Data: every rank opens every shard (each rank reads part of every global batch).
        let trainPaths = try ShardFiles.list(in: options.data, containing: "training")
        guard !trainPaths.isEmpty else { throw TrainingError.noShards(directory: options.data, pattern: "training") }
        trainData = try PretrainingDataset(paths: trainPaths, maxPositions: config.maxPositionEmbeddings, vocabSHA256: vocabSHA256)
        let evalPaths = try ShardFiles.list(in: options.evalData ?? options.data, containing: options.evalData == nil ? "test" : "")
        evalData = options.skipEval || evalPaths.isEmpty ? nil
            : try PretrainingDataset(paths: evalPaths, maxPositions: config.maxPositionEmbeddings, vocabSHA256: vocabSHA256)
        // Each rank checks the content of its share of the shards before step 1.
        let myShards = Array(stride(from: communicator.rank, to: trainPaths.count, by: communicator.size))
        try trainData.validateContent(shardNumbers: myShards, vocabSize: config.vocabSize)
        if let evalData {
            try evalData.validateContent(shardNumbers: Array(stride(from: communicator.rank, to: evalData.paths.count, by: communicator.size)),
                                         vocabSize: config.vocabSize)
        }

        plan = DataPlan(instanceCount: trainData.count, batchSize: options.batchSize, ranks: communicator.size,
                        accumulationSteps: options.accumulationSteps, seed: options.seed)
        guard plan.stepsPerEpoch > 0 else {
            throw TrainingError.badOption("\(trainData.count) training instances do not fill one global batch of \(plan.globalBatchSize) (batch size \(options.batchSize) × \(communicator.size) ranks × \(options.accumulationSteps) accumulation steps)")
        }

        // Model: identical parameters on every rank (rank 0's, broadcast).
        let maxBatch = max(options.batchSize, 1)
        model = try BertForPreTraining(config: config, maxBatch: maxBatch,
                                       maxSeqLength: max(trainData.maxSeqLength, evalData?.maxSeqLength ?? 0),
                                       maxPredictions: max(trainData.maxPredictions, evalData?.maxPredictions ?? 0))
        if let dir = resumeFrom ?? options.initFrom {
            _ = try Checkpoint.load(from: dir, into: model.parameters, layout: model.layout, seed: options.seed,
                                    logger: communicator.isRoot ? logger : nil)
        } else {
            model.initializeWeights(seed: options.seed)
        }
        try communicator.broadcast(model.parameters)
        model.seedDropout(Trainer.dropoutSeed(options.seed, rank: communicator.rank))

        switch options.optimizer {
        case .adamw: optimizer = AdamW(layout: model.layout, weightDecay: Float(options.weightDecay))
        case .lamb: optimizer = LAMB(layout: model.layout, weightDecay: Float(options.weightDecay))
        }
        let totalSteps = plan.stepsPerEpoch * options.epochs
        let warmup = options.warmupSteps ?? Int((options.warmupProportion * Double(totalSteps)).rounded())
        guard warmup <= totalSteps else {
            throw TrainingError.badOption("--warmup-steps \(warmup) exceeds the run's \(totalSteps) steps (\(plan.stepsPerEpoch) per epoch × \(options.epochs) epochs)")
        }
        let scheduleState = ScheduleState(peakLearningRate: options.learningRate, warmupSteps: warmup,
                                          totalSteps: totalSteps, kind: options.schedule)
        // A resumed run keeps the schedule it started with.
        schedule = Trainer.makeSchedule(resumed?.schedule ?? scheduleState)

        let masking: DynamicMasking?
        if options.dynamicMasking {
            guard let vocabPath else { throw TrainingError.badOption("--dynamic-masking needs the vocabulary (--vocab) for the [MASK] id") }
            let vocab = try Vocabulary(path: vocabPath)
            // Whole-word masking when the shards were built with it (their attribute says so).
            let wholeWord = try PretrainingDataset.openShard(trainData.paths[0]).metadata.wholeWordMask ?? false
            masking = DynamicMasking(maxPredictions: trainData.maxPredictions,
                                     vocabulary: MaskingVocabulary(tokens: vocab.tokens, clsId: vocab.clsId,
                                                                   sepId: vocab.sepId, maskId: vocab.maskId),
                                     wholeWordMask: wholeWord, seed: options.seed)
        } else {
            masking = nil
        }
        loader = BatchLoader(dataset: trainData, plan: plan, rank: communicator.rank, masking: masking)
        let reducer = GradientReducer(communicator: communicator, gradients: model.gradients)
        self.reducer = reducer
        gradientsReady = { range in reducer.rangeReady(range) }

        state = TrainerState(step: 0, epoch: 1, stepInEpoch: 0, samples: 0, ranks: communicator.size, optimizerSteps: 0,
                             schedule: scheduleState, dropoutStates: [], nonFiniteStreak: 0, window: MetricsWindow(),
                             vocabSHA256: vocabSHA256, options: options)
        if communicator.isRoot {
            try Trainer.makeDirectories(options.output)
            try CheckpointDirectory.removeTemporaries(in: options.output, logger: logger)
        }
        let metricsPath = (options.output as NSString).appendingPathComponent("metrics.csv")
        if let resumed, let dir = resumeFrom {
            state = resumed
            if communicator.isRoot {
                let copy = (dir as NSString).appendingPathComponent(CheckpointDirectory.metricsFile)
                let text = (try? String(contentsOfFile: copy, encoding: .utf8)) ?? (MetricsRow.header + "\n")
                let log = try MetricsLog(path: metricsPath)
                try log.restore(text: text)
                metrics = log
            } else {
                metrics = nil
            }
        } else {
            metrics = communicator.isRoot ? try MetricsLog(path: metricsPath, fresh: true) : nil
        }
        progress = ProgressMeter(label: "train", unit: "steps", total: Double(totalSteps), enabled: communicator.isRoot)
        if let resumed, let dir = resumeFrom {
            try restoreOptimizer(from: dir)
            guard resumed.dropoutStates.count == communicator.size else {
                throw TrainingError.badCheckpoint(path: dir, reason: "holds \(resumed.dropoutStates.count) dropout states for \(communicator.size) ranks")
            }
            model.dropoutState = resumed.dropoutStates[communicator.rank]
        }
        if communicator.isRoot { logEffectiveConfiguration(config: config, totalSteps: totalSteps, warmup: warmup, resumedFrom: resumeFrom) }
    }

    // MARK: The loop

    /// Trains to the last epoch, or until a stop is requested (then writes a checkpoint and returns `.stopped`).
    public func run() throws -> Outcome {
        StopSignal.install()   // (again: harmless; the command installs it before setup)
        if state.epoch <= options.epochs {
            loader.start(epoch: state.epoch, firstStep: state.stepInEpoch, lastEpoch: options.epochs)
        }
        defer { loader.stop() }
        while state.epoch <= options.epochs {
            while state.stepInEpoch < plan.stepsPerEpoch {
                let stopRequested = try step()
                if stopRequested {
                    let dir = try saveCheckpoint(name: CheckpointDirectory.stepName(state.step))
                    logDataWait()
                    logger.info("stop requested: checkpoint \(dir) written after step \(state.step); resume with --resume")
                    return .stopped(checkpoint: dir)
                }
                if options.checkpointEverySteps > 0, state.step % options.checkpointEverySteps == 0,
                   state.stepInEpoch < plan.stepsPerEpoch {
                    try saveCheckpoint(name: CheckpointDirectory.stepName(state.step))
                }
            }
            try endEpoch()
        }
        return .finished
    }

    /// One optimizer step over the next global batch. Returns whether the ranks agreed to stop after it.
    func step() throws -> Bool {
        let started = DispatchTime.now().uptimeNanoseconds
        let micro = try loader.next()                                            // next batch (A micro-batches)
        let (maskedTokens, sequences) = try globalCounts(micro)                   // all ranks, all micro-batches
        model.zeroGradients()
        var sums = StepSums()
        for (a, batch) in micro.enumerated() {
            let loss = try model.forward(batch, training: true)
            sums.add(loss)
            let isLast = a == micro.count - 1
            model.backward(mlmScale: 1 / Float(maskedTokens), nspScale: 1 / Float(sequences),
                           gradientsReady: isLast ? gradientsReady : nil)
        }
        try reducer.finish()                                                      // gradients summed over ranks
        let gradNorm = clipGradientNorm(model.gradients, maxNorm: Float(options.maxGradNorm))
        let global = try reduceStepSums(sums)                                     // losses of all ranks + stop flag
        let finite = gradNorm.isFinite && global.mlmLossSum.isFinite && global.nspLossSum.isFinite
        let rate = schedule.rate(atStep: state.step + 1)   // 1-based update number
        if finite {
            optimizer.step(parameters: model.parameters, gradients: UnsafeBufferPointer(model.gradients), learningRate: rate)
            state.nonFiniteStreak = 0
        } else {
            try skipNonFinite(gradNorm: gradNorm, global: global)
        }
        if options.checkParameterSync { try checkParametersIdentical() }
        state.step += 1
        state.stepInEpoch += 1
        state.samples += plan.globalBatchSize
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9
        try record(global, gradNorm: finite ? Double(gradNorm) : nil, learningRate: Double(rate), seconds: seconds)
        let stopByLimit = options.stopAfterSteps.map { state.step >= $0 } ?? false
        return global.stopVotes > 0 || stopByLimit
    }

    /// Masked tokens and sequences of the whole global batch (all ranks, all micro-batches).
    /// Counts travel as Doubles (exact below 2⁵³).
    func globalCounts(_ micro: [PretrainingBatch]) throws -> (Int, Int) {
        counts[0] = Double(micro.reduce(0) { $0 + $1.maskedTokenCount })
        counts[1] = Double(micro.reduce(0) { $0 + $1.batchSize })
        try communicator.allReduce(counts)
        return (max(Int(counts[0]), 1), max(Int(counts[1]), 1))
    }

    /// Sums a step's losses over ranks, together with every rank's stop vote (one small all-reduce).
    func reduceStepSums(_ local: StepSums) throws -> StepSums {
        sums[0] = local.mlmLossSum; sums[1] = local.mlmCount; sums[2] = local.mlmCorrect
        sums[3] = local.nspLossSum; sums[4] = local.nspCount; sums[5] = local.nspCorrect
        sums[6] = StopSignal.received != 0 ? 1 : 0
        try communicator.allReduce(sums)
        return StepSums(mlmLossSum: sums[0], mlmCount: sums[1], mlmCorrect: sums[2], nspLossSum: sums[3], nspCount: sums[4],
                        nspCorrect: sums[5], stopVotes: Int(sums[6]))
    }

    func skipNonFinite(gradNorm: Float, global: StepSums) throws {
        state.nonFiniteStreak += 1
        let detail = "loss \(global.mlmLossSum / max(global.mlmCount, 1) + global.nspLossSum / max(global.nspCount, 1)), gradient norm \(gradNorm)"
        if options.failOnNonFinite || state.nonFiniteStreak >= options.maxNonFiniteSteps {
            throw TrainingError.nonFinite(step: state.step + 1, streak: state.nonFiniteStreak, detail: detail)
        }
        // Every rank reached the same decision from the same reduced numbers; rank 0 says it once.
        guard communicator.isRoot else { return }
        logger.warning("step \(state.step + 1): non-finite loss or gradient (\(detail)); update skipped (\(state.nonFiniteStreak) in a row, the run stops at \(options.maxNonFiniteSteps))")
    }

    /// Debug check: every rank's parameters are bit-identical (checksums' max − min over ranks is 0).
    func checkParametersIdentical() throws {
        var sum = 0.0, weighted = 0.0
        for (i, p) in model.parameters.enumerated() { sum += Double(p); weighted += Double(p) * Double(i % 1009 + 1) }
        var high = [sum, weighted], low = [sum, weighted]
        try communicator.allReduce(&high, op: .max)
        try communicator.allReduce(&low, op: .min)
        if high != low {
            throw TrainingError.badOption("step \(state.step + 1): parameters differ between ranks (checksum max − min = \(high[0] - low[0]), \(high[1] - low[1]))")
        }
        logger.debug("step \(state.step + 1): parameter checksum \(sum) identical on all ranks")
    }

    // MARK: Metrics

    func record(_ global: StepSums, gradNorm: Double?, learningRate: Double, seconds: Double) throws {
        if let gradNorm {
            state.window.steps += 1
            state.window.mlmLossSum += global.mlmLossSum; state.window.mlmCount += global.mlmCount
            state.window.mlmCorrect += global.mlmCorrect; state.window.nspLossSum += global.nspLossSum
            state.window.nspCount += global.nspCount; state.window.nspCorrect += global.nspCorrect
            state.window.gradNormSum += gradNorm
        }
        state.window.sequences += plan.globalBatchSize
        state.window.seconds += seconds
        stepSeconds += seconds
        state.window.allReduceSeconds += reducer.lastWaitSeconds
        let w = state.window
        let now = DispatchTime.now().uptimeNanoseconds
        if now - lastProgress > 5_000_000_000 || state.step == state.schedule.totalSteps {
            lastProgress = now
            let loss = global.mlmLossSum / max(global.mlmCount, 1) + global.nspLossSum / max(global.nspCount, 1)
            progress.update(Double(state.step), extra: String(format: "epoch %d  loss %.4f  %.1f seq/s", state.epoch, loss,
                                                              Double(plan.globalBatchSize) / max(seconds, 1e-9)), force: true)
        }
        guard state.step % max(options.logEverySteps, 1) == 0 else { return }
        let row = MetricsRow(split: "train", step: state.step, epoch: state.epoch, samples: state.samples,
                             learningRate: learningRate, loss: w.steps > 0 ? w.loss : .nan, mlmLoss: w.steps > 0 ? w.mlmLoss : .nan,
                             nspLoss: w.steps > 0 ? w.nspLoss : .nan, mlmAccuracy: w.mlmAccuracy, nspAccuracy: w.nspAccuracy,
                             gradNorm: w.steps > 0 ? w.gradNormSum / Double(w.steps) : .nan,
                             sequencesPerSecond: Double(w.sequences) / max(w.seconds, 1e-9),
                             allReduceMilliseconds: 1000 * w.allReduceSeconds / Double(max(w.steps, 1)))
        try metrics?.append(row)
        state.window = MetricsWindow()
    }

    func endEpoch() throws {
        let epoch = state.epoch
        if let evalData {
            let batch = PretrainingBatch(maxBatch: options.batchSize, maxSeqLength: evalData.maxSeqLength,
                                         maxPredictions: evalData.maxPredictions)
            batch.batchSize = options.batchSize
            let r = try Evaluator.evaluate(model: model, dataset: evalData, batch: batch, communicator: communicator)
            logger.info("epoch \(epoch) held-out: loss \(String(format: "%.4f", r.loss)) (MLM \(String(format: "%.4f", r.mlmLoss)), NSP \(String(format: "%.4f", r.nspLoss))), MLM accuracy \(String(format: "%.4f", r.mlmAccuracy)), NSP accuracy \(String(format: "%.4f", r.nspAccuracy)) on \(r.sequences) sequences")
            try metrics?.append(MetricsRow(split: "eval", step: state.step, epoch: epoch, samples: state.samples,
                                           learningRate: Double(schedule.rate(atStep: state.step)), loss: r.loss, mlmLoss: r.mlmLoss,
                                           nspLoss: r.nspLoss, mlmAccuracy: r.mlmAccuracy, nspAccuracy: r.nspAccuracy,
                                           gradNorm: .nan, sequencesPerSecond: 0, allReduceMilliseconds: 0))
        }
        logDataWait()
        if let metrics {
            let svg = LossPlot.svg(rows: metrics.rows, title: "bert-pretrain: \(options.output)")
            try AtomicFile.write(Data(svg.utf8), to: (options.output as NSString).appendingPathComponent("loss.svg"))
        }
        state.epoch += 1
        state.stepInEpoch = 0
        try saveCheckpoint(name: CheckpointDirectory.epochName(epoch))
    }

    /// How long this rank's steps waited for the loader (it should stay near zero).
    func logDataWait() {
        logger.info("step \(state.step): waited \(String(format: "%.2f s for data in %.1f s of steps (%.2f%%)", loader.waitSeconds, stepSeconds, 100 * loader.waitSeconds / max(stepSeconds, 1e-9))) (rank 0)")
    }

    // MARK: Checkpoints

    /// Writes OUTPUT/`name` (HF checkpoint + trainer state) atomically on rank 0; every rank takes part
    /// (the dropout states are gathered). Returns the directory.
    @discardableResult
    func saveCheckpoint(name: String) throws -> String {
        let dir = (options.output as NSString).appendingPathComponent(name)
        let dropout = try communicator.allGather(bytes: Trainer.bytes(model.dropoutState))
        guard communicator.isRoot else { return dir }
        var saved = state
        saved.dropoutStates = dropout.map(Trainer.words)
        saved.optimizerSteps = optimizer.stepCount
        let stateJSON = try saved.jsonData()
        let metricsText = metrics?.text ?? MetricsRow.header + "\n"
        let optimizer = self.optimizer, layout = model.layout
        try Checkpoint.save(parameters: UnsafeBufferPointer(model.parameters), layout: layout, to: dir,
                            vocabPath: vocabPath, extraFiles: [
                                CheckpointDirectory.stateFile: { path in try AtomicFile.write(stateJSON, to: path) },
                                CheckpointDirectory.metricsFile: { path in try AtomicFile.write(Data(metricsText.utf8), to: path) },
                                CheckpointDirectory.optimizerFile: { path in try optimizer.saveState(to: path, layout: layout) },
                            ])
        let removed = try CheckpointDirectory.prune(in: options.output, keepLast: options.keepLast)
        let note = removed.isEmpty ? "" : "; removed \(removed.joined(separator: ", "))"
        logger.info("checkpoint \(dir) (step \(state.step))\(note)")
        return dir
    }

    func restoreOptimizer(from dir: String) throws {
        try optimizer.loadState(from: (dir as NSString).appendingPathComponent(CheckpointDirectory.optimizerFile), layout: model.layout)
        guard optimizer.stepCount == state.optimizerSteps else {
            throw TrainingError.badCheckpoint(path: dir, reason: "optimizer state at update \(optimizer.stepCount), trainer state at \(state.optimizerSteps)")
        }
    }

    // MARK: Helpers

    static func dropoutSeed(_ seed: UInt64, rank: Int) -> UInt64 {
        var rng = TrainingRandom(keys: [seed, 0x6472_6f70, UInt64(rank)])  // "drop"
        return rng.next()
    }

    static func makeSchedule(_ s: ScheduleState) -> LearningRateSchedule {
        LearningRateSchedule(peak: Float(s.peakLearningRate), warmupSteps: s.warmupSteps, totalSteps: s.totalSteps,
                             kind: s.kind == .linear ? .linear : .polynomial(power: 0.5))
    }

    /// mkdir -p, with the system's reason when it fails ("Permission denied", "No space left on device").
    static func makeDirectories(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component + "/"
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: prefix, isDirectory: &isDir), isDir.boolValue { continue }
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw TrainingError.io(path: path, reason: "cannot create the output directory \(prefix): \(String(cString: strerror(errno)))")
            }
        }
    }

    static func besideShards(_ data: String, _ name: String) -> String? {
        let path = (data as NSString).appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    static func bytes(_ words: [UInt64]) -> [UInt8] {
        words.flatMap { w in (0..<8).map { UInt8(truncatingIfNeeded: w >> (8 * UInt64($0))) } }
    }

    static func words(_ bytes: [UInt8]) -> [UInt64] {
        stride(from: 0, to: bytes.count - bytes.count % 8, by: 8).map { i in
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[i + $1]) << (8 * UInt64($1)) }
        }
    }

    func logEffectiveConfiguration(config: BertConfig, totalSteps: Int, warmup: Int, resumedFrom: String?) {
        let json = (try? options.jsonData()).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        logger.info("""
        effective configuration\(resumedFrom.map { " (resumed from \($0) at step \(state.step))" } ?? ""):
        \(json)
        model: \(config.numHiddenLayers) layers, hidden \(config.hiddenSize), \(config.numAttentionHeads) heads, vocab \(config.vocabSize), \(model.layout.count) parameters, dropout \(config.hiddenDropoutProb)/\(config.attentionProbsDropoutProb)
        data: \(trainData.count) training instances in \(trainData.paths.count) shards (T = \(trainData.maxSeqLength), P = \(trainData.maxPredictions)); held-out: \(evalData.map { "\($0.count) instances in \($0.paths.count) shards" } ?? "none")
        ranks \(communicator.size) × batch \(options.batchSize) × accumulation \(options.accumulationSteps) = global batch \(plan.globalBatchSize); \(plan.stepsPerEpoch) steps per epoch (\(plan.remainder) instances left out per epoch), \(totalSteps) steps, warm-up \(warmup)
        vocab: \(vocabPath ?? "none") \(vocabSHA256 ?? "")
        """)
    }
}

/// Loss sums of one step (one rank's, or all ranks' after the reduction), as Doubles for one all-reduce.
struct StepSums {
    var mlmLossSum = 0.0, mlmCount = 0.0, mlmCorrect = 0.0
    var nspLossSum = 0.0, nspCount = 0.0, nspCorrect = 0.0
    var stopVotes = 0

    mutating func add(_ l: PretrainingLoss) {
        mlmLossSum += l.mlmLossSum; mlmCount += Double(l.mlmCount); mlmCorrect += Double(l.mlmCorrect)
        nspLossSum += l.nspLossSum; nspCount += Double(l.nspCount); nspCorrect += Double(l.nspCorrect)
    }
}
