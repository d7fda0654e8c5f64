// Google's input format as a `DocumentStream`: one sentence per line, a blank (or all-whitespace)
// line between documents, read exactly as create_pretraining_data.py reads it (each line stripped
// as Python's str.strip() strips; a document continues across a file boundary unless
// `fileEndsDocument`). Gzip is read transparently. Lines stay bytes: the tokenizer reads UTF-8.

import Foundation
import Logging
import Storage

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
