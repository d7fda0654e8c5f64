// BertEncoder: embeddings + transformer layers, giving hidden states [N, H]. Reusable
// under any head (pretraining, sequence classification): a head reads `hiddenStates` after
// `forward` at the rows `rows` names, and hands `backward` the gradient of its loss there.
//
// Unpadded by default: the inputs arrive as padded [B, T] arrays (as the shards hold them), and
// forward gathers each sequence's real tokens into N = Σ lengths rows (SequenceRows), so every
// product, LayerNorm, GELU and dropout runs on real tokens only and attention per sequence at its
// own length. Padded positions never influenced a real one (their keys are masked, no head reads
// them), so results equal the rectangular path's (`packsSequences` false) up to summation order.
//
// Legend: N rows (≤ B·T), B batch, T sequence, H hidden, I intermediate, A heads, D = H/A, L layers.
// Every activation is allocated once for N = maxBatch·maxSeqLength; a step only writes.
// What one layer keeps for backward (per row: 8H + I floats, 2H bytes; plus A·len² floats
// and bytes per sequence of attention probabilities and their dropout mask):
//   input   [N, H]    previous layer's output (hidden[l])
//   qkv     [N, 3H]   fused projection
//   probs   [A, len, len] per sequence, probsKeep bytes
//   ctx     [N, H]    attention context
//   attnKeep/outKeep bytes [N, H]: dropout masks after the two dense outputs
//   ln1In   [N, H]    residual sum before the attention LayerNorm, ln1Mean/ln1Rstd [N]
//   ln1Out  [N, H]
//   ffnPre  [N, I]    intermediate pre-activation (GELU output is recomputed in backward)
//   ln2In   [N, H], ln2Mean/ln2Rstd [N]; the LayerNorm output is hidden[l+1]
// Dropout masks are keyed per sequence by (seed, step, instance) and then (layer, site), each a stream
// over the sequence's rows (Dropout.swift): a packed sequence draws exactly its padded twin's masks.
//
// The last layer computes only the rows a head reads (`reads`, ReadPositions): keys and values of every
// row, everything else at the read rows (S of them). A classifier reads each sequence's first row, so its
// last layer costs 2H² per token instead of 12H², an exact saving: the rows not read have no influence on
// the loss. In that layer qkv holds k | v [N, 2H] then q [S, H], and every per-row buffer has S rows.

import Randomness

/// The pad token id of every BERT vocabulary we read (HF `pad_token_id`, written as 0 in config.json).
let bertPadTokenId: Int32 = 0

/// What a head reads of the encoder's last layer.
public enum HeadReads: Sendable {
    /// Every position (pretraining's masked tokens, embeddings, fill-mask).
    case everyPosition
    /// Each sequence's first position, [CLS] (the pooler: classifiers, next-sentence scores).
    case firstPositions
    /// The positions the head listed in the encoder's `readPositions` before the forward (pretraining:
    /// [CLS] and the masked tokens).
    case listed
}

public final class BertEncoder {
    public let config: BertConfig
    public let layout: ParameterLayout
    public let maxBatch: Int, maxSeqLength: Int
    /// Parameters and gradients are owned by the model that holds this encoder.
    let parameters: UnsafeMutablePointer<Float>
    let gradients: UnsafeMutablePointer<Float>
    /// The run's seed, first component of every dropout mask's key.
    public var dropoutSeed: UInt64 = 0
    /// Compute real tokens only (the default); false = the rectangular [B·T] path (`--padded`).
    public var packsSequences = true

    /// The last layer computes only the rows the head reads (`forward`'s `reads`, the default); false
    /// computes every row (tests compare the two).
    public var trimsLastLayer = true

    /// Where each sequence's rows are in the last forward.
    public let rows: SequenceRows
    /// The rows the last layer computed in the last forward, when trimmed (`outputRows`).
    let readPositions: ReadPositions
    private var trimmed = false
    /// The trimmed layer folds the key and value projections into attention (FoldedAttention.swift) where
    /// that fits and pays (a classifier's one row per sequence) with float32 products; false: it projects
    /// keys and values (tests).
    var foldsKeysAndValues = true
    private(set) var folded = false
    private var hiddenDrop: Float = 0, attentionDrop: Float = 0

