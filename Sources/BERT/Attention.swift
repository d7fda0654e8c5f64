// Multi-head self-attention core (between the fused QKV projection and the output dense), per
// sequence at its own length (SequenceRows: packed rows, or the rectangular layout with a key bias).
// Legend: A heads, D head size, H = A·D, for sequence b: T = rows.length(b), its rows start at s = rows.start(b).
//   qkv   [N, 3H]  rows of [q | k | v]; head h of q is columns h·D..<(h+1)·D (row stride 3H)
//   probs blocks [T, T] per (b, h), sequence b's at A·squareOffsets[b] + h·T²: softmax(q·kᵀ/√D + bias),
//                    kept for backward (inference passes none: each pair's block lives in its worker's slot)
//   keep  the same blocks of dropout mask bytes (only when p > 0); query row i of pair (b, h) is drawn
//                    from its own stream keyed (sequence b, layer, site, h, i): element j is the same for
//                    any T, so a packed row and its padded twin draw the same masks on their real keys
//   ctx   [N, H]   (dropped-out probs)·v, heads side by side as HF's context layer
// Every product is a GEMM on a strided view of qkv (lda = 3H): no per-head copies.

import CKernels
import Randomness

struct AttentionShape {
    let heads: Int, headSize: Int
    var hidden: Int { heads * headSize }
    var scale: Float { 1 / Float(headSize).squareRoot() }
}

/// Scratch floats one worker needs at longest length T: [T, T] dropped-out probabilities (forward without
/// a probability buffer: the probabilities), plus [T, T] dWeights in backward.
func attentionScratchPerWorker(seq T: Int) -> Int { 2 * T * T }

/// Runs `pair(slot, b, h)` for every (sequence b, head h), in order on one thread, or as contiguous blocks
/// of pairs across `Parallel.threads` workers (at most one per scratch slot) when that pays. Each pair's
/// arithmetic is the same either way and touches only its own outputs and its worker's slot, so the
/// result is bit-identical for any thread count.
private func forEachPair(_ rows: SequenceRows, _ s: AttentionShape, scratch: UnsafeMutableBufferPointer<Float>,
                         _ pair: (_ slot: UnsafeMutablePointer<Float>, _ b: Int, _ h: Int) -> Void) {
    let pairs = rows.sequences * s.heads, T = rows.longest, slotSize = attentionScratchPerWorker(seq: T)
    precondition(scratch.count >= slotSize, "attention scratch \(scratch.count) < \(slotSize) floats")
    // Pairs smaller than T=64, D=64 (4·T²·D = 1 MFLOP forward) stay serial: waking a thread and
    // switching OpenBLAS would weigh more there (not measured below; bert-mini is T=128, D=64).
    let workers = T * T * s.headSize >= 1 << 18 ? min(Parallel.threads, pairs, scratch.count / slotSize) : 1
    if workers <= 1 {
        for index in 0..<pairs { pair(scratch.baseAddress!, index / s.heads, index % s.heads) }
        return
    }
    Parallel.forEachBlockWithSerialBLAS(pairs, workers: workers) { worker, range in
        let slot = scratch.baseAddress! + worker * slotSize
        for index in range { pair(slot, index / s.heads, index % s.heads) }
    }
}

/// scratch: `attentionScratchPerWorker(rows.longest)` floats per worker (see `forEachPair`). `probs` nil
/// (inference): nothing is kept, and there is no dropout.
func attentionForward(ctx: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>?, keep: UnsafeMutablePointer<UInt8>?,
                      qkv: UnsafePointer<Float>, rows: SequenceRows, shape s: AttentionShape,
                      dropProbability p: Float, sequenceKeys: UnsafePointer<RandomKey>?, layer: Int,
                      scratch: UnsafeMutableBufferPointer<Float>) {
    let D = s.headSize, H = s.hidden, rowStride = 3 * H, half = rows.longest * rows.longest
    precondition(p == 0 || (probs != nil && keep != nil && sequenceKeys != nil), "dropout needs kept probabilities")
    forEachPair(rows, s, scratch: scratch) { slot, b, h in
        let start = rows.start(b), T = rows.length(b)
        let base = qkv + start * rowStride
        let q = base + h * D, k = base + H + h * D, v = base + 2 * H + h * D
        let block = s.heads * rows.squareOffsets[b] + h * T * T
        let pbh = probs.map { $0 + block } ?? slot
        // scores[T, T] = q·kᵀ/√D
        sgemm(transB: true, m: T, n: T, k: D, alpha: s.scale, a: q, lda: rowStride, b: k, ldb: rowStride,
              c: pbh, ldc: T)
        if let bias = rows.maskBias {
            for i in 0..<T { softmaxRow(pbh + i * T, bias: bias + start, count: T) }
        } else {
            for i in 0..<T { softmaxRow(pbh + i * T, count: T) }
        }
        var weights = UnsafePointer(pbh)
        if p > 0, let keep, let sequenceKeys {
            // Keyed masks: each pair draws its own, on whichever worker runs it.
            let pairKey = sequenceKeys[b].appending(UInt64(layer)).appending(DropoutSite.attentionProbabilities.rawValue)
                .appending(UInt64(h))
            for i in 0..<T {
                var rng = Xoshiro256StarStar(pairKey.appending(UInt64(i)))
                rng.fillMask(keep + block + i * T, count: T, dropProbability: p)
            }
            let dropped = slot + half
            dropoutApply(pbh, mask: keep + block, count: T * T, dropProbability: p, into: dropped)
            weights = UnsafePointer(dropped)
        }
        // ctx[T, D] (row stride H) = weights[T, T]·v[T, D]
        sgemm(m: T, n: D, k: T, a: weights, lda: T, b: v, ldb: rowStride, c: ctx + start * H + h * D, ldc: H)
    }
}

