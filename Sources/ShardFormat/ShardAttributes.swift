// Root attributes our writer adds to a shard (other readers ignore them). Every one is optional
// when reading: shards from other tools have none.
//
//   name                      type     meaning
//   vocab_size                int64    entries of vocab.txt
//   vocab_sha256              string   SHA-256 (hex) of vocab.txt's bytes
//   max_seq_length            int64    T (also the datasets' second dimension)
//   max_predictions_per_seq   int64    P
//   masked_lm_prob            float64  share of tokens to predict
//   dupe_factor               int64    passes over the corpus
//   short_seq_prob            float64  probability of a shorter target length
//   whole_word_mask           int64    1 = whole-word masking, 0 = per piece
//   random_seed               int64    seed of the build
//   tool_version              string   e.g. "bert-corpus 0.1.0"
//   source_files              string[] input files of the build

public enum ShardAttributeKey {
    public static let vocabSize = "vocab_size"
    public static let vocabSHA256 = "vocab_sha256"
    public static let maxSeqLength = "max_seq_length"
    public static let maxPredictionsPerSeq = "max_predictions_per_seq"
    public static let maskedLMProb = "masked_lm_prob"
    public static let dupeFactor = "dupe_factor"
    public static let shortSeqProb = "short_seq_prob"
    public static let wholeWordMask = "whole_word_mask"
    public static let randomSeed = "random_seed"
    public static let toolVersion = "tool_version"
    public static let sourceFiles = "source_files"
}

/// The build settings recorded in a shard, typed. `attributes` gives the writer's dictionary;
/// `init(attributes:)` reads back whatever subset a file has.
public struct ShardMetadata: Equatable {
    public var vocabSize: Int?
    public var vocabSHA256: String?
    public var maxSeqLength: Int?
    public var maxPredictionsPerSeq: Int?
    public var maskedLMProb: Double?
    public var dupeFactor: Int?
    public var shortSeqProb: Double?
    public var wholeWordMask: Bool?
    public var randomSeed: Int64?
    public var toolVersion: String?
    public var sourceFiles: [String]?

    public init(vocabSize: Int? = nil, vocabSHA256: String? = nil, maxSeqLength: Int? = nil, maxPredictionsPerSeq: Int? = nil,
                maskedLMProb: Double? = nil, dupeFactor: Int? = nil, shortSeqProb: Double? = nil, wholeWordMask: Bool? = nil,
                randomSeed: Int64? = nil, toolVersion: String? = nil, sourceFiles: [String]? = nil) {
        self.vocabSize = vocabSize
        self.vocabSHA256 = vocabSHA256
        self.maxSeqLength = maxSeqLength
        self.maxPredictionsPerSeq = maxPredictionsPerSeq
        self.maskedLMProb = maskedLMProb
        self.dupeFactor = dupeFactor
        self.shortSeqProb = shortSeqProb
        self.wholeWordMask = wholeWordMask
        self.randomSeed = randomSeed
        self.toolVersion = toolVersion
        self.sourceFiles = sourceFiles
    }

    public var attributes: [String: ShardAttribute] {
        typealias K = ShardAttributeKey
        var a: [String: ShardAttribute] = [:]
        if let vocabSize { a[K.vocabSize] = .int(Int64(vocabSize)) }
        if let vocabSHA256 { a[K.vocabSHA256] = .string(vocabSHA256) }
        if let maxSeqLength { a[K.maxSeqLength] = .int(Int64(maxSeqLength)) }
        if let maxPredictionsPerSeq { a[K.maxPredictionsPerSeq] = .int(Int64(maxPredictionsPerSeq)) }
        if let maskedLMProb { a[K.maskedLMProb] = .double(maskedLMProb) }
        if let dupeFactor { a[K.dupeFactor] = .int(Int64(dupeFactor)) }
        if let shortSeqProb { a[K.shortSeqProb] = .double(shortSeqProb) }
        if let wholeWordMask { a[K.wholeWordMask] = .int(wholeWordMask ? 1 : 0) }
        if let randomSeed { a[K.randomSeed] = .int(randomSeed) }
        if let toolVersion { a[K.toolVersion] = .string(toolVersion) }
        if let sourceFiles { a[K.sourceFiles] = .strings(sourceFiles) }
        return a
    }

    /// Reads the known keys; an attribute of an unexpected type is left nil.
    public init(attributes a: [String: ShardAttribute]) {
        typealias K = ShardAttributeKey
        func int(_ k: String) -> Int64? {
            switch a[k] {
            case .int(let v)?: return v
            case .double(let v)? where v.rounded() == v && abs(v) < 9e15: return Int64(v)
            default: return nil
            }
        }
        func double(_ k: String) -> Double? {
            switch a[k] {
            case .double(let v)?: return v
            case .int(let v)?: return Double(v)
            default: return nil
            }
        }
        func string(_ k: String) -> String? {
            if case .string(let v)? = a[k] { return v }
            return nil
        }
        self.init(vocabSize: int(K.vocabSize).map(Int.init), vocabSHA256: string(K.vocabSHA256),
                  maxSeqLength: int(K.maxSeqLength).map(Int.init), maxPredictionsPerSeq: int(K.maxPredictionsPerSeq).map(Int.init),
                  maskedLMProb: double(K.maskedLMProb), dupeFactor: int(K.dupeFactor).map(Int.init),
                  shortSeqProb: double(K.shortSeqProb), wholeWordMask: int(K.wholeWordMask).map { $0 != 0 },
                  randomSeed: int(K.randomSeed), toolVersion: string(K.toolVersion),
                  sourceFiles: {
                      switch a[K.sourceFiles] {
                      case .strings(let v)?: return v
                      case .string(let v)?: return [v]
                      default: return nil
                      }
                  }())
    }
}
