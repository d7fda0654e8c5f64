// Absurd sizes through the command line end with exit code 1 and a message, never a signal (issue 11, item 5).

import Foundation
import XCTest

final class SizeLimitTests: XCTestCase {
    /// Runs an executable built beside bert-pretrain (no mpirun: a singleton MPI rank), with a time limit.
    func run(_ name: String, _ args: [String], timeout: TimeInterval = 120) throws -> (reason: Process.TerminationReason, status: Int32, stderr: String) {
        let executable = (MPI.executable as NSString).deletingLastPathComponent + "/" + name
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = "1"
        p.environment = env
        let err = NSTemporaryDirectory() + "size-limit-\(UUID().uuidString).err"
        FileManager.default.createFile(atPath: err, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: err) }
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); XCTFail("\(name) \(args) did not finish in \(timeout) s") }
        p.waitUntilExit()
        return (p.terminationReason, p.terminationStatus, (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    func testAbsurdModelSizesEndWithAMessage() throws {
        let corpus = try TinyCorpus(trainingShards: [16], testShards: [])
        let base = try String(contentsOfFile: corpus.config, encoding: .utf8)
        let cases: [(field: String, value: String, expected: String)] = [
            ("hidden_size", "16777216", "this machine has"),
            ("num_hidden_layers", "100000", "this machine has"),
            ("vocab_size", "4611686018427387904", "vocab_size: 4611686018427387904 exceeds the limit"),
        ]
        for c in cases {
            let path = corpus.root + "/\(c.field).json"
            let pattern = try NSRegularExpression(pattern: "\"\(c.field)\": [0-9]+")
            let edited = pattern.stringByReplacingMatches(in: base, range: NSRange(base.startIndex..., in: base),
                                                          withTemplate: "\"\(c.field)\": \(c.value)")
            XCTAssertNotEqual(edited, base)
            try edited.write(toFile: path, atomically: true, encoding: .utf8)
            let r = try run("bert-pretrain", ["--config", path, "--data", corpus.data, "--output", corpus.root + "/out",
                                              "--batch-size", "4", "--skip-eval"])
            XCTAssertEqual(r.reason, .exit, "\(c.field) = \(c.value): ended by a signal\n\(r.stderr)")
            XCTAssertEqual(r.status, 1, "\(c.field) = \(c.value)\n\(r.stderr)")
            XCTAssertTrue(r.stderr.contains(c.expected), "\(c.field) = \(c.value)\n\(r.stderr)")
            if c.expected == "this machine has" {
                XCTAssertTrue(r.stderr.contains("the model needs") && r.stderr.contains("per rank"), r.stderr)
            }
        }
    }

    func testAVocabularyLineOfTwoMebibytesIsRefusedByTokenize() throws {
        let corpus = try TinyCorpus(trainingShards: [], testShards: [])
        let vocab = corpus.root + "/long-vocab.txt"
        let text = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", String(repeating: "x", count: 2 << 20), "b"].joined(separator: "\n") + "\n"
        try text.write(toFile: vocab, atomically: true, encoding: .utf8)
        let input = corpus.root + "/input.txt"
        try "a b\n".write(toFile: input, atomically: true, encoding: .utf8)
        let r = try run("bert-corpus", ["tokenize", "--vocab", vocab, "--tokens", "--input", input])
        XCTAssertEqual(r.reason, .exit, r.stderr)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(vocab):7: token of 2097152 characters"), r.stderr)
    }
}
