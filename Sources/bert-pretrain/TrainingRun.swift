// The process around a training run, shared by `train` and `finetune`: MPI, stop signals, the stall
// watchdog, logging, BLAS threads, the checkpoint to resume from; an error on any rank ends the job.

import Distributed
import Foundation
import Logging
import Training

enum TrainingRun {
    /// Runs `body` on every rank with the checkpoint to resume from (nil for a new run).
    static func run(threads: Int?, stallTimeout: Double?, verbose: Bool, resume: Bool, resumeCheckpoint: String?,
                    output: String, label: String,
                    body: (Communicator, Logger, String?) throws -> Void) {
        let world = Communicator.world()
        StopSignal.install()   // before the (possibly long) setup, so a stop request then is not lost
        // From here on a rank that stops (start-up included) ends the job with a message.
        let watchdog = StallWatchdog.start(timeout: stallTimeout, communicator: world)
        world.mark(.starting, activity: "starting")
        RankLogHandler.bootstrap(rank: world.rank, size: world.size, verbose: verbose)
        let logger = Logger(label: label)
        do {
            BLASThreads.configure(requested: threads, localRanks: world.localSize, logger: logger)
            var resumeDir: String? = nil
            if resume {
                resumeDir = resumeCheckpoint ?? CheckpointDirectory.newest(in: output)
                guard resumeDir != nil else {
                    throw TrainingError.badCheckpoint(path: output, reason: "--resume: no complete checkpoint (epoch-NNNN or step-NNNNNNN with trainer-state.json) in it")
                }
            }
            try body(world, logger, resumeDir)
            // Wait for rank 0's last checkpoint here, where a wait is watched, rather than in MPI_Finalize.
            try world.barrier()
        } catch {
            world.abort("\(error)")
        }
        watchdog?.stop()
        world.finalize()
    }
}
