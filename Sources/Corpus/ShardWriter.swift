// Streams instances into a shard (layout: Shard.swift) with bounded memory.
//
// - Datasets are created empty with an unlimited first dimension and grown one chunk of rows at a
//   time: the writer holds at most `chunkRows` pending instances, whatever N becomes.
// - Chunks are `chunkRows` rows of every dataset (the same row boundaries everywhere):
//   chunkRows = clamp(8192 / T, 16...1024), so 64 rows at T = 128 (a 32 KiB input_ids chunk) and
//   16 at T = 512. The trainer reads instances in a random order, one at a time, and each read
//   inflates one chunk per dataset, so small chunks pay; bulk reads and writes prefer large ones.
//   Measured (50k instances, T = 128, release, busy 2-core machine; rows per chunk: random
//   instance() reads/s, bulk readRows instances/s, writes/s, MB):
//     512: 341, 117k, 30k, 14.6    128: 1083, 96k, 29k, 14.8    64: 1394, 75k, 21k, 15.5
//      32: 1583,  64k, 15k, 16.0     16: 2459, 43k,  9k, 16.7
//   64 keeps most of the random-read gain at moderate cost. `ShardReader.chunkRows` tells a reader
//   the block size to align bulk reads to.
// - Filters: HDF5's byte shuffle, then gzip (deflate) level 1. Both are built into every HDF5
//   library, so h5py and NVIDIA's loader read them. Measured on 100k instances at T = 128 (release
//   build, busy 2-core machine): gzip 4 alone (h5py's default) 13.6k instances/s, 38.9 MB;
//   shuffle + gzip 4 28.8k/s, 28.8 MB; shuffle + gzip 1 44.6k/s, 29.3 MB.
// - Reproducible bytes: object time stamps off, HDF5 1.8 format, attributes written in sorted
//   name order, so identical content gives identical files.
// - Atomic: everything goes to a hidden temporary file beside `path`, which `close()` fsyncs and
//   renames into place. An interrupted write leaves no file under the shard's name.

import CHDF5
import Foundation
import Storage
#if canImport(Glibc)
import Glibc
#endif

public final class ShardWriter {
    public let path: String
    public let maxSeqLength: Int      // T
    public let maxPredictions: Int    // P
    public let chunkRows: Int
    /// Instances appended so far.
    public private(set) var count = 0

    private let temporaryPath: String
    private var file: HDF5File?
    // In ShardDataset.allCases order, never a Dictionary: the order of flushes and closes decides
    // where HDF5 places chunks, and identical content must give identical bytes.
    private var datasets: [HDF5Dataset] = []

    // Pending rows not yet written, row-major; `pending` rows of `chunkRows` capacity.
    private var pending = 0
    private var inputIds: [Int32]          // [chunkRows, T]
    private var inputMask: [Int8]          // [chunkRows, T]
    private var segmentIds: [Int8]         // [chunkRows, T]
    private var maskedPositions: [Int32]   // [chunkRows, P]
    private var maskedIds: [Int32]         // [chunkRows, P]
    private var labels: [Int8]             // [chunkRows]

    /// gzip level of every dataset, after the byte shuffle (measurement in the file comment).
    public static let deflateLevel: UInt32 = 1

    /// Rows per chunk for sequence length `maxSeqLength` (see the file comment).
    public static func chunkRows(maxSeqLength: Int) -> Int {
        min(1024, max(16, 8192 / max(1, maxSeqLength)))
    }

