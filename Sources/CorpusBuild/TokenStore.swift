// The build's on-disk token store: pass 1 writes every tokenized document here, pass 2 reads any
// document of the corpus by index, so a random B can come from anywhere while the process holds
// only two small windows of it.
//
// One store per rank, two flat little-endian files in the work directory:
//   documents-R.bin   uint64 [documents, 2]   per document: end of its block in words (cumulative),
//                                             end of its sentences (cumulative count)
//   blocks-R.bin      int32 words             per document one block: its token ids, back to back,
//                                             then the end of each sentence within them (uint32)
// A document may have no sentences (an empty block; the corpus view skips it).
//
// Reading: the document index is held in memory (16 bytes per document); a document's block is
// read with pread, whole (one call) when it is at most 16 KiB, which is most documents, or else
// as a window of sentences (two calls: sentence ends, then tokens). pread copies, so reads are
// sized to what instance creation uses next. An earlier version memory-mapped the files: every
// fault mapped up to 16 neighbouring pages (the kernel's fault-around, which MADV_RANDOM does
// not turn off), so resident memory grew with the corpus unless the pages were dropped every few
// documents, and faults plus madvise cost a quarter of the build's CPU time.

import Foundation
import PretrainingData
import Storage
#if canImport(Glibc)
import Glibc
#endif

public enum TokenStoreFiles {
    static func paths(directory: String, rank: Int) -> (blocks: String, documents: String) {
        let d = directory as NSString
        return (d.appendingPathComponent("blocks-\(rank).bin"), d.appendingPathComponent("documents-\(rank).bin"))
    }
}

/// Pass 1's writer: documents appended in order, sentences of token ids. Memory: the current
/// document's sentence ends (4 bytes per sentence).
public final class TokenStoreWriter {
    private let blocks: BufferedOutput, documents: BufferedOutput
    private var ends: [UInt32] = []          // sentence ends of the current document
    private var words: UInt64 = 0, sentences: UInt64 = 0
    public private(set) var documentCount = 0

    public init(directory: String, rank: Int) throws {
        let p = TokenStoreFiles.paths(directory: directory, rank: rank)
        blocks = try BufferedOutput(creating: p.blocks)
        documents = try BufferedOutput(creating: p.documents)
    }

    /// Appends one sentence to the current document (empty sentences are the caller's to drop,
    /// as Google's script drops lines with no tokens).
    public func appendSentence(_ ids: [Int32]) throws {
        let end = UInt64(ends.last ?? 0) + UInt64(ids.count)
        guard end <= UInt64(UInt32.max) else { throw BuildError("a document of more than 2^32 tokens cannot be stored") }
        try blocks.append(ids)
        ends.append(UInt32(end))
    }

    /// Ends the current document (which may have no sentences): its sentence ends close the block.
    public func endDocument() throws {
        for end in ends { try blocks.append(littleEndian: end) }
        words += UInt64(ends.last ?? 0) + UInt64(ends.count)
        sentences += UInt64(ends.count)
        try documents.append(littleEndian: words)
        try documents.append(littleEndian: sentences)
        ends.removeAll(keepingCapacity: ends.capacity <= 1 << 16)
        documentCount += 1
    }

    /// Appends one document; empty sentences are dropped.
    public func append(document: [[Int32]]) throws {
        for sentence in document where !sentence.isEmpty { try appendSentence(sentence) }
        try endDocument()
    }

    public func close() throws {
        try blocks.close()
        try documents.close()
    }
}

/// One rank's store: the document index in memory, blocks read on demand.
public final class TokenStore {
    let blocksPath: String
    private let blocksFD: Int32
    /// Per document: end of its block in words, end of its sentences (both cumulative).
    private let blockEnds: [UInt64], sentenceEnds: [UInt64]

