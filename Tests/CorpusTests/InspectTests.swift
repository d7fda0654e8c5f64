import CHDF5
@testable import CorpusBuild
import Foundation
@testable import PretrainingData
import Randomness
@testable import ShardFormat
import Tokenization
import XCTest

/// Writes `rows` as a shard with plain int32 datasets and no checks (to make invalid shards the
/// writer would refuse), plus optional attributes.
func writeRawShard(_ rows: ShardRows, to path: String, attributes: [String: ShardAttribute] = [:]) throws {
    let file = try HDF5File.create(path: path)
    let T = rows.maxSeqLength, P = rows.maxPredictions
    let layout: [(ShardDataset, Int?, [Int32])] = [
        (.inputIds, T, rows.inputIds), (.inputMask, T, rows.inputMask), (.segmentIds, T, rows.segmentIds),
        (.maskedPositions, P, rows.maskedPositions), (.maskedIds, P, rows.maskedIds), (.nextSentenceLabels, nil, rows.nextSentenceLabels),
    ]
    for (dataset, width, values) in layout {
        let dims = width.map { [rows.count, $0] } ?? [rows.count]
        let chunk = width.map { [max(1, rows.count), $0] } ?? [max(1, rows.count)]
        let handle = try file.createDataset(dataset.rawValue, fileType: chdf5_std_i32le(), dims: dims, chunk: chunk, deflateLevel: 1)
        try values.withUnsafeBufferPointer { try handle.write(rows: 0..<rows.count, rowWidth: width, memoryType: chdf5_native_int32(), $0) }
        try handle.close()
    }
    for (key, value) in attributes { try file.writeAttribute(key, value) }
    try file.close()
}


/// The fixture vocabulary (Fixtures/shards/vocab.txt).
let fixtureTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "dog", "ran", "fast"]
let fixtureVocabulary = try! Vocabulary(tokens: fixtureTokens)

final class InspectTests: XCTestCase {
    func fixtureRows() throws -> ShardRows {
        try ShardReader(path: shardFixture("h5py-int64-noattrs.hdf5")).readRows(0..<3)
    }

    func testFixtureVocabularyMatchesTheFile() throws {
        let text = try String(contentsOfFile: shardFixture("vocab.txt"), encoding: .utf8)
        XCTAssertEqual(text.split(separator: "\n").map(String.init), fixtureTokens)
    }

    func testValidShardPassesWithHandComputedStatistics() throws {
        let result = ShardInspector.inspect(path: shardFixture("h5py-int64-noattrs.hdf5"), vocabulary: fixtureVocabulary, show: 2)
        XCTAssertTrue(result.isValid, "\(result.firstViolations)")
        let s = result.statistics
        // Hand count from make_fixtures.py: lengths 8, 6, 5; predictions 1, 2, 2; eligible 5 + 3 + 2;
        // shown at masked positions: [MASK] (sat), dog = dog (unchanged), [MASK] (fast), [MASK] (the), cat ≠ mat (random).
        XCTAssertEqual(s.instances, 3)
        XCTAssertEqual(s.tokens, 19)
        XCTAssertEqual(s.predictions, 5)
        XCTAssertEqual(s.eligibleTokens, 10)
        XCTAssertEqual([s.maskTokens, s.randomTokens, s.unchangedTokens], [3, 1, 1])
        XCTAssertEqual(s.randomNextSentence, 1)
        XCTAssertEqual(s.atMaxLength, 1)
        XCTAssertEqual(s.short, 0)
        XCTAssertEqual(s.ordinaryTokens, 10)
        XCTAssertEqual(s.unknownTokens, 0)
        XCTAssertEqual(s.lengthCounts, [0, 0, 0, 0, 0, 1, 1, 0, 1])
        // Padding: 3 rows × T = 8 = 24 positions, 19 real: 5/24 padded; computing on real tokens only, 24/19 faster.
        XCTAssertEqual(s.positions, 24)
        XCTAssertEqual(s.paddingShare, 5.0 / 24, accuracy: 1e-12)
        XCTAssertEqual(s.unpaddedSpeedup, 24.0 / 19, accuracy: 1e-12)
        XCTAssertTrue(s.report.contains("  padding share         20.83 %  (5 of 24 positions, instances × T)\n"), s.report)
        XCTAssertTrue(s.report.contains("  unpadded speed-up     1.26×  (perfect unpadding: compute on real tokens only)\n"), s.report)
        let json = try JSONSerialization.jsonObject(with: Data(InspectReport([result], total: s).json().utf8)) as? [String: Any]
        for statistics in [json?["statistics"], (json?["shards"] as? [[String: Any]])?.first?["statistics"]] {
            let figures = statistics as? [String: Any]
            XCTAssertEqual(figures?["positions"] as? Int, 24)
            XCTAssertEqual(figures?["padding_share"] as? Double ?? .nan, 5.0 / 24, accuracy: 1e-12)
            XCTAssertEqual(figures?["unpadded_speedup"] as? Double ?? .nan, 24.0 / 19, accuracy: 1e-12)
        }
        XCTAssertEqual(result.shown, [
            "instance 0: 8 tokens, NSP 0 (B follows A), 1 predictions\n  [CLS] the cat {[MASK]|sat} [SEP] on mat [SEP]\n  text: [CLS] the cat sat [SEP] on mat [SEP]",
            "instance 1: 6 tokens, NSP 1 (B random), 2 predictions\n  [CLS] {dog|dog} [SEP] ran {[MASK]|fast} [SEP]\n  text: [CLS] dog [SEP] ran fast [SEP]",
        ])
        // Without a vocabulary: same validity, no token categories.
        let bare = ShardInspector.inspect(path: shardFixture("h5py-int64-noattrs.hdf5"), vocabulary: nil, show: 0)
        XCTAssertTrue(bare.isValid && bare.inferredSpecialIds)
        XCTAssertNil(bare.statistics.maskTokenShare)
    }

