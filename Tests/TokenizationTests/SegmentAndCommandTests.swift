// Long lines in pieces (TextSegmentReader) give the same tokens as whole lines; the bert-corpus tokenize and
// vocab commands end to end (spawned as processes), including bad input.

import Foundation
import XCTest
@testable import Tokenization

final class SegmentTests: XCTestCase {
    func testSegmentsTokenizeLikeWholeLines() throws {
        let vocabulary = try Vocabulary(path: GoldenTests.fixture("golden-vocab.txt"))
        var segmentedLines = 0
        for lowerCase in [true, false] {
            let whole = BertTokenizer(vocabulary: vocabulary, lowerCase: lowerCase)
            let pieces = BertTokenizer(vocabulary: vocabulary, lowerCase: lowerCase)
            for c in try GoldenTests.cases() where !c.text.contains("\n") {
                var text = c.text
                let expected = whole.encode(text)
                var found: [Int32] = []
                var segments = 0
                let forced: Int = try text.withUTF8 { bytes in
                    let reader = TextSegmentReader(bytes: bytes, bufferSize: 16)
                    while let segment = try reader.next() {
                        pieces.encode(utf8: segment.bytes, appendingTo: &found)
                        segments += 1
                    }
                    return reader.forcedCuts
                }
                guard forced == 0 else { continue }
                if segments > 1 { segmentedLines += 1 }
                XCTAssertEqual(found, expected, "\(c.text.debugDescription) in \(segments) segments")
            }
        }
        XCTAssertGreaterThan(segmentedLines, 300)
    }

    func segments(_ text: String, bufferSize: Int) throws -> (pieces: [String], forced: Int) {
        var text = text
        return try text.withUTF8 { bytes in
            let reader = TextSegmentReader(bytes: bytes, bufferSize: bufferSize)
            var pieces: [String] = []
            while let segment = try reader.next() { pieces.append(String(decoding: segment.bytes, as: UTF8.self)) }
            return (pieces, reader.forcedCuts)
        }
    }

    func testCutsLoseNothingAndPreferSafeBoundaries() throws {
        // ASCII spaces first; then next to CJK ideographs or Zs; U+0085 (deleted by cleaning) is not a boundary.
        XCTAssertEqual(try segments("aaaa bbbb cccc dddd eeee\nx", bufferSize: 16).pieces, ["aaaa bbbb cccc ", "dddd eeee", "x"])
        let cjk = try segments("aaaaaaa中bbbbbbbbbbbb", bufferSize: 16)
        XCTAssertEqual(cjk.pieces, ["aaaaaaa中", "bbbbbbbbbbbb"])
        XCTAssertEqual(cjk.forced, 0)
        XCTAssertEqual(try segments("aaaaaaaaaa,bbbbbbbbbb", bufferSize: 16).pieces, ["aaaaaaaaaa,", "bbbbbbbbbb"])
        // Not beside "[" or "]" (a special token could straddle) nor beside a case-ignorable "." (Final_Sigma).
        XCTAssertEqual(try segments("aaaa-bbbbbbb[MASK]cc", bufferSize: 16).pieces, ["aaaa-", "bbbbbbb[MASK]cc"])
        XCTAssertEqual(try segments("aaaa-bbbbbbbbbbb.cc", bufferSize: 16).pieces, ["aaaa-", "bbbbbbbbbbb.cc"])
        let nel = try segments("aaaaaaa\u{85}bbbbbbbbbbbbb", bufferSize: 16)
        XCTAssertEqual(nel.forced, 1)
        XCTAssertEqual(nel.pieces.joined(), "aaaaaaa\u{85}bbbbbbbbbbbbb")
        // No boundary at all: forced cuts at character boundaries, counted, nothing lost or split mid-character.
        let long = String(repeating: "é", count: 50)
        let forced = try segments(long, bufferSize: 16)
        XCTAssertGreaterThan(forced.forced, 0)
        XCTAssertEqual(forced.pieces.joined(), long)
        XCTAssertTrue(forced.pieces.allSatisfy { $0.allSatisfy { $0 == "é" } })
    }
}

