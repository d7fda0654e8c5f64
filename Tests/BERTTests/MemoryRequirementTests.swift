// Absurd model sizes end in an error that says how much memory the configuration needs, before anything
// is allocated (issue 11, item 5). The process-level cases are in TrainingTests/SizeLimitTests.swift.

import XCTest
@testable import BERT

final class MemoryRequirementTests: XCTestCase {
    func tiny() -> BertConfig {
        var c = BertConfig()
        c.vocabSize = 100; c.hiddenSize = 32; c.numHiddenLayers = 2; c.numAttentionHeads = 2
        c.intermediateSize = 64; c.maxPositionEmbeddings = 64
        return c
    }

    /// The closed-form count agrees with the layout, and with HF's 110,106,428 for bert-base (BertForPreTraining, tied decoder).
    func testParameterCountMatchesTheLayout() {
        XCTAssertEqual(BertConfig.preset("bert-base")!.parameterCount, 110_106_428)
        for c in [tiny(), BertConfig.preset("bert-large")!, BertConfig.preset("bert-mini")!] {
            XCTAssertEqual(c.parameterCount, ParameterLayout(config: c).count)
        }
    }

    /// The estimate is an upper bound of what the model really allocates (and not wildly above it).
    func testEstimateCoversWhatTheModelAllocates() throws {
        let c = tiny()
        let model = try BertForPreTraining(config: c, maxBatch: 4, maxSeqLength: 32, maxPredictions: 5)
        let m = MemoryRequirement(config: c, maxBatch: 4, maxSeqLength: 32, maxPredictions: 5, optimizerMoments: 2)
        XCTAssertEqual(m.parameters, 4 * model.layout.count)
        XCTAssertEqual(m.optimizerMoments, 8 * model.layout.count)
        let actual = model.parameterBytes + model.activationBytes
        let estimated = m.parameters! + m.gradients! + m.activations!
        XCTAssertGreaterThanOrEqual(estimated, actual)
        XCTAssertLessThan(Double(estimated), 2.5 * Double(actual))
        XCTAssertNoThrow(try m.check(physical: m.total!))
        XCTAssertThrowsError(try m.check(physical: m.total! - 1)) { error in
            XCTAssertTrue("\(error)".contains("physical memory"), "\(error)")
        }
    }

    func testAbsurdSizesAreRefusedBeforeAllocating() throws {
        func refused(_ edit: (inout BertConfig) -> Void, _ expected: String, line: UInt = #line) {
            var c = tiny()
            edit(&c)
            XCTAssertThrowsError(try BertForPreTraining(config: c, maxBatch: 32, maxSeqLength: 64, maxPredictions: 20),
                                 line: line) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error)", line: line)
            }
        }
        // hidden 2^24 at 2 layers: 4·(12·2^48) bytes of encoder weights alone, about 12 PiB
        refused({ $0.hiddenSize = 1 << 24 }, "PiB per rank")
        refused({ $0.numHiddenLayers = 100_000 }, "this machine has")
        refused({ $0.vocabSize = 1 << 62 }, "vocab_size: 4611686018427387904 exceeds the limit 2147483647")
        // Every field at its limit: the products overflow Int, and the message says so instead of wrapping.
        refused({ $0.hiddenSize = BertConfig.maxSize; $0.numAttentionHeads = 1; $0.numHiddenLayers = BertConfig.maxSize
                  $0.intermediateSize = BertConfig.maxSize }, "more than 8 EiB")
        XCTAssertThrowsError(try BertConfig.decode(json: Data(#"{"vocab_size": 4611686018427387904}"#.utf8))) { error in
            XCTAssertTrue("\(error)".contains("vocab_size"), "\(error)")
        }
    }

    func testBytesAreWrittenInBinaryUnits() {
        XCTAssertEqual(MemoryRequirement.text(512), "512 bytes")
        XCTAssertEqual(MemoryRequirement.text(3 << 29), "1.5 GiB")
        XCTAssertGreaterThan(MemoryRequirement.physicalMemory, 1 << 28)
    }
}
