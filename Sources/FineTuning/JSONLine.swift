// One JSON lines record: a strict JSON object (RFC 8259) on one line, its top-level members in the
// order written. Hand-written rather than JSONSerialization because run_glue's rules need two things
// Foundation does not give: the order of the keys (the first one or two non-label columns are the
// texts) and whether a number was written as an integer ("1") or a float ("1.0", "1e3"), which is
// how datasets/pyarrow decide between classification and regression. Nested arrays and objects are
// validated and skipped (they cannot be a text or a label).

/// A top-level member's value, as far as task files care.
enum JSONScalar: Equatable {
    case string(String)
    /// A number written without "." or exponent (its text as written).
    case integer(String)
    /// A number written with "." or an exponent (its text as written).
    case float(String)
    case bool(Bool)
    case null
    case nested   // an array or object
}

/// A syntax error: what is wrong and the 1-based byte column where it was found.
struct JSONLineError: Error {
    let column: Int
    let reason: String
}

struct JSONLineParser {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var i = 0
    private var depth = 0
    /// Nesting deeper than this is refused (a malicious line cannot overflow the stack).
    static let maxDepth = 512

    /// The members of the object on `line`, in order. A duplicate key keeps its last value, as Python's json does.
    static func parseObject(_ line: UnsafeBufferPointer<UInt8>) throws -> [(key: String, value: JSONScalar)] {
        var parser = JSONLineParser(bytes: line)
        parser.skipSpace()
        guard parser.peek == UInt8(ascii: "{") else {
            if parser.peek == UInt8(ascii: "[") {
                throw parser.error("a JSON array; JSON lines expected (one object per line, e.g. {\"sentence\": \"...\", \"label\": 1})")
            }
            throw parser.error("expected a JSON object ({...}) on each line")
        }
        let members = try parser.object()
        parser.skipSpace()
        guard parser.i == line.count else { throw parser.error("unexpected text after the object (one object per line)") }
        return members
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    private func error(_ reason: String) -> JSONLineError { JSONLineError(column: i + 1, reason: reason) }

    private mutating func skipSpace() {
        while let c = peek, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { i += 1 }
    }

    private mutating func expect(_ c: Character) throws {
        guard peek == c.asciiValue else {
            throw error(peek == nil ? "unexpected end of line, expected '\(c)'" : "expected '\(c)'")
        }
        i += 1
    }

    private mutating func object() throws -> [(key: String, value: JSONScalar)] {
        try expect("{")
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw error("nested more than \(Self.maxDepth) deep") }
        var members: [(key: String, value: JSONScalar)] = []
        var position: [String: Int] = [:]   // key → index in members (a line with many keys stays linear)
        skipSpace()
        if peek == UInt8(ascii: "}") { i += 1; return members }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try string()
            skipSpace()
            try expect(":")
            skipSpace()
            let v = try value()
            if let existing = position[key] {
                members[existing].value = v
            } else {
                position[key] = members.count
                members.append((key, v))
            }
            skipSpace()
            if peek == UInt8(ascii: ",") { i += 1; continue }
            try expect("}")
            return members
        }
    }

    private mutating func array() throws {
        try expect("[")
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw error("nested more than \(Self.maxDepth) deep") }
        skipSpace()
        if peek == UInt8(ascii: "]") { i += 1; return }
        while true {
            skipSpace()
            _ = try value()
            skipSpace()
            if peek == UInt8(ascii: ",") { i += 1; continue }
            try expect("]")
            return
        }
    }

    private mutating func value() throws -> JSONScalar {
        switch peek {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "{"): _ = try object(); return .nested
        case UInt8(ascii: "["): try array(); return .nested
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case .some(let c) where c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39): return try number()
        case nil: throw error("unexpected end of line, expected a value")
        default: throw error("expected a value (string, number, true, false, null, array or object)")
        }
    }

    private mutating func literal(_ word: String) throws {
        for c in word.utf8 {
            guard peek == c else { throw error("invalid literal, expected '\(word)'") }
            i += 1
        }
    }

    private mutating func digits() -> Int {
        let start = i
        while let c = peek, c >= 0x30 && c <= 0x39 { i += 1 }
        return i - start
    }

    private mutating func number() throws -> JSONScalar {
        let start = i
        var isFloat = false
        if peek == UInt8(ascii: "-") { i += 1 }
        if peek == UInt8(ascii: "0") {
            i += 1
        } else {
            guard digits() > 0 else { throw error("invalid number") }
        }
        if peek == UInt8(ascii: ".") {
            i += 1
            isFloat = true
            guard digits() > 0 else { throw error("invalid number: digits expected after '.'") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            i += 1
            isFloat = true
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw error("invalid number: digits expected in the exponent") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        return isFloat ? .float(text) : .integer(text)
    }

    private mutating func hex4() throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let c = peek else { throw error("unexpected end of line in a \\u escape") }
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("invalid \\u escape (4 hex digits expected)")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    private mutating func string() throws -> String {
        try expect("\"")
        var out: [UInt8] = []
        var runStart = i
        while true {
            guard let c = peek else { throw error("unterminated string") }
            if c == UInt8(ascii: "\"") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
                i += 1
                break
            }
            if c < 0x20 { throw error("control character in a string (must be escaped)") }
            if c != UInt8(ascii: "\\") { i += 1; continue }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
            i += 1
            guard let e = peek else { throw error("unterminated escape") }
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00,
                   i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                    let save = i
                    i += 2
                    let low = try hex4()
                    if low >= 0xDC00 && low < 0xE000 {
                        scalar = 0x10000 + (scalar - 0xD800) << 10 + (low - 0xDC00)
                    } else {
                        i = save
                    }
                }
                // A lone surrogate cannot be UTF-8; Python keeps it, then fails to encode it: refuse here.
                guard let u = Unicode.Scalar(scalar) else { throw error("\\u escape of a lone surrogate") }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default:
                i -= 1
                throw error("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
            }
            runStart = i
        }
        guard let s = String(validating: out, as: UTF8.self) else {
            throw error("string is not valid UTF-8")
        }
        return s
    }
}
