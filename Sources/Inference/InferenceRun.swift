// The loop every inference command shares: read a window of inputs, tokenise, order by length,
// cut batches, run them, write one record per input in input order.
//
// Rank 0 reads and tokenises each window (errors name the line) and hands the encoded, length-
// sorted window to every rank; rank r runs batches r, r+N, r+2N, … of it; the records come back
// to rank 0, which writes them in input order. Sorting by length makes each packed batch's
// attention cost even across its rows and its tokens similar, and since batches are packed
// (BertInference), no position is padding: the order changes no output (a test checks it).

import BERT
import Distributed
import FineTuning
import Foundation
import Storage
import Logging
import Tokenization

/// One tokenised input.
public struct EncodedInput: Sendable {
    /// Position in the whole input (0-based), which its record keeps.
    public var index: Int
    /// 1-based input line, for errors.
    public var line: Int
    public var ids: [Int32]
    public var segments: [Int32]
    public var truncated: Bool
    /// An empty line passed through (--skip-empty): no forward pass, the task's pass-through record.
    public var passThrough: Bool
}

/// What one command computes from a batch.
public protocol InferenceTask: AnyObject {
    /// The command's name, in progress and summary lines.
    var name: String { get }
    /// The input's name (a path or <stdin>), for errors; set by `InferenceRun.run`.
    var source: String { get set }
    /// Checks an encoded input before any forward pass; errors name `source` and the line.
    func check(_ input: EncodedInput) throws
    /// Runs the model over `batch` (already packed-ready: every input has ≥ 1 token) and returns one
    /// output record per input, in batch order.
    func records(_ batch: ArraySlice<EncodedInput>) throws -> [[UInt8]]
    /// The record written for an empty line passed through.
    var passThroughRecord: [UInt8] { get }
}

/// Where rank 0 writes the records, in input order.
public protocol RecordSink: AnyObject {
    func write(_ record: [UInt8]) throws
    func finish() throws
}

public struct InferenceSettings: Sendable {
    /// Sequences per forward pass (per rank).
    public var batchSize = 32
    /// Inputs read, sorted and shared out at a time (a multiple of the batch size).
    public var windowBatches = 64
    /// Pass empty lines through (a `null` record) instead of stopping with an error.
    public var skipEmpty = false
    public init() {}
}

public final class InferenceRun {
    public let settings: InferenceSettings
    public let encoder: TaskEncoder
    /// nil: one process without MPI (library use and tests).
    public let world: Communicator?
    public let logger: Logger
    private var rank: Int { world?.rank ?? 0 }
    private var size: Int { world?.size ?? 1 }
    private var isRoot: Bool { rank == 0 }

    public private(set) var texts = 0, tokens = 0, truncated = 0, passedThrough = 0
    public private(set) var seconds = 0.0

    public init(settings: InferenceSettings, encoder: TaskEncoder, world: Communicator?, logger: Logger) {
        self.settings = settings
        self.encoder = encoder
        self.world = world
        self.logger = logger
    }

