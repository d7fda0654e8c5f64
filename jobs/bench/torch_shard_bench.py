#!/usr/bin/env python3
"""Peer benchmark of `bert-pretrain bench --data`: BertForPreTraining training steps on real shard rows.

What a PyTorch user would time instead: transformers' BertForPreTraining built from a BertConfig (no
download, random weights, fixed seed, dropout 0.1), AdamW (lr 1e-4, weight decay 0.01), whole steps
(zero_grad + forward + backward + optimizer.step) timed after warm-up, as
../shared/peer-bench/torch_bert_bench.py times them, on exactly the rows `bench --data` computes.
A tool for the benchmark write-up (jobs/bench-unpadded.sh), never part of the tests.

  python3 jobs/bench/torch_shard_bench.py --data work-data/shards-128 --size bert-small --threads 1
  python3 jobs/bench/torch_shard_bench.py --data shards/ --size bert-base --threads 2 --steps 3 --warmup 1 --min-seconds 0

Rows: --data is a folder (its *training* shards, or all its shards if it has none; names ending
.hdf5/.h5/.hdf, not starting with '.', sorted bytewise, as bert-pretrain numbers them) or one shard
file, in NVIDIA's layout, read with h5py. Batch k holds instances k*B .. (k+1)*B-1 of the set in that
order; step s (warm-up included) computes batch s mod K, K = min(warmup + steps, full batches), so
with --min-seconds 0 the timed batches are the ones `bench --data --warmup W --steps N` times.
Each row is fed as HF runs padded pretraining rows: all T positions, attention_mask = input_mask,
token_type_ids = segment_ids; MLM labels -100 everywhere except at masked_lm_positions, which hold
masked_lm_ids (the slots before the first position 0; 0 pads the list, as NVIDIA's run_pretraining.py
reads it and as bert-pretrain's loader fills its -1 slots), next_sentence_label from the shard.

--mlm gathered (default): the MLM head only at the labelled positions, as torch_bert_bench.py's
  gathered step and as bert-pretrain computes it: the fair comparison.
--mlm hf: the stock BertForPreTraining forward (MLM decoder at all B*T positions).

FLOPs (torch_bert_bench.py's formula over the padded batch, with P = the shards' max predictions
per sequence, as `bench --data` counts them; padding included, since PyTorch computes it):
  per token:    2*L*(4H^2 + 2HI) + 4*L*T*H + 2*H^2 + 2*H*V*m    m = 1 (hf) or P/T (gathered)
  per sequence: 2*(H^2 + 2H)
  step = 3 * (B*T * per_token + B * per_sequence)
Also reported: the padding share of the timed batches (1 - sum(input_mask) / (B*T) over them) and
real tokens/s (seq/s * T * (1 - padding share)), the figures `bench --data` reports.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

from bench_sizes import MAX_POSITIONS, SIZES, VOCAB  # noqa: E402 (jobs/bench is the script's folder)
MAX_POS = MAX_POSITIONS
SHARD_EXTENSIONS = {"hdf5", "h5", "hdf"}


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True, help="a folder of shards or one shard file")
    p.add_argument("--size", nargs="+", default=["bert-tiny"], choices=list(SIZES), help="presets, timed one after another")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (and OMP/MKL/OpenBLAS threads)")
    p.add_argument("--batch", type=int, default=32, help="sequences per step (B)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--steps", type=int, default=5, help="minimum timed steps")
    p.add_argument("--min-seconds", type=float, default=10.0,
                   help="keep timing steps until this much time has passed (0: exactly --steps, the batches bench --data times)")
    p.add_argument("--seed", type=int, default=1234, help="seed of the weights and the dropout masks")
    p.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate (weight decay 0.01)")
    p.add_argument("--mlm", choices=["hf", "gathered"], default="gathered",
                   help="MLM head at the labelled positions only (gathered, as bert-pretrain) or at all B*T (hf)")
    p.add_argument("--attn", default=None, help="attn_implementation (default: transformers' default)")
    p.add_argument("--json", default=None, help="append one JSON line per size to this file")
    args = p.parse_args()
    if args.batch < 1 or args.steps < 1 or args.warmup < 0:
        p.error("need --batch >= 1, --steps >= 1, --warmup >= 0")
    return args


def shard_files(data):
    """The shard files `data` stands for, in bert-pretrain's order (ShardFiles.list)."""
    if not os.path.exists(data):
        sys.exit(f"--data {data}: no such file or directory")
    if not os.path.isdir(data):
        return [data]

    def listed(pattern):
        names = [n for n in os.listdir(data) if not n.startswith(".") and (pattern is None or pattern in n)
                 and os.path.splitext(n)[1][1:].lower() in SHARD_EXTENSIONS]
        return [os.path.join(data, n) for n in sorted(names, key=lambda n: n.encode("utf-8"))]

    files = listed("training") or listed(None)
    if not files:
        sys.exit(f"--data {data}: no shard files (*.hdf5, *.h5, *.hdf) in this folder")
    return files


