// Shards as train and evaluate meet them (issue 11, items 1–3), with real mpirun: verification against
// manifest.json on every rank before HDF5, the fatal-signal message naming rank and shard, --eval-data
// as a folder or files, and evaluate refusing what inspect rejects.

import CHDF5
@testable import CorpusBuild
import Foundation
@testable import ShardFormat
import XCTest

/// Writes manifest.json for the shards of `folder` as `bert-corpus build` does (sizes, sha256sum's digests).
func writeManifest(_ folder: String) throws {
    var training: [[String: Any]] = [], test: [[String: Any]] = []
    for name in try FileManager.default.contentsOfDirectory(atPath: folder).sorted() where name.hasSuffix(".hdf5") {
        let path = folder + "/" + name
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let digest = String(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64))
        process.waitUntilExit()
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        let entry: [String: Any] = ["file": name, "bytes": size, "sha256": digest, "instances": 0]
        if name.contains("test") { test.append(entry) } else { training.append(entry) }
    }
    let data = try JSONSerialization.data(withJSONObject: ["training_shards": training, "test_shards": test])
    try data.write(to: URL(fileURLWithPath: folder + "/manifest.json"))
}

/// Replaces row `row` of dataset `name` (values converted to the file's type by HDF5), to make shards
/// that our writer refuses to write.
func overwriteRow(_ path: String, _ name: String, row: Int, _ values: [Int32]) throws {
    // (The reader is closed before HDF5 opens the file for writing: it refuses a file open read-only.)
    var rows = try { let reader = try ShardReader(path: path); return try reader.readRows(0..<reader.count) }()
    let width = values.count
    switch name {
    case "input_ids": rows.inputIds.replaceSubrange((row * width)..<((row + 1) * width), with: values)
    case "masked_lm_positions": rows.maskedPositions.replaceSubrange((row * width)..<((row + 1) * width), with: values)
    default: throw TrainingTestError("overwriteRow: \(name) not supported")
    }
    let all = name == "input_ids" ? rows.inputIds : rows.maskedPositions
    let file = H5Fopen(path, 1 /* H5F_ACC_RDWR */, chdf5_p_default())
    let dataset = H5Dopen2(file, name, chdf5_p_default())
    defer { H5Dclose(dataset); H5Fclose(file) }
    guard file >= 0, dataset >= 0,
          all.withUnsafeBufferPointer({ H5Dwrite(dataset, chdf5_native_int32(), chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), $0.baseAddress) }) >= 0
    else { throw TrainingTestError("overwriteRow: HDF5 write of \(name) in \(path) failed") }
}

/// Waits (at most `timeout` s) until process `pid` is blocked opening a FIFO (its wait channel says so).
func waitUntilBlocked(_ pid: Int32, timeout: TimeInterval = 60) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if let channel = try? String(contentsOfFile: "/proc/\(pid)/wchan", encoding: .utf8), channel.hasPrefix("wait_for_partner") { return true }
        usleep(20_000)
    }
    return false
}

final class ShardReliabilityTests: XCTestCase {
    let base = ["--config", "", "--lr", "1e-3", "--warmup-steps", "0", "--log-every-steps", "1", "--seed", "42",
                "--hidden-dropout", "0", "--attention-dropout", "0"]

    func arguments(_ corpus: TinyCorpus, output: String) -> [String] {
        var a = base
        a[1] = corpus.config
        return a + ["--data", corpus.data, "--output", output]
    }

