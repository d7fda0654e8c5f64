// Checkpoint directories of a run: OUTPUT/epoch-NNNN (after epoch N) and OUTPUT/step-NNNNNNN
// (every --checkpoint-every-steps, and on SIGTERM/SIGUSR1). A directory is complete when its
// trainer-state.json is there: the whole directory is renamed into place at once, so a
// half-written checkpoint only ever exists under a hidden temporary name, which discovery
// ignores. "Newest" is by the optimizer step recorded in the trainer state. A kill during a write
// leaves that temporary behind (as large as a checkpoint); a run starting or resuming in the folder
// removes them (`removeTemporaries`).

import Foundation
import Logging

public enum CheckpointDirectory {
    public static let stateFile = "trainer-state.json"
    public static let optimizerFile = "optimizer.safetensors"
    public static let metricsFile = "metrics.csv"

    public static func epochName(_ epoch: Int) -> String { String(format: "epoch-%04d", epoch) }
    public static func stepName(_ step: Int) -> String { String(format: "step-%07d", step) }

    /// Whether `name` is one of ours (epoch-NNNN or step-NNNNNNN).
    public static func isCheckpointName(_ name: String) -> Bool {
        func digits(_ s: Substring, _ n: Int) -> Bool { s.count == n && s.allSatisfy(\.isASCII) && s.allSatisfy(\.isNumber) }
        if name.hasPrefix("epoch-") { return digits(name.dropFirst(6), 4) }
        if name.hasPrefix("step-") { return digits(name.dropFirst(5), 7) }
        return false
    }

    /// Complete checkpoints under `output`, oldest first (by recorded step, then name).
    public static func complete(in output: String) -> [(path: String, step: Int)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []
        var found: [(path: String, step: Int, name: String)] = []
        for name in names where isCheckpointName(name) {
            let dir = (output as NSString).appendingPathComponent(name)
            let statePath = (dir as NSString).appendingPathComponent(stateFile)
            guard let data = FileManager.default.contents(atPath: statePath),
                  let state = try? TrainerState.decode(json: data) else { continue }
            found.append((dir, state.step, name))
        }
        // At the same step an epoch checkpoint and a step checkpoint hold the same state; prefer the epoch one.
        found.sort { ($0.step, $0.name.hasPrefix("epoch") ? 1 : 0) < ($1.step, $1.name.hasPrefix("epoch") ? 1 : 0) }
        return found.map { ($0.path, $0.step) }
    }

    /// Whether `name` is a temporary of one of our checkpoint directories: ".NAME.tmp-PID-RANDOM" as
    /// AtomicFile.temporaryPath makes it (the directory being written, or an old version moved aside).
    public static func isTemporaryName(_ name: String) -> Bool {
        guard name.hasPrefix("."), let marker = name.range(of: ".tmp-", options: .backwards) else { return false }
        let parts = name[marker.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }) else { return false }
        return isCheckpointName(String(name[name.index(after: name.startIndex)..<marker.lowerBound]))
    }

    /// Removes the half-written checkpoint directories a killed run left in `output` (only directories
    /// named as our temporaries; nothing else is touched), logging what it removed. Call it on one rank,
    /// before the run writes any checkpoint. Returns the removed paths.
    @discardableResult
    public static func removeTemporaries(in output: String, logger: Logger?) throws -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []
        var removed: [String] = []
        for name in names.sorted() where isTemporaryName(name) {
            let path = (output as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            do { try FileManager.default.removeItem(atPath: path) } catch {
                throw TrainingError.io(path: path, reason: "cannot remove a half-written checkpoint: \(error.localizedDescription)")
            }
            removed.append(path)
        }
        if !removed.isEmpty {
            logger?.info("removed \(removed.count) half-written checkpoint\(removed.count == 1 ? "" : "s") of an interrupted run: \(removed.joined(separator: ", "))")
        }
        return removed
    }

    /// The checkpoint `--resume` continues from.
    public static func newest(in output: String) -> String? { complete(in: output).last?.path }

    /// Removes the oldest complete checkpoints so that at most `keepLast` remain (0 = keep all).
    /// Returns the removed paths.
    @discardableResult
    public static func prune(in output: String, keepLast: Int) throws -> [String] {
        guard keepLast > 0 else { return [] }
        let all = complete(in: output)
        guard all.count > keepLast else { return [] }
        let doomed = all.prefix(all.count - keepLast).map(\.path)
        for path in doomed { try FileManager.default.removeItem(atPath: path) }
        return doomed
    }
}
