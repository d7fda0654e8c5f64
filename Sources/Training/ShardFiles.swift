// Finding shards: the `*training*` (or `*test*`) HDF5 files of a directory, sorted by name so
// that every rank and every run sees the same global instance numbering.

import Foundation

public enum ShardFiles {
    static let extensions: Set<String> = ["hdf5", "h5", "hdf"]

    /// The shard files in `directory` whose name contains `pattern` (every shard when nil), sorted.
    public static func list(in directory: String, containing pattern: String?) throws -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw TrainingError.io(path: directory, reason: "cannot list the shard directory (\(error.localizedDescription))")
        }
        return names.filter { name in
            // (Not `contains("")`: Foundation's `contains` is false for an empty pattern.)
            !name.hasPrefix(".") && (pattern.map { name.contains($0) } ?? true)
                && extensions.contains((name as NSString).pathExtension.lowercased())
        }.sorted().map { (directory as NSString).appendingPathComponent($0) }
    }

    /// `paths` expanded: a file stays itself; a directory gives its `*test*` shards, or all its shards when it has none.
    public static func expand(_ paths: [String]) throws -> [String] {
        var out: [String] = []
        for path in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw TrainingError.io(path: path, reason: "no such file or directory")
            }
            if isDir.boolValue {
                let test = try list(in: path, containing: "test")
                let all = test.isEmpty ? try list(in: path, containing: nil) : test
                if all.isEmpty { throw TrainingError.noShards(directory: path, pattern: "") }
                out += all
            } else {
                out.append(path)
            }
        }
        return out
    }
}
