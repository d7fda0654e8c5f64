@testable import CorpusBuild
import Foundation
import Logging
import XCTest

/// Collects log messages so tests can check warnings.
final class LogCollector: @unchecked Sendable {
    var messages: [(Logger.Level, String)] = []
    var logger: Logger {
        Logger(label: "test") { _ in Handler(collector: self) }
    }
    struct Handler: LogHandler {
        let collector: LogCollector
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { collector.messages.append((event.level, "\(event.message)")) }
    }
}

final class DocumentsTests: XCTestCase {
    func documents(_ paths: [String], _ options: DocumentReaderOptions = DocumentReaderOptions(),
                   logger: Logger = Logger(label: "test")) throws -> [[String]] {
        let reader = try DocumentReader(paths: paths, options: options, logger: logger)
        var result: [[String]] = []
        try reader.forEachDocument { result.append($0) }
        XCTAssertEqual(reader.documentCount, result.count)
        return result
    }

    func text(_ dir: String, _ name: String, _ content: String, gzip: Bool = false) throws -> String {
        let path = dir + "/" + name
        try writeFile(path, gzip ? gzipCompress(Array(content.utf8)) : Array(content.utf8))
        return path
    }

    func testGoogleFormat() throws {
        let dir = try makeTemporaryFolder(self)
        let content = "First sentence.\r\n  Second sentence.  \n\n\n\nThird, of doc two.\n \t\nFourth.\n"
        let plain = try text(dir, "a.txt", content)
        let expected = [["First sentence.", "Second sentence."], ["Third, of doc two."], ["Fourth."]]
        XCTAssertEqual(try documents([plain], DocumentReaderOptions(format: .google)), expected)
        let gz = try text(dir, "b.txt.gz", content, gzip: true)
        XCTAssertEqual(try documents([gz], DocumentReaderOptions(format: .google)), expected)
        // Detected as google: every line is one sentence.
        let reader = try DocumentReader(paths: [plain])
        _ = try reader.next()
        XCTAssertEqual(reader.formats[plain]?.format, .google)
    }

    func testGoogleDocumentsAcrossFiles() throws {
        let dir = try makeTemporaryFolder(self)
        _ = try text(dir, "1.txt", "A one.\nA two.")
        _ = try text(dir, "2.txt", "B one.\n\nC one.\n")
        // Default: a file's end ends its document.
        XCTAssertEqual(try documents([dir], DocumentReaderOptions(format: .google)), [["A one.", "A two."], ["B one."], ["C one."]])
        // Google's script: one stream, the document continues into the next file.
        XCTAssertEqual(try documents([dir], DocumentReaderOptions(format: .google, googleDocumentsSpanFiles: true)),
                       [["A one.", "A two.", "B one."], ["C one."]])
        XCTAssertThrowsError(try DocumentReader(paths: [dir], options: DocumentReaderOptions(googleDocumentsSpanFiles: true)))
    }

    func testProseFilesAndFolders() throws {
        let dir = try makeTemporaryFolder(self)
        let prose = """
            It was a bright cold day in April, and the clocks were striking thirteen. Winston Smith, his chin
            nuzzled into his breast, slipped quickly through the glass doors of Victory Mansions.

            Mr. Charrington
            came later.   He smiled.
            """
        let a = try text(dir, "a.txt", prose)
        _ = try text(dir, "b.txt.gz", "Second file. Its own document.\n", gzip: true)
        let expectedA = ["It was a bright cold day in April, and the clocks were striking thirteen.",
                         "Winston Smith, his chin nuzzled into his breast, slipped quickly through the glass doors of Victory Mansions.",
                         "Mr. Charrington came later.", "He smiled."]
        XCTAssertEqual(try documents([a], DocumentReaderOptions(format: .text)), [expectedA])
        // Folder: one document per file, in sorted order; formats detected (prose: wrapped lines are not sentences).
        let reader = try DocumentReader(paths: [dir])
        var all: [[String]] = []
        try reader.forEachDocument { all.append($0) }
        XCTAssertEqual(reader.bytesRead, prose.utf8.count + 1 + "Second file. Its own document.\n".utf8.count,
                       "decompressed bytes, a missing final newline counted as if present")
        XCTAssertEqual(all, [expectedA, ["Second file.", "Its own document."]])
        XCTAssertEqual(reader.formats[a]?.format, .text)
    }

    func testProseDocumentSeparator() throws {
        let dir = try makeTemporaryFolder(self)
        let path = try text(dir, "book.txt", "=== One ===\nAlpha text. More.\n\nBeta.\n=== Two ===\n=== Three ===\nGamma.\n")
        XCTAssertEqual(try documents([path], DocumentReaderOptions(format: .text, documentSeparator: "^=== .* ===$")),
                       [["Alpha text.", "More.", "Beta."], ["Gamma."]])
        XCTAssertThrowsError(try DocumentReader(paths: [path], options: DocumentReaderOptions(documentSeparator: "(")))
    }

