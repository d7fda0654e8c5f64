// metrics.csv: one row per logging step (split = train) and one per epoch (split = eval),
// written by rank 0. Values are over all ranks. A copy is kept in every checkpoint, so
// `--resume` restores the file as it was at that checkpoint and the resumed run's rows
// follow exactly where the interrupted run's rows would have.

import Foundation
import Storage

/// The task's own columns of metrics.csv (between `loss` and `grad_norm`) and which of them the
/// plot draws. Pretraining: MLM/NSP losses and accuracies; fine-tuning: the task's metrics.
public struct MetricsColumns: Equatable, Sendable {
    public let names: [String]
    /// Drawn as dashed training curves in the loss panel, beside the total loss.
    public let lossCurves: [String]
    /// Drawn in the score panel (0–1), training and held-out.
    public let scoreCurves: [String]

    public init(names: [String], lossCurves: [String], scoreCurves: [String]) {
        precondition(Set(lossCurves + scoreCurves).isSubset(of: names), "plotted columns must be columns")
        self.names = names
        self.lossCurves = lossCurves
        self.scoreCurves = scoreCurves
    }

    public static let pretraining = MetricsColumns(names: ["mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy"],
                                                   lossCurves: ["mlm_loss"], scoreCurves: ["mlm_accuracy", "nsp_accuracy"])

    public var header: String {
        (["split", "step", "epoch", "samples", "lr", "loss"] + names + ["grad_norm", "seq_per_s", "allreduce_ms"]).joined(separator: ",")
    }
}

public struct MetricsRow: Equatable, Sendable {
    public var split: String          // "train" or "eval"
    public var step: Int              // optimizer steps done
    public var epoch: Int             // 1-based
    public var samples: Int           // sequences consumed so far (all ranks)
    public var learningRate: Double
    public var loss: Double
    /// The task's columns and their values (nan = not measured in this row).
    public var columns: [String]
    public var values: [Double]
    public var gradNorm: Double       // mean global norm (before clipping) over the logged steps
    public var sequencesPerSecond: Double
    public var allReduceMilliseconds: Double  // mean per step, waiting for the gradient all-reduce

    public init(split: String, step: Int, epoch: Int, samples: Int, learningRate: Double, loss: Double,
                columns: [String], values: [Double], gradNorm: Double, sequencesPerSecond: Double, allReduceMilliseconds: Double) {
        precondition(columns.count == values.count, "one value per column")
        self.split = split; self.step = step; self.epoch = epoch; self.samples = samples
        self.learningRate = learningRate; self.loss = loss; self.columns = columns; self.values = values
        self.gradNorm = gradNorm; self.sequencesPerSecond = sequencesPerSecond; self.allReduceMilliseconds = allReduceMilliseconds
    }

    /// A pretraining row.
    public init(split: String, step: Int, epoch: Int, samples: Int, learningRate: Double, loss: Double,
                mlmLoss: Double, nspLoss: Double, mlmAccuracy: Double, nspAccuracy: Double,
                gradNorm: Double, sequencesPerSecond: Double, allReduceMilliseconds: Double) {
        self.init(split: split, step: step, epoch: epoch, samples: samples, learningRate: learningRate, loss: loss,
                  columns: MetricsColumns.pretraining.names, values: [mlmLoss, nspLoss, mlmAccuracy, nspAccuracy],
                  gradNorm: gradNorm, sequencesPerSecond: sequencesPerSecond, allReduceMilliseconds: allReduceMilliseconds)
    }

    /// The value of a task column (nan when the row has no such column).
    public subscript(column: String) -> Double {
        columns.firstIndex(of: column).map { values[$0] } ?? .nan
    }

    public var mlmLoss: Double { self["mlm_loss"] }
    public var nspLoss: Double { self["nsp_loss"] }
    public var mlmAccuracy: Double { self["mlm_accuracy"] }
    public var nspAccuracy: Double { self["nsp_accuracy"] }

    /// The pretraining header.
    public static let header = MetricsColumns.pretraining.header
    /// Columns that measure time, not the computation (excluded when comparing runs).
    public static let timingColumns: Set<String> = ["seq_per_s", "allreduce_ms"]

