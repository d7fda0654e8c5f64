// Real batches for `bench --data`: consecutive batches of the shards in file order, batch k holding
// instances k·B ..< (k+1)·B of the set's global numbering (shards sorted by name, as train numbers them).
// They are read once, before timing, with the trainer's own reader and row filling (PretrainingDataset,
// PretrainingBatch.fill), so the rows, their padding and their MLM labels are what a training step sees,
// and a peer that reads the same files in the same order (jobs/bench/torch_shard_bench.py) times the
// same rows. Step s of the run (warm-up included) computes batch s mod K, K = min(steps, full batches).

import BERT
import Foundation
import ShardFormat
import Training

public final class ShardBatches {
    /// The shard files read, in order.
    public let paths: [String]
    /// Instances in all of them.
    public let instanceCount: Int
    /// T and P of the shards.
    public let seqLength: Int, predictions: Int
    /// The K distinct batches; batch k holds instances k·B ..< (k+1)·B.
    public let batches: [PretrainingBatch]

    /// Reads the batches of `steps` steps (warm-up + timed) of `batchSize` rows from `data`: a folder stands
    /// for its `*training*` shards (all its shards if it has none), a file for itself.
    /// `maxPositions`: the model's, which T must not exceed.
    public init(data: String, batchSize B: Int, steps: Int, maxPositions: Int) throws {
        precondition(B > 0 && steps > 0, "batch size and steps must be positive")
        paths = try ShardBatches.files(data)
        let dataset = try PretrainingDataset(paths: paths, maxPositions: maxPositions, vocabSHA256: nil)
        guard dataset.count >= B else {
            throw TrainingError.badOption("--data \(data): \(dataset.count) instances in \(paths.count) shard(s), fewer than one batch of \(B)")
        }
        instanceCount = dataset.count
        seqLength = dataset.maxSeqLength
        predictions = dataset.maxPredictions
        batches = try (0..<min(steps, dataset.count / B)).map { k in
            let batch = PretrainingBatch(maxBatch: B, maxSeqLength: dataset.maxSeqLength, maxPredictions: dataset.maxPredictions)
            batch.batchSize = B
            batch.seqLength = dataset.maxSeqLength
            batch.maxPredictions = dataset.maxPredictions
            for row in 0..<B {
                let index = k * B + row
                batch.fill(row: row, with: try dataset.instance(index))
                batch.instances[row] = index   // the row's dropout key, as the loader sets it
            }
            return batch
        }
    }

    /// The batch step `s` computes (0-based, warm-up included).
    public func batch(step s: Int) -> PretrainingBatch { batches[s % batches.count] }

    /// The shard files `data` stands for, in the order their instances are numbered.
    public static func files(_ data: String) throws -> [String] {
        try ShardFiles.expand([data], prefer: "training")
    }

    /// Positions of `batch`'s B × T holding padding (input mask 0).
    public static func paddedPositions(_ batch: PretrainingBatch) -> Int {
        var n = 0
        for i in 0..<(batch.batchSize * batch.seqLength) where batch.inputMask[i] == 0 { n += 1 }
        return n
    }

    /// Padded positions ÷ B·T over the batches of `steps` (each step counted once, as it is timed).
    public func paddingShare(steps: Range<Int>) -> Double {
        guard !steps.isEmpty else { return 0 }
        let padded = steps.reduce(0) { $0 + ShardBatches.paddedPositions(batch(step: $1)) }
        let first = batches[0]
        return Double(padded) / Double(steps.count * first.batchSize * first.seqLength)
    }
}
