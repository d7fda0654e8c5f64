import XCTest
@testable import Training

final class DataPlanTests: XCTestCase {
    func testEpochOrderIsAPermutationKeyedBySeedAndEpoch() {
        let plan = DataPlan(instanceCount: 1000, batchSize: 4, ranks: 2, accumulationSteps: 1, seed: 7)
        let e1 = plan.order(epoch: 1)
        XCTAssertEqual(e1.sorted(), Array(0..<1000), "an epoch's order must contain every instance once")
        XCTAssertEqual(e1, plan.order(epoch: 1), "same (seed, epoch) must give the same order")
        XCTAssertNotEqual(e1, plan.order(epoch: 2), "epochs must be shuffled differently")
        let other = DataPlan(instanceCount: 1000, batchSize: 4, ranks: 2, accumulationSteps: 1, seed: 8)
        XCTAssertNotEqual(e1, other.order(epoch: 1), "seeds must give different orders")
        XCTAssertNotEqual(e1, Array(0..<1000))
    }

    /// The global batches (in micro-step/rank order) do not depend on the number of ranks.
    func testGlobalBatchesDoNotDependOnRanks() {
        let n = 103
        let one = DataPlan(instanceCount: n, batchSize: 8, ranks: 1, accumulationSteps: 1, seed: 3)
        let two = DataPlan(instanceCount: n, batchSize: 4, ranks: 2, accumulationSteps: 1, seed: 3)
        let fourAccumulated = DataPlan(instanceCount: n, batchSize: 1, ranks: 4, accumulationSteps: 2, seed: 3)
        XCTAssertEqual(one.stepsPerEpoch, 12)
        XCTAssertEqual(two.stepsPerEpoch, 12)
        XCTAssertEqual(fourAccumulated.stepsPerEpoch, 12)
        XCTAssertEqual(one.remainder, 7)
        let order = one.order(epoch: 2)
        XCTAssertEqual(order, two.order(epoch: 2), "the permutation must depend on (seed, epoch) only")
        for step in 0..<one.stepsPerEpoch {
            let reference = Array(one.instances(order: order, step: step, micro: 0, rank: 0))
            let split = (0..<2).flatMap { Array(two.instances(order: order, step: step, micro: 0, rank: $0)) }
            XCTAssertEqual(split, reference, "step \(step): 2 ranks × 4 must read 1 rank × 8's batch")
            var accumulated: [Int] = []
            for micro in 0..<2 { for rank in 0..<4 { accumulated += fourAccumulated.instances(order: order, step: step, micro: micro, rank: rank) } }
            XCTAssertEqual(accumulated, reference, "step \(step): 4 ranks × 1 × 2 micro-steps must read the same batch")
        }
    }

    func testEveryInstanceAtMostOncePerEpochAndRemainderDropped() {
        let plan = DataPlan(instanceCount: 50, batchSize: 3, ranks: 2, accumulationSteps: 2, seed: 11)
        XCTAssertEqual(plan.globalBatchSize, 12)
        XCTAssertEqual(plan.stepsPerEpoch, 4)
        XCTAssertEqual(plan.remainder, 2)
        let order = plan.order(epoch: 1)
        var seen: [Int] = []
        for s in 0..<plan.stepsPerEpoch { for a in 0..<2 { for r in 0..<2 { seen += plan.instances(order: order, step: s, micro: a, rank: r) } } }
        XCTAssertEqual(seen.count, 48)
        XCTAssertEqual(Set(seen).count, 48, "no instance may be read twice in an epoch")
        XCTAssertEqual(Set(order.suffix(2)).intersection(seen), [], "the last N mod G of the order are the ones left out")
    }

