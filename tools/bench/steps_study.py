#!/usr/bin/env python3
"""How often do few Gauss–Legendre steps already give the 50-step explanation?

    for s in 8 16 24 32 50; do
      calig batch --model minilm-sst2 --input SAMPLE.tsv --output DIR/calig_$s.jsonl --method calig --steps $s
      calig batch --model minilm-sst2 --input SAMPLE.tsv --output DIR/ig_$s.jsonl --method ig --steps $s
    done
    python3 tools/bench/steps_study.py DIR

For each method and step count: the share of inputs whose token scores are within relative L2
1e-2 and 1e-3 of the 50-step scores, whose top-3 words are the 50-step top-3 (as a set), and
the median relative L2. Plain Python, no dependencies.
"""
import json
import math
import statistics
import sys
from pathlib import Path


def load(path):
    rows = {}
    for line in open(path):
        e = json.loads(line)
        rows[e["line"]] = e
    return rows


def rel_l2(a, b):
    num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    den = math.sqrt(sum(y * y for y in b)) or 1e-30
    return num / den


def top3(e):
    w = e["word_scores"]
    return set(sorted(range(len(w)), key=lambda i: -w[i])[:3])


def main():
    d = Path(sys.argv[1])
    print("| method | steps | n | rel L2 ≤ 1e-2 | rel L2 ≤ 1e-3 | same top-3 words | median rel L2 |")
    print("|---|---|---|---|---|---|---|")
    for method in ["calig", "ig"]:
        ref = load(d / f"{method}_50.jsonl")
        for steps in [8, 16, 24, 32]:
            f = d / f"{method}_{steps}.jsonl"
            if not f.exists():
                continue
            got = load(f)
            common = sorted(set(got) & set(ref))
            errs = [rel_l2(got[k]["scores"], ref[k]["scores"]) for k in common]
            same = [top3(got[k]) == top3(ref[k]) for k in common]
            n = len(common)
            print(f"| {method} | {steps} | {n} | {sum(e <= 1e-2 for e in errs) / n:.0%} | "
                  f"{sum(e <= 1e-3 for e in errs) / n:.0%} | {sum(same) / n:.0%} | "
                  f"{statistics.median(errs):.1e} |")


if __name__ == "__main__":
    main()