    /// Shards of different T summed: padding counts each instance at its own shard's T, not the largest.
    func testPaddingShareOverShardsOfDifferentLength() throws {
        let dir = try makeTemporaryFolder(self)
        let base = try fixtureRows()
        // The same three rows (lengths 8, 6, 5) padded to T = 12: 36 positions, 19 real.
        var wide = ShardRows(count: base.count, maxSeqLength: 12, maxPredictions: base.maxPredictions)
        for r in 0..<base.count {
            for t in 0..<base.maxSeqLength {
                wide.inputIds[r * 12 + t] = base.inputIds[r * 8 + t]
                wide.inputMask[r * 12 + t] = base.inputMask[r * 8 + t]
                wide.segmentIds[r * 12 + t] = base.segmentIds[r * 8 + t]
            }
        }
        wide.maskedPositions = base.maskedPositions
        wide.maskedIds = base.maskedIds
        wide.nextSentenceLabels = base.nextSentenceLabels
        try writeRawShard(wide, to: dir + "/wide.hdf5")
        let inspection = ShardInspector.inspect(path: dir + "/wide.hdf5", vocabulary: fixtureVocabulary, show: 0)
        XCTAssertTrue(inspection.isValid, "\(inspection.firstViolations)")
        XCTAssertEqual(inspection.statistics.paddingShare, 17.0 / 36, accuracy: 1e-12)
        var total = ShardInspector.inspect(path: shardFixture("h5py-int64-noattrs.hdf5"), vocabulary: fixtureVocabulary, show: 0).statistics
        total.merge(inspection.statistics)
        // 24 + 36 = 60 positions (not 6 instances × max T 12 = 72), 38 real.
        XCTAssertEqual([total.maxSeqLength, total.instances, total.tokens, total.positions], [12, 6, 38, 60])
        XCTAssertEqual(total.paddingShare, 22.0 / 60, accuracy: 1e-12)
        XCTAssertEqual(total.unpaddedSpeedup, 60.0 / 38, accuracy: 1e-12)
        XCTAssertTrue(total.report.contains("padding share         36.67 %  (22 of 60 positions, instances × T)"), total.report)
        XCTAssertTrue(total.report.contains("unpadded speed-up     1.58×"), total.report)
        // Nothing inspected: no padding, no speed-up.
        XCTAssertEqual([ShardStatistics().paddingShare, ShardStatistics().unpaddedSpeedup], [0, 1])
    }

