// PretrainingDataset: a set of shards seen as one numbered list of instances, read lazily
// (one row at a time from HDF5; nothing is held beyond the batch being filled), with the
// checks every rank runs before step 1.

import Distributed
import Foundation
import PretrainingData
import ShardFormat

public final class PretrainingDataset {
    public let paths: [String]
    public let index: ShardIndex
    /// T and P of the shards (all shards of a set must agree).
    public let maxSeqLength: Int
    public let maxPredictions: Int
    /// Shards kept open at once (each open HDF5 file holds a descriptor and its chunk caches, so a corpus of
    /// thousands of shards is not opened all at once); the least recently used is closed first.
    public let maxOpenShards: Int

    private var open: [Int: ShardReader] = [:]
    private var recency: [Int] = []          // shard numbers, most recently used last
    private let lock = NSLock()              // the loader thread and the main thread may both read

    public var count: Int { index.total }

    /// Opens every shard once and checks the layout that every rank relies on: the same sequence length
    /// and predictions per sequence everywhere, sequence length ≤ the model's positions, and the
    /// vocab fingerprint (where the shard records one) equal to the run's.
    public init(paths: [String], maxPositions: Int, vocabSHA256: String?, maxOpenShards: Int = 16) throws {
        guard !paths.isEmpty else { throw TrainingError.badOption("no shard files given") }
        var counts: [Int] = []
        var first: (path: String, T: Int, P: Int)? = nil
        for path in paths {
            let r = try PretrainingDataset.openShard(path)
            if let first, r.maxSeqLength != first.T || r.maxPredictions != first.P {
                throw TrainingError.badShard(path: r.path, reason: "max_seq_length × max_predictions_per_seq is \(r.maxSeqLength) × \(r.maxPredictions), but \(first.path) has \(first.T) × \(first.P)")
            }
            if first == nil { first = (path, r.maxSeqLength, r.maxPredictions) }
            if r.maxSeqLength > maxPositions {
                throw TrainingError.badShard(path: r.path, reason: "max_seq_length \(r.maxSeqLength) exceeds the model's max_position_embeddings \(maxPositions)")
            }
            if let want = vocabSHA256, let have = r.metadata.vocabSHA256, have != want {
                throw TrainingError.badShard(path: r.path, reason: "built with a different vocab.txt (SHA-256 \(have), the run's is \(want))")
            }
            counts.append(r.count)
        }
        self.paths = paths
        self.index = ShardIndex(counts: counts)
        self.maxSeqLength = first!.T
        self.maxPredictions = first!.P
        self.maxOpenShards = max(maxOpenShards, 1)
    }

    static func openShard(_ path: String) throws -> ShardReader {
        // Named by the stall watchdog and the fatal-signal report if opening hangs (a hung file system) or crashes.
        do { return try RankActivity.during("opening shard \(path)") { try ShardReader(path: path) } } catch {
            throw TrainingError.badShard(path: path, reason: "cannot open: \(error)")
        }
    }

    /// The open reader of shard `s`, opening it (and closing the least recently used one) if needed.
    func reader(_ s: Int) throws -> ShardReader {
        lock.lock(); defer { lock.unlock() }
        if let r = open[s] {
            if recency.last != s, let k = recency.firstIndex(of: s) { recency.remove(at: k); recency.append(s) }
            return r
        }
        let r = try PretrainingDataset.openShard(paths[s])
        if open.count >= maxOpenShards, let oldest = recency.first {
            recency.removeFirst()
            open[oldest] = nil
        }
        open[s] = r
        recency.append(s)
        return r
    }

    /// Shards open right now (for tests of the bound).
    var openShardCount: Int { lock.lock(); defer { lock.unlock() }; return open.count }

    /// Instance `i` of the whole set (global numbering over the shards in order).
    public func instance(_ i: Int) throws -> PretrainingInstance {
        let (shard, row) = index.locate(i)
        do { return try reader(shard).instance(row) } catch let e as TrainingError { throw e } catch {
            throw TrainingError.badShard(path: paths[shard], reason: "instance \(row): \(error)")
        }
    }

    /// Reads every row of the shards numbered `shardNumbers` (in blocks of whole HDF5 chunks) and checks
    /// them with the one validator of every reader (`ShardValidator`, the rules `bert-corpus inspect`
    /// reports), ids against `vocabSize` (the model's) and the shard's own recorded settings (masked_lm_prob,
    /// whole-word masking). Each rank checks its own share before step 1 (train) or before the first
    /// batch (evaluate). `special`: [CLS]/[SEP] ids from the vocabulary (nil: taken from each shard's first instance).
    /// Errors name the shard file, the instance and the rule.
    public func validateContent(shardNumbers: [Int], vocabSize: Int, special: SpecialTokenIds? = nil) throws {
        for s in shardNumbers {
            let reader = try PretrainingDataset.openShard(paths[s])
            try RankActivity.during("checking shard \(reader.path)") {
                let metadata = reader.metadata
                var validator = ShardValidator(special: special, vocabSize: vocabSize, maskedLMProb: metadata.maskedLMProb,
                                               wholeWordMask: metadata.wholeWordMask)
                let T = reader.maxSeqLength, P = reader.maxPredictions
                let block = max(reader.chunkRows ?? 256, 1)
                var rows = ShardRows(count: 0, maxSeqLength: T, maxPredictions: P)
                for first in stride(from: 0, to: reader.count, by: block) {
                    let range = first..<min(first + block, reader.count)
                    do { try reader.readRows(range, into: &rows) } catch {
                        throw TrainingError.badShard(path: reader.path, reason: "instances \(range.lowerBound)..<\(range.upperBound): \(error)")
                    }
                    for k in 0..<range.count {
                        if let violation = validator.check(rows, row: k, index: first + k, path: reader.path) {
                            throw TrainingError.badShard(path: reader.path, reason: "instance \(first + k): rule \(violation.rule.rawValue): \(violation.detail)")
                        }
                    }
                }
            }
        }
    }
}
