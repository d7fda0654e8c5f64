// The input formats of `bert-corpus` and how a file's format is detected when none is given.
//
//   google         one sentence per line, a blank line between documents (Google's BERT format)
//   text           prose: a file is one document (or a line matching --doc-separator starts a new
//                  one); paragraphs are separated by blank lines; sentences by SentenceSplitter
//   jsonl          one JSON object per line, one document each; its text field ("text" unless
//                  --json-field) is split into paragraphs at newlines, then into sentences
//   wikiextractor  <doc id=… url=… title=…> … </doc> blocks; the title line after the tag is
//                  skipped; every other line is a paragraph, split into sentences
//
// Detection, per file (gzip looked through), first rule that applies:
//   1. the name (without .gz) ends in .jsonl, .ndjson or .json                → jsonl
//   2. the first non-blank line starts with "{"                               → jsonl
//   3. one of the first 200 non-blank lines (within the first 2000 lines) starts with "<doc "
//                                                                             → wikiextractor
//   4. of those sampled lines, at least 80 % are one
//      sentence each (SentenceSplitter finds one sentence, ending in . ! ? … or a CJK stop,
//      closing quotes/brackets allowed)                                       → google
//   5. otherwise                                                              → text
// A file with no non-blank line yields no documents whatever its format.

import Foundation
import Storage

public enum InputFormat: String, CaseIterable, CustomStringConvertible {
    case google, text, jsonl, wikiextractor
    public var description: String { rawValue }
}

public struct FormatDetection: CustomStringConvertible {
    public let format: InputFormat
    public let reason: String
    public var description: String { "\(format) (\(reason))" }
}

public enum InputFormatDetector {
    public static let sampleLines = 200
    public static let maxScannedLines = 2000
    public static let sentenceShare = 0.8

    public static func detect(path: String, splitter: SentenceSplitter = SentenceSplitter()) throws -> FormatDetection {
        var name = (path as NSString).lastPathComponent.lowercased()
        if name.hasSuffix(".gz") { name.removeLast(3) }
        for ext in [".jsonl", ".ndjson", ".json"] where name.hasSuffix(ext) {
            return FormatDetection(format: .jsonl, reason: "file name ends in \(ext)")
        }
        let reader = try TextLineReader(path: path)
        defer { reader.close() }
        var sampled = 0, single = 0, scanned = 0
        while sampled < sampleLines && scanned < maxScannedLines, let bytes = try reader.nextLine() {
            scanned += 1
            let line = pythonStrip(String(decoding: bytes, as: UTF8.self))
            guard !line.isEmpty else { continue }
            if sampled == 0 && line.hasPrefix("{") { return FormatDetection(format: .jsonl, reason: "first line starts with {") }
            if line.hasPrefix("<doc ") { return FormatDetection(format: .wikiextractor, reason: "line \(reader.lineNumber) starts with <doc") }
            sampled += 1
            if isOneSentence(line, splitter) { single += 1 }
        }
        guard sampled > 0 else { return FormatDetection(format: .google, reason: "no text") }
        let share = Double(single) / Double(sampled)
        let percent = Int((100 * share).rounded())
        if share >= sentenceShare {
            return FormatDetection(format: .google, reason: "\(percent) % of \(sampled) sampled lines are single sentences")
        }
        return FormatDetection(format: .text, reason: "only \(percent) % of \(sampled) sampled lines are single sentences")
    }

    /// One sentence, ending in a terminator (then optional closing quotes / brackets).
    static func isOneSentence(_ line: String, _ splitter: SentenceSplitter) -> Bool {
        guard splitter.split(line).count == 1 else { return false }
        // Index steps, not dropLast(): that is O(n) per call on this view, and a fuzzed line ending in
        // 100,000 "}" took minutes.
        let scalars = line.unicodeScalars
        var end = scalars.endIndex
        while end > scalars.startIndex, SentenceSplitter.isClosing(scalars[scalars.index(before: end)]) { end = scalars.index(before: end) }
        return end > scalars.startIndex && SentenceSplitter.isTerminator(scalars[scalars.index(before: end)])
    }
}

/// Python's str.strip(): removes leading and trailing whitespace as str.isspace() defines it.
public func pythonStrip(_ text: String) -> String {
    let scalars = text.unicodeScalars
    guard let first = scalars.firstIndex(where: { !SentenceSplitter.isSpace($0) }) else { return "" }
    let last = scalars.lastIndex(where: { !SentenceSplitter.isSpace($0) })!
    if first == scalars.startIndex && scalars.index(after: last) == scalars.endIndex { return text }
    return String(scalars[first...last])
}
