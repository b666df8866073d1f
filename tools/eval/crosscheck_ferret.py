#!/usr/bin/env python3
"""Cross-check of ``calig eval --preset ferret`` against ferret itself (ferret-xai 0.4.2).

calig's run directory holds, per method, the explanations it scored (``ferret/<slug>.jsonl``:
text, tokens, the predicted class's token scores, the rationale per token) and its
per-instance values (``per_instance.csv``).  This script hands the same explanations to
ferret's own evaluators (``AOPC_Comprehensiveness_Evaluation``, ``AOPC_Sufficiency_Evaluation``,
``TauLOO_Evaluation``, ``AUPRC_PlausibilityEvaluation``, ``Tokenf1_PlausibilityEvaluation``,
``TokenIOU_PlausibilityEvaluation``) running the same checkpoint in PyTorch through
transformers, and compares instance by instance.

    PYTHONPATH=/tmp/ferret-pkgs python tools/eval/crosscheck_ferret.py \\
        --run DIR --model models/minilm-sst2 [--tol 1e-5] [--limit N]

The model runs in float32 on both sides (calig's engine, PyTorch), so removal probabilities
agree to about 1e-6, not bit for bit; ``--tol`` is the absolute tolerance per value.  τ-LOO can
differ by more when two leave-one-out importances are closer than that rounding (a swapped pair
moves τ by about 2 / n²): such instances are listed with the gap of their closest pair.

Only ferret's evaluator modules are imported (ferret's package ``__init__`` pulls in every
explainer: shap, lime, datasets, ...), so ferret-xai can be installed without its dependencies:

    pip install --target /tmp/ferret-pkgs --no-deps ferret-xai==0.4.2 scipy==1.17.1 \\
        scikit-learn==1.9.1 joblib==1.6.0 threadpoolctl==3.8.0 tqdm==4.70.1 cloudpickle==3.1.3

Exit status: 0 when everything agrees, 1 when anything disagrees, 2 on unusable input.
"""

import argparse
import csv
import importlib.util
import json
import math
import os
import sys
import types


def import_ferret():
    spec = importlib.util.find_spec("ferret")
    if spec is None:
        sys.exit("ferret-xai is not importable: put its --target directory on PYTHONPATH")
    pkg = types.ModuleType("ferret")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["ferret"] = pkg
    from ferret.evaluators import faithfulness_measures as fm
    from ferret.evaluators import plausibility_measures as pm
    from ferret.explainers.explanation import Explanation, ExplanationWithRationale

    return fm, pm, Explanation, ExplanationWithRationale


def evaluators(fm, pm, model, tok):
    """ferret's faithfulness and plausibility evaluators, by calig's metric names."""
    faith = {
        "aopc_compr": fm.AOPC_Comprehensiveness_Evaluation(model, tok),
        "aopc_suff": fm.AOPC_Sufficiency_Evaluation(model, tok),
        "taucorr_loo": fm.TauLOO_Evaluation(model, tok),
    }
    plaus = {
        "auprc_plau": pm.AUPRC_PlausibilityEvaluation(model, tok),
        "token_f1_plau": pm.Tokenf1_PlausibilityEvaluation(model, tok),
        "token_iou_plau": pm.TokenIOU_PlausibilityEvaluation(model, tok),
    }
    return faith, plaus


def read_calig(run):
    values = {}
    with open(os.path.join(run, "per_instance.csv"), newline="") as f:
        for row in csv.DictReader(f):
            values[(row["method"], row["example_id"], row["metric"])] = float(row["value"])
    with open(os.path.join(run, "ferret", "index.json")) as f:
        methods = json.load(f)["methods"]
    with open(os.path.join(run, "results.json")) as f:
        results = json.load(f)
    return values, methods, results


def closest_gap(xs):
    s = sorted(xs)
    return min((b - a for a, b in zip(s, s[1:])), default=float("inf"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--model", required=True, help="the checkpoint directory calig evaluated")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--limit", type=int, default=None, help="first N examples per method")
    a = ap.parse_args()

    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    fm, pm, Explanation, ExplanationWithRationale = import_ferret()
    torch.set_num_threads(int(os.environ.get("CROSSCHECK_THREADS", "2")))
    try:
        values, methods, results = read_calig(a.run)
    except (OSError, json.JSONDecodeError, KeyError) as e:
        print(f"unusable run directory {a.run}: {e}", file=sys.stderr)
        return 2
    model = AutoModelForSequenceClassification.from_pretrained(a.model).eval()
    tok = AutoTokenizer.from_pretrained(a.model)
    k = results.get("ferret_k")
    requested = set(results.get("metrics_requested", []))
    faith, plaus = evaluators(fm, pm, model, tok)
    worst = {}
    bad = []
    loo_gaps = {}
    for m in methods:
        path = os.path.join(a.run, "ferret", m["slug"] + ".jsonl")
        with open(path) as f:
            records = [json.loads(line) for line in f if line.strip()]
        for r in records[: a.limit]:
            eid = str(r["id"])
            scores = np.array(r["scores"], dtype=float)
            e = Explanation(r["text"], r["tokens"], scores, m["name"], r["target"])
            checks = []
            for name, ev in faith.items():
                if name.replace("_", "-") not in requested:
                    continue
                got = values.get((m["name"], eid, name))
                ref = float(ev.compute_evaluation(e, target=r["target"]).score)
                checks.append((name, got, ref))
                if name == "taucorr_loo" and eid not in loo_gaps:
                    loo = fm.TauLOO_Evaluation.compute_leave_one_out_occlusion(
                        ev, r["text"], target=r["target"]
                    ).numpy()
                    loo_gaps[eid] = closest_gap(loo.tolist())
            if r.get("rationale") is not None and r["target"] == r["label"] and any(r["rationale"]):
                er = ExplanationWithRationale(
                    r["text"], r["tokens"], scores, m["name"], r["target"], r["rationale"]
                )
                for name, ev in plaus.items():
                    if name.replace("_", "-") not in requested:
                        continue
                    got = values.get((m["name"], eid, name))
                    ref = float(ev.compute_evaluation(er, target=r["target"], top_k_rationale=k).score)
                    checks.append((name, got, ref))
            for name, got, ref in checks:
                if got is None and math.isnan(ref):
                    continue  # both undefined (τ of a constant map)
                diff = float("inf") if got is None else abs(got - ref)
                key = (name, m["name"])
                n, w = worst.get(key, (0, 0.0))
                worst[key] = (n + 1, max(w, diff))
                if diff > a.tol:
                    bad.append((name, m["name"], eid, got, ref, loo_gaps.get(eid)))
    print(f"{'metric':16} {'method':28} {'n':>5} {'max |calig - ferret|':>22}")
    for (name, method), (n, w) in sorted(worst.items()):
        print(f"{name:16} {method:28} {n:5d} {w:22.3e}")
    tau_only = all(b[0] == "taucorr_loo" for b in bad)
    for name, method, eid, got, ref, gap in bad:
        extra = f" (closest leave-one-out pair {gap:.1e} apart)" if name == "taucorr_loo" else ""
        print(f"MISMATCH {name} {method} example {eid}: calig {got} ferret {ref}{extra}")
    if not bad:
        print(f"all {sum(n for n, _ in worst.values())} values agree within {a.tol:g}")
        return 0
    if tau_only:
        print(f"{len(bad)} τ-LOO values differ; every other value agrees within {a.tol:g}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
