// Defences against damaged shards (issue 11, item 1): string attributes outside HDF5's global heap,
// sizes and SHA-256 in manifest.json, the check against it before HDF5 opens a shard, and the
// fatal-signal handler naming the shard being opened.

import CHDF5
@testable import CorpusBuild
import Foundation
@testable import ShardFormat
import XCTest

/// Runs the built bert-corpus (ranks 0: directly, else under mpirun) with a time limit; nil status: killed by a signal.
struct CorpusRun {
    let status: Int32
    let signal: Int32?
    let stdout: String
    let stderr: String

    static func bertCorpus(_ arguments: [String], ranks: Int = 0, timeout: TimeInterval = 60) throws -> CorpusRun {
        let process = Process()
        if ranks == 0 {
            process.executableURL = URL(fileURLWithPath: BuildTests.executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["mpirun", "--oversubscribe", "-np", String(ranks), BuildTests.executable] + arguments
        }
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        process.environment = environment
        return try run(process, timeout: timeout)
    }

    /// Output goes to files (a pipe could fill and block the child); the child is killed after `timeout`.
    static func run(_ process: Process, timeout: TimeInterval, whileRunning: ((Process) -> Void)? = nil) throws -> CorpusRun {
        let base = NSTemporaryDirectory() + "corpus-run-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: base + ".out", contents: nil)
        FileManager.default.createFile(atPath: base + ".err", contents: nil)
        defer { unlink(base + ".out"); unlink(base + ".err") }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
        try process.run()
        whileRunning?(process)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        var timedOut = false
        if process.isRunning {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        let out = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
        if timedOut { return CorpusRun(status: -1, signal: nil, stdout: out, stderr: "TIMEOUT after \(timeout) s\n" + err) }
        let bySignal = process.terminationReason == .uncaughtSignal
        return CorpusRun(status: process.terminationStatus, signal: bySignal ? process.terminationStatus : nil, stdout: out, stderr: err)
    }
}

/// Waits (at most `timeout` s) until process `pid` is blocked opening a FIFO (its wait channel says so).
func waitUntilBlockedOnFIFO(_ pid: Int32, timeout: TimeInterval = 30) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if let channel = try? String(contentsOfFile: "/proc/\(pid)/wchan", encoding: .utf8), channel.hasPrefix("wait_for_partner") { return true }
        usleep(20_000)
    }
    return false
}

