// Vector reductions. LLVM keeps a Float `sum += x[i]` loop scalar (it may not reorder the
// additions), which made LayerNorm, softmax and cross-entropy run at a quarter of the vector
// width in the bert-tiny profile; these sum in 8 independent lanes, then across them.

typealias Lanes = SIMD8<Float>

@inline(__always)
private func load(_ p: UnsafePointer<Float>, _ i: Int) -> Lanes {
    UnsafeRawPointer(p + i).loadUnaligned(as: Lanes.self)
}

/// Σ x[i].
func vectorSum(_ x: UnsafePointer<Float>, count n: Int) -> Float {
    var acc = Lanes(repeating: 0), i = 0
    while i + 8 <= n { acc += load(x, i); i += 8 }
    var s = acc.sum()
    while i < n { s += x[i]; i += 1 }
    return s
}

/// Σ x[i]·y[i].
func vectorDot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count n: Int) -> Float {
    var acc = Lanes(repeating: 0), i = 0
    while i + 8 <= n { acc += load(x, i) * load(y, i); i += 8 }
    var s = acc.sum()
    while i < n { s += x[i] * y[i]; i += 1 }
    return s
}

/// Σ (x[i] − c)².
func vectorCentredSquares(_ x: UnsafePointer<Float>, centre c: Float, count n: Int) -> Float {
    var acc = Lanes(repeating: 0), i = 0
    let cv = Lanes(repeating: c)
    while i + 8 <= n { let d = load(x, i) - cv; acc += d * d; i += 8 }
    var s = acc.sum()
    while i < n { let d = x[i] - c; s += d * d; i += 1 }
    return s
}

/// max_i x[i] (−∞ for n = 0).
func vectorMax(_ x: UnsafePointer<Float>, count n: Int) -> Float {
    var acc = Lanes(repeating: -.infinity), i = 0
    // A lane-wise select, not `pointwiseMax`: the latter stayed an out-of-line call per vector (3 % of an
    // `embed` run in perf, as much as the softmax's exponentials).
    while i + 8 <= n { let v = load(x, i); acc.replace(with: v, where: v .> acc); i += 8 }
    var m = acc.max()
    while i < n { m = max(m, x[i]); i += 1 }
    return m
}