    /// Every rank verifies its share (rank r: shards r, r+N, …) before any rank opens a shard: a shard only
    /// rank 1 checks ends the job naming it, rank 1, expected vs found; intact shards pass with a log line.
    func testTrainVerifiesItsShareOnEveryRankBeforeOpening() throws {
        let corpus = try TinyCorpus(trainingShards: [16, 16, 16], testShards: [8])
        try writeManifest(corpus.data)
        var r = try MPI.run(ranks: 2, arguments(corpus, output: corpus.root + "/good") + ["--batch-size", "4", "--stop-after-steps", "1"],
                            log: corpus.root + "/good", timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("verified 2 shards"), "rank 0 checks shards 0 and 2 of 4:\n\(r.stderr)")

        let victim = corpus.data + "/part-00001-training.hdf5"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
        bytes[bytes.count - 10] ^= 0x80
        try bytes.write(to: URL(fileURLWithPath: victim))
        let out = corpus.root + "/bad"
        r = try MPI.run(ranks: 2, arguments(corpus, output: out) + ["--batch-size", "4"], log: out, timeout: 60)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("\(victim): does not match \(corpus.data)/manifest.json (checked by rank 1 of 2): SHA-256"), r.stderr)
        let rows = (try? readMetrics(out + "/metrics.csv")) ?? []
        XCTAssertEqual(rows.count, 0, "no step may run")
    }

    /// SIGSEGV to a rank blocked opening a shard (a FIFO, verification off) prints the rank and the shard, and
    /// the job ends.
    func testFatalSignalNamesRankAndShardUnderMPI() throws {
        let corpus = try TinyCorpus(trainingShards: [], testShards: [])
        let fifo = corpus.data + "/part-00000-training.hdf5"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let out = corpus.root + "/run"
        let p = try MPI.start(ranks: 2, arguments(corpus, output: out) + ["--no-verify-shards"], log: out)
        var ranks: [Int32] = []
        let deadline = Date().addingTimeInterval(30)
        while ranks.count < 2 && Date() < deadline { usleep(100_000); ranks = MPI.children(of: p.processIdentifier) }
        XCTAssertEqual(ranks.count, 2)
        for rank in ranks {
            XCTAssertTrue(waitUntilBlocked(rank), "rank process \(rank) never reached open(2) of the FIFO")
        }
        if let rank = ranks.last { kill(rank, SIGSEGV) }
        let r = MPI.wait(p, log: out, timeout: 60)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertNotNil(r.stderr.range(of: #"error: \[rank [01]/2\] fatal signal SIGSEGV while opening shard "#, options: .regularExpression), r.stderr)
        XCTAssertTrue(r.stderr.contains("fatal signal SIGSEGV while opening shard \(fifo)"), r.stderr)
    }

    /// --eval-data takes a folder (its *test* shards) or a list of files; both evaluate the same 10 instances,
    /// so the held-out rows of a 2-rank and a 1-rank run of the same global batch agree.
    func testEvalDataTakesAFolderOrFiles() throws {
        let corpus = try TinyCorpus(trainingShards: [16], testShards: [])
        let held = try TinyCorpus(trainingShards: [5], testShards: [6, 4], seed: 7)
        let folder = corpus.root + "/folder"
        var r = try MPI.run(ranks: 2, arguments(corpus, output: folder) + ["--batch-size", "4", "--eval-data", held.data], log: folder)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("held-out: 10 instances in 2 shards"), r.stderr)
        let files = corpus.root + "/files"
        r = try MPI.run(ranks: 1, arguments(corpus, output: files) + ["--batch-size", "8", "--eval-data",
                        held.data + "/part-00000-test.hdf5", held.data + "/part-00001-test.hdf5"], log: files)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("held-out: 10 instances in 2 shards"), r.stderr)
        let a = try readMetrics(folder + "/metrics.csv").filter { $0["split"] == "eval" }
        let b = try readMetrics(files + "/metrics.csv").filter { $0["split"] == "eval" }
        XCTAssertEqual(a.count, 1)
        XCTAssertEqual(b.count, 1)
        for column in ["loss", "mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy"] {
            XCTAssertLessThanOrEqual(relativeDifference(a.first?[column], b.first?[column]), 1e-5, column)
        }
        // A folder with no shard at all is an error, not an empty evaluation.
        let empty = corpus.root + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        r = try MPI.run(ranks: 1, arguments(corpus, output: corpus.root + "/none") + ["--batch-size", "8", "--eval-data", empty],
                        log: corpus.root + "/none")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("\(empty): no shard files"), r.stderr)
    }

    /// evaluate checks its shards with the validator inspect uses, naming shard and instance: a masked
    /// position in the padding, a first token that is not [CLS], and an empty set are refused.
    func testEvaluateRefusesWhatInspectRejects() throws {
        let corpus = try TinyCorpus(trainingShards: [8], testShards: [6, 6, 6])
        let run = corpus.root + "/run"
        var r = try MPI.run(ranks: 1, arguments(corpus, output: run) + ["--batch-size", "8", "--stop-after-steps", "1", "--skip-eval"], log: run)
        XCTAssertEqual(r.status, 0, r.stderr)
        let checkpoint = run + "/step-0000001"

        let padding = corpus.data + "/part-00000-test.hdf5"
        let row = try ShardReader(path: padding).readRows(0..<6)
        let k = (0..<6).first { row.length(ofRow: $0) < TinyCorpus.maxSeqLength - 1 }!
        var positions = row.instance(k).maskedPositions
        positions[positions.count - 1] = Int32(row.length(ofRow: k) + 1)
        try overwriteRow(padding, "masked_lm_positions", row: k, positions + Array(repeating: 0, count: TinyCorpus.maxPredictions - positions.count))
        r = try MPI.run(ranks: 2, ["evaluate", "--checkpoint", checkpoint, "--data", padding, "--json"], log: corpus.root + "/e1")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertFalse(r.stdout.contains("\"loss\""), r.stdout)
        XCTAssertTrue(r.stderr.contains("\(padding): instance \(k): rule masked-positions: masked position \(row.length(ofRow: k) + 1) is padding"), r.stderr)

        let notCLS = corpus.data + "/part-00001-test.hdf5"
        var ids = Array(try ShardReader(path: notCLS).readRows(2..<3).inputIds)
        ids[0] = 7
        try overwriteRow(notCLS, "input_ids", row: 2, ids)
        // Rank 1 checks the second shard of the list.
        r = try MPI.run(ranks: 2, ["evaluate", "--checkpoint", checkpoint, "--data", corpus.data + "/part-00002-test.hdf5", notCLS],
                        log: corpus.root + "/e2")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("[rank 1/2]"), r.stderr)
        XCTAssertTrue(r.stderr.contains("\(notCLS): instance 2: rule cls-first: first token is 7, expected [CLS] = 2"), r.stderr)
        let inspect = try Process.run(URL(fileURLWithPath: (MPI.executable as NSString).deletingLastPathComponent + "/bert-corpus"),
                                      arguments: ["inspect", notCLS, "--show", "0"])  // (its report goes to the test log)
        inspect.waitUntilExit()
        XCTAssertEqual(inspect.terminationStatus, 1, "inspect rejects the same shard")

        let empty = corpus.root + "/empty-test.hdf5"
        let writer = try ShardWriter(path: empty, maxSeqLength: TinyCorpus.maxSeqLength, maxPredictions: TinyCorpus.maxPredictions, attributes: [:])
        try writer.close()
        r = try MPI.run(ranks: 1, ["evaluate", "--checkpoint", checkpoint, "--data", empty, "--json"], log: corpus.root + "/e3")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertFalse(r.stdout.contains("\"loss\""), r.stdout)
        XCTAssertTrue(r.stderr.contains("\(empty): no instances: nothing to evaluate"), r.stderr)
    }
}
