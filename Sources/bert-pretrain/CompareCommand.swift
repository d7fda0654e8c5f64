// `bert-pretrain compare`: the loss curves of several runs in one SVG (fp32 against bf16, pretrained
// against from scratch, one learning rate against another), from each run's metrics.csv.

import ArgumentParser
import Foundation
import Storage
import Training

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Draw the train and held-out loss of several runs in one SVG, and print each run's last held-out loss.")

    @Argument(help: ArgumentHelp("Run output directories (each with its metrics.csv), each optionally followed by =LABEL (default: the directory's name).", valueName: "run[=label]"))
    var runs: [String]

    @Option(help: "The SVG file to write (written whole, then renamed into place).")
    var output: String

    @Option(help: "The figure's title.")
    var title = "loss"

    func validate() throws {
        if runs.isEmpty { throw ValidationError("give at least one run directory") }
    }

    func run() throws {
        var curves: [(label: String, rows: [MetricsRow])] = []
        for spec in runs {
            let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
            let dir = parts[0], label = parts.count > 1 ? parts[1] : (dir as NSString).lastPathComponent
            let rows = try MetricsLog.readAnyTask(path: (dir as NSString).appendingPathComponent("metrics.csv"))
            curves.append((label, rows))
            if let last = rows.last(where: { $0.split == "eval" }) {
                print(String(format: "%@: held-out loss %.6f at step %d (epoch %d)", label, last.loss, last.step, last.epoch))
            } else {
                print("\(label): no held-out row")
            }
        }
        try AtomicFile.write(Data(LossPlot.comparison(runs: curves, title: title).utf8), to: output)
    }
}
