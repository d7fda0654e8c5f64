// The machine's matrix-product peak that the step's GFLOP/s are compared with: one n×n×n
// cblas_sgemm through the model's own door (BERT.sgemm) in fp32 whatever the run's precision, at the
// threads set for the run, on the kernels OpenBLAS runs (BLAS.coreName).

import BERT
import Dispatch

public enum SgemmPeak {
    /// Achieved GFLOP/s of one n×n×n product (2n³ FLOP), median of `repeats` after one warm-up.
    public static func gflops(size n: Int = 2048, repeats: Int = 3) -> Double {
        let a = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * n)
        let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * n)
        let c = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * n)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        for i in 0..<(n * n) { a[i] = Float(i % 7) * 0.1; b[i] = Float(i % 5) * 0.1; c[i] = 0 }
        let precision = MatrixProducts.precision
        MatrixProducts.use(.fp32)
        defer { MatrixProducts.use(precision) }
        var times: [Double] = []
        for r in 0...repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            sgemm(m: n, n: n, k: n, a: a.baseAddress!, lda: n, b: b.baseAddress!, ldb: n, c: c.baseAddress!, ldc: n)
            if r > 0 { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9) }
        }
        times.sort()
        return 2 * Double(n) * Double(n) * Double(n) / times[times.count / 2] / 1e9
    }
}
