// LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning: Training BERT in
// 76 minutes") as NVIDIA's BERT recipe runs it: apex `FusedLAMB` with its defaults
// (bias correction on, gradient averaging on, decoupled "adam_w_mode", use_nvlamb off),
// parameter groups weight decay 0.01 / 0.0 (biases, LayerNorm). Per tensor, at step t:
//
//   m ← β1·m + (1 − β1)·g                         v ← β2·v + (1 − β2)·g²
//   u ← (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε) + wd·p      weight decay inside the update
//   r ← ‖p‖ / ‖u‖   (1 when either norm is 0)      the per-tensor trust ratio
//   p ← p − lr · r · u
//
// Which tensors get the trust ratio is the one choice between variants. The paper applies
// it to every layer; apex (and so NVIDIA's BERT pretraining) applies it only where the
// tensor's weight decay is non-zero, unless `use_nvlamb` is set: biases and LayerNorm take
// plain Adam-style steps lr·u. We follow apex by default, because that is the recipe whose
// hyper-parameters (lr 6e-3 / 4e-3 at batch 64k / 32k) are published; `trustRatioForAll`
// is the paper's / use_nvlamb variant.
//
// FusedLAMB also clips by the global gradient norm (max_grad_norm 1.0) before the moments;
// here the trainer does that with `clipGradientNorm` before `step`, which is the same scaling.

import BERT
import Foundation

public final class LAMB: Optimizer {
    public let kind = "LAMB"
    public let layout: ParameterLayout
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    /// Apply the trust ratio to every tensor (paper, apex use_nvlamb) instead of only decaying ones.
    public let trustRatioForAll: Bool
    public var stepCount = 0

    /// First moment m, [layout.count].
    public let expAvg: UnsafeMutableBufferPointer<Float>
    /// Second moment v, [layout.count].
    public let expAvgSq: UnsafeMutableBufferPointer<Float>
    /// The update u of one tensor at a time, [largest tensor]: its norm is needed before p moves.
    private let update: UnsafeMutableBufferPointer<Float>

    /// Trust ratio of each tensor at the last step (index = layout.tensors index), for logging and tests.
    public private(set) var lastTrustRatios: [Float]

    public init(layout: ParameterLayout, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-6,
                weightDecay: Float = 0.01, trustRatioForAll: Bool = false) {
        precondition((0..<1).contains(beta1) && (0..<1).contains(beta2) && epsilon > 0 && weightDecay >= 0,
                     "LAMB needs 0 ≤ β < 1, ε > 0, weight decay ≥ 0")
        self.layout = layout
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
        self.trustRatioForAll = trustRatioForAll
        expAvg = zeroedBuffer(layout.count)
        expAvgSq = zeroedBuffer(layout.count)
        update = zeroedBuffer(layout.tensors.map(\.count).max() ?? 0)
        lastTrustRatios = Array(repeating: 1, count: layout.tensors.count)
    }

    deinit {
        expAvg.deallocate()
        expAvgSq.deallocate()
        update.deallocate()
    }

    public var stateBuffers: [(name: String, buffer: UnsafeMutableBufferPointer<Float>)] {
        [("exp_avg", expAvg), ("exp_avg_sq", expAvgSq)]
    }

    public func step(parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>, learningRate: Float) {
        precondition(parameters.count == layout.count && gradients.count == layout.count,
                     "LAMB: buffers of \(parameters.count)/\(gradients.count) floats, layout has \(layout.count)")
        stepCount += 1
        let t = Double(stepCount)
        let correction1 = Float(1 - pow(Double(beta1), t))
        let correction2 = Float(1 - pow(Double(beta2), t))
        let b1 = beta1, b2 = beta2, eps = epsilon
        let p = parameters.baseAddress!, g = gradients.baseAddress!, m = expAvg.baseAddress!, v = expAvgSq.baseAddress!
        let u = update.baseAddress!
        for (index, spec) in layout.tensors.enumerated() {
            let decay: Float = spec.decays ? weightDecay : 0
            let start = spec.offset
            for j in 0..<spec.count {
                let i = start + j
                let gi = g[i]
                let mi = b1 * m[i] + (1 - b1) * gi
                let vi = b2 * v[i] + (1 - b2) * gi * gi
                m[i] = mi
                v[i] = vi
                u[j] = (mi / correction1) / ((vi / correction2).squareRoot() + eps) + decay * p[i]
            }
            var ratio: Float = 1
            if trustRatioForAll || decay != 0 {
                let weightNorm = sumOfSquares(UnsafeBufferPointer(rebasing: parameters[spec.range])).squareRoot()
                let updateNorm = sumOfSquares(UnsafeBufferPointer(start: u, count: spec.count)).squareRoot()
                if weightNorm > 0 && updateNorm > 0 { ratio = Float(weightNorm / updateNorm) }
            }
            lastTrustRatios[index] = ratio
            let scale = learningRate * ratio
            for j in 0..<spec.count {
                p[start + j] -= scale * u[j]
            }
        }
    }
}
