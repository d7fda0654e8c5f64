// Attention of a few query rows over every key row without computing keys or values: the last layer
// of a classifier, whose pooler reads one row per sequence. With k = x·Wkᵀ + bk and v = x·Wvᵀ + bv,
// head h of a query q scores the keys as (q_h·Wk_h)·xᵀ + q_h·bk_h, and the last term is the same for
// every key, which softmax ignores; its context is (w·x)·Wv_hᵀ + (Σ w)·bv_h for weights w. So per
// sequence the [T, H] input is read through A·S rows instead of projected to [T, 2H]: A·S·T·H
// multiply-adds twice instead of 2·T·H², e.g. 1.2 M against 151 M per bert-base sequence of 128.
// The key bias's gradient is exactly 0 in this form (the every-row path gives rounding noise there).
//
// Legend: A heads, D head size, H = A·D; read row r (of R in all) is query i of sequence b;
//   q      [R, H]       the read rows' queries (head h = columns h·D..<(h+1)·D)
//   qt     [R·A, H]     row r·A + h = q_h·Wk_h/√D          (folded queries)
//   probs  [S·A, T] per sequence from A·blockOffsets[b]: softmax(qt·xᵀ), row i·A + h; keep: their masks,
//                       row (h, position of i) drawn from the stream every-row attention draws it from
//   sums   [R·A]        Σ_j of each row's dropped-out weights (1 without dropout)
//   y      [R·A, H]     row r·A + h = weights·x             (weighted inputs)
//   ctx    [R, H]       head h: y_h·Wv_hᵀ + sums·bv_h
// Per-sequence products run on workers with OpenBLAS at one thread (each touches its own rows); the
// per-head ones, over every read row, run on OpenBLAS's threads.

import Randomness

/// Where the folded form keeps its operands: weights [H, H] blocks of the fused qkv weight, and buffers.
struct FoldedAttentionOperands {
    let q, qt, y, sums: UnsafeMutablePointer<Float>
    let x: UnsafePointer<Float>
    let keyWeight, valueWeight, valueBias: UnsafePointer<Float>
}

/// The same shapes' gradients: dq, dqt, dy [R·A, H] scratch, dx accumulated (every key row), weight gradients accumulated.
struct FoldedAttentionGradients {
    let dq, dqt, dy: UnsafeMutablePointer<Float>
    let dx: UnsafeMutablePointer<Float>
    let keyWeight, valueWeight, valueBias: UnsafeMutablePointer<Float>
}

/// Whether the folded form fits the buffers (q, qt, y and sums in the [N, 3H] qkv buffer, each sequence's
/// [S·A, T] blocks in a worker's [T, T] halves) and pays: Σ A·S·T·H multiply-adds twice against the
/// projections' N·H² twice.
func foldedAttentionApplies(keys: SequenceRows, queries: SequenceRows, heads A: Int, hidden H: Int) -> Bool {
    let R = queries.count, N = keys.count
    var longestQueries = 0, folded = 0
    for b in 0..<queries.sequences {
        longestQueries = max(longestQueries, queries.length(b))
        folded += A * queries.length(b) * keys.length(b)
    }
    return R * (H * (2 * A + 1) + A) <= 3 * N * H && A * longestQueries <= keys.longest && folded < N * H
}

/// Runs `body(slot, b)` for every sequence, on workers with OpenBLAS at one thread when there are several.
private func forEachSequence(_ B: Int, scratch: UnsafeMutableBufferPointer<Float>, slotSize: Int,
                             _ body: (_ slot: UnsafeMutablePointer<Float>, _ b: Int) -> Void) {
    let workers = min(Parallel.threads, B, scratch.count / slotSize)
    if workers <= 1 {
        for b in 0..<B { body(scratch.baseAddress!, b) }
        return
    }
    Parallel.forEachBlockWithSerialBLAS(B, workers: workers) { worker, range in
        for b in range { body(scratch.baseAddress! + worker * slotSize, b) }
    }
}