    // Inputs of the last forward, at the rows (backward needs the ids for the embedding scatter).
    private let inputIds: UnsafeMutableBufferPointer<Int32>     // [N]
    private let segmentIds: UnsafeMutableBufferPointer<Int32>   // [N]
    private let maskBias: UnsafeMutableBufferPointer<Float>     // [B·T] 0 or −10000 (rectangular layout only)
    private let sequenceKeys: UnsafeMutableBufferPointer<RandomKey> // [B] dropout key of each sequence

    // Embeddings.
    private let embSum: UnsafeMutableBufferPointer<Float>       // [B·T, H] LayerNorm input
    private let embMean, embRstd: UnsafeMutableBufferPointer<Float> // [B·T]
    private let embKeep: UnsafeMutableBufferPointer<UInt8>      // [B·T, H]
    /// hidden[0] = embeddings output, hidden[l+1] = layer l output; each [B·T, H].
    private var hidden: [UnsafeMutableBufferPointer<Float>] = []
    private var layers: [LayerActivations] = []

    // Scratch shared by all layers (overwritten by each).
    private let geluOut: UnsafeMutableBufferPointer<Float>      // [B·T, I]
    private let dFfn: UnsafeMutableBufferPointer<Float>         // [B·T, I]
    private let dQkv: UnsafeMutableBufferPointer<Float>         // [B·T, 3H]
    private let dA, dB, dLn1Out, dTmp: UnsafeMutableBufferPointer<Float> // [B·T, H] each
    private let attnScratch: UnsafeMutableBufferPointer<Float>  // threads · 2·[T, T]: one slot per attention worker
    private let readInput: UnsafeMutableBufferPointer<Float>    // [S, H] the trimmed last layer's input at the read rows
    private let readMasks: UnsafeMutableBufferPointer<UInt8>    // [T, H] a sequence's hidden-dropout stream, for the read rows
    /// The parameters in bf16 for oneDNN's products (the whole model's buffer: the heads' weights too),
    /// converted at the start of every forward: once a step, after the optimizer's update.
    private let weightCopy: BF16Weights

    /// Bytes of activations and scratch (what `forward`/`backward` touch besides parameters).
    public let activationBytes: Int
    private let arena = Arena()

    struct LayerActivations {
        let qkv, probs, ctx, ln1In, ln1Mean, ln1Rstd, ln1Out, ffnPre, ln2In, ln2Mean, ln2Rstd: UnsafeMutableBufferPointer<Float>
        let probsKeep, attnKeep, outKeep: UnsafeMutableBufferPointer<UInt8>
    }

    public init(config: BertConfig, layout: ParameterLayout, parameters: UnsafeMutablePointer<Float>,
         gradients: UnsafeMutablePointer<Float>, maxBatch: Int, maxSeqLength: Int) {
        self.config = config
        self.layout = layout
        self.parameters = parameters
        self.gradients = gradients
        self.maxBatch = maxBatch
        self.maxSeqLength = maxSeqLength
        let N = maxBatch * maxSeqLength, H = config.hiddenSize, I = config.intermediateSize
        let A = config.numAttentionHeads, T = maxSeqLength
        let hasHiddenDropout = config.hiddenDropoutProb > 0, hasAttentionDropout = config.attentionProbsDropoutProb > 0
        let a = arena
        inputIds = a.allocate(Int32.self, count: N)
        segmentIds = a.allocate(Int32.self, count: N)
        maskBias = a.allocate(Float.self, count: N)
        sequenceKeys = a.allocate(RandomKey.self, count: maxBatch)
        rows = SequenceRows(capacity: maxBatch)
        readPositions = ReadPositions(sequences: maxBatch, rows: N)
        embSum = a.allocate(Float.self, count: N * H)
        embMean = a.allocate(Float.self, count: N)
        embRstd = a.allocate(Float.self, count: N)
        embKeep = a.allocate(UInt8.self, count: hasHiddenDropout ? N * H : 0)
        hidden = (0...config.numHiddenLayers).map { _ in a.allocate(Float.self, count: N * H) }
        layers = (0..<config.numHiddenLayers).map { _ in
            LayerActivations(
                qkv: a.allocate(Float.self, count: N * 3 * H), probs: a.allocate(Float.self, count: maxBatch * A * T * T),
                ctx: a.allocate(Float.self, count: N * H), ln1In: a.allocate(Float.self, count: N * H),
                ln1Mean: a.allocate(Float.self, count: N), ln1Rstd: a.allocate(Float.self, count: N),
                ln1Out: a.allocate(Float.self, count: N * H), ffnPre: a.allocate(Float.self, count: N * I),
                ln2In: a.allocate(Float.self, count: N * H),
                ln2Mean: a.allocate(Float.self, count: N), ln2Rstd: a.allocate(Float.self, count: N),
                probsKeep: a.allocate(UInt8.self, count: hasAttentionDropout ? maxBatch * A * T * T : 0),
                attnKeep: a.allocate(UInt8.self, count: hasHiddenDropout ? N * H : 0),
                outKeep: a.allocate(UInt8.self, count: hasHiddenDropout ? N * H : 0))
        }
        geluOut = a.allocate(Float.self, count: N * I)
        dFfn = a.allocate(Float.self, count: N * I)
        dQkv = a.allocate(Float.self, count: N * 3 * H)
        dA = a.allocate(Float.self, count: N * H)
        dB = a.allocate(Float.self, count: N * H)
        dLn1Out = a.allocate(Float.self, count: N * H)
        dTmp = a.allocate(Float.self, count: N * H)
        attnScratch = a.allocate(Float.self, count: Parallel.threads * attentionScratchPerWorker(seq: T))
        readInput = a.allocate(Float.self, count: N * H)
        readMasks = a.allocate(UInt8.self, count: hasHiddenDropout ? T * H : 0)
        activationBytes = a.bytes
        weightCopy = BF16Weights(of: parameters, count: layout.count)
    }

