#!/usr/bin/env python3
"""Makes the Hugging Face parity fixtures of the inference tests (issue 13; run once by hand, CI never runs Python).

    python3 Tests/InferenceTests/Fixtures/make_fixtures.py

rewrites everything in this folder except itself and README.md:

  Models (tiny random BERTs: hidden 32, 2 layers, 4 heads, intermediate 64, 64 positions, 2 segment types,
  vocab.txt of VOCAB_SIZE lower-cased WordPiece tokens cut from Tests/TokenizationTests/Fixtures/golden-vocab.txt
  with the specials where bert-base-uncased has them: [PAD] 0, [unused0..98] 1..99, [UNK] 100, [CLS] 101,
  [SEP] 102, [MASK] 103; LayerNorm weights U(0.6, 1.4), word embeddings N(0, 0.5) (peaked MLM scores, so the
  top-k has clear gaps), classifier.weight N(0, 1.5) (varied labels), every other tensor N(0, 0.1); float32
  safetensors by save_pretrained; each directory also holds vocab.txt and what BertTokenizer.save_pretrained
  writes: tokenizer.json and tokenizer_config.json with do_lower_case true and model_max_length 64):
    pretraining/                     BertForPreTraining (MLM + NSP heads, pooler)
    sentence-transformers/           the same encoder, SentenceTransformer([Transformer(max_seq_length=24),
                                     Pooling("mean"), Normalize()]).save(): the CURRENT format (see below)
    sentence-transformers-normalize-nofolder/
                                     the same model in the LEGACY format as on the Hub (written by this script):
                                     Normalize listed in modules.json at "2_Normalize", a folder that does not
                                     exist; max_seq_length 24 in sentence_bert_config.json; tokenizer 64
    sentence-transformers-cls/       LEGACY format, pooling_mode_cls_token, no Normalize, max_seq_length 24
    classification/                  BertForSequenceClassification, 3 labels negative/neutral/positive,
                                     problem_type single_label_classification
    classification-one-label/        num_labels 1, problem_type absent (null): the pipeline applies a sigmoid
    regression/                      num_labels 1, problem_type "regression": the pipeline applies nothing
  Inputs: texts.txt, pairs.jsonl, masked.txt, targets.json.
  Expected outputs (JSON lines, one per input line, input order, float64 = model.double() on the saved float32
  weights, eval mode; floats are Python repr, i.e. shortest round-trip): embed-*.jsonl, st-encode*.jsonl,
  fill-mask-top5.jsonl, fill-mask-targets.jsonl, nsp.jsonl, predict-*.jsonl.  README.md describes each file.

Rules of transformers 5.25 / tokenizers 0.23 / sentence-transformers 6.3 this reproduces (asserted below):
  * text-classification `function_to_apply` default (pipelines/text_classification.py, postprocess): problem_type
    "regression" -> none (raw logit); else problem_type "multi_label_classification" or num_labels == 1 -> sigmoid;
    else (single_label_classification or num_labels > 1) -> softmax. The logits are cast to float32 before that
    (`outputs.float().numpy()`), so the pipeline's scores are float32 even for a float64 model: the float64 values
    here are computed by hand with the same rule and checked against the pipeline to 1e-6.
    top_k absent -> one {"label", "score"} (argmax); top_k=N -> a list of N dicts sorted by score, descending
    (Python's stable sort: ties keep label order).
    Pairs: the pipeline takes {"text": A, "text_pair": B} and calls tokenizer(text=A, text_pair=B, **kwargs); it
    does not truncate unless told: we pass truncation=True (longest_first to model_max_length 64).
  * fill-mask (pipelines/fill_mask.py, postprocess): softmax over the vocabulary at each [MASK] (independently,
    several masks are NOT joint); top_k; for each candidate the input ids with that mask replaced by the candidate
    (the OTHER masks stay [MASK]), [PAD] ids filtered out, then
    sequence = tokenizer.decode(ids, skip_special_tokens = (exactly one mask in the input)); token_str =
    tokenizer.decode([id]). One mask -> a list of k dicts; several -> a list (per mask, in position order) of lists.
    decode (tokenizers' WordPiece decoder, cleanup=true; tokenizer_config has no clean_up_tokenization_spaces, so
    transformers adds no second clean-up): drop special tokens if asked ([PAD] [UNK] [CLS] [SEP] [MASK]: [UNK] is
    dropped too); the first token as is; every later token: a "##" prefix is removed (no space), otherwise " " is
    put before it; then on EACH piece separately: replace " ." -> ".", " ?" -> "?", " !" -> "!", " ," -> ",",
    " ' " -> "'", " n't" -> "n't", " 'm" -> "'m", " do not" -> " don't", " 's" -> "'s", " 've" -> "'ve",
    " 're" -> "'re" (per piece, so in practice only a piece starting with . ? ! , loses its space; "it ' s" stays).
    token_str of a "##x" token is "##x" (first token: prefix kept).
    targets (get_target_ids): a target that is a vocab entry (exact, case-sensitive) is that id; otherwise
    tokenizer(target, add_special_tokens=False, max_length=1, truncation=True) and its first id (lower-cased by
    the tokenizer, with a warning); ids deduplicated (set); scores = the full softmax's probabilities at those
    ids (not renormalised), top_k capped at the number of targets.
  * sentence-transformers 6.3 .save() writes modules.json with types sentence_transformers.base.modules.* and
    sentence_transformers.sentence_transformer.modules.pooling.Pooling, 1_Pooling/config.json as
    {"embedding_dimension", "pooling_mode": "mean", "include_prompt"} (NOT the legacy pooling_mode_* booleans),
    a 2_Normalize/config.json folder, and sentence_bert_config.json WITHOUT max_seq_length: the max_seq_length is
    saved as tokenizer_config.json's model_max_length (24). On load: sentence_bert_config.json's max_seq_length,
    when present, wins over the tokenizer's model_max_length; otherwise the tokenizer's model_max_length capped at
    config.json's max_position_embeddings. sentence_bert_config.json's do_lower_case (the wrapper's) only adds
    lower-casing when true. Pooling: mean = sum(mask*h)/clamp(sum(mask), 1e-9), max = h with padding set to -inf
    (6.3; older versions -1e9) then max, cls = the first unpadded position; Normalize = F.normalize (x/max(|x|, 1e-12)).

Made with Python 3.11.7, torch 2.13.0 (CPU), transformers 5.25.0, tokenizers 0.23.3, sentence-transformers 6.3.0.
"""
import json
import logging
import os
import shutil
import unicodedata
import warnings

