// Multi-head self-attention core (between the fused QKV projection and the output dense).
// Legend: B batch, T sequence, A heads, D head size, H = A·D.
//   qkv   [B, T, 3H]  rows of [q | k | v]; head h of q is columns h·D..<(h+1)·D (row stride 3H)
//   probs [B, A, T, T] softmax(q·kᵀ/√D + maskBias) — kept for backward
//   keep  [B, A, T, T] dropout mask bytes of the probabilities (only when p > 0); query row i of
//                      pair (b, h) is drawn from its own stream keyed (sequence b, layer, site, h, i)
//   ctx   [B, T, H]   (dropped-out probs)·v, heads side by side as HF's context layer
// Every product is a GEMM on a strided view of qkv (lda = 3H): no per-head copies.
// maskBias[B, T] is 0 for real keys and −10000 for padded ones (HF's extended attention mask).

import CKernels
import Randomness

struct AttentionShape {
    let batch: Int, seq: Int, heads: Int, headSize: Int
    var hidden: Int { heads * headSize }
    var scale: Float { 1 / Float(headSize).squareRoot() }
}

/// Scratch floats one worker needs: [T, T] dropped-out probabilities, plus [T, T] dWeights in backward.
/// The (b, h) pairs are independent, so `scratch` holds one such slot per worker.
func attentionScratchPerWorker(seq T: Int) -> Int { 2 * T * T }

/// Runs `pair(worker, b·A + h)` for every (b, h), in order on one thread, or as contiguous blocks of
/// pairs across `Parallel.threads` workers (at most one per scratch slot) when that pays. Each pair's
/// arithmetic is the same either way and touches only its own outputs and its worker's slot, so the
/// result is bit-identical for any thread count.
private func forEachPair(_ s: AttentionShape, scratch: UnsafeMutableBufferPointer<Float>,
                         _ pair: (_ slot: UnsafeMutablePointer<Float>, _ index: Int) -> Void) {
    let pairs = s.batch * s.heads, slotSize = attentionScratchPerWorker(seq: s.seq)
    precondition(scratch.count >= slotSize, "attention scratch \(scratch.count) < \(slotSize) floats")
    // Pairs smaller than T=64, D=64 (4·T²·D = 1 MFLOP forward) stay serial: waking a thread and
    // switching OpenBLAS would weigh more there (not measured below; bert-mini is T=128, D=64).
    let workers = s.seq * s.seq * s.headSize >= 1 << 18 ? min(Parallel.threads, pairs, scratch.count / slotSize) : 1
    if workers <= 1 {
        for index in 0..<pairs { pair(scratch.baseAddress!, index) }
        return
    }
    Parallel.forEachBlockWithSerialBLAS(pairs, workers: workers) { worker, range in
        let slot = scratch.baseAddress! + worker * slotSize
        for index in range { pair(slot, index) }
    }
}

/// scratch: `attentionScratchPerWorker` floats per worker (see `forEachPair`).
func attentionForward(ctx: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, keep: UnsafeMutablePointer<UInt8>,
                      qkv: UnsafePointer<Float>, maskBias: UnsafePointer<Float>, shape s: AttentionShape,
                      dropProbability p: Float, sequenceKeys: UnsafePointer<RandomKey>, layer: Int,
                      scratch: UnsafeMutableBufferPointer<Float>) {
    let T = s.seq, D = s.headSize, H = s.hidden, rowStride = 3 * H
    forEachPair(s, scratch: scratch) { dropped, index in
        let b = index / s.heads, h = index % s.heads
        let base = qkv + b * T * rowStride
        let bias = maskBias + b * T
        let q = base + h * D, k = base + H + h * D, v = base + 2 * H + h * D
        let pbh = probs + index * T * T
        // scores[T, T] = q·kᵀ/√D
        sgemm(transB: true, m: T, n: T, k: D, alpha: s.scale, a: q, lda: rowStride, b: k, ldb: rowStride,
              c: pbh, ldc: T)
        for i in 0..<T { softmaxRow(pbh + i * T, bias: bias, count: T) }
        var weights = UnsafePointer(pbh)
        if p > 0 {
            // Keyed masks: each pair draws its own, on whichever worker runs it.
            let pairKey = sequenceKeys[b].appending(UInt64(layer)).appending(DropoutSite.attentionProbabilities.rawValue)
                .appending(UInt64(h))
            for i in 0..<T {
                var rng = Xoshiro256StarStar(pairKey.appending(UInt64(i)))
                rng.fillMask(keep + index * T * T + i * T, count: T, dropProbability: p)
            }
            dropoutApply(pbh, mask: keep + index * T * T, count: T * T, dropProbability: p, into: dropped)
            weights = UnsafePointer(dropped)
        }
        // ctx[T, D] (row stride H) = weights[T, T]·v[T, D]
        sgemm(m: T, n: D, k: T, a: weights, lda: T, b: v, ldb: rowStride, c: ctx + b * T * H + h * D, ldc: H)
    }
}

