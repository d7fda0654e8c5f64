import CZlib
import Foundation
import Randomness
import Storage
import XCTest

/// A fresh empty folder under the system temp directory, removed by the caller's `addTeardownBlock`.
func makeTemporaryFolder(_ test: XCTestCase, _ name: String = #function) throws -> String {
    let folder = NSTemporaryDirectory() + "corpus-tests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
    return folder
}

/// Compresses `bytes` as one gzip member with zlib's deflate (independent of the reader's inflate path).
func gzipCompress(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
    let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    stream.initialize(to: z_stream())
    defer { deflateEnd(stream); stream.deallocate() }
    precondition(czlib_deflate_init_gzip(stream, level) == Z_OK)
    var output = [UInt8](repeating: 0, count: Int(deflateBound(stream, UInt(bytes.count))) + 64)
    var input = bytes
    let produced = input.withUnsafeMutableBufferPointer { inp in
        output.withUnsafeMutableBufferPointer { out in
            stream.pointee.next_in = inp.baseAddress
            stream.pointee.avail_in = UInt32(inp.count)
            stream.pointee.next_out = out.baseAddress
            stream.pointee.avail_out = UInt32(out.count)
            precondition(deflate(stream, Z_FINISH) == Z_STREAM_END)
            return out.count - Int(stream.pointee.avail_out)
        }
    }
    return Array(output[..<produced])
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// All lines of a file as Strings, through the reader under test.
func readAllLines(_ path: String, bufferSize: Int = 1 << 16) throws -> [String] {
    let reader = try TextLineReader(path: path, bufferSize: bufferSize)
    var lines: [String] = []
    try reader.forEachLine { lines.append(String(decoding: $0, as: UTF8.self)) }
    XCTAssertEqual(reader.lineNumber, lines.count)
    return lines
}

final class TextInputTests: XCTestCase {
    func testPlainFileLinesWithAndWithoutTrailingNewline() throws {
        let dir = try makeTemporaryFolder(self)
        try writeFile(dir + "/a.txt", Array("one\ntwo\n\nfour\n".utf8))
        XCTAssertEqual(try readAllLines(dir + "/a.txt"), ["one", "two", "", "four"])
        try writeFile(dir + "/b.txt", Array("one\ntwo".utf8))
        XCTAssertEqual(try readAllLines(dir + "/b.txt"), ["one", "two"])
        // "\r" is kept: the reader splits at "\n" only, as documented.
        try writeFile(dir + "/c.txt", Array("x\r\ny".utf8))
        XCTAssertEqual(try readAllLines(dir + "/c.txt"), ["x\r", "y"])
    }

    func testEmptyFileAndNewlineOnlyFile() throws {
        let dir = try makeTemporaryFolder(self)
        try writeFile(dir + "/empty.txt", [])
        XCTAssertEqual(try readAllLines(dir + "/empty.txt"), [])
        try writeFile(dir + "/nl.txt", Array("\n\n".utf8))
        XCTAssertEqual(try readAllLines(dir + "/nl.txt"), ["", ""])
        try writeFile(dir + "/empty.gz", gzipCompress([]))
        XCTAssertEqual(try readAllLines(dir + "/empty.gz"), [])
    }

    func testLinesAcrossBufferBoundariesAndLongerThanTheBuffer() throws {
        let dir = try makeTemporaryFolder(self)
        // Lines of every length 0...40 with a 7-byte buffer: every split position occurs, and
        // lines longer than the buffer force it to grow.
        let expected = (0...40).map { n in String((0..<n).map { Character(UnicodeScalar(97 + ($0 % 26))!) }) }
        let text = Array(expected.joined(separator: "\n").utf8)
        try writeFile(dir + "/lines.txt", text)
        try writeFile(dir + "/lines.txt.gz", gzipCompress(text))
        for bufferSize in [1, 2, 7, 64, 1 << 16] {
            XCTAssertEqual(try readAllLines(dir + "/lines.txt", bufferSize: bufferSize), expected, "plain, buffer \(bufferSize)")
            XCTAssertEqual(try readAllLines(dir + "/lines.txt.gz", bufferSize: bufferSize), expected, "gzip, buffer \(bufferSize)")
        }
    }

    func testGzipIsDetectedByMagicBytesAndConcatenatedMembersAreRead() throws {
        let dir = try makeTemporaryFolder(self)
        // No .gz extension: detection is by content.
        try writeFile(dir + "/members", gzipCompress(Array("first\nsec".utf8)) + gzipCompress(Array("ond\nthird\n".utf8), level: 1))
        let reader = try TextLineReader(path: dir + "/members")
        XCTAssertTrue(reader.isCompressed)
        XCTAssertEqual(try readAllLines(dir + "/members"), ["first", "second", "third"])
        // A large, well-compressible stream spanning many input and output chunks.
        let many = (0..<5000).map { "line \($0) " + String(repeating: "x", count: $0 % 50) }
        try writeFile(dir + "/many.gz", gzipCompress(Array((many.joined(separator: "\n") + "\n").utf8)))
        XCTAssertEqual(try readAllLines(dir + "/many.gz", bufferSize: 512), many)
    }

    func testTruncatedGzipIsAnErrorNamingTheFile() throws {
        let dir = try makeTemporaryFolder(self)
        let full = gzipCompress(Array((0..<2000).map { "sentence number \($0)\n" }.joined().utf8))
        let path = dir + "/cut.txt.gz"
        try writeFile(path, Array(full[..<(full.count / 2)]))
        XCTAssertThrowsError(try readAllLines(path, bufferSize: 256)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(path), message)
            XCTAssertTrue(message.contains("truncated"), message)
        }
        // Cut inside the 8-byte trailer (CRC and length): still truncated, not silently accepted.
        try writeFile(path, Array(full[..<(full.count - 3)]))
        XCTAssertThrowsError(try readAllLines(path)) { error in
            XCTAssertTrue("\(error)".contains("truncated"), "\(error)")
        }
        // Garbage after a complete member is corruption, named with the file.
        try writeFile(path, full + Array("not gzip".utf8))
        XCTAssertThrowsError(try readAllLines(path)) { error in
            XCTAssertTrue("\(error)".contains(path) && "\(error)".contains("corrupt"), "\(error)")
        }
    }

    func testFolderListingIsRecursiveSortedAndSkipsHiddenFiles() throws {
        let dir = try makeTemporaryFolder(self)
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/b/inner", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/.hidden", withIntermediateDirectories: true)
        for name in ["b/inner/z.txt", "b/a.txt", "a.txt", "C.txt", ".dot.txt", ".hidden/x.txt", "b/.tmp"] {
            try writeFile(dir + "/" + name, Array("x\n".utf8))
        }
        // Byte order: "C" (0x43) before "a" (0x61); folder "b" expanded in place.
        XCTAssertEqual(try TextInput.files([dir]), [dir + "/C.txt", dir + "/a.txt", dir + "/b/a.txt", dir + "/b/inner/z.txt"])
        // Files given explicitly keep their order, hidden or not.
        XCTAssertEqual(try TextInput.files([dir + "/b/a.txt", dir + "/.dot.txt"]), [dir + "/b/a.txt", dir + "/.dot.txt"])
        XCTAssertThrowsError(try TextInput.files([dir + "/missing"])) { error in
            XCTAssertTrue("\(error)".contains(dir + "/missing"), "\(error)")
        }
        try fm.createDirectory(atPath: dir + "/empty/.git", withIntermediateDirectories: true)
        try writeFile(dir + "/empty/.git/config", Array("x\n".utf8))
        XCTAssertThrowsError(try TextInput.files([dir + "/empty"]))
    }

    func testCorruptedGzipNeverCrashesOrHangs() throws {
        let dir = try makeTemporaryFolder(self)
        let text = Array((0..<400).map { "line \($0) of some text\n" }.joined().utf8)
        let full = gzipCompress(text)
        var rng = SplitMix64(seed: 42)   // fixed corruptions: the test is deterministic
        var errors = 0
        for trial in 0..<200 {
            var bytes = full
            // Flip 1-3 bytes after the 2-byte magic (so the file is still taken as gzip).
            for _ in 0..<(1 + trial % 3) { bytes[2 + Int(rng.next() % UInt64(bytes.count - 2))] ^= UInt8(1 + rng.next() % 255) }
            let path = dir + "/corrupt-\(trial).gz"
            try writeFile(path, bytes)
            do {
                _ = try readAllLines(path, bufferSize: 64)
            } catch let error as TextInputError {
                XCTAssertEqual(error.path, path)
                errors += 1
            }
        }
        // The CRC-32 and length trailer catch nearly every corruption the inflater itself does not.
        XCTAssertGreaterThan(errors, 190, "only \(errors) of 200 corrupted files were reported")
    }
}
