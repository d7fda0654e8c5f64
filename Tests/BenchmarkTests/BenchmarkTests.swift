// The bench's pieces against independent expectations: the FLOP formula by hand, the synthetic batch's
// shape rules, the JSON keys the job scripts read, a real (tiny) timed run, and `--data`'s batches
// against the rows written to tiny shards (file order, cycling, the padding share counted by hand).
// Nothing here depends on how long a step takes.

import BERT
import CorpusBuild
import Foundation
import PretrainingData
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
            // Synthetic: no data (the key is there, null), no padding, one batch, the settings' T and P.
            XCTAssertTrue(object["data"] is NSNull, "data is null, not left out: \(json)")
            XCTAssertEqual(object["padded"] as? Bool, false)
            XCTAssertEqual(object["padding_share"] as? Double, 0)
            XCTAssertEqual(object["distinct_batches"] as? Int, 1)
            XCTAssertEqual(object["seq_length"] as? Int, 16)
            XCTAssertEqual(object["real_tokens_per_s"] as? Double ?? 0, 2 * 16 / timings.median, accuracy: 1e-6)
        }
    }

    // MARK: bench --data

    /// Tiny shards in a temporary folder: two training shards (5 and 4 instances, so 3 batches of 3) and a
    /// test shard that must not be read. Instance i of the set has length `lengths[i]` and ids that name it.
    final class TinyShards {
        static let T = 16, P = 3
        static let lengths = [5, 16, 9, 7, 12, 6, 16, 8, 10]
        let folder = NSTemporaryDirectory() + "bench-data-\(UUID().uuidString)"
        let instances: [PretrainingInstance]

        init() throws {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            instances = TinyShards.lengths.enumerated().map { TinyShards.instance($0.offset, length: $0.element) }
            try write("part-00001-training.hdf5", instances[5...])   // written first: the order comes from the names
            try write("part-00000-training.hdf5", instances[..<5])
            try write("part-00000-test.hdf5", [TinyShards.instance(99, length: 4)])
        }

        deinit { try? FileManager.default.removeItem(atPath: folder) }

        private func write(_ name: String, _ rows: some Collection<PretrainingInstance>) throws {
            let writer = try ShardWriter(path: folder + "/" + name, maxSeqLength: TinyShards.T, maxPredictions: TinyShards.P, attributes: [:])
            for x in rows { try writer.append(x) }
            try writer.close()
        }

        /// [CLS] A [SEP] B [SEP] with ids 2000 + 20·i + t; position 1 masked (and 3 when long enough).
        static func instance(_ i: Int, length n: Int) -> PretrainingInstance {
            let sep = n / 2
            var ids = (0..<n).map { Int32(2000 + 20 * i + $0) }
            ids[0] = 101; ids[sep] = 102; ids[n - 1] = 102
            let positions: [Int32] = n > 6 ? [1, 3] : [1]
            let original = positions.map { ids[Int($0)] }
            for p in positions { ids[Int(p)] = 103 }
            return PretrainingInstance(inputIds: ids, segmentIds: (0..<n).map { $0 > sep ? 1 : 0 }, maskedPositions: positions,
                                       maskedIds: original, nextSentenceLabel: Int32(i % 2))
        }
    }

    func testShardBatchesAreConsecutiveInFileOrderAndCycle() throws {
        let shards = try TinyShards()
        let B = 3, T = TinyShards.T, P = TinyShards.P
        let batches = try ShardBatches(data: shards.folder, batchSize: B, steps: 7, maxPositions: 512)
        XCTAssertEqual(batches.paths.map { ($0 as NSString).lastPathComponent }, ["part-00000-training.hdf5", "part-00001-training.hdf5"])
        XCTAssertEqual(batches.instanceCount, 9)
        XCTAssertEqual(batches.seqLength, T)
        XCTAssertEqual(batches.predictions, P)
        XCTAssertEqual(batches.batches.count, 3, "min(7 steps, 9 / 3 full batches)")
        for step in 0..<7 {
            let batch = batches.batch(step: step)
            XCTAssertTrue(batch === batches.batches[step % 3], "step \(step) computes batch \(step % 3)")
            XCTAssertEqual(batch.batchSize, B)
            for row in 0..<B {
                let i = (step % 3) * B + row   // instances k·B ..< (k+1)·B
                let x = shards.instances[i]
                XCTAssertEqual(batch.instances[row], i)
                for t in 0..<T {
                    let real = t < x.inputIds.count
                    XCTAssertEqual(batch.inputIds[row * T + t], real ? x.inputIds[t] : 0, "step \(step) row \(row) position \(t)")
                    XCTAssertEqual(batch.segmentIds[row * T + t], real ? x.segmentIds[t] : 0)
                    XCTAssertEqual(batch.inputMask[row * T + t], real ? 1 : 0)
                }
                for p in 0..<P {   // the loader's labels: the original id, -1 in empty slots
                    let used = p < x.maskedPositions.count
                    XCTAssertEqual(batch.maskedPositions[row * P + p], used ? x.maskedPositions[p] : 0)
                    XCTAssertEqual(batch.maskedLabels[row * P + p], used ? x.maskedIds[p] : -1)
                }
                XCTAssertEqual(batch.nextSentenceLabels[row], x.nextSentenceLabel)
            }
        }
        // Padding by hand: batch k pads Σ (T − length) over instances 3k ..< 3k + 3.
        let padded = (0..<3).map { k in (0..<B).reduce(0) { $0 + T - TinyShards.lengths[k * B + $1] } }
        XCTAssertEqual(padded, [11 + 0 + 7, 9 + 4 + 10, 0 + 8 + 6])
        for k in 0..<3 { XCTAssertEqual(ShardBatches.paddedPositions(batches.batches[k]), padded[k]) }
        // Steps 2 ..< 7 compute batches 2, 0, 1, 2, 0.
        XCTAssertEqual(batches.paddingShare(steps: 2..<7), Double(padded[2] + padded[0] + padded[1] + padded[2] + padded[0]) / Double(5 * B * T))
    }

    func testFewerStepsThanBatchesReadOnlyThoseAndOneFileStandsForItself() throws {
        let shards = try TinyShards()
        let batches = try ShardBatches(data: shards.folder + "/part-00001-training.hdf5", batchSize: 2, steps: 1, maxPositions: 512)
        XCTAssertEqual(batches.paths.count, 1)
        XCTAssertEqual(batches.instanceCount, 4)
        XCTAssertEqual(batches.batches.count, 1)
        XCTAssertEqual(batches.batches[0].inputIds[0], 101)
        XCTAssertEqual(batches.batches[0].inputIds[1], shards.instances[5].inputIds[1], "the file's first instance")
        XCTAssertEqual(batches.batches[0].inputIds[TinyShards.T + 2], shards.instances[6].inputIds[2])
    }

    func testShardDataErrorsNameThePath() throws {
        let shards = try TinyShards()
        XCTAssertThrowsError(try ShardBatches(data: shards.folder, batchSize: 10, steps: 1, maxPositions: 512)) { error in
            XCTAssertTrue("\(error)".contains("9 instances") && "\(error)".contains("batch of 10"), "\(error)")
        }
        XCTAssertThrowsError(try ShardBatches(data: shards.folder + "/missing", batchSize: 1, steps: 1, maxPositions: 512)) { error in
            XCTAssertTrue("\(error)".contains("missing"), "\(error)")
        }
        let empty = shards.folder + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        XCTAssertThrowsError(try ShardBatches(data: empty, batchSize: 1, steps: 1, maxPositions: 512)) { error in
            XCTAssertTrue("\(error)".contains("no shard files"), "\(error)")
        }
        XCTAssertThrowsError(try ShardBatches(data: shards.folder, batchSize: 1, steps: 1, maxPositions: 8), "T 16 > 8 positions")
    }

    func testATimedRunOnShardDataReportsItsPaddingAndTheShardsShape() throws {
        let shards = try TinyShards()
        var config = try BertConfig.named("bert-tiny")
        config.numHiddenLayers = 1
        config.vocabSize = 4000   // the shards' ids are below 2200; a small decoder keeps the test quick
        var settings = StepBenchmarkSettings(config: config)
        settings.batchSize = 3; settings.seqLength = 128; settings.predictions = 20   // not used with data
        settings.warmup = 2; settings.steps = 3; settings.data = shards.folder
        // Timed steps 2, 3, 4 compute batches 2, 0, 1: every row once.
        let hand = Double(TinyShards.lengths.reduce(0) { $0 + TinyShards.T - $1 }) / Double(9 * TinyShards.T)
        for task in BenchTask.allCases {
            for padded in [false, true] {
                settings.task = task; settings.padded = padded
                let timings = try StepBenchmark.run(settings)
                XCTAssertEqual(timings.seqLength, TinyShards.T)
                XCTAssertEqual(timings.predictions, TinyShards.P)
                XCTAssertEqual(timings.distinctBatches, 3)
                XCTAssertEqual(timings.paddingShare, hand, accuracy: 1e-12)
                XCTAssertEqual(timings.seconds.count, 3)
                XCTAssertEqual(timings.losses.count, 5)
                XCTAssertTrue(timings.losses.allSatisfy(\.isFinite))
                let report = StepReport(configName: "bert-tiny", settings: settings, threads: 1, timings: timings, sgemmGflops: 10, peakRssMb: 1)
                let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try report.json().utf8)) as? [String: Any])
                XCTAssertEqual(object["data"] as? String, shards.folder)
                XCTAssertEqual(object["padded"] as? Bool, padded)
                XCTAssertEqual(object["padding_share"] as? Double ?? -1, hand, accuracy: 1e-12)
                XCTAssertEqual(object["seq_length"] as? Int, 16)
                XCTAssertEqual(object["predictions"] as? Int, 3)
                XCTAssertEqual(object["real_tokens_per_s"] as? Double ?? 0, 3 / timings.median * 16 * (1 - hand), accuracy: 1e-6)
                // FLOPs: the padded count, the shards' T and P (none for classification).
                XCTAssertEqual(report.flopsPerStep, StepFLOPs.perStep(config: config, batch: 3, seq: 16, predictions: task == .pretraining ? 3 : 0))
                XCTAssertTrue(report.text.contains("padding"), report.text)
            }
        }
    }
}
