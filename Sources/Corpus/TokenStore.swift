// The build's on-disk token store: pass 1 writes every tokenized document here, pass 2 reads any
// document of the corpus by index through memory maps, so a random B can come from anywhere while
// the process holds only what the kernel pages in.
//
// One store per rank, three flat little-endian files in the work directory:
//   tokens-R.bin      int32   [tokens]          token ids of every sentence, back to back
//   sentences-R.bin   uint64  [sentences]       end offset of each sentence in tokens (cumulative)
//   documents-R.bin   uint64  [documents]       end offset of each document in sentences (cumulative)
// A document may have no sentences (it is then skipped by the corpus view).

import Foundation
import Storage
#if canImport(Glibc)
import Glibc
#endif

/// Appends bytes to a file through a 1 MiB buffer; every write error (a full disk) is thrown.
final class BufferedFileWriter {
    let path: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    private let capacity = 1 << 20
    private(set) var bytesWritten = 0

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError.posix(path, "cannot create") }
        buffer.reserveCapacity(capacity)
    }

    func append<T: FixedWidthInteger>(_ value: T) throws {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
        bytesWritten += MemoryLayout<T>.size
        if buffer.count >= capacity { try flush() }
    }

    func append(_ values: [Int32]) throws {
        values.withUnsafeBytes { buffer.append(contentsOf: $0) }  // little-endian hosts only (checked in Build)
        bytesWritten += values.count * 4
        if buffer.count >= capacity { try flush() }
    }

    func flush() throws {
        try buffer.withUnsafeBytes { try AtomicFile.writeAll(fd: fd, $0, path: path) }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        try flush()
        guard Glibc.close(fd) == 0 else { throw StorageError.posix(path, "close failed") }
    }
}

/// A read-only memory map of a whole file (empty files map to an empty buffer).
final class MappedFile {
    let path: String
    let bytes: UnsafeRawBufferPointer

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.posix(path, "cannot open") }
        defer { Glibc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw StorageError.posix(path, "cannot stat") }
        let size = Int(info.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            throw StorageError.posix(path, "cannot map \(size) bytes")
        }
        // Random access: no read-ahead, no mapping of neighbouring pages on a fault (which would
        // count up to 64 KiB per touched token as resident memory).
        madvise(base, size, MADV_RANDOM)
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    /// Drops this process's resident copy of the pages (they stay in the page cache), so random
    /// access over a large file does not grow the process's resident memory with the corpus.
    func releasePages() {
        if let base = bytes.baseAddress { madvise(UnsafeMutableRawPointer(mutating: base), bytes.count, MADV_DONTNEED) }
    }

    func view<T>(as: T.Type) -> UnsafeBufferPointer<T> {
        guard let base = bytes.baseAddress else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: base.assumingMemoryBound(to: T.self), count: bytes.count / MemoryLayout<T>.stride)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

public enum TokenStoreFiles {
    static func paths(directory: String, rank: Int) -> (tokens: String, sentences: String, documents: String) {
        let d = directory as NSString
        return (d.appendingPathComponent("tokens-\(rank).bin"), d.appendingPathComponent("sentences-\(rank).bin"),
                d.appendingPathComponent("documents-\(rank).bin"))
    }
}

/// Pass 1's writer: documents appended in order, sentences of token ids.
public final class TokenStoreWriter {
    private let tokens: BufferedFileWriter, sentences: BufferedFileWriter, documents: BufferedFileWriter
    private var tokenCount: UInt64 = 0, sentenceCount: UInt64 = 0
    public private(set) var documentCount = 0

    public init(directory: String, rank: Int) throws {
        let p = TokenStoreFiles.paths(directory: directory, rank: rank)
        tokens = try BufferedFileWriter(path: p.tokens)
        sentences = try BufferedFileWriter(path: p.sentences)
        documents = try BufferedFileWriter(path: p.documents)
    }

    /// Appends one sentence to the current document (empty sentences are the caller's to drop,
    /// as Google's script drops lines with no tokens).
    public func appendSentence(_ ids: [Int32]) throws {
        try tokens.append(ids)
        tokenCount += UInt64(ids.count)
        try sentences.append(tokenCount)
        sentenceCount += 1
    }

