import Foundation
import ShardFormat
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import Training

/// metrics.csv, loss.svg, checkpoint directory management and the trainer-state format.
final class OutputFilesTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "training-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    static func row(_ split: String, _ step: Int, loss: Double) -> MetricsRow {
        MetricsRow(split: split, step: step, epoch: 1 + step / 100, samples: step * 64, learningRate: 1e-4 * Double(step) / 300,
                   loss: loss, mlmLoss: loss * 0.9, nspLoss: loss * 0.1, mlmAccuracy: min(0.9, Double(step) / 400),
                   nspAccuracy: min(0.95, 0.5 + Double(step) / 800), gradNorm: 1.0 / Double(step + 1),
                   sequencesPerSecond: 123.456, allReduceMilliseconds: 1.5)
    }

    func testMetricsRowsRoundTripAndRestore() throws {
        let path = dir + "/metrics.csv"
        let log = try MetricsLog(path: path)
        let rows = (1...5).map { Self.row("train", $0 * 10, loss: 10.0 / Double($0) + 1e-7) } + [Self.row("eval", 50, loss: 2.5)]
        for r in rows { try log.append(r) }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(text.hasPrefix(MetricsRow.header + "\n"))
        XCTAssertEqual(text.split(separator: "\n").count, 7)
        let back = try MetricsLog.read(path: path)
        XCTAssertEqual(back.count, rows.count)
        for (a, b) in zip(rows, back) {
            XCTAssertEqual(a.split, b.split); XCTAssertEqual(a.step, b.step); XCTAssertEqual(a.samples, b.samples)
            XCTAssertEqual(a.loss, b.loss, accuracy: abs(a.loss) * 1e-8, "loss is written with 9 significant digits")
            XCTAssertEqual(a.mlmAccuracy, b.mlmAccuracy, accuracy: 1e-8)
        }
        // Restoring a checkpoint's copy drops the rows logged after it.
        let snapshot = ([MetricsRow.header] + rows.prefix(2).map(\.csvLine)).joined(separator: "\n") + "\n"
        let reopened = try MetricsLog(path: path)
        XCTAssertEqual(reopened.rows.count, 6)
        try reopened.restore(text: snapshot)
        XCTAssertEqual(try MetricsLog.read(path: path).count, 2)
        XCTAssertEqual(reopened.text, snapshot)
        // A fresh run starts a new file.
        XCTAssertEqual(try MetricsLog(path: path, fresh: true).rows.count, 0)
        XCTAssertEqual(try MetricsLog.read(path: path).count, 0)
    }

    func testMetricsReadRejectsBadLinesNamingThem() throws {
        let path = dir + "/bad.csv"
        try (MetricsRow.header + "\ntrain,1,1,8,0.1,2,1,1,0.1,0.5,1,10,1\ntrain,2,1\n").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try MetricsLog.read(path: path)) { error in
            XCTAssertTrue("\(error)".contains("line 3"), "\(error)")
        }
    }

    func testLossPlotIsWellFormedSVGWithBothPanels() throws {
        var rows = (1...30).map { Self.row("train", $0 * 10, loss: 11 * exp(-Double($0) / 10) + 1) }
        rows += [Self.row("eval", 100, loss: 5.1), Self.row("eval", 200, loss: 3.2), Self.row("eval", 300, loss: 2.4)]
        let svg = LossPlot.svg(rows: rows, title: "run <test> & co")
        let checker = SVGChecker()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = checker
        XCTAssertTrue(parser.parse(), "loss.svg must parse as XML: \(parser.parserError.map { "\($0)" } ?? "")")
        XCTAssertEqual(checker.elements.first, "svg")
        XCTAssertEqual(checker.count("polyline"), 7, "3 loss curves + 4 accuracy curves")
        for label in ["optimizer step", "loss (cross-entropy)", "accuracy", "train loss", "held-out loss",
                      "train MLM accuracy", "held-out NSP accuracy", "run <test> & co"] {
            XCTAssertTrue(checker.texts.contains(label), "missing text \"\(label)\" in \(checker.texts)")
        }
        // Kept for looking at by hand (render with rsvg-convert).
        try svg.write(toFile: NSTemporaryDirectory() + "training-tests-loss.svg", atomically: true, encoding: .utf8)
        // Empty and single-row inputs still give valid documents.
        for few in [[], [Self.row("train", 1, loss: 3)]] {
            let p = XMLParser(data: Data(LossPlot.svg(rows: few, title: "t").utf8))
            XCTAssertTrue(p.parse())
        }
    }

    /// `bert-pretrain compare`: two runs' metrics.csv (a pretraining one, and a fine-tuning one whose task
    /// columns are read from its header) in one well-formed SVG, a train line and held-out points per run.
    func testComparisonOfRunsReadsAnyTaskAndDrawsEachRun() throws {
        let pretraining = dir + "/pretraining.csv", fineTuning = dir + "/finetuning.csv"
        let rows = (1...5).map { Self.row("train", $0, loss: 3 - 0.1 * Double($0)) } + [Self.row("eval", 5, loss: 2.6)]
        try (([MetricsRow.header] + rows.map(\.csvLine)).joined(separator: "\n") + "\n").write(toFile: pretraining, atomically: true, encoding: .utf8)
        try ("split,step,epoch,samples,lr,loss,accuracy,f1,grad_norm,seq_per_s,allreduce_ms\n"
             + "train,10,1,320,2e-05,0.69,0.5,0.4,1.5,30,0\neval,20,1,640,2e-05,0.61,0.7,0.65,nan,nan,nan\n")
            .write(toFile: fineTuning, atomically: true, encoding: .utf8)
        let a = try MetricsLog.readAnyTask(path: pretraining), b = try MetricsLog.readAnyTask(path: fineTuning)
        XCTAssertEqual(a.map(\.loss), rows.map(\.loss))
        XCTAssertEqual(b.map(\.split), ["train", "eval"])
        XCTAssertEqual(b[1].loss, 0.61)
        XCTAssertEqual(b[0].columns, ["accuracy", "f1"])
        let svg = LossPlot.comparison(runs: [("fp32", a), ("bf16", b)], title: "fp32 & bf16")
        let checker = SVGChecker()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = checker
        XCTAssertTrue(parser.parse(), "the comparison must parse as XML")
        XCTAssertEqual(checker.count("polyline"), 4, "a train line and a held-out line per run")
        for label in ["fp32: train loss", "fp32: held-out loss", "bf16: train loss", "bf16: held-out loss", "fp32 & bf16"] {
            XCTAssertTrue(checker.texts.contains(label), "missing text \"\(label)\" in \(checker.texts)")
        }
        try "step,loss\n1,2\n".write(toFile: dir + "/other.csv", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try MetricsLog.readAnyTask(path: dir + "/other.csv")) { XCTAssertTrue("\($0)".contains("line 1"), "\($0)") }
    }

    func testTicksAreRoundAndCoverTheRange() {
        XCTAssertEqual(LossPlot.ticks(0, 10), [0, 2, 4, 6, 8, 10])
        let unit = LossPlot.ticks(0, 1)
        XCTAssertEqual(unit.count, 6, "\(unit)")
        for (t, e) in zip(unit, [0, 0.2, 0.4, 0.6, 0.8, 1.0]) { XCTAssertEqual(t, e, accuracy: 1e-12) }
        XCTAssertEqual(LossPlot.niceCeiling(7.3), 8)
        XCTAssertEqual(LossPlot.niceCeiling(11.2), 15)
    }

    static func state(step: Int) -> TrainerState {
        var o = TrainingOptions()
        o.data = "/data"; o.epochs = 3; o.hiddenDropout = 0; o.seed = UInt64.max - 1
        var w = MetricsWindow(); w.steps = 2; w.mlmLossSum = 12.5; w.mlmCount = 40
        return TrainerState(step: step, epoch: 2, stepInEpoch: 3, samples: step * 16, ranks: 2, optimizerSteps: step,
                            schedule: ScheduleState(peakLearningRate: 1e-4, warmupSteps: 10, totalSteps: 300, kind: .linear),
                            nonFiniteStreak: 1, window: w,
                            vocabSHA256: "ab", options: o)
    }

    func testTrainerStateRoundTrip() throws {
        let s = Self.state(step: 17)
        let back = try TrainerState.decode(json: try s.jsonData())
        XCTAssertEqual(back, s)
        var future = s
        future.format = 99
        XCTAssertThrowsError(try TrainerState.decode(json: try future.jsonData())) { XCTAssertTrue("\($0)".contains("format 99")) }
    }

    /// A format-1 state (before keyed dropout) with every rank's generator state is still read; its
    /// dropout states are surfaced (so a resume can warn), and nothing per rank is written any more.
    func testTrainerStateOfFormatOneIsReadAndDropoutStatesAreNotWritten() throws {
        let s = Self.state(step: 17)
        let json = try s.jsonData()
        var object = try JSONSerialization.jsonObject(with: json) as! [String: Any]
        XCTAssertNil(object["dropoutStates"], "per-rank dropout states must not be written")
        XCTAssertEqual(object["format"] as? Int, 2)
        object["format"] = 1
        object["dropoutStates"] = [[1, 2, 3, 4], [5, 6, 7, 8]]
        let old = try TrainerState.decode(json: try JSONSerialization.data(withJSONObject: object))
        XCTAssertEqual(old.dropoutStates, [[1, 2, 3, 4], [5, 6, 7, 8]])
        var same = old
        same.dropoutStates = nil
        same.format = s.format
        XCTAssertEqual(same, s)
        // Format 1 wrote --eval-data as one path; it reads back as a list of one.
        var options = object["options"] as! [String: Any]
        options["evalData"] = "/data/held-out"
        object["options"] = options
        let withEval = try TrainerState.decode(json: try JSONSerialization.data(withJSONObject: object))
        XCTAssertEqual(withEval.options.evalData, ["/data/held-out"])
    }

    func makeCheckpoint(_ name: String, step: Int?) throws {
        let d = dir + "/" + name
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        if let step { try Self.state(step: step).jsonData().write(to: URL(fileURLWithPath: d + "/" + CheckpointDirectory.stateFile)) }
    }

    func testNewestCompleteCheckpointAndKeepLast() throws {
        XCTAssertNil(CheckpointDirectory.newest(in: dir))
        try makeCheckpoint(CheckpointDirectory.epochName(1), step: 100)
        try makeCheckpoint(CheckpointDirectory.stepName(150), step: 150)
        try makeCheckpoint(CheckpointDirectory.epochName(2), step: 200)
        try makeCheckpoint(CheckpointDirectory.stepName(200), step: 200)
        try makeCheckpoint(CheckpointDirectory.stepName(250), step: nil)          // incomplete: no trainer state
        try makeCheckpoint(".step-0000300.tmp-1-2", step: 300)                    // a temporary directory
        try makeCheckpoint("notes", step: 400)                                    // not ours
        XCTAssertEqual(CheckpointDirectory.stepName(150), "step-0000150")
        XCTAssertEqual(CheckpointDirectory.epochName(2), "epoch-0002")
        let complete = CheckpointDirectory.complete(in: dir).map { ($0.path as NSString).lastPathComponent }
        XCTAssertEqual(complete, ["epoch-0001", "step-0000150", "step-0000200", "epoch-0002"])
        XCTAssertEqual(CheckpointDirectory.newest(in: dir).map { ($0 as NSString).lastPathComponent }, "epoch-0002")
        let removed = try CheckpointDirectory.prune(in: dir, keepLast: 2).map { ($0 as NSString).lastPathComponent }
        XCTAssertEqual(removed, ["epoch-0001", "step-0000150"])
        XCTAssertEqual(CheckpointDirectory.complete(in: dir).count, 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/step-0000250"), "incomplete directories are not pruned")
        XCTAssertEqual(try CheckpointDirectory.prune(in: dir, keepLast: 0), [])
    }

    func testOptionsJSONRoundTrip() throws {
        var o = TrainingOptions()
        o.config = "bert-tiny"; o.schedule = .poly; o.optimizer = .lamb; o.warmupSteps = 7; o.seed = UInt64.max - 1
        XCTAssertEqual(try TrainingOptions.decode(json: try o.jsonData()), o)
    }

    func testShardFilesPickTrainingAndTestByName() throws {
        for name in ["part-00001-training.hdf5", "part-00000-training.hdf5", "part-00000-test.hdf5", "vocab.txt",
                     ".part-00002-training.hdf5.tmp", "notes-training.txt"] {
            XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data()))
        }
        let training = try ShardFiles.list(in: dir, containing: "training").map { ($0 as NSString).lastPathComponent }
        XCTAssertEqual(training, ["part-00000-training.hdf5", "part-00001-training.hdf5"])
        XCTAssertEqual(try ShardFiles.expand([dir]).map { ($0 as NSString).lastPathComponent }, ["part-00000-test.hdf5"])
        XCTAssertThrowsError(try ShardFiles.expand([dir + "/missing"])) { XCTAssertTrue("\($0)".contains("missing")) }
    }

    func testShardFolderWithoutTestShardsMeansAllItsShards() throws {
        for name in ["part-00001-training.hdf5", "part-00000-training.hdf5", "vocab.txt", "manifest.json"] {
            XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data()))
        }
        XCTAssertEqual(try ShardFiles.expand([dir]).map { ($0 as NSString).lastPathComponent },
                       ["part-00000-training.hdf5", "part-00001-training.hdf5"])
    }
}

final class SVGChecker: NSObject, XMLParserDelegate {
    var elements: [String] = []
    var texts: [String] = []
    private var current = ""
    func count(_ name: String) -> Int { elements.filter { $0 == name }.count }
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        elements.append(name); current = ""
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { current += string }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text" { texts.append(current) }
        current = ""
    }
}
