// What makes a shard row valid (design §2 and Google's create_pretraining_data): each rule has a
// name that error messages and `bert-corpus inspect` report. The one validator for every reader:
// `bert-corpus inspect`, the trainer's check before step 1 and `evaluate` (PretrainingDataset.validateContent),
// and the writer's own checks (ShardWriter refuses what the layout cannot hold, through `maskedPositionsProblem`).
//
//   rule                meaning
//   layout              datasets, ranks and shapes (checked by ShardReader when opening)
//   input-mask          input_mask is 0/1, ones form a prefix (the real length), at least 5 tokens
//   padding             input_ids and segment_ids are 0 where input_mask is 0
//   cls-first           the first token is [CLS]
//   sep-end-of-a        the token before the first segment-1 token is [SEP]
//   sep-end-of-b        the last real token is [SEP]
//   segment-ids         0 over [CLS] A [SEP], then 1 over B [SEP] (A and B non-empty)
//   masked-positions    strictly ascending, inside the real length, never [CLS], [SEP] or padding,
//                       0-padded after the last (masked_lm_ids 0 there too)
//   prediction-count    1 ≤ predictions ≤ P; with masked_lm_prob known, ≤ min(P, len − 3, max(1, round(len × prob)))
//                       and, without whole-word masking, equal to it (len − 3: all tokens but [CLS] and two [SEP])
//   ids-in-vocab        every id in input_ids and masked_lm_ids is in [0, vocab size); originals are not [CLS]/[SEP]
//   next-sentence-label 0 or 1
//
// [CLS] and [SEP] ids come from the vocabulary when given; otherwise they are taken from the first
// instance whose mask, padding and segments are sound (its first and last token), and every other
// instance must agree.

import PretrainingData
import Tokenization

public enum ShardRule: String, CaseIterable, Comparable {
    case layout = "layout"
    case inputMask = "input-mask"
    case padding = "padding"
    case clsFirst = "cls-first"
    case sepEndOfA = "sep-end-of-a"
    case sepEndOfB = "sep-end-of-b"
    case segmentIds = "segment-ids"
    case maskedPositions = "masked-positions"
    case predictionCount = "prediction-count"
    case idsInVocab = "ids-in-vocab"
    case nextSentenceLabel = "next-sentence-label"

    public static func < (a: ShardRule, b: ShardRule) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One broken rule: which instance, which rule, what was found.
public struct ShardViolation: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let instance: Int?
    public let rule: ShardRule
    public let detail: String
    public var description: String {
        let location = instance.map { "instance \($0): " } ?? ""
        return "\(path): \(location)rule \(rule.rawValue): \(detail)"
    }
}

/// Ids of the special tokens (from `Vocabulary`, which looks them up by name).
public struct SpecialTokenIds: Equatable {
    public var pad: Int32, unk: Int32, cls: Int32, sep: Int32, mask: Int32

    public init(pad: Int32, unk: Int32, cls: Int32, sep: Int32, mask: Int32) {
        self.pad = pad; self.unk = unk; self.cls = cls; self.sep = sep; self.mask = mask
    }
}

extension SpecialTokenIds {
    /// The ids of `vocabulary` (looked up by name).
    public init(_ vocabulary: Vocabulary) {
        self.init(pad: vocabulary.padId, unk: vocabulary.unkId, cls: vocabulary.clsId, sep: vocabulary.sepId, mask: vocabulary.maskId)
    }
}

/// Checks rows against the rules. Holds what it learned from the first row when no vocabulary was given.
public struct ShardValidator {
    public let vocabSize: Int?
    public let maskedLMProb: Double?
    public let wholeWordMask: Bool?
    public private(set) var cls: Int32?
    public private(set) var sep: Int32?
    /// True when [CLS]/[SEP] ids were inferred from the first instance rather than a vocabulary.
    public let inferredSpecialIds: Bool
    /// The instance they were taken from (the first one whose mask, padding and segments are sound).
    public private(set) var inferredFrom: Int?

    public init(special: SpecialTokenIds?, vocabSize: Int?, maskedLMProb: Double?, wholeWordMask: Bool?) {
        self.vocabSize = vocabSize
        self.maskedLMProb = maskedLMProb
        self.wholeWordMask = wholeWordMask
        cls = special?.cls
        sep = special?.sep
        inferredSpecialIds = special == nil
    }

