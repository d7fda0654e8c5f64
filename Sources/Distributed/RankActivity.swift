// RankActivity: what this process is doing right now ("opening shard /data/part-00003-training.hdf5",
// "step 1200: all-reduce"), kept in one fixed buffer so that code which must not allocate can read
// it: a fatal-signal handler prints it before the process dies, and the stall watchdog names it
// when a rank stops making progress.
//
// Writers (any thread) take a lock; readers in a signal handler read without one (a torn message
// is possible only if the signal lands during a write, and it is a diagnostic, not data).

import Foundation

public enum RankActivity {
    /// Longest description kept, in UTF-8 bytes (longer ones are cut).
    public static let capacity = 1024

    nonisolated(unsafe) static let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    nonisolated(unsafe) static var length = 0
    nonisolated(unsafe) static var lock = pthread_mutex_t()
    nonisolated(unsafe) static var lockReady: Bool = {
        pthread_mutex_init(&lock, nil)
        return true
    }()

    /// Replaces the current description.
    public static func set(_ description: String) {
        _ = lockReady
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        var n = 0
        for byte in description.utf8 where n < capacity {
            bytes[n] = byte
            n += 1
        }
        length = n
    }

    /// The current description ("" when none was set).
    public static var current: String {
        _ = lockReady
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)
    }

    /// Runs `body` with `description` as the activity, then restores the previous one.
    public static func during<T>(_ description: String, _ body: () throws -> T) rethrows -> T {
        let previous = current
        set(description)
        defer { set(previous) }
        return try body()
    }

    /// For signal handlers: the buffer and its length, read without a lock or an allocation.
    public static var unsafeBytes: (UnsafePointer<UInt8>, Int) { (UnsafePointer(bytes), min(length, capacity)) }
}
