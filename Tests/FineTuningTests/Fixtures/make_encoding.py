# Makes encoding.json: input ids and token type ids of single texts and pairs, truncated to
# max_length, as run_glue.py gets them from AutoTokenizer (the fast, Rust-backed BertTokenizer),
# with encoding-vocab.txt, do_lower_case=True. Run once by hand (transformers 5.25, tokenizers 0.23):
#   python3 make_encoding.py
import json
from transformers import BertTokenizer  # transformers 5: BertTokenizer is the tokenizers (Rust) one

tok = BertTokenizer("encoding-vocab.txt", do_lower_case=True)
cases = [
    ("The cat sat on the mat.", None, 16),
    ("The cat sat on the mat.", None, 5),              # single: keep the first T-2 tokens
    ("Hello, World!", "the dogs running", 16),         # pair, no truncation
    ("the cat sat on the mat", "the dog ran", 8),       # 6 + 3, budget 5: the short one does not fit in half: 3 + 2
    ("the cat sat on the mat", "a dog", 8),           # short second fits in half: only the first is cut
    ("a dog", "the cat sat on the mat", 8),           # mirror
    ("the cat sat on the mat", "the dog ran on a mat", 8),  # equal lengths (6 + 6), odd budget 5: tie
    ("the cat sat on the mat", "the dog ran on a mat", 9),  # equal lengths, even budget 6
    ("the cat sat on the mat .", "the dog ran on a mat", 8),  # 7 + 6, budget 5: the longer first gets 3
    ("the cat sat on the mat", "the dog ran on a mat .", 8),  # 6 + 7, budget 5: the first gets 2
    ("runners zebra", "cats?", 16),                    # WordPiece pieces and [UNK]
    ("the cat", "the dog", 3),                          # budget 0: only the special tokens
]
out = []
for text, pair, max_length in cases:
    enc = tok(text, pair, max_length=max_length, truncation=True) if pair is not None \
        else tok(text, max_length=max_length, truncation=True)
    out.append({"text": text, "text_pair": pair, "max_length": max_length,
                "input_ids": enc["input_ids"], "token_type_ids": enc["token_type_ids"]})
with open("encoding.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
