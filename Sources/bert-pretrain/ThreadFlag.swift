// `--threads`, declared once for every command that runs the model (train, finetune, evaluate and the
// inference commands include it with @OptionGroup). `bench` keeps its own: there the count is the
// measurement's subject, so it defaults to 1 instead of the machine's share.

import ArgumentParser
import BERT
import Distributed
import Logging
import Training

struct ThreadFlag: ParsableArguments {
    @Option(help: "BLAS threads per rank. Default: OPENBLAS_NUM_THREADS, else cores ÷ ranks on the node.")
    var threads: Int?

    func validate() throws {
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// Sets OpenBLAS's and the element-wise passes' thread count for this rank; returns it.
    @discardableResult
    func configure(_ world: Communicator, logger: Logger) -> Int {
        let count = BLASThreads.configure(requested: threads, localRanks: world.localSize, logger: logger)
        BLAS.setThreads(count)
        return count
    }
}
