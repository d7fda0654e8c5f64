// One shard checked end to end for `bert-corpus inspect`: open (layout), every row against the
// rules (InspectRules.swift), statistics of the valid rows (InspectStatistics.swift), and the first
// few instances decoded with their masked positions marked.
// Rows are read in blocks of whole chunks (about 1024 rows), so memory stays flat whatever the shard size.

import Distributed
import Foundation
import Tokenization

public struct ShardInspection {
    public let path: String
    public var count = 0
    public var maxSeqLength = 0
    public var maxPredictions = 0
    public var attributes: [String: ShardAttribute] = [:]
    public var statistics = ShardStatistics()
    /// Broken rows per rule, and the first violation of each rule (in rule order).
    public var violationCounts: [ShardRule: Int] = [:]
    public var firstViolations: [ShardViolation] = []
    /// The first instances, decoded (`{shown|original}` marks a masked position).
    public var shown: [String] = []
    /// True when [CLS]/[SEP] ids were taken from the first sound instance (no vocabulary given).
    public var inferredSpecialIds = false

    /// Instances that break a rule (shard-level problems such as `layout` are not counted here).
    public var invalidInstances = 0

    public var isValid: Bool { firstViolations.isEmpty }
}

public enum ShardInspector {
    /// Inspects one shard; a shard that cannot be opened is reported as a `layout` violation, not thrown.
    /// `vocabulary`: the one the shard was built with, or nil to check without one.
    public static func inspect(path: String, vocabulary: Vocabulary?, show: Int) -> ShardInspection {
        // The activity names the shard while HDF5 reads it (a crash or hang in the library is reported with it).
        RankActivity.during("inspecting shard \(path)") { inspectShard(path: path, vocabulary: vocabulary, show: show) }
    }

    private static func inspectShard(path: String, vocabulary: Vocabulary?, show: Int) -> ShardInspection {
        let tokens = vocabulary?.tokens
        var result = ShardInspection(path: path)
        func record(_ violation: ShardViolation) {
            if result.violationCounts[violation.rule] == nil {
                result.firstViolations.append(violation)
                result.firstViolations.sort { $0.rule < $1.rule }
            }
            result.violationCounts[violation.rule, default: 0] += 1
            if violation.instance != nil { result.invalidInstances += 1 }
        }
        let special = vocabulary.map(SpecialTokenIds.init)
        let tokenizer = vocabulary.map { BertTokenizer(vocabulary: $0) }

        let reader: ShardReader
        do {
            reader = try ShardReader(path: path)
        } catch {
            record(ShardViolation(path: path, instance: nil, rule: .layout, detail: Self.reason(error, path: path)))
            return result
        }
        result.count = reader.count
        result.maxSeqLength = reader.maxSeqLength
        result.maxPredictions = reader.maxPredictions
        result.attributes = reader.attributes
        let metadata = reader.metadata
        if let recorded = metadata.maxSeqLength, recorded != reader.maxSeqLength {
            record(ShardViolation(path: path, instance: nil, rule: .layout,
                                  detail: "attribute max_seq_length = \(recorded) but the datasets are \(reader.maxSeqLength) wide"))
        }
        if let recorded = metadata.maxPredictionsPerSeq, recorded != reader.maxPredictions {
            record(ShardViolation(path: path, instance: nil, rule: .layout,
                                  detail: "attribute max_predictions_per_seq = \(recorded) but masked_lm_positions is \(reader.maxPredictions) wide"))
        }
        if let tokens, let recorded = metadata.vocabSize, recorded != tokens.count {
            record(ShardViolation(path: path, instance: nil, rule: .idsInVocab,
                                  detail: "the shard was built with a vocabulary of \(recorded) tokens, the one given has \(tokens.count)"))
        } else if let vocabulary, let recorded = metadata.vocabSHA256, recorded != vocabulary.sha256 {
            record(ShardViolation(path: path, instance: nil, rule: .idsInVocab,
                                  detail: "the shard was built with the vocabulary of SHA-256 \(recorded), the one given (\(vocabulary.source)) has \(vocabulary.sha256)"))
        }

        var validator = ShardValidator(special: special, vocabSize: tokens?.count ?? metadata.vocabSize,
                                       maskedLMProb: metadata.maskedLMProb, wholeWordMask: metadata.wholeWordMask)
        result.inferredSpecialIds = validator.inferredSpecialIds
        // Whole chunks, about 1024 rows per read (fewer HDF5 calls than one chunk at a time).
        let chunk = max(1, reader.chunkRows ?? 1)
        let block = chunk * max(1, 1024 / chunk)
        var rows = ShardRows(count: 0, maxSeqLength: reader.maxSeqLength, maxPredictions: reader.maxPredictions)
        var start = 0
        while start < reader.count {
            let range = start..<min(reader.count, start + block)
            do {
                try reader.readRows(range, into: &rows)
            } catch {
                record(ShardViolation(path: path, instance: nil, rule: .layout, detail: Self.reason(error, path: path)))
                return result
            }
            for r in 0..<range.count {
                let index = range.lowerBound + r
                if let violation = validator.check(rows, row: r, index: index, path: path) {
                    record(violation)
                    continue
                }
                result.statistics.add(rows, row: r, special: special)
                if result.shown.count < show {
                    result.shown.append(render(rows, row: r, index: index, tokens: tokens, decode: tokenizer?.decode))
                }
            }
            start = range.upperBound
        }
        return result
    }

    private static func reason(_ error: Error, path: String) -> String {
        if let error = error as? ShardError {
            return (error.location.map { "\($0): " } ?? "") + error.reason
        }
        return "\(error)"
    }

    /// "instance 3: 57 tokens, NSP 1 (B random), 8 predictions", then the tokens with each masked
    /// position as {shown|original} (ids without a vocabulary), then with `decode` the original text.
    public static func render(_ rows: ShardRows, row r: Int, index: Int, tokens: [String]?,
                              decode: (([Int32]) -> String)? = nil) -> String {
        let instance = rows.instance(r)
        func name(_ id: Int32) -> String {
            guard let tokens else { return String(id) }
            return id >= 0 && Int(id) < tokens.count ? tokens[Int(id)] : "<\(id)?>"
        }
        var originals: [Int: Int32] = [:]
        for (position, id) in zip(instance.maskedPositions, instance.maskedIds) { originals[Int(position)] = id }
        let text = instance.inputIds.enumerated().map { t, id in
            if let original = originals[t] { return "{\(name(id))|\(name(original))}" }
            return name(id)
        }.joined(separator: " ")
        let label = instance.nextSentenceLabel == 1 ? "B random" : "B follows A"
        var result = "instance \(index): \(instance.inputIds.count) tokens, NSP \(instance.nextSentenceLabel) (\(label)), \(instance.maskedPositions.count) predictions\n  \(text)"
        if let decode {
            let restored = instance.inputIds.enumerated().map { t, id in originals[t] ?? id }
            result += "\n  text: " + decode(restored)
        }
        return result
    }
}
