// `bert-corpus build`: documents → token store → instances → shuffled HDF5 shards, on N ranks.
//
//   pass 1  tokenize   Google's format in plain files: rank r reads its byte range and tokenizes
//                      the documents starting there (SentencePerLineRangeDocuments); otherwise every
//                      rank reads the input, finding boundaries only, and tokenizes documents
//                      g ≡ rank (mod N). Into its token store (TokenStore.swift) in the work dir.
//   pass 2  instances  every rank opens all N stores; the non-empty documents, in input order, get a
//                      dense index d; a hash of (seed, d) holds out a share for test shards. For each
//                      split, dupe pass p and document i ≡ rank (mod N), Google's algorithm runs with
//                      its own SeededRandom(seed, split, p, i), so instances do not depend on N.
//                      Each instance gets a key = hash(seed, split, p, i, j): its shard is key mod K,
//                      its place in the shard the key's order. Instances go to the rank's spill file,
//                      (key, shard, offset) to its index file (BuildSpill.swift).
//   pass 3  shards     shard m is written by rank m mod N: it gathers its entries from every index,
//                      sorts them by key and copies the records in that order into an atomic
//                      ShardWriter. Memory: one shard's index entries (32 bytes per instance).
//
// `--reference-rng` (one rank) instead runs create_training_instances over the whole store with
// PythonRandom(seed) and deals the instances round-robin over the shards, as the script deals them
// over its output files.
//
// Shards are written under hidden temporary names and named only once every rank has finished
// them; manifest.json is written last, so a folder with a manifest holds a complete build, and a
// failed build (a full disk, bad input) leaves no shard under a shard's name. The failing rank
// deletes its temporaries and work files; a re-run starts over: it deletes the work directory,
// the output's old shards, leftover temporaries and manifest first.

import Distributed
import Foundation
import Logging
import PretrainingData
import ShardFormat
import Storage
#if canImport(Glibc)
import Glibc
#endif

public final class CorpusBuilder {
    public let options: BuildOptions
    public let vocabulary: BuildVocabulary
    let comm: Communicator
    let logger: Logger
    /// Shards this rank has written, complete under a temporary name (temporary, final path). They
    /// are named only once every rank has finished, so a failed build leaves no shard that looks
    /// like part of a complete set.
    var pendingShards: [(String, String)] = []
    /// Size and SHA-256 of every shard, by file name, once they are named (for the manifest).
    var shardFingerprints: [String: ShardFingerprint] = [:]
    var workDirectory: String { (options.outputDirectory as NSString).appendingPathComponent(".bert-corpus-work") }

    public init(options: BuildOptions, vocabulary: BuildVocabulary, communicator: Communicator, logger: Logger) {
        self.options = options
        self.vocabulary = vocabulary
        self.comm = communicator
        self.logger = logger
    }

    /// Runs the whole build over `options.inputFiles`, read as `options.format` says: Google's format
    /// (and `auto` with `--reference-rng`, as the script reads) straight from bytes, each rank its own
    /// byte range where the files allow it; any other through `DocumentReader`. `encode` appends the
    /// token ids of one sentence's UTF-8 bytes (no [CLS]/[SEP]) to its array.
    public func run(encode: (UnsafeBufferPointer<UInt8>, inout [Int32]) -> Void) throws -> BuildSummary {
        let files = options.inputFiles
        if options.format == .google || (options.referenceRNG && options.format == .auto) {
            // In reference mode a document may continue into the next file, as in the script.
            if !options.referenceRNG && comm.size > 1 && SentencePerLineRangeDocuments.applies(to: files) {
                let stream = try SentencePerLineRangeDocuments(files: files, rank: comm.rank, ranks: comm.size, logger: logger)
                return try run(documents: stream, encode: encode)
            }
            let stream = SentencePerLineDocuments(files: files, fileEndsDocument: !options.referenceRNG, logger: logger)
            return try run(documents: stream, encode: encode)
        }
        let reader = try DocumentReader(
            paths: files,
            options: DocumentReaderOptions(format: options.format.inputFormat, documentSeparator: options.documentSeparator,
                                           jsonField: options.jsonField),
            logger: logger)
        return try run(documents: ReaderDocuments(reader: reader), encode: encode)
    }

