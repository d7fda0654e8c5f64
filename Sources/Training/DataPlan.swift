// DataPlan: which instances every rank reads at every step of an epoch.
//
// Each epoch is a permutation of all instances of all training shards, seeded by
// (seed, epoch) only. It is cut, in order, into global batches of
//     G = batch size per rank (b) × ranks (R) × accumulation steps (A)
// instances. Inside global batch k, micro-step a of rank r reads the b instances at
//     order[k·G + (a·R + r)·b ..< k·G + (a·R + r + 1)·b].
// The sequence of global batches therefore depends only on (seed, epoch, G): 2 ranks × b
// see exactly the global batches 1 rank × 2b sees.
//
// Remainder: the last N mod G instances of each epoch's permutation are not used that
// epoch (every step has a full global batch, so every step's gradient is normalised the
// same way). The permutation changes every epoch, so no instance is always left out.

public struct DataPlan: Sendable {
    /// Instances in the whole training set (all shards).
    public let instanceCount: Int
    public let batchSize: Int
    public let ranks: Int
    public let accumulationSteps: Int
    public let seed: UInt64

    public init(instanceCount: Int, batchSize: Int, ranks: Int, accumulationSteps: Int, seed: UInt64) {
        precondition(batchSize > 0 && ranks > 0 && accumulationSteps > 0)
        self.instanceCount = instanceCount
        self.batchSize = batchSize
        self.ranks = ranks
        self.accumulationSteps = accumulationSteps
        self.seed = seed
    }

    /// G: instances per optimizer step, over all ranks and micro-steps.
    public var globalBatchSize: Int { batchSize * ranks * accumulationSteps }

    /// Optimizer steps per epoch (the remainder is dropped).
    public var stepsPerEpoch: Int { instanceCount / globalBatchSize }

    /// Instances left out of every epoch.
    public var remainder: Int { instanceCount - stepsPerEpoch * globalBatchSize }

    /// The epoch's order of all instances (epochs count from 1). Fisher–Yates from the
    /// (seed, epoch) stream.
    public func order(epoch: Int) -> [Int] {
        var order = Array(0..<instanceCount)
        var rng = TrainingRandom(keys: [seed, 0x6570_6f63_68, UInt64(epoch)])  // "epoch"
        if instanceCount > 1 {
            for i in stride(from: instanceCount - 1, to: 0, by: -1) {
                order.swapAt(i, rng.nextInt(below: i + 1))
            }
        }
        return order
    }

    /// The global instance indices of micro-step `micro` of `rank` at step `step` (0-based within the epoch).
    public func instances(order: [Int], step: Int, micro: Int, rank: Int) -> ArraySlice<Int> {
        precondition(step < stepsPerEpoch && micro < accumulationSteps && rank < ranks)
        let start = step * globalBatchSize + (micro * ranks + rank) * batchSize
        return order[start..<(start + batchSize)]
    }
}

/// Maps a global instance index to (shard, row) over shards taken in a fixed order.
public struct ShardIndex: Sendable {
    /// First global index of every shard, plus the total at the end.
    public let starts: [Int]

    public init(counts: [Int]) {
        var starts = [0]
        for c in counts { starts.append(starts.last! + c) }
        self.starts = starts
    }

    public var total: Int { starts.last! }

    public func locate(_ index: Int) -> (shard: Int, row: Int) {
        precondition(index >= 0 && index < total, "instance \(index) outside 0..<\(total)")
        // Binary search for the last start ≤ index.
        var lo = 0, hi = starts.count - 2
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= index { lo = mid } else { hi = mid - 1 }
        }
        return (lo, index - starts[lo])
    }
}
