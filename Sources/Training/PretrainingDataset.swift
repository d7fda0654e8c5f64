// PretrainingDataset: a set of shards seen as one numbered list of instances, read lazily
// (one row at a time from HDF5; nothing is held beyond the batch being filled), with the
// checks every rank runs before step 1.

import Corpus
import Foundation

public final class PretrainingDataset {
    public let readers: [ShardReader]
    public let index: ShardIndex
    /// T and P of the shards (all shards of a set must agree).
    public let maxSeqLength: Int
    public let maxPredictions: Int

    public var count: Int { index.total }
    public var paths: [String] { readers.map(\.path) }

    /// Opens every shard and checks the layout that every rank relies on: the same sequence length
    /// and predictions per sequence everywhere, sequence length ≤ the model's positions, and the
    /// vocab fingerprint (where the shard records one) equal to the run's.
    public init(paths: [String], maxPositions: Int, vocabSHA256: String?) throws {
        guard !paths.isEmpty else { throw TrainingError.badOption("no shard files given") }
        var readers: [ShardReader] = []
        for path in paths {
            let reader: ShardReader
            do { reader = try ShardReader(path: path) } catch {
                throw TrainingError.badShard(path: path, reason: "cannot open: \(error)")
            }
            readers.append(reader)
        }
        let first = readers[0]
        for r in readers {
            if r.maxSeqLength != first.maxSeqLength || r.maxPredictions != first.maxPredictions {
                throw TrainingError.badShard(path: r.path, reason: "max_seq_length × max_predictions_per_seq is \(r.maxSeqLength) × \(r.maxPredictions), but \(first.path) has \(first.maxSeqLength) × \(first.maxPredictions)")
            }
            if r.maxSeqLength > maxPositions {
                throw TrainingError.badShard(path: r.path, reason: "max_seq_length \(r.maxSeqLength) exceeds the model's max_position_embeddings \(maxPositions)")
            }
            if let want = vocabSHA256, let have = r.metadata.vocabSHA256, have != want {
                throw TrainingError.badShard(path: r.path, reason: "built with a different vocab.txt (SHA-256 \(have), the run's is \(want))")
            }
        }
        self.readers = readers
        self.index = ShardIndex(counts: readers.map(\.count))
        self.maxSeqLength = first.maxSeqLength
        self.maxPredictions = first.maxPredictions
    }

    /// Instance `i` of the whole set (global numbering over the shards in order).
    public func instance(_ i: Int) throws -> PretrainingInstance {
        let (shard, row) = index.locate(i)
        do { return try readers[shard].instance(row) } catch {
            throw TrainingError.badShard(path: readers[shard].path, reason: "row \(row): \(error)")
        }
    }

    /// Reads every row of the shards numbered `shardNumbers` (in blocks of whole HDF5 chunks) and checks
    /// token ids, segment ids, lengths, masked positions and labels against the model (each rank checks
    /// its own share of the shards before step 1).
    public func validateContent(shardNumbers: [Int], vocabSize: Int) throws {
        for s in shardNumbers {
            let reader = readers[s]
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
