// oneDNN's bf16 matmul: not wired yet (the backend lands in the next commit). Until then no CPU has
// the kernel here, so `MatrixProducts.use(.bf16)` always takes the emulation.
enum OneDNN {
    static let hasBF16Kernel = false
    static func matmulBF16(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                           a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt16>, ldb: Int,
                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        preconditionFailure("oneDNN bf16 matmul is not available in this build")
    }
}
