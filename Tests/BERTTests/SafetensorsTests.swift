import Foundation
import XCTest
@testable import BERT
import Storage

/// Builds a .safetensors file byte by byte, so tests can also make broken ones.
/// `header` overrides the generated JSON; `lengthOverride` the 8-byte header length.
func rawSafetensors(_ entries: [(name: String, dtype: String, shape: [Int], bytes: [UInt8])],
                    header: String? = nil, lengthOverride: UInt64? = nil) -> Data {
    var offset = 0
    var fields: [String] = ["\"__metadata__\":{\"format\":\"pt\"}"]
    var payload: [UInt8] = []
    for e in entries {
        fields.append("\"\(e.name)\":{\"dtype\":\"\(e.dtype)\",\"shape\":\(e.shape),\"data_offsets\":[\(offset),\(offset + e.bytes.count)]}")
        offset += e.bytes.count
        payload += e.bytes
    }
    let json = Array((header ?? "{\(fields.joined(separator: ","))}").utf8)
    var length = (lengthOverride ?? UInt64(json.count)).littleEndian
    var data = Data(bytes: &length, count: 8)
    data.append(contentsOf: json)
    data.append(contentsOf: payload)
    return data
}

func littleEndianBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
}

/// A fresh empty directory under the temporary directory, removed at the end of the test.
func temporaryDirectory(_ test: XCTestCase) throws -> String {
    let dir = (NSTemporaryDirectory() as NSString).appendingPathComponent("bert-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    return dir
}

/// The error message of `body`, or a failure when it does not throw.
func errorMessage(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> String {
    do {
        try body()
        XCTFail("expected an error", file: file, line: line)
        return ""
    } catch {
        return "\(error)"
    }
}

final class SafetensorsTests: XCTestCase {
    func testRoundTripKeepsTensorsShapesOrderAndMetadata() throws {
        let dir = try temporaryDirectory(self)
        let path = (dir as NSString).appendingPathComponent("t.safetensors")
        let a: [Float] = (0..<12).map { Float($0) * 0.37 - 2 }
        let b: [Float] = [Float.leastNonzeroMagnitude, -0.0, 3.4e38, 1e-20, -7]
        let c: [Float] = [42]
        try a.withUnsafeBufferPointer { pa in
            try b.withUnsafeBufferPointer { pb in
                try c.withUnsafeBufferPointer { pc in
                    try Safetensors.write(path: path, tensors: [("layer.a.weight", [3, 4], pa), ("b", [5], pb), ("scalar", [], pc)],
                                          metadata: ["format": "pt", "note": "quote \" and backslash \\"])
                }
            }
        }
        let file = try Safetensors.read(path: path)
        XCTAssertEqual(file.tensors.map(\.name), ["layer.a.weight", "b", "scalar"], "data order is the write order")
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "quote \" and backslash \\"])
        XCTAssertEqual(file["layer.a.weight"]?.shape, [3, 4])
        XCTAssertEqual(file["scalar"]?.shape, [])
        // A round trip stores bits, it computes nothing: equality is the right expectation.
        XCTAssertEqual(try file.floats("layer.a.weight").map(\.bitPattern), a.map(\.bitPattern))
        XCTAssertEqual(try file.floats("b").map(\.bitPattern), b.map(\.bitPattern))
        XCTAssertEqual(try file.floats("scalar"), [42])
        // Data starts 8-byte aligned, as the reference writer pads it.
        XCTAssertEqual(file["layer.a.weight"]!.fileRange.lowerBound % 8, 0)
        // No temporary file left beside it.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["t.safetensors"])
    }

    func testReadsTheFileWrittenByHuggingFace() throws {
        let path = try fixturePath("hf-parity/checkpoint/model.safetensors")
        let file = try Safetensors.read(path: path)
        XCTAssertEqual(file.metadata["format"], "pt")
        XCTAssertEqual(file.tensors.count, 46)
        XCTAssertEqual(file["bert.encoder.layer.1.intermediate.dense.weight"]?.shape, [48, 32])
        XCTAssertEqual(file["cls.predictions.bias"]?.dtype, "F32")
        let gamma = try file.floats("bert.embeddings.LayerNorm.weight")
        // The fixture script draws LayerNorm γ uniformly in [0.6, 1.4].
        XCTAssertTrue(gamma.allSatisfy { $0 >= 0.6 && $0 <= 1.4 }, "\(gamma)")
    }

    func testConvertsHalfBFloatAndDoubleToFloat() throws {
        let dir = try temporaryDirectory(self)
        let path = (dir as NSString).appendingPathComponent("mixed.safetensors")
        // F16: 1.0 = 0x3C00, -2.5 = 0xC100, 65504 = 0x7BFF, 2⁻²⁴ = 0x0001 (subnormal), -0 = 0x8000.
        let half: [UInt16] = [0x3C00, 0xC100, 0x7BFF, 0x0001, 0x8000]
        // BF16: 1.0 = 0x3F80, -3.0 = 0xC040, 0.15625 = 0x3E20.
        let bf16: [UInt16] = [0x3F80, 0xC040, 0x3E20]
        let f64: [Double] = [0.1, -1e300 / 1e300, 123456.789]
        func bytes16(_ v: [UInt16]) -> [UInt8] { v.flatMap { x in withUnsafeBytes(of: x.littleEndian) { Array($0) } } }
        let d64 = f64.flatMap { x in withUnsafeBytes(of: x.bitPattern.littleEndian) { Array($0) } }
        try rawSafetensors([("h", "F16", [5], bytes16(half)), ("b", "BF16", [3], bytes16(bf16)), ("d", "F64", [3], d64)])
            .write(to: URL(fileURLWithPath: path))
        let file = try Safetensors.read(path: path)
        XCTAssertEqual(try file.floats("h"), [1, -2.5, 65504, 0x1p-24, 0])
        XCTAssertEqual(try file.floats("h")[4].sign, .minus)
        XCTAssertEqual(try file.floats("b"), [1, -3, 0.15625])
        XCTAssertEqual(try file.floats("d"), f64.map { Float($0) })
    }

    // MARK: Bad input: errors name the file and the tensor, nothing crashes

    private func message(writing data: Data, read name: String? = nil) throws -> String {
        let dir = try temporaryDirectory(self)
        let path = (dir as NSString).appendingPathComponent("bad.safetensors")
        try data.write(to: URL(fileURLWithPath: path))
        return errorMessage {
            let file = try Safetensors.read(path: path)
            if let name { _ = try file.floats(name) }
        }
    }

    func testTruncatedDataIsRefusedNamingTheTensor() throws {
        var data = rawSafetensors([("w", "F32", [2, 3], littleEndianBytes([1, 2, 3, 4, 5, 6]))])
        data.removeLast(5)
        let m = try message(writing: data)
        XCTAssertTrue(m.contains("bad.safetensors") && m.contains("\"w\"") && m.contains("[0, 24]") && m.contains("19 bytes"), m)
    }

    func testFileShorterThanTheLengthFieldIsRefused() throws {
        let m = try message(writing: Data([1, 2, 3]))
        XCTAssertTrue(m.contains("truncated") && m.contains("3 bytes"), m)
    }

    func testHeaderLengthBeyondTheFileIsRefused() throws {
        let data = rawSafetensors([("w", "F32", [1], littleEndianBytes([1]))], lengthOverride: 1 << 40)
        let m = try message(writing: data)
        XCTAssertTrue(m.contains("header length 1099511627776 goes beyond the file"), m)
    }

    func testHeaderThatIsNotJSONIsRefused() throws {
        let m = try message(writing: rawSafetensors([], header: "{\"w\": [1, 2"))
        XCTAssertTrue(m.contains("not a JSON object"), m)
    }

    func testUnknownDtypeIsRefused() throws {
        let m = try message(writing: rawSafetensors([("w", "F33", [1], [0, 0, 0, 0])]))
        XCTAssertTrue(m.contains("\"w\"") && m.contains("unknown dtype \"F33\""), m)
    }

    func testIntegerTensorCannotBeReadAsWeights() throws {
        // Valid in the header (HF buffers such as position_ids are I64), refused when converted.
        let m = try message(writing: rawSafetensors([("ids", "I64", [2], [UInt8](repeating: 0, count: 16))]), read: "ids")
        XCTAssertTrue(m.contains("\"ids\"") && m.contains("I64 cannot be read as floating point"), m)
    }

    func testShapeThatDisagreesWithTheByteSpanIsRefused() throws {
        // Shape [2, 3] of F32 needs 24 bytes; give a header claiming 20.
        let header = #"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#
        let m = try message(writing: rawSafetensors([], header: header) + Data(count: 24))
        XCTAssertTrue(m.contains("\"w\"") && m.contains("needs 24 bytes") && m.contains("span 20"), m)
    }

    func testOverlappingOffsetsAreRefusedNamingBothTensors() throws {
        let header = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#
        let m = try message(writing: rawSafetensors([], header: header) + Data(count: 16))
        XCTAssertTrue(m.contains("\"b\"") && m.contains("overlaps tensor \"a\""), m)
    }

    func testNonFiniteWeightsAreRefusedNamingTheElement() throws {
        let data = rawSafetensors([("ok", "F32", [1], littleEndianBytes([1])), ("w", "F32", [3], littleEndianBytes([1, .nan, 2]))])
        let m = try message(writing: data, read: "w")
        XCTAssertTrue(m.contains("\"w\"") && m.contains("element 1") && m.contains("nan"), m)
    }

    func testWriterRefusesAShapeThatDisagreesWithTheData() throws {
        let dir = try temporaryDirectory(self)
        let values: [Float] = [1, 2, 3]
        let m = errorMessage {
            try values.withUnsafeBufferPointer {
                try Safetensors.write(path: dir + "/x.safetensors", tensors: [("w", [2, 2], $0)], metadata: [:])
            }
        }
        XCTAssertTrue(m.contains("\"w\"") && m.contains("shape [2, 2] has 4 elements, data has 3"), m)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [], "nothing left behind")
    }
}

/// Path of a file under the test bundle's Fixtures folder.
func fixturePath(_ relative: String) throws -> String {
    let base = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil), "Fixtures missing from the test bundle")
    let path = base.appendingPathComponent(relative).path
    guard FileManager.default.fileExists(atPath: path) else { throw CheckpointError(path: path, reason: "fixture missing") }
    return path
}
