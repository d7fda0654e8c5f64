// ParameterLayout: where every parameter tensor lives in the one flat Float buffer.
//
// Built once from the config (llm.c's `fill_in_parameter_sizes`, but with names):
// the same layout indexes parameters, gradients and both optimizer moments, names
// the tensors of a checkpoint (Hugging Face keys) and cuts the gradient into
// all-reduce buckets. Typed views (`EmbeddingOffsets`, `LayerOffsets`,
// `HeadOffsets`) are computed here once, so forward and backward never repeat
// pointer arithmetic.
//
// Order in memory: embeddings, then layers 0..L-1, then pooler and heads. Inside a
// layer query/key/value weights are adjacent ([3H, H]) and so are their biases
// ([3H]), so Q, K and V come out of one GEMM. Linear weights are [out, in] as in
// PyTorch, so y = x·Wᵀ + b.

/// One named tensor of the flat buffer.
public struct TensorSpec: Sendable, Equatable {
    /// The Hugging Face `BertForPreTraining` key.
    public let name: String
    /// PyTorch shape; linear weights are [out_features, in_features].
    public let shape: [Int]
    /// First element in the flat buffer.
    public let offset: Int
    /// Whether AdamW/LAMB apply weight decay (not to biases or LayerNorm parameters).
    public let decays: Bool
    /// Encoder layer the tensor belongs to, nil for embeddings, pooler and heads.
    public let layer: Int?

    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<(offset + count) }
}

/// Offsets of the embedding tensors. V = vocab, P = max positions, T = type vocab, H = hidden.
public struct EmbeddingOffsets: Sendable {
    public let word: Int        // [V, H], also the tied MLM decoder
    public let position: Int    // [P, H]
    public let tokenType: Int   // [T, H]
    public let lnGamma: Int     // [H]
    public let lnBeta: Int      // [H]
}

/// Offsets of one encoder layer. H = hidden, I = intermediate.
public struct LayerOffsets: Sendable {
    public let qkvWeight: Int       // [3H, H]: query, key, value weights stacked
    public let qkvBias: Int         // [3H]
    public let attnOutWeight: Int   // [H, H]
    public let attnOutBias: Int     // [H]
    public let attnLnGamma: Int     // [H]
    public let attnLnBeta: Int      // [H]
    public let interWeight: Int     // [I, H]
    public let interBias: Int       // [I]
    public let outWeight: Int       // [H, I]
    public let outBias: Int         // [H]
    public let outLnGamma: Int      // [H]
    public let outLnBeta: Int       // [H]
    /// The whole layer as one contiguous range (an all-reduce bucket).
    public let range: Range<Int>
}

/// Offsets of the pooler and the two pretraining heads.
public struct HeadOffsets: Sendable {
    public let poolerWeight: Int     // [H, H]
    public let poolerBias: Int       // [H]
    public let transformWeight: Int  // [H, H]  MLM transform dense
    public let transformBias: Int    // [H]
    public let transformLnGamma: Int // [H]
    public let transformLnBeta: Int  // [H]
    public let mlmBias: Int          // [V]     output bias of the tied decoder
    public let nspWeight: Int        // [2, H]
    public let nspBias: Int          // [2]
    public let range: Range<Int>
}

public struct ParameterLayout: Sendable {
    public let config: BertConfig
    public let tensors: [TensorSpec]
    /// Total number of Float parameters.
    public let count: Int
    public let embeddings: EmbeddingOffsets
    public let layers: [LayerOffsets]
    public let heads: HeadOffsets
    /// The embedding tensors as one contiguous range.
    public let embeddingRange: Range<Int>

    private let indexByName: [String: Int]

