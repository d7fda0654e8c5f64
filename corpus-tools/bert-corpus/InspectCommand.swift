// bert-corpus inspect: validate shards (any tool's, NVIDIA layout), show decoded instances, print
// statistics. Exit status 1 when any shard breaks a rule (rules: Sources/Corpus/InspectRules.swift).

import ArgumentParser
import Foundation
import ShardFormat
import Tokenization

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Validate HDF5 pretraining shards, show decoded instances and print statistics.",
        discussion: """
            Checks every instance of every shard against the layout rules (layout, input-mask, padding, cls-first, \
            sep-end-of-a, sep-end-of-b, segment-ids, masked-positions, prediction-count, ids-in-vocab, \
            next-sentence-label) and exits with status 1 if any is broken, naming the file, instance and rule. \
            Works on shards written by other tools (int8/16/32/64 datasets, no attributes). Masked positions are shown \
            as {shown|original}. Without --vocab, [CLS]/[SEP] ids are taken from the first instance and the \
            [MASK]/random/unchanged shares and [UNK] rate are not computed.
            """)

    @Argument(help: "Shard files, or folders whose .hdf5/.h5/.hdf files are all inspected.")
    var shards: [String]

    @Option(help: "vocab.txt the shards were built with: decodes tokens and enables the id, [MASK] and [UNK] checks.")
    var vocab: String?

    @Option(help: "Decoded instances to show per shard.")
    var show: Int = 3

    @Flag(inversion: .prefixedNo, help: "Check every shard's size and SHA-256 against the manifest.json beside it before opening it.")
    var verifyShards = true

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard !shards.isEmpty else { throw ValidationError("give at least one shard") }
        guard show >= 0 else { throw ValidationError("--show must be ≥ 0, got \(show)") }
    }

    func run() throws {
        let vocabulary = try vocab.map { try Vocabulary(path: $0) }
        let paths = try ShardFiles.expand(shards, preferTest: false)
        if verifyShards {
            // Before HDF5 opens any of them: a damaged file can make the library loop or crash.
            try ShardVerification.verify(paths, communicator: nil) { FileHandle.standardError.write(Data("info: \($0)\n".utf8)) }
        }
        var total = ShardStatistics()
        var inspections: [ShardInspection] = []
        for path in paths {
            let inspection = ShardInspector.inspect(path: path, vocabulary: vocabulary, show: show)
            total.merge(inspection.statistics)
            inspections.append(inspection)
            if !json { printText(inspection) }
        }
        if json {
            printJSON(inspections, total)
        } else {
            print("statistics over \(paths.count) shard\(paths.count == 1 ? "" : "s") (valid instances only)")
            print(Self.describe(total))
        }
        let invalid = inspections.filter { !$0.isValid }
        for inspection in invalid {
            for violation in inspection.firstViolations {
                let count = inspection.violationCounts[violation.rule] ?? 1
                let more = count > 1 ? " (and \(count - 1) more instance\(count == 2 ? "" : "s") breaking this rule)" : ""
                FileHandle.standardError.write(Data("error: \(violation)\(more)\n".utf8))
            }
        }
        if !invalid.isEmpty {
            FileHandle.standardError.write(Data("error: \(invalid.count) of \(paths.count) shards are invalid\n".utf8))
            throw ExitCode(1)
        }
    }

    private func printText(_ s: ShardInspection) {
        let status = s.isValid ? "valid"
            : s.invalidInstances == 0 ? "INVALID"
            : "INVALID (\(s.invalidInstances) instance\(s.invalidInstances == 1 ? " breaks" : "s break") a rule)"
        print("\(s.path): \(status), \(s.count) instances, max_seq_length \(s.maxSeqLength), max_predictions_per_seq \(s.maxPredictions)")
        for key in s.attributes.keys.sorted() {
            var value = s.attributes[key]!.description
            if value.count > 200 { value = String(value.prefix(200)) + "…" }
            print("  \(key): \(value)")
        }
        if s.inferredSpecialIds && s.count > 0 {
            print("  (no --vocab: [CLS]/[SEP] ids taken from the first instance, ids shown as numbers)")
        }
        for text in s.shown { print("  " + text.replacingOccurrences(of: "\n", with: "\n  ")) }
    }

    static func describe(_ t: ShardStatistics) -> String {
        var lines = [
            "  instances             \(t.instances)",
            "  tokens                \(t.tokens) (mean length \(String(format: "%.1f", t.meanLength)))",
            "  at max length         \(t.atMaxLengthShare)",
            "  short (≤ T/2)         \(t.shortShare)",
            "  mask rate             \(t.maskRate)  (predictions / tokens other than [CLS] [SEP])",
            "  NSP B random          \(t.randomNextSentenceShare)",
        ]
        if let mask = t.maskTokenShare, let random = t.randomTokenShare, let unchanged = t.unchangedShare, let unk = t.unknownRate {
            lines += [
                "  masked as [MASK]      \(mask)",
                "  masked as random      \(random)",
                "  masked unchanged      \(unchanged)",
                "  [UNK] rate            \(unk)",
            ]
        }
        lines.append("  length histogram")
        let histogram = t.lengthHistogram()
        let most = max(1, histogram.map(\.count).max() ?? 1)
        for bucket in histogram {
            let bar = String(repeating: "#", count: (bucket.count * 40 + most - 1) / most)
            lines.append(String(format: "    %4d–%-4d %10d  ", bucket.from, bucket.to, bucket.count) + bar)
        }
        return lines.joined(separator: "\n")
    }

    private func printJSON(_ inspections: [ShardInspection], _ total: ShardStatistics) {
        func attributeJSON(_ a: ShardAttribute) -> Any {
            switch a {
            case .int(let v): return v
            case .double(let v): return v
            case .string(let v): return v
            case .strings(let v): return v
            }
        }
        let shardObjects: [[String: Any]] = inspections.map { s in
            [
                "path": s.path,
                "valid": s.isValid,
                "instances": s.count,
                "max_seq_length": s.maxSeqLength,
                "max_predictions_per_seq": s.maxPredictions,
                "attributes": s.attributes.mapValues(attributeJSON),
                "violations": s.firstViolations.map { v -> [String: Any] in
                    ["rule": v.rule.rawValue, "instance": v.instance as Any? ?? NSNull(), "detail": v.detail,
                     "instances_breaking_rule": s.violationCounts[v.rule] ?? 1]
                },
                "shown": s.shown,
                "statistics": Self.statisticsJSON(s.statistics),
            ]
        }
        let object: [String: Any] = [
            "valid": inspections.allSatisfy(\.isValid),
            "shards": shardObjects,
            "statistics": Self.statisticsJSON(total),
        ]
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    static func statisticsJSON(_ t: ShardStatistics) -> [String: Any] {
        var object: [String: Any] = [
            "instances": t.instances,
            "tokens": t.tokens,
            "mean_length": t.meanLength,
            "length_counts": t.lengthCounts,
            "at_max_length": t.atMaxLengthShare.json,
            "short": t.shortShare.json,
            "mask_rate": t.maskRate.json,
            "nsp_random": t.randomNextSentenceShare.json,
        ]
        object["masked_as_mask"] = t.maskTokenShare?.json ?? NSNull()
        object["masked_as_random"] = t.randomTokenShare?.json ?? NSNull()
        object["masked_unchanged"] = t.unchangedShare?.json ?? NSNull()
        object["unk_rate"] = t.unknownRate?.json ?? NSNull()
        return object
    }
}
