// Process-level settings of a rank: BLAS threads and the stop signals of a batch system.

import CBLAS
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

public enum BLASThreads {
    /// Sets OpenBLAS's thread count: `requested`, else OPENBLAS_NUM_THREADS, else cores ÷ ranks on this node.
    /// Warns when the ranks of this node would together use more threads than it has cores.
    @discardableResult
    public static func configure(requested: Int?, localRanks: Int, logger: Logger) -> Int {
        let cores = max(ProcessInfo.processInfo.activeProcessorCount, 1)
        let fromEnvironment = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"].flatMap { Int($0) }
        let threads = max(requested ?? fromEnvironment ?? max(cores / max(localRanks, 1), 1), 1)
        openblas_set_num_threads(Int32(threads))
        if threads * localRanks > cores {
            logger.warning("\(localRanks) ranks × \(threads) BLAS threads on this node exceed its \(cores) cores (oversubscribed: expect slow steps)")
        }
        return threads
    }
}

/// SIGTERM / SIGUSR1 (Slurm preemption or time limit): remember that a stop was asked for. The trainer
/// all-reduces the flag after every step, so every rank stops after the same step and writes one checkpoint.
public enum StopSignal {
    /// Written only by the signal handler (a plain word store, async-signal-safe).
    nonisolated(unsafe) static var flag: UnsafeMutablePointer<sig_atomic_t> = {
        let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 1)
        p.pointee = 0
        return p
    }()

    public static func install() {
        _ = flag  // allocate before any signal can arrive
        for sig in [SIGTERM, SIGUSR1] {
            signal(sig) { number in StopSignal.flag.pointee = sig_atomic_t(number) }
        }
    }

    /// The signal received, or 0.
    public static var received: Int32 { Int32(flag.pointee) }
}
