#!/usr/bin/env python3
"""calig and Captum side by side, in one run, on the same checkpoint, texts and machine.

    PY=<venv with torch, transformers, captum (tools/reference/requirements.txt + captum)>
    $PY tools/bench/side_by_side.py target/release/calig models/minilm-sst2 \
        ../shared/data/sst2/dev.tsv [--threads 2] [--buckets 16,55,264,512] [--reps 3]

Per bucket (a dev sentence closest to 16 / 55 tokens, dev sentences joined to ~264 / 512), the
two sides alternate, model loading excluded on both (calig: `timing_ms` of its JSON):
  CA-LIG: Captum LayerIntegratedGradients on every block output h^(1..L), one run per layer
          (Captum cannot attribute to dependent layers in one call), plus one forward/backward
          for the attention gradients — the work CA-LIG needs — vs `calig --method calig`;
  auto:   `calig --method calig --steps auto --tolerance T`, T = the worst |delta| / |y(x) −
          y(x′)| that Captum's 50 steps reached on that input;
  IG:     Captum LayerIntegratedGradients on the word embeddings vs `calig --method ig`.
50 Gauss–Legendre steps, the pad reference (specials kept), internal_batch_size 50, both sides
on --threads cores (calig: that many chunk workers). Then the attributions are compared: ig
token scores and every layer's r^(l) (calig's details.r) against Captum's, relative L2, which
must stay within the f32 parity tolerance 1e-3. Prints a markdown table and one JSON line per
bucket; ratios are Captum / calig (> 1: calig faster).
"""
import argparse
import json
import os
import statistics
import subprocess
import time

import torch
from captum.attr import LayerIntegratedGradients
from transformers import AutoModelForSequenceClassification, AutoTokenizer

PARITY = 1e-3


