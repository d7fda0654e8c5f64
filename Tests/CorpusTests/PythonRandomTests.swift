// PythonRandom against values printed by CPython 3.11 (Fixtures/reference/python-random.json,
// made by Fixtures/reference/make_python_random.py).

import Foundation
@testable import PretrainingData
import XCTest

final class PythonRandomTests: XCTestCase {
    struct Case: Decodable {
        let seed: String
        let random: [String]
        let getrandbits: [[JSONScalar]]
        let randint: [[Int]]
        let shuffle20: [Int]
        let random_after: String
        let randint_stream_0_99_sum_5000: Int
        let final_random: String
    }

    /// An int or a decimal string (getrandbits(64) does not fit in a JSON-safe Int).
    enum JSONScalar: Decodable {
        case int(Int), string(String)
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let i = try? c.decode(Int.self) { self = .int(i) } else { self = .string(try c.decode(String.self)) }
        }
        var uint64: UInt64 {
            switch self { case .int(let i): return UInt64(i); case .string(let s): return UInt64(s)! }
        }
    }

    static func cases() throws -> [Case] {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/reference/python-random", withExtension: "json"))
        return try JSONDecoder().decode([Case].self, from: Data(contentsOf: url))
    }

    func testMatchesCPython() throws {
        let cases = try Self.cases()
        XCTAssertEqual(cases.count, 7)
        for c in cases {
            var r = PythonRandom(seed: try XCTUnwrap(Int(c.seed)))
            for (i, expected) in c.random.enumerated() {
                // Python's repr of a float round-trips exactly, so the 53-bit value must be identical.
                XCTAssertEqual(r.random(), Double(expected)!, "seed \(c.seed): random() #\(i)")
            }
            for pair in c.getrandbits {
                let k = Int(pair[0].uint64)
                XCTAssertEqual(r.getrandbits(k), pair[1].uint64, "seed \(c.seed): getrandbits(\(k))")
            }
            for t in c.randint {
                XCTAssertEqual(r.randint(t[0], t[1]), t[2], "seed \(c.seed): randint(\(t[0]), \(t[1]))")
            }
            var xs = Array(0..<20)
            r.shuffle(&xs)
            XCTAssertEqual(xs, c.shuffle20, "seed \(c.seed): shuffle of 0..<20")
            XCTAssertEqual(r.random(), Double(c.random_after)!, "seed \(c.seed): random() after shuffle")
            var sum = 0
            for _ in 0..<5000 { sum += r.randint(0, 99) }
            XCTAssertEqual(sum, c.randint_stream_0_99_sum_5000, "seed \(c.seed): sum of 5000 randint(0, 99)")
            XCTAssertEqual(r.random(), Double(c.final_random)!, "seed \(c.seed): random() after the long stream")
        }
    }
}
