// BertInference: a checkpoint's encoder and heads, forward only, over packed batches.
//
// What training keeps and inference does not: gradients, optimizer moments, dropout masks, every
// layer's activations and the [B, A, T, T] probabilities. Here one layer's working buffers serve
// every layer in turn, attention probabilities live in one [T, T] slot per worker, and a batch is
// packed: sequence b's tokens are rows offsets[b]..<offsets[b+1] (flash-attention's cu_seqlens),
// so token-wise work runs over Σ lengths rows and no padding is ever computed (design §9).
//
// Legend: N packed tokens (≤ maxTokens), B sequences, H hidden, I intermediate, V vocab, C labels.
//   x     [N, H]   the running hidden state (embeddings, then each layer's output, in place)
//   qkv   [N, 3H]  fused projection;  ctx [N, H] attention context;  tmp [N, H] dense outputs
//   ffn   [N, I]   intermediate activation
//   kept  [N, H]   copies of the hidden states a caller asked to read besides the last layer's
//   first [B, H]   each sequence's [CLS] row;  pooled [B, H];  nsp [B, 2];  logits [B, C]
//   MLM   [M, H] → [M, V] for up to `maskedChunk` masked rows at a time

import Foundation

/// Which parts of a checkpoint an inference run reads besides the encoder.
public struct InferenceHeads: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let pooler = InferenceHeads(rawValue: 1)
    public static let maskedLM = InferenceHeads(rawValue: 2)
    public static let nextSentence = InferenceHeads(rawValue: 4)
    public static let classifier = InferenceHeads(rawValue: 8)
}

public final class BertInference {
    public let config: BertConfig
    public let layout: ParameterLayout
    /// The fine-tuned classifier's labels and problem type (with `.classifier`), else nil.
    public let classifier: ClassifierConfig?
    public let maxTokens: Int, maxSequences: Int, maxSeqLength: Int
    /// Hidden-state indices as HF's `hidden_states` (0 = embeddings, L = last layer) that `hidden(_:)` serves.
    public let keptLayers: [Int]
    public let loadReport: CheckpointLoadReport

    private let parameters: UnsafeMutableBufferPointer<Float>
    /// The parameters in bf16 for oneDNN's products: they never change after loading, so they are
    /// converted once (again only if another model's copy was in use in between).
    private let weightCopy: BF16Weights
    private let x, qkv, ctx, tmp, ffn, mean, rstd, attentionScratch: UnsafeMutableBufferPointer<Float>
    private let kept: [Int: UnsafeMutableBufferPointer<Float>]
    private let first, pooledOut, nspOut, logitsOut: UnsafeMutableBufferPointer<Float>
    private let rows: SequenceRows
    /// A run that reads only pooled heads (`nsp`, `predict`) computes the last layer at each sequence's
    /// first row ([CLS]) only (keys and values at every row), as training does (BertEncoder, ReadPositions).
    public let firstRowsOnly: Bool
    private let readPositions: ReadPositions
    private let readInput: UnsafeMutableBufferPointer<Float>   // [B, H] the last layer's input at the first rows
    private let maskedIn, maskedPre, maskedOut, maskedLogits: UnsafeMutableBufferPointer<Float>
    private let arena = Arena()
    /// Masked positions whose vocabulary logits are computed at once ([maskedChunk, V] floats).
    public static let maskedChunk = 64

    /// Shape of the last forward.
    public private(set) var tokenCount = 0, sequenceCount = 0
    private var pooledReady = false

