// OneDNN: `sgemm`'s bf16 products on oneDNN's matmul (Debian's libdnnl 2.6), for CPUs whose bf16
// instructions (AVX512-BF16, AMX) make a bf16 product faster than OpenBLAS's float32 one. `sgemm`
// converts both operands to bf16 bit patterns and calls `matmulBF16`; `matmulF32` runs the same
// plumbing on float32 operands, so that the tests check strides, transposes, alpha and beta on any CPU.
//
// A product: C[m, n] = alpha · op(A) · op(B) + beta · C, row-major. oneDNN's matmul computes
// dst[m, n] = src[m, k] · weights[k, n] on memory described by dimensions and strides, so a transposed
// or strided operand is the same memory read through other strides (no copy); alpha is the output
// scale (an attribute) and beta a `sum` post-op (dst = alpha · src · weights + beta · dst as it was),
// left out when beta is 0 so that C is written without being read, as BLAS does.
//
// Primitives: one per kind of product (transposes, alpha, beta, data type, threads), with every size and
// leading dimension a run-time value (DNNL_RUNTIME_DIM_VAL): unpadded batches change the row count N =
// Σ lengths from one batch to the next and attention runs at each sequence's own length, so primitives
// made for exact shapes would be created (a jit kernel: milliseconds) nearly every step. A model has a
// handful of kinds, created on their first call and kept for the process, in a dictionary behind a lock.
// (oneDNN 2.6 serves run-time shapes with its gemm-based matmul, jit bf16 kernels on AVX512-BF16; its
// brgemm kernels, AMX's among them, need shapes fixed at creation.) Each thread has its own stream and
// memory objects per exact shape it ran (memory objects are mutable: they hold the data pointers and the
// shape), so that products run side by side from attention's workers; after the first call of a shape
// on a thread, a product takes no lock and creates nothing. (A CPU stream costs 0.1 µs to create and
// destroy, measured here, so a stream per call would do too; per thread is simply where the memory
// objects are.) Primitives themselves are safe to execute from several threads; the scratchpad is
// oneDNN's own (library mode: per thread, grown and reused).
//
// Threads: Debian's libdnnl runs on OpenMP (it links libgomp). An OpenMP thread count belongs to the
// calling thread (omp_set_num_threads sets that thread's ICV; a thread that never set it gets
// OMP_NUM_THREADS, else all cores), and oneDNN fixes a primitive's thread count when it creates it. So
// each call first gives its thread OpenBLAS's count of the moment, which is what `--threads` set
// (BLAS.setThreads) on the main thread and 1 while attention's workers run
// (Parallel.forEachBlockWithSerialBLAS holds OpenBLAS at 1); the count is part of a primitive's key. This
// is needed, not belt and braces: a worker thread is not inside an OpenMP region, so OpenMP's "nested
// parallelism off" would not stop it from starting a team of all cores of its own.

import CBLAS
import CDNNL
import Foundation

public enum OneDNN {
    /// The implementation oneDNN picks for a bf16 matmul (bf16 operands, float32 result) on this CPU,
    /// e.g. "brg:avx512_core_amx" or "ref:any"; nil when it has none (oneDNN 2.6 has no bf16 at all
    /// without AVX512) or when `BERT_ONEDNN=off`.
    static let bf16Implementation: String? = {
        if ProcessInfo.processInfo.environment["BERT_ONEDNN"] == "off" { return nil }
        let probe = Key(dataType: dnnl_bf16, transA: false, transB: false, m: 64, n: 64, k: 64,
                        lda: 64, ldb: 64, ldc: 64, alpha: 1, beta: 0, threads: 1)
        guard let descriptor = try? primitiveDescriptor(probe.kind) else { return nil }
        defer { dnnl_primitive_desc_destroy(descriptor) }
        return implementationName(descriptor)
    }()

    /// Whether `--precision bf16` runs on oneDNN: it has a bf16 matmul here that is not its reference
    /// code ("ref:…", plain loops far slower than OpenBLAS), and the CPU has bf16 instructions. On AVX512
    /// without them oneDNN 2.6 still offers jit bf16 kernels, which widen the operands to float32 and do
    /// float32 arithmetic ("bf16 emulation"): the float32 work of OpenBLAS plus conversions, so no
    /// speed-up to expect. False on AVX2-only CPUs (oneDNN has no bf16 matmul for them: creating one
    /// fails as unimplemented) and with `BERT_ONEDNN=off`.
    public static let hasBF16Kernel: Bool = {
        guard let name = bf16Implementation, !name.hasPrefix("ref") else { return false }
        let isa = dnnl_get_effective_cpu_isa().rawValue, bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        return isa & bf16 == bf16  // AMX's value includes AVX512-BF16's bits
    }()

