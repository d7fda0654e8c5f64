// safetensors: the tensor file format of Hugging Face checkpoints.
//
//   [8 bytes]  N, the header length, unsigned little-endian
//   [N bytes]  JSON object: name -> {"dtype", "shape", "data_offsets": [begin, end]},
//              plus an optional "__metadata__": {string: string}; padded with spaces
//   [rest]     raw little-endian tensor data; offsets are relative to the start of this region
//
// The reader maps the file once and validates the whole header against the file size
// before any tensor is touched, so a corrupt or truncated file is an error naming the
// file and the tensor, never a read past the end. F32, F16, BF16 and F64 convert to
// Float; the writer writes F32 (the format of every checkpoint this project saves).

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct SafetensorsError: Error, CustomStringConvertible {
    public let path: String
    /// The tensor concerned, nil for problems of the file as a whole.
    public let tensor: String?
    public let reason: String

    public init(path: String, tensor: String? = nil, reason: String) {
        self.path = path
        self.tensor = tensor
        self.reason = reason
    }

    public var description: String {
        if let tensor { return "\(path): tensor \"\(tensor)\": \(reason)" }
        return "\(path): \(reason)"
    }
}

/// One tensor's entry in the header, with its bytes located in the file.
public struct SafetensorsTensor: Sendable {
    public let name: String
    /// As in the header: "F32", "F16", "BF16", "F64", "I64", ...
    public let dtype: String
    public let shape: [Int]
    /// Byte range inside the file (header already added).
    public let fileRange: Range<Int>

    /// Number of elements (1 for a scalar of shape []).
    public var count: Int { shape.reduce(1, *) }
}

/// A mapped, validated .safetensors file. Tensors are read (and converted) on demand.
public final class SafetensorsFile {
    public let path: String
    /// Every tensor, in the order of their data in the file.
    public let tensors: [SafetensorsTensor]
    /// The header's `__metadata__` (e.g. ["format": "pt"]).
    public let metadata: [String: String]

    private let bytes: UnsafeRawBufferPointer
    private let indexByName: [String: Int]

