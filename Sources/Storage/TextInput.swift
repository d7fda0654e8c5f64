// Corpus text input: which files a set of paths names, and their lines as raw bytes.
//
// - `TextInput.files(_:)` expands paths: a file is taken as given, a folder recursively in sorted
//   order (byte order of the names, so every machine and rank sees the same list), hidden entries
//   (names starting with ".") skipped.
// - `TextLineReader` streams one file's lines, split at "\n" only (a "\r" before it is left to the
//   caller), decompressing gzip transparently when the file starts with the gzip magic bytes
//   1f 8b (concatenated gzip members, as `cat a.gz b.gz` makes, are read one after another).
//   Memory is one read buffer plus the longest line, whatever the file size.

import CZlib
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A problem reading corpus text: the file, the line (when known) and what is wrong.
public struct TextInputError: Error, CustomStringConvertible {
    public let path: String
    public let line: Int?
    public let reason: String
    public init(path: String, line: Int? = nil, reason: String) {
        self.path = path
        self.line = line
        self.reason = reason
    }
    public var description: String {
        if let line { return "\(path):\(line): \(reason)" }
        return "\(path): \(reason)"
    }
}

public enum TextInput {
    /// The files named by `paths`: files as given (in the order given), folders expanded
    /// recursively in sorted order, hidden files and folders (".name") skipped.
    /// A path that does not exist is an error naming it; so is a set of paths with no file at all.
    public static func files(_ paths: [String]) throws -> [String] {
        var result: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw TextInputError(path: path, reason: "no such file or folder")
            }
            if isDirectory.boolValue {
                try collect(folder: path, into: &result)
            } else {
                result.append(path)
            }
        }
        if result.isEmpty {
            throw TextInputError(path: paths.joined(separator: ", "), reason: "no input files found (hidden files are skipped)")
        }
        return result
    }

    private static func collect(folder: String, into result: inout [String]) throws {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw TextInputError(path: folder, reason: "cannot list folder: \(error.localizedDescription)")
        }
        // Sort by UTF-8 bytes, not by locale, so the order is the same everywhere.
        for name in names.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) where !name.hasPrefix(".") {
            let path = (folder as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }  // dangling link
            if isDirectory.boolValue {
                try collect(folder: path, into: &result)
            } else {
                result.append(path)
            }
        }
    }

    /// True when the file starts with the gzip magic bytes 1f 8b.
    public static func isGzip(path: String) throws -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TextInputError(path: path, reason: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var magic: (UInt8, UInt8) = (0, 0)
        let n = withUnsafeMutableBytes(of: &magic) { read(fd, $0.baseAddress, 2) }
        return n == 2 && magic.0 == 0x1f && magic.1 == 0x8b
    }
}

/// Streams the lines of one (possibly gzip-compressed) file as raw bytes.
///
///     let reader = try TextLineReader(path: "corpus.txt.gz")
///     while let line = try reader.nextLine() { ... reader.lineNumber ... }
///
/// The buffer returned by `nextLine()` is valid only until the next call.
public final class TextLineReader {
    public let path: String
    /// True when the file is gzip-compressed.
    public let isCompressed: Bool
    /// 1-based number of the line last returned by `nextLine()` (0 before the first).
    public private(set) var lineNumber = 0

    private var source: ByteSource
    // Decompressed bytes not yet returned live in buffer[start..<end]; capacity grows only for a
    // line longer than the buffer.
    private var buffer: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var start = 0
    private var end = 0
    private var atEndOfInput = false

