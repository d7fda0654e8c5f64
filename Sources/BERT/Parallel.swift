// Parallel: splits the element-wise passes (GELU, LayerNorm, bias column sums) across the
// same number of threads OpenBLAS uses, so that at 2 threads the non-GEMM part of a step
// halves too instead of doubling its share (bert-base at 2 threads: 66 % of sgemm GFLOP/s
// with these passes serial, GELU alone ~15 % of the step).

import CBLAS
import Dispatch

enum Parallel {
    /// Threads for element-wise work: OpenBLAS's count at start-up (OPENBLAS_NUM_THREADS, else
    /// the cores), then whatever `BLAS.setThreads` sets.
    static var threads = max(1, Int(openblas_get_num_threads()))

    /// Calls `body` on disjoint chunks covering 0..<count, in parallel when the work is large
    /// enough to pay for waking a thread (`minimumChunk` elements per chunk).
    @inline(__always)
    static func forEachChunk(_ count: Int, minimumChunk: Int = 32_768, _ body: (Range<Int>) -> Void) {
        let chunks = min(threads, count / max(1, minimumChunk))
        if chunks <= 1 { body(0..<count); return }
        let size = (count + chunks - 1) / chunks
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let start = c * size
            if start < count { body(start..<min(count, start + size)) }
        }
    }

    /// Calls `body(worker, range)` for `workers` contiguous blocks covering 0..<count, in parallel,
    /// with OpenBLAS held at one thread meanwhile: each worker's sgemm calls are small (attention
    /// heads), so running them side by side beats letting OpenBLAS split each one, and two levels
    /// of threads would oversubscribe the cores. The previous OpenBLAS count is restored after.
    static func forEachBlockWithSerialBLAS(_ count: Int, workers: Int, _ body: (_ worker: Int, Range<Int>) -> Void) {
        let blasThreads = openblas_get_num_threads()
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(blasThreads) }
        let size = (count + workers - 1) / workers
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let start = w * size
            if start < count { body(w, start..<min(count, start + size)) }
        }
    }
}