    /// Runs `task` over every input of `reader` (rank 0's; nil on the other ranks), writing to `sink` on rank 0.
    /// `source` names the input on every rank (errors name it).
    public func run(_ task: InferenceTask, reader: InferenceInputReader?, source: String, total: Int?, sink: RecordSink?) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        task.source = source
        let progress = ProgressMeter(label: task.name, unit: "texts", total: total.map(Double.init), enabled: isRoot)
        let windowSize = settings.batchSize * settings.windowBatches
        var nextIndex = 0
        while true {
            var window: [EncodedInput] = []
            if let reader {
                window = try encode(try reader.next(windowSize), firstIndex: nextIndex, task: task, source: source)
            }
            if let world, size > 1 { window = try decodeWindow(try world.broadcast(bytes: isRoot ? encodeWindow(window) : [])) }
            if window.isEmpty { break }
            nextIndex += window.count
            let records = try run(task, window: window)
            if isRoot, let sink {
                for record in records { try sink.write(record) }
            }
            texts += window.count
            progress.update(Double(texts))
        }
        try sink?.finish()
        seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    }

    /// Tokenises and checks a window on rank 0, then orders it by length (longest first, ties by input order).
    func encode(_ inputs: [InferenceText], firstIndex: Int, task: InferenceTask, source: String) throws -> [EncodedInput] {
        var window: [EncodedInput] = []
        window.reserveCapacity(inputs.count)
        for (offset, input) in inputs.enumerated() {
            let index = firstIndex + offset
            if input.isEmpty {
                guard settings.skipEmpty else {
                    throw TextInputError(path: source, line: input.line, reason: "empty input (give --skip-empty to pass empty lines through as null)")
                }
                passedThrough += 1
                window.append(EncodedInput(index: index, line: input.line, ids: [], segments: [], truncated: false, passThrough: true))
                continue
            }
            let row = encoder.encodeRow(input.text, pair: input.pair)
            let encoded = EncodedInput(index: index, line: input.line, ids: row.ids, segments: row.segments,
                                       truncated: row.truncated, passThrough: false)
            try task.check(encoded)
            if row.truncated { truncated += 1 }
            tokens += row.ids.count
            window.append(encoded)
        }
        window.sort { ($0.ids.count, $1.index) > ($1.ids.count, $0.index) }
        return window
    }

    /// This rank's batches of a sorted window; every record of the window, in input order, on rank 0.
    func run(_ task: InferenceTask, window: [EncodedInput]) throws -> [[UInt8]] {
        let real = window.filter { !$0.passThrough }
        var mine: [(index: Int, record: [UInt8])] = []
        var batchNumber = 0
        var start = 0
        while start < real.count {
            let end = min(start + settings.batchSize, real.count)
            if batchNumber % size == rank {
                let batch = real[start..<end]
                let records = try task.records(batch)
                precondition(records.count == batch.count, "\(task.name) returned \(records.count) records for \(batch.count) inputs")
                for (input, record) in zip(batch, records) { mine.append((input.index, record)) }
            }
            batchNumber += 1
            start = end
        }
        for input in window where input.passThrough && isRoot { mine.append((input.index, task.passThroughRecord)) }

        var all = mine
        if let world, size > 1 {
            let gathered = try world.allGather(bytes: Self.pack(mine))
            all = isRoot ? gathered.flatMap(Self.unpack) : []
        }
        guard isRoot else { return [] }
        let first = window.map(\.index).min() ?? 0
        var ordered = [[UInt8]?](repeating: nil, count: window.count)
        for (index, record) in all { ordered[index - first] = record }
        return ordered.map { $0! }
    }

    // MARK: Bytes between ranks (native byte order: the ranks of one job share an architecture)

    private func encodeWindow(_ window: [EncodedInput]) -> [UInt8] {
        var out = ByteWriter()
        out.int(window.count)
        for input in window {
            out.int(input.index); out.int(input.line); out.int(input.truncated ? 1 : 0); out.int(input.passThrough ? 1 : 0)
            out.int(input.ids.count)
            out.int32s(input.ids); out.int32s(input.segments)
        }
        return out.bytes
    }

    private func decodeWindow(_ bytes: [UInt8]) throws -> [EncodedInput] {
        var reader = ByteReader(bytes)
        return (0..<reader.int()).map { _ in
            let index = reader.int(), line = reader.int(), truncated = reader.int() != 0, passThrough = reader.int() != 0
            let count = reader.int()
            return EncodedInput(index: index, line: line, ids: reader.int32s(count), segments: reader.int32s(count),
                                truncated: truncated, passThrough: passThrough)
        }
    }

    private static func pack(_ records: [(index: Int, record: [UInt8])]) -> [UInt8] {
        var out = ByteWriter()
        for (index, record) in records {
            out.int(index); out.int(record.count)
            out.bytes.append(contentsOf: record)
        }
        return out.bytes
    }

    private static func unpack(_ bytes: [UInt8]) -> [(index: Int, record: [UInt8])] {
        var reader = ByteReader(bytes)
        var records: [(index: Int, record: [UInt8])] = []
        while !reader.atEnd {
            let index = reader.int(), count = reader.int()
            records.append((index, reader.bytes(count)))
        }
        return records
    }

    /// The summary every command ends with (the benchmark reads its "texts/s").
    public func summary(name: String) -> String {
        String(format: "%@: %d texts (%d tokens) in %.2f s: %.1f texts/s, %.0f tokens/s", name, texts, tokens, seconds,
               Double(texts) / max(seconds, 1e-9), Double(tokens) / max(seconds, 1e-9))
    }
}

private struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func int(_ value: Int) { withUnsafeBytes(of: Int64(value)) { bytes.append(contentsOf: $0) } }
    mutating func int32s(_ values: [Int32]) { values.withUnsafeBytes { bytes.append(contentsOf: $0) } }
}

private struct ByteReader {
    let data: [UInt8]
    var position = 0
    init(_ data: [UInt8]) { self.data = data }
    var atEnd: Bool { position >= data.count }
    mutating func bytes(_ count: Int) -> [UInt8] {
        precondition(position + count <= data.count, "truncated message between ranks")
        defer { position += count }
        return Array(data[position..<(position + count)])
    }
    mutating func int() -> Int {
        let raw = bytes(8)
        return Int(raw.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })
    }
    mutating func int32s(_ count: Int) -> [Int32] {
        let raw = bytes(4 * count)
        return raw.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
    }
}