    public init(path: String, bufferSize: Int = 1 << 16) throws {
        precondition(bufferSize > 0)
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TextInputError(path: path, reason: "cannot open: \(String(cString: strerror(errno)))") }
        let compressed: Bool
        do {
            compressed = try TextInput.isGzip(path: path)
        } catch {
            Glibc.close(fd)
            throw error
        }
        isCompressed = compressed
        if compressed {
            do {
                source = .gzip(try GzipInflater(fd: fd, path: path, chunkSize: bufferSize))
            } catch {
                Glibc.close(fd)
                throw error
            }
        } else {
            source = .plain(fd)
        }
        capacity = bufferSize
        buffer = .allocate(capacity: bufferSize)
    }

    deinit {
        close()
        buffer.deallocate()
    }

    /// Releases the file (also done by `deinit`); later calls to `nextLine()` return nil.
    public func close() {
        switch source {
        case .plain(let fd): Glibc.close(fd)
        case .gzip(let inflater): inflater.finish()
        case .closed: break
        }
        source = .closed
        atEndOfInput = true
        start = 0
        end = 0
    }

    /// Byte offset in the file of the line last returned by `nextLine()` (plain files; after
    /// `seek(to:)` too).
    public private(set) var lineOffset = 0
    private var consumed = 0   // file offset of buffer[start]

    /// Plain files only: continues reading at byte `offset` (not necessarily a line start; the
    /// next line runs from there to the next newline). `lineNumber` then counts from there.
    public func seek(to offset: Int) throws {
        guard case .plain(let fd) = source else {
            throw TextInputError(path: path, reason: "cannot seek in a gzip-compressed file")
        }
        guard lseek(fd, off_t(offset), SEEK_SET) >= 0 else {
            throw TextInputError(path: path, reason: "cannot seek to byte \(offset): \(String(cString: strerror(errno)))")
        }
        start = 0
        end = 0
        atEndOfInput = false
        consumed = offset
        lineNumber = 0
    }

    /// The next line without its "\n" (a last line without one is still a line), or nil at the end.
    public func nextLine() throws -> UnsafeBufferPointer<UInt8>? {
        var searchFrom = start
        while true {
            if searchFrom < end, let hit = memchr(buffer + searchFrom, 0x0A, end - searchFrom) {
                let newline = buffer.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                let line = UnsafeBufferPointer(start: buffer + start, count: newline - start)
                lineOffset = consumed
                consumed += newline + 1 - start
                start = newline + 1
                lineNumber += 1
                return line
            }
            searchFrom = end
            if atEndOfInput {
                guard start < end else { return nil }
                let line = UnsafeBufferPointer(start: buffer + start, count: end - start)
                lineOffset = consumed
                consumed += end - start
                start = end
                lineNumber += 1
                return line
            }
            // Make room: move the partial line to the front, grow only if it fills the buffer.
            if start > 0 {
                let pending = end - start
                if pending > 0 { memmove(buffer, buffer + start, pending) }
                searchFrom -= start
                start = 0
                end = pending
            }
            if end == capacity {
                let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
                grown.update(from: buffer, count: end)
                buffer.deallocate()
                buffer = grown
                capacity *= 2
            }
            let n = try fill(buffer + end, capacity - end)
            if n == 0 { atEndOfInput = true } else { end += n }
        }
    }

    /// Calls `body` with every remaining line (buffer valid during the call only).
    public func forEachLine(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        while let line = try nextLine() { try body(line) }
    }

    private func fill(_ destination: UnsafeMutablePointer<UInt8>, _ count: Int) throws -> Int {
        switch source {
        case .plain(let fd):
            while true {
                let n = read(fd, destination, count)
                if n >= 0 { return n }
                if errno == EINTR { continue }
                throw TextInputError(path: path, line: lineNumber + 1, reason: "read failed: \(String(cString: strerror(errno)))")
            }
        case .gzip(let inflater):
            return try inflater.read(into: destination, count: count, line: lineNumber + 1)
        case .closed:
            return 0
        }
    }

    private enum ByteSource {
        case plain(Int32)
        case gzip(GzipInflater)
        case closed
    }
}

/// zlib's inflate over a file descriptor, gzip framing, concatenated members.
final class GzipInflater {
    private let fd: Int32
    private let path: String
    // zlib keeps a pointer back to its z_stream, so the stream must not move: heap-allocated.
    private let stream: UnsafeMutablePointer<z_stream>
    private let input: UnsafeMutablePointer<UInt8>
    private let inputCapacity: Int
    private var inputAtEnd = false
    private var memberFinished = false   // the last inflate() reached the end of a gzip member
    private var compressedOffset = 0     // bytes of the file consumed, for error messages
    private var open = true

    init(fd: Int32, path: String, chunkSize: Int) throws {
        self.fd = fd
        self.path = path
        inputCapacity = chunkSize
        input = .allocate(capacity: chunkSize)
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = czlib_inflate_init_gzip(stream)
        guard status == Z_OK else {
            stream.deallocate()
            input.deallocate()
            open = false
            throw TextInputError(path: path, reason: "zlib inflateInit2 failed (status \(status))")
        }
    }

    deinit { finish() }

    func finish() {
        guard open else { return }
        open = false
        inflateEnd(stream)
        stream.deallocate()
        input.deallocate()
        Glibc.close(fd)
    }

    /// Decompresses up to `count` bytes; 0 means the end of the last member.
    func read(into destination: UnsafeMutablePointer<UInt8>, count: Int, line: Int) throws -> Int {
        guard open else { return 0 }
        while true {
            if stream.pointee.avail_in == 0 && !inputAtEnd {
                let n = try readCompressed(line: line)
                if n == 0 { inputAtEnd = true }
            }
            if memberFinished {
                // Between members: nothing more means a clean end; more bytes start a new member.
                if stream.pointee.avail_in == 0 && inputAtEnd { return 0 }
                guard inflateReset(stream) == Z_OK else {
                    throw TextInputError(path: path, line: line, reason: "zlib inflateReset failed")
                }
                memberFinished = false
            }
            if stream.pointee.avail_in == 0 && inputAtEnd {
                throw TextInputError(path: path, line: line,
                                     reason: "truncated gzip data: the file ends inside a compressed stream (after \(compressedOffset) bytes)")
            }
            stream.pointee.next_out = destination
            stream.pointee.avail_out = UInt32(count)
            let status = inflate(stream, Z_NO_FLUSH)
            let produced = count - Int(stream.pointee.avail_out)
            switch status {
            case Z_STREAM_END:
                memberFinished = true
            case Z_OK, Z_BUF_ERROR:
                break   // Z_BUF_ERROR: no progress possible without more input; loop reads more
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "status \(status)"
                let consumed = compressedOffset - Int(stream.pointee.avail_in)
                throw TextInputError(path: path, line: line, reason: "corrupt gzip data near byte \(consumed): \(message)")
            }
            if produced > 0 { return produced }
        }
    }

    private func readCompressed(line: Int) throws -> Int {
        while true {
            let n = Glibc.read(fd, input, inputCapacity)
            if n >= 0 {
                stream.pointee.next_in = input
                stream.pointee.avail_in = UInt32(n)
                compressedOffset += n
                return n
            }
            if errno == EINTR { continue }
            throw TextInputError(path: path, line: line, reason: "read failed: \(String(cString: strerror(errno)))")
        }
    }
}
