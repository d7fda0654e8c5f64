// Trainer: the epoch loop of data-parallel training on every MPI rank, for any TrainingTask
// (pretraining, fine-tuning): the task supplies model, batches, evaluation and metrics.
//
// One optimizer step (`step()`), top to bottom:
//   next batch → global counts → zero grads → forward + backward (per micro-batch; the last
//   one's backward starts the bucketed all-reduce) → finish all-reduce → clip → update → record.
// Everything else (checkpoints, evaluation, metrics rows, stop requests) happens between steps
// in `run()`.
//
// Normalisation: the loss of a step is Σ(first loss)/M + Σ(second loss)/S with M and S the counts
// of the whole global batch (all ranks, all micro-batches; pretraining: masked tokens for MLM and
// sequences for NSP; a classifier: sequences, no second loss), so N ranks × batch b compute the
// same update as 1 rank × batch N·b.

import BERT
import Distributed
import Foundation
import Logging
import Optim
import Storage
import Tokenization

public final class Trainer<Task: TrainingTask> {
    public enum Outcome: Equatable { case finished, stopped(checkpoint: String) }

    let options: TrainingOptions
    let communicator: Communicator
    let logger: Logger
    public let task: Task
    var model: Task.Model { task.model }
    let optimizer: Optimizer
    let schedule: LearningRateSchedule
    let plan: DataPlan
    let reducer: GradientReducer
    let metrics: MetricsLog?          // rank 0 only
    var state: TrainerState
    let progress: ProgressMeter
    var lastProgress: UInt64 = 0
    /// Seconds spent in steps (this process), to put the data-wait time in proportion.
    var stepSeconds = 0.0
    /// backward's callback, made once (a closure built per step would allocate).
    let gradientsReady: (Range<Int>) -> Void
    /// Per-step all-reduce scratch: the two loss counts and the step's sums (see `reduceStepSums`).
    let counts = UnsafeMutableBufferPointer<Double>.allocate(capacity: 2)
    let sums = UnsafeMutableBufferPointer<Double>.allocate(capacity: 7)

