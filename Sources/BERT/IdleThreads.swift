// Idle threads of the libraries we call must sleep, not spin. Between two products our own threads run
// LayerNorm, GELU, dropout, attention and the optimizer; a library thread busy-waiting for its next
// product holds a core they need. Both libraries read their setting from the environment when they
// are loaded, before `main`, so the executable sets what the user left unset and executes itself
// again, once (`restartIfNeeded`): same pid and arguments, so mpirun and Slurm see nothing.

import Foundation

public enum IdleThreads {
    /// OpenBLAS's workers spin (a sched_yield loop) for 2^28 cycles, about 0.1 s, after each product, far
    /// longer than the gap to the next one; with OPENBLAS_THREAD_TIMEOUT=8 they sleep after 2^8 cycles and
    /// the next product wakes them. Measured on a 2-core AVX512-BF16 EPYC, 2 threads, default → 8, two
    /// alternating runs: fine-tuning step bert-tiny 507 / 501 → 563 / 574 seq/s, bert-small 19.2 / 21.0 →
    /// 21.2 / 22.1, bert-base 2.93 / 2.82 → 2.97 / 2.92; pretraining bert-small 13.5 / 13.7 → 14.4 / 14.5
    /// (1 thread: no workers, no change).
    public static let openblasTimeout = (name: "OPENBLAS_THREAD_TIMEOUT", value: "8")

    /// libgomp's threads (oneDNN's bf16 products) busy-wait for the next parallel region the same way;
    /// OMP_WAIT_POLICY=passive makes them sleep at once. Measured there, bf16 steps at 2 threads:
    /// bert-small 21.3 → 23.5 seq/s, bert-base 4.29 → 4.75. Only when oneDNN's bf16 kernel will run, and
    /// not when the user set a policy or GOMP_SPINCOUNT.
    public static let openmpPolicy = (name: "OMP_WAIT_POLICY", value: "passive")

    /// The variables this process should set before it starts: those of the settings above that apply and
    /// that the environment leaves unset.
    public static var unsetSettings: [(name: String, value: String)] {
        let environment = ProcessInfo.processInfo.environment
        var settings: [(name: String, value: String)] = []
        if environment[openblasTimeout.name] == nil { settings.append(openblasTimeout) }
        if environment[openmpPolicy.name] == nil && environment["GOMP_SPINCOUNT"] == nil && OneDNN.hasBF16Kernel {
            settings.append(openmpPolicy)
        }
        return settings
    }

    /// Sets `unsetSettings` and replaces the process by a fresh run of the same executable with the same
    /// arguments. Call first thing in `main`, before MPI or any thread starts. If exec fails, the run goes
    /// on as it is.
    public static func restartIfNeeded() {
        let settings = unsetSettings
        if settings.isEmpty { return }
        for setting in settings { setenv(setting.name, setting.value, 1) }
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    }
}