    /// Creates the temporary file and its empty datasets and writes `attributes` (e.g.
    /// `ShardMetadata.attributes`); `max_seq_length` and `max_predictions_per_seq` are always
    /// recorded from the arguments, and a different value in `attributes` is an error.
    public init(path: String, maxSeqLength: Int, maxPredictions: Int, attributes: [String: ShardAttribute]) throws {
        guard maxSeqLength >= 3 else { throw ShardError(path: path, reason: "max_seq_length must be at least 3, got \(maxSeqLength)") }
        guard maxPredictions >= 1 else { throw ShardError(path: path, reason: "max_predictions_per_seq must be at least 1, got \(maxPredictions)") }
        self.path = path
        self.maxSeqLength = maxSeqLength
        self.maxPredictions = maxPredictions
        chunkRows = Self.chunkRows(maxSeqLength: maxSeqLength)
        inputIds = Array(repeating: 0, count: chunkRows * maxSeqLength)
        inputMask = Array(repeating: 0, count: chunkRows * maxSeqLength)
        segmentIds = inputMask
        maskedPositions = Array(repeating: 0, count: chunkRows * maxPredictions)
        maskedIds = maskedPositions
        labels = Array(repeating: 0, count: chunkRows)

        var attributes = attributes
        for (key, value) in [(ShardAttributeKey.maxSeqLength, maxSeqLength), (ShardAttributeKey.maxPredictionsPerSeq, maxPredictions)] {
            if let given = attributes[key], given != .int(Int64(value)) {
                throw ShardError(path: path, location: "attribute \(key)", reason: "is \(given) but the writer was opened with \(value)")
            }
            attributes[key] = .int(Int64(value))
        }

        temporaryPath = AtomicFile.temporaryPath(for: path)
        do {
            let file = try HDF5File.create(path: temporaryPath)
            self.file = file
            for dataset in ShardDataset.allCases {
                let (fileType, width) = layout(dataset)
                let dims = width.map { [0, $0] } ?? [0]
                let chunk = width.map { [chunkRows, $0] } ?? [chunkRows]
                datasets.append(try file.createDataset(dataset.rawValue, fileType: fileType, dims: dims, chunk: chunk,
                                                       shuffle: true, deflateLevel: Self.deflateLevel))
            }
            for key in attributes.keys.sorted() {
                try file.writeAttribute(key, attributes[key]!)
            }
        } catch {
            abandon()
            throw ShardError(path: path, reason: "cannot create shard (temporary file \(temporaryPath)): \(error)")
        }
    }

    /// On-disk type and second dimension of each dataset.
    private func layout(_ dataset: ShardDataset) -> (hid_t, Int?) {
        switch dataset {
        case .inputIds: return (chdf5_std_i32le(), maxSeqLength)
        case .inputMask, .segmentIds: return (chdf5_std_i8le(), maxSeqLength)
        case .maskedPositions, .maskedIds: return (chdf5_std_i32le(), maxPredictions)
        case .nextSentenceLabels: return (chdf5_std_i8le(), nil)
        }
    }

    /// Checks and buffers one instance; writes a chunk of rows when the buffer is full.
    public func append(_ instance: PretrainingInstance) throws {
        guard file != nil else { throw ShardError(path: path, reason: "append after close") }
        try check(instance)
        let r = pending
        let length = instance.inputIds.count
        let s = r * maxSeqLength, p = r * maxPredictions
        for t in 0..<maxSeqLength {
            let real = t < length
            inputIds[s + t] = real ? instance.inputIds[t] : 0
            inputMask[s + t] = real ? 1 : 0
            segmentIds[s + t] = real ? Int8(instance.segmentIds[t]) : 0
        }
        for k in 0..<maxPredictions {
            let real = k < instance.maskedPositions.count
            maskedPositions[p + k] = real ? instance.maskedPositions[k] : 0
            maskedIds[p + k] = real ? instance.maskedIds[k] : 0
        }
        labels[r] = Int8(instance.nextSentenceLabel)
        pending += 1
        if pending == chunkRows { try flush() }
    }

