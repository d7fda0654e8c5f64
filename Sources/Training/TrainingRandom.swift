// Deterministic random numbers for the data plan and dynamic masking.
//
// Every stream is derived from a tuple of integers (seed, epoch[, instance]) by SplitMix64, so
// an instance's masking or an epoch's order does not depend on which rank draws it, on
// the number of ranks, or on anything drawn before: resuming mid-epoch recomputes it exactly.

/// xoshiro256** seeded through SplitMix64 (Blackman & Vigna); state is four UInt64 words.
public struct TrainingRandom: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    /// A stream keyed by `keys` (e.g. [seed, epoch, instance]).
    public init(keys: [UInt64]) {
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        for k in keys { x = TrainingRandom.splitMix(&x) ^ k; _ = TrainingRandom.splitMix(&x) }
        s = (TrainingRandom.splitMix(&x), TrainingRandom.splitMix(&x), TrainingRandom.splitMix(&x), TrainingRandom.splitMix(&x))
    }

    private static func splitMix(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func next() -> UInt64 {
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform integer in 0..<n (Lemire's unbiased multiply-shift, through the standard library).
    public mutating func nextInt(below n: Int) -> Int { Int.random(in: 0..<n, using: &self) }
}
