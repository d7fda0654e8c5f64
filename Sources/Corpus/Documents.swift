// Input documents for `bert-corpus`: a document is an array of sentences (Strings), in file order,
// one at a time (never the whole corpus in memory). Formats and their detection: InputFormat.swift.
//
//     let reader = try DocumentReader(paths: ["corpus/"], options: DocumentReaderOptions(), logger: logger)
//     while let document = try reader.next() { ... reader.currentFile ... }
//
// Lines are read through Storage.TextLineReader (gzip looked through, split at "\n") and stripped
// as Python's str.strip() does (so "\r\n" endings and stray spaces vanish). Invalid UTF-8 is replaced
// by U+FFFD, with one warning per file giving the number of affected lines.
// Empty documents are never yielded.

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
        while true {
            if let source, let document = try source.next() {
                documentCount += 1
                return document
            }
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
        while true {
            if let reader, let bytes = try reader.nextLine() {
                bytesRead += bytes.count + 1
                if let text = String(validating: bytes, as: UTF8.self) { return pythonStrip(text) }
                invalidLines += 1
                return pythonStrip(String(decoding: bytes, as: UTF8.self))
            }
            finish()
            index += 1
            guard index < files.count else { return nil }
            path = files[index]
            reader = try TextLineReader(path: path)
        }
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
    func next() throws -> [String]?
}

// MARK: Formats

/// One sentence per line, blank lines between documents.
final class GoogleDocuments: DocumentSource {
    let lines: DecodedLines
    init(lines: DecodedLines) { self.lines = lines }

    func next() throws -> [String]? {
        var document: [String] = []
        while let line = try lines.next() {
            if line.isEmpty {
                if !document.isEmpty { return document }
            } else {
                document.append(line)
            }
        }
        return document.isEmpty ? nil : document
    }
}

/// Prose: blank lines between paragraphs; the whole file one document unless a separator line starts a new one.
final class ProseDocuments: DocumentSource {
    let lines: DecodedLines
    private let splitter: SentenceSplitter
    private let separator: Regex<AnyRegexOutput>?

    init(lines: DecodedLines, splitter: SentenceSplitter, separator: Regex<AnyRegexOutput>?) {
        self.lines = lines
        self.splitter = splitter
        self.separator = separator
    }

    func next() throws -> [String]? {
        var document: [String] = []
        var paragraph: [String] = []
        func endParagraph() {
            if !paragraph.isEmpty { document += splitter.split(paragraph.joined(separator: " ")) }
            paragraph.removeAll(keepingCapacity: true)
        }
        while let line = try lines.next() {
            if let separator, (try? separator.firstMatch(in: line)) != nil {
                endParagraph()
                if !document.isEmpty { return document }
                continue
            }
            if line.isEmpty { endParagraph() } else { paragraph.append(line) }
        }
        endParagraph()
        return document.isEmpty ? nil : document
    }
}

/// One JSON object per line; its text field is one document, paragraphs at newlines.
final class JSONLinesDocuments: DocumentSource {
    let lines: DecodedLines
    private let splitter: SentenceSplitter
    private let field: String

    init(lines: DecodedLines, splitter: SentenceSplitter, field: String) {
        self.lines = lines
        self.splitter = splitter
        self.field = field
    }

    func next() throws -> [String]? {
        while let line = try lines.next() {
            guard !line.isEmpty else { continue }
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
            } catch {
                throw lines.error("not valid JSON (jsonl format: one JSON object per line)")
            }
            guard let dictionary = object as? [String: Any] else { throw lines.error("a JSON value that is not an object") }
            guard let value = dictionary[field] else {
                let keys = dictionary.keys.sorted().prefix(10).joined(separator: ", ")
                throw lines.error("no field \"\(field)\" (fields: \(keys)); choose the text field with --json-field")
            }
            if value is NSNull { continue }
            guard let text = value as? String else { throw lines.error("field \"\(field)\" is not a string") }
            var document: [String] = []
            for paragraph in text.split(separator: "\n", omittingEmptySubsequences: true) {
                let stripped = pythonStrip(String(paragraph))
                if !stripped.isEmpty { document += splitter.split(stripped) }
            }
            if !document.isEmpty { return document }
        }
        return nil
    }
}

/// wikiextractor output: <doc …> title line, paragraphs one per line, </doc>.
final class WikiExtractorDocuments: DocumentSource {
    let lines: DecodedLines
    private let splitter: SentenceSplitter
    private let logger: Logger
    private var pending: [String]?   // a document opened by a <doc> line that ended the previous one

    init(lines: DecodedLines, splitter: SentenceSplitter, logger: Logger) {
        self.lines = lines
        self.splitter = splitter
        self.logger = logger
    }

    func next() throws -> [String]? {
        var document: [String]? = pending
        var expectTitle = pending != nil
        pending = nil
        while let line = try lines.next() {
            if line.hasPrefix("<doc ") || line == "<doc>" {
                if let open = document, !open.isEmpty {
                    logger.warning("\(lines.path):\(lines.lineNumber): <doc> inside an unclosed <doc>; the previous document ends here")
                    pending = []
                    return open
                }
                document = []
                expectTitle = true
                continue
            }
            if line.hasPrefix("</doc>") {
                if let closed = document, !closed.isEmpty { return closed }
                document = nil
                continue
            }
            guard document != nil, !line.isEmpty else { continue }   // text outside <doc> is ignored
            if expectTitle {
                expectTitle = false   // wikiextractor repeats the title as the first line
                continue
            }
            document! += splitter.split(line)
        }
        if let open = document, !open.isEmpty {
            logger.warning("\(lines.path): the last <doc> is not closed by </doc>; kept")
            return open
        }
        return nil
    }
}
