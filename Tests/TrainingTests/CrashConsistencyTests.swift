// Crash consistency (issue 11, items 7 and 10a): SIGKILL of the whole job at seeded moments, including
// inside checkpoint writes, then `--resume` from the newest complete checkpoint, ends with the metrics,
// weights and optimizer state of the uninterrupted run, byte for byte; half-written checkpoints are removed.

import Foundation
import Randomness
import XCTest
@testable import Training

final class CrashConsistencyTests: XCTestCase {
    /// Where a kill lands: inside a checkpoint write (the run's own temporary directory has appeared),
    /// after the run has logged a given training step, or at a delay after the start (setup, start-up).
    enum KillPoint { case checkpointWrite, afterStep(Int), afterDelay(TimeInterval) }

    func testKilledAndResumedRunEqualsTheUninterruptedRun() throws {
        let corpus = try TinyCorpus(trainingShards: [40, 24], testShards: [16])
        // 64 instances / (batch 4 × 2 ranks) = 8 steps per epoch, 3 epochs, a checkpoint every 2 steps; dropout on.
        let stepsInAll = 24
        func arguments(_ output: String) -> [String] {
            ["--config", corpus.config, "--data", corpus.data, "--output", output, "--lr", "1e-3", "--warmup-steps", "2",
             "--log-every-steps", "1", "--seed", "42", "--batch-size", "4", "--epochs", "3", "--checkpoint-every-steps", "2"]
        }
        let full = corpus.root + "/full"
        let r = try MPI.run(ranks: 2, arguments(full), log: full + "-log")
        XCTAssertEqual(r.status, 0, r.stderr)

        var rng = SplitMix64(seed: 20261204)
        // The start-up kills come early, while most of the run is left: a delay cannot outrun the plan.
        let plan: [KillPoint] = [
            .checkpointWrite,
            .afterDelay(Double.random(in: 0.05...0.6, using: &rng)),
            .afterStep(Int.random(in: 4...7, using: &rng)),
            .afterDelay(Double.random(in: 0.05...0.6, using: &rng)),
            .checkpointWrite,
            .afterStep(Int.random(in: 12...16, using: &rng)),
            .checkpointWrite,
            .afterStep(Int.random(in: 19...21, using: &rng)),
        ]
        let part = corpus.root + "/part"
        var landedInWrite = 0, killed = 0, runs = 0, removedLogged = 0
        for (i, point) in plan.enumerated() {
            // A kill aimed at a checkpoint write gets writes held open (0.5 s each), so that it lands inside one.
            let hold = if case .checkpointWrite = point { ["BERT_PRETRAIN_TEST_PAUSE_IN_CHECKPOINT_WRITE": "0.5"] } else { [String: String]() }
            let (p, log) = try start(arguments(part), output: part, run: runs, environment: hold)
            runs += 1
            let before = Set(temporaries(part))
            let ok = waitFor(point, process: p, output: part, existingTemporaries: before)
            XCTAssertTrue(ok, "kill \(i + 1) (\(point)): the run ended before the kill point:\n\(read(log + ".err"))")
            killJob(p, output: part)
            killed += 1
            XCTAssertEqual(p.terminationReason, .uncaughtSignal, "kill \(i + 1) (\(point))")
            let left = Set(temporaries(part)).subtracting(before)
            if case .checkpointWrite = point, !left.isEmpty { landedInWrite += 1 }
            if (read(log + ".out") + read(log + ".err")).contains("half-written checkpoint") { removedLogged += 1 }
        }
        XCTAssertEqual(killed, plan.count)
        XCTAssertEqual(landedInWrite, 3, "every kill aimed at a checkpoint write lands inside one")

        // Resume to the end.
        let (p, log) = try start(arguments(part), output: part, run: runs)
        let done = MPI.wait(p, log: log, timeout: 180)
        XCTAssertEqual(done.status, 0, done.stderr)
        if (done.stdout + done.stderr).contains("half-written checkpoint") { removedLogged += 1 }
        XCTAssertGreaterThanOrEqual(removedLogged, landedInWrite, "every run after a kill inside a write logs the removal")
        XCTAssertEqual(temporaries(part), [], "no half-written checkpoint is left")

        // Same rows (every computed column, as written), same final weights and optimizer state, byte for byte.
        let expected = try String(contentsOfFile: full + "/metrics.csv", encoding: .utf8)
        let found = try String(contentsOfFile: part + "/metrics.csv", encoding: .utf8)
        XCTAssertEqual(computedColumns(found), computedColumns(expected))
        XCTAssertEqual(computedColumns(expected).count, 1 + stepsInAll + 3, "header, one row per step, one eval row per epoch")
        for file in ["model.safetensors", "optimizer.safetensors", "trainer-state.json"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: full + "/epoch-0003/" + file))
            let b = try Data(contentsOf: URL(fileURLWithPath: part + "/epoch-0003/" + file))
            if file == "trainer-state.json" {
                // Everything but the output folder and the window's timing fields.
                func comparable(_ d: Data) throws -> NSDictionary {
                    var state = try XCTUnwrap(JSONSerialization.jsonObject(with: d) as? [String: Any])
                    var options = try XCTUnwrap(state["options"] as? [String: Any]), window = try XCTUnwrap(state["window"] as? [String: Any])
                    options["output"] = nil; window["seconds"] = nil; window["allReduceSeconds"] = nil
                    state["options"] = options; state["window"] = window
                    return state as NSDictionary
                }
                XCTAssertEqual(try comparable(a), try comparable(b), file)
            } else {
                XCTAssertTrue(a == b, "\(file) differs from the uninterrupted run's")
            }
        }
        print("crash consistency: \(killed) kills (\(landedInWrite) inside a checkpoint write) in \(runs + 1) runs")
    }

    // MARK: Helpers

    /// Starts the job: fresh while the folder has no complete checkpoint, else `--resume`.
    func start(_ args: [String], output: String, run: Int, environment: [String: String] = [:]) throws -> (Process, String) {
        let log = output + "-log\(run)"
        let resuming = CheckpointDirectory.newest(in: output) != nil
        return (try MPI.start(ranks: 2, resuming ? ["--resume", "--output", output] : args, log: log, environment: environment), log)
    }

    /// Polls until the kill point is reached (true), or the job ended first (false).
    func waitFor(_ point: KillPoint, process p: Process, output: String, existingTemporaries: Set<String>) -> Bool {
        let started = Date()
        let metrics = output + "/metrics.csv"
        let staleInode = inode(metrics)
        while p.isRunning {
            switch point {
            case .checkpointWrite:
                // A temporary of this run (one left by a killed run is there until the trainer removes it).
                if !Set(temporaries(output)).subtracting(existingTemporaries).isEmpty { return true }
            case .afterStep(let step):
                // The file of this run (it is rewritten at start, fresh or restored), holding the step's row.
                if let node = inode(metrics), node != staleInode,
                   let text = try? String(contentsOfFile: metrics, encoding: .utf8),
                   text.contains("\ntrain,\(step),") { return true }
                usleep(1_000)
            case .afterDelay(let seconds):
                if Date().timeIntervalSince(started) >= seconds { return true }
                usleep(1_000)
            }
        }
        return false
    }

    /// SIGKILL to mpirun and every rank of this job (found by the output folder in their command line),
    /// repeated until none is left.
    func killJob(_ p: Process, output: String) {
        for _ in 0..<200 {
            let pids = processes(mentioning: output)
            for pid in pids { kill(pid, SIGKILL) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            if pids.isEmpty && !p.isRunning { break }
            usleep(10_000)
        }
        p.waitUntilExit()
        XCTAssertEqual(processes(mentioning: output), [], "a rank survived the kill")
    }

    /// Live (not zombie) processes whose command line contains `text`.
    func processes(mentioning text: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        let me = getpid()
        return entries.compactMap { Int32($0) }.filter { pid in
            guard pid != me, let cmd = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  String(decoding: cmd.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(text),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            return !stat[stat.index(after: close)...].hasPrefix(" Z")
        }
    }

    func temporaries(_ output: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []).filter(CheckpointDirectory.isTemporaryName).sorted()
    }

    func inode(_ path: String) -> UInt64? {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_ino) : nil
    }

    func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// metrics.csv lines without the timing columns (the last two).
    func computedColumns(_ text: String) -> [String] {
        text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).dropLast(2).joined(separator: ",") }
    }
}

