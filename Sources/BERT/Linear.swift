// Linear layer, PyTorch convention: weight [out, in], y = x·Wᵀ + b.
// Dimension legend: N rows (tokens or gathered positions), In, Out features.

/// out[N, Out] = x[N, In] · weight[Out, In]ᵀ + bias[Out].
/// The bias is broadcast into `out` first and the GEMM accumulates onto it (beta = 1), so
/// the bias costs one pass of writes instead of a second pass over the product.
func linearForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                   weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows n: Int, inFeatures: Int, outFeatures: Int) {
    for r in 0..<n { (out + r * outFeatures).update(from: bias, count: outFeatures) }
    sgemm(transB: true, m: n, n: outFeatures, k: inFeatures, a: x, lda: inFeatures,
          b: weight, ldb: inFeatures, beta: 1, c: out, ldc: outFeatures)
}

/// Given dOut[N, Out]: dWeight[Out, In] += dOutᵀ·x, dBias[Out] += column sums of dOut, and
/// dx[N, In] = dOut·W (accumulated onto dx when `accumulate`). dx may be nil (input is data).
func linearBackward(dx: UnsafeMutablePointer<Float>?, accumulate: Bool = false,
                    dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
                    dOut: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                    rows n: Int, inFeatures: Int, outFeatures: Int) {
    if let dx {
        sgemm(m: n, n: inFeatures, k: outFeatures, a: dOut, lda: outFeatures, b: weight, ldb: inFeatures,
              beta: accumulate ? 1 : 0, c: dx, ldc: inFeatures)
    }
    sgemm(transA: true, m: outFeatures, n: inFeatures, k: n, a: dOut, lda: outFeatures, b: x, ldb: inFeatures,
          beta: 1, c: dWeight, ldc: inFeatures)
    columnSums(dOut, rows: n, columns: outFeatures, into: dBias)
}

/// into[C] += Σ_r m[r, C]: a row-at-a-time loop, vectorised along the row.
/// Threads take disjoint column ranges, so no two write the same sum.
func columnSums(_ m: UnsafePointer<Float>, rows: Int, columns: Int, into: UnsafeMutablePointer<Float>) {
    let columnsPerChunk = max(1, 32_768 / max(1, rows))
    Parallel.forEachChunk(columns, minimumChunk: columnsPerChunk) { range in
        for r in 0..<rows {
            let row = m + r * columns
            for c in range { into[c] += row[c] }
        }
    }
}
