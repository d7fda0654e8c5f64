// Input documents for `bert-corpus`: a document is an array of sentences (Strings), in file order,
// one at a time (never the whole corpus in memory). Formats and their detection: InputFormat.swift.
//
//     let reader = try DocumentReader(paths: ["corpus/"], options: DocumentReaderOptions(), logger: logger)
//     while let document = try reader.next() { ... reader.currentFile ... }
//
// Lines are read through Storage.TextLineReader (gzip looked through, split at "\n") and stripped
// as Python's str.strip() does (so "\r\n" endings and stray spaces vanish). Invalid UTF-8 is replaced
// by U+FFFD, with one warning per file giving the number of affected lines.
// `next()` never yields an empty document. `nextRaw(wanted:)` (the build's pass 1) yields every raw
// document, empty ones included (a JSON line with a null or blank text, a <doc> with only its
// title), so that document numbers come from boundaries alone: a rank that does not want a
// document finds its end without decoding it (no JSON parsing, no sentence splitting), and every
// rank numbers the documents alike.

import Foundation
import Logging
import Storage

public struct DocumentReaderOptions {
    /// nil = detect per file (InputFormat.swift).
    public var format: InputFormat?
    /// `text` format: a line matching this regular expression (anywhere in the line; anchor it
    /// with ^…$ for whole lines) starts a new document and is itself dropped.
    public var documentSeparator: String?
    /// `jsonl` format: the field holding a document's text.
    public var jsonField: String
    public var splitter: SentenceSplitter
    /// `google` format: Google's create_pretraining_data reads all files as one stream, so a
    /// document not closed by a blank line continues into the next file. Off: a file's end also
    /// ends its last document. On only matters for exact reproduction of the reference script.
    public var googleDocumentsSpanFiles: Bool

    public init(format: InputFormat? = nil, documentSeparator: String? = nil, jsonField: String = "text",
                splitter: SentenceSplitter = SentenceSplitter(), googleDocumentsSpanFiles: Bool = false) {
        self.format = format
        self.documentSeparator = documentSeparator
        self.jsonField = jsonField
        self.splitter = splitter
        self.googleDocumentsSpanFiles = googleDocumentsSpanFiles
    }
}

/// A problem in an input document file: the file, the line and what is wrong.
public typealias DocumentError = TextInputError

public final class DocumentReader {
    public let files: [String]
    public let options: DocumentReaderOptions
    /// Format used for each file opened so far, with the reason.
    public private(set) var formats: [String: FormatDetection] = [:]
    /// Documents yielded so far.
    public private(set) var documentCount = 0
    /// Text bytes read so far (decompressed, newlines included), for progress meters.
    public var bytesRead: Int { finishedBytes + (source?.lines.bytesRead ?? 0) }
    private var finishedBytes = 0

    private let logger: Logger
    private let separator: Regex<AnyRegexOutput>?
    private var nextFile = 0
    private var source: DocumentSource?
    private var lastLoggedFormat: InputFormat?

    /// `paths` are files or folders (TextInput.files: folders recursively in sorted order, hidden skipped).
    public init(paths: [String], options: DocumentReaderOptions = DocumentReaderOptions(),
                logger: Logger = Logger(label: "bert-corpus.documents")) throws {
        files = try TextInput.files(paths)
        self.options = options
        self.logger = logger
        if let pattern = options.documentSeparator {
            do {
                separator = try Regex(pattern)
            } catch {
                throw DocumentError(path: "--doc-separator", reason: "invalid regular expression \(pattern): \(error)")
            }
        } else {
            separator = nil
        }
        if options.googleDocumentsSpanFiles && options.format != .google {
            throw DocumentError(path: files.first ?? "", reason: "documents can span files only with --format google")
        }
    }

    /// The file being read (for messages).
    public var currentFile: String? { source?.lines.path }
    /// The last line read in it.
    public var currentLine: Int { source?.lines.lineNumber ?? 0 }

    /// The next non-empty document, or nil after the last file.
    public func next() throws -> [String]? {
        while let document = try nextRaw(wanted: true) {
            if !document.isEmpty {
                documentCount += 1
                return document
            }
        }
        return nil
    }

    /// The next raw document (possibly empty), or nil after the last file. With `wanted` false
    /// the document is only skipped over and [] is returned; the boundaries are the same.
    public func nextRaw(wanted: Bool) throws -> [String]? {
        while true {
            if let source, let document = try source.next(wanted: wanted) { return document }
            source?.lines.finish()
            finishedBytes += source?.lines.bytesRead ?? 0
            source = nil
            guard nextFile < files.count else { return nil }
            source = try open()
        }
    }

