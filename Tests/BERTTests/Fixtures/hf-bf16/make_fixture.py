#!/usr/bin/env python3
"""Makes the bf16 autocast parity fixture of the BERT tests (run once by hand; CI never runs Python).

    python3 Tests/BERTTests/Fixtures/hf-bf16/make_fixture.py make
        writes checkpoint/ (config.json + model.safetensors from save_pretrained, vocab.txt copied
        from hf-parity) and bf16.json: a 4-sequence batch at T = 16 (16, 11, 7 and 4 real tokens,
        zero padding with attention_mask 0), masked positions and labels, next-sentence labels, and
        what Hugging Face computes on it with the float32 model under
        torch.autocast("cpu", dtype=torch.bfloat16), dropout off (eval mode, gradients on): the MLM,
        NSP and total losses and the gradient of every parameter (all of them are in our layout).
        The "fp64" block holds the same three losses computed in float64 without autocast, the
        exact reference both precisions are measured against, and the L2 norm of each gradient there:
        the attention key biases have a gradient of zero in exact arithmetic (adding q·b_k to every
        score of a query row leaves its softmax unchanged), ~1e-17 in float64, so what any rounded
        run records for them is rounding noise, with no direction to compare. The "operands_only"
        block holds the losses with only the products' operands rounded to bf16 by hand and
        everything else float32 -- what our `MatrixProducts.use(.bf16)` computes.

    python3 Tests/BERTTests/Fixtures/hf-bf16/make_fixture.py explain
        prints how far each step from operands-only rounding to everything autocast rounds is from
        the committed autocast losses (the last step matches them).

The model is a tiny BertForPreTraining with hf-parity's configuration (2 layers, hidden 32, 4 heads,
intermediate 48, vocab 100, 64 positions) and hf-classification's non-trivial weights (LayerNorm
weights U(0.6, 1.4), every other tensor N(0, 0.1)): at the default init (std 0.02) activations
are so close to zero that bf16 rounding hides in the noise.

What autocast rounds (torch 2.13, CPU): linear/matmul run in bf16 (operands rounded to bf16,
float32 accumulation, OUTPUT rounded to bf16); LayerNorm, softmax and GELU are not on autocast's
lists, so they run in the dtype they receive (GELU and the pooler's tanh on bf16 tensors; the
residual sums promote bf16 + float32 to float32; the attention mask is float32, so the scores are
promoted before softmax, but the 1/sqrt(d) scaling before it is a bf16 multiply); cross-entropy is
on the float32 list (bf16 logits cast up). `make` asserts through forward hooks that every Linear
of the model produced a bf16 output, and that rounding exactly those things by hand in float32
(`rounding`) reproduces autocast's losses to 1e-6 relative.

JSON layout: tensors are {"shape": [...], "values": [...]} flattened row-major in PyTorch's shape
(Linear weights [out, in], embeddings [rows, hidden]); the batch uses hf-parity's keys.

Made with torch 2.13 (CPU) and transformers 5.25.
"""
import contextlib
import json
import os
import shutil
import sys

import torch
import torch.nn.functional as F
import transformers.models.bert.modeling_bert as modeling_bert
from transformers import BertConfig, BertForPreTraining

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKPOINT = os.path.join(HERE, "checkpoint")
FIXTURE = os.path.join(HERE, "bf16.json")
VOCAB = os.path.join(HERE, "..", "hf-parity", "checkpoint", "vocab.txt")

T, V = 16, 100
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
LENGTHS = [16, 11, 7, 4]                       # real tokens per row; the last row is one sentence
MASKED_POSITIONS = [[1, 5, 12], [2, 7, 9], [1, 2, 5], [1, 2]]
NEXT_SENTENCE_LABELS = [0, 1, 1, 0]


def make_batch():
    """[CLS] A [SEP] B [SEP] (segment 1 after the first [SEP]) for rows of 5 or more tokens,
    [CLS] A [SEP] otherwise; masked positions replaced by [MASK], labels = the original ids."""
    g = torch.Generator().manual_seed(11)
    B = len(LENGTHS)
    input_ids = torch.zeros(B, T, dtype=torch.long)
    token_type_ids = torch.zeros(B, T, dtype=torch.long)
    attention_mask = torch.zeros(B, T, dtype=torch.long)
    labels = torch.full((B, T), -100, dtype=torch.long)
    for b, n in enumerate(LENGTHS):
        ids = torch.randint(5, V, (n,), generator=g)
        ids[0] = CLS
        ids[n - 1] = SEP
        if n >= 5:
            sep = n // 2
            ids[sep] = SEP
            token_type_ids[b, sep + 1:n] = 1
        input_ids[b, :n] = ids
        attention_mask[b, :n] = 1
        for p in MASKED_POSITIONS[b]:
            assert 0 < p < n - 1 and int(ids[p]) >= 5, (b, p)
            labels[b, p] = int(input_ids[b, p])
            input_ids[b, p] = MASK
    return input_ids, token_type_ids, attention_mask, labels, torch.tensor(NEXT_SENTENCE_LABELS)