    func testWilsonIntervalAgainstPublishedValues() {
        // Wilson 95 % interval for 1/3: 0.0615–0.7923; for 8/10: 0.4902–0.9433 (Newcombe 1998, Table I style values).
        let a = Proportion(1, of: 3).interval95, b = Proportion(8, of: 10).interval95
        for (observed, expected) in [(a.low, 0.0615), (a.high, 0.7923), (b.low, 0.4902), (b.high, 0.9433)] {
            XCTAssertEqual(observed, expected, accuracy: 5e-4, "interval bound \(observed), expected \(expected)")
        }
        XCTAssertEqual(Proportion(0, of: 0).value, 0)
    }

    /// Each corruption of instance 1 is rejected under its rule, naming the file and instance.
    func testEachRuleRejectsItsCorruption() throws {
        let dir = try makeTemporaryFolder(self)
        let T = 8, P = 3
        let base = try fixtureRows()
        // instance 1 = [CLS] dog [SEP] ran [MASK] [SEP] pad pad; segments 0 0 0 1 1 1 0 0; positions 1 4 0.
        let s = T, p = P
        let cases: [(ShardRule, String, (inout ShardRows) -> Void)] = [
            (.inputMask, "hole in mask", { $0.inputMask[s + 2] = 0 }),
            (.inputMask, "mask value 2", { $0.inputMask[s + 6] = 2 }),
            (.padding, "id on padding", { $0.inputIds[s + 7] = 5 }),
            (.padding, "segment on padding", { $0.segmentIds[s + 6] = 1 }),
            (.clsFirst, "no [CLS]", { $0.inputIds[s] = 5 }),
            (.sepEndOfA, "A not closed", { $0.inputIds[s + 2] = 6 }),
            (.sepEndOfB, "B not closed", { $0.inputIds[s + 5] = 6 }),
            (.segmentIds, "1 inside A", { $0.segmentIds[s + 1] = 1 }),
            (.segmentIds, "empty B", { r in for t in 3..<6 { r.segmentIds[s + t] = 0 } }),
            (.segmentIds, "segment 2", { $0.segmentIds[s + 4] = 2 }),
            (.maskedPositions, "descending", { $0.maskedPositions[p] = 4; $0.maskedPositions[p + 1] = 1 }),
            (.maskedPositions, "on [SEP]", { $0.maskedPositions[p + 1] = 5 }),
            (.maskedPositions, "on padding", { $0.maskedPositions[p + 1] = 6 }),
            (.maskedPositions, "not 0-padded", { $0.maskedIds[p + 2] = 7 }),
            (.predictionCount, "no predictions", { r in for k in 0..<P { r.maskedPositions[p + k] = 0; r.maskedIds[p + k] = 0 } }),
            (.idsInVocab, "id beyond vocab", { $0.inputIds[s + 3] = 13 }),
            (.idsInVocab, "negative original", { $0.maskedIds[p + 1] = -1 }),
            (.idsInVocab, "[SEP] as original", { $0.maskedIds[p + 1] = 3 }),
            (.nextSentenceLabel, "label 2", { $0.nextSentenceLabels[1] = 2 }),
        ]
        for (rule, name, corrupt) in cases {
            var rows = base
            corrupt(&rows)
            let path = dir + "/\(rule.rawValue)-\(name.replacingOccurrences(of: " ", with: "_")).hdf5"
            try writeRawShard(rows, to: path)
            let result = ShardInspector.inspect(path: path, vocabulary: fixtureVocabulary, show: 0)
            XCTAssertFalse(result.isValid, "\(name): accepted")
            XCTAssertEqual(result.firstViolations.map(\.rule), [rule], "\(name): \(result.firstViolations)")
            XCTAssertEqual(result.firstViolations.first?.instance, 1, name)
            XCTAssertEqual(result.invalidInstances, 1, name)
            XCTAssertEqual(result.statistics.instances, 2, "\(name): statistics cover the two valid instances")
            let message = result.firstViolations.first.map { "\($0)" } ?? ""
            XCTAssertTrue(message.contains(path) && message.contains("instance 1") && message.contains(rule.rawValue), message)
            // Without a vocabulary the same corruption is caught ([CLS]/[SEP] inferred from instance 0),
            // except ids beyond a vocabulary size nobody stated.
            if rule != .idsInVocab || name == "[SEP] as original" {
                let bare = ShardInspector.inspect(path: path, vocabulary: nil, show: 0)
                XCTAssertEqual(bare.firstViolations.map(\.rule), [rule], "\(name) without vocabulary: \(bare.firstViolations)")
            }
        }
        // The unmodified rows written the same way pass: the corruptions, not the raw writer, were rejected.
        try writeRawShard(base, to: dir + "/base.hdf5")
        XCTAssertTrue(ShardInspector.inspect(path: dir + "/base.hdf5", vocabulary: fixtureVocabulary, show: 0).isValid)
    }

