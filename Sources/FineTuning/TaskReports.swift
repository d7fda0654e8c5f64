// The report files run_glue.py leaves in its output directory, byte for byte:
// - eval_results.json: Trainer.save_metrics("eval", metrics) = json.dump(metrics, f, indent=4,
//   sort_keys=True): keys `epoch`, `eval_loss`, `eval_<metric>` (and `eval_samples`, which run_glue
//   adds), sorted; floats as Python's repr (Swift's Double.description is the same shortest
//   round-trip form: 0.1, 3.0, 1e-05); a nan or infinite metric as Python writes it (NaN, Infinity,
//   -Infinity: not strict JSON, but what HF's files hold and Python's json reads back); a final newline
//   is not written (json.dump writes none).
// - predict_results.txt: "index\tprediction\n", then one row per test example: the class name, or
//   f"{value:3.3f}" for regression (the value is the float32 output: formatted from its exact double).
//   run_glue names it predict_results_<task_name>.txt; with no task name here it is predict_results.txt.

import Foundation

public enum TaskReports {
    /// The text of eval_results.json.
    public static func evalResults(metrics: [MetricValue], loss: Double, epoch: Double, samples: Int? = nil) -> String {
        var entries: [(key: String, value: String)] = [("epoch", pythonFloat(epoch)), ("eval_loss", pythonFloat(loss))]
        for metric in metrics { entries.append(("eval_" + metric.name, pythonFloat(metric.value))) }
        if let samples { entries.append(("eval_samples", String(samples))) }
        // sort_keys sorts by code point; the keys are ASCII.
        entries.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        let body = entries.map { "    \(jsonString($0.key)): \($0.value)" }.joined(separator: ",\n")
        return "{\n" + body + "\n}"
    }

    /// The text of predict_results.txt for a classification task: class ids → their names.
    public static func predictResults(classIds: [Int32], labelNames: [String]) -> String {
        var out = "index\tprediction\n"
        for (i, id) in classIds.enumerated() { out += "\(i)\t\(labelNames[Int(id)])\n" }
        return out
    }

    /// The text of predict_results.txt for a regression task.
    public static func predictResults(values: [Float]) -> String {
        var out = "index\tprediction\n"
        for (i, v) in values.enumerated() { out += "\(i)\t\(pythonFixed3(Double(v)))\n" }
        return out
    }

    /// Python's repr of a float, as json.dump writes it (NaN, Infinity, -Infinity for the non-finite).
    static func pythonFloat(_ x: Double) -> String {
        if x.isNaN { return "NaN" }
        if x.isInfinite { return x < 0 ? "-Infinity" : "Infinity" }
        return x.description
    }

    /// Python's f"{x:3.3f}" (C's %3.3f, except nan/inf, which Python writes without a sign for nan).
    static func pythonFixed3(_ x: Double) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x < 0 ? "-inf" : "inf" }
        return String(format: "%3.3f", x)
    }

    /// A JSON string literal (JSONSerialization escapes it as json.dump would for these ASCII keys).
    private static func jsonString(_ s: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
        let array = String(decoding: data, as: UTF8.self)
        return String(array.dropFirst().dropLast())
    }
}