import numpy as np
import torch
import torch.nn.functional as F
import transformers
import sentence_transformers
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer import modules as models
from transformers import (AutoTokenizer, BertConfig, BertForMaskedLM, BertForPreTraining, BertForSequenceClassification,
                          BertModel, BertTokenizer, BertTokenizerLegacy, pipeline)

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN_VOCAB = os.path.join(HERE, "..", "..", "TokenizationTests", "Fixtures", "golden-vocab.txt")
VOCAB_SIZE = 800
MAX_LEN = 64          # the models' max_position_embeddings and the tokenizers' model_max_length
ST_MAX_LEN = 24       # sentence-transformers' max_seq_length
ENCODER = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
               max_position_embeddings=MAX_LEN, type_vocab_size=2, hidden_act="gelu", layer_norm_eps=1e-12)
LABELS3 = {0: "negative", 1: "neutral", 2: "positive"}

TEXTS = [
    "God said.",
    "Behold, the king of Israel came to the city.",
    "THE LORD SPOKE UNTO MOSES IN THE WILDERNESS!",
    "Café, naïve Zürich and the Ångström: accents are stripped.",
    "And the priest took the blood of the offering, and put it on the horns of the altar, and poured out "
    "all the rest at the base of the altar.",
    "Yes?",
    "Jerusalem",
    "My father's house has many rooms; don't be afraid — the children of the people (all of them) went out.",
    "Then David said to Saul: 'Let no man's heart fail because of him; your servant will go and fight.' And "
    "Saul said to David, 'You are not able to go against this Philistine to fight with him, for you are but a "
    "youth, and he has been a man of war from his youth.' David said to Saul, 'Your servant was keeping his "
    "father's sheep.'",
    "one two three four five six seven",
    "Straße 12, 2024 — 日本 ok.",
    "The sons of Judah were Er, Onan, and Shelah.",
]
PAIRS = [
    ("God said.", "Let there be light."),
    ("The king went out.", "THE PEOPLE FOLLOWED HIM."),
    ("Where is my brother?", "He is in the field with the sheep."),
    ("Behold, the days come.", "Café au lait is a drink."),
    ("Moses spoke to the children of Israel, saying, 'This is the thing which Yahweh has commanded.'",
     "And they brought the offering before the altar, and the priest made atonement for them, and they were "
     "forgiven, every one of them, from the least to the greatest, according to all that was written."),
    ("Yes", "No"),
    ("The land was good.", "Three thousand men went up from Judah to the rock of Etam."),
    ("One hundred sheep.", "Seven years."),
]
MASKED = [
    "The king of [MASK] came to the city.",
    "And God said, let there be [MASK].",
    "[MASK] said to Moses, go down.",
    "THE [MASK] OF ISRAEL WENT OUT.",
    "The [MASK] of the [MASK] was great.",
    "It's my father's [MASK], isn't it?",
    "[MASK] [MASK] the children went out.",
    "He went to the Straße [MASK].",
]
TARGETS = ["god", "Israel", "wilderness", "."]


