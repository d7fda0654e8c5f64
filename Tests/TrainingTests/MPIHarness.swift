// Helpers for the multi-rank tests: a tiny corpus of random shards, a tiny model config, and
// `mpirun` of the built `bert-pretrain` executable with a time limit (a hang is a failure).

import CorpusBuild
import Foundation
import PretrainingData
import Randomness
import Storage
import XCTest

/// A temporary directory with vocab.txt (100 tokens), a tiny config.json and random shards.
final class TinyCorpus {
    static let vocabSize = 100
    static let maxSeqLength = 32
    static let maxPredictions = 5
    let root: String
    var data: String { root + "/shards" }
    var vocab: String { data + "/vocab.txt" }
    var config: String { root + "/config.json" }

    /// `training` instances per training shard and `test` per held-out shard; `badShard` (a training shard number)
    /// gets an out-of-range token id in its last instance.
    init(trainingShards: [Int], testShards: [Int], seed: UInt64 = 1, badShard: Int? = nil) throws {
        root = NSTemporaryDirectory() + "bert-pretrain-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/shards", withIntermediateDirectories: true)
        let tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (5..<TinyCorpus.vocabSize).map { "w\($0)" }
        try (tokens.joined(separator: "\n") + "\n").write(toFile: vocab, atomically: true, encoding: .utf8)
        let config = """
        {"vocab_size": \(TinyCorpus.vocabSize), "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
         "intermediate_size": 64, "max_position_embeddings": 64, "type_vocab_size": 2, "hidden_act": "gelu",
         "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}
        """
        try config.write(toFile: self.config, atomically: true, encoding: .utf8)
        var rng = SplitMix64(seed: seed)
        for (i, n) in trainingShards.enumerated() {
            try write(path: data + String(format: "/part-%05d-training.hdf5", i), count: n, rng: &rng, bad: badShard == i)
        }
        for (i, n) in testShards.enumerated() {
            try write(path: data + String(format: "/part-%05d-test.hdf5", i), count: n, rng: &rng, bad: false)
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    private func write(path: String, count: Int, rng: inout SplitMix64, bad: Bool) throws {
        let writer = try ShardWriter(path: path, maxSeqLength: TinyCorpus.maxSeqLength,
                                     maxPredictions: TinyCorpus.maxPredictions, attributes: [:])
        for k in 0..<count {
            var x = TinyCorpus.randomInstance(rng: &rng)
            if bad && k == count - 1 { x.inputIds[1] = Int32(TinyCorpus.vocabSize + 7) }
            try writer.append(x)
        }
        try writer.close()
    }

    /// [CLS] A [SEP] B [SEP] with random words, about 15% of them masked (80% [MASK], else kept).
    static func randomInstance(rng: inout SplitMix64) -> PretrainingInstance {
        let length = Int.random(in: 8...maxSeqLength, using: &rng)
        let lengthA = Int.random(in: 1...(length - 4), using: &rng)
        var ids: [Int32] = [2], segments: [Int32] = [0]
        for _ in 0..<lengthA { ids.append(Int32.random(in: 5..<Int32(vocabSize), using: &rng)); segments.append(0) }
        ids.append(3); segments.append(0)
        while ids.count < length - 1 { ids.append(Int32.random(in: 5..<Int32(vocabSize), using: &rng)); segments.append(1) }
        ids.append(3); segments.append(1)
        let candidates = ids.indices.filter { ids[$0] != 2 && ids[$0] != 3 }.shuffled(using: &rng)
        let positions = candidates.prefix(min(maxPredictions, max(1, Int((Double(length) * 0.15).rounded())))).sorted()
        var input = ids
        for p in positions where Double.random(in: 0..<1, using: &rng) < 0.8 { input[p] = 4 }
        return PretrainingInstance(inputIds: input, segmentIds: segments, maskedPositions: positions.map { Int32($0) },
                                   maskedIds: positions.map { ids[$0] }, nextSentenceLabel: Int32.random(in: 0...1, using: &rng))
    }
}

struct RunResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

enum MPI {
    /// The built bert-pretrain beside the test bundle (`swift build --build-tests` builds it).
    static var executable: String {
        // Linux: the bundle URL is the build directory itself; macOS: the .xctest bundle inside it.
        let bundle = Bundle(for: TinyCorpusAnchor.self).bundleURL
        let candidates = [bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("bert-pretrain").path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    /// Starts `mpirun -np ranks bert-pretrain args…`; returns the process (for signals) and its output files.
    /// `environment` is added to mpirun's and exported to every rank.
    static func start(ranks: Int, _ args: [String], log: String, environment: [String: String] = [:]) throws -> Process {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw TrainingTestError("\(executable) is not built: run `swift build --build-tests` first")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["mpirun", "--oversubscribe", "-np", String(ranks), "-x", "OPENBLAS_NUM_THREADS=1"]
            + environment.keys.sorted().flatMap { ["-x", $0] } + [executable] + args
        var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OPENBLAS_NUM_THREADS"] = "1"
        p.environment = env
        _ = FileManager.default.createFile(atPath: log + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: log + ".err", contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log + ".out"))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log + ".err"))
        try p.run()
        return p
    }

    /// Waits for `p` at most `timeout` seconds (then kills it and fails: a hang).
    static func wait(_ p: Process, log: String, timeout: TimeInterval, file: StaticString = #filePath, line: UInt = #line) -> RunResult {
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning {
            p.interrupt()
            usleep(500_000)
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            XCTFail("mpirun did not finish within \(timeout) s (a hang)", file: file, line: line)
        }
        p.waitUntilExit()
        let out = (try? String(contentsOfFile: log + ".out", encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: log + ".err", encoding: .utf8)) ?? ""
        return RunResult(status: p.terminationStatus, stdout: out, stderr: err)
    }

    static func run(ranks: Int, _ args: [String], log: String, timeout: TimeInterval = 180,
                    file: StaticString = #filePath, line: UInt = #line) throws -> RunResult {
        let p = try start(ranks: ranks, args, log: log)
        return wait(p, log: log, timeout: timeout, file: file, line: line)
    }

    /// Pids of the direct children of `pid` (mpirun's ranks).
    static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { child in
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 2 && Int32(fields[1]) == pid
        }.sorted()
    }
}

final class TinyCorpusAnchor {}

struct TrainingTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Reads a safetensors file's F32 tensors, independently of the BERT module's reader.
func readSafetensors(_ path: String) throws -> [String: [Float]] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
    var out: [String: [Float]] = [:]
    for (name, value) in header where name != "__metadata__" {
        let info = value as! [String: Any]
        XCTAssertEqual(info["dtype"] as? String, "F32", name)
        let offsets = info["data_offsets"] as! [Int]
        let bytes = data.subdata(in: (8 + headerLength + offsets[0])..<(8 + headerLength + offsets[1]))
        out[name] = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
    return out
}

/// metrics.csv as rows of named columns.
func readMetrics(_ path: String) throws -> [[String: String]] {
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    guard let header = lines.first?.split(separator: ",").map(String.init) else { return [] }
    return lines.dropFirst().map { line in
        Dictionary(uniqueKeysWithValues: zip(header, line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)))
    }
}

/// Relative difference of two numbers written in metrics.csv.
func relativeDifference(_ a: String?, _ b: String?) -> Double {
    guard let a, let b, let x = Double(a), let y = Double(b) else { return a == b ? 0 : .infinity }
    if x.isNaN && y.isNaN { return 0 }
    return abs(x - y) / max(abs(x), abs(y), 1e-12)
}