    /// Prepares a run: a fresh one from `options`, or, with `resumeFrom`, the run saved in that checkpoint.
    /// A resume may run on another number of ranks: it keeps the global batch, with the per-rank batch
    /// and accumulation steps given here (from the command line) or chosen by `BatchShape.forResume`.
    /// `makeTask` opens the data and builds the model from the run's (resolved) options.
    public init(options: TrainingOptions, resumeFrom: String?, communicator: Communicator, logger: Logger,
                resumeBatchSize: Int? = nil, resumeAccumulationSteps: Int? = nil,
                makeTask: (TrainingOptions) throws -> Task) throws {
        self.communicator = communicator
        self.logger = logger
        var options = options
        var resumed: TrainerState? = nil
        if let dir = resumeFrom {
            var saved = try TrainerState.load(checkpoint: dir)
            // The saved configuration wins, except where the run's results cannot depend on it.
            let commandLine = options
            options = saved.options
            options.output = commandLine.output
            options.stopAfterSteps = commandLine.stopAfterSteps
            options.checkParameterSync = commandLine.checkParameterSync
            // The global batch is kept; its split over ranks and micro-batches may change.
            let old = BatchShape(batchSize: saved.options.batchSize, accumulationSteps: saved.options.accumulationSteps)
            let new = try BatchShape.forResume(saved: old, savedRanks: saved.ranks, ranks: communicator.size,
                                               batchSize: resumeBatchSize, accumulationSteps: resumeAccumulationSteps)
            options.batchSize = new.batchSize
            options.accumulationSteps = new.accumulationSteps
            saved.options.batchSize = new.batchSize   // what the next checkpoint says, with its rank count
            saved.options.accumulationSteps = new.accumulationSteps
            if communicator.isRoot && (new != old || saved.ranks != communicator.size) {
                logger.info("resuming a run of \(saved.ranks) ranks × \(old) on \(communicator.size) ranks × \(new) (global batch \(old.batchSize * saved.ranks * old.accumulationSteps) kept)")
            }
            if saved.dropoutStates != nil, communicator.isRoot {
                logger.warning("\(dir) was written before dropout masks were keyed by (seed, step, instance, layer, site): its saved dropout generator states are ignored, so the continuation's dropout masks differ from the ones the old run would have drawn")
            }
            saved.dropoutStates = nil
            saved.format = TrainerState.formatVersion
            saved.ranks = communicator.size
            options.verifyShards = commandLine.verifyShards
            options.stallTimeout = commandLine.stallTimeout
            resumed = saved
        }
        self.options = options
        task = try makeTask(options)

        // Model: identical parameters on every rank (rank 0's, broadcast).
        let model = task.model
        if let dir = resumeFrom ?? options.initFrom {
            communicator.mark(.loadingCheckpoint, activity: "loading checkpoint \(dir)")
            _ = try Checkpoint.load(from: dir, into: model.parameters, layout: model.layout, seed: options.seed,
                                    logger: communicator.isRoot ? logger : nil)
        } else {
            model.initializeWeights(seed: options.seed)
        }
        communicator.mark(.broadcastingParameters, activity: "initial broadcast of the parameters")
        try communicator.broadcast(model.parameters)
        model.seedDropout(options.seed)   // the same on every rank: masks are keyed by instance (Dropout.swift)
        model.encoder.packsSequences = !(options.padded ?? false)
        MatrixProducts.use(options.precision ?? .fp32, logger: communicator.isRoot ? logger : nil)

        plan = DataPlan(instanceCount: task.instanceCount, batchSize: options.batchSize, ranks: communicator.size,
                        accumulationSteps: options.accumulationSteps, seed: options.seed)
        guard plan.stepsPerEpoch > 0 else {
            throw TrainingError.badOption("\(task.instanceCount) training instances do not fill one global batch of \(plan.globalBatchSize) (batch size \(options.batchSize) × \(communicator.size) ranks × \(options.accumulationSteps) accumulation steps)")
        }
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

        let reducer = GradientReducer(communicator: communicator, gradients: model.gradients)
        self.reducer = reducer
        gradientsReady = { range in reducer.rangeReady(range) }

        state = TrainerState(step: 0, epoch: 1, stepInEpoch: 0, samples: 0, ranks: communicator.size, optimizerSteps: 0,
                             schedule: scheduleState, nonFiniteStreak: 0, window: MetricsWindow(),
                             vocabSHA256: task.vocabSHA256, options: options)
        if communicator.isRoot {
            try Trainer.makeDirectories(options.output)
            try CheckpointDirectory.removeTemporaries(in: options.output, logger: logger)
        }
        let metricsPath = (options.output as NSString).appendingPathComponent("metrics.csv")
        let columns = task.metricsColumns
        if let resumed, let dir = resumeFrom {
            state = resumed
            if communicator.isRoot {
                let copy = (dir as NSString).appendingPathComponent(CheckpointDirectory.metricsFile)
                let text = (try? String(contentsOfFile: copy, encoding: .utf8)) ?? (columns.header + "\n")
                let log = try MetricsLog(path: metricsPath, columns: columns)
                try log.restore(text: text)
                metrics = log
            } else {
                metrics = nil
            }
        } else {
            metrics = communicator.isRoot ? try MetricsLog(path: metricsPath, columns: columns, fresh: true) : nil
        }
        progress = ProgressMeter(label: "train", unit: "steps", total: Double(totalSteps), enabled: communicator.isRoot)
        if let dir = resumeFrom {
            communicator.mark(.loadingCheckpoint, activity: "loading the optimizer state of \(dir)")
            try restoreOptimizer(from: dir)
        }
        if communicator.isRoot { logEffectiveConfiguration(totalSteps: totalSteps, warmup: warmup, resumedFrom: resumeFrom) }
    }

    // MARK: The loop

    /// Trains to the last epoch, or until a stop is requested (then writes a checkpoint and returns `.stopped`).
    public func run() throws -> Outcome {
        StopSignal.install()   // (again: harmless; the command installs it before setup)
        if state.epoch <= options.epochs {
            task.startLoading(plan: plan, rank: communicator.rank, epoch: state.epoch, firstStep: state.stepInEpoch,
                              lastEpoch: options.epochs)
        }
        defer { task.stopLoading() }
        RankActivity.set("")   // from here on the phase marks say what the rank does
        while state.epoch <= options.epochs {
            while state.stepInEpoch < plan.stepsPerEpoch {
                let stopRequested = try step()
                if stopRequested {
                    let dir = try saveCheckpoint(name: CheckpointDirectory.stepName(state.step))
                    logDataWait()
                    logger.info("stop requested: checkpoint \(dir) written after step \(state.step); resume with --resume")
                    mark(.finishing)
                    return .stopped(checkpoint: dir)
                }
                if options.checkpointEverySteps > 0, state.step % options.checkpointEverySteps == 0,
                   state.stepInEpoch < plan.stepsPerEpoch {
                    try saveCheckpoint(name: CheckpointDirectory.stepName(state.step))
                }
            }
            try endEpoch()
        }
        try task.finish(communicator: communicator, batchSize: options.batchSize, epoch: state.epoch - 1)
        mark(.finishing)
        return .finished
    }