    func testJSONLines() throws {
        let dir = try makeTemporaryFolder(self)
        let lines = [
            #"{"id": 1, "text": "First doc. Two sentences.\nSecond paragraph."}"#,
            "",
            #"{"id": 2, "text": ""}"#,
            #"{"id": 3, "text": null}"#,
            #"{"id": 4, "text": "Caf\u00e9 \"quoted.\" Next."}"#,
        ]
        let path = try text(dir, "data.jsonl.gz", lines.joined(separator: "\n") + "\n", gzip: true)
        XCTAssertEqual(try documents([path]), [["First doc.", "Two sentences.", "Second paragraph."], ["Café \"quoted.\"", "Next."]])
        let custom = try text(dir, "other", #"{"body": "Custom field."}"# + "\n")
        XCTAssertEqual(try documents([custom], DocumentReaderOptions(jsonField: "body")), [["Custom field."]], "detected by the leading {")
        XCTAssertThrowsError(try documents([custom])) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(custom + ":1:") && message.contains("no field \"text\"") && message.contains("body"), message)
        }
        let broken = try text(dir, "broken.jsonl", #"{"text": "ok."}"# + "\n{not json\n")
        XCTAssertThrowsError(try documents([broken])) { error in
            XCTAssertTrue("\(error)".contains(broken + ":2:") && "\(error)".contains("not valid JSON"), "\(error)")
        }
    }

