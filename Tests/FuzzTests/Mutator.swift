// A small seeded mutation engine for fuzzing the readers of untrusted input (issue 11, item 10b).
// Every case is a pure function of (seed, case number): a failure names both, and rerunning the same
// test with FUZZ_VERBOSE=1 prints each case before it runs.
//
// Byte mutations: bit flips, random and boundary bytes, zeroed blocks, blocks copied over or inserted,
// deleted blocks, truncation, appended noise, little-endian length fields set to extremes, invalid
// UTF-8 spliced in, decimal numbers replaced by extremes, deep bracket nesting. Each case applies
// one to four of them to a valid seed input (or to a reader-specific semantic variant of it).

import Foundation
@testable import BERT
import Randomness

/// The project's SplitMix64 (Randomness) with the helpers the mutations draw through:
/// tiny, seedable, the same on every machine.
struct FuzzRandom: RandomNumberGenerator {
    private var mixer: SplitMix64
    init(seed: UInt64) { mixer = SplitMix64(seed: seed) }
    mutating func next() -> UInt64 { mixer.next() }
    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) * 0x1p-53 < p }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

enum Mutator {
    /// Integers at the edges of every width a reader might store a length or an offset in.
    static let extremes: [String] = [
        "0", "-1", "1", "-9223372036854775808", "9223372036854775807", "9223372036854775808", "18446744073709551615",
        "18446744073709551616", "2147483647", "2147483648", "4294967295", "4294967296", "4611686018427387904",
        "1e308", "-1e308", "1e400", "0.5", "-0", "1E2", "NaN", "Infinity", "null", "\"\"", "[]", "{}", "true",
    ]
    static let extremeWords: [UInt64] = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000,
                                         0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF]
    static let invalidUTF8: [[UInt8]] = [[0xFF], [0x80], [0xC0, 0x80], [0xE2, 0x82], [0xED, 0xA0, 0x80],
                                         [0xF4, 0x90, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xC3], [0xFE, 0xFF]]

    /// One to four mutations of `input`.
    static func mutate(_ input: [UInt8], rng: inout FuzzRandom) -> [UInt8] {
        var bytes = input
        for _ in 0...rng.below(4) { mutateOnce(&bytes, rng: &rng) }
        return bytes
    }

    static func mutateOnce(_ b: inout [UInt8], rng: inout FuzzRandom) {
        func position() -> Int { rng.below(b.count + 1) }
        func block() -> Range<Int> {
            let start = rng.below(b.count + 1)
            let length = rng.chance(0.8) ? rng.below(16) + 1 : rng.below(max(1, b.count / 2)) + 1
            return start..<min(b.count, start + length)
        }
        switch rng.below(13) {
        case 0:   // flip 1-8 bits
            guard !b.isEmpty else { return }
            for _ in 0...rng.below(8) { b[rng.below(b.count)] ^= 1 << UInt8(rng.below(8)) }
        case 1:   // random or boundary bytes
            guard !b.isEmpty else { return }
            for _ in 0...rng.below(4) { b[rng.below(b.count)] = rng.chance(0.5) ? UInt8(truncatingIfNeeded: rng.next()) : rng.pick([0, 0x7F, 0x80, 0xFF, 0x0A, 0x22, 0x5C]) }
        case 2:   // zero a block
            let r = block(); for i in r { b[i] = 0 }
        case 3:   // copy a block over another place
            let r = block(); let chunk = Array(b[r]); let at = position()
            for (k, v) in chunk.enumerated() where at + k < b.count { b[at + k] = v }
        case 4:   // duplicate a block (insert a copy)
            let r = block(); b.insert(contentsOf: Array(b[r]), at: position())
        case 5:   // delete a block
            b.removeSubrange(block())
        case 6:   // truncate
            b.removeSubrange(rng.below(b.count + 1)..<b.count)
        case 7:   // append noise
            b += (0..<(rng.below(32) + 1)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        case 8:   // a little-endian length field (4 or 8 bytes) at an extreme
            let width = rng.chance(0.5) ? 8 : 4
            guard b.count >= width else { return }
            let at = rng.chance(0.3) ? 0 : rng.below(b.count - width + 1)
            let value = rng.pick(extremeWords) &+ (rng.chance(0.2) ? UInt64(rng.below(3)) &- 1 : 0)
            for k in 0..<width { b[at + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
        case 9:   // invalid UTF-8
            b.insert(contentsOf: rng.pick(invalidUTF8), at: position())
        case 10:  // a decimal number (or any token) replaced by an extreme
            let digits = b.indices.filter { b[$0] >= 0x30 && b[$0] <= 0x39 && ($0 == 0 || !(b[$0 - 1] >= 0x30 && b[$0 - 1] <= 0x39)) }
            guard !digits.isEmpty else { return }
            let start = rng.pick(digits)
            var end = start
            while end < b.count && ((b[end] >= 0x30 && b[end] <= 0x39) || b[end] == 0x2E || b[end] == 0x65) { end += 1 }
            b.replaceSubrange(start..<end, with: Array(rng.pick(extremes).utf8))
        case 11:  // deep nesting
            let depth = rng.pick([64, 512, 513, 5_000, 100_000])
            let (open, close): (UInt8, UInt8) = rng.chance(0.5) ? (0x5B, 0x5D) : (0x7B, 0x7D)
            let inner = rng.chance(0.5) ? [UInt8](repeating: open, count: depth) + [UInt8](repeating: close, count: depth)
                                        : [UInt8](repeating: open, count: depth)
            if open == 0x7B {
                // {"a":{"a":…}} so that objects nest
                var text: [UInt8] = []
                for _ in 0..<depth { text += Array(#"{"a":"#.utf8) }
                text += Array("1".utf8) + [UInt8](repeating: close, count: rng.chance(0.5) ? depth : depth / 2)
                b.insert(contentsOf: text, at: position())
            } else {
                b.insert(contentsOf: inner, at: position())
            }
        default:  // swap two blocks' order: move a block elsewhere
            let r = block(); let chunk = Array(b[r]); b.removeSubrange(r); b.insert(contentsOf: chunk, at: position())
        }
    }
}

/// Per-reader counts of outcomes, printed by the fuzz script.
struct FuzzTally {
    var valid = 0, errors = 0, skipped = 0
    var errorKinds: [String: Int] = [:]

    mutating func record(_ outcome: Result<Void, Error>) {
        switch outcome {
        case .success: valid += 1
        case .failure(let error) where error is FuzzSkip: skipped += 1
        case .failure(let error):
            errors += 1
            errorKinds[String(describing: type(of: error)), default: 0] += 1
        }
    }
}

/// Runs `cases` seeded cases of one reader; a case that takes longer than `hangSeconds` ends the test
/// process with the reader and case number (an in-process hang would otherwise only show as a timeout).
enum FuzzRunner {
    static var cases: Int { ProcessInfo.processInfo.environment["FUZZ_CASES"].flatMap(Int.init) ?? 60 }
    static var verbose: Bool { ProcessInfo.processInfo.environment["FUZZ_VERBOSE"] != nil }
    /// First case number (to rerun one case: FUZZ_FIRST=417 FUZZ_CASES=1 FUZZ_VERBOSE=1).
    static var first: Int { ProcessInfo.processInfo.environment["FUZZ_FIRST"].flatMap(Int.init) ?? 0 }
    static let hangSeconds = 20.0

    static func run(reader: String, seed: UInt64, cases: Int = FuzzRunner.cases,
                    _ body: (inout FuzzRandom, Int) throws -> Void) -> FuzzTally {
        var tally = FuzzTally()
        let watchdog = Watchdog(seconds: hangSeconds)
        for index in first..<(first + cases) {
            var rng = FuzzRandom(seed: seed &+ UInt64(index) &* 0x2545_F491_4F6C_DD1D)
            if verbose { fputs("fuzz \(reader) case \(index)\n", stderr) }
            watchdog.arm("\(reader) case \(index) (seed \(seed))")
            let started = Date()
            tally.record(Result { try body(&rng, index) })
            watchdog.disarm()
            let seconds = Date().timeIntervalSince(started)
            if seconds > 2 { print("fuzz-slow: \(reader) case \(index): \(String(format: "%.1f", seconds)) s") }
        }
        watchdog.stop()
        print("fuzz: \(reader): \(cases) cases: \(tally.valid) valid, \(tally.errors) errors, \(tally.skipped) skipped (gzip bombs); errors by type: \(tally.errorKinds.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        return tally
    }
}

/// A thread that ends the process when a case runs past its deadline.
final class Watchdog {
    private let lock = NSLock()
    private var deadline: Date?
    private var label = ""
    private var running = true
    private let seconds: Double

    init(seconds: Double) {
        self.seconds = seconds
        let thread = Thread { [weak self] in
            while true {
                guard let self else { return }
                self.lock.lock()
                let (deadline, label, running) = (self.deadline, self.label, self.running)
                self.lock.unlock()
                if !running { return }
                if let deadline, Date() > deadline {
                    fputs("fuzz: HANG: \(label) ran over \(seconds) s\n", stderr)
                    exit(3)
                }
                usleep(100_000)
            }
        }
        thread.start()
    }

    func arm(_ label: String) { lock.lock(); deadline = Date().addingTimeInterval(seconds); self.label = label; lock.unlock() }
    func disarm() { lock.lock(); deadline = nil; lock.unlock() }
    func stop() { lock.lock(); running = false; lock.unlock() }
}
