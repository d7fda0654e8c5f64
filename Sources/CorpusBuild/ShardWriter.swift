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
// - Filters: HDF5's byte shuffle, then gzip (deflate), declared on every dataset, so h5py,
//   NVIDIA's loader and any HDF5 reader inflate them with built-in filters. The writer applies them
//   itself and stores finished chunks with H5Dwrite_chunk, choosing the compressor per dataset,
//   which HDF5's filter cannot: int8 datasets (masks, segment ids: long runs) through zlib's
//   run-length strategy (Z_RLE), int32 datasets (ids, positions) through libdeflate level 1; both
//   write standard zlib streams. Compression was a third of the build's CPU time. Measured per
//   shard of the WEB Bible (T = 128, 51 MB raw, one core, seconds; zlib level 1 as HDF5 would):
//                      zlib 1   zlib Z_RLE   libdeflate 1
//     input_ids         0.172      0.138        0.104      (32 KiB chunks)
//     masks, segments   0.030      0.025        0.050      (8 KiB)
//     masked ids, pos.  0.090      0.078        0.045      (5 KiB: per-chunk costs dominate)
//   and the stored size is within 2% between them. Earlier, through HDF5's own filters (100k
//   instances): gzip 4 alone (h5py's default) 13.6k instances/s, 38.9 MB; shuffle + gzip 4
//   28.8k/s, 28.8 MB; shuffle + gzip 1 44.6k/s, 29.3 MB. A chunk that deflate would not shrink is
//   stored shuffled only, with the deflate bit set in its filter mask, as HDF5 itself does.
// - Reproducible bytes: object time stamps off, HDF5 1.8 format, attributes written in sorted
//   name order, so identical content gives identical files.
// - Atomic: everything goes to a hidden temporary file beside `path`, which `close()` fsyncs and
//   renames into place. An interrupted write leaves no file under the shard's name.

