import XCTest
@testable import Distributed

// MPI itself is exercised by the real `mpirun` jobs of TrainingTests and CorpusTests (all-reduce,
// broadcast, all-gather, abort on one rank). It is never initialised inside this test process:
// once MPI_Init has run here, every `mpirun` the later tests start from this process inherits its
// OMPI_/PMIX_ environment and fails.
final class ProgressMeterTests: XCTestCase {
    func testLineShowsCountRateAndETA() {
        let meter = ProgressMeter(label: "documents", unit: "docs", total: 1000, enabled: true)
        let line = meter.line(250, now: Date().addingTimeInterval(10))
        // 250 in ~10 s: 25/s, 750 left: ETA ~30 s.
        XCTAssertTrue(line.hasPrefix("documents  250/1000  25.0 docs/s"), line)
        XCTAssertTrue(line.contains("ETA 0:00:30"), line)
        XCTAssertTrue(line.contains("elapsed 0:00:10"), line)
    }

    func testLineWithoutTotalHasNoETA() {
        let meter = ProgressMeter(label: "lines", unit: "lines", total: nil, enabled: true)
        let line = meter.line(42.5, now: Date().addingTimeInterval(5))
        XCTAssertTrue(line.hasPrefix("lines  42.5  8.5 lines/s"), line)
        XCTAssertFalse(line.contains("ETA"), line)
    }

    func testDurationFormatting() {
        XCTAssertEqual(ProgressMeter.duration(0), "0:00:00")
        XCTAssertEqual(ProgressMeter.duration(3723.4), "1:02:03")
    }
}