/// ctx [R, H] (overwritten) for the read rows; keeps probs, keep, qt, y, sums for backward.
func foldedAttentionForward(ctx: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, keep: UnsafeMutablePointer<UInt8>,
                            operands o: FoldedAttentionOperands, keys: SequenceRows, queries: AttentionQueries,
                            shape s: AttentionShape, dropProbability p: Float, sequenceKeys: UnsafePointer<RandomKey>?,
                            layer: Int, scratch: UnsafeMutableBufferPointer<Float>) {
    let A = s.heads, D = s.headSize, H = s.hidden, R = queries.rows.count
    precondition(p == 0 || sequenceKeys != nil, "dropout needs the sequences' keys")
    for h in 0..<A {
        sgemm(m: R, n: H, k: D, alpha: s.scale, a: o.q + h * D, lda: H, b: o.keyWeight + h * D * H, ldb: H,
              c: o.qt + h * H, ldc: A * H)
    }
    let slotSize = attentionScratchPerWorker(seq: keys.longest)
    forEachSequence(keys.sequences, scratch: scratch, slotSize: slotSize) { slot, b in
        let start = keys.start(b), T = keys.length(b), first = queries.rows.start(b), rows = queries.rows.length(b) * A
        let block = probs + A * queries.blockOffsets[b], x = o.x + start * H
        sgemm(transB: true, m: rows, n: T, k: H, a: o.qt + first * A * H, lda: H, b: x, ldb: H, c: block, ldc: T)
        for row in 0..<rows {
            if let bias = keys.maskBias { softmaxRow(block + row * T, bias: bias + start, count: T) } else { softmaxRow(block + row * T, count: T) }
        }
        var weights = UnsafePointer(block)
        if p > 0, let sequenceKeys {
            let site = sequenceKeys[b].appending(UInt64(layer)).appending(DropoutSite.attentionProbabilities.rawValue)
            let masks = keep + A * queries.blockOffsets[b]
            for i in 0..<queries.rows.length(b) {
                let position = queries.positions.map { UInt64($0[first + i]) } ?? UInt64(i)
                for h in 0..<A {
                    var rng = Xoshiro256StarStar(site.appending(UInt64(h)).appending(position))
                    rng.fillMask(masks + (i * A + h) * T, count: T, dropProbability: p)
                }
            }
            dropoutApply(block, mask: masks, count: rows * T, dropProbability: p, into: slot)
            weights = UnsafePointer(slot)
        }
        for row in 0..<rows { o.sums[first * A + row] = vectorSum(weights + row * T, count: T) }
        sgemm(m: rows, n: H, k: T, a: weights, lda: T, b: x, ldb: H, c: o.y + first * A * H, ldc: H)
    }
    for h in 0..<A {
        sgemm(transB: true, m: R, n: D, k: H, a: o.y + h * H, lda: A * H, b: o.valueWeight + h * D * H, ldb: H,
              c: ctx + h * D, ldc: H)
        for r in 0..<R {
            let sum = o.sums[r * A + h], out = ctx + r * H + h * D, bias = o.valueBias + h * D
            for d in 0..<D { out[d] += sum * bias[d] }
        }
    }
}