    /// Runs the whole build over `documents`: pass 1, passes 2 and 3, then the shards are named and
    /// the manifest written.
    public func run<S: DocumentStream>(documents: S, encode: (UnsafeBufferPointer<UInt8>, inout [Int32]) -> Void) throws -> BuildSummary {
        let start = Date()
        guard 1.littleEndian == 1 else { throw BuildError("the token store and spill files assume a little-endian host") }
        if options.referenceRNG && comm.size > 1 {
            throw BuildError("--reference-rng reproduces Google's single-process script: run it on one rank (found \(comm.size))")
        }
        try prepareOutput()
        var summary = BuildSummary()
        let pass1 = try tokenize(documents, encode: encode, summary: &summary)
        logger.info("pass 1: tokenized \(summary.tokens) tokens in \(String(format: "%.2f", Date().timeIntervalSince(start))) s, peak resident \(Self.peakResidentMB()) MB")

        let stores = try (0..<comm.size).map { try TokenStore(directory: workDirectory, rank: $0) }
        let locations = try documentLocations(stores, rawDocuments: pass1.rawDocuments, ownOnly: pass1.ownOnly, summary: &summary)
        try checkDocumentStructure(summary)
        if options.referenceRNG {
            summary.trainingDocuments = locations.count
            summary.trainingInstances = try buildReference(StoredDocuments(stores: stores, locations: locations))
        } else {
            let splits = try holdOut(locations, stores: stores, summary: &summary)
            let perShard = try spillInstances(splits: splits)
            let counts = try writeShards(perShard: perShard)
            summary.trainingInstances = counts.training
            summary.testInstances = counts.test
        }
        guard summary.instances > 0 else {
            throw BuildError("the corpus is too small for one instance (\(summary.documents) documents, \(summary.tokens) tokens)")
        }
        summary.seconds = try nameShards(start: start)
        logger.info("passes 2 and 3: instances and shards done at \(String(format: "%.2f", summary.seconds)) s, peak resident \(Self.peakResidentMB()) MB")
        try finish(summary)
        return summary
    }

