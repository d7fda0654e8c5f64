// run_glue.py's reading rules, one small file per rule, and each bad input's error naming the file,
// the line and the column.

import Foundation
import XCTest
@testable import FineTuning

final class TaskFileTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "finetuning-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Writes `text` to a file named `name` in the test folder; returns its path.
    func file(_ name: String, _ text: String) throws -> String {
        let path = folder + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The error `body` throws; fails when it throws none or another kind.
    func taskError(_ body: () throws -> Any, file: StaticString = #filePath, line: UInt = #line) -> TaskFileError? {
        do {
            _ = try body()
            XCTFail("no error thrown", file: file, line: line)
        } catch let error as TaskFileError {
            return error
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
        return nil
    }

    // MARK: Formats

    func testFormatByExtension() throws {
        XCTAssertEqual(try TaskFileFormat.of(path: "a/train.csv"), .csv)
        XCTAssertEqual(try TaskFileFormat.of(path: "train.TSV"), .tsv)
        XCTAssertEqual(try TaskFileFormat.of(path: "train.jsonl"), .jsonLines)
        XCTAssertEqual(try TaskFileFormat.of(path: "train.json"), .jsonLines)
        XCTAssertEqual(try TaskFileFormat.of(path: "train.csv.gz"), .csv)
        let error = taskError { try TaskFileFormat.of(path: "train.txt") }
        XCTAssertEqual(error?.path, "train.txt")
        XCTAssertTrue(error?.reason.contains(".csv, .tsv, .jsonl or .json") ?? false, error?.description ?? "")
    }

    func testCSVQuotingRFC4180() throws {
        let train = try file("train.csv", "\u{FEFF}sentence,label\r\n"
            + "\"Hello, world\",pos\r\n"
            + "\"She said \"\"hi\"\"\",neg\r\n"
            + "\n"
            + "\"two\nlines\",pos\r\n"
            + "it\"s fine,neg\r\n")
        let data = try TaskData.load(train: train)
        XCTAssertEqual(data.columns, TaskColumns(text: "sentence", textPair: nil, label: "label"))
        XCTAssertEqual(data.train.texts, ["Hello, world", "She said \"hi\"", "two\nlines", "it\"s fine"])
        XCTAssertEqual(data.train.lines, [2, 3, 5, 7])   // blank line 4 skipped; a record's first line
        XCTAssertEqual(data.labels.names, ["neg", "pos"])
        XCTAssertEqual(data.train.labels, .classIds([1, 0, 1, 0]))
    }

    func testTSVHasNoQuoteProcessing() throws {
        // GLUE's TSVs hold unbalanced quotes; each line is one row, quotes kept as written.
        let train = try file("train.tsv", "sentence\tlabel\n\"an unbalanced quote\t1\nplain \"quoted\" words\t0\n\"x\"\t1\n")
        let data = try TaskData.load(train: train)
        XCTAssertEqual(data.train.texts, ["\"an unbalanced quote", "plain \"quoted\" words", "\"x\""])
        XCTAssertEqual(data.train.labels, .classIds([1, 0, 1]))
    }

    func testJSONLinesKeepKeyOrderAndTypes() throws {
        let train = try file("train.jsonl", #"""
            {"premise": "a \"b\" \u00e9\ud83d\ude00", "hypothesis": "c", "label": 2, "extra": [1, {"x": null}]}
            {"hypothesis": "d", "premise": "e", "label": 0}

            {"premise": "f", "hypothesis": "g", "label": 1, "label": 0}
            """#)
        let data = try TaskData.load(train: train)
        XCTAssertEqual(data.columns, TaskColumns(text: "premise", textPair: "hypothesis", label: "label"))
        XCTAssertEqual(data.train.texts, ["a \"b\" é😀", "e", "f"])
        XCTAssertEqual(data.train.textPairs, ["c", "d", "g"])
        XCTAssertEqual(data.train.lines, [1, 2, 4])
        XCTAssertEqual(data.labels.names, ["0", "2"])                 // the duplicate key keeps its last value
        XCTAssertEqual(data.train.labels, .classIds([1, 0, 0]))
    }

    // MARK: Columns

    func testColumnRules() throws {
        func resolve(_ header: [String], _ options: TaskOptions = TaskOptions()) throws -> TaskColumns {
            try TaskColumns.resolve(header: header, options: options, path: "f.csv")
        }
        XCTAssertEqual(try resolve(["label", "x", "sentence2", "sentence1"]), TaskColumns(text: "sentence1", textPair: "sentence2", label: "label"))
        XCTAssertEqual(try resolve(["sentence1", "label"]), TaskColumns(text: "sentence1", textPair: nil, label: "label"))
        XCTAssertEqual(try resolve(["id", "text_pair", "text", "label"]), TaskColumns(text: "text", textPair: "text_pair", label: "label"))
        XCTAssertEqual(try resolve(["id", "text", "label"]), TaskColumns(text: "text", textPair: nil, label: "label"))
        XCTAssertEqual(try resolve(["id", "text_pair", "label"]), TaskColumns(text: "text_pair", textPair: nil, label: "label"))
        // run_glue's last rule, literally: the first two non-label columns, whatever they hold.
        XCTAssertEqual(try resolve(["idx", "sentence", "label"]), TaskColumns(text: "idx", textPair: "sentence", label: "label"))
        XCTAssertEqual(try resolve(["label", "review"]), TaskColumns(text: "review", textPair: nil, label: "label"))
        XCTAssertEqual(try resolve(["a", "b", "c"], TaskOptions(labelColumn: "a")), TaskColumns(text: "b", textPair: "c", label: "a"))
        XCTAssertEqual(try resolve(["id", "q", "s", "y"], TaskOptions(labelColumn: "y", textColumn: "s", textPairColumn: "q")),
                       TaskColumns(text: "s", textPair: "q", label: "y"))
        XCTAssertEqual(try resolve(["id", "q", "s", "y"], TaskOptions(labelColumn: "y", textColumn: "s")),
                       TaskColumns(text: "s", textPair: nil, label: "y"))
        XCTAssertTrue(taskError { try resolve(["label"]) }?.reason.contains("no text column") ?? false)
        let missing = taskError { try resolve(["a", "label"], TaskOptions(textColumn: "b")) }
        XCTAssertEqual(missing?.column, "column 'b'")
        XCTAssertTrue(missing?.reason.contains("--text-column") ?? false)
        XCTAssertNotNil(taskError { try resolve(["a", "label"], TaskOptions(textColumn: "label")) })
        XCTAssertNotNil(taskError { try resolve(["a", "b", "label"], TaskOptions(textPairColumn: "b")) })
    }

    // MARK: Labels

    func testIntegerLabelsSortNumerically() throws {
        let train = try file("train.csv", "text,label\na,10\nb,2\nc,-1\nd,02\n")
        let data = try TaskData.load(train: train)
        XCTAssertEqual(data.labels.kind, .classification)
        XCTAssertEqual(data.labels.names, ["-1", "2", "10"])        // numeric, not string, order
        XCTAssertEqual(data.train.labels, .classIds([2, 1, 0, 1]))  // "02" is the integer 2
    }

    func testStringLabelsSortByCodePoint() throws {
        let train = try file("train.csv", "text,label\na,b\nb,B\nc,a\nd,10\ne,9\n")
        let data = try TaskData.load(train: train)
        XCTAssertEqual(data.labels.names, ["10", "9", "B", "a", "b"])   // any text → strings, Python's order
        XCTAssertEqual(data.train.labels, .classIds([4, 2, 3, 0, 1]))
    }

    func testFloatLabelsAreRegression() throws {
        let train = try file("train.csv", "sentence1,sentence2,label\na,b,3.8\nc,d,1\ne,f,4.25e0\n")
        let validation = try file("dev.jsonl", "{\"sentence1\": \"x\", \"sentence2\": \"y\", \"label\": 2}\n")
        let data = try TaskData.load(train: train, validation: validation)
        XCTAssertEqual(data.labels.kind, .regression)
        XCTAssertEqual(data.labels.numLabels, 1)
        XCTAssertEqual(data.train.labels, .values([3.8, 1, 4.25]))
        XCTAssertEqual(data.validation?.labels, .values([2]))
        XCTAssertEqual(data.validation?.textPairs, ["y"])
    }

    func testForcedTask() throws {
        let train = try file("train.csv", "text,label\na,1\nb,5\nc,3\n")
        let regression = try TaskData.load(train: train, options: TaskOptions(task: .regression))
        XCTAssertEqual(regression.train.labels, .values([1, 5, 3]))
        let floats = try file("floats.csv", "text,label\na,0.5\nb,1.5\nc,0.5\n")
        let classes = try TaskData.load(train: floats, options: TaskOptions(task: .classification))
        XCTAssertEqual(classes.labels.names, ["0.5", "1.5"])
        XCTAssertEqual(classes.train.labels, .classIds([0, 1, 0]))
    }

    func testValidationMatchesTrainingClassesAndTestIgnoresLabels() throws {
        let train = try file("train.csv", "text,label\na,0\nb,1\n")
        let validation = try file("dev.json", "{\"text\": \"v\", \"label\": 1.0}\n{\"text\": \"w\", \"label\": 0}\n")
        let test = try file("test.tsv", "idx\ttext\n0\tt\n1\tu\n")
        let data = try TaskData.load(train: train, validation: validation, test: test)
        XCTAssertEqual(data.validation?.labels, .classIds([1, 0]))   // 1.0 is class 1, as in pandas/Python
        XCTAssertEqual(data.test?.labels, TaskLabels.none)
        XCTAssertEqual(data.test?.texts, ["t", "u"])
        let withLabels = try file("test2.csv", "text,label\nt,-1\nu,\n")
        XCTAssertEqual(try TaskData.load(train: train, test: withLabels).test?.count, 2)
    }

    func testOneClassIsRefused() throws {
        let train = try file("train.csv", "text,label\na,yes\nb,yes\n")
        let error = taskError { try TaskData.load(train: train) }
        XCTAssertEqual(error?.path, train)
        XCTAssertEqual(error?.column, "column 2 ('label')")
        XCTAssertTrue(error?.reason.contains("at least 2 classes") ?? false, error?.description ?? "")
    }

    // MARK: Errors: file, line, column

    func assertError(_ body: () throws -> Any, path: String, line: Int?, column: String?, contains text: String,
                     file: StaticString = #filePath, fileLine: UInt = #line) {
        guard let error = taskError(body, file: file, line: fileLine) else { return }
        XCTAssertEqual(error.path, path, file: file, line: fileLine)
        XCTAssertEqual(error.line, line, error.description, file: file, line: fileLine)
        XCTAssertEqual(error.column, column, error.description, file: file, line: fileLine)
        XCTAssertTrue(error.reason.contains(text), "\(error.description) lacks \"\(text)\"", file: file, line: fileLine)
        XCTAssertTrue(error.description.hasPrefix(path), file: file, line: fileLine)
    }

    func testUnseenValidationLabel() throws {
        let train = try file("train.csv", "text,label\na,0\nb,1\n")
        let dev = try file("dev.csv", "text,label\na,0\nb,2\n")
        assertError({ try TaskData.load(train: train, validation: dev) }, path: dev, line: 3,
                    column: "column 2 ('label')", contains: "label '2' was not seen in the training file")
    }

    func testEmptyText() throws {
        let train = try file("train.csv", "sentence1,sentence2,label\na,b,0\nc,\"  \",1\n")
        assertError({ try TaskData.load(train: train) }, path: train, line: 3, column: "column 2 ('sentence2')", contains: "empty text")
        let json = try file("train.jsonl", "{\"text\": \"a\", \"label\": 0}\n{\"text\": null, \"label\": 1}\n")
        assertError({ try TaskData.load(train: json) }, path: json, line: 2, column: "key 'text'", contains: "empty text")
    }

    func testMissingColumn() throws {
        let train = try file("train.csv", "sentence1,sentence2,label\na,b,0\nc,d,1\n")
        let dev = try file("dev.csv", "sentence1,label\na,0\n")
        assertError({ try TaskData.load(train: train, validation: dev) }, path: dev, line: 1,
                    column: "column 'sentence2'", contains: "missing column")
        let noLabel = try file("nolabel.csv", "text,y\na,0\n")
        assertError({ try TaskData.load(train: noLabel) }, path: noLabel, line: 1, column: "column 'label'", contains: "--label-column")
        let json = try file("train.jsonl", "{\"text\": \"a\", \"label\": 0}\n{\"label\": 1}\n")
        assertError({ try TaskData.load(train: json) }, path: json, line: 2, column: "key 'text'", contains: "missing column")
    }

    func testRaggedRow() throws {
        let csv = try file("train.csv", "text,label\na,0\nb,1,extra\n")
        assertError({ try TaskData.load(train: csv) }, path: csv, line: 3, column: nil, contains: "3 fields, the header has 2")
        let tsv = try file("train.tsv", "text\tlabel\na\t0\nb\n")
        assertError({ try TaskData.load(train: tsv) }, path: tsv, line: 3, column: nil, contains: "1 fields, the header has 2")
    }

    func testInvalidJSON() throws {
        let json = try file("train.jsonl", "{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": 01}\n")
        assertError({ try TaskData.load(train: json) }, path: json, line: 2, column: "byte 25", contains: "invalid JSON")
        let array = try file("array.json", "[{\"text\": \"a\", \"label\": 0}]\n")
        assertError({ try TaskData.load(train: array) }, path: array, line: 1, column: "byte 1", contains: "JSON lines expected")
        let unterminated = try file("u.jsonl", "{\"text\": \"a, \"label\": 0\n")
        assertError({ try TaskData.load(train: unterminated) }, path: unterminated, line: 1, column: "byte 15", contains: "invalid JSON")
    }

    func testNonNumericRegressionLabel() throws {
        let train = try file("train.csv", "text,label\na,0.5\nb,1.5\n")
        let dev = try file("dev.csv", "text,label\na,0.5\nb,high\n")
        assertError({ try TaskData.load(train: train, validation: dev) }, path: dev, line: 3,
                    column: "column 2 ('label')", contains: "'high' is not a number")
        let forced = try file("forced.csv", "text,label\na,1\nb,x\n")
        assertError({ try TaskData.load(train: forced, options: TaskOptions(task: .regression)) }, path: forced, line: 3,
                    column: "column 2 ('label')", contains: "'x' is not a number")
        let huge = try file("huge.csv", "text,label\na,0.5\nb,1e39\n")
        assertError({ try TaskData.load(train: huge) }, path: huge, line: 3,
                    column: "column 2 ('label')", contains: "not a finite 32-bit float")
    }

    func testMissingLabel() throws {
        let train = try file("train.csv", "text,label\na,0\nb,\nc,1\n")
        assertError({ try TaskData.load(train: train) }, path: train, line: 3, column: "column 2 ('label')", contains: "missing label")
        let good = try file("good.csv", "text,label\na,0\nb,1\n")
        let dev = try file("dev.jsonl", "{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\"}\n")
        assertError({ try TaskData.load(train: good, validation: dev) }, path: dev, line: 2, column: "key 'label'", contains: "missing label")
    }

    func testCSVQuoteErrors() throws {
        let open = try file("open.csv", "text,label\na,0\n\"never closed,1\nb,0\n")
        assertError({ try TaskData.load(train: open) }, path: open, line: 3, column: "column 1", contains: "never closed")
        let after = try file("after.csv", "text,label\n\"a\"b,0\n")
        assertError({ try TaskData.load(train: after) }, path: after, line: 2, column: "column 1", contains: "after the closing quote")
    }

    func testMixedJSONLabelTypesAndOtherRefusals() throws {
        let mixed = try file("mixed.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\", \"label\": 1}\n")
        assertError({ try TaskData.load(train: mixed) }, path: mixed, line: 2, column: "key 'label'", contains: "mix strings and numbers")
        let bool = try file("bool.jsonl", "{\"text\": \"a\", \"label\": true}\n")
        assertError({ try TaskData.load(train: bool) }, path: bool, line: 1, column: "key 'label'", contains: "a string or a number")
        let number = try file("number.jsonl", "{\"text\": 5, \"label\": 1}\n")
        assertError({ try TaskData.load(train: number) }, path: number, line: 1, column: "key 'text'", contains: "JSON string")
        let utf8 = try file("bad.csv", "text,label\n\u{0}ok,0\n")
        try Data([0x74, 0x65, 0x78, 0x74, 0x2C, 0x6C, 0x61, 0x62, 0x65, 0x6C, 0x0A, 0xFF, 0x2C, 0x30, 0x0A]).write(to: URL(fileURLWithPath: utf8))
        assertError({ try TaskData.load(train: utf8) }, path: utf8, line: 2, column: "column 1", contains: "UTF-8")
        let empty = try file("empty.csv", "text,label\n\n")
        assertError({ try TaskData.load(train: empty) }, path: empty, line: nil, column: nil, contains: "no examples")
        let duplicate = try file("dup.csv", "text,text,label\na,b,0\n")
        assertError({ try TaskData.load(train: duplicate) }, path: duplicate, line: 1, column: "column 2 ('text')", contains: "duplicate")
    }

    func testLongLineIsReadWhole() throws {
        // A line far longer than the reader's 64 KiB buffer.
        let long = String(repeating: "word ", count: 100_000)
        let train = try file("train.csv", "text,label\n\"\(long)\",0\nshort,1\n")
        let data = try TaskData.load(train: train)
        XCTAssertEqual(data.train.texts[0].utf8.count, long.utf8.count)
        XCTAssertEqual(data.train.lines, [2, 3])
    }
}
