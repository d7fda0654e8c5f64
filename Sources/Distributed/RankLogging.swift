// Logging for multi-rank programs: every line tagged with the rank, rank 0 speaks
// at info level, the others only from warning up (so 8 ranks do not print 8 copies).
// And a progress meter (rate, ETA) that prints on rank 0 only.

import Foundation
import Logging

public struct RankLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let tag: String

    public init(rank: Int, size: Int, level: Logger.Level) {
        self.tag = size > 1 ? "[rank \(rank)] " : ""
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let prefix: String
        switch event.level {
        case .error, .critical: prefix = "error: "
        case .warning: prefix = "warning: "
        default: prefix = ""
        }
        FileHandle.standardError.write(Data("\(tag)\(prefix)\(event.message)\n".utf8))
    }

    /// Installs the handler for the process; `verbose` lowers rank 0's level to debug.
    public static func bootstrap(rank: Int, size: Int, verbose: Bool = false) {
        let level: Logger.Level = rank == 0 ? (verbose ? .debug : .info) : .warning
        LoggingSystem.bootstrap { _ in RankLogHandler(rank: rank, size: size, level: level) }
    }
}

/// Prints "label  done/total  rate/s  ETA" at most every `interval` seconds, on rank 0 only.
public final class ProgressMeter {
    private let label: String
    private let unit: String
    private let total: Double?
    private let enabled: Bool
    private let interval: Double
    private let start = Date()
    private var lastPrint = Date.distantPast

    public init(label: String, unit: String, total: Double?, enabled: Bool, interval: Double = 5) {
        self.label = label
        self.unit = unit
        self.total = total
        self.enabled = enabled
        self.interval = interval
    }

    /// Reports `done` units finished so far (and optional extra text, e.g. a loss).
    /// Every update also counts as progress for the stall watchdog (a long evaluation ticks it per batch).
    public func update(_ done: Double, extra: String = "", force: Bool = false) {
        RankProgress.active?.tick()
        guard enabled else { return }
        let now = Date()
        guard force || now.timeIntervalSince(lastPrint) >= interval else { return }
        lastPrint = now
        FileHandle.standardError.write(Data((line(done, now: now) + (extra.isEmpty ? "" : "  " + extra) + "\n").utf8))
    }

    func line(_ done: Double, now: Date) -> String {
        let elapsed = max(now.timeIntervalSince(start), 1e-9)
        let rate = done / elapsed
        var text = "\(label)  \(Self.format(done))"
        if let total { text += "/\(Self.format(total))" }
        text += String(format: "  %.1f %@/s", rate, unit)
        if let total, rate > 0 {
            text += "  ETA " + Self.duration(max(0, (total - done) / rate))
        }
        text += "  elapsed " + Self.duration(elapsed)
        return text
    }

    static func format(_ x: Double) -> String {
        x == x.rounded() ? String(Int(x)) : String(format: "%.1f", x)
    }

    public static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return String(format: "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60)
    }
}
