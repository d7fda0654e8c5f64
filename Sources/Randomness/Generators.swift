// The project's seeded random number generators, one home for each algorithm:
//
//   SplitMix64          (Steele, Lea & Flood 2014): 64-bit state, one add and a finaliser per draw.
//                       Fresh weights, corpus-build streams (SeededRandom), the keys below, test data.
//   RandomKey           a tuple of integers (seed, epoch, instance, …) folded through SplitMix64
//                       into the seed of a xoshiro256** stream.
//   Xoshiro256StarStar  (Blackman & Vigna 2018): 256-bit state, 2^256 − 1 period; dropout masks,
//                       the data plan and dynamic masking (as TrainingRandom).
//
// Every draw here is part of what a run reproduces (checkpoint initialisation, shard bytes, data
// order, dropout masks): Tests/RandomnessTests pins each generator's first outputs, so a change
// that alters one stream fails there first. CPython's MT19937 (`PythonRandom`) is elsewhere on
// purpose: it exists only to equal Google's script draw for draw.
//
// Hot loops (dropout masks, masking, instance creation) call these from other modules, hence
// `@inlinable` throughout: without it every draw would be a cross-module call.

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// SplitMix64: `state` advances by the golden gamma and each output is its finaliser (`mix`).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15
    @usableFromInline var state: UInt64

    @inlinable public init(seed: UInt64) { state = seed }

    @inlinable @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= SplitMix64.gamma
        return SplitMix64.mix(state)
    }

    /// The output finaliser (Stafford's variant 13): a bijective 64-bit hash.
    @inlinable @inline(__always)
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A 64-bit hash of the tuple (seed, key…): the seed's and each component's finaliser folded in
    /// turn. The corpus build keys its per-document streams, shard keys and hold-out choices by it.
    @inlinable
    public static func hash(_ seed: UInt64, _ key: [UInt64]) -> UInt64 {
        var s = mix(seed &+ gamma)
        for k in key { s = mix(s ^ mix(k &+ 0xD1B5_4A32_D192_ED03)) }
        return s
    }

    @inlinable
    public static func hash(_ seed: UInt64, _ key: UInt64...) -> UInt64 { hash(seed, key) }
}

/// A tuple of integers (e.g. seed, step, instance, layer, site) folded into one SplitMix64 state:
/// the seed of a `Xoshiro256StarStar` stream. Appending a component costs two SplitMix64 steps and
/// allocates nothing, so hot loops extend a shared prefix instead of rebuilding the tuple.
public struct RandomKey: Sendable {
    // Per component: state ← (next SplitMix64 output) ^ component, then one step more; the empty
    // key starts at the golden gamma. (TrainingRandom's derivation from the start: the data order
    // and dynamic masking of earlier runs are unchanged.)
    @usableFromInline var mixer = SplitMix64(seed: SplitMix64.gamma)

    @inlinable public init() {}

    /// The key of the tuple `components` (allocates the array: not for hot loops).
    @inlinable
    public init(_ components: [UInt64]) {
        for k in components { self = appending(k) }
    }

    /// This key with `component` appended.
    @inlinable @inline(__always)
    public func appending(_ component: UInt64) -> RandomKey {
        var m = mixer
        var key = RandomKey()
        key.mixer = SplitMix64(seed: m.next() ^ component)
        _ = key.mixer.next()
        return key
    }
}

/// xoshiro256**: fast, 256-bit state; the state is filled from the key's SplitMix64, as the
/// authors recommend. A value type: a stream per dropout-mask block lives on the stack.
public struct Xoshiro256StarStar: RandomNumberGenerator, Sendable {
    @usableFromInline var s0, s1, s2, s3: UInt64

    @inlinable @inline(__always)
    public init(_ key: RandomKey) {
        var m = key.mixer
        s0 = m.next(); s1 = m.next(); s2 = m.next(); s3 = m.next()
    }

    /// The stream of the tuple `keys` (e.g. [seed, epoch, instance]).
    @inlinable public init(keys: [UInt64]) { self.init(RandomKey(keys)) }

    @inlinable @inline(__always)
    public mutating func next() -> UInt64 {
        let result = Xoshiro256StarStar.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = Xoshiro256StarStar.rotl(s3, 45)
        return result
    }

    @inlinable @inline(__always)
    static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

extension RandomNumberGenerator {
    /// Uniform in [0, 1): 53 random bits over 2^53.
    @inlinable @inline(__always)
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform integer in 0..<n, unbiased: Lemire's multiply-shift through the standard library,
    /// which rejects a low half below 2^64 mod n (a division only when the low half is below n).
    @inlinable @inline(__always)
    public mutating func nextInt(below n: Int) -> Int {
        precondition(n > 0, "nextInt(below: \(n)): n must be positive")
        return Int.random(in: 0..<n, using: &self)
    }

    /// Uniform in (0, 1]: never 0, so its logarithm is finite.
    @inlinable
    public mutating func nextUnitExcludingZero() -> Double { Double((next() >> 11) + 1) * 0x1p-53 }

    /// Standard normal by Box-Muller (one of the pair: two draws a value).
    @inlinable
    public mutating func nextNormal() -> Float {
        let u1 = nextUnitExcludingZero(), u2 = nextUnitExcludingZero()
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}
