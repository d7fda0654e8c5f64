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