/// row[i] = softmax(row + bias)[i], in place.
@inline(__always)
private func softmaxRow(_ row: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, count n: Int) {
    for j in 0..<n { row[j] += bias[j] }
    softmaxRow(row, count: n)
}

/// row[i] = softmax(row)[i], in place.
@inline(__always)
private func softmaxRow(_ row: UnsafeMutablePointer<Float>, count n: Int) {
    let maxValue = vectorMax(row, count: n)
    for j in 0..<n { row[j] = bp_fast_exp(row[j] - maxValue) }
    let inverse = 1 / vectorSum(row, count: n)
    for j in 0..<n { row[j] *= inverse }
}

/// dqkv[N, 3H] (overwritten) from dctx[N, H]. scratch: `attentionScratchPerWorker(rows.longest)` floats per worker.
func attentionBackward(dqkv: UnsafeMutablePointer<Float>, dctx: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
                       probs: UnsafePointer<Float>, keep: UnsafePointer<UInt8>, rows: SequenceRows, shape s: AttentionShape,
                       dropProbability p: Float, scratch: UnsafeMutableBufferPointer<Float>) {
    let D = s.headSize, H = s.hidden, rowStride = 3 * H, half = rows.longest * rows.longest
    forEachPair(rows, s, scratch: scratch) { slot, b, h in
        let start = rows.start(b), T = rows.length(b)
        let dWeights = slot, dropped = slot + half
        let base = qkv + start * rowStride, dBase = dqkv + start * rowStride
        let q = base + h * D, k = base + H + h * D, v = base + 2 * H + h * D
        let dq = dBase + h * D, dk = dBase + H + h * D, dv = dBase + 2 * H + h * D
        let block = s.heads * rows.squareOffsets[b] + h * T * T
        let pbh = probs + block
        let dc = dctx + start * H + h * D
        // dWeights[T, T] = dctx·vᵀ
        sgemm(transB: true, m: T, n: T, k: D, a: dc, lda: H, b: v, ldb: rowStride, c: dWeights, ldc: T)
        var weights = pbh
        if p > 0 {
            let kbh = keep + block
            dropoutApply(pbh, mask: kbh, count: T * T, dropProbability: p, into: dropped)
            dropoutApply(dWeights, mask: kbh, count: T * T, dropProbability: p)
            weights = UnsafePointer(dropped)
        }
        // dv[T, D] = weightsᵀ·dctx
        sgemm(transA: true, m: T, n: D, k: T, a: weights, lda: T, b: dc, ldb: H, c: dv, ldc: rowStride)
        // softmax backward, in place: dScores = P ⊙ (dP − Σ_j dP·P)
        for i in 0..<T {
            let pr = pbh + i * T, dr = dWeights + i * T
            let dot = vectorDot(pr, dr, count: T)
            for j in 0..<T { dr[j] = pr[j] * (dr[j] - dot) }
        }
        // dq = dScores·k/√D, dk = dScoresᵀ·q/√D
        sgemm(m: T, n: D, k: T, alpha: s.scale, a: dWeights, lda: T, b: k, ldb: rowStride, c: dq, ldc: rowStride)
        sgemm(transA: true, m: T, n: D, k: T, alpha: s.scale, a: dWeights, lda: T, b: q, ldb: rowStride,
              c: dk, ldc: rowStride)
    }
}
