// Deterministic random numbers for the data plan and dynamic masking.
//
// Every stream is derived from a tuple of integers (seed, epoch[, instance]), so an instance's
// masking or an epoch's order does not depend on which rank draws it, on the number of ranks, or
// on anything drawn before: resuming mid-epoch, on any number of ranks, recomputes it exactly.
// The generator is Randomness's keyed xoshiro256** (one home for it), which also keys the dropout
// masks; `nextUnit()` and `nextInt(below:)` come with it.

import Randomness

public typealias TrainingRandom = Xoshiro256StarStar
