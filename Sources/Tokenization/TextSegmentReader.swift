// Reads text lines in bounded memory, however long a line is: a line longer than the buffer is handed
// out in segments cut where tokenization does not look across the cut, so tokenizing the segments one
// after another gives exactly the tokens of the whole line.
//
// Safe cuts, in order of preference:
//   1. after an ASCII space, tab or CR: these end a word before any lower-casing or normalisation looks
//      at context, and no special token contains one (BasicTokenizer.swift relies on the same fact);
//   2. before or after a non-ASCII whitespace character or a CJK ideograph: both become word boundaries
//      in the cleaning step, before normalisation, lower-casing and the special-token check;
//   3. between two printable ASCII characters, one of them punctuation (conditions in safeCut);
//   4. none within the buffer (a buffer of text without whitespace, CJK or ASCII punctuation, only in
//      adversarial text): a cut at a character boundary, counted in `forcedCuts`; tokens right at such a
//      cut may differ from the reference.
// Lines end at "\n" only; a "\r" or U+0085 inside a line is text.

import Storage
#if canImport(Glibc)
import Glibc
#endif

public final class TextSegmentReader {
    /// A piece of the input: `bytes` valid until the next call; `endsLine` when it is the end of a line.
    public struct Segment {
        public let bytes: UnsafeBufferPointer<UInt8>
        public let endsLine: Bool
    }

    private let fill: (UnsafeMutablePointer<UInt8>, Int) throws -> Int
    private let buffer: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    private var start = 0
    private var end = 0
    private var atEnd = false
    /// Segments cut without a safe boundary (see the file comment).
    public private(set) var forcedCuts = 0

    /// `fill(destination, count)` reads up to `count` bytes and returns how many (0 at the end).
    public init(bufferSize: Int = 1 << 20, fill: @escaping (UnsafeMutablePointer<UInt8>, Int) throws -> Int) {
        precondition(bufferSize >= 16)
        capacity = bufferSize
        buffer = .allocate(capacity: bufferSize)
        self.fill = fill
    }