    /// Google's number of predictions: min(P, max(1, round(length × prob))), Python's round (half to
    /// even); computed in one place, Masking.swift's `numberToPredict`, which the masking itself uses.
    public static func predictionsWanted(length: Int, maskedLMProb: Double, maxPredictions: Int) -> Int {
        numberToPredict(length: length, maskedLMProb: maskedLMProb, maxPredictionsPerSeq: maxPredictions)
    }

    /// The masked-positions rule on the used slots: strictly ascending, after [CLS] (0 marks padding
    /// in the layout), inside the real length. Shared with the writer.
    public static func maskedPositionsProblem<C: Collection>(_ positions: C, length: Int) -> String? where C.Element == Int32 {
        var previous: Int32 = 0
        for (k, position) in positions.enumerated() {
            guard position > previous else {
                return "masked_lm_positions \(Array(positions)) not strictly ascending after [CLS] at slot \(k)"
            }
            guard Int(position) < length else {
                return "masked position \(position) is padding (real length \(length))"
            }
            previous = position
        }
        return nil
    }

    /// The first rule row `r` of `rows` breaks, or nil. `index` is the row's instance number in the
    /// shard. The rules in order: the row's shape (input mask, padding, segments), the special
    /// tokens, the masked positions, the prediction count, the ids, the label.
    public mutating func check(_ rows: ShardRows, row r: Int, index: Int, path: String) -> ShardViolation? {
        let row = RowView(rows, row: r)
        var shape = RowShape()
        var problem = Self.shapeProblem(row, &shape)
        if problem == nil { problem = specialTokenProblem(row, shape, index: index) }
        if problem == nil { problem = Self.predictionSlotsProblem(row, shape) }
        if problem == nil { problem = predictionCountProblem(row, shape) }
        if problem == nil { problem = idProblem(row, shape) }
        if problem == nil {
            let label = rows.nextSentenceLabels[r]
            if label != 0 && label != 1 { problem = (.nextSentenceLabel, "next_sentence_labels = \(label), expected 0 or 1") }
        }
        return problem.map { ShardViolation(path: path, instance: index, rule: $0.rule, detail: $0.detail) }
    }

    private typealias Problem = (rule: ShardRule, detail: String)

    /// Row r of a block: its slices (indexed as in the block: s + t, p + k).
    private struct RowView {
        let T: Int, P: Int, s: Int, p: Int
        let ids, mask, segments, positions, originals: ArraySlice<Int32>
        init(_ rows: ShardRows, row r: Int) {
            T = rows.maxSeqLength; P = rows.maxPredictions
            s = r * T; p = r * P
            ids = rows.inputIds[s..<(s + T)]
            mask = rows.inputMask[s..<(s + T)]
            segments = rows.segmentIds[s..<(s + T)]
            positions = rows.maskedPositions[p..<(p + P)]
            originals = rows.maskedIds[p..<(p + P)]
        }
    }

    /// What the shape rules found: the real length, where B starts, the used prediction slots.
    private struct RowShape { var length = 0, firstB = 0, count = 0 }

    /// input-mask (0/1, a prefix of ones, at least 5), padding (zeros after the real length),
    /// segment-ids (0…0 1…1 over the real length, A and B non-empty).
    private static func shapeProblem(_ row: RowView, _ shape: inout RowShape) -> Problem? {
        let T = row.T, s = row.s, p = row.p
        var length = 0
        while length < T && row.mask[s + length] == 1 { length += 1 }
        for t in length..<T where row.mask[s + t] != 0 {
            return (.inputMask, "input_mask[\(t)] = \(row.mask[s + t]) after the real length \(length) (expected 1…1 then 0…0)")
        }
        guard length >= 5 else { return (.inputMask, "real length \(length), expected at least 5 ([CLS] A [SEP] B [SEP])") }
        for t in length..<T where row.ids[s + t] != 0 || row.segments[s + t] != 0 {
            return (.padding, "position \(t) is padding but input_ids = \(row.ids[s + t]), segment_ids = \(row.segments[s + t]) (expected 0, 0)")
        }
        // Prediction slots: count = entries before the first 0.
        var count = 0
        while count < row.P && row.positions[p + count] != 0 { count += 1 }
        var firstB = 0
        while firstB < length && row.segments[s + firstB] == 0 { firstB += 1 }
        for t in firstB..<length where row.segments[s + t] != 1 {
            return (.segmentIds, "segment_ids[\(t)] = \(row.segments[s + t]) inside B (expected 0 over [CLS] A [SEP], then 1 over B [SEP])")
        }
        guard firstB >= 3 && firstB <= length - 2 else {
            return (.segmentIds, "segment B starts at \(firstB) of \(length) tokens (A and B must both be non-empty)")
        }
        shape = RowShape(length: length, firstB: firstB, count: count)
        return nil
    }

