// The build's record, written by rank 0 last (so its presence marks a complete build):
// vocab.txt copied beside the shards, and manifest.json with the flags, the inputs, the counts and
// the vocabulary's SHA-256.

import Foundation
import Storage

public enum BuildManifest {
    public static let toolVersion = "bert-corpus 0.1.0"
}

extension CorpusBuilder {
    func writeVocabularyAndManifest(_ summary: BuildSummary) throws {
        let out = options.outputDirectory as NSString
        guard let vocabBytes = FileManager.default.contents(atPath: vocabulary.path) else {
            throw BuildError("\(vocabulary.path): cannot read the vocabulary to copy it")
        }
        let vocabCopy = out.appendingPathComponent("vocab.txt")
        if (vocabulary.path as NSString).standardizingPath != (vocabCopy as NSString).standardizingPath {
            try AtomicFile.write(vocabBytes, to: vocabCopy)
        }
        func shards(_ counts: [Int], test: Bool) -> [[String: Any]] {
            counts.enumerated().map { ["file": Self.shardName($0.offset, test: test), "instances": $0.element] }
        }
        let manifest: [String: Any] = [
            "tool": BuildManifest.toolVersion,
            "mode": options.referenceRNG ? "reference-rng" : "default",
            "ranks": comm.size,
            "flags": [
                "format": options.format,
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
            "training_shards": shards(summary.trainingInstances, test: false),
            "test_shards": shards(summary.testInstances, test: true),
        ]
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data + Data("\n".utf8), to: out.appendingPathComponent("manifest.json"))
    }
}
