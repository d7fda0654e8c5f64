// What `bert-corpus inspect` prints: one shard's text block, the statistics table, and the --json
// object (through JSONEncoder; keys sorted, a share as {value, ci95_low, ci95_high, count, total},
// padding_share and unpadded_speedup as plain numbers, null where a figure needs the vocabulary or
// a violation has no instance).

import Foundation

extension ShardInspection {
    /// The shard's status line, its root attributes (long values cut at 200 characters) and the
    /// instances shown.
    public var report: String {
        let status = isValid ? "valid"
            : invalidInstances == 0 ? "INVALID"
            : "INVALID (\(invalidInstances) instance\(invalidInstances == 1 ? " breaks" : "s break") a rule)"
        var lines = ["\(path): \(status), \(count) instances, max_seq_length \(maxSeqLength), max_predictions_per_seq \(maxPredictions)"]
        for key in attributes.keys.sorted() {
            var value = attributes[key]!.description
            if value.count > 200 { value = String(value.prefix(200)) + "…" }
            lines.append("  \(key): \(value)")
        }
        if inferredSpecialIds && count > 0 {
            lines.append("  (no --vocab: [CLS]/[SEP] ids taken from the first instance, ids shown as numbers)")
        }
        for text in shown { lines.append("  " + text.replacingOccurrences(of: "\n", with: "\n  ")) }
        return lines.joined(separator: "\n")
    }
}

extension ShardStatistics {
    /// The statistics table with the length histogram.
    public var report: String {
        var lines = [
            "  instances             \(instances)",
            "  tokens                \(tokens) (mean length \(String(format: "%.1f", meanLength)))",
            "  padding share         " + String(format: "%.2f %%  (%d of %d positions, instances × T)", 100 * paddingShare, positions - tokens, positions),
            "  unpadded speed-up     " + String(format: "%.2f×  (perfect unpadding: compute on real tokens only)", unpaddedSpeedup),
            "  at max length         \(atMaxLengthShare)",
            "  short (≤ T/2)         \(shortShare)",
            "  mask rate             \(maskRate)  (predictions / tokens other than [CLS] [SEP])",
            "  NSP B random          \(randomNextSentenceShare)",
        ]
        if let mask = maskTokenShare, let random = randomTokenShare, let unchanged = unchangedShare, let unk = unknownRate {
            lines += [
                "  masked as [MASK]      \(mask)",
                "  masked as random      \(random)",
                "  masked unchanged      \(unchanged)",
                "  [UNK] rate            \(unk)",
            ]
        }
        lines.append("  length histogram")
        let histogram = lengthHistogram()
        let most = max(1, histogram.map(\.count).max() ?? 1)
        for bucket in histogram {
            let bar = String(repeating: "#", count: (bucket.count * 40 + most - 1) / most)
            lines.append(String(format: "    %4d–%-4d %10d  ", bucket.from, bucket.to, bucket.count) + bar)
        }
        return lines.joined(separator: "\n")
    }
}

/// `inspect --json`: every shard, whether all are valid, and the statistics over all of them.
public struct InspectReport: Encodable {
    public let valid: Bool
    public let shards: [Shard]
    public let statistics: Statistics

    public init(_ inspections: [ShardInspection], total: ShardStatistics) {
        valid = inspections.allSatisfy(\.isValid)
        shards = inspections.map(Shard.init)
        statistics = Statistics(total)
    }

    /// Pretty-printed, keys sorted.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public struct Shard: Encodable {
        let path: String, valid: Bool, instances: Int, maxSeqLength: Int, maxPredictionsPerSeq: Int
        let attributes: [String: Attribute]
        let violations: [Violation]
        let shown: [String]
        let statistics: Statistics

        enum CodingKeys: String, CodingKey {
            case path, valid, instances, attributes, violations, shown, statistics
            case maxSeqLength = "max_seq_length", maxPredictionsPerSeq = "max_predictions_per_seq"
        }