    /// The last layer's output [outputRows.count, H] of the last forward: position t of sequence b is row `row(b, t)`.
    public var hiddenStates: UnsafeMutablePointer<Float> { hidden[config.numHiddenLayers].baseAddress! }

    /// Where each sequence's rows are in `hiddenStates`: every row's (`rows`), or, when the last layer was
    /// trimmed, the read ones'.
    public var outputRows: SequenceRows { trimmed ? readPositions.rows : rows }

    /// The row of position t of sequence b in `hiddenStates` of the last forward, nil for a padded position
    /// or one that was not read.
    public func row(sequence b: Int, position t: Int) -> Int? {
        guard t >= 0 && t < rows.length(b) else { return nil }
        if !trimmed { return rows.start(b) + t }
        return readPositions.rows.rows(of: b).first { readPositions.positions[$0] == t }
    }

    private var eps: Float { Float(config.layerNormEps) }

    /// Checks every input before touching any buffer; errors name the sequence and position.
    public func validate(inputIds ids: UnsafePointer<Int32>, segmentIds segs: UnsafePointer<Int32>,
                         inputMask mask: UnsafePointer<Int32>, batchSize B: Int, seqLength T: Int) throws {
        if B > maxBatch || B < 1 { throw BertInputError.batchTooLarge(batch: B, capacity: maxBatch) }
        if T > maxSeqLength || T > config.maxPositionEmbeddings || T < 1 {
            throw BertInputError.sequenceTooLong(length: T, capacity: maxSeqLength, maxPositionEmbeddings: config.maxPositionEmbeddings)
        }
        for b in 0..<B {
            var real = false
            for t in 0..<T {
                let i = b * T + t
                if ids[i] < 0 || Int(ids[i]) >= config.vocabSize {
                    throw BertInputError.tokenOutOfRange(sequence: b, position: t, id: ids[i], vocabSize: config.vocabSize)
                }
                if segs[i] < 0 || Int(segs[i]) >= config.typeVocabSize {
                    throw BertInputError.segmentOutOfRange(sequence: b, position: t, id: segs[i], typeVocabSize: config.typeVocabSize)
                }
                if mask[i] != 0 && mask[i] != 1 { throw BertInputError.attentionMaskInvalid(sequence: b, position: t, value: mask[i]) }
                real = real || mask[i] == 1
            }
            if !real { throw BertInputError.noRealToken(sequence: b) }
        }
    }