    func testPredictionCountFollowsMaskedLMProbAndShardLevelRules() throws {
        let dir = try makeTemporaryFolder(self)
        let base = try fixtureRows()
        // round(8 × 0.15) = 1, round(6 × 0.15) = 1, round(5 × 0.15) = 1: instances 1 and 2 have 2 predictions.
        try writeRawShard(base, to: dir + "/prob.hdf5", attributes: ["masked_lm_prob": .double(0.15)])
        let prob = ShardInspector.inspect(path: dir + "/prob.hdf5", vocabulary: fixtureVocabulary, show: 0)
        XCTAssertEqual(prob.firstViolations.map(\.rule), [.predictionCount])
        XCTAssertEqual(prob.violationCounts[.predictionCount], 2)
        // With masked_lm_prob 0.3: wanted 2, 2, 2 (round(2.4), round(1.8), round(1.5) = 2 half to even);
        // instance 0 has 1: allowed with whole-word masking (may stop short), refused without.
        try writeRawShard(base, to: dir + "/wwm.hdf5", attributes: ["masked_lm_prob": .double(0.3), "whole_word_mask": .int(1)])
        XCTAssertTrue(ShardInspector.inspect(path: dir + "/wwm.hdf5", vocabulary: fixtureVocabulary, show: 0).isValid)
        try writeRawShard(base, to: dir + "/nowwm.hdf5", attributes: ["masked_lm_prob": .double(0.3), "whole_word_mask": .int(0)])
        let nowwm = ShardInspector.inspect(path: dir + "/nowwm.hdf5", vocabulary: fixtureVocabulary, show: 0)
        XCTAssertEqual(nowwm.firstViolations.map(\.rule), [.predictionCount])
        XCTAssertEqual(nowwm.firstViolations.first?.instance, 0)
        // masked_lm_prob 0.9: wanted round(0.9 × len) exceeds the candidates (len − 3 = 5, 3, 2); Google stops there.
        var all = base
        all.maskedPositions = [1, 2, 3, 1, 3, 4, 1, 3, 0]   // P = 3: only up to 3 fit; instance 0 keeps 3 of its 5
        all.maskedIds = [5, 6, 7, 10, 11, 12, 5, 9, 0]
        for (t, id) in [(1, 4), (2, 4), (3, 4)] { all.inputIds[t] = Int32(id) }
        for (t, id) in [(8 + 1, 4), (8 + 3, 4), (8 + 4, 4)] { all.inputIds[t] = Int32(id) }
        try writeRawShard(all, to: dir + "/high.hdf5", attributes: ["masked_lm_prob": .double(0.9), "whole_word_mask": .int(0)])
        let high = ShardInspector.inspect(path: dir + "/high.hdf5", vocabulary: fixtureVocabulary, show: 0)
        XCTAssertTrue(high.isValid, "\(high.firstViolations)")
        XCTAssertEqual(ShardValidator.predictionsWanted(length: 10, maskedLMProb: 0.25, maxPredictions: 20), 2, "2.5 rounds to even")
        XCTAssertEqual(ShardValidator.predictionsWanted(length: 14, maskedLMProb: 0.25, maxPredictions: 20), 4, "3.5 rounds to even")
        XCTAssertEqual(ShardValidator.predictionsWanted(length: 512, maskedLMProb: 0.15, maxPredictions: 20), 20)

        // Shard-level: attributes that disagree with the datasets, a vocabulary of another size, a broken file.
        try writeRawShard(base, to: dir + "/t.hdf5", attributes: ["max_seq_length": .int(128)])
        let t = ShardInspector.inspect(path: dir + "/t.hdf5", vocabulary: fixtureVocabulary, show: 0)
        XCTAssertEqual(t.firstViolations.map(\.rule), [.layout])
        XCTAssertTrue(t.firstViolations[0].description.contains("max_seq_length = 128"))
        try writeRawShard(base, to: dir + "/v.hdf5", attributes: ["vocab_size": .int(30522)])
        XCTAssertEqual(ShardInspector.inspect(path: dir + "/v.hdf5", vocabulary: fixtureVocabulary, show: 0).firstViolations.map(\.rule), [.idsInVocab])
        try writeRawShard(base, to: dir + "/sha.hdf5", attributes: ["vocab_sha256": .string(String(repeating: "0", count: 64))])
        let sha = ShardInspector.inspect(path: dir + "/sha.hdf5", vocabulary: fixtureVocabulary, show: 0)
        XCTAssertEqual(sha.firstViolations.map(\.rule), [.idsInVocab])
        XCTAssertTrue(sha.firstViolations[0].detail.contains(fixtureVocabulary.sha256), sha.firstViolations[0].detail)
        let missing = ShardInspector.inspect(path: shardFixture("h5py-missing-dataset.hdf5"), vocabulary: nil, show: 0)
        XCTAssertEqual(missing.firstViolations.map(\.rule), [.layout])
        XCTAssertTrue(missing.firstViolations[0].description.contains("next_sentence_labels"))
    }

