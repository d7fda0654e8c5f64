// Learning a WordPiece vocabulary from a corpus (bert-corpus vocab), the way Hugging Face tokenizers'
// WordPieceTrainer does it: BPE-style merges where a piece that does not start a word carries "##".
//
//   1. Count the words of basic tokenization (the tokenizer's own BasicTokenizer, so the vocabulary
//      sees exactly what tokenization will see). Special tokens in the text are not counted; words over
//      100 code points are not counted (tokenization makes them [UNK] whatever the vocabulary).
//   2. Alphabet: every character of the counted words, or, with `limitAlphabet`, the most frequent ones
//      (ties: lower code point first). Words with a character outside the alphabet are dropped: they
//      would be [UNK] anyway.
//   3. Vocabulary so far: [PAD] [UNK] [CLS] [SEP] [MASK] (ids 0–4), every alphabet character (by code
//      point), then every alphabet character with "##" (same order). So any text made of alphabet
//      characters tokenizes without [UNK].
//   4. Each word is a sequence of symbols: its first character, then "##c" for every other character.
//      Repeatedly merge the adjacent pair with the highest count (summed over words, weighted by word
//      frequency; ties: the pair of older symbols first, i.e. smaller (left id, right id)), into a new
//      symbol "left" + "right" without its "##", until the vocabulary has `vocabSize` tokens, or no pair
//      occurs `minFrequency` times. Pair counts are updated incrementally from the words that contain the
//      merged pair (a word→pairs index), and a max-heap with lazy re-insertion picks the best pair.
//   5. If the merges run out first, the vocabulary is filled with [unused0], [unused1], … (Google's BERT
//      vocabularies reserve such slots too) so that it has exactly `vocabSize` lines.
// Deterministic: the result depends only on the word counts, never on hash or file-reading order.

import Foundation

public struct WordPieceTrainerError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

public final class WordPieceTrainer {
    public let lowerCase: Bool
    private var basic: BasicTokenizer
    private var wordIndex = TokenTable(expectedCount: 1 << 16)
    private var words: [[UInt8]] = []
    private var counts: [Int] = []
    /// Bytes given to `add` so far.
    public private(set) var bytesSeen = 0

    public init(lowerCase: Bool = true) {
        self.lowerCase = lowerCase
        basic = BasicTokenizer(lowerCase: lowerCase)
    }

    /// Distinct words counted so far.
    public var distinctWords: Int { words.count }
    /// Invalid UTF-8 sequences met so far (replaced, then deleted by cleaning, as in tokenization).
    public var invalidUTF8Replacements: Int { basic.replacements }

    /// Counts the words of `text` (a line, or a piece of one cut where TextSegmentReader cuts).
    public func add(utf8 text: UnsafeBufferPointer<UInt8>) {
        bytesSeen += text.count
        var sink = WordCallbackSink { [self] bytes, special in
            guard !special, bytes.count > 0 else { return }
            if bytes.count > BertTokenizer.maxInputCharsPerWord
                && WordPieceSink.codePoints(bytes.baseAddress!, bytes.count) > BertTokenizer.maxInputCharsPerWord { return }
            if let index = self.wordIndex.insert(bytes, id: Int32(self.words.count)) {
                self.counts[Int(index)] += 1
            } else {
                self.words.append(Array(bytes))
                self.counts.append(1)
            }
        }
        basic.run(text, into: &sink)
    }

    public func add(_ text: String) {
        var text = text
        text.withUTF8 { add(utf8: $0) }
    }

