// metrics.csv: one row per logging step (split = train) and one per epoch (split = eval),
// written by rank 0. Values are over all ranks. A copy is kept in every checkpoint, so
// `--resume` restores the file as it was at that checkpoint and the resumed run's rows
// follow exactly where the interrupted run's rows would have.

import Foundation
import Storage

public struct MetricsRow: Equatable, Sendable {
    public var split: String          // "train" or "eval"
    public var step: Int              // optimizer steps done
    public var epoch: Int             // 1-based
    public var samples: Int           // sequences consumed so far (all ranks)
    public var learningRate: Double
    public var loss: Double
    public var mlmLoss: Double
    public var nspLoss: Double
    public var mlmAccuracy: Double
    public var nspAccuracy: Double
    public var gradNorm: Double       // mean global norm (before clipping) over the logged steps
    public var sequencesPerSecond: Double
    public var allReduceMilliseconds: Double  // mean per step, waiting for the gradient all-reduce

    public init(split: String, step: Int, epoch: Int, samples: Int, learningRate: Double, loss: Double,
                mlmLoss: Double, nspLoss: Double, mlmAccuracy: Double, nspAccuracy: Double,
                gradNorm: Double, sequencesPerSecond: Double, allReduceMilliseconds: Double) {
        self.split = split; self.step = step; self.epoch = epoch; self.samples = samples
        self.learningRate = learningRate; self.loss = loss; self.mlmLoss = mlmLoss; self.nspLoss = nspLoss
        self.mlmAccuracy = mlmAccuracy; self.nspAccuracy = nspAccuracy; self.gradNorm = gradNorm
        self.sequencesPerSecond = sequencesPerSecond; self.allReduceMilliseconds = allReduceMilliseconds
    }

    public static let header = "split,step,epoch,samples,lr,loss,mlm_loss,nsp_loss,mlm_accuracy,nsp_accuracy,grad_norm,seq_per_s,allreduce_ms"
    /// Columns that measure time, not the computation (excluded when comparing runs).
    public static let timingColumns: Set<String> = ["seq_per_s", "allreduce_ms"]

    /// Full precision (%.9g) so that rows of two runs can be compared.
    public var csvLine: String {
        func g(_ x: Double) -> String { x.isNaN ? "nan" : String(format: "%.9g", x) }
        return [split, String(step), String(epoch), String(samples), g(learningRate), g(loss), g(mlmLoss), g(nspLoss),
                g(mlmAccuracy), g(nspAccuracy), g(gradNorm), String(format: "%.2f", sequencesPerSecond),
                String(format: "%.3f", allReduceMilliseconds)].joined(separator: ",")
    }

    public init(csvLine line: String, lineNumber: Int = 0, path: String = "metrics.csv") throws {
        let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard f.count == 13, let step = Int(f[1]), let epoch = Int(f[2]), let samples = Int(f[3]) else {
            throw StorageError(path: path, reason: "line \(lineNumber): expected 13 columns (\(Self.header)), found \"\(line)\"")
        }
        func d(_ i: Int) throws -> Double {
            guard let v = Double(f[i]) else {
                throw StorageError(path: path, reason: "line \(lineNumber): column \(i + 1) \"\(f[i])\" is not a number")
            }
            return v
        }
        self.init(split: f[0], step: step, epoch: epoch, samples: samples, learningRate: try d(4), loss: try d(5),
                  mlmLoss: try d(6), nspLoss: try d(7), mlmAccuracy: try d(8), nspAccuracy: try d(9),
                  gradNorm: try d(10), sequencesPerSecond: try d(11), allReduceMilliseconds: try d(12))
    }
}

/// Appends rows to OUTPUT/metrics.csv and keeps them in memory for the plot.
public final class MetricsLog {
    public let path: String
    public private(set) var rows: [MetricsRow] = []

    /// Opens `path`, reading the rows already there, or starts it with the header (always, when `fresh`:
    /// a new run replaces an old run's file).
    public init(path: String, fresh: Bool = false) throws {
        self.path = path
        if !fresh && FileManager.default.fileExists(atPath: path) {
            rows = try MetricsLog.read(path: path)
        } else {
            try AtomicFile.write(Data((MetricsRow.header + "\n").utf8), to: path)
        }
    }

    public static func read(path: String) throws -> [MetricsRow] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StorageError(path: path, reason: "cannot read")
        }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        guard let first = lines.first, first == MetricsRow.header else {
            throw StorageError(path: path, reason: "line 1: expected the header \"\(MetricsRow.header)\"")
        }
        return try lines.dropFirst().enumerated().map { try MetricsRow(csvLine: $0.element, lineNumber: $0.offset + 2, path: path) }
    }

    /// Appends one row (and flushes it to the file, so a killed run keeps what it logged).
    public func append(_ row: MetricsRow) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((row.csvLine + "\n").utf8))
        rows.append(row)
    }

    /// The whole file's text (header and rows), for the copy in a checkpoint.
    public var text: String {
        ([MetricsRow.header] + rows.map(\.csvLine)).joined(separator: "\n") + "\n"
    }

    /// Replaces the file with `text` (the copy in the checkpoint being resumed).
    public func restore(text: String) throws {
        try AtomicFile.write(Data(text.utf8), to: path)
        rows = try MetricsLog.read(path: path)
    }
}