    /// The bf16 product (operands as bf16 bit patterns, accumulation and C in float32).
    static func matmulBF16(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                           a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt16>, ldb: Int,
                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        product(dnnl_bf16, transA, transB, m, n, k, alpha, UnsafeRawPointer(a), lda, UnsafeRawPointer(b), ldb, beta, c, ldc)
    }

    /// The same product on float32 operands (oneDNN has float32 matmul kernels on every x86-64 CPU).
    static func matmulF32(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                          a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                          beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        product(dnnl_f32, transA, transB, m, n, k, alpha, UnsafeRawPointer(a), lda, UnsafeRawPointer(b), ldb, beta, c, ldc)
    }

    // MARK: - The product

    private static func product(_ dataType: dnnl_data_type_t, _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                                _ alpha: Float, _ a: UnsafeRawPointer, _ lda: Int, _ b: UnsafeRawPointer, _ ldb: Int,
                                _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        // The door's checks, again: the tests call these directly.
        precondition(m >= 0 && n >= 0 && k >= 0, "OneDNN: negative size m=\(m) n=\(n) k=\(k)")
        if m == 0 || n == 0 { return }
        precondition(ldc >= n, "OneDNN: ldc \(ldc) < n \(n)")
        if k == 0 {
            // An empty sum: C = beta · C, as BLAS does. The operands are empty, so their leading dimensions
            // do not matter (the door's contiguous bf16 copies then have 0 columns: lda or ldb = 0).
            for i in 0..<m {
                let row = c + i * ldc
                if beta == 0 { row.update(repeating: 0, count: n) } else if beta != 1 { for j in 0..<n { row[j] *= beta } }
            }
            return
        }
        precondition(lda >= (transA ? m : k) && ldb >= (transB ? k : n),
                     "OneDNN: leading dimensions lda=\(lda) ldb=\(ldb) too small for m=\(m) n=\(n) k=\(k) transA=\(transA) transB=\(transB)")
        let threads = max(1, openblas_get_num_threads())
        if omp_get_max_threads() != threads { omp_set_num_threads(threads) }
        let key = Key(dataType: dataType, transA: transA, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc,
                      alpha: alpha, beta: beta, threads: threads)
        let state = ThreadState.current
        let bound = state.bound[key] ?? state.bind(key, primitive(key.kind))
        bound.execute(a, b, c, state)
    }

    /// What identifies a primitive. alpha and beta go in as bit patterns (beta = ±0 as +0: no post-op).
    fileprivate struct Key: Hashable, CustomStringConvertible {
        let dataType: UInt32, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int
        let alpha: UInt32, beta: UInt32, threads: Int32

        init(dataType: dnnl_data_type_t, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int,
             alpha: Float, beta: Float, threads: Int32) {
            self.dataType = dataType.rawValue
            self.transA = transA; self.transB = transB
            self.m = m; self.n = n; self.k = k; self.lda = lda; self.ldb = ldb; self.ldc = ldc
            self.alpha = alpha.bitPattern; self.beta = beta == 0 ? 0 : beta.bitPattern
            self.threads = threads
        }

        var type: dnnl_data_type_t { dnnl_data_type_t(rawValue: dataType) }
        /// What the primitive depends on: the key without its sizes and leading dimensions.
        var kind: Key {
            let any = Int(bp_dnnl_runtime_dim())
            return Key(dataType: type, transA: transA, transB: transB, m: any, n: any, k: any, lda: any, ldb: any, ldc: any,
                       alpha: alphaValue, beta: betaValue, threads: threads)
        }
        var alphaValue: Float { Float(bitPattern: alpha) }
        var betaValue: Float { Float(bitPattern: beta) }

        var description: String {
            "\(String(cString: dnnl_dt2str(type))) m=\(m) n=\(n) k=\(k) transA=\(transA) transB=\(transB) "
                + "lda=\(lda) ldb=\(ldb) ldc=\(ldc) alpha=\(alphaValue) beta=\(betaValue) threads=\(threads)"
        }
    }

    fileprivate struct Failure: Error { let status: dnnl_status_t }

