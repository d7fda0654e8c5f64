// Finding shards, for every reader (train, evaluate, inspect): the HDF5 files of a directory whose
// name contains `training` (or `test`), sorted by name (bytewise) so that every rank and every run
// sees the same global instance numbering.

import Foundation

public enum ShardFiles {
    static let extensions: Set<String> = ["hdf5", "h5", "hdf"]

    /// The shard files in `directory` whose name contains `pattern` (every shard when nil), sorted.
    public static func list(in directory: String, containing pattern: String?) throws -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw ShardError(path: directory, reason: "cannot list the shard directory (\(error.localizedDescription))")
        }
        return names.filter { name in
            // (Not `contains("")`: Foundation's `contains` is false for an empty pattern.)
            !name.hasPrefix(".") && (pattern.map { name.contains($0) } ?? true)
                && extensions.contains((name as NSString).pathExtension.lowercased())
        }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map { (directory as NSString).appendingPathComponent($0) }
    }

    /// `paths` expanded: a file stays itself; a directory gives its shards whose name contains `prefer`
    /// (`evaluate`: "test"; `bench`: "training"), or all its shards when it has none (`prefer` nil: always
    /// all its shards, as `inspect` wants).
    public static func expand(_ paths: [String], prefer: String? = "test") throws -> [String] {
        var out: [String] = []
        for path in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw ShardError(path: path, reason: "no such file or directory")
            }
            if isDir.boolValue {
                let preferred = try prefer.map { try list(in: path, containing: $0) } ?? []
                let all = preferred.isEmpty ? try list(in: path, containing: nil) : preferred
                if all.isEmpty {
                    throw ShardError(path: path, reason: "no shard files (\(extensions.sorted().map { "*." + $0 }.joined(separator: ", "))) in this directory")
                }
                out += all
            } else {
                out.append(path)
            }
        }
        return out
    }
}
