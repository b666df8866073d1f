#!/usr/bin/env python3
"""What reduced precision costs in attribution error, on a data set's first N rows.

    python3 tools/bench/precision.py CALIG MODEL DATA.tsv [--n 20] [--methods calig,ig,attnlrp,gae]
                                     [--dtypes bf16,f16] [--device cpu] [--work DIR]

Runs `calig batch` once in f32 (the reference) and once per dtype (`--dtypes`; `tf32` means f32
with `--tf32`, for CUDA), then per method over the rows: the median and worst relative L2
distance of the token scores, the mean share of the top-5 words both runs rank highest, the
largest logit difference, and the median |completeness delta| of each run (path methods; the
largest over layers for layer-wise ones). --work keeps the runs' outputs; a rerun reuses them.
Standard library only. docs/performance.md ("On a GPU") has the numbers and the commands.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import tempfile


def rel_l2(a, b):
    num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    den = math.sqrt(sum(y * y for y in b))
    return num / den if den > 0 else num


def worst(delta):
    """|delta|, or the largest |delta| over layers."""
    if isinstance(delta, list):
        return max((abs(d) for d in delta if d is not None), default=0.0)
    return abs(delta)


def top(scores, k=5):
    return set(sorted(range(len(scores)), key=lambda i: -scores[i])[:k])


def run(calig, model, data, n, methods, device, args, out):
    with open(data, encoding="utf-8") as f:
        lines = f.read().splitlines()
    head, rows = lines[0], lines[1:n + 1]
    subset = out + ".tsv"
    with open(subset, "w", encoding="utf-8") as f:
        f.write("\n".join([head, *rows]) + "\n")
    got = {}
    for method in methods.split(","):  # batch takes one method per run
        jsonl = f"{out}-{method}.jsonl"
        if os.path.exists(jsonl) and sum(1 for _ in open(jsonl, encoding="utf-8")) == len(rows):
            cmd = None
        else:
            cmd = [calig, "batch", "--model", model, "--input", subset, "--output", jsonl,
                   "--method", method, "--device", device, *args]
        p = subprocess.run(cmd, capture_output=True, text=True) if cmd else None
        if p is not None and p.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)}: {p.stderr.strip()}")
        with open(jsonl, encoding="utf-8") as f:
            for line in f:
                e = json.loads(line)
                got[(e.get("id"), e["method"])] = e
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("calig")
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--methods", default="calig,ig,attnlrp,gae")
    ap.add_argument("--dtypes", default="bf16,f16")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--work")
    a = ap.parse_args()
    tmp = a.work or tempfile.mkdtemp()
    os.makedirs(tmp, exist_ok=True)
    ref = run(a.calig, a.model, a.data, a.n, a.methods, a.device, [], os.path.join(tmp, "f32"))
    print(f"model {a.model}, {a.n} rows of {a.data}, device {a.device}")
    print("| precision | method | median rel. L2 | worst rel. L2 | top-5 agreement | max logit diff |"
          " median abs delta (f32 → this) |")
    print("|---|---|---|---|---|---|---|")
    for dtype in a.dtypes.split(","):
        args = ["--tf32"] if dtype == "tf32" else ["--dtype", dtype]
        got = run(a.calig, a.model, a.data, a.n, a.methods, a.device, args,
                  os.path.join(tmp, dtype))
        for method in a.methods.split(","):
            keys = [k for k in ref if k[1] == method and k in got]
            errs = [rel_l2(got[k]["scores"], ref[k]["scores"]) for k in keys]
            agree = [len(top(got[k]["word_scores"]) & top(ref[k]["word_scores"]))
                     / max(1, min(5, len(ref[k]["word_scores"]))) for k in keys]
            logit = max(abs(x - y) for k in keys
                        for x, y in zip(got[k]["logits"], ref[k]["logits"]))
            deltas = [(worst(ref[k]["convergence_delta"]), worst(got[k]["convergence_delta"]))
                      for k in keys if ref[k].get("convergence_delta") is not None]
            delta = (f"{statistics.median(d[0] for d in deltas):.1e} → "
                     f"{statistics.median(d[1] for d in deltas):.1e}") if deltas else "-"
            print(f"| {dtype} | {method} | {statistics.median(errs):.2e} | {max(errs):.2e} | "
                  f"{statistics.mean(agree):.2f} | {logit:.1e} | {delta} |")


if __name__ == "__main__":
    main()