    /// Reads a file descriptor (plain bytes).
    public convenience init(fileDescriptor fd: Int32, path: String, bufferSize: Int = 1 << 20) {
        self.init(bufferSize: bufferSize) { destination, count in
            while true {
                let n = read(fd, destination, count)
                if n >= 0 { return n }
                if errno == EINTR { continue }
                throw SegmentReadError(path: path, reason: "read failed: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Segments of bytes already in memory (e.g. one long line from another reader).
    public convenience init(bytes: UnsafeBufferPointer<UInt8>, bufferSize: Int = 1 << 20) {
        var offset = 0
        self.init(bufferSize: bufferSize) { destination, count in
            let n = min(count, bytes.count - offset)
            if n > 0 { destination.update(from: bytes.baseAddress! + offset, count: n) }
            offset += n
            return n
        }
    }

    deinit { buffer.deallocate() }

    public func next() throws -> Segment? {
        var searchFrom = start
        while true {
            if searchFrom < end, let hit = memchr(buffer + searchFrom, 0x0A, end - searchFrom) {
                let newline = buffer.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                defer { start = newline + 1 }
                return Segment(bytes: UnsafeBufferPointer(start: buffer + start, count: newline - start), endsLine: true)
            }
            searchFrom = end
            if atEnd {
                guard start < end else { return nil }
                defer { start = end }
                return Segment(bytes: UnsafeBufferPointer(start: buffer + start, count: end - start), endsLine: true)
            }
            if start > 0 {   // make room: move the partial line to the front
                let pending = end - start
                if pending > 0 { memmove(buffer, buffer + start, pending) }
                searchFrom -= start
                start = 0
                end = pending
            }
            if end == capacity {   // a line longer than the buffer: hand out a safe prefix
                let cut = safeCut()
                defer { start = cut }
                return Segment(bytes: UnsafeBufferPointer(start: buffer, count: cut), endsLine: false)
            }
            let n = try fill(buffer + end, capacity - end)
            if n == 0 { atEnd = true } else { end += n }
        }
    }

    /// For rule 3: 0 = not usable beside a cut, 1 = letter or digit, 2 = punctuation.
    private static let punctuationCutClass: [UInt8] = (0..<128).map { b -> UInt8 in
        let properties = CharacterProperties.shared
        guard b >= 0x21 && b <= 0x7E && b != 0x5B && b != 0x5D else { return 0 }
        let f = properties.flags(UInt32(b))
        if f.contains(.caseIgnorable) { return 0 }
        return f.contains(.punctuation) ? 2 : 1
    }

    @inline(__always) private static func punctuationCutSide(_ b: UInt8) -> UInt8 {
        b < 0x80 ? punctuationCutClass[Int(b)] : 0
    }

    /// The end of the longest safe prefix of the full buffer (> 0).
    private func safeCut() -> Int {
        // 1. After the last ASCII space, tab or CR.
        var i = end - 1
        while i >= 0 {
            let b = buffer[i]
            if b == 0x20 || b == 0x09 || b == 0x0D { return i + 1 }
            i -= 1
        }
        // 2. Next to the last non-ASCII whitespace or CJK ideograph (decode forwards, remember the last).
        let properties = CharacterProperties.shared
        var lastSafe = 0
        var lastBoundary = 0
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = UnsafeBufferPointer(start: buffer, count: end).makeIterator()
        var position = 0
        loop: while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                let cp = Unicode.UTF8.decode(encoded).value
                let next = position + encoded.count
                // Whitespace that survives cleaning (Zs becomes a space; U+2028/U+2029 stay and split), not
                // str.split() whitespace that cleaning deletes (U+0085, U+001C–U+001F are Cc).
                let f = properties.flags(cp)
                if cp >= 0x80 && (f.contains(.whitespace) || (f.contains(.splitSpace) && !f.contains(.control))
                                  || CharacterProperties.isCJKIdeograph(cp)) {
                    lastSafe = next   // after it (always > 0)
                }
                lastBoundary = position
                position = next
            case .error(let length):
                position += length
            case .emptyInput:
                break loop
            }
        }
        if lastSafe > 0 { return lastSafe }
        // 3. Between two printable ASCII characters x|y, one of them punctuation: a word boundary after the
        //    punctuation split; neither is deleted by cleaning, composes with the other, or is case-ignorable
        //    (so a Σ's Final_Sigma context stops at them); neither is "[" or "]", so no special token, raw or
        //    after cleaning, can straddle the cut or appear at its edge.
        i = end - 2
        while i >= 0 {
            let x = buffer[i], y = buffer[i + 1]
            if Self.punctuationCutSide(x) != 0 && Self.punctuationCutSide(y) != 0
                && (Self.punctuationCutSide(x) == 2 || Self.punctuationCutSide(y) == 2) { return i + 1 }
            i -= 1
        }
        forcedCuts += 1
        return lastBoundary > 0 ? lastBoundary : end
    }
}

public struct SegmentReadError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

extension TextSegmentReader {
    /// Calls `body` with every segment of every file named by `paths` (files, folders recursively in sorted
    /// order, gzip decompressed transparently; see Storage.TextInput). Plain files stream in flat memory;
    /// a gzip file is read line by line by Storage's reader (memory: its longest line), and lines over
    /// the buffer size are then segmented like plain ones. Returns the number of forced cuts.
    /// `bytesDone(n)` reports input bytes consumed (compressed bytes are not counted: decompressed ones are).
    @discardableResult
    public static func forEachSegment(paths: [String], bufferSize: Int = 1 << 20,
                                      _ body: (Segment) throws -> Void) throws -> Int {
        var forced = 0
        for path in try TextInput.files(paths) {
            if try TextInput.isGzip(path: path) {
                let lines = try TextLineReader(path: path)
                defer { lines.close() }
                while let line = try lines.nextLine() {
                    if line.count <= bufferSize {
                        try body(Segment(bytes: line, endsLine: true))
                    } else {
                        let reader = TextSegmentReader(bytes: line, bufferSize: bufferSize)
                        while let segment = try reader.next() { try body(segment) }
                        forced += reader.forcedCuts
                    }
                }
            } else {
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw TextInputError(path: path, reason: "cannot open: \(String(cString: strerror(errno)))") }
                defer { close(fd) }
                let reader = TextSegmentReader(fileDescriptor: fd, path: path, bufferSize: bufferSize)
                while let segment = try reader.next() { try body(segment) }
                forced += reader.forcedCuts
            }
        }
        return forced
    }
}
