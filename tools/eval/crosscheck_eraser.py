#!/usr/bin/env python3
"""Independent cross-check of the ERASER metrics that ``calig eval`` reports.

Reads what ``calig eval`` wrote into a run directory and recomputes every ERASER metric it
finds there with an independent numpy implementation of the definitions of DeYoung et al.
(2020), as written in jayded/eraserbenchmark ``rationale_benchmark/metrics.py``, then compares
them with calig's own per-instance numbers (absolute tolerance, default 1e-6).

    python tools/eval/crosscheck_eraser.py --run DIR --dataset ERASER_DIR --split val [--tol 1e-6]
    python tools/eval/crosscheck_eraser.py --self-test

Exit status: 0 when everything agrees, 1 when anything disagrees (the mismatches are listed),
2 on unusable input (missing files, bad JSON).

Inputs
------
ERASER_DIR/<split>.jsonl   one annotation per line: annotation_id, classification, evidences
                           (list of lists of {docid, start_token, end_token (exclusive), ...}).
ERASER_DIR/docs/<docid>    whitespace-tokenised text; ERASER token i = ``text.split()[i]``.
DIR/eraser/index.json      {"methods": [{"name": display name, "slug": file stem}, ...]}
DIR/eraser/<slug>.jsonl    ERASER's submission schema, one line per document, plus
                           calig_visible_tokens (ERASER tokens 0..V-1 were inside the model's
                           window), calig_token_f1_target, optional calig_topk {"5": [...], ...}.
DIR/per_instance.csv       example_id,method,metric,value (method = display name,
                           example_id = annotation_id).
DIR/results.json           optional; results["metrics"]["iou_f1"]["corpus"][method] is checked.

Definitions (the contract; calig's Rust side implements the same)
------------------------------------------------------------------
Faithfulness, per instance, for the lines that carry the keys:
  ŷ = the label named in "classification" (must be an argmax of classification_scores),
  p = classification_scores[ŷ].
  comprehensiveness@T = p − thresholded_scores[T].comprehensiveness_classification_scores[ŷ]
  sufficiency@T       = p − thresholded_scores[T].sufficiency_classification_scores[ŷ]
  comprehensiveness_aopc / sufficiency_aopc = the mean of @T over the thresholds present
  (ERASER: no t = 0 term).  comprehensiveness / sufficiency (no suffix) = the same with the
  top-level *_classification_scores (calig writes the 0.2 threshold's there; that they equal
  thresholded_scores[0.2] is checked too).
Plausibility, per document, for documents with at least one visible gold token:
  V = calig_visible_tokens.  Gold spans = every evidence span of the annotation on this docid,
  clipped to [0, V) (a span crossing V is cut at V, a span starting at or after V dropped);
  as in ERASER (rationales are kept in sets) identical spans count once.
  G = the union of the gold spans' tokens.  Documents with G empty are skipped (the count of
  CSV rows is checked against the documents kept).
  F1(P, G) = 2|P∩G| / (|P| + |G|), 0 when P∩G is empty.
  token_f1@k, k = 5, 10, ..., 80: P = the k visible tokens with the largest max(score, 0),
      ties to the lower index (stable descending sort over 0..V-1); all V when V < k.
      Ties are equal values: −0.0 and +0.0 (and every clamped negative score) tie at 0.
  token_f1_mean = the mean of the 16 token_f1@k values of the instance.
  token_f1 = F1(union of hard_rationale_predictions spans, G)  (ERASER instance-macro token F1
      is the mean of these over documents).
  iou_f1 (ERASER partial_match_score, IOU threshold 0.5): for each distinct predicted span,
      best IOU = max over gold spans of |p∩t| / |p∪t| (token sets, 0 when the union is empty);
      TP = #predicted spans with best IOU ≥ 0.5; P_i = TP/#pred, R_i = TP/#gold (0 when the
      denominator is 0).  Per-instance CSV value = 2 P_i R_i / (P_i + R_i) (0 when P_i+R_i=0).
      Corpus value (results.json) = F1(mean P_i, mean R_i) over the kept documents.
      (ERASER itself averages P_i only over documents with at least one predicted span; the
      script prints that variant when it differs, for information only.)
  auprc = area under the precision-recall curve of the visible tokens' soft scores (NOT
      clamped) against the 0/1 gold labels, sklearn-style: sort by score descending, one
      threshold per distinct score, P = tp/(tp+fp), R = tp/|G| at each, prepend (R=0, P=1),
      trapezoid rule over R (= sklearn.metrics.auc(recall, precision) on
      precision_recall_curve, which appends P=1, R=0).  Points after the first R = 1 (which
      scikit-learn < 1.1 dropped) lie on a vertical segment and add no area.

Consistency checks on the jsonl (reported as mismatches): the annotation exists in the split,
classification is an argmax of classification_scores, soft_rationale_predictions has one score
per ERASER token of the document and 0 beyond V, V ≤ #tokens, hard spans lie within the
document, top-level comprehensiveness/sufficiency scores equal the 0.2 threshold's, and
calig_topk[k] (when present) is the same set as the python top-k.

Pure numpy; if scikit-learn is importable AUPRC is also computed with
sklearn.metrics.precision_recall_curve + auc and any difference is reported as a warning.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import sys
import tempfile
import warnings
from collections import defaultdict

import numpy as np

TOPK = list(range(5, 85, 5))
IOU_THRESHOLD = 0.5
PLAUS_METRICS = [f"token_f1@{k}" for k in TOPK] + ["token_f1_mean", "token_f1", "iou_f1", "auprc"]

try:  # optional
    import sklearn  # noqa: F401
    from sklearn.metrics import auc as _sk_auc
    from sklearn.metrics import precision_recall_curve as _sk_prc

    SKLEARN_VERSION = sklearn.__version__
except Exception:  # pragma: no cover - sklearn is optional
    SKLEARN_VERSION = None


class InputError(Exception):
    pass


# ----------------------------------------------------------------------------------------------
# metric implementations (numpy only)


def fmt_threshold(t: float) -> str:
    """0.01 -> '0.01', 0.1 -> '0.1', 0.5 -> '0.5' (Python's shortest repr)."""
    return repr(float(t))


def f1_sets(pred: set, gold: set) -> float:
    inter = len(pred & gold)
    if inter == 0:
        return 0.0
    return 2.0 * inter / (len(pred) + len(gold))


def f1_pr(p: float, r: float) -> float:
    if p + r == 0:
        return 0.0
    return 2.0 * p * r / (p + r)


def topk_indices(scores_visible: np.ndarray, k: int) -> list:
    """The k indices with the largest max(score, 0); ties to the lower index."""
    clamped = np.maximum(np.asarray(scores_visible, dtype=np.float64), 0.0)
    # stable sort of the negated values = descending order keeping index order inside ties
    order = np.argsort(-clamped, kind="stable")
    return [int(i) for i in order[:k]]


def auprc_numpy(scores: np.ndarray, labels: np.ndarray, truncate_at_full_recall: bool = False) -> float:
    """Trapezoidal area under the PR curve, sklearn-style (see the module docstring).

    truncate_at_full_recall=True reproduces precision_recall_curve of scikit-learn < 1.1 (the
    ERASER era; changed by scikit-learn PR #23214), which stopped at the first threshold
    reaching full recall. The area is the same either way: the dropped points all have R = 1.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if y.sum() == 0:
        raise ValueError("auprc needs at least one positive label")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    tp_cum = np.cumsum(y)
    fp_cum = np.cumsum(1.0 - y)
    last_of_group = np.r_[np.nonzero(s[1:] != s[:-1])[0], s.size - 1]
    tp = tp_cum[last_of_group]
    fp = fp_cum[last_of_group]
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    if truncate_at_full_recall:
        stop = int(np.searchsorted(tp, tp[-1]))  # first index with tp == total positives
        precision, recall = precision[: stop + 1], recall[: stop + 1]
    recall = np.r_[0.0, recall]
    precision = np.r_[1.0, precision]
    return float(np.sum((recall[1:] - recall[:-1]) * (precision[1:] + precision[:-1]) / 2.0))


def auprc_sklearn(scores, labels) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        precision, recall, _ = _sk_prc(np.asarray(labels, dtype=int), np.asarray(scores, dtype=np.float64))
        return float(_sk_auc(recall, precision))


def iou_instance(pred_spans, gold_spans):
    """ERASER partial_match_score for one document: (TP, #pred, #gold), spans as (start, end)."""
    pred = sorted(set(pred_spans))
    gold = sorted(set(gold_spans))
    tp = 0
    for ps, pe in pred:
        pset = set(range(ps, pe))
        best = 0.0
        for gs, ge in gold:
            gset = set(range(gs, ge))
            union = len(pset | gset)
            iou = 0.0 if union == 0 else len(pset & gset) / union
            best = max(best, iou)
        if best >= IOU_THRESHOLD:
            tp += 1
    return tp, len(pred), len(gold)


# ----------------------------------------------------------------------------------------------
# loading


def load_jsonl(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{lineno}: bad JSON: {e}") from e
    return out


class Dataset:
    def __init__(self, eraser_dir, split):
        self.dir = eraser_dir
        path = os.path.join(eraser_dir, f"{split}.jsonl")
        if not os.path.isfile(path):
            raise InputError(f"no annotations file {path}")
        self.ann = {}
        for a in load_jsonl(path):
            spans = []
            for group in a.get("evidences") or []:
                for ev in group:
                    spans.append((ev["docid"], int(ev["start_token"]), int(ev["end_token"])))
            self.ann[a["annotation_id"]] = {"label": a.get("classification"), "spans": spans}
        self._tokens = {}

    def tokens(self, docid):
        if docid not in self._tokens:
            path = os.path.join(self.dir, "docs", docid)
            if not os.path.isfile(path):
                raise InputError(f"no document {path}")
            with open(path, encoding="utf-8") as f:
                self._tokens[docid] = f.read().split()
        return self._tokens[docid]


def load_methods(run_dir):
    """[(display name, slug, path)]"""
    edir = os.path.join(run_dir, "eraser")
    if not os.path.isdir(edir):
        raise InputError(f"no directory {edir}")
    index = os.path.join(edir, "index.json")
    methods = []
    if os.path.isfile(index):
        with open(index, encoding="utf-8") as f:
            idx = json.load(f)
        for m in idx.get("methods", []):
            methods.append((m["name"], m["slug"], os.path.join(edir, m["slug"] + ".jsonl")))
    else:
        for fn in sorted(os.listdir(edir)):
            if fn.endswith(".jsonl"):
                methods.append((fn[:-6], fn[:-6], os.path.join(edir, fn)))
    return methods


def load_csv(path):
    """{(method, metric): {example_id: value}}, plus a list of duplicate keys."""
    table = defaultdict(dict)
    dups = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        need = {"example_id", "method", "metric", "value"}
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise InputError(f"{path}: header must contain {sorted(need)}, got {reader.fieldnames}")
        for row in reader:
            key = (row["method"], row["metric"])
            try:
                v = float(row["value"])
            except ValueError:
                v = float("nan")
            if row["example_id"] in table[key]:
                dups.append((row["method"], row["metric"], row["example_id"]))
            table[key][row["example_id"]] = v
    return table, dups


# ----------------------------------------------------------------------------------------------
# recomputation


class Report:
    def __init__(self):
        self.values = []  # (metric, method, example_id, calig, python, diff)
        self.coverage = []  # text
        self.consistency = []  # text
        self.corpus = []  # text
        self.warnings = []
        self.notes = []
        self.table = []  # (metric, method, n, calig mean, python mean, max diff)
        self.sklearn = None  # (n, max |numpy - sklearn|)

    @property
    def ok(self):
        return not (self.values or self.coverage or self.consistency or self.corpus)


def recompute_method(name, path, ds, rep, tol):
    """Python values for one method: ({metric: {example_id: value}}, corpus iou info)."""
    vals = defaultdict(dict)
    iou_parts = []  # (P_i, R_i, #pred)
    sk_diffs = []
    lines = load_jsonl(path)
    seen = set()
    for line in lines:
        aid = line.get("annotation_id")
        where = f"{name} / {aid}"
        if aid in seen:
            rep.consistency.append(f"{where}: annotation appears twice in {os.path.basename(path)}")
            continue
        seen.add(aid)
        if aid not in ds.ann:
            rep.consistency.append(f"{where}: annotation_id not in the split's annotations")
            continue
        gold_ann = ds.ann[aid]

        # ---- faithfulness
        cs = line.get("classification_scores")
        yhat = line.get("classification")
        if cs is not None:
            if yhat not in cs:
                rep.consistency.append(f"{where}: classification {yhat!r} not a key of classification_scores")
                cs = None
            elif cs[yhat] < max(cs.values()):
                best = max(cs, key=cs.get)
                rep.consistency.append(
                    f"{where}: classification {yhat!r} ({cs[yhat]:.6g}) is not the argmax of "
                    f"classification_scores ({best!r}, {cs[best]:.6g})"
                )
        if cs is not None and yhat in cs:
            p = float(cs[yhat])
            top_c = line.get("comprehensiveness_classification_scores")
            top_s = line.get("sufficiency_classification_scores")
            if top_c is not None:
                vals["comprehensiveness"][aid] = p - float(top_c[yhat])
            if top_s is not None:
                vals["sufficiency"][aid] = p - float(top_s[yhat])
            ts = line.get("thresholded_scores")
            if ts:
                comps, suffs, thr_seen = [], [], set()
                for entry in ts:
                    t = float(entry["threshold"])
                    tname = fmt_threshold(t)
                    if tname in thr_seen:
                        rep.consistency.append(f"{where}: threshold {tname} appears twice in thresholded_scores")
                        continue
                    thr_seen.add(tname)
                    ec = entry.get("comprehensiveness_classification_scores")
                    es = entry.get("sufficiency_classification_scores")
                    if ec is not None:
                        c = p - float(ec[yhat])
                        comps.append(c)
                        vals[f"comprehensiveness@{tname}"][aid] = c
                    if es is not None:
                        s = p - float(es[yhat])
                        suffs.append(s)
                        vals[f"sufficiency@{tname}"][aid] = s
                    if abs(t - 0.2) < 1e-12:
                        for key, top, ent in (
                            ("comprehensiveness", top_c, ec),
                            ("sufficiency", top_s, es),
                        ):
                            if top is not None and ent is not None:
                                d = max(abs(float(top[l]) - float(ent[l])) for l in ent)
                                if d > tol:
                                    rep.consistency.append(
                                        f"{where}: top-level {key}_classification_scores differ from "
                                        f"thresholded_scores[0.2] by {d:.3g}"
                                    )
                if comps:
                    vals["comprehensiveness_aopc"][aid] = float(np.mean(comps))
                if suffs:
                    vals["sufficiency_aopc"][aid] = float(np.mean(suffs))

        # ---- plausibility
        rats = line.get("rationales")
        if not rats:
            continue
        if len(rats) != 1:
            rep.consistency.append(f"{where}: {len(rats)} rationale entries; one document per line expected")
            continue
        rat = rats[0]
        docid = rat.get("docid")
        try:
            tokens = ds.tokens(docid)
        except InputError as e:
            rep.consistency.append(f"{where}: {e}")
            continue
        n_tok = len(tokens)
        vis = line.get("calig_visible_tokens")
        if vis is None:
            rep.warnings.append(f"{where}: no calig_visible_tokens; using the document length {n_tok}")
            vis = n_tok
        vis = int(vis)
        if not 0 <= vis <= n_tok:
            rep.consistency.append(f"{where}: calig_visible_tokens {vis} outside 0..{n_tok}")
            vis = max(0, min(vis, n_tok))
        gold_spans = []
        for d, s, e in gold_ann["spans"]:
            if d != docid or s >= vis:
                continue
            gold_spans.append((s, min(e, vis)))
        gold_spans = sorted(set(sp for sp in gold_spans if sp[1] > sp[0]))
        G = set()
        for s, e in gold_spans:
            G.update(range(s, e))
        if not G:
            continue  # skipped for plausibility, as calig does

        soft = rat.get("soft_rationale_predictions")
        if soft is not None:
            soft = np.asarray(soft, dtype=np.float64)
            if soft.shape != (n_tok,):
                rep.consistency.append(
                    f"{where}: soft_rationale_predictions has {soft.size} scores, the document has {n_tok} tokens"
                )
                soft = None
        if soft is not None:
            if np.any(soft[vis:] != 0):
                rep.consistency.append(f"{where}: soft scores beyond calig_visible_tokens={vis} are not all 0")
            if not np.all(np.isfinite(soft[:vis])):
                rep.consistency.append(f"{where}: non-finite soft scores")
                soft = None
        if soft is not None:
            sv = soft[:vis]
            order_all = topk_indices(sv, vis)
            f1s = []
            listed = line.get("calig_topk") or {}
            for k in TOPK:
                P = order_all[:k]
                f = f1_sets(set(P), G)
                f1s.append(f)
                vals[f"token_f1@{k}"][aid] = f
                if str(k) in listed and set(int(i) for i in listed[str(k)]) != set(P):
                    extra = sorted(set(int(i) for i in listed[str(k)]) - set(P))
                    missing = sorted(set(P) - set(int(i) for i in listed[str(k)]))
                    rep.consistency.append(
                        f"{where}: calig_topk[{k}] differs from the python top-{k}: "
                        f"calig-only {extra[:8]}, python-only {missing[:8]}"
                    )
            vals["token_f1_mean"][aid] = float(np.mean(f1s))
            labels = np.zeros(vis)
            labels[sorted(G)] = 1.0
            a = auprc_numpy(sv, labels)
            vals["auprc"][aid] = a
            if SKLEARN_VERSION is not None:
                sk_diffs.append(abs(a - auprc_sklearn(sv, labels)))

        hard = rat.get("hard_rationale_predictions")
        if hard is not None:
            spans = []
            bad = False
            for h in hard:
                s, e = int(h["start_token"]), int(h["end_token"])
                if not (0 <= s <= e <= n_tok):
                    rep.consistency.append(f"{where}: hard span ({s}, {e}) outside the document (0..{n_tok})")
                    bad = True
                spans.append((s, e))
            if bad:
                continue
            if len(set(spans)) != len(spans):
                rep.warnings.append(f"{where}: duplicate hard spans (counted once, as ERASER's sets do)")
            if any(e > vis for _, e in spans):
                rep.warnings.append(f"{where}: hard span beyond calig_visible_tokens={vis}")
            Ptok = set()
            for s, e in spans:
                Ptok.update(range(s, e))
            vals["token_f1"][aid] = f1_sets(Ptok, G)
            tp, npred, ngold = iou_instance(spans, gold_spans)
            Pi = tp / npred if npred else 0.0
            Ri = tp / ngold if ngold else 0.0
            vals["iou_f1"][aid] = f1_pr(Pi, Ri)
            iou_parts.append((Pi, Ri, npred))

    corpus = None
    if iou_parts:
        mp = float(np.mean([x[0] for x in iou_parts]))
        mr = float(np.mean([x[1] for x in iou_parts]))
        corpus = f1_pr(mp, mr)
        with_pred = [x[0] for x in iou_parts if x[2] > 0]
        mp_eraser = float(np.mean(with_pred)) if with_pred else 0.0
        corpus_eraser = f1_pr(mp_eraser, mr)
        if abs(corpus_eraser - corpus) > tol:
            rep.notes.append(
                f"{name}: iou_f1 corpus {corpus:.6f} (macro P over all {len(iou_parts)} documents); "
                f"ERASER's literal metrics.py averages P over the {len(with_pred)} documents with a "
                f"predicted span: {corpus_eraser:.6f}"
            )
    if sk_diffs:
        n0, m0 = rep.sklearn or (0, 0.0)
        rep.sklearn = (n0 + len(sk_diffs), max(m0, max(sk_diffs)))
    return vals, corpus


def metric_sort_key(m):
    base = [
        "comprehensiveness_aopc",
        "sufficiency_aopc",
        "comprehensiveness",
        "sufficiency",
    ]
    if m in base:
        return (0, base.index(m), 0.0)
    if "@" in m and m.split("@")[0] in ("comprehensiveness", "sufficiency"):
        head, t = m.split("@", 1)
        return (1, 0 if head == "comprehensiveness" else 1, float(t))
    if m.startswith("token_f1@"):
        return (2, 0, float(m.split("@")[1]))
    rest = ["token_f1_mean", "token_f1", "iou_f1", "auprc"]
    if m in rest:
        return (3, rest.index(m), 0.0)
    return (9, 0, 0.0)


def canonical_metric(name):
    """Map a CSV metric name to the python name ('comprehensiveness@0.20' -> '...@0.2')."""
    if "@" in name:
        head, t = name.split("@", 1)
        if head in ("comprehensiveness", "sufficiency"):
            try:
                return f"{head}@{fmt_threshold(float(t))}"
            except ValueError:
                return name
        if head == "token_f1":
            try:
                return f"token_f1@{int(float(t))}"
            except ValueError:
                return name
    return name


def is_known_metric(m):
    if m in PLAUS_METRICS or m in (
        "comprehensiveness_aopc",
        "sufficiency_aopc",
        "comprehensiveness",
        "sufficiency",
    ):
        return True
    return "@" in m and m.split("@")[0] in ("comprehensiveness", "sufficiency")


def check(run_dir, eraser_dir, split, tol=1e-6):
    rep = Report()
    ds = Dataset(eraser_dir, split)
    methods = load_methods(run_dir)
    csv_path = os.path.join(run_dir, "per_instance.csv")
    if not os.path.isfile(csv_path):
        raise InputError(f"no {csv_path}")
    table, dups = load_csv(csv_path)
    for m, met, ex in dups[:20]:
        rep.coverage.append(f"per_instance.csv: duplicate row for ({m}, {met}, {ex})")
    if len(dups) > 20:
        rep.coverage.append(f"per_instance.csv: ... {len(dups) - 20} more duplicate rows")

    # example_id should be the annotation_id; an id without the extension ("negR_800" for
    # "negR_800.txt") is accepted too, with a note
    by_stem = defaultdict(list)
    for aid in ds.ann:
        by_stem[os.path.splitext(aid)[0]].append(aid)
    remapped = set()

    def resolve(ex):
        if ex in ds.ann:
            return ex
        cands = by_stem.get(ex, [])
        if len(cands) == 1:
            remapped.add(ex)
            return cands[0]
        return ex

    # CSV grouped by method -> canonical metric -> {id: value}
    by_method = defaultdict(dict)
    for (meth, met), rows in table.items():
        by_method[meth][canonical_metric(met)] = {resolve(ex): v for ex, v in rows.items()}
    if remapped:
        rep.notes.append(
            f"{len(remapped)} example_id(s) in per_instance.csv matched an annotation_id only without "
            f"its extension, e.g. {sorted(remapped)[0]!r}"
        )

    results = None
    rpath = os.path.join(run_dir, "results.json")
    if os.path.isfile(rpath):
        with open(rpath, encoding="utf-8") as f:
            results = json.load(f)
    corpus_calig = None
    if results is not None:
        corpus_calig = (results.get("metrics") or {}).get("iou_f1", {}).get("corpus")

    handled = set()
    for name, slug, path in methods:
        if not os.path.isfile(path):
            rep.consistency.append(f"{name}: no file {path}")
            continue
        handled.add(name)
        py, corpus_py = recompute_method(name, path, ds, rep, tol)
        csv_m = by_method.get(name, {})
        if name not in by_method and slug in by_method:
            csv_m = by_method[slug]
            handled.add(slug)
            rep.notes.append(f"{name}: per_instance.csv names this method by its slug {slug!r}")
        for met in sorted(csv_m, key=metric_sort_key):
            rows = csv_m[met]
            if not is_known_metric(met):
                continue
            if met not in py:
                rep.coverage.append(
                    f"{met} / {name}: {len(rows)} CSV rows but the jsonl has nothing to compute it from"
                )
                continue
            pyv = py[met]
            missing = sorted(set(pyv) - set(rows))
            extra = sorted(set(rows) - set(pyv))
            if missing:
                rep.coverage.append(
                    f"{met} / {name}: {len(missing)} document(s) computed here but not in the CSV "
                    f"(CSV n={len(rows)}, python n={len(pyv)}): {missing[:5]}"
                )
            if extra:
                rep.coverage.append(
                    f"{met} / {name}: {len(extra)} CSV row(s) for documents python does not score "
                    f"(e.g. no visible gold token, or not in the jsonl): {extra[:5]}"
                )
            common = sorted(set(rows) & set(pyv))
            maxd = 0.0
            for ex in common:
                c, p = rows[ex], pyv[ex]
                d = abs(c - p) if not (math.isnan(c) or math.isnan(p)) else float("inf")
                maxd = max(maxd, d)
                if not d <= tol:
                    rep.values.append((met, name, ex, c, p, d))
            rep.table.append(
                (
                    met,
                    name,
                    len(common),
                    float(np.mean([rows[e] for e in rows])) if rows else float("nan"),
                    float(np.mean(list(pyv.values()))) if pyv else float("nan"),
                    maxd,
                )
            )
        not_in_csv = sorted((set(py) - set(csv_m)), key=metric_sort_key)
        if not_in_csv:
            rep.notes.append(f"{name}: computable but not in per_instance.csv: {', '.join(not_in_csv)}")
        if corpus_calig is not None and corpus_py is not None:
            key = name if name in corpus_calig else (slug if slug in corpus_calig else None)
            if key is None:
                rep.corpus.append(f"iou_f1 corpus / {name}: missing from results.json (python {corpus_py:.6f})")
            else:
                c = float(corpus_calig[key])
                d = abs(c - corpus_py)
                if not d <= tol:
                    rep.corpus.append(
                        f"iou_f1 corpus / {name}: results.json {c:.9f}, python {corpus_py:.9f}, |diff| {d:.3g}"
                    )
                rep.table.append(("iou_f1 (corpus)", name, 1, c, corpus_py, d))

    for meth, mets in by_method.items():
        if meth in handled:
            continue
        known = [m for m in mets if is_known_metric(m)]
        if known:
            rep.coverage.append(
                f"method {meth!r} has ERASER metrics in per_instance.csv ({', '.join(sorted(known)[:4])}...) "
                f"but no eraser/*.jsonl file"
            )
    unknown = sorted({m for mets in by_method.values() for m in mets if not is_known_metric(m)})
    if unknown:
        rep.notes.append(f"metrics in per_instance.csv that this script does not check: {', '.join(unknown)}")
    return rep


def print_report(rep, tol, out=sys.stdout, max_list=50, table=True):
    def p(*a):
        print(*a, file=out)

    if not table:
        rows = [r for r in rep.table if not r[5] <= tol]
        if rows:
            p(f"({len(rep.table) - len(rows)} agreeing table rows not shown)")
    else:
        rows = rep.table
    wname = max([len("method")] + [len(r[1]) for r in rows])
    mname = max([len("metric")] + [len(r[0]) for r in rows])
    if rows:
        p(f"{'metric':<{mname}}  {'method':<{wname}}  {'n':>5}  {'calig mean':>12}  {'python mean':>12}  {'max |diff|':>10}")
    for met, name, n, cm, pm, d in rows:
        flag = "" if d <= tol else "  <-- MISMATCH"
        p(f"{met:<{mname}}  {name:<{wname}}  {n:>5}  {cm:>12.6f}  {pm:>12.6f}  {d:>10.2e}{flag}")
    if rep.sklearn is not None:
        n, m = rep.sklearn
        verdict = "agree" if m <= tol else "DIFFER"
        p(f"auprc numpy vs scikit-learn {SKLEARN_VERSION}: {n} documents, max |diff| {m:.2e} ({verdict})")
    elif SKLEARN_VERSION is None:
        p("auprc: scikit-learn not importable; numpy implementation only")
    if rep.sklearn is not None and rep.sklearn[1] > tol:
        rep.warnings.append("numpy and scikit-learn AUPRC disagree beyond the tolerance")
    for title, items in (
        ("value mismatches", [
            f"{met} / {name} / {ex}: calig {c:.9g}, python {pv:.9g}, |diff| {d:.3g}"
            for met, name, ex, c, pv, d in rep.values
        ]),
        ("coverage mismatches", rep.coverage),
        ("jsonl consistency problems", rep.consistency),
        ("corpus mismatches", rep.corpus),
        ("warnings", rep.warnings),
        ("notes", rep.notes),
    ):
        if not items:
            continue
        p(f"{title} ({len(items)}):")
        for it in items[:max_list]:
            p(f"  - {it}")
        if len(items) > max_list:
            p(f"  ... {len(items) - max_list} more")
    n_bad = len(rep.values) + len(rep.coverage) + len(rep.consistency) + len(rep.corpus)
    p("RESULT: all ERASER metrics agree" if rep.ok else f"RESULT: {n_bad} mismatch(es) (tolerance {tol:g})")


# ----------------------------------------------------------------------------------------------
# self-test


def _selftest_write(root, csv_rows, corpus):
    """Writes the synthetic dataset and run directory; returns (run_dir, eraser_dir)."""
    ed = os.path.join(root, "eraser_data")
    run = os.path.join(root, "run")
    os.makedirs(os.path.join(ed, "docs"), exist_ok=True)
    os.makedirs(os.path.join(run, "eraser"), exist_ok=True)
    docs = {
        "negR_t1.txt": "w0 w1 w2 w3 w4 w5 w6 w7",  # 8 tokens, all visible
        "posR_t2.txt": "v0 v1 v2 v3 v4\nv5 v6 v7 v8 v9 v10 v11",  # 12 tokens, 8 visible
        "negR_t3.txt": "u0 u1 u2 u3 u4 u5 u6",  # 7 tokens, 4 visible, gold beyond
    }
    for d, t in docs.items():
        with open(os.path.join(ed, "docs", d), "w") as f:
            f.write(t + "\n")

    def ev(d, s, e):
        return [{"docid": d, "start_token": s, "end_token": e, "text": "", "start_sentence": -1, "end_sentence": -1}]

    anns = [
        {"annotation_id": "negR_t1.txt", "classification": "NEG",
         "evidences": [ev("negR_t1.txt", 1, 3), ev("negR_t1.txt", 6, 7)]},
        {"annotation_id": "posR_t2.txt", "classification": "POS",
         "evidences": [ev("posR_t2.txt", 2, 4), ev("posR_t2.txt", 6, 10), ev("posR_t2.txt", 10, 12)]},
        {"annotation_id": "negR_t3.txt", "classification": "NEG", "evidences": [ev("negR_t3.txt", 5, 7)]},
    ]
    with open(os.path.join(ed, "val.jsonl"), "w") as f:
        for a in anns:
            f.write(json.dumps(a) + "\n")

    T = [0.01, 0.05, 0.1, 0.2, 0.5]

    def faith(cs, comp, suff):
        def sc(p_neg):
            return {"NEG": p_neg, "POS": 1.0 - p_neg}

        return {
            "classification_scores": sc(cs),
            "comprehensiveness_classification_scores": sc(comp[3]),
            "sufficiency_classification_scores": sc(suff[3]),
            "thresholded_scores": [
                {"threshold": t, "comprehensiveness_classification_scores": sc(c),
                 "sufficiency_classification_scores": sc(s)}
                for t, c, s in zip(T, comp, suff)
            ],
        }

    def rat(d, soft, hard):
        return [{"docid": d, "soft_rationale_predictions": soft,
                 "hard_rationale_predictions": [{"start_token": s, "end_token": e} for s, e in hard]}]

    # method A: everything (faithfulness + plausibility), with calig_topk for k=5 and 10
    a_lines = [
        dict(annotation_id="negR_t1.txt", classification="NEG",
             **faith(0.8, [0.7, 0.6, 0.5, 0.4, 0.3], [0.5, 0.6, 0.7, 0.8, 0.9]),
             rationales=rat("negR_t1.txt", [0.5, 0.9, 0.5, -0.2, 0.5, 0.7, 0.5, 0.0], [(1, 3), (5, 7)]),
             calig_visible_tokens=8, calig_token_f1_target=0,
             calig_topk={"5": [1, 5, 0, 2, 4], "10": [1, 5, 0, 2, 4, 6, 3, 7]}),
        dict(annotation_id="posR_t2.txt", classification="NEG",  # misclassified: ŷ = NEG
             **faith(0.6, [0.6, 0.5, 0.4, 0.3, 0.2], [0.6, 0.6, 0.6, 0.6, 0.6]),
             rationales=rat("posR_t2.txt", [0.1, 0.2, 0.8, 0.6, 0.5, 0.1, 0.4, 0.9, 0, 0, 0, 0],
                            [(2, 5), (7, 8), (0, 1)]),
             calig_visible_tokens=8, calig_token_f1_target=1,
             calig_topk={"5": [7, 2, 3, 4, 6], "10": [7, 2, 3, 4, 6, 1, 0, 5]}),
        dict(annotation_id="negR_t3.txt", classification="NEG",
             **faith(0.9, [0.9, 0.9, 0.8, 0.5, 0.1], [0.9, 0.8, 0.9, 0.9, 0.9]),
             rationales=rat("negR_t3.txt", [0.3, 0.1, 0.2, 0.4, 0, 0, 0], [(3, 4)]),
             calig_visible_tokens=4, calig_token_f1_target=0),
    ]
    # method B: plausibility only (no faithfulness keys)
    b_lines = [
        dict(annotation_id="negR_t1.txt", classification="NEG", classification_scores={"NEG": 0.8, "POS": 0.2},
             rationales=rat("negR_t1.txt", [-0.3, -0.0, -0.5, -0.2, -0.4, -0.6, -0.7, -0.8], []),
             calig_visible_tokens=8, calig_token_f1_target=0),
        dict(annotation_id="posR_t2.txt", classification="NEG", classification_scores={"NEG": 0.6, "POS": 0.4},
             rationales=rat("posR_t2.txt", [0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.1, 0, 0, 0, 0], [(6, 8)]),
             calig_visible_tokens=8, calig_token_f1_target=1),
        dict(annotation_id="negR_t3.txt", classification="NEG", classification_scores={"NEG": 0.9, "POS": 0.1},
             rationales=rat("negR_t3.txt", [-1.0, -1.0, -1.0, -1.0, 0, 0, 0], []),
             calig_visible_tokens=4, calig_token_f1_target=0),
    ]
    methods = [("calig:lambda=1,aggregation=sum", "calig-lambda-1-aggregation-sum", a_lines),
               ("gxi", "gxi", b_lines)]
    with open(os.path.join(run, "eraser", "index.json"), "w") as f:
        json.dump({"methods": [{"name": n, "slug": s} for n, s, _ in methods]}, f)
    for _, slug, lines in methods:
        with open(os.path.join(run, "eraser", slug + ".jsonl"), "w") as f:
            for line in lines:
                f.write(json.dumps(line) + "\n")
    with open(os.path.join(run, "per_instance.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["example_id", "method", "metric", "value"])
        for row in csv_rows:
            w.writerow([row[0], row[1], row[2], repr(row[3])])
    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump({"metrics": {"iou_f1": {"corpus": corpus}}}, f)
    return run, ed


def _selftest_expected():
    """Hand-computed per-instance values. Returns (csv rows, corpus dict)."""
    A, B = "calig:lambda=1,aggregation=sum", "gxi"
    d1, d2, d3 = "negR_t1.txt", "posR_t2.txt", "negR_t3.txt"
    rows = []

    # ---- faithfulness, method A (thresholds 0.01, 0.05, 0.1, 0.2, 0.5); B has none
    # d1: ŷ=NEG, p=0.8; comp NEG .7,.6,.5,.4,.3 -> .1,.2,.3,.4,.5 (mean .3);
    #     suff NEG .5,.6,.7,.8,.9 -> .3,.2,.1,0,-.1 (mean .1)
    # d2: gold POS but ŷ=NEG (p=.6); comp NEG .6,.5,.4,.3,.2 -> 0,.1,.2,.3,.4 (mean .2)
    #     (with the gold label POS it would be -0.2); suff NEG all .6 -> 0 (mean 0)
    # d3: ŷ=NEG, p=.9; comp .9,.9,.8,.5,.1 -> 0,0,.1,.4,.8 (mean 1.3/5=.26);
    #     suff .9,.8,.9,.9,.9 -> 0,.1,0,0,0 (mean .02).  d3 is faithfulness-only.
    faith = {
        d1: ([0.1, 0.2, 0.3, 0.4, 0.5], 0.3, [0.3, 0.2, 0.1, 0.0, -0.1], 0.1),
        d2: ([0.0, 0.1, 0.2, 0.3, 0.4], 0.2, [0.0, 0.0, 0.0, 0.0, 0.0], 0.0),
        d3: ([0.0, 0.0, 0.1, 0.4, 0.8], 0.26, [0.0, 0.1, 0.0, 0.0, 0.0], 0.02),
    }
    for d, (c, ca, s, sa) in faith.items():
        rows.append((d, A, "comprehensiveness_aopc", ca))
        rows.append((d, A, "sufficiency_aopc", sa))
        rows.append((d, A, "comprehensiveness", c[3]))  # top-level = the 0.2 threshold's
        rows.append((d, A, "sufficiency", s[3]))
        for t, cv, sv in zip(["0.01", "0.05", "0.1", "0.2", "0.5"], c, s):
            rows.append((d, A, f"comprehensiveness@{t}", cv))
            rows.append((d, A, f"sufficiency@{t}", sv))

    # ---- plausibility; d3 (gold 5..7, visible 4) has no visible gold token -> no rows
    # d1: G = {1,2,6} (spans (1,3),(6,7)); 8 visible tokens.
    #   A soft .5 .9 .5 -.2 .5 .7 .5 0: clamped order 1,5,{0,2,4,6 tie},{3,7 tie}
    #     top5 = {1,5,0,2,4} (tie -> lower index, 6 out) ∩G = {1,2}: F1 = 4/(5+3) = .5
    #     k>=10: all 8 tokens, ∩G=3: F1 = 6/11; mean = (.5 + 15*6/11)/16 = 95.5/176
    #     auprc: (R,P) = (0,1),(1/3,1)@.9,(1/3,1/2)@.7,(1,1/2)@.5,(1,3/7)@0,(1,3/8)@-.2
    #       area = 1/3*1 + 2/3*1/2 = 2/3
    #     hard (1,3),(5,7): tokens {1,2,5,6} ∩G=3: F1 = 6/(4+3) = 6/7
    #       IOU (1,3)~(1,3)=1, (5,7)~(6,7)=1/2 (>= .5 counts): P=R=1, iou_f1 = 1
    #   B soft -.3 -0.0 -.5 -.2 -.4 -.6 -.7 -.8 (all negative; token 1 is a negative zero):
    #     clamped all 0, a single tie -> top5 = {0..4} ∩G = {1,2}: .5; k>=10: 6/11
    #     (ordering -0.0 below +0.0, as a total order would, drops token 1: {0,2,3,4,5} -> .25)
    #     auprc (unclamped) order 1,3,0,4,2,5,6,7 -> (1/3,1),(1/3,1/2),(1/3,1/3),(1/3,1/4),
    #       (2/3,2/5),(2/3,1/3),(1,3/7),(1,3/8): area = 1/3 + 1/3*(1/4+2/5)/2 + 1/3*(1/3+3/7)/2
    #       = 840/2520 + 273/2520 + 320/2520 = 1433/2520  (clamped scores would give .6875)
    #     hard none: token_f1 0, iou P=R=0 -> 0
    # d2: 12 tokens, 8 visible; gold (2,4),(6,10)->(6,8),(10,12) dropped: G = {2,3,6,7}
    #   A soft .1 .2 .8 .6 .5 .1 .4 .9 | 0 0 0 0: order 7,2,3,4,6,1,{0,5}
    #     top5 = {7,2,3,4,6} ∩G = 4: F1 = 8/9; k>=10: the 8 visible, F1 = 8/12 = 2/3
    #     mean = (8/9 + 15*2/3)/16 = 49/72
    #     auprc: (.25,1),(.5,1),(.75,1),(.75,3/4)@.5,(1,4/5)@.4,(1,4/6),(1,4/8)
    #       area = .75 + .25*(3/4+4/5)/2 = .75 + .19375 = .94375
    #     hard (2,5),(7,8),(0,1): tokens {0,2,3,4,7} ∩G=3: F1 = 6/(5+4) = 2/3
    #       IOU (2,5)~(2,4)=2/3 TP, (7,8)~(6,8)=1/2 TP, (0,1) 0: P=2/3, R=2/2=1, F1 = 4/5
    #   B soft 0 .5 .5 .5 .5 .5 .5 .1: top5 = {1,2,3,4,5} (6 out) ∩G={2,3}: F1 = 4/9; k>=10: 2/3
    #     mean = (4/9 + 10)/16 = 47/72
    #     auprc: (.75,1/2)@.5, (1,4/7)@.1, (1,1/2)@0: area = .75*(1+1/2)/2 + .25*(1/2+4/7)/2
    #       = 9/16 + 15/112 = 39/56
    #     hard (6,8): tokens {6,7} ⊂ G: F1 = 4/(2+4) = 2/3; IOU (6,8)~(6,8)=1: P=1, R=1/2, F1 = 2/3
    plaus = {
        (d1, A): dict(k5=0.5, krest=0.5454545454545454, mean=0.5426136363636364,   # 6/11, 95.5/176
                      auprc=0.6666666666666666, token_f1=0.8571428571428571, iou_f1=1.0),  # 2/3, 6/7
        (d1, B): dict(k5=0.5, krest=0.5454545454545454, mean=0.5426136363636364,
                      auprc=0.5686507936507936, token_f1=0.0, iou_f1=0.0),  # 1433/2520
        (d2, A): dict(k5=0.8888888888888888, krest=0.6666666666666666, mean=0.6805555555555556,  # 8/9, 2/3, 49/72
                      auprc=0.94375, token_f1=0.6666666666666666, iou_f1=0.8),
        (d2, B): dict(k5=0.4444444444444444, krest=0.6666666666666666, mean=0.6527777777777778,  # 4/9, 2/3, 47/72
                      auprc=0.6964285714285714, token_f1=0.6666666666666666, iou_f1=0.6666666666666666),  # 39/56
    }
    for (d, m), v in plaus.items():
        for k in TOPK:
            rows.append((d, m, f"token_f1@{k}", v["k5"] if k == 5 else v["krest"]))
        rows.append((d, m, "token_f1_mean", v["mean"]))
        for met in ("auprc", "token_f1", "iou_f1"):
            rows.append((d, m, met, v[met]))
    # corpus iou_f1: A macro P = (1 + 2/3)/2 = 5/6, R = (1 + 1)/2 = 1 -> F1 = (10/6)/(11/6) = 10/11
    #                B macro P = (0 + 1)/2 = 1/2, R = (0 + 1/2)/2 = 1/4 -> F1 = (1/4)/(3/4) = 1/3
    #   (ERASER's literal macro P for B skips d1, which has no predicted span: P = 1 -> F1 = 0.4)
    corpus = {A: 0.9090909090909091, B: 0.3333333333333333}
    return rows, corpus


def self_test():
    import io

    failures = []
    tol = 1e-6
    base_rows, base_corpus = _selftest_expected()
    A = "calig:lambda=1,aggregation=sum"

    def run_case(label, rows, corpus, expect_ok, expect_text=None, show=None, mutate=None):
        root = tempfile.mkdtemp(prefix="calig-eraser-selftest-")
        try:
            run, ed = _selftest_write(root, rows, corpus)
            if mutate:
                mutate(run)
            rep = check(run, ed, "val", tol)
            buf = io.StringIO()
            print_report(rep, tol, out=buf, table=(show == "full"))
            text = buf.getvalue()
        finally:
            shutil.rmtree(root, ignore_errors=True)
        good = rep.ok == expect_ok and (expect_text is None or expect_text in text)
        print(f"[{'PASS' if good else 'FAIL'}] {label}: script says {'agree' if rep.ok else 'mismatch'}")
        if show or not good:
            print("    " + text.rstrip().replace("\n", "\n    "))
        if not good:
            failures.append(label)

    run_case("hand-computed values, 3 documents x 2 methods", base_rows, base_corpus, True, show="full")

    rows = [r if r[:3] != ("negR_t1.txt", "gxi", "auprc") else r[:3] + (r[3] + 1e-3,) for r in base_rows]
    run_case("gxi auprc of negR_t1.txt +1e-3", rows, base_corpus, False,
             "auprc / gxi / negR_t1.txt: calig 0.569650794", show="issues")

    rows = [r if r[:3] != ("posR_t2.txt", A, "sufficiency@0.5") else r[:3] + (r[3] + 5e-7,) for r in base_rows]
    run_case("a +5e-7 change (inside the 1e-6 tolerance)", rows, base_corpus, True)

    rows = [r for r in base_rows if r[:3] != ("posR_t2.txt", A, "token_f1@40")]
    run_case("a missing CSV row", rows, base_corpus, False, "token_f1@40 / " + A + ": 1 document(s) computed here")

    rows = base_rows + [("negR_t3.txt", "gxi", "auprc", 0.5)]
    run_case("a row for the document without visible gold", rows, base_corpus, False,
             "CSV row(s) for documents python does not score")

    run_case("corpus iou_f1 off by 0.01", base_rows, {**base_corpus, "gxi": 0.3433333333333333}, False,
             "iou_f1 corpus / gxi")

    # tie-breaking the wrong way round (higher index first) in calig's own top-5 list
    def wrong_topk(run):
        p = os.path.join(run, "eraser", "calig-lambda-1-aggregation-sum.jsonl")
        lines = load_jsonl(p)
        lines[0]["calig_topk"]["5"] = [1, 5, 6, 4, 2]
        with open(p, "w") as f:
            for line in lines:
                f.write(json.dumps(line) + "\n")

    run_case("calig_topk with ties broken towards the higher index", base_rows, base_corpus, False,
             "calig_topk[5] differs", mutate=wrong_topk)

    # AUPRC: numpy vs numpy-with-old-sklearn-truncation vs sklearn on random documents with ties
    rng = np.random.default_rng(0)
    max_trunc, max_sk, n = 0.0, 0.0, 0
    for _ in range(2000):
        size = int(rng.integers(2, 60))
        labels = (rng.random(size) < rng.uniform(0.05, 0.6)).astype(float)
        if labels.sum() == 0:
            labels[int(rng.integers(size))] = 1.0
        scores = np.round(rng.normal(size=size), int(rng.integers(0, 3)))  # rounding makes ties
        a = auprc_numpy(scores, labels)
        max_trunc = max(max_trunc, abs(a - auprc_numpy(scores, labels, truncate_at_full_recall=True)))
        if SKLEARN_VERSION is not None:
            max_sk = max(max_sk, abs(a - auprc_sklearn(scores, labels)))
        n += 1
    print(f"auprc on {n} random documents with ties: numpy vs numpy truncated at full recall "
          f"(scikit-learn < 1.1) max |diff| {max_trunc:.2e}")
    if max_trunc > 1e-12:
        failures.append("auprc truncation")
    if SKLEARN_VERSION is not None:
        print(f"auprc on {n} random documents with ties: numpy vs scikit-learn {SKLEARN_VERSION} "
              f"max |diff| {max_sk:.2e}")
        if max_sk > 1e-12:
            failures.append("auprc vs sklearn")
    else:
        print("scikit-learn not importable: numpy-vs-sklearn comparison skipped")

    print("SELF-TEST " + ("PASSED" if not failures else "FAILED: " + "; ".join(failures)))
    return 0 if not failures else 1


# ----------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", help="calig eval output directory (has eraser/ and per_instance.csv)")
    ap.add_argument("--dataset", help="ERASER data directory (SPLIT.jsonl and docs/)")
    ap.add_argument("--split", default="val", help="annotation file to read (default: val)")
    ap.add_argument("--tol", type=float, default=1e-6, help="absolute tolerance (default 1e-6)")
    ap.add_argument("--max-list", type=int, default=50, help="mismatches listed per category (default 50)")
    ap.add_argument("--self-test", action="store_true", help="run the built-in synthetic test and exit")
    args = ap.parse_args(argv)
    if args.self_test:
        return self_test()
    if not args.run or not args.dataset:
        ap.error("--run and --dataset are required (or --self-test)")
    try:
        rep = check(args.run, args.dataset, args.split, args.tol)
    except (InputError, OSError, json.JSONDecodeError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_report(rep, args.tol, max_list=args.max_list)
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
