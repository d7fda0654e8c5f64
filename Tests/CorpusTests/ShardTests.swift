import CHDF5
@testable import CorpusBuild
import Foundation
@testable import PretrainingData
@testable import ShardFormat
import XCTest

/// Path of a committed fixture under Fixtures/shards.
func shardFixture(_ name: String) -> String {
    Bundle.module.resourceURL!.appendingPathComponent("Fixtures/shards/\(name)").path
}

/// A deterministic, valid instance of length `length` (≥ 5) with `predictions` masked positions:
/// [CLS] A [SEP] B [SEP] with ids from a 100-token vocabulary ([CLS]=2, [SEP]=3, [MASK]=4).
func sampleInstance(_ seed: Int, length: Int, predictions: Int) -> PretrainingInstance {
    let aEnd = 1 + max(1, (length - 3) / 2)            // index of the first [SEP]
    var ids: [Int32] = [2]
    var segments: [Int32] = [0]
    for t in 1..<length {
        if t == aEnd || t == length - 1 { ids.append(3) } else { ids.append(Int32(5 + (seed * 31 + t * 7) % 95)) }
        segments.append(t <= aEnd ? 0 : 1)
    }
    let candidates = (1..<(length - 1)).filter { $0 != aEnd }
    let positions = (0..<min(predictions, candidates.count)).map { Int32(candidates[($0 * 3 + seed) % candidates.count]) }
    let sorted = Array(Set(positions)).sorted()
    return PretrainingInstance(inputIds: ids, segmentIds: segments, maskedPositions: sorted,
                               maskedIds: sorted.map { ids[Int($0)] }, nextSentenceLabel: Int32(seed % 2))
}

final class ShardTests: XCTestCase {
    let metadata = ShardMetadata(vocabSize: 100, vocabSHA256: String(repeating: "ab", count: 32), maxSeqLength: 16,
                                 maxPredictionsPerSeq: 4, maskedLMProb: 0.15, dupeFactor: 10, shortSeqProb: 0.1,
                                 wholeWordMask: true, randomSeed: 12345, toolVersion: "bert-corpus test",
                                 sourceFiles: ["a.txt", "dir/b.txt.gz", "ünï.txt"])

    func write(_ instances: [PretrainingInstance], to path: String, maxSeqLength: Int = 16, maxPredictions: Int = 4,
               attributes: [String: ShardAttribute]? = nil) throws {
        let writer = try ShardWriter(path: path, maxSeqLength: maxSeqLength, maxPredictions: maxPredictions,
                                     attributes: attributes ?? metadata.attributes)
        for instance in instances { try writer.append(instance) }
        try writer.close()
    }

    /// The writer compresses chunks itself: a chunk deflate cannot shrink (random 32-bit ids) is
    /// stored shuffled only, with the deflate bit in its filter mask, and HDF5's own pipeline
    /// (ShardReader reads through it) must give back every row, next to ordinary chunks.
    func testIncompressibleChunksStoredWithoutDeflateReadBack() throws {
        let dir = try makeTemporaryFolder(self)
        var g = SeededRandom(seed: 9)
        let instances = (0..<1100).map { i -> PretrainingInstance in
            var instance = sampleInstance(i, length: 16, predictions: 4)
            if i < 512 { // the first chunk: incompressible ids
                instance.inputIds = instance.inputIds.map { _ in Int32(truncatingIfNeeded: g.next()) }
                instance.maskedIds = instance.maskedIds.map { _ in Int32(truncatingIfNeeded: g.next()) }
            }
            return instance
        }
        try write(instances, to: dir + "/x.hdf5")
        let reader = try ShardReader(path: dir + "/x.hdf5")
        XCTAssertEqual(reader.count, 1100)
        for i in [0, 1, 300, 511, 512, 513, 1023, 1024, 1099] {
            XCTAssertEqual(try reader.instance(i), instances[i], "instance \(i)")
        }
        // The raw chunk of input_ids is as large as the data (stored, not deflated).
        let file = try HDF5File.openReadOnly(path: dir + "/x.hdf5")
        let ids = try file.openDataset(ShardDataset.inputIds.rawValue)
        var mask: UInt32 = 0, size: hsize_t = 0
        var origin: [hsize_t] = [0, 0]
        XCTAssertGreaterThanOrEqual(H5Dget_chunk_info_by_coord(ids.id, &origin, &mask, nil, &size), 0)
        XCTAssertEqual(mask, 0b10, "deflate skipped for the random chunk")
        XCTAssertEqual(Int(size), 512 * 16 * 4)
        origin = [512, 0]
        XCTAssertGreaterThanOrEqual(H5Dget_chunk_info_by_coord(ids.id, &origin, &mask, nil, &size), 0)
        XCTAssertEqual(mask, 0, "shuffled and deflated")
        XCTAssertLessThan(Int(size), 512 * 16 * 4 / 4)
        try ids.close()
        try file.close()
    }