def shard_sizes(h5py, files):
    """T and P of the set (every shard must agree) and its number of instances."""
    T = P = None
    total = 0
    for path in files:
        with h5py.File(path, "r") as f:
            n, t = f["input_ids"].shape
            p = f["masked_lm_positions"].shape[1]
        if T is not None and (t, p) != (T, P):
            sys.exit(f"{path}: max_seq_length x max_predictions_per_seq is {t} x {p}, but {files[0]} has {T} x {P}")
        T, P, total = t, p, total + n
    return T, P, total


def read_rows(np, h5py, files, count):
    """The first `count` instances of the set (in file order) as padded int64 numpy arrays."""
    keys = ["input_ids", "input_mask", "segment_ids", "masked_lm_positions", "masked_lm_ids", "next_sentence_labels"]
    parts = {k: [] for k in keys}
    need = count
    for path in files:
        if need == 0:
            break
        with h5py.File(path, "r") as f:
            take = min(need, f["input_ids"].shape[0])
            for k in keys:
                parts[k].append(np.asarray(f[k][:take], dtype=np.int64))
        need -= take
    return {k: np.concatenate(v) for k, v in parts.items()}


def make_batch(torch, np, rows, lo, hi):
    """Rows lo..hi-1 as HF feeds padded pretraining rows (all T positions, labels -100 off the masked slots)."""
    ids = torch.from_numpy(rows["input_ids"][lo:hi].copy())
    mask = torch.from_numpy(rows["input_mask"][lo:hi].copy())
    segments = torch.from_numpy(rows["segment_ids"][lo:hi].copy())
    labels = torch.full(ids.shape, -100, dtype=torch.long)
    for b, (positions, originals) in enumerate(zip(rows["masked_lm_positions"][lo:hi], rows["masked_lm_ids"][lo:hi])):
        zeros = np.flatnonzero(positions == 0)
        m = int(zeros[0]) if len(zeros) else len(positions)   # slots before the first 0 (0 is [CLS], never masked)
        labels[b, torch.from_numpy(positions[:m].copy())] = torch.from_numpy(originals[:m].copy())
    nsp = torch.from_numpy(rows["next_sentence_labels"][lo:hi].copy())
    return dict(input_ids=ids, token_type_ids=segments, attention_mask=mask, labels=labels, next_sentence_label=nsp)


def flops_per_step(L, H, I, T, V, B, P, mlm):
    m = 1.0 if mlm == "hf" else P / T
    per_tok = 2 * L * (4 * H * H + 2 * H * I) + 4 * L * T * H + 2 * H * H + 2 * H * V * m
    per_seq = 2 * (H * H + 2 * H)
    return 3 * (B * T * per_tok + B * per_seq)


def gathered_loss(torch, model, batch):
    """BertForPreTraining loss with the MLM head applied to masked positions only (torch_bert_bench.py's)."""
    out = model.bert(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                     attention_mask=batch["attention_mask"])
    seq, pooled = out[0], out[1]
    labels = batch["labels"].view(-1)
    sel = (labels != -100).nonzero(as_tuple=True)[0]
    h = seq.reshape(-1, seq.shape[-1]).index_select(0, sel)
    logits = model.cls.predictions(h)
    mlm = torch.nn.functional.cross_entropy(logits, labels.index_select(0, sel))
    nsp = torch.nn.functional.cross_entropy(model.cls.seq_relationship(pooled), batch["next_sentence_label"])
    return mlm + nsp