def losses(model, batch):
    """HF's losses (mean CE over masked positions + mean CE over NSP), checked against HF's own."""
    input_ids, token_type_ids, attention_mask, labels, nsp_labels = batch
    out = model(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask,
                labels=labels, next_sentence_label=nsp_labels)
    mlm = F.cross_entropy(out.prediction_logits.view(-1, V), labels.view(-1), ignore_index=-100)
    nsp = F.cross_entropy(out.seq_relationship_logits.view(-1, 2), nsp_labels.view(-1))
    total = mlm + nsp
    assert total.dtype in (torch.float32, torch.float64), total.dtype
    assert abs(total.item() - out.loss.item()) <= 1e-6 * abs(total.item()), (total.item(), out.loss.item())
    return out, mlm, nsp, total


def load(dtype):
    model = BertForPreTraining.from_pretrained(CHECKPOINT, attn_implementation="eager").to(dtype)
    model.eval()   # dropout off; gradients are still computed
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    return model


def bf16(t):
    """t rounded to bf16 (nearest even), kept in t's dtype."""
    return t.to(torch.bfloat16).to(t.dtype)


@contextlib.contextmanager
def rounding(model, outputs=False, activations=False, scores=False):
    """Runs the float32 model with bf16 rounding done by hand, to say what autocast rounds.
    Always: the operands of every product (F.linear, torch.matmul) rounded to bf16, the product
    float32 -- what our `MatrixProducts.use(.bf16)` does. outputs: biases and product outputs
    rounded too (autocast's linear/matmul return bf16). activations: GELU and tanh outputs rounded
    (they run on bf16 tensors under autocast). scores: the attention scores rounded again after the
    1/sqrt(d) scaling (a bf16 multiply under autocast)."""
    out = bf16 if outputs else (lambda t: t)
    linear, matmul, attention = F.linear, torch.matmul, modeling_bert.eager_attention_forward

    def rounded_linear(x, w, b=None):
        y = linear(bf16(x), bf16(w))
        return out(y + (out(b) if b is not None else 0))

    def rounded_matmul(a, b):
        return out(matmul(bf16(a), bf16(b)))

    def rounded_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        scaling = query.size(-1) ** -0.5 if scaling is None else scaling
        weights = bf16(rounded_matmul(query, key.transpose(2, 3)) * scaling)
        if attention_mask is not None:
            weights = weights + attention_mask
        weights = F.softmax(weights, dim=-1)
        return rounded_matmul(weights, value).transpose(1, 2).contiguous(), weights

    hooks = [m.register_forward_hook(lambda m, i, o: bf16(o)) for m in model.modules()
             if activations and type(m).__name__ in ("GELUActivation", "Tanh")]
    F.linear, torch.matmul = rounded_linear, rounded_matmul
    if scores:
        modeling_bert.eager_attention_forward = rounded_attention
    try:
        yield
    finally:
        F.linear, torch.matmul, modeling_bert.eager_attention_forward = linear, matmul, attention
        for h in hooks:
            h.remove()


def cosine(a, b):
    a, b = a.double().flatten(), b.double().flatten()
    return float(a @ b / (a.norm() * b.norm()))


