#!/usr/bin/env python3
"""Independent cross-check of the M⁴ metrics (MoRF, LeRF, ABPC) that ``calig eval --preset m4``
reports.

Re-implements, with numpy only, the evaluators M⁴ (Li et al., NeurIPS 2023 Datasets &
Benchmarks; holyseven/M4_XAI_Benchmark) runs: InterpretDL's ``PerturbationNLP`` with
``percentile=1`` (text, as benchmark-nlp/run_eval.sh calls it) and ``Perturbation`` with its
default 20 samples (images), from interpretdl/evaluate_interpreter/perturbation.py. It reads
the unit scores calig ranked and the probabilities calig's model gave, rebuilds which units
every step removes, and recomputes the scores; it does not share code with calig.

    python tools/eval/crosscheck_m4.py --run DIR [--tol 1e-6]
    python tools/eval/crosscheck_m4.py --self-test

Exit status 0 when everything agrees within the tolerance (the worst difference is printed),
1 when anything disagrees, 2 on unusable input.

Inputs
------
DIR/m4/index.json     {"methods": [{"name": display name, "slug": file stem}, ...]}
DIR/m4/<slug>.jsonl   one record per example: id, class, units, unit_scores (one per unit:
                      text: the sub-word tokens between the special ones; images: the
                      patches), morf_removed / lerf_removed (unit indices per step),
                      morf_curve / lerf_curve (p of ``class`` at the full input, then per
                      step), morf, lerf, abpc.
DIR/per_instance.csv  example_id,method,metric,value: morf, lerf and abpc are compared too.

Definitions (InterpretDL's, restated)
-------------------------------------
Text (K = 100): t_q = np.percentile(scores, q), q = 0..100. MoRF step for q = 99, 98, ..., 0
removes every unit with score >= t_q; LeRF step for q = 1, ..., 100 every unit with score <=
t_q. Images (K = 20): p_i = np.percentile(scores, 5·(i − 1)) for i = 20, ..., 1 (95, ..., 0);
MoRF step i removes score > p_i; LeRF walks the same percentiles in reverse (0, ..., 95) and
removes score < p. MoRF (LeRF) = the mean of its K + 1 probabilities (the full input first);
ABPC = LeRF − MoRF.
"""

import argparse
import csv
import json
import os
import sys

import numpy as np


def removal_sets(scores, text):
    s = np.asarray(scores, dtype=np.float64)
    if text:
        tiles = np.percentile(s, list(range(101)))
        morf = [np.flatnonzero(s >= p).tolist() for p in tiles[:100][::-1]]
        lerf = [np.flatnonzero(s <= p).tolist() for p in tiles[1:]]
    else:
        k = 20
        q = 100.0 / k
        qs = [q * (i - 1) for i in range(k, 0, -1)]
        tiles = np.percentile(s, qs)
        morf = [np.flatnonzero(s > p).tolist() for p in tiles]
        lerf = [np.flatnonzero(s < p).tolist() for p in tiles[::-1]]
    return morf, lerf


def scores_of(morf_curve, lerf_curve):
    morf = float(np.mean(morf_curve))
    lerf = float(np.mean(lerf_curve))
    return {"morf": morf, "lerf": lerf, "abpc": lerf - morf}


def check_record(rec, per_instance, method, problems):
    """Returns the worst absolute difference of this record's numbers."""
    text = len(rec["morf_curve"]) == 101
    if not text and len(rec["morf_curve"]) != 21:
        problems.append(f"{method} {rec['id']}: a curve of {len(rec['morf_curve'])} points")
        return 0.0
    morf, lerf = removal_sets(rec["unit_scores"], text)
    for name, mine, theirs in (("MoRF", morf, rec["morf_removed"]), ("LeRF", lerf, rec["lerf_removed"])):
        for step, (a, b) in enumerate(zip(mine, theirs)):
            if sorted(a) != sorted(b):
                problems.append(f"{method} {rec['id']}: {name} step {step + 1} removes {b}, expected {a}")
                break
        if len(mine) != len(theirs):
            problems.append(f"{method} {rec['id']}: {len(theirs)} {name} steps, expected {len(mine)}")
    want = scores_of(rec["morf_curve"], rec["lerf_curve"])
    worst = 0.0
    for key, v in want.items():
        for source, got in (("m4 record", rec.get(key)), ("per_instance.csv", per_instance.get((rec["id"], method, key)))):
            if got is None:
                problems.append(f"{method} {rec['id']}: {key} missing in {source}")
                continue
            d = abs(float(got) - v)
            worst = max(worst, d)
            if d > TOL:
                problems.append(f"{method} {rec['id']}: {key} {got} in {source}, expected {v}")
    return worst


def read_per_instance(path):
    out = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["metric"] in ("morf", "lerf", "abpc"):
                out[(row["example_id"], row["method"], row["metric"])] = float(row["value"])
    return out


def check_run(run):
    index_path = os.path.join(run, "m4", "index.json")
    try:
        with open(index_path) as f:
            index = json.load(f)
        per_instance = read_per_instance(os.path.join(run, "per_instance.csv"))
    except (OSError, ValueError, KeyError) as e:
        print(f"unusable input: {e}", file=sys.stderr)
        return 2
    problems, worst, records = [], 0.0, 0
    for m in index["methods"]:
        with open(os.path.join(run, "m4", m["slug"] + ".jsonl")) as f:
            for line in f:
                rec = json.loads(line)
                worst = max(worst, check_record(rec, per_instance, m["name"], problems))
                records += 1
    print(f"{records} records of {len(index['methods'])} methods; worst |difference| {worst:.3g} (tolerance {TOL:g})")
    for p in problems[:50]:
        print("MISMATCH", p)
    return 1 if problems or records == 0 else 0


def self_test():
    # Text: 4 tokens, ties at 0.5 go together.
    morf, lerf = removal_sets([0.1, 0.9, 0.5, 0.5], True)
    assert morf[0] == [1] and morf[49] == [1, 2, 3] and morf[99] == [0, 1, 2, 3]
    assert lerf[0] == [0] and lerf[49] == [0, 2, 3] and lerf[99] == [0, 1, 2, 3]
    # Images: strict comparisons; LeRF's first step removes nothing.
    morf, lerf = removal_sets(list(range(20)), False)
    assert morf[0] == [19] and len(morf[19]) == 19 and lerf[0] == [] and lerf[19] == list(range(19))
    s = scores_of([1.0, 0.5, 0.0], [1.0, 0.9, 0.5])
    assert abs(s["morf"] - 0.5) < 1e-15 and abs(s["lerf"] - 0.8) < 1e-15 and abs(s["abpc"] - 0.3) < 1e-15
    print("self-test passed")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run")
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    TOL = a.tol
    if a.self_test:
        sys.exit(self_test())
    if not a.run:
        ap.error("give --run DIR or --self-test")
    sys.exit(check_run(a.run))