    /// cls-first, sep-end-of-a, sep-end-of-b (masked positions hold replacements, checked by their own
    /// rule). Without a vocabulary the first row checked gives the ids.
    private mutating func specialTokenProblem(_ row: RowView, _ shape: RowShape, index: Int) -> Problem? {
        let s = row.s, p = row.p, length = shape.length, firstB = shape.firstB
        if cls == nil {
            cls = row.ids[s]
            sep = row.ids[s + length - 1]
            inferredFrom = index
        }
        let maskedSet = Set(row.positions[p..<(p + shape.count)])
        let inferred = inferredSpecialIds ? " (id taken from instance \(inferredFrom!); give --vocab to check by name)" : ""
        guard row.ids[s] == cls! else { return (.clsFirst, "first token is \(row.ids[s]), expected [CLS] = \(cls!)\(inferred)") }
        guard maskedSet.contains(Int32(firstB - 1)) || row.ids[s + firstB - 1] == sep! else {
            return (.sepEndOfA, "token \(firstB - 1) before segment B is \(row.ids[s + firstB - 1]), expected [SEP] = \(sep!)\(inferred)")
        }
        guard maskedSet.contains(Int32(length - 1)) || row.ids[s + length - 1] == sep! else {
            return (.sepEndOfB, "last real token (position \(length - 1)) is \(row.ids[s + length - 1]), expected [SEP] = \(sep!)\(inferred)")
        }
        return nil
    }

    /// masked-positions: ascending inside the real length, never a [SEP], unused slots all zero.
    private static func predictionSlotsProblem(_ row: RowView, _ shape: RowShape) -> Problem? {
        let p = row.p, count = shape.count
        if let problem = maskedPositionsProblem(row.positions[p..<(p + count)], length: shape.length) {
            return (.maskedPositions, problem)
        }
        for k in 0..<count where Int(row.positions[p + k]) == shape.firstB - 1 || Int(row.positions[p + k]) == shape.length - 1 {
            return (.maskedPositions, "masked position \(row.positions[p + k]) is a [SEP]")
        }
        for k in count..<row.P where row.positions[p + k] != 0 || row.originals[p + k] != 0 {
            return (.maskedPositions, "slot \(k) after the last prediction holds position \(row.positions[p + k]), id \(row.originals[p + k]) (expected 0, 0)")
        }
        return nil
    }

    /// prediction-count: at least one; with the build's masked_lm_prob, Google's count (at most it
    /// with whole-word masking).
    private func predictionCountProblem(_ row: RowView, _ shape: RowShape) -> Problem? {
        let count = shape.count, length = shape.length, P = row.P
        guard count >= 1 else { return (.predictionCount, "no masked positions") }
        if let maskedLMProb {
            // Google stops when the candidates (all but [CLS] and the two [SEP]) run out.
            let wanted = min(length - 3, Self.predictionsWanted(length: length, maskedLMProb: maskedLMProb, maxPredictions: P))
            if count > wanted || (wholeWordMask == false && count != wanted) {
                return (.predictionCount, "\(count) predictions for \(length) tokens, expected \(wholeWordMask == false ? "" : "at most ")\(wanted) = min(\(P), \(length - 3) candidates, max(1, round(\(length) × \(maskedLMProb))))")
            }
        }
        return nil
    }

    /// ids-in-vocab: every real token and original id inside the vocabulary; no original is [CLS]/[SEP].
    private func idProblem(_ row: RowView, _ shape: RowShape) -> Problem? {
        let s = row.s, p = row.p
        let limit = vocabSize.map { Int32(clamping: $0) } ?? Int32.max
        for t in 0..<shape.length where row.ids[s + t] < 0 || row.ids[s + t] >= limit {
            return (.idsInVocab, "input_ids[\(t)] = \(row.ids[s + t]) outside the vocabulary [0, \(vocabSize.map(String.init) ?? "2^31"))")
        }
        for k in 0..<shape.count {
            let original = row.originals[p + k]
            guard original >= 0 && original < limit else {
                return (.idsInVocab, "masked_lm_ids[\(k)] = \(original) outside the vocabulary [0, \(vocabSize.map(String.init) ?? "2^31"))")
            }
            guard original != cls! && original != sep! else {
                return (.idsInVocab, "masked_lm_ids[\(k)] = \(original) is [CLS] or [SEP], which are never masked")
            }
        }
        return nil
    }
}
