// LayerNorm over the last dimension: y = (x − mean)·rstd·γ + β, rstd = 1/sqrt(var + eps),
// biased variance as PyTorch. N rows, C channels.

/// out[N, C], mean[N], rstd[N] from x[N, C]. mean and rstd are kept for backward.
func layerNormForward(_ out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                      _ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                      rows n: Int, channels c: Int, eps: Float) {
    let inverseC = 1 / Float(c)
    for r in 0..<n {
        let xr = x + r * c, yr = out + r * c
        var sum: Float = 0
        for i in 0..<c { sum += xr[i] }
        let m = sum * inverseC
        // Two passes: the centred sum of squares does not cancel catastrophically.
        var squares: Float = 0
        for i in 0..<c { let d = xr[i] - m; squares += d * d }
        let s = 1 / (squares * inverseC + eps).squareRoot()
        for i in 0..<c { yr[i] = (xr[i] - m) * s * gamma[i] + beta[i] }
        mean[r] = m
        rstd[r] = s
    }
}

/// dx[N, C] (= or +=), dGamma[C] +=, dBeta[C] += from dOut[N, C] and the forward's x, mean, rstd:
/// dx = rstd·(dn − mean(dn) − x̂·mean(dn·x̂)), dn = dOut·γ, x̂ = (x − mean)·rstd.
func layerNormBackward(dx: UnsafeMutablePointer<Float>, accumulate: Bool = false,
                       dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>,
                       dOut: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                       rstd: UnsafePointer<Float>, gamma: UnsafePointer<Float>, rows n: Int, channels c: Int) {
    let inverseC = 1 / Float(c)
    for r in 0..<n {
        let xr = x + r * c, dyr = dOut + r * c, dxr = dx + r * c
        let m = mean[r], s = rstd[r]
        var dnMean: Float = 0, dnXhatMean: Float = 0
        for i in 0..<c {
            let xhat = (xr[i] - m) * s
            let dn = dyr[i] * gamma[i]
            dnMean += dn
            dnXhatMean += dn * xhat
            dGamma[i] += dyr[i] * xhat
            dBeta[i] += dyr[i]
        }
        dnMean *= inverseC
        dnXhatMean *= inverseC
        if accumulate {
            for i in 0..<c {
                let xhat = (xr[i] - m) * s
                dxr[i] += s * (dyr[i] * gamma[i] - dnMean - xhat * dnXhatMean)
            }
        } else {
            for i in 0..<c {
                let xhat = (xr[i] - m) * s
                dxr[i] = s * (dyr[i] * gamma[i] - dnMean - xhat * dnXhatMean)
            }
        }
    }
}
