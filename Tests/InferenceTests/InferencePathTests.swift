// The inference path against independent expectations: the packed forward equals the training
// encoder's padded forward (dropout off) at every real position; batching and order change no
// output; a checkpoint without the needed head and bad input lines are errors naming them.

import BERT
import FineTuning
import Foundation
@testable import Inference
import Logging
import Tokenization
import XCTest

/// Paths of the committed checkpoints the tests read.
enum TestCheckpoints {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    /// A tiny random BertForPreTraining (vocab 100, hidden 32, 2 layers), Tests/BERTTests/Fixtures/hf-parity.
    static var pretraining: String { root.appendingPathComponent("BERTTests/Fixtures/hf-parity/checkpoint").path }
    /// A 3-label BertForSequenceClassification, Tests/BERTTests/Fixtures/hf-classification.
    static var classifier: String { root.appendingPathComponent("BERTTests/Fixtures/hf-classification/checkpoint-classification").path }
}

final class InferencePathTests: XCTestCase {
    /// Packed BertInference vs the training BertEncoder on the same sequences padded to the longest:
    /// every hidden state at every real position, and the pooled vectors.
    func testPackedForwardEqualsPaddedTrainingEncoder() throws {
        let dir = TestCheckpoints.pretraining
        let config = try Checkpoint.config(in: dir)
        let lengths = [17, 3, 40, 9, 40, 2]
        let B = lengths.count, T = lengths.max()!, H = config.hiddenSize, L = config.numHiddenLayers
        var rng = SystemRandomNumberGenerator()
        var ids: [[Int32]] = [], segments: [[Int32]] = []
        for n in lengths {
            ids.append((0..<n).map { _ in Int32.random(in: 1..<Int32(config.vocabSize), using: &rng) })
            let cut = Int.random(in: 1...n, using: &rng)
            segments.append((0..<n).map { $0 < cut ? 0 : 1 })
        }

        let inference = try BertInference(checkpoint: dir, heads: .pooler, keepLayers: Array(0...L), maxSequences: B, maxSeqLength: T)
        try inference.forward(inputIds: ids.flatMap { $0 }, segmentIds: segments.flatMap { $0 }, lengths: lengths, sequences: B)

        let reference = try BertForPreTraining(config: config, maxBatch: B, maxSeqLength: T, maxPredictions: 1)
        _ = try Checkpoint.load(from: dir, into: reference.parameters, layout: reference.layout, seed: 0, logger: nil)
        reference.encoder.packsSequences = false   // the rectangular path, as HF runs it
        var paddedIds = [Int32](repeating: 0, count: B * T), paddedSegments = paddedIds, mask = paddedIds
        for b in 0..<B {
            for t in 0..<lengths[b] {
                paddedIds[b * T + t] = ids[b][t]; paddedSegments[b * T + t] = segments[b][t]; mask[b * T + t] = 1
            }
        }
        try reference.encoder.forward(inputIds: paddedIds, segmentIds: paddedSegments, inputMask: mask, batchSize: B,
                                      seqLength: T, training: false)
        let last = reference.encoder.hiddenStates
        var worst: Float = 0
        for b in 0..<B {
            let rows = inference.rows(of: b)
            XCTAssertEqual(rows.count, lengths[b])
            for (t, row) in rows.enumerated() {
                for c in 0..<H {
                    let expected = last[(b * T + t) * H + c]
                    worst = max(worst, abs(inference.hidden(L)[row * H + c] - expected) / max(abs(expected), 1e-2))
                }
            }
        }
        // Both float32: only the summation order differs (BLAS blocks a different number of rows).
        XCTAssertLessThan(worst, 5e-5, "last hidden state, worst relative difference")
        // Layer outputs other than the last are kept copies: the last layer's kept state is the running one,
        // and the embeddings (index 0) differ from it.
        XCTAssertNotEqual(inference.hidden(0)[0], inference.hidden(L)[0])

        // Pooled: tanh(W·h[CLS] + b) by hand from the reference's hidden state.
        let pooled = inference.pooled()
        let layout = reference.layout, p = reference.parameters
        for b in 0..<B {
            for o in 0..<H {
                var z = Double(p[layout.pooler!.bias + o])
                for i in 0..<H { z += Double(p[layout.pooler!.weight + o * H + i]) * Double(last[b * T * H + i]) }
                XCTAssertEqual(pooled[b * H + o], Float(tanh(z)), accuracy: 2e-5)
            }
        }
    }

