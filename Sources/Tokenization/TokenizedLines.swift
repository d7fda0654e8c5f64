// `bert-corpus tokenize`'s work: text in, one line of token ids (or tokens) out per input line, no
// [CLS]/[SEP]. Streams: memory stays flat on a multi-GB input and on a single very long line
// (TextSegmentReader cuts long lines where tokenization does not look across the cut).

import Storage
#if canImport(Glibc)
import Glibc
#endif

/// What one run read and wrote.
public struct TokenizedLinesSummary {
    public var bytesRead = 0, lines = 0, tokens = 0
    /// Line segments over 1 MiB with no whitespace or CJK character to cut at.
    public var forcedCuts = 0
    /// Invalid UTF-8 sequences replaced by U+FFFD (then deleted by BERT's cleaning).
    public var invalidUTF8Replacements = 0
}

/// Tokenizes every line of `paths` (files or folders, gzip read transparently; standard input when
/// empty) and writes each line's ids or tokens, space-separated, as one line of `output`.
public func tokenizeLines(paths: [String], tokenizer: BertTokenizer, formatter: TokenFormatter,
                          to output: BufferedOutput) throws -> TokenizedLinesSummary {
    var summary = TokenizedLinesSummary()
    var ids: [Int32] = []
    ids.reserveCapacity(1 << 16)
    var lineStarted = false
    func tokenize(_ segment: TextSegmentReader.Segment) throws {
        ids.removeAll(keepingCapacity: true)
        tokenizer.encode(utf8: segment.bytes, appendingTo: &ids)
        try formatter.write(ids, continuing: lineStarted, to: output)
        summary.tokens += ids.count
        summary.bytesRead += segment.bytes.count + (segment.endsLine ? 1 : 0)
        if segment.endsLine {
            output.append(0x0A)
            summary.lines += 1
            lineStarted = false
        } else {
            lineStarted = lineStarted || !ids.isEmpty
        }
        try output.flushIfFull()
    }

    if paths.isEmpty {
        let reader = TextSegmentReader(fileDescriptor: STDIN_FILENO, path: "<stdin>")
        while let segment = try reader.next() { try tokenize(segment) }
        summary.forcedCuts = reader.forcedCuts
    } else {
        summary.forcedCuts = try TextSegmentReader.forEachSegment(paths: paths, tokenize)
    }
    try output.flush()
    summary.invalidUTF8Replacements = tokenizer.invalidUTF8Replacements
    return summary
}

/// Writes ids (decimal) or tokens, space-separated, into the output buffer without making Strings: every
/// id's text is prepared once, so writing a token is one copy (formatting digits per token cost ~14% of
/// the run time in a profile).
public struct TokenFormatter {
    private let text: [UInt8]        // every token's output text (decimal id or token), concatenated
    private let starts: [Int]        // [count + 1]
    /// Bytes reserved per id: any token up to this length is written without a further check.
    private let typical = 32

    public init(vocabulary: Vocabulary, writeTokens: Bool) {
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

    /// Appends `ids` (a space first when `continuing` a line already begun).
    public func write(_ ids: [Int32], continuing: Bool, to output: BufferedOutput) throws {
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
