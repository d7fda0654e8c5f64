// Pretraining instances exactly as google-research/bert's create_pretraining_data.py
// (`create_training_instances`, `create_instances_from_document`, `truncate_seq_pair`), over
// token ids read from a `TokenizedDocuments`, with the RNG passed in. The one switch,
// `sameDocumentBIsRandom`, is NVIDIA's correction (DeepLearningExamples, PyTorch BERT): when the
// ten tries to draw a *different* document all hit the current one, the B taken from the same
// document is labelled "not random" instead of "random".

/// Documents as sentences of token ids, with random access (the on-disk token store in a build,
/// arrays in tests). Every document has at least one sentence and every sentence at least one token.
/// Reads may throw (a store's file failing to read).
public protocol TokenizedDocuments {
    var documentCount: Int { get }
    func sentenceCount(_ document: Int) -> Int
    func sentenceLength(_ document: Int, _ sentence: Int) throws -> Int
    func appendSentence(_ document: Int, _ sentence: Int, to tokens: inout [Int32]) throws
}

/// Documents held in arrays: [document][sentence][token].
public struct InMemoryDocuments: TokenizedDocuments {
    public let documents: [[[Int32]]]
    public init(_ documents: [[[Int32]]]) { self.documents = documents }
    public var documentCount: Int { documents.count }
    public func sentenceCount(_ document: Int) -> Int { documents[document].count }
    public func sentenceLength(_ document: Int, _ sentence: Int) -> Int { documents[document][sentence].count }
    public func appendSentence(_ document: Int, _ sentence: Int, to tokens: inout [Int32]) {
        tokens.append(contentsOf: documents[document][sentence])
    }
}

/// Another source seen through a permutation: document i here is `base`'s document order[i]
/// (Google's script shuffles its document list; shuffling the indices draws the same numbers).
public struct PermutedDocuments<Base: TokenizedDocuments>: TokenizedDocuments {
    public let base: Base
    public let order: [Int]
    public init(base: Base, order: [Int]) { self.base = base; self.order = order }
    public var documentCount: Int { order.count }
    public func sentenceCount(_ document: Int) -> Int { base.sentenceCount(order[document]) }
    public func sentenceLength(_ document: Int, _ sentence: Int) throws -> Int { try base.sentenceLength(order[document], sentence) }
    public func appendSentence(_ document: Int, _ sentence: Int, to tokens: inout [Int32]) throws {
        try base.appendSentence(order[document], sentence, to: &tokens)
    }
}

/// create_training_instances after reading and tokenizing: shuffle the documents, then for each of
/// `dupeFactor` passes and each document create its instances, then shuffle all instances.
/// This is the whole script's order of random draws (reference mode, one process, all in memory).
public func createTrainingInstances<D: TokenizedDocuments, R: InstanceRandom>(
    documents: D,
    maxSeqLength: Int = 128,
    dupeFactor: Int = 10,
    shortSeqProb: Double = 0.1,
    maskedLMProb: Double = 0.15,
    maxPredictionsPerSeq: Int = 20,
    vocabulary: MaskingVocabulary,
    wholeWordMask: Bool = false,
    sameDocumentBIsRandom: Bool = true,
    rng: inout R
) throws -> [PretrainingInstance] {
    var order = Array(0..<documents.documentCount)
    rng.shuffle(&order)
    let shuffled = PermutedDocuments(base: documents, order: order)
    var instances: [PretrainingInstance] = []
    for _ in 0..<dupeFactor {
        for documentIndex in 0..<shuffled.documentCount {
            instances += try createInstancesFromDocument(
                documents: shuffled, documentIndex: documentIndex, maxSeqLength: maxSeqLength,
                shortSeqProb: shortSeqProb, maskedLMProb: maskedLMProb, maxPredictionsPerSeq: maxPredictionsPerSeq,
                vocabulary: vocabulary, wholeWordMask: wholeWordMask, sameDocumentBIsRandom: sameDocumentBIsRandom,
                rng: &rng)
        }
    }
    rng.shuffle(&instances)
    return instances
}

