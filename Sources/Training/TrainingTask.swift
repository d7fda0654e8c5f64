// TrainingTask: what the trainer runs, whatever is trained. The trainer (Trainer.swift) owns the
// loop — data plan, global-count normalisation, bucketed all-reduce, accumulation, clipping,
// optimizer, checkpoints with trainer state, resume, stop signals, non-finite handling, metrics.csv
// and loss.svg — and a task supplies the model, its batches, held-out evaluation, the metrics it
// logs and what its checkpoints hold. Pretraining is PretrainingTask; fine-tuning is FineTuning's
// ClassificationTask.

import BERT
import Distributed
import Foundation

/// A held-out evaluation: the loss, the task's metric columns (in `metricsColumns` order) and a
/// line for the log.
public struct TaskEvaluation {
    public var loss: Double
    public var values: [Double]
    public var summary: String
    public init(loss: Double, values: [Double], summary: String) {
        self.loss = loss; self.values = values; self.summary = summary
    }
}

public protocol TrainingTask: AnyObject {
    associatedtype Model: TrainableModel
    var model: Model { get }
    /// Training examples, numbered 0..<count (the data plan permutes these).
    var instanceCount: Int { get }
    /// The task's columns of metrics.csv and loss.svg.
    var metricsColumns: MetricsColumns { get }

    /// Starts producing this rank's micro-batches for epochs `epoch`...`lastEpoch`, from step `firstStep`.
    func startLoading(plan: DataPlan, rank: Int, epoch: Int, firstStep: Int, lastEpoch: Int)
    /// This rank's micro-batches of the next global batch.
    func nextMicroBatches() throws -> [Model.Batch]
    func stopLoading()
    /// Seconds the steps waited for batches on this rank.
    var loadWaitSeconds: Double { get }

    /// The task's columns of a training row, from the summed losses of the logged steps.
    func trainValues(_ window: MetricsWindow) -> [Double]
    /// Held-out evaluation on every rank (dropout off); nil when there is no held-out set.
    func evaluate(communicator: Communicator, batchSize: Int) throws -> TaskEvaluation?
    /// After the last epoch (e.g. predictions on a test file); rank 0 writes.
    func finish(communicator: Communicator, batchSize: Int, epoch: Int) throws

    /// config.json of a checkpoint (nil: the encoder's own) and the vocabulary copied beside it.
    func checkpointConfigJSON() throws -> Data?
    var vocabPath: String? { get }
    var vocabSHA256: String? { get }
    /// Lines describing the model and data, for the effective configuration logged at start.
    var description: String { get }
}

extension TrainingTask {
    public func finish(communicator: Communicator, batchSize: Int, epoch: Int) throws {}
    public func checkpointConfigJSON() throws -> Data? { nil }
}
