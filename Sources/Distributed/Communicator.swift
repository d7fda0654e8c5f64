// A small Swift face over MPI: rank, size, collectives on flat buffers, abort.
//
// One `Communicator` wraps MPI_COMM_WORLD for the whole process. MPI calls are
// checked once, in `check`, and a failure throws `MPIError` naming the call.
// Errors that must end the job (a bad shard on one rank, a NaN) go through
// `abort(_:)`, which prints the message tagged with the rank and calls
// MPI_Abort, so the other ranks never hang in a collective.
//
// Every collective is started non-blocking and completed in `complete`: plainly (MPI_Wait), or, once
// `startProgressExchange()` has run (the stall watchdog), by testing it while draining the messages that
// say where the other ranks are (see RankProgress).

import CMPI

#if canImport(Glibc)
import Glibc
#endif

public struct MPIError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32
    public var description: String { "MPI call \(call) failed with error code \(code)" }
}

/// The reductions the trainer and corpus tools need.
public enum ReduceOp: Sendable {
    case sum, max, min

    var handle: MPI_Op {
        switch self {
        case .sum: return cmpi_sum()
        case .max: return cmpi_max()
        case .min: return cmpi_min()
        }
    }
}

/// A non-blocking collective in flight (MPI_Iallreduce). Call `test()` between
/// pieces of other work to let MPI progress it, and `wait()` before using the buffer.
public final class PendingReduction {
    var request: MPI_Request?
    let progress: RankProgress?

    init(request: MPI_Request?, progress: RankProgress?) {
        self.request = request
        self.progress = progress
    }

    /// Drives progress; true once the reduction has completed.
    @discardableResult
    public func test() -> Bool {
        var flag: Int32 = 0
        MPI_Test(&request, &flag, cmpi_status_ignore())
        return flag != 0
    }

    /// Blocks until the reduction has completed.
    public func wait() {
        if let progress { _ = progress.wait(&request) } else { MPI_Wait(&request, cmpi_status_ignore()) }
    }
}

