// The build's spill records (BuildSpill.swift): what pass 2 writes, pass 3 copies into a shard
// unchanged, in both word widths, across the writer's buffer boundaries, and damage is reported.

@testable import CorpusBuild
import Foundation
@testable import PretrainingData
@testable import ShardFormat
import Storage
import XCTest

final class SpillTests: XCTestCase {
    /// Random valid instances with ids below `vocabularySize`, lengths up to T, predictions up to P.
    func instances(_ count: Int, vocabularySize: Int, maxSeqLength: Int, maxPredictions: Int) -> [PretrainingInstance] {
        var g = SeededRandom(seed: 21)
        return (0..<count).map { _ in
            let length = 5 + g.randbelow(maxSeqLength - 4)
            let bStart = 2 + g.randbelow(length - 3)
            let ids = (0..<length).map { _ in Int32(g.randbelow(vocabularySize)) }
            let positions = Array(Set((0..<(1 + g.randbelow(maxPredictions))).map { _ in Int32(1 + g.randbelow(length - 1)) })).sorted()
            return PretrainingInstance(inputIds: ids, segmentIds: (0..<length).map { Int32($0 >= bStart ? 1 : 0) },
                                       maskedPositions: positions, maskedIds: positions.map { _ in Int32(g.randbelow(vocabularySize)) },
                                       nextSentenceLabel: Int32(g.randbelow(2)))
        }
    }

    func roundTrip(vocabularySize: Int, expected: SpillRecordWidth) throws {
        let dir = try makeTemporaryFolder(self)
        let (T, P) = (128, 20)
        let width = SpillRecordWidth(vocabularySize: vocabularySize, maxSeqLength: T)
        XCTAssertEqual(width, expected)
        let written = instances(6000, vocabularySize: vocabularySize, maxSeqLength: T, maxPredictions: P)
        let file = try BufferedOutput(creating: dir + "/records.bin")
        var offsets: [Int] = []
        for instance in written {
            offsets.append(file.bytesWritten)
            try CorpusBuilder.writeRecord(instance, to: file, width: width)
        }
        try file.close()
        let size = try FileManager.default.attributesOfItem(atPath: dir + "/records.bin")[.size] as! Int
        XCTAssertEqual(size, file.bytesWritten)
        XCTAssertGreaterThan(size, 1 << 20, "records cross the writer's buffer boundary")
        // Copied in a shuffled order, as pass 3 does.
        var order = Array(written.indices)
        var g = SeededRandom(seed: 5)
        g.shuffle(&order)
        let records = try RecordFile(path: dir + "/records.bin", width: width, maxSeqLength: T, maxPredictions: P)
        let writer = try ShardWriter(path: dir + "/shard.hdf5", maxSeqLength: T, maxPredictions: P, attributes: [:])
        for i in order { try records.copyRecord(at: offsets[i], to: writer) }
        try writer.close()
        let reader = try ShardReader(path: dir + "/shard.hdf5")
        XCTAssertEqual(reader.count, written.count)
        for (k, i) in order.enumerated() where k % 7 == 0 || k == order.count - 1 {
            XCTAssertEqual(try reader.instance(k), written[i], "record \(i)")
        }
        // A record cut off by the end of the file is an error naming the file.
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: dir + "/records.bin"))
        try handle.truncate(atOffset: UInt64(offsets.last! + 4 * width.bytes + 2))   // the header, not the body
        try handle.close()
        let other = try ShardWriter(path: dir + "/other.hdf5", maxSeqLength: T, maxPredictions: P, attributes: [:])
        XCTAssertThrowsError(try RecordFile(path: dir + "/records.bin", width: width, maxSeqLength: T, maxPredictions: P)
            .copyRecord(at: offsets.last!, to: other)) { error in
            XCTAssertTrue("\(error)".contains("records.bin") && "\(error)".contains("is damaged"), "\(error)")
        }
    }

    func testNarrowRecordsForVocabulariesUpTo65536() throws {
        try roundTrip(vocabularySize: 65_536, expected: .narrow)
    }

    func testWideRecordsForLargerVocabularies() throws {
        try roundTrip(vocabularySize: 70_000, expected: .wide)
    }

    func testLongArraysGoStraightThroughTheWriter() throws {
        let dir = try makeTemporaryFolder(self)
        let big = (0..<700_000).map { Int32($0 % 60_000) }   // 2.8 MB wide, 1.4 MB narrow: both over the 1 MiB buffer
        let file = try BufferedOutput(creating: dir + "/x.bin")
        try file.append(littleEndian: Int32(7))
        try file.append(big)
        try file.appendNarrow(big)
        try file.close()
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/x.bin"))
        XCTAssertEqual(data.count, 4 + 4 * big.count + 2 * big.count)
        data.withUnsafeBytes { b in
            XCTAssertEqual(b.loadUnaligned(fromByteOffset: 0, as: Int32.self), 7)
            for k in stride(from: 0, to: big.count, by: 9999) {
                XCTAssertEqual(b.loadUnaligned(fromByteOffset: 4 + 4 * k, as: Int32.self), big[k])
                XCTAssertEqual(Int32(b.loadUnaligned(fromByteOffset: 4 + 4 * big.count + 2 * k, as: UInt16.self)), big[k])
            }
        }
    }
}
