// A labelled task's examples, read by Hugging Face run_glue.py's rules (no --task_name):
//
// Columns (resolved on the training file, then required in the validation and test files):
//   label: `label` (--label-column overrides).
//   texts: --text-column [+ --text-pair-column] when given; else `sentence1` + `sentence2` when both
//   exist; else `text` (+ `text_pair` when present; either alone is a single text); else the first one
//   or two columns that are not the label (one → single sentence, two → pair). Note that the last
//   rule is run_glue's: with columns `idx,sentence,label` the texts are the pair (idx, sentence).
//
// Labels (training file decides; datasets' type inference):
//   every label an integer → classification, classes sorted numerically;
//   any label a float (written with "." or an exponent, as pandas and pyarrow type it: "1.0" is a
//   float) and none a non-number → regression (one output);
//   any other text → classification on the labels as strings, sorted by code point (Python's sort).
//   --task classification|regression forces the kind (integers as regression scores; forced
//   classification of float labels takes each label's text as written as its class name).
//   In JSON lines a string is a string even when it reads "1"; mixing strings and numbers is refused
//   (pyarrow refuses it too). In CSV/TSV an empty label is a missing one.
//   The test file's labels are ignored (GLUE test files carry -1 or nothing).

/// What a task predicts.
public enum TaskKind: String, Equatable {
    /// One class per example: `numLabels` logits, cross-entropy.
    case classification
    /// One number per example: one output, mean squared error.
    case regression
}

/// The `--task` flag: infer the kind from the training labels, or force it.
public enum TaskChoice: String, CaseIterable {
    case auto, classification, regression
}

/// The column and task overrides a user gives (`--label-column`, `--text-column`,
/// `--text-pair-column`, `--task`); the defaults infer everything as run_glue.py does.
public struct TaskOptions: Equatable {
    public var labelColumn: String
    public var textColumn: String?
    public var textPairColumn: String?
    public var task: TaskChoice

    public init(labelColumn: String = "label", textColumn: String? = nil, textPairColumn: String? = nil,
                task: TaskChoice = .auto) {
        self.labelColumn = labelColumn
        self.textColumn = textColumn
        self.textPairColumn = textPairColumn
        self.task = task
    }
}

/// The columns a task reads.
public struct TaskColumns: Equatable {
    public var text: String
    /// The second text of a sentence-pair task; nil for single sentences.
    public var textPair: String?
    public var label: String

    public init(text: String, textPair: String?, label: String) {
        self.text = text
        self.textPair = textPair
        self.label = label
    }

    /// The columns run_glue.py would pick from a header (see the rules at the top of this file).
    /// `path` only names the file in errors.
    public static func resolve(header: [String], options: TaskOptions, path: String) throws -> TaskColumns {
        let label = options.labelColumn
        func require(_ name: String, _ flag: String) throws {
            guard header.contains(name) else {
                throw TaskFileError(path: path, column: "column '\(name)'",
                                    reason: "no such column (given by \(flag)); the columns are \(header.map { "'\($0)'" }.joined(separator: ", "))")
            }
            guard name != label else {
                throw TaskFileError(path: path, column: "column '\(name)'", reason: "\(flag) names the label column")
            }
        }
        if let text = options.textColumn {
            try require(text, "--text-column")
            if let pair = options.textPairColumn {
                try require(pair, "--text-pair-column")
                guard pair != text else {
                    throw TaskFileError(path: path, column: "column '\(pair)'", reason: "--text-pair-column names the same column as --text-column")
                }
            }
            return TaskColumns(text: text, textPair: options.textPairColumn, label: label)
        }
        if options.textPairColumn != nil {
            throw TaskFileError(path: path, reason: "--text-pair-column needs --text-column (the first text)")
        }
        let candidates = header.filter { $0 != label }
        if candidates.contains("sentence1") && candidates.contains("sentence2") {
            return TaskColumns(text: "sentence1", textPair: "sentence2", label: label)
        }
        let hasText = candidates.contains("text"), hasPair = candidates.contains("text_pair")
        if hasText && hasPair { return TaskColumns(text: "text", textPair: "text_pair", label: label) }
        if hasText { return TaskColumns(text: "text", textPair: nil, label: label) }
        if hasPair { return TaskColumns(text: "text_pair", textPair: nil, label: label) }
        switch candidates.count {
        case 0:
            throw TaskFileError(path: path, reason: "no text column: the only column is the label '\(label)'")
        case 1:
            return TaskColumns(text: candidates[0], textPair: nil, label: label)
        default:
            return TaskColumns(text: candidates[0], textPair: candidates[1], label: label)
        }
    }
}

