#!/usr/bin/env python3
"""Makes the Hugging Face BertForSequenceClassification parity fixture (run once by hand; CI never runs Python).

    python3 Tests/BERTTests/Fixtures/hf-classification/make_fixture.py make
        writes, for a 3-class single-label classifier and a one-output regression model (the same
        tiny random encoder as hf-parity, non-trivial weights everywhere):
          checkpoint-classification/, checkpoint-regression/  (save_pretrained: config.json,
                                                               model.safetensors; plus vocab.txt)
          classification.json, regression.json  (a 4-row batch of padded pairs, HF's logits, loss,
                                                 pooled output and 22 gradients, all float64 with
                                                 dropout off)

    python3 Tests/BERTTests/Fixtures/hf-classification/make_fixture.py check DIR
        loads a directory written by our `finetune` with
        AutoModelForSequenceClassification.from_pretrained(DIR, output_loading_info=True), fails
        unless no key is missing, unexpected or mismatched and config.json names the architecture
        and the labels; then prints the logits of the fixture batch next to the fixture's (equal
        when DIR holds the fixture's weights re-saved, different after training).

JSON layout: every tensor is {"shape": [...], "values": [...]} flattened row-major in PyTorch's
shape (Linear weights are [out, in], embeddings [rows, hidden]); "logits" is [B][C] and "pooled"
[B][H] as nested lists.

Made with torch 2.13 (CPU) and transformers 5.25.
"""
import json
import os
import sys

import torch
from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

HERE = os.path.dirname(os.path.abspath(__file__))
ID2LABEL = {0: "contradiction", 1: "entailment", 2: "neutral"}
MODELS = {
    # name: (problem_type, num_labels, labels of the 4 rows, seed of the weights)
    "classification": ("single_label_classification", 3, [1, 0, 2, 1], 1234),
    # Float labels exactly representable in float32, so a float32 reader sees the same targets.
    "regression": ("regression", 1, [0.5, 3.25, 4.75, 1.0], 4321),
}
LENGTHS = [12, 9, 6, 3]   # real tokens per row at T = 12; the last row is a single sentence [CLS] A [SEP]
T, VOCAB = 12, 100
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4

# Tensors whose gradient the fixture records (HF names = our ParameterLayout names).
LAYER1 = "bert.encoder.layer.1."
GRADIENT_NAMES = [
    "classifier.weight",
    "classifier.bias",
    "bert.pooler.dense.weight",
    "bert.pooler.dense.bias",
    "bert.embeddings.word_embeddings.weight",
    "bert.embeddings.LayerNorm.weight",
] + [LAYER1 + s for s in [
    "attention.self.query.weight", "attention.self.query.bias",
    "attention.self.key.weight", "attention.self.key.bias",
    "attention.self.value.weight", "attention.self.value.bias",
    "attention.output.dense.weight", "attention.output.dense.bias",
    "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
    "intermediate.dense.weight", "intermediate.dense.bias",
    "output.dense.weight", "output.dense.bias",
    "output.LayerNorm.weight", "output.LayerNorm.bias",
]]


def paths(name):
    return os.path.join(HERE, f"checkpoint-{name}"), os.path.join(HERE, f"{name}.json")


def make_batch():
    """4 rows at T = 12 with lengths 12, 9, 6, 3: [CLS] A [SEP] B [SEP] (segment 0 up to and including
    the first [SEP], 1 after), the length-3 row a single sentence; padding: id 0, segment 0, mask 0."""
    g = torch.Generator().manual_seed(7)
    B = len(LENGTHS)
    input_ids = torch.zeros(B, T, dtype=torch.long)
    token_type_ids = torch.zeros(B, T, dtype=torch.long)
    attention_mask = torch.zeros(B, T, dtype=torch.long)
    for b, n in enumerate(LENGTHS):
        ids = torch.randint(5, VOCAB, (n,), generator=g)
        ids[0] = CLS
        ids[n - 1] = SEP
        if n >= 5:                   # a pair: A gets positions 1..sep-1, B sep+1..n-2
            sep = n // 2
            ids[sep] = SEP
            token_type_ids[b, sep + 1:n] = 1
        input_ids[b, :n] = ids
        attention_mask[b, :n] = 1
    return input_ids, token_type_ids, attention_mask


def labels_tensor(name):
    problem_type, _, labels, _ = MODELS[name]
    if problem_type == "regression":
        return torch.tensor(labels, dtype=torch.float64)
    return torch.tensor(labels, dtype=torch.long)


def tiny_config(name):
    problem_type, num_labels, _, _ = MODELS[name]
    labels = ID2LABEL if num_labels == 3 else {0: "LABEL_0"}
    config = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=48, max_position_embeddings=64, type_vocab_size=2,
                        hidden_act="gelu", layer_norm_eps=1e-12, num_labels=num_labels,
                        id2label=labels, label2id={v: k for k, v in labels.items()},
                        problem_type=problem_type, architectures=["BertForSequenceClassification"])
    config._attn_implementation = "eager"
    return config


def run(model, name):
    """Forward with HF's own loss (labels given), plus the pooled output; float64 expected."""
    input_ids, token_type_ids, attention_mask = make_batch()
    out = model(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask,
                labels=labels_tensor(name))
    pooled = model.bert(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask).pooler_output
    return out, pooled