        init(_ s: ShardInspection) {
            path = s.path
            valid = s.isValid
            instances = s.count
            maxSeqLength = s.maxSeqLength
            maxPredictionsPerSeq = s.maxPredictions
            attributes = s.attributes.mapValues(Attribute.init)
            violations = s.firstViolations.map { Violation(rule: $0.rule.rawValue, instance: $0.instance, detail: $0.detail,
                                                           instancesBreakingRule: s.violationCounts[$0.rule] ?? 1) }
            shown = s.shown
            statistics = Statistics(s.statistics)
        }
    }

    /// A root attribute as its JSON value (number, string or array of strings).
    struct Attribute: Encodable {
        let value: ShardAttribute
        init(_ value: ShardAttribute) { self.value = value }
        func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch value {
            case .int(let v): try c.encode(v)
            case .double(let v): try c.encode(v)
            case .string(let v): try c.encode(v)
            case .strings(let v): try c.encode(v)
            }
        }
    }

    struct Violation: Encodable {
        let rule: String, instance: Int?, detail: String, instancesBreakingRule: Int
        enum CodingKeys: String, CodingKey { case rule, instance, detail, instancesBreakingRule = "instances_breaking_rule" }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(rule, forKey: .rule)
            try c.encode(instance, forKey: .instance)   // null for a shard-level violation
            try c.encode(detail, forKey: .detail)
            try c.encode(instancesBreakingRule, forKey: .instancesBreakingRule)
        }
    }

    public struct Statistics: Encodable {
        let instances: Int, tokens: Int, meanLength: Double, lengthCounts: [Int]
        let positions: Int, paddingShare: Double, unpaddedSpeedup: Double
        let atMaxLength: Share, short: Share, maskRate: Share, nspRandom: Share
        let maskedAsMask: Share?, maskedAsRandom: Share?, maskedUnchanged: Share?, unkRate: Share?

        enum CodingKeys: String, CodingKey {
            case instances, tokens, short, positions
            case meanLength = "mean_length", lengthCounts = "length_counts", atMaxLength = "at_max_length"
            case paddingShare = "padding_share", unpaddedSpeedup = "unpadded_speedup"
            case maskRate = "mask_rate", nspRandom = "nsp_random", maskedAsMask = "masked_as_mask"
            case maskedAsRandom = "masked_as_random", maskedUnchanged = "masked_unchanged", unkRate = "unk_rate"
        }

        init(_ t: ShardStatistics) {
            instances = t.instances
            tokens = t.tokens
            meanLength = t.meanLength
            lengthCounts = t.lengthCounts
            positions = t.positions
            paddingShare = t.paddingShare
            unpaddedSpeedup = t.unpaddedSpeedup
            atMaxLength = Share(t.atMaxLengthShare)
            short = Share(t.shortShare)
            maskRate = Share(t.maskRate)
            nspRandom = Share(t.randomNextSentenceShare)
            maskedAsMask = t.maskTokenShare.map(Share.init)
            maskedAsRandom = t.randomTokenShare.map(Share.init)
            maskedUnchanged = t.unchangedShare.map(Share.init)
            unkRate = t.unknownRate.map(Share.init)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(instances, forKey: .instances)
            try c.encode(tokens, forKey: .tokens)
            try c.encode(meanLength, forKey: .meanLength)
            try c.encode(lengthCounts, forKey: .lengthCounts)
            try c.encode(positions, forKey: .positions)   // Σ T: instances × max_seq_length per shard
            try c.encode(paddingShare, forKey: .paddingShare)
            try c.encode(unpaddedSpeedup, forKey: .unpaddedSpeedup)
            try c.encode(atMaxLength, forKey: .atMaxLength)
            try c.encode(short, forKey: .short)
            try c.encode(maskRate, forKey: .maskRate)
            try c.encode(nspRandom, forKey: .nspRandom)
            // null without a vocabulary
            try c.encode(maskedAsMask, forKey: .maskedAsMask)
            try c.encode(maskedAsRandom, forKey: .maskedAsRandom)
            try c.encode(maskedUnchanged, forKey: .maskedUnchanged)
            try c.encode(unkRate, forKey: .unkRate)
        }
    }

    struct Share: Encodable {
        let value: Double, ci95Low: Double, ci95High: Double, count: Int, total: Int
        enum CodingKeys: String, CodingKey { case value, count, total, ci95Low = "ci95_low", ci95High = "ci95_high" }
        init(_ p: Proportion) {
            let (low, high) = p.interval95
            value = p.value; ci95Low = low; ci95High = high; count = p.count; total = p.total
        }
    }
}
