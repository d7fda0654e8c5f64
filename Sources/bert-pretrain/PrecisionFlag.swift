// `--precision`, declared once for every command that runs the model (train and finetune through
// RunFlags, evaluate, bench and the inference commands include it with @OptionGroup).

import ArgumentParser
import BERT
import Logging

struct PrecisionFlag: ParsableArguments {
    @Option(help: "Matrix products in fp32, or bf16 as torch.autocast(\"cpu\", dtype=torch.bfloat16) computes them: operands rounded to bfloat16, sums and results float32; parameters, gradients, optimizer state, LayerNorm, softmax, GELU and losses stay float32, checkpoints float32. bf16 runs on oneDNN where the CPU has bf16 instructions (AVX512-BF16, AMX), else it is emulated on OpenBLAS (the same numbers, no speed-up).")
    var precision: Precision = .fp32

    /// Sets the precision of every later product in this process; returns the path taken.
    @discardableResult
    func configure(logger: Logger?) -> ProductPath { MatrixProducts.use(precision, logger: logger) }
}

extension Precision: ExpressibleByArgument {}