    public init(config: BertConfig) {
        self.config = config
        let H = config.hiddenSize, I = config.intermediateSize, V = config.vocabSize
        var tensors: [TensorSpec] = []
        var offset = 0
        var currentLayer: Int? = nil
        @discardableResult
        func add(_ name: String, _ shape: [Int], decays: Bool) -> Int {
            let spec = TensorSpec(name: name, shape: shape, offset: offset, decays: decays, layer: currentLayer)
            tensors.append(spec)
            offset += spec.count
            return spec.offset
        }

        let e = "bert.embeddings."
        embeddings = EmbeddingOffsets(
            word: add(e + "word_embeddings.weight", [V, H], decays: true),
            position: add(e + "position_embeddings.weight", [config.maxPositionEmbeddings, H], decays: true),
            tokenType: add(e + "token_type_embeddings.weight", [config.typeVocabSize, H], decays: true),
            lnGamma: add(e + "LayerNorm.weight", [H], decays: false),
            lnBeta: add(e + "LayerNorm.bias", [H], decays: false))
        embeddingRange = 0..<offset

        var layers: [LayerOffsets] = []
        for l in 0..<config.numHiddenLayers {
            currentLayer = l
            let p = "bert.encoder.layer.\(l)."
            let start = offset
            let qkvWeight = add(p + "attention.self.query.weight", [H, H], decays: true)
            add(p + "attention.self.key.weight", [H, H], decays: true)
            add(p + "attention.self.value.weight", [H, H], decays: true)
            let qkvBias = add(p + "attention.self.query.bias", [H], decays: false)
            add(p + "attention.self.key.bias", [H], decays: false)
            add(p + "attention.self.value.bias", [H], decays: false)
            let attnOutWeight = add(p + "attention.output.dense.weight", [H, H], decays: true)
            let attnOutBias = add(p + "attention.output.dense.bias", [H], decays: false)
            let attnLnGamma = add(p + "attention.output.LayerNorm.weight", [H], decays: false)
            let attnLnBeta = add(p + "attention.output.LayerNorm.bias", [H], decays: false)
            let interWeight = add(p + "intermediate.dense.weight", [I, H], decays: true)
            let interBias = add(p + "intermediate.dense.bias", [I], decays: false)
            let outWeight = add(p + "output.dense.weight", [H, I], decays: true)
            let outBias = add(p + "output.dense.bias", [H], decays: false)
            let outLnGamma = add(p + "output.LayerNorm.weight", [H], decays: false)
            let outLnBeta = add(p + "output.LayerNorm.bias", [H], decays: false)
            layers.append(LayerOffsets(
                qkvWeight: qkvWeight, qkvBias: qkvBias, attnOutWeight: attnOutWeight, attnOutBias: attnOutBias,
                attnLnGamma: attnLnGamma, attnLnBeta: attnLnBeta, interWeight: interWeight, interBias: interBias,
                outWeight: outWeight, outBias: outBias, outLnGamma: outLnGamma, outLnBeta: outLnBeta,
                range: start..<offset))
        }
        self.layers = layers
        currentLayer = nil

        let headStart = offset
        heads = HeadOffsets(
            poolerWeight: add("bert.pooler.dense.weight", [H, H], decays: true),
            poolerBias: add("bert.pooler.dense.bias", [H], decays: false),
            transformWeight: add("cls.predictions.transform.dense.weight", [H, H], decays: true),
            transformBias: add("cls.predictions.transform.dense.bias", [H], decays: false),
            transformLnGamma: add("cls.predictions.transform.LayerNorm.weight", [H], decays: false),
            transformLnBeta: add("cls.predictions.transform.LayerNorm.bias", [H], decays: false),
            mlmBias: add("cls.predictions.bias", [V], decays: false),
            nspWeight: add("cls.seq_relationship.weight", [2, H], decays: true),
            nspBias: add("cls.seq_relationship.bias", [2], decays: false),
            range: headStart..<offset)

        self.tensors = tensors
        self.count = offset
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.indexByName = index
    }

    public func tensor(named name: String) -> TensorSpec? {
        indexByName[name].map { tensors[$0] }
    }
}
