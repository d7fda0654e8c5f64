// The character properties the BERT tokenizer needs, exactly as Python 3.11's `unicodedata` and
// `str.lower()` define them (Unicode 14.0.0), from the generated UnicodeTables.swift. Swift's own
// `Unicode.Scalar.Properties` follow the newer Unicode of the Swift runtime; using them would make
// us differ from the reference on characters whose properties changed, so we do not.

import Foundation

/// Per-code-point flags (one byte each, see make_unicode_tables.py).
struct CharacterFlags: OptionSet {
    let rawValue: UInt8
    /// Category C* other than tab, newline, CR: deleted by the cleaning step.
    static let control = CharacterFlags(rawValue: 1 << 0)
    /// Space, tab, newline, CR or category Zs: becomes a space in the cleaning step.
    static let whitespace = CharacterFlags(rawValue: 1 << 1)
    /// ASCII 33–47, 58–64, 91–96, 123–126 or category P*: split off as its own token.
    static let punctuation = CharacterFlags(rawValue: 1 << 2)
    /// Category Mn: removed after NFD when lower-casing.
    static let nonspacingMark = CharacterFlags(rawValue: 1 << 3)
    /// Python `str.isspace()`: where `str.split()` splits.
    static let splitSpace = CharacterFlags(rawValue: 1 << 4)
    /// Case-ignorable, as CPython's Final_Sigma rule sees it.
    static let caseIgnorable = CharacterFlags(rawValue: 1 << 5)
    /// Cased (and not case-ignorable), as CPython's Final_Sigma rule sees it.
    static let cased = CharacterFlags(rawValue: 1 << 6)
    /// Takes part in normalisation (non-zero combining class, a canonical decomposition, or the second of a
    /// composition pair). A word with no such character is unchanged by NFC and NFD.
    static let normalization = CharacterFlags(rawValue: 1 << 7)
}

/// The decoded tables; built once per process (a `static let` is initialised thread-safely) and read-only after.
final class CharacterProperties {
    static let shared = CharacterProperties()

    private let index: [UInt16]     // [0x1100]   code point >> 8 → block
    private let blocks: [UInt8]     // [blocks × 256]
    private let lowercase: [UInt32: [UInt32]]
    private let combining: [UInt32: UInt8]
    private let decompositions: [UInt32: [UInt32]]
    private let compositions: [UInt64: UInt32]

    private init() {
        let indexBytes = Data(base64Encoded: UnicodeTables.flagIndexBase64, options: .ignoreUnknownCharacters)!
        index = stride(from: 0, to: indexBytes.count, by: 2).map {
            UInt16(indexBytes[indexBytes.startIndex + $0]) | UInt16(indexBytes[indexBytes.startIndex + $0 + 1]) << 8
        }
        blocks = [UInt8](Data(base64Encoded: UnicodeTables.flagBlocksBase64, options: .ignoreUnknownCharacters)!)
        precondition(index.count == 0x1100 && blocks.count % 256 == 0, "corrupt generated Unicode tables")

        func entries(_ text: String) -> [(String, String)] {
            text.split(whereSeparator: { $0 == ";" || $0 == "\n" }).map { entry in
                let parts = entry.split(separator: ":", maxSplits: 1)
                return (String(parts[0]), String(parts[1]))
            }
        }
        func scalars(_ hex: String) -> [UInt32] { hex.split(separator: " ").map { UInt32($0, radix: 16)! } }
        // The generated data wraps at 120 characters, so rejoin lines before splitting into entries.
        func unwrap(_ s: String) -> String { s.replacingOccurrences(of: "\n", with: "") }

        var lower: [UInt32: [UInt32]] = [:]
        for (cp, mapped) in entries(unwrap(UnicodeTables.lowercase)) { lower[UInt32(cp, radix: 16)!] = scalars(mapped) }
        lowercase = lower
        var ccc: [UInt32: UInt8] = [:]
        for (cp, cls) in entries(unwrap(UnicodeTables.combiningClass)) { ccc[UInt32(cp, radix: 16)!] = UInt8(cls, radix: 16)! }
        combining = ccc
        var decomp: [UInt32: [UInt32]] = [:]
        for (cp, mapped) in entries(unwrap(UnicodeTables.decomposition)) { decomp[UInt32(cp, radix: 16)!] = scalars(mapped) }
        decompositions = decomp
        var comp: [UInt64: UInt32] = [:]
        for (pair, composite) in entries(unwrap(UnicodeTables.composition)) {
            let ab = scalars(pair)
            comp[UInt64(ab[0]) << 32 | UInt64(ab[1])] = UInt32(composite, radix: 16)!
        }
        compositions = comp
    }

