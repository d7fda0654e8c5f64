// Errors for inputs the model cannot run; each names the sequence and position.

public enum BertInputError: Error, CustomStringConvertible, Equatable {
    case batchTooLarge(batch: Int, capacity: Int)
    case sequenceTooLong(length: Int, capacity: Int, maxPositionEmbeddings: Int)
    case tokenOutOfRange(sequence: Int, position: Int, id: Int32, vocabSize: Int)
    case segmentOutOfRange(sequence: Int, position: Int, id: Int32, typeVocabSize: Int)
    case attentionMaskInvalid(sequence: Int, position: Int, value: Int32)
    case noRealToken(sequence: Int)
    case maskedPositionOutOfRange(sequence: Int, slot: Int, position: Int32, seqLength: Int)
    case maskedLabelOutOfRange(sequence: Int, slot: Int, label: Int32, vocabSize: Int)
    case tooManyPredictions(predictions: Int, capacity: Int)
    case nextSentenceLabelInvalid(sequence: Int, label: Int32)
    case classLabelOutOfRange(sequence: Int, label: Int, classes: Int)
    case regressionTargetNotFinite(sequence: Int, value: Float)

    public var description: String {
        switch self {
        case .batchTooLarge(let b, let cap): return "batch size \(b) exceeds the model's capacity \(cap)"
        case .sequenceTooLong(let t, let cap, let maxPos):
            return "sequence length \(t) exceeds \(t > maxPos ? "max_position_embeddings \(maxPos)" : "the model's capacity \(cap)")"
        case .tokenOutOfRange(let s, let p, let id, let v):
            return "sequence \(s), position \(p): token id \(id) outside the vocabulary [0, \(v))"
        case .segmentOutOfRange(let s, let p, let id, let n):
            return "sequence \(s), position \(p): segment id \(id) outside [0, \(n))"
        case .attentionMaskInvalid(let s, let p, let v):
            return "sequence \(s), position \(p): input mask \(v), expected 0 or 1"
        case .noRealToken(let s): return "sequence \(s): input mask has no real token"
        case .maskedPositionOutOfRange(let s, let slot, let pos, let t):
            return "sequence \(s), prediction slot \(slot): masked position \(pos) outside the sequence [0, \(t))"
        case .maskedLabelOutOfRange(let s, let slot, let label, let v):
            return "sequence \(s), prediction slot \(slot): label \(label) outside the vocabulary [0, \(v)) (use -1 for an empty slot)"
        case .tooManyPredictions(let p, let cap): return "\(p) predictions per sequence exceed the model's capacity \(cap)"
        case .nextSentenceLabelInvalid(let s, let label):
            return "sequence \(s): next-sentence label \(label), expected 0 or 1"
        case .classLabelOutOfRange(let s, let label, let c): return "sequence \(s): class label \(label) outside [0, \(c))"
        case .regressionTargetNotFinite(let s, let v): return "sequence \(s): regression target \(v) is not finite"
        }
    }
}
