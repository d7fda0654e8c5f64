// Multi-head self-attention core (between the Q/K/V projections and the output dense), per
// sequence at its own length (SequenceRows: packed rows, or the rectangular layout with a key bias).
// Legend: A heads, D head size, H = A·D; for sequence b: T = keys.length(b) key rows from keys.start(b),
// S = queries.length(b) query rows from queries.start(b) (every position, or those a head reads).
//   q     rows of queries, k and v rows of keys (AttentionOperands: strided views; head h is columns h·D..<(h+1)·D)
//   probs blocks [S, T] per (b, h), at A·blockOffsets[b] + h·S·T: softmax(q·kᵀ/√D + bias),
//                    kept for backward (inference passes none: each pair's block lives in its worker's slot)
//   keep  the same blocks of dropout mask bytes (only when p > 0); the query at position i of pair (b, h) is
//                    drawn from its own stream keyed (sequence b, layer, site, h, i): element j is the same for
//                    any T and whichever queries are computed, so a packed row and its padded twin, and a
//                    read-only query and its every-position twin, draw the same masks on their real keys
//   ctx   [rows of queries, H]  (dropped-out probs)·v, heads side by side as HF's context layer
// Every product is a GEMM on a strided view: no per-head copies.

import CKernels
import Randomness

struct AttentionShape {
    let heads: Int, headSize: Int
    var hidden: Int { heads * headSize }
    var scale: Float { 1 / Float(headSize).squareRoot() }
}

/// Where attention reads q, k, v, or backward writes their gradients: query row r at q + r·qStride, key row r
/// at k + r·kvStride (v the same).
struct AttentionOperands {
    let q, k, v: UnsafeMutablePointer<Float>
    let qStride, kvStride: Int

    /// The fused [N, 3H] projection of every row, [q | k | v].
    init(fused qkv: UnsafePointer<Float>, hidden H: Int) {
        let base = UnsafeMutablePointer(mutating: qkv)
        self.init(q: base, k: base + H, v: base + 2 * H, qStride: 3 * H, kvStride: 3 * H)
    }

    init(q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, qStride: Int, kvStride: Int) {
        self.q = q; self.k = k; self.v = v; self.qStride = qStride; self.kvStride = kvStride
    }
}

/// Which queries attention computes: every key row (`rows` = the keys', positions nil, squares as block
/// offsets), or the positions a head reads (the encoder's last layer, `ReadPositions`).
struct AttentionQueries {
    let rows: SequenceRows
    /// The position within its sequence of each query row; nil: row i of a sequence is position i.
    let positions: UnsafePointer<Int32>?
    /// [B + 1]: Σ S·T of the sequences before b, where b's probability blocks start (times the head count).
    let blockOffsets: UnsafePointer<Int>

    static func everyPosition(_ rows: SequenceRows) -> AttentionQueries {
        AttentionQueries(rows: rows, positions: nil, blockOffsets: rows.squareOffsets)
    }
}

/// Scratch floats one worker needs at longest length T: [T, T] dropped-out probabilities (forward without
/// a probability buffer: the probabilities), plus [T, T] dWeights in backward.
func attentionScratchPerWorker(seq T: Int) -> Int { 2 * T * T }

/// Runs `pair(slot, b, h)` for every (sequence b, head h), in order on one thread, or as contiguous blocks
/// of pairs across `Parallel.threads` workers (at most one per scratch slot) when that pays. Each pair's
/// arithmetic is the same either way and touches only its own outputs and its worker's slot, so the
/// result is bit-identical for any thread count.
private func forEachPair(keys: SequenceRows, queries: SequenceRows, _ s: AttentionShape, scratch: UnsafeMutableBufferPointer<Float>,
                         _ pair: (_ slot: UnsafeMutablePointer<Float>, _ b: Int, _ h: Int) -> Void) {
    let pairs = keys.sequences * s.heads, T = keys.longest, slotSize = attentionScratchPerWorker(seq: T)
    precondition(scratch.count >= slotSize, "attention scratch \(scratch.count) < \(slotSize) floats")
    // Pairs smaller than S=T=64, D=64 (4·S·T·D = 1 MFLOP forward) stay serial: waking a thread and
    // switching OpenBLAS would weigh more there (not measured below; bert-mini is T=128, D=64).
    let workers = queries.longest * T * s.headSize >= 1 << 18 ? min(Parallel.threads, pairs, scratch.count / slotSize) : 1
    if workers <= 1 {
        for index in 0..<pairs { pair(scratch.baseAddress!, index / s.heads, index % s.heads) }
        return
    }
    Parallel.forEachBlockWithSerialBLAS(pairs, workers: workers) { worker, range in
        let slot = scratch.baseAddress! + worker * slotSize
        for index in range { pair(slot, index / s.heads, index % s.heads) }
    }
}

