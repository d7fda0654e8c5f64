// Dynamic masking (RoBERTa-style): every time a sequence is seen it is masked afresh, with
// Google's rules (design §4): candidates are all positions but [CLS]/[SEP]; shuffle; predict
// min(maxPredictions, max(1, round(length × 0.15))) of them; of each: 80% → [MASK],
// 10% → a uniformly random vocabulary id, 10% → unchanged. The original ids come back from the
// stored masking (masked_lm_ids at masked_lm_positions), so any static shard can be re-masked.
// The generator is keyed by (seed, epoch, instance): the same on any rank and after a resume.

import Corpus

public struct DynamicMasking: Sendable {
    public let maskedLMProbability: Double
    public let maxPredictions: Int
    public let vocabSize: Int
    public let maskId: Int32
    public let clsId: Int32
    public let sepId: Int32
    public let seed: UInt64

    public init(maskedLMProbability: Double = 0.15, maxPredictions: Int, vocabSize: Int,
                maskId: Int32, clsId: Int32, sepId: Int32, seed: UInt64) {
        self.maskedLMProbability = maskedLMProbability
        self.maxPredictions = maxPredictions
        self.vocabSize = vocabSize
        self.maskId = maskId; self.clsId = clsId; self.sepId = sepId
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
        var rng = TrainingRandom(keys: [seed, 0x6d61_736b, UInt64(epoch), UInt64(index)])  // "mask"
        let original = DynamicMasking.originalIds(instance)
        var candidates = original.indices.filter { original[$0] != clsId && original[$0] != sepId }
        candidates.shuffle(using: &rng)
        let wanted = min(maxPredictions, max(1, Int((Double(original.count) * maskedLMProbability).rounded())))
        var chosen = Array(candidates.prefix(wanted))
        chosen.sort()
        var out = instance
        out.inputIds = original
        for p in chosen {
            let u = rng.nextUnit()
            if u < 0.8 {
                out.inputIds[p] = maskId
            } else if u < 0.9 {
                // keep the original
            } else {
                out.inputIds[p] = Int32(rng.nextInt(below: vocabSize))
            }
        }
        out.maskedPositions = chosen.map { Int32($0) }
        out.maskedIds = chosen.map { original[$0] }
        return out
    }
}
