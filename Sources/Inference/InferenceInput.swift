// The texts an inference command reads: one per line, or JSON lines {"text": …, "text_pair": …}.
// Rank 0 reads them (a file, or stdin) a window at a time and hands each window to every rank
// (InferenceRun), so the other ranks need neither the file nor the terminal.

import Foundation
import Storage

/// One input, as read.
public struct InferenceText: Codable, Equatable, Sendable {
    public var text: String
    public var pair: String?
    /// 1-based line in the input.
    public var line: Int
    public init(text: String, pair: String? = nil, line: Int) {
        self.text = text
        self.pair = pair
        self.line = line
    }
    /// An empty line (or an empty "text"): an error, or passed through as `null` with --skip-empty.
    public var isEmpty: Bool { text.allSatisfy(\.isWhitespace) && (pair ?? "").allSatisfy(\.isWhitespace) }
}

public enum InputFormat: String, CaseIterable, Sendable {
    case auto, text, jsonl
}

/// Reads inputs in windows. `path` nil = standard input.
public final class InferenceInputReader {
    public let name: String
    public let jsonLines: Bool
    private var file: TextLineReader?
    private var lineNumber = 0

    public init(path: String?, format: InputFormat) throws {
        name = path ?? "<stdin>"
        switch format {
        case .text: jsonLines = false
        case .jsonl: jsonLines = true
        case .auto: jsonLines = path.map { $0.hasSuffix(".jsonl") || $0.hasSuffix(".jsonl.gz") } ?? false
        }
        if let path {
            guard FileManager.default.fileExists(atPath: path) else {
                throw TextInputError(path: path, reason: "no such file")
            }
            file = try TextLineReader(path: path)
        }
    }

    /// Counts the lines of a file (for the progress line's ETA); nil for stdin.
    public static func lineCount(path: String?) throws -> Int? {
        guard let path else { return nil }
        let reader = try TextLineReader(path: path)
        var count = 0
        try reader.forEachLine { _ in count += 1 }
        return count
    }

    /// Up to `count` inputs; empty at the end of the input.
    public func next(_ count: Int) throws -> [InferenceText] {
        var window: [InferenceText] = []
        window.reserveCapacity(count)
        while window.count < count, let raw = try nextLine() {
            lineNumber += 1
            var line = raw
            if line.hasSuffix("\r") { line.removeLast() }   // CRLF files
            window.append(try parse(line))
        }
        return window
    }

    private func nextLine() throws -> String? {
        if let file {
            guard let bytes = try file.nextLine() else { return nil }
            return String(decoding: bytes, as: UTF8.self)
        }
        return readLine(strippingNewline: true)
    }

    private struct Record: Decodable {
        let text: String
        let text_pair: String?
    }

    private func parse(_ line: String) throws -> InferenceText {
        guard jsonLines else { return InferenceText(text: line, line: lineNumber) }
        if line.allSatisfy(\.isWhitespace) { return InferenceText(text: "", line: lineNumber) }
        do {
            let record = try JSONDecoder().decode(Record.self, from: Data(line.utf8))
            return InferenceText(text: record.text, pair: record.text_pair, line: lineNumber)
        } catch {
            throw TextInputError(path: name, line: lineNumber,
                                      reason: "not a JSON object with a string \"text\" (and optionally \"text_pair\"): \(Self.describe(error))")
        }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "no key \"\(key.stringValue)\""
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "\"\(context.codingPath.map(\.stringValue).joined(separator: "."))\" is not a string"
        case DecodingError.dataCorrupted(let context):
            return (context.underlyingError as NSError?)?.localizedDescription ?? context.debugDescription
        default: return "\(error)"
        }
    }
}
