// Python's `random.Random`, draw for draw: the Mersenne Twister MT19937 seeded as CPython seeds it
// from an int, and the exact recipes CPython 3.x uses on top of it (`random`, `getrandbits`,
// `_randbelow`, `randint`, `shuffle`). `bert-corpus build --reference-rng` draws through this so
// that its output equals google-research/bert's create_pretraining_data.py instance for instance.
//
// Sources of truth (read, not copied): CPython Modules/_randommodule.c (init_genrand,
// init_by_array, genrand_uint32, random_random, getrandbits) and Lib/random.py (_randbelow_with_getrandbits,
// randrange, shuffle). Checked against values printed by CPython 3.11 (Tests/CorpusTests/Fixtures/python-random.json).

/// The random draws the BERT data algorithms need (Google's script uses exactly these three).
public protocol InstanceRandom {
    /// A uniform double in [0, 1).
    mutating func random() -> Double
    /// A uniform integer in [0, n), n > 0.
    mutating func randbelow(_ n: Int) -> Int
}

extension InstanceRandom {
    /// A uniform integer in [a, b], both ends included (Python's `randint`).
    public mutating func randint(_ a: Int, _ b: Int) -> Int {
        precondition(b >= a, "randint(\(a), \(b)): empty range")
        return a + randbelow(b - a + 1)
    }

    /// Python's `shuffle`: Fisher–Yates from the end, swapping x[i] with x[randbelow(i + 1)].
    public mutating func shuffle<T>(_ x: inout [T]) {
        x.withUnsafeMutableBufferPointer { x in
            var i = x.count - 1
            while i >= 1 {
                let j = randbelow(i + 1)
                x.swapAt(i, j)
                i -= 1
            }
        }
    }
}

public struct PythonRandom: InstanceRandom {
    private static let n = 624
    private static let m = 397
    private var state = [UInt32](repeating: 0, count: 624)
    private var index = 625

    /// `random.Random(seed)` for an int seed: the key is |seed| in 32-bit words, least significant first.
    public init(seed: Int) {
        var magnitude = seed.magnitude
        var key: [UInt32] = []
        repeat {
            key.append(UInt32(truncatingIfNeeded: magnitude))
            magnitude >>= 32
        } while magnitude != 0
        initByArray(key)
    }

    private mutating func initGenrand(_ s: UInt32) {
        state[0] = s
        for i in 1..<Self.n {
            let previous = state[i - 1]
            state[i] = 1_812_433_253 &* (previous ^ (previous >> 30)) &+ UInt32(i)
        }
        index = Self.n
    }

    private mutating func initByArray(_ key: [UInt32]) {
        initGenrand(19_650_218)
        var i = 1, j = 0
        for _ in 0..<max(Self.n, key.count) {
            let previous = state[i - 1]
            state[i] = (state[i] ^ ((previous ^ (previous >> 30)) &* 1_664_525)) &+ key[j] &+ UInt32(j)
            i += 1; j += 1
            if i >= Self.n { state[0] = state[Self.n - 1]; i = 1 }
            if j >= key.count { j = 0 }
        }
        for _ in 0..<(Self.n - 1) {
            let previous = state[i - 1]
            state[i] = (state[i] ^ ((previous ^ (previous >> 30)) &* 1_566_083_941)) &- UInt32(i)
            i += 1
            if i >= Self.n { state[0] = state[Self.n - 1]; i = 1 }
        }
        state[0] = 0x8000_0000  // MSB is 1, assuring a non-zero initial array
    }

    /// The next 32-bit output (genrand_uint32).
    public mutating func nextUInt32() -> UInt32 {
        if index >= Self.n { twist() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    private mutating func twist() {
        let upper: UInt32 = 0x8000_0000, lower: UInt32 = 0x7FFF_FFFF
        for k in 0..<Self.n {
            let y = (state[k] & upper) | (state[(k + 1) % Self.n] & lower)
            state[k] = state[(k + Self.m) % Self.n] ^ (y >> 1) ^ ((y & 1) == 0 ? 0 : 0x9908_B0DF)
        }
        index = 0
    }

    /// 53-bit double from two outputs: (a >> 5) · 2^26 + (b >> 6), over 2^53.
    public mutating func random() -> Double {
        let a = Double(nextUInt32() >> 5), b = Double(nextUInt32() >> 6)
        return (a * 67_108_864.0 + b) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `getrandbits(k)` for 1 ≤ k ≤ 64: 32-bit words filled least significant first,
    /// the last (most significant) word keeps its top bits.
    public mutating func getrandbits(_ k: Int) -> UInt64 {
        precondition(k >= 1 && k <= 64, "getrandbits(\(k)): only 1...64 bits are supported")
        if k <= 32 { return UInt64(nextUInt32() >> (32 - k)) }
        var result: UInt64 = 0
        var remaining = k, shift = 0
        while remaining > 0 {
            var word = nextUInt32()
            if remaining < 32 { word >>= UInt32(32 - remaining) }
            result |= UInt64(word) << UInt64(shift)
            shift += 32
            remaining -= 32
        }
        return result
    }

    /// `_randbelow_with_getrandbits(n)`: k = n.bit_length() bits, rejected until below n.
    /// (n = 1 still consumes draws: getrandbits(1) until it is 0, as CPython does.)
    public mutating func randbelow(_ n: Int) -> Int {
        precondition(n > 0, "randbelow(\(n)): n must be positive")
        let k = Int.bitWidth - n.leadingZeroBitCount
        var r = getrandbits(k)
        while r >= UInt64(n) { r = getrandbits(k) }
        return Int(r)
    }
}
