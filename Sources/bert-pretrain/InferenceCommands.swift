// `embed`, `fill-mask`, `nsp`, `predict`: using a checkpoint (any HF BERT directory, or a
// sentence-transformers directory for `embed`). The flags they share are declared once
// (InferenceFlags); each command parses, builds its task (Sources/Inference) and runs it.

import ArgumentParser
import BERT
import Distributed
import FineTuning
import Foundation
import Inference
import Logging
import Tokenization
import Training

extension Pooling: ExpressibleByArgument {}
extension LayerCombination: ExpressibleByArgument {}
extension InputFormat: ExpressibleByArgument {}
extension PredictionFormat: ExpressibleByArgument {}

struct InferenceFlags: ParsableArguments {
    @Option(help: "Hugging Face BERT checkpoint directory (config.json, model.safetensors, vocab.txt).")
    var checkpoint: String

    @Option(help: "Input file, one text per line or JSON lines {\"text\": …, \"text_pair\": …}. Default: standard input.")
    var input: String?

    @Option(help: "auto: JSON lines when the input's name ends in .jsonl (or .jsonl.gz), else one text per line.")
    var inputFormat: InputFormat = .auto

    @Option(help: "Output file (written whole, then renamed into place). Default: standard output.")
    var output: String?

    @Option(help: "Sequences per forward pass (per rank).")
    var batchSize: Int = InferenceSettings().batchSize

    @Option(help: "Truncate longer inputs to this many tokens. Default: the model's max_position_embeddings (or a sentence-transformers directory's max_seq_length).")
    var maxSeqLength: Int?

    @Flag(help: "Pass empty lines through as null (an empty TSV prediction) instead of stopping with an error.")
    var skipEmpty = false

    @OptionGroup var threadFlag: ThreadFlag

    @OptionGroup var precisionFlag: PrecisionFlag

