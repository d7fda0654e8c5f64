import CorpusBuild
import Foundation
import PretrainingData
import Randomness
import ShardFormat
import XCTest
@testable import Training

/// Shards seen as one dataset, the checks before step 1, and dynamic masking.
final class DatasetTests: XCTestCase {
    func testInstancesAreNumberedAcrossShardsInNameOrder() throws {
        let corpus = try TinyCorpus(trainingShards: [5, 3], testShards: [2], seed: 9)
        let paths = try ShardFiles.list(in: corpus.data, containing: "training")
        let dataset = try PretrainingDataset(paths: paths, maxPositions: 64, vocabSHA256: nil)
        XCTAssertEqual(dataset.count, 8)
        XCTAssertEqual(dataset.maxSeqLength, TinyCorpus.maxSeqLength)
        XCTAssertEqual(dataset.maxPredictions, TinyCorpus.maxPredictions)
        // TinyCorpus draws the training shards' instances first, in order, from one generator.
        var rng = SplitMix64(seed: 9)
        for i in 0..<8 {
            XCTAssertEqual(try dataset.instance(i), TinyCorpus.randomInstance(rng: &rng), "instance \(i)")
        }
        XCTAssertNoThrow(try dataset.validateContent(shardNumbers: [0, 1], vocabSize: TinyCorpus.vocabSize))
    }

    func testAtMostMaxOpenShardsAreOpenAndReadsAgree() throws {
        let corpus = try TinyCorpus(trainingShards: [3, 4, 2, 5, 1], testShards: [], seed: 4)
        let paths = try ShardFiles.list(in: corpus.data, containing: "training")
        let bounded = try PretrainingDataset(paths: paths, maxPositions: 64, vocabSHA256: nil, maxOpenShards: 2)
        let unbounded = try PretrainingDataset(paths: paths, maxPositions: 64, vocabSHA256: nil, maxOpenShards: 100)
        XCTAssertEqual(bounded.count, 15)
        var rng = SplitMix64(seed: 12)
        for _ in 0..<60 {
            let i = Int.random(in: 0..<15, using: &rng)
            XCTAssertEqual(try bounded.instance(i), try unbounded.instance(i), "instance \(i)")
            XCTAssertLessThanOrEqual(bounded.openShardCount, 2)
        }
        XCTAssertEqual(unbounded.openShardCount, 5)
    }

    func testOutOfRangeTokenIsReportedWithShardAndInstance() throws {
        let corpus = try TinyCorpus(trainingShards: [4, 6], testShards: [], badShard: 1)
        let paths = try ShardFiles.list(in: corpus.data, containing: "training")
        let dataset = try PretrainingDataset(paths: paths, maxPositions: 64, vocabSHA256: nil)
        XCTAssertNoThrow(try dataset.validateContent(shardNumbers: [0], vocabSize: TinyCorpus.vocabSize))
        XCTAssertThrowsError(try dataset.validateContent(shardNumbers: [1], vocabSize: TinyCorpus.vocabSize)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("part-00001-training.hdf5"), message)
            XCTAssertTrue(message.contains("instance 5"), message)
            XCTAssertTrue(message.contains("rule ids-in-vocab: input_ids[1] = 107 outside the vocabulary [0, 100)"), message)
        }
    }

    func testLayoutChecksNameTheShard() throws {
        let corpus = try TinyCorpus(trainingShards: [3], testShards: [])
        let good = try ShardFiles.list(in: corpus.data, containing: "training")
        XCTAssertThrowsError(try PretrainingDataset(paths: good, maxPositions: 16, vocabSHA256: nil)) {
            XCTAssertTrue("\($0)".contains("max_seq_length 32 exceeds the model's max_position_embeddings 16"), "\($0)")
        }
        // A shard with another T, and one built with another vocabulary.
        var rng = SplitMix64(seed: 5)
        let other = corpus.data + "/other-training.hdf5"
        let w = try ShardWriter(path: other, maxSeqLength: 48, maxPredictions: TinyCorpus.maxPredictions, attributes: [:])
        try w.append(TinyCorpus.randomInstance(rng: &rng))
        try w.close()
        XCTAssertThrowsError(try PretrainingDataset(paths: good + [other], maxPositions: 64, vocabSHA256: nil)) {
            XCTAssertTrue("\($0)".contains("other-training.hdf5") && "\($0)".contains("48 × 5"), "\($0)")
        }
        let hashed = corpus.data + "/hashed-training.hdf5"
        let h = try ShardWriter(path: hashed, maxSeqLength: TinyCorpus.maxSeqLength, maxPredictions: TinyCorpus.maxPredictions,
                                attributes: ShardMetadata(vocabSHA256: "aaaa").attributes)
        try h.append(TinyCorpus.randomInstance(rng: &rng))
        try h.close()
        XCTAssertNoThrow(try PretrainingDataset(paths: [hashed], maxPositions: 64, vocabSHA256: "aaaa"))
        XCTAssertThrowsError(try PretrainingDataset(paths: [hashed], maxPositions: 64, vocabSHA256: "bbbb")) {
            XCTAssertTrue("\($0)".contains("hashed-training.hdf5") && "\($0)".contains("different vocab.txt"), "\($0)")
        }
    }

    func testDynamicMaskingFollowsGooglesRulesAndIsKeyedByEpochAndInstance() {
        let tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (5..<100).map { "w\($0)" }
        let masking = DynamicMasking(maxPredictions: 5, vocabulary: MaskingVocabulary(tokens: tokens, clsId: 2, sepId: 3, maskId: 4),
                                     seed: 77)
        var rng = SplitMix64(seed: 3)
        var masked = 0, kept = 0, replaced = 0, differentAcrossEpochs = 0
        let n = 3000
        for index in 0..<n {
            let x = TinyCorpus.randomInstance(rng: &rng)
            let original = DynamicMasking.originalIds(x)
            XCTAssertFalse(original.contains(4), "originals come back from masked_lm_ids")
            let a = masking.remask(x, epoch: 1, index: index)
            XCTAssertEqual(a, masking.remask(x, epoch: 1, index: index), "same (seed, epoch, instance) → same masking")
            if a != masking.remask(x, epoch: 2, index: index) { differentAcrossEpochs += 1 }
            let expectedCount = min(5, max(1, Int((Double(original.count) * 0.15).rounded(.toNearestOrEven))))
            XCTAssertEqual(a.maskedPositions.count, expectedCount)
            XCTAssertEqual(a.maskedPositions, a.maskedPositions.sorted())
            XCTAssertEqual(a.maskedIds, a.maskedPositions.map { original[Int($0)] })
            for (t, id) in a.inputIds.enumerated() where !a.maskedPositions.contains(Int32(t)) {
                XCTAssertEqual(id, original[t], "unmasked positions keep their token")
            }
            for p in a.maskedPositions.map(Int.init) {
                XCTAssertTrue(original[p] != 2 && original[p] != 3, "[CLS]/[SEP] are never masked")
                if a.inputIds[p] == 4 { masked += 1 } else if a.inputIds[p] == original[p] { kept += 1 } else { replaced += 1 }
            }
        }
        let total = Double(masked + kept + replaced)
        XCTAssertEqual(Double(masked) / total, 0.8, accuracy: 0.02, "[MASK] share")
        XCTAssertEqual(Double(kept) / total, 0.1, accuracy: 0.015, "unchanged share (includes random draws of the same id)")
        XCTAssertEqual(Double(replaced) / total, 0.1, accuracy: 0.015, "random replacement share")
        XCTAssertGreaterThan(differentAcrossEpochs, n * 9 / 10, "each epoch masks afresh")
    }
}