/// SHA-256 by the system's sha256sum (independent of the code under test).
func systemSHA256(_ path: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    process.arguments = [path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(String(decoding: data, as: UTF8.self).prefix(64))
}

final class ShardVerificationTests: XCTestCase {
    func temporaryFolder() throws -> String {
        let path = NSTemporaryDirectory() + "shard-verification-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// A built shard folder (2 ranks, 3 training shards and held-out ones).
    func buildShards() throws -> String {
        let folder = try temporaryFolder()
        let run = try CorpusRun.bertCorpus(["build", "--input", BuildTests.fixtures + "/corpus.txt", "--format", "google",
                                            "--vocab", BuildTests.fixtures + "/vocab.txt", "--output", folder + "/shards",
                                            "--shards", "3", "--holdout-fraction", "0.2", "--max-seq-length", "64",
                                            "--max-predictions-per-seq", "10", "--dupe-factor", "2"], ranks: 2, timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        return folder + "/shards"
    }

    /// Our string attributes are fixed-length: nothing of the file is in a global heap collection
    /// ("GCOL", where variable-length strings live), and they read back as written.
    func testStringAttributesAreFixedLengthAndReadBack() throws {
        let folder = try temporaryFolder()
        let path = folder + "/s-training.hdf5"
        let metadata = ShardMetadata(vocabSize: 100, vocabSHA256: String(repeating: "cd", count: 32), maxSeqLength: 16,
                                     maxPredictionsPerSeq: 4, toolVersion: "bert-corpus test",
                                     sourceFiles: ["a.txt", "", "ünï-longer-name.txt.gz"])
        let writer = try ShardWriter(path: path, maxSeqLength: 16, maxPredictions: 4, attributes: metadata.attributes)
        try writer.append(sampleInstance(1, length: 9, predictions: 2))
        try writer.close()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertNil(bytes.range(of: Data("GCOL".utf8)), "a global heap collection: some attribute is variable-length")
        XCTAssertEqual(try ShardReader(path: path).metadata, metadata)
    }

    /// Variable-length string attributes (what h5py writes for `str`) are still read.
    func testVariableLengthStringAttributesOfOtherToolsAreRead() throws {
        let folder = try temporaryFolder()
        let path = folder + "/vlen-training.hdf5"
        let writer = try ShardWriter(path: path, maxSeqLength: 16, maxPredictions: 4, attributes: [:])
        try writer.append(sampleInstance(2, length: 9, predictions: 2))
        try writer.close()
        // Add one the way h5py does: a scalar variable-length UTF-8 string.
        let file = H5Fopen(path, 1 /* H5F_ACC_RDWR */, chdf5_p_default())
        XCTAssertGreaterThanOrEqual(file, 0)
        let type = H5Tcopy(chdf5_c_s1())
        H5Tset_size(type, chdf5_variable_size())
        H5Tset_cset(type, H5T_CSET_UTF8)
        let space = H5Screate(H5S_SCALAR)
        let attribute = H5Acreate2(file, "tool_version", type, space, chdf5_p_default(), chdf5_p_default())
        let text = strdup("h5py 3.11")
        var pointer: UnsafePointer<CChar>? = UnsafePointer(text)
        XCTAssertGreaterThanOrEqual(H5Awrite(attribute, type, &pointer), 0)
        free(text)
        H5Aclose(attribute); H5Sclose(space); H5Tclose(type); H5Fclose(file)
        XCTAssertNotNil(try Data(contentsOf: URL(fileURLWithPath: path)).range(of: Data("GCOL".utf8)), "the test wrote a variable-length string")
        XCTAssertEqual(try ShardReader(path: path).metadata.toolVersion, "h5py 3.11")
    }

    /// The build records every shard's size and SHA-256 (as sha256sum computes it) in manifest.json,
    /// and inspect verifies them.
    func testBuildRecordsSizeAndSHA256AndInspectVerifiesThem() throws {
        let shards = try buildShards()
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: shards + "/manifest.json"))) as! [String: Any]
        let entries = (manifest["training_shards"] as! [[String: Any]]) + (manifest["test_shards"] as! [[String: Any]])
        let files = try FileManager.default.contentsOfDirectory(atPath: shards).filter { $0.hasSuffix(".hdf5") }.sorted()
        XCTAssertEqual(entries.map { $0["file"] as! String }.sorted(), files)
        for entry in entries {
            let path = shards + "/" + (entry["file"] as! String)
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
            XCTAssertEqual(entry["bytes"] as? Int, size, path)
            XCTAssertEqual(entry["sha256"] as? String, try systemSHA256(path), path)
        }
        let inspect = try CorpusRun.bertCorpus(["inspect", shards, "--show", "0"])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stderr.contains("verified \(files.count) shards"), inspect.stderr)
    }

    /// A flipped byte, a truncated file and a shard the manifest does not list are refused before HDF5
    /// opens them, naming the shard and expected vs found; shards with no manifest are used, said once.
    func testInspectRefusesShardsThatDoNotMatchTheirManifest() throws {
        let shards = try buildShards()
        let victim = shards + "/part-00001-training.hdf5"
        let original = try Data(contentsOf: URL(fileURLWithPath: victim))
        let recorded = try systemSHA256(victim)
        var flipped = original
        flipped[flipped.count / 2] ^= 0x01
        try flipped.write(to: URL(fileURLWithPath: victim))
        var run = try CorpusRun.bertCorpus(["inspect", shards])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("\(victim): does not match \(shards)/manifest.json (checked by rank 0 of 1): SHA-256: manifest.json says \(recorded)"), run.stderr)
        XCTAssertTrue(run.stderr.contains("the file has \(try systemSHA256(victim))"), run.stderr)
        XCTAssertFalse(run.stdout.contains("valid"), "no shard is inspected after a failed verification:\n\(run.stdout)")

        try original.prefix(original.count - 100).write(to: URL(fileURLWithPath: victim))
        run = try CorpusRun.bertCorpus(["inspect", victim])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("size: manifest.json says \(original.count) bytes, the file has \(original.count - 100)"), run.stderr)
        // Skipping the check hands the damaged file to HDF5 (which here reports a clean error).
        run = try CorpusRun.bertCorpus(["inspect", "--no-verify-shards", victim])
        XCTAssertFalse(run.stderr.contains("manifest.json"), run.stderr)
        XCTAssertNil(run.signal, run.stderr)
        try original.write(to: URL(fileURLWithPath: victim))

        try original.write(to: URL(fileURLWithPath: shards + "/extra-training.hdf5"))
        run = try CorpusRun.bertCorpus(["inspect", shards + "/extra-training.hdf5"])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("extra-training.hdf5: not listed in \(shards)/manifest.json"), run.stderr)

        try FileManager.default.removeItem(atPath: shards + "/manifest.json")
        run = try CorpusRun.bertCorpus(["inspect", victim, "--show", "0"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("shards in \(shards) not verified: no manifest.json beside them"), run.stderr)
    }

    /// A fatal signal while a shard is being opened prints the rank and the shard's path before the
    /// process dies (a FIFO named as a shard blocks the open until the signal arrives).
    func testFatalSignalNamesTheShardBeingOpened() throws {
        let folder = try temporaryFolder()
        let fifo = folder + "/part-00000-training.hdf5"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: BuildTests.executable)
        process.arguments = ["inspect", "--no-verify-shards", fifo]
        let run = try CorpusRun.run(process, timeout: 30) { p in
            XCTAssertTrue(waitUntilBlockedOnFIFO(p.processIdentifier), "the child never reached open(2) of the FIFO")
            kill(p.processIdentifier, SIGSEGV)
        }
        XCTAssertEqual(run.signal, SIGSEGV, "the default action ends the process with the signal:\n\(run.stderr)")
        XCTAssertTrue(run.stderr.contains("error: [rank 0/1] fatal signal SIGSEGV while opening shard \(fifo)"), run.stderr)
    }
}
