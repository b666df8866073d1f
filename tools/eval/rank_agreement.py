"""Does a subset run rank the methods as the full run does?

Compares two `calig eval` results.csv tables (e.g. 200 sentences and all 872): for every metric
and every pair of methods present in both, whether the two runs order the pair the same way.
Each pair that flips is listed with both differences and the full run's verdicts against its
reference, so one can see whether a flip is between methods the full run cannot tell apart.

    python3 tools/eval/rank_agreement.py SUBSET/results.csv FULL/results.csv

Standard library only (no numpy). Exit status 0; 2 on unreadable input.
"""

import csv
import itertools
import sys


def load(path):
    try:
        with open(path, newline="") as f:
            return {(r["metric"], r["method"]): r for r in csv.DictReader(f)}
    except (OSError, KeyError) as e:
        sys.exit(f"rank_agreement: cannot read {path}: {e}")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    subset, full = load(sys.argv[1]), load(sys.argv[2])
    shared = set(subset) & set(full)
    metrics = sorted({metric for metric, _ in shared})
    pairs = flips = 0
    for metric in metrics:
        methods = sorted(m for k, m in shared if k == metric)
        for x, y in itertools.combinations(methods, 2):
            pairs += 1
            d_sub = float(subset[(metric, x)]["mean"]) - float(subset[(metric, y)]["mean"])
            d_full = float(full[(metric, x)]["mean"]) - float(full[(metric, y)]["mean"])
            if d_sub * d_full <= 0:
                flips += 1
                print(
                    f"{metric:28s} {x} vs {y}: subset {d_sub:+.4f}, full {d_full:+.4f}; "
                    f"full verdicts {full[(metric, x)]['verdict']} / {full[(metric, y)]['verdict']}"
                )
    print(f"{len(metrics)} metrics, {pairs} method pairs: {pairs - flips} ordered alike, {flips} flipped")


if __name__ == "__main__":
    main()
