// bert-corpus tokenize: text in, one line of token ids (or tokens) out per input line, no [CLS]/[SEP].
// Streams: memory stays flat on a multi-GB input and on a single very long line (TextSegmentReader cuts
// long lines where tokenization does not look across the cut).

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
        discussion: """
            Lines end at "\\n" only (a "\\r" or U+0085 inside a line is text). An empty line gives an empty line.
            Invalid UTF-8 is replaced as Python's errors="replace" would (one U+FFFD per maximal invalid
            subsequence, which BERT's cleaning then deletes); the count is reported on stderr.
            Tokenization is Hugging Face's BertTokenizerLegacy (google-research/bert's), exactly.
            """)

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
        let output = OutputBuffer(fd: STDOUT_FILENO, path: "<stdout>")
        let formatter = TokenFormatter(vocabulary: vocabulary, writeTokens: tokens)
        var ids: [Int32] = []
        ids.reserveCapacity(1 << 16)
        var bytesRead = 0, lines = 0, tokenCount = 0, forcedCuts = 0
        let started = Date()

        var lineStarted = false
        func tokenize(_ segment: TextSegmentReader.Segment) throws {
            ids.removeAll(keepingCapacity: true)
            tokenizer.encode(utf8: segment.bytes, appendingTo: &ids)
            formatter.write(ids, continuing: lineStarted, to: output)
            tokenCount += ids.count
            bytesRead += segment.bytes.count + (segment.endsLine ? 1 : 0)
            if segment.endsLine {
                output.append(0x0A)
                lines += 1
                lineStarted = false
            } else {
                lineStarted = lineStarted || !ids.isEmpty
            }
            try output.flushIfFull()
        }

        if input.isEmpty {
            let reader = TextSegmentReader(fileDescriptor: STDIN_FILENO, path: "<stdin>")
            while let segment = try reader.next() { try tokenize(segment) }
            forcedCuts = reader.forcedCuts
        } else {
            forcedCuts = try TextSegmentReader.forEachSegment(paths: input, tokenize)
        }
        try output.flush()
        if tokenizer.invalidUTF8Replacements > 0 {
            logger.warning("\(tokenizer.invalidUTF8Replacements) invalid UTF-8 sequence(s) replaced by U+FFFD (as Python's errors=\"replace\"), then deleted by BERT's cleaning")
        }
        if forcedCuts > 0 {
            logger.warning("\(forcedCuts) line segment(s) over 1 MiB had no whitespace or CJK character to cut at; tokens at those cuts may differ from the reference")
        }
        if benchmark {
            let seconds = Date().timeIntervalSince(started)
            logger.info("\(String(format: "%.1f", Double(bytesRead) / 1e6)) MB, \(lines) lines, \(tokenCount) tokens in \(String(format: "%.3f", seconds)) s: \(String(format: "%.2f", Double(bytesRead) / 1e6 / seconds)) MB/s")
        }
    }
}

/// Writes ids (decimal) or tokens, space-separated, into the output buffer without making Strings.
final class TokenFormatter {
    private let tokenBytes: [UInt8]      // every token's UTF-8, concatenated
    private let tokenStarts: [Int]       // [count + 1]
    private let writeTokens: Bool

    init(vocabulary: Vocabulary, writeTokens: Bool) {
        var bytes: [UInt8] = [], starts: [Int] = [0]
        if writeTokens {
            for token in vocabulary.tokens { bytes.append(contentsOf: token.utf8); starts.append(bytes.count) }
        }
        tokenBytes = bytes
        tokenStarts = starts
        self.writeTokens = writeTokens
    }

    func write(_ ids: [Int32], continuing: Bool, to output: OutputBuffer) {
        var first = !continuing
        for id in ids {
            if !first { output.append(0x20) }
            first = false
            if writeTokens {
                output.append(tokenBytes[tokenStarts[Int(id)]..<tokenStarts[Int(id) + 1]])
            } else {
                output.appendDecimal(Int(id))
            }
        }
    }
}

/// A 1 MiB output buffer over a file descriptor; every byte is written or an error is thrown.
final class OutputBuffer {
    private var bytes: [UInt8] = []
    private let fd: Int32
    private let path: String
    private static let limit = 1 << 20

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
        bytes.reserveCapacity(Self.limit + 4096)
    }

    @inline(__always) func append(_ b: UInt8) { bytes.append(b) }
    func append(_ s: ArraySlice<UInt8>) { bytes.append(contentsOf: s) }

    func appendDecimal(_ value: Int) {
        var v = value
        if v < 10 { bytes.append(UInt8(48 + v)); return }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while v > 0 { d[n] = UInt8(48 + v % 10); v /= 10; n += 1 }
            for k in stride(from: n - 1, through: 0, by: -1) { bytes.append(d[k]) }
        }
    }

    func flushIfFull() throws { if bytes.count >= Self.limit { try flush() } }

    func flush() throws {
        try bytes.withUnsafeBytes { try AtomicFile.writeAll(fd: fd, $0, path: path) }
        bytes.removeAll(keepingCapacity: true)
    }
}
