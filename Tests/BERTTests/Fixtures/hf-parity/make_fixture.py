#!/usr/bin/env python3
"""Makes the Hugging Face parity fixture of the BERT tests (run once by hand; CI never runs Python).

    python3 Tests/BERTTests/Fixtures/hf-parity/make_fixture.py make
        writes checkpoint/ (config.json + model.safetensors, HF save_pretrained) and parity.json
        (inputs of a 3-sequence batch with padding and masked positions, HF's losses, the [CLS]
        last hidden state and several gradients, all computed in float64 with dropout off).

    python3 Tests/BERTTests/Fixtures/hf-parity/make_fixture.py check DIR
        loads a checkpoint written by our Swift `Checkpoint.save` with
        BertForPreTraining.from_pretrained(DIR) and fails unless there are no missing, unexpected
        or mismatched keys and the fixture batch gives the expected losses.

Made with torch 2.13 (CPU) and transformers 5.23.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertForPreTraining

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKPOINT = os.path.join(HERE, "checkpoint")
PARITY = os.path.join(HERE, "parity.json")

# Tensors whose gradient the fixture records (HF names = our ParameterLayout names).
GRADIENT_NAMES = [
    "bert.embeddings.word_embeddings.weight",          # embedding lookup + tied MLM decoder
    "bert.embeddings.position_embeddings.weight",
    "bert.embeddings.LayerNorm.weight",
    "bert.encoder.layer.0.attention.self.query.weight",
    "bert.encoder.layer.1.attention.self.value.bias",
    "bert.encoder.layer.1.attention.output.LayerNorm.weight",
    "bert.encoder.layer.0.intermediate.dense.weight",
    "bert.pooler.dense.weight",
    "cls.predictions.transform.dense.weight",
    "cls.predictions.transform.LayerNorm.weight",
    "cls.predictions.bias",
    "cls.seq_relationship.weight",
    "cls.seq_relationship.bias",
]


def make_batch():
    """3 sequences, T = 12: lengths 12, 9, 6 (padding), masked positions with labels, NSP labels."""
    g = torch.Generator().manual_seed(7)
    B, T, V = 3, 12, 100
    lengths = [12, 9, 6]
    input_ids = torch.zeros(B, T, dtype=torch.long)
    token_type_ids = torch.zeros(B, T, dtype=torch.long)
    attention_mask = torch.zeros(B, T, dtype=torch.long)
    masked_positions = [[1, 4, 7, 10], [2, 3, 8], [5]]
    labels = torch.full((B, T), -100, dtype=torch.long)
    for b, n in enumerate(lengths):
        ids = torch.randint(5, V, (n,), generator=g)
        ids[0] = 2                   # [CLS]
        sep = n // 2
        ids[sep] = 3                 # [SEP] after A
        ids[n - 1] = 3               # [SEP] after B
        input_ids[b, :n] = ids
        attention_mask[b, :n] = 1
        token_type_ids[b, sep + 1:n] = 1
        for p in masked_positions[b]:
            labels[b, p] = int(input_ids[b, p])
            input_ids[b, p] = 4      # [MASK]
    next_sentence_label = torch.tensor([0, 1, 0])
    return input_ids, token_type_ids, attention_mask, labels, next_sentence_label, masked_positions


def losses(model, batch):
    input_ids, token_type_ids, attention_mask, labels, nsp_labels, _ = batch
    out = model(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask,
                labels=labels, next_sentence_label=nsp_labels, output_hidden_states=True)
    V = model.config.vocab_size
    mlm = F.cross_entropy(out.prediction_logits.view(-1, V), labels.view(-1), ignore_index=-100)
    nsp = F.cross_entropy(out.seq_relationship_logits.view(-1, 2), nsp_labels.view(-1))
    return out, mlm, nsp


def make():
    torch.manual_seed(1234)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=48, max_position_embeddings=64, type_vocab_size=2,
                        hidden_act="gelu", layer_norm_eps=1e-12)
    config._attn_implementation = "eager"
    model = BertForPreTraining(config)
    # Non-trivial values everywhere, LayerNorm included, so every term of the gradient shows.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.uniform_(0.6, 1.4)
            elif name.endswith("bias"):
                p.normal_(0.0, 0.1)
            else:
                p.normal_(0.0, 0.1)
    model.save_pretrained(CHECKPOINT)  # safetensors
    with open(os.path.join(CHECKPOINT, "vocab.txt"), "w") as f:
        special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        f.write("\n".join(special + [f"tok{i}" for i in range(5, 100)]) + "\n")

    # Reload what was saved (float32), compute in float64 with dropout off.
    model = BertForPreTraining.from_pretrained(CHECKPOINT, attn_implementation="eager").double()
    model.eval()
    batch = make_batch()
    out, mlm, nsp = losses(model, batch)
    total = mlm + nsp
    assert abs(total.item() - out.loss.item()) < 1e-12, (total.item(), out.loss.item())
    total.backward()
    params = dict(model.named_parameters())
    input_ids, token_type_ids, attention_mask, labels, nsp_labels, masked_positions = batch
    fixture = {
        "made_with": f"torch {torch.__version__}, transformers {__import__('transformers').__version__}, float64, eval mode",
        "batch": {
            "input_ids": input_ids.tolist(),
            "token_type_ids": token_type_ids.tolist(),
            "attention_mask": attention_mask.tolist(),
            "masked_positions": masked_positions,
            "masked_labels": [[int(labels[b, p]) for p in ps] for b, ps in enumerate(masked_positions)],
            "next_sentence_labels": nsp_labels.tolist(),
        },
        "expected": {
            "mlm_loss": mlm.item(),
            "nsp_loss": nsp.item(),
            "loss": total.item(),
            "cls_hidden": out.hidden_states[-1][:, 0, :].tolist(),
            "gradients": {n: {"shape": list(params[n].shape), "values": params[n].grad.flatten().tolist()}
                          for n in GRADIENT_NAMES},
        },
    }
    with open(PARITY, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {CHECKPOINT} and {PARITY}: loss {total.item():.10f} (mlm {mlm.item():.10f}, nsp {nsp.item():.10f})")


def check(directory):
    model, info = BertForPreTraining.from_pretrained(directory, output_loading_info=True, attn_implementation="eager")
    print("loading info:", info)
    problems = {k: v for k, v in info.items() if v}
    assert not problems, f"from_pretrained({directory}) reported {problems}"
    ref = BertForPreTraining.from_pretrained(CHECKPOINT, attn_implementation="eager")
    ours, theirs = model.state_dict(), ref.state_dict()
    for name, t in theirs.items():
        assert torch.equal(ours[name], t), f"{name} differs from the fixture checkpoint"
    assert model.cls.predictions.decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr(), \
        "decoder not tied to the word embeddings"
    with open(PARITY) as f:
        expected = json.load(f)["expected"]
    model = model.double()
    model.eval()
    _, mlm, nsp = losses(model, make_batch())
    assert abs(mlm.item() - expected["mlm_loss"]) < 1e-12 and abs(nsp.item() - expected["nsp_loss"]) < 1e-12
    print(f"OK: {directory} loads with no missing/unexpected/mismatched keys, equal tensors, tied decoder, same losses")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "make":
        make()
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        check(sys.argv[2])
    else:
        sys.exit(__doc__)