    /// Loads DIR's config and weights for `heads`; a head the checkpoint lacks is an error naming it.
    /// `keepLayers`: HF hidden-state indices (0…L, or −1 = L, −2 = L−1, …) the caller reads.
    public init(checkpoint dir: String, heads: InferenceHeads, keepLayers: [Int] = [-1], maxSequences: Int,
                maxSeqLength: Int) throws {
        let config = try Checkpoint.config(in: dir)
        try config.validate()
        self.config = config
        let L = config.numHiddenLayers
        guard maxSeqLength >= 2, maxSeqLength <= config.maxPositionEmbeddings else {
            throw CheckpointError(path: dir, reason: "maximum sequence length \(maxSeqLength) is outside 2…\(config.maxPositionEmbeddings) (max_position_embeddings)")
        }
        keptLayers = try keepLayers.map { requested in
            let index = requested < 0 ? L + 1 + requested : requested
            guard (0...L).contains(index) else {
                throw CheckpointError(path: dir, reason: "layer \(requested) does not exist: the model has hidden states 0…\(L) (−1 = the last, −\(L + 1) = the embeddings)")
            }
            return index
        }

        // The layout holds only what this run reads, so nothing else is loaded or allocated.
        let H = config.hiddenSize
        var headDeclarations: [HeadDeclaration] = []
        var classifier: ClassifierConfig? = nil
        if heads.contains(.classifier) {
            guard let found = try ClassifierConfig.load(checkpoint: dir) else {
                throw CheckpointError(path: dir, reason: "not a sequence classifier (config.json has no id2label and does not name BertForSequenceClassification): `predict` needs a fine-tuned classifier such as `bert-pretrain finetune` writes")
            }
            classifier = found
            headDeclarations.append(ClassifierHead.declaration(hiddenSize: H, labels: found.numLabels))
        }
        if heads.contains(.maskedLM) || heads.contains(.nextSentence) {
            headDeclarations.append(PretrainingHeads.declaration(config))
        }
        let needsPooler = !heads.intersection([.pooler, .nextSentence, .classifier]).isEmpty
        layout = ParameterLayout(config: config, pooler: needsPooler || heads.contains(.maskedLM), heads: headDeclarations)
        self.classifier = classifier
        self.maxSequences = maxSequences
        self.maxSeqLength = maxSeqLength
        maxTokens = maxSequences * maxSeqLength

        let N = maxTokens, B = maxSequences, I = config.intermediateSize, V = config.vocabSize
        let a = arena
        parameters = a.allocate(Float.self, count: layout.count)
        loadReport = try Checkpoint.load(from: dir, into: parameters, layout: layout, seed: 0, logger: nil)
        weightCopy = BF16Weights(of: parameters.baseAddress!, count: layout.count)
        var required: [(InferenceHeads, String, String)] = [
            (.pooler, "bert.pooler.dense.weight", "pooler (bert.pooler.*)"),
            (.classifier, "classifier.weight", "classifier (classifier.*)"),
            (.maskedLM, "cls.predictions.transform.dense.weight", "masked-LM head (cls.predictions.*): fill-mask needs a BertForPreTraining or BertForMaskedLM checkpoint"),
            (.nextSentence, "cls.seq_relationship.weight", "next-sentence head (cls.seq_relationship.*): nsp needs a BertForPreTraining checkpoint"),
        ]
        if heads.contains(.nextSentence) || heads.contains(.classifier) {
            required.append((heads.intersection([.nextSentence, .classifier]), "bert.pooler.dense.weight", "pooler (bert.pooler.*), which the head reads"))
        }
        for (head, name, what) in required where heads.contains(head) && loadReport.initialized.contains(name) {
            throw CheckpointError(path: dir, reason: "checkpoint has no \(what)")
        }

        x = a.allocate(Float.self, count: N * H)
        qkv = a.allocate(Float.self, count: N * 3 * H)
        ctx = a.allocate(Float.self, count: N * H)
        tmp = a.allocate(Float.self, count: N * H)
        ffn = a.allocate(Float.self, count: N * I)
        mean = a.allocate(Float.self, count: N)
        rstd = a.allocate(Float.self, count: N)
        attentionScratch = a.allocate(Float.self, count: Parallel.threads * attentionScratchPerWorker(seq: maxSeqLength))
        var kept: [Int: UnsafeMutableBufferPointer<Float>] = [:]
        for index in Set(keptLayers) where index != L { kept[index] = a.allocate(Float.self, count: N * H) }
        self.kept = kept
        first = a.allocate(Float.self, count: B * H)
        pooledOut = a.allocate(Float.self, count: needsPooler ? B * H : 0)
        nspOut = a.allocate(Float.self, count: heads.contains(.nextSentence) ? B * 2 : 0)
        logitsOut = a.allocate(Float.self, count: B * (classifier?.numLabels ?? 0))
        rows = SequenceRows(capacity: B)
        firstRowsOnly = !heads.isEmpty && heads.isSubset(of: [.nextSentence, .classifier]) && keptLayers.allSatisfy { $0 == L }
        readPositions = ReadPositions(sequences: B, rows: B)
        readInput = a.allocate(Float.self, count: firstRowsOnly ? B * H : 0)
        let M = heads.contains(.maskedLM) ? Self.maskedChunk : 0
        maskedIn = a.allocate(Float.self, count: M * H)
        maskedPre = a.allocate(Float.self, count: M * H)
        maskedOut = a.allocate(Float.self, count: M * H)
        maskedLogits = a.allocate(Float.self, count: M * V)
    }

