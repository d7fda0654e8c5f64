#!/usr/bin/env python3
"""Random-text cross-check against the Python reference (by hand, not in CI; nothing here is committed output).

    python3 fuzz_reference.py SEED LINES OUTDIR
    for l in 1 0; do
      f=$([ $l = 0 ] && echo --no-lower-case)
      bert-corpus tokenize --vocab OUTDIR/golden-vocab.txt $f --input OUTDIR/in.txt | cmp - OUTDIR/ref-golden-$l.txt
      bert-corpus tokenize --vocab OUTDIR/words.txt $f --input OUTDIR/in.txt | cmp - OUTDIR/ref-words-$l.txt
    done

Lines mix code points from every plane (so every category, unassigned ones included), special tokens,
sigma/İ contexts and combining sequences. Two vocabularies: the golden one, and "words.txt" holding every
word the reference's basic tokenizer produces, so any difference before WordPiece shows up as a different id.
"""
import os
import random
import shutil
import sys

from transformers.models.bert.tokenization_bert_legacy import BasicTokenizer, BertTokenizerLegacy

seed, count, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.makedirs(out, exist_ok=True)
rng = random.Random(seed)
specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
marks = [chr(c) for c in list(range(0x300, 0x370)) + list(range(0x1100, 0x1200)) + list(range(0xAC00, 0xAC40))
         + [0x345, 0x0F73, 0x0F75, 0x0B47, 0x0B3E, 0x0B57, 0x09C7, 0x09BE, 0x09D7, 0x0338, 0x3099, 0x309A,
            0x212B, 0x2126, 0x1FEE, 0x0344, 0x0340, 0x0343, 0x0374, 0x037E, 0x0387, 0x1D15E, 0x1D165, 0x110BA]]


def char():
    r = rng.random()
    if r < 0.3:
        return chr(rng.randint(0x20, 0x7E))
    if r < 0.5:
        return chr(rng.randint(0x80, 0x3000))
    if r < 0.6:
        return chr(rng.randint(0x3000, 0xFFFF))
    if r < 0.65:
        return chr(rng.randint(0x10000, 0x2FFFF))
    if r < 0.85:
        return rng.choice(marks)
    if r < 0.97:
        return rng.choice(specials + ["[mask]", "Σ", "ΑΣ", "İ", " ", "\u200b", "\x85", "\r", "\t", "\u2028", "\u00a0"])
    return chr(rng.randint(0xE0000, 0x10FFFF))


lines = []
while len(lines) < count:
    s = "".join(char() for _ in range(rng.randint(0, 30)))
    lines.append("".join(c for c in s if not 0xD800 <= ord(c) <= 0xDFFF and c != "\n"))
with open(f"{out}/in.txt", "w", encoding="utf-8", newline="") as f:
    f.write("".join(s + "\n" for s in lines))

words = set()
for lower in (True, False):
    basic = BasicTokenizer(do_lower_case=lower, never_split=specials)
    for s in lines:
        words.update(basic.tokenize(s))
words = sorted(w for w in words - set(specials) if w and "\n" not in w and "\r" not in w and w.strip() == w)
with open(f"{out}/words.txt", "w", encoding="utf-8", newline="") as f:
    f.write("".join(w + "\n" for w in specials + words))
shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden-vocab.txt"), f"{out}/golden-vocab.txt")
for name in ("golden-vocab", "words"):
    for lower in (True, False):
        t = BertTokenizerLegacy(f"{out}/{name}.txt", do_lower_case=lower)
        with open(f"{out}/ref-{name.split('-')[0]}-{int(lower)}.txt", "w") as f:
            for s in lines:
                f.write(" ".join(map(str, t.encode(s, add_special_tokens=False))) + "\n")