/// The classes of a classification task, or the single output of a regression task.
public struct LabelSet: Equatable {
    public let kind: TaskKind
    /// Class names by class id (classification): the sorted distinct training labels, as strings
    /// ("0", "1" for integer labels). Empty for regression.
    public let names: [String]
    /// The model's output count: the number of classes, or 1 for regression.
    public var numLabels: Int { kind == .regression ? 1 : names.count }

    /// Integer labels map by value (so "01" in a CSV is class "1"), other labels by their text.
    fileprivate let integerIds: [Int64: Int32]
    fileprivate let textIds: [[UInt8]: Int32]   // UTF-8 bytes: Python compares strings by code point, not canonically

    public static func regression() -> LabelSet {
        LabelSet(kind: .regression, names: [], integerIds: [:], textIds: [:])
    }

    /// A classification label set from class names in class-id order (e.g. a checkpoint's id2label).
    public static func classification(names: [String]) -> LabelSet {
        var textIds: [[UInt8]: Int32] = [:]
        var integerIds: [Int64: Int32] = [:]
        let allIntegers = names.allSatisfy { RawLabel.parseInteger($0) != nil }
        for (i, name) in names.enumerated() {
            textIds[Array(name.utf8)] = Int32(i)
            if allIntegers { integerIds[RawLabel.parseInteger(name)!] = Int32(i) }
        }
        return LabelSet(kind: .classification, names: names, integerIds: integerIds, textIds: textIds)
    }
}

/// The labels of one split, in example order.
public enum TaskLabels: Equatable {
    /// Class ids in 0..<numLabels.
    case classIds([Int32])
    /// Regression targets.
    case values([Float])
    /// A test file: labels are not read.
    case none
}

/// Which role a file plays; the test file may lack labels.
public enum TaskSplit: String {
    case train, validation, test
}

/// The examples of one task file.
public struct TaskExamples {
    public let path: String
    public let split: TaskSplit
    /// The first text of each example.
    public internal(set) var texts: [String]
    /// The second text of each example, for sentence-pair tasks.
    public internal(set) var textPairs: [String]?
    /// The line each example starts on (for error messages).
    public internal(set) var lines: [Int]
    public internal(set) var labels: TaskLabels
    public var count: Int { texts.count }

    /// Examples made in code (`lines` for messages: 1, 2, … when there is no file).
    public init(path: String, split: TaskSplit, texts: [String], textPairs: [String]?, lines: [Int], labels: TaskLabels) {
        precondition(textPairs.map { $0.count == texts.count } ?? true && lines.count == texts.count, "ragged examples")
        self.path = path
        self.split = split
        self.texts = texts
        self.textPairs = textPairs
        self.lines = lines
        self.labels = labels
    }
}

/// A task's training, validation and test examples, with the columns and label set used.
public struct TaskData {
    public let columns: TaskColumns
    public let labels: LabelSet
    public let train: TaskExamples
    public let validation: TaskExamples?
    public let test: TaskExamples?

    /// Reads the files by run_glue.py's rules (see the top of this file). Errors name the file,
    /// the line and the column: a missing column, a ragged row, invalid JSON, an empty text, a missing
    /// label (train, validation), a validation label not seen in training, a non-numeric label in a
    /// regression task, a training label set of one class.
    public static func load(train: String, validation: String? = nil, test: String? = nil,
                            options: TaskOptions = TaskOptions()) throws -> TaskData {
        let trainReader = try TaskRecordReader(path: train)
        let columns = try TaskColumns.resolve(header: trainReader.columns, options: options, path: train)
        let trainRaw = try readRaw(trainReader, columns: columns, split: .train)
        let labels = try inferLabels(trainRaw, options: options)
        let trainExamples = try examples(trainRaw, labels: labels)
        let validationExamples = try validation.map { path in
            try examples(readRaw(try TaskRecordReader(path: path), columns: columns, split: .validation), labels: labels)
        }
        let testExamples = try test.map { path in
            try examples(readRaw(try TaskRecordReader(path: path), columns: columns, split: .test), labels: labels)
        }
        return TaskData(columns: columns, labels: labels, train: trainExamples,
                        validation: validationExamples, test: testExamples)
    }
}

// MARK: - Reading

/// A label as read, before the label set exists.
enum RawLabel {
    case missing
    case integer(Int64, text: String)
    case float(Double, text: String)
    /// A CSV/TSV field that is not a number, or a JSON string.
    case string(String)
    /// A JSON true/false/array/object (refused as a label).
    case unsupported(String)

    var text: String {
        switch self {
        case .missing: return ""
        case .integer(_, let t), .float(_, let t): return t
        case .string(let s), .unsupported(let s): return s
        }
    }

    var number: Double? {
        switch self {
        case .integer(let v, _): return Double(v)
        case .float(let v, _): return v
        default: return nil
        }
    }