    /// Learns the vocabulary: exactly `vocabSize` tokens, specials at ids 0–4.
    /// `progress(merges done, merges wanted)` is called now and then.
    public func train(vocabSize: Int, minFrequency: Int = 2, limitAlphabet: Int? = nil,
                      progress: ((Int, Int) -> Void)? = nil) throws -> [String] {
        var (alphabet, decoded) = alphabet(limit: limitAlphabet)
        let minimum = Vocabulary.specialTokens.count + 2 * alphabet.count
        guard vocabSize >= minimum else {
            throw WordPieceTrainerError(reason: "--vocab-size \(vocabSize) is too small: the alphabet has \(alphabet.count) characters, "
                + "which with their ## forms and the 5 special tokens need \(minimum) tokens (use --limit-alphabet to keep fewer characters)")
        }
        var vocab = LearnedVocabulary(alphabet: alphabet)
        var merger = PairMerger(words: vocab.symbolSequences(decoded, counts: counts))
        decoded = []   // the merges hold the words as symbols only
        let wanted = vocabSize - vocab.tokens.count
        while vocab.tokens.count < vocabSize, let (a, b) = merger.bestPair(minFrequency: minFrequency) {
            let merged = vocab.add(vocab.tokens[Int(a)] + vocab.tokens[Int(b)].dropFirst(2))   // an existing token when another merge path already made this string
            merger.merge(a, b, into: merged)
            if merger.merges % 100 == 0 { progress?(vocab.tokens.count - (vocabSize - wanted), wanted) }
        }
        progress?(vocab.tokens.count - (vocabSize - wanted), wanted)
        vocab.fillWithUnused(upTo: vocabSize)
        return vocab.tokens
    }

    /// 2. The alphabet (sorted by code point) and every counted word as code points.
    private func alphabet(limit: Int?) -> (alphabet: [UInt32], decoded: [[UInt32]]) {
        var charCounts: [UInt32: Int] = [:]
        var decoded: [[UInt32]] = []
        decoded.reserveCapacity(words.count)
        for (w, bytes) in words.enumerated() {
            let scalars = String(decoding: bytes, as: UTF8.self).unicodeScalars.map(\.value)
            for cp in scalars { charCounts[cp, default: 0] += counts[w] }
            decoded.append(scalars)
        }
        var alphabet = charCounts.keys.sorted()
        if let limit, alphabet.count > limit {
            alphabet = Array(charCounts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .prefix(limit).map(\.key)).sorted()
        }
        return (alphabet, decoded)
    }
}

/// 3. The vocabulary being learned: specials, the alphabet, its "##" forms, then merged tokens.
private struct LearnedVocabulary {
    private(set) var tokens = Vocabulary.specialTokens
    private var idOf: [String: Int32] = [:]
    private var plainId: [UInt32: Int32] = [:], continuationId: [UInt32: Int32] = [:]

    init(alphabet: [UInt32]) {
        for s in tokens { idOf[s] = Int32(idOf.count) }
        for cp in alphabet { plainId[cp] = add(String(Unicode.Scalar(cp)!)) }
        for cp in alphabet { continuationId[cp] = add("##" + String(Unicode.Scalar(cp)!)) }
    }

    /// The id of `token`, added if new.
    mutating func add(_ token: String) -> Int32 {
        if let id = idOf[token] { return id }
        let id = Int32(tokens.count)
        tokens.append(token)
        idOf[token] = id
        return id
    }

    /// 4. Words as symbol sequences with their frequencies; words with characters outside the
    /// alphabet are dropped.
    func symbolSequences(_ decoded: [[UInt32]], counts: [Int]) -> [(symbols: [Int32], frequency: Int)] {
        var words: [(symbols: [Int32], frequency: Int)] = []
        for (w, scalars) in decoded.enumerated() {
            var seq: [Int32] = []
            seq.reserveCapacity(scalars.count)
            var ok = true
            for (k, cp) in scalars.enumerated() {
                guard let id = k == 0 ? plainId[cp] : continuationId[cp] else { ok = false; break }
                seq.append(id)
            }
            if ok && !seq.isEmpty { words.append((seq, counts[w])) }
        }
        return words
    }

    /// 5. [unused0], [unused1], … until there are `size` tokens.
    mutating func fillWithUnused(upTo size: Int) {
        var unused = 0
        while tokens.count < size {
            let token = "[unused\(unused)]"
            unused += 1
            if idOf[token] == nil { _ = add(token) }
        }
    }
}