/// create_instances_from_document: one pass over one document.
///
/// Target length = max_seq_length − 3, or with probability `shortSeqProb` a uniform integer in
/// [2, max_seq_length − 3] (short sequences reduce the mismatch with fine-tuning). Sentences
/// accumulate into a chunk until it reaches the target or the document ends; A = the first a_end
/// sentences (a_end uniform in [1, chunk − 1], or 1); B is random with probability 0.5 or when the
/// chunk has one sentence: sentences from a random start in another document until B reaches
/// target − len(A), and the chunk's unused sentences are put back; otherwise B = the rest of the chunk.
public func createInstancesFromDocument<D: TokenizedDocuments, R: InstanceRandom>(
    documents: D,
    documentIndex: Int,
    maxSeqLength: Int = 128,
    shortSeqProb: Double = 0.1,
    maskedLMProb: Double = 0.15,
    maxPredictionsPerSeq: Int = 20,
    vocabulary: MaskingVocabulary,
    wholeWordMask: Bool = false,
    sameDocumentBIsRandom: Bool = true,
    rng: inout R
) throws -> [PretrainingInstance] {
    let sentenceCount = documents.sentenceCount(documentIndex)
    // Account for [CLS], [SEP], [SEP].
    let maxNumTokens = maxSeqLength - 3
    precondition(maxNumTokens >= 2, "max_seq_length must be at least 5, found \(maxSeqLength)")

    var targetSeqLength = maxNumTokens
    if rng.random() < shortSeqProb {
        targetSeqLength = rng.randint(2, maxNumTokens)
    }

    var instances: [PretrainingInstance] = []
    // The chunk is always the contiguous sentences chunkStart...i of this document.
    var chunkStart = 0
    var currentLength = 0
    var i = 0
    while i < sentenceCount {
        currentLength += try documents.sentenceLength(documentIndex, i)
        if i == sentenceCount - 1 || currentLength >= targetSeqLength {
            let chunkCount = i - chunkStart + 1
            // a_end is how many sentences of the chunk go into A.
            var aEnd = 1
            if chunkCount >= 2 {
                aEnd = rng.randint(1, chunkCount - 1)
            }
            var tokensA: [Int32] = []
            for j in 0..<aEnd { try documents.appendSentence(documentIndex, chunkStart + j, to: &tokensA) }

            var tokensB: [Int32] = []
            var isRandomNext = false
            if chunkCount == 1 || rng.random() < 0.5 {
                isRandomNext = true
                let targetBLength = targetSeqLength - tokensA.count
                // Ten tries for a document other than this one (rarely more than one in a large corpus).
                var randomDocumentIndex = 0
                for _ in 0..<10 {
                    randomDocumentIndex = rng.randint(0, documents.documentCount - 1)
                    if randomDocumentIndex != documentIndex { break }
                }
                if randomDocumentIndex == documentIndex && !sameDocumentBIsRandom {
                    isRandomNext = false  // NVIDIA's correction
                }
                let randomSentences = documents.sentenceCount(randomDocumentIndex)
                let randomStart = rng.randint(0, randomSentences - 1)
                for j in randomStart..<randomSentences {
                    try documents.appendSentence(randomDocumentIndex, j, to: &tokensB)
                    if tokensB.count >= targetBLength { break }
                }
                // The chunk's sentences after A were not used: put them back to be read again.
                i -= chunkCount - aEnd
            } else {
                for j in aEnd..<chunkCount { try documents.appendSentence(documentIndex, chunkStart + j, to: &tokensB) }
            }
            var a = tokensA[...], b = tokensB[...]
            truncateSeqPair(&a, &b, maxNumTokens: maxNumTokens, rng: &rng)
            assert(!a.isEmpty && !b.isEmpty)

            // [CLS] A [SEP] B [SEP]; segment 0 up to the first [SEP], 1 after.
            var tokens: [Int32] = [vocabulary.clsId]
            tokens.reserveCapacity(a.count + b.count + 3)
            tokens += a
            tokens.append(vocabulary.sepId)
            tokens += b
            tokens.append(vocabulary.sepId)
            var segmentIds = [Int32](repeating: 0, count: tokens.count)
            for p in (a.count + 2)..<tokens.count { segmentIds[p] = 1 }

            let (positions, labels) = createMaskedLMPredictions(
                tokens: &tokens, maskedLMProb: maskedLMProb, maxPredictionsPerSeq: maxPredictionsPerSeq,
                vocabulary: vocabulary, wholeWordMask: wholeWordMask, rng: &rng)
            instances.append(PretrainingInstance(
                inputIds: tokens, segmentIds: segmentIds, maskedPositions: positions, maskedIds: labels,
                nextSentenceLabel: isRandomNext ? 1 : 0))
            chunkStart = i + 1
            currentLength = 0
        }
        i += 1
    }
    return instances
}

/// truncate_seq_pair: while the pair is longer than `maxNumTokens`, remove one token from the
/// longer side (B on a tie), from its front or its back with equal probability (to avoid biases).
/// Slices make removal from the front O(1).
public func truncateSeqPair<R: InstanceRandom>(
    _ tokensA: inout ArraySlice<Int32>, _ tokensB: inout ArraySlice<Int32>, maxNumTokens: Int, rng: inout R
) {
    while tokensA.count + tokensB.count > maxNumTokens {
        if tokensA.count > tokensB.count {
            if rng.random() < 0.5 { tokensA.removeFirst() } else { tokensA.removeLast() }
        } else {
            if rng.random() < 0.5 { tokensB.removeFirst() } else { tokensB.removeLast() }
        }
    }
}
