import ArgumentParser

// Placeholder until its issue lands; replaced wholesale by the owner of this file.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "(not built yet)")
    func run() throws { throw ValidationError("bert-pretrain train is not built yet") }
}