public final class Communicator: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// Rank and count among the ranks on this node (MPI_COMM_TYPE_SHARED), for BLAS thread counts.
    public let localRank: Int
    public let localSize: Int

    private let comm: MPI_Comm?
    /// Where every rank is, for the stall watchdog (nil until `startProgressExchange()`).
    public private(set) var progress: RankProgress?

    nonisolated(unsafe) private static var shared: Communicator?

    /// Initialises MPI once per process (later calls return the same communicator).
    /// Works under mpirun/srun and as a singleton when started directly.
    public static func world() -> Communicator {
        if let existing = shared { return existing }
        var provided: Int32 = 0
        var argc: Int32 = 0
        var initialised: Int32 = 0
        MPI_Initialized(&initialised)
        if initialised == 0 {
            let rc = MPI_Init_thread(&argc, nil, cmpi_thread_funneled(), &provided)
            if rc != cmpi_success() {
                fputs("error: MPI_Init_thread failed with code \(rc)\n", stderr)
                exit(1)
            }
        }
        let world = cmpi_comm_world()
        var rank: Int32 = 0, size: Int32 = 1
        MPI_Comm_rank(world, &rank)
        MPI_Comm_size(world, &size)
        var node: MPI_Comm? = nil
        MPI_Comm_split_type(world, cmpi_comm_type_shared(), rank, cmpi_info_null(), &node)
        var localRank: Int32 = 0, localSize: Int32 = 1
        if let node {
            MPI_Comm_rank(node, &localRank)
            MPI_Comm_size(node, &localSize)
            var n: MPI_Comm? = node
            MPI_Comm_free(&n)
        }
        let c = Communicator(comm: world, rank: Int(rank), size: Int(size),
                             localRank: Int(localRank), localSize: Int(localSize))
        shared = c
        return c
    }

    private init(comm: MPI_Comm?, rank: Int, size: Int, localRank: Int, localSize: Int) {
        self.comm = comm
        self.rank = rank
        self.size = size
        self.localRank = localRank
        self.localSize = localSize
    }

    public var isRoot: Bool { rank == 0 }

    private func check(_ rc: Int32, _ call: String) throws {
        if rc != cmpi_success() { throw MPIError(call: call, code: rc) }
    }

    /// Starts exchanging progress with the other ranks (collective; main thread, once). From then on every
    /// wait in a collective keeps `progress` current.
    @discardableResult
    public func startProgressExchange() -> RankProgress {
        if let progress { return progress }
        let p = RankProgress(world: comm, rank: rank, size: size)
        progress = p
        return p
    }

    /// Completes the non-blocking collective `request` started by `call` (`rc` is its start's return code).
    private func complete(_ rc: Int32, _ request: inout MPI_Request?, _ call: String) throws {
        try check(rc, call)
        if let progress {
            try check(progress.wait(&request), call)
        } else {
            try check(MPI_Wait(&request, cmpi_status_ignore()), call)
        }
    }

    public func barrier() throws {
        guard size > 1 else { return }
        var request: MPI_Request? = cmpi_request_null()
        try complete(MPI_Ibarrier(comm, &request), &request, "MPI_Ibarrier")
    }

    // MARK: All-reduce

    /// Sums (or max/min) `buffer` element-wise over all ranks, in place.
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, op: ReduceOp = .sum) throws {
        guard size > 1, let base = buffer.baseAddress, buffer.count > 0 else { return }
        var request: MPI_Request? = cmpi_request_null()
        try complete(MPI_Iallreduce(cmpi_in_place(), base, Int32(buffer.count), cmpi_float(), op.handle, comm, &request),
                     &request, "MPI_Iallreduce(float × \(buffer.count))")
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, op: ReduceOp = .sum) throws {
        guard size > 1, let base = buffer.baseAddress, buffer.count > 0 else { return }
        var request: MPI_Request? = cmpi_request_null()
        try complete(MPI_Iallreduce(cmpi_in_place(), base, Int32(buffer.count), cmpi_double(), op.handle, comm, &request),
                     &request, "MPI_Iallreduce(double × \(buffer.count))")
    }

    public func allReduce(_ values: inout [Double], op: ReduceOp = .sum) throws {
        try values.withUnsafeMutableBufferPointer { try allReduce($0, op: op) }
    }

    public func allReduce(_ values: inout [Int64], op: ReduceOp = .sum) throws {
        guard size > 1, !values.isEmpty else { return }
        let n = Int32(values.count)
        try values.withUnsafeMutableBufferPointer {
            var request: MPI_Request? = cmpi_request_null()
            try complete(MPI_Iallreduce(cmpi_in_place(), $0.baseAddress, n, cmpi_int64(), op.handle, comm, &request),
                         &request, "MPI_Iallreduce(int64 × \(n))")
        }
    }

    public func allReduce(_ value: Double, op: ReduceOp = .sum) throws -> Double {
        var v = [value]
        try allReduce(&v, op: op)
        return v[0]
    }

    public func allReduce(_ value: Int, op: ReduceOp = .sum) throws -> Int {
        var v = [Int64(value)]
        try allReduce(&v, op: op)
        return Int(v[0])
    }

    /// Starts a non-blocking in-place sum of `buffer`; the buffer must stay alive
    /// and untouched until the returned reduction's `wait()` returns.
    public func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction? {
        guard size > 1, let base = buffer.baseAddress, buffer.count > 0 else { return nil }
        var request: MPI_Request? = cmpi_request_null()
        try check(MPI_Iallreduce(cmpi_in_place(), base, Int32(buffer.count), cmpi_float(), cmpi_sum(), comm, &request),
                  "MPI_Iallreduce(float × \(buffer.count))")
        return PendingReduction(request: request, progress: progress)
    }

    // MARK: Broadcast and gather

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int = 0) throws {
        guard size > 1, let base = buffer.baseAddress, buffer.count > 0 else { return }
        // MPI counts are Int32: large models go in slices.
        var offset = 0
        while offset < buffer.count {
            let n = min(buffer.count - offset, 1 << 30)
            var request: MPI_Request? = cmpi_request_null()
            try complete(MPI_Ibcast(base + offset, Int32(n), cmpi_float(), Int32(root), comm, &request), &request, "MPI_Ibcast(float × \(n))")
            offset += n
        }
    }

    /// Broadcasts a byte string of any length from `root` (the others' input is ignored).
    public func broadcast(bytes: [UInt8], root: Int = 0) throws -> [UInt8] {
        guard size > 1 else { return bytes }
        var count = [Int64(rank == root ? bytes.count : 0)]
        try count.withUnsafeMutableBufferPointer {
            var request: MPI_Request? = cmpi_request_null()
            try complete(MPI_Ibcast($0.baseAddress, 1, cmpi_int64(), Int32(root), comm, &request), &request, "MPI_Ibcast(length)")
        }
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(count[0]))
        if !out.isEmpty {
            try out.withUnsafeMutableBufferPointer {
                var request: MPI_Request? = cmpi_request_null()
                try complete(MPI_Ibcast($0.baseAddress, Int32($0.count), cmpi_uint8(), Int32(root), comm, &request), &request, "MPI_Ibcast(bytes)")
            }
        }
        return out
    }

    public func broadcast(_ string: String, root: Int = 0) throws -> String {
        String(decoding: try broadcast(bytes: Array(string.utf8), root: root), as: UTF8.self)
    }

    /// Every rank's `value`, indexed by rank.
    public func allGather(_ value: Int64) throws -> [Int64] {
        var mine = value
        var all = [Int64](repeating: 0, count: size)
        guard size > 1 else { return [value] }
        try all.withUnsafeMutableBufferPointer { out in
            var request: MPI_Request? = cmpi_request_null()
            try complete(MPI_Iallgather(&mine, 1, cmpi_int64(), out.baseAddress, 1, cmpi_int64(), comm, &request),
                         &request, "MPI_Iallgather(int64)")
        }
        return all
    }

    /// Every rank's byte string, indexed by rank (for RNG states and small reports).
    public func allGather(bytes: [UInt8]) throws -> [[UInt8]] {
        guard size > 1 else { return [bytes] }
        let counts = try allGather(Int64(bytes.count)).map { Int32($0) }
        var displs = [Int32](repeating: 0, count: size)
        for i in 1..<size { displs[i] = displs[i - 1] + counts[i - 1] }
        let total = Int(displs[size - 1] + counts[size - 1])
        var all = [UInt8](repeating: 0, count: max(total, 1))
        var mine = bytes
        try mine.withUnsafeMutableBufferPointer { src in
            try all.withUnsafeMutableBufferPointer { dst in
                try counts.withUnsafeBufferPointer { c in
                    try displs.withUnsafeBufferPointer { d in
                        var request: MPI_Request? = cmpi_request_null()
                        try complete(MPI_Iallgatherv(src.baseAddress, Int32(bytes.count), cmpi_uint8(),
                                                     dst.baseAddress, c.baseAddress, d.baseAddress, cmpi_uint8(), comm, &request),
                                     &request, "MPI_Iallgatherv(bytes)")
                    }
                }
            }
        }
        return (0..<size).map { Array(all[Int(displs[$0])..<Int(displs[$0] + counts[$0])]) }
    }

    // MARK: Ending the job

    /// Prints `message` tagged with this rank to stderr and ends every rank of the job.
    public func abort(_ message: String, code: Int32 = 1) -> Never {
        fputs("error: [rank \(rank)/\(size)] \(message)\n", stderr)
        fflush(stderr)
        if size > 1 {
            MPI_Abort(comm, code)
        }
        MPI_Finalize()
        exit(code)
    }

    public func finalize() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 {
            progress?.close()
            MPI_Finalize()
        }
    }
}