def make_one(name):
    checkpoint, fixture_path = paths(name)
    problem_type, num_labels, labels, seed = MODELS[name]
    torch.manual_seed(seed)
    model = BertForSequenceClassification(tiny_config(name))
    # Non-trivial values everywhere (LayerNorm weights away from 1, all biases away from 0) so every
    # term of the gradient shows.
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if "LayerNorm.weight" in pname:
                p.uniform_(0.6, 1.4)
            else:
                p.normal_(0.0, 0.1)
    model.save_pretrained(checkpoint)  # safetensors
    with open(os.path.join(checkpoint, "vocab.txt"), "w") as f:
        special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        f.write("\n".join(special + [f"tok{i}" for i in range(5, VOCAB)]) + "\n")

    # Reload what was saved (float32), compute in float64 with dropout off (eval mode, gradients on).
    model = BertForSequenceClassification.from_pretrained(checkpoint, attn_implementation="eager").double()
    model.eval()
    assert model.config.problem_type == problem_type and model.config.num_labels == num_labels
    out, pooled = run(model, name)
    # HF's loss, checked against the definition in design §9.
    if problem_type == "regression":
        mine = torch.mean((out.logits.squeeze(-1) - labels_tensor(name)) ** 2)
    else:
        mine = torch.nn.functional.cross_entropy(out.logits, labels_tensor(name))
    assert abs(mine.item() - out.loss.item()) < 1e-12, (mine.item(), out.loss.item())
    # Padding must not matter: each row run alone at its own length gives the same logits.
    input_ids, token_type_ids, attention_mask = make_batch()
    with torch.no_grad():
        for b, n in enumerate(LENGTHS):
            alone = model(input_ids=input_ids[b:b + 1, :n], token_type_ids=token_type_ids[b:b + 1, :n]).logits
            assert torch.allclose(alone[0], out.logits[b], rtol=1e-12, atol=1e-12), (b, alone, out.logits[b])
    out.loss.backward()
    params = dict(model.named_parameters())
    for n in GRADIENT_NAMES:
        assert params[n].grad is not None and params[n].grad.abs().max() > 0, f"no gradient for {n}"
    fixture = {
        "made_with": f"torch {torch.__version__}, transformers {__import__('transformers').__version__}, float64, eval mode",
        "problem_type": problem_type,
        "num_labels": num_labels,
        "id2label": {str(k): v for k, v in model.config.id2label.items()},
        "batch": {
            "input_ids": input_ids.tolist(),
            "token_type_ids": token_type_ids.tolist(),
            "attention_mask": attention_mask.tolist(),
            "lengths": LENGTHS,
            "labels": labels,
        },
        "expected": {
            "loss": out.loss.item(),
            "logits": out.logits.tolist(),
            "pooled": pooled.tolist(),
            "gradients": {n: {"shape": list(params[n].shape), "values": params[n].grad.flatten().tolist()}
                          for n in GRADIENT_NAMES},
        },
    }
    with open(fixture_path, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {checkpoint} and {fixture_path}: loss {out.loss.item():.10f}, logits {out.logits.tolist()}")


def make():
    for name in MODELS:
        make_one(name)


def check(directory):
    with open(os.path.join(directory, "config.json")) as f:
        raw = json.load(f)
    for key in ("architectures", "id2label", "label2id", "problem_type"):
        assert key in raw, f"{directory}/config.json has no {key}"
    assert raw["architectures"] == ["BertForSequenceClassification"], f"architectures is {raw['architectures']}"
    print(f"config: problem_type {raw['problem_type']}, id2label {raw['id2label']}, label2id {raw['label2id']}")

    model, info = AutoModelForSequenceClassification.from_pretrained(directory, output_loading_info=True,
                                                                     attn_implementation="eager")
    print("loading info:", info)
    problems = {k: v for k, v in info.items() if v}
    assert not problems, f"from_pretrained({directory}) reported {problems}"
    assert type(model).__name__ == "BertForSequenceClassification", type(model).__name__

    name = "regression" if model.config.problem_type == "regression" else "classification"
    checkpoint, fixture_path = paths(name)
    with open(fixture_path) as f:
        expected = json.load(f)["expected"]
    reference = BertForSequenceClassification.from_pretrained(checkpoint, attn_implementation="eager").state_dict()
    ours = model.state_dict()
    differing = [n for n, t in reference.items() if n not in ours or ours[n].shape != t.shape or not torch.equal(ours[n], t)]
    print(f"tensors equal to {os.path.basename(checkpoint)}: {len(reference) - len(differing)} of {len(reference)}"
          + (" (all: a re-save of the fixture)" if not differing else " (a trained or other model)"))

    model = model.double()
    model.eval()
    with torch.no_grad():
        input_ids, token_type_ids, attention_mask = make_batch()
        logits = model(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask).logits
    print(f"logits of the fixture batch (DIR vs {os.path.basename(fixture_path)}):")
    worst = 0.0
    for b, (row, ref) in enumerate(zip(logits.tolist(), expected["logits"])):
        print(f"  row {b}: {' '.join(f'{x:+.8f}' for x in row)}   |   {' '.join(f'{x:+.8f}' for x in ref)}")
        if len(row) == len(ref):
            worst = max(worst, max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(row, ref)))
    print(f"largest relative difference: {worst:.3e}")
    print(f"OK: {directory} loads as BertForSequenceClassification with no missing/unexpected/mismatched keys")


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "make":
        make()
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        check(sys.argv[2])
    else:
        sys.exit(__doc__)
