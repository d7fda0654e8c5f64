// Deterministic random numbers for the data plan and dynamic masking.
//
// Every stream is derived from a tuple of integers (seed, epoch[, instance]), so an instance's
// masking or an epoch's order does not depend on which rank draws it, on the number of ranks, or
// on anything drawn before: resuming mid-epoch, on any number of ranks, recomputes it exactly.
// The generator is the model's keyed xoshiro256** (BERT/Dropout.swift: one home for it), which
// also keys the dropout masks.

import BERT

public typealias TrainingRandom = KeyedRandom

extension KeyedRandom {
    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform integer in 0..<n (Lemire's unbiased multiply-shift, through the standard library).
    public mutating func nextInt(below n: Int) -> Int { Int.random(in: 0..<n, using: &self) }
}
