// Shards: HDF5 files of pretraining instances in NVIDIA DeepLearningExamples' layout (design §2).
//
// Dimension legend: N = instances in the shard, T = max_seq_length, P = max_predictions_per_seq.
//
//   dataset               dtype  shape   meaning
//   input_ids             int32  [N, T]  [CLS] A [SEP] B [SEP], 0-padded
//   input_mask            int8   [N, T]  1 over the real length, 0 on padding
//   segment_ids           int8   [N, T]  0 for [CLS] A [SEP], 1 for B [SEP], 0 on padding
//   masked_lm_positions   int32  [N, P]  ascending, 0-padded (0 is [CLS], never masked)
//   masked_lm_ids         int32  [N, P]  original ids at those positions, 0-padded
//   next_sentence_labels  int8   [N]     0 = B follows A, 1 = B is random
//
// This file: a block of padded rows and the error type; one instance is `PretrainingInstance`
// (PretrainingData). Reading: ShardReader.swift; root attributes: ShardAttributes.swift; writing:
// CorpusBuild/ShardWriter.swift.

import PretrainingData

/// The dataset names of the layout, in the order we write them.
public enum ShardDataset: String, CaseIterable {
    case inputIds = "input_ids"
    case inputMask = "input_mask"
    case segmentIds = "segment_ids"
    case maskedPositions = "masked_lm_positions"
    case maskedIds = "masked_lm_ids"
    case nextSentenceLabels = "next_sentence_labels"

    /// Second dimension: T for the sequence datasets, P for the prediction datasets, none for labels.
    enum Width { case sequence, predictions, none }
    var width: Width {
        switch self {
        case .inputIds, .inputMask, .segmentIds: return .sequence
        case .maskedPositions, .maskedIds: return .predictions
        case .nextSentenceLabels: return .none
        }
    }
}

/// A block of `count` instances as padded row-major arrays, all widened to Int32
/// (what `PretrainingBatch` holds). Filled by `ShardReader.readRows`.
public struct ShardRows: Equatable {
    public private(set) var count: Int        // rows held
    public let maxSeqLength: Int              // T
    public let maxPredictions: Int            // P
    public var inputIds: [Int32]              // [count, T]
    public var inputMask: [Int32]             // [count, T]
    public var segmentIds: [Int32]            // [count, T]
    public var maskedPositions: [Int32]       // [count, P]
    public var maskedIds: [Int32]             // [count, P]
    public var nextSentenceLabels: [Int32]    // [count]

    /// Zero-filled rows.
    public init(count: Int, maxSeqLength: Int, maxPredictions: Int) {
        self.count = count
        self.maxSeqLength = maxSeqLength
        self.maxPredictions = maxPredictions
        inputIds = Array(repeating: 0, count: count * maxSeqLength)
        inputMask = inputIds
        segmentIds = inputIds
        maskedPositions = Array(repeating: 0, count: count * maxPredictions)
        maskedIds = maskedPositions
        nextSentenceLabels = Array(repeating: 0, count: count)
    }

    /// Changes the number of rows, keeping capacity (so a reused block does not reallocate when it shrinks).
    public mutating func resize(to rows: Int) {
        guard rows != count else { return }
        func fit(_ a: inout [Int32], _ n: Int) {
            if a.count > n { a.removeLast(a.count - n) } else { a.append(contentsOf: repeatElement(0, count: n - a.count)) }
        }
        fit(&inputIds, rows * maxSeqLength)
        fit(&inputMask, rows * maxSeqLength)
        fit(&segmentIds, rows * maxSeqLength)
        fit(&maskedPositions, rows * maxPredictions)
        fit(&maskedIds, rows * maxPredictions)
        fit(&nextSentenceLabels, rows)
        count = rows
    }

    /// Real length of row `r`: one past the last position with input_mask = 1.
    public func length(ofRow r: Int) -> Int {
        let row = inputMask[(r * maxSeqLength)..<((r + 1) * maxSeqLength)]
        return (row.lastIndex(where: { $0 != 0 }).map { $0 - r * maxSeqLength + 1 }) ?? 0
    }

    /// Number of predictions of row `r`: masked positions before the first 0 (0 = padding).
    public func predictionCount(ofRow r: Int) -> Int {
        let row = maskedPositions[(r * maxPredictions)..<((r + 1) * maxPredictions)]
        return (row.firstIndex(of: 0).map { $0 - r * maxPredictions }) ?? maxPredictions
    }

    /// Row `r` unpadded.
    public func instance(_ r: Int) -> PretrainingInstance {
        let length = length(ofRow: r)
        let predictions = predictionCount(ofRow: r)
        let s = r * maxSeqLength, p = r * maxPredictions
        return PretrainingInstance(inputIds: Array(inputIds[s..<(s + length)]),
                                   segmentIds: Array(segmentIds[s..<(s + length)]),
                                   maskedPositions: Array(maskedPositions[p..<(p + predictions)]),
                                   maskedIds: Array(maskedIds[p..<(p + predictions)]),
                                   nextSentenceLabel: nextSentenceLabels[r])
    }
}

/// A shard that cannot be written or read: the file, the dataset or instance, and what is wrong.
public struct ShardError: Error, CustomStringConvertible {
    public let path: String
    public let location: String?      // "dataset input_ids", "instance 17", ...
    public let reason: String
    public init(path: String, location: String? = nil, reason: String) {
        self.path = path
        self.location = location
        self.reason = reason
    }
    public var description: String {
        if let location { return "\(path): \(location): \(reason)" }
        return "\(path): \(reason)"
    }
}
