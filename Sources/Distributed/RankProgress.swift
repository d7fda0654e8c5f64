// RankProgress: where this rank is (steps done, phase) and where every other rank was last seen,
// for the stall watchdog.
//
// MPI runs with MPI_THREAD_FUNNELED, so only the main thread calls MPI here. It marks its progress
// with `mark(step:phase:)` (a few stores under a lock, and one 16-byte MPI_Isend to each other rank
// on a duplicated communicator, so these messages never match the training's own traffic), and
// while it waits in a collective `Communicator` calls `wait(_:)`, which tests the collective and in
// between drains the pre-posted receives into the table "last seen (step, phase) of each rank". A
// rank that has waited a second repeats its state (a heartbeat), so a silent rank stands out even
// when every rank waits in the same collective. The watchdog thread never calls MPI: it reads
// `snapshot()` under the lock, and `requestAbort(code:)` asks the main thread to end the job with
// MPI_Abort at its next poll. Nothing here allocates after `init`.

import CMPI
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class RankProgress: @unchecked Sendable {
    /// Another rank as this one last heard of it.
    public struct Peer: Equatable, Sendable {
        public var rank: Int
        /// Its own `step` and `phase` (see `mark`); -1 before anything was heard from it.
        public var step: Int
        public var phase: Int
        public var secondsSinceHeard: Double
        public init(rank: Int, step: Int, phase: Int, secondsSinceHeard: Double) {
            self.rank = rank; self.step = step; self.phase = phase; self.secondsSinceHeard = secondsSinceHeard
        }
    }

    /// A consistent copy for the watchdog thread.
    public struct Snapshot: Sendable {
        public var step: Int
        public var phase: Int
        /// Changes at every `mark` and `tick`: unchanged means no progress.
        public var generation: UInt64
        /// Whether the main thread is waiting in a collective right now.
        public var waiting: Bool
        public var peers: [Peer]
        /// The most recent step durations (at most `stepHistory`), for the watchdog's default limit.
        public var stepSeconds: [Double]
        public init(step: Int, phase: Int, generation: UInt64, waiting: Bool, peers: [Peer], stepSeconds: [Double]) {
            self.step = step; self.phase = phase; self.generation = generation; self.waiting = waiting
            self.peers = peers; self.stepSeconds = stepSeconds
        }
    }

    /// The process's exchange once started (ProgressMeter ticks it).
    nonisolated(unsafe) public private(set) static var active: RankProgress?

    public static let stepHistory = 1001
    /// A waiting rank repeats its state this often, so that silence means a stopped rank.
    static let heartbeatNanoseconds: UInt64 = 1_000_000_000
    /// How often a waiting main thread looks at the heartbeat clock and the abort request.
    static let housekeepingNanoseconds: UInt64 = 10_000_000
    static let tag: Int32 = 0x5741   // "WA"

    public let rank: Int
    public let size: Int
    private var comm: MPI_Comm?
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    // This rank (written by the main thread under the lock).
    private var step = 0, phase = 0
    private var generation: UInt64 = 0
    private var waiting = false
    private var abortCode: Int32 = 0
    private let stepRing = UnsafeMutablePointer<Double>.allocate(capacity: RankProgress.stepHistory)
    private var stepCount = 0

    // The others, as last heard (under the lock), and the message buffers: two Int64 per rank.
    private let seenStep: UnsafeMutablePointer<Int>
    private let seenPhase: UnsafeMutablePointer<Int>
    private let heardAt: UnsafeMutablePointer<UInt64>
    private let inbox: UnsafeMutablePointer<Int64>
    private let outbox: UnsafeMutablePointer<Int64>
    private let receives: UnsafeMutablePointer<MPI_Request?>
    private let sends: UnsafeMutablePointer<MPI_Request?>
    private let owed: UnsafeMutablePointer<Bool>
    private let completed: UnsafeMutablePointer<Int32>
    private var lastSent: UInt64 = 0
    private var lastHousekeeping: UInt64 = 0

    /// Collective over `world` (MPI_Comm_dup); main thread, right after MPI is initialised.
    init(world: MPI_Comm?, rank: Int, size: Int) {
        self.rank = rank
        self.size = size
        pthread_mutex_init(lock, nil)
        seenStep = .allocate(capacity: size); seenStep.initialize(repeating: -1, count: size)
        seenPhase = .allocate(capacity: size); seenPhase.initialize(repeating: 0, count: size)
        let now = RankProgress.now()
        heardAt = .allocate(capacity: size); heardAt.initialize(repeating: now, count: size)
        inbox = .allocate(capacity: 2 * size); inbox.initialize(repeating: 0, count: 2 * size)
        outbox = .allocate(capacity: 2 * size); outbox.initialize(repeating: 0, count: 2 * size)
        receives = .allocate(capacity: size); receives.initialize(repeating: cmpi_request_null(), count: size)
        sends = .allocate(capacity: size); sends.initialize(repeating: cmpi_request_null(), count: size)
        owed = .allocate(capacity: size); owed.initialize(repeating: false, count: size)
        completed = .allocate(capacity: size); completed.initialize(repeating: 0, count: size)
        lastSent = now
        if size > 1 {
            MPI_Comm_dup(world, &comm)
            for p in 0..<size where p != rank { postReceive(from: p) }
        }
        RankProgress.active = self
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    // MARK: Main thread

    /// This rank now is in `phase` (an ordinal that grows through a step) with `step` steps done.
    public func mark(step: Int, phase: Int) {
        pthread_mutex_lock(lock)
        self.step = step
        self.phase = phase
        generation &+= 1
        pthread_mutex_unlock(lock)
        if size > 1 { sendState(now: RankProgress.now()) }
    }

    /// Progress within a phase (an evaluation batch, a shard checked) without a new phase.
    public func tick() {
        pthread_mutex_lock(lock)
        generation &+= 1
        pthread_mutex_unlock(lock)
    }

    /// One step's duration, for the watchdog's default limit (20 × the median).
    public func recordStep(seconds: Double) {
        pthread_mutex_lock(lock)
        stepRing[stepCount % RankProgress.stepHistory] = seconds
        stepCount += 1
        pthread_mutex_unlock(lock)
    }

    /// Completes `request`, draining the others' messages (and sending heartbeats) while it is pending.
    /// Returns the MPI error code.
    func wait(_ request: inout MPI_Request?) -> Int32 {
        setWaiting(true)
        defer { setWaiting(false) }
        var flag: Int32 = 0
        while true {
            let rc = MPI_Test(&request, &flag, cmpi_status_ignore())
            if rc != cmpi_success() || flag != 0 { return rc }
            poll()
        }
    }

    private func setWaiting(_ value: Bool) {
        pthread_mutex_lock(lock)
        waiting = value
        pthread_mutex_unlock(lock)
    }

    private func poll() {
        guard size > 1 else { return }
        drain()
        let now = RankProgress.now()
        guard now &- lastHousekeeping >= RankProgress.housekeepingNanoseconds else { return }
        lastHousekeeping = now
        if now &- lastSent >= RankProgress.heartbeatNanoseconds || (0..<size).contains(where: { owed[$0] }) {
            sendState(now: now)
        }
        pthread_mutex_lock(lock)
        let code = abortCode
        pthread_mutex_unlock(lock)
        if code != 0 {
            MPI_Abort(cmpi_comm_world(), code)
            _exit(code)
        }
    }

    /// Takes every message that has arrived into the table and re-posts its receive.
    private func drain() {
        while true {
            var count: Int32 = 0
            MPI_Testsome(Int32(size), receives, &count, completed, cmpi_statuses_ignore())
            guard count > 0 else { return }   // 0, or MPI_UNDEFINED when no receive is active
            let now = RankProgress.now()
            pthread_mutex_lock(lock)
            for i in 0..<Int(count) {
                let p = Int(completed[i])
                seenStep[p] = Int(inbox[2 * p])
                seenPhase[p] = Int(inbox[2 * p + 1])
                heardAt[p] = now
            }
            pthread_mutex_unlock(lock)
            for i in 0..<Int(count) { postReceive(from: Int(completed[i])) }
        }
    }

    private func postReceive(from p: Int) {
        MPI_Irecv(inbox + 2 * p, 2, cmpi_int64(), Int32(p), RankProgress.tag, comm, receives + p)
    }

    /// Sends (step, phase) to every other rank; a rank whose previous message is still in flight is owed one.
    private func sendState(now: UInt64) {
        lastSent = now
        for p in 0..<size where p != rank {
            if sends[p] != cmpi_request_null() {
                var flag: Int32 = 0
                MPI_Test(sends + p, &flag, cmpi_status_ignore())
                if flag == 0 { owed[p] = true; continue }
            }
            outbox[2 * p] = Int64(step)
            outbox[2 * p + 1] = Int64(phase)
            MPI_Isend(outbox + 2 * p, 2, cmpi_int64(), Int32(p), RankProgress.tag, comm, sends + p)
            owed[p] = false
        }
    }

    /// Before MPI_Finalize (every rank): completes the sends, cancels the receives, frees the communicator.
    func close() {
        if RankProgress.active === self { RankProgress.active = nil }
        guard size > 1, comm != nil else { return }
        for p in 0..<size where p != rank {
            MPI_Wait(sends + p, cmpi_status_ignore())
            if receives[p] != cmpi_request_null() {
                MPI_Cancel(receives + p)
                MPI_Wait(receives + p, cmpi_status_ignore())
            }
        }
        MPI_Comm_free(&comm)
    }

    // MARK: Watchdog thread

    public func snapshot() -> Snapshot {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        let now = RankProgress.now()
        let peers = (0..<size).filter { $0 != rank }.map {
            Peer(rank: $0, step: seenStep[$0], phase: seenPhase[$0], secondsSinceHeard: Double(now &- heardAt[$0]) * 1e-9)
        }
        let kept = min(stepCount, RankProgress.stepHistory)
        return Snapshot(step: step, phase: phase, generation: generation, waiting: waiting, peers: peers,
                        stepSeconds: Array(UnsafeBufferPointer(start: stepRing, count: kept)))
    }

    /// Asks the main thread to end the job with MPI_Abort(`code`) at its next poll. Returns whether it is
    /// polling now (waiting in a collective); if not, the caller must end the process itself.
    public func requestAbort(code: Int32) -> Bool {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        abortCode = code
        return waiting && size > 1
    }
}