    func testShardIndexLocatesAcrossShardsIncludingEmptyOnes() {
        let index = ShardIndex(counts: [3, 0, 2, 5])
        XCTAssertEqual(index.total, 10)
        let expected: [(Int, Int)] = [(0, 0), (0, 1), (0, 2), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2), (3, 3), (3, 4)]
        for (i, e) in expected.enumerated() {
            let got = index.locate(i)
            XCTAssertTrue(got.shard == e.0 && got.row == e.1, "instance \(i): expected \(e), found \(got)")
        }
    }

    /// The generator moved to BERT (shared with dropout) but draws what it drew before: the data order
    /// of earlier runs, hence their resume, is unchanged. Expected values from an independent Python
    /// transcription of the earlier TrainingRandom (SplitMix64 key fold, xoshiro256**).
    func testTrainingRandomDrawsWhatItDrewBefore() {
        var rng = TrainingRandom(keys: [12345, 0x6570_6f63_68, 1])   // DataPlan's (seed, "epoch", 1)
        XCTAssertEqual((0..<3).map { _ in rng.next() }, [0x7f30_4d48_1740_f49e, 0x1f24_1c5e_9bf3_595e, 0xfdfc_48c1_ef77_284a])
    }

    /// The automatic (b′, A′) of a resume on R′ ranks: the saved batch if it fits G/R′, else the largest
    /// smaller divisor; explicit values are checked; a G that cannot be kept is refused, listing what works.
    func testResumeShapeKeepsTheGlobalBatch() throws {
        func shape(_ b: Int, _ a: Int) -> BatchShape { BatchShape(batchSize: b, accumulationSteps: a) }
        func auto(_ saved: BatchShape, _ savedRanks: Int, _ ranks: Int) throws -> BatchShape {
            try BatchShape.forResume(saved: saved, savedRanks: savedRanks, ranks: ranks)
        }
        XCTAssertEqual(try auto(shape(4, 1), 2, 2), shape(4, 1), "same ranks: unchanged")
        XCTAssertEqual(try auto(shape(4, 1), 2, 1), shape(4, 2), "fewer ranks: the saved batch, more accumulation")
        XCTAssertEqual(try auto(shape(4, 2), 1, 2), shape(4, 1), "more ranks: the saved batch, less accumulation")
        XCTAssertEqual(try auto(shape(4, 1), 1, 2), shape(2, 1), "G/R′ = 2 < saved batch 4: the largest that fits")
        XCTAssertEqual(try auto(shape(4, 3), 1, 2), shape(3, 2), "4 does not divide G/R′ = 6: 3, the largest below that does")
        XCTAssertEqual(try auto(shape(5, 4), 1, 2), shape(5, 2))
        XCTAssertEqual(try auto(shape(7, 1), 1, 7), shape(1, 1))
        XCTAssertEqual(try auto(shape(32, 1), 8, 4), shape(32, 2), "8 ranks × 32 on 4 ranks")
        // Explicit values.
        XCTAssertEqual(try BatchShape.forResume(saved: shape(4, 1), savedRanks: 2, ranks: 1, batchSize: 2), shape(2, 4))
        XCTAssertEqual(try BatchShape.forResume(saved: shape(4, 1), savedRanks: 2, ranks: 1, accumulationSteps: 8), shape(1, 8))
        XCTAssertEqual(try BatchShape.forResume(saved: shape(4, 1), savedRanks: 2, ranks: 1, batchSize: 8, accumulationSteps: 1),
                       shape(8, 1))
        func refused(_ message: String, _ body: () throws -> BatchShape) {
            XCTAssertThrowsError(try body()) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
                XCTAssertTrue("\(error)".contains("global batch is 8"), "\(error)")
            }
        }
        refused("--batch-size 1 --accumulation-steps 8; --batch-size 2 --accumulation-steps 4; --batch-size 4 --accumulation-steps 2; --batch-size 8 --accumulation-steps 1") {
            try BatchShape.forResume(saved: shape(4, 1), savedRanks: 2, ranks: 1, batchSize: 3)
        }
        refused("cannot resume with --batch-size 8 --accumulation-steps 2 on 1 ranks") {
            try BatchShape.forResume(saved: shape(4, 1), savedRanks: 2, ranks: 1, batchSize: 8, accumulationSteps: 2)
        }
        refused("--accumulation-steps 3") { try BatchShape.forResume(saved: shape(4, 1), savedRanks: 2, ranks: 1, accumulationSteps: 3) }
        refused("8 is not a multiple of 3; use a rank count dividing 8 (1, 2, 4, 8)") { try auto(shape(4, 1), 2, 3) }

        // Whatever the shape, a step reads the same set of instances.
        let n = 100
        let saved = DataPlan(instanceCount: n, batchSize: 4, ranks: 3, accumulationSteps: 1, seed: 9)
        let order = saved.order(epoch: 3)
        for ranks in [1, 2, 4, 6, 12] {
            let s = try auto(shape(4, 1), 3, ranks)
            let plan = DataPlan(instanceCount: n, batchSize: s.batchSize, ranks: ranks, accumulationSteps: s.accumulationSteps, seed: 9)
            XCTAssertEqual(plan.globalBatchSize, 12)
            XCTAssertEqual(plan.stepsPerEpoch, saved.stepsPerEpoch)
            for step in 0..<plan.stepsPerEpoch {
                func union(_ p: DataPlan) -> Set<Int> {
                    var all: [Int] = []
                    for a in 0..<p.accumulationSteps { for r in 0..<p.ranks { all += p.instances(order: order, step: step, micro: a, rank: r) } }
                    XCTAssertEqual(all.count, Set(all).count, "an instance read twice in a step")
                    return Set(all)
                }
                XCTAssertEqual(union(plan), union(saved), "step \(step) on \(ranks) ranks × \(s)")
            }
        }
    }

    func testTrainingRandomIsDeterministicAndRoughlyUniform() {
        var a = TrainingRandom(keys: [1, 2, 3]), b = TrainingRandom(keys: [1, 2, 3]), c = TrainingRandom(keys: [1, 2, 4])
        let xa = (0..<8).map { _ in a.next() }, xb = (0..<8).map { _ in b.next() }, xc = (0..<8).map { _ in c.next() }
        XCTAssertEqual(xa, xb)
        XCTAssertNotEqual(xa, xc)
        var counts = [Int](repeating: 0, count: 10)
        let n = 100_000
        for _ in 0..<n { counts[Int(a.nextUnit() * 10)] += 1 }
        // Chi-square with 9 degrees of freedom: the 99.9% quantile is 27.9.
        let chi2 = counts.reduce(0.0) { $0 + pow(Double($1) - Double(n) / 10, 2) / (Double(n) / 10) }
        XCTAssertLessThan(chi2, 27.9, "deciles \(counts)")
    }
}