    public init(directory: String, rank: Int) throws {
        let p = TokenStoreFiles.paths(directory: directory, rank: rank)
        blocksPath = p.blocks
        func openSized(_ path: String, _ unit: Int) throws -> (Int32, Int) {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StorageError.posix(path, "cannot open") }
            var info = stat()
            guard fstat(fd, &info) == 0 else { Glibc.close(fd); throw StorageError.posix(path, "cannot stat") }
            guard Int(info.st_size) % unit == 0 else {
                Glibc.close(fd)
                throw StorageError(path: path, reason: "token store file of \(info.st_size) bytes is cut short (not a multiple of \(unit))")
            }
            return (fd, Int(info.st_size) / unit)
        }
        let (fd, words) = try openSized(p.blocks, 4)
        blocksFD = fd
        do {
            let (documentsFD, documents) = try openSized(p.documents, 16)
            defer { Glibc.close(documentsFD) }
            var index = [UInt64](repeating: 0, count: 2 * documents)
            try index.withUnsafeMutableBytes { try Self.readExactly(documentsFD, $0, at: 0, path: p.documents) }
            blockEnds = stride(from: 0, to: index.count, by: 2).map { index[$0] }
            sentenceEnds = stride(from: 1, to: index.count, by: 2).map { index[$0] }
            // The files must agree, or the store was cut short (a crash, a full disk).
            let last = blockEnds.last.map(Int.init) ?? 0
            guard last == words else {
                throw StorageError(path: p.documents, reason: "token store is inconsistent: documents end at word \(last) of \(words) in \(p.blocks)")
            }
        } catch {
            Glibc.close(blocksFD)
            throw error
        }
    }

    deinit { Glibc.close(blocksFD) }

    public var documentCount: Int { blockEnds.count }

    /// Number of sentences of document `d`.
    func sentenceCount(ofDocument d: Int) -> Int {
        Int(sentenceEnds[d] - (d == 0 ? 0 : sentenceEnds[d - 1]))
    }

    /// Words of document `d`'s block in the blocks file.
    func block(ofDocument d: Int) -> Range<Int> {
        (d == 0 ? 0 : Int(blockEnds[d - 1]))..<Int(blockEnds[d])
    }

    /// Words `range` of the blocks file into `words`.
    func read(_ range: Range<Int>, into words: UnsafeMutableRawPointer) throws {
        precondition(range.lowerBound >= 0)
        try Self.readExactly(blocksFD, UnsafeMutableRawBufferPointer(start: words, count: range.count * 4), at: range.lowerBound * 4, path: blocksPath)
    }

    static func readExactly(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String) throws {
        var done = 0
        while done < buffer.count {
            let got = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else {
                throw got == 0 ? StorageError(path: path, reason: "ends at byte \(offset + done), expected \(buffer.count - done) more bytes")
                               : StorageError.posix(path, "read failed at byte \(offset + done)")
            }
            done += got
        }
    }
}

/// The corpus (or one split of it) as `TokenizedDocuments`: document i is `locations[i]`, a
/// (store, document in that store) pair packed as store << 40 | local index. Only non-empty
/// documents are listed.
///
/// Sentences are served from two windows, least recently used replaced first: instance creation
/// alternates between its document, read forwards, and the random documents its B segments come
/// from, so each keeps a window. A window is a whole document when its block is at most
/// `wholeBlockWords`; in a longer document, up to 64 sentences and 2048 tokens when reading on
/// where the last window ended, else (a jump: a random B start) up to 16 and 256, about what one
/// B segment needs. A longer sentence is read whole. Not thread-safe.
public final class StoredDocuments: TokenizedDocuments {
    public let stores: [TokenStore]
    public let locations: [UInt64]
    static let wholeBlockWords = 4096
    static let windowSentences = 64, windowTokens = 2048
    static let jumpSentences = 16, jumpTokens = 256

    private final class Window {
        var document = -1
        var first = 0, count = 0       // document-local sentences first..<first+count
        var start = 0                  // document token offset of tokens[0]
        var ends: UnsafeMutablePointer<UInt32>   // [count]: end of each sentence (document token offsets)
        var tokens: UnsafeMutablePointer<Int32>
        var block: UnsafeMutableRawPointer       // the whole block, or the window's ends / tokens
        var capacity = 0               // words of `block`
        var used = 0                   // last-use stamp

        init() {
            capacity = StoredDocuments.wholeBlockWords + StoredDocuments.windowSentences + 1
            block = .allocate(byteCount: capacity * 4, alignment: 8)
            ends = block.assumingMemoryBound(to: UInt32.self)
            tokens = block.assumingMemoryBound(to: Int32.self)
        }
        deinit { block.deallocate() }

        /// Grows `block` to `words` (its contents are lost); true if it did.
        func reserve(_ words: Int) -> Bool {
            guard words > capacity else { return false }
            block.deallocate()
            capacity = words
            block = .allocate(byteCount: words * 4, alignment: 8)
            return true
        }
        func holds(_ d: Int, _ s: Int) -> Bool { d == document && s >= first && s < first + count }
    }
    private let windows = [Window(), Window()]
    private var clock = 0

