// LayerNorm over the last dimension: y = (x − mean)·rstd·γ + β, rstd = 1/sqrt(var + eps),
// biased variance as PyTorch. N rows, C channels.

/// out[N, C], mean[N], rstd[N] from x[N, C]. mean and rstd are kept for backward.
func layerNormForward(_ out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                      _ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                      rows n: Int, channels c: Int, eps: Float) {
    let inverseC = 1 / Float(c)
    Parallel.forEachChunk(n, minimumChunk: max(1, 32_768 / c)) { rows in
        for r in rows {
            let xr = x + r * c, yr = out + r * c
            let m = vectorSum(xr, count: c) * inverseC
            // Two passes: the centred sum of squares does not cancel catastrophically.
            let s = 1 / (vectorCentredSquares(xr, centre: m, count: c) * inverseC + eps).squareRoot()
            for i in 0..<c { yr[i] = (xr[i] - m) * s * gamma[i] + beta[i] }
            mean[r] = m
            rstd[r] = s
        }
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
        // Σ dn = Σ dy·γ and Σ dn·x̂ = rstd·(Σ dy·γ·x − mean·Σ dy·γ), with dγ, dβ accumulated alongside.
        var sumDn: Float = 0, sumDnX: Float = 0
        var accDn = Lanes(repeating: 0), accDnX = Lanes(repeating: 0)
        var i = 0
        while i + 8 <= c {
            let dy = UnsafeRawPointer(dyr + i).loadUnaligned(as: Lanes.self)
            let g = UnsafeRawPointer(gamma + i).loadUnaligned(as: Lanes.self)
            let xv = UnsafeRawPointer(xr + i).loadUnaligned(as: Lanes.self)
            let xhat = (xv - Lanes(repeating: m)) * s
            accDn += dy * g
            accDnX += dy * g * xhat
            i += 8
        }
        sumDn = accDn.sum()
        sumDnX = accDnX.sum()
        while i < c {
            let xhat = (xr[i] - m) * s
            sumDn += dyr[i] * gamma[i]
            sumDnX += dyr[i] * gamma[i] * xhat
            i += 1
        }
        for j in 0..<c {
            dGamma[j] += dyr[j] * ((xr[j] - m) * s)
            dBeta[j] += dyr[j]
        }
        let dnMean = sumDn * inverseC, dnXhatMean = sumDnX * inverseC
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
