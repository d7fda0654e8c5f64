// BERT's basic tokenization (text → words) exactly as Hugging Face's pure-Python BertTokenizerLegacy
// (transformers 5.x) does it, which is google-research/bert's tokenization.py plus whole special tokens:
//
//   1. cut the special tokens [PAD] [UNK] [CLS] [SEP] [MASK] (exact case) out of the raw text;
//   2. clean each remaining piece: delete U+0000, U+FFFD and category C* but tab/newline/CR;
//      whitespace (space, tab, newline, CR, Zs) becomes a space;
//   3. put spaces around CJK ideographs (8 blocks);
//   4. NFC-normalise, split like Python's str.split();
//   5. a word equal to a special token stays whole; otherwise, when lower-casing: str.lower(), NFD,
//      drop category Mn;
//   6. split every punctuation character off as its own word.
//
// Works on UTF-8 bytes. The input is cut at ASCII whitespace into chunks; nothing in steps 1–6 crosses
// an ASCII space, tab, newline or CR (they end a word before lower-casing and normalisation, and no
// special token contains one), so every chunk is processed on its own. A chunk of printable ASCII
// takes the fast path (lower-case + punctuation split over bytes); any other chunk is decoded to
// scalars and takes the full path.

/// Receives the words of basic tokenization as UTF-8 bytes (valid only during the call).
protocol WordSink {
    /// `special` is true for a special token kept whole (cut out of the text, or a word equal to one).
    mutating func word(_ bytes: UnsafeBufferPointer<UInt8>, special: Bool)
}

struct BasicTokenizer {
    let lowerCase: Bool
    private let properties = CharacterProperties.shared
    /// Special token spellings as scalars, for the full path.
    private static let specialScalars: [[UInt32]] = Vocabulary.specialTokens.map { $0.unicodeScalars.map(\.value) }

    /// Invalid UTF-8 sequences replaced (by U+FFFD, which cleaning then deletes) since creation.
    private(set) var replacements = 0

    // Scratch buffers of the full path, reused across calls (the hot path allocates nothing once warm).
    private var scalars: [UInt32] = []
    private var cleaned: [UInt32] = []
    private var normalized: [UInt32] = []
    private var lowered: [UInt32] = []
    private var stripped: [UInt32] = []
    private var scratch: [UInt32] = []
    private var wordBytes: [UInt8] = []
    private var asciiBytes: [UInt8] = []

    /// False sends every chunk through the full path (for testing that both paths agree).
    let asciiFastPath: Bool

    init(lowerCase: Bool, asciiFastPath: Bool = true) {
        self.lowerCase = lowerCase
        self.asciiFastPath = asciiFastPath
        asciiBytes.reserveCapacity(256)
    }

    /// Byte classes for the ASCII fast path.
    private static let asciiClass: [UInt8] = (0..<256).map { b -> UInt8 in
        switch b {
        case 0x20, 0x09, 0x0A, 0x0D: return 1                       // separator
        case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: return 2   // punctuation
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return 3        // letter or digit
        default: return 0                                           // control, DEL or non-ASCII: full path
        }
    }

    /// Tokenizes one text (a line, or a piece of one cut at ASCII whitespace) into words for `sink`.
    mutating func run<Sink: WordSink>(_ text: UnsafeBufferPointer<UInt8>, into sink: inout Sink) {
        guard let base = text.baseAddress else { return }
        let n = text.count
        Self.asciiClass.withUnsafeBufferPointer { cls in
            var i = 0
            while i < n {
                while i < n && cls[Int(base[i])] == 1 { i += 1 }
                if i == n { break }
                var j = i
                var plain = true
                while j < n {
                    let c = cls[Int(base[j])]
                    if c == 1 { break }
                    if c == 0 { plain = false }
                    j += 1
                }
                let chunk = UnsafeBufferPointer(start: base + i, count: j - i)
                if plain && asciiFastPath { asciiChunk(chunk, classes: cls, into: &sink) } else { fullChunk(chunk, into: &sink) }
                i = j
            }
        }
    }

    // MARK: Fast path: printable ASCII without spaces

    private mutating func asciiChunk<Sink: WordSink>(_ chunk: UnsafeBufferPointer<UInt8>, classes cls: UnsafeBufferPointer<UInt8>,
                                                     into sink: inout Sink) {
        let base = chunk.baseAddress!
        let n = chunk.count
        var i = 0
        var runStart = 0
        while i < n {
            let b = base[i]
            if cls[Int(b)] == 3 { i += 1; continue }
            // Punctuation: first a special token starting here?
            if b == 0x5B, let length = Self.specialTokenLength(base + i, n - i) {
                emitASCIIRun(base + runStart, i - runStart, into: &sink)
                sink.word(UnsafeBufferPointer(start: base + i, count: length), special: true)
                i += length
                runStart = i
                continue
            }
            emitASCIIRun(base + runStart, i - runStart, into: &sink)
            sink.word(UnsafeBufferPointer(start: base + i, count: 1), special: false)
            i += 1
            runStart = i
        }
        emitASCIIRun(base + runStart, n - runStart, into: &sink)
    }

