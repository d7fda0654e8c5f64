// bert-pretrain: data-parallel BERT pretraining under MPI. `train` is the default subcommand.
// Each subcommand lives in its own file.

import ArgumentParser
import BERT
import Distributed

@main
struct BertPretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bert-pretrain",
        abstract: "Pretrain BERT (masked LM + next sentence) on every MPI rank, all-reducing gradients each step; fine-tune it for classification; use it (embed, fill-mask, nsp, predict).",
        subcommands: [TrainCommand.self, FinetuneCommand.self, EvaluateCommand.self, EmbedCommand.self, FillMaskCommand.self,
                      NextSentenceCommand.self, PredictCommand.self, BenchCommand.self, CompareCommand.self],
        defaultSubcommand: TrainCommand.self)

    /// Every subcommand: a fatal signal names what the process was doing (FatalSignals.swift).
    static func main() {
        IdleThreads.restartIfNeeded()  // before any thread or MPI: see IdleThreads
        FatalSignals.install()
        main(nil)
    }
}