    @inline(__always)
    func flags(_ cp: UInt32) -> CharacterFlags {
        guard cp < 0x110000 else { return .control }
        return CharacterFlags(rawValue: blocks[Int(index[Int(cp >> 8)]) << 8 | Int(cp & 0xFF)])
    }

    /// The 8 CJK ideograph blocks of google-research/bert's `_is_chinese_char` (not all of CJK: no kana, no Hangul).
    @inline(__always)
    static func isCJKIdeograph(_ cp: UInt32) -> Bool {
        (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
            || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF)
            || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F)
    }

    // MARK: Lower-casing (Python str.lower)

    /// Appends Python's `word.lower()` to `output`: full case mappings (İ → i + U+0307) and the Final_Sigma
    /// rule for U+03A3 (the only context-dependent mapping CPython applies).
    func appendLowercased(_ word: ArraySlice<UInt32>, to output: inout [UInt32]) {
        for i in word.indices {
            let cp = word[i]
            if cp < 0x80 {
                output.append(cp >= 0x41 && cp <= 0x5A ? cp + 32 : cp)
            } else if cp == 0x3A3 {
                output.append(isFinalSigma(word, at: i) ? 0x3C2 : 0x3C3)
            } else if let mapped = lowercase[cp] {
                output.append(contentsOf: mapped)
            } else {
                output.append(cp)
            }
        }
    }

    /// CPython's handle_capital_sigma: cased, case-ignorable*, Σ, not followed by case-ignorable* cased.
    private func isFinalSigma(_ word: ArraySlice<UInt32>, at i: Int) -> Bool {
        var j = i - 1
        while j >= word.startIndex && flags(word[j]).contains(.caseIgnorable) { j -= 1 }
        guard j >= word.startIndex && flags(word[j]).contains(.cased) else { return false }
        var k = i + 1
        while k < word.endIndex && flags(word[k]).contains(.caseIgnorable) { k += 1 }
        return k == word.endIndex || !flags(word[k]).contains(.cased)
    }

    // MARK: Normalisation (UAX #15)

    @inline(__always)
    func combiningClass(_ cp: UInt32) -> UInt8 {
        cp < 0x300 ? 0 : (combining[cp] ?? 0)
    }

    /// Appends the NFD of `word` to `output` (full canonical decomposition, then canonical ordering).
    func appendNFD(_ word: ArraySlice<UInt32>, to output: inout [UInt32]) {
        let start = output.count
        for cp in word {
            if cp >= 0xAC00 && cp <= 0xD7A3 {   // Hangul syllable: L V (T)
                let s = cp - 0xAC00
                output.append(0x1100 + s / 588)
                output.append(0x1161 + (s % 588) / 28)
                if s % 28 != 0 { output.append(0x11A7 + s % 28) }
            } else if cp >= 0xC0, let d = decompositions[cp] {
                output.append(contentsOf: d)
            } else {
                output.append(cp)
            }
        }
        // Canonical ordering: stable insertion sort of each run of non-starters by combining class.
        var i = start + 1
        while i < output.count {
            let cc = combiningClass(output[i])
            if cc != 0 {
                var j = i
                while j > start {
                    let prev = combiningClass(output[j - 1])
                    if prev <= cc { break }
                    output.swapAt(j, j - 1)
                    j -= 1
                }
            }
            i += 1
        }
    }

    /// Appends the NFC of `word` to `output` (NFD, then canonical composition), using `scratch` for the NFD.
    func appendNFC(_ word: ArraySlice<UInt32>, to output: inout [UInt32], scratch: inout [UInt32]) {
        scratch.removeAll(keepingCapacity: true)
        appendNFD(word, to: &scratch)
        var starter = -1          // index in output of the last starter, if composition may still reach it
        var lastClass: UInt8 = 0  // combining class of the last character appended
        for cp in scratch {
            let cc = combiningClass(cp)
            if starter >= 0 {
                let adjacent = output.count - 1 == starter
                if adjacent || (lastClass != 0 && lastClass < cc), let composite = compose(output[starter], cp) {
                    output[starter] = composite
                    continue
                }
            }
            if cc == 0 { starter = output.count }
            lastClass = cc
            output.append(cp)
        }
    }

    private func compose(_ a: UInt32, _ b: UInt32) -> UInt32? {
        if a >= 0x1100 && a <= 0x1112 && b >= 0x1161 && b <= 0x1175 {   // Hangul L + V
            return 0xAC00 + ((a - 0x1100) * 21 + (b - 0x1161)) * 28
        }
        if a >= 0xAC00 && a <= 0xD7A3 && (a - 0xAC00) % 28 == 0 && b >= 0x11A8 && b <= 0x11C2 {   // LV + T
            return a + (b - 0x11A7)
        }
        return compositions[UInt64(a) << 32 | UInt64(b)]
    }
}
