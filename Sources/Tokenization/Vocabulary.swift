// A WordPiece vocabulary in Google's vocab.txt format: one token per line, id = 0-based line number.
// Special tokens are looked up by name, never assumed at fixed ids (bert-base-uncased has
// [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103; ours puts them at 0–4).

import Foundation
import Storage

/// A problem with a vocabulary: the file (when there is one), the line, and what is wrong.
public struct VocabularyError: Error, CustomStringConvertible {
    public let path: String
    public let line: Int?
    public let reason: String
    public var description: String {
        if let line { return "\(path):\(line): \(reason)" }
        return "\(path): \(reason)"
    }
}

public final class Vocabulary {
    /// The special tokens, in the order our vocabulary builder writes them (ids 0–4).
    public static let specialTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

    /// Longest token accepted, in characters after a "##" prefix: ten times the longest WordPiece can match.
    public static let maxTokenCharacters = 10 * BertTokenizer.maxInputCharsPerWord

    /// Token strings by id.
    public let tokens: [String]
    public var count: Int { tokens.count }
    public let padId, unkId, clsId, sepId, maskId: Int32
    /// SHA-256 of the file's bytes when loaded from a file; of the tokens written as vocab.txt otherwise.
    public let sha256: String
    /// Where the vocabulary came from (a path, or "<memory>").
    public let source: String

    /// Every token → id, keyed by UTF-8 bytes (no String is made per lookup).
    let table: TokenTable
    /// Tokens that start with "##", keyed by what follows the "##" (the continuation lookups of WordPiece).
    let continuationTable: TokenTable
    /// Length in bytes of the longest token (and of the longest continuation without "##"): longer
    /// candidates cannot match, so WordPiece skips them.
    let longestToken: Int
    let longestContinuation: Int

    /// Loads vocab.txt. Lines end at "\n" (a "\r\n" file is accepted: the "\r" is dropped); a final newline is
    /// optional. An empty line, a duplicate token, invalid UTF-8 or a missing special token is an error naming the line.
    public convenience init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VocabularyError(path: path, line: nil, reason: "cannot read the vocabulary file")
        }
        var lines: [String] = []
        var lineNumber = 0
        var problem: VocabularyError?
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var start = 0
            while start < bytes.count && problem == nil {
                var end = start
                while end < bytes.count && bytes[end] != 0x0A { end += 1 }
                lineNumber += 1
                var last = end
                if last > start && bytes[last - 1] == 0x0D { last -= 1 }
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<last])
                guard let token = String(validating: slice, as: UTF8.self) else {
                    problem = VocabularyError(path: path, line: lineNumber, reason: "not valid UTF-8")
                    return
                }
                lines.append(token)
                start = end + 1
            }
        }
        if let problem { throw problem }
        try self.init(tokens: lines, source: path, sha256: SHA256.hex(data))
    }

    /// A vocabulary from token strings (id = index); the same checks as a file, lines counted from 1.
    public convenience init(tokens: [String]) throws {
        let text = tokens.map { $0 + "\n" }.joined()
        try self.init(tokens: tokens, source: "<memory>", sha256: SHA256.hex(Data(text.utf8)))
    }

    init(tokens: [String], source: String, sha256: String) throws {
        guard !tokens.isEmpty else { throw VocabularyError(path: source, line: nil, reason: "the vocabulary is empty") }
        guard tokens.count < Int(Int32.max) else { throw VocabularyError(path: source, line: nil, reason: "too many tokens") }
        var table = TokenTable(expectedCount: tokens.count)
        var continuation = TokenTable(expectedCount: tokens.count / 4)
        var longest = 0, longestContinuation = 0
        for (index, token) in tokens.enumerated() {
            if token.isEmpty {
                throw VocabularyError(path: source, line: index + 1, reason: "empty line (every line must hold one token)")
            }
            if token.utf8.contains(0x0A) || token.utf8.contains(0x0D) {
                throw VocabularyError(path: source, line: index + 1, reason: "token contains a line break")
            }
            // WordPiece never looks up a piece longer than a word it tokenizes (over 100 characters is [UNK]). HF's
            // WordPiece trainer still writes such tokens (Fixtures/golden-vocab.txt has some of 101-200), so they are
            // kept, unmatchable; ten times that is no vocabulary line but a damaged or wrong file.
            if token.utf8.count > Vocabulary.maxTokenCharacters {
                let characters = token.unicodeScalars.count - (token.hasPrefix("##") ? 2 : 0)
                if characters > Vocabulary.maxTokenCharacters {
                    throw VocabularyError(path: source, line: index + 1, reason: "token of \(characters) characters (\(token.utf8.count) bytes): no vocabulary token is longer than \(Vocabulary.maxTokenCharacters) characters (WordPiece matches at most \(BertTokenizer.maxInputCharsPerWord) after a \"##\"; longer words become [UNK]); is this a vocab.txt?")
                }
            }
            var utf8 = Array(token.utf8)
            let previous = utf8.withUnsafeBufferPointer { table.insert($0, id: Int32(index)) }
            if let previous {
                throw VocabularyError(path: source, line: index + 1,
                                      reason: "duplicate token \"\(token)\" (already on line \(previous + 1))")
            }
            longest = max(longest, utf8.count)
            if utf8.count > 2 && utf8[0] == 0x23 && utf8[1] == 0x23 {   // "##"
                utf8.removeFirst(2)
                _ = utf8.withUnsafeBufferPointer { continuation.insert($0, id: Int32(index)) }
                longestContinuation = max(longestContinuation, utf8.count)
            }
        }
        func special(_ name: String) throws -> Int32 {
            guard let id = Array(name.utf8).withUnsafeBufferPointer({ table.find($0) }) else {
                throw VocabularyError(path: source, line: nil,
                                      reason: "special token \(name) is missing (needed: \(Vocabulary.specialTokens.joined(separator: " ")))")
            }
            return id
        }
        self.tokens = tokens
        self.source = source
        self.sha256 = sha256
        self.table = table
        self.continuationTable = continuation
        self.longestToken = longest
        self.longestContinuation = longestContinuation
        padId = try special("[PAD]")
        unkId = try special("[UNK]")
        clsId = try special("[CLS]")
        sepId = try special("[SEP]")
        maskId = try special("[MASK]")
    }

    /// The id of `token`, or nil when it is not in the vocabulary.
    public func id(of token: String) -> Int32? {
        var token = token
        return token.withUTF8 { table.find($0) }
    }

    /// The token of `id`, or "[UNK]" for an id outside the vocabulary (as Hugging Face's tokenizer does).
    public func token(of id: Int32) -> String {
        id >= 0 && Int(id) < tokens.count ? tokens[Int(id)] : tokens[Int(unkId)]
    }

    /// The vocabulary as vocab.txt bytes (one token per line, each followed by "\n").
    public static func fileContents(_ tokens: [String]) -> Data {
        Data(tokens.map { $0 + "\n" }.joined().utf8)
    }
}

