#!/usr/bin/env python3
"""Peer benchmark of `finetune`: training steps of Hugging Face BertForSequenceClassification on CPU.

What a user would run instead of `bert-pretrain finetune`: the model built from a BertConfig (no
download, random weights, fixed seed), AdamW set up as HF Trainer sets it up, and whole steps timed
after warm-up (zero_grad + forward with labels + backward + gradient clipping + optimizer step +
learning-rate schedule step). A tool for the benchmark write-up, never part of the tests.

  python3 jobs/bench/torch_finetune_bench.py --size bert-tiny bert-small --threads 1
  python3 jobs/bench/torch_finetune_bench.py --size bert-base --threads 2 --steps 3 --warmup 1
  python3 jobs/bench/torch_finetune_bench.py --size bert-small --regression --json bench.jsonl
  python3 jobs/bench/torch_finetune_bench.py --size bert-small --lengths train-lengths.txt
  python3 jobs/bench/torch_finetune_bench.py --size bert-small --bf16      # HF Trainer's --bf16

Optimizer, as HF Trainer's defaults make it: torch.optim.AdamW(lr 2e-5, betas (0.9, 0.999),
eps 1e-8, fused=True as Trainer picks with torch >= 2.8), two parameter groups: weight decay 0.01
except for biases and LayerNorm parameters (decay 0); clip_grad_norm_(1.0); linear schedule
with 10 % warm-up over the timed run. Dropout 0.1 (hidden, attention, and the classifier's).

Batches. Default: `--batch` full-length synthetic pairs of `--seq-length` tokens,
[CLS] A [SEP] B [SEP] split at a random point, token_type_ids 0 up to and including the first
[SEP] and 1 after, token ids uniform in [1000, vocab), attention mask all ones; labels uniform
over the classes (or uniform in [0, 5) with --regression). With `--lengths FILE` (one integer per
line: real tokenized lengths, [CLS] and [SEP]s included), the lengths are shuffled (seeded) and
taken `--batch` at a time; each batch is padded to its own longest row, as HF's
DataCollatorWithPadding does (pad id 0, segment 0, mask 0); a length above --seq-length is cut to
it, as run_glue.py's truncation would; rows shorter than 5 tokens are single sentences.

FLOPs (multiply-add = 2 FLOPs; training = 3 x forward), per batch of B rows padded to S:
  per token:    2*L*(4H^2 + 2HI) + 4*L*S*H     dense layers + attention QK^T and probs@V
  per sequence: 2*(H^2 + H*C)                  pooler + classifier
  step = 3 * (B*S * per_token + B * per_sequence)   (padded positions count: PyTorch computes them)
Layer norms, GELU, softmax, biases, embedding gathers and the optimizer are not counted.

Each size runs in a fresh child process, so its peak RSS is its own.
"""
import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time

from bench_sizes import MAX_POSITIONS, SIZES, VOCAB  # noqa: E402 (jobs/bench is the script's folder)
PAD, CLS, SEP = 0, 101, 102
# Batches built ahead of timing; steps cycle through them.
MAX_PREBUILT_BATCHES = 256


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--size", nargs="+", default=["bert-tiny"], choices=list(SIZES))
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (and OMP/MKL/OpenBLAS threads)")
    p.add_argument("--batch", type=int, default=32, help="sequences per step")
    p.add_argument("--seq-length", type=int, default=128, help="length of the synthetic rows; cut-off with --lengths")
    p.add_argument("--lengths", default=None, help="file of real sequence lengths, one integer per line")
    p.add_argument("--num-labels", type=int, default=2)
    p.add_argument("--regression", action="store_true", help="one output, float labels, MSE (problem_type regression)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--steps", type=int, default=5, help="minimum timed steps")
    p.add_argument("--min-seconds", type=float, default=10.0, help="keep timing steps until this much time has passed")
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--max-grad-norm", type=float, default=1.0, help="clip_grad_norm_ as HF Trainer; 0 disables")
    p.add_argument("--dropout", type=float, default=0.1, help="hidden, attention and classifier dropout")
    p.add_argument("--adamw", choices=["fused", "foreach", "loop"], default="fused",
                   help="torch AdamW implementation (fused: HF Trainer's default with torch >= 2.8)")
    p.add_argument("--bf16", action="store_true",
                   help="forward and loss under torch.autocast('cpu', dtype=torch.bfloat16), as HF Trainer's --bf16")
    p.add_argument("--attn", default=None, help="attn_implementation (default: transformers' default)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--json", default=None, help="append one JSON line per size to this file")
    args = p.parse_args()
    if args.regression:
        if args.num_labels not in (1, 2):   # 2 is the default, silently replaced
            p.error(f"--regression has one output; --num-labels {args.num_labels} contradicts it")
        args.num_labels = 1
    elif args.num_labels < 2:
        p.error("--num-labels must be at least 2 for classification (use --regression for one output)")
    if args.batch < 1 or args.seq_length < 5 or args.seq_length > MAX_POSITIONS:
        p.error(f"--batch must be >= 1 and --seq-length in [5, {MAX_POSITIONS}]")
    return args


