import XCTest
@testable import Distributed

/// Single-process checks (MPI singleton); the multi-rank behaviour is tested with real mpirun in TrainingTests.
final class CommunicatorTests: XCTestCase {
    func testSingletonWorldIsRankZeroOfOne() throws {
        let world = Communicator.world()
        XCTAssertEqual(world.rank, 0)
        XCTAssertEqual(world.size, 1)
        var values: [Double] = [1.5, -2]
        try world.allReduce(&values)
        XCTAssertEqual(values, [1.5, -2])
        XCTAssertEqual(try world.broadcast("hello"), "hello")
        XCTAssertEqual(try world.allGather(bytes: [1, 2, 3]), [[1, 2, 3]])
    }
}
