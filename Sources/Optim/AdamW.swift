// AdamW with PyTorch's semantics (torch.optim.AdamW, Loshchilov & Hutter's decoupled
// weight decay), per element at step t:
//
//   p ← p · (1 − lr·wd)                       wd = 0 for biases and LayerNorm (TensorSpec.decays)
//   m ← β1·m + (1 − β1)·g                     exp_avg
//   v ← β2·v + (1 − β2)·g²                    exp_avg_sq
//   p ← p − lr/(1 − β1ᵗ) · m / (√v/√(1 − β2ᵗ) + ε)
//
// Decay is applied to p before the Adam step, as PyTorch does (HF's old AdamW applied it after).

import BERT
import Foundation

public final class AdamW: Optimizer {
    public let kind = "AdamW"
    public let layout: ParameterLayout
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    public var stepCount = 0

    /// First moment m, [layout.count].
    public let expAvg: UnsafeMutableBufferPointer<Float>
    /// Second moment v, [layout.count].
    public let expAvgSq: UnsafeMutableBufferPointer<Float>

    public init(layout: ParameterLayout, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-6,
                weightDecay: Float = 0.01) {
        precondition((0..<1).contains(beta1) && (0..<1).contains(beta2) && epsilon > 0 && weightDecay >= 0,
                     "AdamW needs 0 ≤ β < 1, ε > 0, weight decay ≥ 0")
        self.layout = layout
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
        expAvg = zeroedBuffer(layout.count)
        expAvgSq = zeroedBuffer(layout.count)
    }

    deinit {
        expAvg.deallocate()
        expAvgSq.deallocate()
    }

    public var stateBuffers: [(name: String, buffer: UnsafeMutableBufferPointer<Float>)] {
        [("exp_avg", expAvg), ("exp_avg_sq", expAvgSq)]
    }

    public func step(parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>, learningRate: Float) {
        precondition(parameters.count == layout.count && gradients.count == layout.count,
                     "AdamW: buffers of \(parameters.count)/\(gradients.count) floats, layout has \(layout.count)")
        stepCount += 1
        // Bias corrections in Double: 1 − 0.999ᵗ loses digits in Float for small t.
        let t = Double(stepCount)
        let stepSize = Float(Double(learningRate) / (1 - pow(Double(beta1), t)))
        let sqrtCorrection2 = Float((1 - pow(Double(beta2), t)).squareRoot())
        let b1 = beta1, b2 = beta2, eps = epsilon
        let p = parameters.baseAddress!, g = gradients.baseAddress!, m = expAvg.baseAddress!, v = expAvgSq.baseAddress!
        for spec in layout.tensors {
            let shrink: Float = spec.decays ? 1 - learningRate * weightDecay : 1
            for i in spec.range {
                let gi = g[i]
                let mi = b1 * m[i] + (1 - b1) * gi
                let vi = b2 * v[i] + (1 - b2) * gi * gi
                m[i] = mi
                v[i] = vi
                p[i] = p[i] * shrink - stepSize * (mi / (vi.squareRoot() / sqrtCorrection2 + eps))
            }
        }
    }
}
