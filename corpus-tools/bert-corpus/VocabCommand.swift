import ArgumentParser

// Placeholder until its issue lands; replaced wholesale by the owner of this file.
struct VocabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "vocab", abstract: "(not built yet)")
    func run() throws { throw ValidationError("bert-corpus vocab is not built yet") }
}
