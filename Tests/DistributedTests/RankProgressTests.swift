// RankProgress on its own (one rank, no messages): what the watchdog thread reads of the main thread's marks.

import XCTest
@testable import Distributed

final class RankProgressTests: XCTestCase {
    func testMarksTicksAndStepTimesReachTheSnapshot() {
        let progress = RankProgress(world: nil, rank: 0, size: 1)
        let start = progress.snapshot()
        XCTAssertEqual(start.step, 0)
        XCTAssertFalse(start.waiting)
        XCTAssertEqual(start.peers, [])
        progress.mark(step: 12, phase: 9)
        var s = progress.snapshot()
        XCTAssertEqual(s.step, 12)
        XCTAssertEqual(s.phase, 9)
        XCTAssertEqual(s.generation, start.generation + 1, "a mark is progress")
        progress.tick()
        XCTAssertEqual(progress.snapshot().generation, start.generation + 2, "a tick is progress")
        XCTAssertEqual(progress.snapshot().generation, start.generation + 2, "reading is not")
        // The step times kept are the newest `stepHistory` ones.
        for k in 0..<(RankProgress.stepHistory + 5) { progress.recordStep(seconds: Double(k)) }
        s = progress.snapshot()
        XCTAssertEqual(s.stepSeconds.count, RankProgress.stepHistory)
        XCTAssertEqual(Set(s.stepSeconds), Set((5..<(RankProgress.stepHistory + 5)).map(Double.init)))
        // With one rank there is no collective to poll in: the watchdog must end the process itself.
        XCTAssertFalse(progress.requestAbort(code: 75))
        progress.close()
        XCTAssertNil(RankProgress.active)
    }
}