    /// Calls `body` with every remaining document.
    public func forEachDocument(_ body: ([String]) throws -> Void) throws {
        while let document = try next() { try body(document) }
    }

    private func open() throws -> DocumentSource {
        if options.googleDocumentsSpanFiles {
            let all = Array(files[nextFile...])
            nextFile = files.count
            for file in all { formats[file] = FormatDetection(format: .google, reason: "--format google") }
            return GoogleDocuments(lines: DecodedLines(files: all, logger: logger))
        }
        let file = files[nextFile]
        nextFile += 1
        let detection: FormatDetection
        if let format = options.format {
            detection = FormatDetection(format: format, reason: "--format")
        } else {
            detection = try InputFormatDetector.detect(path: file, splitter: options.splitter)
            if detection.format != lastLoggedFormat {
                logger.info("\(file): format \(detection)")
                lastLoggedFormat = detection.format
            } else {
                logger.debug("\(file): format \(detection)")
            }
        }
        formats[file] = detection
        let lines = DecodedLines(files: [file], logger: logger)
        switch detection.format {
        case .google: return GoogleDocuments(lines: lines)
        case .text: return ProseDocuments(lines: lines, splitter: options.splitter, separator: separator)
        case .jsonl: return JSONLinesDocuments(lines: lines, splitter: options.splitter, field: options.jsonField)
        case .wikiextractor: return WikiExtractorDocuments(lines: lines, splitter: options.splitter, logger: logger)
        }
    }
}

// MARK: Lines

/// Stripped, UTF-8-decoded lines of one or more files in sequence.
final class DecodedLines {
    private let files: [String]
    private let logger: Logger
    private var index = -1
    private var reader: TextLineReader?
    private var invalidLines = 0
    private(set) var path = ""
    private(set) var bytesRead = 0

    init(files: [String], logger: Logger) {
        self.files = files
        self.logger = logger
    }

    var lineNumber: Int { reader?.lineNumber ?? 0 }

    /// The next line, stripped (Python's str.strip()), or nil after the last file.
    func next() throws -> String? {
        try nextBytes().map(decode)
    }

    /// The next line's bytes, stripped, undecoded (valid until the next call), or nil after the last file.
    func nextBytes() throws -> UnsafeBufferPointer<UInt8>? {
        while true {
            if let reader, let bytes = try reader.nextLine() {
                bytesRead += bytes.count + 1
                return SentencePerLineDocuments.strip(bytes)
            }
            finish()
            index += 1
            guard index < files.count else { return nil }
            path = files[index]
            reader = try TextLineReader(path: path)
        }
    }

    /// Bytes from `nextBytes` as a String (invalid UTF-8 replaced by U+FFFD and counted).
    func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        invalidLines += 1
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Closes the current file, warning about invalid UTF-8 in it.
    func finish() {
        if invalidLines > 0 {
            logger.warning("\(path): \(invalidLines) line\(invalidLines == 1 ? "" : "s") with invalid UTF-8, replaced by U+FFFD")
            invalidLines = 0
        }
        reader?.close()
        reader = nil
    }

    func error(_ reason: String) -> DocumentError {
        DocumentError(path: path, line: lineNumber, reason: reason)
    }
}

protocol DocumentSource: AnyObject {
    var lines: DecodedLines { get }
    /// The next raw document, or nil at the end. With `wanted` false its end is found without
    /// decoding it and [] is returned; both modes see the same boundaries.
    func next(wanted: Bool) throws -> [String]?
}

// MARK: Formats

/// One sentence per line, blank lines between documents (a run of non-blank lines is a document).
final class GoogleDocuments: DocumentSource {
    let lines: DecodedLines
    init(lines: DecodedLines) { self.lines = lines }

    func next(wanted: Bool) throws -> [String]? {
        var document: [String] = []
        var started = false
        while let bytes = try lines.nextBytes() {
            if bytes.isEmpty {
                if started { return document }
            } else {
                started = true
                if wanted { document.append(lines.decode(bytes)) }
            }
        }
        return started ? document : nil
    }
}

/// Prose: blank lines between paragraphs; the whole file one document unless a separator line
/// starts a new one. A document is the lines between separators (or file ends) with any text.
final class ProseDocuments: DocumentSource {
    let lines: DecodedLines
    private let splitter: SentenceSplitter
    private let separator: Regex<AnyRegexOutput>?

    init(lines: DecodedLines, splitter: SentenceSplitter, separator: Regex<AnyRegexOutput>?) {
        self.lines = lines
        self.splitter = splitter
        self.separator = separator
    }

