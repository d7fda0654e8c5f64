// BertConfig: the Hugging Face `config.json` of a BERT model, with the reference
// defaults of google-research/bert `modeling.py` / HF `BertConfig`.

import Foundation

/// The hidden activation, named as in `config.json`. The spelling read is kept so
/// that it is written back as used.
public enum Activation: Equatable, Sendable {
    /// Exact GELU, x·Φ(x) with Φ through erf ("gelu").
    case gelu
    /// The tanh approximation ("gelu_new", "gelu_pytorch_tanh", "gelu_fast" spelled as read).
    case geluTanh(name: String)

    public init(name: String) throws {
        switch name {
        case "gelu": self = .gelu
        // HF's FastGELUActivation ("gelu_fast") is the same formula as "gelu_new", written 0.7978845608·x·(1 + 0.044715x²).
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh(name: name)
        default:
            throw ConfigError.invalid(field: "hidden_act",
                                      reason: "unknown activation \"\(name)\" (expected gelu, gelu_new, gelu_pytorch_tanh or gelu_fast)")
        }
    }

    public var name: String {
        switch self {
        case .gelu: return "gelu"
        case .geluTanh(let name): return name
        }
    }
}

public enum ConfigError: Error, CustomStringConvertible {
    case invalid(field: String, reason: String)
    case unreadable(path: String, reason: String)
    case unknownPreset(String)
    /// The model would not fit: bytes needed (nil: more than Int.max), what for, and the machine's memory.
    case tooLarge(needed: Int?, breakdown: String, physical: Int)

    public var description: String {
        switch self {
        case .invalid(let field, let reason): return "invalid BERT config: \(field): \(reason)"
        case .tooLarge(let needed, let breakdown, let physical):
            return "the model needs \(needed.map(MemoryRequirement.text) ?? "more than 8 EiB") per rank (\(breakdown)) but this machine has \(MemoryRequirement.text(physical)) of physical memory: choose a smaller model, batch size or sequence length"
        case .unreadable(let path, let reason): return "cannot read BERT config \(path): \(reason)"
        case .unknownPreset(let name):
            return "unknown config \"\(name)\": give a preset (\(BertConfig.presetNames.joined(separator: ", "))) or a path to config.json"
        }
    }
}

/// Field names follow HF `config.json` (snake_case there, camelCase here).
public struct BertConfig: Equatable, Sendable {
    /// Size of the WordPiece vocabulary (rows of the word-embedding matrix).
    public var vocabSize: Int = 30522
    /// Width of every hidden state.
    public var hiddenSize: Int = 768
    /// Number of transformer layers.
    public var numHiddenLayers: Int = 12
    /// Attention heads per layer; hiddenSize must divide evenly among them.
    public var numAttentionHeads: Int = 12
    /// Width of the feed-forward layer.
    public var intermediateSize: Int = 3072
    /// Activation of the feed-forward layer and the MLM transform.
    public var hiddenAct: Activation = .gelu
    /// Dropout on embeddings and every sub-layer output.
    public var hiddenDropoutProb: Double = 0.1
    /// Dropout on the attention probabilities.
    public var attentionProbsDropoutProb: Double = 0.1
    /// Longest sequence the position embeddings cover.
    public var maxPositionEmbeddings: Int = 512
    /// Number of segment (token type) ids.
    public var typeVocabSize: Int = 2
    /// Standard deviation of the N(0, σ) weight initialisation.
    public var initializerRange: Double = 0.02
    /// Epsilon inside every LayerNorm.
    public var layerNormEps: Double = 1e-12

    public init() {}

    public var headSize: Int { hiddenSize / numAttentionHeads }

    // MARK: Presets (Google's BERT miniatures and the two originals)

    public static let presetNames = ["bert-tiny", "bert-mini", "bert-small", "bert-medium", "bert-base", "bert-large"]