final class CommandTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// The bert-corpus executable built beside the test bundle (`swift build --build-tests` builds it).
    static var executable: String {
        let bundleDir = Bundle.module.bundleURL.deletingLastPathComponent()
        var url = bundleDir.appendingPathComponent("bert-corpus")
        if !FileManager.default.fileExists(atPath: url.path) {
            url = bundleDir.deletingLastPathComponent().appendingPathComponent("bert-corpus")
        }
        return url.path
    }

    struct Result { let status: Int32; let stdout: Data; let stderr: String; let maxRSSKB: Int }

    /// Runs bert-corpus with posix_spawn and reaps it with wait4, so `maxRSSKB` is this child's own peak
    /// (getrusage(RUSAGE_CHILDREN) would report the largest child the test process ever had).
    func run(_ arguments: [String], stdin: Data? = nil) throws -> Result {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.executable),
                      "build bert-corpus first (swift build --build-tests): \(Self.executable)")
        let id = UUID().uuidString
        let out = dir + "/stdout-\(id)", err = dir + "/stderr-\(id)"
        let input = stdin == nil ? "/dev/null" : try write("stdin-\(id)", stdin!)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, input, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv = ([Self.executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, Self.executable, &actions, nil, argv, environ)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        }
        // The exit code, or 128 + the signal as a shell reports it.
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: code, stdout: try Data(contentsOf: URL(fileURLWithPath: out)),
                      stderr: String(decoding: try Data(contentsOf: URL(fileURLWithPath: err)), as: UTF8.self),
                      maxRSSKB: usage.ru_maxrss)
    }

    func write(_ name: String, _ data: Data) throws -> String {
        let path = dir + "/" + name
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    var tinyVocab: String {
        get throws {
            try write("vocab.txt", Data((Vocabulary.specialTokens + ["a", "b", "##b", "x", ",", "é", "中"]).map { $0 + "\n" }.joined().utf8))
        }
    }

    func testTokenizeOneLinePerLine() throws {
        let vocab = try tinyVocab
        // Lines end at \n only: the \r and U+0085 stay inside their line; an empty line gives an empty line.
        let text = "ab a\n\nA,b\r x\u{85}x\n中文\n[MASK]x"
        let ids = try run(["tokenize", "--vocab", vocab], stdin: Data(text.utf8))
        XCTAssertEqual(ids.status, 0, ids.stderr)
        XCTAssertEqual(String(decoding: ids.stdout, as: UTF8.self), "5 7 5\n\n5 9 6 1\n11 1\n4 8\n")
        let tokens = try run(["tokenize", "--vocab", vocab, "--tokens", "--input", try write("in.txt", Data(text.utf8))])
        XCTAssertEqual(String(decoding: tokens.stdout, as: UTF8.self), "a ##b a\n\na , b [UNK]\n中 [UNK]\n[MASK] x\n")
        let cased = try run(["tokenize", "--vocab", vocab, "--tokens", "--no-lower-case"], stdin: Data("A é\n".utf8))
        XCTAssertEqual(String(decoding: cased.stdout, as: UTF8.self), "[UNK] é\n")
        let empty = try run(["tokenize", "--vocab", vocab], stdin: Data())
        XCTAssertEqual(empty.status, 0)
        XCTAssertEqual(empty.stdout, Data())
    }

    func testBadInputs() throws {
        let vocab = try tinyVocab
        // Invalid UTF-8: replaced as Python would (then deleted by cleaning), counted on stderr.
        let invalid = try run(["tokenize", "--vocab", vocab], stdin: Data([0x61, 0xFF, 0x62, 0x0A, 0xE2, 0x82, 0x0A]))
        XCTAssertEqual(invalid.status, 0, invalid.stderr)
        XCTAssertEqual(String(decoding: invalid.stdout, as: UTF8.self), "5 7\n\n")
        XCTAssertTrue(invalid.stderr.contains("2 invalid UTF-8 sequence(s)"), invalid.stderr)
        // A binary file: no crash, one output line per "\n" (plus a last unterminated line).
        var rng = SystemRandomNumberGenerator()
        let binary = Data((0..<200_000).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let newlines = binary.filter { $0 == 0x0A }.count + (binary.last == 0x0A ? 0 : 1)
        let bin = try run(["tokenize", "--vocab", vocab, "--input", try write("binary.bin", binary)])
        XCTAssertEqual(bin.status, 0, bin.stderr)
        XCTAssertEqual(bin.stdout.filter { $0 == 0x0A }.count, newlines)
        // A vocabulary without [UNK]: a clear error.
        let noUnk = try write("no-unk.txt", Data("[PAD]\n[CLS]\n[SEP]\n[MASK]\na\n".utf8))
        let bad = try run(["tokenize", "--vocab", noUnk], stdin: Data("a\n".utf8))
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("no-unk.txt: special token [UNK] is missing"), bad.stderr)
        let missing = try run(["tokenize", "--vocab", vocab, "--input", dir + "/nope.txt"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("nope.txt: no such file"), missing.stderr)
    }

    func testHundredMegabyteLineInFlatMemory() throws {
        // One 100 MB line: "x" then 4095 spaces, repeated; streamed in 1 MiB segments.
        let block = Data("x".utf8) + Data(repeating: 0x20, count: 4095)
        let path = dir + "/long.txt"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let chunk = Data(Array(repeating: block, count: 256).joined())   // 1 MiB
        for _ in 0..<100 { handle.write(chunk) }
        handle.write(Data("\nb\n".utf8))
        try handle.close()
        // The same command on a one-line file: the process's own footprint (runtime, vocabulary, buffers).
        let small = try run(["tokenize", "--vocab", try tinyVocab, "--input", try write("short.txt", Data("x b\n".utf8))])
        XCTAssertEqual(small.status, 0, small.stderr)
        let result = try run(["tokenize", "--vocab", try tinyVocab, "--input", path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: 0x0A, omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 3)   // two lines and the empty piece after the last "\n"
        XCTAssertEqual(lines[0].count, 2 * 100 * 256 - 1)   // "8 8 … 8": 25600 ids
        XCTAssertTrue(lines[0].allSatisfy { $0 == 0x38 || $0 == 0x20 })
        XCTAssertEqual(String(decoding: lines[1], as: UTF8.self), "6")
        // Holding the line (100 MB) or its tokens as Strings would add far more than 16 MB.
        XCTAssertLessThan(result.maxRSSKB, small.maxRSSKB + 16_384,
                          "peak RSS \(result.maxRSSKB) kB for a 100 MB line, \(small.maxRSSKB) kB for a short one")
    }

    func testVocabCommandEndToEnd() throws {
        let corpus = dir + "/corpus"
        try FileManager.default.createDirectory(atPath: corpus + "/sub", withIntermediateDirectories: true)
        let text = (0..<50).map { "Line \($0): the quick brown fox, naïve café, Ἐν ἀρχῇ, 北京 \($0 * 7)." }.joined(separator: "\n")
        try Data(text.utf8).write(to: URL(fileURLWithPath: corpus + "/a.txt"))
        try Data("more text in a subfolder, gzip-compressed\n".utf8).write(to: URL(fileURLWithPath: corpus + "/sub/b.txt"))
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = [corpus + "/sub/b.txt"]
        try gzip.run(); gzip.waitUntilExit()
        XCTAssertTrue(FileManager.default.fileExists(atPath: corpus + "/sub/b.txt.gz"))
        let out1 = dir + "/v1.txt", out2 = dir + "/v2.txt"
        for out in [out1, out2] {
            let r = try run(["vocab", "--input", corpus, "--vocab-size", "200", "--output", out])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let v = try Vocabulary(path: out1)
        XCTAssertEqual(v.count, 200)
        XCTAssertEqual([v.padId, v.unkId, v.clsId, v.sepId, v.maskId], [0, 1, 2, 3, 4])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out1)), try Data(contentsOf: URL(fileURLWithPath: out2)))
        XCTAssertNotNil(v.id(of: "##z"), "the gzip file was read (z only occurs there)")
        let tokens = BertTokenizer(vocabulary: v).tokenize(text)
        XCTAssertFalse(tokens.contains("[UNK]"), "\(tokens)")
        let small = try run(["vocab", "--input", corpus, "--vocab-size", "20", "--output", dir + "/v3.txt"])
        XCTAssertNotEqual(small.status, 0)
        XCTAssertTrue(small.stderr.contains("--vocab-size 20 is too small"), small.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/v3.txt"))
    }
}
