// What `bert-pretrain bench` prints: one line of text, or one JSON object (JSONEncoder, snake_case keys,
// as jobs/bench-vs-pytorch.sh, jobs/bench-scaling.sh and jobs/bench-unpadded.sh read them).

import BERT
import Foundation

public struct StepReport: Codable, Equatable, Sendable {
    public var config: String
    public var task: BenchTask
    /// The --data path as given; null for the synthetic batch.
    @NullWhenAbsent public var data: String?
    /// The rectangular padded path (--padded) rather than real tokens only.
    public var padded: Bool
    public var threads: Int
    /// Which code computed the products (openblas-fp32, emulated-bf16, onednn-bf16), and the kernel set
    /// OpenBLAS runs (its pick for the CPU, or what OPENBLAS_CORETYPE pins): float32 products and the
    /// sgemm peak below run on it.
    public var products: String
    public var openblasCore: String
    /// OMP_WAIT_POLICY and OPENBLAS_THREAD_TIMEOUT as the process ran ("unset" when not set): how long
    /// idle library threads spin (IdleThreads: the executable sets both unless the user did).
    public var openmpWaitPolicy: String
    public var openblasThreadTimeout: String
    public var batchSize: Int
    public var seqLength: Int
    public var predictions: Int
    public var dropout: Double
    public var steps: Int
    public var warmup: Int
    public var parameters: Int
    public var seqPerS: Double
    /// Padded positions ÷ B·T over the timed batches, and the real (unpadded) tokens per second:
    /// seq/s × T × (1 − padding share).
    public var paddingShare: Double
    public var realTokensPerS: Double
    /// Distinct batches the steps cycled over (1 for the synthetic batch).
    public var distinctBatches: Int
    public var stepMsMedian: Double
    public var stepMsMin: Double
    public var flopsPerStep: Double
    public var gflops: Double
    public var sgemmGflops: Double
    public var gemmEfficiency: Double
    public var peakRssMb: Double
    public var activationMb: Double
    public var parameterAndGradientMb: Double
    public var firstLoss: Double
    public var lastLoss: Double

    /// `configName` is the --config as given (a preset or a path); `sgemmGflops` the machine's peak at `threads`.
    /// T and P are the timed batches' (`timings`), the shards' with --data. The FLOPs count every one of the
    /// B·T positions, padding included, as the peer's formula does.
    public init(configName: String, settings s: StepBenchmarkSettings, threads: Int, timings: StepTimings,
                sgemmGflops: Double, peakRssMb: Double) {
        let median = timings.median
        let flops = StepFLOPs.perStep(config: s.config, batch: s.batchSize, seq: timings.seqLength,
                                      predictions: s.task == .pretraining ? timings.predictions : 0)
        config = configName; task = s.task; data = s.data; padded = s.padded; self.threads = threads
        products = timings.products.rawValue; openblasCore = BLAS.coreName
        openmpWaitPolicy = ProcessInfo.processInfo.environment[IdleThreads.openmpPolicy.name] ?? "unset"
        openblasThreadTimeout = ProcessInfo.processInfo.environment[IdleThreads.openblasTimeout.name] ?? "unset"
        batchSize = s.batchSize; seqLength = timings.seqLength; predictions = timings.predictions
        dropout = s.config.hiddenDropoutProb; steps = s.steps; warmup = s.warmup
        parameters = timings.parameterCount
        seqPerS = Double(s.batchSize) / median
        paddingShare = timings.paddingShare
        realTokensPerS = seqPerS * Double(timings.seqLength) * (1 - timings.paddingShare)
        distinctBatches = timings.distinctBatches
        stepMsMedian = median * 1e3
        stepMsMin = (timings.seconds.min() ?? 0) * 1e3
        flopsPerStep = flops
        gflops = flops / median / 1e9
        self.sgemmGflops = sgemmGflops
        gemmEfficiency = gflops / sgemmGflops
        self.peakRssMb = peakRssMb
        activationMb = Double(timings.activationBytes) / 1_048_576
        parameterAndGradientMb = Double(timings.parameterBytes) / 1_048_576
        firstLoss = timings.losses.first ?? 0
        lastLoss = timings.losses.last ?? 0
    }

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public var text: String {
        let source = data.map { String(format: ", data %@ (%d batches, %.1f%% padding): %.0f real tokens/s", $0, distinctBatches,
                                       100 * paddingShare, realTokensPerS) } ?? ""
        return String(format: "%@ %@%@ threads=%d B=%d T=%d P=%d dropout=%.2f: %.2f seq/s, median step %.1f ms (min %.1f), "
                      + "%.1f GFLOP/s (%.1f GFLOP/step) = %.0f%% of sgemm %.1f GFLOP/s, peak RSS %.0f MB "
                      + "(activations %.0f MB, parameters+gradients %.0f MB), loss %.3f -> %.3f, products %@ (OpenBLAS core %@)%@",
                      config, task.rawValue, padded ? " padded" : "", threads, batchSize, seqLength, predictions, dropout, seqPerS,
                      stepMsMedian, stepMsMin, gflops, flopsPerStep / 1e9, 100 * gemmEfficiency, sgemmGflops, peakRssMb,
                      activationMb, parameterAndGradientMb, firstLoss, lastLoss, products, openblasCore, source)
    }
}

/// An optional that JSON encodes as null: synthesized Codable leaves a nil optional's key out, and the
/// job scripts read every key of every report.
@propertyWrapper
public struct NullWhenAbsent<Value: Codable & Equatable & Sendable>: Codable, Equatable, Sendable {
    public var wrappedValue: Value?
    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}
