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
//   5. the structure of Google's format: within the first 2000 lines, blank lines cut the text
//      into at least 2 blocks of on average at least 2 lines, and at least 80 % of the lines
//      end at a sentence end (a verse or two sentences per line, a document per block)
//                                                                             → google
//   6. otherwise                                                              → text
// Rule 5 matters: prose is one document per file, so a Google-format file taken for prose
// collapses into one document (no random next sentences). Prose differs in its structure:
// hard-wrapped lines end mid-sentence, and a paragraph per line makes blocks of one line.
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
    /// Rule 5: blocks of lines (between blank lines) needed, their mean length, and the share of lines ending a sentence.
    public static let minimumBlocks = 2
    public static let minimumLinesPerBlock = 2.0
    public static let sentenceEndShare = 0.8

    public static func detect(path: String, splitter: SentenceSplitter = SentenceSplitter()) throws -> FormatDetection {
        var name = (path as NSString).lastPathComponent.lowercased()
        if name.hasSuffix(".gz") { name.removeLast(3) }
        for ext in [".jsonl", ".ndjson", ".json"] where name.hasSuffix(ext) {
            return FormatDetection(format: .jsonl, reason: "file name ends in \(ext)")
        }
        let reader = try TextLineReader(path: path)
        defer { reader.close() }
        var sampled = 0, single = 0, scanned = 0
        // Structure over every scanned line: blocks of non-blank lines and lines that end a sentence.
        var nonBlank = 0, endingASentence = 0, blocks = 0, inBlock = false
        while scanned < maxScannedLines, let bytes = try reader.nextLine() {
            scanned += 1
            let line = pythonStrip(String(decoding: bytes, as: UTF8.self))
            guard !line.isEmpty else { inBlock = false; continue }
            if sampled == 0 && line.hasPrefix("{") { return FormatDetection(format: .jsonl, reason: "first line starts with {") }
            if sampled < sampleLines && line.hasPrefix("<doc ") {
                return FormatDetection(format: .wikiextractor, reason: "line \(reader.lineNumber) starts with <doc")
            }
            if !inBlock { blocks += 1; inBlock = true }
            nonBlank += 1
            if endsASentence(line) { endingASentence += 1 }
            if sampled < sampleLines {
                sampled += 1
                if isOneSentence(line, splitter) { single += 1 }
            }
        }
        guard sampled > 0 else { return FormatDetection(format: .google, reason: "no text") }
        let share = Double(single) / Double(sampled)
        let percent = Int((100 * share).rounded())
        if share >= sentenceShare {
            return FormatDetection(format: .google, reason: "\(percent) % of \(sampled) sampled lines are single sentences")
        }
        let linesPerBlock = Double(nonBlank) / Double(max(blocks, 1))
        let endShare = Double(endingASentence) / Double(nonBlank)
        let structure = "\(blocks) blank-line-separated blocks of on average \(String(format: "%.1f", linesPerBlock)) lines in the first \(scanned) lines, \(Int((100 * endShare).rounded())) % of lines end a sentence"
        if blocks >= minimumBlocks && linesPerBlock >= minimumLinesPerBlock && endShare >= sentenceEndShare {
            return FormatDetection(format: .google, reason: "\(structure); \(percent) % are single sentences")
        }
        return FormatDetection(format: .text, reason: "only \(percent) % of \(sampled) sampled lines are single sentences; \(structure)")
    }

    /// One sentence, ending in a terminator (then optional closing quotes / brackets).
    static func isOneSentence(_ line: String, _ splitter: SentenceSplitter) -> Bool {
        splitter.split(line).count == 1 && endsASentence(line)
    }

    /// The line ends in a sentence terminator (then optional closing quotes / brackets). Index steps,
    /// not dropLast(): that is O(n) per call on this view, and a fuzzed line ending in 100,000 "}" took minutes.
    static func endsASentence(_ line: String) -> Bool {
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