    /// Runs embeddings and every layer; result in `hiddenStates` at `rows`. Inputs are [B, T] row-major.
    /// Packs the real tokens when `packsSequences` and `pack` (a head that reads a padded position passes
    /// false) and every row's padding is a suffix; else computes the rectangle.
    /// With dropout (`training`), sequence b's masks are keyed by (dropoutSeed, `step`, `instances[b]`):
    /// give each sequence its global instance number (nil: its row number) and the optimizer step.
    /// `reads`: the rows the head reads of the last layer, the only ones it computes when `trimsLastLayer`.
    public func forward(inputIds ids: UnsafePointer<Int32>, segmentIds segs: UnsafePointer<Int32>,
                        inputMask mask: UnsafePointer<Int32>, batchSize B: Int, seqLength T: Int, training: Bool,
                        instances: UnsafePointer<Int>? = nil, step: Int = 0, pack: Bool = true,
                        reads: HeadReads = .everyPosition) throws {
        try validate(inputIds: ids, segmentIds: segs, inputMask: mask, batchSize: B, seqLength: T)
        if MatrixProducts.path == .onednnBF16 { weightCopy.refresh() }
        hiddenDrop = training ? Float(config.hiddenDropoutProb) : 0
        attentionDrop = training ? Float(config.attentionProbsDropoutProb) : 0
        let H = config.hiddenSize
        if packsSequences && pack && SequenceRows.paddingIsSuffix(mask, sequences: B, length: T) {
            rows.pack(sequences: B) { b in SequenceRows.realLength(mask + b * T, length: T) }
            for b in 0..<B {
                let n = rows.length(b), at = rows.start(b)
                (inputIds.baseAddress! + at).update(from: ids + b * T, count: n)
                (segmentIds.baseAddress! + at).update(from: segs + b * T, count: n)
            }
        } else {
            inputIds.baseAddress!.update(from: ids, count: B * T)
            segmentIds.baseAddress!.update(from: segs, count: B * T)
            for i in 0..<(B * T) { maskBias[i] = mask[i] == 1 ? 0 : -10000 }
            rows.rectangle(sequences: B, length: T, maskBias: maskBias.baseAddress!)
        }
        let N = rows.count
        trimmed = trimsLastLayer && reads != .everyPosition
        if trimmed {
            if reads == .firstPositions { readPositions.firstPositions(sequences: B) }
            readPositions.placeBlocks(keys: rows)
        }
        if hiddenDrop > 0 || attentionDrop > 0 {
            for b in 0..<B { sequenceKeys[b] = DropoutSite.sequenceKey(seed: dropoutSeed, step: step, instance: instances?[b] ?? b) }
        }

        let p = parameters, e = layout.embeddings
        embeddingSumForward(embSum.baseAddress!, inputIds: inputIds.baseAddress!, segmentIds: segmentIds.baseAddress!,
                            word: p + e.word, position: p + e.position, tokenType: p + e.tokenType, rows: rows, hidden: H)
        let h0 = hidden[0].baseAddress!
        layerNormForward(h0, mean: embMean.baseAddress!, rstd: embRstd.baseAddress!, embSum.baseAddress!,
                         gamma: p + e.lnGamma, beta: p + e.lnBeta, rows: N, channels: H, eps: eps)
        if hiddenDrop > 0 {
            fillHiddenMasks(embKeep.baseAddress!, site: .embeddings, layer: 0)
            dropoutApply(h0, mask: embKeep.baseAddress!, count: N * H, dropProbability: hiddenDrop)
        }

        for l in 0..<layers.count { layerForward(l, atReadRows: trimmed && l == layers.count - 1) }
    }

