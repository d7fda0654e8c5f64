// Metrics against sklearn/scipy (Fixtures/metrics.json, made by make_metrics.py) and a few
// hand-computed cases; report files against the exact text run_glue.py / HF Trainer write.

import Foundation
import XCTest
@testable import FineTuning

final class TaskMetricsTests: XCTestCase {
    func assertClose(_ observed: Double, _ expected: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        if expected.isNaN {
            XCTAssertTrue(observed.isNaN, "\(what): expected nan, observed \(observed)", file: file, line: line)
            return
        }
        let error = abs(observed - expected) / max(abs(expected), 1e-300)
        XCTAssertTrue(observed == expected || error <= 1e-12,
                      "\(what): expected \(expected), observed \(observed) (relative error \(error))", file: file, line: line)
    }

    func number(_ any: Any?) -> Double {
        if let s = any as? String, s == "nan" { return .nan }
        return (any as! NSNumber).doubleValue
    }

    func testAgainstSklearnAndScipy() throws {
        let url = Bundle.module.bundleURL.appendingPathComponent("Fixtures/metrics.json")
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: [[String: Any]]]
        let classification = fixture["classification"]!, regression = fixture["regression"]!
        XCTAssertEqual(classification.count, 8)
        XCTAssertEqual(regression.count, 5)
        for c in classification {
            let name = c["name"] as! String
            let predicted = (c["predicted"] as! [Int]).map(Int32.init), actual = (c["actual"] as! [Int]).map(Int32.init)
            let metrics = TaskMetrics.classification(predicted: predicted, actual: actual, numLabels: c["num_labels"] as! Int)
            XCTAssertEqual(metrics.map(\.name), TaskMetrics.names(for: .classification))
            for m in metrics { assertClose(m.value, number(c[m.name]), "\(name) \(m.name)") }
        }
        for c in regression {
            let name = c["name"] as! String
            let predicted = (c["predicted"] as! [Double]).map(Float.init), actual = (c["actual"] as! [Double]).map(Float.init)
            let metrics = TaskMetrics.regression(predicted: predicted, actual: actual)
            XCTAssertEqual(metrics.map(\.name), TaskMetrics.names(for: .regression))
            for m in metrics { assertClose(m.value, number(c[m.name]), "\(name) \(m.name)") }
        }
    }

    func testHandComputed() {
        // Binary: TP 2, FP 1, FN 1 → F1 = 4/6; MCC = (2·2 − 1·1)/sqrt(3·3·3·3) = 3/9.
        let p: [Int32] = [1, 1, 0, 0, 1, 0], a: [Int32] = [1, 1, 1, 0, 0, 0]
        assertClose(TaskMetrics.binaryF1(predicted: p, actual: a), 4.0 / 6.0, "f1")
        assertClose(TaskMetrics.matthewsCorrelation(predicted: p, actual: a, numLabels: 2), 1.0 / 3.0, "mcc")
        assertClose(TaskMetrics.accuracy(predicted: p, actual: a), 4.0 / 6.0, "accuracy")
        // Ranks with ties: 10, 20, 20, 5 → 2, 3.5, 3.5, 1.
        XCTAssertEqual(TaskMetrics.averageRanks([10, 20, 20, 5]), [2, 3.5, 3.5, 1])
        // Degenerate: constant predictions.
        XCTAssertEqual(TaskMetrics.matthewsCorrelation(predicted: [0, 0, 0], actual: [0, 1, 1], numLabels: 2), 0)
        XCTAssertTrue(TaskMetrics.pearson([1, 1, 1], [1, 2, 3]).isNaN)
        XCTAssertTrue(TaskMetrics.spearman([1, 2, 3], [4, 4, 4]).isNaN)
        XCTAssertTrue(TaskMetrics.pearson([1], [2]).isNaN)
        XCTAssertTrue(TaskMetrics.spearman([1, .nan, 3], [1, 2, 3]).isNaN)
        XCTAssertTrue(TaskMetrics.accuracy(predicted: [], actual: []).isNaN)
    }

    // MARK: Reports

    func testEvalResultsJSONIsHFsText() throws {
        let metrics = TaskMetrics.classification(predicted: [1, 0, 1, 1], actual: [1, 0, 0, 1], numLabels: 2)
        let text = TaskReports.evalResults(metrics: metrics, loss: 0.4123, epoch: 3, samples: 4)
        // python3 -c 'import json,sys; json.dump({"eval_loss": 0.4123, "eval_accuracy": 0.75, "eval_f1": 0.8,
        //   "eval_matthews_correlation": 0.5773502691896258, "epoch": 3.0, "eval_samples": 4}, sys.stdout, indent=4, sort_keys=True)'
        XCTAssertEqual(text, """
            {
                "epoch": 3.0,
                "eval_accuracy": 0.75,
                "eval_f1": 0.8,
                "eval_loss": 0.4123,
                "eval_matthews_correlation": 0.5773502691896258,
                "eval_samples": 4
            }
            """)
        let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Double]
        XCTAssertEqual(parsed["eval_f1"], 0.8)

        // Regression with a constant prediction: nan as Python's json.dump writes it (NaN).
        let r = TaskMetrics.regression(predicted: [2, 2, 2], actual: [1, 2, 3])
        XCTAssertEqual(TaskReports.evalResults(metrics: r, loss: 1e-05, epoch: 1.5), """
            {
                "epoch": 1.5,
                "eval_loss": 1e-05,
                "eval_mse": 0.6666666666666666,
                "eval_pearson": NaN,
                "eval_spearmanr": NaN
            }
            """)
    }

    func testPredictResultsText() {
        XCTAssertEqual(TaskReports.predictResults(classIds: [1, 0, 2], labelNames: ["contradiction", "entailment", "neutral"]),
                       "index\tprediction\n0\tentailment\n1\tcontradiction\n2\tneutral\n")
        // f"{x:3.3f}" of float32 values: 2.0005 is 2.000499963… in float32, so it rounds down.
        XCTAssertEqual(TaskReports.predictResults(values: [3.14159, -0.5, 2.0005, 1234.5678, .nan]),
                       "index\tprediction\n0\t3.142\n1\t-0.500\n2\t2.000\n3\t1234.568\n4\tnan\n")
        XCTAssertEqual(TaskReports.predictResults(values: []), "index\tprediction\n")
    }
}
