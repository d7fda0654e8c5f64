// Statistics of valid shard rows, summed over one or more shards (`bert-corpus inspect`).
//
//   instances, tokens          rows and real tokens ([CLS]/[SEP] included)
//   padding share              padded positions / all positions (instances × T): compute spent on [PAD]
//   unpadded speed-up          all positions / real tokens: what computing on real tokens only would
//                              gain (the work linear in tokens; attention, quadratic, gains more)
//   length histogram           instances per real length
//   at max length              share with length = T (the pair was truncated or filled the target exactly)
//   short                      share with length ≤ T/2 (Google draws a short target with short_seq_prob;
//                              documents that end early add to it)
//   mask rate                  predictions / eligible tokens (real length − 3: all but [CLS] and two [SEP])
//   [MASK] / random / unchanged  what sits at a masked position: [MASK]; the original id (unchanged);
//                              anything else (random). Expected 80 / 10 / 10 %. Needs the vocabulary.
//   NSP random share           share of next_sentence_labels = 1 (expected 50 %)
//   [UNK] rate                 [UNK] among original non-special tokens (masked ones restored). Needs the vocabulary.
// Shares come with 95 % Wilson score intervals.

import Foundation

public struct ShardStatistics: Equatable {
    public var instances = 0
    public var tokens = 0
    public var positions = 0                 // Σ T over instances (shards of different T can be merged)
    public var lengthCounts: [Int] = []      // [T + 1]: instances of each real length
    public var maxSeqLength = 0
    public var atMaxLength = 0
    public var short = 0
    public var predictions = 0
    public var eligibleTokens = 0
    public var maskTokens = 0
    public var randomTokens = 0
    public var unchangedTokens = 0
    public var randomNextSentence = 0
    public var unknownTokens = 0
    public var ordinaryTokens = 0            // originals that are not [CLS]/[SEP] (the [UNK] rate's denominator)
    /// False when no vocabulary was given: the mask categories and [UNK] rate are unknown.
    public var hasVocabulary = false

    public init() {}

    /// Adds valid row `r` (checked by `ShardValidator` first: the layout rules are assumed here).
    public mutating func add(_ rows: ShardRows, row r: Int, special: SpecialTokenIds?) {
        let T = rows.maxSeqLength, P = rows.maxPredictions
        if lengthCounts.count < T + 1 { lengthCounts += Array(repeating: 0, count: T + 1 - lengthCounts.count) }
        maxSeqLength = max(maxSeqLength, T)
        let length = rows.length(ofRow: r)
        let count = rows.predictionCount(ofRow: r)
        instances += 1
        tokens += length
        positions += T
        lengthCounts[length] += 1
        if length == T { atMaxLength += 1 }
        if 2 * length <= T { short += 1 }
        predictions += count
        eligibleTokens += length - 3
        if rows.nextSentenceLabels[r] == 1 { randomNextSentence += 1 }
        guard let special else { return }
        hasVocabulary = true
        let s = r * T, p = r * P
        var slot = 0
        for t in 0..<length {
            let shown = rows.inputIds[s + t]
            var original = shown
            if slot < count && Int(rows.maskedPositions[p + slot]) == t {
                original = rows.maskedIds[p + slot]
                slot += 1
                if shown == special.mask { maskTokens += 1 } else if shown == original { unchangedTokens += 1 } else { randomTokens += 1 }
            }
            if original == special.cls || original == special.sep { continue }
            ordinaryTokens += 1
            if original == special.unk { unknownTokens += 1 }
        }
    }

    public mutating func merge(_ other: ShardStatistics) {
        if lengthCounts.count < other.lengthCounts.count {
            lengthCounts += Array(repeating: 0, count: other.lengthCounts.count - lengthCounts.count)
        }
        for (i, c) in other.lengthCounts.enumerated() { lengthCounts[i] += c }
        maxSeqLength = max(maxSeqLength, other.maxSeqLength)
        instances += other.instances
        tokens += other.tokens
        positions += other.positions
        atMaxLength += other.atMaxLength
        short += other.short
        predictions += other.predictions
        eligibleTokens += other.eligibleTokens
        maskTokens += other.maskTokens
        randomTokens += other.randomTokens
        unchangedTokens += other.unchangedTokens
        randomNextSentence += other.randomNextSentence
        unknownTokens += other.unknownTokens
        ordinaryTokens += other.ordinaryTokens
        hasVocabulary = hasVocabulary || other.hasVocabulary
    }

    /// Length histogram in `buckets` equal ranges of 1...T: (first length, last length, instances).
    public func lengthHistogram(buckets: Int = 8) -> [(from: Int, to: Int, count: Int)] {
        guard maxSeqLength > 0 else { return [] }
        let width = (maxSeqLength + buckets - 1) / buckets
        return stride(from: 1, through: maxSeqLength, by: width).map { from in
            let to = min(maxSeqLength, from + width - 1)
            return (from, to, lengthCounts[from...to].reduce(0, +))
        }
    }

    // MARK: Shares

    public var meanLength: Double { instances == 0 ? 0 : Double(tokens) / Double(instances) }
    // A plain ratio, no interval: positions of one instance are not independent draws.
    public var paddingShare: Double { positions == 0 ? 0 : Double(positions - tokens) / Double(positions) }
    public var unpaddedSpeedup: Double { tokens == 0 ? 1 : Double(positions) / Double(tokens) }
    public var atMaxLengthShare: Proportion { Proportion(atMaxLength, of: instances) }
    public var shortShare: Proportion { Proportion(short, of: instances) }
    public var maskRate: Proportion { Proportion(predictions, of: eligibleTokens) }
    public var randomNextSentenceShare: Proportion { Proportion(randomNextSentence, of: instances) }
    public var maskTokenShare: Proportion? { hasVocabulary ? Proportion(maskTokens, of: predictions) : nil }
    public var randomTokenShare: Proportion? { hasVocabulary ? Proportion(randomTokens, of: predictions) : nil }
    public var unchangedShare: Proportion? { hasVocabulary ? Proportion(unchangedTokens, of: predictions) : nil }
    public var unknownRate: Proportion? { hasVocabulary ? Proportion(unknownTokens, of: ordinaryTokens) : nil }
}

/// k of n, with its 95 % Wilson score interval (sound for shares near 0 or 1 and small n).
public struct Proportion: Equatable, CustomStringConvertible {
    public let count: Int
    public let total: Int

    public init(_ count: Int, of total: Int) {
        self.count = count
        self.total = total
    }

    public var value: Double { total == 0 ? 0 : Double(count) / Double(total) }

    public var interval95: (low: Double, high: Double) {
        guard total > 0 else { return (0, 1) }
        let z = 1.959963984540054, n = Double(total), p = value
        let denominator = 1 + z * z / n
        let center = (p + z * z / (2 * n)) / denominator
        let half = z * (p * (1 - p) / n + z * z / (4 * n * n)).squareRoot() / denominator
        return (max(0, center - half), min(1, center + half))
    }

    /// "12.34 % (95 % CI 11.90–12.80, 123/997)"
    public var description: String {
        let (low, high) = interval95
        return String(format: "%.2f %% (95 %% CI %.2f–%.2f, %d/%d)", 100 * value, 100 * low, 100 * high, count, total)
    }
}