/// Every position's attention over the fused qkv [N, 3H] into ctx [N, H]. scratch:
/// `attentionScratchPerWorker(rows.longest)` floats per worker (see `forEachPair`). `probs` nil
/// (inference): nothing is kept, and there is no dropout.
func attentionForward(ctx: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>?, keep: UnsafeMutablePointer<UInt8>?,
                      qkv: UnsafePointer<Float>, rows: SequenceRows, shape s: AttentionShape,
                      dropProbability p: Float, sequenceKeys: UnsafePointer<RandomKey>?, layer: Int,
                      scratch: UnsafeMutableBufferPointer<Float>) {
    attentionForward(ctx: ctx, probs: probs, keep: keep, operands: AttentionOperands(fused: qkv, hidden: s.hidden),
                     keys: rows, queries: .everyPosition(rows), shape: s, dropProbability: p, sequenceKeys: sequenceKeys,
                     layer: layer, scratch: scratch)
}

/// Attention of the chosen queries over every key: ctx [queries.rows.count, H].
func attentionForward(ctx: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>?, keep: UnsafeMutablePointer<UInt8>?,
                      operands o: AttentionOperands, keys: SequenceRows, queries: AttentionQueries, shape s: AttentionShape,
                      dropProbability p: Float, sequenceKeys: UnsafePointer<RandomKey>?, layer: Int,
                      scratch: UnsafeMutableBufferPointer<Float>) {
    let D = s.headSize, H = s.hidden, half = keys.longest * keys.longest
    precondition(p == 0 || (probs != nil && keep != nil && sequenceKeys != nil), "dropout needs kept probabilities")
    forEachPair(keys: keys, queries: queries.rows, s, scratch: scratch) { slot, b, h in
        let start = keys.start(b), T = keys.length(b), first = queries.rows.start(b), S = queries.rows.length(b)
        let q = o.q + first * o.qStride + h * D, k = o.k + start * o.kvStride + h * D, v = o.v + start * o.kvStride + h * D
        let block = s.heads * queries.blockOffsets[b] + h * S * T
        let pbh = probs.map { $0 + block } ?? slot
        // scores[S, T] = q·kᵀ/√D
        sgemm(transB: true, m: S, n: T, k: D, alpha: s.scale, a: q, lda: o.qStride, b: k, ldb: o.kvStride,
              c: pbh, ldc: T)
        if let bias = keys.maskBias {
            for i in 0..<S { softmaxRow(pbh + i * T, bias: bias + start, count: T) }
        } else {
            for i in 0..<S { softmaxRow(pbh + i * T, count: T) }
        }
        var weights = UnsafePointer(pbh)
        if p > 0, let keep, let sequenceKeys {
            // Keyed masks: each pair draws its own, on whichever worker runs it.
            let pairKey = sequenceKeys[b].appending(UInt64(layer)).appending(DropoutSite.attentionProbabilities.rawValue)
                .appending(UInt64(h))
            for i in 0..<S {
                let position = queries.positions.map { Int($0[first + i]) } ?? i
                var rng = Xoshiro256StarStar(pairKey.appending(UInt64(position)))
                rng.fillMask(keep + block + i * T, count: T, dropProbability: p)
            }
            let dropped = slot + half
            dropoutApply(pbh, mask: keep + block, count: S * T, dropProbability: p, into: dropped)
            weights = UnsafePointer(dropped)
        }
        // ctx[S, D] (row stride H) = weights[S, T]·v[T, D]
        sgemm(m: S, n: D, k: T, a: weights, lda: T, b: v, ldb: o.kvStride, c: ctx + first * H + h * D, ldc: H)
    }
}

