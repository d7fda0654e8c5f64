// One batch of pretraining inputs in preallocated host buffers, and the loss sums of a forward.
// B = batch size (≤ capacity), T = sequence length (≤ capacity), P = predictions per sequence.
// Buffers are laid out with the *current* B, T, P: row b of inputIds starts at b·T.
// `instances` and `step` key the dropout masks of a training forward (Dropout.swift): a row's
// masks follow its instance wherever it is computed.

public final class PretrainingBatch {
    public let maxBatch: Int, maxSeqLength: Int, maxPredictionsCapacity: Int
    public var batchSize: Int        // B, set by whoever fills it
    public var seqLength: Int        // T
    public var maxPredictions: Int   // P
    public let inputIds: UnsafeMutableBufferPointer<Int32>         // [B, T]
    public let segmentIds: UnsafeMutableBufferPointer<Int32>       // [B, T]  0/1
    public let inputMask: UnsafeMutableBufferPointer<Int32>        // [B, T]  1 real token, 0 padding
    public let maskedPositions: UnsafeMutableBufferPointer<Int32>  // [B, P]  position in the sequence
    public let maskedLabels: UnsafeMutableBufferPointer<Int32>     // [B, P]  original id, or -1 = empty slot
    public let nextSentenceLabels: UnsafeMutableBufferPointer<Int32> // [B]  0 = B follows A, 1 = random
    /// Global instance number of each row (the data plan's index); the row number until someone fills it.
    public let instances: UnsafeMutableBufferPointer<Int>          // [B]
    /// The optimizer step (0-based: steps done before it) this batch is computed in.
    public var step = 0

    public init(maxBatch: Int, maxSeqLength: Int, maxPredictions: Int) {
        self.maxBatch = maxBatch
        self.maxSeqLength = maxSeqLength
        self.maxPredictionsCapacity = maxPredictions
        batchSize = maxBatch
        seqLength = maxSeqLength
        self.maxPredictions = maxPredictions
        func buffer(_ n: Int, _ value: Int32) -> UnsafeMutableBufferPointer<Int32> {
            let p = UnsafeMutableBufferPointer<Int32>.allocate(capacity: max(1, n))
            p.initialize(repeating: value)
            return UnsafeMutableBufferPointer(rebasing: p[0..<n])
        }
        inputIds = buffer(maxBatch * maxSeqLength, 0)
        segmentIds = buffer(maxBatch * maxSeqLength, 0)
        inputMask = buffer(maxBatch * maxSeqLength, 1)
        maskedPositions = buffer(maxBatch * maxPredictions, 0)
        maskedLabels = buffer(maxBatch * maxPredictions, -1)
        nextSentenceLabels = buffer(maxBatch, 0)
        let rows = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(1, maxBatch))
        _ = rows.initialize(from: 0..<rows.count)
        instances = UnsafeMutableBufferPointer(rebasing: rows[0..<maxBatch])
    }

    deinit {
        for b in [inputIds, segmentIds, inputMask, maskedPositions, maskedLabels, nextSentenceLabels] {
            b.baseAddress?.deallocate()
        }
        instances.baseAddress?.deallocate()
    }

    /// Number of prediction slots with a label (≥ 0) in the current B × P.
    public var maskedTokenCount: Int {
        var n = 0
        for i in 0..<(batchSize * maxPredictions) where maskedLabels[i] >= 0 { n += 1 }
        return n
    }
}

/// Sums and counts of one forward pass, so ranks can be combined exactly.
public struct PretrainingLoss: Equatable, Sendable {
    public var mlmLossSum: Double = 0, mlmCount: Int = 0, mlmCorrect: Int = 0
    public var nspLossSum: Double = 0, nspCount: Int = 0, nspCorrect: Int = 0

    public init() {}

    /// HF: mean cross-entropy over every masked token of the batch (0 when there is none).
    public var mlmLoss: Double { mlmCount > 0 ? mlmLossSum / Double(mlmCount) : 0 }
    /// Mean next-sentence cross-entropy over sequences.
    public var nspLoss: Double { nspCount > 0 ? nspLossSum / Double(nspCount) : 0 }
    /// HF BertForPreTraining total loss.
    public var loss: Double { mlmLoss + nspLoss }
    public var mlmAccuracy: Double { mlmCount > 0 ? Double(mlmCorrect) / Double(mlmCount) : 0 }
    public var nspAccuracy: Double { nspCount > 0 ? Double(nspCorrect) / Double(nspCount) : 0 }

    /// Adds another batch's (or rank's) sums.
    public static func + (a: PretrainingLoss, b: PretrainingLoss) -> PretrainingLoss {
        var r = a
        r.mlmLossSum += b.mlmLossSum; r.mlmCount += b.mlmCount; r.mlmCorrect += b.mlmCorrect
        r.nspLossSum += b.nspLossSum; r.nspCount += b.nspCount; r.nspCorrect += b.nspCorrect
        return r
    }
}