    /// Layer l from hidden[l] into hidden[l + 1]: at every row, or (`atReadRows`, the last layer) keys and
    /// values at every row and the rest at the read rows only.
    private func layerForward(_ l: Int, atReadRows: Bool) {
        let N = rows.count, H = config.hiddenSize, I = config.intermediateSize
        let p = parameters, w = layout.layers[l], act = layers[l], x = hidden[l].baseAddress!, out = hidden[l + 1].baseAddress!
        let shape = AttentionShape(heads: config.numAttentionHeads, headSize: config.headSize)
        let tmp = dTmp.baseAddress!   // forward scratch [M, H] for the dense outputs
        let qkv = act.qkv.baseAddress!
        // Attention: q, k, v = x·Wqkvᵀ + b; ctx = attention(q, k, v); tmp = ctx·Woᵀ + b
        let M: Int, residual: UnsafePointer<Float>, queries: AttentionQueries
        var operands: AttentionOperands? = nil   // nil: the folded form computed the context already
        if atReadRows {
            let reads = readPositions
            M = reads.rows.count
            let xs = readInput.baseAddress!
            for b in 0..<rows.sequences {
                for r in reads.rows.rows(of: b) {
                    (xs + r * H).update(from: x + (rows.start(b) + Int(reads.positions[r])) * H, count: H)
                }
            }
            residual = UnsafePointer(xs)
            queries = reads.queries
            // Not with bf16 products: autocast rounds x and Wk to bf16 for k, which the folded form never forms.
            folded = foldsKeysAndValues && MatrixProducts.precision == .fp32
                && foldedAttentionApplies(keys: rows, queries: reads.rows, heads: shape.heads, hidden: H)
            if folded {
                // q [S, H], then the folded form's buffers (foldedOperands).
                linearForward(qkv, xs, weight: p + w.qkvWeight, bias: p + w.qkvBias, rows: M, inFeatures: H, outFeatures: H)
                foldedAttentionForward(ctx: act.ctx.baseAddress!, probs: act.probs.baseAddress!, keep: act.probsKeep.baseAddress!,
                                       operands: foldedOperands(layer: l), keys: rows, queries: queries, shape: shape,
                                       dropProbability: attentionDrop, sequenceKeys: sequenceKeys.baseAddress!, layer: l,
                                       scratch: attnScratch)
            } else {
                // k | v [N, 2H] of every row (rows H..<3H of the fused weight), q [S, H] of the read rows after them.
                let q = qkv + N * 2 * H
                linearForward(qkv, x, weight: p + w.qkvWeight + H * H, bias: p + w.qkvBias + H, rows: N, inFeatures: H, outFeatures: 2 * H)
                linearForward(q, xs, weight: p + w.qkvWeight, bias: p + w.qkvBias, rows: M, inFeatures: H, outFeatures: H)
                operands = AttentionOperands(q: q, k: qkv, v: qkv + H, qStride: H, kvStride: 2 * H)
            }
        } else {
            M = N
            linearForward(qkv, x, weight: p + w.qkvWeight, bias: p + w.qkvBias, rows: N, inFeatures: H, outFeatures: 3 * H)
            residual = UnsafePointer(x)
            operands = AttentionOperands(fused: qkv, hidden: H)
            queries = .everyPosition(rows)
        }
        if let operands {
            attentionForward(ctx: act.ctx.baseAddress!, probs: act.probs.baseAddress!, keep: act.probsKeep.baseAddress!,
                             operands: operands, keys: rows, queries: queries, shape: shape, dropProbability: attentionDrop,
                             sequenceKeys: sequenceKeys.baseAddress!, layer: l, scratch: attnScratch)
        }
        linearForward(tmp, act.ctx.baseAddress!, weight: p + w.attnOutWeight, bias: p + w.attnOutBias,
                      rows: M, inFeatures: H, outFeatures: H)
        // ln1In = dropout(tmp) + x; ln1Out = LayerNorm(ln1In)
        residualWithDropout(act.ln1In.baseAddress!, tmp, keep: act.attnKeep.baseAddress!, residual: residual, rows: M,
                            site: .attentionOutput, layer: l, atReadRows: atReadRows)
        layerNormForward(act.ln1Out.baseAddress!, mean: act.ln1Mean.baseAddress!, rstd: act.ln1Rstd.baseAddress!,
                         act.ln1In.baseAddress!, gamma: p + w.attnLnGamma, beta: p + w.attnLnBeta,
                         rows: M, channels: H, eps: eps)
        // Feed-forward: ffnPre = ln1Out·Wiᵀ + b; tmp = gelu(ffnPre)·Wo2ᵀ + b
        linearForward(act.ffnPre.baseAddress!, act.ln1Out.baseAddress!, weight: p + w.interWeight, bias: p + w.interBias,
                      rows: M, inFeatures: H, outFeatures: I)
        geluForward(geluOut.baseAddress!, act.ffnPre.baseAddress!, count: M * I, activation: config.hiddenAct)
        linearForward(tmp, geluOut.baseAddress!, weight: p + w.outWeight, bias: p + w.outBias,
                      rows: M, inFeatures: I, outFeatures: H)
        // ln2In = dropout(tmp) + ln1Out; out = LayerNorm(ln2In)
        residualWithDropout(act.ln2In.baseAddress!, tmp, keep: act.outKeep.baseAddress!, residual: act.ln1Out.baseAddress!,
                            rows: M, site: .feedForwardOutput, layer: l, atReadRows: atReadRows)
        layerNormForward(out, mean: act.ln2Mean.baseAddress!, rstd: act.ln2Rstd.baseAddress!, act.ln2In.baseAddress!,
                         gamma: p + w.outLnGamma, beta: p + w.outLnBeta, rows: M, channels: H, eps: eps)
    }