    /// Full precision (%.9g) so that rows of two runs can be compared.
    public var csvLine: String {
        func g(_ x: Double) -> String { x.isNaN ? "nan" : String(format: "%.9g", x) }
        return ([split, String(step), String(epoch), String(samples), g(learningRate), g(loss)] + values.map(g)
                + [g(gradNorm), String(format: "%.2f", sequencesPerSecond), String(format: "%.3f", allReduceMilliseconds)])
            .joined(separator: ",")
    }

    /// Parses a line of a file whose task columns are `columns`.
    public init(csvLine line: String, columns: [String] = MetricsColumns.pretraining.names, lineNumber: Int = 0,
                path: String = "metrics.csv") throws {
        let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let expected = 9 + columns.count
        guard f.count == expected, let step = Int(f[1]), let epoch = Int(f[2]), let samples = Int(f[3]) else {
            throw StorageError(path: path, reason: "line \(lineNumber): expected \(expected) columns, found \"\(line)\"")
        }
        func d(_ i: Int) throws -> Double {
            guard let v = Double(f[i]) else {
                throw StorageError(path: path, reason: "line \(lineNumber): column \(i + 1) \"\(f[i])\" is not a number")
            }
            return v
        }
        let k = columns.count
        self.init(split: f[0], step: step, epoch: epoch, samples: samples, learningRate: try d(4), loss: try d(5),
                  columns: columns, values: try (0..<k).map { try d(6 + $0) },
                  gradNorm: try d(6 + k), sequencesPerSecond: try d(7 + k), allReduceMilliseconds: try d(8 + k))
    }
}

/// Appends rows to OUTPUT/metrics.csv and keeps them in memory for the plot.
public final class MetricsLog {
    public let path: String
    public let columns: MetricsColumns
    public private(set) var rows: [MetricsRow] = []

    /// Opens `path`, reading the rows already there, or starts it with the header (always, when `fresh`:
    /// a new run replaces an old run's file).
    public init(path: String, columns: MetricsColumns = .pretraining, fresh: Bool = false) throws {
        self.path = path
        self.columns = columns
        if !fresh && FileManager.default.fileExists(atPath: path) {
            rows = try MetricsLog.read(path: path, columns: columns)
        } else {
            try AtomicFile.write(Data((columns.header + "\n").utf8), to: path)
        }
    }

    public static func read(path: String, columns: MetricsColumns = .pretraining) throws -> [MetricsRow] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StorageError(path: path, reason: "cannot read")
        }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        guard let first = lines.first, first == columns.header else {
            throw StorageError(path: path, reason: "line 1: expected the header \"\(columns.header)\"")
        }
        return try lines.dropFirst().enumerated().map {
            try MetricsRow(csvLine: $0.element, columns: columns.names, lineNumber: $0.offset + 2, path: path)
        }
    }

    /// The rows of any run's metrics.csv, pretraining or fine-tuning: the task's columns are taken from its
    /// header (the fields between `loss` and `grad_norm`), which must otherwise be the standard one.
    public static func readAnyTask(path: String) throws -> [MetricsRow] {
        guard let data = FileManager.default.contents(atPath: path) else { throw StorageError(path: path, reason: "cannot read") }
        let header = String(decoding: data.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self).split(separator: ",").map(String.init)
        guard let loss = header.firstIndex(of: "loss"), let norm = header.firstIndex(of: "grad_norm"), loss < norm else {
            throw StorageError(path: path, reason: "line 1: not a metrics.csv header (no loss … grad_norm columns)")
        }
        return try read(path: path, columns: MetricsColumns(names: Array(header[(loss + 1)..<norm]), lossCurves: [], scoreCurves: []))
    }

    /// Appends one row (and flushes it to the file, so a killed run keeps what it logged).
    public func append(_ row: MetricsRow) throws {
        precondition(row.columns == columns.names, "a row of columns \(row.columns) in a log of \(columns.names)")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((row.csvLine + "\n").utf8))
        rows.append(row)
    }

    /// The whole file's text (header and rows), for the copy in a checkpoint.
    public var text: String {
        ([columns.header] + rows.map(\.csvLine)).joined(separator: "\n") + "\n"
    }

    /// Replaces the file with `text` (the copy in the checkpoint being resumed).
    public func restore(text: String) throws {
        try AtomicFile.write(Data(text.utf8), to: path)
        rows = try MetricsLog.read(path: path, columns: columns)
    }
}
