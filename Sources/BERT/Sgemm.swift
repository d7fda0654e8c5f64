// Sgemm: the one door to the matrix products. Every product of the model goes through `sgemm`,
// which checks the shapes against the leading dimensions (row-major, as PyTorch stores tensors)
// and runs it at the run's precision (`MatrixProducts.use`):
//   fp32  cblas_sgemm on the operands as they are (OpenBLAS);
//   bf16  what torch.autocast("cpu", dtype=torch.bfloat16) does to a product: both operands rounded
//         to bfloat16 (nearest even), products accumulated and written in float32. On a CPU with a
//         bf16 kernel in oneDNN (AVX512-BF16, AMX) the operands are converted to bf16 and oneDNN's
//         matmul runs; elsewhere they are rounded to bf16 values kept in float32 and cblas_sgemm runs
//         ("emulated": the product of two bf16 values is exact in float32, so only summation order
//         differs from a bf16 kernel, and the numbers are a bf16 run's at fp32 speed).
// Everything else (LayerNorm, softmax, GELU, dropout, losses, reductions, the optimizer) is float32
// whatever the precision: only products change.

import CBLAS
import CKernels
import Foundation
import Logging

/// The precision of the matrix products (`--precision`).
public enum Precision: String, CaseIterable, Codable, Sendable {
    case fp32, bf16
}

/// Which code computes the products, as `bench` reports it.
public enum ProductPath: String, Sendable {
    case openblasFP32 = "openblas-fp32", emulatedBF16 = "emulated-bf16", onednnBF16 = "onednn-bf16"
}

public enum MatrixProducts {
    /// The path every later `sgemm` takes (process-wide, like `BLAS.setThreads`).
    public private(set) static var path: ProductPath = .openblasFP32
    public static var precision: Precision { path == .openblasFP32 ? .fp32 : .bf16 }
    private static var toldEmulated = false
    /// The bf16 parameter copy bf16 products on oneDNN read their weights from (set by
    /// `BF16Weights.refresh`; weak, so a freed model's copy is never read).
    static weak var weights: BF16Weights? = nil
    /// false: every operand is converted where a product reads it (only tests turn the copy off, to check
    /// that reading it changes nothing).
    static var readsWeightCopy = true

    /// Sets the precision of every later product. bf16 takes oneDNN when it has a bf16 matmul kernel
    /// on this CPU, else the emulation (logged once: same numbers, no speed-up). `emulate` forces the
    /// emulation (tests compare both paths where oneDNN has the kernel).
    @discardableResult
    public static func use(_ precision: Precision, emulate: Bool = false, logger: Logger? = nil) -> ProductPath {
        switch precision {
        case .fp32: path = .openblasFP32
        case .bf16:
            path = !emulate && OneDNN.hasBF16Kernel ? .onednnBF16 : .emulatedBF16
            if path == .emulatedBF16 && !emulate && !toldEmulated {
                toldEmulated = true
                logger?.notice("bf16: this CPU has no bf16 matmul kernel in oneDNN (it needs AVX512-BF16 or AMX); products are rounded to bf16 and run on OpenBLAS in float32: the numbers of a bf16 run, without its speed-up")
            }
        }
        return path
    }
}

/// C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] + beta · C, all row-major.
/// `transA`: A is stored [k, m] (so op(A) = Aᵀ); otherwise [m, k]. Likewise `transB`.
/// Leading dimensions are row strides in elements, so strided views (a head's slice of
/// the fused QKV rows, lda = 3H) need no copy in fp32; in bf16 the rounded copy is contiguous.
@inline(__always)
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
           alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
           b: UnsafePointer<Float>, ldb: Int,
           beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    // A shape error here is a programming error in the model, not bad input: trap with the shapes.
    precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative size m=\(m) n=\(n) k=\(k)")
    precondition(lda >= max(1, transA ? m : k), "sgemm: lda \(lda) < \(transA ? m : k) (transA=\(transA))")
    precondition(ldb >= max(1, transB ? k : n), "sgemm: ldb \(ldb) < \(transB ? k : n) (transB=\(transB))")
    precondition(ldc >= max(1, n), "sgemm: ldc \(ldc) < n \(n)")
    if m == 0 || n == 0 { return }
    switch MatrixProducts.path {
    case .openblasFP32:
        cblasProduct(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    case .emulatedBF16, .onednnBF16:
        bf16Product(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                    beta: beta, c: c, ldc: ldc)
    }
}