    @Flag(help: "Debug logging on rank 0.")
    var verbose = false

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if let m = maxSeqLength, m < 3 { throw ValidationError("--max-seq-length must be at least 3") }
    }

    /// Sets up the rank, runs `body(world, logger)` and ends the job with the error on any rank.
    func run(_ body: (Communicator, Logger) throws -> Void) {
        let world = Communicator.world()
        RankLogHandler.bootstrap(rank: world.rank, size: world.size, verbose: verbose)
        let logger = Logger(label: "bert-pretrain")
        do {
            threadFlag.configure(world, logger: logger)
            precisionFlag.configure(logger: world.isRoot ? logger : nil)
            try body(world, logger)
        } catch {
            world.abort("\(error)")
        }
        world.finalize()
    }

    /// The checkpoint's model with `heads`, for batches of --batch-size sequences of at most --max-seq-length
    /// tokens (default and cap: the model's max_position_embeddings).
    func model(heads: InferenceHeads) throws -> BertInference {
        let config = try Checkpoint.config(in: checkpoint)
        return try BertInference(checkpoint: checkpoint, heads: heads, maxSequences: batchSize,
                                 maxSeqLength: min(maxSeqLength ?? config.maxPositionEmbeddings, config.maxPositionEmbeddings))
    }

    /// Tokenizer of the model directory `dir` (its vocab.txt; lower-casing from its tokenizer_config.json).
    func tokenizer(_ dir: String, logger: Logger) throws -> BertTokenizer {
        let vocabPath = (dir as NSString).appendingPathComponent("vocab.txt")
        guard FileManager.default.fileExists(atPath: vocabPath) else {
            throw CheckpointError(path: dir, reason: "no vocab.txt: the tokenizer's vocabulary must be in the checkpoint directory")
        }
        let lowerCase = try lowerCaseSetting(checkpointDirectory: dir, default: true)
        logger.debug("lower-casing \(lowerCase.lowerCase) (from \(lowerCase.source))")
        return BertTokenizer(vocabulary: try Vocabulary(path: vocabPath), lowerCase: lowerCase.lowerCase)
    }

    /// Runs `task` over the input with `model`'s tokenizer and writes the records.
    func execute(_ task: InferenceTask, model: BertInference, tokenizer: BertTokenizer, layout: RecordLayout,
                 world: Communicator, logger: Logger) throws {
        var settings = InferenceSettings()
        settings.batchSize = batchSize
        settings.skipEmpty = skipEmpty
        let encoder = try TaskEncoder(tokenizer: tokenizer, maxSeqLength: model.maxSeqLength)
        let run = InferenceRun(settings: settings, encoder: encoder, world: world, logger: logger)
        let reader = world.isRoot ? try InferenceInputReader(path: input, format: inputFormat) : nil
        let total = world.isRoot ? try InferenceInputReader.lineCount(path: input) : nil
        let sink = world.isRoot ? try RecordFileSink(path: output, layout: layout) : nil
        try run.run(task, reader: reader, source: input ?? "<stdin>", total: total, sink: sink)
        if world.isRoot {
            if run.truncated > 0 {
                logger.warning("\(run.truncated) input(s) were longer than \(model.maxSeqLength) tokens and were truncated (--max-seq-length)")
            }
            if run.passedThrough > 0 { logger.info("\(run.passedThrough) empty line(s) passed through as null") }
            FileHandle.standardError.write(Data((run.summary(name: task.name) + "\n").utf8))
        }
    }
}

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Sentence (or token) vectors of each input, one JSON line each, or one .npy matrix.",
        discussion: """
        A sentence-transformers directory (modules.json) sets the pooling, normalisation and maximum length, so the
        vectors equal SentenceTransformer(DIR).encode's; flags override them.
          bert-pretrain embed --checkpoint run/epoch-0003 --input sentences.txt --output vectors.npy --format npy
        """)

    @OptionGroup var flags: InferenceFlags

    @Option(help: "cls, mean (over every real token, [CLS] and [SEP] included), max, pooler, or mean-sqrt-len. Default: mean, or the sentence-transformers directory's.")
    var pooling: Pooling?

    @Flag(inversion: .prefixedNo, help: "Divide each vector by its L2 norm. Default: off, or on when a sentence-transformers directory lists Normalize.")
    var normalize: Bool?

    @Option(parsing: .unconditional, help: "Hidden states to read: -1 = the last layer, -2 the one before, 0 = the embeddings; a list such as -1,-2,-3,-4.")
    var layer: String = "-1"

    @Option(help: "How several --layer vectors combine: concat (in the order given) or mean.")
    var layerCombine: LayerCombination = .concat

    @Flag(help: "One vector per token, with the token strings, instead of one per input.")
    var tokens = false

    @Option(help: "jsonl, or npy (one float32 matrix [inputs, dimension]; needs --output, not with --tokens or --skip-empty).")
    var format: String = "jsonl"

    func validate() throws {
        guard ["jsonl", "npy"].contains(format) else { throw ValidationError("--format must be jsonl or npy") }
        if format == "npy" && (tokens || flags.output == nil || flags.skipEmpty) {
            throw ValidationError("--format npy needs --output FILE and is not possible with --tokens or --skip-empty (rows must be equal)")
        }
        if tokens && pooling != nil { throw ValidationError("--tokens gives every token's vector: --pooling does not apply") }
        _ = try layers()
    }

    func layers() throws -> [Int] {
        let values = layer.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
            throw ValidationError("--layer takes hidden-state indices such as -1 or -1,-2,-3,-4, got \"\(layer)\"")
        }
        return values.map { $0! }
    }

    func run() throws {
        flags.run { world, logger in
            let (modelDirectory, resolved, maxLength, sentenceTransformer) = try EmbeddingSettings.resolve(
                checkpoint: flags.checkpoint, pooling: pooling, normalize: normalize, layers: try layers(), maxSeqLength: flags.maxSeqLength)
            var settings = resolved
            settings.combine = layerCombine
            settings.tokens = tokens
            settings.npy = format == "npy"
            let model = try BertInference(checkpoint: modelDirectory, heads: settings.pooling.contains(.pooler) ? .pooler : [],
                                          keepLayers: settings.layers, maxSequences: flags.batchSize, maxSeqLength: maxLength)
            settings.layers = model.keptLayers
            let tokenizer = try flags.tokenizer(modelDirectory, logger: logger)
            if world.isRoot, let st = sentenceTransformer {
                logger.info("sentence-transformers directory: pooling \(st.pooling.map(\.rawValue).joined(separator: "+")), normalize \(st.normalize), max_seq_length \(st.maxSeqLength.map(String.init) ?? "the model's")")
            }
            let task = EmbeddingTask(model: model, settings: settings, vocabulary: tokenizer.vocabulary)
            try flags.execute(task, model: model, tokenizer: tokenizer,
                              layout: settings.npy ? .npy(dimension: task.dimension) : .jsonLines, world: world, logger: logger)
        }
    }
}

