// A sentence-transformers directory (design §9): an HF BertModel plus modules.json, which lists the
// Transformer (its folder: "" = the directory itself), Pooling (its config.json) and an optional
// Normalize — listed with or without a folder of its own. Its pooling, normalisation and
// max_seq_length become `embed`'s defaults, so the command gives SentenceTransformer(DIR).encode's vectors.

import Foundation
import Storage

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
    /// Pooling modes, concatenated in this order.
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
                throw TextInputError(path: modulesPath, reason: "module \"\(module.type)\" is not supported (Transformer, Pooling, Normalize)")
            }
        }
        guard sawTransformer else { throw TextInputError(path: modulesPath, reason: "lists no Transformer module") }
        if config.pooling.isEmpty { config.pooling = [.mean] }   // sentence-transformers' default for a bare model
        // The length limit as sentence-transformers loads it: sentence_bert_config.json's max_seq_length,
        // else the tokenizer's model_max_length (the caller caps both at max_position_embeddings).
        struct Settings: Decodable { let max_seq_length: Int? }
        let bertConfig = path("sentence_bert_config.json")
        if FileManager.default.fileExists(atPath: bertConfig) {
            config.maxSeqLength = (try decode(bertConfig) as Settings).max_seq_length
        }
        if config.maxSeqLength == nil {
            struct Tokenizer: Decodable { let model_max_length: Double? }   // often 1e30 ("no limit")
            let file = (config.modelDirectory as NSString).appendingPathComponent("tokenizer_config.json")
            if FileManager.default.fileExists(atPath: file), let limit = (try decode(file) as Tokenizer).model_max_length,
               limit >= 1, limit < 1e9 {
                config.maxSeqLength = Int(limit)
            }
        }
        return config
    }

    /// Pooling modes of 1_Pooling/config.json, in either form sentence-transformers writes: the current
    /// `"pooling_mode": "mean"` (or a list, concatenated in its order) or the older `pooling_mode_*_token(s)`
    /// booleans (concatenated as cls, max, mean, mean_sqrt_len).
    private static func poolingModes(_ file: String) throws -> [Pooling] {
        guard let data = FileManager.default.contents(atPath: file),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TextInputError(path: file, reason: "missing, or not a JSON object")
        }
        if object["include_prompt"] as? Bool == false {
            throw TextInputError(path: file, reason: "include_prompt false is not supported")
        }
        let names: [String: Pooling] = ["cls": .cls, "max": .max, "mean": .mean, "mean_sqrt_len_tokens": .meanSqrtLength]
        var modes: [Pooling] = []
        if let mode = object["pooling_mode"] {
            let list = (mode as? [String]) ?? (mode as? String).map { [$0] } ?? []
            guard !list.isEmpty else { throw TextInputError(path: file, reason: "pooling_mode must be a name or a list of names") }
            for name in list {
                guard let pooling = names[name] else {
                    throw TextInputError(path: file, reason: "pooling mode \"\(name)\" is not supported (cls, max, mean, mean_sqrt_len_tokens)")
                }
                modes.append(pooling)
            }
            return modes
        }
        if object["pooling_mode_weightedmean_tokens"] as? Bool == true || object["pooling_mode_lasttoken"] as? Bool == true {
            throw TextInputError(path: file, reason: "weighted-mean and last-token pooling are not supported (cls, mean, max, mean_sqrt_len)")
        }
        for (key, mode) in [("pooling_mode_cls_token", Pooling.cls), ("pooling_mode_max_tokens", .max),
                            ("pooling_mode_mean_tokens", .mean), ("pooling_mode_mean_sqrt_len_tokens", .meanSqrtLength)]
        where object[key] as? Bool == true {
            modes.append(mode)
        }
        guard !modes.isEmpty else { throw TextInputError(path: file, reason: "no pooling mode is switched on") }
        return modes
    }

    private static func decode<T: Decodable>(_ file: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw TextInputError(path: file, reason: "missing or unreadable")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw TextInputError(path: file, reason: "unexpected contents: \(InferenceInputReader.describe(error))")
        }
    }
}
