// Default mode's passes 2 and 3 (see BuildPipeline.swift): instances spilled to per-rank files
// with a key each, then gathered shard by shard in key order.
//
// Spill record, little-endian words: length L, predictions P, label, start of B (first segment-1
// position); then input ids [L], masked positions [P], masked ids [P]. The words are uint16 when
// every id and position fits (vocabulary ≤ 65,536 tokens, the common case: half the disk space and
// copying), else int32 (SpillRecordWidth).
// Index entry (4 × uint64): key, split << 32 | shard, byte offset of the record, tie-break
// (i << 32 | pass << 20 | j), so the order is total even if two keys collide.

import Distributed
import Foundation
import Logging
import PretrainingData
import Storage
#if canImport(Glibc)
import Glibc
#endif

/// Stream tags folded into the seeded hashes, so draws for different purposes never coincide.
enum Stream {
    static let holdout: UInt64 = 0x484F_4C44        // "HOLD"
    static let instances: UInt64 = 0x494E_5354      // "INST"
    static let shuffle: UInt64 = 0x5348_5546        // "SHUF"
}

extension CorpusBuilder {
    var spillRecordWidth: SpillRecordWidth {
        SpillRecordWidth(vocabularySize: vocabulary.masking.size, maxSeqLength: options.maxSeqLength)
    }

    func spillPaths(rank: Int) -> (records: String, index: String) {
        let d = workDirectory as NSString
        return (d.appendingPathComponent("instances-\(rank).bin"), d.appendingPathComponent("index-\(rank).bin"))
    }

    /// Pass 2: this rank's documents of each split, every dupe pass, into its spill files; returns the
    /// instances of every shard (training shards, then test shards), summed over the ranks.
    func spillInstances(splits: [StoredDocuments]) throws -> [Int64] {
        let seed = UInt64(bitPattern: Int64(options.randomSeed))
        let shardCounts = [options.shards, options.testShards]
        let paths = spillPaths(rank: comm.rank)
        let width = spillRecordWidth
        let records = try BufferedOutput(creating: paths.records)
        let index = try BufferedOutput(creating: paths.index)

        let work = splits.reduce(0) { $0 + $1.documentCount } * options.dupeFactor
        let meter = ProgressMeter(label: "instances", unit: "documents", total: Double(work), enabled: comm.isRoot)
        var done = 0
        // Instances per shard (training shards, then test shards), summed over the ranks after pass 2.
        var perShard = [Int64](repeating: 0, count: shardCounts[0] + shardCounts[1])
        var randomNext = 0
        for (split, documents) in splits.enumerated() where documents.documentCount > 0 {
            for pass in 0..<options.dupeFactor {
                for i in stride(from: comm.rank, to: documents.documentCount, by: comm.size) {
                    var rng = SeededRandom(seed: seed, Stream.instances, UInt64(split), UInt64(pass), UInt64(i))
                    let instances = try createInstancesFromDocument(
                        documents: documents, documentIndex: i, maxSeqLength: options.maxSeqLength,
                        shortSeqProb: options.shortSeqProb, maskedLMProb: options.maskedLMProb,
                        maxPredictionsPerSeq: options.maxPredictionsPerSeq, vocabulary: vocabulary.masking,
                        wholeWordMask: options.wholeWordMask, sameDocumentBIsRandom: false, rng: &rng)
                    guard instances.count < (1 << 20) else {
                        throw BuildError("document \(i) gives \(instances.count) instances in one pass, more than 2^20")
                    }
                    for (j, instance) in instances.enumerated() {
                        let key = SeededRandom.hash(seed, Stream.shuffle, UInt64(split), UInt64(pass), UInt64(i), UInt64(j))
                        let shard = key % UInt64(shardCounts[split])
                        try index.append(littleEndian: key)
                        try index.append(littleEndian: UInt64(split) << 32 | shard)
                        try index.append(littleEndian: UInt64(records.bytesWritten))
                        try index.append(littleEndian: UInt64(i) << 32 | UInt64(pass) << 20 | UInt64(j))
                        perShard[split * shardCounts[0] + Int(shard)] += 1
                        if instance.nextSentenceLabel == 1 { randomNext += 1 }
                        try Self.writeRecord(instance, to: records, width: width)
                    }
                    done += comm.size
                    meter.update(Double(min(done, work)))
                }
            }
        }
        try records.close()
        try index.close()
        meter.update(Double(work), force: true)
        logger.info("pass 2: instances spilled, peak resident \(Self.peakResidentMB()) MB")
        try comm.allReduce(&perShard)
        checkRandomNextShare(randomNext: try comm.allReduce(randomNext), instances: Int(perShard.reduce(0, +)))
        // Pass 3 holds one shard's index entries (and the sort's buffer): say so before it grows large.
        let largest = Int(perShard.max() ?? 0), entryMB = (largest * MemoryLayout<ShardEntry>.stride * 3 / 2) >> 20
        if entryMB >= 256 {
            logger.warning("the largest shard holds \(largest) instances: writing it takes about \(entryMB) MB for its index entries; more shards (--shards) make that smaller")
        }
        return perShard
    }

