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
/// sixth of a full one (BertEncoder.forward's `reads`).
/// Sequence b's read rows are `rows.rows(of: b)`, at positions `positions[r]` of the sequence, ascending.
public final class ReadPositions {
    public let rows: SequenceRows
    public let positions: UnsafeMutablePointer<Int32>
    /// [capacity + 1]: Σ S·T of the sequences before b (S read rows of T keys): where b's attention blocks start.
    let blockOffsets: UnsafeMutablePointer<Int>

    init(sequences: Int, rows capacity: Int) {
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
    func firstPositions(keys: SequenceRows) {
        rows.pack(sequences: keys.sequences) { _ in 1 }
        for b in 0..<keys.sequences {
            positions[b] = 0
            blockOffsets[b + 1] = blockOffsets[b] + keys.length(b)
        }
    }

    /// The queries attention computes for these rows.
    var queries: AttentionQueries {
        AttentionQueries(rows: rows, positions: positions, blockOffsets: blockOffsets)
    }
}
