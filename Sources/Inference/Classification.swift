// `nsp` and `predict`: the heads that read the pooled [CLS] vector.
//   nsp:     {"is_next": p, "logits": [l0, l1]}, p = softmax(logits)[0]: index 0 = B follows A, as
//            HF's BertForPreTraining and our shards label it.
//   predict: a fine-tuned BertForSequenceClassification's {"label", "score"} (or the top-k, sorted),
//            scored as design §9 says: softmax over the labels; sigmoid for a one-label classifier;
//            the raw value when config.json says problem_type "regression".

import BERT
import Foundation
import Storage

public final class NextSentenceTask: InferenceTask {
    public let name = "nsp"
    public var source = "<input>"
    public let model: BertInference
    private let packed = PackedBatch()
    private let json = recordEncoder()

    public init(model: BertInference) { self.model = model }

    public var passThroughRecord: [UInt8] { Array("null".utf8) }

    public func check(_ input: EncodedInput) throws {
        guard input.segments.contains(1) else {
            throw TextInputError(path: source, line: input.line,
                                      reason: "no second text: nsp scores pairs, give JSON lines {\"text\": A, \"text_pair\": B}")
        }
    }

    public func records(_ batch: ArraySlice<EncodedInput>) throws -> [[UInt8]] {
        try packed.forward(model, batch)
        let logits = model.nextSentenceLogits()
        struct Score: Encodable { let is_next: Float; let logits: [Float] }
        return try batch.enumerated().map { b, input in
            var row = [logits[2 * b], logits[2 * b + 1]]
            let raw = row
            softmaxInPlace(&row, count: 2)
            return try encodeFinite(json, Score(is_next: row[0], logits: raw), source: source, line: input.line)
        }
    }
}

/// How `predict` turns logits into scores.
public enum ScoreFunction: String, Sendable {
    case softmax, sigmoid, none
}

public enum PredictionFormat: String, CaseIterable, Sendable {
    case jsonl, tsv
}

public final class PredictionTask: InferenceTask {
    public let name = "predict"
    public var source = "<input>"
    public let model: BertInference
    public let labels: [String]
    public let function: ScoreFunction
    /// nil: the best label as one object; k: a list of the k best, sorted by score.
    public let topK: Int?
    public let format: PredictionFormat
    private let packed = PackedBatch()
    private let json = recordEncoder()

    public init(model: BertInference, topK: Int?, format: PredictionFormat) {
        let classifier = model.classifier!
        self.model = model
        labels = classifier.labels
        if classifier.problemTypeIsExplicit && classifier.problemType == .regression {
            function = .none
        } else {
            function = classifier.numLabels == 1 ? .sigmoid : .softmax
        }
        self.topK = topK.map { min($0, classifier.numLabels) }
        self.format = format
    }

    public var passThroughRecord: [UInt8] { Array((format == .tsv ? "" : "null").utf8) }

    public func check(_ input: EncodedInput) throws {}

    struct Scored: Encodable { let label: String; let score: Float }

    public func records(_ batch: ArraySlice<EncodedInput>) throws -> [[UInt8]] {
        try packed.forward(model, batch)
        let logits = model.classifierLogits(), C = labels.count
        return try batch.enumerated().map { b, input in
            var scores = Array(UnsafeBufferPointer(start: logits + b * C, count: C))
            switch function {
            case .softmax: softmaxInPlace(&scores, count: C)
            case .sigmoid: scores = scores.map { 1 / (1 + Foundation.exp(-$0)) }
            case .none: break
            }
            // Sorted by score, highest first; ties keep the label order (a stable sort).
            let ranked = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
                .map { Scored(label: labels[$0], score: scores[$0]) }
            if format == .tsv {
                guard scores.allSatisfy(\.isFinite) else {
                    throw TextInputError(path: source, line: input.line, reason: "the model produced a non-finite value (NaN or infinity)")
                }
                // As run_glue's predict_results.txt: the label name, or the value (%.3f) for regression.
                return Array((function == .none ? String(format: "%.3f", scores[0]) : ranked[0].label).utf8)
            }
            if let topK { return try encodeFinite(json, Array(ranked.prefix(topK)), source: source, line: input.line) }
            return try encodeFinite(json, ranked[0], source: source, line: input.line)
        }
    }
}

/// The JSON encoder of every output record: keys sorted, so equal results are equal bytes on any rank count.
func recordEncoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return encoder
}

/// JSON of `value`; a NaN or infinity (which JSON cannot hold) is an error naming the input line.
func encodeFinite<T: Encodable>(_ encoder: JSONEncoder, _ value: T, source: String, line: Int) throws -> [UInt8] {
    do {
        return Array(try encoder.encode(value))
    } catch {
        throw TextInputError(path: source, line: line, reason: "the model produced a non-finite value (NaN or infinity)")
    }
}

/// softmax of an array, in place.
func softmaxInPlace(_ values: inout [Float], count: Int) {
    values.withUnsafeMutableBufferPointer { BERT.softmaxInPlace($0.baseAddress!, count: count) }
}