    /// Pass 1: tokenizes this rank's documents into its store: those of its byte range (a range
    /// stream), else documents g ≡ rank (mod N), skipping the others undecoded. Fills the summary's
    /// sentence, token and input byte counts; returns the documents read (this rank's range only, or all).
    func tokenize<S: DocumentStream>(_ documents: S, encode: (UnsafeBufferPointer<UInt8>, inout [Int32]) -> Void,
                                     summary: inout BuildSummary) throws -> (rawDocuments: Int, ownOnly: Bool) {
        let inputBytes = options.inputFiles.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) }
        var stream = documents
        let ownOnly = stream.ownBytes != nil
        let writer = try TokenStoreWriter(directory: workDirectory, rank: comm.rank)
        let meter = ProgressMeter(label: "tokenize", unit: "MB", total: Double(stream.ownBytes ?? inputBytes) / 1e6, enabled: comm.isRoot)
        var rawDocuments = 0
        var sentencesMine = 0, tokensMine = 0
        var largestDocumentMine = 0   // tokens of this rank's largest document (a collapsed corpus is one huge one)
        var ids: [Int32] = []
        while true {
            let mine = ownOnly || rawDocuments % comm.size == comm.rank
            let tokensBefore = tokensMine
            let more = try stream.nextDocument(wanted: mine) { sentence in
                ids.removeAll(keepingCapacity: true)
                encode(sentence, &ids)
                if !ids.isEmpty {
                    try writer.appendSentence(ids)
                    sentencesMine += 1
                    tokensMine += ids.count
                }
            }
            largestDocumentMine = max(largestDocumentMine, tokensMine - tokensBefore)
            guard more else { break }
            if mine { try writer.endDocument() }
            rawDocuments += 1
            if rawDocuments % 256 == 0 {
                meter.update(Double(stream.bytesRead) / 1e6, extra: "\(rawDocuments) documents")
            }
        }
        try writer.close()
        meter.update(Double(stream.bytesRead) / 1e6, extra: "\(rawDocuments) documents", force: true)
        summary.inputBytes = ownOnly ? inputBytes : stream.bytesRead   // ranges overlap by a document at each cut
        summary.sentences = try comm.allReduce(sentencesMine)
        summary.tokens = try comm.allReduce(tokensMine)
        summary.largestDocumentTokens = try comm.allReduce(largestDocumentMine, op: .max)
        try comm.barrier()
        return (rawDocuments, ownOnly)
    }

    /// Every store, every document by index: the non-empty documents in input order (their dense
    /// index d is what pass 2 keys by). Fills the summary's document counts.
    func documentLocations(_ stores: [TokenStore], rawDocuments: Int, ownOnly: Bool,
                           summary: inout BuildSummary) throws -> [UInt64] {
        var rawDocuments = rawDocuments
        var locations: [UInt64] = []
        if ownOnly {
            // Store r holds the documents of range r, in order: the corpus is the stores in rank order.
            rawDocuments = try comm.allReduce(rawDocuments)
            for (r, store) in stores.enumerated() {
                for local in 0..<store.documentCount where store.sentenceCount(ofDocument: local) > 0 {
                    locations.append(StoredDocuments.location(store: r, document: local))
                }
            }
        }
        for g in 0..<(ownOnly ? 0 : rawDocuments) {
            let store = g % comm.size, local = g / comm.size
            guard local < stores[store].documentCount else {
                throw BuildError("token store of rank \(store) has \(stores[store].documentCount) documents, expected more (rank \(comm.rank) read \(rawDocuments) documents): did the ranks see different input?")
            }
            if stores[store].sentenceCount(ofDocument: local) > 0 {
                locations.append(StoredDocuments.location(store: store, document: local))
            }
        }
        summary.documents = locations.count
        summary.emptyDocuments = rawDocuments - locations.count
        guard !locations.isEmpty else {
            throw BuildError("no document with any token in \(options.inputFiles.joined(separator: ", ")) (\(rawDocuments) empty documents): is the input empty or the --format wrong?")
        }
        return locations
    }

    /// The training and test splits: document d goes to test when hash(seed, d) / 2^64 < F.
    func holdOut(_ locations: [UInt64], stores: [TokenStore], summary: inout BuildSummary) throws -> [StoredDocuments] {
        let seed = UInt64(bitPattern: Int64(options.randomSeed))
        var training: [UInt64] = [], test: [UInt64] = []
        for (d, l) in locations.enumerated() {
            let u = Double(SeededRandom.hash(seed, Stream.holdout, UInt64(d)) >> 11) / 9_007_199_254_740_992.0
            if u < options.holdoutFraction { test.append(l) } else { training.append(l) }
        }
        if options.holdoutFraction > 0 && (training.isEmpty || test.isEmpty) {
            throw BuildError("--holdout-fraction \(options.holdoutFraction) leaves \(training.count) training and \(test.count) test documents of \(locations.count): both need at least one")
        }
        summary.trainingDocuments = training.count
        summary.testDocuments = test.count
        return [StoredDocuments(stores: stores, locations: training), StoredDocuments(stores: stores, locations: test)]
    }

    /// Every rank got here, so every shard is written: names them. Returns the seconds since `start`.
    func nameShards(start: Date) throws -> Double {
        try comm.barrier()
        shardFingerprints = try gatherShardFingerprints()
        for (temporary, path) in pendingShards { try AtomicFile.commit(temporary: temporary, to: path) }
        pendingShards = []
        try comm.barrier()
        return Date().timeIntervalSince(start)
    }

    /// Each rank deletes its own work files (freeing large files takes a while: in parallel); rank 0
    /// writes vocab.txt and manifest.json last.
    func finish(_ summary: BuildSummary) throws {
        removeWorkFiles()
        if comm.isRoot { try writeVocabularyAndManifest(summary, fingerprints: shardFingerprints) }
        try comm.barrier()
        if comm.isRoot { try? FileManager.default.removeItem(atPath: workDirectory) }
    }

    /// After a failure on this rank (before the job is ended): deletes the shards it wrote but did
    /// not name and its files in the work directory (the token store and spill files can be large,
    /// and a full disk is a likely cause). A re-run clears what other ranks left.
    public func discardAfterFailure() {
        for (temporary, _) in pendingShards { unlink(temporary) }
        pendingShards = []
        removeWorkFiles()
        rmdir(workDirectory)   // only if empty
    }

    /// Deletes this rank's token store and spill files.
    func removeWorkFiles() {
        let store = TokenStoreFiles.paths(directory: workDirectory, rank: comm.rank)
        let spill = spillPaths(rank: comm.rank)
        for path in [store.blocks, store.documents, spill.records, spill.index] { unlink(path) }
    }

    /// This process's peak resident memory (VmHWM), in MB; 0 where /proc is missing.
    public static func peakResidentMB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return 0 }
        return kb / 1024
    }

    // MARK: Document structure

    /// Next-sentence pairs need documents: a corpus read as one document (a Google-format file taken
    /// for prose, a folder of one file) gives no random next sentences. Refuse fewer than 2 documents;
    /// warn when one document holds most of the text.
    func checkDocumentStructure(_ summary: BuildSummary) throws {
        let fix = "if the input holds several documents, say how they are separated: --format google (one sentence per line, a blank line between documents) or --doc-separator REGEX (prose, a line matching REGEX starts a document)"
        guard summary.documents >= 2 else {
            throw BuildError("the corpus has only \(summary.documents) document (\(summary.tokens) tokens): next-sentence pairs need at least 2 documents, or every random B comes from the same text; \(fix)")
        }
        if 2 * summary.largestDocumentTokens > summary.tokens, comm.isRoot {
            logger.warning("one document holds \(summary.largestDocumentTokens) of the corpus's \(summary.tokens) tokens (\(summary.documents) documents): random next sentences will rarely come from another document; \(fix)")
        }
    }

    /// Warns when the share of random next sentences is far from what Google's algorithm gives (a half,
    /// more with many one-sentence chunks; NVIDIA's rule labels a B drawn from A's own document 0).
    func checkRandomNextShare(randomNext: Int, instances: Int) {
        guard comm.isRoot, instances >= 100 else { return }
        let share = Double(randomNext) / Double(instances)
        if share < Self.randomNextShareRange.lowerBound || share > Self.randomNextShareRange.upperBound {
            logger.warning("\(String(format: "%.1f", 100 * share)) % of the \(instances) instances have a random next sentence; the algorithm gives about 50 %: check how the input is split into documents (--format, --doc-separator)")
        }
    }

    /// Random-next shares seen on real corpora lie in 45–60 %; outside this range something is off.
    static let randomNextShareRange = 0.35...0.75

    // MARK: Output folder

    public static func shardName(_ index: Int, test: Bool) -> String {
        String(format: "part-%05d-%@.hdf5", index, test ? "test" : "training")
    }

    /// Rank 0 cleans the folder of a previous build (work dir, shards, manifest); everyone waits.
    func prepareOutput() throws {
        let fm = FileManager.default
        let out = options.outputDirectory
        var failure: String? = nil
        if comm.isRoot {
            do {
                try fm.createDirectory(atPath: out, withIntermediateDirectories: true)
                try? fm.removeItem(atPath: workDirectory)
                for name in try fm.contentsOfDirectory(atPath: out)
                where (name.hasPrefix("part-") && name.hasSuffix(".hdf5")) || name == "manifest.json"
                    || name.hasPrefix(".part-") || name.hasPrefix(".manifest.json.tmp-") {
                    try fm.removeItem(atPath: (out as NSString).appendingPathComponent(name))
                }
                try fm.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
                let probe = (workDirectory as NSString).appendingPathComponent("probe")
                guard fm.createFile(atPath: probe, contents: Data("ok".utf8)) else { throw BuildError("cannot write in \(workDirectory)") }
                try fm.removeItem(atPath: probe)
            } catch {
                failure = "cannot prepare the output folder \(out): \(error)"
            }
        }
        // Every rank learns of a failure and throws it (so each prints a clear message), no hang.
        let message = try comm.broadcast(failure ?? "")
        if !message.isEmpty { throw BuildError(message) }
        try comm.barrier()
    }

    func shardAttributes() -> [String: ShardAttribute] {
        ShardMetadata(
            vocabSize: vocabulary.size, vocabSHA256: vocabulary.sha256, maxSeqLength: options.maxSeqLength,
            maxPredictionsPerSeq: options.maxPredictionsPerSeq, maskedLMProb: options.maskedLMProb,
            dupeFactor: options.dupeFactor, shortSeqProb: options.shortSeqProb, wholeWordMask: options.wholeWordMask,
            randomSeed: Int64(options.randomSeed), toolVersion: BuildManifest.toolVersion,
            sourceFiles: options.inputFiles.map { ($0 as NSString).lastPathComponent }
        ).attributes
    }

    func shardPath(_ index: Int, test: Bool) -> String {
        (options.outputDirectory as NSString).appendingPathComponent(Self.shardName(index, test: test))
    }

    // MARK: Reference mode

    /// Google's create_training_instances with Python's RNG; instance i goes to shard i mod K.
    func buildReference(_ documents: StoredDocuments) throws -> [Int] {
        logger.info("reference mode: creating instances as google-research/bert's script (random.Random(\(options.randomSeed)))")
        var rng = PythonRandom(seed: options.randomSeed)
        let instances = try createTrainingInstances(
            documents: documents, maxSeqLength: options.maxSeqLength, dupeFactor: options.dupeFactor,
            shortSeqProb: options.shortSeqProb, maskedLMProb: options.maskedLMProb,
            maxPredictionsPerSeq: options.maxPredictionsPerSeq, vocabulary: vocabulary.masking,
            wholeWordMask: options.wholeWordMask, sameDocumentBIsRandom: true, rng: &rng)
        var counts = [Int](repeating: 0, count: options.shards)
        for k in 0..<options.shards {
            let writer = try ShardWriter(path: shardPath(k, test: false), maxSeqLength: options.maxSeqLength,
                                         maxPredictions: options.maxPredictionsPerSeq, attributes: shardAttributes())
            for i in stride(from: k, to: instances.count, by: options.shards) { try writer.append(instances[i]) }
            pendingShards.append((try writer.finish(), writer.path))
            counts[k] = writer.count
        }
        return counts
    }
}
