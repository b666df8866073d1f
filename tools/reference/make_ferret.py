#!/usr/bin/env python3
"""tests/fixtures/<family>/ferret.json: ferret's own benchmark metrics on the text fixtures.

For each fixture text (bert, roberta, xlmr), fixed pseudo-random token scores (every position,
special tokens included, some negative, all distinct) and a hand-picked rationale are handed to
ferret-xai 0.4.2's evaluators, which run the fixture checkpoint through transformers in float32:
AOPC comprehensiveness and sufficiency (10 bins, positive scores only, tokens deleted, the rest
decoded and re-tokenised), τ-LOO, and with the rationale AUPRC, token F1 and token IOU at top-k
= 3.  tests/ferret.rs recomputes every value with calig's implementation (src/eval/ferret.rs).

    cd tools/reference && PYTHONPATH=/tmp/ferret-pkgs /tmp/calig-ref-venv/bin/python make_ferret.py

ferret-xai is installed without its dependencies, and only its evaluator modules are imported
(the package __init__ imports every explainer: shap, lime, datasets, ...):

    /tmp/calig-ref-venv/bin/pip install --target /tmp/ferret-pkgs --no-deps ferret-xai==0.4.2 \\
        scipy==1.17.1 scikit-learn==1.9.1 joblib==1.6.0 threadpoolctl==3.8.0 tqdm==4.70.1 \\
        cloudpickle==3.1.3
"""

import json
import os
import sys

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "eval"))
from crosscheck_ferret import evaluators, import_ferret  # noqa: E402  (ferret's evaluators, nothing else)
FIXTURES = os.path.join(HERE, "..", "..", "tests", "fixtures")
FAMILIES = ["bert", "roberta", "xlmr"]
TOP_K = 3


def main():
    fm, pm, Explanation, ExplanationWithRationale = import_ferret()
    torch.manual_seed(0)
    for family in FAMILIES:
        d = os.path.join(FIXTURES, family)
        model = AutoModelForSequenceClassification.from_pretrained(d).eval()
        tok = AutoTokenizer.from_pretrained(d)
        with open(os.path.join(d, "reference.json")) as f:
            texts = json.load(f)["texts"]
        faith, plausibility = evaluators(fm, pm, model, tok)
        rng = np.random.default_rng(7)
        examples = []
        for i, text in enumerate(texts):
            ids = tok(text, truncation=True)["input_ids"]
            tokens = tok.convert_ids_to_tokens(ids)
            n = len(ids)
            with torch.no_grad():
                logits = model(**tok(text, return_tensors="pt")).logits[0]
            # Explain the predicted class for the first text, another class for the others.
            target = int(logits.argmax()) if i == 0 else (int(logits.argmax()) + i) % logits.numel()
            # Distinct scores, about a third negative (ferret keeps only positive ones).
            scores = (rng.permutation(n) + 1.0) / n - 0.35
            scores = np.round(scores + rng.uniform(-0.01, 0.01, n), 6)
            rationale = [0] * n
            for t in range(1, n - 1, 2):  # every other content token
                rationale[t] = 1
            e = Explanation(text, tokens, scores, "fixture", target)
            er = ExplanationWithRationale(text, tokens, scores, "fixture", target, rationale)
            ex = {
                "text": text,
                "target": target,
                "tokens": tokens,
                "scores": scores.tolist(),
                "rationale": rationale,
                "top_k": TOP_K,
            }
            for name, ev in faith.items():
                ex[name] = float(ev.compute_evaluation(e, target=target).score)
            for name, ev in plausibility.items():
                ex[name] = float(ev.compute_evaluation(er, target=target, top_k_rationale=TOP_K).score)
            examples.append(ex)
            print(family, i, {k: round(ex[k], 6) for k in list(faith) + list(plausibility)})
        out = {
            "made_by": "tools/reference/make_ferret.py with ferret-xai 0.4.2 (float32 PyTorch)",
            "examples": examples,
        }
        with open(os.path.join(d, "ferret.json"), "w") as f:
            json.dump(out, f, indent=1, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