    /// Maps and validates `path`; see `Safetensors.read(path:)`.
    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SafetensorsError(path: path, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw SafetensorsError(path: path, reason: "cannot stat: \(String(cString: strerror(errno)))")
        }
        let size = Int(info.st_size)
        guard size >= 8 else {
            throw SafetensorsError(path: path, reason: "truncated: \(size) bytes, fewer than the 8-byte header length")
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw SafetensorsError(path: path, reason: "cannot map \(size) bytes: \(String(cString: strerror(errno)))")
        }
        let bytes = UnsafeRawBufferPointer(start: base, count: size)
        do {
            (tensors, metadata) = try SafetensorsFile.parseHeader(bytes, path: path)
        } catch {
            munmap(base, size)
            throw error
        }
        self.bytes = bytes
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        indexByName = index
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
    }

    public subscript(name: String) -> SafetensorsTensor? {
        indexByName[name].map { tensors[$0] }
    }

    /// Converts tensor `name` to Float into `destination` (exactly `count` elements).
    /// `requireFinite` (weights) turns a NaN or infinity into an error naming the element.
    public func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>,
                     requireFinite: Bool = true) throws {
        guard let tensor = self[name] else {
            throw SafetensorsError(path: path, tensor: name, reason: "not in the file")
        }
        guard destination.count == tensor.count else {
            throw SafetensorsError(path: path, tensor: name,
                                   reason: "destination holds \(destination.count) elements, tensor has \(tensor.count)")
        }
        let source = UnsafeRawBufferPointer(rebasing: bytes[tensor.fileRange])
        let out = destination.baseAddress!
        let n = tensor.count
        // Every element is loaded unaligned: data offsets need not be multiples of the element size.
        switch tensor.dtype {
        case "F32":
            #if _endian(little)
            if n > 0 { UnsafeMutableRawPointer(out).copyMemory(from: source.baseAddress!, byteCount: n * 4) }
            #else
            for i in 0..<n { out[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            #endif
        case "F64":
            for i in 0..<n {
                out[i] = Float(Double(bitPattern: UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            }
        case "F16":
            for i in 0..<n {
                out[i] = Safetensors.halfToFloat(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        case "BF16":
            // bfloat16 is the top half of a float32.
            for i in 0..<n {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                out[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        default:
            throw SafetensorsError(path: path, tensor: name,
                                   reason: "dtype \(tensor.dtype) cannot be read as floating point (expected F32, F16, BF16 or F64)")
        }
        if requireFinite {
            for i in 0..<n where !out[i].isFinite {
                throw SafetensorsError(path: path, tensor: name,
                                       reason: "element \(i) (of \(n), shape \(tensor.shape)) is \(out[i]); weights must be finite")
            }
        }
    }

    /// Tensor `name` as a new Float array (tests, small tensors).
    public func floats(_ name: String, requireFinite: Bool = true) throws -> [Float] {
        guard let tensor = self[name] else {
            throw SafetensorsError(path: path, tensor: name, reason: "not in the file")
        }
        var result = [Float](repeating: 0, count: tensor.count)
        try result.withUnsafeMutableBufferPointer { try read(name, into: $0, requireFinite: requireFinite) }
        return result
    }

    // MARK: Header validation

    private static func parseHeader(_ bytes: UnsafeRawBufferPointer, path: String)
        throws -> ([SafetensorsTensor], [String: String]) {
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        let available = UInt64(bytes.count - 8)
        guard headerLength <= available else {
            throw SafetensorsError(path: path, reason: "header length \(headerLength) goes beyond the file: only \(available) bytes follow the 8-byte length")
        }
        // Same bound as the reference implementation: a larger header is corruption, not a model.
        guard headerLength <= 100_000_000 else {
            throw SafetensorsError(path: path, reason: "header length \(headerLength) exceeds the 100 MB limit")
        }
        let dataStart = 8 + Int(headerLength)
        let dataLength = bytes.count - dataStart
        let json = Data(bytes[8..<dataStart])
        guard let object = try? JSONSerialization.jsonObject(with: json), let header = object as? [String: Any] else {
            throw SafetensorsError(path: path, reason: "header (\(headerLength) bytes) is not a JSON object")
        }

        var metadata: [String: String] = [:]
        var tensors: [SafetensorsTensor] = []
        tensors.reserveCapacity(header.count)
        for (name, value) in header {
            if name == "__metadata__" {
                guard let dict = value as? [String: Any] else {
                    throw SafetensorsError(path: path, reason: "__metadata__ is not an object")
                }
                for (k, v) in dict {
                    guard let s = v as? String else {
                        throw SafetensorsError(path: path, reason: "__metadata__ value of \"\(k)\" is not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            guard let entry = value as? [String: Any] else {
                throw SafetensorsError(path: path, tensor: name, reason: "header entry is not an object")
            }
            guard let dtype = entry["dtype"] as? String else {
                throw SafetensorsError(path: path, tensor: name, reason: "missing or non-string dtype")
            }
            guard let elementSize = Safetensors.elementSize[dtype] else {
                throw SafetensorsError(path: path, tensor: name, reason: "unknown dtype \"\(dtype)\"")
            }
            guard let shapeValues = entry["shape"] as? [Any], let shape = integers(shapeValues), shape.allSatisfy({ $0 >= 0 }) else {
                throw SafetensorsError(path: path, tensor: name, reason: "shape \(entry["shape"] ?? "missing") is not a list of non-negative integers")
            }
            guard let offsetValues = entry["data_offsets"] as? [Any], let offsets = integers(offsetValues), offsets.count == 2,
                  offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw SafetensorsError(path: path, tensor: name,
                                       reason: "data_offsets \(entry["data_offsets"] ?? "missing") is not [begin, end] with 0 ≤ begin ≤ end")
            }
            let (count, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            let span = offsets[1] - offsets[0]
            let bytesNeeded = count.multipliedReportingOverflow(by: elementSize)
            guard !overflow, !bytesNeeded.overflow, bytesNeeded.partialValue == span else {
                throw SafetensorsError(path: path, tensor: name,
                                       reason: "shape \(shape) of \(dtype) needs \(overflow ? "an overflowing number of" : "\(count * elementSize)") bytes, data_offsets \(offsets) span \(span)")
            }
            guard offsets[1] <= dataLength else {
                throw SafetensorsError(path: path, tensor: name,
                                       reason: "data_offsets \(offsets) end beyond the data (\(dataLength) bytes): file truncated or offsets wrong")
            }
            tensors.append(SafetensorsTensor(name: name, dtype: dtype, shape: shape,
                                             fileRange: (dataStart + offsets[0])..<(dataStart + offsets[1])))
        }
        // Sorted by position, any overlap shows between neighbours: O(n log n), not n².
        tensors.sort { ($0.fileRange.lowerBound, $0.fileRange.upperBound) < ($1.fileRange.lowerBound, $1.fileRange.upperBound) }
        for (a, b) in zip(tensors, tensors.dropFirst()) where b.fileRange.lowerBound < a.fileRange.upperBound {
            throw SafetensorsError(path: path, tensor: b.name,
                                   reason: "data \(offsetsText(b, dataStart)) overlaps tensor \"\(a.name)\" at \(offsetsText(a, dataStart))")
        }
        return (tensors, metadata)
    }

    private static func integers(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        for v in values {
            guard let n = v as? NSNumber, let i = Int(exactly: n.doubleValue), Double(n.int64Value) == n.doubleValue else { return nil }
            result.append(i)
        }
        return result
    }

    private static func offsetsText(_ t: SafetensorsTensor, _ dataStart: Int) -> String {
        "[\(t.fileRange.lowerBound - dataStart), \(t.fileRange.upperBound - dataStart)]"
    }
}

public enum Safetensors {
    /// Bytes per element of every dtype the format defines; others are an error.
    static let elementSize: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2,
        "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
        "F8_E4M3": 1, "F8_E5M2": 1,
    ]

    /// Maps and validates a .safetensors file: header length, JSON, every dtype, shape and
    /// byte span, offsets inside the file and not overlapping. Tensors convert on `read`.
    public static func read(path: String) throws -> SafetensorsFile {
        try SafetensorsFile(path: path)
    }

    /// Writes F32 tensors atomically (temporary file, fsync, rename). `tensors` keep their order;
    /// `metadata` goes in `__metadata__` (HF expects ["format": "pt"]).
    public static func write(path: String, tensors: [(name: String, shape: [Int], data: UnsafeBufferPointer<Float>)],
                             metadata: [String: String]) throws {
        var seen = Set<String>()
        var entries: [String] = []
        if !metadata.isEmpty {
            let fields = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            entries.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var offset = 0
        for t in tensors {
            guard t.name != "__metadata__", seen.insert(t.name).inserted else {
                throw SafetensorsError(path: path, tensor: t.name, reason: "duplicate or reserved tensor name")
            }
            let count = t.shape.reduce(1, *)
            guard t.shape.allSatisfy({ $0 >= 0 }), count == t.data.count else {
                throw SafetensorsError(path: path, tensor: t.name,
                                       reason: "shape \(t.shape) has \(count) elements, data has \(t.data.count)")
            }
            let shape = t.shape.map(String.init).joined(separator: ",")
            entries.append("\(jsonString(t.name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + 4 * count)]}")
            offset += 4 * count
        }
        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }

        try AtomicFile.write(to: path) { fd in
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try AtomicFile.writeAll(fd: fd, $0, path: path) }
            try header.withUnsafeBytes { try AtomicFile.writeAll(fd: fd, $0, path: path) }
            for t in tensors where t.data.count > 0 {
                #if _endian(little)
                try AtomicFile.writeAll(fd: fd, UnsafeRawBufferPointer(t.data), path: path)
                #else
                let swapped = t.data.map { $0.bitPattern.littleEndian }
                try swapped.withUnsafeBytes { try AtomicFile.writeAll(fd: fd, $0, path: path) }
                #endif
            }
        }
    }

    /// A JSON string literal (tensor names are ASCII in practice; escape the rest properly).
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// IEEE 754 binary16 to Float (exact: every half is a float).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        switch exponent {
        case 0:
            // Zero or subnormal: mantissa × 2⁻²⁴.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        default:
            return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
        }
    }
}