def ascii_token(t):
    core = t[2:] if t.startswith("##") else t
    return all(33 <= ord(c) < 127 for c in core)


def make_vocab():
    """bert-base-uncased's special layout, then the golden vocab lower-cased and accent-stripped (as an uncased
    vocab is), deduplicated, non-ASCII pieces left out, cut at VOCAB_SIZE."""
    with open(GOLDEN_VOCAB, encoding="utf-8") as f:
        golden = [line.rstrip("\n") for line in f]
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    seen = set(vocab)
    for t in golden[5:]:
        n = unicodedata.normalize("NFD", t.lower())
        n = "".join(c for c in n if unicodedata.category(c) != "Mn")
        if n in seen or n in ("", "##") or not ascii_token(n):
            continue
        seen.add(n)
        vocab.append(n)
        if len(vocab) == VOCAB_SIZE:
            break
    assert len(vocab) == VOCAB_SIZE and vocab.index("[UNK]") == 100 and vocab.index("[MASK]") == 103
    return vocab


def randomise(model, seed):
    """Non-trivial values everywhere, so every tensor matters."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.uniform_(0.6, 1.4)
            elif name.endswith("word_embeddings.weight"):
                p.normal_(0.0, 0.5)
            elif name == "classifier.weight":
                p.normal_(0.0, 1.5)
            else:
                p.normal_(0.0, 0.1)


def save_tokenizer(directory, vocab_path, max_length=MAX_LEN):
    tokenizer = BertTokenizer(vocab_path, do_lower_case=True, model_max_length=max_length)
    tokenizer.save_pretrained(directory)
    shutil.copy(vocab_path, os.path.join(directory, "vocab.txt"))   # BertTokenizer (tokenizers backend) writes none


def fresh(directory):
    path = os.path.join(HERE, directory)
    shutil.rmtree(path, ignore_errors=True)
    return path


def write_jsonl(name, rows):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def floats(t):
    return [float(x) for x in t.reshape(-1).tolist()]


WORST = {}   # float32 (HF) vs float64 (here): the largest absolute and relative differences seen, per kind


def rel_close(a, b, tol, what, floor=0.1):
    """|a - b| <= tol * max(|b|, floor) per component (float32 results differ by ~1e-7 absolutely, which is
    more than 1e-5 relative on components near 0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    if not a.size:
        return
    err = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))
    assert err <= tol, f"{what}: relative difference {err} > {tol}"
    kind = what.split(" ")[0].rstrip(":")
    abs_err = float(np.max(np.abs(a - b)))
    rel_err = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))
    old = WORST.get(kind, (0.0, 0.0))
    WORST[kind] = (max(old[0], abs_err), max(old[1], rel_err))


