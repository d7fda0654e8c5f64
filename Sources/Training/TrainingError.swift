// Errors of the training run; each message names the file (and rank, step, tensor) and what is wrong.

public enum TrainingError: Error, CustomStringConvertible {
    case badShard(path: String, reason: String)
    case noShards(directory: String, pattern: String)
    case badCheckpoint(path: String, reason: String)
    case badOption(String)
    case nonFinite(step: Int, streak: Int, detail: String)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .badShard(let path, let reason): return "shard \(path): \(reason)"
        case .noShards(let directory, let pattern):
            return "no shards matching *\(pattern)*.hdf5 in \(directory)"
        case .badCheckpoint(let path, let reason): return "checkpoint \(path): \(reason)"
        case .badOption(let message): return message
        case .nonFinite(let step, let streak, let detail):
            return "step \(step): non-finite loss or gradient (\(detail)); \(streak) in a row, stopping the run"
        case .io(let path, let reason): return "\(path): \(reason)"
        }
    }
}
