// A small Swift face over MPI: rank, size, collectives on flat buffers, abort.
//
// One `Communicator` wraps MPI_COMM_WORLD for the whole process. MPI calls are
// checked once, in `check`, and a failure throws `MPIError` naming the call.
// Errors that must end the job (a bad shard on one rank, a NaN) go through
// `abort(_:)`, which prints the message tagged with the rank and calls
// MPI_Abort, so the other ranks never hang in a collective.

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

    init(request: MPI_Request?) { self.request = request }

    /// Drives progress; true once the reduction has completed.
    @discardableResult
    public func test() -> Bool {
        var flag: Int32 = 0
        MPI_Test(&request, &flag, cmpi_status_ignore())
        return flag != 0
    }

    /// Blocks until the reduction has completed.
    public func wait() {
        MPI_Wait(&request, cmpi_status_ignore())
    }
}

public final class Communicator: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// Rank and count among the ranks on this node (MPI_COMM_TYPE_SHARED), for BLAS thread counts.
    public let localRank: Int
    public let localSize: Int

    private let comm: MPI_Comm?

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

    public func barrier() throws {
        try check(MPI_Barrier(comm), "MPI_Barrier")
    }

    // MARK: All-reduce

    /// Sums (or max/min) `buffer` element-wise over all ranks, in place.
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, op: ReduceOp = .sum) throws {
        guard size > 1, let base = buffer.baseAddress, buffer.count > 0 else { return }
        try check(MPI_Allreduce(cmpi_in_place(), base, Int32(buffer.count), cmpi_float(), op.handle, comm),
                  "MPI_Allreduce(float × \(buffer.count))")
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, op: ReduceOp = .sum) throws {
        guard size > 1, let base = buffer.baseAddress, buffer.count > 0 else { return }
        try check(MPI_Allreduce(cmpi_in_place(), base, Int32(buffer.count), cmpi_double(), op.handle, comm),
                  "MPI_Allreduce(double × \(buffer.count))")
    }

    public func allReduce(_ values: inout [Double], op: ReduceOp = .sum) throws {
        try values.withUnsafeMutableBufferPointer { try allReduce($0, op: op) }
    }

    public func allReduce(_ values: inout [Int64], op: ReduceOp = .sum) throws {
        guard size > 1, !values.isEmpty else { return }
        let n = Int32(values.count)
        let rc = values.withUnsafeMutableBufferPointer {
            MPI_Allreduce(cmpi_in_place(), $0.baseAddress, n, cmpi_int64(), op.handle, comm)
        }
        try check(rc, "MPI_Allreduce(int64 × \(n))")
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
        return PendingReduction(request: request)
    }

    // MARK: Broadcast and gather

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int = 0) throws {
        guard size > 1, let base = buffer.baseAddress, buffer.count > 0 else { return }
        // MPI counts are Int32: large models go in slices.
        var offset = 0
        while offset < buffer.count {
            let n = min(buffer.count - offset, 1 << 30)
            try check(MPI_Bcast(base + offset, Int32(n), cmpi_float(), Int32(root), comm), "MPI_Bcast(float × \(n))")
            offset += n
        }
    }

    /// Broadcasts a byte string of any length from `root` (the others' input is ignored).
    public func broadcast(bytes: [UInt8], root: Int = 0) throws -> [UInt8] {
        guard size > 1 else { return bytes }
        var count = [Int64(rank == root ? bytes.count : 0)]
        try count.withUnsafeMutableBufferPointer {
            try check(MPI_Bcast($0.baseAddress, 1, cmpi_int64(), Int32(root), comm), "MPI_Bcast(length)")
        }
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(count[0]))
        if !out.isEmpty {
            try out.withUnsafeMutableBufferPointer {
                try check(MPI_Bcast($0.baseAddress, Int32($0.count), cmpi_uint8(), Int32(root), comm), "MPI_Bcast(bytes)")
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
        let rc = all.withUnsafeMutableBufferPointer { out in
            MPI_Allgather(&mine, 1, cmpi_int64(), out.baseAddress, 1, cmpi_int64(), comm)
        }
        try check(rc, "MPI_Allgather(int64)")
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
        let rc = mine.withUnsafeMutableBufferPointer { src in
            all.withUnsafeMutableBufferPointer { dst in
                counts.withUnsafeBufferPointer { c in
                    displs.withUnsafeBufferPointer { d in
                        MPI_Allgatherv(src.baseAddress, Int32(bytes.count), cmpi_uint8(),
                                       dst.baseAddress, c.baseAddress, d.baseAddress, cmpi_uint8(), comm)
                    }
                }
            }
        }
        try check(rc, "MPI_Allgatherv(bytes)")
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
        if finalized == 0 { MPI_Finalize() }
    }
}
