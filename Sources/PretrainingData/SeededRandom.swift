// The default mode's generator: SplitMix64 (Randomness), seeded from a tuple such as
// (seed, split, dupe pass, document index). Every document pass gets its own stream, so a
// document's instances do not depend on which rank made them or in which order: shards are
// byte-identical for any number of ranks.

import Randomness

public struct SeededRandom: InstanceRandom, RandomNumberGenerator {
    private var generator: SplitMix64

    /// The stream of the tuple (seed, key…): SplitMix64 started at `SplitMix64.hash(seed, key)`.
    public init(seed: UInt64, _ key: UInt64...) {
        generator = SplitMix64(seed: SplitMix64.hash(seed, key))
    }

    /// A 64-bit hash of a tuple (for shard keys and hold-out choices).
    public static func hash(_ seed: UInt64, _ key: UInt64...) -> UInt64 { SplitMix64.hash(seed, key) }

    @inline(__always)
    public mutating func next() -> UInt64 { generator.next() }

    /// 53 random bits over 2^53: uniform in [0, 1).
    @inline(__always)
    public mutating func random() -> Double { nextUnit() }

    /// Unbiased (Lemire's multiply-shift with rejection).
    @inline(__always)
    public mutating func randbelow(_ n: Int) -> Int { nextInt(below: n) }
}
