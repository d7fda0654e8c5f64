// PretrainingDataset: a set of shards seen as one numbered list of instances, read lazily
// (one row at a time from HDF5; nothing is held beyond the batch being filled), with the
// checks every rank runs before step 1.

import Corpus
import Distributed
import Foundation

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
            throw TrainingError.badShard(path: paths[shard], reason: "row \(row): \(error)")
        }
    }

    /// Reads every row of the shards numbered `shardNumbers` (in blocks of whole HDF5 chunks) and checks
    /// token ids, segment ids, lengths, masked positions and labels against the model (each rank checks
    /// its own share of the shards before step 1).
    public func validateContent(shardNumbers: [Int], vocabSize: Int) throws {
        for s in shardNumbers {
            let reader = try PretrainingDataset.openShard(paths[s])
            let T = reader.maxSeqLength, P = reader.maxPredictions
            let block = max(reader.chunkRows ?? 256, 1)
            var rows = ShardRows(count: 0, maxSeqLength: T, maxPredictions: P)
            for first in stride(from: 0, to: reader.count, by: block) {
                let range = first..<min(first + block, reader.count)
                do { try reader.readRows(range, into: &rows) } catch {
                    throw TrainingError.badShard(path: reader.path, reason: "rows \(range): \(error)")
                }
                for k in 0..<range.count {
                    if let reason = PretrainingDataset.problem(in: rows, row: k, vocabSize: vocabSize) {
                        throw TrainingError.badShard(path: reader.path, reason: "instance \(first + k): \(reason)")
                    }
                }
            }
        }
    }

    /// What is wrong with row `k` of `rows`, or nil.
    static func problem(in rows: ShardRows, row k: Int, vocabSize: Int) -> String? {
        let T = rows.maxSeqLength, P = rows.maxPredictions
        var length = 0
        for t in 0..<T {
            let id = rows.inputIds[k * T + t], mask = rows.inputMask[k * T + t], segment = rows.segmentIds[k * T + t]
            if id < 0 || Int(id) >= vocabSize { return "token id \(id) at position \(t) is outside the vocabulary (size \(vocabSize))" }
            if segment != 0 && segment != 1 { return "segment id \(segment) at position \(t) (expected 0 or 1)" }
            if mask != 0 && mask != 1 { return "input_mask \(mask) at position \(t) (expected 0 or 1)" }
            if mask == 1 {
                if t != length { return "input_mask has a gap before position \(t)" }
                length += 1
            }
        }
        if length < 2 { return "only \(length) real tokens" }
        for p in 0..<P {
            let position = rows.maskedPositions[k * P + p], id = rows.maskedIds[k * P + p]
            if position == 0 { continue }   // padding slot
            if position < 0 || Int(position) >= length { return "masked position \(position) outside 1..<\(length)" }
            if id < 0 || Int(id) >= vocabSize { return "masked_lm_id \(id) is outside the vocabulary (size \(vocabSize))" }
        }
        let label = rows.nextSentenceLabels[k]
        if label != 0 && label != 1 { return "next_sentence_label \(label) (expected 0 or 1)" }
        return nil
    }
}
