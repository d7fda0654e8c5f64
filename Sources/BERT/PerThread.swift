// PerThread: one instance of a class per thread, made on the thread's first use and released when the
// thread exits (a pthread key). For what products keep per thread — the bf16 operand buffers, oneDNN's
// streams and memory objects — since attention's workers run products side by side.
import Foundation

final class PerThread<Value: AnyObject> {
    private var key = pthread_key_t()
    private let make: () -> Value

    init(_ make: @escaping () -> Value) {
        self.make = make
        // The destructor only releases: it needs no type (a C function pointer captures nothing).
        let status = pthread_key_create(&key) { pointer in
            if let pointer { Unmanaged<AnyObject>.fromOpaque(pointer).release() }
        }
        precondition(status == 0, "pthread_key_create failed (\(status))")
    }

    /// This thread's instance.
    var current: Value {
        if let pointer = pthread_getspecific(key) { return unsafeDowncast(Unmanaged<AnyObject>.fromOpaque(pointer).takeUnretainedValue(), to: Value.self) }
        let value = make()
        pthread_setspecific(key, Unmanaged.passRetained(value as AnyObject).toOpaque())
        return value
    }
}