def read_lengths(path, seq_length):
    """Integers >= 2 ([CLS] [SEP] at least), one per line; blank lines skipped. Returns (lengths, cut)."""
    lengths, cut = [], 0
    try:
        with open(path) as f:
            for number, line in enumerate(f, 1):
                text = line.strip()
                if not text:
                    continue
                try:
                    n = int(text)
                except ValueError:
                    sys.exit(f"{path}:{number}: expected one integer sequence length, found {text!r}")
                if n < 2:
                    sys.exit(f"{path}:{number}: length {n} is below 2 (a row holds at least [CLS] and [SEP])")
                if n > seq_length:
                    n, cut = seq_length, cut + 1
                lengths.append(n)
    except OSError as e:
        sys.exit(f"{path}: cannot read the lengths file: {e.strerror}")
    if not lengths:
        sys.exit(f"{path}: no lengths in the file")
    return lengths, cut


def make_batch(torch, g, lengths, num_labels, regression):
    """One batch padded to its longest row: pairs [CLS] A [SEP] B [SEP], single sentences below 5 tokens."""
    B, S = len(lengths), max(lengths)
    input_ids = torch.full((B, S), PAD, dtype=torch.long)
    token_type_ids = torch.zeros(B, S, dtype=torch.long)
    attention_mask = torch.zeros(B, S, dtype=torch.long)
    for b, n in enumerate(lengths):
        row = torch.randint(1000, VOCAB, (n,), generator=g)
        row[0], row[n - 1] = CLS, SEP
        if n >= 5:
            sep = int(torch.randint(2, n - 2, (1,), generator=g))   # A and B each at least one token
            row[sep] = SEP
            token_type_ids[b, sep + 1:n] = 1
        input_ids[b, :n] = row
        attention_mask[b, :n] = 1
    if regression:
        labels = torch.rand(B, generator=g) * 5
    else:
        labels = torch.randint(0, num_labels, (B,), generator=g)
    return dict(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask, labels=labels)


def batch_lengths(args):
    """The list of per-batch row lengths the run cycles through, and a note on where they came from."""
    if args.lengths is None:
        return [[args.seq_length] * args.batch] * 2, "synthetic full-length"
    lengths, cut = read_lengths(args.lengths, args.seq_length)
    if len(lengths) < args.batch:
        sys.exit(f"{args.lengths}: {len(lengths)} lengths, fewer than one batch of {args.batch}")
    random.Random(args.seed).shuffle(lengths)
    count = min(len(lengths) // args.batch, MAX_PREBUILT_BATCHES)
    note = f"{args.lengths}: {len(lengths)} lengths, mean {statistics.mean(lengths):.1f}, {count} batches"
    if cut:
        note += f", {cut} cut to {args.seq_length}"
    return [lengths[i * args.batch:(i + 1) * args.batch] for i in range(count)], note


def flops(L, H, I, C, B, S):
    per_token = 2 * L * (4 * H * H + 2 * H * I) + 4 * L * S * H
    per_sequence = 2 * (H * H + H * C)
    return 3 * (B * S * per_token + B * per_sequence)


def decay_groups(model, weight_decay):
    """HF Trainer's split: no decay for LayerNorm parameters and any parameter whose name holds 'bias'."""
    import torch
    no_decay = set()
    for module_name, module in model.named_modules():
        if isinstance(module, torch.nn.LayerNorm):
            no_decay.update(f"{module_name}.{n}" for n, _ in module.named_parameters(recurse=False))
    decay, rest = [], []
    for name, p in model.named_parameters():
        (rest if name in no_decay or "bias" in name.lower() else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}], len(decay), len(rest)


