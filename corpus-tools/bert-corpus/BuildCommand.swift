import ArgumentParser

// Placeholder until its issue lands; replaced wholesale by the owner of this file.
struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "build", abstract: "(not built yet)")
    func run() throws { throw ValidationError("bert-corpus build is not built yet") }
}
