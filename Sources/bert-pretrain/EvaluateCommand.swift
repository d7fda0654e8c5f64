import ArgumentParser

// Placeholder until its issue lands; replaced wholesale by the owner of this file.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "evaluate", abstract: "(not built yet)")
    func run() throws { throw ValidationError("bert-pretrain evaluate is not built yet") }
}
