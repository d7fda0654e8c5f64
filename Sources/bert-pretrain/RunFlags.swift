// The run-control flags `train` and `finetune` share (resume, checkpoints, logs, threads, stopping,
// the stall watchdog, the layout and precision of the computation), declared once and included in both with @OptionGroup.

import ArgumentParser
import Distributed
import Logging
import Training

struct RunFlags: ParsableArguments {
    @Flag(help: "Continue the run in --output from its newest complete checkpoint, or from the checkpoint directory given after --resume (mid-epoch included), with the settings saved in it.")
    var resume = false

    // `--resume [DIR]`: an option with an optional value, spelled as a flag plus this optional argument.
    @Argument(help: ArgumentHelp("With --resume: the checkpoint directory to continue from.", valueName: "checkpoint"))
    var resumeCheckpoint: String?

    @Option(help: "Also write OUTPUT/step-NNNNNNN every this many steps (0 = only at the end of each epoch).")
    var checkpointEverySteps: Int = TrainingOptions.defaults.checkpointEverySteps

    @Option(help: "Keep only the newest this many checkpoints (0 = keep all).")
    var keepLast: Int = TrainingOptions.defaults.keepLast

    @Option(help: "Write a metrics.csv row every this many steps.")
    var logEverySteps: Int = TrainingOptions.defaults.logEverySteps

    @OptionGroup var threadFlag: ThreadFlag

    @Option(help: "Stop after this many optimizer steps in all, writing a checkpoint (as on SIGTERM).")
    var stopAfterSteps: Int?

    @Option(help: ArgumentHelp("End the job (exit code 75, so that it can be requeued and resumed) when a rank makes no progress for this many seconds, naming the ranks it waits for or what it is stuck in. Default: max(300, 20 × the median step time so far); after a stop request (SIGTERM/SIGUSR1) at most max(90, 3 × the median step). 0 = off.", valueName: "seconds"))
    var stallTimeout: Double?

    @Flag(help: "Compute each batch as the [batch, max length] rectangle, padding included, instead of real tokens only (the default; results are the same up to float summation order): for comparison.")
    var padded = false

    @OptionGroup var precisionFlag: PrecisionFlag

    @Flag(help: "Debug logging on rank 0.")
    var verbose = false

    func validate() throws {
        if !resume, let extra = resumeCheckpoint { throw ValidationError("unexpected argument \"\(extra)\" (a checkpoint directory goes after --resume)") }
        if logEverySteps < 1 { throw ValidationError("--log-every-steps must be at least 1, got \(logEverySteps)") }
        if checkpointEverySteps < 0 || keepLast < 0 { throw ValidationError("--checkpoint-every-steps and --keep-last must be ≥ 0") }
        if let t = stallTimeout, !(t >= 0) { throw ValidationError("--stall-timeout must be ≥ 0 seconds (0 = off), got \(t)") }
    }

    /// Copies the flags into `options`.
    func apply(to o: inout TrainingOptions) {
        o.checkpointEverySteps = checkpointEverySteps; o.keepLast = keepLast; o.logEverySteps = logEverySteps
        o.stopAfterSteps = stopAfterSteps; o.stallTimeout = stallTimeout
        if padded { o.padded = true }
        if precisionFlag.precision != .fp32 { o.precision = precisionFlag.precision }
    }

    /// The process around the run (TrainingRun) with these flags.
    func run(output: String, label: String, body: (Communicator, Logger, String?) throws -> Void) {
        TrainingRun.run(threads: threadFlag.threads, stallTimeout: stallTimeout, verbose: verbose, resume: resume,
                        resumeCheckpoint: resumeCheckpoint, output: output, label: label, body: body)
    }
}
