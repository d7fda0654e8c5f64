// Evaluation metrics with Hugging Face's names (eval_results.json adds the "eval_" prefix) and the
// sklearn / scipy definitions, computed in Double:
//   classification: accuracy; f1 (two classes: F1 of class id 1, sklearn average="binary";
//                   more: sklearn average="macro" over the classes present in y_true ∪ y_pred);
//                   matthews_correlation (sklearn's multi-class formula).
//   regression:     mse; pearson (scipy.stats.pearsonr); spearmanr (scipy.stats.spearmanr: Pearson
//                   of the ranks, ties given their average rank).
// Degenerate cases, as sklearn/scipy answer them: F1 with no true or predicted positive is 0
// (zero_division); MCC is 0 when either side is constant; Pearson and Spearman are nan when either
// side is constant or there are fewer than 2 examples; every metric of an empty set is nan.
// Checked against sklearn 1.9.1 / scipy 1.17.1 in Tests/FineTuningTests (Fixtures/make_metrics.py).

/// One metric: HF's name (without "eval_") and its value.
public struct MetricValue: Equatable {
    public let name: String
    public let value: Double
    public init(name: String, value: Double) {
        self.name = name
        self.value = value
    }
}

public enum TaskMetrics {
    /// The metric names of a task kind, in the order `classification`/`regression` return them
    /// (metrics.csv columns).
    public static func names(for kind: TaskKind) -> [String] {
        switch kind {
        case .classification: return ["accuracy", "f1", "matthews_correlation"]
        case .regression: return ["mse", "pearson", "spearmanr"]
        }
    }

    /// accuracy, f1 (binary when `numLabels` is 2, else macro), matthews_correlation.
    public static func classification(predicted: [Int32], actual: [Int32], numLabels: Int) -> [MetricValue] {
        precondition(predicted.count == actual.count, "predictions and labels differ in count")
        let f1 = numLabels == 2 ? binaryF1(predicted: predicted, actual: actual)
                                : macroF1(predicted: predicted, actual: actual, numLabels: numLabels)
        return [MetricValue(name: "accuracy", value: accuracy(predicted: predicted, actual: actual)),
                MetricValue(name: "f1", value: f1),
                MetricValue(name: "matthews_correlation", value: matthewsCorrelation(predicted: predicted, actual: actual, numLabels: numLabels))]
    }

    /// mse, pearson, spearmanr.
    public static func regression(predicted: [Float], actual: [Float]) -> [MetricValue] {
        precondition(predicted.count == actual.count, "predictions and labels differ in count")
        let p = predicted.map(Double.init), a = actual.map(Double.init)
        return [MetricValue(name: "mse", value: meanSquaredError(p, a)),
                MetricValue(name: "pearson", value: pearson(p, a)),
                MetricValue(name: "spearmanr", value: spearman(p, a))]
    }

    // MARK: Classification

    public static func accuracy(predicted: [Int32], actual: [Int32]) -> Double {
        guard !actual.isEmpty else { return .nan }
        return Double(zip(predicted, actual).filter { $0 == $1 }.count) / Double(actual.count)
    }

    /// F1 of class `positive`: 2·TP / (2·TP + FP + FN), 0 when there is no positive at all.
    public static func binaryF1(predicted: [Int32], actual: [Int32], positive: Int32 = 1) -> Double {
        guard !actual.isEmpty else { return .nan }
        var tp = 0, fp = 0, fn = 0
        for (p, a) in zip(predicted, actual) {
            if p == positive && a == positive { tp += 1 } else if p == positive { fp += 1 } else if a == positive { fn += 1 }
        }
        let denominator = 2 * tp + fp + fn
        return denominator == 0 ? 0 : Double(2 * tp) / Double(denominator)
    }

