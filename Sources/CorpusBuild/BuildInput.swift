// Google's input format as a `DocumentStream`: one sentence per line, a blank (or all-whitespace)
// line between documents, read exactly as create_pretraining_data.py reads it (each line stripped
// as Python's str.strip() strips; a document continues across a file boundary unless
// `fileEndsDocument`). Gzip is read transparently. Lines stay bytes: the tokenizer reads UTF-8.

import Foundation
import Logging
import Storage
#if canImport(Glibc)
import Glibc
#endif

public struct SentencePerLineDocuments: DocumentStream {
    private let files: [String]
    private let fileEndsDocument: Bool
    private let logger: Logger?
    private var fileIndex = 0
    private var reader: TextLineReader?
    private var warnedFiles = Set<Int>()
    public private(set) var bytesRead = 0
    private var atEnd = false

    public init(files: [String], fileEndsDocument: Bool, logger: Logger? = nil) {
        self.files = files
        self.fileEndsDocument = fileEndsDocument
        self.logger = logger
    }

    public mutating func nextDocument(wanted: Bool, _ sentence: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Bool {
        if atEnd { return false }
        var sentences = 0
        while fileIndex < files.count {
            if reader == nil { reader = try TextLineReader(path: files[fileIndex]) }
            guard let raw = try reader!.nextLine() else {
                reader?.close()
                reader = nil
                fileIndex += 1
                if fileEndsDocument { return true }
                continue
            }
            bytesRead += raw.count + 1
            let line = Self.strip(raw)
            if line.isEmpty { return true }  // a document break (the document may be empty)
            sentences += 1
            guard wanted else { continue }
            if !warnedFiles.contains(fileIndex), !Self.isValidUTF8(line) {
                warnedFiles.insert(fileIndex)
                logger?.warning("\(files[fileIndex]):\(reader!.lineNumber): invalid UTF-8, replaced by U+FFFD (further lines of this file not reported)")
            }
            try sentence(line)
        }
        atEnd = true
        return sentences > 0
    }

    static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        if bytes.allSatisfy({ $0 < 0x80 }) { return true }
        return String(validating: bytes, as: UTF8.self) != nil
    }

    /// Python's str.strip(): removes leading and trailing characters for which str.isspace() is true
    /// (ASCII \t \n \v \f \r, 0x1C–0x1F, space; U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029,
    /// U+202F, U+205F, U+3000).
    static func strip(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var lo = 0, hi = bytes.count
        while lo < hi, let n = spaceLength(bytes, at: lo) { lo += n }
        while lo < hi, let n = spaceLength(endingAt: hi, bytes, lowerBound: lo) { hi -= n }
        return UnsafeBufferPointer(rebasing: bytes[lo..<hi])
    }

