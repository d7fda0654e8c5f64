import ArgumentParser

// Placeholder until its issue lands; replaced wholesale by the owner of this file.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenize", abstract: "(not built yet)")
    func run() throws { throw ValidationError("bert-corpus tokenize is not built yet") }
}
