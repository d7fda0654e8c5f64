// Google's format read by byte ranges (SentencePerLineRangeDocuments): whatever the cut points, the
// ranks' documents in rank order are exactly the documents SentencePerLineDocuments reads.

@testable import CorpusBuild
import Foundation
@testable import PretrainingData
import XCTest

final class RangeDocumentsTests: XCTestCase {
    /// The non-empty documents of a stream, as arrays of sentence strings.
    func read<S: DocumentStream>(_ stream: inout S) throws -> [[String]] {
        var documents: [[String]] = []
        while true {
            var document: [String] = []
            guard try stream.nextDocument(wanted: true, { document.append(String(decoding: $0, as: UTF8.self)) }) else { break }
            if !document.isEmpty { documents.append(document) }
        }
        return documents
    }

    func check(_ files: [String], _ label: String) throws {
        var whole = SentencePerLineDocuments(files: files, fileEndsDocument: true)
        let expected = try read(&whole)
        XCTAssertFalse(expected.isEmpty, label)
        for ranks in 1...9 {
            var got: [[String]] = []
            var bytes = 0
            for rank in 0..<ranks {
                var stream = try SentencePerLineRangeDocuments(files: files, rank: rank, ranks: ranks)
                bytes += stream.ownBytes ?? 0
                got += try read(&stream)
            }
            XCTAssertEqual(got, expected, "\(label), \(ranks) ranks")
            XCTAssertEqual(bytes, files.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) })
        }
    }

    func testEveryDocumentOnceInOrderForAnyCut() throws {
        let dir = try makeTemporaryFolder(self)
        func file(_ name: String, _ text: String) throws -> String {
            let path = dir + "/" + name
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
        let long = String(repeating: "word ", count: 2000)   // a 10 kB line: the boundary search reads in pieces
        let files = [
            try file("a.txt", "One.\nTwo.\n\n\n\nThree.\r\n  \t\nFour, after a blank line of spaces.\n"),
            try file("b.txt", ""),                                           // empty
            try file("c.txt", "\n\n \n"),                                     // blank lines only
            try file("d.txt", "No newline at the end.\nStill d."),            // a file's end ends a document
            try file("e.txt", "\u{3000}\n" + long + "\nAfter the long line.\n\n" + long + "\n\u{3000}\u{2003}\nLast.\n"),
            try file("f.txt", String(repeating: "x.\n\n", count: 40)),       // many one-line documents
            try file("g.txt", "Ünïcödé sentence.\nÉtoile.\n\n日本語の文。\n"),
        ]
        try check(files, "mixed files")
        for (k, path) in files.enumerated() where !(try String(contentsOfFile: path, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            try check([path], "file \(k)")
        }
    }

    func testRandomCorpora() throws {
        let dir = try makeTemporaryFolder(self)
        var g = SeededRandom(seed: 99)
        let pieces = ["Alpha.", "Beta gamma.", "  padded  ", "\u{3000}", " ", "\t", "ünï.", String(repeating: "z", count: 5000)]
        for corpus in 0..<25 {
            var files: [String] = []
            for f in 0..<(1 + g.randbelow(4)) {
                var text = ""
                for _ in 0..<g.randbelow(60) {
                    text += g.randbelow(4) == 0 ? "" : pieces[g.randbelow(pieces.count)]
                    text += g.randbelow(9) == 0 ? "\r\n" : "\n"
                }
                if g.randbelow(3) == 0 { text += "tail without newline" }
                let path = dir + "/c\(corpus)-\(f).txt"
                try Data(text.utf8).write(to: URL(fileURLWithPath: path))
                files.append(path)
            }
            var whole = SentencePerLineDocuments(files: files, fileEndsDocument: true)
            guard !(try read(&whole)).isEmpty else { continue }
            try check(files, "random corpus \(corpus)")
        }
    }

    func testTheBuildFixtureCorpus() throws {
        let corpus = Bundle.module.url(forResource: "Fixtures/reference", withExtension: nil)!.path + "/corpus.txt"
        try check([corpus], "fixture corpus")
    }

    func testGzipInputIsNotReadByRanges() throws {
        let dir = try makeTemporaryFolder(self)
        let gz = dir + "/a.txt.gz"
        try writeFile(gz, gzipCompress(Array("One.\n\nTwo.\n".utf8)))
        XCTAssertFalse(SentencePerLineRangeDocuments.applies(to: [gz]))
        try Data("One.\n".utf8).write(to: URL(fileURLWithPath: dir + "/b.txt"))
        XCTAssertTrue(SentencePerLineRangeDocuments.applies(to: [dir + "/b.txt"]))
    }
}
