// The bench's pieces against independent expectations: the FLOP formula by hand, the synthetic batch's
// shape rules, the JSON keys the job scripts read, and a real (tiny) timed run.

import BERT
import Foundation
import XCTest
@testable import Benchmark

final class BenchmarkTests: XCTestCase {
    func testFLOPsOfBertTinyByHand() throws {
        // L 2, H 128, I 512, V 30522, T 128, P 20, B 32:
        // per token 4·(4·128² + 2·128·512) + 8·128·128 + 2·128² + 2·128·30522·20/128 = 2,171,152
        // per sequence 2·(128² + 256) = 33,280; step 3·(32·128·2,171,152 + 32·33,280) = 26,682,310,656.
        let config = try BertConfig.named("bert-tiny")
        XCTAssertEqual(StepFLOPs.perStep(config: config, batch: 32, seq: 128, predictions: 20), 26_682_310_656)
        // Without predictions the vocabulary term vanishes: 3·32·(128·950,272 + 33,280).
        XCTAssertEqual(StepFLOPs.perStep(config: config, batch: 32, seq: 128, predictions: 0), 3 * 32 * (128 * 950_272 + 33_280))
    }

    func testSyntheticBatchFollowsThePeersShape() {
        let B = 6, T = 40, P = 7, V = 5000
        let batch = PretrainingBatch(maxBatch: B, maxSeqLength: T, maxPredictions: P)
        SyntheticBatch.fill(batch, batchSize: B, seqLength: T, predictions: P, vocabSize: V, seed: 9)
        for b in 0..<B {
            let row = (0..<T).map { batch.inputIds[b * T + $0] }
            XCTAssertEqual(row.first, 101)
            XCTAssertEqual(row.last, 102)
            XCTAssertEqual(row.filter { $0 == 102 }.count, 2, "two [SEP]")
            let firstSep = row.firstIndex(of: 102)!
            XCTAssertTrue((T / 4)..<(T / 4 + T / 2) ~= firstSep)
            for t in 0..<T {
                XCTAssertEqual(batch.segmentIds[b * T + t], t > firstSep ? 1 : 0)
                XCTAssertEqual(batch.inputMask[b * T + t], 1)
            }
            let positions = (0..<P).map { Int(batch.maskedPositions[b * P + $0]) }
            XCTAssertEqual(positions, positions.sorted())
            XCTAssertEqual(Set(positions).count, P, "distinct positions")
            for (k, p) in positions.enumerated() {
                XCTAssertEqual(row[p], 103, "[MASK] at a chosen position")
                XCTAssertTrue((1000..<Int32(V)) ~= batch.maskedLabels[b * P + k], "label is the original id")
            }
            XCTAssertEqual(row.filter { $0 == 103 }.count, P)
            XCTAssertTrue([0, 1].contains(batch.nextSentenceLabels[b]))
        }
        let pairs = SyntheticBatch.pairs(from: batch)
        XCTAssertEqual(pairs.labels[3], batch.nextSentenceLabels[3])
        XCTAssertEqual(pairs.inputIds[T + 5], batch.inputIds[T + 5])
    }

    func testATimedRunAndItsJSONReport() throws {
        var config = try BertConfig.named("bert-tiny")
        config.numHiddenLayers = 1
        var settings = StepBenchmarkSettings(config: config)
        settings.batchSize = 2; settings.seqLength = 16; settings.predictions = 3; settings.steps = 3; settings.warmup = 1
        for task in BenchTask.allCases {
            settings.task = task
            let timings = try StepBenchmark.run(settings)
            XCTAssertEqual(timings.seconds.count, 3)
            XCTAssertEqual(timings.losses.count, 4)
            XCTAssertTrue(timings.losses.allSatisfy(\.isFinite))
            XCTAssertTrue(timings.seconds.allSatisfy { $0 > 0 })
            let report = StepReport(configName: "bert-tiny \"one layer\"", settings: settings, threads: 1, timings: timings,
                                    sgemmGflops: 10, peakRssMb: 100)
            let json = try report.json()
            // The keys the job scripts read (bench-vs-pytorch.sh parses the object; bench-scaling.sh greps seq_per_s).
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            for key in ["config", "threads", "seq_per_s", "gflops", "sgemm_gflops", "peak_rss_mb", "task"] {
                XCTAssertNotNil(object[key], key)
            }
            XCTAssertEqual(object["config"] as? String, "bert-tiny \"one layer\"", "the name is escaped")
            XCTAssertEqual(object["seq_per_s"] as? Double ?? 0, 2 / timings.median, accuracy: 1e-9)
            XCTAssertNotNil(json.range(of: #""seq_per_s":[0-9.e+-]+"#, options: .regularExpression))
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            XCTAssertEqual(try decoder.decode(StepReport.self, from: Data(json.utf8)), report)
        }
    }
}
