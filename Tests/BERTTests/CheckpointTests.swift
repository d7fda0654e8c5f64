import Foundation
import Logging
import XCTest
@testable import BERT
import Storage

final class CheckpointTests: XCTestCase {
    /// V = 10, H = 4, 2 layers, 2 heads, I = 6, P = 8.
    static func tinyConfig() -> BertConfig {
        var c = BertConfig()
        c.vocabSize = 10; c.hiddenSize = 4; c.numHiddenLayers = 2; c.numAttentionHeads = 2
        c.intermediateSize = 6; c.maxPositionEmbeddings = 8
        return c
    }

    /// Distinct, reproducible values: element i of the flat buffer is f(i).
    static func pattern(_ i: Int) -> Float { Float(i % 97) * 0.01 - 0.3 + Float(i) * 1e-4 }

    private func filled(_ layout: ParameterLayout) -> [Float] { (0..<layout.count).map(Self.pattern) }

    /// Writes a checkpoint directory by hand: config.json plus tensors under any names.
    private func writeDirectory(_ dir: String, config: BertConfig,
                                tensors: [(name: String, dtype: String, shape: [Int], bytes: [UInt8])]) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try config.jsonData().write(to: URL(fileURLWithPath: dir + "/config.json"))
        try rawSafetensors(tensors).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
    }

    /// The layout's tensors as raw entries, with names passed through `rename` (nil drops the tensor).
    private func entries(_ layout: ParameterLayout, _ values: [Float], rename: (String) -> String? = { $0 })
        -> [(name: String, dtype: String, shape: [Int], bytes: [UInt8])] {
        layout.tensors.compactMap { spec in
            rename(spec.name).map { (name: $0, dtype: "F32", shape: spec.shape, bytes: littleEndianBytes(Array(values[spec.range]))) }
        }
    }

    private func load(_ dir: String, _ layout: ParameterLayout, into values: inout [Float]) throws -> CheckpointLoadReport {
        try values.withUnsafeMutableBufferPointer {
            try Checkpoint.load(from: dir, into: $0, layout: layout, seed: 5, logger: Logger(label: "test"))
        }
    }

    func testSaveThenLoadRestoresEveryParameterAndWritesTheHFFiles() throws {
        let root = try temporaryDirectory(self)
        let layout = ParameterLayout(config: Self.tinyConfig())
        let values = filled(layout)
        let vocab = root + "/vocab-source.txt"
        try "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\nd\ne\n".write(toFile: vocab, atomically: true, encoding: .utf8)
        let dir = root + "/run/epoch-0001"
        try values.withUnsafeBufferPointer {
            try Checkpoint.save(parameters: $0, layout: layout, to: dir, vocabPath: vocab,
                                extraFiles: ["trainer-state.json": { try Data("{\"step\": 3}".utf8).write(to: URL(fileURLWithPath: $0)) }])
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(),
                       ["config.json", "model.safetensors", "trainer-state.json", "vocab.txt"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/run"), ["epoch-0001"], "no temporary directory left")
        XCTAssertEqual(try String(contentsOfFile: dir + "/vocab.txt", encoding: .utf8).split(separator: "\n").count, 10)
        XCTAssertEqual(try Checkpoint.config(in: dir), Self.tinyConfig())

        // Exactly the HF keys, no decoder copy (HF re-ties it), F32, [out, in] shapes.
        let file = try Safetensors.read(path: dir + "/model.safetensors")
        XCTAssertEqual(Set(file.tensors.map(\.name)), Set(layout.tensors.map(\.name)))
        XCTAssertNil(file["cls.predictions.decoder.weight"])
        XCTAssertEqual(file["bert.encoder.layer.1.intermediate.dense.weight"]?.shape, [6, 4])
        XCTAssertEqual(file.metadata, ["format": "pt"])

        var back = [Float](repeating: .nan, count: layout.count)
        let report = try load(dir, layout, into: &back)
        XCTAssertEqual(back.map(\.bitPattern), values.map(\.bitPattern))
        XCTAssertEqual(report.loaded.count, layout.tensors.count)
        XCTAssertEqual(report.initialized, [])
        XCTAssertEqual(report.warnings, [])

        // Saving again replaces the directory as a whole.
        let changed = values.map { $0 + 1 }
        try changed.withUnsafeBufferPointer { try Checkpoint.save(parameters: $0, layout: layout, to: dir) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["config.json", "model.safetensors"])
        _ = try load(dir, layout, into: &back)
        XCTAssertEqual(back.map(\.bitPattern), changed.map(\.bitPattern))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/run"), ["epoch-0001"])

        // For the by-hand check with transformers (see Fixtures/hf-parity/make_fixture.py check DIR).
        if let keep = ProcessInfo.processInfo.environment["BERT_CHECKPOINT_KEEP"] {
            let hfLayout = ParameterLayout(config: try Checkpoint.config(in: try fixturePath("hf-parity/checkpoint")))
            var hf = [Float](repeating: 0, count: hfLayout.count)
            _ = try load(try fixturePath("hf-parity/checkpoint"), hfLayout, into: &hf)
            try hf.withUnsafeBufferPointer {
                try Checkpoint.save(parameters: $0, layout: hfLayout, to: keep, vocabPath: try fixturePath("hf-parity/checkpoint/vocab.txt"))
            }
        }
    }

    func testLoadsTheCheckpointWrittenByHuggingFace() throws {
        let dir = try fixturePath("hf-parity/checkpoint")
        let config = try Checkpoint.config(in: dir)
        XCTAssertEqual([config.vocabSize, config.hiddenSize, config.numHiddenLayers, config.numAttentionHeads, config.intermediateSize],
                       [100, 32, 2, 4, 48])
        let layout = ParameterLayout(config: config)
        var values = [Float](repeating: .nan, count: layout.count)
        let report = try load(dir, layout, into: &values)
        XCTAssertEqual(report.loaded.count, 46)
        XCTAssertEqual(report.initialized + report.unknown + report.warnings, [])
        XCTAssertTrue(values.allSatisfy(\.isFinite), "every element written")
        let gamma = layout.tensor(named: "cls.predictions.transform.LayerNorm.weight")!
        XCTAssertTrue(values[gamma.range].allSatisfy { $0 >= 0.6 && $0 <= 1.4 })
    }

    func testHeadlessLegacyCheckpointLoadsWithFreshHeadsAndWarnings() throws {
        let root = try temporaryDirectory(self)
        let layout = ParameterLayout(config: Self.tinyConfig())
        let values = filled(layout)
        // A TF-era BertModel export: no `bert.` prefix, gamma/beta, a position_ids buffer, no heads,
        // plus a fine-tuned classifier this model has no place for.
        var tensors = entries(layout, values) { name in
            guard name.hasPrefix("bert.") else { return nil }
            var n = String(name.dropFirst("bert.".count))
            if n.hasSuffix("LayerNorm.weight") { n = String(n.dropLast("weight".count)) + "gamma" }
            if n.hasSuffix("LayerNorm.bias") { n = String(n.dropLast("bias".count)) + "beta" }
            return n
        }
        tensors.append(("embeddings.position_ids", "I64", [1, 8], [UInt8](repeating: 0, count: 64)))
        tensors.append(("classifier.weight", "F32", [3, 4], littleEndianBytes(Array(repeating: 1, count: 12))))
        try writeDirectory(root + "/ckpt", config: Self.tinyConfig(), tensors: tensors)

        var back = [Float](repeating: .nan, count: layout.count)
        let report = try load(root + "/ckpt", layout, into: &back)
        XCTAssertEqual(report.ignored, ["embeddings.position_ids"])
        XCTAssertEqual(report.unknown, ["classifier.weight"])
        let heads = layout.tensors.filter { $0.name.hasPrefix("cls.") }.map(\.name)
        XCTAssertEqual(report.initialized, heads)
        XCTAssertTrue(report.warnings.contains { w in heads.allSatisfy { w.contains($0) } }, "\(report.warnings)")
        XCTAssertTrue(report.warnings.contains { $0.contains("classifier.weight") }, "\(report.warnings)")

        for spec in layout.tensors {
            let got = Array(back[spec.range])
            if spec.name.hasPrefix("bert.") {
                XCTAssertEqual(got.map(\.bitPattern), Array(values[spec.range]).map(\.bitPattern), spec.name)
            } else if spec.name.hasSuffix("LayerNorm.weight") {
                XCTAssertEqual(got, Array(repeating: 1, count: spec.count), spec.name)
            } else if spec.name.hasSuffix("bias") {
                XCTAssertEqual(got, Array(repeating: 0, count: spec.count), spec.name)
            } else {
                // N(0, 0.02): small, not all zero, not the loaded pattern.
                XCTAssertTrue(got.allSatisfy { abs($0) < 0.02 * 6 } && got.contains { $0 != 0 }, "\(spec.name): \(got)")
            }
        }
    }

    func testExplicitDecoderIsCheckedAgainstTheWordEmbeddingsAndItsBiasIsAnAlias() throws {
        let root = try temporaryDirectory(self)
        let layout = ParameterLayout(config: Self.tinyConfig())
        let values = filled(layout)
        let word = layout.tensor(named: "bert.embeddings.word_embeddings.weight")!
        let bias = layout.tensor(named: "cls.predictions.bias")!

        // Tied copy equal to the embeddings, output bias only under the decoder's name: no warning.
        var tensors = entries(layout, values) { $0 == "cls.predictions.bias" ? "cls.predictions.decoder.bias" : $0 }
        tensors.append(("cls.predictions.decoder.weight", "F32", word.shape, littleEndianBytes(Array(values[word.range]))))
        try writeDirectory(root + "/a", config: Self.tinyConfig(), tensors: tensors)
        var back = [Float](repeating: .nan, count: layout.count)
        let report = try load(root + "/a", layout, into: &back)
        XCTAssertEqual(report.warnings, [])
        XCTAssertEqual(report.ignored, ["cls.predictions.decoder.weight"])
        XCTAssertEqual(Array(back[bias.range]), Array(values[bias.range]))

        // A decoder that is not the embeddings: loaded model stays tied, with a warning saying so.
        var other = entries(layout, values)
        var decoder = Array(values[word.range])
        decoder[3] += 0.5
        other.append(("cls.predictions.decoder.weight", "F32", word.shape, littleEndianBytes(decoder)))
        try writeDirectory(root + "/b", config: Self.tinyConfig(), tensors: other)
        let warned = try load(root + "/b", layout, into: &back)
        XCTAssertTrue(warned.warnings.contains { $0.contains("cls.predictions.decoder.weight") && $0.contains("differs") && $0.contains("0.5") },
                      "\(warned.warnings)")
        XCTAssertEqual(Array(back[word.range]), Array(values[word.range]))
    }

    func testShapeMismatchIsRefusedNamingTheTensorAndBothShapes() throws {
        let root = try temporaryDirectory(self)
        let layout = ParameterLayout(config: Self.tinyConfig())
        var tensors = entries(layout, filled(layout))
        let i = tensors.firstIndex { $0.name == "bert.encoder.layer.1.intermediate.dense.weight" }!
        tensors[i].shape = [4, 6]   // transposed: [in, out] instead of [out, in]
        try writeDirectory(root + "/c", config: Self.tinyConfig(), tensors: tensors)
        var back = [Float](repeating: 0, count: layout.count)
        let m = errorMessage { _ = try load(root + "/c", layout, into: &back) }
        XCTAssertTrue(m.contains("bert.encoder.layer.1.intermediate.dense.weight") && m.contains("[4, 6]") && m.contains("[6, 4]"), m)
    }

    func testMissingEncoderTensorAndConfigMismatchAreErrors() throws {
        let root = try temporaryDirectory(self)
        let layout = ParameterLayout(config: Self.tinyConfig())
        let tensors = entries(layout, filled(layout)) { $0.hasSuffix("layer.0.output.dense.bias") ? nil : $0 }
        try writeDirectory(root + "/d", config: Self.tinyConfig(), tensors: tensors)
        var back = [Float](repeating: 0, count: layout.count)
        var m = errorMessage { _ = try load(root + "/d", layout, into: &back) }
        XCTAssertTrue(m.contains("lacks 1 encoder tensor") && m.contains("bert.encoder.layer.0.output.dense.bias"), m)

        var bigger = Self.tinyConfig()
        bigger.numAttentionHeads = 4
        try writeDirectory(root + "/e", config: bigger, tensors: entries(layout, filled(layout)))
        m = errorMessage { _ = try load(root + "/e", layout, into: &back) }
        XCTAssertTrue(m.contains("config.json") && m.contains("num_attention_heads 4 (model expects 2)"), m)
    }

    func testPyTorchOnlyDirectoryGetsAClearError() throws {
        let root = try temporaryDirectory(self)
        try Self.tinyConfig().jsonData().write(to: URL(fileURLWithPath: root + "/config.json"))
        try Data([0x80, 0x02]).write(to: URL(fileURLWithPath: root + "/pytorch_model.bin"))
        let layout = ParameterLayout(config: Self.tinyConfig())
        var back = [Float](repeating: 0, count: layout.count)
        let m = errorMessage { _ = try load(root, layout, into: &back) }
        XCTAssertTrue(m.contains("pytorch_model.bin") && m.contains("only safetensors checkpoints are supported"), m)
    }

    func testFailedSaveLeavesThePreviousCheckpointIntact() throws {
        let root = try temporaryDirectory(self)
        let layout = ParameterLayout(config: Self.tinyConfig())
        let values = filled(layout)
        let dir = root + "/epoch-0002"
        try values.withUnsafeBufferPointer { try Checkpoint.save(parameters: $0, layout: layout, to: dir) }
        struct DiskFull: Error {}
        let changed = values.map { $0 * 2 }
        XCTAssertThrowsError(try changed.withUnsafeBufferPointer {
            try Checkpoint.save(parameters: $0, layout: layout, to: dir, extraFiles: ["trainer-state.json": { _ in throw DiskFull() }])
        })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root), ["epoch-0002"], "temporary directory removed")
        var back = [Float](repeating: 0, count: layout.count)
        _ = try load(dir, layout, into: &back)
        XCTAssertEqual(back.map(\.bitPattern), values.map(\.bitPattern), "the previous checkpoint is still there, whole")
    }

    func testShardedCheckpointIsReadThroughItsIndex() throws {
        let root = try temporaryDirectory(self)
        let layout = ParameterLayout(config: Self.tinyConfig())
        let values = filled(layout)
        let all = entries(layout, values)
        let first = Array(all.prefix(20)), second = Array(all.dropFirst(20))
        try FileManager.default.createDirectory(atPath: root + "/s", withIntermediateDirectories: true)
        try Self.tinyConfig().jsonData().write(to: URL(fileURLWithPath: root + "/s/config.json"))
        try rawSafetensors(first).write(to: URL(fileURLWithPath: root + "/s/model-00001-of-00002.safetensors"))
        try rawSafetensors(second).write(to: URL(fileURLWithPath: root + "/s/model-00002-of-00002.safetensors"))
        var map: [String: String] = [:]
        for e in first { map[e.name] = "model-00001-of-00002.safetensors" }
        for e in second { map[e.name] = "model-00002-of-00002.safetensors" }
        let index = try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": 4 * layout.count], "weight_map": map])
        try index.write(to: URL(fileURLWithPath: root + "/s/model.safetensors.index.json"))

        var back = [Float](repeating: .nan, count: layout.count)
        let report = try load(root + "/s", layout, into: &back)
        XCTAssertEqual(report.files.count, 2)
        XCTAssertEqual(back.map(\.bitPattern), values.map(\.bitPattern))

        try FileManager.default.removeItem(atPath: root + "/s/model-00002-of-00002.safetensors")
        let m = errorMessage { _ = try load(root + "/s", layout, into: &back) }
        XCTAssertTrue(m.contains("model-00002-of-00002.safetensors") && m.contains("missing"), m)
    }

    func testFreshHeadsDependOnlyOnTheSeed() throws {
        let root = try temporaryDirectory(self)
        let layout = ParameterLayout(config: Self.tinyConfig())
        try writeDirectory(root + "/h", config: Self.tinyConfig(),
                           tensors: entries(layout, filled(layout)) { $0.hasPrefix("cls.") ? nil : $0 })
        func fresh(_ seed: UInt64) throws -> [Float] {
            var v = [Float](repeating: 0, count: layout.count)
            _ = try v.withUnsafeMutableBufferPointer { try Checkpoint.load(from: root + "/h", into: $0, layout: layout, seed: seed, logger: nil) }
            return Array(v[layout.offset(of: "cls.predictions.transform.dense.weight")..<(layout.offset(of: "cls.predictions.transform.dense.weight") + 16)])
        }
        XCTAssertEqual(try fresh(1), try fresh(1))
        XCTAssertNotEqual(try fresh(1), try fresh(2))
    }

    func testNaNWeightIsRefusedNamingTheTensor() throws {
        let root = try temporaryDirectory(self)
        let layout = ParameterLayout(config: Self.tinyConfig())
        var values = filled(layout)
        values[layout.pooler!.weight + 2] = .nan
        try writeDirectory(root + "/f", config: Self.tinyConfig(), tensors: entries(layout, values))
        var back = [Float](repeating: 0, count: layout.count)
        let m = errorMessage { _ = try load(root + "/f", layout, into: &back) }
        XCTAssertTrue(m.contains("bert.pooler.dense.weight") && m.contains("element 2"), m)
    }
}
