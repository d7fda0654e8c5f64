// bert-corpus tokenize: text in, one line of token ids (or tokens) out per input line (the work:
// Tokenization/TokenizedLines.swift).

import ArgumentParser
import Distributed
import Foundation
import Logging
import Storage
import Tokenization
#if canImport(Glibc)
import Glibc
#endif

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Tokenize UTF-8 text with a WordPiece vocabulary: one output line of ids per input line.",
        discussion: "Lines end at \"\\n\" only (a \"\\r\" or U+0085 inside a line is text); an empty line gives an empty line. "
            + "Invalid UTF-8 is replaced as Python's errors=\"replace\" would (one U+FFFD per maximal invalid subsequence, "
            + "which BERT's cleaning then deletes) and counted on stderr. Tokenization is exactly Hugging Face's "
            + "BertTokenizerLegacy (google-research/bert's, with whole special tokens and the 100-character limit).")

    @Option(help: "vocab.txt (one token per line, id = line number; [PAD] [UNK] [CLS] [SEP] [MASK] required).")
    var vocab: String

    @Flag(name: .customLong("no-lower-case"), help: "Keep case and accents (for cased vocabularies).")
    var noLowerCase = false

    @Flag(help: "Write the WordPiece tokens instead of their ids.")
    var tokens = false

    @Option(help: "Input file or folder (folders recursively, sorted; gzip read transparently); repeatable. Default: stdin.")
    var input: [String] = []

    @Flag(help: "Print throughput (MB/s, lines, tokens) on stderr at the end.")
    var benchmark = false

    func run() throws {
        RankLogHandler.bootstrap(rank: 0, size: 1)
        let logger = Logger(label: "bert-corpus.tokenize")
        let vocabulary = try Vocabulary(path: vocab)
        let tokenizer = BertTokenizer(vocabulary: vocabulary, lowerCase: !noLowerCase)
        let started = Date()
        let s = try tokenizeLines(paths: input, tokenizer: tokenizer,
                                  formatter: TokenFormatter(vocabulary: vocabulary, writeTokens: tokens),
                                  to: BufferedOutput(fd: STDOUT_FILENO, path: "<stdout>"))
        if s.invalidUTF8Replacements > 0 {
            logger.warning("\(s.invalidUTF8Replacements) invalid UTF-8 sequence(s) replaced by U+FFFD (as Python's errors=\"replace\"), then deleted by BERT's cleaning")
        }
        if s.forcedCuts > 0 {
            logger.warning("\(s.forcedCuts) line segment(s) over 1 MiB had no whitespace or CJK character to cut at; tokens at those cuts may differ from the reference")
        }
        if benchmark {
            let seconds = Date().timeIntervalSince(started)
            logger.info("\(String(format: "%.1f", Double(s.bytesRead) / 1e6)) MB, \(s.lines) lines, \(s.tokens) tokens in \(String(format: "%.3f", seconds)) s: \(String(format: "%.2f", Double(s.bytesRead) / 1e6 / seconds)) MB/s")
        }
    }
}
