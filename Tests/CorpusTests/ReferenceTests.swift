// Reference mode against google-research/bert's create_pretraining_data.py itself: the golden
// fixture (Fixtures/reference, made by corpus-tools/reference/make_golden.sh) holds the script's
// tokenized documents and every instance it wrote; PythonRandom + our instance code must
// reproduce them instance for instance, token for token.

import Foundation
@testable import PretrainingData
import XCTest

final class ReferenceTests: XCTestCase {
    struct Record: Decodable {
        let input_ids: [Int32]
        let input_mask: [Int32]
        let segment_ids: [Int32]
        let masked_lm_positions: [Int32]
        let masked_lm_ids: [Int32]
        let masked_lm_weights: [Double]
        let next_sentence_labels: [Int32]

        /// The script's padded record as an unpadded instance.
        var instance: PretrainingInstance {
            let n = input_mask.reduce(0) { $0 + Int($1) }
            let p = masked_lm_weights.filter { $0 > 0 }.count
            return PretrainingInstance(
                inputIds: Array(input_ids[..<n]), segmentIds: Array(segment_ids[..<n]),
                maskedPositions: Array(masked_lm_positions[..<p]), maskedIds: Array(masked_lm_ids[..<p]),
                nextSentenceLabel: next_sentence_labels[0])
        }
    }

    static func fixture(_ name: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/reference/\(name)", withExtension: nil), name)
    }

    static func records(_ name: String) throws -> [PretrainingInstance] {
        let text = try String(contentsOf: fixture(name), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Record.self, from: Data($0.utf8)).instance }
    }

    static func documents() throws -> InMemoryDocuments {
        InMemoryDocuments(try JSONDecoder().decode([[[Int32]]].self, from: Data(contentsOf: fixture("documents.json"))))
    }

    static func vocabulary() throws -> MaskingVocabulary {
        let tokens = try String(contentsOf: fixture("vocab.txt"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        XCTAssertEqual(Array(tokens[0..<5]), ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        return MaskingVocabulary(tokens: tokens, clsId: 2, sepId: 3, maskId: 4)
    }

    func assertSame(_ ours: [PretrainingInstance], _ google: [PretrainingInstance], _ label: String,
                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(ours.count, google.count, "\(label): instance count", file: file, line: line)
        for (i, (o, g)) in zip(ours, google).enumerated() where o != g {
            XCTFail("\(label): instance \(i) differs\n ours:   \(o)\n google: \(g)", file: file, line: line)
            return
        }
    }

    func testPlainMatchesGoogle() throws {
        // --max_seq_length=128 --max_predictions_per_seq=20 --masked_lm_prob=0.15 --dupe_factor=3 --short_seq_prob=0.3 --random_seed=12345
        var rng = PythonRandom(seed: 12345)
        let ours = try createTrainingInstances(
            documents: try Self.documents(), maxSeqLength: 128, dupeFactor: 3, shortSeqProb: 0.3, maskedLMProb: 0.15,
            maxPredictionsPerSeq: 20, vocabulary: try Self.vocabulary(), wholeWordMask: false, rng: &rng)
        let google = try Self.records("plain-instances.jsonl")
        XCTAssertEqual(google.count, 233)
        // Both NSP branches and the short-sequence branch are exercised by this fixture.
        XCTAssertTrue(google.contains { $0.nextSentenceLabel == 0 } && google.contains { $0.nextSentenceLabel == 1 })
        XCTAssertTrue(google.contains { $0.inputIds.count < 80 })
        assertSame(ours, google, "plain")
    }

    func testWholeWordMaskMatchesGoogle() throws {
        // --max_seq_length=96 --max_predictions_per_seq=12 --masked_lm_prob=0.2 --dupe_factor=2 --short_seq_prob=0.1 --random_seed=7 --do_whole_word_mask
        var rng = PythonRandom(seed: 7)
        let ours = try createTrainingInstances(
            documents: try Self.documents(), maxSeqLength: 96, dupeFactor: 2, shortSeqProb: 0.1, maskedLMProb: 0.2,
            maxPredictionsPerSeq: 12, vocabulary: try Self.vocabulary(), wholeWordMask: true, rng: &rng)
        assertSame(ours, try Self.records("wwm-instances.jsonl"), "whole-word")
    }

    func testRoundRobinOverTwoOutputFiles() throws {
        // --max_seq_length=64 --max_predictions_per_seq=10 --dupe_factor=1 --random_seed=99, two output files
        var rng = PythonRandom(seed: 99)
        let ours = try createTrainingInstances(
            documents: try Self.documents(), maxSeqLength: 64, dupeFactor: 1, shortSeqProb: 0.1, maskedLMProb: 0.15,
            maxPredictionsPerSeq: 10, vocabulary: try Self.vocabulary(), rng: &rng)
        let part0 = try Self.records("shards2-part0.jsonl"), part1 = try Self.records("shards2-part1.jsonl")
        assertSame(ours.enumerated().filter { $0.offset % 2 == 0 }.map(\.element), part0, "file 0 of 2")
        assertSame(ours.enumerated().filter { $0.offset % 2 == 1 }.map(\.element), part1, "file 1 of 2")
    }

    /// The one intended difference of the default mode: a same-document B is labelled 0 (NVIDIA).
    func testOneDocumentCorpus() throws {
        let docs = InMemoryDocuments([try Self.documents().documents[0]])
        var google = PythonRandom(seed: 1)
        let asGoogle = try createTrainingInstances(documents: docs, dupeFactor: 2, vocabulary: try Self.vocabulary(), rng: &google)
        var nvidia = PythonRandom(seed: 1)
        let asNvidia = try createTrainingInstances(documents: docs, dupeFactor: 2, vocabulary: try Self.vocabulary(),
                                               sameDocumentBIsRandom: false, rng: &nvidia)
        XCTAssertEqual(asGoogle.count, asNvidia.count)
        XCTAssertTrue(asGoogle.contains { $0.nextSentenceLabel == 1 }, "Google labels a same-document B random")
        XCTAssertTrue(asNvidia.allSatisfy { $0.nextSentenceLabel == 0 }, "with one document every B is from it: label 0")
        // Same draws, same tokens: only the labels differ.
        XCTAssertEqual(asGoogle.map(\.inputIds), asNvidia.map(\.inputIds))
    }
}
