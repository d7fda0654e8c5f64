// Shards checked against the manifest.json beside them BEFORE HDF5 opens them: size first (cheap),
// then SHA-256. HDF5 cannot be made safe against every damaged file (some damaged metadata makes it
// loop or crash), so a shard that is not byte for byte what `bert-corpus build` wrote never reaches it.
//
// Under MPI rank r hashes the shards r, r+N, r+2N, … of the list, then the ranks agree (one
// all-gather of each rank's first problem) before any of them opens a shard: a mismatch ends every
// rank with the same message naming the shard, the rank that found it, expected vs found.
//
// Shards with no manifest.json beside them (other tools' shards) are used unverified, said once; a
// manifest from before sizes and hashes were recorded verifies nothing either, said once; a shard
// missing from a manifest that records them is an error.

import Distributed
import Foundation
import Storage

/// What the build recorded of one shard file.
public struct ShardFingerprint: Equatable, Sendable {
    public let bytes: Int
    public let sha256: String
    public init(bytes: Int, sha256: String) {
        self.bytes = bytes
        self.sha256 = sha256
    }

    /// Size and SHA-256 of the file at `path` (streamed).
    public static func of(path: String) throws -> ShardFingerprint {
        let (hex, bytes) = try SHA256.hexAndSize(ofFile: path)
        return ShardFingerprint(bytes: bytes, sha256: hex)
    }
}

/// A shard that is not what its manifest says (the message names the shard, the rank, expected vs found).
public struct ShardVerificationError: Error, CustomStringConvertible {
    public let description: String
}

public enum ShardVerification {
    public static let manifestName = "manifest.json"

    /// The manifest of one folder: fingerprints by file name (nil values: listed without one).
    public struct Manifest {
        public let path: String
        public let shards: [String: ShardFingerprint?]
        public var recordsFingerprints: Bool { shards.values.contains { $0 != nil } }
    }

    /// manifest.json of `directory`, or nil when there is none.
    public static func manifest(in directory: String) throws -> Manifest? {
        let path = (directory as NSString).appendingPathComponent(manifestName)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ShardVerificationError(description: "\(path): cannot be read as a JSON object (the shards beside it cannot be verified; --no-verify-shards skips the check)")
        }
        var shards: [String: ShardFingerprint?] = [:]
        for key in ["training_shards", "test_shards"] {
            for entry in object[key] as? [[String: Any]] ?? [] {
                guard let file = entry["file"] as? String else { continue }
                if let bytes = entry["bytes"] as? Int, let sha = entry["sha256"] as? String {
                    shards[file] = ShardFingerprint(bytes: bytes, sha256: sha)
                } else {
                    shards[file] = .some(nil)
                }
            }
        }
        return Manifest(path: path, shards: shards)
    }

    /// What is wrong with the file at `path` against `expected`, or nil: size first, then SHA-256.
    public static func problem(path: String, expected: ShardFingerprint) -> String? {
        return RankActivity.during("verifying shard \(path)") {
            var info = stat()
            guard stat(path, &info) == 0 else { return "cannot stat: \(String(cString: strerror(errno)))" }
            guard Int(info.st_size) == expected.bytes else {
                return "size: manifest.json says \(expected.bytes) bytes, the file has \(info.st_size)"
            }
            do {
                let found = try ShardFingerprint.of(path: path)
                if found.bytes != expected.bytes {
                    return "size: manifest.json says \(expected.bytes) bytes, \(found.bytes) were read"
                }
                if found.sha256 != expected.sha256 {
                    return "SHA-256: manifest.json says \(expected.sha256), the file has \(found.sha256)"
                }
                return nil
            } catch {
                return "\(error)"
            }
        }
    }

    /// Checks `paths` against the manifests beside them, this rank's share of them when `communicator`
    /// has several ranks, and makes every rank agree. `log` gets the informational lines (call it on one rank).
    /// Throws a `ShardError` naming the shard, the rank that found the problem, expected vs found.
    public static func verify(_ paths: [String], communicator: Communicator?, log: (String) -> Void) throws {
        let rank = communicator?.rank ?? 0, size = communicator?.size ?? 1
        var manifests: [String: Manifest?] = [:]
        var firstProblem = ""
        var unverified: [String: String] = [:]       // folder → why
        var checkedBytes = 0, checked = 0
        let start = Date()
        do {
            for (i, path) in paths.enumerated() {
                let directory = (path as NSString).deletingLastPathComponent
                if manifests[directory] == nil { manifests[directory] = .some(try manifest(in: directory)) }
                guard let found = manifests[directory]!, found.recordsFingerprints else {
                    let dir = directory.isEmpty ? "." : directory
                    unverified[dir] = manifests[directory]! == nil
                        ? "no \(manifestName) beside them"
                        : "their \(manifestName) (an older bert-corpus) records no sizes or SHA-256"
                    continue
                }
                guard i % size == rank else { continue }
                let name = (path as NSString).lastPathComponent
                guard let entry = found.shards[name] else {
                    firstProblem = "\(path): not listed in \(found.path), which lists \(found.shards.count) shards (checked by rank \(rank) of \(size))"
                    break
                }
                guard let expected = entry else {
                    firstProblem = "\(path): listed without size and SHA-256 in \(found.path) (checked by rank \(rank) of \(size))"
                    break
                }
                if let problem = problem(path: path, expected: expected) {
                    firstProblem = "\(path): does not match \(found.path) (checked by rank \(rank) of \(size)): \(problem)"
                    break
                }
                checked += 1
                checkedBytes += expected.bytes
            }
        } catch {
            firstProblem = "\(error) (rank \(rank) of \(size))"
        }
        // Agree before anyone opens a shard: every rank learns the first problem any rank found.
        if let communicator, communicator.size > 1 {
            let all = try communicator.allGather(bytes: Array(firstProblem.utf8))
            if let first = all.first(where: { !$0.isEmpty }) { firstProblem = String(decoding: first, as: UTF8.self) }
        }
        if !firstProblem.isEmpty {
            throw ShardVerificationError(description: "shard verification failed: \(firstProblem)")
        }
        for (directory, why) in unverified.sorted(by: { $0.key < $1.key }) {
            log("shards in \(directory) not verified: \(why)")
        }
        if checked > 0 {
            let seconds = Date().timeIntervalSince(start)
            log(String(format: "verified %d shard%@ (%.1f MB) against their manifest.json in %.2f s%@", checked, checked == 1 ? "" : "s",
                       Double(checkedBytes) / 1e6, seconds, size > 1 ? " (rank \(rank)'s share of \(paths.count))" : ""))
        }
    }
}
