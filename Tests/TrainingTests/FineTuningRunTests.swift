// `bert-pretrain finetune` end to end under real mpirun, on a tiny model and small task files:
// data parallelism (2 ranks × b = 1 rank × 2b = accumulation, dropout on), exact resume, the files a
// run writes (HF classifier directories, metrics, eval_results.json, predict_results.txt), starting
// from a pretraining checkpoint, and bad inputs ending the job with a message naming the file.

import Foundation
import Randomness
import XCTest
import Storage

final class FineTuningRunTests: XCTestCase {
    /// TinyCorpus's vocabulary and config, and task files whose label depends on which words a text uses.
    struct TinyTask {
        let corpus: TinyCorpus
        var root: String { corpus.root }

        init(regression: Bool, count: Int = 64) throws {
            corpus = try TinyCorpus(trainingShards: [32], testShards: [8])
            var rng = SplitMix64(seed: regression ? 7 : 3)
            func text(_ label: Int) -> String {
                let n = 3 + Int(rng.next() % 9)
                return (0..<n).map { _ in "w\(label == 1 ? 5 + Int(rng.next() % 40) : 50 + Int(rng.next() % 40))" }.joined(separator: " ")
            }
            for (name, n) in [("train", count), ("dev", 24), ("test", 10)] {
                var lines = [regression ? "sentence1,sentence2,label" : "sentence1,sentence2,label"]
                for _ in 0..<n {
                    let label = Int(rng.next() % 2)
                    let target = regression ? String(format: "%.2f", Double(label) * 3 + Double(rng.next() % 100) / 100) : (label == 1 ? "yes" : "no")
                    lines.append("\(text(label)),\(text(label)),\(target)")
                }
                try (lines.joined(separator: "\n") + "\n").write(toFile: "\(corpus.root)/\(name).csv", atomically: true, encoding: .utf8)
            }
        }

        func arguments(output: String) -> [String] {
            ["finetune", "--config", corpus.config, "--vocab", corpus.vocab, "--train-file", root + "/train.csv",
             "--validation-file", root + "/dev.csv", "--test-file", root + "/test.csv", "--output", output,
             "--max-seq-length", "24", "--lr", "1e-3", "--log-every-steps", "1", "--seed", "5"]
        }
    }

