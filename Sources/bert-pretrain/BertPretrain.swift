// bert-pretrain: data-parallel BERT pretraining under MPI. `train` is the default subcommand.
// Each subcommand lives in its own file.

import ArgumentParser

@main
struct BertPretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bert-pretrain",
        abstract: "Pretrain BERT (masked LM + next sentence) on every MPI rank, all-reducing gradients each step.",
        subcommands: [TrainCommand.self, EvaluateCommand.self, BenchCommand.self],
        defaultSubcommand: TrainCommand.self)
}
