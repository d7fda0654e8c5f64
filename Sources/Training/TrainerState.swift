// trainer-state.json: everything besides the weights and optimizer moments that `--resume`
// needs to continue a run exactly (the moments are in optimizer.safetensors beside it, with
// the optimizer's own tensor names). It holds nothing per rank: dropout masks are keyed by
// (seed, step, instance, layer, site), so a run can resume on another number of ranks.

import BERT
import Foundation

public struct ScheduleState: Codable, Equatable, Sendable {
    public var peakLearningRate: Double
    public var warmupSteps: Int
    public var totalSteps: Int
    public var kind: ScheduleKind
}

/// Sums over all ranks and over the steps since the last metrics row; identical on every rank
/// (reduced every step), saved so that a row whose window spans a resume is still exact.
/// Sums over the steps since the last metrics row. The `mlm…` fields hold the model's first loss and
/// the `nsp…` fields its second (a classifier has only the first), under the names trainer-state.json
/// has always used.
public struct MetricsWindow: Codable, Equatable, Sendable {
    public var steps = 0
    public var sequences = 0
    public var mlmLossSum = 0.0, mlmCount = 0.0, mlmCorrect = 0.0
    public var nspLossSum = 0.0, nspCount = 0.0, nspCorrect = 0.0
    public var gradNormSum = 0.0
    /// Timing (not restored exactly; excluded from run comparisons).
    public var seconds = 0.0, allReduceSeconds = 0.0

    public init() {}

    public var mlmLoss: Double { mlmLossSum / max(mlmCount, 1) }
    public var nspLoss: Double { nspLossSum / max(nspCount, 1) }
    public var loss: Double { mlmLoss + nspLoss }
    public var mlmAccuracy: Double { mlmCorrect / max(mlmCount, 1) }
    public var nspAccuracy: Double { nspCorrect / max(nspCount, 1) }

    mutating func add(_ s: LossSums) {
        mlmLossSum += s.first.lossSum; mlmCount += s.first.count; mlmCorrect += s.first.correct
        nspLossSum += s.second.lossSum; nspCount += s.second.count; nspCorrect += s.second.correct
    }
}

public struct TrainerState: Codable, Equatable, Sendable {
    /// 2: keyed dropout, no per-rank generator states. 1 (read, never written): had `dropoutStates`.
    public static let formatVersion = 2
    static let readableFormats = 1...formatVersion
    public var format = TrainerState.formatVersion
    /// Optimizer steps done (updates skipped for non-finite gradients included).
    public var step: Int
    /// The epoch to continue (1-based) and how many of its global batches are done.
    public var epoch: Int
    public var stepInEpoch: Int
    /// Sequences consumed by all ranks so far.
    public var samples: Int
    /// Ranks of the run that wrote this state (a resume may use another number).
    public var ranks: Int
    /// The optimizer's own step counter (bias correction).
    public var optimizerSteps: Int
    public var schedule: ScheduleState
    /// Format 1 only: every rank's dropout generator state. Read so that a resume can say the masks
    /// change; never written (nil is left out of the JSON).
    public var dropoutStates: [[UInt64]]? = nil
    public var nonFiniteStreak: Int
    public var window: MetricsWindow
    /// SHA-256 of the vocab.txt the run used, if known.
    public var vocabSHA256: String?
    /// The run's full configuration.
    public var options: TrainingOptions

    public init(step: Int, epoch: Int, stepInEpoch: Int, samples: Int, ranks: Int, optimizerSteps: Int,
                schedule: ScheduleState, nonFiniteStreak: Int, window: MetricsWindow,
                vocabSHA256: String?, options: TrainingOptions) {
        self.step = step; self.epoch = epoch; self.stepInEpoch = stepInEpoch; self.samples = samples
        self.ranks = ranks; self.optimizerSteps = optimizerSteps; self.schedule = schedule
        self.nonFiniteStreak = nonFiniteStreak; self.window = window
        self.vocabSHA256 = vocabSHA256; self.options = options
    }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    public static func decode(json: Data) throws -> TrainerState {
        let state = try JSONDecoder().decode(TrainerState.self, from: upgraded(json))
        guard readableFormats.contains(state.format) else {
            throw TrainingError.badCheckpoint(path: CheckpointDirectory.stateFile,
                                              reason: "trainer-state format \(state.format), this build reads \(readableFormats.lowerBound)–\(formatVersion)")
        }
        return state
    }

    /// Format-1 states wrote `options.evalData` as one path; it is a list of paths now.
    static func upgraded(_ json: Data) -> Data {
        guard var object = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
              var options = object["options"] as? [String: Any], let path = options["evalData"] as? String else { return json }
        options["evalData"] = [path]
        object["options"] = options
        return (try? JSONSerialization.data(withJSONObject: object)) ?? json
    }

    public static func load(checkpoint dir: String) throws -> TrainerState {
        let path = (dir as NSString).appendingPathComponent(CheckpointDirectory.stateFile)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainingError.badCheckpoint(path: path, reason: "missing (not a complete trainer checkpoint)")
        }
        do { return try decode(json: data) } catch let e as TrainingError { throw e } catch {
            throw TrainingError.badCheckpoint(path: path, reason: "unreadable trainer state: \(error)")
        }
    }
}
