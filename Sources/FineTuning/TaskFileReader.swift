// Reading a task file's records, one line at a time (Storage's TextLineReader: memory is one buffer
// plus the longest line, so a huge file or line costs at most its own size).
//
// Formats, chosen by extension (a ".gz" after it is allowed; the reader decompresses):
// - .csv  RFC 4180: header row; fields separated by ","; a field that starts with '"' is quoted,
//         may hold ",", newlines and "" (one literal quote), and must end at its closing quote
//         (text after it is an error). A '"' inside an unquoted field is kept as a literal character,
//         as Python's csv module and pandas do. Inside a quoted field a CRLF line end reads as "\n".
// - .tsv  header row; fields separated by tabs; NO quote processing: a '"' is an ordinary character.
//         GLUE's TSVs (SST-2, CoLA, MRPC...) contain unbalanced quotes inside sentences, and any
//         quoting rule would silently glue rows together; with none, every line is exactly one row.
// - .jsonl, .json  JSON lines: one object per line. The columns are the first record's keys in the
//         order written (datasets/pyarrow take the schema from the records in order); a later record
//         missing a needed key is an error, extra keys are ignored.
// Every format: a UTF-8 byte order mark at the start is skipped; a "\r" before "\n" is dropped;
// blank lines between records are skipped (pandas' skip_blank_lines, pyarrow's JSON reader).

import Storage

/// A problem with a task file: the file, the line (1-based; a CSV record's first line) and the
/// column when known, and what is wrong.
public struct TaskFileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let line: Int?
    /// The column, e.g. `column 2 ('sentence2')` (CSV/TSV) or `key 'sentence2'` (JSON lines).
    public let column: String?
    public let reason: String

    public init(path: String, line: Int? = nil, column: String? = nil, reason: String) {
        self.path = path
        self.line = line
        self.column = column
        self.reason = reason
    }

    public var description: String {
        var where_ = path
        if let line { where_ += ":\(line)" }
        if let column { where_ += ": \(column)" }
        return "\(where_): \(reason)"
    }
}

/// How a task file is laid out; chosen by its extension.
public enum TaskFileFormat: String, Equatable {
    case csv, tsv, jsonLines

    /// The format for `path` by extension (.csv, .tsv, .jsonl or .json, optionally followed by .gz).
    public static func of(path: String) throws -> TaskFileFormat {
        var name = path.lowercased()
        if name.hasSuffix(".gz") { name.removeLast(3) }
        if name.hasSuffix(".csv") { return .csv }
        if name.hasSuffix(".tsv") { return .tsv }
        if name.hasSuffix(".jsonl") || name.hasSuffix(".json") { return .jsonLines }
        throw TaskFileError(path: path, reason: "unsupported file type: task files must end in .csv, .tsv, .jsonl or .json (JSON lines), optionally followed by .gz")
    }
}

/// One field's value as read: CSV/TSV fields are untyped text; JSON values keep their JSON type.
enum TaskField {
    case text(String)
    case json(JSONScalar)
}

/// One record: where it starts and how to look up a column.
struct TaskRecord {
    let line: Int
    fileprivate let fields: [String]?                       // CSV/TSV, aligned with the header
    fileprivate let members: [(key: String, value: JSONScalar)]  // JSON lines

    /// The value of `column` (at `index` in the header for CSV/TSV), or nil when the record lacks it (JSON).
    func value(_ column: String, index: Int) -> TaskField? {
        if let fields { return .text(fields[index]) }
        return members.first(where: { $0.key == column }).map { .json($0.value) }
    }
}

/// Streams the records of one task file after reading its header (CSV/TSV) or first record (JSON lines).
final class TaskRecordReader {
    let path: String
    let format: TaskFileFormat
    /// Column names: the header row, or the first JSON record's keys.
    private(set) var columns: [String] = []

    private let lines: TextLineReader
    private var firstLine = true
    private var pending: TaskRecord?

    init(path: String) throws {
        self.path = path
        format = try TaskFileFormat.of(path: path)
        do {
            lines = try TextLineReader(path: path)
        } catch let error as TextInputError {
            throw TaskFileError(path: path, line: error.line, reason: error.reason)
        }
        switch format {
        case .csv, .tsv:
            guard let header = try nextRecordFields() else {
                throw TaskFileError(path: path, reason: "the file is empty (a header row is expected)")
            }
            var names: [String] = []
            for (i, raw) in header.fields.enumerated() {
                // pandas names an empty header cell "Unnamed: <index>" (an index column written by to_csv).
                let name = raw.isEmpty ? "Unnamed: \(i)" : raw
                if names.contains(name) {
                    throw TaskFileError(path: path, line: header.line, column: "column \(i + 1) ('\(name)')",
                                        reason: "duplicate column name in the header")
                }
                names.append(name)
            }
            columns = names
        case .jsonLines:
            guard let first = try nextRecord() else {
                throw TaskFileError(path: path, reason: "the file is empty (JSON lines expected: one object per line)")
            }
            columns = first.members.map(\.key)
            pending = first
        }
    }