    /// One batch, batches of one, and a shuffled order give the same vectors, in input order.
    func testBatchingAndOrderChangeNoOutput() throws {
        let texts = ["a", "the quick brown fox jumps", "b c", "one two three four five six seven eight nine ten eleven",
                     "x y z", "hello", "a much longer line with many many words in it to make it the longest of all"]
        func embed(_ inputs: [String], batchSize: Int) throws -> [[Float]] {
            let path = NSTemporaryDirectory() + "/inference-order-\(UUID().uuidString).txt"
            try inputs.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let output = try runTask(checkpoint: TestCheckpoints.pretraining, input: path, batchSize: batchSize) { model, _ in
                var settings = EmbeddingSettings(layers: [2])
                settings.pooling = [.mean, .cls, .max]
                return EmbeddingTask(model: model, settings: settings, vocabulary: try Vocabulary(path: TestCheckpoints.pretraining + "/vocab.txt"))
            }
            return try output.map { try JSONDecoder().decode([String: [Float]].self, from: Data($0.utf8))["embedding"]! }
        }
        let together = try embed(texts, batchSize: 64)
        let single = try embed(texts, batchSize: 1)
        let order = [3, 0, 6, 2, 5, 1, 4]
        let shuffled = try embed(order.map { texts[$0] }, batchSize: 3)
        XCTAssertEqual(together.count, texts.count)
        for i in texts.indices {
            XCTAssertEqual(together[i].count, 3 * 32)
            for c in together[i].indices {
                XCTAssertEqual(single[i][c], together[i][c], accuracy: 1e-6 * max(abs(together[i][c]), 1))
            }
        }
        for (position, i) in order.enumerated() {
            for c in together[i].indices { XCTAssertEqual(shuffled[position][c], together[i][c], accuracy: 1e-6 * max(abs(together[i][c]), 1)) }
        }
        // Different texts give different vectors (the comparison above is not vacuous).
        XCTAssertNotEqual(together[0], together[1])
    }

    func testMissingHeadsAreErrorsNamingThem() {
        XCTAssertThrowsError(try BertInference(checkpoint: TestCheckpoints.classifier, heads: .maskedLM, maxSequences: 2, maxSeqLength: 8)) {
            XCTAssertTrue("\($0)".contains("has no masked-LM head (cls.predictions.*)"), "\($0)")
        }
        XCTAssertThrowsError(try BertInference(checkpoint: TestCheckpoints.classifier, heads: .nextSentence, maxSequences: 2, maxSeqLength: 8)) {
            XCTAssertTrue("\($0)".contains("next-sentence head"), "\($0)")
        }
        XCTAssertThrowsError(try BertInference(checkpoint: TestCheckpoints.pretraining, heads: .classifier, maxSequences: 2, maxSeqLength: 8)) {
            XCTAssertTrue("\($0)".contains("not a sequence classifier"), "\($0)")
        }
        XCTAssertThrowsError(try BertInference(checkpoint: TestCheckpoints.pretraining, heads: [], keepLayers: [-4], maxSequences: 2, maxSeqLength: 8)) {
            XCTAssertTrue("\($0)".contains("layer -4 does not exist"), "\($0)")
        }
    }

