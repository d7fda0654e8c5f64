// Pooler (HF `BertPooler`): the sequence vector that next-sentence prediction and sequence
// classifiers read, from the first token ([CLS]) of each sequence.
//
// Legend: B sequences, H hidden; sequence b's first token is row rows.start(b) of the hidden states.
//   first  [B, H] the gathered first rows;  pooled [B, H] = tanh(first·Wpᵀ + bp)

import CKernels

/// pooled[B, H] = tanh(first token of each sequence · Wᵀ + b); `first` [B, H] receives the gathered rows.
func poolerForward(_ pooled: UnsafeMutablePointer<Float>, first: UnsafeMutablePointer<Float>, hidden: UnsafePointer<Float>,
                   rows: SequenceRows, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, hiddenSize H: Int) {
    let B = rows.sequences
    for b in 0..<B { (first + b * H).update(from: hidden + rows.start(b) * H, count: H) }
    linearForward(pooled, first, weight: weight, bias: bias, rows: B, inFeatures: H, outFeatures: H)
    for i in 0..<(B * H) { pooled[i] = bp_fast_tanh(pooled[i]) }
}

/// Given dPooled [B, H] (overwritten), accumulates dW, db and adds the first-token gradient into
/// dHidden's first rows; `first` is forward's gathered rows, `dFirst` [B, H] scratch.
func poolerBackward(dHidden: UnsafeMutablePointer<Float>, dFirst: UnsafeMutablePointer<Float>, rows: SequenceRows,
                    dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>, dPooled: UnsafeMutablePointer<Float>,
                    pooled: UnsafePointer<Float>, first: UnsafePointer<Float>, weight: UnsafePointer<Float>, hiddenSize H: Int) {
    let B = rows.sequences
    for i in 0..<(B * H) { dPooled[i] *= 1 - pooled[i] * pooled[i] }   // tanh' = 1 − tanh²
    linearBackward(dx: dFirst, dWeight: dWeight, dBias: dBias, dOut: dPooled, x: first, weight: weight,
                   rows: B, inFeatures: H, outFeatures: H)
    for b in 0..<B {
        let row = dHidden + rows.start(b) * H, d = dFirst + b * H
        for c in 0..<H { row[c] += d[c] }
    }
}
