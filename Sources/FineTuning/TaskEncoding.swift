// Task examples → model inputs, as Hugging Face's fast BERT tokenizer (what run_glue.py uses) makes
// them with max_length = max_seq_length, truncation = True (longest_first):
//   single: [CLS] A [SEP]            segment ids 0 …
//   pair:   [CLS] A [SEP] B [SEP]    segment ids 0 for [CLS] A [SEP], 1 for B [SEP]
// then padded to T = max_seq_length with [PAD], segment 0, mask 0.
//
// Truncation (tokenizers' Rust `truncate_encodings`, LongestFirst, side right), with budget
// m = T − 3 for a pair: when the pair fits nothing is cut; when the shorter fits in half (2·short ≤ m)
// the longer is cut to m − short; otherwise the first gets ⌊m/2⌋ and the second ⌈m/2⌉ when the first
// is no longer than the second (a tie included), and the first ⌈m/2⌉, the second ⌊m/2⌋ when the first
// is longer. Checked by hand against transformers 5.25 / tokenizers 0.23 (see
// Tests/FineTuningTests/Fixtures/make_encoding.py). The pure-Python BertTokenizerLegacy differs on
// ties: it cuts the extra token from the second text, e.g. lengths 5 + 5 in m = 5 → 3 + 2 there,
// 2 + 3 here. A single text keeps its first T − 2 tokens.

import Foundation
import Tokenization

/// A task's examples as model inputs, in flat row-major arrays of N rows × T positions (preallocated
/// once; a batch loader copies rows out of them).
public struct EncodedTaskData {
    /// T: every row is padded to this length.
    public let maxSeqLength: Int
    /// N.
    public let count: Int
    /// [N, T] token ids, [PAD] after the real tokens.
    public internal(set) var inputIds: [Int32]
    /// [N, T] 0 for [CLS] A [SEP] (and padding), 1 for B [SEP].
    public internal(set) var segmentIds: [Int32]
    /// [N, T] 1 for real tokens, 0 for padding.
    public internal(set) var inputMask: [Int32]
    /// [N] real tokens per row (special tokens included).
    public internal(set) var lengths: [Int32]
    /// [N] labels: class ids, regression targets, or none (a test file).
    public let labels: TaskLabels
    /// [N] the line of the task file each row comes from.
    public let sourceLines: [Int]
    /// The task file.
    public let path: String
    /// How many examples lost tokens to truncation.
    public internal(set) var truncatedCount: Int
}

/// Lengths after longest-first truncation of a pair to `budget` tokens (special tokens excluded),
/// as the Rust tokenizers library computes them (see the top of this file).
public func truncatedPairLengths(first: Int, second: Int, budget: Int) -> (first: Int, second: Int) {
    precondition(first >= 0 && second >= 0 && budget >= 0)
    if first + second <= budget { return (first, second) }
    let short = min(first, second)
    var keepShort: Int, keepLong: Int
    if 2 * short <= budget {
        keepShort = short
        keepLong = budget - short
    } else {
        keepShort = budget / 2
        keepLong = budget / 2 + budget % 2
    }
    return first > second ? (keepLong, keepShort) : (keepShort, keepLong)
}

/// Encodes task examples with the project's BERT tokenizer.
public struct TaskEncoder {
    public let tokenizer: BertTokenizer
    public let maxSeqLength: Int

    /// `maxSeqLength` must leave room for the special tokens (at least 3, for pairs).
    public init(tokenizer: BertTokenizer, maxSeqLength: Int) throws {
        guard maxSeqLength >= 3 else {
            throw TaskFileError(path: tokenizer.vocabulary.source,
                                reason: "max_seq_length \(maxSeqLength) is too short: [CLS] A [SEP] B [SEP] needs at least 3 positions")
        }
        self.tokenizer = tokenizer
        self.maxSeqLength = maxSeqLength
    }

    /// Token ids and segment ids of one example, truncated to `maxSeqLength` (no padding).
    public func encode(_ text: String, pair: String? = nil) -> (ids: [Int32], segments: [Int32]) {
        let row = encodeRow(text, pair: pair)
        return (row.ids, row.segments)
    }

    /// Ids and segment ids of one example, and whether truncation removed tokens.
    public func encodeRow(_ text: String, pair: String?) -> (ids: [Int32], segments: [Int32], truncated: Bool) {
        let vocabulary = tokenizer.vocabulary
        var a = tokenizer.encode(text)
        guard let pair else {
            let cut = max(0, a.count - (maxSeqLength - 2))
            a.removeLast(cut)
            return ([vocabulary.clsId] + a + [vocabulary.sepId], [Int32](repeating: 0, count: a.count + 2), cut > 0)
        }
        var b = tokenizer.encode(pair)
        let keep = truncatedPairLengths(first: a.count, second: b.count, budget: maxSeqLength - 3)
        let truncated = keep.first < a.count || keep.second < b.count
        a.removeLast(a.count - keep.first)
        b.removeLast(b.count - keep.second)
        let ids = [vocabulary.clsId] + a + [vocabulary.sepId] + b + [vocabulary.sepId]
        let segments = [Int32](repeating: 0, count: a.count + 2) + [Int32](repeating: 1, count: b.count + 1)
        return (ids, segments, truncated)
    }

    /// Every example of `examples`, padded to `maxSeqLength`.
    public func encode(_ examples: TaskExamples) -> EncodedTaskData {
        let n = examples.count, t = maxSeqLength
        var data = EncodedTaskData(
            maxSeqLength: t, count: n,
            inputIds: [Int32](repeating: tokenizer.vocabulary.padId, count: n * t),
            segmentIds: [Int32](repeating: 0, count: n * t),
            inputMask: [Int32](repeating: 0, count: n * t),
            lengths: [Int32](repeating: 0, count: n),
            labels: examples.labels, sourceLines: examples.lines, path: examples.path, truncatedCount: 0)
        for row in 0..<n {
            let (ids, segments, truncated) = encodeRow(examples.texts[row], pair: examples.textPairs?[row])
            if truncated { data.truncatedCount += 1 }
            let base = row * t
            for (j, id) in ids.enumerated() {
                data.inputIds[base + j] = id
                data.segmentIds[base + j] = segments[j]
                data.inputMask[base + j] = 1
            }
            data.lengths[row] = Int32(ids.count)
        }
        return data
    }
}

/// Whether to lower-case, as a checkpoint directory says: `do_lower_case` of its
/// tokenizer_config.json when the file exists and has the key, else `default` (the flag).
/// A tokenizer_config.json that is not a JSON object, or whose `do_lower_case` is not true/false, is an error.
public func lowerCaseSetting(checkpointDirectory: String, default flag: Bool) throws -> (lowerCase: Bool, source: String) {
    let path = (checkpointDirectory as NSString).appendingPathComponent("tokenizer_config.json")
    guard let data = FileManager.default.contents(atPath: path) else { return (flag, "the flag") }
    struct TokenizerConfig: Decodable { let do_lower_case: Bool? }
    do {
        // JSONDecoder takes only true/false for a Bool (not 1, not "true"); other keys are ignored.
        let config = try JSONDecoder().decode(TokenizerConfig.self, from: data)
        guard let value = config.do_lower_case else { return (flag, "the flag (\(path) has no do_lower_case)") }
        return (value, path)
    } catch {
        throw TaskFileError(path: path, column: "key 'do_lower_case'",
                            reason: "cannot read do_lower_case (expected a JSON object with do_lower_case true or false): \(error)")
    }
}
