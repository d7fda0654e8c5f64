// What `bert-corpus build` is asked to do: flags (Google's names and defaults), the vocabulary as
// the instance code needs it, the stream of input documents, and the build's error type.

import Distributed
import Foundation
import PretrainingData
import Tokenization

/// The build's settings; defaults are google-research/bert's create_pretraining_data.py flags.
public struct BuildOptions {
    public var inputFiles: [String]
    public var outputDirectory: String
    /// How the input is read: one format for every file, or `auto` (detected per file).
    public var format: Format = .auto
    /// `text` format: a regular expression; a line matching it starts a new document.
    public var documentSeparator: String? = nil
    /// `jsonl` format: the field holding a document's text.
    public var jsonField = "text"
    public var maxSeqLength = 128
    public var maxPredictionsPerSeq = 20
    public var maskedLMProb = 0.15
    public var dupeFactor = 10
    public var shortSeqProb = 0.1
    public var randomSeed = 12345
    public var wholeWordMask = false
    public var lowerCase = true
    /// Training shards (K).
    public var shards = 8
    /// Share of documents held out for test shards (chosen by a hash of (seed, document index)).
    public var holdoutFraction = 0.0
    /// Draw every number as Python's random.Random(seed) in Google's script (one rank, all in memory).
    public var referenceRNG = false

    public init(inputFiles: [String], outputDirectory: String) {
        self.inputFiles = inputFiles
        self.outputDirectory = outputDirectory
    }

    /// Every setting at its default (the CLI's defaults come from here).
    public static let defaults = BuildOptions(inputFiles: [], outputDirectory: "")

    /// `--format`: an input format, or `auto`.
    public enum Format: String, CaseIterable {
        case auto, google, text, jsonl, wikiextractor
        /// The one format of every file; nil for `auto`.
        public var inputFormat: InputFormat? { InputFormat(rawValue: rawValue) }
    }

    /// Test shards: ⌈K·F⌉ (at least one when F > 0), none without a hold-out.
    public var testShards: Int { holdoutFraction > 0 ? max(1, Int((Double(shards) * holdoutFraction).rounded(.up))) : 0 }

    /// Cross-checks, as messages (the CLI shows them as usage errors).
    public func problems() -> [String] {
        var p: [String] = []
        if inputFiles.isEmpty { p.append("no input given (--input PATH...)") }
        if maxSeqLength < 5 { p.append("--max-seq-length must be at least 5 ([CLS] A [SEP] B [SEP]), got \(maxSeqLength)") }
        if maxPredictionsPerSeq < 1 { p.append("--max-predictions-per-seq must be at least 1, got \(maxPredictionsPerSeq)") }
        if !(maskedLMProb > 0 && maskedLMProb <= 1) { p.append("--masked-lm-prob must be in (0, 1], got \(maskedLMProb)") }
        if dupeFactor < 1 || dupeFactor >= 4096 { p.append("--dupe-factor must be in 1...4095, got \(dupeFactor)") }
        if !(shortSeqProb >= 0 && shortSeqProb <= 1) { p.append("--short-seq-prob must be in [0, 1], got \(shortSeqProb)") }
        if shards < 1 { p.append("--shards must be at least 1, got \(shards)") }
        if !(holdoutFraction >= 0 && holdoutFraction < 1) { p.append("--holdout-fraction must be in [0, 1), got \(holdoutFraction)") }
        if referenceRNG && holdoutFraction > 0 { p.append("--reference-rng reproduces Google's script, which holds nothing out: use --holdout-fraction 0") }
        return p
    }
}

/// The vocabulary as the build needs it.
public struct BuildVocabulary {
    public let path: String
    public let sha256: String
    public let masking: MaskingVocabulary
    public var size: Int { masking.size }

    public init(path: String, sha256: String, masking: MaskingVocabulary) {
        self.path = path
        self.sha256 = sha256
        self.masking = masking
    }

    /// `vocabulary`, read from `path`.
    public init(path: String, vocabulary: Vocabulary) {
        self.init(path: path, sha256: vocabulary.sha256,
                  masking: MaskingVocabulary(tokens: vocabulary.tokens, clsId: vocabulary.clsId,
                                             sepId: vocabulary.sepId, maskId: vocabulary.maskId))
    }
}

/// Input documents in a fixed order (the same on every rank), each as sentences of UTF-8 text.
/// Bytes, not Strings: a rank skips the documents other ranks tokenize without decoding them.
public protocol DocumentStream {
    /// Calls `sentence` with each sentence of the next document (its UTF-8 bytes, valid during the
    /// call only) and returns true; returns false at the end of the input. A document may have no
    /// sentences. With `wanted` false the document is skipped (no calls), as cheaply as its format
    /// allows; the documents are the same either way, so every rank numbers them alike.
    mutating func nextDocument(wanted: Bool, _ sentence: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Bool
    /// Bytes of text read so far (for progress).
    var bytesRead: Int { get }
    /// Non-nil for a stream that yields only this rank's documents (its byte range of the input,
    /// this many bytes); nil for one that yields every document (the caller picks its own).
    var ownBytes: Int? { get }
}

extension DocumentStream {
    public var ownBytes: Int? { nil }
}

/// A build that cannot go on: what is wrong, naming the file or the setting.
public struct BuildError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What a build made (rank 0 prints it; manifest.json records it).
public struct BuildSummary {
    public var documents = 0              // non-empty documents
    public var emptyDocuments = 0
    public var trainingDocuments = 0
    public var testDocuments = 0
    public var sentences = 0
    public var tokens = 0
    public var largestDocumentTokens = 0
    public var inputBytes = 0
    public var trainingInstances: [Int] = []   // per training shard
    public var testInstances: [Int] = []       // per test shard
    public var seconds = 0.0
    public var instances: Int { trainingInstances.reduce(0, +) + testInstances.reduce(0, +) }

    /// One line for the log: time, documents, tokens, text rate, instances and shards.
    public var report: String {
        let mb = Double(inputBytes) / 1e6
        return """
            \(ProgressMeter.duration(seconds)): \(documents) documents (\(testDocuments) held out), \
            \(sentences) sentences, \(tokens) tokens, \(String(format: "%.1f", mb)) MB of text \
            (\(String(format: "%.2f", mb / max(seconds, 1e-9))) MB/s); \
            \(trainingInstances.reduce(0, +)) training instances in \(trainingInstances.count) shards, \
            \(testInstances.reduce(0, +)) test instances in \(testInstances.count) shards
            """
    }
}