    func testBadLinesAreErrorsNamingTheLine() throws {
        let dir = NSTemporaryDirectory() + "/inference-bad-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vocabulary = try Vocabulary(path: TestCheckpoints.pretraining + "/vocab.txt")
        let tokenizer = BertTokenizer(vocabulary: vocabulary)
        let word = vocabulary.tokens[50]

        try "\(word) [MASK]\n\(word) \(word)\n".write(toFile: dir + "/masked.txt", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try runTask(checkpoint: TestCheckpoints.pretraining, input: dir + "/masked.txt", heads: .maskedLM) { model, _ in
            try FillMaskTask(model: model, topK: 3, targets: nil, tokenizer: tokenizer, decoder: WordPieceDecoder(vocabulary: vocabulary)) { _ in }
        }) { XCTAssertTrue("\($0)".hasSuffix("masked.txt:2: no [MASK] token in the text"), "\($0)") }

        try "{\"text\": \"\(word)\", \"text_pair\": \"\(word)\"}\n{\"text\": \"\(word)\"}\n".write(toFile: dir + "/pairs.jsonl", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try runTask(checkpoint: TestCheckpoints.pretraining, input: dir + "/pairs.jsonl", heads: .nextSentence) { model, _ in
            NextSentenceTask(model: model)
        }) { XCTAssertTrue("\($0)".contains("pairs.jsonl:2: no second text"), "\($0)") }

        try "{\"text\": \"\(word)\"}\n{\"txt\": \"\(word)\"}\n".write(toFile: dir + "/typo.jsonl", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try runTask(checkpoint: TestCheckpoints.pretraining, input: dir + "/typo.jsonl", heads: .nextSentence) { model, _ in
            NextSentenceTask(model: model)
        }) { XCTAssertTrue("\($0)".contains("typo.jsonl:2: not a JSON object with a string \"text\""), "\($0)") }

        try "\(word)\n\n\(word)\n".write(toFile: dir + "/empty.txt", atomically: true, encoding: .utf8)
        let embed: (BertInference, BertTokenizer) throws -> InferenceTask = { model, _ in
            EmbeddingTask(model: model, settings: EmbeddingSettings(layers: [2]), vocabulary: vocabulary)
        }
        XCTAssertThrowsError(try runTask(checkpoint: TestCheckpoints.pretraining, input: dir + "/empty.txt", make: embed)) {
            XCTAssertTrue("\($0)".contains("empty.txt:2: empty input"), "\($0)")
        }
        let passed = try runTask(checkpoint: TestCheckpoints.pretraining, input: dir + "/empty.txt", skipEmpty: true, make: embed)
        XCTAssertEqual(passed.count, 3)
        XCTAssertEqual(passed[1], "null")
        // The same text at two rows of one packed batch: equal up to the BLAS kernels' row blocking (rows at a
        // block's edge may take another micro-kernel, another summation order), so not byte for byte.
        let first = try embedding(passed[0]), third = try embedding(passed[2])
        XCTAssertEqual(first.count, third.count)
        for (a, b) in zip(first, third) { XCTAssertEqual(a, b, accuracy: 1e-5 * max(abs(b), 1)) }
    }

    private func embedding(_ line: String) throws -> [Double] {
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        return try XCTUnwrap(object["embedding"] as? [Double], line)
    }

    func testNpyHeaderIsNumpyFormatOne() throws {
        let header = RecordFileSink.npyHeader(rows: 3, dimension: 5)
        XCTAssertEqual(header.count % 64, 0)
        XCTAssertEqual(Array(header[0..<8]), [0x93] + Array("NUMPY".utf8) + [1, 0])
        XCTAssertEqual(Int(header[8]) | Int(header[9]) << 8, header.count - 10)
        let dict = String(decoding: header[10...], as: UTF8.self)
        XCTAssertTrue(dict.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5), }"), dict)
        XCTAssertTrue(dict.hasSuffix(" \n"))
        // Rewritten at the end with the real count, to the length reserved at the start.
        XCTAssertEqual(RecordFileSink.npyHeader(rows: 7, dimension: 5, length: header.count).count, header.count)
    }
}

/// Runs an inference task in process (one rank) and returns the output lines.
func runTask(checkpoint: String, input: String, heads: InferenceHeads = [], batchSize: Int = 4, skipEmpty: Bool = false,
             maxSeqLength: Int? = nil, keepLayers: [Int] = [-1],
             make: (BertInference, BertTokenizer) throws -> InferenceTask) throws -> [String] {
    let config = try Checkpoint.config(in: checkpoint)
    let model = try BertInference(checkpoint: checkpoint, heads: heads, keepLayers: keepLayers, maxSequences: batchSize,
                                  maxSeqLength: maxSeqLength ?? config.maxPositionEmbeddings)
    let lowerCase = try lowerCaseSetting(checkpointDirectory: checkpoint, default: true).lowerCase
    let tokenizer = BertTokenizer(vocabulary: try Vocabulary(path: checkpoint + "/vocab.txt"), lowerCase: lowerCase)
    var settings = InferenceSettings()
    settings.batchSize = batchSize
    settings.skipEmpty = skipEmpty
    let run = InferenceRun(settings: settings, encoder: try TaskEncoder(tokenizer: tokenizer, maxSeqLength: model.maxSeqLength),
                           world: nil, logger: Logger(label: "test"))
    let output = NSTemporaryDirectory() + "/inference-out-\(UUID().uuidString).jsonl"
    defer { try? FileManager.default.removeItem(atPath: output) }
    let task = try make(model, tokenizer)
    try run.run(task, reader: try InferenceInputReader(path: input, format: .auto), source: input, total: nil,
                sink: try RecordFileSink(path: output, layout: .jsonLines))
    return try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        .dropLast().map(String.init)
}