    /// Ends the current document (which may have no sentences).
    public func endDocument() throws {
        try documents.append(sentenceCount)
        documentCount += 1
    }

    /// Appends one document; empty sentences are dropped.
    public func append(document: [[Int32]]) throws {
        for sentence in document where !sentence.isEmpty { try appendSentence(sentence) }
        try endDocument()
    }

    public func close() throws {
        try tokens.close()
        try sentences.close()
        try documents.close()
    }
}

/// One rank's store, memory-mapped.
public final class TokenStore {
    private let tokenFile: MappedFile, sentenceFile: MappedFile, documentFile: MappedFile
    let tokens: UnsafeBufferPointer<Int32>        // [tokens]
    let sentenceEnds: UnsafeBufferPointer<UInt64> // [sentences]
    let documentEnds: UnsafeBufferPointer<UInt64> // [documents]

    public init(directory: String, rank: Int) throws {
        let p = TokenStoreFiles.paths(directory: directory, rank: rank)
        tokenFile = try MappedFile(path: p.tokens)
        sentenceFile = try MappedFile(path: p.sentences)
        documentFile = try MappedFile(path: p.documents)
        tokens = tokenFile.view(as: Int32.self)
        sentenceEnds = sentenceFile.view(as: UInt64.self)
        documentEnds = documentFile.view(as: UInt64.self)
        // The three files must agree, or the store was cut short (a crash, a full disk).
        let lastSentence = documentEnds.last.map(Int.init) ?? 0, lastToken = sentenceEnds.last.map(Int.init) ?? 0
        guard lastSentence == sentenceEnds.count, lastToken == tokens.count else {
            throw StorageError(path: p.documents, reason: "token store is inconsistent: documents end at sentence \(lastSentence) of \(sentenceEnds.count), sentences end at token \(lastToken) of \(tokens.count)")
        }
    }

    public var documentCount: Int { documentEnds.count }

    /// Bytes mapped (tokens, sentence and document offsets).
    public var mappedBytes: Int { tokenFile.bytes.count + sentenceFile.bytes.count + documentFile.bytes.count }

    /// See `MappedFile.releasePages`.
    public func releasePages() {
        tokenFile.releasePages()
        sentenceFile.releasePages()
        documentFile.releasePages()
    }

    func sentenceRange(ofDocument d: Int) -> Range<Int> {
        (d == 0 ? 0 : Int(documentEnds[d - 1]))..<Int(documentEnds[d])
    }

    func tokenRange(ofSentence s: Int) -> Range<Int> {
        (s == 0 ? 0 : Int(sentenceEnds[s - 1]))..<Int(sentenceEnds[s])
    }
}

/// The corpus (or one split of it) as a `TokenizedDocuments`: document i is `locations[i]`, a
/// (store, document in that store) pair packed as store << 40 | local index. Only non-empty documents are listed.
public struct StoredDocuments: TokenizedDocuments {
    public let stores: [TokenStore]
    public let locations: [UInt64]

    public init(stores: [TokenStore], locations: [UInt64]) {
        self.stores = stores
        self.locations = locations
    }

    public static func location(store: Int, document: Int) -> UInt64 { UInt64(store) << 40 | UInt64(document) }

    private func resolve(_ i: Int) -> (TokenStore, Range<Int>) {
        let l = locations[i]
        let store = stores[Int(l >> 40)]
        return (store, store.sentenceRange(ofDocument: Int(l & 0xFF_FFFF_FFFF)))
    }

    public var documentCount: Int { locations.count }

    public func sentenceCount(_ document: Int) -> Int { resolve(document).1.count }

    public func sentenceLength(_ document: Int, _ sentence: Int) -> Int {
        let (store, sentences) = resolve(document)
        return store.tokenRange(ofSentence: sentences.lowerBound + sentence).count
    }

    public func appendSentence(_ document: Int, _ sentence: Int, to tokens: inout [Int32]) {
        let (store, sentences) = resolve(document)
        let range = store.tokenRange(ofSentence: sentences.lowerBound + sentence)
        tokens.append(contentsOf: UnsafeBufferPointer(rebasing: store.tokens[range]))
    }
}
