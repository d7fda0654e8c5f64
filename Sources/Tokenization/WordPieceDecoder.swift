// Ids back to text as Hugging Face's BertTokenizer (transformers 5, the `tokenizers` backend) decodes:
//   1. with `skipSpecialTokens`, drop [PAD] [UNK] [CLS] [SEP] [MASK];
//   2. the WordPiece decoder: every token after the first gets a leading space, or loses its "##"
//      prefix instead (so a piece glues to whatever precedes it), then each token on its own gets the
//      decoder's clean-up (" ." → "." etc.: punctuation attaches to the word before);
//   3. when the tokenizer's `clean_up_tokenization_spaces` is true (tokenizer_config.json; false by
//      default in transformers 5), Python's clean_up_tokenization on the whole text.
// Checked against transformers by the fill-mask parity fixture (Tests/InferenceTests/Fixtures).

import Foundation

public struct WordPieceDecoder {
    public let vocabulary: Vocabulary
    public let cleanUpTokenizationSpaces: Bool

    public init(vocabulary: Vocabulary, cleanUpTokenizationSpaces: Bool = false) {
        self.vocabulary = vocabulary
        self.cleanUpTokenizationSpaces = cleanUpTokenizationSpaces
    }

    /// The `clean_up_tokenization_spaces` of DIR/tokenizer_config.json (false without the file or the key).
    public static func cleanUpSetting(checkpointDirectory dir: String) -> Bool {
        let path = (dir as NSString).appendingPathComponent("tokenizer_config.json")
        struct Settings: Decodable { let clean_up_tokenization_spaces: Bool? }
        guard let data = FileManager.default.contents(atPath: path),
              let settings = try? JSONDecoder().decode(Settings.self, from: data) else { return false }
        return settings.clean_up_tokenization_spaces ?? false
    }

    public func decode(_ ids: [Int32], skipSpecialTokens: Bool) -> String {
        let special: Set<Int32> = [vocabulary.padId, vocabulary.unkId, vocabulary.clsId, vocabulary.sepId, vocabulary.maskId]
        var text = ""
        var first = true
        for id in ids where !(skipSpecialTokens && special.contains(id)) {
            var token = vocabulary.token(of: id)
            if !first {
                token = token.hasPrefix("##") ? String(token.dropFirst(2)) : " " + token
            }
            first = false
            text += Self.decoderCleanup(token)
        }
        return cleanUpTokenizationSpaces ? Self.pythonCleanup(text) : text
    }

    /// The `tokenizers` WordPiece decoder's clean-up, applied to each token (with its leading space).
    static func decoderCleanup(_ token: String) -> String {
        guard token.hasPrefix(" ") else { return token }
        return token.replacingOccurrences(of: " .", with: ".").replacingOccurrences(of: " ?", with: "?")
            .replacingOccurrences(of: " !", with: "!").replacingOccurrences(of: " ,", with: ",")
            .replacingOccurrences(of: " ' ", with: "'").replacingOccurrences(of: " n't", with: "n't")
            .replacingOccurrences(of: " 'm", with: "'m").replacingOccurrences(of: " do not", with: " don't")
            .replacingOccurrences(of: " 's", with: "'s").replacingOccurrences(of: " 've", with: "'ve")
            .replacingOccurrences(of: " 're", with: "'re")
    }

    /// transformers' `clean_up_tokenization` (PreTrainedTokenizerBase).
    static func pythonCleanup(_ text: String) -> String {
        text.replacingOccurrences(of: " .", with: ".").replacingOccurrences(of: " ?", with: "?")
            .replacingOccurrences(of: " !", with: "!").replacingOccurrences(of: " ,", with: ",")
            .replacingOccurrences(of: " ' ", with: "'").replacingOccurrences(of: " n't", with: "n't")
            .replacingOccurrences(of: " 'm", with: "'m").replacingOccurrences(of: " 's", with: "'s")
            .replacingOccurrences(of: " 've", with: "'ve").replacingOccurrences(of: " 're", with: "'re")
    }
}
