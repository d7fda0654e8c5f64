// Fatal signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) name what the rank was doing before the
// process dies: "error: [rank 1/4] fatal signal SIGSEGV while opening shard /data/part-00003-training.hdf5".
// HDF5 can crash on a damaged file; without this the job ends with a bare signal and no file name.
//
// The handler may only call async-signal-safe functions: it writes preformatted bytes and
// RankActivity's fixed buffer with write(2), restores the default action and raises the signal
// again, so the exit status and core dump are those of the original signal.
//
// The rank is taken from the launcher's environment (Open MPI, PMIx, PMI, Slurm) when installing,
// before MPI_Init, so the handler is in place from the first line of main.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum FatalSignals {
    static let handled: [(Int32, String)] = [
        (SIGSEGV, "SIGSEGV"), (SIGBUS, "SIGBUS"), (SIGFPE, "SIGFPE"), (SIGILL, "SIGILL"), (SIGABRT, "SIGABRT"),
    ]
    static let slots = 65
    /// Per signal number: "error: [rank r/N] fatal signal NAME while " (nil: not handled).
    nonisolated(unsafe) static let heads: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?> = {
        let p = UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>.allocate(capacity: slots)
        p.initialize(repeating: nil, count: slots)
        return p
    }()
    nonisolated(unsafe) static let headLengths: UnsafeMutablePointer<Int> = {
        let p = UnsafeMutablePointer<Int>.allocate(capacity: slots)
        p.initialize(repeating: 0, count: slots)
        return p
    }()
    nonisolated(unsafe) static let nothing = FatalSignals.bytes("(no activity recorded)")
    nonisolated(unsafe) static let newline = FatalSignals.bytes("\n")

    /// Rank and size as the launcher exported them (0 and 1 outside a launcher).
    public static func launcherRank() -> (rank: Int, size: Int) {
        let env = ProcessInfo.processInfo.environment
        for (r, n) in [("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"), ("PMIX_RANK", "OMPI_COMM_WORLD_SIZE"),
                       ("PMI_RANK", "PMI_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS")] {
            if let rank = env[r].flatMap(Int.init), let size = env[n].flatMap(Int.init), rank >= 0, rank < size {
                return (rank, size)
            }
        }
        return (0, 1)
    }

    /// Installs the handler for every fatal signal (again: refreshes the rank in the message).
    public static func install(rank: Int? = nil, size: Int? = nil) {
        let launcher = launcherRank()
        let r = rank ?? launcher.rank, n = size ?? launcher.size
        _ = nothing; _ = newline; _ = RankActivity.unsafeBytes   // initialised now, not inside the handler
        for (signal, name) in handled {
            let (text, length) = bytes("error: [rank \(r)/\(n)] fatal signal \(name) while ")
            heads[Int(signal)]?.deallocate()
            heads[Int(signal)] = text
            headLengths[Int(signal)] = length
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in FatalSignals.report(signal) }
            sigemptyset(&action.sa_mask)
            // SA_RESETHAND: the default action is back in place when the handler runs, so a second
            // fault inside it (or the re-raise) ends the process.
            action.sa_flags = Int32(truncatingIfNeeded: SA_RESETHAND) | Int32(truncatingIfNeeded: SA_ONSTACK)
            sigaction(signal, &action, nil)
        }
        installAlternateStack()
    }

    /// A stack overflow is a SIGSEGV with no stack left to run the handler on: give it its own.
    private static func installAlternateStack() {
        let size = 64 << 10
        var stack = stack_t()
        stack.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        stack.ss_size = size
        stack.ss_flags = 0
        sigaltstack(&stack, nil)
    }

    private static func bytes(_ text: String) -> (UnsafeMutablePointer<UInt8>, Int) {
        let utf8 = Array(text.utf8)
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: utf8.count)
        p.initialize(from: utf8, count: utf8.count)
        return (p, utf8.count)
    }

    /// The handler: async-signal-safe calls only (write, signal, raise), no allocation, no locks.
    static func report(_ signal: Int32) {
        if signal >= 0 && Int(signal) < slots, let head = heads[Int(signal)] {
            writeAll(head, headLengths[Int(signal)])
            let (activity, length) = RankActivity.unsafeBytes
            if length > 0 { writeAll(activity, length) } else { writeAll(nothing.0, nothing.1) }
            writeAll(newline.0, newline.1)
        }
        Glibc.signal(signal, SIG_DFL)
        raise(signal)
    }

    private static func writeAll(_ p: UnsafePointer<UInt8>, _ count: Int) {
        var done = 0
        while done < count {
            let n = write(2, p + done, count - done)
            if n <= 0 { return }
            done += n
        }
    }
}