    /// Draws every sequence's [len, H] hidden-dropout mask of `site` in `layer` into keep [N, H].
    private func fillHiddenMasks(_ keep: UnsafeMutablePointer<UInt8>, site: DropoutSite, layer: Int) {
        let H = config.hiddenSize
        for b in 0..<rows.sequences {
            site.fillRowMask(keep + rows.start(b) * H, sequence: sequenceKeys[b], layer: layer, count: rows.length(b) * H,
                             dropProbability: hiddenDrop)
        }
    }

    /// The folded form's operands in layer l: q [R, H], qt and y [R·A, H], sums [R·A] back to back in qkv.
    private func foldedOperands(layer l: Int) -> FoldedAttentionOperands {
        let H = config.hiddenSize, A = config.numAttentionHeads, R = readPositions.rows.count
        let w = layout.layers[l], q = layers[l].qkv.baseAddress!
        return FoldedAttentionOperands(q: q, qt: q + R * H, y: q + R * H * (1 + A), sums: q + R * H * (1 + 2 * A),
                                       x: hidden[l].baseAddress!, keyWeight: parameters + w.qkvWeight + H * H,
                                       valueWeight: parameters + w.qkvWeight + 2 * H * H, valueBias: parameters + w.qkvBias + 2 * H)
    }

    /// Draws the [S, H] hidden-dropout masks of the read rows: each is its part of its sequence's stream, so
    /// it equals the mask the row has when every row is computed.
    private func fillReadHiddenMasks(_ keep: UnsafeMutablePointer<UInt8>, site: DropoutSite, layer: Int) {
        let H = config.hiddenSize, reads = readPositions
        for b in 0..<rows.sequences where reads.rows.length(b) > 0 {
            let span = reads.rows.rows(of: b), stream = readMasks.baseAddress!
            site.fillRowMask(stream, sequence: sequenceKeys[b], layer: layer, count: (Int(reads.positions[span.last!]) + 1) * H,
                             dropProbability: hiddenDrop)
            for r in span { (keep + r * H).update(from: stream + Int(reads.positions[r]) * H, count: H) }
        }
    }

    /// out = dropout(x) + residual over `rows` rows, drawing the masks of `site` into `keep` when hidden
    /// dropout is on (at the read rows' places in their streams when `atReadRows`).
    private func residualWithDropout(_ out: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>,
                                     keep: UnsafeMutablePointer<UInt8>, residual: UnsafePointer<Float>, rows count: Int,
                                     site: DropoutSite, layer: Int, atReadRows: Bool = false) {
        let n = count * config.hiddenSize
        if hiddenDrop > 0 {
            if atReadRows { fillReadHiddenMasks(keep, site: site, layer: layer) } else { fillHiddenMasks(keep, site: site, layer: layer) }
            let scale = 1 / (1 - hiddenDrop)
            for i in 0..<n { out[i] = x[i] * Float(keep[i]) * scale + residual[i] }
        } else {
            for i in 0..<n { out[i] = x[i] + residual[i] }
        }
    }

    /// Backpropagates `dHidden` [N, H] (gradient of the loss at `hiddenStates`; consumed as
    /// scratch) through every layer and the embeddings, accumulating into the gradients.
    /// `gradientsReady` gets each layer's range (L−1 … 0), then the embeddings' range.
    public func backward(dHidden: UnsafeMutablePointer<Float>, gradientsReady: ((Range<Int>) -> Void)?) {
        let N = rows.count, H = config.hiddenSize
        let p = parameters, g = gradients
        var dOut = dHidden                  // gradient at the current layer's output
        var dIn = dA.baseAddress!           // gradient at its input, written by this layer
        let tmp = dTmp.baseAddress!
        for l in stride(from: config.numHiddenLayers - 1, through: 0, by: -1) {
            // The top layer's input gradient needs a second buffer when trimmed (dB: free until the swap below).
            layerBackward(l, dOut: dOut, dIn: dIn, atReadRows: trimmed && l == layers.count - 1, readScratch: dB.baseAddress!)
            gradientsReady?(layout.layers[l].range)
            // The next (lower) layer reads dIn as its output gradient; dOut's buffer becomes free.
            let free = dOut == dHidden ? dB.baseAddress! : dOut
            dOut = dIn
            dIn = free
        }
        // Embeddings: dropout, LayerNorm, scatter into the tables.
        let e = layout.embeddings
        if hiddenDrop > 0 { dropoutApply(dOut, mask: embKeep.baseAddress!, count: N * H, dropProbability: hiddenDrop) }
        layerNormBackward(dx: tmp, dGamma: g + e.lnGamma, dBeta: g + e.lnBeta, dOut: dOut, x: embSum.baseAddress!,
                          mean: embMean.baseAddress!, rstd: embRstd.baseAddress!, gamma: p + e.lnGamma, rows: N, channels: H)
        embeddingSumBackward(dWord: g + e.word, dPosition: g + e.position, dTokenType: g + e.tokenType, dOut: tmp,
                             inputIds: inputIds.baseAddress!, segmentIds: segmentIds.baseAddress!,
                             rows: rows, hidden: H, padTokenId: bertPadTokenId)
        gradientsReady?(layout.embeddingRange)
    }