def rel_l2(a, b):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return float((a - b).norm() / b.norm().clamp(min=1e-30))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("calig")
    ap.add_argument("model")
    ap.add_argument("tsv")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--buckets", default="16,55,264,512")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=50)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForSequenceClassification.from_pretrained(
        a.model, attn_implementation="eager").eval()
    base = getattr(model, model.base_model_prefix)
    blocks = list(base.encoder.layer)
    sents = [l.rsplit("\t", 1)[0].strip() for l in open(a.tsv).read().splitlines()[1:]]

    def n_tok(s):
        return len(tok(s, truncation=True, max_length=512)["input_ids"])

    def text_for(n):
        if n <= 64:
            return min(sents, key=lambda s: abs(n_tok(s) - n))
        s = ""
        for x in sents:
            if n_tok(s + " " + x) > n:
                break
            s = (s + " " + x).strip()
        return s

    def captum(text):
        enc = tok(text, return_tensors="pt", truncation=True, max_length=512)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        special = torch.tensor(tok.get_special_tokens_mask(
            ids[0].tolist(), already_has_special_tokens=True)).bool()
        ref = ids.clone()
        ref[0, ~special] = tok.pad_token_id
        tt = enc.get("token_type_ids", torch.zeros_like(ids))
        pos = torch.arange(ids.shape[1]).unsqueeze(0)

        def fwd(x):
            n = x.shape[0]
            return model(x, attention_mask=mask.expand(n, -1), token_type_ids=tt.expand(n, -1),
                         position_ids=pos.expand(n, -1)).logits

        with torch.no_grad():
            logits = fwd(torch.cat([ids, ref]))
        target = int(logits[0].argmax())
        difference = float(logits[0, target] - logits[1, target])

        def lig(layer):
            attr, delta = LayerIntegratedGradients(fwd, layer).attribute(
                ids, baselines=ref, target=target, n_steps=a.steps, method="gausslegendre",
                internal_batch_size=a.steps, return_convergence_delta=True)
            attr = attr[0] if isinstance(attr, tuple) else attr
            return attr.sum(-1)[0].tolist(), abs(float(delta))

        t = time.perf_counter()
        layers = [lig(b) for b in blocks]
        out = model(ids, attention_mask=mask, output_attentions=True)
        for att in out.attentions:
            att.retain_grad()
        out.logits[0, target].backward()
        _ = [(att.grad * att).clamp(min=0).mean(1) for att in out.attentions]
        t_calig = time.perf_counter() - t
        t = time.perf_counter()
        ig, _ = lig(base.embeddings.word_embeddings)
        t_ig = time.perf_counter() - t
        worst = max(d for _, d in layers) / max(abs(difference), 1e-12)
        return {"tokens": int(ids.shape[1]), "calig_s": t_calig, "ig_s": t_ig,
                "r": [r for r, _ in layers], "ig": ig, "tolerance": worst}

    def ours(text, method, *extra):
        r = subprocess.run(
            [a.calig, "explain", "--model", a.model, "--method", method, "--format", "json",
             *extra, text],
            capture_output=True, text=True,
            env={**os.environ, "CALIG_WORKERS": str(a.threads)})
        if r.returncode != 0:
            raise SystemExit(f"calig failed: {r.stderr.strip()[-400:]}")
        return json.loads(r.stdout)

    captum("a short warm up")
    ours("a short warm up", "ig")
    rows = []
    for n in [int(x) for x in a.buckets.split(",")]:
        text = text_for(n)
        peer, ca, au, ig = [], [], [], []
        for _ in range(a.reps):
            peer.append(captum(text))
            ca.append(ours(text, "calig", "--steps", str(a.steps)))
            au.append(ours(text, "calig", "--steps", "auto", "--tolerance",
                           f"{peer[-1]['tolerance']:.6g}"))
            ig.append(ours(text, "ig", "--steps", str(a.steps)))
        med = statistics.median
        c_calig, c_ig = med(p["calig_s"] for p in peer), med(p["ig_s"] for p in peer)
        o_calig = med(j["timing_ms"] / 1e3 for j in ca)
        o_auto = med(j["timing_ms"] / 1e3 for j in au)
        o_ig = med(j["timing_ms"] / 1e3 for j in ig)
        p, j = peer[-1], ca[-1]
        layer_err = max(rel_l2(j["details"]["r"][l + 1], p["r"][l]) for l in range(len(blocks)))
        ig_err = rel_l2(ig[-1]["scores"], p["ig"])
        row = {
            "tokens": p["tokens"], "tokens_calig": len(j["tokens"]),
            "captum_calig_s": round(c_calig, 3), "calig_s": round(o_calig, 3),
            "ratio_calig": round(c_calig / o_calig, 2),
            "auto_tolerance": float(f"{p['tolerance']:.3g}"),
            "auto_steps": au[-1]["params"].get("steps_per_path"),
            "calig_auto_s": round(o_auto, 3), "ratio_auto": round(c_calig / o_auto, 2),
            "captum_ig_s": round(c_ig, 3), "calig_ig_s": round(o_ig, 3),
            "ratio_ig": round(c_ig / o_ig, 2),
            "parity_r_rel_l2": float(f"{layer_err:.2e}"),
            "parity_ig_rel_l2": float(f"{ig_err:.2e}"),
            "parity_ok": layer_err <= PARITY and ig_err <= PARITY,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\ntorch {torch.__version__}, {a.threads} threads, {a.steps} steps, "
          f"median of {a.reps}")
    print("| tokens | Captum layer loop | calig CA-LIG | ratio | auto (T, steps) | ratio | "
          "Captum IG | calig ig | ratio | parity r / ig |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['tokens']} | {r['captum_calig_s']:.2f} s | {r['calig_s']:.2f} s | "
              f"{r['ratio_calig']:.2f}× | {r['calig_auto_s']:.2f} s (T {r['auto_tolerance']:.1e},"
              f" {r['auto_steps']}) | {r['ratio_auto']:.2f}× | {r['captum_ig_s']:.2f} s | "
              f"{r['calig_ig_s']:.2f} s | {r['ratio_ig']:.2f}× | {r['parity_r_rel_l2']:.1e} / "
              f"{r['parity_ig_rel_l2']:.1e} |")
    if not all(r["parity_ok"] for r in rows):
        raise SystemExit("attributions differ from Captum beyond the parity tolerance")


if __name__ == "__main__":
    main()