    /// One optimizer step over the next global batch. Returns whether the ranks agreed to stop after it.
    func step() throws -> Bool {
        let started = DispatchTime.now().uptimeNanoseconds
        mark(.loadingBatch)
        let micro = try task.nextMicroBatches()                                  // next batch (A micro-batches)
        mark(.countingTokens)
        let (first, second) = try globalCounts(micro)                             // all ranks, all micro-batches
        model.zeroGradients()
        var sums = LossSums()
        for (a, batch) in micro.enumerated() {
            mark(.forwardBackward)                                                // per micro-batch: progress in a long step
            sums = sums + (try model.trainingForward(batch))
            model.backward(firstScale: 1 / Float(first), secondScale: 1 / Float(second),
                           gradientsReady: a == micro.count - 1 ? gradientsReady : nil)
        }
        mark(.gradientReduce)
        try reducer.finish()                                                      // gradients summed over ranks
        let gradNorm = clipGradientNorm(model.gradients, maxNorm: Float(options.maxGradNorm))
        mark(.lossReduce)
        let (global, stopVotes) = try reduceStepSums(sums)                        // losses of all ranks + stop flag
        mark(.update)
        let finite = gradNorm.isFinite && global.isFinite
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
        return stopVotes > 0 || stopByLimit
    }

    /// Tells the stall watchdog where this rank is (a few stores; see StallWatchdog).
    func mark(_ phase: TrainingPhase) { communicator.mark(phase, stepsDone: state.step) }

    /// The two loss counts of the whole global batch (all ranks, all micro-batches; pretraining: masked
    /// tokens and sequences). Counts travel as Doubles (exact below 2⁵³).
    func globalCounts(_ micro: [Task.Model.Batch]) throws -> (Int, Int) {
        counts[0] = 0; counts[1] = 0
        for batch in micro {
            let c = batch.lossCounts
            counts[0] += Double(c.first); counts[1] += Double(c.second)
        }
        try communicator.allReduce(counts)
        return (max(Int(counts[0]), 1), max(Int(counts[1]), 1))
    }

    /// Sums a step's losses over ranks, together with every rank's stop vote (one small all-reduce).
    func reduceStepSums(_ local: LossSums) throws -> (LossSums, stopVotes: Int) {
        sums[0] = local.first.lossSum; sums[1] = local.first.count; sums[2] = local.first.correct
        sums[3] = local.second.lossSum; sums[4] = local.second.count; sums[5] = local.second.correct
        sums[6] = StopSignal.received != 0 ? 1 : 0
        try communicator.allReduce(sums)
        return (LossSums(first: LossSum(lossSum: sums[0], count: sums[1], correct: sums[2]),
                         second: LossSum(lossSum: sums[3], count: sums[4], correct: sums[5])), Int(sums[6]))
    }