def write_inputs():
    with open(os.path.join(HERE, "texts.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(TEXTS) + "\n")
    write_jsonl("pairs.jsonl", [{"text": a, "text_pair": b} for a, b in PAIRS])
    with open(os.path.join(HERE, "masked.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(MASKED) + "\n")
    with open(os.path.join(HERE, "targets.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(TARGETS) + "\n")


def check_tokenizers(tok, vocab_path):
    """The fast tokenizer the pipelines use must agree with the pure-Python reference (design §3) here."""
    legacy = BertTokenizerLegacy(vocab_path, do_lower_case=True)
    for text in TEXTS + MASKED:
        assert tok(text)["input_ids"] == legacy(text)["input_ids"], text
    for a, b in PAIRS:
        x = tok(a, b, truncation=True, max_length=MAX_LEN, return_token_type_ids=True)
        y = legacy(a, b, truncation=True, max_length=MAX_LEN, return_token_type_ids=True)
        assert x["input_ids"] == y["input_ids"] and x["token_type_ids"] == y["token_type_ids"], (a, b)
    lengths = [len(tok(t)["input_ids"]) for t in TEXTS]
    assert any(n > ST_MAX_LEN for n in lengths) and any(n > MAX_LEN for n in lengths), lengths
    assert max(len(tok(a, b)["input_ids"]) for a, b in PAIRS) > MAX_LEN
    assert sum(1 for m in MASKED if m.count("[MASK]") == 2) >= 2
    print("token counts of texts.txt (untruncated):", lengths)
    print("token counts of pairs.jsonl (untruncated):", [len(tok(a, b)["input_ids"]) for a, b in PAIRS])


def make_models(vocab_path):
    pre = fresh("pretraining")
    config = BertConfig(vocab_size=VOCAB_SIZE, architectures=["BertForPreTraining"], **ENCODER)
    model = BertForPreTraining(config)
    randomise(model, 1301)
    model.save_pretrained(pre)
    save_tokenizer(pre, vocab_path)

    for name, num_labels, problem_type, labels, seed in [
        ("classification", 3, "single_label_classification", LABELS3, 1309),   # a seed where 3 labels occur
        ("classification-one-label", 1, None, None, 1310),
        ("regression", 1, "regression", None, 1311),
    ]:
        kwargs = dict(num_labels=num_labels, architectures=["BertForSequenceClassification"])
        if labels:
            kwargs.update(id2label=labels, label2id={v: k for k, v in labels.items()})
        if problem_type:
            kwargs["problem_type"] = problem_type
        model = BertForSequenceClassification(BertConfig(vocab_size=VOCAB_SIZE, **ENCODER, **kwargs))
        randomise(model, seed)
        d = fresh(name)
        model.save_pretrained(d)
        save_tokenizer(d, vocab_path)
        with open(os.path.join(d, "config.json")) as f:
            saved = json.load(f)
        assert saved.get("problem_type") == problem_type and saved["vocab_size"] == VOCAB_SIZE, (name, saved)
    return pre


def make_sentence_transformers(pre, vocab_path, tmp):
    """The pretraining encoder as sentence-transformers directories."""
    encoder = os.path.join(tmp, "encoder")
    BertModel.from_pretrained(pre).save_pretrained(encoder)     # bert.* of BertForPreTraining, pooler included
    save_tokenizer(encoder, vocab_path)

    st_dir = fresh("sentence-transformers")
    transformer = models.Transformer(encoder, max_seq_length=ST_MAX_LEN)
    pooling = models.Pooling(transformer.get_word_embedding_dimension(), "mean")
    SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu").save(
        st_dir, create_model_card=False)
    shutil.copy(vocab_path, os.path.join(st_dir, "vocab.txt"))
    assert os.path.isdir(os.path.join(st_dir, "2_Normalize")), "sentence-transformers wrote no Normalize folder"

    def legacy(name, pooling_mode, normalize):
        """The format sentence-transformers 2.x wrote (most Hub models, e.g. all-MiniLM-L6-v2)."""
        d = fresh(name)
        os.makedirs(os.path.join(d, "1_Pooling"))
        for f in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]:
            shutil.copy(os.path.join(encoder, f), d)                 # tokenizer model_max_length stays 64
        modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
        if normalize:                                                # listed, but no folder written
            modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                            "type": "sentence_transformers.models.Normalize"})
        pool = {"word_embedding_dimension": ENCODER["hidden_size"],
                "pooling_mode_cls_token": pooling_mode == "cls",
                "pooling_mode_mean_tokens": pooling_mode == "mean",
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False}
        for path, obj in [("modules.json", modules), ("sentence_bert_config.json",
                          {"max_seq_length": ST_MAX_LEN, "do_lower_case": False}), ("1_Pooling/config.json", pool)]:
            with open(os.path.join(d, path), "w") as f:
                json.dump(obj, f, indent=2)
                f.write("\n")
        return d

    nofolder = legacy("sentence-transformers-normalize-nofolder", "mean", True)
    cls_dir = legacy("sentence-transformers-cls", "cls", False)
    assert not os.path.exists(os.path.join(nofolder, "2_Normalize"))
    return [(st_dir, "st-encode.jsonl", "mean", True), (nofolder, "st-encode-nofolder.jsonl", "mean", True),
            (cls_dir, "st-encode-cls.jsonl", "cls", False)]


def encode(tok, texts, max_length, pair=False):
    if pair:
        return tok([a for a, _ in texts], [b for _, b in texts], truncation=True, max_length=max_length,
                   padding=True, return_tensors="pt")
    return tok(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")


def mean_pool(h, mask):
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)


def max_pool(h, mask):
    return h.masked_fill(mask.unsqueeze(-1) == 0, -1e9).max(1).values


def make_embeddings(pre, tok):
    model = BertModel.from_pretrained(pre, attn_implementation="eager").double().eval()
    enc = encode(tok, TEXTS, MAX_LEN)
    mask = enc["attention_mask"]
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
        # Padding must not matter: each text alone, unpadded, gives the same vectors.
        for i, text in enumerate(TEXTS):
            alone = model(**tok(text, truncation=True, max_length=MAX_LEN, return_tensors="pt"),
                          output_hidden_states=True)
            n = int(mask[i].sum())
            assert torch.allclose(alone.last_hidden_state[0], out.last_hidden_state[i, :n], rtol=1e-12, atol=1e-12)
            assert torch.allclose(alone.pooler_output[0], out.pooler_output[i], rtol=1e-12, atol=1e-12)
    last, second = out.hidden_states[-1], out.hidden_states[-2]
    assert torch.equal(last, out.last_hidden_state) and len(out.hidden_states) == 3
    mean = mean_pool(last, mask)
    outputs = {
        "embed-cls.jsonl": last[:, 0],
        "embed-mean.jsonl": mean,
        "embed-max.jsonl": max_pool(last, mask),
        "embed-pooler.jsonl": out.pooler_output,
        "embed-mean-normalized.jsonl": mean / mean.norm(dim=1, keepdim=True),
        "embed-mean-layer-2.jsonl": mean_pool(second, mask),
        "embed-cls-layers-1-2-concat.jsonl": torch.cat([last[:, 0], second[:, 0]], dim=1),
        "embed-mean-layers-1-2-mean.jsonl": (mean_pool(last, mask) + mean_pool(second, mask)) / 2,
    }
    for name, vectors in outputs.items():
        write_jsonl(name, [{"embedding": floats(v)} for v in vectors])
    # HF in float32 (what the Swift side is compared with) against these float64 values.
    model32 = BertModel.from_pretrained(pre).eval()
    with torch.no_grad():
        out32 = model32(**enc)
    rel_close(out32.last_hidden_state.numpy(), last.numpy(), 1e-5, "embed (float32 last hidden state)")
    rel_close(out32.pooler_output.numpy(), out.pooler_output.numpy(), 1e-5, "embed (float32 pooler)")
    rows = []
    for i in range(len(TEXTS)):
        n = int(mask[i].sum())
        rows.append({"tokens": tok.convert_ids_to_tokens(enc["input_ids"][i, :n].tolist()),
                     "embeddings": [floats(v) for v in last[i, :n]]})
    write_jsonl("embed-tokens.jsonl", rows)
    return model, mean


def make_st_encodings(model64, tok, st_dirs, untruncated_mean):
    enc = encode(tok, TEXTS, ST_MAX_LEN)
    with torch.no_grad():
        h = model64(**enc).last_hidden_state
    by_hand = {"mean": mean_pool(h, enc["attention_mask"]), "cls": h[:, 0]}
    first = None
    for directory, name, mode, normalize in st_dirs:
        st = SentenceTransformer(directory, device="cpu")
        assert st.max_seq_length == ST_MAX_LEN, (directory, st.max_seq_length)
        e32 = st.encode(TEXTS, convert_to_numpy=True, batch_size=len(TEXTS))
        st.double()
        e64 = st.encode(TEXTS, convert_to_numpy=True, batch_size=len(TEXTS))
        assert e32.dtype == np.float32 and e64.dtype == np.float64
        expected = by_hand[mode]
        if normalize:
            expected = expected / expected.norm(dim=1, keepdim=True)
        rel_close(e64, expected.numpy(), 1e-12, f"{name}: sentence-transformers float64 vs by hand")
        rel_close(e32, e64, 1e-5, f"{name}: sentence-transformers float32 vs float64")
        if first is None:
            first = e64
        elif mode == "mean":
            rel_close(e64, first, 1e-14, f"{name}: legacy format vs the format 6.3 saves")
        write_jsonl(name, [{"embedding": [float(x) for x in row]} for row in e64])
    # max_seq_length 24 truncates: a text longer than 24 tokens gets another vector than at 64.
    lengths = enc["attention_mask"].sum(1)
    full = untruncated_mean / untruncated_mean.norm(dim=1, keepdim=True)
    truncated = [i for i, t in enumerate(TEXTS) if len(tok(t)["input_ids"]) > ST_MAX_LEN]
    assert truncated and all(int(lengths[i]) == ST_MAX_LEN for i in truncated)
    for i in truncated:
        assert float((torch.from_numpy(first[i]) - full[i]).abs().max()) > 1e-3, i
    for i in set(range(len(TEXTS))) - set(truncated):
        rel_close(first[i], full[i].numpy(), 1e-12, f"text {i} (not truncated)")


def decode_rule(tok, ids, skip_special):
    """The decoding rule of the module docstring, to check it against tokenizer.decode."""
    special = set(tok.all_special_ids)
    pieces = []
    for t in tok.convert_ids_to_tokens([i for i in ids if not (skip_special and i in special)]):
        if pieces:
            t = t[2:] if t.startswith("##") else " " + t
        for a, b in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                     (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]:
            t = t.replace(a, b)
        pieces.append(t)
    return "".join(pieces)


def check_same_predictions(mine, theirs, what, tol=1e-5):
    """Same tokens and sequences, scores within tol (relative)."""
    a = mine if isinstance(mine[0], list) else [mine]
    b = theirs if isinstance(theirs[0], list) else [theirs]
    assert len(a) == len(b), what
    for x, y in zip(a, b):
        assert [(d["token"], d["token_str"], d["sequence"]) for d in x] == \
               [(d["token"], d["token_str"], d["sequence"]) for d in y], (what, x, y)
        rel_close([d["score"] for d in x], [d["score"] for d in y], tol, what)


def make_fill_mask(pre, tok):
    # The pipeline wants a masked-LM model (output "logits"): BertForMaskedLM, which takes bert.* and
    # cls.predictions.* of the pretraining directory (what pipeline("fill-mask", model=DIR) loads).
    model64 = BertForMaskedLM.from_pretrained(pre, attn_implementation="eager").double().eval()
    pipe64 = pipeline("fill-mask", model=model64, tokenizer=tok)
    pipe32 = pipeline("fill-mask", model=pre)
    assert pipe64.model.dtype == torch.float64 and type(pipe32.model).__name__ == "BertForMaskedLM"
    mask_id = tok.mask_token_id
    # "god" and "." are vocab entries; "Israel" is not (case) and becomes "israel" through the lower-casing
    # tokenizer; "wilderness" is not one token and becomes its first piece "wild".
    target_ids = sorted(int(i) for i in pipe64.get_target_ids(TARGETS))
    assert target_ids == sorted(tok.convert_tokens_to_ids(["god", "israel", "wild", "."])), target_ids
    top5, targets = [], []
    for line in MASKED:
        r64 = pipe64(line, top_k=5)
        check_same_predictions(r64, pipe32(line, top_k=5), f"fill-mask {line!r}")
        # The top k+1 probabilities at each mask are clearly apart, so float32 cannot reorder them.
        ids = tok(line, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            probs = model64(input_ids=ids).logits[0, ids[0] == mask_id].softmax(-1)
        for p in probs:
            top = p.topk(6).values
            gaps = (top[:-1] - top[1:]) / top[:-1]
            assert float(gaps.min()) > 1e-4, (line, top)
        # My statement of the decoding rule gives the pipeline's strings.
        single = ids[0].tolist().count(mask_id) == 1
        for per_mask, (position) in zip(r64 if not single else [r64], (ids[0] == mask_id).nonzero()[:, 0].tolist()):
            for d in per_mask:
                filled = ids[0].tolist()
                filled[position] = d["token"]
                filled = [i for i in filled if i != tok.pad_token_id]
                assert d["sequence"] == decode_rule(tok, filled, single), (d, decode_rule(tok, filled, single))
                assert d["token_str"] == decode_rule(tok, [d["token"]], False)
        top5.append(r64)
        t64 = pipe64(line, targets=TARGETS, top_k=3)
        check_same_predictions(t64, pipe32(line, targets=TARGETS, top_k=3), f"fill-mask targets {line!r}")
        targets.append(t64)
    write_jsonl("fill-mask-top5.jsonl", top5)
    write_jsonl("fill-mask-targets.jsonl", targets)
    return model64


def make_nsp(model64, tok):
    rows = []
    with torch.no_grad():
        for a, b in PAIRS:
            enc = tok(a, b, truncation=True, max_length=MAX_LEN, return_tensors="pt")
            logits = model64(**enc).seq_relationship_logits[0]
            rows.append({"is_next": float(logits.softmax(-1)[0]), "logits": floats(logits)})
    assert min(abs(r["is_next"] - 0.5) for r in rows) > 1e-3
    write_jsonl("nsp.jsonl", rows)


def pipeline_rule(config):
    if config.problem_type == "regression":
        return "none"
    if config.problem_type == "multi_label_classification" or config.num_labels == 1:
        return "sigmoid"
    return "softmax"


def make_predictions(tok):
    inputs_text = TEXTS
    inputs_pairs = [{"text": a, "text_pair": b} for a, b in PAIRS]
    for directory, name, inputs, top_k, expected_rule in [
        ("classification", "predict-classification.jsonl", inputs_text, None, "softmax"),
        ("classification", "predict-classification-top3.jsonl", inputs_text, 3, "softmax"),
        ("classification", "predict-classification-pairs.jsonl", inputs_pairs, None, "softmax"),
        ("classification-one-label", "predict-one-label.jsonl", inputs_text, None, "sigmoid"),
        ("regression", "predict-regression.jsonl", inputs_text, None, "none"),
    ]:
        path = os.path.join(HERE, directory)
        model64 = BertForSequenceClassification.from_pretrained(path, attn_implementation="eager").double().eval()
        config = model64.config
        assert pipeline_rule(config) == expected_rule, (directory, config.problem_type, config.num_labels)
        pipe32 = pipeline("text-classification", model=path)
        pipe64 = pipeline("text-classification", model=model64, tokenizer=tok)
        rows = []
        for x in inputs:
            enc = (tok(x["text"], x["text_pair"], truncation=True, return_tensors="pt") if isinstance(x, dict)
                   else tok(x, truncation=True, return_tensors="pt"))
            assert enc["input_ids"].shape[1] <= MAX_LEN       # tokenizer model_max_length = 64
            with torch.no_grad():
                logits = model64(**enc).logits[0]
            scores = {"softmax": logits.softmax(-1), "sigmoid": logits.sigmoid(), "none": logits}[expected_rule]
            ranked = [{"label": config.id2label[i], "score": float(s)} for i, s in enumerate(scores)]
            ranked.sort(key=lambda d: d["score"], reverse=True)
            if len(ranked) > 1:
                assert ranked[0]["score"] - ranked[1]["score"] > 1e-4 * ranked[0]["score"], (name, x, ranked)
            row = ranked[:top_k] if top_k else ranked[0]
            for pipe in (pipe32, pipe64):
                got = pipe(x, truncation=True, top_k=top_k) if top_k else pipe(x, truncation=True)
                if isinstance(x, str) and not top_k:
                    got = got[0]                            # the legacy call wraps one input's dict in a list
                mine = row if top_k else [row]
                got = got if top_k else [got]
                assert [d["label"] for d in got] == [d["label"] for d in mine], (name, x, got, mine)
                rel_close([d["score"] for d in got], [d["score"] for d in mine], 1e-5, f"{name} {x!r}")
            rows.append(row)
        if name.startswith("predict-classification"):   # labels vary (all 3 on texts.txt)
            labels = {(r[0] if top_k else r)["label"] for r in rows}
            assert len(labels) == (2 if "pairs" in name else 3), (name, labels)
        write_jsonl(name, rows)


def main():
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    tmp = os.path.join(HERE, ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    vocab_path = os.path.join(tmp, "vocab.txt")
    with open(vocab_path, "w", encoding="utf-8") as f:
        f.write("\n".join(make_vocab()) + "\n")
    write_inputs()
    pre = make_models(vocab_path)
    tok = AutoTokenizer.from_pretrained(pre)
    assert type(tok).__name__ == "BertTokenizer" and tok.do_lower_case and tok.model_max_length == MAX_LEN
    assert not tok.clean_up_tokenization_spaces
    check_tokenizers(tok, vocab_path)
    st_dirs = make_sentence_transformers(pre, vocab_path, tmp)
    model64, untruncated_mean = make_embeddings(pre, tok)
    make_st_encodings(model64, tok, st_dirs, untruncated_mean)
    make_fill_mask(pre, tok)
    make_nsp(BertForPreTraining.from_pretrained(pre, attn_implementation="eager").double().eval(), tok)
    make_predictions(tok)
    shutil.rmtree(tmp)
    for kind, (abs_err, rel_err) in sorted(WORST.items()):
        print(f"  largest difference, {kind}: {abs_err:.2e} absolute, {rel_err:.2e} relative")
    print(f"made with torch {torch.__version__}, transformers {transformers.__version__}, "
          f"sentence-transformers {sentence_transformers.__version__}: all checks passed")


if __name__ == "__main__":
    main()