    /// An integer as pandas reads one: optional sign, ASCII digits, fits in 64 bits.
    static func parseInteger(_ text: some StringProtocol) -> Int64? {
        var body = Substring(text)
        if body.first == "+" || body.first == "-" { body = body.dropFirst() }
        guard !body.isEmpty, body.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int64(text.first == "+" ? String(text.dropFirst()) : String(text))
    }

    /// A decimal float: [+-] digits [. digits] [e [+-] digits] with at least one digit before the
    /// exponent (no "inf", "nan" or hex, which Swift's Double(_:) would also take).
    static func parseFloat(_ text: some StringProtocol) -> Double? {
        var digits = 0
        var state = 0   // 0 mantissa, 1 fraction, 2 exponent sign allowed, 3 exponent
        var expDigits = 0
        for (i, c) in text.utf8.enumerated() {
            switch c {
            case UInt8(ascii: "+"), UInt8(ascii: "-"):
                guard i == 0 || state == 2 else { return nil }
                if state == 2 { state = 3 }
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if state >= 2 { state = 3; expDigits += 1 } else { digits += 1 }
            case UInt8(ascii: "."):
                guard state == 0 else { return nil }
                state = 1
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                guard state <= 1, digits > 0 else { return nil }
                state = 2
            default:
                return nil
            }
        }
        guard digits > 0, state < 2 || expDigits > 0 else { return nil }
        return Double(String(text))
    }

    /// A CSV/TSV label field (surrounding spaces ignored for numbers, as pandas' parser does).
    static func fromText(_ field: String) -> RawLabel {
        let trimmed = field.trimmingSpaces
        if trimmed.isEmpty { return .missing }
        if let v = parseInteger(trimmed) { return .integer(v, text: String(trimmed)) }
        if let v = parseFloat(trimmed) { return .float(v, text: String(trimmed)) }
        return .string(field)
    }

    static func fromJSON(_ value: JSONScalar) -> RawLabel {
        switch value {
        case .null: return .missing
        case .string(let s): return .string(s)
        case .integer(let t):
            if let v = Int64(t) { return .integer(v, text: t) }
            return .float(Double(t) ?? .nan, text: t)   // beyond 64 bits: pyarrow reads it as a double
        case .float(let t): return .float(Double(t) ?? .nan, text: t)
        case .bool(let b): return .unsupported(b ? "true" : "false")
        case .nested: return .unsupported("an array or object")
        }
    }
}

extension String {
    var trimmingSpaces: Substring {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return s
    }
}

/// One file's texts and raw labels, with what error messages need.
struct RawExamples {
    let path: String
    let split: TaskSplit
    let labelColumn: String          // described for messages
    let isJSON: Bool
    var texts: [String] = []
    var textPairs: [String]?
    var lines: [Int] = []
    var labels: [RawLabel] = []
}

func readRaw(_ reader: TaskRecordReader, columns: TaskColumns, split: TaskSplit) throws -> RawExamples {
    let path = reader.path
    func index(of column: String, role: String) throws -> Int {
        guard let i = reader.columns.firstIndex(of: column) else {
            throw TaskFileError(path: path, line: 1, column: "column '\(column)'",
                                reason: "missing column (the \(role)); the columns are \(reader.columns.map { "'\($0)'" }.joined(separator: ", "))")
        }
        return i
    }
    let textIndex = try index(of: columns.text, role: "text column")
    let pairIndex = try columns.textPair.map { try index(of: $0, role: "text pair column") }
    var labelIndex: Int?
    if split != .test {
        labelIndex = try index(of: columns.label, role: "label column; --label-column names another")
    }
    var raw = RawExamples(path: path, split: split, labelColumn: reader.describe(column: columns.label),
                          isJSON: reader.format == .jsonLines)
    if pairIndex != nil { raw.textPairs = [] }

    func text(_ record: TaskRecord, _ column: String, _ index: Int) throws -> String {
        let described = reader.describe(column: column)
        switch record.value(column, index: index) {
        case nil:
            throw TaskFileError(path: path, line: record.line, column: described, reason: "missing column in this record")
        case .text(let s), .json(.string(let s)):
            guard s.contains(where: { !$0.isWhitespace }) else {
                throw TaskFileError(path: path, line: record.line, column: described, reason: "empty text")
            }
            return s
        case .json(.null):
            throw TaskFileError(path: path, line: record.line, column: described, reason: "empty text (null)")
        case .json:
            throw TaskFileError(path: path, line: record.line, column: described, reason: "a text must be a JSON string")
        }
    }

    while let record = try reader.nextRecord() {
        raw.texts.append(try text(record, columns.text, textIndex))
        if let pair = columns.textPair, let pairIndex { raw.textPairs!.append(try text(record, pair, pairIndex)) }
        raw.lines.append(record.line)
        guard let labelIndex else { continue }
        switch record.value(columns.label, index: labelIndex) {
        case nil: raw.labels.append(.missing)
        case .text(let s): raw.labels.append(.fromText(s))
        case .json(let v): raw.labels.append(.fromJSON(v))
        }
    }
    guard !raw.texts.isEmpty else {
        throw TaskFileError(path: path, reason: "no examples (only a header or blank lines)")
    }
    return raw
}

