#!/usr/bin/env python3
"""Sentence-pair fixtures: tests/fixtures/<family>/pairs.json (bert, roberta, xlmr, distilbert).

    /path/to/venv/bin/python tools/reference/make_pairs.py [--only bert,roberta]

Environment: tools/reference/requirements.txt (transformers, torch, captum). For each family's
tiny fixture and each pair below, the tokenizer's pair encoding (`tokenizer(a, b)`: input ids,
token type ids), the float64 logits of the `…ForSequenceClassification` model (eager
attention, `.double()`, eval mode), and integrated gradients at the word-embedding output
(Captum 0.9 `LayerIntegratedGradients`, 50 Gauss–Legendre steps, float64) for the predicted
class, summed over the hidden dimension: calig's `ig` (DESIGN §3). The reference input is the
`pad` one: every token the post-processor did not add replaced by the pad id, the separators
and the token type ids kept; position ids are passed explicitly (RoBERTa/XLM-R: padding_idx + 1,
+2, ...) so the reference is not re-positioned. Deterministic; no randomness.
"""
import argparse
import json
from pathlib import Path

import torch
from captum.attr import LayerIntegratedGradients
from transformers import AutoModelForSequenceClassification, AutoTokenizer

ROOT = Path(__file__).resolve().parents[2]
PAIRS = [
    ("a gorgeous , witty movie", "the film is dull and far too long"),
    ("nothing here is worth the ticket", "it is an unexpected delight"),
]
STEPS = 50


def embeddings_of(model):
    base = getattr(model, model.base_model_prefix)
    return base.embeddings.word_embeddings


def position_ids(family, cfg, n):
    if family in ("roberta", "xlmr"):
        return torch.arange(cfg.pad_token_id + 1, cfg.pad_token_id + 1 + n).unsqueeze(0)
    return torch.arange(n).unsqueeze(0)


def one(family, tok, model, a, b):
    enc = tok(a, b, return_special_tokens_mask=True)
    ids = torch.tensor([enc["input_ids"]])
    n = ids.shape[1]
    kwargs = {"attention_mask": torch.ones_like(ids)}
    if "token_type_ids" in enc and family != "distilbert":
        kwargs["token_type_ids"] = torch.tensor([enc["token_type_ids"]])
    if family != "distilbert":
        kwargs["position_ids"] = position_ids(family, model.config, n)
    special = enc["special_tokens_mask"]
    ref = torch.tensor([[t if s else model.config.pad_token_id
                         for t, s in zip(enc["input_ids"], special)]])

    def forward(x):
        rows = x.shape[0]
        return model(input_ids=x, **{k: v.expand(rows, -1) for k, v in kwargs.items()}).logits

    with torch.no_grad():
        logits = forward(ids)[0]
        ref_logits = forward(ref)[0]
    target = int(logits.argmax())
    lig = LayerIntegratedGradients(forward, embeddings_of(model))
    attr, delta = lig.attribute(ids, baselines=ref, target=target, n_steps=STEPS,
                                method="gausslegendre", return_convergence_delta=True)
    return {
        "text": a, "text_pair": b,
        "tokens": tok.convert_ids_to_tokens(enc["input_ids"]),
        "input_ids": enc["input_ids"],
        "token_type_ids": enc.get("token_type_ids", [0] * n),
        "special_tokens_mask": special,
        "logits": logits.tolist(),
        "target": target,
        "reference_logit": float(ref_logits[target]),
        "ig": {"steps": STEPS, "quadrature": "gausslegendre",
               "scores": attr.sum(-1)[0].tolist(), "delta": float(delta[0])},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="bert,roberta,xlmr,distilbert")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for family in args.only.split(","):
        d = ROOT / "tests" / "fixtures" / family
        tok = AutoTokenizer.from_pretrained(d)
        model = AutoModelForSequenceClassification.from_pretrained(
            d, attn_implementation="eager").double().eval()
        out = {
            "family": family,
            "made_by": "tools/reference/make_pairs.py",
            "versions": {"torch": torch.__version__,
                         "transformers": __import__("transformers").__version__,
                         "captum": __import__("captum").__version__},
            "pairs": [one(family, tok, model, a, b) for a, b in PAIRS],
        }
        path = d / "pairs.json"
        path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        for p in out["pairs"]:
            print(f"{family}: {len(p['tokens'])} tokens, types {sorted(set(p['token_type_ids']))}, "
                  f"target {p['target']}, delta {p['ig']['delta']:.2e} -> {path}")


if __name__ == "__main__":
    main()
