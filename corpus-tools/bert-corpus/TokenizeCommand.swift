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
        var output = OutputBuffer(fd: STDOUT_FILENO, path: "<stdout>")
        let formatter = TokenFormatter(vocabulary: vocabulary, writeTokens: tokens)
        var ids: [Int32] = []
        ids.reserveCapacity(1 << 16)
        var bytesRead = 0, lines = 0, tokenCount = 0, forcedCuts = 0
        let started = Date()

        var lineStarted = false
        func tokenize(_ segment: TextSegmentReader.Segment) throws {
            ids.removeAll(keepingCapacity: true)
            tokenizer.encode(utf8: segment.bytes, appendingTo: &ids)
            try formatter.write(ids, continuing: lineStarted, to: &output)
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
        output.release()
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

/// Writes ids (decimal) or tokens, space-separated, into the output buffer without making Strings: every
/// id's text is prepared once, so writing a token is one copy (formatting digits per token cost ~14% of
/// the run time in a profile).
struct TokenFormatter {
    private let text: [UInt8]        // every token's output text (decimal id or token), concatenated
    private let starts: [Int]        // [count + 1]
    /// Bytes reserved per id: any token up to this length is written without a further check.
    private let typical = 32

    init(vocabulary: Vocabulary, writeTokens: Bool) {
        var text: [UInt8] = [], starts: [Int] = [0]
        for (id, token) in vocabulary.tokens.enumerated() {
            text.append(contentsOf: writeTokens ? Array(token.utf8) : Array(String(id).utf8))
            starts.append(text.count)
        }
        self.text = text
        self.starts = starts
    }

    /// Ids per reservation and flush: the buffer holds a few chunks, not a whole segment's output (up to
    /// 1 MiB of ids), and is never sized by the vocabulary's longest token times the ids.
    static let chunk = 4096

    func write(_ ids: [Int32], continuing: Bool, to output: inout OutputBuffer) throws {
        var first = !continuing
        for chunkStart in stride(from: 0, to: ids.count, by: Self.chunk) {
            let chunkEnd = min(ids.count, chunkStart + Self.chunk)
            output.reserve((chunkEnd - chunkStart) * (typical + 1))
            text.withUnsafeBufferPointer { text in
                starts.withUnsafeBufferPointer { starts in
                    for (k, id) in ids[chunkStart..<chunkEnd].enumerated() {
                        let start = starts[Int(id)], length = starts[Int(id) + 1] - start
                        // A rare long token (a word of up to 100 characters): room for it and the rest of the chunk.
                        if length > typical { output.reserve(length + 1 + (chunkEnd - chunkStart - k - 1) * (typical + 1)) }
                        if !first { output.appendUnchecked(0x20) }
                        first = false
                        output.appendUnchecked(text.baseAddress! + start, length)
                    }
                }
            }
            try output.flushIfFull()
        }
    }
}

/// A growable output buffer over a file descriptor, flushed at 1 MiB; every byte is written or an error is
/// thrown. A struct with raw storage (not a class holding an Array): the hot loop then needs no dynamic
/// exclusivity checks or uniqueness tests, which took ~20% of the run time in a profile.
struct OutputBuffer {
    private var storage: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var count = 0
    private let fd: Int32
    private let path: String
    private static let flushAt = 1 << 20

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
        capacity = 2 * Self.flushAt
        storage = .allocate(capacity: capacity)
    }

    /// Makes room for `n` more bytes.
    mutating func reserve(_ n: Int) {
        guard count + n > capacity else { return }
        while count + n > capacity { capacity *= 2 }
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        grown.update(from: storage, count: count)
        storage.deallocate()
        storage = grown
    }

    @inline(__always) mutating func appendUnchecked(_ b: UInt8) {
        assert(count < capacity)
        storage[count] = b
        count += 1
    }

    @inline(__always) mutating func appendUnchecked(_ p: UnsafePointer<UInt8>, _ n: Int) {
        assert(count + n <= capacity)
        (storage + count).update(from: p, count: n)
        count += n
    }

    mutating func append(_ b: UInt8) { reserve(1); appendUnchecked(b) }

    mutating func flushIfFull() throws { if count >= Self.flushAt { try flush() } }

    mutating func flush() throws {
        try AtomicFile.writeAll(fd: fd, UnsafeRawBufferPointer(start: storage, count: count), path: path)
        count = 0
    }

    /// Releases the storage (call once, after the last flush).
    mutating func release() {
        storage.deallocate()
        capacity = 0
        count = 0
    }
}