// MARK: - Labels

private func labelError(_ raw: RawExamples, _ i: Int, _ reason: String) -> TaskFileError {
    TaskFileError(path: raw.path, line: raw.lines[i], column: raw.labelColumn, reason: reason)
}

private func checkPresent(_ raw: RawExamples) throws {
    for (i, label) in raw.labels.enumerated() {
        switch label {
        case .missing:
            throw labelError(raw, i, "missing label (every \(raw.split.rawValue) example needs one)")
        case .unsupported(let what):
            throw labelError(raw, i, "a label must be a string or a number, found \(what)")
        default: break
        }
    }
}

func inferLabels(_ raw: RawExamples, options: TaskOptions) throws -> LabelSet {
    try checkPresent(raw)
    let firstString = raw.labels.firstIndex { if case .string = $0 { return true } else { return false } }
    let firstNumber = raw.labels.firstIndex { $0.number != nil }
    let firstFloat = raw.labels.firstIndex { if case .float = $0 { return true } else { return false } }
    if raw.isJSON, let s = firstString, let n = firstNumber {
        throw labelError(raw, max(s, n),
                         "labels mix strings and numbers (line \(raw.lines[min(s, n)]) has \(s < n ? "a string" : "a number"), this line \(s < n ? "a number" : "a string")); use one type")
    }
    let kind: TaskKind
    switch options.task {
    case .auto: kind = firstString == nil && firstFloat != nil ? .regression : .classification
    case .classification: kind = .classification
    case .regression: kind = .regression
    }
    if kind == .regression {
        if let s = firstString {
            throw labelError(raw, s, "label '\(raw.labels[s].text)' is not a number (a regression task needs numeric labels)")
        }
        return .regression()
    }
    let names: [String]
    if firstString == nil && firstFloat == nil {
        let values = Set(raw.labels.compactMap { if case .integer(let v, _) = $0 { return v } else { return nil } })
        names = values.sorted().map { String($0) }
    } else {
        let texts = Set(raw.labels.map { Array($0.text.utf8) })
        names = texts.sorted { $0.lexicographicallyPrecedes($1) }.map { String(decoding: $0, as: UTF8.self) }
    }
    guard names.count >= 2 else {
        throw TaskFileError(path: raw.path, column: raw.labelColumn,
                            reason: "every training label is '\(names.first ?? "")': classification needs at least 2 classes"
                                + " (check --label-column; use --task regression for a numeric score)")
    }
    return .classification(names: names)
}

/// Maps one split's raw labels through the training label set.
func examples(_ raw: RawExamples, labels: LabelSet) throws -> TaskExamples {
    var result = TaskExamples(path: raw.path, split: raw.split, texts: raw.texts, textPairs: raw.textPairs,
                              lines: raw.lines, labels: .none)
    if raw.split == .test { return result }
    try checkPresent(raw)
    switch labels.kind {
    case .regression:
        var values: [Float] = []
        values.reserveCapacity(raw.labels.count)
        for (i, label) in raw.labels.enumerated() {
            guard let v = label.number else {
                throw labelError(raw, i, "label '\(label.text)' is not a number (a regression task needs numeric labels)")
            }
            guard Float(v).isFinite else {
                throw labelError(raw, i, "label '\(label.text)' is not a finite 32-bit float")
            }
            values.append(Float(v))
        }
        result.labels = .values(values)
    case .classification:
        var ids: [Int32] = []
        ids.reserveCapacity(raw.labels.count)
        for (i, label) in raw.labels.enumerated() {
            // Integer classes match numbers by value (so "01" and 1.0 are class "1", as in pandas and
            // Python, where 1.0 == 1); everything else matches by text.
            var id: Int32?
            switch label {
            case .integer(let v, _): id = labels.integerIds[v]
            case .float(let v, _) where v.rounded() == v && abs(v) < 9.2e18: id = labels.integerIds[Int64(v)]
            default: break
            }
            if id == nil { id = labels.textIds[Array(label.text.utf8)] }
            guard let id else {
                let known = labels.names.prefix(20).map { "'\($0)'" }.joined(separator: ", ")
                throw labelError(raw, i, "label '\(label.text)' was not seen in the training file (its labels: \(known)\(labels.names.count > 20 ? ", ..." : ""))")
            }
            ids.append(id)
        }
        result.labels = .classIds(ids)
    }
    return result
}
