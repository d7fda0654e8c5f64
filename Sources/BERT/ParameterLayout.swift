// ParameterLayout: where every parameter tensor lives in the one flat Float buffer.
//
// Built once from the config (llm.c's `fill_in_parameter_sizes`, but with names):
// the same layout indexes parameters, gradients and both optimizer moments, names
// the tensors of a checkpoint (Hugging Face keys) and cuts the gradient into
// all-reduce buckets. Typed views (`EmbeddingOffsets`, `LayerOffsets`,
// `PoolerOffsets`) are computed here once, so forward and backward never repeat
// pointer arithmetic.
//
// The layout is built from sections: the encoder (always), the pooler (optional), then
// each head's tensors as the head declares them (`HeadDeclaration`). A classifier's
// layout therefore carries no MLM/NSP tensors: none all-reduced, decayed or saved.
//
// Order in memory: embeddings, then layers 0..L-1, then pooler and heads. Inside a
// layer query/key/value weights are adjacent ([3H, H]) and so are their biases
// ([3H]), so Q, K and V come out of one GEMM. Linear weights are [out, in] as in
// PyTorch, so y = x·Wᵀ + b.

/// One named tensor of the flat buffer.
import Randomness

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
    /// A checkpoint may lack it (pooler, heads): then it is initialised fresh, with a warning.
    /// Encoder tensors must be in every checkpoint.
    public let mayBeMissing: Bool

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

/// Offsets of the pooler (BertPooler: dense + tanh on position 0).
public struct PoolerOffsets: Sendable {
    public let weight: Int   // [H, H]
    public let bias: Int     // [H]
}

/// One tensor a head adds to the layout (HF key, PyTorch shape, whether weight decay applies).
public struct TensorDeclaration: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let decays: Bool
    public init(_ name: String, _ shape: [Int], decays: Bool) {
        self.name = name
        self.shape = shape
        self.decays = decays
    }
}

/// A head's tensors, in memory order. Heads may be missing from a checkpoint (a headless
/// `BertModel`, a pretraining checkpoint under a new classifier): they are then initialised.
public struct HeadDeclaration: Sendable, Equatable {
    public let name: String
    public let tensors: [TensorDeclaration]
    public init(name: String, tensors: [TensorDeclaration]) {
        self.name = name
        self.tensors = tensors
    }
}

public struct ParameterLayout: Sendable {
    public let config: BertConfig
    public let tensors: [TensorSpec]
    /// Total number of Float parameters.
    public let count: Int
    public let embeddings: EmbeddingOffsets
    public let layers: [LayerOffsets]
    /// nil when the layout has no pooler (a model that never reads the pooled output).
    public let pooler: PoolerOffsets?
    /// The embedding tensors as one contiguous range.
    public let embeddingRange: Range<Int>
    /// Pooler and heads: everything after the last encoder layer (one all-reduce bucket).
    public let headRange: Range<Int>
    /// The heads' names, in memory order.
    public let headNames: [String]

    private let indexByName: [String: Int]

    /// The pretraining layout (HF `BertForPreTraining`): encoder, pooler, MLM and NSP heads.
    public init(config: BertConfig) {
        self.init(config: config, pooler: true, heads: [PretrainingHeads.declaration(config)])
    }

    /// Encoder, then the pooler if asked for, then each head's tensors.
    public init(config: BertConfig, pooler hasPooler: Bool, heads: [HeadDeclaration]) {
        self.config = config
        let H = config.hiddenSize, I = config.intermediateSize, V = config.vocabSize
        var tensors: [TensorSpec] = []
        var offset = 0
        var currentLayer: Int? = nil
        var mayBeMissing = false
        @discardableResult
        func add(_ name: String, _ shape: [Int], decays: Bool) -> Int {
            let spec = TensorSpec(name: name, shape: shape, offset: offset, decays: decays, layer: currentLayer,
                                  mayBeMissing: mayBeMissing)
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

        // Pooler and heads: a checkpoint may lack them.
        mayBeMissing = true
        let headStart = offset
        pooler = hasPooler
            ? PoolerOffsets(weight: add("bert.pooler.dense.weight", [H, H], decays: true),
                            bias: add("bert.pooler.dense.bias", [H], decays: false))
            : nil
        for head in heads {
            for t in head.tensors { add(t.name, t.shape, decays: t.decays) }
        }
        headRange = headStart..<offset
        headNames = heads.map(\.name)

        self.tensors = tensors
        self.count = offset
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() {
            precondition(index[t.name] == nil, "tensor \(t.name) declared twice")
            index[t.name] = i
        }
        self.indexByName = index
    }

    public func tensor(named name: String) -> TensorSpec? {
        indexByName[name].map { tensors[$0] }
    }

    /// Offset of a tensor the model declared itself (a missing name is a programming error).
    public func offset(of name: String) -> Int {
        guard let spec = tensor(named: name) else { preconditionFailure("the layout has no tensor \(name)") }
        return spec.offset
    }
}

extension ParameterLayout {
    /// HF `_init_weights`: N(0, initializer_range) for linear and embedding weights, zero biases,
    /// LayerNorm γ=1 β=0, and the [PAD] row of the word embeddings 0 (nn.Embedding padding_idx).
    /// Deterministic in `seed`.
    public func initializeWeights(_ parameters: UnsafeMutableBufferPointer<Float>, seed: UInt64) {
        precondition(parameters.count == count, "parameter buffer has \(parameters.count) floats, the layout \(count)")
        var rng = SplitMix64(seed: seed)
        for spec in tensors {
            Checkpoint.initialize(spec, in: parameters, std: Float(config.initializerRange), rng: &rng)
        }
        let word = embeddings.word + Int(bertPadTokenId) * config.hiddenSize
        parameters.baseAddress!.advanced(by: word).update(repeating: 0, count: config.hiddenSize)
    }
}