    public static func preset(_ name: String) -> BertConfig? {
        func make(_ layers: Int, _ hidden: Int, _ heads: Int) -> BertConfig {
            var c = BertConfig()
            c.numHiddenLayers = layers
            c.hiddenSize = hidden
            c.numAttentionHeads = heads
            c.intermediateSize = 4 * hidden
            return c
        }
        switch name {
        case "bert-tiny": return make(2, 128, 2)
        case "bert-mini": return make(4, 256, 4)
        case "bert-small": return make(4, 512, 8)
        case "bert-medium": return make(8, 512, 8)
        case "bert-base": return make(12, 768, 12)
        case "bert-large": return make(24, 1024, 16)
        default: return nil
        }
    }

    /// A preset name or a path to a `config.json` (or a directory holding one).
    public static func named(_ nameOrPath: String) throws -> BertConfig {
        if let preset = preset(nameOrPath) { return preset }
        var path = nameOrPath
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            if isDir.boolValue { path = (path as NSString).appendingPathComponent("config.json") }
            return try load(path: path)
        }
        throw ConfigError.unknownPreset(nameOrPath)
    }

    // MARK: Validation

    /// Rejects configs the model cannot run; messages name the field.
    public func validate() throws {
        func positive(_ value: Int, _ field: String) throws {
            if value <= 0 { throw ConfigError.invalid(field: field, reason: "must be positive, got \(value)") }
        }
        try positive(vocabSize, "vocab_size")
        try positive(hiddenSize, "hidden_size")
        try positive(numHiddenLayers, "num_hidden_layers")
        try positive(numAttentionHeads, "num_attention_heads")
        try positive(intermediateSize, "intermediate_size")
        try positive(maxPositionEmbeddings, "max_position_embeddings")
        try positive(typeVocabSize, "type_vocab_size")
        // Token ids, positions and counts are 32-bit in shards and batches; the bound also keeps every
        // size product below in Int range until the overflow-checked memory estimate (MemoryRequirement).
        for (value, field) in [(vocabSize, "vocab_size"), (hiddenSize, "hidden_size"), (numHiddenLayers, "num_hidden_layers"),
                               (numAttentionHeads, "num_attention_heads"), (intermediateSize, "intermediate_size"),
                               (maxPositionEmbeddings, "max_position_embeddings"), (typeVocabSize, "type_vocab_size")]
            where value > BertConfig.maxSize {
            throw ConfigError.invalid(field: field, reason: "\(value) exceeds the limit \(BertConfig.maxSize) (ids and sizes are 32-bit)")
        }
        if hiddenSize % numAttentionHeads != 0 {
            throw ConfigError.invalid(field: "hidden_size",
                                      reason: "\(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads)")
        }
        // [PAD] [UNK] [CLS] [SEP] [MASK] plus at least one real token.
        if vocabSize < 6 {
            throw ConfigError.invalid(field: "vocab_size", reason: "\(vocabSize) leaves no room for the 5 special tokens and a word")
        }
        for (value, field) in [(hiddenDropoutProb, "hidden_dropout_prob"), (attentionProbsDropoutProb, "attention_probs_dropout_prob")] {
            if !(value >= 0 && value < 1) { throw ConfigError.invalid(field: field, reason: "must be in [0, 1), got \(value)") }
        }
        if !(initializerRange > 0 && initializerRange.isFinite) {
            throw ConfigError.invalid(field: "initializer_range", reason: "must be positive, got \(initializerRange)")
        }
        if !(layerNormEps > 0 && layerNormEps.isFinite) {
            throw ConfigError.invalid(field: "layer_norm_eps", reason: "must be positive, got \(layerNormEps)")
        }
    }

    /// Largest value of any size field (Int32.max).
    public static let maxSize = Int(Int32.max)

    /// Number of Float parameters (ParameterLayout's count), nil when it overflows Int.
    public var parameterCount: Int? {
        let H = hiddenSize, I = intermediateSize, V = vocabSize
        var n = MemoryRequirement.Sum()
        n.add(V, H); n.add(maxPositionEmbeddings, H); n.add(typeVocabSize, H); n.add(2, H)   // embeddings
        var layer = MemoryRequirement.Sum()
        layer.add(4, H, H); layer.add(2, H, I); layer.add(9, H); layer.add(I)
        n.add(numHiddenLayers, layer.value ?? Int.max)
        n.add(2, H, H); n.add(6, H); n.add(V); n.add(2)                                    // pooler, heads
        return n.value
    }

    // MARK: config.json

    /// Reads an HF `config.json`; fields it lacks keep the reference defaults.
    public static func load(path: String) throws -> BertConfig {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConfigError.unreadable(path: path, reason: error.localizedDescription)
        }
        do { return try decode(json: data) } catch let e as ConfigError {
            throw ConfigError.unreadable(path: path, reason: e.description)
        }
    }

    public static func decode(json data: Data) throws -> BertConfig {
        guard let object = try? JSONSerialization.jsonObject(with: data), let dict = object as? [String: Any] else {
            throw ConfigError.invalid(field: "config.json", reason: "not a JSON object")
        }
        var c = BertConfig()
        func int(_ key: String, _ target: inout Int) throws {
            guard let v = dict[key] else { return }
            guard let n = v as? NSNumber, Double(n.intValue) == n.doubleValue else {
                throw ConfigError.invalid(field: key, reason: "expected an integer, got \(v)")
            }
            target = n.intValue
        }
        func double(_ key: String, _ target: inout Double) throws {
            guard let v = dict[key] else { return }
            guard let n = v as? NSNumber else { throw ConfigError.invalid(field: key, reason: "expected a number, got \(v)") }
            target = n.doubleValue
        }
        try int("vocab_size", &c.vocabSize)
        try int("hidden_size", &c.hiddenSize)
        try int("num_hidden_layers", &c.numHiddenLayers)
        try int("num_attention_heads", &c.numAttentionHeads)
        try int("intermediate_size", &c.intermediateSize)
        try int("max_position_embeddings", &c.maxPositionEmbeddings)
        try int("type_vocab_size", &c.typeVocabSize)
        try double("hidden_dropout_prob", &c.hiddenDropoutProb)
        try double("attention_probs_dropout_prob", &c.attentionProbsDropoutProb)
        try double("initializer_range", &c.initializerRange)
        try double("layer_norm_eps", &c.layerNormEps)
        if let act = dict["hidden_act"] {
            guard let name = act as? String else { throw ConfigError.invalid(field: "hidden_act", reason: "expected a string") }
            c.hiddenAct = try Activation(name: name)
        }
        if let type = dict["position_embedding_type"] as? String, type != "absolute" {
            throw ConfigError.invalid(field: "position_embedding_type", reason: "only \"absolute\" is supported, got \"\(type)\"")
        }
        try c.validate()
        return c
    }

    /// The `config.json` text of a `BertForPreTraining` checkpoint with these settings.
    public func jsonData() -> Data {
        struct File: Encodable {
            let architectures = ["BertForPreTraining"]
            let attention_probs_dropout_prob: Double
            let hidden_act: String
            let hidden_dropout_prob: Double
            let hidden_size: Int
            let initializer_range: Double
            let intermediate_size: Int
            let layer_norm_eps: Double
            let max_position_embeddings: Int
            let model_type = "bert"
            let num_attention_heads: Int
            let num_hidden_layers: Int
            let pad_token_id = 0
            let position_embedding_type = "absolute"
            let torch_dtype = "float32"
            let type_vocab_size: Int
            let vocab_size: Int
        }
        let file = File(attention_probs_dropout_prob: attentionProbsDropoutProb, hidden_act: hiddenAct.name,
                        hidden_dropout_prob: hiddenDropoutProb, hidden_size: hiddenSize, initializer_range: initializerRange,
                        intermediate_size: intermediateSize, layer_norm_eps: layerNormEps,
                        max_position_embeddings: maxPositionEmbeddings, num_attention_heads: numAttentionHeads,
                        num_hidden_layers: numHiddenLayers, type_vocab_size: typeVocabSize, vocab_size: vocabSize)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Finite by validate(): encoding cannot fail.
        return try! encoder.encode(file) + Data("\n".utf8)
    }
}

