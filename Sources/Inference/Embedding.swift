// `embed`: sentence vectors (pooled token vectors) or per-token vectors of chosen hidden layers.
//
// For each input: for each chosen layer, the pooling modes' vectors side by side (sentence-
// transformers' order); the layers then concatenated (in the order given) or averaged; then
// L2-normalised when asked. Mean pooling is sentence-transformers' Σ mask·h / max(Σ mask, 1e-9)
// over the real tokens, [CLS] and [SEP] included; with packed batches every row is real.

import BERT
import Foundation
import Storage
import Tokenization

public enum LayerCombination: String, CaseIterable, Sendable {
    case concat, mean
}

public struct EmbeddingSettings: Sendable {
    public var pooling: [Pooling] = [.mean]
    /// HF hidden-state indices, normalised (0 = embeddings, L = last layer).
    public var layers: [Int]
    public var combine: LayerCombination = .concat
    public var normalize = false
    /// Per-token vectors with the token strings, instead of one vector per input.
    public var tokens = false
    /// Records are raw float32 rows for a .npy file instead of JSON lines.
    public var npy = false
    public init(layers: [Int]) { self.layers = layers }
}

extension EmbeddingSettings {
    /// What `embed` runs for a checkpoint: the folder of the BERT weights, the settings and the length limit.
    /// A sentence-transformers directory supplies the defaults (pooling, normalisation, max_seq_length);
    /// the arguments given (non-nil) override them.
    public static func resolve(checkpoint: String, pooling: Pooling?, normalize: Bool?, layers: [Int],
                               maxSeqLength: Int?) throws -> (modelDirectory: String, settings: EmbeddingSettings,
                                                              maxSeqLength: Int, sentenceTransformer: SentenceTransformerConfig?) {
        let st = try SentenceTransformerConfig.load(checkpoint)
        let modelDirectory = st?.modelDirectory ?? checkpoint
        let config = try Checkpoint.config(in: modelDirectory)
        var settings = EmbeddingSettings(layers: layers)
        settings.pooling = pooling.map { [$0] } ?? st?.pooling ?? [.mean]
        settings.normalize = normalize ?? st?.normalize ?? false
        if settings.pooling.contains(.pooler) && layers.contains(where: { $0 != -1 && $0 != config.numHiddenLayers }) {
            throw TextInputError(path: checkpoint, reason: "--pooling pooler reads the last layer only (--layer -1)")
        }
        let limit = min(maxSeqLength ?? st?.maxSeqLength ?? config.maxPositionEmbeddings, config.maxPositionEmbeddings)
        return (modelDirectory, settings, limit, st)
    }
}

public final class EmbeddingTask: InferenceTask {
    public let name = "embed"
    public var source = "<input>"
    public let model: BertInference
    public let settings: EmbeddingSettings
    public let vocabulary: Vocabulary
    private let packed = PackedBatch()
    private let json = recordEncoder()
    private var vector: [Float] = []

    public init(model: BertInference, settings: EmbeddingSettings, vocabulary: Vocabulary) {
        precondition(!settings.layers.isEmpty && !settings.pooling.isEmpty)
        precondition(settings.layers.allSatisfy(model.keptLayers.contains), "layers \(settings.layers) not kept by the model")
        self.model = model
        self.settings = settings
        self.vocabulary = vocabulary
    }

    /// Floats per output vector.
    public var dimension: Int {
        let H = model.config.hiddenSize
        let perLayer = settings.tokens ? H : H * settings.pooling.count
        return settings.combine == .concat ? perLayer * settings.layers.count : perLayer
    }

    public func check(_ input: EncodedInput) throws {}

    public var passThroughRecord: [UInt8] { Array("null".utf8) }

