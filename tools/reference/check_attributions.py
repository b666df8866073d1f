#!/usr/bin/env python3
"""Consistency checks on tests/fixtures/<family>/attributions.json using only the JSON (numpy,
no torch, no model): the identities the layout promises, recomputed in a different way from
make_attributions.py where one exists. make_attributions.py runs it after writing; it can also
be run alone:

    python tools/reference/check_attributions.py [bert roberta ...]
"""

import json
import sys
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"
FAMILIES = ("bert", "roberta", "xlmr", "distilbert", "vit")


def close(a, b, tol=1e-12):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(1.0, float(np.abs(b).max()) if b.size else 1.0)
    err = float(np.abs(a - b).max()) if a.size else 0.0
    assert err <= tol * scale, err
    return err


def check(family):
    d = json.loads((FIXTURES / family / "attributions.json").read_text(encoding="utf-8"))
    assert d["schema"] == 1 and d["dtype"] == "float64"
    n_layers = d["num_layers"]
    image = d["baseline"] == "black"
    for q in d["quadrature"].values():
        # Captum's trapezoid: alphas linspace(0, 1, n) but weights 1/n (ends halved), so they
        # sum to (n − 1)/n, not 1; kept as Captum has it
        n = q["n_steps"]
        close(sum(q["weights"]), (n - 1) / n if q["method"] == "riemann_trapezoid" else 1.0)
        assert len(q["alphas"]) == len(q["weights"]) == q["n_steps"]
    for e in d["examples"]:
        m = e["methods"]
        s = e["num_tokens"] if image else len(e["input_ids"])
        dy = e["target_logit_difference"]
        close(dy, e["logits"][e["target"]] - e["baseline_logits"][e["target"]])
        assert e["target"] == int(np.argmax(e["logits"])) or e["target_kind"] == "other"
        if not image:
            for t, r, sp in zip(e["input_ids"], e["reference_input_ids"], e["special_tokens_mask"]):
                assert r == (t if sp else d["pad_token_id"])
        # completeness identities: delta = Σ scores − Δy (scores are sums over hidden/channels)
        for key, ig in m["ig"].items():
            close(ig["delta"], sum(ig["scores"]) - dy, 1e-10)
            if image:
                pix = np.array(ig["pixel_scores"])
                g = d["patch_grid"][0]
                p = d["patch_size"]
                close(pix.reshape(g, p, g, p).sum(axis=(1, 3)).ravel(), ig["scores"])
        lig = np.array(m["lig"]["layers"])
        assert lig.shape == (n_layers + 1, s)
        for l in range(n_layers + 1):
            close(m["lig"]["deltas"][l], lig[l].sum() - dy, 1e-10)
        # gae / rollout / attention from the stored matrices
        abar = np.array(m["attn_grad"]["matrices"])
        assert abar.shape == (n_layers, s, s) and abar.min() >= 0
        r = np.eye(s)
        for l in range(n_layers):
            r = (np.eye(s) + abar[l]) @ r
        close(r[0], m["gae"]["scores"])
        assert m["gae"]["scores"][0] >= 1.0
        ro = np.array(m["rollout"]["scores"])
        assert ro.min() >= 0 and ro[0] <= 1.0 and abs(ro.sum() - 1.0) < 1e-12
        att = np.array(m["attention"]["scores"])
        assert att.min() >= 0 and abs(att.sum() - 1.0) < 1e-12
        # calig: a = Ā[CLS, :]; aggregation by the product form of the rollout
        for block in ("calig", "calig_path"):
            if block not in m:
                continue
            c = m[block]
            a = np.array(c["a"])
            if block == "calig":
                close(a, abar[:, 0, :])
            for lam in d["calig_lambdas"]:
                for agg in d["calig_aggregations"]:
                    v = c[f"lambda_{lam:.1f}_{agg}"]
                    assert v["lambda"] == lam and v["aggregation"] == agg
                    layers = np.array(v["layers"])
                    for l in range(n_layers):
                        mx = a[l].max()
                        ahat = a[l] / mx if mx > 0 else np.zeros_like(a[l])
                        close(layers[l], lig[l + 1] * (lam + (1 - lam) * ahat))
                    if agg == "sum":
                        close(v["scores"], layers.sum(0))
                    else:
                        total = np.zeros(s)
                        for l in range(n_layers):
                            prod = np.eye(s)
                            for k in range(l + 1, n_layers):
                                prod = (np.eye(s) + abar[k]) @ prod
                            total += prod @ layers[l]
                        close(v["scores"], total, 1e-11)
                    if lam == 1.0 and agg == "sum":
                        close(v["scores"], lig[1:].sum(0))
    return len(d["examples"])


def main(families=FAMILIES):
    for f in families:
        n = check(f)
        print(f"  [{f}] attributions.json: {n} entries consistent")


if __name__ == "__main__":
    main(sys.argv[1:] or FAMILIES)