    /// Pass 3: shard m of the list (training shards, then test shards) is written by rank m mod N;
    /// returns the instance count of every training and test shard.
    func writeShards(perShard: [Int64]) throws -> (training: [Int], test: [Int]) {
        let shardCounts = [options.shards, options.testShards]
        let width = spillRecordWidth
        let recordFiles = try (0..<comm.size).map { try RecordFile(path: spillPaths(rank: $0).records, width: width, maxSeqLength: options.maxSeqLength, maxPredictions: options.maxPredictionsPerSeq) }
        let indexFiles = (0..<comm.size).map { spillPaths(rank: $0).index }
        let jobs = (0..<shardCounts[0]).map { (0, $0) } + (0..<shardCounts[1]).map { (1, $0) }
        var mine = [Int64](repeating: 0, count: jobs.count)
        for m in stride(from: comm.rank, to: jobs.count, by: comm.size) {
            let (split, shard) = jobs[m]
            mine[m] = Int64(try writeShard(split: split, shard: shard, records: recordFiles, indexes: indexFiles,
                                           expected: Int(perShard[m])))
            guard mine[m] == perShard[m] else {
                throw BuildError("\(Self.shardName(shard, test: split == 1)): \(mine[m]) instances written, \(perShard[m]) spilled: a spill index is damaged")
            }
            logger.debug("wrote \(Self.shardName(shard, test: split == 1)) (\(mine[m]) instances)")
        }
        try comm.allReduce(&mine)
        let counts = mine.map(Int.init)
        return (Array(counts[0..<shardCounts[0]]), Array(counts[shardCounts[0]...]))
    }

    static func writeRecord(_ instance: PretrainingInstance, to file: BufferedOutput, width: SpillRecordWidth) throws {
        let bStart = instance.segmentIds.firstIndex(of: 1) ?? instance.segmentIds.count
        let header = [Int32(instance.inputIds.count), Int32(instance.maskedPositions.count), instance.nextSentenceLabel, Int32(bStart)]
        switch width {
        case .narrow:
            try file.appendNarrow(header)
            try file.appendNarrow(instance.inputIds)
            try file.appendNarrow(instance.maskedPositions)
            try file.appendNarrow(instance.maskedIds)
        case .wide:
            try file.append(header)
            try file.append(instance.inputIds)
            try file.append(instance.maskedPositions)
            try file.append(instance.maskedIds)
        }
    }

