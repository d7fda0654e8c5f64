// Google's input format as a `DocumentStream`: one sentence per line, a blank (or all-whitespace)
// line between documents, read exactly as create_pretraining_data.py reads it (each line stripped;
// a document continues across a file boundary unless `fileEndsDocument`). Gzip is read transparently.

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

    /// The next non-empty line, stripped; "" for a document break; nil at the end of all input.
    private mutating func nextLine() throws -> String? {
        while fileIndex < files.count {
            if reader == nil { reader = try TextLineReader(path: files[fileIndex]) }
            if let raw = try reader!.nextLine() {
                bytesRead += raw.count + 1
                let text: String
                if let valid = String(validating: raw, as: UTF8.self) {
                    text = valid
                } else {
                    // Invalid bytes become U+FFFD (which the tokenizer deletes), as Python's errors="ignore" would drop them.
                    text = String(decoding: raw, as: UTF8.self)
                    if !warnedFiles.contains(fileIndex) {
                        warnedFiles.insert(fileIndex)
                        logger?.warning("\(files[fileIndex]):\(reader!.lineNumber): invalid UTF-8 replaced by U+FFFD (further lines of this file not reported)")
                    }
                }
                return text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            reader?.close()
            reader = nil
            fileIndex += 1
            if fileEndsDocument { return "" }
        }
        return nil
    }

    public mutating func nextDocument() throws -> [String]? {
        if atEnd { return nil }
        var sentences: [String] = []
        while let line = try nextLine() {
            if line.isEmpty { return sentences }   // possibly empty: the caller skips empty documents
            sentences.append(line)
        }
        atEnd = true
        return sentences.isEmpty ? nil : sentences
    }
}