    @inline(__always)
    private mutating func emitASCIIRun<Sink: WordSink>(_ p: UnsafePointer<UInt8>, _ n: Int, into sink: inout Sink) {
        guard n > 0 else { return }
        guard lowerCase else { sink.word(UnsafeBufferPointer(start: p, count: n), special: false); return }
        var hasUpper = false
        for k in 0..<n where p[k] &- 0x41 < 26 { hasUpper = true; break }
        guard hasUpper else { sink.word(UnsafeBufferPointer(start: p, count: n), special: false); return }
        asciiBytes.removeAll(keepingCapacity: true)
        for k in 0..<n { let b = p[k]; asciiBytes.append(b &- 0x41 < 26 ? b | 0x20 : b) }
        asciiBytes.withUnsafeBufferPointer { sink.word($0, special: false) }
    }

    /// The length of the special token starting at p ("[" already seen), or nil.
    @inline(__always)
    static func specialTokenLength(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int? {
        // [PAD] [UNK] [CLS] [SEP] are 5 bytes, [MASK] is 6.
        guard n >= 5 else { return nil }
        let a = p[1], b = p[2], c = p[3], d = p[4]
        if d == 0x5D {
            if (a == 0x50 && b == 0x41 && c == 0x44) || (a == 0x55 && b == 0x4E && c == 0x4B)
                || (a == 0x43 && b == 0x4C && c == 0x53) || (a == 0x53 && b == 0x45 && c == 0x50) { return 5 }
            return nil
        }
        if n >= 6 && a == 0x4D && b == 0x41 && c == 0x53 && d == 0x4B && p[5] == 0x5D { return 6 }
        return nil
    }

    // MARK: Full path: any Unicode

    private mutating func fullChunk<Sink: WordSink>(_ chunk: UnsafeBufferPointer<UInt8>, into sink: inout Sink) {
        scalars.removeAll(keepingCapacity: true)
        replacements += Self.decodeReplacingErrors(chunk, into: &scalars)
        // 1. Cut out special tokens (exact spelling in the raw text) and run the rest piece by piece.
        var pieceStart = 0
        var i = 0
        while i < scalars.count {
            if scalars[i] == 0x5B, let special = specialToken(at: i) {
                fullPiece(pieceStart..<i, into: &sink)
                emitSpecial(special, into: &sink)
                i += Self.specialScalars[special].count
                pieceStart = i
            } else {
                i += 1
            }
        }
        fullPiece(pieceStart..<scalars.count, into: &sink)
    }

    private func specialToken(at i: Int) -> Int? {
        for (k, token) in Self.specialScalars.enumerated() where i + token.count <= scalars.count {
            if scalars[i..<(i + token.count)].elementsEqual(token) { return k }
        }
        return nil
    }

    private mutating func emitSpecial<Sink: WordSink>(_ k: Int, into sink: inout Sink) {
        var token = Vocabulary.specialTokens[k]
        token.withUTF8 { sink.word($0, special: true) }
    }

    /// Steps 2–6 on scalars[range] (a piece with no special token in it).
    private mutating func fullPiece<Sink: WordSink>(_ range: Range<Int>, into sink: inout Sink) {
        guard !range.isEmpty else { return }
        // 2–3. Clean; spaces around CJK ideographs.
        cleaned.removeAll(keepingCapacity: true)
        for k in range {
            let cp = scalars[k]
            let f = properties.flags(cp)
            if cp == 0 || cp == 0xFFFD || f.contains(.control) { continue }
            if f.contains(.whitespace) {
                cleaned.append(0x20)
            } else if CharacterProperties.isCJKIdeograph(cp) {
                cleaned.append(0x20); cleaned.append(cp); cleaned.append(0x20)
            } else {
                cleaned.append(cp)
            }
        }
        // 4. NFC (per word: NFC never joins across a space), split on str.split() whitespace.
        var k = 0
        while k < cleaned.count {
            while k < cleaned.count && properties.flags(cleaned[k]).contains(.splitSpace) { k += 1 }
            var end = k
            var touchesNormalization = false
            while end < cleaned.count {
                let f = properties.flags(cleaned[end])
                if f.contains(.splitSpace) { break }
                if f.contains(.normalization) { touchesNormalization = true }
                end += 1
            }
            if k < end {
                if touchesNormalization {
                    normalized.removeAll(keepingCapacity: true)
                    properties.appendNFC(cleaned[k..<end], to: &normalized, scratch: &scratch)
                    // NFC cannot create whitespace in Unicode 14, but splitting again keeps the order of
                    // operations exactly the reference's whatever the tables say.
                    var a = 0
                    while a < normalized.count {
                        while a < normalized.count && properties.flags(normalized[a]).contains(.splitSpace) { a += 1 }
                        var b = a
                        while b < normalized.count && !properties.flags(normalized[b]).contains(.splitSpace) { b += 1 }
                        if a < b { let w = Array(normalized[a..<b]); word(w[...], into: &sink) }
                        a = b
                    }
                } else {
                    let w = cleaned[k..<end]
                    word(w, into: &sink)
                }
            }
            k = end
        }
    }

    /// Steps 5–6 on one whitespace-free NFC word.
    private mutating func word<Sink: WordSink>(_ w: ArraySlice<UInt32>, into sink: inout Sink) {
        if w.first == 0x5B, let k = Self.specialScalars.firstIndex(where: { $0.elementsEqual(w) }) {
            emitSpecial(k, into: &sink)
            return
        }
        guard lowerCase else { splitPunctuation(w, into: &sink); return }
        lowered.removeAll(keepingCapacity: true)
        properties.appendLowercased(w, to: &lowered)
        stripped.removeAll(keepingCapacity: true)
        if lowered.contains(where: { properties.flags($0).contains(.normalization) }) {
            scratch.removeAll(keepingCapacity: true)
            properties.appendNFD(lowered[...], to: &scratch)
            for cp in scratch where !properties.flags(cp).contains(.nonspacingMark) { stripped.append(cp) }
        } else {
            for cp in lowered where !properties.flags(cp).contains(.nonspacingMark) { stripped.append(cp) }
        }
        // The reference joins and re-splits on whitespace here; lower-casing never makes whitespace,
        // but split anyway so the order of operations is exactly the reference's.
        var a = 0
        let s = stripped
        while a < s.count {
            while a < s.count && properties.flags(s[a]).contains(.splitSpace) { a += 1 }
            var b = a
            while b < s.count && !properties.flags(s[b]).contains(.splitSpace) { b += 1 }
            if a < b { splitPunctuation(s[a..<b], into: &sink) }
            a = b
        }
    }

    /// Step 6: every punctuation character is a word of its own.
    private mutating func splitPunctuation<Sink: WordSink>(_ w: ArraySlice<UInt32>, into sink: inout Sink) {
        var runStart = w.startIndex
        for k in w.indices where properties.flags(w[k]).contains(.punctuation) {
            emitScalars(w[runStart..<k], into: &sink)
            emitScalars(w[k...k], into: &sink)
            runStart = k + 1
        }
        emitScalars(w[runStart..<w.endIndex], into: &sink)
    }

    private mutating func emitScalars<Sink: WordSink>(_ w: ArraySlice<UInt32>, into sink: inout Sink) {
        guard !w.isEmpty else { return }
        wordBytes.removeAll(keepingCapacity: true)
        for cp in w { Self.appendUTF8(cp, to: &wordBytes) }
        wordBytes.withUnsafeBufferPointer { sink.word($0, special: false) }
    }

    @inline(__always)
    static func appendUTF8(_ cp: UInt32, to bytes: inout [UInt8]) {
        switch cp {
        case 0..<0x80:
            bytes.append(UInt8(cp))
        case 0x80..<0x800:
            bytes.append(UInt8(0xC0 | cp >> 6)); bytes.append(UInt8(0x80 | cp & 0x3F))
        case 0x800..<0x10000:
            bytes.append(UInt8(0xE0 | cp >> 12)); bytes.append(UInt8(0x80 | (cp >> 6) & 0x3F))
            bytes.append(UInt8(0x80 | cp & 0x3F))
        default:
            bytes.append(UInt8(0xF0 | cp >> 18)); bytes.append(UInt8(0x80 | (cp >> 12) & 0x3F))
            bytes.append(UInt8(0x80 | (cp >> 6) & 0x3F)); bytes.append(UInt8(0x80 | cp & 0x3F))
        }
    }

    /// Decodes UTF-8, replacing each maximal invalid subsequence by one U+FFFD (Unicode's recommended
    /// practice, which is also what Python's `bytes.decode("utf-8", errors="replace")` does).
    /// Returns the number of replacements.
    static func decodeReplacingErrors(_ bytes: UnsafeBufferPointer<UInt8>, into output: inout [UInt32]) -> Int {
        var errors = 0
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        loop: while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): output.append(Unicode.UTF8.decode(encoded).value)
            case .error: output.append(0xFFFD); errors += 1
            case .emptyInput: break loop
            }
        }
        return errors
    }
}
