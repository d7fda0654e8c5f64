// The build's record, written by rank 0 last (so its presence marks a complete build):
// vocab.txt copied beside the shards, and manifest.json with the flags, the inputs, the counts,
// the vocabulary's SHA-256 and every shard's size in bytes and SHA-256 (hashed by the rank that
// wrote it, gathered here; readers check shards against them before HDF5 opens them:
// ShardVerification.swift).

import Foundation
import ShardFormat
import Storage

public enum BuildManifest {
    public static let toolVersion = "bert-corpus 0.1.0"
}

extension CorpusBuilder {
    /// Size and SHA-256 of every shard of the build, by file name: each rank hashes the shards it
    /// wrote (still under their temporary names), then every rank gets all of them.
    func gatherShardFingerprints() throws -> [String: ShardFingerprint] {
        var mine = ""
        for (temporary, path) in pendingShards {
            let f = try ShardFingerprint.of(path: temporary)
            mine += "\((path as NSString).lastPathComponent)\t\(f.bytes)\t\(f.sha256)\n"
        }
        var all: [String: ShardFingerprint] = [:]
        for bytes in try comm.allGather(bytes: Array(mine.utf8)) {
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
                let fields = line.split(separator: "\t").map(String.init)
                guard fields.count == 3, let size = Int(fields[1]) else { throw BuildError("malformed shard fingerprint \(line)") }
                all[fields[0]] = ShardFingerprint(bytes: size, sha256: fields[2])
            }
        }
        return all
    }

    func writeVocabularyAndManifest(_ summary: BuildSummary, fingerprints: [String: ShardFingerprint]) throws {
        let out = options.outputDirectory as NSString
        guard let vocabBytes = FileManager.default.contents(atPath: vocabulary.path) else {
            throw BuildError("\(vocabulary.path): cannot read the vocabulary to copy it")
        }
        let vocabCopy = out.appendingPathComponent("vocab.txt")
        if (vocabulary.path as NSString).standardizingPath != (vocabCopy as NSString).standardizingPath {
            try AtomicFile.write(vocabBytes, to: vocabCopy)
        }
        func shards(_ counts: [Int], test: Bool) throws -> [[String: Any]] {
            try counts.enumerated().map {
                let name = Self.shardName($0.offset, test: test)
                guard let f = fingerprints[name] else { throw BuildError("\(name): no size and SHA-256 gathered for the manifest") }
                return ["file": name, "instances": $0.element, "bytes": f.bytes, "sha256": f.sha256]
            }
        }
        let manifest: [String: Any] = [
            "tool": BuildManifest.toolVersion,
            "mode": options.referenceRNG ? "reference-rng" : "default",
            "ranks": comm.size,
            "flags": [
                "format": options.format.rawValue,
                "max_seq_length": options.maxSeqLength,
                "max_predictions_per_seq": options.maxPredictionsPerSeq,
                "masked_lm_prob": options.maskedLMProb,
                "dupe_factor": options.dupeFactor,
                "short_seq_prob": options.shortSeqProb,
                "random_seed": options.randomSeed,
                "whole_word_mask": options.wholeWordMask,
                "lower_case": options.lowerCase,
                "shards": options.shards,
                "holdout_fraction": options.holdoutFraction,
            ] as [String: Any],
            "inputs": options.inputFiles.map { path -> [String: Any] in
                ["path": path, "bytes": (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0]
            },
            "vocab": ["file": "vocab.txt", "sha256": vocabulary.sha256, "size": vocabulary.size] as [String: Any],
            "counts": [
                "documents": summary.documents,
                "empty_documents": summary.emptyDocuments,
                "training_documents": summary.trainingDocuments,
                "test_documents": summary.testDocuments,
                "sentences": summary.sentences,
                "tokens": summary.tokens,
                "text_bytes": summary.inputBytes,
                "training_instances": summary.trainingInstances.reduce(0, +),
                "test_instances": summary.testInstances.reduce(0, +),
            ] as [String: Any],
            "training_shards": try shards(summary.trainingInstances, test: false),
            "test_shards": try shards(summary.testInstances, test: true),
        ]
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data + Data("\n".utf8), to: out.appendingPathComponent("manifest.json"))
    }
}
