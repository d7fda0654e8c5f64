// A sentence-transformers directory (design §9): an HF BertModel plus modules.json, which lists the
// Transformer (its folder: "" = the directory itself), Pooling (its config.json) and an optional
// Normalize — listed with or without a folder of its own. Its pooling, normalisation and
// max_seq_length become `embed`'s defaults, so the command gives SentenceTransformer(DIR).encode's vectors.

import Foundation

/// How token vectors become one sentence vector.
public enum Pooling: String, CaseIterable, Sendable {
    /// The [CLS] token's vector.
    case cls
    /// Σ mask·h / max(Σ mask, 1e-9) over the real tokens, [CLS] and [SEP] included (sentence-transformers).
    case mean
    /// The component-wise maximum over the real tokens.
    case max
    /// The pooler's output, tanh(W·h[CLS] + b) (last layer only).
    case pooler
    /// Σ mask·h / √(Σ mask) (sentence-transformers' `pooling_mode_mean_sqrt_len_tokens`).
    case meanSqrtLength = "mean-sqrt-len"
}

public struct SentenceTransformerConfig: Equatable, Sendable {
    /// The folder holding the BERT weights, config.json and vocab.txt.
    public var modelDirectory: String
    /// Pooling modes, concatenated in sentence-transformers' order (cls, max, mean, mean-sqrt-len).
    public var pooling: [Pooling]
    public var normalize: Bool
    public var maxSeqLength: Int?

    /// The configuration of DIR when it is a sentence-transformers directory (it has modules.json), else nil.
    public static func load(_ dir: String) throws -> SentenceTransformerConfig? {
        func path(_ parts: String...) -> String { parts.reduce(dir) { ($0 as NSString).appendingPathComponent($1) } }
        let modulesPath = path("modules.json")
        guard FileManager.default.fileExists(atPath: modulesPath) else { return nil }
        struct Module: Decodable { let path: String; let type: String }
        let modules: [Module] = try decode(modulesPath)
        var config = SentenceTransformerConfig(modelDirectory: dir, pooling: [], normalize: false, maxSeqLength: nil)
        var sawTransformer = false
        for module in modules {
            let kind = module.type.split(separator: ".").last.map(String.init) ?? module.type
            switch kind {
            case "Transformer":
                sawTransformer = true
                config.modelDirectory = module.path.isEmpty ? dir : path(module.path)
            case "Pooling":
                config.pooling = try poolingModes(path(module.path, "config.json"))
            case "Normalize":
                config.normalize = true
            default:
                throw InferenceInputError(path: modulesPath, reason: "module \"\(module.type)\" is not supported (Transformer, Pooling, Normalize)")
            }
        }
        guard sawTransformer else { throw InferenceInputError(path: modulesPath, reason: "lists no Transformer module") }
        if config.pooling.isEmpty { config.pooling = [.mean] }   // sentence-transformers' default for a bare model
        let bertConfig = path("sentence_bert_config.json")
        if FileManager.default.fileExists(atPath: bertConfig) {
            struct BertSettings: Decodable { let max_seq_length: Int? }
            config.maxSeqLength = (try decode(bertConfig) as BertSettings).max_seq_length
        }
        return config
    }

    private static func poolingModes(_ file: String) throws -> [Pooling] {
        struct Settings: Decodable {
            let pooling_mode_cls_token: Bool?
            let pooling_mode_mean_tokens: Bool?
            let pooling_mode_max_tokens: Bool?
            let pooling_mode_mean_sqrt_len_tokens: Bool?
            let pooling_mode_weightedmean_tokens: Bool?
            let pooling_mode_lasttoken: Bool?
            let include_prompt: Bool?
        }
        let s: Settings = try decode(file)
        if s.pooling_mode_weightedmean_tokens == true || s.pooling_mode_lasttoken == true {
            throw InferenceInputError(path: file, reason: "weighted-mean and last-token pooling are not supported (cls, mean, max, mean_sqrt_len)")
        }
        if s.include_prompt == false {
            throw InferenceInputError(path: file, reason: "include_prompt false is not supported")
        }
        var modes: [Pooling] = []
        if s.pooling_mode_cls_token == true { modes.append(.cls) }
        if s.pooling_mode_max_tokens == true { modes.append(.max) }
        if s.pooling_mode_mean_tokens == true { modes.append(.mean) }
        if s.pooling_mode_mean_sqrt_len_tokens == true { modes.append(.meanSqrtLength) }
        guard !modes.isEmpty else { throw InferenceInputError(path: file, reason: "no pooling mode is switched on") }
        return modes
    }

    private static func decode<T: Decodable>(_ file: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw InferenceInputError(path: file, reason: "missing or unreadable")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw InferenceInputError(path: file, reason: "unexpected contents: \(InferenceInputReader.describe(error))")
        }
    }
}
