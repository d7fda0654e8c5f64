// The stall watchdog: its limit and message (no MPI), a stopped rank of a real 2-rank job, and a
// single rank stuck opening a shard that never opens.

import Distributed
import Foundation
import XCTest
@testable import Training

final class StallWatchdogTests: XCTestCase {
    typealias Peer = RankProgress.Peer

    func snapshot(step: Int, _ phase: TrainingPhase, waiting: Bool, peers: [Peer]) -> RankProgress.Snapshot {
        RankProgress.Snapshot(step: step, phase: phase.rawValue, generation: 0, waiting: waiting, peers: peers, stepSeconds: [])
    }

    /// max(300 s, 20 × median); the explicit value wins; a stop request shortens it to max(90 s, 3 × median).
    func testLimitRule() {
        XCTAssertEqual(StallWatchdog.limit(timeout: nil, stepSeconds: [], stopRequested: false), 300)
        XCTAssertEqual(StallWatchdog.limit(timeout: nil, stepSeconds: [0.5, 9, 1], stopRequested: false), 300)   // 20 × 1
        XCTAssertEqual(StallWatchdog.limit(timeout: nil, stepSeconds: [30, 10, 20, 40], stopRequested: false), 500)   // 20 × 25
        XCTAssertEqual(StallWatchdog.limit(timeout: 7, stepSeconds: [30, 10, 20, 40], stopRequested: false), 7)
        XCTAssertEqual(StallWatchdog.limit(timeout: nil, stepSeconds: [1, 2, 3], stopRequested: true), 90)
        XCTAssertEqual(StallWatchdog.limit(timeout: nil, stepSeconds: [30, 40, 50, 60], stopRequested: true), 135)   // 3 × 45
        XCTAssertEqual(StallWatchdog.limit(timeout: 7, stepSeconds: [], stopRequested: true), 7)
    }

    /// A waiting rank names the ranks behind it, grouped by where they were last seen, in the issue's words.
    func testMessageNamesTheRanksBehind() {
        // Rank 0 of 4 waits in the gradient all-reduce of step 13 (12 done); rank 2 is there too, ranks 1 and 3
        // were last seen writing the checkpoint after step 12 and in step 13's forward/backward.
        let s = snapshot(step: 12, .gradientReduce, waiting: true, peers: [
            Peer(rank: 1, step: 12, phase: TrainingPhase.checkpoint.rawValue, secondsSinceHeard: 40),
            Peer(rank: 2, step: 12, phase: TrainingPhase.gradientReduce.rawValue, secondsSinceHeard: 0.5),
            Peer(rank: 3, step: 12, phase: TrainingPhase.forwardBackward.rawValue, secondsSinceHeard: 40),
        ])
        XCTAssertEqual(StallWatchdog.message(rank: 0, size: 4, seconds: 300.2, snapshot: s, activity: ""),
                       "error: [rank 0/4] no progress for 300 s at step 13: waiting for rank(s) 1 (last seen at step 12, phase writing a checkpoint); "
                       + "3 (last seen at step 13, phase forward/backward)")
        // Ranks at the same place are grouped.
        let t = snapshot(step: 4, .countingTokens, waiting: true, peers: [
            Peer(rank: 1, step: 4, phase: TrainingPhase.loadingBatch.rawValue, secondsSinceHeard: 9),
            Peer(rank: 2, step: 4, phase: TrainingPhase.loadingBatch.rawValue, secondsSinceHeard: 9),
        ])
        XCTAssertEqual(StallWatchdog.message(rank: 0, size: 3, seconds: 5, snapshot: t, activity: ""),
                       "error: [rank 0/3] no progress for 5 s at step 5: waiting for rank(s) 1, 2 (last seen at step 5, phase loading its batch)")
    }