/// Open-addressing hash table from UTF-8 byte strings to ids. Keys live in one byte arena, so a lookup
/// hashes and compares the caller's bytes in place: no String, no allocation.
struct TokenTable {
    private var arena: [UInt8] = []
    private var starts: [Int32] = []
    private var lengths: [Int32] = []
    private var ids: [Int32] = []
    private var slots: [Int32]       // entry index, or -1 for empty
    private var mask: Int

    init(expectedCount: Int) {
        var capacity = 16
        while capacity < expectedCount * 2 { capacity <<= 1 }   // load factor ≤ 0.5
        slots = Array(repeating: -1, count: capacity)
        mask = capacity - 1
    }

    var count: Int { ids.count }

    /// FNV-1a over the bytes, then a final mix so that the low bits (the slot) depend on every byte.
    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<n { h = (h ^ UInt64(p[i])) &* 0x100_0000_01b3 }
        h ^= h >> 29
        return Int(truncatingIfNeeded: h)
    }

    /// Inserts `key` with `id`; returns the existing id instead if the key is already present.
    mutating func insert(_ key: UnsafeBufferPointer<UInt8>, id: Int32) -> Int32? {
        if let existing = find(key) { return existing }
        if (ids.count + 1) * 2 > slots.count { grow() }
        starts.append(Int32(arena.count))
        lengths.append(Int32(key.count))
        arena.append(contentsOf: key)
        ids.append(id)
        place(ids.count - 1)
        return nil
    }

    private mutating func place(_ entry: Int) {
        let start = Int(starts[entry])
        let h = arena.withUnsafeBufferPointer { TokenTable.hash($0.baseAddress! + start, Int(lengths[entry])) }
        var slot = h & mask
        while slots[slot] >= 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(entry)
    }

    private mutating func grow() {
        slots = Array(repeating: -1, count: slots.count * 2)
        mask = slots.count - 1
        for entry in 0..<ids.count { place(entry) }
    }

    func find(_ key: UnsafeBufferPointer<UInt8>) -> Int32? {
        guard let base = key.baseAddress else { return nil }   // no empty tokens are ever stored
        let id = find(base, key.count)
        return id >= 0 ? id : nil
    }

    /// Byte comparison in line: keys are a few bytes, where a call to libc memcmp cost more (6% of tokenizing).
    @inline(__always)
    static func equal(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        for i in 0..<n where a[i] != b[i] { return false }
        return true
    }

    /// The id of bytes p[0..<n], or -1.
    @inline(__always)
    func find(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int32 {
        var slot = TokenTable.hash(p, n) & mask
        return slots.withUnsafeBufferPointer { slots in
            arena.withUnsafeBufferPointer { arena in
                lengths.withUnsafeBufferPointer { lengths in
                    while true {
                        let entry = Int(slots[slot])
                        if entry < 0 { return -1 }
                        if Int(lengths[entry]) == n && TokenTable.equal(arena.baseAddress! + Int(starts[entry]), p, n) {
                            return ids[entry]
                        }
                        slot = (slot + 1) & mask
                    }
                }
            }
        }
    }
}
