#!/usr/bin/env python3
"""Check that Python transformers gives the same predictions as calig on a built-in model.

    python tools/train/check_transformers.py MODEL_DIR CALIG_JSON FORMAT PATH [--limit N]

CALIG_JSON is the --json output of `cargo run --release --example dev_accuracy -- MODEL FORMAT
PATH ...` (ids, predictions, logits in calig's order). FORMAT/PATH as there (sst2, movies, bbc,
amharic). Prints the prediction agreement and the largest |logit difference| over the first N
examples (default all).
"""
import argparse
import json
import os
import sys

import torch
from transformers import (AutoImageProcessor, AutoModelForImageClassification,
                          AutoModelForSequenceClassification, AutoTokenizer)

sys.path.insert(0, os.path.dirname(__file__))


def texts_by_id(fmt, path, labels):
    out = {}
    if fmt == "sst2":
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f.read().splitlines()[1:]):
                if line.strip():
                    out[str(i)] = line.rsplit("\t", 1)[0].strip()
    elif fmt == "movies":
        docs = os.path.join(os.path.dirname(path), "docs")
        for line in open(path, encoding="utf-8"):
            aid = json.loads(line)["annotation_id"]
            out[aid] = " ".join(open(os.path.join(docs, aid), encoding="utf-8").read().split())
    elif fmt == "bbc":
        for line in open(path, encoding="utf-8"):
            r = json.loads(line)
            out[r["id"]] = r["text"]
    elif fmt == "amharic":
        for i, line in enumerate(open(path, encoding="utf-8").read().splitlines()):
            if line.strip():
                out[str(i)] = line.split("\t", 1)[1].strip()
    return out


def check_images(a):
    """FORMAT `images`: PATH is a labels.tsv of `FILE<TAB>label` beside the image files."""
    from PIL import Image
    proc = AutoImageProcessor.from_pretrained(a.model)
    model = AutoModelForImageClassification.from_pretrained(a.model, dtype=torch.float32).eval()
    ours = json.load(open(a.calig_json))
    n = len(ours["ids"]) if a.limit <= 0 else min(a.limit, len(ours["ids"]))
    agree, worst = 0, 0.0
    with torch.no_grad():
        for i in range(n):
            img = Image.open(os.path.join(os.path.dirname(a.path), ours["ids"][i]))
            logits = model(**proc(images=img, return_tensors="pt")).logits[0]
            agree += int(int(logits.argmax()) == ours["pred"][i])
            worst = max(worst, float((logits - torch.tensor(ours["logits"][i])).abs().max()))
    print(json.dumps({"model": a.model, "examples": n, "prediction_agreement": agree / n,
                      "max_abs_logit_diff": worst}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("calig_json")
    ap.add_argument("format")
    ap.add_argument("path")
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.format == "images":
        return check_images(a)
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForSequenceClassification.from_pretrained(a.model, dtype=torch.float32).eval()
    ours = json.load(open(a.calig_json))
    texts = texts_by_id(a.format, a.path, None)
    n = len(ours["ids"]) if a.limit <= 0 else min(a.limit, len(ours["ids"]))
    agree, worst = 0, 0.0
    max_len = model.config.max_position_embeddings - (model.config.pad_token_id + 1
                                                      if model.config.model_type in ("roberta", "xlm-roberta") else 0)
    with torch.no_grad():
        for i in range(n):
            enc = tok(texts[ours["ids"][i]], truncation=True, max_length=max_len, return_tensors="pt")
            logits = model(**enc).logits[0]
            agree += int(int(logits.argmax()) == ours["pred"][i])
            worst = max(worst, float((logits - torch.tensor(ours["logits"][i])).abs().max()))
    print(json.dumps({"model": a.model, "examples": n, "prediction_agreement": agree / n,
                      "max_abs_logit_diff": worst}))


if __name__ == "__main__":
    main()
