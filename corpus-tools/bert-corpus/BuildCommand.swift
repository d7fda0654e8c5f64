// bert-corpus build: raw text → shuffled, masked HDF5 pretraining shards (NVIDIA's layout), on
// any number of MPI ranks, byte-identical whatever that number. The pipeline is CorpusBuild.CorpusBuilder.

import ArgumentParser
import CorpusBuild
import Distributed
import Foundation
import Logging
import Storage
import Tokenization

extension BuildOptions.Format: ExpressibleByArgument {}

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
    var format = BuildOptions.defaults.format

    @Option(help: "text format: a regular expression; a line matching it starts a new document.")
    var docSeparator: String? = nil

    @Option(help: "jsonl format: the field holding a document's text.")
    var jsonField = BuildOptions.defaults.jsonField

    @Option(help: "Maximum sequence length, [CLS] and [SEP]s included.")
    var maxSeqLength = BuildOptions.defaults.maxSeqLength

    @Option(help: "Maximum masked positions per sequence (20 at length 128, 80 at 512).")
    var maxPredictionsPerSeq = BuildOptions.defaults.maxPredictionsPerSeq

    @Option(help: "Share of tokens to predict.")
    var maskedLMProb = BuildOptions.defaults.maskedLMProb

    @Option(help: "Passes over the corpus, each with different random draws.")
    var dupeFactor = BuildOptions.defaults.dupeFactor

    @Option(help: "Probability of a shorter target length for a document pass.")
    var shortSeqProb = BuildOptions.defaults.shortSeqProb

    @Option(help: "Seed of every random draw.")
    var randomSeed = BuildOptions.defaults.randomSeed

    @Flag(help: "Mask whole words (a word and its ## pieces together).")
    var wholeWordMask = BuildOptions.defaults.wholeWordMask

    @Option(help: "Number of training shards.")
    var shards = BuildOptions.defaults.shards

    @Option(help: "Share of documents held out for test shards (⌈shards × fraction⌉ of them).")
    var holdoutFraction = BuildOptions.defaults.holdoutFraction

    @Flag(help: "Keep case (for cased vocabularies).")
    var noLowerCase = !BuildOptions.defaults.lowerCase

    @Flag(help: "Draw random numbers exactly as Python's random.Random(seed) in google-research/bert's create_pretraining_data.py (one rank, all in memory): the output equals that script's.")
    var referenceRng = BuildOptions.defaults.referenceRNG

    @Flag(name: .shortAndLong, help: "Print debug messages.")
    var verbose = false

    func validate() throws {
        if let problem = options(inputFiles: inputs).problems().first { throw ValidationError(problem) }
    }

    func options(inputFiles: [String]) -> BuildOptions {
        var o = BuildOptions(inputFiles: inputFiles, outputDirectory: output)
        o.format = format
        o.documentSeparator = docSeparator
        o.jsonField = jsonField
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
        return o
    }

    func run() throws {
        let comm = Communicator.world()
        RankLogHandler.bootstrap(rank: comm.rank, size: comm.size, verbose: verbose)
        let logger = Logger(label: "bert-corpus.build")
        var builder: CorpusBuilder? = nil
        do {
            let files = try TextInput.files(inputs)
            let vocabulary = try Vocabulary(path: vocab)
            let tokenizer = BertTokenizer(vocabulary: vocabulary, lowerCase: !noLowerCase)
            let corpusBuilder = CorpusBuilder(options: options(inputFiles: files),
                                              vocabulary: BuildVocabulary(path: vocab, vocabulary: vocabulary),
                                              communicator: comm, logger: logger)
            builder = corpusBuilder
            logger.info("building from \(files.count) file(s) on \(comm.size) rank(s) into \(output)")
            let summary = try corpusBuilder.run(encode: { tokenizer.encode(utf8: $0, appendingTo: &$1) })
            logger.info("done in \(summary.report)")
        } catch {
            builder?.discardAfterFailure()
            comm.abort("bert-corpus build: \(error)")
        }
        comm.finalize()
    }
}