/// Item 7: the clean-up removes our checkpoint temporaries and nothing else.
final class CheckpointTemporaryTests: XCTestCase {
    func testOnlyOurTemporariesAreRemoved() throws {
        let root = NSTemporaryDirectory() + "checkpoint-temporaries-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let ours = [".step-0000010.tmp-4242-123456789", ".epoch-0001.tmp-1-2"]
        let others = ["step-0000010", ".step-0000010.tmp-x-1", ".step-10.tmp-1-2", ".other.tmp-1-2", ".epoch-0001.tmp-1",
                      "notes.step-0000010.tmp-1-2", ".epoch-0001.tmp-1-2-3"]
        for name in ours + others {
            try FileManager.default.createDirectory(atPath: root + "/" + name + "/inner", withIntermediateDirectories: true)
            try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/" + name + "/inner/file"))
        }
        // A file (not a directory) with our temporary name is not a checkpoint: kept.
        try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/.step-0000003.tmp-1-2"))
        for name in ours { XCTAssertTrue(CheckpointDirectory.isTemporaryName(name), name) }
        for name in others { XCTAssertFalse(CheckpointDirectory.isTemporaryName(name), name) }

        let removed = try CheckpointDirectory.removeTemporaries(in: root, logger: nil)
        XCTAssertEqual(removed.map { ($0 as NSString).lastPathComponent }, ours.sorted())
        let left = try FileManager.default.contentsOfDirectory(atPath: root).sorted()
        XCTAssertEqual(left, (others + [".step-0000003.tmp-1-2"]).sorted())
        XCTAssertEqual(try CheckpointDirectory.removeTemporaries(in: root + "/missing", logger: nil), [])
    }
}