    func next(wanted: Bool) throws -> [String]? {
        var document: [String] = []
        var paragraph: [String] = []
        var started = false
        func endParagraph() {
            if !paragraph.isEmpty { document += splitter.split(paragraph.joined(separator: " ")) }
            paragraph.removeAll(keepingCapacity: true)
        }
        while let bytes = try lines.nextBytes() {
            if let separator {
                let line = lines.decode(bytes)
                if (try? separator.firstMatch(in: line)) != nil {
                    endParagraph()
                    if started { return document }
                    continue
                }
                if line.isEmpty { endParagraph() } else {
                    started = true
                    if wanted { paragraph.append(line) }
                }
                continue
            }
            if bytes.isEmpty { endParagraph() } else {
                started = true
                if wanted { paragraph.append(lines.decode(bytes)) }
            }
        }
        endParagraph()
        return started ? document : nil
    }
}

/// One JSON object per line; its text field is one document, paragraphs at newlines. Every
/// non-blank line is a document (empty when its text is null or blank).
final class JSONLinesDocuments: DocumentSource {
    let lines: DecodedLines
    private let splitter: SentenceSplitter
    private let field: String

    init(lines: DecodedLines, splitter: SentenceSplitter, field: String) {
        self.lines = lines
        self.splitter = splitter
        self.field = field
    }

    func next(wanted: Bool) throws -> [String]? {
        while let bytes = try lines.nextBytes() {
            guard !bytes.isEmpty else { continue }
            guard wanted else { return [] }
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: Data(buffer: bytes), options: [.fragmentsAllowed])
            } catch {
                throw lines.error("not valid JSON (jsonl format: one JSON object per line)")
            }
            guard let dictionary = object as? [String: Any] else { throw lines.error("a JSON value that is not an object") }
            guard let value = dictionary[field] else {
                let keys = dictionary.keys.sorted().prefix(10).joined(separator: ", ")
                throw lines.error("no field \"\(field)\" (fields: \(keys)); choose the text field with --json-field")
            }
            if value is NSNull { return [] }
            guard let text = value as? String else { throw lines.error("field \"\(field)\" is not a string") }
            var document: [String] = []
            for paragraph in text.split(separator: "\n", omittingEmptySubsequences: true) {
                let stripped = pythonStrip(String(paragraph))
                if !stripped.isEmpty { document += splitter.split(stripped) }
            }
            return document
        }
        return nil
    }
}

/// wikiextractor output: <doc …> title line, paragraphs one per line, </doc>. A document is a
/// <doc> with text after its title (a <doc> with none is skipped in both modes).
final class WikiExtractorDocuments: DocumentSource {
    let lines: DecodedLines
    private let splitter: SentenceSplitter
    private let logger: Logger
    private var pending = false   // a document opened by a <doc> line that ended the previous one

    init(lines: DecodedLines, splitter: SentenceSplitter, logger: Logger) {
        self.lines = lines
        self.splitter = splitter
        self.logger = logger
    }

    private static let open = Array("<doc ".utf8), close = Array("</doc>".utf8), bare = Array("<doc>".utf8)
    private static func hasPrefix(_ bytes: UnsafeBufferPointer<UInt8>, _ prefix: [UInt8]) -> Bool {
        bytes.count >= prefix.count && zip(bytes, prefix).allSatisfy { $0 == $1 }
    }

    func next(wanted: Bool) throws -> [String]? {
        var inDocument = pending, expectTitle = pending, hasText = false
        var document: [String] = []
        pending = false
        while let bytes = try lines.nextBytes() {
            if Self.hasPrefix(bytes, Self.open) || bytes.elementsEqual(Self.bare) {
                if inDocument && hasText {
                    logger.warning("\(lines.path):\(lines.lineNumber): <doc> inside an unclosed <doc>; the previous document ends here")
                    pending = true
                    return document
                }
                inDocument = true
                expectTitle = true
                document = []
                continue
            }
            if Self.hasPrefix(bytes, Self.close) {
                if inDocument && hasText { return document }
                inDocument = false
                continue
            }
            guard inDocument, !bytes.isEmpty else { continue }   // text outside <doc> is ignored
            if expectTitle {
                expectTitle = false   // wikiextractor repeats the title as the first line
                continue
            }
            hasText = true
            if wanted { document += splitter.split(lines.decode(bytes)) }
        }
        if inDocument && hasText {
            logger.warning("\(lines.path): the last <doc> is not closed by </doc>; kept")
            return document
        }
        return nil
    }
}
