// StallWatchdog: ends a job in which a rank has stopped (SIGSTOP, a hung file system, a loop inside a
// library), instead of letting the others spin in MPI until the time limit.
//
// A thread per rank that never calls MPI. Every `checkInterval` it reads the rank's RankProgress (the
// phase marks of the main thread, `tick`s, the RankActivity text); when none of them changed for the
// limit, it prints one line naming the ranks this one waits for (from the table the main thread keeps
// while it waits) or, if this rank is not waiting in a collective, what it is stuck in; then the job
// ends with exit code 75 (EX_TEMPFAIL: try again, i.e. `--resume`): through MPI_Abort from the main
// thread when it is polling in a wait (that ends every rank, under mpirun and srun alike), else with
// `_exit` (mpirun then ends the others).
//
// Limit: `--stall-timeout`, or by default max(300 s, 20 × the median step time so far). After a stop
// request (SIGTERM/SIGUSR1) a stalled rank means the stop can never complete, so the limit drops to
// max(90 s, 3 × the median step): a healthy stop (finish the step, write a checkpoint: 4 GB at bert-large
// is 90 s at 45 MB/s) fits, and a stalled job still ends inside the 120 s that jobs/pretrain.sbatch
// asks Slurm for before the time limit (--signal=B:USR1@120), instead of running into it.