    private static func isSpace(_ scalar: UInt32) -> Bool {
        switch scalar {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// Length in bytes of the whitespace character starting at `i`, or nil.
    private static func spaceLength(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Int? {
        let c = b[i]
        if c < 0x80 { return isSpace(UInt32(c)) ? 1 : nil }
        let n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1
        guard n > 1, i + n <= b.count else { return nil }
        var scalar = UInt32(c) & (0xFF >> (n + 1))
        for k in 1..<n { scalar = scalar << 6 | (UInt32(b[i + k]) & 0x3F) }
        return isSpace(scalar) ? n : nil
    }

    /// Length in bytes of the whitespace character ending just before `end`, or nil.
    private static func spaceLength(endingAt end: Int, _ b: UnsafeBufferPointer<UInt8>, lowerBound: Int) -> Int? {
        var start = end - 1
        while start > lowerBound, b[start] & 0xC0 == 0x80, end - start < 4 { start -= 1 }
        guard let n = spaceLength(b, at: start), start + n == end else { return nil }
        return n
    }
}

/// Google's format read by byte ranges: on N ranks, rank r reads only about 1/N of the input (the
/// files taken as one byte sequence, cut at r·total/N) and yields the documents that start in its
/// range, reading the last one to its end past the range. A document starts at a non-blank line
/// that begins a file or follows a blank one, so every document belongs to exactly one rank, and
/// the ranks' documents in rank order are the input's documents in order (tested against
/// `SentencePerLineDocuments` for many inputs and rank counts). Plain files only (a gzip stream
/// cannot be entered in the middle), and a file's end always ends a document.
public struct SentencePerLineRangeDocuments: DocumentStream {
    private let files: [String]
    private let fileStarts: [Int]           // offset of each file in the concatenation; + total
    private let rangeStart: Int, rangeEnd: Int
    private let logger: Logger?
    private var fileIndex: Int
    private var reader: TextLineReader?
    private var atBoundary = true           // the previous line was blank, or a file starts here
    private var warnedFiles = Set<Int>()
    private var done = false
    public private(set) var bytesRead = 0
    /// Bytes of input in this rank's range (it reads about as many).
    public var ownBytes: Int? { rangeEnd - rangeStart }

    public init(files: [String], rank: Int, ranks: Int, logger: Logger? = nil) throws {
        var starts = [0]
        for file in files {
            var info = stat()
            guard stat(file, &info) == 0 else { throw BuildError("\(file): cannot read its size") }
            starts.append(starts.last! + Int(info.st_size))
        }
        let total = starts.last!
        self.files = files
        fileStarts = starts
        rangeStart = total * rank / ranks
        rangeEnd = total * (rank + 1) / ranks
        self.logger = logger
        // The file holding the range's first byte (skipping empty files).
        let first = rangeStart
        fileIndex = files.indices.first { starts[$0 + 1] > first } ?? files.count
        done = rangeStart >= rangeEnd
    }

    /// Whether every file can be read by byte ranges (plain text, not gzip).
    public static func applies(to files: [String]) -> Bool {
        files.allSatisfy { (try? TextInput.isGzip(path: $0)) == false }
    }

    /// Opens the current file at the range start (or its beginning); finds whether a boundary
    /// precedes the first whole line.
    private mutating func open() throws -> TextLineReader {
        let path = files[fileIndex]
        let reader = try TextLineReader(path: path)
        let offset = max(0, rangeStart - fileStarts[fileIndex])
        atBoundary = true
        if offset > 0 {
            // Start at the first line beginning at or after the offset: skip the rest of the line
            // holding byte offset − 1; a boundary precedes it if that line is blank.
            let previous = try Self.lineEnding(at: offset - 1, in: path)
            try reader.seek(to: previous.end)
            atBoundary = previous.isBlank
        }
        return reader
    }

    /// The line holding byte `position` of `path` (a line's bytes include its newline): where the
    /// next line starts, and whether this one is blank (Python's strip leaves nothing).
    static func lineEnding(at position: Int, in path: String) throws -> (end: Int, isBlank: Bool) {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BuildError("\(path): cannot open") }
        defer { Glibc.close(fd) }
        func read(_ from: Int, _ count: Int) throws -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count)
            let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(from)) }
            guard got >= 0 else { throw BuildError("\(path): read failed at byte \(from)") }
            return Array(bytes[0..<got])
        }
        // The line starts after the last newline before `position`.
        var lineStart = 0, cursor = position
        while cursor > 0 {
            let from = max(0, cursor - 4096)
            let chunk = try read(from, cursor - from)
            if let k = chunk.lastIndex(of: 0x0A) { lineStart = from + k + 1; break }
            cursor = from
        }
        // It ends at the first newline at or after `position` (or the end of the file).
        var line: [UInt8] = [], end = lineStart
        cursor = lineStart
        while true {
            let chunk = try read(cursor, 4096)
            if chunk.isEmpty { end = cursor; break }
            if let k = chunk.firstIndex(of: 0x0A), cursor + k >= position {
                line += chunk[0..<k]
                end = cursor + k + 1
                break
            }
            line += chunk
            cursor += chunk.count
        }
        return (end, line.withUnsafeBufferPointer { SentencePerLineDocuments.strip($0).isEmpty })
    }

    public mutating func nextDocument(wanted: Bool, _ sentence: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Bool {
        precondition(wanted, "a range stream yields only this rank's documents")
        guard !done else { return false }
        // Find the next document start: a non-blank line after a boundary.
        while true {
            if reader == nil {
                guard fileIndex < files.count, fileStarts[fileIndex] < rangeEnd else { done = true; return false }
                reader = try open()
            }
            guard let raw = try reader!.nextLine() else {
                reader!.close()
                reader = nil
                fileIndex += 1
                continue
            }
            bytesRead += raw.count + 1
            let line = SentencePerLineDocuments.strip(raw)
            if line.isEmpty { atBoundary = true; continue }
            let starts = atBoundary
            atBoundary = false
            guard starts else { continue }   // inside a document that started before
            guard fileStarts[fileIndex] + reader!.lineOffset < rangeEnd else { done = true; return false }
            try emit(line, sentence)
            break
        }
        // The rest of the document, to a blank line or the end of its file.
        while let raw = try reader!.nextLine() {
            bytesRead += raw.count + 1
            let line = SentencePerLineDocuments.strip(raw)
            if line.isEmpty { atBoundary = true; return true }
            try emit(line, sentence)
        }
        reader!.close()
        reader = nil
        fileIndex += 1
        return true
    }

    private mutating func emit(_ line: UnsafeBufferPointer<UInt8>, _ sentence: (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        if !warnedFiles.contains(fileIndex), !SentencePerLineDocuments.isValidUTF8(line) {
            warnedFiles.insert(fileIndex)
            logger?.warning("\(files[fileIndex]): byte \(reader!.lineOffset): invalid UTF-8, replaced by U+FFFD (further lines of this file not reported)")
        }
        try sentence(line)
    }
}

/// Any input format, through the shards module's `DocumentReader` (format detection, prose
/// sentence splitting, JSON lines, wikiextractor). Every rank finds every document's boundaries;
/// only the rank that tokenizes a document decodes it. The google format with `--format google`
/// takes the faster byte path above instead.
public struct ReaderDocuments: DocumentStream {
    private let reader: DocumentReader
    public init(reader: DocumentReader) { self.reader = reader }
    public var bytesRead: Int { reader.bytesRead }

    public mutating func nextDocument(wanted: Bool, _ sentence: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Bool {
        guard let document = try reader.nextRaw(wanted: wanted) else { return false }
        for var text in document { try text.withUTF8 { try sentence($0) } }
        return true
    }
}
