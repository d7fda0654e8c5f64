// The config.json fields of a HF `BertForSequenceClassification` beyond the encoder's: the label
// names (`id2label`, `label2id`; JSON keys of id2label are strings "0", "1", …), `problem_type`
// and `classifier_dropout`. `num_labels` is the number of labels, as HF derives it.

import Foundation

public struct ClassifierConfig: Equatable, Sendable {
    public var problemType: ProblemType
    /// Label names by class id (one entry, a placeholder name, for regression).
    public var labels: [String]
    /// HF `classifier_dropout`; nil = the encoder's hidden dropout.
    public var classifierDropout: Double?
    /// Whether config.json names the problem type (a one-label classifier without it is scored by a
    /// sigmoid in HF's text-classification pipeline, an explicit regression by the raw value).
    public var problemTypeIsExplicit = true

    public init(problemType: ProblemType, labels: [String], classifierDropout: Double? = nil) {
        self.problemType = problemType
        self.labels = labels
        self.classifierDropout = classifierDropout
    }

    public var numLabels: Int { labels.count }

    /// The classifier fields of DIR/config.json, or nil when it describes no sequence classifier
    /// (no `id2label` and no `BertForSequenceClassification` architecture).
    public static func load(checkpoint dir: String) throws -> ClassifierConfig? {
        let path = (dir as NSString).appendingPathComponent(Checkpoint.configFile)
        guard let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigError.unreadable(path: path, reason: "missing or not a JSON object")
        }
        let architectures = object["architectures"] as? [String] ?? []
        guard architectures.contains("BertForSequenceClassification") || object["id2label"] != nil else { return nil }
        var labels: [String]
        if let id2label = object["id2label"] as? [String: Any] {
            labels = []
            for i in 0..<id2label.count {
                guard let name = id2label[String(i)] else {
                    throw ConfigError.invalid(field: "id2label", reason: "\(path): ids must be 0..<\(id2label.count), \"\(i)\" is missing")
                }
                labels.append("\(name)")
            }
        } else if let n = object["num_labels"] as? Int, n > 0 {
            labels = (0..<n).map { "LABEL_\($0)" }
        } else {
            labels = ["LABEL_0", "LABEL_1"]   // HF's default num_labels
        }
        let problem: ProblemType
        switch object["problem_type"] as? String {
        case "regression": problem = .regression
        case "single_label_classification": problem = .singleLabelClassification
        case nil: problem = labels.count == 1 ? .regression : .singleLabelClassification   // HF's rule at the first loss
        case let other?:
            throw ConfigError.invalid(field: "problem_type", reason: "\(path): \"\(other)\" is not supported (single_label_classification, regression)")
        }
        let dropout = object["classifier_dropout"] as? Double
        var config = ClassifierConfig(problemType: problem, labels: labels, classifierDropout: dropout)
        config.problemTypeIsExplicit = object["problem_type"] is String
        return config
    }

    /// `encoder`'s config.json with the classifier's fields added, for `Checkpoint.save`.
    public func configJSON(encoder: BertConfig) throws -> Data {
        var object = try JSONSerialization.jsonObject(with: encoder.jsonData()) as! [String: Any]
        object["architectures"] = ["BertForSequenceClassification"]
        object["id2label"] = Dictionary(uniqueKeysWithValues: labels.enumerated().map { (String($0.offset), $0.element) })
        object["label2id"] = Dictionary(labels.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
        object["problem_type"] = problemType.rawValue
        if let classifierDropout { object["classifier_dropout"] = classifierDropout }
        var data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        data.append(0x0A)
        return data
    }
}
