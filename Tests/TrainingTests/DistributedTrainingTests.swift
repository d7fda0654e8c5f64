// End-to-end tests with real mpirun on a tiny model (2 layers, hidden 32, vocab 100, T = 32).

import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import BERT
import Storage
import Training

final class DistributedTrainingTests: XCTestCase {
    static let computedColumns = ["split", "step", "epoch", "samples", "lr", "loss", "mlm_loss", "nsp_loss",
                                  "mlm_accuracy", "nsp_accuracy", "grad_norm"]

    func baseArguments(_ corpus: TinyCorpus, output: String, warmup: Int = 2) -> [String] {
        ["--config", corpus.config, "--data", corpus.data, "--output", output, "--lr", "1e-3",
         "--warmup-steps", String(warmup), "--log-every-steps", "1", "--seed", "42"]
    }

    /// Rows equal in every column but the timing ones (relative tolerance `tolerance`).
    func assertRowsEqual(_ a: [[String: String]], _ b: [[String: String]], tolerance: Double, _ what: String,
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "\(what): row counts", file: file, line: line)
        for (i, (x, y)) in zip(a, b).enumerated() {
            for c in Self.computedColumns {
                let d = relativeDifference(x[c], y[c])
                XCTAssertLessThanOrEqual(d, tolerance, "\(what): row \(i + 1) column \(c): \(x[c] ?? "-") vs \(y[c] ?? "-")",
                                         file: file, line: line)
            }
        }
    }

    /// 2 ranks × batch 4 and 1 rank × batch 8 (and 1 rank × 4 × 2 accumulation steps, and 1 rank × 8 on the
    /// rectangular `--padded` path) compute the same losses and parameters; every rank holds identical
    /// parameters after every step.
    func testTwoRanksEqualOneRankWithTwiceTheBatch() throws {
        try assertSplitsAgree(["--hidden-dropout", "0", "--attention-dropout", "0"])
    }

    /// The same with dropout on (0.1, the tiny config's): the masks are keyed by (seed, step, instance,
    /// layer, site), so a sequence gets the same masks on whichever rank and micro-batch reads it. With
    /// per-rank generator streams this could not hold.
    func testWithKeyedDropoutTwoRanksEqualOneRankWithTwiceTheBatch() throws {
        try assertSplitsAgree([])
    }

    func assertSplitsAgree(_ dropout: [String]) throws {
        let corpus = try TinyCorpus(trainingShards: [40, 24], testShards: [16])
        let extra = dropout + ["--stop-after-steps", "3"]
        let runs: [(name: String, ranks: Int, extra: [String])] = [
            ("one", 1, ["--batch-size", "8"]),
            ("two", 2, ["--batch-size", "4", "--check-parameter-sync"]),
            ("accumulated", 1, ["--batch-size", "4", "--accumulation-steps", "2"]),
            ("padded", 1, ["--batch-size", "8", "--padded"]),
        ]
        var metrics: [String: [[String: String]]] = [:]
        var weights: [String: [String: [Float]]] = [:]
        for run in runs {
            let out = corpus.root + "/" + run.name
            let r = try MPI.run(ranks: run.ranks, baseArguments(corpus, output: out) + extra + run.extra, log: out + "-log")
            XCTAssertEqual(r.status, 0, "\(run.name) failed:\n\(r.stderr)")
            metrics[run.name] = try readMetrics(out + "/metrics.csv")
            weights[run.name] = try readSafetensors(out + "/step-0000003/model.safetensors")
        }
        XCTAssertEqual(metrics["one"]?.count, 3, "one row per step")
        for other in ["two", "accumulated", "padded"] {
            assertRowsEqual(metrics["one"]!, metrics[other]!, tolerance: 1e-5, "1×8 vs \(other)")
            let a = weights["one"]!, b = weights[other]!
            XCTAssertEqual(Set(a.keys), Set(b.keys))
            // The attention key bias has an exactly zero gradient (a query's softmax is invariant to a shift
            // shared by all its keys), so its computed gradient is rounding noise that Adam's normalisation turns
            // into ±lr steps of arbitrary sign: it cannot agree between batch splits and is left out here.
            var worst: [(Double, String)] = []
            for (name, x) in a where !name.hasSuffix("attention.self.key.bias") {
                let y = b[name]!
                let scale = Double(x.map { abs($0) }.max() ?? 1)
                let diff = Double(zip(x, y).map { abs($0 - $1) }.max() ?? 0)
                worst.append((diff / max(scale, 1e-12), name))
            }
            worst.sort { $0.0 > $1.0 }
            XCTAssertLessThan(worst[0].0, 1e-5, "1×8 vs \(other): parameters differ most in \(worst.prefix(5))")
        }
        // The loss actually moved: the three steps are not all equal.
        let losses = metrics["one"]!.compactMap { Double($0["loss"] ?? "") }
        XCTAssertEqual(losses.count, 3)
        XCTAssertGreaterThan(Set(losses).count, 1, "losses \(losses)")
    }

    /// `--precision bf16`: 2 ranks × 4 equal 1 rank × 8 (the all-reduce sums float32 gradients), a run
    /// stopped at step 2 and resumed (without the flag: the saved precision wins) equals the uninterrupted
    /// one, and bf16 is neither fp32 (losses differ) nor far from it (within 1e-2).
    func testBF16TwoRanksEqualOneRankAndResumesExactly() throws {
        let corpus = try TinyCorpus(trainingShards: [40, 24], testShards: [16])
        let bf16 = ["--precision", "bf16", "--hidden-dropout", "0", "--attention-dropout", "0"]
        let runs: [(name: String, ranks: Int, extra: [String])] = [
            ("one", 1, bf16 + ["--batch-size", "8", "--stop-after-steps", "3"]),
            ("two", 2, bf16 + ["--batch-size", "4", "--stop-after-steps", "3", "--check-parameter-sync"]),
            ("part", 1, bf16 + ["--batch-size", "8", "--stop-after-steps", "2"]),
            ("fp32", 1, ["--hidden-dropout", "0", "--attention-dropout", "0", "--batch-size", "8", "--stop-after-steps", "3"]),
        ]
        var metrics: [String: [[String: String]]] = [:]
        for run in runs {
            let out = corpus.root + "/" + run.name
            let r = try MPI.run(ranks: run.ranks, baseArguments(corpus, output: out) + run.extra, log: out + "-log")
            XCTAssertEqual(r.status, 0, "\(run.name) failed:\n\(r.stderr)")
            XCTAssertEqual(r.stderr.contains("\"precision\" : \"bf16\""), run.name != "fp32", "the effective configuration says the precision")
            metrics[run.name] = try readMetrics(out + "/metrics.csv")
        }
        let part = corpus.root + "/part"
        let r = try MPI.run(ranks: 1, ["--resume", "--output", part, "--stop-after-steps", "3"], log: part + "-log2")
        XCTAssertEqual(r.status, 0, r.stderr)
        metrics["part"] = try readMetrics(part + "/metrics.csv")

        XCTAssertEqual(metrics["one"]?.count, 3)
        assertRowsEqual(metrics["one"]!, metrics["two"]!, tolerance: 1e-5, "bf16 1×8 vs 2×4")
        assertRowsEqual(metrics["one"]!, metrics["part"]!, tolerance: 1e-6, "bf16 uninterrupted vs stopped at 2 and resumed")
        let weights = try ["one", "part"].map { try readSafetensors(corpus.root + "/\($0)/step-0000003/model.safetensors") }
        for (name, x) in weights[0] {
            let diff = zip(x, weights[1][name] ?? []).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(diff, 1e-6, "\(name) differs by \(diff) after the bf16 resume")
        }
        for (a, b) in zip(metrics["one"]!, metrics["fp32"]!) {
            let x = Double(a["loss"]!)!, y = Double(b["loss"]!)!
            XCTAssertNotEqual(x, y, "bf16 and fp32 wrote the same loss: bf16 did nothing")
            XCTAssertLessThanOrEqual(abs(x - y) / y, 1e-2, "bf16 loss \(x) vs fp32 \(y)")
        }
    }

    /// 20 steps on shards with 8…32 real tokens of 32 (about 40 % padding), dropout 0: the unpadded run
    /// (the default) and the `--padded` run write the same metrics rows.
    func testUnpaddedRunEqualsThePaddedRun() throws {
        let corpus = try TinyCorpus(trainingShards: [40, 24], testShards: [])
        var metrics: [[[String: String]]] = []
        for flags in [[], ["--padded"]] {
            let out = corpus.root + "/run" + flags.joined()
            let args = baseArguments(corpus, output: out) + flags + ["--batch-size", "4", "--epochs", "2", "--stop-after-steps", "20",
                                                                     "--hidden-dropout", "0", "--attention-dropout", "0", "--skip-eval"]
            let r = try MPI.run(ranks: 1, args, log: out + "-log")
            XCTAssertEqual(r.status, 0, "\(flags) failed:\n\(r.stderr)")
            XCTAssertEqual(r.stderr.contains("\"padded\" : true"), !flags.isEmpty, "the effective configuration says which path ran")
            metrics.append(try readMetrics(out + "/metrics.csv"))
        }
        XCTAssertEqual(metrics[0].count, 20)
        assertRowsEqual(metrics[0], metrics[1], tolerance: 1e-5, "unpadded vs --padded")
    }

    /// Stopping after a checkpoint and resuming gives the uninterrupted run's metrics rows (dropout on),
    /// with dynamic masking, and rows and a well-formed loss.svg after every epoch.
    func testResumeReproducesTheUninterruptedRun() throws {
        let corpus = try TinyCorpus(trainingShards: [40, 24], testShards: [16])
        let common = ["--batch-size", "4", "--epochs", "2", "--dynamic-masking"]
        let full = corpus.root + "/full"
        var r = try MPI.run(ranks: 2, baseArguments(corpus, output: full) + common, log: full + "-log")
        XCTAssertEqual(r.status, 0, r.stderr)
        let expected = try readMetrics(full + "/metrics.csv")
        XCTAssertEqual(expected.filter { $0["split"] == "train" }.count, 16, "64 instances / (4 × 2) = 8 steps × 2 epochs")
        XCTAssertEqual(expected.filter { $0["split"] == "eval" }.map { $0["epoch"] }, ["1", "2"], "one held-out row per epoch")
        for epoch in ["epoch-0001", "epoch-0002"] {
            for f in ["config.json", "model.safetensors", "vocab.txt", "trainer-state.json", "optimizer.safetensors", "metrics.csv"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(full)/\(epoch)/\(f)"), "\(epoch)/\(f) missing")
            }
        }
        XCTAssertEqual(try readMetrics(full + "/epoch-0001/metrics.csv").filter { $0["split"] == "eval" }.count, 1,
                       "the epoch-1 checkpoint holds metrics up to its own eval row")
        let svg = try Data(contentsOf: URL(fileURLWithPath: full + "/loss.svg"))
        XCTAssertTrue(XMLParser(data: svg).parse(), "loss.svg must be well-formed XML")

        // Interrupted mid-epoch 1 at step 5 (a checkpoint), then resumed.
        let part = corpus.root + "/part"
        r = try MPI.run(ranks: 2, baseArguments(corpus, output: part) + common + ["--stop-after-steps", "5"], log: part + "-log1")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: part + "/step-0000005/trainer-state.json"))
        r = try MPI.run(ranks: 2, ["--resume", "--output", part], log: part + "-log2")
        XCTAssertEqual(r.status, 0, r.stderr)
        assertRowsEqual(expected, try readMetrics(part + "/metrics.csv"), tolerance: 1e-6, "uninterrupted vs resumed")
        let a = try readSafetensors(full + "/epoch-0002/model.safetensors")
        let b = try readSafetensors(part + "/epoch-0002/model.safetensors")
        for (name, x) in a {
            let diff = zip(x, b[name] ?? []).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(diff, 1e-6, "final \(name) differs by \(diff) after resume")
        }
        // Resuming with a per-rank batch that cannot keep the global batch (8) is refused, saying why.
        r = try MPI.run(ranks: 1, ["--resume", part + "/step-0000005", "--output", part, "--batch-size", "3"], log: part + "-log3")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("cannot resume with --batch-size 3 on 1 ranks: the run's global batch is 8"), r.stderr)
        XCTAssertTrue(r.stderr.contains("data order and learning-rate schedule depend on it"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--batch-size 4 --accumulation-steps 2"), "the working values are listed:\n\(r.stderr)")
    }

    /// A 2-rank run stopped at step 5 and resumed on 1 rank, and a 1-rank run resumed on 2 ranks, give the
    /// uninterrupted run's metrics rows (dropout on, dynamic masking), the global batch kept; the change
    /// is logged once. A checkpoint of the earlier format (per-rank dropout states) resumes with one warning.
    func testResumeOnAnotherNumberOfRanks() throws {
        let corpus = try TinyCorpus(trainingShards: [40, 24], testShards: [16])
        let common = ["--epochs", "2", "--dynamic-masking"]
        for (from, to, batch) in [(2, 1, 4), (1, 2, 8)] {
            let name = "\(from)to\(to)"
            let full = corpus.root + "/full-\(name)", part = corpus.root + "/part-\(name)", resumed = corpus.root + "/resumed-\(name)"
            let args = common + ["--batch-size", String(batch)]
            var r = try MPI.run(ranks: from, baseArguments(corpus, output: full) + args, log: full + "-log")
            XCTAssertEqual(r.status, 0, r.stderr)
            r = try MPI.run(ranks: from, baseArguments(corpus, output: part) + args + ["--stop-after-steps", "5"], log: part + "-log")
            XCTAssertEqual(r.status, 0, r.stderr)
            r = try MPI.run(ranks: to, ["--resume", part + "/step-0000005", "--output", resumed], log: resumed + "-log")
            XCTAssertEqual(r.status, 0, r.stderr)
            let expected = try readMetrics(full + "/metrics.csv")
            XCTAssertEqual(expected.filter { $0["split"] == "train" }.count, 16, "64 instances / 8 = 8 steps × 2 epochs")
            assertRowsEqual(expected, try readMetrics(resumed + "/metrics.csv"), tolerance: 1e-5, "\(from) ranks vs resumed on \(to)")
            let change = from == 2 ? "resuming a run of 2 ranks × batch 4 × accumulation 1 on 1 ranks × batch 4 × accumulation 2 (global batch 8 kept)"
                                   : "resuming a run of 1 ranks × batch 8 × accumulation 1 on 2 ranks × batch 4 × accumulation 1 (global batch 8 kept)"
            XCTAssertEqual(r.stderr.components(separatedBy: change).count - 1, 1, "logged once:\n\(r.stderr)")
            XCTAssertFalse(r.stderr.contains("dropout masks differ"), r.stderr)
            // Its checkpoints describe the run as it now is, so resuming them again keeps G too.
            let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: resumed + "/epoch-0002/trainer-state.json")))
                as! [String: Any]
            let options = state["options"] as! [String: Any]
            XCTAssertEqual(state["ranks"] as? Int, to)
            XCTAssertEqual((options["batchSize"] as? Int ?? 0) * to * (options["accumulationSteps"] as? Int ?? 0), 8, "\(state)")
        }

        // A checkpoint written before keyed dropout (format 1, every rank's generator state) still resumes,
        // with one warning that the masks differ from the old run's.
        let old = corpus.root + "/part-2to1/step-0000005"
        let statePath = old + "/trainer-state.json"
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: statePath))) as! [String: Any]
        object["format"] = 1
        object["dropoutStates"] = [[1, 2, 3, 4], [5, 6, 7, 8]]
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: statePath))
        let out = corpus.root + "/from-format-1"
        let r = try MPI.run(ranks: 2, ["--resume", old, "--output", out, "--stop-after-steps", "6"], log: out + "-log")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr.components(separatedBy: "the continuation's dropout masks differ").count - 1, 1, r.stderr)
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/step-0000006/trainer-state.json")))
            as! [String: Any]
        XCTAssertEqual(state["format"] as? Int, 2)
        XCTAssertNil(state["dropoutStates"])
    }

    /// SIGTERM to one rank mid-epoch: every rank finishes the step, a complete checkpoint is written,
    /// the job exits 0, and --resume finishes the run.
    func testSigtermWritesACheckpointThatResumes() throws {
        let corpus = try TinyCorpus(trainingShards: [40, 24], testShards: [8])
        let out = corpus.root + "/run"
        let args = baseArguments(corpus, output: out) + ["--batch-size", "4", "--epochs", "400", "--keep-last", "2", "--skip-eval"]
        let p = try MPI.start(ranks: 2, args, log: out + "-log1")
        // Wait until training is under way (a few rows logged), then signal rank 1 only.
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if let rows = try? readMetrics(out + "/metrics.csv"), rows.count >= 12 { break }
            usleep(50_000)
        }
        let ranks = MPI.children(of: p.processIdentifier)
        XCTAssertEqual(ranks.count, 2, "mpirun's rank processes")
        guard let last = ranks.last else { p.terminate(); return }
        kill(last, SIGTERM)
        let r = MPI.wait(p, log: out + "-log1", timeout: 120)
        XCTAssertEqual(r.status, 0, "a stop request must exit 0:\n\(r.stderr)")
        XCTAssertTrue(r.stderr.contains("stop requested"), r.stderr)
        let steps = (try FileManager.default.contentsOfDirectory(atPath: out)).filter { $0.hasPrefix("step-") }
        XCTAssertEqual(steps.count, 1, "one step checkpoint: \(steps)")
        guard let stepDir = steps.first, let stoppedAt = Int(stepDir.dropFirst(5)) else { return }
        XCTAssertLessThan(stoppedAt, 400 * 8, "stopped before the end")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(stepDir)/model.safetensors"))
        XCTAssertEqual(try readMetrics("\(out)/metrics.csv").last?["step"], String(stoppedAt), "rows up to the stop")
        // Resume to a few steps past the stop and check the rows continue without a gap.
        let r2 = try MPI.run(ranks: 2, ["--resume", "--output", out, "--stop-after-steps", String(stoppedAt + 3)], log: out + "-log2")
        XCTAssertEqual(r2.status, 0, r2.stderr)
        let steps2 = try readMetrics(out + "/metrics.csv").compactMap { Int($0["step"] ?? "") }
        XCTAssertEqual(Array(steps2.suffix(4)), [stoppedAt, stoppedAt + 1, stoppedAt + 2, stoppedAt + 3])
        XCTAssertEqual(steps2, Array(1...(stoppedAt + 3)), "one row per step, none lost or repeated")
    }

    /// evaluate reproduces the training forward on the same weights and data (a step whose global batch is
    /// the whole training set, dropout off), and gives the same result on 1 and 2 ranks.
    func testEvaluateMatchesTrainingForwardAndRankCount() throws {
        let corpus = try TinyCorpus(trainingShards: [16], testShards: [10])
        let first = corpus.root + "/first"
        var r = try MPI.run(ranks: 1, baseArguments(corpus, output: first) + ["--batch-size", "8", "--stop-after-steps", "1", "--skip-eval"],
                            log: first + "-log")
        XCTAssertEqual(r.status, 0, r.stderr)
        let weights = first + "/step-0000001"
        // One step over all 16 training instances from those weights: its logged loss is the forward on them.
        let second = corpus.root + "/second"
        r = try MPI.run(ranks: 2, baseArguments(corpus, output: second, warmup: 0) + ["--init-from", weights, "--batch-size", "8",
                                                                            "--hidden-dropout", "0", "--attention-dropout", "0", "--skip-eval"],
                        log: second + "-log")
        XCTAssertEqual(r.status, 0, r.stderr)
        guard let trained = try readMetrics(second + "/metrics.csv").first else { return XCTFail("no metrics row") }
        let shard = corpus.data + "/part-00000-training.hdf5"
        var results: [[String: Any]] = []
        for (ranks, batch) in [(1, 5), (2, 3)] {
            let e = try MPI.run(ranks: ranks, ["evaluate", "--checkpoint", weights, "--data", shard, "--batch-size", String(batch), "--json"],
                                log: corpus.root + "/eval-\(ranks)")
            XCTAssertEqual(e.status, 0, e.stderr)
            let object = try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as? [String: Any]
            XCTAssertNotNil(object, "evaluate --json printed \(e.stdout)")
            results.append(object ?? [:])
        }
        for key in ["loss", "mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy"] {
            let one = results[0][key] as? Double ?? .nan, two = results[1][key] as? Double ?? .nan
            XCTAssertEqual(one, two, accuracy: 1e-5 * max(abs(one), 1), "\(key): -np 1 \(one) vs -np 2 \(two)")
            let column = key
            let fromTraining = Double(trained[column] ?? "") ?? .nan
            XCTAssertEqual(one, fromTraining, accuracy: 1e-5 * max(abs(one), 1), "\(key): evaluate \(one) vs training forward \(fromTraining)")
        }
        XCTAssertEqual(results[0]["sequences"] as? Int, 16)
        XCTAssertEqual(results[1]["sequences"] as? Int, 16)
        XCTAssertEqual(results[0]["masked_tokens"] as? Int, results[1]["masked_tokens"] as? Int)
        // The context-free baseline, by hand from the shard's labels.
        let dataset = try PretrainingDataset(paths: [shard], maxPositions: 512, vocabSHA256: nil)
        var counts: [Int32: Double] = [:]
        for i in 0..<dataset.count { for id in try dataset.instance(i).maskedIds { counts[id, default: 0] += 1 } }
        let total = counts.values.reduce(0, +)
        XCTAssertEqual(results[0]["masked_tokens"] as? Int, Int(total))
        let entropy = counts.values.reduce(0) { $0 - $1 / total * log($1 / total) }
        for result in results {
            XCTAssertEqual(result["mlm_unigram_accuracy"] as? Double ?? .nan, counts.values.max()! / total, accuracy: 1e-12)
            XCTAssertEqual(result["mlm_unigram_loss"] as? Double ?? .nan, entropy, accuracy: 1e-9)
        }
    }

    /// A bad shard that only rank 1 checks ends the whole job (no hang) with a message naming the shard and rank 1.
    func testBadShardOnRankOneEndsTheJob() throws {
        let corpus = try TinyCorpus(trainingShards: [16, 16], testShards: [], badShard: 1)
        let out = corpus.root + "/run"
        let r = try MPI.run(ranks: 2, baseArguments(corpus, output: out) + ["--batch-size", "4"], log: out + "-log", timeout: 60)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("[rank 1/2]"), "message must name the rank:\n\(r.stderr)")
        XCTAssertTrue(r.stderr.contains("part-00001-training.hdf5"), "message must name the shard:\n\(r.stderr)")
        XCTAssertTrue(r.stderr.contains("outside the vocabulary"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/epoch-0001"), "no step may run")
    }

    /// A run that diverges (a learning rate of 1e9) is stopped by the trainer, not by a crash: the
    /// non-finite steps are skipped with a warning up to --max-non-finite-steps, then the job ends on
    /// both ranks with a message naming the step; the checkpoint written before is complete and finite
    /// (the checkpoint loader refuses NaN). With --fail-on-non-finite the first one ends it.
    func testDivergingRunStopsWithAMessageAndKeepsItsCheckpoint() throws {
        let corpus = try TinyCorpus(trainingShards: [32, 32], testShards: [])
        let out = corpus.root + "/run"
        var args = baseArguments(corpus, output: out, warmup: 1) + ["--batch-size", "4", "--epochs", "20", "--skip-eval",
                                                                    "--max-grad-norm", "1e30", "--max-non-finite-steps", "3"]
        args[args.firstIndex(of: "--lr")! + 1] = "1e9"
        let r = try MPI.run(ranks: 2, args + ["--checkpoint-every-steps", "1"], log: out + "-log", timeout: 120)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("1 in a row, the run stops at 3"), r.stderr)
        XCTAssertTrue(r.stderr.range(of: #"\[rank [01]/2\] step \d+: non-finite loss or gradient \(.*\); 3 in a row, stopping the run"#,
                                     options: .regularExpression) != nil, r.stderr)
        let steps = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix("step-") }.sorted()
        XCTAssertFalse(steps.isEmpty, "a checkpoint from before the divergence")
        for step in steps {
            XCTAssertNoThrow(try loadCheckpointParameters(out + "/" + step), step)
        }
        let rows = try readMetrics(out + "/metrics.csv")
        XCTAssertTrue(rows.contains { $0["loss"] == "nan" }, "the skipped steps are logged as nan")

        let out2 = corpus.root + "/run-fail"
        var failArgs = args
        failArgs[failArgs.firstIndex(of: "--output")! + 1] = out2
        let r2 = try MPI.run(ranks: 2, failArgs + ["--fail-on-non-finite"], log: out2 + "-log", timeout: 120)
        XCTAssertNotEqual(r2.status, 0)
        XCTAssertTrue(r2.stderr.contains("1 in a row, stopping the run"), r2.stderr)
        XCTAssertFalse(r2.stderr.contains("update skipped"), r2.stderr)
    }

    /// An unwritable output directory ends the whole job with a message naming the path and the rank.
    func testUnwritableOutputEndsTheJob() throws {
        let corpus = try TinyCorpus(trainingShards: [32], testShards: [])
        let r = try MPI.run(ranks: 2, baseArguments(corpus, output: "/proc/bert-pretrain-cannot-write") + ["--batch-size", "4"],
                            log: corpus.root + "/unwritable-log", timeout: 60)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("[rank 0/2] /proc/bert-pretrain-cannot-write: cannot create the output directory"), r.stderr)
    }
}

/// Loads a checkpoint directory written by bert-pretrain (its config.json, every tensor); throws on
/// anything incomplete or non-finite.
func loadCheckpointParameters(_ dir: String) throws {
    let config = try BertConfig.load(path: dir + "/config.json")
    let layout = ParameterLayout(config: config)
    var parameters = [Float](repeating: 0, count: layout.count)
    let report = try parameters.withUnsafeMutableBufferPointer {
        try Checkpoint.load(from: dir, into: $0, layout: layout, seed: 0, logger: nil)
    }
    guard report.warnings.isEmpty else { throw TrainingTestError("\(dir): \(report.warnings)") }
}
