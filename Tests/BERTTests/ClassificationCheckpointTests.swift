// A sequence classifier's checkpoint: HF's config fields, its own keys, and what loading takes
// from a pretraining checkpoint (the encoder and pooler; cls.* dropped, the classifier fresh).
@testable import BERT
import Foundation
import XCTest
import Storage

final class ClassificationCheckpointTests: XCTestCase {
    func testSaveWritesHFClassifierConfigAndKeysAndLoadsBack() throws {
        let dir = try temporaryDirectory(self) + "/classifier"
        let model = try ClassificationGradientTests.model(.singleLabelClassification, labels: 3, dropout: 0)
        let head = ClassifierConfig(problemType: .singleLabelClassification, labels: ["contradiction", "entailment", "neutral"],
                                    classifierDropout: 0.2)
        try Checkpoint.save(parameters: UnsafeBufferPointer(model.parameters), layout: model.layout, to: dir,
                            configJSON: try head.configJSON(encoder: model.config))
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as! [String: Any]
        XCTAssertEqual(object["architectures"] as? [String], ["BertForSequenceClassification"])
        XCTAssertEqual(object["id2label"] as? [String: String], ["0": "contradiction", "1": "entailment", "2": "neutral"])
        XCTAssertEqual(object["label2id"] as? [String: Int], ["contradiction": 0, "entailment": 1, "neutral": 2])
        XCTAssertEqual(object["problem_type"] as? String, "single_label_classification")
        XCTAssertEqual(object["hidden_size"] as? Int, 24)
        XCTAssertEqual(try ClassifierConfig.load(checkpoint: dir), head)
        XCTAssertEqual(try Checkpoint.config(in: dir), model.config)

        let keys = try Safetensors.read(path: dir + "/model.safetensors").tensors.map(\.name)
        XCTAssertTrue(keys.contains("classifier.weight") && keys.contains("bert.pooler.dense.bias"))
        XCTAssertFalse(keys.contains { $0.hasPrefix("cls.") })

        let again = try ClassificationGradientTests.model(.singleLabelClassification, labels: 3, dropout: 0)
        again.parameters.update(repeating: 0)
        let report = try Checkpoint.load(from: dir, into: again.parameters, layout: again.layout, seed: 1, logger: nil)
        XCTAssertEqual(report.initialized, [])
        XCTAssertEqual(Array(again.parameters), Array(model.parameters))
    }

    func testFromAPretrainingCheckpointTheClassifierIsFreshAndClsDropped() throws {
        let dir = try temporaryDirectory(self) + "/pretrained"
        let pretrained = try TinyModel.model()
        try Checkpoint.save(parameters: UnsafeBufferPointer(pretrained.parameters), layout: pretrained.layout, to: dir)
        let model = try ClassificationGradientTests.model(.regression, labels: 1, dropout: 0)
        let report = try Checkpoint.load(from: dir, into: model.parameters, layout: model.layout, seed: 5, logger: nil)
        XCTAssertEqual(report.initialized, ["classifier.weight", "classifier.bias"])
        XCTAssertEqual(Set(report.unknown), Set(pretrained.layout.tensors.map(\.name).filter { $0.hasPrefix("cls.") }))
        XCTAssertTrue(report.warnings.contains { $0.contains("classifier.weight") }, "\(report.warnings)")
        for spec in model.layout.tensors where !spec.name.hasPrefix("classifier.") {
            let source = pretrained.layout.tensor(named: spec.name)!
            XCTAssertEqual(Array(model.parameters[spec.range]), Array(pretrained.parameters[source.range]), spec.name)
        }
        let bias = model.layout.tensor(named: "classifier.bias")!
        XCTAssertEqual(Array(model.parameters[bias.range]), [0])
        let weight = Array(model.parameters[model.layout.tensor(named: "classifier.weight")!.range])
        let std = (weight.map { Double($0 * $0) }.reduce(0, +) / Double(weight.count)).squareRoot()
        XCTAssertEqual(std, TinyModel.config().initializerRange, accuracy: 0.15, "N(0, initializer_range)")
        // A pretraining config describes no classifier.
        XCTAssertNil(try ClassifierConfig.load(checkpoint: dir))
    }
}
