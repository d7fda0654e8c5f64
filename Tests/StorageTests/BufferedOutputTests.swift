// BufferedOutput, the one buffered writer (tokenize's output, the token store, the spill): the file
// holds exactly what was appended, in order, across flushes and straight-through writes; the
// offset it reports is the file's size so far; a failed write throws naming the file.

import Foundation
import Storage
import XCTest

final class BufferedOutputTests: XCTestCase {
    func testFileHoldsEveryAppendInOrderAndOffsetsMatch() throws {
        let path = NSTemporaryDirectory() + "buffered-output-\(UUID().uuidString).bin"
        defer { unlink(path) }
        let out = try BufferedOutput(creating: path)
        var expected: [UInt8] = []
        var offsets: [(reported: Int, expected: Int)] = []
        for i in 0..<300_000 {   // ~2.4 MB of small appends: crosses the 1 MiB flush twice
            offsets.append((out.bytesWritten, expected.count))
            try out.append(littleEndian: UInt32(i))
            expected += [UInt8(i & 0xFF), UInt8((i >> 8) & 0xFF), UInt8((i >> 16) & 0xFF), 0]
            if i % 1000 == 0 {
                out.append(0x0A)
                expected.append(0x0A)
            }
        }
        let big = (0..<400_000).map { Int32($0) }   // 1.6 MB: straight through
        try out.append(big)
        for v in big { withUnsafeBytes(of: v.littleEndian) { expected += $0 } }
        try out.appendNarrow([1, 0x1234, 0xFFFF])
        expected += [1, 0, 0x34, 0x12, 0xFF, 0xFF]
        XCTAssertEqual(out.bytesWritten, expected.count)
        try out.close()
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertEqual(data.count, expected.count)
        XCTAssertTrue(data.elementsEqual(expected), "file differs from the appended bytes")
        XCTAssertTrue(offsets.allSatisfy { $0.reported == $0.expected }, "bytesWritten is not the offset of the next byte")
    }

    func testAFullDiskThrowsNamingTheFile() throws {
        let fd = open("/dev/full", O_WRONLY)
        try XCTSkipIf(fd < 0, "no /dev/full")
        defer { close(fd) }
        let out = BufferedOutput(fd: fd, path: "/dev/full")
        try out.append(Array(repeating: Int32(7), count: 10))
        XCTAssertThrowsError(try out.flush()) { error in
            XCTAssertTrue("\(error)".contains("/dev/full"), "\(error)")
        }
    }
}
