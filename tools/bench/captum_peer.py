#!/usr/bin/env python3
"""The Python peer for calig's speed benchmark: the same explanations with Captum 0.9 on PyTorch.

    python tools/bench/captum_peer.py MODEL_DIR "sentence" [--steps 50] [--batch 32] [--reps 3]

Prints one JSON object: median wall seconds (model loading excluded) of
  ig:   LayerIntegratedGradients on embeddings.word_embeddings (calig --method ig)
  lig:  LayerIntegratedGradients on h^(0..L), one Captum run per layer, since Captum cannot
        attribute to dependent layers in one call (calig --method lig --layers all)
  calig_parts: LIG on h^(1..L) plus one forward/backward for the attention gradients, i.e. the
        work CA-LIG needs (calig --method calig)
with the pad reference input of DESIGN §3, gausslegendre, internal_batch_size = --batch.
"""
import argparse
import json
import statistics
import time

import torch
from captum.attr import LayerIntegratedGradients
from transformers import AutoModelForSequenceClassification, AutoTokenizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("text")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForSequenceClassification.from_pretrained(a.model, attn_implementation="eager").eval()
    enc = tok(a.text, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    special = torch.tensor(tok.get_special_tokens_mask(ids[0].tolist(), already_has_special_tokens=True)).bool()
    ref = ids.clone()
    ref[0, ~special] = tok.pad_token_id
    positions = torch.arange(ids.shape[1]).unsqueeze(0)
    tt = enc.get("token_type_ids", torch.zeros_like(ids))
    with torch.no_grad():
        target = int(model(ids, attention_mask=mask).logits.argmax(-1))
    base = getattr(model, model.base_model_prefix)

    def fwd(input_ids):
        n = input_ids.shape[0]
        return model(input_ids, attention_mask=mask.expand(n, -1), token_type_ids=tt.expand(n, -1),
                     position_ids=positions.expand(n, -1)).logits

    def lig(layer):
        return LayerIntegratedGradients(fwd, layer).attribute(
            ids, baselines=ref, target=target, n_steps=a.steps, method="gausslegendre",
            internal_batch_size=a.batch)

    blocks = list(base.encoder.layer)

    def run_ig():
        lig(base.embeddings.word_embeddings)

    def run_lig():
        for layer in [base.embeddings] + blocks:
            lig(layer)

    def run_calig():
        for layer in blocks:
            lig(layer)
        out = model(ids, attention_mask=mask, output_attentions=True)
        for att in out.attentions:
            att.retain_grad()
        out.logits[0, target].backward()
        _ = [(att.grad * att).clamp(min=0).mean(1) for att in out.attentions]

    result = {"tokens": int(ids.shape[1]), "steps": a.steps, "batch": a.batch, "threads": a.threads,
              "torch": torch.__version__}
    for name, f in [("ig", run_ig), ("lig", run_lig), ("calig_parts", run_calig)]:
        times = []
        for _ in range(a.reps):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        result[name] = statistics.median(times)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
