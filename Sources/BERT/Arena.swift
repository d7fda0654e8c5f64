// Arena: every buffer of a model is allocated here once, at init, and freed together.
// Forward and backward only ever write into these; `bytes` is what the bench reports.

final class Arena {
    private var blocks: [UnsafeMutableRawPointer] = []
    private(set) var bytes = 0

    /// A zeroed buffer of `count` elements, 64-byte aligned (a cache line, an AVX-512 vector).
    func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutableBufferPointer<T> {
        let size = max(1, count) * MemoryLayout<T>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        blocks.append(raw)
        bytes += size
        return UnsafeMutableBufferPointer(start: raw.bindMemory(to: T.self, capacity: max(1, count)), count: count)
    }

    deinit { for block in blocks { block.deallocate() } }
}