struct FillMaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fill-mask",
        abstract: "The masked-LM head's best tokens at every [MASK], as transformers' fill-mask pipeline returns them.",
        discussion: """
          echo "he went up to the [MASK]." | bert-pretrain fill-mask --checkpoint run/epoch-0003
        """)

    @OptionGroup var flags: InferenceFlags

    @Option(help: "Tokens returned per [MASK].")
    var topK: Int = 5

    @Option(help: "Score only these words (comma-separated); a word that is not one token counts as its first token.")
    var targets: String?

    func validate() throws {
        if topK < 1 { throw ValidationError("--top-k must be at least 1") }
    }

    func run() throws {
        flags.run { world, logger in
            let model = try flags.model(heads: .maskedLM)
            let tokenizer = try flags.tokenizer(flags.checkpoint, logger: logger)
            let decoder = WordPieceDecoder(vocabulary: tokenizer.vocabulary,
                                           cleanUpTokenizationSpaces: WordPieceDecoder.cleanUpSetting(checkpointDirectory: flags.checkpoint))
            let task = try FillMaskTask(model: model, topK: topK,
                                        targets: targets.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } },
                                        tokenizer: tokenizer, decoder: decoder) { if world.isRoot { logger.warning("\($0)") } }
            try flags.execute(task, model: model, tokenizer: tokenizer, layout: .jsonLines, world: world, logger: logger)
        }
    }
}

struct NextSentenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nsp",
        abstract: "Next-sentence scores of text pairs: {\"is_next\": p, \"logits\": [l0, l1]}, index 0 = B follows A.",
        discussion: """
        Input: JSON lines {"text": A, "text_pair": B}.
          bert-pretrain nsp --checkpoint run/epoch-0003 --input pairs.jsonl
        """)

    @OptionGroup var flags: InferenceFlags

    func run() throws {
        flags.run { world, logger in
            let model = try flags.model(heads: .nextSentence)
            let tokenizer = try flags.tokenizer(flags.checkpoint, logger: logger)
            try flags.execute(NextSentenceTask(model: model), model: model, tokenizer: tokenizer, layout: .jsonLines,
                              world: world, logger: logger)
        }
    }
}

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "A fine-tuned classifier's label and score for each input (text, or a JSON lines pair).",
        discussion: """
        Scores as transformers' text-classification pipeline: softmax over the labels, a sigmoid for a one-label
        classifier, the raw value for problem_type "regression".
          bert-pretrain predict --checkpoint finetune/epoch-0003 --input test.txt --top-k 2
        """)

    @OptionGroup var flags: InferenceFlags

    @Option(help: "Give the best this many labels, sorted by score, as a list. Default: the best label as one object.")
    var topK: Int?

    @Option(help: "jsonl, or tsv (\"index\\tprediction\" rows, as run_glue's predict_results.txt).")
    var format: PredictionFormat = .jsonl

    func validate() throws {
        if let k = topK, k < 1 { throw ValidationError("--top-k must be at least 1") }
        if topK != nil && format == .tsv { throw ValidationError("--format tsv writes the best label only (no --top-k)") }
    }

    func run() throws {
        flags.run { world, logger in
            let model = try flags.model(heads: .classifier)
            let tokenizer = try flags.tokenizer(flags.checkpoint, logger: logger)
            try flags.execute(PredictionTask(model: model, topK: topK, format: format), model: model, tokenizer: tokenizer,
                              layout: format == .tsv ? .tsv : .jsonLines, world: world, logger: logger)
        }
    }
}
