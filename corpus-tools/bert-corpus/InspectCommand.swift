// bert-corpus inspect: validate shards (any tool's, NVIDIA layout), show decoded instances, print
// statistics. Exit status 1 when any shard breaks a rule (rules: Sources/ShardFormat/InspectRules.swift).

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
        let paths = try ShardFiles.expand(shards, prefer: nil)
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
            if !json { print(inspection.report) }
        }
        if json {
            print(try InspectReport(inspections, total: total).json())
        } else {
            print("statistics over \(paths.count) shard\(paths.count == 1 ? "" : "s") (valid instances only)")
            print(total.report)
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
}
