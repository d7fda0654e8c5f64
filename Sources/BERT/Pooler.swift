// Pooler (HF `BertPooler`): the sequence vector that next-sentence prediction and sequence
// classifiers read, from the first token ([CLS]) of each sequence.
//
// Legend: B batch, H hidden; `rowStride` = floats from one sequence's first token to the next's
// (T·H for a padded [B, T, H] batch).
//   pooled [B, H] = tanh(hidden[b, 0, :]·Wpᵀ + bp)

import CKernels

/// pooled[B, H] = tanh(first token of each sequence · Wᵀ + b).
func poolerForward(_ pooled: UnsafeMutablePointer<Float>, hidden: UnsafePointer<Float>, rowStride: Int,
                   weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows: Int, hiddenSize H: Int) {
    linearForward(pooled, hidden, ldx: rowStride, weight: weight, bias: bias, rows: rows, inFeatures: H, outFeatures: H)
    for i in 0..<(rows * H) { pooled[i] = bp_fast_tanh(pooled[i]) }
}

/// Given dPooled [B, H] (overwritten), accumulates dW, db and adds the first-token gradient into
/// dHidden (same row stride as forward's hidden).
func poolerBackward(dHidden: UnsafeMutablePointer<Float>, rowStride: Int, dWeight: UnsafeMutablePointer<Float>,
                    dBias: UnsafeMutablePointer<Float>, dPooled: UnsafeMutablePointer<Float>, pooled: UnsafePointer<Float>,
                    hidden: UnsafePointer<Float>, weight: UnsafePointer<Float>, rows: Int, hiddenSize H: Int) {
    for i in 0..<(rows * H) { dPooled[i] *= 1 - pooled[i] * pooled[i] }   // tanh' = 1 − tanh²
    linearBackward(dx: dHidden, ldDx: rowStride, accumulate: true, dWeight: dWeight, dBias: dBias, dOut: dPooled,
                   x: hidden, ldx: rowStride, weight: weight, rows: rows, inFeatures: H, outFeatures: H)
}
