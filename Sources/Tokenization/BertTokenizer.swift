// BERT tokenization: basic tokenization (BasicTokenizer.swift), then WordPiece on every word:
// a word of more than 100 code points is [UNK]; otherwise greedy longest-match-first from the left,
// pieces after the first looked up with the "##" prefix; if some part cannot be matched, the whole
// word is one [UNK]. Same as Hugging Face's WordpieceTokenizer (max_input_chars_per_word = 100).
//
// Thread safety: a Vocabulary is immutable and can be shared; a BertTokenizer holds scratch buffers,
// so use one per thread (MPI ranks are processes, each builds its own). There is no global mutable state.

public final class BertTokenizer {
    public let vocabulary: Vocabulary
    public let lowerCase: Bool
    /// Words longer than this many code points become [UNK] (Hugging Face's max_input_chars_per_word).
    public static let maxInputCharsPerWord = 100

    private var basic: BasicTokenizer

    public init(vocabulary: Vocabulary, lowerCase: Bool = true) {
        self.vocabulary = vocabulary
        self.lowerCase = lowerCase
        self.basic = BasicTokenizer(lowerCase: lowerCase)
    }

    /// With `asciiFastPath` false, printable-ASCII words take the general Unicode path too (tests compare both).
    init(vocabulary: Vocabulary, lowerCase: Bool, asciiFastPath: Bool) {
        self.vocabulary = vocabulary
        self.lowerCase = lowerCase
        self.basic = BasicTokenizer(lowerCase: lowerCase, asciiFastPath: asciiFastPath)
    }

    /// Invalid UTF-8 sequences met so far (each replaced by U+FFFD, which the cleaning step deletes).
    public var invalidUTF8Replacements: Int { basic.replacements }

    /// WordPiece tokens of `text`, no [CLS]/[SEP].
    public func tokenize(_ text: String) -> [String] {
        encode(text).map { vocabulary.tokens[Int($0)] }
    }

    /// Token ids of `text`, no [CLS]/[SEP].
    public func encode(_ text: String) -> [Int32] {
        var text = text
        var result: [Int32] = []
        text.withUTF8 { encode(utf8: $0, appendingTo: &result) }
        return result
    }

    /// Appends the ids of UTF-8 `bytes` (invalid sequences replaced as Python's errors="replace" would) to `ids`.
    /// A long text may be given in pieces cut at ASCII whitespace (space, tab, newline, CR), or where
    /// TextSegmentReader cuts: the result is the same.
    public func encode(utf8 bytes: UnsafeBufferPointer<UInt8>, appendingTo ids: inout [Int32]) {
        var sink = WordPieceSink(vocabulary: vocabulary, ids: ids)
        ids = []   // the sink now holds the only reference: appending does not copy
        basic.run(bytes, into: &sink)
        ids = sink.ids
    }

    /// The words of basic tokenization (before WordPiece), for tests and inspection.
    public func basicTokenize(_ text: String) -> [String] {
        var text = text
        var sink = StringCollector()
        text.withUTF8 { basic.run($0, into: &sink) }
        return sink.words
    }

    /// Text from ids: tokens joined by spaces, "##" pieces glued to the piece before (Hugging Face's
    /// convert_tokens_to_string). Ids outside the vocabulary read as [UNK].
    public func decode(_ ids: [Int32]) -> String {
        var out = ""
        for id in ids {
            let token = vocabulary.token(of: id)
            if token.hasPrefix("##") && !out.isEmpty {
                out += token.dropFirst(2)
            } else {
                if !out.isEmpty { out += " " }
                out += token
            }
        }
        return out
    }
}

/// Calls `body` with every word of basic tokenization (UTF-8 bytes, valid during the call) and whether it is a
/// special token kept whole. Used by the vocabulary builder, so it sees exactly the tokenizer's words.
struct WordCallbackSink: WordSink {
    let body: (UnsafeBufferPointer<UInt8>, Bool) -> Void
    mutating func word(_ bytes: UnsafeBufferPointer<UInt8>, special: Bool) { body(bytes, special) }
}

struct StringCollector: WordSink {
    var words: [String] = []
    mutating func word(_ bytes: UnsafeBufferPointer<UInt8>, special: Bool) {
        words.append(String(decoding: bytes, as: UTF8.self))
    }
}

/// WordPiece over each word's bytes; appends ids.
struct WordPieceSink: WordSink {
    let vocabulary: Vocabulary
    var ids: [Int32]
    private let unk: Int32
    private let longest: Int
    private let longestContinuation: Int

    init(vocabulary: Vocabulary, ids: [Int32]) {
        self.vocabulary = vocabulary
        self.ids = ids
        unk = vocabulary.unkId
        longest = vocabulary.longestToken
        longestContinuation = vocabulary.longestContinuation
    }

    mutating func word(_ bytes: UnsafeBufferPointer<UInt8>, special: Bool) {
        let p = bytes.baseAddress!
        let n = bytes.count
        // Whole-word hit first: the common case for frequent words.
        if n <= longest {
            let whole = vocabulary.table.find(p, n)
            if whole >= 0 {
                // Over-long words are [UNK] even when in the vocabulary (the reference checks length first).
                if n <= BertTokenizer.maxInputCharsPerWord || Self.codePoints(p, n) <= BertTokenizer.maxInputCharsPerWord {
                    ids.append(whole)
                } else {
                    ids.append(unk)
                }
                return
            }
        }
        if n > BertTokenizer.maxInputCharsPerWord && Self.codePoints(p, n) > BertTokenizer.maxInputCharsPerWord {
            ids.append(unk)
            return
        }
        let mark = ids.count
        var start = 0
        while start < n {
            let table = start == 0 ? vocabulary.table : vocabulary.continuationTable
            let limit = start == 0 ? longest : longestContinuation
            var end = min(n, start + limit)
            // Candidates end on code point boundaries (never before a UTF-8 continuation byte).
            while end < n && p[end] & 0xC0 == 0x80 { end -= 1 }
            var found: Int32 = -1
            while end > start {
                found = table.find(p + start, end - start)
                if found >= 0 { break }
                end -= 1
                while end > start && p[end] & 0xC0 == 0x80 { end -= 1 }
            }
            if found < 0 {
                ids.removeSubrange(mark...)
                ids.append(unk)
                return
            }
            ids.append(found)
            start = end
        }
    }

    @inline(__always)
    static func codePoints(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
        var count = 0
        for i in 0..<n where p[i] & 0xC0 != 0x80 { count += 1 }
        return count
    }
}
