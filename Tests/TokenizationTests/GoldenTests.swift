// Token-for-token agreement with the Python reference (transformers 5.23 BertTokenizerLegacy) on ~500
// varied lines, both lower-casing modes. Fixtures/make_golden.py made golden.jsonl and golden-vocab.txt.

import Foundation
import XCTest
@testable import Tokenization

final class GoldenTests: XCTestCase {
    static func fixture(_ name: String) -> String {
        Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil)!.path
    }

    struct Case: Decodable { let text: String; let lower: [Int32]; let cased: [Int32] }

    static func cases() throws -> [Case] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture("golden.jsonl")))
        return try data.split(separator: 0x0A).map { try JSONDecoder().decode(Case.self, from: Data($0)) }
    }

    func testMatchesPythonReferenceTokenForToken() throws {
        let vocabulary = try Vocabulary(path: Self.fixture("golden-vocab.txt"))
        XCTAssertEqual(vocabulary.count, 5000)
        let cases = try Self.cases()
        XCTAssertGreaterThan(cases.count, 400)
        for lowerCase in [true, false] {
            let tokenizer = BertTokenizer(vocabulary: vocabulary, lowerCase: lowerCase)
            var mismatches = 0
            for (n, c) in cases.enumerated() {
                let expected = lowerCase ? c.lower : c.cased
                let found = tokenizer.encode(c.text)
                if found != expected {
                    mismatches += 1
                    if mismatches <= 10 {
                        XCTFail("""
                            line \(n + 1) lowerCase=\(lowerCase) \(c.text.debugDescription)
                              basic:    \(tokenizer.basicTokenize(c.text))
                              expected: \(expected.map { vocabulary.tokens[Int($0)] })
                              found:    \(found.map { vocabulary.tokens[Int($0)] })
                            """)
                    }
                }
            }
            XCTAssertEqual(mismatches, 0, "lowerCase=\(lowerCase): \(mismatches) of \(cases.count) lines differ")
        }
    }

    func testASCIIFastPathAgreesWithTheFullPath() throws {
        let vocabulary = try Vocabulary(path: Self.fixture("golden-vocab.txt"))
        var ascii = try Self.cases().map(\.text).filter { $0.utf8.allSatisfy { $0 < 0x80 } }
        ascii += ["[MASK]x[CLS][[SEP]]", "A.B,C;D!E?F-G_H=I+J*K&L^M%N$O#P@Q~R`S|T\\U/V<W>X{Y}Z", "UPPER lower MiXeD 12345 4.5e-3"]
        XCTAssertGreaterThan(ascii.count, 100)
        for lowerCase in [true, false] {
            let fast = BertTokenizer(vocabulary: vocabulary, lowerCase: lowerCase)
            let full = BertTokenizer(vocabulary: vocabulary, lowerCase: lowerCase, asciiFastPath: false)
            for text in ascii { XCTAssertEqual(fast.encode(text), full.encode(text), text) }
        }
    }
}
