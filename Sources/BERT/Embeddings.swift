// Embeddings: word + position + token type, summed per token (the LayerNorm and dropout
// that follow are applied by the encoder with the shared LayerNorm/dropout functions).
// Legend: N rows (SequenceRows), H hidden. Position t of sequence b is row rows.start(b) + t.

/// out[N, H] = word[id] + position[t] + tokenType[segment]. Ids were range-checked.
func embeddingSumForward(_ out: UnsafeMutablePointer<Float>, inputIds: UnsafePointer<Int32>, segmentIds: UnsafePointer<Int32>,
                         word: UnsafePointer<Float>, position: UnsafePointer<Float>, tokenType: UnsafePointer<Float>,
                         rows: SequenceRows, hidden H: Int) {
    for b in 0..<rows.sequences {
        let start = rows.start(b)
        for t in 0..<rows.length(b) {
            let i = start + t
            let w = word + Int(inputIds[i]) * H, p = position + t * H, s = tokenType + Int(segmentIds[i]) * H
            let o = out + i * H
            for c in 0..<H { o[c] = w[c] + p[c] + s[c] }
        }
    }
}

/// Scatters dOut[N, H] into the three tables' gradients. As PyTorch's
/// `nn.Embedding(padding_idx=pad_token_id)` in HF BertEmbeddings, the [PAD] row of the word
/// table gets no gradient from the lookup (the tied MLM decoder still updates it).
func embeddingSumBackward(dWord: UnsafeMutablePointer<Float>, dPosition: UnsafeMutablePointer<Float>,
                          dTokenType: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                          inputIds: UnsafePointer<Int32>, segmentIds: UnsafePointer<Int32>,
                          rows: SequenceRows, hidden H: Int, padTokenId: Int32) {
    for b in 0..<rows.sequences {
        let start = rows.start(b)
        for t in 0..<rows.length(b) {
            let i = start + t
            let d = dOut + i * H
            let p = dPosition + t * H, s = dTokenType + Int(segmentIds[i]) * H
            for c in 0..<H { p[c] += d[c]; s[c] += d[c] }
            if inputIds[i] != padTokenId {
                let w = dWord + Int(inputIds[i]) * H
                for c in 0..<H { w[c] += d[c] }
            }
        }
    }
}