    /// A failed oneDNN call on a path that must work (the engine, a product the door hands over) is a
    /// programming error or a broken install, not bad input: trap with the status and the product.
    fileprivate static func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) {
        if status != dnnl_success {
            preconditionFailure("oneDNN: \(what()) failed: \(String(cString: dnnl_status2str(status)))")
        }
    }

    /// The one CPU engine every primitive and memory object lives on.
    fileprivate static let engine: dnnl_engine_t = {
        var engine: dnnl_engine_t?
        check(dnnl_engine_create(&engine, dnnl_cpu, 0), "creating the CPU engine")
        return engine!
    }()

    /// A rows × columns matrix whose element (i, j) is at i · rowStride + j · columnStride (any of them
    /// DNNL_RUNTIME_DIM_VAL in a primitive's descriptors).
    private static func matrix(_ rows: Int, _ columns: Int, rowStride: Int, columnStride: Int,
                               _ type: dnnl_data_type_t) throws -> dnnl_memory_desc_t {
        var descriptor = dnnl_memory_desc_t()
        var dims: dnnl_dims_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var strides: dnnl_dims_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        dims.0 = Int64(rows); dims.1 = Int64(columns)
        strides.0 = Int64(rowStride); strides.1 = Int64(columnStride)
        let status = withUnsafeBytes(of: dims) { dimsBytes in
            withUnsafeBytes(of: strides) { stridesBytes in
                dnnl_memory_desc_init_by_strides(&descriptor, 2, dimsBytes.assumingMemoryBound(to: Int64.self).baseAddress,
                                                 type, stridesBytes.assumingMemoryBound(to: Int64.self).baseAddress)
            }
        }
        if status != dnnl_success { throw Failure(status: status) }
        return descriptor
    }

    /// op(A) [m, k], op(B) [k, n] and C [m, n] of a product as memory descriptors: a transposed operand
    /// through strides (A stored [k, m] is the [m, k] matrix with strides (1, lda)), C float32.
    fileprivate static func operands(_ key: Key) throws -> (dnnl_memory_desc_t, dnnl_memory_desc_t, dnnl_memory_desc_t) {
        (try matrix(key.m, key.k, rowStride: key.transA ? 1 : key.lda, columnStride: key.transA ? key.lda : 1, key.type),
         try matrix(key.k, key.n, rowStride: key.transB ? 1 : key.ldb, columnStride: key.transB ? key.ldb : 1, key.type),
         try matrix(key.m, key.n, rowStride: key.ldc, columnStride: 1, dnnl_f32))
    }

    /// The primitive descriptor of a kind of product (`Key.kind`: sizes and leading dimensions given at
    /// each call), alpha and beta as attributes.
    private static func primitiveDescriptor(_ key: Key) throws -> dnnl_primitive_desc_t {
        var (source, weights, destination) = try operands(key)
        var operation = dnnl_matmul_desc_t()
        var status = dnnl_matmul_desc_init(&operation, &source, &weights, nil, &destination)
        if status != dnnl_success { throw Failure(status: status) }

        var attributes: dnnl_primitive_attr_t?
        check(dnnl_primitive_attr_create(&attributes), "creating primitive attributes")
        defer { dnnl_primitive_attr_destroy(attributes) }
        if key.alphaValue != 1 {
            var alpha = key.alphaValue
            check(dnnl_primitive_attr_set_output_scales(attributes, 1, 0, &alpha), "setting alpha (\(key))")
        }
        if key.beta != 0 {
            var postOps: dnnl_post_ops_t?
            check(dnnl_post_ops_create(&postOps), "creating post-ops")
            defer { dnnl_post_ops_destroy(postOps) }
            check(dnnl_post_ops_append_sum(postOps, key.betaValue), "appending beta (\(key))")
            check(dnnl_primitive_attr_set_post_ops(attributes, postOps), "setting post-ops (\(key))")
        }
        var descriptor: dnnl_primitive_desc_t?
        status = withUnsafePointer(to: &operation) { dnnl_primitive_desc_create(&descriptor, $0, attributes, engine, nil) }
        if status != dnnl_success { throw Failure(status: status) }
        return descriptor!
    }

    fileprivate static func implementationName(_ descriptor: dnnl_primitive_desc_t) -> String? {
        var name: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name else { return nil }
        return String(cString: name)
    }

    // MARK: - Primitives (process-wide) and their per-thread bindings

    /// A created kind of product.
    fileprivate final class Primitive {
        let primitive: dnnl_primitive_t

        init(_ key: Key) {
            let descriptor: dnnl_primitive_desc_t
            do { descriptor = try primitiveDescriptor(key) } catch {
                // The shapes passed the door's checks, so oneDNN must take them (f32 and, where
                // hasBF16Kernel, bf16 matmul accept any plain strides): a failure here is a bug.
                preconditionFailure("oneDNN: no matmul for \(key): \(String(cString: dnnl_status2str((error as! Failure).status)))")
            }
            defer { dnnl_primitive_desc_destroy(descriptor) }
            var primitive: dnnl_primitive_t?
            check(dnnl_primitive_create(&primitive, descriptor), "creating the matmul for \(key)")
            self.primitive = primitive!
        }
        // Never destroyed: the cache keeps every primitive for the process.
    }

    private static let cacheLock = NSLock()
    nonisolated(unsafe) private static var primitives: [Key: Primitive] = [:]

    /// How many primitives exist (one per kind of product; the tests check that sizes do not add any).
    static var primitiveCount: Int { cacheLock.lock(); defer { cacheLock.unlock() }; return primitives.count }

    /// The primitive of a kind of product, created on its first call (under the lock: a jit primitive
    /// takes milliseconds to create, once).
    fileprivate static func primitive(_ key: Key) -> Primitive {
        cacheLock.lock(); defer { cacheLock.unlock() }
        if let known = primitives[key] { return known }
        let created = Primitive(key)
        primitives[key] = created
        return created
    }

    /// A kind's primitive with this thread's memory objects for one exact shape (their data pointers are
    /// set at each call) and the argument list to execute it with.
    fileprivate final class Bound {
        let primitive: Primitive, key: Key
        let source: dnnl_memory_t, weights: dnnl_memory_t, destination: dnnl_memory_t
        let arguments: UnsafeMutablePointer<dnnl_exec_arg_t>, argumentCount: Int32 = 3

        init(_ primitive: Primitive, _ key: Key) {
            self.primitive = primitive; self.key = key
            func memory(_ descriptor: dnnl_memory_desc_t) -> dnnl_memory_t {
                var memory: dnnl_memory_t?
                withUnsafePointer(to: descriptor) { check(dnnl_memory_create(&memory, $0, engine, nil), "creating a memory object for \(key)") }
                return memory!
            }
            let descriptors: (dnnl_memory_desc_t, dnnl_memory_desc_t, dnnl_memory_desc_t)
            do { descriptors = try operands(key) } catch {
                preconditionFailure("oneDNN: describing the operands of \(key): \(String(cString: dnnl_status2str((error as! Failure).status)))")
            }
            source = memory(descriptors.0); weights = memory(descriptors.1); destination = memory(descriptors.2)
            arguments = .allocate(capacity: 3)
            arguments[0] = dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: source)
            arguments[1] = dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: weights)
            arguments[2] = dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: destination)
        }

        deinit {
            for memory in [source, weights, destination] { dnnl_memory_destroy(memory) }
            arguments.deallocate()
        }

        func execute(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ c: UnsafeMutablePointer<Float>, _ state: ThreadState) {
            check(dnnl_memory_set_data_handle(source, UnsafeMutableRawPointer(mutating: a)), "binding A of \(key)")
            check(dnnl_memory_set_data_handle(weights, UnsafeMutableRawPointer(mutating: b)), "binding B of \(key)")
            check(dnnl_memory_set_data_handle(destination, UnsafeMutableRawPointer(c)), "binding C of \(key)")
            check(dnnl_primitive_execute(primitive.primitive, state.stream, argumentCount, arguments), "running the matmul \(key)")
            check(dnnl_stream_wait(state.stream), "waiting for the matmul \(key)")
        }
    }

    /// This thread's stream and bound primitives; released when the thread exits.
    fileprivate final class ThreadState {
        let stream: dnnl_stream_t
        var bound: [Key: Bound] = [:]

        init() {
            var stream: dnnl_stream_t?
            check(dnnl_stream_create(&stream, engine, UInt32(dnnl_stream_default_flags.rawValue)), "creating a stream")
            self.stream = stream!
        }

        deinit {
            bound.removeAll()
            dnnl_stream_destroy(stream)
        }

        func bind(_ key: Key, _ primitive: Primitive) -> Bound {
            let bound = Bound(primitive, key)
            self.bound[key] = bound
            return bound
        }

        private static let perThread = PerThread { ThreadState() }
        static var current: ThreadState { perThread.current }
    }
}