// MARK: Memory

/// What a model of this config takes in memory for training on one rank, computed before anything is
/// allocated and with overflow-checked arithmetic: parameters, gradients, optimizer moments, and the
/// activations and scratch that BertEncoder and BertForPreTraining allocate for the largest batch.
public struct MemoryRequirement {
    /// Bytes of parameters, gradients, optimizer moments, activations (nil: overflow), and their sum.
    public let parameters, gradients, optimizerMoments, activations, total: Int?

    /// `optimizerMoments`: Float copies of the parameters the optimizer keeps (AdamW 2, LAMB 3, inference 0).
    public init(config c: BertConfig, maxBatch B: Int, maxSeqLength T: Int, maxPredictions P: Int, optimizerMoments copies: Int) {
        let count = c.parameterCount
        func floats(_ copies: Int) -> Int? {
            guard let count else { return nil }
            var s = Sum(); s.add(copies, count, 4); return s.value
        }
        parameters = floats(1)
        gradients = floats(1)
        optimizerMoments = floats(copies)
        let H = c.hiddenSize, I = c.intermediateSize, A = c.numAttentionHeads, L = c.numHiddenLayers, V = c.vocabSize
        var a = Sum()   // in elements of 4 bytes, dropout masks (1 byte) counted as 4: an upper bound
        var N = Sum(); N.add(B, T)
        let n = N.value ?? Int.max
        var M = Sum(); M.add(B, P)
        let m = M.value ?? Int.max
        // Encoder: inputs, embeddings, L+1 hidden states, per layer, shared scratch.
        a.add(6, n); a.add(2, n, H)
        a.add(L + 1, n, H)
        var layer = Sum()
        layer.add(10, n, H); layer.add(n, I); layer.add(4, n); layer.add(2, B, A, T, T)
        a.add(L, layer.value ?? Int.max)
        a.add(2, n, I); a.add(7, n, H); a.add(Parallel.threads, 2, T, T)
        // Pretraining heads.
        a.add(4, m); a.add(3, B); a.add(2, B, H); a.add(6, m, H); a.add(m, V); a.add(n, H)
        var bytes = Sum(); bytes.add(4, a.value ?? Int.max)
        activations = bytes.value
        var total = Sum()
        for part in [parameters, gradients, optimizerMoments, activations] { total.add(part ?? Int.max) }
        self.total = total.value
    }

