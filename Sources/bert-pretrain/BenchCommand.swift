import ArgumentParser

// Placeholder until its issue lands; replaced wholesale by the owner of this file.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "(not built yet)")
    func run() throws { throw ValidationError("bert-pretrain bench is not built yet") }
}
