// Buffered writing to a file descriptor: the one buffered writer of the project (`bert-corpus
// tokenize`'s output, the build's token store and instance spill). Every byte is written or an
// error naming the file is thrown (a full disk, a closed pipe).
//
// Raw storage, not an Array: the hot loops (a token's text per id) then need no uniqueness tests,
// which took ~20% of tokenize's run time in a profile, and the appends are @inlinable so that they
// compile into the caller's loop instead of a call per token.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Appends bytes to a file descriptor through a buffer flushed once it holds 1 MiB. Little-endian
/// integers only (the stores' formats are little-endian; the build checks the host).
public final class BufferedOutput {
    public let path: String
    public let fd: Int32
    private let ownsDescriptor: Bool
    private var closed = false
    @usableFromInline var storage: UnsafeMutablePointer<UInt8>
    @usableFromInline var capacity: Int
    @usableFromInline var count = 0
    @usableFromInline var flushed = 0
    @usableFromInline static let flushAt = 1 << 20

    /// Writes to `fd`, which stays open (e.g. standard output); `path` names it in errors.
    public init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
        ownsDescriptor = false
        capacity = 2 * Self.flushAt
        storage = .allocate(capacity: capacity)
    }

    /// Creates (or truncates) the file at `path`; `close()` closes it.
    public init(creating path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError.posix(path, "cannot create") }
        self.fd = fd
        self.path = path
        ownsDescriptor = true
        capacity = 2 * Self.flushAt
        storage = .allocate(capacity: capacity)
    }

    deinit {
        storage.deallocate()
        if ownsDescriptor && !closed { _ = Glibc.close(fd) }
    }

    /// Bytes appended so far (written or buffered): the offset of the next byte in the file.
    public var bytesWritten: Int { flushed + count }

    /// Makes room for `n` more bytes.
    @inlinable @inline(__always)
    public func reserve(_ n: Int) {
        if count + n > capacity { grow(n) }
    }

    @usableFromInline func grow(_ n: Int) {
        while count + n > capacity { capacity *= 2 }
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        grown.update(from: storage, count: count)
        storage.deallocate()
        storage = grown
    }

    /// Appends one byte; room must have been reserved.
    @inlinable @inline(__always)
    public func appendUnchecked(_ b: UInt8) {
        assert(count < capacity)
        storage[count] = b
        count += 1
    }

    /// Appends `n` bytes; room must have been reserved.
    @inlinable @inline(__always)
    public func appendUnchecked(_ p: UnsafePointer<UInt8>, _ n: Int) {
        assert(count + n <= capacity)
        (storage + count).update(from: p, count: n)
        count += n
    }

    @inlinable
    public func append(_ b: UInt8) { reserve(1); appendUnchecked(b) }

    /// `value` as little-endian bytes.
    @inlinable
    public func append<T: FixedWidthInteger>(littleEndian value: T) throws {
        reserve(MemoryLayout<T>.size)
        UnsafeMutableRawPointer(storage + count).storeBytes(of: value.littleEndian, as: T.self)
        count += MemoryLayout<T>.size
        try flushIfFull()
    }

    /// `values` as little-endian int32; a block of 1 MiB or more goes straight to the file.
    public func append(_ values: [Int32]) throws {
        let n = values.count * 4
        try values.withUnsafeBytes { bytes in
            if n >= Self.flushAt {
                try flush()
                try AtomicFile.writeAll(fd: fd, bytes, path: path)
                flushed += n
            } else {
                reserve(n)
                appendUnchecked(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), n)
                try flushIfFull()
            }
        }
    }

    /// `values` as little-endian uint16 (the caller knows they fit), a buffer's worth at a time.
    public func appendNarrow(_ values: [Int32]) throws {
        var rest = values[...]
        while !rest.isEmpty {
            let k = min(rest.count, Self.flushAt / 2)
            reserve(2 * k)
            let out = UnsafeMutableRawPointer(storage + count)
            for (i, v) in rest.prefix(k).enumerated() {
                out.storeBytes(of: UInt16(truncatingIfNeeded: v).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
            }
            count += 2 * k
            rest = rest.dropFirst(k)
            try flushIfFull()
        }
    }

    @inlinable
    public func flushIfFull() throws { if count >= Self.flushAt { try flush() } }

    public func flush() throws {
        guard count > 0 else { return }
        try AtomicFile.writeAll(fd: fd, UnsafeRawBufferPointer(start: storage, count: count), path: path)
        flushed += count
        count = 0
    }

    /// Flushes, then closes the file if this writer opened it.
    public func close() throws {
        try flush()
        guard ownsDescriptor, !closed else { return }
        closed = true
        guard Glibc.close(fd) == 0 else { throw StorageError.posix(path, "close failed") }
    }
}
