import XCTest
@testable import BERT

final class ConfigTests: XCTestCase {
    func testPresetsMatchTheirNames() throws {
        let expected: [String: (Int, Int, Int, Int)] = [
            "bert-tiny": (2, 128, 2, 512), "bert-mini": (4, 256, 4, 1024), "bert-small": (4, 512, 8, 2048),
            "bert-medium": (8, 512, 8, 2048), "bert-base": (12, 768, 12, 3072), "bert-large": (24, 1024, 16, 4096),
        ]
        for (name, (l, h, a, i)) in expected {
            let c = try XCTUnwrap(BertConfig.preset(name))
            XCTAssertEqual([c.numHiddenLayers, c.hiddenSize, c.numAttentionHeads, c.intermediateSize], [l, h, a, i], name)
            XCTAssertNoThrow(try c.validate())
        }
    }

    func testBertBaseHasTheKnownParameterCount() {
        // bert-base-uncased BertForPreTraining: 110,106,428 parameters with the tied decoder
        // (HF `sum(p.numel() for p in model.parameters())`).
        let layout = ParameterLayout(config: BertConfig.preset("bert-base")!)
        XCTAssertEqual(layout.count, 110_106_428)
    }

    func testJSONRoundTripKeepsEveryField() throws {
        var c = BertConfig.preset("bert-mini")!
        c.hiddenAct = try Activation(name: "gelu_pytorch_tanh")
        c.vocabSize = 1234
        c.hiddenDropoutProb = 0.25
        c.layerNormEps = 1e-6
        let back = try BertConfig.decode(json: c.jsonData())
        XCTAssertEqual(back, c)
        XCTAssertEqual(back.hiddenAct.name, "gelu_pytorch_tanh")
    }

    func testInvalidConfigsAreRefusedNamingTheField() {
        func message(_ json: String) -> String {
            do { _ = try BertConfig.decode(json: Data(json.utf8)); return "accepted" } catch { return "\(error)" }
        }
        XCTAssertTrue(message(#"{"hidden_size": 100, "num_attention_heads": 3}"#).contains("not divisible"))
        XCTAssertTrue(message(#"{"hidden_act": "relu"}"#).contains("unknown activation"))
        XCTAssertTrue(message(#"{"num_hidden_layers": 0}"#).contains("num_hidden_layers"))
        XCTAssertTrue(message(#"{"vocab_size": 4}"#).contains("special tokens"))
        XCTAssertTrue(message("[1,2]").contains("not a JSON object"))
    }

    func testLayoutIsContiguousAndNamed() {
        var c = BertConfig()
        c.numHiddenLayers = 3; c.hiddenSize = 24; c.numAttentionHeads = 3; c.intermediateSize = 40; c.vocabSize = 101
        let layout = ParameterLayout(config: c)
        var next = 0
        for t in layout.tensors {
            XCTAssertEqual(t.offset, next, t.name)
            next += t.count
        }
        XCTAssertEqual(next, layout.count)
        XCTAssertEqual(layout.tensor(named: "bert.encoder.layer.2.attention.self.key.weight")?.offset,
                       layout.layers[2].qkvWeight + 24 * 24)
        XCTAssertEqual(layout.tensor(named: "cls.predictions.bias")?.shape, [101])
        XCTAssertFalse(layout.tensor(named: "bert.embeddings.LayerNorm.weight")!.decays)
        XCTAssertTrue(layout.tensor(named: "bert.pooler.dense.weight")!.decays)
    }
}
