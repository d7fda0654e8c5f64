// Reads shards in NVIDIA's layout (Shard.swift), whoever wrote them: any integer width
// (int8/16/32/64, signed or not) is widened or checked-narrowed to Int32, and our root attributes
// are optional. Opening checks the structure (every dataset present, integer, of the right rank,
// one N, one T, one P); row contents are `ShardValidator`'s business.

import CHDF5
import Distributed
import Foundation
import PretrainingData

public final class ShardReader {
    public let path: String
    public let count: Int             // N
    public let maxSeqLength: Int      // T
    public let maxPredictions: Int    // P
    /// Root attributes that are integers, floats or strings (empty for files of other tools).
    public let attributes: [String: ShardAttribute]
    public var metadata: ShardMetadata { ShardMetadata(attributes: attributes) }
    /// Rows per chunk of input_ids (nil if not chunked): read blocks aligned to this for speed.
    public let chunkRows: Int?

    private let file: HDF5File
    private let datasets: [ShardDataset: HDF5Dataset]
    private let integerTypes: [ShardDataset: HDF5IntegerType]

    /// Widest rows accepted (a damaged header can claim any shape; BERT uses T ≤ 512, P ≤ 80).
    public static let maxRowWidth = 1 << 16

    /// Opens and checks the layout. The rank's activity names the file meanwhile, so that a crash or
    /// a hang inside HDF5 is reported with it (FatalSignals, the stall watchdog).
    public convenience init(path: String) throws {
        let previous = RankActivity.current
        RankActivity.set("opening shard \(path)")
        defer { RankActivity.set(previous) }
        try self.init(opening: path)
    }

    private init(opening path: String) throws {
        self.path = path
        let file: HDF5File
        do {
            file = try HDF5File.openReadOnly(path: path)
        } catch let error as HDF5Error {
            throw ShardError(path: path, reason: error.reason)
        }
        self.file = file

        var datasets: [ShardDataset: HDF5Dataset] = [:]
        var types: [ShardDataset: HDF5IntegerType] = [:]
        var n: Int?, t: Int?, p: Int?
        var firstOf: [String: ShardDataset] = [:]   // which dataset fixed N, T, P (for messages)
        for dataset in ShardDataset.allCases {
            let name = dataset.rawValue
            func fail(_ reason: String) -> ShardError { ShardError(path: path, location: "dataset \(name)", reason: reason) }
            guard file.hasObject(name) else { throw fail("missing dataset (a shard needs \(ShardDataset.allCases.map(\.rawValue).joined(separator: ", ")))") }
            let handle = try Self.translate(path) { try file.openDataset(name) }
            guard let type = try Self.translate(path, { try handle.integerType() }) else { throw fail("is not an integer dataset") }
            guard type.bytes <= 8 else { throw fail("integers of \(type.bytes) bytes are not supported") }
            let shape = try Self.translate(path) { try handle.shape() }
            let rank = dataset.width == .none ? 1 : 2
            guard shape.count == rank else {
                throw fail("rank \(shape.count) (shape \(shape)), expected \(rank) (\(rank == 1 ? "[N]" : dataset.width == .sequence ? "[N, max_seq_length]" : "[N, max_predictions_per_seq]"))")
            }
            func agree(_ value: Int, _ known: inout Int?, _ what: String) throws {
                if let known, known != value {
                    throw fail("\(what) is \(value) here but \(known) in dataset \(firstOf[what]!.rawValue)")
                }
                if known == nil { known = value; firstOf[what] = dataset }
            }
            try agree(shape[0], &n, "N")
            switch dataset.width {
            case .sequence: try agree(shape[1], &t, "T")
            case .predictions: try agree(shape[1], &p, "P")
            case .none: break
            }
            datasets[dataset] = handle
            types[dataset] = type
        }
        count = n!
        maxSeqLength = t!
        maxPredictions = p!
        guard maxSeqLength >= 1 else {
            throw ShardError(path: path, location: "dataset input_ids", reason: "max_seq_length (second dimension) is 0")
        }
        guard maxSeqLength <= Self.maxRowWidth && maxPredictions <= Self.maxRowWidth else {
            throw ShardError(path: path, location: "dataset input_ids", reason: "rows of \(maxSeqLength) tokens and \(maxPredictions) predictions, more than the \(Self.maxRowWidth) accepted")
        }
        self.datasets = datasets
        integerTypes = types
        chunkRows = try Self.translate(path) { try datasets[.inputIds]!.chunkShape()?.first }

        var attributes: [String: ShardAttribute] = [:]
        try Self.translate(path) {
            for name in try file.attributeNames() {
                if let value = try file.readAttribute(name) { attributes[name] = value }
            }
        }
        self.attributes = attributes
    }

