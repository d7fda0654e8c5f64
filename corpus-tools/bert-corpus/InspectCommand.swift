import ArgumentParser

// Placeholder until its issue lands; replaced wholesale by the owner of this file.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "(not built yet)")
    func run() throws { throw ValidationError("bert-corpus inspect is not built yet") }
}
