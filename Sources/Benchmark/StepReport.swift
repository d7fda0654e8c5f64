// What `bert-pretrain bench` prints: one line of text, or one JSON object (JSONEncoder, snake_case keys,
// as jobs/bench-vs-pytorch.sh and jobs/bench-scaling.sh read them).

import Foundation

public struct StepReport: Codable, Equatable, Sendable {
    public var config: String
    public var task: BenchTask
    public var threads: Int
    public var batchSize: Int
    public var seqLength: Int
    public var predictions: Int
    public var dropout: Double
    public var steps: Int
    public var warmup: Int
    public var parameters: Int
    public var seqPerS: Double
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
    public init(configName: String, settings s: StepBenchmarkSettings, threads: Int, timings: StepTimings,
                sgemmGflops: Double, peakRssMb: Double) {
        let median = timings.median
        let flops = StepFLOPs.perStep(config: s.config, batch: s.batchSize, seq: s.seqLength,
                                      predictions: s.task == .pretraining ? s.predictions : 0)
        config = configName; task = s.task; self.threads = threads
        batchSize = s.batchSize; seqLength = s.seqLength; predictions = s.predictions
        dropout = s.config.hiddenDropoutProb; steps = s.steps; warmup = s.warmup
        parameters = timings.parameterCount
        seqPerS = Double(s.batchSize) / median
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
        String(format: "%@ %@ threads=%d B=%d T=%d P=%d dropout=%.2f: %.2f seq/s, median step %.1f ms (min %.1f), "
               + "%.1f GFLOP/s (%.1f GFLOP/step) = %.0f%% of sgemm %.1f GFLOP/s, peak RSS %.0f MB "
               + "(activations %.0f MB, parameters+gradients %.0f MB), loss %.3f -> %.3f",
               config, task.rawValue, threads, batchSize, seqLength, predictions, dropout, seqPerS,
               stepMsMedian, stepMsMin, gflops, flopsPerStep / 1e9, 100 * gemmEfficiency, sgemmGflops, peakRssMb,
               activationMb, parameterAndGradientMb, firstLoss, lastLoss)
    }
}
