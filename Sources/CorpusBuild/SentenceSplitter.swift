// Rule-based sentence splitting for prose inputs (the `text`, `jsonl` and `wikiextractor` formats).
// BERT's next-sentence task only needs plausible boundaries; these rules are simple, deterministic
// and documented, not a trained model.
//
// A sentence ends after a run of terminators — . ! ? … (any mix: "?!", "...", "!!!") — plus any
// closing quotes or brackets (" ' ” ’ » ) ] }) when
//   1. the text ends there, or
//   2. whitespace follows and the next sentence starts with something other than a lower-case
//      letter: an upper-case or uncased letter, a digit, an opening quote or bracket, a symbol.
//      (So "etc. and", "e.g. the", "and... then" do not break; "Wait... What?" does.)
// A full-stop run of one "." does NOT end a sentence when the word before it is
//   - a title or reference abbreviation (case-insensitive): Mr Mrs Ms Dr Prof Sr Jr St Mt Messrs
//     Mme Mlle Gen Col Capt Lt Sgt Maj Adm Rev Hon Gov Sen Rep Pres No Nos Vol Vols Fig Figs Eq
//     Ref Refs Ch Sec pp vs cf approx ca viz al ("Dr. Who", "Fig. 3", "et al. Smith");
//   - a single letter: initials ("J. R. R. Tolkien", "John F. Kennedy");
//   - a dotted abbreviation: letters with inner full stops ("e.g.", "i.e.", "U.S.", "a.m.").
//     Cost: "... in the U.S. The next day" stays one sentence.
// Full stops inside a token never split: decimals ("3.14"), "example.com", "U.S.A".
// The CJK terminators 。！？ end a sentence even without whitespace after them.
// Sentences are trimmed; text without any boundary is one sentence; whitespace-only text gives none.

public struct SentenceSplitter {
    /// Words (lower-cased, without the full stop) after which "." does not end a sentence.
    public var abbreviations: Set<String> {
        didSet { longestAbbreviation = abbreviations.map(\.unicodeScalars.count).max() ?? 0 }
    }
    private var longestAbbreviation: Int

    public static let defaultAbbreviations: Set<String> = [
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "messrs", "mme", "mlle",
        "gen", "col", "capt", "lt", "sgt", "maj", "adm", "rev", "hon", "gov", "sen", "rep", "pres",
        "no", "nos", "vol", "vols", "fig", "figs", "eq", "ref", "refs", "ch", "sec", "pp",
        "vs", "cf", "approx", "ca", "viz", "al",
    ]

    public init(abbreviations: Set<String> = SentenceSplitter.defaultAbbreviations) {
        self.abbreviations = abbreviations
        longestAbbreviation = abbreviations.map(\.unicodeScalars.count).max() ?? 0
    }

    /// The sentences of one paragraph (line breaks inside it count as spaces).
    public func split(_ paragraph: String) -> [String] {
        let view = paragraph.unicodeScalars
        let s = Array(view)
        // String index of each scalar (and of the end), so a sentence is one slice of the paragraph's
        // storage rather than a String rebuilt scalar by scalar (which profiled at 3x slower).
        var offsets = Array(view.indices)
        offsets.append(view.endIndex)
        var sentences: [String] = []
        var start = 0
        var i = 0
        func emit(_ end: Int) {
            var a = start, b = end
            while a < b && Self.isSpace(s[a]) { a += 1 }
            while b > a && Self.isSpace(s[b - 1]) { b -= 1 }
            if a < b { sentences.append(String(view[offsets[a]..<offsets[b]])) }
            start = end
        }
        while i < s.count {
            guard Self.isTerminator(s[i]) else { i += 1; continue }
            let runStart = i
            while i < s.count && Self.isTerminator(s[i]) { i += 1 }
            let runEnd = i
            while i < s.count && Self.isClosing(s[i]) { i += 1 }
            let end = i
            if end == s.count { break }
            if (runStart..<runEnd).contains(where: { Self.isCJKTerminator(s[$0]) }) && !Self.isSpace(s[end]) {
                emit(end)
                continue
            }
            guard Self.isSpace(s[end]) else { continue }
            var next = end
            while next < s.count && Self.isSpace(s[next]) { next += 1 }
            if next == s.count { break }
            if Self.isLowercase(s[next]) { continue }
            if runEnd - runStart == 1 && s[runStart] == "." && isAbbreviation(s, before: runStart) { continue }
            emit(end)
        }
        emit(s.count)
        return sentences
    }

    /// Whether the word ending at `dot` (exclusive) is an abbreviation, an initial or a dotted abbreviation.
    private func isAbbreviation(_ s: [Unicode.Scalar], before dot: Int) -> Bool {
        var a = dot
        while a > 0 && !Self.isSpace(s[a - 1]) { a -= 1 }
        // Drop opening quotes and brackets: "(Dr." -> "Dr".
        while a < dot && (Self.isOpening(s[a]) || Self.isClosing(s[a])) { a += 1 }
        let length = dot - a
        guard length > 0 else { return false }
        if length == 1 { return s[a].properties.isAlphabetic }
        if s[a..<dot].contains(".") {
            // Dotted abbreviation: single letters separated by full stops ("e.g", "U.S", "a.m"):
            // odd length, letters at even offsets, full stops at odd ones.
            return length % 2 == 1 && (0..<length).allSatisfy { k in
                k % 2 == 0 ? s[a + k].properties.isAlphabetic : s[a + k] == "."
            }
        }
        guard length <= longestAbbreviation else { return false }
        var text = String.UnicodeScalarView()
        for scalar in s[a..<dot] { text.append(scalar) }
        return abbreviations.contains(String(text).lowercased())
    }

    static func isTerminator(_ c: Unicode.Scalar) -> Bool {
        c == "." || c == "!" || c == "?" || c == "\u{2026}" || isCJKTerminator(c)
    }

    static func isCJKTerminator(_ c: Unicode.Scalar) -> Bool {
        c == "\u{3002}" || c == "\u{FF01}" || c == "\u{FF1F}"
    }

    static func isClosing(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "\"", "'", "\u{201D}", "\u{2019}", "\u{00BB}", "\u{203A}", ")", "]", "}", "\u{300D}", "\u{300F}": return true
        default: return false
        }
    }

    static func isOpening(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "\"", "'", "\u{201C}", "\u{2018}", "\u{00AB}", "\u{2039}", "(", "[", "{", "\u{300C}", "\u{300E}": return true
        default: return false
        }
    }

    /// Python's str.isspace(): Unicode White_Space plus the separators U+001C…U+001F.
    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        // ASCII answered directly: the Unicode property lookup dominated the profile of prose input.
        if c.value < 0x80 { return c.value == 0x20 || (0x09...0x0D).contains(c.value) || (0x1C...0x1F).contains(c.value) }
        return c.properties.isWhitespace
    }

    static func isLowercase(_ c: Unicode.Scalar) -> Bool {
        if c.value < 0x80 { return (0x61...0x7A).contains(c.value) }
        return c.properties.isLowercase
    }
}
