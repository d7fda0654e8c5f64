// Sgemm: the one door to cblas_sgemm. Every matrix product of the model goes through
// `sgemm`, which checks the shapes against the leading dimensions (row-major, as
// PyTorch stores tensors) before handing the pointers to OpenBLAS.

import CBLAS
import Foundation

/// C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] + beta · C, all row-major.
/// `transA`: A is stored [k, m] (so op(A) = Aᵀ); otherwise [m, k]. Likewise `transB`.
/// Leading dimensions are row strides in elements, so strided views (a head's slice of
/// the fused QKV rows, lda = 3H) need no copy.
@inline(__always)
func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
           alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
           b: UnsafePointer<Float>, ldb: Int,
           beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    // A shape error here is a programming error in the model, not bad input: trap with the shapes.
    precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative size m=\(m) n=\(n) k=\(k)")
    precondition(lda >= max(1, transA ? m : k), "sgemm: lda \(lda) < \(transA ? m : k) (transA=\(transA))")
    precondition(ldb >= max(1, transB ? k : n), "sgemm: ldb \(ldb) < \(transB ? k : n) (transB=\(transB))")
    precondition(ldc >= max(1, n), "sgemm: ldc \(ldc) < n \(n)")
    if m == 0 || n == 0 { return }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// OpenBLAS threads used by every later `sgemm` (process-wide).
public enum BLAS {
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
        Parallel.threads = max(1, count)
    }
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// Achieved GFLOP/s of one n×n×n product (2n³ FLOP), median of `repeats` after one warm-up.
    public static func measureSgemm(size n: Int = 2048, repeats: Int = 3) -> Double {
        let a = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * n)
        let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * n)
        let c = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * n)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        for i in 0..<(n * n) { a[i] = Float(i % 7) * 0.1; b[i] = Float(i % 5) * 0.1; c[i] = 0 }
        var times: [Double] = []
        for r in 0...repeats {
            let t0 = Clock.now
            sgemm(m: n, n: n, k: n, a: a.baseAddress!, lda: n, b: b.baseAddress!, ldb: n, c: c.baseAddress!, ldc: n)
            if r > 0 { times.append(Clock.now - t0) }
        }
        times.sort()
        return 2 * Double(n) * Double(n) * Double(n) / times[times.count / 2] / 1e9
    }
}

/// Monotonic seconds, for benchmarks.
public enum Clock {
    public static var now: Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
