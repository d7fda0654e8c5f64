// SequenceRows: where each sequence's tokens are among the rows the encoder computes — the one
// type that carries a batch's shape through every layer (flash-attention's `cu_seqlens`).
//
// Packed (the default, design §9 "unpadded batches"): sequence b is rows offsets[b]..<offsets[b+1],
// its real tokens only, so every token-wise product, LayerNorm, GELU and dropout runs over Σ lengths
// rows and attention runs per sequence at its own length; no mask is needed.
// Rectangular (`--padded`, and any batch whose padding is not a suffix of each row): offsets[b] = b·T,
// every row has T positions, and `maskBias` (0 real, −10000 padding: HF's extended attention mask)
// keeps padded keys out of attention.
// Either way position t of sequence b is row offsets[b] + t, so heads and embeddings need no other rule.

public final class SequenceRows {
    public let capacity: Int
    /// Sequences of the current batch and the longest one's length (rows).
    public private(set) var sequences = 0, longest = 0
    /// [capacity + 1]: the first row of each sequence, then the row count.
    public let offsets: UnsafeMutablePointer<Int>
    /// [capacity + 1]: Σ length² of the sequences before b — where sequence b's [len, len] attention blocks
    /// start (times the head count) in a buffer that keeps every pair's probabilities.
    let squareOffsets: UnsafeMutablePointer<Int>
    /// The rectangular layout's key bias per row, nil when packed.
    public private(set) var maskBias: UnsafePointer<Float>?

    public init(capacity: Int) {
        self.capacity = capacity
        offsets = .allocate(capacity: capacity + 1)
        offsets.initialize(repeating: 0, count: capacity + 1)
        squareOffsets = .allocate(capacity: capacity + 1)
        squareOffsets.initialize(repeating: 0, count: capacity + 1)
    }

    deinit {
        offsets.deallocate()
        squareOffsets.deallocate()
    }

    /// Rows of the current batch.
    public var count: Int { offsets[sequences] }
    public var isPacked: Bool { maskBias == nil }
    @inline(__always) public func start(_ b: Int) -> Int { offsets[b] }
    @inline(__always) public func length(_ b: Int) -> Int { offsets[b + 1] - offsets[b] }
    public func rows(of b: Int) -> Range<Int> { offsets[b]..<offsets[b + 1] }

    /// Packed: sequence b has `length(b)` rows, in order.
    public func pack(sequences B: Int, length: (Int) -> Int) {
        precondition(B <= capacity, "\(B) sequences > capacity \(capacity)")
        sequences = B
        longest = 0
        for b in 0..<B {
            let n = length(b)
            offsets[b + 1] = offsets[b] + n
            squareOffsets[b + 1] = squareOffsets[b] + n * n
            longest = max(longest, n)
        }
        maskBias = nil
    }

    /// Real tokens of one row of an input mask [T] (1 real, 0 padding) whose padding is a suffix.
    public static func realLength(_ mask: UnsafePointer<Int32>, length T: Int) -> Int {
        var n = 0
        while n < T && mask[n] == 1 { n += 1 }
        return n
    }

    /// Whether every row of mask [B, T] is real tokens then padding only (what packing keeps exact; the
    /// shards' rows all are), with at least one real token.
    public static func paddingIsSuffix(_ mask: UnsafePointer<Int32>, sequences B: Int, length T: Int) -> Bool {
        for b in 0..<B {
            let row = mask + b * T, n = realLength(row, length: T)
            if n == 0 || (n..<T).contains(where: { row[$0] != 0 }) { return false }
        }
        return true
    }

    /// Rectangular: B sequences of T rows each, padded keys biased by `maskBias` [B·T].
    public func rectangle(sequences B: Int, length T: Int, maskBias: UnsafePointer<Float>) {
        pack(sequences: B) { _ in T }
        self.maskBias = maskBias
    }
}

/// The positions of each sequence that a head reads of the encoder's last layer. The last layer needs
/// every row's keys and values, but its queries, output dense, feed-forward and LayerNorms only at the rows
/// read: a sequence classifier reads one row per sequence (the first), so its last layer costs about a
/// sixth of a full one; pretraining reads the first row and the masked ones (BertEncoder.forward's `reads`).
/// Sequence b's read rows are `rows.rows(of: b)`, at positions `positions[r]` of the sequence, ascending.
public final class ReadPositions {
    public let rows: SequenceRows
    public let positions: UnsafeMutablePointer<Int32>
    /// [capacity + 1]: Σ S·T of the sequences before b (S read rows of T keys): where b's attention blocks start.
    let blockOffsets: UnsafeMutablePointer<Int>
    private let capacity: Int

    init(sequences: Int, rows capacity: Int) {
        self.capacity = capacity
        rows = SequenceRows(capacity: sequences)
        positions = .allocate(capacity: capacity)
        positions.initialize(repeating: 0, count: capacity)
        blockOffsets = .allocate(capacity: sequences + 1)
        blockOffsets.initialize(repeating: 0, count: sequences + 1)
    }

    deinit {
        positions.deallocate()
        blockOffsets.deallocate()
    }

    /// Each sequence's first position ([CLS]).
    func firstPositions(sequences B: Int) {
        rows.pack(sequences: B) { _ in 1 }
        for b in 0..<B { positions[b] = 0 }
    }

    /// Each sequence's first position and the positions of its `slots` [B, P] that `used(b, s)` (pretraining: the
    /// labelled masked positions), ascending, each once.
    func firstAndSlots(sequences B: Int, slots: UnsafePointer<Int32>, perSequence P: Int, used: (Int, Int) -> Bool) {
        precondition(B * (P + 1) <= capacity, "read positions: \(B) × \(P + 1) > capacity \(capacity)")
        var n = 0
        rows.pack(sequences: B) { b in
            let first = n
            positions[n] = 0
            n += 1
            for s in 0..<P where used(b, s) {
                // Insert in order (P is small), skipping a position already listed.
                let position = slots[b * P + s]
                var i = n
                while i > first && positions[i - 1] > position { i -= 1 }
                if i > first && positions[i - 1] == position { continue }
                (positions + i + 1).update(from: positions + i, count: n - i)
                positions[i] = position
                n += 1
            }
            return n - first
        }
    }

    /// Where each sequence's attention blocks start, once the key rows are placed; every position must be a row.
    func placeBlocks(keys: SequenceRows) {
        precondition(keys.sequences == rows.sequences, "read positions for \(rows.sequences) sequences, batch has \(keys.sequences)")
        for b in 0..<keys.sequences {
            for r in rows.rows(of: b) {
                precondition(positions[r] >= 0 && Int(positions[r]) < keys.length(b),
                             "read position \(positions[r]) of sequence \(b) outside its \(keys.length(b)) rows")
            }
            blockOffsets[b + 1] = blockOffsets[b] + rows.length(b) * keys.length(b)
        }
    }

    /// The queries attention computes for these rows.
    var queries: AttentionQueries {
        AttentionQueries(rows: rows, positions: positions, blockOffsets: blockOffsets)
    }
}
