// Losses of the heads, as forward/backward pairs over rows of logits. Forward returns sums (in
// Double) so ranks and micro-batches combine exactly; backward takes the scale that turns the
// sum into the global mean (1 / the global count).
//
// Legend: N rows, C classes.

import CKernels
import Foundation

// MARK: Cross-entropy (softmax over classes, per row; HF CrossEntropyLoss)

/// Softmax of logits[N, C] in place; adds −log p[label] to `lossSum` (in Double) and counts
/// rows whose arg-max is the label. Labels were range-checked.
func crossEntropyForward(_ logits: UnsafeMutablePointer<Float>, labels: UnsafePointer<Int32>, rows n: Int, classes c: Int,
                         lossSum: inout Double, correct: inout Int) {
    for r in 0..<n {
        let row = logits + r * c
        let maxValue = vectorMax(row, count: c)
        let label = Int(labels[r])
        // Correct when the label is the first arg-max (torch.argmax picks the first of ties).
        if row[label] == maxValue && !(0..<label).contains(where: { row[$0] == maxValue }) { correct += 1 }
        for j in 0..<c { row[j] = bp_fast_exp(row[j] - maxValue) }
        let sum = vectorSum(row, count: c)
        // −log softmax[label] = log Σ e^(z − max) − (z_label − max); row[label] holds e^(z_label − max).
        lossSum += Foundation.log(Double(sum)) - Foundation.log(Double(row[label]))
        let inverse = 1 / sum
        for j in 0..<c { row[j] *= inverse }
    }
}

/// dLogits[N, C] = scale · (softmax − onehot(label)), in place over the kept softmax.
func crossEntropyBackward(_ probs: UnsafeMutablePointer<Float>, labels: UnsafePointer<Int32>, rows n: Int, classes c: Int,
                          scale: Float) {
    for r in 0..<n {
        let row = probs + r * c
        for j in 0..<c { row[j] *= scale }
        row[Int(labels[r])] -= scale
    }
}

// MARK: Mean squared error (HF regression: MSELoss of logits.squeeze() and float labels)

/// Adds Σ (prediction − target)² over n rows to `lossSum` (in Double).
func meanSquaredErrorForward(_ predictions: UnsafePointer<Float>, targets: UnsafePointer<Float>, rows n: Int,
                             lossSum: inout Double) {
    for r in 0..<n {
        let d = Double(predictions[r]) - Double(targets[r])
        lossSum += d * d
    }
}

/// dPredictions[n] = scale · 2 (prediction − target).
func meanSquaredErrorBackward(_ dPredictions: UnsafeMutablePointer<Float>, predictions: UnsafePointer<Float>,
                              targets: UnsafePointer<Float>, rows n: Int, scale: Float) {
    for r in 0..<n { dPredictions[r] = scale * 2 * (predictions[r] - targets[r]) }
}
