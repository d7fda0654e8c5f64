// Files that are either complete or absent: write to a temporary name in the same
// directory, fsync, rename over the final name, fsync the directory. A kill at any
// moment leaves the previous version (or nothing), never a half-written file that
// looks complete. Used for checkpoints, trainer state, shards and manifests.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct StorageError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
    public var description: String { "\(path): \(reason)" }

    /// The message of the current `errno`, for C calls that failed.
    public static func posix(_ path: String, _ what: String) -> StorageError {
        StorageError(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
    }
}

public enum AtomicFile {
    /// A fresh temporary path beside `path` (same directory, so rename is atomic).
    public static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let name = ".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        return url.deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// Writes `data` to `path` atomically.
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { fd in
            try data.withUnsafeBytes { raw in try writeAll(fd: fd, raw, path: path) }
        }
    }

    /// Opens a temporary file beside `path`, lets `body` write through the descriptor,
    /// then fsyncs and renames it into place. On any error the temporary file is removed.
    public static func write(to path: String, _ body: (Int32) throws -> Void) throws {
        let tmp = temporaryPath(for: path)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError.posix(tmp, "cannot create") }
        do {
            try body(fd)
            guard fsync(fd) == 0 else { throw StorageError.posix(tmp, "fsync failed") }
            guard close(fd) == 0 else { throw StorageError.posix(tmp, "close failed") }
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        try commit(temporary: tmp, to: path)
    }

    /// Renames a finished temporary file or directory over `path` and fsyncs the parent.
    /// A directory already at `path` is replaced (moved aside, then removed).
    public static func commit(temporary tmp: String, to path: String) throws {
        var isDir: ObjCBool = false
        let fm = FileManager.default
        if fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            let old = temporaryPath(for: path)
            guard rename(path, old) == 0 else { throw StorageError.posix(path, "cannot move old version aside") }
            guard rename(tmp, path) == 0 else { throw StorageError.posix(path, "cannot rename \(tmp) into place") }
            try? fm.removeItem(atPath: old)
        } else {
            guard rename(tmp, path) == 0 else {
                let err = StorageError.posix(path, "cannot rename \(tmp) into place")
                unlink(tmp)
                throw err
            }
        }
        try syncDirectory(URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }

    /// fsyncs every regular file inside `dir` (not recursive) and the directory itself.
    public static func syncTree(_ dir: String) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        for name in names {
            let p = (dir as NSString).appendingPathComponent(name)
            let fd = open(p, O_RDONLY | O_CLOEXEC)
            if fd < 0 { continue }
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw StorageError.posix(p, "fsync failed") }
        }
        try syncDirectory(dir)
    }

    public static func syncDirectory(_ dir: String) throws {
        let fd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.posix(dir, "cannot open directory to fsync") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw StorageError.posix(dir, "fsync of directory failed") }
    }

    /// Writes every byte or throws (a full disk is an error, not a short file).
    public static func writeAll(fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.posix(path, "write failed after \(done) of \(bytes.count) bytes")
            }
            done += n
        }
    }
}