def bench(args, name, torch, transformers, np, h5py):
    L, H, A, I = SIZES[name]
    files = shard_files(args.data)
    B, planned = args.batch, args.warmup + args.steps
    # Sizes first: K = min(planned steps, full batches) batches are read, no more.
    T, P, total = shard_sizes(h5py, files)
    if total < B:
        sys.exit(f"--data {args.data}: {total} instances in {len(files)} shard(s), fewer than one batch of {B}")
    K = min(planned, total // B)
    rows = read_rows(np, h5py, files, K * B)
    if int(rows["input_ids"].max()) >= VOCAB:
        sys.exit(f"--data {args.data}: token id {int(rows['input_ids'].max())} is outside the model's vocabulary of {VOCAB}")
    if T > MAX_POS:
        sys.exit(f"--data {args.data}: max_seq_length {T} exceeds the model's {MAX_POS} positions")
    batches = [make_batch(torch, np, rows, k * B, (k + 1) * B) for k in range(K)]

    cfg = transformers.BertConfig(vocab_size=VOCAB, hidden_size=H, num_hidden_layers=L, num_attention_heads=A,
                                  intermediate_size=I, max_position_embeddings=MAX_POS, type_vocab_size=2,
                                  hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, hidden_act="gelu")
    if args.attn:
        cfg._attn_implementation = args.attn
    torch.manual_seed(args.seed)
    model = transformers.BertForPreTraining(cfg)
    model.train()
    attn_impl = getattr(model.config, "_attn_implementation", "?")
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)

    def step(batch):
        opt.zero_grad(set_to_none=True)
        if args.mlm == "hf":
            loss = model(**batch).loss
        else:
            loss = gathered_loss(torch, model, batch)
        loss.backward()
        opt.step()
        return float(loss.detach())

    losses = [step(batches[s % K]) for s in range(args.warmup)]
    times, real_tokens, positions = [], 0, 0
    s = args.warmup
    while len(times) < args.steps or sum(times) < args.min_seconds:
        batch = batches[s % K]
        t0 = time.perf_counter()
        losses.append(step(batch))
        times.append(time.perf_counter() - t0)
        real_tokens += int(batch["attention_mask"].sum())
        positions += batch["attention_mask"].numel()
        s += 1
    med = statistics.median(times)
    padding = 1 - real_tokens / positions
    fl = flops_per_step(L, H, I, T, VOCAB, B, P, args.mlm)
    r = dict(size=name, L=L, H=H, A=A, I=I, threads=torch.get_num_threads(), batch=B, seq=T, masked=P,
             mlm=args.mlm, attn=attn_impl, params=n_params, data=args.data, data_files=len(files),
             instances=total, distinct_batches=K, warmup=args.warmup, steps=len(times),
             step_s_median=med, step_s_min=min(times), step_s_mean=statistics.mean(times),
             seq_per_s=B / med, tokens_per_s=B * T / med, padding_share=padding,
             real_tokens_per_s=B / med * T * (1 - padding),
             flops_per_step=fl, gflops_per_s=fl / med / 1e9, first_loss=losses[0], last_loss=losses[-1],
             max_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
             torch=torch.__version__, transformers=transformers.__version__)
    print(f"{name:11s} thr={r['threads']} B={B} T={T} P={P} mlm={args.mlm:8s} attn={attn_impl:5s} "
          f"params={n_params / 1e6:6.2f}M step={med:8.3f}s (min {min(times):.3f}, {len(times)} steps) "
          f"seq/s={r['seq_per_s']:8.2f} padding={100 * padding:.1f}% real tokens/s={r['real_tokens_per_s']:.0f} "
          f"GFLOP/step={fl / 1e9:8.1f} GFLOP/s={r['gflops_per_s']:6.1f} loss {losses[0]:.3f}->{losses[-1]:.3f} "
          f"rss={r['max_rss_mib']:.0f}MiB [{args.data}: {K} batches of {total} instances]", flush=True)
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(r) + "\n")
    del model, opt
    return r


def main():
    args = parse()
    n = str(args.threads)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(k, n)
    import h5py
    import numpy as np
    import torch
    import transformers
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__} transformers {transformers.__version__} h5py {h5py.__version__} "
          f"python {platform.python_version()} threads={torch.get_num_threads()} "
          f"cpu_capability={torch.backends.cpu.get_cpu_capability()}", flush=True)
    for name in args.size:
        bench(args, name, torch, transformers, np, h5py)


if __name__ == "__main__":
    sys.exit(main())
