// Deterministic mutation fuzzing of every reader of untrusted input except the HDF5 shards (issue 11,
// item 10b): safetensors (and Checkpoint.load), config.json, vocab.txt, and the corpus formats (Google's
// sentence per line, prose, jsonl, wikiextractor; plain and gzip; the build's byte readers). Each case
// must end in a thrown error or a valid result; a signal kills the test process and a hang is ended by
// the watchdog (Mutator.swift), both naming nothing less than a failed run. FUZZ_CASES sets the cases
// per reader (default 60: a few seconds in all); jobs/tests/fuzz.sh runs many more and prints the counts.

import CZlib
@testable import CorpusBuild
import Foundation
import Logging
import XCTest
@testable import BERT
import Storage
@testable import Tokenization

/// A generated case the harness does not run (counted apart).
struct FuzzSkip: Error {}

final class FuzzTests: XCTestCase {
    var dir = ""
    static let quiet = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "fuzz-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Hands the heap the cases freed back to the system: all test targets share one process on Linux, and
    /// CommandTests measures its child's peak RSS with RUSAGE_CHILDREN, which includes this process's
    /// resident size at the moment of the spawn (posix_spawn shares it until exec).
    override class func tearDown() {
        // glibc's malloc_trim (<malloc.h> is not in Swift's Glibc module).
        typealias Trim = @convention(c) (Int) -> Int32
        if let symbol = dlsym(nil, "malloc_trim") { _ = unsafeBitCast(symbol, to: Trim.self)(0) }
    }

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = dir + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        if FuzzRunner.verbose { try Data(bytes).write(to: URL(fileURLWithPath: "/tmp/fuzz-last-" + name)) }
        return path
    }

    static var tinyConfig: BertConfig {
        var c = BertConfig()
        c.vocabSize = 40; c.hiddenSize = 8; c.numHiddenLayers = 1; c.numAttentionHeads = 2
        c.intermediateSize = 16; c.maxPositionEmbeddings = 16
        return c
    }

    // MARK: safetensors

    /// A hand-built header for the semantic variants: name -> (dtype, shape, offsets) as JSON text.
    static func safetensorsFile(_ entries: [String], data: [UInt8], headerLength: UInt64? = nil) -> [UInt8] {
        let header = Array("{\(entries.joined(separator: ","))}".utf8)
        let length = headerLength ?? UInt64(header.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) } + header + data
    }

    static func safetensorsVariant(_ rng: inout FuzzRandom) -> [UInt8] {
        let data: [UInt8] = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        func entry(_ name: String, _ dtype: String, _ shape: String, _ offsets: String) -> String {
            "\"\(name)\":{\"dtype\":\(dtype),\"shape\":\(shape),\"data_offsets\":\(offsets)}"
        }
        let nan: [UInt8] = [0, 0, 0xC0, 0x7F]   // F32 NaN
        switch rng.below(12) {
        case 0: return safetensorsFile([entry("a", "\"F32\"", "[4611686018427387904,4]", "[0,16]")], data: data)
        case 1: return safetensorsFile([entry("a", "\"F32\"", "[-1]", "[0,4]")], data: data)
        case 2: return safetensorsFile([entry("a", "\"F32\"", "[2]", "[-8,0]")], data: data)
        case 3: return safetensorsFile([entry("a", "\"F32\"", "[4]", "[0,16]"), entry("b", "\"F32\"", "[4]", "[8,24]")], data: data)
        case 4: return safetensorsFile([entry("a", rng.pick(["\"I64\"", "\"XYZ\"", "7", "null", "\"F8_E4M3\"", "\"BOOL\""]), "[4]", "[0,\(rng.pick([4, 8, 32]))]")], data: data)
        case 5: return safetensorsFile([entry("a", "\"F32\"", "[4]", "[0,16]")], data: nan + nan + nan + nan)
        case 6: return safetensorsFile([entry("a", "\"F32\"", "[1]", "[0,4]"), entry("a", "\"F16\"", "[2]", "[4,8]")], data: data)
        case 7:
            let depth = rng.pick([100, 600, 10_000])
            let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            return safetensorsFile(["\"__metadata__\":{\"x\":\(nested)}", entry("a", "\"F32\"", "[1]", "[0,4]")], data: data)
        case 8: return safetensorsFile([entry("a", "\"F32\"", "[1]", "[0,4]")], data: data,
                                       headerLength: rng.pick(Mutator.extremeWords))
        case 9: return safetensorsFile([entry("a", "\"F64\"", "[2,2]", "[1,33]"), entry("b", "\"BF16\"", "[]", "[33,35]")], data: data)
        case 10: return safetensorsFile([entry("a", "\"F32\"", "[1.5]", "[0.5,4]"), entry("b", "\"F16\"", "\"[1]\"", "[0]")], data: data)
        default: return safetensorsFile([entry("a", "\"F16\"", "[9223372036854775807,2]", "[0,18446744073709551615]")], data: data)
        }
    }

    func testSafetensorsFuzz() throws {
        let model = try BertForPreTraining(config: Self.tinyConfig, maxBatch: 1, maxSeqLength: 8, maxPredictions: 1)
        model.initializeWeights(seed: 1)
        let checkpoint = dir + "/seed-checkpoint"
        try Checkpoint.save(parameters: UnsafeBufferPointer(model.parameters), layout: model.layout, to: checkpoint)
        let valid = Array(try Data(contentsOf: URL(fileURLWithPath: checkpoint + "/model.safetensors")))
        let config = try Data(contentsOf: URL(fileURLWithPath: checkpoint + "/config.json"))
        let target = dir + "/target"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try config.write(to: URL(fileURLWithPath: target + "/config.json"))

        _ = FuzzRunner.run(reader: "safetensors", seed: 0x5AFE) { rng, _ in
            let base = rng.chance(0.3) ? Self.safetensorsVariant(&rng) : valid
            let bytes = rng.chance(0.85) ? Mutator.mutate(base, rng: &rng) : base
            let path = try write(bytes, "case.safetensors")
            let file = try Safetensors.read(path: path)
            for tensor in file.tensors where ["F32", "F16", "BF16", "F64"].contains(tensor.dtype) {
                let values = try file.floats(tensor.name)
                XCTAssertEqual(values.count, tensor.count)
                XCTAssertTrue(values.allSatisfy(\.isFinite), "requireFinite let a non-finite value through")
            }
        }
        _ = FuzzRunner.run(reader: "checkpoint-load", seed: 0xC4EC) { rng, _ in
            let bytes = Mutator.mutate(valid, rng: &rng)
            try Data(bytes).write(to: URL(fileURLWithPath: target + "/model.safetensors"))
            _ = try Checkpoint.load(from: target, into: model.parameters, layout: model.layout, seed: 1, logger: nil)
            XCTAssertTrue(model.parameters.allSatisfy(\.isFinite))
        }
    }

    // MARK: config.json

    static func configVariant(_ valid: String, _ rng: inout FuzzRandom) -> [UInt8] {
        let fields = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                      "max_position_embeddings", "type_vocab_size", "hidden_dropout_prob", "layer_norm_eps", "hidden_act"]
        let field = rng.pick(fields)
        switch rng.below(4) {
        case 0:   // one field at an extreme
            return Array("{\"\(field)\": \(rng.pick(Mutator.extremes)), \"num_attention_heads\": 1}".utf8)
        case 1:   // duplicate keys
            return Array(valid.replacingOccurrences(of: "{", with: "{\"\(field)\": \(rng.pick(Mutator.extremes)),\n").utf8)
        case 2:   // deep nesting in a field
            let depth = rng.pick([100, 513, 20_000])
            return Array("{\"x\": \(String(repeating: "[", count: depth))\(String(repeating: "]", count: depth)), \"hidden_size\": 8, \"num_attention_heads\": 2}".utf8)
        default:  // a top-level value that is no object
            return Array(rng.pick(["[]", "null", "1", "\"x\"", "", "{", "{\"hidden_size\": 8", "\u{FEFF}{}"]).utf8)
        }
    }

    func testConfigFuzz() throws {
        let valid = String(decoding: Self.tinyConfig.jsonData(), as: UTF8.self)
        _ = FuzzRunner.run(reader: "config.json", seed: 0xC0F1) { rng, _ in
            let base = rng.chance(0.35) ? Self.configVariant(valid, &rng) : Array(valid.utf8)
            let bytes = rng.chance(0.7) ? Mutator.mutate(base, rng: &rng) : base
            let path = try write(bytes, "config.json")
            let config = try BertConfig.load(path: path)
            // A config that loads is one the model accepts or refuses with an error, never a trap.
            let memory = MemoryRequirement(config: config, maxBatch: 2, maxSeqLength: min(8, config.maxPositionEmbeddings),
                                           maxPredictions: 2, optimizerMoments: 2)
            if let total = memory.total, total < 64 << 20 {
                let model = try BertForPreTraining(config: config, maxBatch: 2, maxSeqLength: min(8, config.maxPositionEmbeddings),
                                                   maxPredictions: 2)
                XCTAssertEqual(model.layout.count, config.parameterCount)
            } else {
                XCTAssertThrowsError(try memory.check(physical: 64 << 20))
            }
        }
    }

    // MARK: vocab.txt

    static let vocabSeed: [String] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "un", "##able", "##s", "do",
                                      "##ing", "é", "##é", "中", ".", ",", "!", "word", "##piece", "tok", "##en", "##ize", "##r"]

    func testVocabularyFuzz() throws {
        let valid = Array(Self.vocabSeed.map { $0 + "\n" }.joined().utf8)
        let sample = "The unable doing tokenizer wordpiece é中! Ünïcödé ##s [MASK] " + String(repeating: "a", count: 120)
        _ = FuzzRunner.run(reader: "vocab.txt", seed: 0x70CA) { rng, _ in
            var base = valid
            if rng.chance(0.3) {
                switch rng.below(5) {
                case 0: base += Array(String(repeating: "x", count: rng.pick([100, 101, 1000, 1001, 5000])).utf8) + [0x0A]
                case 1: base = Array(Self.vocabSeed.map { $0 + "\r\n" }.joined().utf8)
                case 2: base += Array("the\n".utf8)
                case 3: base.insert(contentsOf: [0x0A, 0x0A], at: 10)
                default: base += [0x00, 0x0A, 0x23, 0x23, 0x0A]
                }
            }
            let bytes = rng.chance(0.8) ? Mutator.mutate(base, rng: &rng) : base
            let path = try write(bytes, "vocab.txt")
            let vocabulary = try Vocabulary(path: path)
            let tokenizer = BertTokenizer(vocabulary: vocabulary, lowerCase: rng.chance(0.5))
            let text = rng.chance(0.5) ? sample : String(decoding: Mutator.mutate(Array(sample.utf8), rng: &rng), as: UTF8.self)
            let ids = tokenizer.encode(text)
            XCTAssertTrue(ids.allSatisfy { $0 >= 0 && Int($0) < vocabulary.count })
        }
    }

    // MARK: Corpus formats

    static let corpusSeeds: [InputFormat: String] = [
        .google: "The first sentence.\nA second one here.\n\nAnother document starts.\nIt ends.\n\n\nThird doc.\n",
        .text: "A paragraph of prose. It has two sentences.\n\nAnother paragraph! Does it split? Yes.\n   \nLast line without newline",
        .jsonl: "{\"text\": \"One document. Two sentences.\\nA paragraph.\"}\n{\"text\": null}\n\n{\"text\": \"\\u00e9t\\u00e9 \\ud83d\\ude00.\", \"id\": 3}\n{\"text\": \"  \"}\n",
        .wikiextractor: "<doc id=\"1\" url=\"u\" title=\"T\">\nT\nFirst paragraph. Two.\n\nSecond.\n</doc>\n<doc id=\"2\">\nOnly title\n</doc>\n<doc>\nX\ntext\n",
    ]

    static func gzip(_ bytes: [UInt8], level: Int32) -> [UInt8] {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { deflateEnd(stream); stream.deallocate() }
        precondition(czlib_deflate_init_gzip(stream, level) == Z_OK)
        var output = [UInt8](repeating: 0, count: Int(deflateBound(stream, UInt(bytes.count))) + 64)
        var input = bytes
        let produced = input.withUnsafeMutableBufferPointer { inp in
            output.withUnsafeMutableBufferPointer { out in
                stream.pointee.next_in = inp.baseAddress
                stream.pointee.avail_in = UInt32(inp.count)
                stream.pointee.next_out = out.baseAddress
                stream.pointee.avail_out = UInt32(out.count)
                precondition(deflate(stream, Z_FINISH) == Z_STREAM_END)
                return out.count - Int(stream.pointee.avail_out)
            }
        }
        return Array(output[0..<produced])
    }

    /// Bytes the gzip members in `bytes` inflate to, counted up to just over `limit` (errors end the count).
    static func inflatedSize(_ bytes: [UInt8], limit: Int) -> Int {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { inflateEnd(stream); stream.deallocate() }
        guard czlib_inflate_init_gzip(stream) == Z_OK else { return 0 }
        var input = bytes, scratch = [UInt8](repeating: 0, count: 1 << 16), total = 0
        return input.withUnsafeMutableBufferPointer { inp in
            scratch.withUnsafeMutableBufferPointer { out in
                stream.pointee.next_in = inp.baseAddress
                stream.pointee.avail_in = UInt32(inp.count)
                while total <= limit {
                    stream.pointee.next_out = out.baseAddress
                    stream.pointee.avail_out = UInt32(out.count)
                    let status = inflate(stream, Z_NO_FLUSH)
                    total += out.count - Int(stream.pointee.avail_out)
                    if status == Z_STREAM_END {
                        if stream.pointee.avail_in == 0 || inflateReset(stream) != Z_OK { break }
                    } else if status != Z_OK { break }
                }
                return total
            }
        }
    }

    /// The input file of one case: mutated text, plain or gzip (valid gzip of mutated text, or mutated
    /// gzip bytes, or two members).
    func corpusCase(_ seed: String, _ rng: inout FuzzRandom) throws -> (path: String, compressed: Bool) {
        var text = Mutator.mutate(Array(seed.utf8), rng: &rng)
        if rng.chance(0.05) { text += Array(String(repeating: "w ", count: 70_000).utf8) }   // a long line, over the read buffer
        switch rng.below(10) {
        case 0, 1:
            return (try write(Self.gzip(text, level: Int32(rng.below(10))), "case.txt.gz"), true)
        case 2:
            // Mutated deflate data can be a bomb (a flipped bit turns a stored block into Huffman codes:
            // one case gave 128 MB of newlines, linear work but minutes in a debug build): those are skipped.
            let mutated = Mutator.mutate(Self.gzip(text, level: Int32(rng.below(10))), rng: &rng)
            guard Self.inflatedSize(mutated, limit: 4 << 20) <= 4 << 20 else { throw FuzzSkip() }
            return (try write(mutated, "case.txt.gz"), true)
        case 3:
            let half = rng.below(text.count + 1)
            let members = Self.gzip(Array(text[..<half]), level: 1) + Self.gzip(Array(text[half...]), level: 9)
            return (try write(rng.chance(0.5) ? members : Array(members.dropLast(rng.below(12) + 1)), "case.txt.gz"), true)
        default:
            return (try write(text, "case.txt"), false)
        }
    }

    func testCorpusFormatsFuzz() throws {
        for format in InputFormat.allCases {
            let seed = Self.corpusSeeds[format]!
            _ = FuzzRunner.run(reader: "corpus-\(format)", seed: 0xD0C5 &+ UInt64(InputFormat.allCases.firstIndex(of: format)!)) { rng, _ in
                let (path, _) = try corpusCase(seed, &rng)
                let options = DocumentReaderOptions(format: rng.chance(0.25) ? nil : format,
                                                    documentSeparator: format == .text && rng.chance(0.3) ? "^=+$" : nil)
                let reader = try DocumentReader(paths: [path], options: options, logger: Self.quiet)
                var documents = 0
                while let document = try reader.next() {
                    XCTAssertFalse(document.isEmpty)
                    documents += 1
                }
                // Pass 1 of the build: the same boundaries without decoding.
                let raw = try DocumentReader(paths: [path], options: options, logger: Self.quiet)
                var rawCount = 0
                while try raw.nextRaw(wanted: false) != nil { rawCount += 1 }
                XCTAssertGreaterThanOrEqual(rawCount, documents)
            }
        }
    }

    /// Found by this fuzzer: format detection stripped closing brackets with dropLast(), O(n) per call on a
    /// String's scalars, so a line ending in 100,000 "}" took minutes. The watchdog ends the test if it comes back.
    func testFormatDetectionOfALineOfClosingBracketsIsLinear() throws {
        let text = "A first sentence.\nThe end." + String(repeating: "}", count: 300_000) + "\n"
        let path = try write(Array(text.utf8), "brackets.txt")
        let tally = FuzzRunner.run(reader: "regression-brackets", seed: 0, cases: 1) { _, _ in
            XCTAssertEqual(try InputFormatDetector.detect(path: path).format, .google)
        }
        XCTAssertEqual(tally.valid, 1)
    }

    /// The build's byte readers of Google's format: the stream, and the per-rank byte ranges, whose
    /// documents in rank order must be the stream's (for any input, damaged or not).
    func testSentencePerLineReadersFuzz() throws {
        let seed = Self.corpusSeeds[.google]!
        _ = FuzzRunner.run(reader: "corpus-google-build", seed: 0xB11D) { rng, _ in
            let (path, compressed) = try corpusCase(seed, &rng)
            var stream = SentencePerLineDocuments(files: [path], fileEndsDocument: true, logger: Self.quiet)
            var expected: [[[UInt8]]] = []
            while true {
                var document: [[UInt8]] = []
                guard try stream.nextDocument(wanted: true, { document.append(Array($0)) }) else { break }
                if !document.isEmpty { expected.append(document) }
            }
            guard !compressed, SentencePerLineRangeDocuments.applies(to: [path]) else { return }
            let ranks = rng.below(4) + 1
            var found: [[[UInt8]]] = []
            for rank in 0..<ranks {
                var range = try SentencePerLineRangeDocuments(files: [path], rank: rank, ranks: ranks, logger: Self.quiet)
                while true {
                    var document: [[UInt8]] = []
                    guard try range.nextDocument(wanted: true, { document.append(Array($0)) }) else { break }
                    if !document.isEmpty { found.append(document) }
                }
            }
            XCTAssertEqual(found, expected, "\(ranks) byte ranges vs the stream")
        }
    }
}
