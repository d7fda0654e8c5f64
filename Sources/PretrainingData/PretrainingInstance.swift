// What create_pretraining_data.py makes (its `TrainingInstance`, as token ids) and what a shard row holds.

/// One pretraining instance, unpadded (lengths kept).
public struct PretrainingInstance: Equatable {
    public var inputIds: [Int32]            // [CLS] A [SEP] B [SEP], unpadded, length ≤ T
    public var segmentIds: [Int32]          // same length
    public var maskedPositions: [Int32]     // ascending, ≤ P
    public var maskedIds: [Int32]           // original ids at those positions
    public var nextSentenceLabel: Int32     // 0 = real continuation, 1 = random

    public init(inputIds: [Int32], segmentIds: [Int32], maskedPositions: [Int32], maskedIds: [Int32], nextSentenceLabel: Int32) {
        self.inputIds = inputIds
        self.segmentIds = segmentIds
        self.maskedPositions = maskedPositions
        self.maskedIds = maskedIds
        self.nextSentenceLabel = nextSentenceLabel
    }
}
