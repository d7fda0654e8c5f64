// FastMath: branch-free Float exp, erf and tanh that the compiler can vectorise.
//
// glibc's expf/erff are scalar calls; at bert-base one step evaluates ~75 M exponentials
// (softmax) and ~450 M erf/exp pairs (GELU forward, recompute and backward), which as calls
// cost seconds per step. These versions are plain arithmetic plus a select, so loops over
// them vectorise; accuracy is checked against Double `exp`/`erf` in FastMathTests.

/// e^x for Float, relative error about 2 ulp; 0 below -87.3 (where expf underflows to
/// denormals anyway). Inputs above 88.3 are clamped (e^88.3 ≈ 2e38): callers only pass
/// non-positive arguments (softmax, erf) or tanh's clamped ±40.
@inline(__always)
func fastExp(_ x: Float) -> Float {
    let clamped = min(max(x, -87.3), 88.3)
    // x = n·ln2 + r, |r| ≤ ln2/2. n is rounded to nearest by adding and subtracting 1.5·2²³
    // (plain Float arithmetic, so the loop vectorises; `rounded()` and Int32(_:) did not).
    let magic: Float = 12_582_912
    let shifted = clamped * 1.442_695_04 + magic
    let n = shifted - magic
    // ln2 split in two (Cody-Waite) so n·ln2_hi is exact.
    let r = (clamped - n * 0.693_145_75) - n * 1.428_606_8e-6
    // e^r by its Taylor polynomial to degree 7 (truncation < 1e-9 on |r| ≤ 0.347).
    var p: Float = 1.0 / 5040
    p = p * r + 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    // 2^n from the exponent bits: the low mantissa bits of `shifted` hold n (two's complement).
    let exponent = (shifted.bitPattern &- magic.bitPattern &+ 127) << 23
    let result = p * Float(bitPattern: exponent)
    return x < -87.3 ? 0 : result
}

/// erf(x) for Float, absolute error below 2e-7 (about 1 ulp of values near 1).
/// |x| ≤ 1: x·P(x²), P of degree 6; 1 < |x| ≤ 4: 1 − exp(−x² + R(|x| − 2.5)), R of degree 8;
/// beyond 4, erf rounds to ±1 in Float. Coefficients: least-squares fits on Chebyshev nodes,
/// made by `Tests/BERTTests/Fixtures/fit_erf.py` (fit error 1.3e-9 and 6.2e-10).
@inline(__always)
func fastErf(_ x: Float) -> Float {
    let t = min(abs(x), 4)
    let s = t * t
    var small: Float = 7.933_350_2e-05
    small = small * s - 0.000_803_480_48
    small = small * s + 0.005_191_213_8
    small = small * s - 0.026_855_397
    small = small * s + 0.112_836_26
    small = small * s - 0.376_126_3
    small = small * s + 1.128_379_2
    small *= t
    let u = t - 2.5
    var q: Float = 1.614_049_3e-06
    q = q * u - 1.330_940_6e-05
    q = q * u + 7.739_447_4e-05
    q = q * u - 0.000_420_144_51
    q = q * u + 0.002_165_160_3
    q = q * u - 0.010_858_517
    q = q * u + 0.056_106_36
    q = q * u - 0.352_680_68
    q = q * u - 1.556_815_3
    let large = 1 - fastExp(q - s)
    let magnitude = t <= 1 ? small : large
    return x < 0 ? -magnitude : magnitude
}

/// tanh(x) = 1 − 2/(e^{2x} + 1), accurate to a few ulp away from 0 and to ~1e-7 absolute near 0.
@inline(__always)
func fastTanh(_ x: Float) -> Float {
    let e = fastExp(2 * min(max(x, -20), 20))   // tanh(±20) = ±1 in Float
    return 1 - 2 / (e + 1)
}
