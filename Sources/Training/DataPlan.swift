// DataPlan: which instances every rank reads at every step of an epoch.
//
// Each epoch is a permutation of all instances of all training shards, seeded by
// (seed, epoch) only. It is cut, in order, into global batches of
//     G = batch size per rank (b) × ranks (R) × accumulation steps (A)
// instances. Inside global batch k, micro-step a of rank r reads the b instances at
//     order[k·G + (a·R + r)·b ..< k·G + (a·R + r + 1)·b].
// The sequence of global batches therefore depends only on (seed, epoch, G): 2 ranks × b
// see exactly the global batches 1 rank × 2b sees, and a run resumed on R′ ranks with
// b′·R′·A′ = G (BatchShape.forResume) reads exactly the instances it would have read on R.
//
// Remainder: the last N mod G instances of each epoch's permutation are not used that
// epoch (every step has a full global batch, so every step's gradient is normalised the
// same way). The permutation changes every epoch, so no instance is always left out.

import Randomness

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

/// Per-rank batch b and accumulation steps A: with R ranks, one optimizer step reads G = b·R·A instances.
public struct BatchShape: Equatable, Sendable, CustomStringConvertible {
    public var batchSize: Int
    public var accumulationSteps: Int

    public init(batchSize: Int, accumulationSteps: Int) {
        self.batchSize = batchSize
        self.accumulationSteps = accumulationSteps
    }

    public var description: String { "batch \(batchSize) × accumulation \(accumulationSteps)" }

    /// The shape on `ranks` ranks that keeps the global batch G = b·R·A of a run of `savedRanks` ranks
    /// being resumed. The data order and the learning-rate schedule depend on G, so G never changes: b′·R′·A′ = G.
    /// Given both of `batchSize` and `accumulationSteps`, they are checked; given one, the other follows.
    /// Given neither (the rule): the saved per-rank batch if it divides G/R′ (the accumulation steps
    /// make up the rest), else the largest b′ below it that divides G/R′ — the saved batch fitted in
    /// memory, so b′ never exceeds it. Throws, listing the shapes that work, when none is possible.
    public static func forResume(saved: BatchShape, savedRanks: Int, ranks: Int,
                                 batchSize: Int? = nil, accumulationSteps: Int? = nil) throws -> BatchShape {
        precondition(saved.batchSize > 0 && saved.accumulationSteps > 0 && savedRanks > 0 && ranks > 0)
        let G = saved.batchSize * savedRanks * saved.accumulationSteps
        let why = "the run's global batch is \(G) (\(savedRanks) ranks × \(saved)); its data order and learning-rate "
            + "schedule depend on it, so a resume keeps it: batch × ranks × accumulation = \(G)"
        guard G % ranks == 0 else {
            let counts = (1...G).filter { G % $0 == 0 }.map(String.init).joined(separator: ", ")
            throw TrainingError.badOption("cannot resume on \(ranks) ranks: \(why), and \(G) is not a multiple of \(ranks); use a rank count dividing \(G) (\(counts))")
        }
        let perRank = G / ranks
        let working = (1...perRank).filter { perRank % $0 == 0 }.map { BatchShape(batchSize: $0, accumulationSteps: perRank / $0) }
        func refuse(_ asked: String) -> TrainingError {
            let list = working.map { "--batch-size \($0.batchSize) --accumulation-steps \($0.accumulationSteps)" }
            let shown = list.count > 12 ? list.prefix(12).joined(separator: "; ") + "; …" : list.joined(separator: "; ")
            return TrainingError.badOption("cannot resume with \(asked) on \(ranks) ranks: \(why). On \(ranks) ranks these work: \(shown)")
        }
        switch (batchSize, accumulationSteps) {
        case let (b?, a?):
            guard b * ranks * a == G else { throw refuse("--batch-size \(b) --accumulation-steps \(a)") }
            return BatchShape(batchSize: b, accumulationSteps: a)
        case let (b?, nil):
            guard b > 0, perRank % b == 0 else { throw refuse("--batch-size \(b)") }
            return BatchShape(batchSize: b, accumulationSteps: perRank / b)
        case let (nil, a?):
            guard a > 0, perRank % a == 0 else { throw refuse("--accumulation-steps \(a)") }
            return BatchShape(batchSize: perRank / a, accumulationSteps: a)
        case (nil, nil):
            let b = stride(from: min(saved.batchSize, perRank), through: 1, by: -1).first { perRank % $0 == 0 }!
            return BatchShape(batchSize: b, accumulationSteps: perRank / b)
        }
    }
}