def bench(args, name):
    import torch
    import transformers
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    L, H, A, I = SIZES[name]
    C = args.num_labels
    config = transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=H, num_hidden_layers=L, num_attention_heads=A, intermediate_size=I,
        max_position_embeddings=MAX_POSITIONS, type_vocab_size=2, hidden_act="gelu",
        hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout, classifier_dropout=args.dropout,
        num_labels=C, problem_type="regression" if args.regression else "single_label_classification")
    if args.attn:
        config._attn_implementation = args.attn
    torch.manual_seed(args.seed)
    model = transformers.BertForSequenceClassification(config)
    model.train()
    attn = getattr(model.config, "_attn_implementation", "?")
    n_params = sum(p.numel() for p in model.parameters())

    groups, n_decay, n_no_decay = decay_groups(model, args.weight_decay)
    kind = {"fused": dict(fused=True), "foreach": dict(foreach=True), "loop": dict(foreach=False)}[args.adamw]
    optimizer = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, **kind)
    planned = max(args.warmup + args.steps, 1)
    schedule = transformers.get_linear_schedule_with_warmup(optimizer, max(1, int(0.1 * planned)), planned)

    plan, source = batch_lengths(args)
    g = torch.Generator().manual_seed(args.seed + 1)
    batches = [make_batch(torch, g, lengths, C, args.regression) for lengths in plan]

    def step(batch):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = model(**batch).loss
        loss.backward()
        if args.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        schedule.step()
        return float(loss.detach())

    losses = [step(batches[i % len(batches)]) for i in range(args.warmup)]
    times, done_flops, rows, real_tokens, padded_tokens = [], 0, 0, 0, 0
    i = args.warmup
    while len(times) < args.steps or sum(times) < args.min_seconds:
        batch = batches[i % len(batches)]
        t0 = time.perf_counter()
        losses.append(step(batch))
        times.append(time.perf_counter() - t0)
        B, S = batch["input_ids"].shape
        done_flops += flops(L, H, I, C, B, S)
        rows += B
        real_tokens += int(batch["attention_mask"].sum())
        padded_tokens += B * S
        i += 1
    median, total = statistics.median(times), sum(times)
    r = dict(size=name, L=L, H=H, A=A, I=I, threads=torch.get_num_threads(), batch=args.batch,
             seq_length=args.seq_length, lengths=args.lengths, batches_source=source,
             task="regression" if args.regression else "classification", num_labels=C,
             attn=attn, precision="bf16-autocast" if args.bf16 else "fp32", adamw=args.adamw, lr=args.lr, weight_decay=args.weight_decay,
             max_grad_norm=args.max_grad_norm, dropout=args.dropout,
             params=n_params, params_decay=n_decay, params_no_decay=n_no_decay,
             warmup=args.warmup, steps=len(times),
             step_s_median=median, step_s_min=min(times), step_s_mean=statistics.mean(times),
             seq_per_s=args.batch / median, seq_per_s_overall=rows / total,
             real_tokens_per_s=real_tokens / total, padding_share=1 - real_tokens / padded_tokens,
             gflops_per_s=done_flops / total / 1e9, first_loss=losses[0], last_loss=losses[-1],
             max_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
             torch=torch.__version__, transformers=transformers.__version__, python=platform.python_version())
    print(f"{name:11s} thr={r['threads']} B={args.batch} S={args.seq_length} {r['task']}/{C} attn={attn} {r['precision']} "
          f"adamw={args.adamw} params={n_params / 1e6:.2f}M step={median:.3f}s (min {min(times):.3f}, "
          f"{len(times)} steps) seq/s={r['seq_per_s']:.2f} (overall {r['seq_per_s_overall']:.2f}) "
          f"GFLOP/s={r['gflops_per_s']:.1f} padding={100 * r['padding_share']:.0f}% "
          f"loss {losses[0]:.3f}->{losses[-1]:.3f} rss={r['max_rss_mib']:.0f}MiB [{source}]", flush=True)
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(r) + "\n")


def child_argv(size):
    """This command line with --size narrowed to one size (for a child process of its own)."""
    out, skipping = [], False
    for a in sys.argv[1:]:
        if a == "--size" or a.startswith("--size="):
            skipping = a == "--size"
            continue
        if skipping and not a.startswith("-"):
            continue
        skipping = False
        out.append(a)
    return [sys.executable, os.path.abspath(__file__), "--size", size] + out


def main():
    args = parse()
    threads = str(args.threads)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(k, threads)
    if len(args.size) > 1:
        for size in args.size:
            result = subprocess.run(child_argv(size))
            if result.returncode != 0:
                return result.returncode
        return 0
    import torch
    import transformers
    print(f"# torch {torch.__version__} transformers {transformers.__version__} python {platform.python_version()} "
          f"threads={args.threads} cpu_capability={torch.backends.cpu.get_cpu_capability()}", flush=True)
    bench(args, args.size[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
