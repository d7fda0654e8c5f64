// loss.svg: training and held-out curves against the optimizer step, redrawn every epoch,
// so a person can look instead of read. Top panel: total loss (train line, eval points
// joined) and the task's loss curves; bottom panel: the task's scores (pretraining: MLM and NSP
// accuracy; fine-tuning: accuracy, F1, correlations). Plain SVG 1.1, no scripts, no external fonts.

import Foundation

public enum LossPlot {
    struct Series {
        let label: String
        let color: String
        let dashed: Bool
        let points: [(x: Double, y: Double)]
        let markers: Bool
    }

    /// The SVG text for `rows` (train and eval rows of metrics.csv, the pretraining columns unless told).
    public static func svg(rows: [MetricsRow], columns: MetricsColumns = .pretraining, title: String) -> String {
        let train = rows.filter { $0.split == "train" }
        let eval = rows.filter { $0.split == "eval" }
        func pts(_ r: [MetricsRow], _ y: (MetricsRow) -> Double) -> [(x: Double, y: Double)] {
            r.map { (Double($0.step), y($0)) }.filter { $0.1.isFinite }
        }
        let palette = ["#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
        let lossSeries = [Series(label: "train loss", color: "#1f77b4", dashed: false, points: pts(train, \.loss), markers: false)]
            + columns.lossCurves.map { c in
                Series(label: "train " + label(c), color: "#1f77b4", dashed: true, points: pts(train) { $0[c] }, markers: false)
            }
            + [Series(label: "held-out loss", color: "#d62728", dashed: false, points: pts(eval, \.loss), markers: true)]
        let scored = columns.scoreCurves.enumerated()
        let accuracySeries = scored.map { i, c in
            Series(label: "train " + label(c), color: palette[i % palette.count], dashed: false, points: pts(train) { $0[c] }, markers: false)
        } + scored.map { i, c in
            Series(label: "held-out " + label(c), color: palette[i % palette.count], dashed: true, points: pts(eval) { $0[c] }, markers: true)
        }
        let allSteps = rows.map { Double($0.step) }
        let xMax = max(allSteps.max() ?? 1, 1)
        let width = 900.0, height = 720.0
        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="13">
        <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="white"/>
        <text x="\(width / 2)" y="26" text-anchor="middle" font-size="17" font-weight="bold">\(escape(title))</text>

        """
        let lossValues = lossSeries.flatMap { $0.points.map(\.y) }
        let lossMax = niceCeiling(lossValues.max() ?? 1)
        out += panel(series: lossSeries, frame: (x: 80, y: 50, w: 560, h: 280), xRange: (0, xMax),
                     yRange: (0, lossMax), yLabel: "loss (cross-entropy)", xLabel: "optimizer step", percent: false)
        out += panel(series: accuracySeries, frame: (x: 80, y: 400, w: 560, h: 260), xRange: (0, xMax),
                     yRange: (0, 1), yLabel: columns == .pretraining ? "accuracy" : "accuracy, F1, correlation",
                     xLabel: "optimizer step", percent: true)
        out += "</svg>\n"
        return out
    }

    /// One panel with the total loss of several runs (`bert-pretrain compare`): each run's train line and
    /// its held-out points joined, in the run's colour (train solid, held-out dashed with markers).
    public static func comparison(runs: [(label: String, rows: [MetricsRow])], title: String) -> String {
        let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
        func pts(_ r: [MetricsRow]) -> [(x: Double, y: Double)] { r.map { (Double($0.step), $0.loss) }.filter { $0.1.isFinite } }
        let series = runs.enumerated().flatMap { i, run in
            [Series(label: run.label + ": train loss", color: palette[i % palette.count], dashed: false,
                    points: pts(run.rows.filter { $0.split == "train" }), markers: false),
             Series(label: run.label + ": held-out loss", color: palette[i % palette.count], dashed: true,
                    points: pts(run.rows.filter { $0.split == "eval" }), markers: true)]
        }
        let xMax = max(runs.flatMap { $0.rows.map { Double($0.step) } }.max() ?? 1, 1)
        let lossMax = niceCeiling(series.flatMap { $0.points.map(\.y) }.max() ?? 1)
        let width = 960.0, height = 420.0
        return """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="13">
        <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="white"/>
        <text x="\(width / 2)" y="26" text-anchor="middle" font-size="17" font-weight="bold">\(escape(title))</text>

        """ + panel(series: series, frame: (x: 80, y: 50, w: 560, h: 300), xRange: (0, xMax), yRange: (0, lossMax),
                    yLabel: "loss (cross-entropy)", xLabel: "optimizer step", percent: false) + "</svg>\n"
    }

    /// "mlm_accuracy" → "MLM accuracy", "matthews_correlation" → "matthews correlation".
    static func label(_ column: String) -> String {
        column.split(separator: "_").map { ["mlm", "nsp", "mse", "f1"].contains($0) ? $0.uppercased() : String($0) }
            .joined(separator: " ")
    }

    static func panel(series: [Series], frame f: (x: Double, y: Double, w: Double, h: Double),
                      xRange: (Double, Double), yRange: (Double, Double), yLabel: String, xLabel: String,
                      percent: Bool) -> String {
        func sx(_ x: Double) -> Double { f.x + (x - xRange.0) / (xRange.1 - xRange.0) * f.w }
        func sy(_ y: Double) -> Double { f.y + f.h - (min(max(y, yRange.0), yRange.1) - yRange.0) / (yRange.1 - yRange.0) * f.h }
        func n(_ v: Double) -> String { String(format: "%.1f", v) }
        var s = "<g>\n"
        s += "<rect x=\"\(n(f.x))\" y=\"\(n(f.y))\" width=\"\(n(f.w))\" height=\"\(n(f.h))\" fill=\"none\" stroke=\"#444\"/>\n"
        // Grid and ticks.
        for t in ticks(yRange.0, yRange.1) {
            let y = sy(t)
            s += "<line x1=\"\(n(f.x))\" y1=\"\(n(y))\" x2=\"\(n(f.x + f.w))\" y2=\"\(n(y))\" stroke=\"#ddd\"/>\n"
            let label = percent ? String(format: "%.0f%%", t * 100) : tickLabel(t)
            s += "<text x=\"\(n(f.x - 6))\" y=\"\(n(y + 4))\" text-anchor=\"end\">\(label)</text>\n"
        }
        for t in ticks(xRange.0, xRange.1) {
            let x = sx(t)
            s += "<line x1=\"\(n(x))\" y1=\"\(n(f.y + f.h))\" x2=\"\(n(x))\" y2=\"\(n(f.y + f.h + 5))\" stroke=\"#444\"/>\n"
            s += "<text x=\"\(n(x))\" y=\"\(n(f.y + f.h + 19))\" text-anchor=\"middle\">\(tickLabel(t))</text>\n"
        }
        s += "<text x=\"\(n(f.x + f.w / 2))\" y=\"\(n(f.y + f.h + 38))\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        let cy = f.y + f.h / 2
        s += "<text x=\"\(n(f.x - 55))\" y=\"\(n(cy))\" text-anchor=\"middle\" transform=\"rotate(-90 \(n(f.x - 55)) \(n(cy)))\">\(escape(yLabel))</text>\n"
        // Curves.
        for serie in series where !serie.points.isEmpty {
            let path = serie.points.map { "\(n(sx($0.x))),\(n(sy($0.y)))" }.joined(separator: " ")
            let dash = serie.dashed ? " stroke-dasharray=\"6 4\"" : ""
            s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(serie.color)\" stroke-width=\"2\"\(dash)/>\n"
            if serie.markers || serie.points.count == 1 {
                for p in serie.points {
                    s += "<circle cx=\"\(n(sx(p.x)))\" cy=\"\(n(sy(p.y)))\" r=\"4\" fill=\"\(serie.color)\"/>\n"
                }
            }
        }
        // Legend, to the right of the panel.
        var ly = f.y + 14
        for serie in series {
            let lx = f.x + f.w + 20
            let dash = serie.dashed ? " stroke-dasharray=\"6 4\"" : ""
            s += "<line x1=\"\(n(lx))\" y1=\"\(n(ly - 4))\" x2=\"\(n(lx + 30))\" y2=\"\(n(ly - 4))\" stroke=\"\(serie.color)\" stroke-width=\"2\"\(dash)/>\n"
            if serie.markers { s += "<circle cx=\"\(n(lx + 15))\" cy=\"\(n(ly - 4))\" r=\"4\" fill=\"\(serie.color)\"/>\n" }
            let note = serie.points.isEmpty ? " (no data yet)" : ""
            s += "<text x=\"\(n(lx + 38))\" y=\"\(n(ly))\">\(escape(serie.label + note))</text>\n"
            ly += 22
        }
        s += "</g>\n"
        return s
    }

    /// About five round tick values covering [lo, hi].
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        guard hi > lo else { return [lo] }
        let raw = (hi - lo) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2.0, 2.5, 5.0, 10.0].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var out: [Double] = []
        var t = (lo / step).rounded(.up) * step
        while t <= hi + step * 1e-9 { out.append(t); t += step }
        return out
    }

    static func niceCeiling(_ x: Double) -> Double {
        guard x.isFinite, x > 0 else { return 1 }
        let magnitude = pow(10, floor(log10(x)))
        return ([1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0].map { $0 * magnitude }.first { $0 >= x }) ?? x
    }

    static func tickLabel(_ t: Double) -> String {
        if t == t.rounded() && abs(t) < 1e9 { return String(Int(t)) }
        return String(format: "%g", t)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
