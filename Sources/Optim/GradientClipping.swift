// Global gradient-norm clipping (torch.nn.utils.clip_grad_norm_ over one flat buffer) and
// the sum of squares it and LAMB's trust ratio need.

/// Scales `gradients` in place so that their global L2 norm is at most `maxNorm`, and returns the
/// norm before clipping. A non-finite norm (NaN or ∞ anywhere) is returned as it is and the
/// gradients are left untouched: the caller sees it and skips the step, instead of a scale of
/// 0 or NaN quietly hiding it. `maxNorm` ≤ 0 or infinite only measures.
/// Scale = maxNorm / norm when norm > maxNorm (apex FusedLAMB; PyTorch adds 1e-6 to the norm).
@discardableResult
public func clipGradientNorm(_ gradients: UnsafeMutableBufferPointer<Float>, maxNorm: Float) -> Float {
    let norm = Float(sumOfSquares(UnsafeBufferPointer(gradients)).squareRoot())
    guard norm.isFinite, maxNorm > 0, maxNorm.isFinite, norm > maxNorm else { return norm }
    let scale = maxNorm / norm
    let g = gradients.baseAddress!
    for i in 0..<gradients.count { g[i] *= scale }
    return norm
}

/// Σ x², accumulated in Double (squares of large gradients do not overflow, 10⁸ terms keep their
/// digits), eight lanes at a time so the loop vectorises without reassociating a scalar sum.
public func sumOfSquares(_ x: UnsafeBufferPointer<Float>) -> Double {
    guard let base = x.baseAddress else { return 0 }
    let n = x.count
    var lanes = SIMD8<Double>()
    var i = 0
    let raw = UnsafeRawPointer(base)
    while i + 8 <= n {
        let v = SIMD8<Double>(raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self))
        lanes += v * v
        i += 8
    }
    var total = lanes.sum()
    while i < n {
        let d = Double(base[i])
        total += d * d
        i += 1
    }
    return total
}
