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
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
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
}