def make():
    torch.manual_seed(2718)
    config = BertConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=48, max_position_embeddings=64, type_vocab_size=2,
                        hidden_act="gelu", layer_norm_eps=1e-12)
    config._attn_implementation = "eager"
    model = BertForPreTraining(config)
    # Non-trivial values everywhere (as hf-classification): LayerNorm weights away from 1, biases from 0.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.uniform_(0.6, 1.4)
            else:
                p.normal_(0.0, 0.1)
    model.save_pretrained(CHECKPOINT)  # safetensors
    shutil.copyfile(VOCAB, os.path.join(CHECKPOINT, "vocab.txt"))
    batch = make_batch()

    # The exact reference: float64, no autocast.
    model64 = load(torch.float64)
    _, mlm64, nsp64, total64 = losses(model64, batch)
    total64.backward()
    grads64 = {n: p.grad for n, p in model64.named_parameters()}

    # Plain float32 (no autocast): printed as a yardstick, not stored.
    model32 = load(torch.float32)
    _, mlm32, nsp32, total32 = losses(model32, batch)

    # Only the products' operands rounded to bf16, everything else float32: what our bf16 does.
    model_operands = load(torch.float32)
    with rounding(model_operands):
        _, mlm_op, nsp_op, total_op = losses(model_operands, batch)

    # The float32 model under autocast bf16.
    model = load(torch.float32)
    linear_dtypes = {}
    hooks = [m.register_forward_hook(lambda m, i, o, name=name: linear_dtypes.__setitem__(name, o.dtype))
             for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, mlm, nsp, total = losses(model, batch)
    for h in hooks:
        h.remove()
    # Autocast really ran in bf16: every Linear (q/k/v, attention output, intermediate, output,
    # pooler, MLM transform and decoder, NSP) wrote bf16; the losses themselves are float32.
    assert len(linear_dtypes) == 2 * 6 + 4, sorted(linear_dtypes)
    assert all(d == torch.bfloat16 for d in linear_dtypes.values()), linear_dtypes
    assert out.prediction_logits.dtype == torch.bfloat16, out.prediction_logits.dtype
    assert mlm.dtype == nsp.dtype == total.dtype == torch.float32
    total.backward()

    # What autocast rounds, checked: rounding by hand the products' operands, outputs and biases,
    # GELU/tanh outputs and the scaled attention scores gives autocast's losses.
    model_all = load(torch.float32)
    with rounding(model_all, outputs=True, activations=True, scores=True):
        _, mlm_all, nsp_all, total_all = losses(model_all, batch)
    for emulated, actual in ((mlm_all, mlm), (nsp_all, nsp), (total_all, total)):
        assert abs(emulated.item() - actual.item()) <= 1e-6 * abs(actual.item()), (emulated.item(), actual.item())

    params = dict(model.named_parameters())   # tied decoder weight listed once, as word_embeddings
    for n, p in params.items():
        assert p.grad is not None and p.grad.dtype == torch.float32 and p.grad.abs().max() > 0, n
    names = list(params)
    assert "bert.embeddings.word_embeddings.weight" in names and "cls.seq_relationship.bias" in names

    input_ids, token_type_ids, attention_mask, labels, nsp_labels = batch
    fixture = {
        "made_with": f"torch {torch.__version__}, transformers {__import__('transformers').__version__}, "
                     "float32 model under torch.autocast('cpu', dtype=torch.bfloat16), eval mode; fp64: float64, no autocast",
        "batch": {
            "input_ids": input_ids.tolist(),
            "token_type_ids": token_type_ids.tolist(),
            "attention_mask": attention_mask.tolist(),
            "masked_positions": MASKED_POSITIONS,
            "masked_labels": [[int(labels[b, p]) for p in ps] for b, ps in enumerate(MASKED_POSITIONS)],
            "next_sentence_labels": nsp_labels.tolist(),
        },
        "expected": {
            "mlm_loss": mlm.item(),
            "nsp_loss": nsp.item(),
            "loss": total.item(),
            "gradients": {n: {"shape": list(params[n].shape), "values": params[n].grad.flatten().tolist()}
                          for n in names},
        },
        "fp64": {
            "mlm_loss": mlm64.item(),
            "nsp_loss": nsp64.item(),
            "loss": total64.item(),
            "gradient_norms": {n: grads64[n].norm().item() for n in names},
        },
        "operands_only": {
            "mlm_loss": mlm_op.item(),
            "nsp_loss": nsp_op.item(),
            "loss": total_op.item(),
        },
    }
    with open(FIXTURE, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")

    def rel(x, ref):
        return abs(x.item() - ref.item()) / abs(ref.item())
    print(f"wrote {CHECKPOINT} and {FIXTURE} ({len(names)} gradient tensors)")
    for what, a, o, b, c in (("mlm", mlm, mlm_op, mlm32, mlm64), ("nsp", nsp, nsp_op, nsp32, nsp64),
                             ("loss", total, total_op, total32, total64)):
        print(f"  {what:4}: autocast {a.item():.8f}  operands-only {o.item():.8f}  fp32 {b.item():.8f}  fp64 {c.item():.8f}   "
              f"|autocast-fp64|/fp64 {rel(a, c):.3e}   |operands-only-fp64|/fp64 {rel(o, c):.3e}   "
              f"|fp32-fp64|/fp64 {rel(b, c):.3e}")
    zero = [n for n in names if grads64[n].norm() <= 1e-12 * max(g.norm() for g in grads64.values())]
    print(f"  zero in exact arithmetic (fp64 norm): " + ", ".join(f"{n} {grads64[n].norm().item():.1e} "
          f"(autocast {params[n].grad.norm().item():.1e})" for n in zero))
    cosines = sorted((cosine(params[n].grad, grads64[n]), n) for n in names if n not in zero)
    print(f"  gradient cosine autocast vs fp64: worst {cosines[0][0]:.6f} ({cosines[0][1]}), "
          f"then {cosines[1][0]:.6f} ({cosines[1][1]}), {cosines[2][0]:.6f} ({cosines[2][1]})")


def explain():
    """Prints how far each hand-rounded variant is from the committed autocast losses."""
    with open(FIXTURE) as f:
        expected = json.load(f)["expected"]
    batch = make_batch()
    variants = [("operands (ours)", {}), ("+ outputs, biases", {"outputs": True}),
                ("+ GELU, tanh", {"outputs": True, "activations": True}),
                ("+ scaled scores", {"outputs": True, "activations": True, "scores": True})]
    for label, flags in variants:
        model = load(torch.float32)
        with rounding(model, **flags), torch.no_grad():
            _, mlm, nsp, total = losses(model, batch)
        print(f"  {label:18} relative to autocast: mlm {abs(mlm.item() - expected['mlm_loss']) / expected['mlm_loss']:.2e}  "
              f"nsp {abs(nsp.item() - expected['nsp_loss']) / expected['nsp_loss']:.2e}  "
              f"total {abs(total.item() - expected['loss']) / expected['loss']:.2e}")


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "make":
        make()
    elif len(sys.argv) == 2 and sys.argv[1] == "explain":
        explain()
    else:
        sys.exit(__doc__)