    /// The column description used in error messages.
    func describe(column: String) -> String {
        if format == .jsonLines { return "key '\(column)'" }
        if let i = columns.firstIndex(of: column) { return "column \(i + 1) ('\(column)')" }
        return "column '\(column)'"
    }

    /// The next record, or nil at the end of the file.
    func nextRecord() throws -> TaskRecord? {
        if let record = pending {
            pending = nil
            return record
        }
        switch format {
        case .csv, .tsv:
            guard let record = try nextRecordFields() else { return nil }
            guard record.fields.count == columns.count else {
                throw TaskFileError(path: path, line: record.line,
                                    reason: "ragged row: \(record.fields.count) fields, the header has \(columns.count)")
            }
            return TaskRecord(line: record.line, fields: record.fields, members: [])
        case .jsonLines:
            guard let line = try nextNonBlankLine() else { return nil }
            do {
                let members = try JSONLineParser.parseObject(line)
                return TaskRecord(line: lines.lineNumber, fields: nil, members: members)
            } catch let error as JSONLineError {
                throw TaskFileError(path: path, line: lines.lineNumber, column: "byte \(error.column)",
                                    reason: "invalid JSON: \(error.reason)")
            }
        }
    }

    // MARK: Lines and fields

    /// The next line that is not blank, without its "\r" and (on the first line) its byte order mark.
    private func nextNonBlankLine() throws -> UnsafeBufferPointer<UInt8>? {
        while let line = try readLine() {
            if line.contains(where: { $0 != 0x20 && $0 != 0x09 }) { return line }
        }
        return nil
    }

    private func readLine() throws -> UnsafeBufferPointer<UInt8>? {
        let read: UnsafeBufferPointer<UInt8>?
        do {
            read = try lines.nextLine()
        } catch let error as TextInputError {
            throw TaskFileError(path: path, line: error.line, reason: error.reason)
        }
        guard var line = read else { return nil }
        if firstLine {
            firstLine = false
            if line.count >= 3 && line[0] == 0xEF && line[1] == 0xBB && line[2] == 0xBF {
                line = UnsafeBufferPointer(rebasing: line[3...])
            }
        }
        if let last = line.last, last == 0x0D { line = UnsafeBufferPointer(rebasing: line.dropLast()) }
        return line
    }

    private func string(_ bytes: some Collection<UInt8>, line: Int, field: Int) throws -> String {
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw TaskFileError(path: path, line: line, column: "column \(field + 1)", reason: "not valid UTF-8")
        }
        return s
    }

    /// The fields of the next CSV/TSV record, and the line it starts on.
    private func nextRecordFields() throws -> (line: Int, fields: [String])? {
        guard let first = try nextNonBlankLine() else { return nil }
        let start = lines.lineNumber
        if format == .tsv {
            var fields: [String] = []
            for (i, piece) in first.split(separator: 0x09, omittingEmptySubsequences: false).enumerated() {
                fields.append(try string(piece, line: start, field: i))
            }
            return (start, fields)
        }
        // CSV: a small state machine; a quoted field may continue on the following lines.
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ",")
        var fields: [String] = []
        var field: [UInt8] = []
        var inQuotes = false
        var quoted = false   // the current field was quoted and its closing quote has been read
        var line = first
        while true {
            var i = 0
            while i < line.count {
                let c = line[i]
                if inQuotes {
                    if c == quote {
                        if i + 1 < line.count && line[i + 1] == quote {
                            field.append(quote)
                            i += 1
                        } else {
                            inQuotes = false
                            quoted = true
                        }
                    } else {
                        field.append(c)
                    }
                } else if c == comma {
                    fields.append(try string(field, line: start, field: fields.count))
                    field.removeAll(keepingCapacity: true)
                    quoted = false
                } else if quoted {
                    throw TaskFileError(path: path, line: lines.lineNumber, column: "column \(fields.count + 1)",
                                        reason: "text after the closing quote of a quoted field (write a quote inside a quoted field as \"\")")
                } else if c == quote && field.isEmpty {
                    inQuotes = true
                } else {
                    field.append(c)
                }
                i += 1
            }
            if !inQuotes { break }
            field.append(0x0A)
            guard let next = try readLine() else {
                throw TaskFileError(path: path, line: start, column: "column \(fields.count + 1)",
                                    reason: "a quoted field is never closed (unbalanced '\"'; the file ends inside it)")
            }
            line = next
        }
        fields.append(try string(field, line: start, field: fields.count))
        return (start, fields)
    }
}
