// `bert-corpus build` end to end, as users run it: the built executable under real `mpirun`.
// Needs the products built first (`swift build`); Tests/run-tests.sh does that.

@testable import CorpusBuild
import Foundation
@testable import PretrainingData
@testable import ShardFormat
import XCTest

final class BuildTests: XCTestCase {
    static var executable: String {
        // The test bundle sits in .build/<configuration>/ (or is that folder, on Linux), next to the executables.
        let bundle = Bundle(for: BuildTests.self).bundleURL
        for folder in [bundle, bundle.deletingLastPathComponent()] {
            let candidate = folder.appendingPathComponent("bert-corpus").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return bundle.deletingLastPathComponent().appendingPathComponent("bert-corpus").path
    }

    static var fixtures: String { Bundle.module.url(forResource: "Fixtures/reference", withExtension: nil)!.path }

    struct Run { let status: Int32; let stderr: String }

    /// Runs `bert-corpus build ARGS` under `mpirun -np ranks` (ranks 0: without mpirun).
    func build(ranks: Int, _ arguments: [String]) throws -> Run {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw BuildError("\(Self.executable) not found: build the products first (swift build)")
        }
        let process = Process()
        if ranks == 0 {
            process.executableURL = URL(fileURLWithPath: Self.executable)
            process.arguments = ["build"] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["mpirun", "--oversubscribe", "-np", String(ranks), Self.executable, "build"] + arguments
        }
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        environment["OPENBLAS_NUM_THREADS"] = "1"
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stderr: String(decoding: data, as: UTF8.self))
    }

    func temporaryFolder() throws -> String {
        let path = NSTemporaryDirectory() + "bert-corpus-build-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func shards(in folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".hdf5") }.sorted()
    }

    func instances(_ path: String) throws -> [PretrainingInstance] {
        let reader = try ShardReader(path: path)
        return try (0..<reader.count).map { try reader.instance($0) }
    }

    /// The CLI in reference mode, through the real tokenizer and shard writer, equals Google's script.
    func testReferenceModeReproducesGoogleScript() throws {
        let out = try temporaryFolder() + "/shards"
        let f = Self.fixtures
        let run = try build(ranks: 0, ["--format", "google", "--input", f + "/corpus.txt", "--vocab", f + "/vocab.txt", "--output", out,
                                       "--max-seq-length", "128", "--max-predictions-per-seq", "20", "--masked-lm-prob", "0.15",
                                       "--dupe-factor", "3", "--short-seq-prob", "0.3", "--random-seed", "12345",
                                       "--shards", "1", "--reference-rng"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(try shards(in: out), ["part-00000-training.hdf5"])
        let ours = try instances(out + "/part-00000-training.hdf5")
        let google = try ReferenceTests.records("plain-instances.jsonl")
        XCTAssertEqual(ours.count, google.count)
        for (i, (o, g)) in zip(ours, google).enumerated() where o != g {
            XCTFail("instance \(i) differs from Google's\n ours:   \(o)\n google: \(g)")
            break
        }
        // The folder also holds the vocabulary and a manifest.
        XCTAssertEqual(FileManager.default.contents(atPath: out + "/vocab.txt"), FileManager.default.contents(atPath: f + "/vocab.txt"))
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json"))) as! [String: Any]
        XCTAssertEqual(manifest["mode"] as? String, "reference-rng")
        XCTAssertEqual((manifest["counts"] as? [String: Any])?["training_instances"] as? Int, 233)
    }

    /// Default mode: -np 1, 2, 3 and a second -np 2 run give the same shards.
    func testSameShardsForAnyNumberOfRanks() throws {
        let root = try temporaryFolder()
        let f = Self.fixtures
        var outputs: [String] = []
        for (k, ranks) in [1, 2, 3, 2].enumerated() {
            let out = root + "/run\(k)-np\(ranks)"
            let run = try build(ranks: ranks, ["--format", "google", "--input", f + "/corpus.txt", "--vocab", f + "/vocab.txt", "--output", out,
                                               "--dupe-factor", "3", "--shards", "3", "--holdout-fraction", "0.2",
                                               "--whole-word-mask"])
            XCTAssertEqual(run.status, 0, "-np \(ranks): \(run.stderr)")
            outputs.append(out)
        }
        let names = try shards(in: outputs[0])
        XCTAssertEqual(names, ["part-00000-test.hdf5", "part-00000-training.hdf5", "part-00001-training.hdf5", "part-00002-training.hdf5"])
        var total = 0
        for name in names {
            let first = try instances(outputs[0] + "/" + name)
            let attributes = try ShardReader(path: outputs[0] + "/" + name).attributes
            total += first.count
            XCTAssertGreaterThan(first.count, 0, name)
            for out in outputs.dropFirst() {
                XCTAssertEqual(try shards(in: out), names)
                XCTAssertTrue(try instances(out + "/" + name) == first, "\(out)/\(name) differs from \(outputs[0])/\(name)")
                XCTAssertEqual(try ShardReader(path: out + "/" + name).attributes, attributes, "\(out)/\(name) attributes")
            }
        }
        // Every instance landed in exactly one shard: the total equals one rank's in-memory build.
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: outputs[2] + "/manifest.json"))) as! [String: Any]
        let counts = manifest["counts"] as! [String: Any]
        XCTAssertEqual((counts["training_instances"] as! Int) + (counts["test_instances"] as! Int), total)
        XCTAssertEqual(counts["documents"] as? Int, 10)
        XCTAssertFalse(FileManager.default.fileExists(atPath: outputs[2] + "/.bert-corpus-work"), "work directory removed")
        assertBytesIdentical(outputs, names)
    }

    /// Same content must also mean the same bytes (the writer turns HDF5's time stamps off and
    /// closes its objects in a fixed order).
    func assertBytesIdentical(_ outputs: [String], _ names: [String]) {
        for name in names {
            let first = FileManager.default.contents(atPath: outputs[0] + "/" + name)
            XCTAssertNotNil(first)
            for out in outputs.dropFirst() {
                XCTAssertTrue(FileManager.default.contents(atPath: out + "/" + name) == first, "\(out)/\(name): bytes differ from \(outputs[0])/\(name)")
            }
        }
    }

    /// Other formats go through the document reader: JSON lines, one document per line.
    func testJSONLinesInputSameOnOneAndTwoRanks() throws {
        let root = try temporaryFolder()
        let f = Self.fixtures
        // The fixture's chapters as JSON lines (a verse per line of the text field).
        let chapters = try String(contentsOfFile: f + "/corpus.txt", encoding: .utf8).components(separatedBy: "\n\n")
        let lines = try chapters.map { String(decoding: try JSONSerialization.data(withJSONObject: ["text": $0]), as: UTF8.self) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: root + "/corpus.jsonl", atomically: true, encoding: .utf8)
        var outputs: [String] = []
        for ranks in [1, 2] {
            let out = root + "/np\(ranks)"
            let run = try build(ranks: ranks, ["--input", root + "/corpus.jsonl", "--vocab", f + "/vocab.txt", "--output", out,
                                               "--dupe-factor", "2", "--shards", "2"])
            XCTAssertEqual(run.status, 0, run.stderr)
            outputs.append(out)
        }
        let names = try shards(in: outputs[0])
        XCTAssertEqual(names, ["part-00000-training.hdf5", "part-00001-training.hdf5"])
        XCTAssertGreaterThan(try instances(outputs[0] + "/" + names[0]).count, 10)
        assertBytesIdentical(outputs, names)
    }

    /// A Google-format file whose lines often hold two sentences (a verse per line) is still read as
    /// Google's format by --format auto (from its blank-line-separated blocks), so its chapters stay
    /// documents and about half the next sentences are random. Read as one prose document, the same
    /// text is refused with the fix in the message, and one huge document gets a warning.
    func testAutoFormatKeepsTheDocumentsOfAFileWithSeveralSentencesPerLine() throws {
        let root = try temporaryFolder(), f = Self.fixtures
        let words = ["the", "man", "went", "to", "store", "and", "he", "bought", "a", "gallon", "of", "milk", "she", "said"]
        var rng = SystemRandomNumberGenerator()
        func sentence() -> String {
            let n = Int.random(in: 4...9, using: &rng)
            let s = (0..<n).map { _ in words.randomElement(using: &rng)! }.joined(separator: " ")
            return s.prefix(1).uppercased() + s.dropFirst() + "."
        }
        // 40 chapters of 12 lines, 60 % of them two sentences.
        let chapters = (0..<40).map { _ in
            (0..<12).map { i in i % 5 < 3 ? sentence() + " " + sentence() : sentence() }.joined(separator: "\n")
        }
        try (chapters.joined(separator: "\n\n") + "\n").write(toFile: root + "/book.txt", atomically: true, encoding: .utf8)
        var run = try build(ranks: 0, ["--input", root + "/book.txt", "--vocab", f + "/vocab.txt", "--output", root + "/auto", "--dupe-factor", "2"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("format google (40 blank-line-separated blocks"), run.stderr)
        let instances = try shards(in: root + "/auto").flatMap { try self.instances(root + "/auto/" + $0) }
        let randomShare = Double(instances.filter { $0.nextSentenceLabel == 1 }.count) / Double(instances.count)
        XCTAssertGreaterThan(randomShare, 0.35, "\(instances.count) instances")
        XCTAssertLessThan(randomShare, 0.75)
        XCTAssertFalse(run.stderr.contains("warning"), run.stderr)

        // The same text as prose: one document, refused on 1 and 2 ranks with the way out.
        for ranks in [0, 2] {
            run = try build(ranks: ranks, ["--format", "text", "--input", root + "/book.txt", "--vocab", f + "/vocab.txt", "--output", root + "/prose\(ranks)"])
            XCTAssertNotEqual(run.status, 0, run.stderr)
            XCTAssertTrue(run.stderr.contains("the corpus has only 1 document") && run.stderr.contains("--format google")
                          && run.stderr.contains("--doc-separator"), run.stderr)
            XCTAssertEqual(try shards(in: root + "/prose\(ranks)"), [])
        }

        // Two documents, one holding nearly all the text: built, with a warning.
        let huge = chapters.joined(separator: "\n") + "\n\n" + sentence() + "\n" + sentence() + "\n"
        try huge.write(toFile: root + "/lopsided.txt", atomically: true, encoding: .utf8)
        run = try build(ranks: 0, ["--format", "google", "--input", root + "/lopsided.txt", "--vocab", f + "/vocab.txt", "--output", root + "/lopsided"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("warning: one document holds"), run.stderr)
    }

    func testErrorsEndTheJobWithAMessageAndNoShard() throws {
        let root = try temporaryFolder()
        let f = Self.fixtures
        // A vocabulary without the special tokens.
        try "hello\nworld\n".write(toFile: root + "/bad-vocab.txt", atomically: true, encoding: .utf8)
        var run = try build(ranks: 2, ["--format", "google", "--input", f + "/corpus.txt", "--vocab", root + "/bad-vocab.txt", "--output", root + "/a"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("bad-vocab.txt"), run.stderr)
        // Input with no token at all.
        try "\n\n   \n".write(toFile: root + "/empty.txt", atomically: true, encoding: .utf8)
        run = try build(ranks: 2, ["--input", root + "/empty.txt", "--vocab", f + "/vocab.txt", "--output", root + "/b"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("no document with any token"), run.stderr)
        XCTAssertEqual(try shards(in: root + "/b"), [])
        // An output folder that cannot be made (its parent is a file).
        run = try build(ranks: 2, ["--format", "google", "--input", f + "/corpus.txt", "--vocab", f + "/vocab.txt", "--output", root + "/empty.txt/out"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("cannot prepare the output folder"), run.stderr)
        // Reference mode is one process.
        run = try build(ranks: 2, ["--format", "google", "--input", f + "/corpus.txt", "--vocab", f + "/vocab.txt", "--output", root + "/c", "--reference-rng"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("one rank"), run.stderr)
    }

    /// A full disk at any point of the build (token store, spill files, shards): the job ends with
    /// the system's reason naming the file, and the output folder has no shard under a shard's name
    /// and no manifest (shards are named only when every rank has finished). The disk is a small
    /// tmpfs in a private mount namespace (root). The build's peak disk use is measured first, then
    /// disks of 64 KB and of 30–98% of that peak reach every stage; twice the peak succeeds.
    func testFullDiskEndsTheJobAndLeavesNoShard() throws {
        guard shell("unshare -m true") == 0 else { throw XCTSkip("unshare -m not permitted here: cannot mount a small tmpfs") }
        let root = try temporaryFolder()
        let f = Self.fixtures
        let corpus = try String(contentsOfFile: f + "/corpus.txt", encoding: .utf8)
        try Array(repeating: corpus, count: 10).joined(separator: "\n").write(toFile: root + "/corpus.txt", atomically: true, encoding: .utf8)
        let mount = root + "/disk"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        func build(ranks: Int) -> String {
            """
            env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 \
              mpirun --oversubscribe -np \(ranks) \(Self.executable) build --format google --input \(root)/corpus.txt \
              --vocab \(f)/vocab.txt --output \(mount)/out --dupe-factor 10 2> \(root)/stderr
            """
        }
        // Peak use on a roomy disk, sampled every 5 ms.
        let measure = """
            mount -t tmpfs -o size=65536k tmpfs \(mount) || exit 99
            ( \(build(ranks: 1)) ) & job=$!
            peak=0
            while kill -0 $job 2>/dev/null; do
              used=$(df -k --output=used \(mount) | tail -1); [ "$used" -gt "$peak" ] && peak=$used; sleep 0.005
            done
            wait $job || exit 98
            echo $peak > \(root)/peak
            """
        XCTAssertEqual(shell("unshare -m bash -c '\(measure)'"), 0, (try? String(contentsOfFile: root + "/stderr", encoding: .utf8)) ?? "")
        let peak = Int(try String(contentsOfFile: root + "/peak", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        XCTAssertGreaterThan(peak, 256, "peak disk use in KB")
        let sizes = [(1, 64)] + [0.3, 0.5, 0.7, 0.8, 0.88, 0.94, 0.98].enumerated().map { (1 + $0.offset % 2, Int(Double(peak) * $0.element)) }
            + [(2, 2 * peak)]
        var stages = Set<String>()
        var succeeded = false
        for (ranks, kilobytes) in sizes {
            let listing = root + "/listing-\(kilobytes)"
            let command = """
                mount -t tmpfs -o size=\(kilobytes)k tmpfs \(mount) || exit 99
                \(build(ranks: ranks))
                status=$?
                ls -A \(mount)/out > \(listing)
                exit $status
                """
            let status = shell("unshare -m bash -c '\(command)'")
            XCTAssertNotEqual(status, 99, "mount failed")
            let names = try String(contentsOfFile: listing, encoding: .utf8).split(separator: "\n").map(String.init)
            let stderr = try String(contentsOfFile: root + "/stderr", encoding: .utf8)
            if status == 0 {
                XCTAssertEqual(names.filter { $0.hasPrefix("part-") }.count, 8, "\(kilobytes) KB")
                XCTAssertTrue(names.contains("manifest.json"))
                succeeded = succeeded || kilobytes == 2 * peak
                continue
            }
            XCTAssertTrue(stderr.contains("No space left on device"), "\(kilobytes) KB: \(stderr)")
            XCTAssertEqual(names.filter { $0.hasPrefix("part-") || $0 == "manifest.json" }, [], "\(kilobytes) KB, \(ranks) rank(s): \(names)")
            if ranks == 1 {
                // The failing rank deletes its temporaries and work files; nothing else ran.
                XCTAssertEqual(names, [], "\(kilobytes) KB: \(names)")
            }
            for (stage, file) in [("token store", "blocks-"), ("spill", "instances-"), ("shards", ".part-")] where stderr.contains(file) {
                stages.insert(stage)
            }
        }
        XCTAssertTrue(succeeded, "twice the peak holds the build")
        XCTAssertEqual(stages, ["token store", "spill", "shards"], "the sweep reaches every stage (peak \(peak) KB)")
    }

    /// Exit status of `bash -c command`.
    func shell(_ command: String) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", command]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    func testRerunStartsOver() throws {
        let out = try temporaryFolder() + "/shards"
        let f = Self.fixtures
        var run = try build(ranks: 0, ["--format", "google", "--input", f + "/corpus.txt", "--vocab", f + "/vocab.txt", "--output", out, "--dupe-factor", "1", "--shards", "4"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(try shards(in: out).count, 4)
        run = try build(ranks: 0, ["--format", "google", "--input", f + "/corpus.txt", "--vocab", f + "/vocab.txt", "--output", out, "--dupe-factor", "1", "--shards", "2"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(try shards(in: out), ["part-00000-training.hdf5", "part-00001-training.hdf5"], "old shards are removed")
    }
}