    public init(stores: [TokenStore], locations: [UInt64]) {
        self.stores = stores
        self.locations = locations
    }

    public static func location(store: Int, document: Int) -> UInt64 { UInt64(store) << 40 | UInt64(document) }

    private func resolve(_ i: Int) -> (TokenStore, Int) {
        let l = locations[i]
        return (stores[Int(l >> 40)], Int(l & 0xFF_FFFF_FFFF))
    }

    public var documentCount: Int { locations.count }

    public func sentenceCount(_ document: Int) -> Int {
        let (store, local) = resolve(document)
        return store.sentenceCount(ofDocument: local)
    }

    /// The window holding sentence `s` of `d` (loaded on a miss).
    private func window(_ d: Int, _ s: Int) throws -> Window {
        clock += 1
        for w in windows where w.holds(d, s) {
            w.used = clock
            return w
        }
        // Reading on: the window that ended just before s; else the least recently used.
        let continuing = windows.first { $0.document == d && $0.first + $0.count == s }
        let w = continuing ?? (windows[0].used <= windows[1].used ? windows[0] : windows[1])
        w.document = -1   // invalid until fully read
        let (store, local) = resolve(d)
        let n = store.sentenceCount(ofDocument: local), block = store.block(ofDocument: local)
        precondition(s >= 0 && s < n, "sentence \(s) of document \(d) with \(n) sentences")
        let tokenCount = block.count - n
        if block.count <= Self.wholeBlockWords {
            // The whole block: tokens, then the n sentence ends.
            try store.read(block, into: w.block)
            w.tokens = w.block.assumingMemoryBound(to: Int32.self)
            w.ends = (w.block + tokenCount * 4).assumingMemoryBound(to: UInt32.self)
            w.first = 0
            w.count = n
            w.start = 0
        } else {
            // A window: the ends of sentences s-1 ..< s+k, then as many of their tokens as fit the budget.
            let budget = continuing == nil ? (Self.jumpSentences, Self.jumpTokens) : (Self.windowSentences, Self.windowTokens)
            let k = min(budget.0, n - s), lead = s == 0 ? 0 : 1
            let endsAt = block.lowerBound + tokenCount + s - lead
            try store.read(endsAt..<(endsAt + k + lead), into: w.block)
            let ends = w.block.assumingMemoryBound(to: UInt32.self)
            let start = lead == 1 ? Int(ends[0]) : 0
            var m = 1
            while m < k && Int(ends[lead + m]) - start <= budget.1 { m += 1 }
            let tokens = Int(ends[lead + m - 1]) - start
            // Layout in the buffer: the m ends (moved to the front), then the tokens.
            let moved: UnsafeMutablePointer<UInt32>
            if w.reserve(m + tokens) {
                // The buffer grew (a sentence over every budget): read the m ends again.
                try store.read((endsAt + lead)..<(endsAt + lead + m), into: w.block)
                moved = w.block.assumingMemoryBound(to: UInt32.self)
            } else {
                moved = ends
                for i in 0..<m { moved[i] = ends[lead + i] }
            }
            w.ends = moved
            w.tokens = (w.block + m * 4).assumingMemoryBound(to: Int32.self)
            try store.read((block.lowerBound + start)..<(block.lowerBound + start + tokens), into: w.block + m * 4)
            w.first = s
            w.count = m
            w.start = start
        }
        w.document = d
        w.used = clock
        return w
    }

    /// Tokens of sentence `s` as offsets into the window's `tokens`.
    private func span(_ w: Window, _ s: Int) -> Range<Int> {
        let k = s - w.first
        let lower = s == 0 ? 0 : (k == 0 ? w.start : Int(w.ends[k - 1]))
        return (lower - w.start)..<(Int(w.ends[k]) - w.start)
    }

    public func sentenceLength(_ document: Int, _ sentence: Int) throws -> Int {
        span(try window(document, sentence), sentence).count
    }

    public func appendSentence(_ document: Int, _ sentence: Int, to tokens: inout [Int32]) throws {
        let w = try window(document, sentence)
        let r = span(w, sentence)
        tokens.append(contentsOf: UnsafeBufferPointer(start: w.tokens + r.lowerBound, count: r.count))
    }
}