    /// When every rank reached the same collective, the silent one (no heartbeat) is the one named.
    func testMessageNamesTheSilentRankInTheSameCollective() {
        let s = snapshot(step: 7, .lossReduce, waiting: true, peers: [
            Peer(rank: 0, step: 7, phase: TrainingPhase.lossReduce.rawValue, secondsSinceHeard: 0.3),
            Peer(rank: 2, step: 7, phase: TrainingPhase.lossReduce.rawValue, secondsSinceHeard: 12),
        ])
        XCTAssertEqual(StallWatchdog.message(rank: 1, size: 3, seconds: 10, snapshot: s, activity: ""),
                       "error: [rank 1/3] no progress for 10 s at step 8: waiting for rank(s) 2 (last seen at step 8, phase all-reduce of the losses)")
        // A live rank that missed heartbeats on a crowded node (2.7 s) is not named beside the stopped one (4.4 s);
        // two ranks silent for long are both named.
        let late = snapshot(step: 6, .gradientReduce, waiting: true, peers: [
            Peer(rank: 0, step: 6, phase: TrainingPhase.gradientReduce.rawValue, secondsSinceHeard: 2.7),
            Peer(rank: 1, step: 6, phase: TrainingPhase.gradientReduce.rawValue, secondsSinceHeard: 4.4),
        ])
        XCTAssertEqual(StallWatchdog.missing(late).map(\.rank), [1])
        let two = snapshot(step: 6, .gradientReduce, waiting: true, peers: [
            Peer(rank: 0, step: 6, phase: TrainingPhase.gradientReduce.rawValue, secondsSinceHeard: 10),
            Peer(rank: 1, step: 6, phase: TrainingPhase.gradientReduce.rawValue, secondsSinceHeard: 12),
            Peer(rank: 3, step: 6, phase: TrainingPhase.gradientReduce.rawValue, secondsSinceHeard: 0.4),
        ])
        XCTAssertEqual(StallWatchdog.missing(two).map(\.rank), [0, 1])
        // Rank 2 finished its part of the gradient all-reduce and waits in the next one; rank 0, behind it, still waits
        // in the gradient all-reduce for rank 1 (and heartbeats): rank 1, behind and silent, is the one named.
        let ahead = snapshot(step: 5, .lossReduce, waiting: true, peers: [
            Peer(rank: 0, step: 5, phase: TrainingPhase.gradientReduce.rawValue, secondsSinceHeard: 0.5),
            Peer(rank: 1, step: 5, phase: TrainingPhase.gradientReduce.rawValue, secondsSinceHeard: 4.4),
        ])
        XCTAssertEqual(StallWatchdog.missing(ahead).map(\.rank), [1])
        // Ranks behind, none silent (each waiting on something else): all of them are named.
        let waitingBehind = snapshot(step: 5, .lossReduce, waiting: true, peers: [
            Peer(rank: 0, step: 5, phase: TrainingPhase.gradientReduce.rawValue, secondsSinceHeard: 0.5),
            Peer(rank: 1, step: 5, phase: TrainingPhase.gradientReduce.rawValue, secondsSinceHeard: 0.9),
        ])
        XCTAssertEqual(StallWatchdog.missing(waitingBehind).map(\.rank), [0, 1])
        // Nobody behind and nobody silent (yet): no name, and the watchdog waits for the silence to show first.
        let t = snapshot(step: 7, .lossReduce, waiting: true, peers: [
            Peer(rank: 0, step: 7, phase: TrainingPhase.lossReduce.rawValue, secondsSinceHeard: 0.3),
            Peer(rank: 2, step: 7, phase: TrainingPhase.update.rawValue, secondsSinceHeard: 1.2),
        ])
        XCTAssertEqual(StallWatchdog.missing(t), [])
        XCTAssertEqual(StallWatchdog.message(rank: 1, size: 3, seconds: 10, snapshot: t, activity: ""),
                       "error: [rank 1/3] no progress for 10 s at step 8: waiting in all-reduce of the losses, but every other rank was heard from lately")
    }

    /// A rank that is not waiting in a collective is the stuck one: it names its phase and activity.
    func testMessageOfARankStuckOnItsOwn() {
        let s = snapshot(step: 0, .openingShards, waiting: false, peers: [])
        XCTAssertEqual(StallWatchdog.message(rank: 0, size: 1, seconds: 3, snapshot: s, activity: "opening shard /d/part-1.hdf5"),
                       "error: [rank 0/1] no progress for 3 s at step 0: this rank is stuck in opening shards: opening shard /d/part-1.hdf5")
        let t = snapshot(step: 99, .forwardBackward, waiting: false, peers: [])
        XCTAssertEqual(StallWatchdog.message(rank: 1, size: 2, seconds: 301, snapshot: t, activity: ""),
                       "error: [rank 1/2] no progress for 301 s at step 100: this rank is stuck in forward/backward")
    }