    /// Every column of two metrics files but the timing ones, to `tolerance` relative.
    func assertRowsEqual(_ a: [[String: String]], _ b: [[String: String]], tolerance: Double, _ what: String,
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "\(what): row counts", file: file, line: line)
        for (i, (x, y)) in zip(a, b).enumerated() {
            XCTAssertEqual(Set(x.keys), Set(y.keys), file: file, line: line)
            for c in x.keys where !["seq_per_s", "allreduce_ms"].contains(c) {
                XCTAssertLessThanOrEqual(relativeDifference(x[c], y[c]), tolerance,
                                         "\(what): row \(i + 1) column \(c): \(x[c] ?? "-") vs \(y[c] ?? "-")", file: file, line: line)
            }
        }
    }

    /// 2 ranks × 4, 1 rank × 8 and 1 rank × 4 × 2 accumulation compute the same 3 steps, dropout on.
    func testTwoRanksEqualOneRankWithTwiceTheBatch() throws {
        let task = try TinyTask(regression: false)
        var metrics: [[[String: String]]] = []
        for (name, ranks, extra) in [("one", 1, ["--batch-size", "8"]), ("two", 2, ["--batch-size", "4"]),
                                     ("accumulated", 1, ["--batch-size", "4", "--accumulation-steps", "2"])] {
            let out = task.root + "/" + name
            let r = try MPI.run(ranks: ranks, task.arguments(output: out) + ["--stop-after-steps", "3"] + extra, log: out + "-log")
            XCTAssertEqual(r.status, 0, "\(name):\n\(r.stderr)")
            metrics.append(try readMetrics(out + "/metrics.csv"))
        }
        XCTAssertEqual(metrics[0].count, 3)
        XCTAssertEqual(metrics[0].first?["accuracy"].flatMap(Double.init).map { $0 >= 0 && $0 <= 1 }, true)
        assertRowsEqual(metrics[0], metrics[1], tolerance: 1e-5, "1×8 vs 2×4")
        assertRowsEqual(metrics[0], metrics[2], tolerance: 1e-5, "1×8 vs 1×4×2")
    }

    /// A regression run stopped at step 5 and resumed equals the uninterrupted run: metrics rows, the last
    /// checkpoint's weights, eval_results.json and predict_results.txt. Its checkpoints are HF
    /// BertForSequenceClassification directories.
    func testResumeReproducesTheUninterruptedRunAndWritesHFOutputs() throws {
        let task = try TinyTask(regression: true)
        let common = ["--batch-size", "4", "--epochs", "2"]
        let full = task.root + "/full"
        var r = try MPI.run(ranks: 2, task.arguments(output: full) + common, log: full + "-log")
        XCTAssertEqual(r.status, 0, r.stderr)
        let expected = try readMetrics(full + "/metrics.csv")
        XCTAssertEqual(expected.filter { $0["split"] == "train" }.count, 16, "64 examples / (4 × 2) = 8 steps × 2 epochs")
        XCTAssertEqual(expected.filter { $0["split"] == "eval" }.count, 2)
        XCTAssertEqual(Set(expected[0].keys), ["split", "step", "epoch", "samples", "lr", "loss", "mse", "pearson", "spearmanr",
                                               "grad_norm", "seq_per_s", "allreduce_ms"])
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: full + "/epoch-0002/config.json"))) as! [String: Any]
        XCTAssertEqual(config["architectures"] as? [String], ["BertForSequenceClassification"])
        XCTAssertEqual(config["problem_type"] as? String, "regression")
        let weights = try readSafetensors(full + "/epoch-0002/model.safetensors")
        XCTAssertEqual(weights["classifier.weight"]?.count, 32)
        XCTAssertNotNil(weights["bert.pooler.dense.bias"])
        XCTAssertFalse(weights.keys.contains { $0.hasPrefix("cls.") })
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: full + "/eval_results.json"))) as! [String: Any]
        XCTAssertEqual(Set(results.keys), ["epoch", "eval_loss", "eval_mse", "eval_pearson", "eval_spearmanr"])
        XCTAssertEqual(results["eval_mse"] as? Double ?? -1, results["eval_loss"] as? Double ?? -2, accuracy: 1e-9, "MSE is the loss")
        let predictions = try String(contentsOfFile: full + "/predict_results.txt", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(predictions.first, "index\tprediction")
        XCTAssertEqual(predictions.count, 11, "one row per test example")

        let part = task.root + "/part"
        r = try MPI.run(ranks: 2, task.arguments(output: part) + common + ["--stop-after-steps", "5"], log: part + "-log1")
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try MPI.run(ranks: 2, ["finetune", "--resume", "--output", part], log: part + "-log2")
        XCTAssertEqual(r.status, 0, r.stderr)
        assertRowsEqual(expected, try readMetrics(part + "/metrics.csv"), tolerance: 1e-6, "uninterrupted vs resumed")
        let resumed = try readSafetensors(part + "/epoch-0002/model.safetensors")
        for (name, x) in weights {
            let diff = zip(x, resumed[name] ?? []).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(diff, 1e-6, name)
        }
        XCTAssertEqual(try String(contentsOfFile: part + "/predict_results.txt", encoding: .utf8),
                       try String(contentsOfFile: full + "/predict_results.txt", encoding: .utf8))
    }

    /// From a pretraining checkpoint: the encoder and pooler are kept, cls.* dropped and the classifier
    /// initialised, with a warning naming them; classification labels are the sorted training labels.
    func testStartsFromAPretrainingCheckpoint() throws {
        let task = try TinyTask(regression: false)
        let pretrained = task.root + "/pretrained"
        var r = try MPI.run(ranks: 1, ["--config", task.corpus.config, "--data", task.corpus.data, "--output", pretrained,
                                       "--batch-size", "8", "--log-every-steps", "1"], log: pretrained + "-log")
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = task.root + "/ft"
        var args = task.arguments(output: out)
        let i = args.firstIndex(of: "--config")!
        args.removeSubrange(i...(i + 3))   // --config and --vocab: both come from the checkpoint
        r = try MPI.run(ranks: 2, args + ["--init-from", pretrained + "/epoch-0001", "--batch-size", "4", "--epochs", "1"], log: out + "-log")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("classifier.weight") && r.stderr.contains("initialised fresh"), r.stderr)
        XCTAssertTrue(r.stderr.contains("cls.predictions.bias"), "the dropped pretraining heads are named:\n\(r.stderr)")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/epoch-0001/config.json"))) as! [String: Any]
        XCTAssertEqual(config["id2label"] as? [String: String], ["0": "no", "1": "yes"])
        let encoder = try readSafetensors(pretrained + "/epoch-0001/model.safetensors")
        XCTAssertNotNil(encoder["bert.encoder.layer.0.output.dense.weight"])
    }

    /// Bad inputs end the job on every rank with a message naming the file and line; one class is refused.
    func testBadTaskFilesEndTheJobNamingTheFile() throws {
        let task = try TinyTask(regression: false)
        try "sentence1,sentence2,label\nw5 w6,w7,maybe\n".write(toFile: task.root + "/bad-dev.csv", atomically: true, encoding: .utf8)
        var args = task.arguments(output: task.root + "/bad")
        args[args.firstIndex(of: task.root + "/dev.csv")!] = task.root + "/bad-dev.csv"
        var r = try MPI.run(ranks: 2, args, log: task.root + "/bad-log")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("bad-dev.csv:2") && r.stderr.contains("maybe"), r.stderr)

        try "text,label\nw5 w6,yes\nw7,yes\n".write(toFile: task.root + "/one-class.csv", atomically: true, encoding: .utf8)
        args = task.arguments(output: task.root + "/one")
        args[args.firstIndex(of: task.root + "/train.csv")!] = task.root + "/one-class.csv"
        args.removeSubrange(args.firstIndex(of: "--validation-file")!...(args.firstIndex(of: "--validation-file")! + 3))
        r = try MPI.run(ranks: 1, args, log: task.root + "/one-log")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("one-class.csv") && r.stderr.contains("at least 2 classes"), r.stderr)
    }
}