    public func records(_ batch: ArraySlice<EncodedInput>) throws -> [[UInt8]] {
        try packed.forward(model, batch)
        var out: [[UInt8]] = []
        out.reserveCapacity(batch.count)
        for (b, input) in batch.enumerated() {
            if settings.tokens {
                let rows = model.rows(of: b)
                var vectors: [[Float]] = []
                for row in rows {
                    combineLayers { layer, into in into.append(contentsOf: UnsafeBufferPointer(start: model.hidden(layer) + row * model.config.hiddenSize, count: model.config.hiddenSize)) }
                    vectors.append(vector)
                }
                struct Tokens: Encodable { let tokens: [String]; let embeddings: [[Float]] }
                out.append(try encode(Tokens(tokens: input.ids.map { vocabulary.token(of: $0) }, embeddings: vectors), input: input))
            } else {
                combineLayers { layer, into in pool(layer: layer, sequence: b, into: &into) }
                if settings.npy {
                    try checkFinite(input)
                    out.append(vector.withUnsafeBytes { Array($0) })
                } else {
                    struct Sentence: Encodable { let embedding: [Float] }
                    out.append(try encode(Sentence(embedding: vector), input: input))
                }
            }
        }
        return out
    }

    /// Fills `vector` with the chosen layers' vectors, concatenated or averaged, then normalised if asked.
    private func combineLayers(_ layerVector: (Int, inout [Float]) -> Void) {
        vector.removeAll(keepingCapacity: true)
        switch settings.combine {
        case .concat:
            for layer in settings.layers { layerVector(layer, &vector) }
        case .mean:
            var part: [Float] = []
            for (i, layer) in settings.layers.enumerated() {
                part.removeAll(keepingCapacity: true)
                layerVector(layer, &part)
                if i == 0 { vector = part } else { for j in part.indices { vector[j] += part[j] } }
            }
            let inverse = 1 / Float(settings.layers.count)
            for j in vector.indices { vector[j] *= inverse }
        }
        if settings.normalize {
            // sentence-transformers' Normalize: torch.nn.functional.normalize (x / max(‖x‖, 1e-12)).
            var sum: Double = 0
            for v in vector { sum += Double(v) * Double(v) }
            let inverse = Float(1 / max(sum.squareRoot(), 1e-12))
            for j in vector.indices { vector[j] *= inverse }
        }
    }

    /// Appends sequence b's pooled vector(s) of hidden state `layer`.
    private func pool(layer: Int, sequence b: Int, into out: inout [Float]) {
        let H = model.config.hiddenSize, rows = model.rows(of: b), h = model.hidden(layer)
        for mode in settings.pooling {
            let start = out.count
            switch mode {
            case .cls:
                out.append(contentsOf: UnsafeBufferPointer(start: h + rows.lowerBound * H, count: H))
            case .pooler:
                out.append(contentsOf: UnsafeBufferPointer(start: model.pooled() + b * H, count: H))
            case .max:
                out.append(contentsOf: UnsafeBufferPointer(start: h + rows.lowerBound * H, count: H))
                for row in rows.dropFirst() {
                    for c in 0..<H { out[start + c] = max(out[start + c], h[row * H + c]) }
                }
            case .mean, .meanSqrtLength:
                // Summed in Double: a long sequence's mean is then exact to float precision.
                var sum = [Double](repeating: 0, count: H)
                for row in rows { for c in 0..<H { sum[c] += Double(h[row * H + c]) } }
                let divisor = mode == .mean ? Double(rows.count) : Double(rows.count).squareRoot()
                out.append(contentsOf: sum.map { Float($0 / divisor) })
            }
        }
    }

    private func checkFinite(_ input: EncodedInput) throws {
        guard vector.allSatisfy(\.isFinite) else {
            throw TextInputError(path: source, line: input.line, reason: "the model produced a non-finite value (NaN or infinity)")
        }
    }

    private func encode<T: Encodable>(_ value: T, input: EncodedInput) throws -> [UInt8] {
        try encodeFinite(json, value, source: source, line: input.line)
    }
}