/// From dctx [R, H]: dq [R, H] (overwritten), dx += at every key row, and the key and value weights' and the
/// value bias's gradients accumulated (the key bias has none).
func foldedAttentionBackward(gradients g: FoldedAttentionGradients, dctx: UnsafePointer<Float>, operands o: FoldedAttentionOperands,
                             probs: UnsafePointer<Float>, keep: UnsafePointer<UInt8>, keys: SequenceRows,
                             queries: AttentionQueries, shape s: AttentionShape, dropProbability p: Float,
                             scratch: UnsafeMutableBufferPointer<Float>) {
    let A = s.heads, D = s.headSize, H = s.hidden, R = queries.rows.count
    for h in 0..<A {
        // ctx_h = y_h·Wv_hᵀ + sums·bv_h: dy_h = dctx_h·Wv_h, dWv_h += dctx_hᵀ·y_h, dbv_h += Σ sums·dctx_h
        sgemm(m: R, n: H, k: D, a: dctx + h * D, lda: H, b: o.valueWeight + h * D * H, ldb: H, c: g.dy + h * H, ldc: A * H)
        sgemm(transA: true, m: D, n: H, k: R, a: dctx + h * D, lda: H, b: o.y + h * H, ldb: A * H,
              beta: 1, c: g.valueWeight + h * D * H, ldc: H)
        for r in 0..<R {
            let sum = o.sums[r * A + h], d = dctx + r * H + h * D, bias = g.valueBias + h * D
            for i in 0..<D { bias[i] += sum * d[i] }
        }
    }
    let slotSize = attentionScratchPerWorker(seq: keys.longest), half = keys.longest * keys.longest
    forEachSequence(keys.sequences, scratch: scratch, slotSize: slotSize) { slot, b in
        let start = keys.start(b), T = keys.length(b), first = queries.rows.start(b), rows = queries.rows.length(b) * A
        let block = probs + A * queries.blockOffsets[b], masks = keep + A * queries.blockOffsets[b]
        let x = o.x + start * H, dx = g.dx + start * H, dy = g.dy + first * A * H
        let dWeights = slot, dropped = slot + half
        // y = weights·x: dWeights = dy·xᵀ (+ the bias path: d(Σ w) = dctx_h·bv_h on every weight of the row), dx += weightsᵀ·dy
        sgemm(transB: true, m: rows, n: T, k: H, a: dy, lda: H, b: x, ldb: H, c: dWeights, ldc: T)
        for row in 0..<rows {
            let r = first + row / A, h = row % A
            let shift = vectorDot(dctx + r * H + h * D, o.valueBias + h * D, count: D), dr = dWeights + row * T
            for j in 0..<T { dr[j] += shift }
        }
        var weights = block
        if p > 0 {
            dropoutApply(block, mask: masks, count: rows * T, dropProbability: p, into: dropped)
            dropoutApply(dWeights, mask: masks, count: rows * T, dropProbability: p)
            weights = UnsafePointer(dropped)
        }
        sgemm(transA: true, m: T, n: H, k: rows, a: weights, lda: T, b: dy, ldb: H, beta: 1, c: dx, ldc: H)
        // softmax backward, in place: dScores = P ⊙ (dP − Σ_j dP·P)
        for row in 0..<rows {
            let pr = block + row * T, dr = dWeights + row * T
            let dot = vectorDot(pr, dr, count: T)
            for j in 0..<T { dr[j] = pr[j] * (dr[j] - dot) }
        }
        // scores = qt·xᵀ: dqt = dScores·x, dx += dScoresᵀ·qt
        sgemm(m: rows, n: H, k: T, a: dWeights, lda: T, b: x, ldb: H, c: g.dqt + first * A * H, ldc: H)
        sgemm(transA: true, m: T, n: H, k: rows, a: dWeights, lda: T, b: o.qt + first * A * H, ldb: H, beta: 1, c: dx, ldc: H)
    }
    for h in 0..<A {
        // qt_h = q_h·Wk_h/√D: dq_h = dqt_h·Wk_hᵀ/√D, dWk_h += q_hᵀ·dqt_h/√D
        sgemm(transB: true, m: R, n: D, k: H, alpha: s.scale, a: g.dqt + h * H, lda: A * H, b: o.keyWeight + h * D * H, ldb: H,
              c: g.dq + h * D, ldc: H)
        sgemm(transA: true, m: D, n: H, k: R, alpha: s.scale, a: o.q + h * D, lda: H, b: g.dqt + h * H, ldb: A * H,
              beta: 1, c: g.keyWeight + h * D * H, ldc: H)
    }
}
