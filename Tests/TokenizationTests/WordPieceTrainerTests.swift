// The vocabulary builder: hand-computed merges, exact size, specials, determinism, no [UNK] on its own text.

import XCTest
@testable import Tokenization

final class WordPieceTrainerTests: XCTestCase {
    func train(_ lines: [String], size: Int, minFrequency: Int = 2, limitAlphabet: Int? = nil, lower: Bool = true) throws -> [String] {
        let trainer = WordPieceTrainer(lowerCase: lower)
        for line in lines { trainer.add(line) }
        return try trainer.train(vocabSize: size, minFrequency: minFrequency, limitAlphabet: limitAlphabet)
    }

    func testHandComputedMerges() throws {
        // Words: ab×3, ac×1. Alphabet a b c → 5 specials + a b c + ##a ##b ##c = 11 tokens.
        // Pairs: (a, ##b) 3, (a, ##c) 1 → first merge "ab", then "ac" (if min frequency allows).
        let specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        let base = specials + ["a", "b", "c", "##a", "##b", "##c"]
        XCTAssertEqual(try train(["ab ab", "AB ac"], size: 11), base)
        XCTAssertEqual(try train(["ab ab", "AB ac"], size: 12), base + ["ab"])
        XCTAssertEqual(try train(["ab ab", "AB ac"], size: 13, minFrequency: 1), base + ["ab", "ac"])
        XCTAssertEqual(try train(["ab ab", "AB ac"], size: 13, minFrequency: 2), base + ["ab", "[unused0]"])
        // Cased: "AB" keeps its own characters; alphabet by code point A B a b c; (a, ##b) 2 is the best pair.
        XCTAssertEqual(try train(["ab ab", "AB ac"], size: 16, lower: false),
                       specials + ["A", "B", "a", "b", "c", "##A", "##B", "##a", "##b", "##c", "ab"])
    }

    func testContinuationMergesAndTies() throws {
        // "abc"×2: pairs (a,##b) 2, (##b,##c) 2: tie → smaller ids first: a (5) < ##b → "ab"; then (ab, ##c) → "abc".
        let v = try train(["abc abc"], size: 13)
        XCTAssertEqual(Array(v.suffix(2)), ["ab", "abc"])
        // Ties between continuation pairs: "xbc ybc" → (##b, ##c) 2 beats (x, ##b) 1 and (y, ##b) 1: "##bc".
        let w = try train(["xbc ybc"], size: 5 + 8 + 1)
        XCTAssertEqual(w.last, "##bc")
    }

    func testSizeSpecialsDeterminismAndNoUnknown() throws {
        let text = [
            "The quick brown fox jumps over the lazy dog.", "Pack my box with five dozen liquor jugs!",
            "Ἐν ἀρχῇ ἦν ὁ λόγος, ΣΟΦΟΣ σοφός.", "北京是中国的首都。", "naïve café, résumé; Straße — İstanbul",
            "[MASK] stays whole and is not learned from", "emoji 😀👍🏽 and $100 ^_^",
        ]
        let lines = Array(repeating: text, count: 20).flatMap { $0 }
        let a = try train(lines, size: 300)
        XCTAssertEqual(a.count, 300)
        XCTAssertEqual(Array(a.prefix(5)), Vocabulary.specialTokens)
        XCTAssertEqual(Set(a).count, 300, "no duplicates")
        XCTAssertEqual(try train(lines.reversed(), size: 300), a, "same counts in another order: same vocabulary")
        let vocabulary = try Vocabulary(tokens: a)
        do {
            let lower = true
            let tokenizer = BertTokenizer(vocabulary: vocabulary, lowerCase: lower)
            for line in text {
                let tokens = tokenizer.tokenize(line)
                XCTAssertFalse(tokens.contains("[UNK]"), "\(line) → \(tokens)")
            }
            XCTAssertTrue(tokenizer.tokenize("[MASK]").elementsEqual(["[MASK]"]))
        }
        // Every alphabet character is there plain and with ##.
        for word in BertTokenizer(vocabulary: vocabulary).basicTokenize(text.joined(separator: " ")) where word != "[MASK]" {
            for ch in word.unicodeScalars {
                XCTAssertNotNil(vocabulary.id(of: String(ch)), "\(ch)")
                XCTAssertNotNil(vocabulary.id(of: "##" + String(ch)), "##\(ch)")
            }
        }
    }

    func testLimitAlphabetAndTooSmall() throws {
        // "aaa bb c": counts a 3, b 2, c 1; limit 2 keeps a, b; the word "c" is dropped.
        let v = try train(["aaa bb c"], size: 9, limitAlphabet: 2)
        XCTAssertEqual(v, Vocabulary.specialTokens + ["a", "b", "##a", "##b"])
        XCTAssertThrowsError(try train(["abc"], size: 8)) { error in
            XCTAssertTrue("\(error)".contains("need 11 tokens"), "\(error)")
        }
        XCTAssertEqual(try train([], size: 6), Vocabulary.specialTokens + ["[unused0]"])
    }
}