    /// The pid of world rank `rank` among mpirun's children (from its environment).
    func pid(ofRank rank: Int, mpirun: Process) -> Int32? {
        MPI.children(of: mpirun.processIdentifier).first { pid in
            guard let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            return environ.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == "OMPI_COMM_WORLD_RANK=\(rank)" }
        }
    }

    func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].hasPrefix(" Z")
    }

    /// SIGSTOP of rank 1 mid-training: rank 0's watchdog ends the job (non-zero) within seconds, naming rank 1
    /// and the step rank 0 is stuck in (one past the last metrics row it wrote); nothing is left running.
    func testStoppedRankEndsTheJobNamingIt() throws {
        try stopRankAndExpectTheWatchdog(ranks: 2, stopped: 1)
    }

    /// The same with 3 ranks, stopping the middle one: whichever rank reports names rank 1 alone.
    func testStoppedRankAmongThreeIsTheOneNamed() throws {
        try stopRankAndExpectTheWatchdog(ranks: 3, stopped: 1)
    }

    func stopRankAndExpectTheWatchdog(ranks: Int, stopped: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let corpus = try TinyCorpus(trainingShards: [40, 24], testShards: [])
        let out = corpus.root + "/run"
        let args = ["--config", corpus.config, "--data", corpus.data, "--output", out, "--batch-size", "4", "--epochs", "400",
                    "--log-every-steps", "1", "--skip-eval", "--stall-timeout", "4"]
        let p = try MPI.start(ranks: ranks, args, log: out + "-log")
        var stoppedPid: Int32? = nil
        defer {
            if let pid = stoppedPid, isAlive(pid) { kill(pid, SIGCONT); kill(pid, SIGKILL) }
            if p.isRunning { p.interrupt() }
        }
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if let rows = try? readMetrics(out + "/metrics.csv"), rows.count >= 5 { break }
            usleep(50_000)
        }
        guard let pid = pid(ofRank: stopped, mpirun: p) else { return XCTFail("rank \(stopped)'s process not found", file: file, line: line) }
        kill(pid, SIGSTOP)
        stoppedPid = pid
        let stoppedAt = Date()
        let r = MPI.wait(p, log: out + "-log", timeout: 90, file: file, line: line)
        let took = Date().timeIntervalSince(stoppedAt)
        // Every problem is gathered and reported after the job's stderr: a CI log keeps the tail of a failure.
        var problems: [String] = []
        if r.status == 0 { problems.append("a stalled job must fail so that it is requeued") }
        if took >= 60 { problems.append("ended \(took) s after the stop") }
        // A live rank counts from its own last progress, which may precede the stop by the part of a step the
        // stopped rank had still to do (on a crowded runner, up to a step or so): allow 0.5 s of that.
        if took < 3.5 { problems.append("ended \(took) s after the stop, before the stall timeout of 4 s") }
        // (The stopped rank itself, continued by mpirun to be ended, does not count its suspended time as a stall;
        // should it report anyway before it dies, its line would fail the pattern below.)
        let lines = r.stderr.split(separator: "\n").map(String.init).filter { $0.contains("no progress for") }
        if lines.isEmpty { problems.append("no watchdog message") }
        let lastRow = try readMetrics(out + "/metrics.csv").compactMap { Int($0["step"] ?? "") }.last ?? -1
        let pattern = try NSRegularExpression(pattern: #"^error: \[rank (\d+)/\#(ranks)\] no progress for \d+ s at step (\d+): "#
                                              + #"waiting for rank\(s\) \#(stopped) \(last seen at step (\d+), phase [^)]+\)$"#)
        for text in lines {
            guard let m = pattern.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) else {
                problems.append("the message must name rank \(stopped) alone: \(text)")
                continue
            }
            let number = { (i: Int) in Int(text[Range(m.range(at: i), in: text)!])! }
            let (reporter, k, seen) = (number(1), number(2), number(3))
            if reporter == stopped { problems.append("the stopped rank reported: \(text)") }
            // Rank 0 writes a metrics row after each step, so it waits in the step after its last row.
            if reporter == 0 && k != lastRow + 1 { problems.append("rank 0 waits in step \(k), its last metrics row is \(lastRow)") }
            if seen != k && seen != k - 1 {
                problems.append("rank \(stopped) last seen at step \(seen), rank \(reporter) waits in step \(k)")
            }
        }
        if !problems.isEmpty {
            XCTFail("stderr of the job:\n\(r.stderr)\n-- problems:\n" + problems.joined(separator: "\n"), file: file, line: line)
        }
        // mpirun ended every rank, the stopped one included (give the kernel a moment to reap it).
        let gone = Date().addingTimeInterval(10)
        while isAlive(pid) && Date() < gone { usleep(50_000) }
        XCTAssertFalse(isAlive(pid), "the stopped rank outlived the job", file: file, line: line)
    }

    /// One rank (np = 1) stuck opening a shard that never opens (a FIFO nobody writes, like a hung file
    /// system): the watchdog ends it, naming what it was doing and the file.
    func testRankStuckOpeningAShardIsNamed() throws {
        let corpus = try TinyCorpus(trainingShards: [16, 16], testShards: [])
        let fifo = corpus.data + "/part-00001-training.hdf5"
        try FileManager.default.removeItem(atPath: fifo)
        XCTAssertEqual(mkfifo(fifo, 0o644), 0, "mkfifo \(fifo)")
        let out = corpus.root + "/run"
        let started = Date()
        let r = try MPI.run(ranks: 1, ["--config", corpus.config, "--data", corpus.data, "--output", out, "--batch-size", "4",
                                       "--stall-timeout", "3"], log: out + "-log", timeout: 60)
        XCTAssertNotEqual(r.status, 0, r.stderr)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 3, "not before the stall timeout")
        let line = r.stderr.split(separator: "\n").first { $0.contains("no progress for") }.map(String.init) ?? ""
        XCTAssertTrue(line.hasPrefix("error: [rank 0/1] no progress for"), "watchdog message:\n\(r.stderr)")
        XCTAssertTrue(line.contains(fifo), "the message must name the file it hangs on:\n\(r.stderr)")
    }
}