    func skipNonFinite(gradNorm: Float, global: LossSums) throws {
        state.nonFiniteStreak += 1
        let detail = "loss \(global.loss), gradient norm \(gradNorm)"
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

    func record(_ global: LossSums, gradNorm: Double?, learningRate: Double, seconds: Double) throws {
        if let gradNorm {
            state.window.steps += 1
            state.window.add(global)
            state.window.gradNormSum += gradNorm
        }
        state.window.sequences += plan.globalBatchSize
        state.window.seconds += seconds
        stepSeconds += seconds
        communicator.progress?.recordStep(seconds: seconds)   // the watchdog's default limit
        state.window.allReduceSeconds += reducer.lastWaitSeconds
        let w = state.window
        let now = DispatchTime.now().uptimeNanoseconds
        if now - lastProgress > 5_000_000_000 || state.step == state.schedule.totalSteps {
            lastProgress = now
            progress.update(Double(state.step), extra: String(format: "epoch %d  loss %.4f  %.1f seq/s", state.epoch, global.loss,
                                                              Double(plan.globalBatchSize) / max(seconds, 1e-9)), force: true)
        }
        guard state.step % max(options.logEverySteps, 1) == 0 else { return }
        let row = MetricsRow(split: "train", step: state.step, epoch: state.epoch, samples: state.samples,
                             learningRate: learningRate, loss: w.steps > 0 ? w.loss : .nan,
                             columns: task.metricsColumns.names, values: task.trainValues(w),
                             gradNorm: w.steps > 0 ? w.gradNormSum / Double(w.steps) : .nan,
                             sequencesPerSecond: Double(w.sequences) / max(w.seconds, 1e-9),
                             allReduceMilliseconds: 1000 * w.allReduceSeconds / Double(max(w.steps, 1)))
        try metrics?.append(row)
        state.window = MetricsWindow()
    }

    func endEpoch() throws {
        let epoch = state.epoch
        mark(.evaluating)
        if let r = try task.evaluate(communicator: communicator, batchSize: options.batchSize) {
            logger.info("epoch \(epoch) held-out: \(r.summary)")
            try metrics?.append(MetricsRow(split: "eval", step: state.step, epoch: epoch, samples: state.samples,
                                           learningRate: Double(schedule.rate(atStep: state.step)), loss: r.loss,
                                           columns: task.metricsColumns.names, values: r.values,
                                           gradNorm: .nan, sequencesPerSecond: 0, allReduceMilliseconds: 0))
        }
        logDataWait()
        if let metrics {
            let svg = LossPlot.svg(rows: metrics.rows, columns: task.metricsColumns, title: "bert-pretrain: \(options.output)")
            try AtomicFile.write(Data(svg.utf8), to: (options.output as NSString).appendingPathComponent("loss.svg"))
        }
        state.epoch += 1
        state.stepInEpoch = 0
        try saveCheckpoint(name: CheckpointDirectory.epochName(epoch))
    }

    /// How long this rank's steps waited for the loader (it should stay near zero).
    func logDataWait() {
        logger.info("step \(state.step): waited \(String(format: "%.2f s for data in %.1f s of steps (%.2f%%)", task.loadWaitSeconds, stepSeconds, 100 * task.loadWaitSeconds / max(stepSeconds, 1e-9))) (rank 0)")
    }

    // MARK: Checkpoints

    /// Writes OUTPUT/`name` (HF checkpoint + trainer state) atomically on rank 0 (the state holds nothing
    /// per rank). Returns the directory.
    @discardableResult
    func saveCheckpoint(name: String) throws -> String {
        mark(.checkpoint)
        let dir = (options.output as NSString).appendingPathComponent(name)
        guard communicator.isRoot else { return dir }
        var saved = state
        saved.optimizerSteps = optimizer.stepCount
        let stateJSON = try saved.jsonData()
        let metricsText = metrics?.text ?? task.metricsColumns.header + "\n"
        let optimizer = self.optimizer, layout = model.layout
        try Checkpoint.save(parameters: UnsafeBufferPointer(model.parameters), layout: layout, to: dir,
                            configJSON: try task.checkpointConfigJSON(), vocabPath: task.vocabPath, extraFiles: [
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

    func logEffectiveConfiguration(totalSteps: Int, warmup: Int, resumedFrom: String?) {
        let json = (try? options.jsonData()).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        logger.info("""
        effective configuration\(resumedFrom.map { " (resumed from \($0) at step \(state.step))" } ?? ""):
        \(json)
        \(task.description)
        ranks \(communicator.size) × batch \(options.batchSize) × accumulation \(options.accumulationSteps) = global batch \(plan.globalBatchSize); \(plan.stepsPerEpoch) steps per epoch (\(plan.remainder) instances left out per epoch), \(totalSteps) steps, warm-up \(warmup)
        """)
    }
}

extension Trainer where Task == PretrainingTask {
    /// Pretraining (`bert-pretrain train`): BertForPreTraining on the shards of `options.data`.
    public convenience init(options: TrainingOptions, resumeFrom: String?, communicator: Communicator, logger: Logger,
                            resumeBatchSize: Int? = nil, resumeAccumulationSteps: Int? = nil) throws {
        try self.init(options: options, resumeFrom: resumeFrom, communicator: communicator, logger: logger,
                      resumeBatchSize: resumeBatchSize, resumeAccumulationSteps: resumeAccumulationSteps) { resolved in
            try PretrainingTask(options: resolved, resumeFrom: resumeFrom, communicator: communicator, logger: logger)
        }
    }
}