    /// Gathers one shard's entries from every rank's index, sorts them by (key, tie-break) and
    /// writes the records in that order.
    func writeShard(split: Int, shard: Int, records: [RecordFile], indexes: [String], expected: Int) throws -> Int {
        let tag = UInt64(split) << 32 | UInt64(shard)
        var entries: [ShardEntry] = []
        entries.reserveCapacity(expected)
        // Each index is read in 1 MiB pieces (32 768 entries), so memory is this shard's entries only.
        var piece = [UInt64](repeating: 0, count: 4 * 32_768)
        for (rank, path) in indexes.enumerated() {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StorageError.posix(path, "cannot open") }
            defer { close(fd) }
            var offset = 0
            while true {
                let got = piece.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
                guard got >= 0 else { throw StorageError.posix(path, "read failed at byte \(offset)") }
                guard got > 0 else { break }
                guard got % 32 == 0 else { throw BuildError("\(path): index cut short at byte \(offset + got)") }
                for e in stride(from: 0, to: got / 8, by: 4) where piece[e + 1] == tag {
                    entries.append(ShardEntry(key: piece[e], tie: piece[e + 3], rank: rank, offset: Int(piece[e + 2])))
                }
                offset += got
            }
        }
        entries.sort { ($0.key, $0.tie) < ($1.key, $1.tie) }
        let writer = try ShardWriter(path: shardPath(shard, test: split == 1), maxSeqLength: options.maxSeqLength,
                                     maxPredictions: options.maxPredictionsPerSeq, attributes: shardAttributes())
        for entry in entries { try records[entry.rank].copyRecord(at: entry.offset, to: writer) }
        pendingShards.append((try writer.finish(), writer.path))
        return writer.count
    }
}

/// One instance of the shard being written: its order (key, then tie-break) and where its record is.
struct ShardEntry { var key: UInt64, tie: UInt64, rank: Int, offset: Int }

/// Width of the words of a spill record: uint16 when every value fits (ids < vocabulary size ≤
/// 65,536; lengths, positions and labels ≤ max_seq_length ≤ 65,535), else int32.
enum SpillRecordWidth {
    case narrow, wide
    init(vocabularySize: Int, maxSeqLength: Int) {
        self = vocabularySize <= 65_536 && maxSeqLength <= 65_535 ? .narrow : .wide
    }
    var bytes: Int { self == .narrow ? 2 : 4 }
}

/// Reads spill records with pread into one reusable buffer (a memory map would count every page it
/// touched as resident memory, growing with the corpus).
final class RecordFile {
    let path: String
    private let fd: Int32
    private let width: SpillRecordWidth
    private var raw: [UInt8]      // the largest record, as stored
    private var words: [Int32]    // [4 + T + 2P]: the record widened

    init(path: String, width: SpillRecordWidth, maxSeqLength: Int, maxPredictions: Int) throws {
        self.path = path
        self.width = width
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.posix(path, "cannot open") }
        words = [Int32](repeating: 0, count: 4 + maxSeqLength + 2 * maxPredictions)
        raw = [UInt8](repeating: 0, count: words.count * width.bytes)
    }

    deinit { close(fd) }

    /// Reads the record at byte `offset` and appends it to `writer`, without building arrays.
    func copyRecord(at offset: Int, to writer: ShardWriter) throws {
        let capacity = raw.count, unit = width.bytes
        let got = raw.withUnsafeMutableBytes { pread(fd, $0.baseAddress, capacity, off_t(offset)) }
        guard got >= 4 * unit else { throw BuildError("\(path): record at byte \(offset) is cut short (read \(got) bytes)") }
        let available = got / unit
        raw.withUnsafeBytes { bytes in
            words.withUnsafeMutableBufferPointer { w in
                switch width {
                case .narrow:
                    for k in 0..<available { w[k] = Int32(bytes.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)) }
                case .wide:
                    for k in 0..<available { w[k] = bytes.loadUnaligned(fromByteOffset: 4 * k, as: Int32.self) }
                }
            }
        }
        try words.withUnsafeBufferPointer { b in
            let length = Int(b[0]), predictions = Int(b[1]), bStart = Int(b[3])
            guard length >= 0, predictions >= 0, 4 + length + 2 * predictions <= min(b.count, available) else {
                throw BuildError("\(path): record at byte \(offset) is damaged (length \(length), predictions \(predictions))")
            }
            try writer.append(inputIds: UnsafeBufferPointer(rebasing: b[4..<(4 + length)]), segmentBStart: bStart,
                              maskedPositions: UnsafeBufferPointer(rebasing: b[(4 + length)..<(4 + length + predictions)]),
                              maskedIds: UnsafeBufferPointer(rebasing: b[(4 + length + predictions)..<(4 + length + 2 * predictions)]),
                              nextSentenceLabel: b[2])
        }
    }
}
