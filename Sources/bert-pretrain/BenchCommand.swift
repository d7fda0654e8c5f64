// bert-pretrain bench: times whole training steps (forward, zero grads, backward, AdamW step) on
// synthetic full-length sequences shaped like ../shared/peer-bench/torch_bert_bench.py's batches, or on
// real batches of pretraining shards (--data; jobs/bench/torch_shard_bench.py times the same rows in
// PyTorch). The Benchmark module does the work, so its figures compare with PyTorch's directly.

import ArgumentParser
import BERT
import Benchmark
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time training steps of one model replica on synthetic or real (--data) pretraining batches.",
        discussion: """
            Each step: forward, zero gradients, backward, AdamW update, on B full-length sequences ([CLS] A [SEP] B [SEP], token ids uniform in [1000, vocab), --predictions positions per sequence replaced by [MASK]). Reports sequences/s, the median step time, achieved GFLOP/s, peak RSS, cblas_sgemm GFLOP/s of a 2048³ product at the same thread count (fp32 whatever --precision), which code computed the products (openblas-fp32, emulated-bf16 or onednn-bf16) and the kernel set OpenBLAS runs (openblas_get_corename: its own pick for the CPU, or what OPENBLAS_CORETYPE pins).

            With --data, the steps compute real batches of the shards instead, read before timing in file order (shards sorted by name, as train numbers them): batch k holds instances k·B ..< (k+1)·B, and step s (warm-up included) computes batch s mod K, K = min(--warmup + --steps, full batches in the shards). T and P are the shards' (--seq-length and --predictions are not used). Also reported: the padding share of the timed batches (padded positions ÷ B·T) and real tokens/s (seq/s × T × (1 − padding share)). With --task classification the shard rows are the sentence pairs, labelled by their next-sentence label (as the synthetic batch's pairs; masked tokens stay [MASK]).

            --padded times the rectangular path over all B·T positions (BertEncoder.packsSequences = false) instead of real tokens only; on the full-length synthetic batch both do the same work.

            FLOPs per step, as torch_bert_bench.py with the gathered MLM head (multiply-add = 2, training = 3 × forward), with L layers, H hidden, I intermediate, V vocab, T sequence length, P predictions, B batch:

            \(StepFLOPs.formula)

            LayerNorm, GELU, softmax, biases, embedding lookups and the optimizer are not counted. The count is always the padded one, over all B·T positions with P predictions each (with --data, the shards' T and P), whether or not the padding is computed: GFLOP/s of an unpadded run on padded shards is the rate of the padded work it stands in for, not of arithmetic done.
            """)

    @Option(help: "Preset (bert-tiny, bert-mini, bert-small, bert-medium, bert-base, bert-large) or a config.json path.")
    var config: String = "bert-tiny"

    @Option(help: "Sequences per step (B).")
    var batchSize: Int = 32

    @Option(help: "Tokens per sequence (T) of the synthetic batch (with --data: the shards' T, this is not used).")
    var seqLength: Int = 128

    @Option(help: "Masked positions per sequence (P) of the synthetic batch (with --data: the shards' P, this is not used).")
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

    @Option(help: "Time real batches of these shards: a folder (its *training* shards, or all its shards if it has none) or one shard file.")
    var data: String?

    @Flag(help: "Compute all B·T positions, padding included (the rectangular path), instead of real tokens only.")
    var padded = false

    @OptionGroup var precisionFlag: PrecisionFlag

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
        if data == nil && config.vocabSize <= 1000 {
            throw ValidationError("the synthetic batch draws ids from [1000, vocab): vocab \(config.vocabSize) is too small")
        }
        BLAS.setThreads(threads)

        var settings = StepBenchmarkSettings(config: config)
        settings.task = task; settings.batchSize = batchSize; settings.seqLength = seqLength; settings.predictions = predictions
        settings.steps = steps; settings.warmup = warmup; settings.seed = seed
        settings.data = data; settings.padded = padded
        settings.precision = precisionFlag.precision
        let timings = try StepBenchmark.run(settings)
        if let data, timings.seqLength != seqLength || timings.predictions != predictions {
            FileHandle.standardError.write(Data("note: \(data): T = \(timings.seqLength), P = \(timings.predictions) from the shards (--seq-length \(seqLength) and --predictions \(predictions) not used)\n".utf8))
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakRSS = Double(usage.ru_maxrss) / 1024   // ru_maxrss is in KiB on Linux
        let report = StepReport(configName: self.config, settings: settings, threads: threads, timings: timings,
                                sgemmGflops: SgemmPeak.gflops(size: 2048), peakRssMb: peakRSS)
        print(json ? try report.json() : report.text)
    }
}

extension BenchTask: ExpressibleByArgument {}
