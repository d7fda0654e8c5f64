// bert-corpus: raw text → vocab.txt → sharded HDF5 pretraining data (NVIDIA's layout).
// Each subcommand lives in its own file.

import ArgumentParser
import Distributed

@main
struct BertCorpus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bert-corpus",
        abstract: "Turn raw text into BERT pretraining shards: learn a WordPiece vocabulary, tokenize, build and inspect HDF5 shards.",
        subcommands: [VocabCommand.self, TokenizeCommand.self, BuildCommand.self, InspectCommand.self])

    /// Every subcommand: a fatal signal names what the process was doing (FatalSignals.swift).
    static func main() {
        FatalSignals.install()
        main(nil)
    }
}
