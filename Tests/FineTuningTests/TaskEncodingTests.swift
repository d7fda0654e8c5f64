// Encoding task examples: [CLS] A [SEP] (B [SEP]), segment ids, padding, longest-first truncation as
// Hugging Face's fast tokenizer does it (hand-derived cases and the committed transformers fixture),
// and lower-casing from a checkpoint's tokenizer_config.json.

import Foundation
import XCTest
@testable import FineTuning
import Tokenization

final class TaskEncodingTests: XCTestCase {
    // Ids: [PAD] 0 [UNK] 1 [CLS] 2 [SEP] 3 [MASK] 4 a 5 b 6 c 7 d 8 e 9 f 10 g 11 h 12
    static let tiny = try! Vocabulary(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "d", "e", "f", "g", "h"])

    func encoder(_ t: Int, lower: Bool = true) throws -> TaskEncoder {
        try TaskEncoder(tokenizer: BertTokenizer(vocabulary: Self.tiny, lowerCase: lower), maxSeqLength: t)
    }

    func testTruncatedPairLengthsRule() {
        // Fits: untouched.
        XCTAssertTrue(truncatedPairLengths(first: 3, second: 2, budget: 5) == (3, 2))
        // The shorter fits in half: only the longer is cut, to budget − shorter.
        XCTAssertTrue(truncatedPairLengths(first: 10, second: 2, budget: 5) == (3, 2))
        XCTAssertTrue(truncatedPairLengths(first: 2, second: 10, budget: 5) == (2, 3))
        // Both cut: the first gets ⌊m/2⌋ unless it is the longer (then ⌈m/2⌉); a tie counts as not longer.
        XCTAssertTrue(truncatedPairLengths(first: 5, second: 5, budget: 5) == (2, 3))
        XCTAssertTrue(truncatedPairLengths(first: 6, second: 5, budget: 5) == (3, 2))
        XCTAssertTrue(truncatedPairLengths(first: 5, second: 6, budget: 5) == (2, 3))
        XCTAssertTrue(truncatedPairLengths(first: 6, second: 6, budget: 6) == (3, 3))
        XCTAssertTrue(truncatedPairLengths(first: 3, second: 3, budget: 0) == (0, 0))
        XCTAssertTrue(truncatedPairLengths(first: 0, second: 9, budget: 4) == (0, 4))
    }

    func testSingleAndPairEncodingPadded() throws {
        let examples = TaskExamples(path: "x.csv", split: .train, texts: ["A b c", "d e f g h"], textPairs: ["c", "a b c d e"],
                                    lines: [2, 3], labels: .classIds([0, 1]))
        let data = try encoder(8).encode(examples)
        // Row 0: [CLS] a b c [SEP] c [SEP] [PAD]; row 1: 5 + 5 in budget 5 → 2 + 3 (tie: the second gets the extra one).
        XCTAssertEqual(data.inputIds, [2, 5, 6, 7, 3, 7, 3, 0,
                                       2, 8, 9, 3, 5, 6, 7, 3])
        XCTAssertEqual(data.segmentIds, [0, 0, 0, 0, 0, 1, 1, 0,
                                         0, 0, 0, 0, 1, 1, 1, 1])
        XCTAssertEqual(data.inputMask, [1, 1, 1, 1, 1, 1, 1, 0,
                                        1, 1, 1, 1, 1, 1, 1, 1])
        XCTAssertEqual(data.lengths, [7, 8])
        XCTAssertEqual(data.sourceLines, [2, 3])
        XCTAssertEqual(data.labels, .classIds([0, 1]))
        XCTAssertEqual(data.truncatedCount, 1)

        let single = TaskExamples(path: "x.csv", split: .test, texts: ["a b", "a b c d e f g"], textPairs: nil,
                                  lines: [2, 3], labels: .none)
        let s = try encoder(5).encode(single)
        XCTAssertEqual(s.inputIds, [2, 5, 6, 3, 0,
                                    2, 5, 6, 7, 3])   // the first T − 2 tokens kept
        XCTAssertEqual(s.segmentIds, [Int32](repeating: 0, count: 10))
        XCTAssertEqual(s.inputMask, [1, 1, 1, 1, 0, 1, 1, 1, 1, 1])
        XCTAssertEqual(s.lengths, [4, 5])
        XCTAssertEqual(s.truncatedCount, 1)
        // Unknown words become [UNK]; lower-casing follows the tokenizer.
        XCTAssertEqual(try encoder(6, lower: false).encode("A b zz").ids, [2, 1, 6, 1, 3])
    }

    func testTooShortMaxSeqLengthIsRefused() {
        XCTAssertThrowsError(try encoder(2))
    }

    /// Every case of Fixtures/encoding.json, made by transformers' fast BertTokenizer (make_encoding.py).
    func testMatchesTransformersFixture() throws {
        let fixtures = Bundle.module.bundleURL.appendingPathComponent("Fixtures")
        let vocabulary = try Vocabulary(path: fixtures.appendingPathComponent("encoding-vocab.txt").path)
        let data = try Data(contentsOf: fixtures.appendingPathComponent("encoding.json"))
        let cases = try JSONSerialization.jsonObject(with: data) as! [[String: Any]]
        XCTAssertEqual(cases.count, 12)
        for c in cases {
            let text = c["text"] as! String, pair = c["text_pair"] as? String, t = c["max_length"] as! Int
            let expectedIds = (c["input_ids"] as! [Int]).map(Int32.init)
            let expectedSegments = (c["token_type_ids"] as! [Int]).map(Int32.init)
            let encoder = try TaskEncoder(tokenizer: BertTokenizer(vocabulary: vocabulary, lowerCase: true), maxSeqLength: t)
            let (ids, segments) = encoder.encode(text, pair: pair)
            XCTAssertEqual(ids, expectedIds, "\(text) | \(pair ?? "-") | \(t)")
            XCTAssertEqual(segments, expectedSegments, "\(text) | \(pair ?? "-") | \(t)")
        }
    }

    func testLowerCaseFromTokenizerConfig() throws {
        let dir = NSTemporaryDirectory() + "finetuning-lower-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/tokenizer_config.json"
        // No file: the flag decides.
        XCTAssertEqual(try lowerCaseSetting(checkpointDirectory: dir, default: true).lowerCase, true)
        XCTAssertEqual(try lowerCaseSetting(checkpointDirectory: dir, default: false).lowerCase, false)
        // The file's do_lower_case wins over the flag.
        try Data(#"{"do_lower_case": false, "model_max_length": 512, "tokenizer_class": "BertTokenizer"}"#.utf8).write(to: URL(fileURLWithPath: config))
        let cased = try lowerCaseSetting(checkpointDirectory: dir, default: true)
        XCTAssertEqual(cased.lowerCase, false)
        XCTAssertEqual(cased.source, config)
        try Data(#"{"do_lower_case": true}"#.utf8).write(to: URL(fileURLWithPath: config))
        XCTAssertEqual(try lowerCaseSetting(checkpointDirectory: dir, default: false).lowerCase, true)
        // A file without the key: the flag.
        try Data(#"{"model_max_length": 512}"#.utf8).write(to: URL(fileURLWithPath: config))
        XCTAssertEqual(try lowerCaseSetting(checkpointDirectory: dir, default: false).lowerCase, false)
        // Not a boolean, or not JSON: an error naming the file.
        for bad in [#"{"do_lower_case": "yes"}"#, #"{"do_lower_case": 1}"#, "{not json"] {
            try Data(bad.utf8).write(to: URL(fileURLWithPath: config))
            XCTAssertThrowsError(try lowerCaseSetting(checkpointDirectory: dir, default: true), bad) { error in
                XCTAssertEqual((error as? TaskFileError)?.path, config)
            }
        }
    }
}