@inline(__always)
private func cblasProduct(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                          _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                          _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// The bf16 product: each operand, as stored (rows × columns at its leading dimension), is rounded
/// into this thread's operand buffers with row stride = columns, then multiplied; on oneDNN an operand
/// that lies in the parameters of `MatrixProducts.weights` is read from that bf16 copy instead (same
/// offsets and leading dimension, nothing converted). k = 0 (an empty sum) leaves beta · C, as BLAS does.
private func bf16Product(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                         a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                         beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let aRows = transA ? k : m, aColumns = transA ? m : k
    let bRows = transB ? n : k, bColumns = transB ? k : n
    let buffers = OperandBuffers.ofThisThread
    if MatrixProducts.path == .onednnBF16 {
        let weights = MatrixProducts.readsWeightCopy ? MatrixProducts.weights : nil
        let aCopy = weights?.copy(of: a), bCopy = weights?.copy(of: b)
        let (a16, b16) = buffers.bits(aCopy == nil ? aRows * aColumns : 0, bCopy == nil ? bRows * bColumns : 0)
        if aCopy == nil { convertRows(a16, a, rows: aRows, columns: aColumns, ld: lda) }
        if bCopy == nil { convertRows(b16, b, rows: bRows, columns: bColumns, ld: ldb) }
        OneDNN.matmulBF16(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                          a: aCopy ?? UnsafePointer(a16), lda: aCopy == nil ? aColumns : lda,
                          b: bCopy ?? UnsafePointer(b16), ldb: bCopy == nil ? bColumns : ldb, beta: beta, c: c, ldc: ldc)
    } else {
        let (ra, rb) = buffers.floats(aRows * aColumns, bRows * bColumns)
        roundRows(ra, a, rows: aRows, columns: aColumns, ld: lda)
        roundRows(rb, b, rows: bRows, columns: bColumns, ld: ldb)
        cblasProduct(transA, transB, m, n, k, alpha, ra, max(1, aColumns), rb, max(1, bColumns), beta, c, ldc)
    }
}

/// An operand's rows converted to bf16 bit patterns (row stride `columns`), split over the threads the
/// product itself runs on (one inside attention's workers, where OpenBLAS is held at one thread).
private func convertRows(_ out: UnsafeMutablePointer<UInt16>, _ x: UnsafePointer<Float>, rows: Int, columns: Int, ld: Int) {
    forEachRowChunk(rows: rows, columns: columns) { r in
        bp_convert_rows_bf16(out + r.lowerBound * columns, x + r.lowerBound * ld, r.count, columns, ld)
    }
}

/// The same rows rounded to bf16 values kept as float32 (the emulated path's operands).
private func roundRows(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, columns: Int, ld: Int) {
    forEachRowChunk(rows: rows, columns: columns) { r in
        bp_round_rows_bf16(out + r.lowerBound * columns, x + r.lowerBound * ld, r.count, columns, ld)
    }
}

@inline(__always)
private func forEachRowChunk(rows: Int, columns: Int, _ body: (Range<Int>) -> Void) {
    if openblas_get_num_threads() > 1 {
        Parallel.forEachChunk(rows, minimumChunk: max(1, 65_536 / max(1, columns)), body)
    } else {
        body(0..<rows)
    }
}

/// The bf16 copy of a model's parameter buffer (same offsets), for products on oneDNN. `refresh`
/// converts every parameter in one pass; while the copy is `MatrixProducts.weights`, a product whose
/// operand lies in the parameters reads the copy instead of converting that operand. A weight is read
/// by two products a training step (x·Wᵀ forward, dOut·W backward), so a step converts each weight once
/// instead of twice; inference, whose weights never change, converts them once per model instead of
/// once per batch. Kept fresh by construction: the training model refreshes it at the start of every
/// forward, and forward and backward read the same parameters (the optimizer runs between steps).
final class BF16Weights {
    private let source: UnsafePointer<Float>
    private let count: Int
    private var bits: UnsafeMutablePointer<UInt16>? = nil

    /// A copy of `count` floats at `source`; its buffer is allocated on the first `refresh`, so runs in
    /// float32 or on the emulated path never hold one.
    init(of source: UnsafePointer<Float>, count: Int) {
        self.source = source
        self.count = count
    }

    deinit { bits?.deallocate() }

    /// Converts every parameter (rounded to nearest even, as each product would round it) and makes this
    /// the copy products read.
    func refresh() {
        if bits == nil { bits = .allocate(capacity: max(1, count)) }
        let out = bits!, source = source
        Parallel.forEachChunk(count, minimumChunk: 1 << 20) { r in
            bp_convert_rows_bf16(out + r.lowerBound, source + r.lowerBound, 1, r.count, r.count)
        }
        MatrixProducts.weights = self
    }

    /// The copy of the parameter at `p`, nil when `p` is not in the parameters.
    @inline(__always)
    func copy(of p: UnsafePointer<Float>) -> UnsafePointer<UInt16>? {
        guard let bits, p >= source, p < source + count else { return nil }
        return UnsafePointer(bits + (p - source))
    }
}

/// Two growable buffers per thread for a product's rounded operands (attention's workers run products
/// side by side). They grow to the largest operand the thread has rounded and are then reused: after
/// the first step of a run, a step allocates nothing here.
private final class OperandBuffers {
    private var first = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64), firstBytes = 64
    private var second = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64), secondBytes = 64

    deinit { first.deallocate(); second.deallocate() }

    func floats(_ countA: Int, _ countB: Int) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        reserve(countA * 4, countB * 4)
        return (first.assumingMemoryBound(to: Float.self), second.assumingMemoryBound(to: Float.self))
    }

    func bits(_ countA: Int, _ countB: Int) -> (UnsafeMutablePointer<UInt16>, UnsafeMutablePointer<UInt16>) {
        reserve(countA * 2, countB * 2)
        return (first.assumingMemoryBound(to: UInt16.self), second.assumingMemoryBound(to: UInt16.self))
    }

    private func reserve(_ bytesA: Int, _ bytesB: Int) {
        if bytesA > firstBytes { first.deallocate(); first = .allocate(byteCount: bytesA, alignment: 64); firstBytes = bytesA }
        if bytesB > secondBytes { second.deallocate(); second = .allocate(byteCount: bytesB, alignment: 64); secondBytes = bytesB }
    }

    private static let perThread = PerThread { OperandBuffers() }
    static var ofThisThread: OperandBuffers { perThread.current }
}

/// OpenBLAS threads used by every later `sgemm` (process-wide).
public enum BLAS {
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
        Parallel.threads = max(1, count)
    }
    public static var threads: Int { Int(openblas_get_num_threads()) }
    /// The kernel set OpenBLAS runs ("Haswell", "SkylakeX", "Cooperlake", …): its own pick for the CPU,
    /// or what OPENBLAS_CORETYPE pins.
    public static var coreName: String { String(cString: openblas_get_corename()) }
}