    /// Bytes of parameters, working buffers and scratch.
    public var bytes: Int { arena.bytes }

    private var eps: Float { Float(config.layerNormEps) }

    /// Runs the encoder over B packed sequences: `lengths[b]` tokens each, concatenated in `inputIds`
    /// and `segmentIds`. Checks every id first; errors name the sequence and position.
    public func forward(inputIds ids: UnsafePointer<Int32>, segmentIds segs: UnsafePointer<Int32>,
                        lengths: UnsafePointer<Int>, sequences B: Int) throws {
        guard B >= 1, B <= maxSequences else { throw BertInputError.batchTooLarge(batch: B, capacity: maxSequences) }
        var start = 0
        for b in 0..<B {
            let T = lengths[b]
            guard T >= 1, T <= maxSeqLength else {
                throw BertInputError.sequenceTooLong(length: T, capacity: maxSeqLength, maxPositionEmbeddings: config.maxPositionEmbeddings)
            }
            defer { start += T }
            for t in 0..<T {
                let i = start + t
                if ids[i] < 0 || Int(ids[i]) >= config.vocabSize {
                    throw BertInputError.tokenOutOfRange(sequence: b, position: t, id: ids[i], vocabSize: config.vocabSize)
                }
                if segs[i] < 0 || Int(segs[i]) >= config.typeVocabSize {
                    throw BertInputError.segmentOutOfRange(sequence: b, position: t, id: segs[i], typeVocabSize: config.typeVocabSize)
                }
            }
        }
        if MatrixProducts.path == .onednnBF16 && MatrixProducts.weights !== weightCopy { weightCopy.refresh() }
        rows.pack(sequences: B) { lengths[$0] }
        let N = rows.count, H = config.hiddenSize, I = config.intermediateSize
        tokenCount = N
        sequenceCount = B
        pooledReady = false

        let p = UnsafePointer(parameters.baseAddress!), e = layout.embeddings
        let x = self.x.baseAddress!, tmp = self.tmp.baseAddress!
        // Embeddings: positions restart at 0 in every sequence.
        embeddingSumForward(tmp, inputIds: ids, segmentIds: segs, word: p + e.word, position: p + e.position,
                            tokenType: p + e.tokenType, rows: rows, hidden: H)
        layerNormForward(x, mean: mean.baseAddress!, rstd: rstd.baseAddress!, tmp, gamma: p + e.lnGamma, beta: p + e.lnBeta,
                         rows: N, channels: H, eps: eps)
        keep(0)
        let shape = AttentionShape(heads: config.numAttentionHeads, headSize: config.headSize)
        for (l, w) in layout.layers.enumerated() {
            // M rows after attention: every row, or (the last layer of a run that reads only the pooler) each
            // sequence's first row, in x's first B rows: keys and values of every row, the rest at [CLS] only.
            let M: Int
            if firstRowsOnly && l == layout.layers.count - 1 {
                M = B
                let kv = qkv.baseAddress!, q = kv + N * 2 * H, xs = readInput.baseAddress!
                for b in 0..<B { (xs + b * H).update(from: x + rows.start(b) * H, count: H) }
                linearForward(kv, x, weight: p + w.qkvWeight + H * H, bias: p + w.qkvBias + H, rows: N, inFeatures: H, outFeatures: 2 * H)
                linearForward(q, xs, weight: p + w.qkvWeight, bias: p + w.qkvBias, rows: B, inFeatures: H, outFeatures: H)
                readPositions.firstPositions(sequences: B)
                readPositions.placeBlocks(keys: rows)
                attentionForward(ctx: ctx.baseAddress!, probs: nil, keep: nil,
                                 operands: AttentionOperands(q: q, k: kv, v: kv + H, qStride: H, kvStride: 2 * H),
                                 keys: rows, queries: readPositions.queries, shape: shape, dropProbability: 0,
                                 sequenceKeys: nil, layer: l, scratch: attentionScratch)
                x.update(from: xs, count: B * H)
            } else {
                M = N
                linearForward(qkv.baseAddress!, x, weight: p + w.qkvWeight, bias: p + w.qkvBias, rows: N, inFeatures: H, outFeatures: 3 * H)
                attentionForward(ctx: ctx.baseAddress!, probs: nil, keep: nil, qkv: qkv.baseAddress!, rows: rows, shape: shape,
                                 dropProbability: 0, sequenceKeys: nil, layer: l, scratch: attentionScratch)
            }
            linearForward(tmp, ctx.baseAddress!, weight: p + w.attnOutWeight, bias: p + w.attnOutBias, rows: M, inFeatures: H, outFeatures: H)
            addResidualAndNormalize(x, tmp, gamma: p + w.attnLnGamma, beta: p + w.attnLnBeta, rows: M)
            linearForward(ffn.baseAddress!, x, weight: p + w.interWeight, bias: p + w.interBias, rows: M, inFeatures: H, outFeatures: I)
            geluForward(ffn.baseAddress!, ffn.baseAddress!, count: M * I, activation: config.hiddenAct)
            linearForward(tmp, ffn.baseAddress!, weight: p + w.outWeight, bias: p + w.outBias, rows: M, inFeatures: I, outFeatures: H)
            addResidualAndNormalize(x, tmp, gamma: p + w.outLnGamma, beta: p + w.outLnBeta, rows: M)
            keep(l + 1)
        }
    }

