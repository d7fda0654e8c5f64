// `fill-mask`: the masked-LM head's top-k tokens at every [MASK], as transformers' fill-mask
// pipeline returns them: per mask a list of {"score", "token", "token_str", "sequence"}, sorted by
// score; one mask → that list, several → a list of lists. `sequence` is the input with that one
// mask replaced, [PAD] ids dropped, decoded with special tokens skipped when the input has one
// mask only (kept when several: the other masks stay visible), as the pipeline does.

import BERT
import Foundation
import Storage
import Tokenization

public final class FillMaskTask: InferenceTask {
    public let name = "fill-mask"
    public var source = "<input>"
    public let model: BertInference
    public let topK: Int
    /// Candidate ids (sorted, unique) when --targets restricts the answers, else nil (the whole vocabulary).
    public let targetIds: [Int32]?
    public let decoder: WordPieceDecoder
    private let packed = PackedBatch()
    private let json = recordEncoder()

    /// `targets` as the pipeline resolves them: a vocabulary token as is, else the first token of its
    /// tokenisation (with a warning); a target that tokenises to nothing is dropped (with a warning).
    public init(model: BertInference, topK: Int, targets: [String]?, tokenizer: BertTokenizer, decoder: WordPieceDecoder,
                warn: (String) -> Void) throws {
        self.model = model
        self.decoder = decoder
        if let targets {
            var ids = Set<Int32>()
            for target in targets {
                if let id = tokenizer.vocabulary.id(of: target) { ids.insert(id); continue }
                let pieces = tokenizer.encode(target)
                guard let first = pieces.first else {
                    warn("target \"\(target)\" is not in the vocabulary and tokenises to nothing: ignored")
                    continue
                }
                warn("target \"\(target)\" is not in the vocabulary: replaced by its first token \"\(tokenizer.vocabulary.token(of: first))\"")
                ids.insert(first)
            }
            guard !ids.isEmpty else { throw TextInputError(path: "--targets", reason: "no usable target") }
            targetIds = ids.sorted()
            self.topK = min(topK, ids.count)
        } else {
            targetIds = nil
            self.topK = min(topK, model.config.vocabSize)
        }
    }

    public var passThroughRecord: [UInt8] { Array("null".utf8) }

    public func check(_ input: EncodedInput) throws {
        let mask = decoder.vocabulary.maskId
        guard input.ids.contains(mask) else {
            throw TextInputError(path: source, line: input.line,
                                      reason: input.truncated ? "its [MASK] was cut off by truncation to \(input.ids.count) tokens"
                                                             : "no [MASK] token in the text")
        }
    }

    struct Proposition: Encodable {
        let score: Float
        let token: Int32
        let token_str: String
        let sequence: String
    }

    public func records(_ batch: ArraySlice<EncodedInput>) throws -> [[UInt8]] {
        try packed.forward(model, batch)
        let mask = decoder.vocabulary.maskId
        var rows: [Int] = [], owner: [Int] = []
        for (b, input) in batch.enumerated() {
            let first = model.rows(of: b).lowerBound
            for (t, id) in input.ids.enumerated() where id == mask {
                rows.append(first + t)
                owner.append(b)
            }
        }
        var answers = [[[Proposition]]](repeating: [], count: batch.count)
        let inputs = Array(batch)
        try model.maskedLMProbabilities(rows: rows) { i, probabilities in
            let b = owner[i], input = inputs[b]
            let position = rows[i] - model.rows(of: b).lowerBound
            let singleMask = input.ids.lazy.filter { $0 == mask }.count == 1
            var propositions: [Proposition] = []
            for (id, score) in top(probabilities) {
                guard score.isFinite else {
                    throw TextInputError(path: source, line: input.line, reason: "the model produced a non-finite score")
                }
                var tokens = input.ids
                tokens[position] = id
                tokens.removeAll { $0 == decoder.vocabulary.padId }
                propositions.append(Proposition(score: score, token: id, token_str: decoder.decode([id], skipSpecialTokens: false),
                                                sequence: decoder.decode(tokens, skipSpecialTokens: singleMask)))
            }
            answers[b].append(propositions)
        }
        return try answers.map { perMask in
            perMask.count == 1 ? Array(try json.encode(perMask[0])) : Array(try json.encode(perMask))
        }
    }

    /// The k best (id, probability), highest first; ties by the lower id.
    private func top(_ probabilities: UnsafeBufferPointer<Float>) -> [(Int32, Float)] {
        var best: [(Int32, Float)] = []
        func consider(_ id: Int32, _ p: Float) {
            if best.count == topK, let last = best.last, !(p > last.1) { return }
            var i = best.count
            while i > 0 && p > best[i - 1].1 { i -= 1 }
            best.insert((id, p), at: i)
            if best.count > topK { best.removeLast() }
        }
        if let targetIds {
            for id in targetIds { consider(id, probabilities[Int(id)]) }
        } else {
            for id in 0..<probabilities.count { consider(Int32(id), probabilities[id]) }
        }
        return best
    }
}