    /// The writer's own invariants (the full rule set is `ShardValidator`'s): what the layout
    /// cannot represent is refused here, naming the instance.
    private func check(_ instance: PretrainingInstance) throws {
        func fail(_ reason: String) -> ShardError {
            ShardError(path: path, location: "instance \(count + pending)", reason: reason)
        }
        let length = instance.inputIds.count
        guard length >= 1 && length <= maxSeqLength else {
            throw fail("\(length) tokens, expected 1...\(maxSeqLength) (max_seq_length)")
        }
        guard instance.segmentIds.count == length else {
            throw fail("\(instance.segmentIds.count) segment ids for \(length) tokens")
        }
        guard instance.segmentIds.allSatisfy({ $0 == 0 || $0 == 1 }) else { throw fail("segment ids must be 0 or 1") }
        guard instance.maskedPositions.count == instance.maskedIds.count else {
            throw fail("\(instance.maskedPositions.count) masked positions but \(instance.maskedIds.count) masked ids")
        }
        guard instance.maskedPositions.count <= maxPredictions else {
            throw fail("\(instance.maskedPositions.count) predictions, at most \(maxPredictions) (max_predictions_per_seq)")
        }
        var previous: Int32 = 0
        for position in instance.maskedPositions {
            // 0 marks padding in the layout, so position 0 ([CLS]) cannot be a prediction.
            guard position > previous && Int(position) < length else {
                throw fail("masked positions \(instance.maskedPositions) must ascend strictly within 1..<\(length)")
            }
            previous = position
        }
        guard instance.nextSentenceLabel == 0 || instance.nextSentenceLabel == 1 else {
            throw fail("next sentence label \(instance.nextSentenceLabel), expected 0 or 1")
        }
    }

    private func flush() throws {
        guard pending > 0, file != nil else { return }
        let rows = count..<(count + pending)
        for (dataset, handle) in zip(ShardDataset.allCases, datasets) {
            switch dataset {
            case .inputIds: try write(handle, rows, maxSeqLength, chdf5_native_int32(), inputIds)
            case .inputMask: try write(handle, rows, maxSeqLength, chdf5_native_int8(), inputMask)
            case .segmentIds: try write(handle, rows, maxSeqLength, chdf5_native_int8(), segmentIds)
            case .maskedPositions: try write(handle, rows, maxPredictions, chdf5_native_int32(), maskedPositions)
            case .maskedIds: try write(handle, rows, maxPredictions, chdf5_native_int32(), maskedIds)
            case .nextSentenceLabels: try write(handle, rows, nil, chdf5_native_int8(), labels)
            }
        }
        count += pending
        pending = 0
    }

    private func write<T>(_ dataset: HDF5Dataset, _ rows: Range<Int>, _ width: Int?, _ type: hid_t, _ values: [T]) throws {
        try dataset.setRows(rows.upperBound, rowWidth: width)
        try values.withUnsafeBufferPointer { all in
            let used = UnsafeBufferPointer(rebasing: all[0..<(rows.count * (width ?? 1))])
            try dataset.write(rows: rows, rowWidth: width, memoryType: type, used)
        }
    }

    /// Writes the last rows, closes the file, fsyncs it and renames it to `path`.
    /// On failure the temporary file is removed and nothing appears at `path`.
    public func close() throws {
        guard let file else { throw ShardError(path: path, reason: "close called twice") }
        do {
            try flush()
            for dataset in datasets { try dataset.close() }   // flushes cached chunks, in order
            datasets = []
            try file.close()
            self.file = nil
            let fd = open(temporaryPath, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StorageError.posix(temporaryPath, "cannot reopen to fsync") }
            defer { Glibc.close(fd) }
            guard fsync(fd) == 0 else { throw StorageError.posix(temporaryPath, "fsync failed") }
            try AtomicFile.commit(temporary: temporaryPath, to: path)
        } catch {
            abandon()
            throw ShardError(path: path, reason: "cannot finish shard after \(count) instances: \(error)")
        }
    }

    /// Drops the temporary file (an unclosed or failed writer).
    private func abandon() {
        datasets.forEach { $0.handle.close() }
        datasets = []
        file?.handle.close()
        file = nil
        unlink(temporaryPath)
    }

    deinit {
        // Backstop only: a writer not closed did not finish, so its shard must not appear.
        if file != nil { abandon() }
    }
}