    /// A shard from our writer with Google-style masking passes, and the realised shares are near 80/10/10.
    func testWriterOutputPassesAndMaskSharesAreAsDrawn() throws {
        let dir = try makeTemporaryFolder(self)
        let vocabulary = try Vocabulary(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (0..<95).map { "w\($0)" })
        var rng = SplitMix64(seed: 7)
        let T = 64, P = 10, prob = 0.15
        let writer = try ShardWriter(path: dir + "/g.hdf5", maxSeqLength: T, maxPredictions: P,
                                     attributes: ShardMetadata(vocabSize: 100, maskedLMProb: prob, wholeWordMask: false).attributes)
        // [MASK], random, unchanged as inspect must classify them: a random draw that hits [MASK] or the
        // original id is indistinguishable from those, as in Google's data.
        var expected = [0, 0, 0]
        for i in 0..<1500 {
            let length = 5 + Int(rng.next() % UInt64(T - 4))
            let aEnd = 2 + Int(rng.next() % UInt64(length - 4))   // first [SEP], in 2...length-3
            var ids = (0..<length).map { _ in Int32(5 + rng.next() % 95) }
            ids[0] = 2; ids[aEnd] = 3; ids[length - 1] = 3
            let segments = (0..<length).map { Int32($0 > aEnd ? 1 : 0) }
            var candidates = (1..<(length - 1)).filter { $0 != aEnd }
            for k in stride(from: candidates.count - 1, to: 0, by: -1) { candidates.swapAt(k, Int(rng.next() % UInt64(k + 1))) }
            let n = ShardValidator.predictionsWanted(length: length, maskedLMProb: prob, maxPredictions: P)
            let chosen = candidates.prefix(n).sorted()
            let originals = chosen.map { ids[$0] }
            for t in chosen {
                let u = rng.next() % 10
                if u < 8 { ids[t] = 4 } else if u == 8 { ids[t] = Int32(rng.next() % 100) }
                expected[ids[t] == 4 ? 0 : ids[t] == originals[chosen.firstIndex(of: t)!] ? 2 : 1] += 1
            }
            try writer.append(PretrainingInstance(inputIds: ids, segmentIds: segments, maskedPositions: chosen.map(Int32.init),
                                                  maskedIds: originals, nextSentenceLabel: Int32(i % 2)))
        }
        try writer.close()
        let result = ShardInspector.inspect(path: dir + "/g.hdf5", vocabulary: vocabulary, show: 1)
        XCTAssertTrue(result.isValid, "\(result.firstViolations)")
        let s = result.statistics
        XCTAssertEqual(s.instances, 1500)
        XCTAssertEqual([s.maskTokens, s.randomTokens, s.unchangedTokens], expected)
        XCTAssertEqual(expected.reduce(0, +), s.predictions)
        for (share, expected) in [(s.maskTokenShare!, 0.8), (s.randomTokenShare!, 0.1), (s.unchangedShare!, 0.1)] {
            XCTAssertTrue(share.interval95.low - 0.02 < expected && expected < share.interval95.high + 0.02, "\(share) vs \(expected)")
        }
        XCTAssertEqual(s.randomNextSentenceShare.value, 0.5, accuracy: 1e-12)
    }
}