    func testRoundTripAcrossChunkBoundariesAndAttributes() throws {
        let dir = try makeTemporaryFolder(self)
        let path = dir + "/part-00000-training.hdf5"
        // T = 16 gives 512 rows per chunk; 2500 instances span five chunks, the last partial.
        XCTAssertEqual(ShardWriter.chunkRows(maxSeqLength: 16), 512)
        XCTAssertEqual(ShardWriter.chunkRows(maxSeqLength: 128), 64)
        XCTAssertEqual(ShardWriter.chunkRows(maxSeqLength: 512), 16)
        let instances = (0..<2500).map { sampleInstance($0, length: 5 + $0 % 12, predictions: 1 + $0 % 4) }
        try write(instances, to: path)

        let reader = try ShardReader(path: path)
        XCTAssertEqual(reader.count, 2500)
        XCTAssertEqual(reader.maxSeqLength, 16)
        XCTAssertEqual(reader.maxPredictions, 4)
        XCTAssertEqual(reader.chunkRows, 512)
        XCTAssertEqual(reader.metadata, metadata)
        for i in [0, 1, 511, 512, 1023, 1024, 2047, 2048, 2499] {
            XCTAssertEqual(try reader.instance(i), instances[i], "instance \(i)")
        }
        // Bulk read of a range crossing a chunk boundary (1024), compared with padding done by hand.
        let rows = try reader.readRows(1000..<1100)
        XCTAssertEqual(rows.count, 100)
        for r in 0..<100 {
            let expected = instances[1000 + r]
            XCTAssertEqual(rows.instance(r), expected)
            let maskRow = Array(rows.inputMask[(r * 16)..<((r + 1) * 16)])
            XCTAssertEqual(maskRow, (0..<16).map { $0 < expected.inputIds.count ? 1 : 0 })
            let idRow = Array(rows.inputIds[(r * 16)..<((r + 1) * 16)])
            XCTAssertEqual(idRow, expected.inputIds + Array(repeating: 0, count: 16 - expected.inputIds.count))
            let positionRow = Array(rows.maskedPositions[(r * 4)..<((r + 1) * 4)])
            XCTAssertEqual(positionRow, expected.maskedPositions + Array(repeating: 0, count: 4 - expected.maskedPositions.count))
        }
        // Reusing a block: shrinking and growing keeps the contents right.
        var block = ShardRows(count: 0, maxSeqLength: 16, maxPredictions: 4)
        try reader.readRows(2490..<2500, into: &block)
        XCTAssertEqual((0..<10).map { block.instance($0) }, Array(instances[2490..<2500]))
        try reader.readRows(0..<3, into: &block)
        XCTAssertEqual((0..<3).map { block.instance($0) }, Array(instances[0..<3]))
        XCTAssertThrowsError(try reader.readRows(2499..<2501)) { error in
            XCTAssertTrue("\(error)".contains(path) && "\(error)".contains("2500"), "\(error)")
        }
    }

    func testEmptyShardAndForeignAttributes() throws {
        let dir = try makeTemporaryFolder(self)
        try write([], to: dir + "/empty.hdf5", attributes: ["note": .string("hello"), "ratio": .double(0.5)])
        let reader = try ShardReader(path: dir + "/empty.hdf5")
        XCTAssertEqual(reader.count, 0)
        XCTAssertEqual(reader.attributes["note"], .string("hello"))
        XCTAssertEqual(reader.attributes["ratio"], .double(0.5))
        // The writer records T and P itself.
        XCTAssertEqual(reader.attributes["max_seq_length"], .int(16))
        XCTAssertEqual(reader.attributes["max_predictions_per_seq"], .int(4))
        XCTAssertEqual(try reader.readRows(0..<0).count, 0)
    }

    func testLargeAttributesBeyondTheObjectHeaderLimit() throws {
        // 5000 source files of ~60 bytes: 300 KB, far over the 64 KiB of a compact attribute list,
        // so HDF5 must store them densely (1.8 format).
        let dir = try makeTemporaryFolder(self)
        let files = (0..<5000).map { "corpus/books/part-\($0)/" + String(repeating: "x", count: 40) + ".txt.gz" }
        var metadata = self.metadata
        metadata.sourceFiles = files
        try write([sampleInstance(0, length: 8, predictions: 1)], to: dir + "/big.hdf5", attributes: metadata.attributes)
        XCTAssertEqual(try ShardReader(path: dir + "/big.hdf5").metadata.sourceFiles, files)
    }

