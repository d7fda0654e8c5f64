// Each generator draws what the code it replaced drew (issue 16: five copies of SplitMix64 and two
// of xoshiro256** became Sources/Randomness). The expected values were printed by the earlier copies
// (BERT/Checkpoint.swift's SplitMix64, Corpus/SeededRandom.swift, BERT/Dropout.swift's RandomKey and
// KeyedRandom) compiled unchanged from main at ddc5817; SplitMix64's seed-0 outputs are also the
// published reference values of the algorithm. Checkpoint initialisation, shard bytes, the data
// order and dropout masks of earlier runs depend on these streams.

import Randomness
import XCTest

final class GeneratorsTests: XCTestCase {
    func testSplitMix64DrawsTheReferenceSequence() {
        var rng = SplitMix64(seed: 0)
        XCTAssertEqual((0..<3).map { _ in rng.next() }, [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
    }

    /// Fresh weights (Checkpoint.initialize): Box-Muller over (0, 1] uniforms, two draws per value.
    func testSplitMix64NormalsAndUniformsAreTheCheckpointInitialisers() {
        var normal = SplitMix64(seed: 42)
        XCTAssertEqual((0..<4).map { _ in normal.nextNormal().bitPattern }, [0x3ED4_5626, 0xBF64_52A8, 0x3FDD_634E, 0x3F0B_ADC8])
        var uniform = SplitMix64(seed: 42)
        XCTAssertEqual(uniform.nextUnitExcludingZero(), 0.7415648787718234)
        XCTAssertEqual(uniform.nextUnitExcludingZero(), 0.15991039287692022)
    }

    /// The corpus build's tuple hash (SeededRandom's seed, shard keys, hold-out choices).
    func testSplitMix64TupleHash() {
        XCTAssertEqual(SplitMix64.hash(7), 0x63CB_E1E4_5932_0DD7)
        XCTAssertEqual(SplitMix64.hash(7, 1, 2), 0x50B9_90AA_BF67_0528)
        XCTAssertEqual(SplitMix64.hash(0, [0xFFFF_FFFF_FFFF_FFFF]), 0x75A9_777B_1626_BA41)
        var stream = SplitMix64(seed: SplitMix64.hash(12345, 1, 2))   // SeededRandom(seed: 12345, 1, 2)
        XCTAssertEqual((0..<3).map { _ in stream.next() }, [0xE8FE_F984_56BF_B30B, 0x82EE_EDD0_4D7C_6EFF, 0x6497_3985_DBD1_1D74])
    }

    func testXoshiro256StarStarKeyedStreams() {
        var empty = Xoshiro256StarStar(keys: [])
        XCTAssertEqual((0..<3).map { _ in empty.next() }, [0x422E_A740_D097_7210, 0xE062_B061_B42E_2928, 0x5A07_1FC5_9308_41B6])
        var appended = Xoshiro256StarStar(RandomKey().appending(1).appending(2))
        XCTAssertEqual((0..<3).map { _ in appended.next() }, [0x9D49_FA9C_FAC5_1139, 0x7009_3225_581C_31BC, 0xF4B2_6674_25ED_C641])
        var tuple = Xoshiro256StarStar(keys: [1, 2])
        XCTAssertEqual(tuple.next(), 0x9D49_FA9C_FAC5_1139, "RandomKey([1, 2]) is RandomKey().appending(1).appending(2)")
    }

    /// TrainingRandom's unit and bounded draws (the data plan's shuffle).
    func testUnitAndBoundedDraws() {
        var rng = Xoshiro256StarStar(keys: [1, 2, 3])
        XCTAssertEqual(rng.nextUnit(), 0.26000456416169204)
        XCTAssertEqual(rng.nextUnit(), 0.29351278793468283)
        XCTAssertEqual((0..<8).map { _ in rng.nextInt(below: 10) }, [8, 8, 0, 4, 7, 3, 2, 3])
    }
}
