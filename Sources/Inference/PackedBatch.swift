// A batch of encoded inputs packed for BertInference: their tokens back to back, their lengths.
// The arrays keep their capacity from batch to batch.

import BERT

final class PackedBatch {
    private(set) var ids: [Int32] = []
    private(set) var segments: [Int32] = []
    private(set) var lengths: [Int] = []

    /// Packs `batch` and runs the encoder over it.
    func forward(_ model: BertInference, _ batch: ArraySlice<EncodedInput>) throws {
        ids.removeAll(keepingCapacity: true)
        segments.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
        for input in batch {
            ids.append(contentsOf: input.ids)
            segments.append(contentsOf: input.segments)
            lengths.append(input.ids.count)
        }
        try model.forward(inputIds: ids, segmentIds: segments, lengths: lengths, sequences: lengths.count)
    }
}
