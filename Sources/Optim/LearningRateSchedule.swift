// Learning-rate schedules of NVIDIA's BERT pretraining (DeepLearningExamples
// PyTorch/LanguageModeling/BERT schedulers.py), with W = warmupSteps, T = totalSteps and
// s = the 1-based number of the update being taken (NVIDIA sets last_epoch = step + 1 before
// each optimizer step, so the first update already has a non-zero rate):
//
//   warm-up, s < W:   peak · s / W                       (both kinds)
//   .linear:          peak · max(0, (T − s) / (T − W))    LinearWarmUpScheduler: peak at s = W, 0 at s = T
//   .polynomial(p):   peak · max(0, 1 − s / T)^p          PolyWarmUpScheduler, p = 0.5 in the recipe
//
// Note the polynomial decay counts from step 0, not from the end of warm-up (as NVIDIA and
// Google's `polynomial_decay` do), so it starts just below peak after warm-up.

import Foundation

public struct LearningRateSchedule: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case linear
        case polynomial(power: Double)
    }

    public let peak: Float
    public let warmupSteps: Int
    public let totalSteps: Int
    public let kind: Kind

    public init(peak: Float, warmupSteps: Int, totalSteps: Int, kind: Kind = .linear) {
        // The CLI validates these with messages; reaching here with bad values is a programming error.
        precondition(peak > 0 && peak.isFinite, "learning rate must be positive, got \(peak)")
        precondition(totalSteps >= 1 && (0...totalSteps).contains(warmupSteps),
                     "need 0 ≤ warm-up steps (\(warmupSteps)) ≤ total steps (\(totalSteps)), total ≥ 1")
        if case .polynomial(let power) = kind { precondition(power > 0 && power.isFinite, "power must be positive, got \(power)") }
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.kind = kind
    }

    /// Rate of update number `step` (1-based: pass `optimizer.stepCount + 1`).
    public func rate(atStep step: Int) -> Float {
        let s = Double(max(step, 0)), W = Double(warmupSteps), T = Double(totalSteps)
        if s < W { return Float(Double(peak) * s / W) }
        let factor: Double
        switch kind {
        case .linear:
            factor = T > W ? (T - s) / (T - W) : 0
        case .polynomial(let power):
            factor = s < T ? pow(1 - s / T, power) : 0
        }
        return Float(Double(peak) * max(0, factor))
    }
}