    /// dIn's read rows += d [S, H].
    private func scatterAddReadRows(_ dIn: UnsafeMutablePointer<Float>, _ d: UnsafePointer<Float>) {
        let H = config.hiddenSize, reads = readPositions
        for b in 0..<rows.sequences {
            for r in reads.rows.rows(of: b) {
                let row = dIn + (rows.start(b) + Int(reads.positions[r])) * H, dr = d + r * H
                for c in 0..<H { row[c] += dr[c] }
            }
        }
    }

    /// Layer l's backward: dOut [M, H] (consumed as scratch) at its output rows → dIn [N, H] at its input, every
    /// row (overwritten). `atReadRows`: the forward computed the read rows only; `readScratch` [S, H].
    private func layerBackward(_ l: Int, dOut: UnsafeMutablePointer<Float>, dIn: UnsafeMutablePointer<Float>,
                               atReadRows: Bool, readScratch: UnsafeMutablePointer<Float>) {
        let N = rows.count, H = config.hiddenSize, I = config.intermediateSize, M = atReadRows ? readPositions.rows.count : N
        let p = parameters, g = gradients, w = layout.layers[l], act = layers[l], x = hidden[l].baseAddress!
        let shape = AttentionShape(heads: config.numAttentionHeads, headSize: config.headSize)
        let tmp = dTmp.baseAddress!, dl1 = dLn1Out.baseAddress!
        // The gradient at the layer's input rows that the residual reaches (the read rows', or every row's).
        let dResidual = atReadRows ? readScratch : dIn
        // LayerNorm 2: dOut → d(ln2In) in tmp
        layerNormBackward(dx: tmp, dGamma: g + w.outLnGamma, dBeta: g + w.outLnBeta, dOut: dOut,
                          x: act.ln2In.baseAddress!, mean: act.ln2Mean.baseAddress!, rstd: act.ln2Rstd.baseAddress!,
                          gamma: p + w.outLnGamma, rows: M, channels: H)
        // residual: d(ln1Out) = d(ln2In) + (FFN path, added below); FFN output grad = dropout(d(ln2In))
        dl1.update(from: tmp, count: M * H)
        if hiddenDrop > 0 { dropoutApply(tmp, mask: act.outKeep.baseAddress!, count: M * H, dropProbability: hiddenDrop) }
        // Output dense: needs gelu(ffnPre) again (recomputed rather than stored: N·I floats per layer saved)
        geluForward(geluOut.baseAddress!, act.ffnPre.baseAddress!, count: M * I, activation: config.hiddenAct)
        linearBackward(dx: dFfn.baseAddress!, dWeight: g + w.outWeight, dBias: g + w.outBias, dOut: tmp,
                       x: geluOut.baseAddress!, weight: p + w.outWeight, rows: M, inFeatures: I, outFeatures: H)
        geluBackward(dFfn.baseAddress!, x: act.ffnPre.baseAddress!, count: M * I,
                     activation: config.hiddenAct)
        linearBackward(dx: dl1, accumulate: true, dWeight: g + w.interWeight, dBias: g + w.interBias, dOut: dFfn.baseAddress!,
                       x: act.ln1Out.baseAddress!, weight: p + w.interWeight, rows: M, inFeatures: H, outFeatures: I)
        // LayerNorm 1: d(ln1Out) → d(ln1In) = dResidual (to x) and, through dropout, the attention output grad
        layerNormBackward(dx: dResidual, dGamma: g + w.attnLnGamma, dBeta: g + w.attnLnBeta, dOut: dl1,
                          x: act.ln1In.baseAddress!, mean: act.ln1Mean.baseAddress!, rstd: act.ln1Rstd.baseAddress!,
                          gamma: p + w.attnLnGamma, rows: M, channels: H)
        if hiddenDrop > 0 {
            dropoutApply(dResidual, mask: act.attnKeep.baseAddress!, count: M * H, dropProbability: hiddenDrop, into: tmp)
        } else {
            tmp.update(from: dResidual, count: M * H)
        }
        // Attention output dense: d(ctx) into dl1 (free now)
        linearBackward(dx: dl1, dWeight: g + w.attnOutWeight, dBias: g + w.attnOutBias, dOut: tmp,
                       x: act.ctx.baseAddress!, weight: p + w.attnOutWeight, rows: M, inFeatures: H, outFeatures: H)
        let qkv = act.qkv.baseAddress!, dqkv = dQkv.baseAddress!
        if atReadRows && folded {
            // dq [S, H], then dqt and dy [S·A, H] in dQkv; the key and value rows' gradient straight into dIn.
            let reads = readPositions, A = config.numAttentionHeads, R = reads.rows.count, dq = dqkv
            dIn.update(repeating: 0, count: N * H)
            foldedAttentionBackward(gradients: FoldedAttentionGradients(dq: dq, dqt: dqkv + R * H, dy: dqkv + R * H * (1 + A), dx: dIn,
                                                                        keyWeight: g + w.qkvWeight + H * H,
                                                                        valueWeight: g + w.qkvWeight + 2 * H * H,
                                                                        valueBias: g + w.qkvBias + 2 * H),
                                    dctx: dl1, operands: foldedOperands(layer: l), probs: act.probs.baseAddress!,
                                    keep: act.probsKeep.baseAddress!, keys: rows, queries: reads.queries, shape: shape,
                                    dropProbability: attentionDrop, scratch: attnScratch)
            linearBackward(dx: dResidual, accumulate: true, dWeight: g + w.qkvWeight, dBias: g + w.qkvBias, dOut: dq,
                           x: readInput.baseAddress!, weight: p + w.qkvWeight, rows: M, inFeatures: H, outFeatures: H)
            scatterAddReadRows(dIn, dResidual)
        } else if atReadRows {
            // d(k | v) [N, 2H] of every row, dq [S, H] of the read rows after them (the forward's layout).
            let reads = readPositions, q = qkv + N * 2 * H, dq = dqkv + N * 2 * H
            attentionBackward(gradients: AttentionOperands(q: dq, k: dqkv, v: dqkv + H, qStride: H, kvStride: 2 * H), dctx: dl1,
                              operands: AttentionOperands(q: q, k: qkv, v: qkv + H, qStride: H, kvStride: 2 * H),
                              probs: act.probs.baseAddress!, keep: act.probsKeep.baseAddress!, keys: rows, queries: reads.queries,
                              shape: shape, dropProbability: attentionDrop, scratch: attnScratch)
            linearBackward(dx: dIn, dWeight: g + w.qkvWeight + H * H, dBias: g + w.qkvBias + H, dOut: dqkv,
                           x: x, weight: p + w.qkvWeight + H * H, rows: N, inFeatures: H, outFeatures: 2 * H)
            linearBackward(dx: dResidual, accumulate: true, dWeight: g + w.qkvWeight, dBias: g + w.qkvBias, dOut: dq,
                           x: readInput.baseAddress!, weight: p + w.qkvWeight, rows: M, inFeatures: H, outFeatures: H)
            scatterAddReadRows(dIn, dResidual)
        } else {
            attentionBackward(dqkv: dqkv, dctx: dl1, qkv: qkv, probs: act.probs.baseAddress!,
                              keep: act.probsKeep.baseAddress!, rows: rows, shape: shape, dropProbability: attentionDrop,
                              scratch: attnScratch)
            linearBackward(dx: dIn, accumulate: true, dWeight: g + w.qkvWeight, dBias: g + w.qkvBias, dOut: dqkv,
                           x: x, weight: p + w.qkvWeight, rows: N, inFeatures: H, outFeatures: 3 * H)
        }
    }
}
