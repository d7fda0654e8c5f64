// The inference commands end to end under real mpirun: -np 2 writes what -np 1 writes, byte for
// byte, in input order; .npy output holds the JSON output's numbers; errors end the job naming the line.

import BERT
import Foundation
import Randomness
import XCTest

final class InferenceCommandTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("BERTTests/Fixtures")
    static var pretraining: String { fixtures.appendingPathComponent("hf-parity/checkpoint").path }
    static var classifier: String { fixtures.appendingPathComponent("hf-classification/checkpoint-classification").path }

    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "/inference-commands-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// Lines of words from the checkpoint's vocabulary, of mixed lengths (some longer than the model's 64 positions).
    func writeInputs(count: Int, mask: Bool = false, pairs: Bool = false) throws -> String {
        let vocab = try String(contentsOfFile: Self.pretraining + "/vocab.txt", encoding: .utf8).split(separator: "\n")
        let words = vocab.filter { !$0.hasPrefix("[") && !$0.hasPrefix("##") && $0.count > 1 }.map(String.init)
        var rng = SplitMix64(seed: 7)
        var lines: [String] = []
        for i in 0..<count {
            let n = [2, 5, 9, 30, 80][i % 5] + Int(rng.next() % 4)
            var text = (0..<n).map { _ in words[Int(rng.next() % UInt64(words.count))] }
            if mask { text[Int(rng.next() % UInt64(min(n, 40)))] = "[MASK]" }
            if pairs {
                let pair = (0..<3).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: " ")
                let data = try JSONSerialization.data(withJSONObject: ["text": text.joined(separator: " "), "text_pair": pair])
                lines.append(String(decoding: data, as: UTF8.self))
            } else {
                lines.append(text.joined(separator: " "))
            }
        }
        let path = dir + "/input-\(UUID().uuidString)" + (pairs ? ".jsonl" : ".txt")
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func output(ranks: Int, _ args: [String], name: String) throws -> Data {
        let out = dir + "/\(name)-np\(ranks).out"
        let r = try MPI.run(ranks: ranks, args + ["--output", out, "--batch-size", "3"], log: dir + "/\(name)-np\(ranks)")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains(" texts/s"), r.stderr)
        return try Data(contentsOf: URL(fileURLWithPath: out))
    }

    func testTwoRanksWriteWhatOneRankWrites() throws {
        let texts = try writeInputs(count: 23)
        let masked = try writeInputs(count: 11, mask: true)
        let pairs = try writeInputs(count: 10, pairs: true)
        let commands: [(String, [String])] = [
            ("embed", ["embed", "--checkpoint", Self.pretraining, "--input", texts, "--layer", "-1,-2", "--pooling", "max"]),
            ("fill-mask", ["fill-mask", "--checkpoint", Self.pretraining, "--input", masked, "--top-k", "3"]),
            ("nsp", ["nsp", "--checkpoint", Self.pretraining, "--input", pairs]),
            ("predict", ["predict", "--checkpoint", Self.classifier, "--input", pairs, "--top-k", "2"]),
        ]
        for (name, args) in commands {
            let one = try output(ranks: 1, args, name: name)
            let two = try output(ranks: 2, args, name: name)
            let lines = one.split(separator: 0x0A)
            XCTAssertEqual(lines.count, name == "embed" ? 23 : name == "fill-mask" ? 11 : 10, name)
            XCTAssertEqual(one, two, "\(name): -np 2 output differs from -np 1")
        }
    }

    /// `--precision bf16` on the inference commands: classifier scores within 1e-2 of fp32's but not all
    /// equal to them (bf16 ran), and -np 2 writes what -np 1 writes, byte for byte.
    func testBF16PredictionsAreCloseToFP32AndTheSameOnAnyRankCount() throws {
        let pairs = try writeInputs(count: 10, pairs: true)
        let args = ["predict", "--checkpoint", Self.classifier, "--input", pairs, "--top-k", "3"]
        let fp32 = try output(ranks: 1, args, name: "fp32")
        let bf16 = try output(ranks: 1, args + ["--precision", "bf16"], name: "bf16")
        XCTAssertEqual(try output(ranks: 2, args + ["--precision", "bf16"], name: "bf16"), bf16, "-np 2 bf16 differs from -np 1")
        func scores(_ data: Data) throws -> [Double] {
            try data.split(separator: 0x0A).flatMap { line -> [Double] in
                // A line is the top-k list of {"label", "score"} objects.
                let labels = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line)) as? [[String: Any]])
                return labels.compactMap { $0["score"] as? Double }
            }
        }
        let a = try scores(fp32), b = try scores(bf16)
        XCTAssertEqual(a.count, 30, String(decoding: fp32, as: UTF8.self))
        XCTAssertEqual(a.count, b.count)
        XCTAssertLessThanOrEqual(zip(a, b).map { abs($0 - $1) }.max() ?? 1, 1e-2, "bf16 scores \(b) vs fp32 \(a)")
        XCTAssertNotEqual(a, b, "bf16 scores equal fp32's: bf16 did nothing")
    }

    /// The executable restarts itself with idle library threads set to sleep (IdleThreads: OpenBLAS and
    /// libgomp read their settings only at load; spinning threads took the cores from the work between
    /// products): OPENBLAS_THREAD_TIMEOUT=8 always, OMP_WAIT_POLICY=passive when oneDNN's bf16 kernel runs;
    /// what the user set is kept. `bench` reports the settings it ran with.
    func testIdleLibraryThreadsSleepUnlessTheUserSaidOtherwise() throws {
        let inherited = ProcessInfo.processInfo.environment
        try XCTSkipIf(inherited["OMP_WAIT_POLICY"] != nil || inherited["GOMP_SPINCOUNT"] != nil
                      || inherited["OPENBLAS_THREAD_TIMEOUT"] != nil, "the test's environment sets a wait policy")
        func settings(_ environment: [String: String], _ name: String, precision: String) throws -> (openmp: String, openblas: String) {
            let log = NSTemporaryDirectory() + "idle-threads-\(name)-\(UUID().uuidString)"
            let p = try MPI.start(ranks: 1, ["bench", "--config", "bert-tiny", "--batch-size", "2", "--steps", "1",
                                             "--warmup", "0", "--precision", precision, "--json"], log: log, environment: environment)
            let result = MPI.wait(p, log: log, timeout: 120)
            XCTAssertEqual(result.status, 0, result.stderr)
            let line = try XCTUnwrap(result.stdout.split(separator: "\n").last, result.stderr)
            let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            if precision == "bf16" {
                XCTAssertEqual(report["products"] as? String, OneDNN.hasBF16Kernel ? "onednn-bf16" : "emulated-bf16")
            }
            return (try XCTUnwrap(report["openmp_wait_policy"] as? String, String(line)),
                    try XCTUnwrap(report["openblas_thread_timeout"] as? String, String(line)))
        }
        let bf16 = try settings([:], "default", precision: "bf16")
        XCTAssertEqual(bf16.openmp, OneDNN.hasBF16Kernel ? "passive" : "unset")
        XCTAssertEqual(bf16.openblas, "8")
        let user = try settings(["OMP_WAIT_POLICY": "active", "OPENBLAS_THREAD_TIMEOUT": "20"], "user", precision: "bf16")
        XCTAssertEqual(user.openmp, "active")
        XCTAssertEqual(user.openblas, "20")
        let fp32 = try settings([:], "fp32", precision: "fp32")   // decided before the flags are read
        XCTAssertEqual(fp32.openmp, OneDNN.hasBF16Kernel ? "passive" : "unset")
        XCTAssertEqual(fp32.openblas, "8")
    }

    func testNpyHoldsTheJSONNumbers() throws {
        let texts = try writeInputs(count: 7)
        let args = ["embed", "--checkpoint", Self.pretraining, "--input", texts, "--normalize"]
        let json = try output(ranks: 1, args, name: "json")
        let npy = try output(ranks: 2, args + ["--format", "npy"], name: "npy")
        let headerLength = Int(npy[8]) | Int(npy[9]) << 8
        let header = String(decoding: npy[10..<(10 + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.contains("'shape': (7, 32)"), header)
        let floats = npy[(10 + headerLength)...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        XCTAssertEqual(floats.count, 7 * 32)
        for (i, line) in json.split(separator: 0x0A).enumerated() {
            let vector = try JSONDecoder().decode([String: [Float]].self, from: Data(line))["embedding"]!
            XCTAssertEqual(Array(floats[(i * 32)..<((i + 1) * 32)]), vector)
            XCTAssertEqual(vector.reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-5)   // --normalize
        }
    }

    func testErrorsEndTheJobNamingTheLine() throws {
        let masked = dir + "/masked.txt"
        let vocab = try String(contentsOfFile: Self.pretraining + "/vocab.txt", encoding: .utf8).split(separator: "\n")
        try "\(vocab[40]) [MASK]\n\(vocab[41]) \(vocab[42])\n".write(toFile: masked, atomically: true, encoding: .utf8)
        let noMask = try MPI.run(ranks: 2, ["fill-mask", "--checkpoint", Self.pretraining, "--input", masked], log: dir + "/nomask")
        XCTAssertNotEqual(noMask.status, 0)
        XCTAssertTrue(noMask.stderr.contains("masked.txt:2: no [MASK] token in the text"), noMask.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out.jsonl"))

        let noHead = try MPI.run(ranks: 2, ["fill-mask", "--checkpoint", Self.classifier, "--input", masked, "--output", dir + "/out.jsonl"],
                                 log: dir + "/nohead")
        XCTAssertNotEqual(noHead.status, 0)
        XCTAssertTrue(noHead.stderr.contains("has no masked-LM head (cls.predictions.*)"), noHead.stderr)
        // A failed run leaves no output file under the name asked for.
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out.jsonl"))
    }
}