    /// HDF5 failures as ShardErrors (same message, one error type for callers).
    private static func translate<R>(_ path: String, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as HDF5Error {
            throw ShardError(path: path, location: error.object.map { "dataset \($0)" }, reason: error.reason)
        }
    }

    /// Instance `i`, unpadded.
    public func instance(_ i: Int) throws -> PretrainingInstance {
        try readRows(i..<(i + 1)).instance(0)
    }

    /// Rows `range` in bulk into padded flat arrays.
    public func readRows(_ range: Range<Int>) throws -> ShardRows {
        var rows = ShardRows(count: range.count, maxSeqLength: maxSeqLength, maxPredictions: maxPredictions)
        try readRows(range, into: &rows)
        return rows
    }

    /// Rows `range` into `rows` (resized to `range.count`; reusing one `ShardRows` avoids allocating per block).
    public func readRows(_ range: Range<Int>, into rows: inout ShardRows) throws {
        guard range.lowerBound >= 0 && range.upperBound <= count else {
            throw ShardError(path: path, reason: "rows \(range.lowerBound)..<\(range.upperBound) requested, the shard has \(count)")
        }
        precondition(rows.maxSeqLength == maxSeqLength && rows.maxPredictions == maxPredictions,
                     "ShardRows of another shape (T \(rows.maxSeqLength), P \(rows.maxPredictions))")
        rows.resize(to: range.count)
        try read(.inputIds, range, into: &rows.inputIds)
        try read(.inputMask, range, into: &rows.inputMask)
        try read(.segmentIds, range, into: &rows.segmentIds)
        try read(.maskedPositions, range, into: &rows.maskedPositions)
        try read(.maskedIds, range, into: &rows.maskedIds)
        try read(.nextSentenceLabels, range, into: &rows.nextSentenceLabels)
    }

    private func read(_ dataset: ShardDataset, _ range: Range<Int>, into values: inout [Int32]) throws {
        let width: Int? = switch dataset.width {
        case .sequence: maxSeqLength
        case .predictions: maxPredictions
        case .none: nil
        }
        let handle = datasets[dataset]!
        let type = integerTypes[dataset]!
        try Self.translate(path) {
            if type.bytes < 4 || (type.bytes == 4 && type.isSigned) {
                // Fits Int32 exactly: HDF5 converts while reading.
                try values.withUnsafeMutableBufferPointer { buffer in
                    try handle.read(rows: range, rowWidth: width, memoryType: chdf5_native_int32(), into: buffer)
                }
                return
            }
            // Wider (int64, uint32/64): read at full width and narrow with a check, since HDF5 would clamp silently.
            if type.isSigned || type.bytes < 8 {
                try readWide(Int64.self, chdf5_native_int64(), handle, dataset, range, width, into: &values)
            } else {
                try readWide(UInt64.self, chdf5_native_uint64(), handle, dataset, range, width, into: &values)
            }
        }
    }

    private func readWide<W: FixedWidthInteger>(_: W.Type, _ memoryType: hid_t, _ handle: HDF5Dataset, _ dataset: ShardDataset,
                                                _ range: Range<Int>, _ width: Int?, into values: inout [Int32]) throws {
        var wide = [W](repeating: 0, count: values.count)
        try wide.withUnsafeMutableBufferPointer { buffer in
            try handle.read(rows: range, rowWidth: width, memoryType: memoryType, into: buffer)
        }
        for (k, v) in wide.enumerated() {
            guard let narrow = Int32(exactly: v) else {
                let row = range.lowerBound + k / (width ?? 1)
                throw ShardError(path: path, location: "dataset \(dataset.rawValue), instance \(row)",
                                 reason: "value \(v) does not fit in 32 bits")
            }
            values[k] = narrow
        }
    }
}
