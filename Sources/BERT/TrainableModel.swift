// What the trainer needs of a model, whatever its head: flat parameters and gradients in one
// layout, a forward that returns loss sums, a backward that takes the scales turning those sums
// into global means and reports each gradient range as it becomes final. Pretraining and
// fine-tuning run through one training step (Training/Trainer.swift) over this protocol.

/// A loss summed over its own count (MLM: masked tokens; NSP and classification: sequences).
public struct LossSum: Equatable, Sendable {
    public var lossSum = 0.0, count = 0.0, correct = 0.0
    public init(lossSum: Double = 0, count: Double = 0, correct: Double = 0) {
        self.lossSum = lossSum; self.count = count; self.correct = correct
    }
    public var mean: Double { lossSum / max(count, 1) }
    public var accuracy: Double { correct / max(count, 1) }
    public static func + (a: LossSum, b: LossSum) -> LossSum {
        LossSum(lossSum: a.lossSum + b.lossSum, count: a.count + b.count, correct: a.correct + b.correct)
    }
}

/// The sums of one forward: up to two losses (pretraining: MLM then NSP; a classifier: one).
/// The model's loss is the sum of their means, as HF's.
public struct LossSums: Equatable, Sendable {
    public var first = LossSum(), second = LossSum()
    public init(first: LossSum = LossSum(), second: LossSum = LossSum()) { self.first = first; self.second = second }
    public var loss: Double { first.mean + second.mean }
    public var isFinite: Bool { first.lossSum.isFinite && second.lossSum.isFinite }
    public static func + (a: LossSums, b: LossSums) -> LossSums { LossSums(first: a.first + b.first, second: a.second + b.second) }
}

/// A batch of training inputs, whose losses are means over counts known before the forward.
public protocol TrainingBatch: AnyObject {
    /// The counts the two losses are means over (the second 0 when the model has one loss).
    var lossCounts: (first: Int, second: Int) { get }
    /// Sequences in the batch.
    var batchSize: Int { get }
}

public protocol TrainableModel: AnyObject {
    associatedtype Batch: TrainingBatch
    var layout: ParameterLayout { get }
    var parameters: UnsafeMutableBufferPointer<Float> { get }
    var gradients: UnsafeMutableBufferPointer<Float> { get }
    /// The encoder under the head (`packsSequences` chooses the unpadded or the rectangular path).
    var encoder: BertEncoder { get }
    /// HF `_init_weights` over the whole layout, deterministic in `seed`.
    func initializeWeights(seed: UInt64)
    /// The run's dropout seed (the same on every rank: masks are keyed by example, not streamed).
    func seedDropout(_ seed: UInt64)
    func zeroGradients()
    /// Forward with dropout on; the sums of its losses.
    func trainingForward(_ batch: Batch) throws -> LossSums
    /// Accumulates the gradient of firstScale·(first loss sum) + secondScale·(second loss sum).
    func backward(firstScale: Float, secondScale: Float, gradientsReady: ((Range<Int>) -> Void)?)
}

extension PretrainingBatch: TrainingBatch {
    public var lossCounts: (first: Int, second: Int) { (maskedTokenCount, batchSize) }
}

extension BertForPreTraining: TrainableModel {
    public func trainingForward(_ batch: PretrainingBatch) throws -> LossSums {
        let l = try forward(batch, training: true)
        return LossSums(first: LossSum(lossSum: l.mlmLossSum, count: Double(l.mlmCount), correct: Double(l.mlmCorrect)),
                        second: LossSum(lossSum: l.nspLossSum, count: Double(l.nspCount), correct: Double(l.nspCorrect)))
    }

    public func backward(firstScale: Float, secondScale: Float, gradientsReady: ((Range<Int>) -> Void)?) {
        backward(mlmScale: firstScale, nspScale: secondScale, gradientsReady: gradientsReady)
    }
}

extension ClassificationBatch: TrainingBatch {
    public var lossCounts: (first: Int, second: Int) { (batchSize, 0) }
}

extension BertForSequenceClassification: TrainableModel {
    public func trainingForward(_ batch: ClassificationBatch) throws -> LossSums {
        let l = try forward(batch, training: true)
        return LossSums(first: LossSum(lossSum: l.lossSum, count: Double(l.count), correct: Double(l.correct)))
    }

    public func backward(firstScale: Float, secondScale: Float, gradientsReady: ((Range<Int>) -> Void)?) {
        backward(scale: firstScale, gradientsReady: gradientsReady)
    }
}
