#!/usr/bin/env python3
"""Peer benchmark of `bert-pretrain embed`: sentence embeddings with transformers + torch, or ONNX Runtime.

What a user would run instead of `embed --pooling mean`: the HF BERT checkpoint directory loaded as
transformers' BertModel (float32) with its own tokenizer (AutoTokenizer: the fast one, as pipelines
use), and every input line embedded as HF's feature-extraction pipeline batches them: `--batch` lines
at a time IN INPUT ORDER (no sorting by length), each batch padded to its own longest row, truncated
to the model's max_position_embeddings, under torch.inference_mode(); then mean pooling over the
attention mask, sentence-transformers' rule: sum(h * mask) / max(sum(mask), 1e-9).

  python3 jobs/bench/torch_embed_bench.py --checkpoint DIR --input lines.txt --threads 1 --batch 32
  python3 jobs/bench/torch_embed_bench.py --checkpoint DIR --input lines.txt --engine onnx --output e.npy
  python3 jobs/bench/torch_embed_bench.py --checkpoint DIR --input lines.txt --engine onnx-fused --threads 2

--engine onnx: the same BertModel exported once with torch.onnx.export (dynamic batch and sequence
axes; output last_hidden_state), cached as --onnx-file (default DIR/../onnx/<DIR name>.onnx), run by
onnxruntime's CPUExecutionProvider with intra_op_num_threads = --threads and the session's default
graph optimisations; tokenisation and pooling as above, in numpy. --engine onnx-fused: ONNX Runtime's
best case for BERT on CPU, as its BERT guide makes it: the TorchScript exporter over eager attention,
then onnxruntime.transformers' BERT optimizer (fused Attention, EmbedLayerNormalization,
SkipLayerNormalization, BiasGelu), cached as DIR/../onnx/<DIR name>.fused.onnx. (The default dynamo
export keeps attention unfused: the optimizer's patterns do not match it.) Export and optimisation run
in a child process, so the timing process never imports torch and its peak RSS is ORT's own.

Timed: tokenise + forward + pool of every input (one warm-up batch first, not timed), excluding model
load. Prints one JSON line on stdout:
  {"engine", "threads", "batch", "texts", "tokens", "seconds", "texts_per_s", "peak_rss_mb", "versions"}
tokens = real (unpadded) tokens, [CLS] and [SEP] included; peak_rss_mb = getrusage(RUSAGE_SELF).ru_maxrss
of this process (run one engine per process). --output FILE.npy saves the [N, H] float32 matrix.
A tool for the benchmark write-up (jobs/bench-embed.sh), never part of the tests.
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True, help="HF BERT directory (config.json, model.safetensors, vocab.txt)")
    p.add_argument("--input", required=True, help="one text per line")
    p.add_argument("--engine", choices=["torch", "onnx", "onnx-fused"], default="torch")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads / ORT intra_op_num_threads")
    p.add_argument("--batch", type=int, default=32, help="lines per forward pass, in input order")
    p.add_argument("--sort-by-length", action="store_true",
                   help="batch the lines longest first, as sentence-transformers' encode does (output in input order)")
    p.add_argument("--output", help="save the [N, H] float32 embeddings here (np.save)")
    p.add_argument("--onnx-file", help="exported model cache (default: DIR/../onnx/<DIR name>.onnx)")
    p.add_argument("--export-only", action="store_true", help=argparse.SUPPRESS)  # the export child
    return p.parse_args()


def max_length(checkpoint):
    with open(os.path.join(checkpoint, "config.json")) as f:
        return json.load(f)["max_position_embeddings"]


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    if not lines or any(not line.strip() for line in lines):
        sys.exit(f"torch_embed_bench.py: {path}: empty input or an empty line")
    return lines


def onnx_path(args):
    if args.onnx_file:
        return args.onnx_file
    ckpt = os.path.abspath(args.checkpoint)
    suffix = ".fused.onnx" if args.engine == "onnx-fused" else ".onnx"
    return os.path.join(os.path.dirname(ckpt), "onnx", os.path.basename(ckpt) + suffix)


def export_onnx(checkpoint, path, fused):
    """BertModel → ONNX (inputs input_ids, attention_mask, token_type_ids [batch, seq] int64; output
    last_hidden_state [batch, seq, hidden]), batch and sequence dynamic.
    fused=False: torch.onnx.export's default (dynamo) exporter, the model as loaded (SDPA attention).
    fused=True: the TorchScript exporter (dynamo=False, opset 17) over eager attention, then
    onnxruntime.transformers' BERT optimizer, whose fusions (Attention, EmbedLayerNormalization,
    SkipLayerNormalization, BiasGelu) match that graph; prints what it fused."""
    import torch
    from transformers import BertModel

    class LastHidden(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    bert = BertModel.from_pretrained(checkpoint, dtype=torch.float32, **({"attn_implementation": "eager"} if fused else {}))
    model = LastHidden(bert.eval())
    ids = torch.randint(1000, 2000, (2, 16), dtype=torch.int64)
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    inputs, names = (ids, mask, torch.zeros_like(ids)), ["input_ids", "attention_mask", "token_type_ids"]
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with torch.inference_mode():
        if fused:
            axes = {name: {0: "batch", 1: "seq"} for name in names + ["last_hidden_state"]}
            torch.onnx.export(model, inputs, tmp, dynamo=False, opset_version=17, input_names=names,
                              output_names=["last_hidden_state"], dynamic_axes=axes)
        else:
            batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=max_length(checkpoint))
            torch.onnx.export(model, inputs, tmp, dynamo=True, external_data=False, input_names=names,
                              output_names=["last_hidden_state"],
                              dynamic_shapes={name: {0: batch, 1: seq} for name in names})
    if fused:
        from onnxruntime.transformers.optimizer import optimize_model
        optimized = optimize_model(tmp, model_type="bert", num_heads=bert.config.num_attention_heads,
                                   hidden_size=bert.config.hidden_size, use_gpu=False)
        fusions = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
        print(f"onnxruntime.transformers optimizer fused: {fusions}", file=sys.stderr)
        optimized.save_model_to_file(tmp)
    os.replace(tmp, path)


def versions(engine):
    import numpy
    import tokenizers
    import transformers
    v = {"python": platform.python_version(), "numpy": numpy.__version__, "transformers": transformers.__version__,
         "tokenizers": tokenizers.__version__}
    if engine == "torch":
        import torch
        v["torch"] = torch.__version__
    else:
        import onnx
        import onnxruntime
        v["onnxruntime"] = onnxruntime.__version__
        v["onnx"] = onnx.__version__
    return v


def main():
    args = parse()
    # The fast tokenizer's rayon pool would otherwise use every core at --threads 1.
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[k] = str(args.threads)
    if args.export_only:
        export_onnx(args.checkpoint, onnx_path(args), fused=args.engine == "onnx-fused")
        return 0

    import numpy as np
    from transformers import AutoTokenizer

    texts = read_lines(args.input)
    limit = max_length(args.checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)

    if args.engine == "torch":
        import torch
        from transformers import BertModel
        torch.set_num_threads(args.threads)
        model = BertModel.from_pretrained(args.checkpoint, dtype=torch.float32).eval()

        def embed(batch):
            enc = tokenizer(batch, padding=True, truncation=True, max_length=limit, return_tensors="pt")
            with torch.inference_mode():
                h = model(**enc).last_hidden_state                              # [B, S, H]
                mask = enc["attention_mask"].unsqueeze(-1).to(h.dtype)          # [B, S, 1]
                pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)        # [B, H]
            return pooled.numpy(), int(enc["attention_mask"].sum())
    else:
        path = onnx_path(args)
        if not os.path.exists(path):
            print(f"exporting {args.checkpoint} to {path}", file=sys.stderr, flush=True)
            child = [sys.executable, os.path.abspath(__file__), "--checkpoint", args.checkpoint, "--input", args.input,
                     "--onnx-file", path, "--engine", args.engine, "--export-only"]
            subprocess.run(child, check=True, stdout=sys.stderr)
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

        def embed(batch):
            enc = tokenizer(batch, padding=True, truncation=True, max_length=limit, return_tensors="np")
            feed = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
            h = session.run(["last_hidden_state"], feed)[0]                      # [B, S, H]
            mask = feed["attention_mask"][:, :, None].astype(np.float32)         # [B, S, 1]
            pooled = (h * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)           # [B, H]
            return pooled.astype(np.float32), int(feed["attention_mask"].sum())

    order = list(range(len(texts)))
    if args.sort_by_length:   # SentenceTransformer.encode: argsort of -len(text) (characters), then restore the order
        order = sorted(order, key=lambda i: -len(texts[i]))
    batches = [[texts[i] for i in order[k:k + args.batch]] for k in range(0, len(texts), args.batch)]
    embed(batches[0])                                                            # warm-up, not timed
    start = time.perf_counter()
    out, tokens = [], 0
    for batch in batches:
        vectors, n = embed(batch)
        out.append(vectors)
        tokens += n
    seconds = time.perf_counter() - start
    matrix = np.empty((len(texts), out[0].shape[1]), dtype=np.float32)
    matrix[order] = np.concatenate(out)
    if args.output:
        np.save(args.output, matrix)
    print(json.dumps({
        "engine": args.engine, "threads": args.threads, "batch": args.batch, "texts": len(texts), "tokens": tokens,
        "seconds": round(seconds, 3), "texts_per_s": round(len(texts) / seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "versions": versions(args.engine)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