    /// x = LayerNorm(tmp + x), the sum formed in tmp.
    private func addResidualAndNormalize(_ x: UnsafeMutablePointer<Float>, _ tmp: UnsafeMutablePointer<Float>,
                                         gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, rows N: Int) {
        let H = config.hiddenSize
        Parallel.forEachChunk(N * H) { range in
            for i in range { tmp[i] += x[i] }
        }
        layerNormForward(x, mean: mean.baseAddress!, rstd: rstd.baseAddress!, tmp, gamma: gamma, beta: beta,
                         rows: N, channels: config.hiddenSize, eps: eps)
    }

    private func keep(_ index: Int) {
        guard let copy = kept[index] else { return }
        copy.baseAddress!.update(from: x.baseAddress!, count: tokenCount * config.hiddenSize)
    }

    /// Hidden state `index` (as given in `keepLayers`, after normalisation) of the last forward: [N, H]
    /// packed rows, sequence b at rows `rows(of: b)`.
    public func hidden(_ index: Int) -> UnsafePointer<Float> {
        precondition(!(firstRowsOnly && index == config.numHiddenLayers), "the last layer was computed at the first rows only")
        if index == config.numHiddenLayers { return UnsafePointer(x.baseAddress!) }
        guard let copy = kept[index] else { preconditionFailure("hidden state \(index) was not kept (keepLayers \(keptLayers))") }
        return UnsafePointer(copy.baseAddress!)
    }

    /// Packed rows of sequence b in the last forward.
    public func rows(of b: Int) -> Range<Int> { rows.rows(of: b) }

    /// Pooler output [B, H] of the last forward: tanh(W·h[CLS] + b).
    public func pooled() -> UnsafePointer<Float> {
        guard let pooler = layout.pooler else { preconditionFailure("this model was loaded without a pooler") }
        if !pooledReady {
            let p = UnsafePointer(parameters.baseAddress!)
            poolerForward(pooledOut.baseAddress!, first: first.baseAddress!, hidden: x.baseAddress!,
                          rows: firstRowsOnly ? readPositions.rows : rows,
                          weight: p + pooler.weight, bias: p + pooler.bias, hiddenSize: config.hiddenSize)
            pooledReady = true
        }
        return UnsafePointer(pooledOut.baseAddress!)
    }