/// 4. The merges: pair counts over the words (weighted by frequency), the words each pair occurs in,
/// and a max-heap with lazy re-insertion that yields the best pair.
private struct PairMerger {
    private var symbols: [[Int32]]
    private let frequency: [Int]
    private var pairCounts: [UInt64: Int] = [:]
    private var pairWords: [UInt64: [Int32]] = [:]
    private var heap = PairHeap()
    private var lastVisit: [Int]
    private(set) var merges = 0

    @inline(__always) private static func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }

    init(words: [(symbols: [Int32], frequency: Int)]) {
        symbols = words.map(\.symbols)
        frequency = words.map(\.frequency)
        lastVisit = [Int](repeating: -1, count: symbols.count)
        for (w, seq) in symbols.enumerated() where seq.count > 1 {
            for i in 0..<(seq.count - 1) {
                let k = Self.key(seq[i], seq[i + 1])
                pairCounts[k, default: 0] += frequency[w]
                if pairWords[k]?.last != Int32(w) { pairWords[k, default: []].append(Int32(w)) }
            }
        }
        for (k, c) in pairCounts { heap.push(count: c, pair: k) }
    }

    /// The pair with the highest count (ties: smaller (left, right)), or nil when none occurs
    /// `minFrequency` times.
    mutating func bestPair(minFrequency: Int) -> (Int32, Int32)? {
        while let top = heap.pop() {
            let current = pairCounts[top.pair] ?? 0
            if current != top.count {   // stale entry: put it back with its real count
                if current > 0 { heap.push(count: current, pair: top.pair) }
                continue
            }
            if current < max(minFrequency, 1) { return nil }
            return (Int32(truncatingIfNeeded: top.pair >> 32), Int32(truncatingIfNeeded: top.pair & 0xFFFF_FFFF))
        }
        return nil
    }

    /// Replaces every (a, b) by `c` in the words holding the pair and updates the counts incrementally.
    mutating func merge(_ a: Int32, _ b: Int32, into c: Int32) {
        let pair = Self.key(a, b)
        merges += 1
        var increased: Set<UInt64> = []
        for w32 in pairWords[pair] ?? [] {
            let w = Int(w32)
            if lastVisit[w] == merges { continue }
            lastVisit[w] = merges
            let old = symbols[w]
            guard old.count > 1 else { continue }
            var new: [Int32] = []
            new.reserveCapacity(old.count)
            var i = 0
            var changed = false
            while i < old.count {
                if i + 1 < old.count && old[i] == a && old[i + 1] == b {
                    new.append(c); i += 2; changed = true
                } else {
                    new.append(old[i]); i += 1
                }
            }
            guard changed else { continue }
            let f = frequency[w]
            for i in 0..<(old.count - 1) {
                let k = Self.key(old[i], old[i + 1])
                let left = pairCounts[k]! - f
                if left == 0 { pairCounts[k] = nil } else { pairCounts[k] = left }
            }
            if new.count > 1 {
                for i in 0..<(new.count - 1) {
                    let k = Self.key(new[i], new[i + 1])
                    pairCounts[k, default: 0] += f
                    if new[i] == c || new[i + 1] == c {
                        increased.insert(k)
                        if pairWords[k]?.last != w32 { pairWords[k, default: []].append(w32) }
                    }
                }
            }
            symbols[w] = new
        }
        pairWords[pair] = nil
        for k in increased { if let n = pairCounts[k] { heap.push(count: n, pair: k) } }
    }
}

/// Max-heap of (count, pair): higher count first; equal counts: smaller pair (older symbols) first.
struct PairHeap {
    private var items: [(count: Int, pair: UInt64)] = []

    @inline(__always) private static func before(_ x: (count: Int, pair: UInt64), _ y: (count: Int, pair: UInt64)) -> Bool {
        x.count != y.count ? x.count > y.count : x.pair < y.pair
    }

    mutating func push(count: Int, pair: UInt64) {
        items.append((count, pair))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.before(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (count: Int, pair: UInt64)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < items.count && Self.before(items[l], items[best]) { best = l }
                if r < items.count && Self.before(items[r], items[best]) { best = r }
                if best == i { break }
                items.swapAt(i, best)
                i = best
            }
        }
        return top
    }
}
