import Foundation
import XCTest

/// The `bert-corpus inspect` executable end to end: exit status and messages.
final class InspectCommandTests: XCTestCase {
    /// Runs the built bert-corpus (next to the test bundle's resources in .build/<configuration>).
    func runBertCorpus(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let executable = Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("bert-corpus")
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            XCTFail("\(executable.path) not built: run `swift build --build-tests` first")
            return (-1, "", "")
        }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    func testValidShardExitsZeroAndPrintsStatistics() throws {
        let run = try runBertCorpus(["inspect", shardFixture("h5py-int64-noattrs.hdf5"), "--vocab", shardFixture("vocab.txt"), "--show", "1"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("[CLS] the cat {[MASK]|sat} [SEP] on mat [SEP]"), run.stdout)
        XCTAssertTrue(run.stdout.contains("masked as [MASK]      60.00 %"), run.stdout)
        // Lengths 8, 6, 5 at T = 8: 5 of 24 positions padded, 24/19 = 1.26× from computing on real tokens only.
        XCTAssertTrue(run.stdout.contains("padding share         20.83 %  (5 of 24 positions, instances × T)"), run.stdout)
        XCTAssertTrue(run.stdout.contains("unpadded speed-up     1.26×  (perfect unpadding: compute on real tokens only)"), run.stdout)
        let json = try runBertCorpus(["inspect", shardFixture("h5py-int64-noattrs.hdf5"), "--json", "--show", "0"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(object?["valid"] as? Bool, true)
        let statistics = object?["statistics"] as? [String: Any]
        XCTAssertEqual(statistics?["tokens"] as? Int, 19)
        XCTAssertEqual(statistics?["positions"] as? Int, 24)
        XCTAssertEqual(statistics?["padding_share"] as? Double ?? .nan, 5.0 / 24, accuracy: 1e-12)
        XCTAssertEqual(statistics?["unpadded_speedup"] as? Double ?? .nan, 24.0 / 19, accuracy: 1e-12)
    }

    func testInvalidShardExitsNonZeroNamingFileAndRule() throws {
        let good = shardFixture("h5py-int64-noattrs.hdf5"), bad = shardFixture("h5py-inconsistent-n.hdf5")
        let run = try runBertCorpus(["inspect", good, bad])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("\(bad): rule layout: dataset masked_lm_ids"), run.stderr)
        XCTAssertTrue(run.stderr.contains("1 of 2 shards are invalid"), run.stderr)
        XCTAssertNotEqual(try runBertCorpus(["inspect", "/nonexistent.hdf5"]).status, 0)
        // A folder: every .hdf5 in it, sorted (the fixtures include malformed ones, so exit 1).
        let folder = try runBertCorpus(["inspect", (good as NSString).deletingLastPathComponent, "--show", "0"])
        XCTAssertEqual(folder.status, 1)
        XCTAssertTrue(folder.stderr.contains("7 of 9 shards are invalid"), folder.stderr)
    }
}
