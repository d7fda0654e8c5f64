// bert-pretrain bench: times whole training steps (forward, zero grads, backward, AdamW step)
// on synthetic full-length sequences, shaped like /work/shared/peer-bench/torch_bert_bench.py's
// batches, so its figures compare with PyTorch's directly.

import ArgumentParser
import BERT
import Foundation
import Optim
import Randomness

enum BenchTask: String, ExpressibleByArgument, CaseIterable {
    case pretraining, classification
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time training steps of one model replica on synthetic pretraining batches.",
        discussion: """
            Each step: forward, zero gradients, backward, AdamW update, on B full-length sequences ([CLS] A [SEP] B [SEP], token ids uniform in [1000, vocab), --predictions positions per sequence replaced by [MASK]). Reports sequences/s, the median step time, achieved GFLOP/s, peak RSS, and cblas_sgemm GFLOP/s of a 2048³ product at the same thread count.

            FLOPs per step, as torch_bert_bench.py with the gathered MLM head (multiply-add = 2, training = 3 × forward), with L layers, H hidden, I intermediate, V vocab, T sequence length, P predictions, B batch:

              per token:    2L(4H² + 2HI) + 4LTH + 2H² + 2HV·(P/T)
              per sequence: 2(H² + 2H)
              step:         3·(B·T·per_token + B·per_sequence)

            LayerNorm, GELU, softmax, biases, embedding lookups and the optimizer are not counted.
            """)

    @Option(help: "Preset (bert-tiny, bert-mini, bert-small, bert-medium, bert-base, bert-large) or a config.json path.")
    var config: String = "bert-tiny"

    @Option(help: "Sequences per step (B).")
    var batchSize: Int = 32

    @Option(help: "Tokens per sequence (T).")
    var seqLength: Int = 128

    @Option(help: "Masked positions per sequence (P).")
    var predictions: Int = 20

    @Option(help: "OpenBLAS threads (openblas_set_num_threads).")
    var threads: Int = 1

    @Option(help: "Timed steps.")
    var steps: Int = 5

    @Option(help: "Untimed warm-up steps before timing.")
    var warmup: Int = 2

    @Option(help: "Hidden and attention dropout probability (overrides the config).")
    var dropout: Double = 0.1

    @Option(help: "Seed of the weights, the synthetic batch and the dropout masks.")
    var seed: UInt64 = 1234

    @Option(help: "pretraining (BertForPreTraining, gathered MLM head + NSP) or classification (BertForSequenceClassification, 2 labels, the fine-tuning step: gradient clipping at 1.0 as HF Trainer).")
    var task: BenchTask = .pretraining

    @Flag(help: "Print one JSON object instead of the text report.")
    var json = false

    func validate() throws {
        if batchSize < 1 || seqLength < 4 || threads < 1 || steps < 1 || warmup < 0 {
            throw ValidationError("need --batch-size ≥ 1, --seq-length ≥ 4, --threads ≥ 1, --steps ≥ 1, --warmup ≥ 0")
        }
        if predictions < 0 || predictions > seqLength - 3 {
            throw ValidationError("--predictions \(predictions) must be in [0, seq-length − 3 = \(seqLength - 3)] (special tokens are never masked)")
        }
        if !(dropout >= 0 && dropout < 1) { throw ValidationError("--dropout \(dropout) must be in [0, 1)") }
    }

    func run() throws {
        var config = try BertConfig.named(self.config)
        config.hiddenDropoutProb = dropout
        config.attentionProbsDropoutProb = dropout
        try config.validate()
        if config.vocabSize <= 1000 { throw ValidationError("the synthetic batch draws ids from [1000, vocab): vocab \(config.vocabSize) is too small") }
        BLAS.setThreads(threads)

        let batch = PretrainingBatch(maxBatch: batchSize, maxSeqLength: seqLength, maxPredictions: predictions)
        fillSyntheticBatch(batch, vocabSize: config.vocabSize, seed: seed &+ 2)
        let times: [Double], losses: [Double], layoutCount: Int, activationBytes: Int, parameterBytes: Int
        switch task {
        case .pretraining:
            let model = try BertForPreTraining(config: config, maxBatch: batchSize, maxSeqLength: seqLength, maxPredictions: predictions)
            (times, losses) = timeSteps(model, batch: batch, clip: false)
            (layoutCount, activationBytes, parameterBytes) = (model.layout.count, model.activationBytes, model.parameterBytes)
        case .classification:
            let model = try BertForSequenceClassification(config: config, numLabels: 2, problemType: .singleLabelClassification,
                                                          maxBatch: batchSize, maxSeqLength: seqLength)
            let pairs = ClassificationBatch(maxBatch: batchSize, maxSeqLength: seqLength)
            pairs.inputIds.baseAddress!.update(from: batch.inputIds.baseAddress!, count: batchSize * seqLength)
            pairs.segmentIds.baseAddress!.update(from: batch.segmentIds.baseAddress!, count: batchSize * seqLength)
            pairs.inputMask.baseAddress!.update(from: batch.inputMask.baseAddress!, count: batchSize * seqLength)
            for b in 0..<batchSize { pairs.labels[b] = batch.nextSentenceLabels[b] }
            (times, losses) = timeSteps(model, batch: pairs, clip: true)
            (layoutCount, activationBytes, parameterBytes) = (model.layout.count, model.activationBytes, model.parameterBytes)
        }
        let median = times.sorted()[times.count / 2]
        let flops = Self.flopsPerStep(config: config, batch: batchSize, seq: seqLength,
                                      predictions: task == .pretraining ? predictions : 0)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakRSS = Double(usage.ru_maxrss) / 1024   // ru_maxrss is in KiB on Linux
        let sgemm = BLAS.measureSgemm(size: 2048)

        let report: [(String, Any)] = [
            ("config", self.config), ("task", task.rawValue), ("threads", threads), ("batch_size", batchSize), ("seq_length", seqLength),
            ("predictions", predictions), ("dropout", dropout), ("steps", steps), ("warmup", warmup),
            ("parameters", layoutCount),
            ("seq_per_s", Double(batchSize) / median), ("step_ms_median", median * 1e3),
            ("step_ms_min", (times.min() ?? 0) * 1e3), ("flops_per_step", flops),
            ("gflops", flops / median / 1e9), ("sgemm_gflops", sgemm),
            ("gemm_efficiency", flops / median / 1e9 / sgemm),
            ("peak_rss_mb", peakRSS), ("activation_mb", Double(activationBytes) / 1_048_576),
            ("parameter_and_gradient_mb", Double(parameterBytes) / 1_048_576),
            ("first_loss", losses.first ?? 0), ("last_loss", losses.last ?? 0),
        ]
        if json {
            let body = report.map { key, value -> String in
                if let s = value as? String { return "\"\(key)\": \"\(s)\"" }
                if let d = value as? Double { return "\"\(key)\": \(d.isFinite ? String(format: "%.6g", d) : "null")" }
                return "\"\(key)\": \(value)"
            }
            print("{" + body.joined(separator: ", ") + "}")
        } else {
            print(String(format: "%@ %@ threads=%d B=%d T=%d P=%d dropout=%.2f: %.2f seq/s, median step %.1f ms (min %.1f), "
                         + "%.1f GFLOP/s (%.1f GFLOP/step) = %.0f%% of sgemm %.1f GFLOP/s, peak RSS %.0f MB "
                         + "(activations %.0f MB, parameters+gradients %.0f MB), loss %.3f -> %.3f",
                         self.config, task.rawValue, threads, batchSize, seqLength, predictions, dropout, Double(batchSize) / median,
                         median * 1e3, (times.min() ?? 0) * 1e3, flops / median / 1e9, flops / 1e9,
                         100 * flops / median / 1e9 / sgemm, sgemm, peakRSS,
                         Double(activationBytes) / 1_048_576, Double(parameterBytes) / 1_048_576,
                         losses.first ?? 0, losses.last ?? 0))
        }
    }

    /// Times warm-up + timed steps (forward, zero gradients, backward, optional clipping at 1.0, AdamW);
    /// returns the timed steps' seconds and every step's loss.
    func timeSteps<M: TrainableModel>(_ model: M, batch: M.Batch, clip: Bool) -> (times: [Double], losses: [Double]) {
        model.initializeWeights(seed: seed)
        model.seedDropout(seed &+ 1)
        let optimizer = AdamW(layout: model.layout, weightDecay: 0.01)
        let counts = batch.lossCounts
        var losses: [Double] = [], times: [Double] = []
        for i in 0..<(warmup + steps) {
            let start = Clock.now
            let loss = try! model.trainingForward(batch)
            model.zeroGradients()
            model.backward(firstScale: 1 / Float(max(1, counts.first)), secondScale: 1 / Float(max(1, counts.second)), gradientsReady: nil)
            if clip { _ = clipGradientNorm(model.gradients, maxNorm: 1) }
            optimizer.step(parameters: model.parameters, gradients: UnsafeBufferPointer(model.gradients), learningRate: 1e-4)
            let elapsed = Clock.now - start
            losses.append(loss.loss)
            if i >= warmup { times.append(elapsed) }
        }
        return (times, losses)
    }

    /// The peer benchmark's formula with the gathered MLM head (see `--help`).
    static func flopsPerStep(config c: BertConfig, batch B: Int, seq T: Int, predictions P: Int) -> Double {
        let L = Double(c.numHiddenLayers), H = Double(c.hiddenSize), I = Double(c.intermediateSize)
        let V = Double(c.vocabSize), S = Double(T)
        let perToken = 2 * L * (4 * H * H + 2 * H * I) + 4 * L * S * H + 2 * H * H + 2 * H * V * Double(P) / S
        let perSequence = 2 * (H * H + 2 * H)
        return 3 * (Double(B) * S * perToken + Double(B) * perSequence)
    }

    /// [CLS] A [SEP] B [SEP] over the full length, as torch_bert_bench.py's `make_batch`.
    func fillSyntheticBatch(_ batch: PretrainingBatch, vocabSize: Int, seed: UInt64) {
        let cls: Int32 = 101, sep: Int32 = 102, mask: Int32 = 103
        var rng = SplitMix64(seed: seed)
        func next(_ bound: Int) -> Int { Int(rng.next() % UInt64(bound)) }   // reduced to [0, bound) by modulo
        let B = batchSize, T = seqLength, P = predictions
        batch.batchSize = B
        batch.seqLength = T
        batch.maxPredictions = P
        for b in 0..<B {
            let aEnd = T / 4 + next(T / 2)   // index of the first [SEP]
            for t in 0..<T {
                batch.inputIds[b * T + t] = Int32(1000 + next(vocabSize - 1000))
                batch.segmentIds[b * T + t] = t > aEnd ? 1 : 0
                batch.inputMask[b * T + t] = 1
            }
            batch.inputIds[b * T] = cls
            batch.inputIds[b * T + aEnd] = sep
            batch.inputIds[b * T + T - 1] = sep
            var candidates = (1..<(T - 1)).filter { $0 != aEnd }
            for k in 0..<P {   // partial Fisher-Yates: P distinct positions
                let j = k + next(candidates.count - k)
                candidates.swapAt(k, j)
            }
            let chosen = candidates[0..<P].sorted()
            for (k, position) in chosen.enumerated() {
                batch.maskedPositions[b * P + k] = Int32(position)
                batch.maskedLabels[b * P + k] = batch.inputIds[b * T + position]
                batch.inputIds[b * T + position] = mask
            }
            batch.nextSentenceLabels[b] = Int32(next(2))
        }
    }
}
