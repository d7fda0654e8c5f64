// The default mode's generator: SplitMix64 (Steele, Lea & Flood 2014), seeded from a tuple such as
// (seed, split, dupe pass, document index). Every document pass gets its own stream, so a
// document's instances do not depend on which rank made them or in which order: shards are
// byte-identical for any number of ranks.

public struct SeededRandom: InstanceRandom {
    private var state: UInt64

    /// A stream for `key`: each component is folded in through the SplitMix64 finaliser.
    public init(seed: UInt64, _ key: UInt64...) {
        var s = SeededRandom.mix(seed &+ 0x9E37_79B9_7F4A_7C15)
        for k in key { s = SeededRandom.mix(s ^ SeededRandom.mix(k &+ 0xD1B5_4A32_D192_ED03)) }
        state = s
    }

    /// A 64-bit hash of a tuple (for shard keys and hold-out choices).
    public static func hash(_ seed: UInt64, _ key: UInt64...) -> UInt64 {
        var s = mix(seed &+ 0x9E37_79B9_7F4A_7C15)
        for k in key { s = mix(s ^ mix(k &+ 0xD1B5_4A32_D192_ED03)) }
        return s
    }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SeededRandom.mix(state)
    }

    /// 53 random bits over 2^53: uniform in [0, 1).
    public mutating func random() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Unbiased: Lemire's multiply-shift, rejecting a low half below 2^64 mod n. That threshold is
    /// below n, so the division that finds it is only needed when the low half is below n (rare).
    public mutating func randbelow(_ n: Int) -> Int {
        precondition(n > 0, "randbelow(\(n)): n must be positive")
        let bound = UInt64(n)
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold { product = next().multipliedFullWidth(by: bound) }
        }
        return Int(product.high)
    }
}
