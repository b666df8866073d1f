#!/usr/bin/env python3
"""One JSON summary of a tools/bench/gpu/run.sh output folder: calig's bench beside Captum's,
as ratios Captum / calig (> 1: calig faster), per precision and length, and the parity verdict.

    python3 summary.py OUT_DIR      (writes OUT_DIR/summary.json, prints a markdown table)
"""
import json
import os
import re
import sys

PEERS = {"f32": "fp32", "tf32": "tf32", "bf16": "bf16"}
WORK = {"calig": "layers", "ig": "ig"}


def bench_rows(path):
    rows, peak = [], None
    if not os.path.exists(path):
        return rows, peak
    for line in open(path):
        m = re.match(r"\|\s*(\w+)\s*\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|", line)
        if m and m.group(1) in WORK:
            rows.append((m.group(1), int(m.group(2)), float(m.group(3))))
        m = re.match(r"peak card memory during bench \w+: (\d+) MiB", line)
        if m:
            peak = int(m.group(1))
    return rows, peak


def main():
    out = sys.argv[1]
    captum = {}
    cp = os.path.join(out, "captum.json")
    if os.path.exists(cp):
        c = json.load(open(cp))
        for r in c["results"]:
            captum[(r["mode"], r["work"], r["tokens"])] = r
    table = []
    for prec, mode in PEERS.items():
        rows, peak = bench_rows(os.path.join(out, f"bench-{prec}.txt"))
        lengths = sorted({t for _, t, _ in rows})
        asked = sorted({t for (_, _, t) in captum}) or [128, 512]
        for method, tokens, median in rows:
            peer_tokens = asked[lengths.index(tokens)] if len(lengths) == len(asked) else tokens
            peer = captum.get((mode, WORK[method], peer_tokens))
            table.append({
                "precision": prec, "method": method, "tokens": tokens, "calig_s": median,
                "captum_s": peer["median_s"] if peer else None,
                "ratio_captum_over_calig": peer["median_s"] / median if peer else None,
                "calig_card_peak_mib": peak,
                "captum_peak_alloc_mib": peer["peak_mib"] if peer else None,
            })
    check = {}
    cj = os.path.join(out, "check.json")
    if os.path.exists(cj):
        c = json.load(open(cj))
        check = {k: c.get(k) for k in ("cuda_f32_parity", "cuda_f32_worst_rel_l2",
                                       "cuda_f32_worst_logit_diff", "failures")}
    summary = {"bench": table, "check": check}
    json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
    print("| precision | method | tokens | calig s | Captum s | Captum / calig | calig card peak MiB | Captum peak MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in table:
        f = lambda v, s: format(v, s) if isinstance(v, (int, float)) else "-"
        print(f"| {r['precision']} | {r['method']} | {r['tokens']} | {f(r['calig_s'], '.3f')} | "
              f"{f(r['captum_s'], '.3f')} | {f(r['ratio_captum_over_calig'], '.2f')} | "
              f"{f(r['calig_card_peak_mib'], 'd')} | {f(r['captum_peak_alloc_mib'], '.0f')} |")
    print("check:", json.dumps(check))


if __name__ == "__main__":
    main()
