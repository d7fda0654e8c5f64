// Where rank 0 writes an inference command's records: JSON lines, a TSV table (`index\tprediction`,
// as run_glue's predict_results.txt) or one .npy float32 matrix [N, D] that numpy.load reads as is.
// A file is written beside its final name and renamed into place when complete (AtomicFile), so a
// failed run never leaves a half-written output under the name asked for; stdout is written as it goes.

import Foundation
import Storage

public enum RecordLayout: Sendable {
    case jsonLines
    case tsv
    /// Rows of `dimension` float32 values.
    case npy(dimension: Int)
}

public final class RecordFileSink: RecordSink {
    public let path: String?
    private let layout: RecordLayout
    private let fd: Int32
    private let temporary: String?
    private var buffer: [UInt8] = []
    private var count = 0
    private var headerLength = 0

    /// `path` nil = standard output (not for .npy, whose header is written last).
    public init(path: String?, layout: RecordLayout) throws {
        self.path = path
        self.layout = layout
        if let path {
            let tmp = AtomicFile.temporaryPath(for: path)
            let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw StorageError.posix(path, "cannot create the output (as \(tmp))") }
            self.fd = fd
            temporary = tmp
        } else {
            if case .npy = layout { throw StorageError(path: "<stdout>", reason: ".npy output needs --output FILE") }
            fd = 1
            temporary = nil
        }
        buffer.reserveCapacity(1 << 20)
        switch layout {
        case .tsv: buffer.append(contentsOf: Array("index\tprediction\n".utf8))
        case .npy(let dimension):
            // The header is rewritten with the real row count at the end; reserve its final length now.
            let header = Self.npyHeader(rows: Int(Int32.max), dimension: dimension)
            headerLength = header.count
            buffer.append(contentsOf: header)
        case .jsonLines: break
        }
    }

    deinit {
        if let temporary {
            close(fd)
            unlink(temporary)   // only reached when `finish` did not rename it into place
        }
    }

    public func write(_ record: [UInt8]) throws {
        switch layout {
        case .jsonLines:
            buffer.append(contentsOf: record)
            buffer.append(0x0A)
        case .tsv:
            buffer.append(contentsOf: Array("\(count)\t".utf8))
            buffer.append(contentsOf: record)
            buffer.append(0x0A)
        case .npy(let dimension):
            precondition(record.count == 4 * dimension, "a row of \(record.count / 4) floats, the matrix has \(dimension) columns")
            buffer.append(contentsOf: record)
        }
        count += 1
        if buffer.count >= 1 << 20 { try flush() }
    }

    public func finish() throws {
        try flush()
        guard let path, let temporary else { return }
        if case .npy(let dimension) = layout {
            let header = Self.npyHeader(rows: count, dimension: dimension, length: headerLength)
            let written = header.withUnsafeBytes { pwrite(fd, $0.baseAddress, header.count, 0) }
            guard written == header.count else { throw StorageError.posix(path, "cannot write the .npy header") }
        }
        guard fsync(fd) == 0 else { throw StorageError.posix(temporary, "fsync failed") }
        try AtomicFile.commit(temporary: temporary, to: path)
    }

    private func flush() throws {
        try buffer.withUnsafeBytes { try AtomicFile.writeAll(fd: fd, $0, path: path ?? "<stdout>") }
        buffer.removeAll(keepingCapacity: true)
    }

    /// NumPy format 1.0: magic, version, header length, then a dict padded with spaces to a multiple
    /// of 64 bytes ending in "\n". Little-endian float32 ('<f4'), C order.
    static func npyHeader(rows: Int, dimension: Int, length: Int? = nil) -> [UInt8] {
        var dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(dimension)), }"
        let prefix = 10
        let total = length ?? ((prefix + dict.utf8.count + 1 + 63) / 64 * 64)
        dict += String(repeating: " ", count: total - prefix - dict.utf8.count - 1) + "\n"
        let headerBytes = UInt16(dict.utf8.count)
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(headerBytes & 0xFF), UInt8(headerBytes >> 8)] + Array(dict.utf8)
    }
}
