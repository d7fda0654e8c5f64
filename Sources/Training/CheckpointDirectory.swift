// Checkpoint directories of a run: OUTPUT/epoch-NNNN (after epoch N) and OUTPUT/step-NNNNNNN
// (every --checkpoint-every-steps, and on SIGTERM/SIGUSR1). A directory is complete when its
// trainer-state.json is there: the whole directory is renamed into place at once, so a
// half-written checkpoint only ever exists under a hidden temporary name, which discovery
// ignores. "Newest" is by the optimizer step recorded in the trainer state.

import Foundation

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