    /// Next-sentence logits [B, 2] of the last forward (index 0 = B follows A).
    public func nextSentenceLogits() -> UnsafePointer<Float> {
        let heads = PretrainingHeads.Offsets(layout), p = UnsafePointer(parameters.baseAddress!)
        linearForward(nspOut.baseAddress!, pooled(), weight: p + heads.nspWeight, bias: p + heads.nspBias,
                      rows: sequenceCount, inFeatures: config.hiddenSize, outFeatures: 2)
        return UnsafePointer(nspOut.baseAddress!)
    }

    /// Classifier logits [B, C] of the last forward (pooled → classifier; dropout is off).
    public func classifierLogits() -> UnsafePointer<Float> {
        guard let classifier else { preconditionFailure("this model was loaded without a classifier") }
        let p = UnsafePointer(parameters.baseAddress!)
        linearForward(logitsOut.baseAddress!, pooled(), weight: p + layout.offset(of: "classifier.weight"),
                      bias: p + layout.offset(of: "classifier.bias"), rows: sequenceCount,
                      inFeatures: config.hiddenSize, outFeatures: classifier.numLabels)
        return UnsafePointer(logitsOut.baseAddress!)
    }

    /// The masked-LM distribution over the vocabulary at packed rows `rows` of the last forward:
    /// `body(i, probabilities[V])` for each rows[i], in order, computed `maskedChunk` rows at a time.
    public func maskedLMProbabilities(rows: [Int], _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void) rethrows {
        let heads = PretrainingHeads.Offsets(layout), p = UnsafePointer(parameters.baseAddress!), e = layout.embeddings
        let H = config.hiddenSize, V = config.vocabSize
        var start = 0
        while start < rows.count {
            let M = min(Self.maskedChunk, rows.count - start)
            for m in 0..<M {
                let row = rows[start + m]
                precondition(row >= 0 && row < tokenCount, "masked row \(row) outside 0..<\(tokenCount)")
                (maskedIn.baseAddress! + m * H).update(from: x.baseAddress! + row * H, count: H)
            }
            linearForward(maskedPre.baseAddress!, maskedIn.baseAddress!, weight: p + heads.transformWeight,
                          bias: p + heads.transformBias, rows: M, inFeatures: H, outFeatures: H)
            geluForward(maskedPre.baseAddress!, maskedPre.baseAddress!, count: M * H, activation: config.hiddenAct)
            layerNormForward(maskedOut.baseAddress!, mean: mean.baseAddress!, rstd: rstd.baseAddress!, maskedPre.baseAddress!,
                             gamma: p + heads.transformLnGamma, beta: p + heads.transformLnBeta, rows: M, channels: H, eps: eps)
            // The decoder is the word-embedding matrix (tied), with its own output bias.
            linearForward(maskedLogits.baseAddress!, maskedOut.baseAddress!, weight: p + e.word, bias: p + heads.mlmBias,
                          rows: M, inFeatures: H, outFeatures: V)
            for m in 0..<M {
                let row = maskedLogits.baseAddress! + m * V
                softmaxInPlace(row, count: V)
                try body(start + m, UnsafeBufferPointer(start: row, count: V))
            }
            start += M
        }
    }
}

/// row = softmax(row), exactly (exp, not the fast approximation: scores are reported to users).
public func softmaxInPlace(_ row: UnsafeMutablePointer<Float>, count n: Int) {
    var maxValue = -Float.infinity
    for j in 0..<n { maxValue = max(maxValue, row[j]) }
    var sum: Double = 0
    for j in 0..<n { row[j] = Foundation.exp(row[j] - maxValue); sum += Double(row[j]) }
    let inverse = Float(1 / sum)
    for j in 0..<n { row[j] *= inverse }
}