import CDeflate
import CHDF5
import CZlib
import Foundation
import PretrainingData
import ShardFormat
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
    private var inputIds_: [Int32]         // [chunkRows, T] (input_ids)
    private var inputMask: [Int8]          // [chunkRows, T]
    private var segmentIds: [Int8]         // [chunkRows, T]
    private var maskedPositions: [Int32]   // [chunkRows, P]
    private var maskedIds: [Int32]         // [chunkRows, P]
    private var labels: [Int8]             // [chunkRows]
    private let compressor = ChunkCompressor()

    /// gzip level declared on every dataset (what HDF5 would use; the writer compresses the chunks
    /// itself, see the file comment).
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
        inputIds_ = Array(repeating: 0, count: chunkRows * maxSeqLength)
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
        let r = pending, length = instance.inputIds.count, predictions = instance.maskedPositions.count
        let s = r * maxSeqLength, p = r * maxPredictions
        copyRow(instance.inputIds, into: &inputIds_, at: s, width: maxSeqLength)
        inputMask.withUnsafeMutableBufferPointer { mask in
            for t in 0..<maxSeqLength { mask[s + t] = t < length ? 1 : 0 }
        }
        segmentIds.withUnsafeMutableBufferPointer { segments in
            for t in 0..<maxSeqLength { segments[s + t] = t < length ? Int8(truncatingIfNeeded: instance.segmentIds[t]) : 0 }
        }
        copyRow(instance.maskedPositions, into: &maskedPositions, at: p, width: maxPredictions)
        copyRow(instance.maskedIds, into: &maskedIds, at: p, width: maxPredictions)
        labels[r] = Int8(instance.nextSentenceLabel)
        assert(predictions <= maxPredictions)
        pending += 1
        if pending == chunkRows { try flush() }
    }

    /// Appends one instance given as a build's spill record: token ids, the position of B's first
    /// token (segment ids are 0 before it, 1 from it), predictions and label. Checked as `append`.
    func append(inputIds: UnsafeBufferPointer<Int32>, segmentBStart: Int, maskedPositions: UnsafeBufferPointer<Int32>,
                maskedIds: UnsafeBufferPointer<Int32>, nextSentenceLabel: Int32) throws {
        guard file != nil else { throw ShardError(path: path, reason: "append after close") }
        let length = inputIds.count
        guard length >= 1 && length <= maxSeqLength else {
            throw ShardError(path: path, location: "instance \(count + pending)", reason: "\(length) tokens, expected 1...\(maxSeqLength) (max_seq_length)")
        }
        guard segmentBStart >= 0 && segmentBStart <= length else {
            throw ShardError(path: path, location: "instance \(count + pending)", reason: "segment B starts at \(segmentBStart), outside 0...\(length)")
        }
        try checkPredictions(maskedPositions, maskedIds, length: length, nextSentenceLabel: nextSentenceLabel)
        let r = pending, s = r * maxSeqLength, p = r * maxPredictions
        copyRow(inputIds, into: &inputIds_, at: s, width: maxSeqLength)
        inputMask.withUnsafeMutableBufferPointer { mask in
            (mask.baseAddress! + s).update(repeating: 1, count: length)
            (mask.baseAddress! + s + length).update(repeating: 0, count: maxSeqLength - length)
        }
        segmentIds.withUnsafeMutableBufferPointer { segments in
            (segments.baseAddress! + s).update(repeating: 0, count: segmentBStart)
            (segments.baseAddress! + s + segmentBStart).update(repeating: 1, count: length - segmentBStart)
            (segments.baseAddress! + s + length).update(repeating: 0, count: maxSeqLength - length)
        }
        copyRow(maskedPositions, into: &self.maskedPositions, at: p, width: maxPredictions)
        copyRow(maskedIds, into: &self.maskedIds, at: p, width: maxPredictions)
        labels[r] = Int8(nextSentenceLabel)
        pending += 1
        if pending == chunkRows { try flush() }
    }

    /// `values` then zeros up to `width`, at `start` of `row`.
    private func copyRow(_ values: [Int32], into row: inout [Int32], at start: Int, width: Int) {
        values.withUnsafeBufferPointer { copyRow($0, into: &row, at: start, width: width) }
    }

    private func copyRow(_ v: UnsafeBufferPointer<Int32>, into row: inout [Int32], at start: Int, width: Int) {
        row.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress! + start
            if v.count > 0 { base.update(from: v.baseAddress!, count: v.count) }
            (base + v.count).update(repeating: 0, count: width - v.count)
        }
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
        try instance.maskedPositions.withUnsafeBufferPointer { positions in
            try instance.maskedIds.withUnsafeBufferPointer { ids in
                try checkPredictions(positions, ids, length: length, nextSentenceLabel: instance.nextSentenceLabel)
            }
        }
    }

    private func checkPredictions(_ positions: UnsafeBufferPointer<Int32>, _ ids: UnsafeBufferPointer<Int32>, length: Int,
                                  nextSentenceLabel: Int32) throws {
        func fail(_ reason: String) -> ShardError {
            ShardError(path: path, location: "instance \(count + pending)", reason: reason)
        }
        guard positions.count == ids.count else {
            throw fail("\(positions.count) masked positions but \(ids.count) masked ids")
        }
        guard positions.count <= maxPredictions else {
            throw fail("\(positions.count) predictions, at most \(maxPredictions) (max_predictions_per_seq)")
        }
        // The validator's masked-positions rule (InspectRules.swift): 0 marks padding in the layout,
        // so position 0 ([CLS]) cannot be a prediction.
        if let problem = ShardValidator.maskedPositionsProblem(positions, length: length) {
            throw fail("rule \(ShardRule.maskedPositions.rawValue): \(problem)")
        }
        guard nextSentenceLabel == 0 || nextSentenceLabel == 1 else {
            throw fail("next sentence label \(nextSentenceLabel), expected 0 or 1")
        }
    }

    /// Writes the pending rows as one chunk of every dataset (rows past `pending` are zero, the fill
    /// value, as HDF5 writes a partial edge chunk).
    private func flush() throws {
        guard pending > 0, file != nil else { return }
        let first = count, rows = count + pending
        for (dataset, handle) in zip(ShardDataset.allCases, datasets) {
            try handle.setRows(rows, rowWidth: layout(dataset).1)
        }
        for (dataset, handle) in zip(ShardDataset.allCases, datasets) {
            switch dataset {
            case .inputIds: try writeChunk(handle, first, maxSeqLength, &inputIds_)
            case .inputMask: try writeChunk(handle, first, maxSeqLength, &inputMask)
            case .segmentIds: try writeChunk(handle, first, maxSeqLength, &segmentIds)
            case .maskedPositions: try writeChunk(handle, first, maxPredictions, &maskedPositions)
            case .maskedIds: try writeChunk(handle, first, maxPredictions, &maskedIds)
            case .nextSentenceLabels: try writeChunk(handle, first, nil, &labels)
            }
        }
        count += pending
        pending = 0
    }

    private func writeChunk<T: FixedWidthInteger>(_ dataset: HDF5Dataset, _ firstRow: Int, _ width: Int?, _ values: inout [T]) throws {
        let used = pending * (width ?? 1)
        if used < values.count {
            values.withUnsafeMutableBufferPointer { $0.baseAddress!.advanced(by: used).update(repeating: 0, count: $0.count - used) }
        }
        try values.withUnsafeBytes { raw in
            let (bytes, skipped) = try compressor.filter(raw, elementSize: MemoryLayout<T>.size, path: path)
            try dataset.writeChunk(origin: width == nil ? [firstRow] : [firstRow, 0], skippedFilters: skipped, bytes)
        }
    }

    /// Writes the last rows, closes the file, fsyncs it and renames it to `path`.
    /// On failure the temporary file is removed and nothing appears at `path`.
    public func close() throws {
        let temporary = try finish()
        do {
            try AtomicFile.commit(temporary: temporary, to: path)
        } catch {
            unlink(temporary)
            throw ShardError(path: path, reason: "cannot finish shard after \(count) instances: \(error)")
        }
    }

    /// Everything `close()` does but the rename: the shard is complete and on disk under the
    /// returned temporary name, for a caller that names a whole set of shards at once
    /// (`AtomicFile.commit`) or deletes them all. On failure the temporary file is removed.
    public func finish() throws -> String {
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
            return temporaryPath
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

/// HDF5's filter pipeline for one chunk, done by hand: byte shuffle (filter 0), then deflate into a
/// zlib stream (filter 1): zlib's run-length strategy for 1-byte elements, libdeflate for wider ones
/// (measurements in the file comment). Buffers grow to the largest chunk once and are reused.
final class ChunkCompressor {
    private let stream: UnsafeMutablePointer<z_stream>
    private let compressor: OpaquePointer
    private var shuffled = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var output = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var ready = false

    init() {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard let compressor = libdeflate_alloc_compressor(1) else { fatalError("libdeflate_alloc_compressor: out of memory") }
        self.compressor = compressor
    }

    deinit {
        if ready { deflateEnd(stream) }
        stream.deinitialize(count: 1)
        stream.deallocate()
        libdeflate_free_compressor(compressor)
        shuffled.deallocate()
        output.deallocate()
    }

    /// The chunk's bytes as stored (valid until the next call) and the filter mask: shuffled and
    /// deflated (mask 0), or, when deflate does not make it smaller, shuffled only (mask 0b10).
    func filter(_ chunk: UnsafeRawBufferPointer, elementSize: Int, path: String) throws -> (UnsafeRawBufferPointer, UInt32) {
        let n = chunk.count
        if shuffled.count < n {
            shuffled.deallocate()
            output.deallocate()
            shuffled = .allocate(byteCount: n, alignment: 16)
            output = .allocate(byteCount: n, alignment: 16)
        }
        let input = chunk.bindMemory(to: UInt8.self)
        let planes = shuffled.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var size = 0
        if elementSize == 1 {
            planes.update(from: input.baseAddress!, count: n)
            if !ready {
                guard czlib_deflate_init_zlib_rle(stream) == Z_OK else { throw ShardError(path: path, reason: "zlib deflateInit2 failed") }
                ready = true
            } else {
                guard deflateReset(stream) == Z_OK else { throw ShardError(path: path, reason: "zlib deflateReset failed") }
            }
            stream.pointee.next_in = planes
            stream.pointee.avail_in = UInt32(n)
            stream.pointee.next_out = out
            stream.pointee.avail_out = UInt32(n)
            // Anything but Z_STREAM_END: the stream did not fit in the chunk's own size.
            if deflate(stream, Z_FINISH) == Z_STREAM_END { size = Int(stream.pointee.total_out) }
        } else {
            // Byte j of element i goes to j * elements + i (H5Z_filter_shuffle's layout).
            let elements = n / elementSize
            if elementSize == 4 {
                let words = UnsafeRawPointer(input.baseAddress!)
                let p0 = planes, p1 = planes + elements, p2 = p1 + elements, p3 = p2 + elements
                for i in 0..<elements {
                    let w = words.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self)   // little-endian host
                    p0[i] = UInt8(truncatingIfNeeded: w)
                    p1[i] = UInt8(truncatingIfNeeded: w &>> 8)
                    p2[i] = UInt8(truncatingIfNeeded: w &>> 16)
                    p3[i] = UInt8(truncatingIfNeeded: w &>> 24)
                }
            } else {
                for j in 0..<elementSize {
                    let plane = planes + j * elements
                    for i in 0..<elements { plane[i] = input[i &* elementSize &+ j] }
                }
            }
            size = libdeflate_zlib_compress(compressor, planes, n, out, n)   // 0: did not fit
        }
        if size > 0 && size < n {
            return (UnsafeRawBufferPointer(rebasing: output[0..<size]), 0)
        }
        return (UnsafeRawBufferPointer(rebasing: shuffled[0..<n]), 0b10)
    }
}
