#!/usr/bin/env python3
"""Captum on the GPU, the peer of `examples/bench.rs random-bert-base` (tools/bench/gpu/run.sh).

    python3 captum_gpu.py OUT.json [--tokens 128,512] [--steps 50] [--modes fp32,tf32,bf16]
                          [--warmup 1] [--reps 3] [--device cuda] [--tiny]

A randomly initialised BertForSequenceClassification(BertConfig()) (BERT-base: 12 layers, width
768, 12 heads; torch.manual_seed(0)), eval mode, eager attention; an input of random ids with
[CLS] first and [SEP] last; the reference keeps [CLS]/[SEP] and pads the rest (calig's `pad`).
Two workloads, each `warmup` runs then the median of `reps`, torch.cuda.synchronize() around:
  ig:     LayerIntegratedGradients on the word embeddings (= IG), n_steps Gauss-Legendre points
          in one batch (internal_batch_size = n_steps);
  layers: the work CA-LIG needs (tools/bench/side_by_side.py's loop): LayerIntegratedGradients on
          the embeddings and on each encoder layer's output, plus one forward with the attention
          maps and one backward to their gradients.
Modes: fp32 (TF32 off), tf32 (torch.backends.cuda.matmul.allow_tf32), bf16 (the model in
bfloat16). Writes one JSON object: per mode and length the median seconds and the peak allocated
memory. --tiny: a 2-layer width-64 model, for a CPU smoke test of this script.
"""
import argparse
import json
import statistics
import time

import torch
from captum.attr import LayerIntegratedGradients
from transformers import BertConfig, BertForSequenceClassification


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tokens", default="128,512")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--modes", default="fp32,tf32,bf16")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true")
    a = ap.parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    torch.manual_seed(0)
    cfg = BertConfig(num_labels=2, attn_implementation="eager")
    if a.tiny:
        cfg = BertConfig(num_labels=2, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=128, attn_implementation="eager")
    base_model = BertForSequenceClassification(cfg).eval().to(dev)
    out = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__,
           "steps": a.steps, "results": []}

    def sync():
        if cuda:
            torch.cuda.synchronize()

    for mode in a.modes.split(","):
        torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
        torch.backends.cudnn.allow_tf32 = mode == "tf32"
        model = base_model.to(torch.bfloat16) if mode == "bf16" else base_model.float()
        bert = model.bert

        def forward(ids, target=1):
            return model(input_ids=ids).logits[:, target]

        for n in map(int, a.tokens.split(",")):
            g = torch.Generator().manual_seed(n)
            ids = torch.randint(1000, cfg.vocab_size, (1, n), generator=g)
            ids[0, 0], ids[0, -1] = 101, 102
            ids = ids.to(dev)
            ref = torch.zeros_like(ids)
            ref[0, 0], ref[0, -1] = 101, 102

            def lig(layer):
                return LayerIntegratedGradients(forward, layer).attribute(
                    ids, baselines=ref, n_steps=a.steps, internal_batch_size=a.steps)

            def ig():
                lig(bert.embeddings.word_embeddings)

            def layers():
                lig(bert.embeddings)
                for block in bert.encoder.layer:
                    lig(block)
                o = model(input_ids=ids, output_attentions=True)
                for att in o.attentions:
                    att.retain_grad()
                o.logits[0, 1].backward()
                [att.grad.sum().item() for att in o.attentions]

            for name, work in (("ig", ig), ("layers", layers)):
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                times = []
                for i in range(a.warmup + a.reps):
                    sync()
                    t = time.perf_counter()
                    work()
                    sync()
                    if i >= a.warmup:
                        times.append(time.perf_counter() - t)
                row = {"mode": mode, "tokens": n, "work": name,
                       "median_s": statistics.median(times), "times_s": times,
                       "peak_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None}
                print(json.dumps(row), flush=True)
                out["results"].append(row)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
