#!/usr/bin/env python3
"""Hugging Face's Rust tokenizer (`tokenizers`) on the same text and vocab, one thread, for tokenizer-bench.sh.

    RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false python3 hf_tokenize.py VOCAB TEXT OUT [cased]

Times encode_batch only (not reading or writing); writes one line of ids per input line, like
`bert-corpus tokenize`, so the two outputs can be compared.
"""
import os
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from tokenizers import BertWordPieceTokenizer

vocab, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
lower = len(sys.argv) < 5 or sys.argv[4] != "cased"
tokenizer = BertWordPieceTokenizer(vocab, lowercase=lower, strip_accents=lower, clean_text=True, handle_chinese_chars=True)
with open(path, "rb") as f:
    data = f.read()
lines = data.decode("utf-8", errors="replace").split("\n")
if lines and lines[-1] == "":
    lines.pop()
start = time.perf_counter()
encodings = tokenizer.encode_batch(lines, add_special_tokens=False)
seconds = time.perf_counter() - start
with open(out, "w") as f:
    for e in encodings:
        f.write(" ".join(map(str, e.ids)) + "\n")
print(f"{len(data) / 1e6:.1f} {seconds:.3f} {len(data) / 1e6 / seconds:.2f}")