/// row[i] = softmax(row + bias)[i], in place.
@inline(__always)
private func softmaxRow(_ row: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, count n: Int) {
    for j in 0..<n { row[j] += bias[j] }
    let maxValue = vectorMax(row, count: n)
    for j in 0..<n { row[j] = bp_fast_exp(row[j] - maxValue) }
    let inverse = 1 / vectorSum(row, count: n)
    for j in 0..<n { row[j] *= inverse }
}

/// dqkv[B, T, 3H] (overwritten) from dctx[B, T, H]. scratch: `attentionScratchPerWorker` floats per worker.
func attentionBackward(dqkv: UnsafeMutablePointer<Float>, dctx: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
                       probs: UnsafePointer<Float>, keep: UnsafePointer<UInt8>, shape s: AttentionShape,
                       dropProbability p: Float, scratch: UnsafeMutableBufferPointer<Float>) {
    let T = s.seq, D = s.headSize, H = s.hidden, rowStride = 3 * H
    forEachPair(s, scratch: scratch) { slot, index in
        let b = index / s.heads, h = index % s.heads
        let dWeights = slot, dropped = slot + T * T
        let base = qkv + b * T * rowStride, dBase = dqkv + b * T * rowStride
        let q = base + h * D, k = base + H + h * D, v = base + 2 * H + h * D
        let dq = dBase + h * D, dk = dBase + H + h * D, dv = dBase + 2 * H + h * D
        let pbh = probs + index * T * T
        let dc = dctx + b * T * H + h * D
        // dWeights[T, T] = dctx·vᵀ
        sgemm(transB: true, m: T, n: T, k: D, a: dc, lda: H, b: v, ldb: rowStride, c: dWeights, ldc: T)
        var weights = pbh
        if p > 0 {
            let kbh = keep + index * T * T
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

/// Attention over a packed batch (no padding; design §9 "unpadded batches"): sequence b's tokens are
/// rows offsets[b]..<offsets[b+1] of qkv [N, 3H] and ctx [N, H], and each sequence attends only to
/// itself at its own length, so no mask is needed and no work is spent on padding. Forward only
/// (inference): the probabilities live in the worker's scratch slot, `maxSeq`² floats.
func attentionForwardPacked(ctx: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
                            sequences: Int, heads A: Int, headSize D: Int, maxSeq: Int,
                            scratch: UnsafeMutableBufferPointer<Float>) {
    let H = A * D, rowStride = 3 * H, scale = 1 / Float(D).squareRoot(), slotSize = maxSeq * maxSeq
    let pairs = sequences * A
    precondition(scratch.count >= slotSize, "attention scratch \(scratch.count) < \(slotSize) floats")
    func run(_ index: Int, _ scores: UnsafeMutablePointer<Float>) {
        let b = index / A, h = index % A
        let start = offsets[b], T = offsets[b + 1] - start
        let base = qkv + start * rowStride
        let q = base + h * D, k = base + H + h * D, v = base + 2 * H + h * D
        sgemm(transB: true, m: T, n: T, k: D, alpha: scale, a: q, lda: rowStride, b: k, ldb: rowStride, c: scores, ldc: T)
        for i in 0..<T { softmaxRow(scores + i * T, count: T) }
        sgemm(m: T, n: D, k: T, a: scores, lda: T, b: v, ldb: rowStride, c: ctx + start * H + h * D, ldc: H)
    }
    // Side by side on one BLAS thread each when the pairs are large enough (as `forEachPair`).
    let longest = (0..<sequences).reduce(0) { max($0, offsets[$1 + 1] - offsets[$1]) }
    let workers = longest * longest * D >= 1 << 18 ? min(Parallel.threads, pairs, scratch.count / slotSize) : 1
    if workers <= 1 {
        for index in 0..<pairs { run(index, scratch.baseAddress!) }
        return
    }
    Parallel.forEachBlockWithSerialBLAS(pairs, workers: workers) { worker, range in
        for index in range { run(index, scratch.baseAddress! + worker * slotSize) }
    }
}

/// row[i] = softmax(row)[i], in place.
@inline(__always)
private func softmaxRow(_ row: UnsafeMutablePointer<Float>, count n: Int) {
    let maxValue = vectorMax(row, count: n)
    for j in 0..<n { row[j] = bp_fast_exp(row[j] - maxValue) }
    let inverse = 1 / vectorSum(row, count: n)
    for j in 0..<n { row[j] *= inverse }
}
