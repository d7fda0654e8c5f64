// The build's token store (TokenStore.swift): what pass 1 writes, pass 2 reads back the same, through
// both of its read paths (a whole block; windows of sentences in a long document, including
// sentences longer than a window's budget), against the same documents held in arrays.

@testable import CorpusBuild
import Foundation
@testable import PretrainingData
import XCTest

final class TokenStoreTests: XCTestCase {
    /// Documents of every shape the reader distinguishes, dealt over two stores as ranks deal them.
    static func corpus() -> [[[Int32]]] {
        var g = SeededRandom(seed: 77)
        func sentence(_ length: Int) -> [Int32] { (0..<length).map { _ in Int32(5 + g.randbelow(495)) } }
        var documents: [[[Int32]]] = []
        for _ in 0..<40 { documents.append((0..<(1 + g.randbelow(12))).map { _ in sentence(1 + g.randbelow(40)) }) }
        documents.append([])                                                           // empty: skipped
        documents.append((0..<400).map { _ in sentence(5 + g.randbelow(40)) })          // long: windows
        documents.append([sentence(6000)])                                              // one sentence over every budget
        documents.append((0..<30).map { i in sentence(i % 7 == 3 ? 2500 : 1 + g.randbelow(30)) }) // over the window budget
        documents.append([sentence(StoredDocuments.wholeBlockWords - 1)])               // block of exactly the limit
        for _ in 0..<10 { documents.append((0..<(1 + g.randbelow(5))).map { _ in sentence(1 + g.randbelow(20)) }) }
        return documents
    }

    func makeStore(_ documents: [[[Int32]]]) throws -> (StoredDocuments, InMemoryDocuments) {
        let dir = NSTemporaryDirectory() + "token-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let writers = try (0..<2).map { try TokenStoreWriter(directory: dir, rank: $0) }
        for (g, document) in documents.enumerated() { try writers[g % 2].append(document: document) }
        try writers.forEach { try $0.close() }
        let stores = try (0..<2).map { try TokenStore(directory: dir, rank: $0) }
        var locations: [UInt64] = []
        for (g, document) in documents.enumerated() where !document.isEmpty {
            XCTAssertEqual(stores[g % 2].sentenceCount(ofDocument: g / 2), document.count)
            locations.append(StoredDocuments.location(store: g % 2, document: g / 2))
        }
        XCTAssertEqual(stores[0].documentCount + stores[1].documentCount, documents.count)
        return (StoredDocuments(stores: stores, locations: locations), InMemoryDocuments(documents.filter { !$0.isEmpty }))
    }

    func testRandomAccessReadsWhatWasWritten() throws {
        let (stored, memory) = try makeStore(Self.corpus())
        XCTAssertEqual(stored.documentCount, memory.documentCount)
        var g = SeededRandom(seed: 3)
        // Forward runs and jumps over two documents at once, as instance creation reads them.
        for _ in 0..<3000 {
            let d = g.randbelow(memory.documentCount), n = memory.sentenceCount(d)
            XCTAssertEqual(stored.sentenceCount(d), n)
            var s = g.randbelow(n)
            for _ in 0..<(1 + g.randbelow(8)) where s < n {
                var a: [Int32] = [9], b: [Int32] = [9]
                XCTAssertEqual(try stored.sentenceLength(d, s), memory.sentenceLength(d, s), "document \(d) sentence \(s)")
                try stored.appendSentence(d, s, to: &a)
                memory.appendSentence(d, s, to: &b)
                XCTAssertEqual(a, b, "document \(d) sentence \(s)")
                s += g.randbelow(3) == 0 ? -min(s, 2) : 1
            }
        }
    }

    func testInstancesFromTheStoreEqualInstancesFromArrays() throws {
        let (stored, memory) = try makeStore(Self.corpus())
        let vocabulary = InstancesTests.vocabulary
        for pass in 0..<3 {
            for d in 0..<memory.documentCount {
                var r1 = SeededRandom(seed: 11, UInt64(pass), UInt64(d)), r2 = r1
                let a = try createInstancesFromDocument(documents: stored, documentIndex: d, vocabulary: vocabulary,
                                                        sameDocumentBIsRandom: false, rng: &r1)
                let b = try createInstancesFromDocument(documents: memory, documentIndex: d, vocabulary: vocabulary,
                                                        sameDocumentBIsRandom: false, rng: &r2)
                XCTAssertEqual(a, b, "pass \(pass) document \(d)")
            }
        }
    }

    func testCutShortStoreIsRefusedNamingTheFile() throws {
        let dir = NSTemporaryDirectory() + "token-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try TokenStoreWriter(directory: dir, rank: 0)
        try writer.append(document: [[5, 6, 7], [8, 9]])
        try writer.append(document: [[10, 11]])
        try writer.close()
        let paths = TokenStoreFiles.paths(directory: dir, rank: 0)
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: paths.blocks))
        try handle.truncate(atOffset: 12)
        try handle.close()
        XCTAssertThrowsError(try TokenStore(directory: dir, rank: 0)) { error in
            XCTAssertTrue("\(error)".contains("inconsistent") && "\(error)".contains("documents-0.bin"), "\(error)")
        }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: paths.documents))
        XCTAssertThrowsError(try TokenStore(directory: dir, rank: 0)) { error in
            XCTAssertTrue("\(error)".contains("cut short") && "\(error)".contains("documents-0.bin"), "\(error)")
        }
    }
}
