import XCTest
@testable import Storage

final class StorageTests: XCTestCase {
    func testSHA256KnownVectors() {
        // FIPS 180-2 test vectors.
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testAtomicWriteReplacesAndLeavesNoTemporaryFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/file.bin"
        try AtomicFile.write(Data("one".utf8), to: path)
        try AtomicFile.write(Data("two".utf8), to: path)
        XCTAssertEqual(String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self), "two")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["file.bin"])
    }

    func testFailedWriteKeepsThePreviousVersion() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/file.bin"
        try AtomicFile.write(Data("good".utf8), to: path)
        struct Boom: Error {}
        XCTAssertThrowsError(try AtomicFile.write(to: path) { _ in throw Boom() })
        XCTAssertEqual(String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self), "good")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["file.bin"])
    }
}
