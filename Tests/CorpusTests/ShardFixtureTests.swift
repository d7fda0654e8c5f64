@testable import PretrainingData
@testable import ShardFormat
import XCTest

/// Shards written by h5py (Fixtures/shards/make_fixtures.py), as other tools write them.
final class ShardFixtureTests: XCTestCase {
    /// The fixture's three instances, as make_fixtures.py spells them out.
    static let expected: [PretrainingInstance] = [
        PretrainingInstance(inputIds: [2, 5, 6, 4, 3, 8, 9, 3], segmentIds: [0, 0, 0, 0, 0, 1, 1, 1],
                            maskedPositions: [3], maskedIds: [7], nextSentenceLabel: 0),
        PretrainingInstance(inputIds: [2, 10, 3, 11, 4, 3], segmentIds: [0, 0, 0, 1, 1, 1],
                            maskedPositions: [1, 4], maskedIds: [10, 12], nextSentenceLabel: 1),
        PretrainingInstance(inputIds: [2, 4, 3, 6, 3], segmentIds: [0, 0, 0, 1, 1],
                            maskedPositions: [1, 3], maskedIds: [5, 9], nextSentenceLabel: 0),
    ]

    func testReadsInt64ShardWithoutAttributes() throws {
        let reader = try ShardReader(path: shardFixture("h5py-int64-noattrs.hdf5"))
        XCTAssertEqual(reader.count, 3)
        XCTAssertEqual(reader.maxSeqLength, 8)
        XCTAssertEqual(reader.maxPredictions, 3)
        XCTAssertEqual(reader.attributes, [:])
        XCTAssertEqual(reader.metadata, ShardMetadata())
        XCTAssertEqual(try (0..<3).map { try reader.instance($0) }, Self.expected)
        let rows = try reader.readRows(0..<3)
        XCTAssertEqual(rows.inputMask, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0])
        XCTAssertEqual(rows.nextSentenceLabels, [0, 1, 0])
    }

    func testReadsNVIDIADtypesAndPassesInspection() throws {
        let path = shardFixture("h5py-nvidia-dtypes.hdf5")
        let reader = try ShardReader(path: path)
        XCTAssertEqual(try (0..<3).map { try reader.instance($0) }, Self.expected)
        XCTAssertTrue(ShardInspector.inspect(path: path, vocabulary: fixtureVocabulary, show: 0).isValid)
    }

    func testReadsInt16ContiguousShardAndItsAttributes() throws {
        let reader = try ShardReader(path: shardFixture("h5py-int16-contiguous.hdf5"))
        XCTAssertNil(reader.chunkRows)
        XCTAssertEqual(try (0..<3).map { try reader.instance($0) }, Self.expected)
        XCTAssertEqual(reader.attributes["vocab_size"], .int(13))
        XCTAssertEqual(reader.attributes["tool_version"], .string("other-tool 1.0"))
        XCTAssertNil(reader.attributes["matrix"], "a 2x2 float attribute is not a shard attribute and is skipped")
        if case .double(let p)? = reader.attributes["masked_lm_prob"] {
            XCTAssertEqual(p, 0.15, accuracy: 1e-15)
        } else {
            XCTFail("masked_lm_prob: \(String(describing: reader.attributes["masked_lm_prob"]))")
        }
        XCTAssertEqual(reader.metadata.vocabSize, 13)
    }

    func testMalformedShardsAreRejectedNamingFileDatasetAndProblem() throws {
        let cases: [(file: String, words: [String])] = [
            ("h5py-missing-dataset.hdf5", ["next_sentence_labels", "missing dataset"]),
            ("h5py-wrong-rank.hdf5", ["input_mask", "rank 1", "expected 2"]),
            ("h5py-inconsistent-n.hdf5", ["masked_lm_ids", "N is 2", "3 in dataset input_ids"]),
            ("h5py-inconsistent-t.hdf5", ["segment_ids", "T is 7", "8 in dataset input_ids"]),
            ("h5py-float-ids.hdf5", ["input_ids", "not an integer dataset"]),
        ]
        for (file, words) in cases {
            let path = shardFixture(file)
            XCTAssertThrowsError(try ShardReader(path: path), file) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(path), message)
                for word in words { XCTAssertTrue(message.contains(word), "\(file): '\(message)' should contain '\(word)'") }
            }
        }
        // Out of 32-bit range: opening works (structure is fine), reading the row names it.
        let overflow = try ShardReader(path: shardFixture("h5py-int64-overflow.hdf5"))
        XCTAssertEqual(try overflow.instance(1), Self.expected[1])
        XCTAssertThrowsError(try overflow.instance(2)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("input_ids") && message.contains("instance 2") && message.contains("1099511627776"), message)
        }
    }
}