    /// Unweighted mean of the per-class F1 over the classes that occur in `actual` or `predicted`.
    public static func macroF1(predicted: [Int32], actual: [Int32], numLabels: Int) -> Double {
        guard !actual.isEmpty else { return .nan }
        let c = confusion(predicted: predicted, actual: actual, numLabels: numLabels)
        var sum = 0.0, present = 0
        for k in 0..<numLabels {
            let tp = c[k * numLabels + k]
            let actualK = (0..<numLabels).reduce(0) { $0 + c[k * numLabels + $1] }
            let predictedK = (0..<numLabels).reduce(0) { $0 + c[$1 * numLabels + k] }
            guard actualK + predictedK > 0 else { continue }
            present += 1
            sum += Double(2 * tp) / Double(actualK + predictedK)   // 2TP + FP + FN = actual + predicted
        }
        return sum / Double(present)
    }

    /// Matthews correlation coefficient, sklearn's multi-class form from the confusion matrix C:
    /// (c·s − Σ_k p_k t_k) / sqrt((s² − Σ p_k²)(s² − Σ t_k²)), c = trace, s = total,
    /// t_k = true count of k, p_k = predicted count of k; 0 when the denominator is 0.
    public static func matthewsCorrelation(predicted: [Int32], actual: [Int32], numLabels: Int) -> Double {
        guard !actual.isEmpty else { return .nan }
        let c = confusion(predicted: predicted, actual: actual, numLabels: numLabels)
        let s = Double(actual.count)
        var correct = 0.0, pt = 0.0, pp = 0.0, tt = 0.0
        for k in 0..<numLabels {
            correct += Double(c[k * numLabels + k])
            let t = Double((0..<numLabels).reduce(0) { $0 + c[k * numLabels + $1] })
            let p = Double((0..<numLabels).reduce(0) { $0 + c[$1 * numLabels + k] })
            pt += p * t
            pp += p * p
            tt += t * t
        }
        let covYtYp = correct * s - pt, covYpYp = s * s - pp, covYtYt = s * s - tt
        guard covYpYp * covYtYt != 0 else { return 0 }
        return covYtYp / (covYtYt * covYpYp).squareRoot()
    }

    /// [numLabels × numLabels] counts, row = actual class, column = predicted class.
    private static func confusion(predicted: [Int32], actual: [Int32], numLabels: Int) -> [Int] {
        var c = [Int](repeating: 0, count: numLabels * numLabels)
        for (p, a) in zip(predicted, actual) {
            precondition(p >= 0 && Int(p) < numLabels && a >= 0 && Int(a) < numLabels, "class id outside 0..<\(numLabels)")
            c[Int(a) * numLabels + Int(p)] += 1
        }
        return c
    }

    // MARK: Regression

    public static func meanSquaredError(_ predicted: [Double], _ actual: [Double]) -> Double {
        guard !actual.isEmpty else { return .nan }
        return zip(predicted, actual).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(actual.count)
    }

    /// Pearson's r, clipped to [−1, 1] as scipy does; nan for a constant side or fewer than 2 values.
    public static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count)
        guard x.count >= 2 else { return .nan }
        let mx = x.reduce(0, +) / Double(x.count), my = y.reduce(0, +) / Double(y.count)
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (a, b) in zip(x, y) {
            sxy += (a - mx) * (b - my)
            sxx += (a - mx) * (a - mx)
            syy += (b - my) * (b - my)
        }
        guard sxx > 0 && syy > 0 else { return .nan }
        return max(-1, min(1, sxy / (sxx.squareRoot() * syy.squareRoot())))
    }

    /// Spearman's rho: Pearson's r of the ranks (ties share their average rank).
    /// nan when any value is nan (scipy's nan_policy="propagate").
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double {
        if x.contains(where: \.isNaN) || y.contains(where: \.isNaN) { return .nan }
        return pearson(averageRanks(x), averageRanks(y))
    }

    /// 1-based ranks, tied values given the mean of the ranks they span (scipy.stats.rankdata "average").
    public static func averageRanks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && values[order[j + 1]] == values[order[i]] { j += 1 }
            let rank = Double(i + j) / 2 + 1
            for k in i...j { ranks[order[k]] = rank }
            i = j + 1
        }
        return ranks
    }
}
