// create_instances_from_document in the default mode (SeededRandom per document pass, NVIDIA's
// label for a same-document B): structure and statistics against values derived by hand.

@testable import PretrainingData
import XCTest

final class InstancesTests: XCTestCase {
    static let names = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (5..<500).map { "w\($0)" }
    static let vocabulary = MaskingVocabulary(tokens: names, clsId: 2, sepId: 3, maskId: 4)

    /// Every instance of every document pass, each pass with its own stream (seed, pass, document).
    static func build(_ docs: InMemoryDocuments, passes: Int, maxSeqLength: Int = 128, shortSeqProb: Double = 0.1) throws
        -> [[PretrainingInstance]] {
        var out: [[PretrainingInstance]] = []
        for pass in 0..<passes {
            for d in 0..<docs.documentCount {
                var rng = SeededRandom(seed: 12345, UInt64(pass), UInt64(d))
                out.append(try createInstancesFromDocument(
                    documents: docs, documentIndex: d, maxSeqLength: maxSeqLength, shortSeqProb: shortSeqProb,
                    vocabulary: vocabulary, sameDocumentBIsRandom: false, rng: &rng))
            }
        }
        return out
    }

    func testLayoutLengthsAndMaskCounts() throws {
        var g = SeededRandom(seed: 5)
        let docs = InMemoryDocuments((0..<30).map { _ in
            (0..<(1 + g.randbelow(20))).map { _ in (0..<(1 + g.randbelow(60))).map { _ in Int32(5 + g.randbelow(495)) } }
        })
        for instance in try Self.build(docs, passes: 3).joined() {
            let ids = instance.inputIds, seg = instance.segmentIds
            XCTAssertLessThanOrEqual(ids.count, 128)
            XCTAssertEqual(ids[0], 2)
            XCTAssertEqual(ids.last, 3)
            let firstSep = ids.firstIndex(of: 3)!
            XCTAssertGreaterThanOrEqual(firstSep, 2, "A has at least one token")
            XCTAssertLessThan(firstSep, ids.count - 2, "B has at least one token")
            XCTAssertEqual(seg, (0..<ids.count).map { $0 <= firstSep ? 0 : 1 })
            XCTAssertEqual(instance.maskedPositions.count,
                           numberToPredict(length: ids.count, maskedLMProb: 0.15, maxPredictionsPerSeq: 20))
        }
    }

    func testOneSentenceChunksAreAlwaysRandom() throws {
        // Every sentence is longer than max_num_tokens: each chunk is one sentence, so every B is random.
        let docs = InMemoryDocuments((0..<20).map { d in (0..<5).map { s in [Int32](repeating: Int32(5 + d * 5 + s), count: 130) } })
        let all = try Self.build(docs, passes: 2).joined()
        XCTAssertEqual(all.count, 200)
        XCTAssertTrue(all.allSatisfy { $0.nextSentenceLabel == 1 && $0.inputIds.count == 128 })
    }

    func testRandomNextShareMatchesTheAlgorithm() throws {
        // Documents of 13 sentences of 10 tokens, target always 125 (short_seq_prob 0): a chunk always
        // runs to the document's end. From n remaining sentences: n = 1 → one random instance; else
        // a_end uniform in [1, n−1], and with probability ½ B is random and n − a_end sentences are
        // put back. So E[instances](n) = 1 + ½·mean_a E[instances](n − a), E[random](n) likewise + ½.
        var expectedInstances = [0.0, 1.0], expectedRandom = [0.0, 1.0]
        for n in 2...13 {
            let rest = (1...(n - 1)).map { n - $0 }
            expectedInstances.append(1 + 0.5 * rest.map { expectedInstances[$0] }.reduce(0, +) / Double(n - 1))
            expectedRandom.append(0.5 + 0.5 * rest.map { expectedRandom[$0] }.reduce(0, +) / Double(n - 1))
        }
        let docs = InMemoryDocuments((0..<400).map { d in (0..<13).map { s in [Int32](repeating: Int32(5 + (d * 13 + s) % 495), count: 10) } })
        let perPass = try Self.build(docs, passes: 5, shortSeqProb: 0)
        let counts = perPass.map { Double($0.count) }, randoms = perPass.map { Double($0.filter { $0.nextSentenceLabel == 1 }.count) }
        func assertMean(_ xs: [Double], _ expected: Double, _ what: String) {
            let m = xs.reduce(0, +) / Double(xs.count)
            let sd = (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(xs.count - 1) / Double(xs.count)).squareRoot()
            XCTAssertLessThan(abs(m - expected), 5 * sd, "\(what): mean \(m), expected \(expected) ± \(5 * sd)")
        }
        assertMean(counts, expectedInstances[13], "instances per document pass")
        assertMean(randoms, expectedRandom[13], "random-B instances per document pass")
        let share = randoms.reduce(0, +) / counts.reduce(0, +)
        XCTAssertGreaterThan(share, 0.5, "one-sentence chunks push the random share above one half")
    }

    func testShortSequenceShare() throws {
        // One-token sentences: the first chunk has exactly `target` tokens; when its B is the real
        // continuation (label 0, probability ½ independent of the target) the instance is target + 3 long.
        let docs = InMemoryDocuments((0..<100).map { d in (0..<300).map { s in [Int32(5 + (d + s) % 495)] } })
        var short = 0, n = 0, shortTargets: [Double] = []
        for pass in try Self.build(docs, passes: 40) {
            guard let first = pass.first, first.nextSentenceLabel == 0 else { continue }
            n += 1
            let target = first.inputIds.count - 3
            if target < 125 { short += 1; shortTargets.append(Double(target)) }
        }
        // A short target is uniform in [2, 125]: below 125 with probability 123/124.
        assertBinomial(short, n: Double(n), p: 0.1 * 123 / 124, "short targets among \(n) first instances")
        let mean = shortTargets.reduce(0, +) / Double(shortTargets.count)
        let sd = 35.5 / Double(shortTargets.count).squareRoot()  // sd of uniform [2, 124] ≈ 35.5
        XCTAssertLessThan(abs(mean - 63), 5 * sd, "mean short target \(mean), expected 63 ± \(5 * sd)")
    }

    func testSameSeedSameInstancesDifferentPassDifferent() throws {
        var g = SeededRandom(seed: 9)
        var raw: [[[Int32]]] = []
        for _ in 0..<10 {
            raw.append((0..<8).map { s -> [Int32] in (0..<(5 + s)).map { _ -> Int32 in Int32(5 + g.randbelow(495)) } })
        }
        let docs = InMemoryDocuments(raw)
        XCTAssertEqual(try Self.build(docs, passes: 2), try Self.build(docs, passes: 2))
        let twoPasses = try Self.build(docs, passes: 2)
        XCTAssertNotEqual(twoPasses[0], twoPasses[10], "pass 1 of document 0 draws differently from pass 0")
    }
}
