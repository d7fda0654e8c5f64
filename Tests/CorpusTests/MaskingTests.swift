// create_masked_lm_predictions: hand-derived cases and statistics within binomial bounds.

@testable import PretrainingData
import XCTest

final class MaskingTests: XCTestCase {
    // 0 [PAD], 1 [UNK], 2 [CLS], 3 [SEP], 4 [MASK], then words and ## pieces.
    static let tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "run", "##ning", "the", "cat"]
    static let vocabulary = MaskingVocabulary(tokens: tokens, clsId: 2, sepId: 3, maskId: 4)

    func testNumberToPredictRoundsHalfToEvenLikePython() {
        // Expected values printed by CPython: min(20, max(1, int(round(n * 0.15)))).
        let expected = [1: 1, 3: 1, 10: 2, 30: 4, 50: 8, 70: 10, 128: 19, 133: 20, 140: 20]
        for (n, count) in expected {
            XCTAssertEqual(numberToPredict(length: n, maskedLMProb: 0.15, maxPredictionsPerSeq: 20), count, "length \(n)")
        }
    }

    func testNeverMasksClsOrSepAndSortsPositions() {
        for seed in 0..<200 {
            var rng = SeededRandom(seed: UInt64(seed))
            var ids: [Int32] = [2, 10, 11, 8, 3, 10, 11, 3]
            let original = ids
            let (positions, labels) = createMaskedLMPredictions(
                tokens: &ids, maskedLMProb: 0.5, maxPredictionsPerSeq: 20, vocabulary: Self.vocabulary, rng: &rng)
            XCTAssertEqual(positions.count, 4)  // round(8 × 0.5)
            XCTAssertEqual(positions, positions.sorted())
            XCTAssertTrue(positions.allSatisfy { ![0, 4, 7].contains($0) }, "seed \(seed): \(positions)")
            XCTAssertEqual(labels, positions.map { original[Int($0)] })
            for p in 0..<ids.count where !positions.contains(Int32(p)) { XCTAssertEqual(ids[p], original[p]) }
        }
    }

    func testWholeWordMaskTakesAllPiecesOrNone() {
        // [CLS] un ##aff ##able run ##ning [SEP] the [SEP]: words {1,2,3} {4,5} {7}.
        for seed in 0..<300 {
            var rng = SeededRandom(seed: UInt64(seed))
            var ids: [Int32] = [2, 5, 6, 7, 8, 9, 3, 10, 3]
            let (positions, _) = createMaskedLMPredictions(
                tokens: &ids, maskedLMProb: 0.34, maxPredictionsPerSeq: 20, vocabulary: Self.vocabulary,
                wholeWordMask: true, rng: &rng)
            // Budget round(9 × 0.34) = 3: a 3-piece word alone, or {4,5} + {7}, never a part of a word.
            let set = Set(positions)
            XCTAssertTrue(set == [1, 2, 3] || set == [4, 5, 7], "seed \(seed): \(positions)")
        }
    }

    func testEightyTenTenWithinBinomialBounds() {
        // Long sequences of distinct-looking ids; count each masked position's fate.
        let vocabularySize = 1000
        let names = (0..<vocabularySize).map { $0 < 5 ? ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"][$0] : "w\($0)" }
        let vocabulary = MaskingVocabulary(tokens: names, clsId: 2, sepId: 3, maskId: 4)
        var masked = 0, unchanged = 0, replaced = 0, total = 0, randomSum = 0.0
        for sequence in 0..<3000 {
            var rng = SeededRandom(seed: 42, UInt64(sequence))
            var ids: [Int32] = [2] + (0..<126).map { Int32(5 + ($0 * 7 + sequence) % 995) } + [3]
            let original = ids
            let (positions, _) = createMaskedLMPredictions(tokens: &ids, vocabulary: vocabulary, rng: &rng)
            XCTAssertEqual(positions.count, 19)  // min(20, round(128 × 0.15))
            for p in positions.map(Int.init) {
                total += 1
                if ids[p] == 4 { masked += 1 } else if ids[p] == original[p] { unchanged += 1 } else {
                    replaced += 1
                    randomSum += Double(ids[p])
                }
            }
        }
        // A random replacement equal to the original (1/1000 of 10%) counts as unchanged.
        let n = Double(total)
        assertBinomial(masked, n: n, p: 0.8, "[MASK]")
        assertBinomial(unchanged, n: n, p: 0.1 + 0.1 / Double(vocabularySize), "unchanged")
        assertBinomial(replaced, n: n, p: 0.1 - 0.1 / Double(vocabularySize), "random")
        // Random ids are uniform over the whole vocabulary [0, 999]: mean 499.5, sd 288.7.
        let mean = randomSum / Double(replaced), sd = 288.7 / Double(replaced).squareRoot()
        XCTAssertLessThan(abs(mean - 499.5), 5 * sd, "mean random id \(mean), expected 499.5 ± \(5 * sd)")
    }
}

/// Observed count within five standard deviations of n·p.
func assertBinomial(_ count: Int, n: Double, p: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    let expected = n * p, sd = (n * p * (1 - p)).squareRoot()
    XCTAssertLessThan(abs(Double(count) - expected), 5 * sd,
                      "\(what): observed \(count) of \(Int(n)), expected \(expected) ± \(5 * sd)", file: file, line: line)
}