/// row[i] = softmax(row + bias)[i], in place.
@inline(__always)
func softmaxRow(_ row: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, count n: Int) {
    for j in 0..<n { row[j] += bias[j] }
    softmaxRow(row, count: n)
}

/// row[i] = softmax(row)[i], in place.
@inline(__always)
func softmaxRow(_ row: UnsafeMutablePointer<Float>, count n: Int) {
    let maxValue = vectorMax(row, count: n)
    for j in 0..<n { row[j] = bp_fast_exp(row[j] - maxValue) }
    let inverse = 1 / vectorSum(row, count: n)
    for j in 0..<n { row[j] *= inverse }
}

/// dqkv[N, 3H] (overwritten) from dctx[N, H]. scratch: `attentionScratchPerWorker(rows.longest)` floats per worker.
func attentionBackward(dqkv: UnsafeMutablePointer<Float>, dctx: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
                       probs: UnsafePointer<Float>, keep: UnsafePointer<UInt8>, rows: SequenceRows, shape s: AttentionShape,
                       dropProbability p: Float, scratch: UnsafeMutableBufferPointer<Float>) {
    attentionBackward(gradients: AttentionOperands(fused: dqkv, hidden: s.hidden), dctx: dctx,
                      operands: AttentionOperands(fused: qkv, hidden: s.hidden), probs: probs, keep: keep, keys: rows,
                      queries: .everyPosition(rows), shape: s, dropProbability: p, scratch: scratch)
}

/// The gradients of q (query rows), k and v (every key row), overwritten, from dctx [queries.rows.count, H].
func attentionBackward(gradients d: AttentionOperands, dctx: UnsafePointer<Float>, operands o: AttentionOperands,
                       probs: UnsafePointer<Float>, keep: UnsafePointer<UInt8>, keys: SequenceRows, queries: AttentionQueries,
                       shape s: AttentionShape, dropProbability p: Float, scratch: UnsafeMutableBufferPointer<Float>) {
    let D = s.headSize, H = s.hidden, half = keys.longest * keys.longest
    forEachPair(keys: keys, queries: queries.rows, s, scratch: scratch) { slot, b, h in
        let start = keys.start(b), T = keys.length(b), first = queries.rows.start(b), S = queries.rows.length(b)
        let dWeights = slot, dropped = slot + half
        let q = o.q + first * o.qStride + h * D, k = o.k + start * o.kvStride + h * D, v = o.v + start * o.kvStride + h * D
        let dq = d.q + first * d.qStride + h * D, dk = d.k + start * d.kvStride + h * D, dv = d.v + start * d.kvStride + h * D
        let block = s.heads * queries.blockOffsets[b] + h * S * T
        let pbh = probs + block
        let dc = dctx + first * H + h * D
        // dWeights[S, T] = dctx·vᵀ
        sgemm(transB: true, m: S, n: T, k: D, a: dc, lda: H, b: v, ldb: o.kvStride, c: dWeights, ldc: T)
        var weights = pbh
        if p > 0 {
            let kbh = keep + block
            dropoutApply(pbh, mask: kbh, count: S * T, dropProbability: p, into: dropped)
            dropoutApply(dWeights, mask: kbh, count: S * T, dropProbability: p)
            weights = UnsafePointer(dropped)
        }
        // dv[T, D] = weightsᵀ·dctx
        sgemm(transA: true, m: T, n: D, k: S, a: weights, lda: T, b: dc, ldb: H, c: dv, ldc: d.kvStride)
        // softmax backward, in place: dScores = P ⊙ (dP − Σ_j dP·P)
        for i in 0..<S {
            let pr = pbh + i * T, dr = dWeights + i * T
            let dot = vectorDot(pr, dr, count: T)
            for j in 0..<T { dr[j] = pr[j] * (dr[j] - dot) }
        }
        // dq = dScores·k/√D, dk = dScoresᵀ·q/√D
        sgemm(m: S, n: D, k: T, alpha: s.scale, a: dWeights, lda: T, b: k, ldb: o.kvStride, c: dq, ldc: d.qStride)
        sgemm(transA: true, m: T, n: D, k: S, alpha: s.scale, a: dWeights, lda: T, b: q, ldb: o.qStride,
              c: dk, ldc: d.kvStride)
    }
}