import Distributed
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a rank is in the run, in the order a run passes through them (a rank whose (steps done, phase)
/// is smaller than another's is behind it). Stored as an integer in RankProgress: marking allocates nothing.
public enum TrainingPhase: Int, CaseIterable, Sendable {
    case starting, openingShards, checkingShards, loadingCheckpoint, broadcastingParameters
    // After step K (K steps done)…
    case evaluating, checkpoint
    // …and within step K + 1.
    case loadingBatch, countingTokens, forwardBackward, gradientReduce, lossReduce, update
    case finishing

    public var name: String {
        switch self {
        case .starting: return "start-up"
        case .openingShards: return "opening shards"
        case .checkingShards: return "checking shards"
        case .loadingCheckpoint: return "loading a checkpoint"
        case .broadcastingParameters: return "initial broadcast of the parameters"
        case .evaluating: return "held-out evaluation"
        case .checkpoint: return "writing a checkpoint"
        case .loadingBatch: return "loading its batch"
        case .countingTokens: return "all-reduce of the token counts"
        case .forwardBackward: return "forward/backward"
        case .gradientReduce: return "gradient all-reduce"
        case .lossReduce: return "all-reduce of the losses"
        case .update: return "optimizer update"
        case .finishing: return "finishing"
        }
    }

    /// The step a user would name: the one being computed inside a step, else the last one done.
    public func displayStep(stepsDone: Int) -> Int {
        (TrainingPhase.loadingBatch.rawValue...TrainingPhase.update.rawValue).contains(rawValue) ? stepsDone + 1 : stepsDone
    }

    /// "step K, phase P" words for a raw (steps done, phase) pair.
    static func describe(step: Int, phase: Int) -> (step: Int, name: String) {
        guard let p = TrainingPhase(rawValue: phase) else { return (step, "phase \(phase)") }
        return (p.displayStep(stepsDone: step), p.name)
    }
}

extension Communicator {
    /// Tells the stall watchdog that this rank entered `phase` with `stepsDone` steps done: a few stores
    /// and one 16-byte message to each other rank; nothing without a watchdog.
    public func mark(_ phase: TrainingPhase, stepsDone: Int) {
        progress?.mark(step: stepsDone, phase: phase.rawValue)
    }

    /// The same at start-up, with what the rank is doing in words (the watchdog names it if it hangs there).
    public func mark(_ phase: TrainingPhase, activity: String) {
        RankActivity.set(activity)
        mark(phase, stepsDone: 0)
    }
}

public final class StallWatchdog: @unchecked Sendable {
    public static let minimumSeconds = 300.0
    public static let stepMultiple = 20.0
    public static let stopGraceSeconds = 90.0
    public static let stopGraceSteps = 3.0
    /// A waiting peer heartbeats every second; one not heard of for this long is silent (stopped or busy).
    public static let silentSeconds = 2.5
    /// EX_TEMPFAIL: the job may succeed if run again (with --resume).
    public static let exitCode: Int32 = 75
    /// A sleep of the watchdog overrun by this much means the process was suspended.
    static let suspendedSeconds = 2.0

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

    let progress: RankProgress
    let timeout: Double?
    private let stopped = UnsafeMutablePointer<Bool>.allocate(capacity: 1)
    private var lastGeneration: UInt64 = 0
    private var lastActivity = ""
    /// Seconds on the monotonic clock.
    private var lastProgress = StallWatchdog.now()
    /// When the watchdog's current sleep should end (to tell a suspended process, see `watch`).
    private var wakeDue = StallWatchdog.now()

    /// Starts the exchange with the other ranks (collective) and the watchdog thread; nil when `timeout` is 0.
    /// `timeout` nil: the default rule.
    public static func start(timeout: Double?, communicator: Communicator) -> StallWatchdog? {
        if let timeout, timeout <= 0 { return nil }
        let watchdog = StallWatchdog(progress: communicator.startProgressExchange(), timeout: timeout)
        let thread = Thread { watchdog.watch() }
        thread.name = "stall watchdog"
        thread.start()
        return watchdog
    }

    init(progress: RankProgress, timeout: Double?) {
        self.progress = progress
        self.timeout = timeout
        stopped.pointee = false
    }

    /// Ends the watching (after training; the thread notices within a second).
    public func stop() { stopped.pointee = true }

    /// Seconds without progress after which the job is ended.
    public static func limit(timeout: Double?, stepSeconds: [Double], stopRequested: Bool) -> Double {
        let median = StallWatchdog.median(stepSeconds)
        var limit = timeout ?? max(minimumSeconds, stepMultiple * median)
        if stopRequested { limit = min(limit, max(stopGraceSeconds, stopGraceSteps * median)) }
        return limit
    }

    static func median(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    private func watch() {
        while !stopped.pointee {
            let snapshot = progress.snapshot()
            let activity = RankActivity.current
            let now = StallWatchdog.now()
            // Woken far later than asked: the whole process was suspended (SIGSTOP, Slurm's `scontrol suspend`),
            // which is no stall of its own; the time it was suspended does not count.
            if now - wakeDue > StallWatchdog.suspendedSeconds { lastProgress += now - wakeDue }
            if snapshot.generation != lastGeneration || activity != lastActivity {
                lastGeneration = snapshot.generation
                lastActivity = activity
                lastProgress = now
            }
            let limit = StallWatchdog.limit(timeout: timeout, stepSeconds: snapshot.stepSeconds,
                                            stopRequested: StopSignal.received != 0)
            let idle = now - lastProgress
            // A rank stopped after this one's last progress may not be silent yet: give the silence time to
            // show (the others heartbeat every second) before ending without a name.
            let unnamed = snapshot.waiting && StallWatchdog.missing(snapshot).isEmpty
            if idle >= limit + (unnamed ? StallWatchdog.silentSeconds + 1.5 : 0) {
                end(StallWatchdog.message(rank: progress.rank, size: progress.size, seconds: idle,
                                          snapshot: snapshot, activity: activity))
            }
            let interval = min(1, max(0.05, limit / 10))
            wakeDue = now + interval
            usleep(UInt32(1e6 * interval))
        }
    }

    private func end(_ message: String) -> Never {
        fflush(stdout)
        fputs(message + "\n", stderr)
        fflush(stderr)
        // Let mpirun/srun forward the line before MPI_Abort tears the job down (an abort can outrun the pipe).
        usleep(300_000)
        if progress.requestAbort(code: StallWatchdog.exitCode) {
            // The main thread polls every few milliseconds and calls MPI_Abort; give it a moment.
            usleep(5_000_000)
        }
        _exit(StallWatchdog.exitCode)
    }

    /// The ranks a waiting rank waits for. The suspects are the ranks behind it, or if none is (all in the same
    /// collective), every other rank; of the suspects, the silent ones are named — those silent for at least 3/4 of
    /// the longest silence: a rank that stopped has been silent since the job stalled, while a rank waiting itself
    /// heartbeats (a rank behind this one may be waiting for the stopped one too: a non-blocking all-reduce lets
    /// some ranks finish their part before others), and a live rank on a crowded node may miss a heartbeat or two
    /// (CI saw 2.6 s). If no rank behind is silent, they are all named.
    static func missing(_ snapshot: RankProgress.Snapshot) -> [RankProgress.Peer] {
        let mine = (snapshot.step, snapshot.phase)
        let behind = snapshot.peers.filter { ($0.step, $0.phase) < mine }
        let suspects = behind.isEmpty ? snapshot.peers : behind
        let silent = suspects.filter { $0.secondsSinceHeard > silentSeconds }
        guard !silent.isEmpty else { return behind }
        let longest = silent.map(\.secondsSinceHeard).max() ?? 0
        return silent.filter { $0.secondsSinceHeard >= 0.75 * longest }
    }

    /// The one line printed when the limit is reached.
    public static func message(rank: Int, size: Int, seconds: Double, snapshot: RankProgress.Snapshot, activity: String) -> String {
        let here = TrainingPhase.describe(step: snapshot.step, phase: snapshot.phase)
        var text = "error: [rank \(rank)/\(size)] no progress for \(Int(seconds.rounded())) s at step \(here.step): "
        guard snapshot.waiting else {
            text += "this rank is stuck in \(here.name)"
            if !activity.isEmpty && activity != here.name { text += ": \(activity)" }
            return text
        }
        let missing = StallWatchdog.missing(snapshot)
        guard !missing.isEmpty else {
            return text + "waiting in \(here.name), but every other rank was heard from lately"
        }
        var groups: [(step: Int, phase: Int, ranks: [Int])] = []
        for peer in missing.sorted(by: { $0.rank < $1.rank }) {
            if let k = groups.firstIndex(where: { $0.step == peer.step && $0.phase == peer.phase }) {
                groups[k].ranks.append(peer.rank)
            } else {
                groups.append((peer.step, peer.phase, [peer.rank]))
            }
        }
        text += "waiting for rank(s) " + groups.map { group in
            let ranks = group.ranks.prefix(16).map(String.init).joined(separator: ", ") + (group.ranks.count > 16 ? ", …" : "")
            guard group.step >= 0 else { return "\(ranks) (never heard from)" }
            let seen = TrainingPhase.describe(step: group.step, phase: group.phase)
            return "\(ranks) (last seen at step \(seen.step), phase \(seen.name))"
        }.joined(separator: "; ")
        return text
    }
}
