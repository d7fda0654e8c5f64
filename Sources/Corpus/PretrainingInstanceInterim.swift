// INTERIM: the shards helper owns `PretrainingInstance` (API.md); this copy of the agreed
// declaration lets the instance code compile until their Shard*.swift lands on main, and is
// deleted at that merge.

/// One pretraining instance in the NVIDIA layout (design §2), unpadded lengths kept.
public struct PretrainingInstance: Equatable {
    public var inputIds: [Int32]
    public var segmentIds: [Int32]
    public var maskedPositions: [Int32]
    public var maskedIds: [Int32]
    public var nextSentenceLabel: Int32

    public init(inputIds: [Int32], segmentIds: [Int32], maskedPositions: [Int32], maskedIds: [Int32],
                nextSentenceLabel: Int32) {
        self.inputIds = inputIds
        self.segmentIds = segmentIds
        self.maskedPositions = maskedPositions
        self.maskedIds = maskedIds
        self.nextSentenceLabel = nextSentenceLabel
    }
}
