// bert-corpus vocab: learn a WordPiece vocabulary (vocab.txt) from a corpus, with the tokenizer's own
// pre-tokenisation. Algorithm: Tokenization/WordPieceTrainer.swift (Hugging Face's WordPiece trainer:
// BPE-style merges with the "##" prefix).

import ArgumentParser
import Distributed
import Foundation
import Logging
import Storage
import Tokenization

struct VocabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vocab",
        abstract: "Learn a WordPiece vocabulary (vocab.txt) from text files, folders or gzip.",
        discussion: "Writes exactly --vocab-size lines: [PAD] [UNK] [CLS] [SEP] [MASK] at ids 0-4, every kept character "
            + "and its ## form, then the pieces learned by BPE-style merges (Hugging Face's WordPiece trainer), padded with "
            + "[unusedN] if the corpus runs out of merges. Deterministic for the same input.")

    @Option(parsing: .upToNextOption, help: "Text files or folders (recursively, sorted; gzip read transparently).")
    var input: [String]

    @Option(help: "Number of tokens (lines) in the vocabulary.")
    var vocabSize = 30522

    @Option(help: "Where to write vocab.txt (atomically).")
    var output: String

    @Flag(name: .customLong("no-lower-case"), help: "Keep case and accents (a cased vocabulary).")
    var noLowerCase = false

    @Option(help: "Stop merging when the best pair occurs fewer times than this.")
    var minFrequency = 2

    @Option(help: "Keep at most this many characters (the most frequent); words with others are not learned from. Default: all.")
    var limitAlphabet: Int?

    func validate() throws {
        guard !input.isEmpty else { throw ValidationError("give at least one --input") }
        guard vocabSize > Vocabulary.specialTokens.count else { throw ValidationError("--vocab-size must be more than 5") }
        guard minFrequency >= 1 else { throw ValidationError("--min-frequency must be at least 1") }
        if let limitAlphabet, limitAlphabet < 1 { throw ValidationError("--limit-alphabet must be at least 1") }
    }

    func run() throws {
        RankLogHandler.bootstrap(rank: 0, size: 1)
        let logger = Logger(label: "bert-corpus.vocab")
        let trainer = WordPieceTrainer(lowerCase: !noLowerCase)
        let files = try TextInput.files(input)
        let totalBytes = files.reduce(0.0) { sum, path in
            sum + Double((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
        }
        let counting = ProgressMeter(label: "counting words", unit: "MB", total: totalBytes / 1e6, enabled: true)
        let forced = try TextSegmentReader.forEachSegment(paths: files) { segment in
            trainer.add(utf8: segment.bytes)
            counting.update(Double(trainer.bytesSeen) / 1e6)
        }
        logger.info("\(trainer.distinctWords) distinct words in \(String(format: "%.1f", Double(trainer.bytesSeen) / 1e6)) MB of text")
        if trainer.invalidUTF8Replacements > 0 {
            logger.warning("\(trainer.invalidUTF8Replacements) invalid UTF-8 sequence(s) replaced by U+FFFD, then deleted by BERT's cleaning")
        }
        if forced > 0 { logger.warning("\(forced) line segment(s) over 1 MiB had no whitespace or CJK character to cut at") }
        let merging = ProgressMeter(label: "learning pieces", unit: "tokens", total: nil, enabled: true)
        let tokens = try trainer.train(vocabSize: vocabSize, minFrequency: minFrequency, limitAlphabet: limitAlphabet) { done, wanted in
            merging.update(Double(done), extra: "of \(wanted)")
        }
        if let firstUnused = tokens.firstIndex(of: "[unused0]") {
            logger.warning("the corpus gave only \(firstUnused) tokens at --min-frequency \(minFrequency); ids \(firstUnused)..<\(vocabSize) are [unusedN] placeholders")
        }
        try AtomicFile.write(Vocabulary.fileContents(tokens), to: output)
        logger.info("wrote \(tokens.count) tokens to \(output)")
    }
}
