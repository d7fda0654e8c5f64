// Dynamic masking (RoBERTa-style): every time a sequence is seen it is masked afresh with
// Google's `create_masked_lm_predictions` (PretrainingData.createMaskedLMPredictions: candidates are all
// positions but [CLS]/[SEP]; shuffle; predict min(maxPredictions, max(1, round(length × 0.15)));
// of each: 80% → [MASK], 10% → unchanged, 10% → a uniformly random vocabulary id). The original
// ids come back from the stored masking (masked_lm_ids at masked_lm_positions), so any static
// shard can be re-masked. The generator is keyed by (seed, epoch, instance): the same on any rank
// and after a resume.


import PretrainingData

public struct DynamicMasking {
    public let maskedLMProbability: Double
    public let maxPredictions: Int
    public let vocabulary: MaskingVocabulary
    public let wholeWordMask: Bool
    public let seed: UInt64

    public init(maskedLMProbability: Double = 0.15, maxPredictions: Int, vocabulary: MaskingVocabulary,
                wholeWordMask: Bool = false, seed: UInt64) {
        self.maskedLMProbability = maskedLMProbability
        self.maxPredictions = maxPredictions
        self.vocabulary = vocabulary
        self.wholeWordMask = wholeWordMask
        self.seed = seed
    }

    /// The original (unmasked) ids of a stored instance.
    public static func originalIds(_ instance: PretrainingInstance) -> [Int32] {
        var ids = instance.inputIds
        for (p, id) in zip(instance.maskedPositions, instance.maskedIds) where Int(p) < ids.count { ids[Int(p)] = id }
        return ids
    }

    /// Re-masks `instance` for `epoch`; `index` is the instance's global number.
    public func remask(_ instance: PretrainingInstance, epoch: Int, index: Int) -> PretrainingInstance {
        var rng = SeededRandom(seed: seed, 0x6d61_736b, UInt64(epoch), UInt64(index))  // "mask"
        var out = instance
        out.inputIds = DynamicMasking.originalIds(instance)
        let (positions, labels) = createMaskedLMPredictions(tokens: &out.inputIds, maskedLMProb: maskedLMProbability,
                                                            maxPredictionsPerSeq: maxPredictions, vocabulary: vocabulary,
                                                            wholeWordMask: wholeWordMask, rng: &rng)
        out.maskedPositions = positions
        out.maskedIds = labels
        return out
    }
}