    /// Throws ConfigError.tooLarge when `total` exceeds the machine's physical memory.
    public func check(physical: Int = MemoryRequirement.physicalMemory) throws {
        if let total, total <= physical { return }
        func part(_ name: String, _ bytes: Int?) -> String { "\(name) \(bytes.map(MemoryRequirement.text) ?? "overflow")" }
        let breakdown = [part("parameters", parameters), part("gradients", gradients),
                         part("optimizer moments", optimizerMoments), part("activations", activations)].joined(separator: ", ")
        throw ConfigError.tooLarge(needed: total, breakdown: breakdown, physical: physical)
    }

    /// Physical memory of this machine (sysconf), in bytes.
    public static var physicalMemory: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return Int.max }
        return pages.multipliedReportingOverflow(by: size).overflow ? Int.max : pages * size
    }

    /// Bytes in binary units: "1.5 GiB".
    public static func text(_ bytes: Int) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes), unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(bytes) bytes" : String(format: "%.1f", value) + " " + units[unit]
    }

    /// A sum of products of non-negative Ints that turns nil on overflow (and stays nil).
    struct Sum {
        private(set) var value: Int? = 0
        mutating func add(_ factors: Int...) {
            guard let current = value else { return }
            var product = 1
            for f in factors {
                let (p, overflow) = product.multipliedReportingOverflow(by: f)
                if overflow || f < 0 { value = nil; return }
                product = p
            }
            let (s, overflow) = current.addingReportingOverflow(product)
            value = overflow ? nil : s
        }
    }
}
