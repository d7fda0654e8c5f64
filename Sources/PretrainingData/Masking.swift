// Masked-LM predictions exactly as google-research/bert's create_pretraining_data.py
// (`create_masked_lm_predictions`), over token ids instead of strings, so that the trainer's
// dynamic masking can call it on any sequence with its own RNG.

/// What masking needs to know about the vocabulary: its size (random replacements are drawn
/// over all of it, as Google's `rng.randint(0, len(vocab_words) - 1)`), the special ids, and
/// which ids are `##` continuation pieces (for whole-word masking).
public struct MaskingVocabulary {
    public let size: Int
    public let clsId: Int32, sepId: Int32, maskId: Int32
    /// isContinuation[id] is true when the token starts with "##".
    public let isContinuation: [Bool]

    public init(tokens: [String], clsId: Int32, sepId: Int32, maskId: Int32) {
        self.size = tokens.count
        self.clsId = clsId
        self.sepId = sepId
        self.maskId = maskId
        self.isContinuation = tokens.map { $0.hasPrefix("##") }
    }
}

/// Google's count of predictions: min(max_predictions_per_seq, max(1, round(len × masked_lm_prob))),
/// with Python 3's round (half to even; the product is rounded as the double it is).
public func numberToPredict(length: Int, maskedLMProb: Double, maxPredictionsPerSeq: Int) -> Int {
    let rounded = Int((Double(length) * maskedLMProb).rounded(.toNearestOrEven))
    return min(maxPredictionsPerSeq, max(1, rounded))
}

/// create_masked_lm_predictions: masks `tokens` in place and returns the masked positions
/// (ascending) with the original ids there.
///
/// Candidates are all positions whose id is not [CLS] or [SEP] (Google compares the token, not the
/// position); with `wholeWordMask`, a `##` piece joins the previous candidate (even across a [SEP],
/// as in the reference). Candidates are shuffled; whole candidates are taken while they fit in the
/// budget; each chosen position draws `random() < 0.8` → [MASK], else `random() < 0.5` → unchanged,
/// else a uniformly random id over the whole vocabulary.
public func createMaskedLMPredictions<R: InstanceRandom>(
    tokens: inout [Int32],
    maskedLMProb: Double = 0.15,
    maxPredictionsPerSeq: Int = 20,
    vocabulary: MaskingVocabulary,
    wholeWordMask: Bool = false,
    rng: inout R
) -> (positions: [Int32], labels: [Int32]) {
    let budget = numberToPredict(length: tokens.count, maskedLMProb: maskedLMProb,
                                 maxPredictionsPerSeq: maxPredictionsPerSeq)
    var chosen: [Int32] = [], labels: [Int32] = []
    chosen.reserveCapacity(budget)
    labels.reserveCapacity(budget)
    // One chosen position: 80% [MASK], 10% unchanged, 10% a random id (Google's order of draws).
    func mask(_ position: Int32) {
        let p = Int(position)
        labels.append(tokens[p])
        if rng.random() < 0.8 {
            tokens[p] = vocabulary.maskId
        } else if rng.random() < 0.5 {
            // 10%: keep the original token
        } else {
            tokens[p] = Int32(rng.randint(0, vocabulary.size - 1))
        }
        chosen.append(position)
    }
    if wholeWordMask {
        // Candidates flat: candidate c covers members[starts[c] ..< starts[c + 1]]. A ## piece only
        // ever joins the last candidate, so each candidate's positions are contiguous in `members`
        // (not in the sequence: a ## piece after [SEP] joins the word before it).
        var members: [Int32] = [], starts: [Int32] = []
        members.reserveCapacity(tokens.count)
        starts.reserveCapacity(tokens.count + 1)
        for (i, id) in tokens.enumerated() {
            if id == vocabulary.clsId || id == vocabulary.sepId { continue }
            if !starts.isEmpty, Int(id) >= 0, Int(id) < vocabulary.isContinuation.count, vocabulary.isContinuation[Int(id)] {
                members.append(Int32(i))
            } else {
                starts.append(Int32(members.count))
                members.append(Int32(i))
            }
        }
        let candidateCount = starts.count
        starts.append(Int32(members.count))
        // Shuffling candidate numbers draws exactly what shuffling the candidate lists draws.
        var order = (0..<Int32(candidateCount)).map { $0 }
        rng.shuffle(&order)
        // Candidates are disjoint, so the reference's "already covered" check never fires; it is omitted.
        for c in order {
            if chosen.count >= budget { break }
            let candidate = Int(starts[Int(c)])..<Int(starts[Int(c) + 1])
            // A whole word that would overshoot the budget is skipped, not cut.
            if chosen.count + candidate.count > budget { continue }
            for m in candidate { mask(members[m]) }
        }
    } else {
        // Every candidate is one position: shuffle the positions themselves (the same draws).
        var candidates: [Int32] = []
        candidates.reserveCapacity(tokens.count)
        for (i, id) in tokens.enumerated() where id != vocabulary.clsId && id != vocabulary.sepId {
            candidates.append(Int32(i))
        }
        rng.shuffle(&candidates)
        for position in candidates.prefix(budget) { mask(position) }
    }
    // Sorted by position, labels along (insertion sort: at most max_predictions_per_seq entries,
    // positions distinct).
    chosen.withUnsafeMutableBufferPointer { positions in
        labels.withUnsafeMutableBufferPointer { labels in
            for i in 1..<max(1, positions.count) {
                let p = positions[i], l = labels[i]
                var j = i
                while j > 0 && positions[j - 1] > p {
                    positions[j] = positions[j - 1]
                    labels[j] = labels[j - 1]
                    j -= 1
                }
                positions[j] = p
                labels[j] = l
            }
        }
    }
    return (chosen, labels)
}
