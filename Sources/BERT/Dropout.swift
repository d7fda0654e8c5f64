// Dropout: inverted dropout as PyTorch's `nn.Dropout` (keep with probability 1 − p, scale
// kept values by 1/(1 − p)). Masks are keyed, not streamed: every mask block is drawn from its
// own generator seeded by (seed, step, instance, layer, site, …), so a sequence's masks depend
// neither on the rank that computes it, nor on the batch it sits in, nor on its padding, nor on
// anything drawn before. A run resumes — on any number of ranks — with the same masks and no
// saved generator state. Masks are stored as bytes (1 = kept): a quarter of a Float mask, and
// backward needs nothing else.
//
// The keyed generator is Randomness's xoshiro256** (its one home): the trainer's data plan and
// dynamic masking draw from the same generator (as `TrainingRandom`).

import Randomness

extension Xoshiro256StarStar {
    /// Fills `mask[0..<count]` with 1 (keep, probability 1 − p) or 0 (drop). Each 64-bit draw
    /// gives two 32-bit uniforms, so element i is drawn the same whatever `count` is.
    public mutating func fillMask(_ mask: UnsafeMutablePointer<UInt8>, count: Int, dropProbability p: Float) {
        let threshold = UInt32(min(Double(p) * 4_294_967_296.0, 4_294_967_295.0))
        var i = 0
        while i + 1 < count {
            let r = next()
            mask[i] = UInt32(truncatingIfNeeded: r) >= threshold ? 1 : 0
            mask[i + 1] = UInt32(truncatingIfNeeded: r >> 32) >= threshold ? 1 : 0
            i += 2
        }
        if i < count { mask[i] = UInt32(truncatingIfNeeded: next()) >= threshold ? 1 : 0 }
    }
}

/// The keys of one forward's dropout masks: (seed, step) for the batch, then per sequence its global
/// instance index, then (layer, site) and, for attention probabilities, (head, query position).
/// Each [T, H] hidden-dropout block of a sequence is one stream over its rows; each query row of an
/// attention-probability block is its own stream, so no mask depends on the padded length T.
public enum DropoutSite: UInt64 {
    case embeddings = 1, attentionProbabilities, attentionOutput, feedForwardOutput
    /// The pooled output before a sequence classifier (its `layer` is 0).
    case classifierInput

    /// The key tag of the whole scheme ("drop"), so that no dropout stream meets a data stream of the same seed.
    static let tag: UInt64 = 0x6472_6f70

    /// The key of (seed, step, instance) under which a sequence's masks are drawn.
    @inline(__always)
    static func sequenceKey(seed: UInt64, step: Int, instance: Int) -> RandomKey {
        RandomKey().appending(seed).appending(tag).appending(UInt64(truncatingIfNeeded: step))
            .appending(UInt64(truncatingIfNeeded: instance))
    }

    /// Fills a sequence's [T, H] mask block of this site in `layer` (embeddings: layer 0).
    @inline(__always)
    func fillRowMask(_ mask: UnsafeMutablePointer<UInt8>, sequence: RandomKey, layer: Int, count: Int,
                     dropProbability p: Float) {
        var rng = Xoshiro256StarStar(sequence.appending(UInt64(layer)).appending(rawValue))
        rng.fillMask(mask, count: count, dropProbability: p)
    }
}

/// y = x ⊙ mask / (1 − p), in place. x, mask: [count].
func dropoutApply(_ x: UnsafeMutablePointer<Float>, mask: UnsafePointer<UInt8>, count: Int, dropProbability p: Float) {
    let scale = 1 / (1 - p)
    for i in 0..<count { x[i] *= Float(mask[i]) * scale }
}

/// out = x ⊙ mask / (1 − p). x, mask, out: [count].
func dropoutApply(_ x: UnsafePointer<Float>, mask: UnsafePointer<UInt8>, count: Int, dropProbability p: Float,
                  into out: UnsafeMutablePointer<Float>) {
    let scale = 1 / (1 - p)
    for i in 0..<count { out[i] = x[i] * Float(mask[i]) * scale }
}
