// Dropout: inverted dropout as PyTorch's `nn.Dropout` (keep with probability 1 − p, scale
// kept values by 1/(1 − p)), with masks drawn from a seeded generator whose state can be
// saved, so a resumed run draws the same masks. Masks are stored as bytes (1 = kept): a
// quarter of a Float mask, and backward needs nothing else.

/// xoshiro256** (Blackman & Vigna 2018): fast, 256-bit state, 2^256 − 1 period.
public final class DropoutGenerator {
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        state = (0, 0, 0, 0)
        reseed(seed)
    }

    /// Fills the state from SplitMix64(seed), as the xoshiro authors recommend.
    public func reseed(_ seed: UInt64) {
        var s = seed
        func next() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (next(), next(), next(), next())
    }

    public var words: [UInt64] {
        get { [state.0, state.1, state.2, state.3] }
        set {
            precondition(newValue.count == 4, "dropout generator state has 4 words, got \(newValue.count)")
            state = (newValue[0], newValue[1], newValue[2], newValue[3])
        }
    }

    @inline(__always)
    public func next() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3 << 45 | state.3 >> 19
        return result
    }

    /// Fills `mask[0..<count]` with 1 (keep, probability 1 − p) or 0 (drop). Each 64-bit draw
    /// gives two 32-bit uniforms.
    public func fillMask(_ mask: UnsafeMutablePointer<UInt8>, count: Int, dropProbability p: Float) {
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