    func testIdenticalContentGivesIdenticalBytes() throws {
        let dir = try makeTemporaryFolder(self)
        let instances = (0..<300).map { sampleInstance($0, length: 16, predictions: 3) }
        try write(instances, to: dir + "/a.hdf5")
        // Object time stamps have one-second resolution: wait so they would differ if recorded.
        Thread.sleep(forTimeInterval: 1.1)
        try write(instances, to: dir + "/b.hdf5")
        let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/a.hdf5"))
        let b = try Data(contentsOf: URL(fileURLWithPath: dir + "/b.hdf5"))
        XCTAssertEqual(a.count, b.count)
        XCTAssertTrue(a == b, "shards with identical content differ in their bytes")
    }

    func testInterruptedWriteLeavesNoShard() throws {
        let dir = try makeTemporaryFolder(self)
        let path = dir + "/part-00001-training.hdf5"
        do {
            let writer = try ShardWriter(path: path, maxSeqLength: 16, maxPredictions: 4, attributes: [:])
            for i in 0..<2000 { try writer.append(sampleInstance(i, length: 10, predictions: 2)) }
            // Before close: nothing under the final name, only a hidden temporary file.
            XCTAssertFalse(FileManager.default.fileExists(atPath: path))
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }, [])
            // Dropped without close (as if the build failed): the temporary file goes too.
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }

    func testWriterRefusesWhatTheLayoutCannotHold() throws {
        let dir = try makeTemporaryFolder(self)
        let writer = try ShardWriter(path: dir + "/x.hdf5", maxSeqLength: 8, maxPredictions: 2, attributes: [:])
        let good = PretrainingInstance(inputIds: [2, 5, 3, 6, 3], segmentIds: [0, 0, 0, 1, 1], maskedPositions: [1, 3],
                                       maskedIds: [5, 6], nextSentenceLabel: 0)
        try writer.append(good)
        var cases: [(String, PretrainingInstance)] = []
        var i = good; i.inputIds = Array(repeating: 5, count: 9); i.segmentIds = Array(repeating: 0, count: 9)
        cases.append(("9 tokens", i))
        i = good; i.segmentIds = [0, 0, 0, 1]; cases.append(("4 segment ids", i))
        i = good; i.maskedPositions = [1, 2, 3]; i.maskedIds = [5, 3, 6]; cases.append(("3 predictions", i))
        i = good; i.maskedPositions = [3, 1]; cases.append(("rule masked-positions", i))
        i = good; i.maskedPositions = [0, 1]; cases.append(("rule masked-positions", i))
        i = good; i.maskedPositions = [1, 5]; cases.append(("rule masked-positions", i))
        i = good; i.maskedIds = [5]; cases.append(("masked ids", i))
        i = good; i.nextSentenceLabel = 2; cases.append(("next sentence label", i))
        for (expected, instance) in cases {
            XCTAssertThrowsError(try writer.append(instance)) { error in
                XCTAssertTrue("\(error)".contains("instance 1") && "\(error)".contains(expected), "\(error) should say \(expected)")
            }
        }
        try writer.close()
        XCTAssertEqual(try ShardReader(path: dir + "/x.hdf5").count, 1)
        XCTAssertThrowsError(try ShardWriter(path: dir + "/y.hdf5", maxSeqLength: 8, maxPredictions: 2,
                                             attributes: ["max_seq_length": .int(128)]))
    }

    func testReaderErrorsNameTheFile() throws {
        let dir = try makeTemporaryFolder(self)
        XCTAssertThrowsError(try ShardWriter(path: dir + "/no/such/dir/x.hdf5", maxSeqLength: 8, maxPredictions: 2, attributes: [:])) { error in
            XCTAssertTrue("\(error)".hasPrefix(dir + "/no/such/dir/x.hdf5: cannot create shard"), "\(error)")
        }
        XCTAssertThrowsError(try ShardReader(path: dir + "/none.hdf5")) { error in
            XCTAssertTrue("\(error)".contains(dir + "/none.hdf5") && "\(error)".contains("no such file"), "\(error)")
        }
        try writeFile(dir + "/text.hdf5", Array("not hdf5\n".utf8))
        XCTAssertThrowsError(try ShardReader(path: dir + "/text.hdf5")) { error in
            XCTAssertTrue("\(error)".contains("not an HDF5 file"), "\(error)")
        }
    }
}
