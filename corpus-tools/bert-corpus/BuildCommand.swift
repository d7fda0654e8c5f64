// bert-corpus build: raw text → shuffled, masked HDF5 pretraining shards (NVIDIA's layout), on
// any number of MPI ranks, byte-identical whatever that number. The pipeline is Corpus.CorpusBuilder.

import ArgumentParser
import CorpusBuild
import Distributed
import Foundation
import Logging
import PretrainingData
import Storage
import Tokenization

struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Tokenize documents, create masked pretraining instances (google-research/bert's algorithm) and write shuffled HDF5 shards.",
        discussion: """
            Run under MPI for speed: mpirun -np 8 bert-corpus build --input corpus/ --vocab vocab.txt --output shards/
            The shards are byte-identical for any number of ranks and any run with the same seed.
            A re-run starts over: it deletes the output folder's old shards, manifest and work directory first.
            """)

    @Option(name: .customLong("input"), parsing: .upToNextOption, help: "Input files or folders (read recursively, gzip transparently).")
    var inputs: [String] = []

    @Option(help: "vocab.txt (one token per line; must contain [PAD] [UNK] [CLS] [SEP] [MASK]).")
    var vocab: String

    @Option(help: "Output folder for part-NNNNN-training.hdf5, part-NNNNN-test.hdf5, vocab.txt and manifest.json.")
    var output: String

    @Option(help: "Input format: auto (detect per file), google (a sentence per line, blank line between documents), text (prose), jsonl, wikiextractor.")
    var format: FormatChoice = .auto

    @Option(help: "text format: a regular expression; a line matching it starts a new document.")
    var docSeparator: String? = nil

    @Option(help: "jsonl format: the field holding a document's text.")
    var jsonField = "text"

    @Option(help: "Maximum sequence length, [CLS] and [SEP]s included.")
    var maxSeqLength = 128

    @Option(help: "Maximum masked positions per sequence (20 at length 128, 80 at 512).")
    var maxPredictionsPerSeq = 20

    @Option(help: "Share of tokens to predict.")
    var maskedLMProb = 0.15

    @Option(help: "Passes over the corpus, each with different random draws.")
    var dupeFactor = 10

    @Option(help: "Probability of a shorter target length for a document pass.")
    var shortSeqProb = 0.1

    @Option(help: "Seed of every random draw.")
    var randomSeed = 12345

    @Flag(help: "Mask whole words (a word and its ## pieces together).")
    var wholeWordMask = false

    @Option(help: "Number of training shards.")
    var shards = 8

    @Option(help: "Share of documents held out for test shards (⌈shards × fraction⌉ of them).")
    var holdoutFraction = 0.0

    @Flag(help: "Keep case (for cased vocabularies).")
    var noLowerCase = false

    @Flag(help: "Draw random numbers exactly as Python's random.Random(seed) in google-research/bert's create_pretraining_data.py (one rank, all in memory): the output equals that script's.")
    var referenceRng = false

    @Flag(name: .shortAndLong, help: "Print debug messages.")
    var verbose = false

    enum FormatChoice: String, ExpressibleByArgument, CaseIterable {
        case auto, google, text, jsonl, wikiextractor
    }

    func validate() throws {
        var options = BuildOptions(inputFiles: inputs, outputDirectory: output)
        fill(&options)
        if let problem = options.problems().first { throw ValidationError(problem) }
    }

    func fill(_ o: inout BuildOptions) {
        o.format = format.rawValue
        o.maxSeqLength = maxSeqLength
        o.maxPredictionsPerSeq = maxPredictionsPerSeq
        o.maskedLMProb = maskedLMProb
        o.dupeFactor = dupeFactor
        o.shortSeqProb = shortSeqProb
        o.randomSeed = randomSeed
        o.wholeWordMask = wholeWordMask
        o.lowerCase = !noLowerCase
        o.shards = shards
        o.holdoutFraction = holdoutFraction
        o.referenceRNG = referenceRng
    }

    func run() throws {
        let comm = Communicator.world()
        RankLogHandler.bootstrap(rank: comm.rank, size: comm.size, verbose: verbose)
        let logger = Logger(label: "bert-corpus.build")
        var builder: CorpusBuilder? = nil
        do {
            let files = try TextInput.files(inputs)
            var options = BuildOptions(inputFiles: files, outputDirectory: output)
            fill(&options)
            let vocabulary = try Vocabulary(path: vocab)
            let masking = MaskingVocabulary(tokens: vocabulary.tokens, clsId: vocabulary.clsId,
                                            sepId: vocabulary.sepId, maskId: vocabulary.maskId)
            let tokenizer = BertTokenizer(vocabulary: vocabulary, lowerCase: !noLowerCase)
            let corpusBuilder = CorpusBuilder(
                options: options, vocabulary: BuildVocabulary(path: vocab, sha256: vocabulary.sha256, masking: masking),
                communicator: comm, logger: logger)
            builder = corpusBuilder
            logger.info("building from \(files.count) file(s) on \(comm.size) rank(s) into \(output)")
            let encode: (UnsafeBufferPointer<UInt8>, inout [Int32]) -> Void = { tokenizer.encode(utf8: $0, appendingTo: &$1) }
            let summary: BuildSummary
            if format == .google || (referenceRng && format == .auto) {
                // Google's reading, on bytes; in reference mode a document may continue into the next file, as in the script.
                if !referenceRng && comm.size > 1 && SentencePerLineRangeDocuments.applies(to: files) {
                    // Each rank reads only its share of the input.
                    let stream = try SentencePerLineRangeDocuments(files: files, rank: comm.rank, ranks: comm.size, logger: logger)
                    summary = try corpusBuilder.run(documents: stream, encode: encode)
                } else {
                    let stream = SentencePerLineDocuments(files: files, fileEndsDocument: !referenceRng, logger: logger)
                    summary = try corpusBuilder.run(documents: stream, encode: encode)
                }
            } else {
                let reader = try DocumentReader(
                    paths: files,
                    options: DocumentReaderOptions(format: InputFormat(rawValue: format.rawValue), documentSeparator: docSeparator,
                                                   jsonField: jsonField),
                    logger: logger)
                summary = try corpusBuilder.run(documents: ReaderDocuments(reader: reader), encode: encode)
            }
            let mb = Double(summary.inputBytes) / 1e6
            logger.info("""
                done in \(ProgressMeter.duration(summary.seconds)): \(summary.documents) documents (\(summary.testDocuments) held out), \
                \(summary.sentences) sentences, \(summary.tokens) tokens, \(String(format: "%.1f", mb)) MB of text \
                (\(String(format: "%.2f", mb / max(summary.seconds, 1e-9))) MB/s); \
                \(summary.trainingInstances.reduce(0, +)) training instances in \(summary.trainingInstances.count) shards, \
                \(summary.testInstances.reduce(0, +)) test instances in \(summary.testInstances.count) shards
                """)
        } catch {
            builder?.discardAfterFailure()
            comm.abort("bert-corpus build: \(error)")
        }
        comm.finalize()
    }
}