    /// The build's pass 1 reads with `nextRaw(wanted:)`: a rank skips the documents it does not
    /// tokenize without decoding them. Whatever is skipped, every wanted document must come out at
    /// the same raw index with the same sentences as when all are read, in every format (empty raw
    /// documents included: null and blank JSON texts, title-only <doc>s, separators in a row).
    func testSkippingDocumentsKeepsTheirBoundaries() throws {
        let dir = try makeTemporaryFolder(self)
        let inputs: [(String, DocumentReaderOptions)] = [
            (try text(dir, "g.txt", "One.\nTwo.\n\n\n \nThree.\n\nFour.\nFive.\n"), DocumentReaderOptions(format: .google)),
            (try text(dir, "p.txt", "=== A ===\nAlpha. More.\n\nBeta.\n=== B ===\n\n=== C ===\nGamma. Delta.\n\n\nEps.\n=== D ===\nZeta.\n"),
             DocumentReaderOptions(format: .text, documentSeparator: "^=== .* ===$")),
            (try text(dir, "q.txt", "Whole file. One document.\n\nStill it.\n"), DocumentReaderOptions(format: .text)),
            (try text(dir, "j.jsonl", [#"{"text": "A. B."}"#, "", #"{"text": ""}"#, #"{"text": null}"#, #"{"text": "C.\nD."}"#,
                                       #"{"text": "  "}"#, #"{"text": "E."}"#].joined(separator: "\n") + "\n"), DocumentReaderOptions(format: .jsonl)),
            (try text(dir, "w", "<doc id=\"1\">\nT1\nOne. Two.\n</doc>\n<doc id=\"2\">\nT2\n</doc>\n<doc id=\"3\">\nT3\nThree.\n<doc id=\"4\">\nT4\nFour.\n</doc>\n<doc id=\"5\">\nT5\nFive.\n"),
             DocumentReaderOptions(format: .wikiextractor)),
        ]
        for (path, options) in inputs {
            let all = try DocumentReader(paths: [path], options: options)
            var reference: [[String]] = []
            while let document = try all.nextRaw(wanted: true) { reference.append(document) }
            XCTAssertGreaterThan(reference.count, 0, path)
            for ranks in 2...3 {
                for rank in 0..<ranks {
                    let reader = try DocumentReader(paths: [path], options: options)
                    var index = 0
                    while let document = try reader.nextRaw(wanted: index % ranks == rank) {
                        XCTAssertLessThan(index, reference.count, path)
                        if index % ranks == rank, index < reference.count {
                            XCTAssertEqual(document, reference[index], "\(path): document \(index), rank \(rank) of \(ranks)")
                        } else {
                            XCTAssertEqual(document, [], "skipped documents are not decoded")
                        }
                        index += 1
                    }
                    XCTAssertEqual(index, reference.count, "\(path): rank \(rank) of \(ranks) counts the same documents")
                }
            }
            // next() is nextRaw without the empty documents.
            XCTAssertEqual(try documents([path], options), reference.filter { !$0.isEmpty }, path)
        }
    }

    func testWikiExtractor() throws {
        let dir = try makeTemporaryFolder(self)
        let content = """
            stray text before any doc
            <doc id="12" url="https://en.wikipedia.org/wiki?curid=12" title="Anarchism">
            Anarchism

            Anarchism is a political philosophy. It is sceptical of authority.
            It calls for the abolition of the state.
            </doc>
            <doc id="25" url="https://en.wikipedia.org/wiki?curid=25" title="Autism">
            Autism
            Autism is a condition. Signs appear early.
            </doc>
            <doc id="39" url="u" title="Empty">
            Empty
            </doc>
            """
        let path = try text(dir, "wiki_00", content)
        XCTAssertEqual(try documents([path]), [
            ["Anarchism is a political philosophy.", "It is sceptical of authority.", "It calls for the abolition of the state."],
            ["Autism is a condition.", "Signs appear early."],
        ])
    }

    func testFormatDetection() throws {
        let dir = try makeTemporaryFolder(self)
        func detect(_ name: String, _ content: String) throws -> InputFormat {
            try InputFormatDetector.detect(path: text(dir, name, content)).format
        }
        XCTAssertEqual(try detect("x.jsonl", "anything"), .jsonl)
        XCTAssertEqual(try detect("x.json.gz", "anything"), .jsonl)
        XCTAssertEqual(try detect("wiki_01", "\n\n<doc id=\"1\" url=\"u\" title=\"t\">\nT\n</doc>\n"), .wikiextractor)
        XCTAssertEqual(try detect("rows", "{\"text\": \"a\"}\n"), .jsonl)
        XCTAssertEqual(try detect("google.txt", "One sentence here.\nAnother one!\n\nA third?\n\"Quoted.\"\n"), .google)
        XCTAssertEqual(try detect("para.txt", "One sentence. And another on the same line.\nMore text. Even more.\n"), .text)
        XCTAssertEqual(try detect("wrapped.txt", "This line is wrapped in the middle of\na sentence and goes on to the\nnext line.\n"), .text)
        XCTAssertEqual(try detect("empty.txt", ""), .google)
        // Google's format with two sentences on most lines: its blank-line-separated blocks decide.
        let verses = (0..<6).map { c in (0..<8).map { v in v % 4 == 0 ? "Verse \(c) \(v)." : "Verse \(c) \(v) begins. It ends here!" }.joined(separator: "\n") }
        XCTAssertEqual(try detect("bible.txt", verses.joined(separator: "\n\n") + "\n"), .google)
        // A paragraph per line, blank lines between: blocks of one line are prose paragraphs.
        let paragraphs = (0..<6).map { "Paragraph \($0) starts. It goes on. And it ends." }
        XCTAssertEqual(try detect("essay.txt", paragraphs.joined(separator: "\n\n") + "\n"), .text)
        // Hard-wrapped prose in blocks: its lines end mid-sentence.
        let wrapped = (0..<6).map { _ in "This paragraph is wrapped in the\nmiddle of a sentence. It goes on to\nthe next line and ends here." }
        XCTAssertEqual(try detect("wrapped-blocks.txt", wrapped.joined(separator: "\n\n") + "\n"), .text)
    }

    func testEmptyAndBlankFilesYieldNothing() throws {
        let dir = try makeTemporaryFolder(self)
        let empty = try text(dir, "empty.txt", "")
        let blank = try text(dir, "blank.txt", "\n  \n\t\n\r\n")
        let blankGz = try text(dir, "blank.txt.gz", "\n\n", gzip: true)
        for format in InputFormat.allCases {
            XCTAssertEqual(try documents([empty, blank, blankGz], DocumentReaderOptions(format: format)), [], "\(format)")
        }
        XCTAssertEqual(try documents([empty, blank, blankGz]), [])
    }

    func testInvalidUTF8IsReplacedWithAWarning() throws {
        let dir = try makeTemporaryFolder(self)
        let path = dir + "/bad.txt"
        try writeFile(path, Array("Good line.\n".utf8) + [0x42, 0xFF, 0x43, 0x2E, 0x0A] + Array("Fine.\n".utf8) + [0xC3, 0x0A])
        let log = LogCollector()
        XCTAssertEqual(try documents([path], DocumentReaderOptions(format: .google), logger: log.logger),
                       [["Good line.", "B\u{FFFD}C.", "Fine.", "\u{FFFD}"]])
        let warnings = log.messages.filter { $0.0 == .warning }.map(\.1)
        XCTAssertEqual(warnings, ["\(path): 2 lines with invalid UTF-8, replaced by U+FFFD"])
    }

    func testTruncatedGzipInputIsAnErrorNamingTheFile() throws {
        let dir = try makeTemporaryFolder(self)
        let full = gzipCompress(Array((0..<3000).map { "Sentence \($0).\n" }.joined().utf8))
        let path = dir + "/cut.txt.gz"
        try writeFile(path, Array(full[..<(full.count - 100)]))
        XCTAssertThrowsError(try documents([path], DocumentReaderOptions(format: .google))) { error in
            XCTAssertTrue("\(error)".contains(path) && "\(error)".contains("truncated"), "\(error)")
        }
    }
}
