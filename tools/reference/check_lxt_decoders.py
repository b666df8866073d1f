#!/usr/bin/env python3
"""Cross-check the AttnLRP of tests/fixtures/{llama,qwen2,gpt2}/decoder.json (make_decoders.py's
rules on transformers' modules) against LXT itself.

    PYTHONPATH=/tmp/calig-tf4 /path/to/venv/bin/python tools/reference/check_lxt_decoders.py

LXT 2.1 (PyPI `lxt`) patches Llama, Qwen2 and GPT-2 (`lxt.efficient.models.llama/qwen2/gpt2`:
RMSNorm's scale and LayerNorm's standard deviation held constant, the activations' identity
rule, the gate's uniform rule, query and key gradients divided by 4 and value gradients by 2); it is written for transformers 4.x, so this runs with
the environment of check_lxt.py (transformers 4.51.3 in a --target directory first on
PYTHONPATH; README.md). Mistral has no LXT patch. LXT's RMSNorm and transformers 4.51's rotary
embedding compute in float32 even in a float64 model, so the two agree to float32 precision,
not to 1e-10: the check fails above a relative L2 difference of 1e-5 per score vector.
"""

import json
import pathlib
import sys

import torch
import transformers
from lxt.efficient import monkey_patch
from transformers import AutoConfig, AutoModelForSequenceClassification
from transformers.models.gpt2 import modeling_gpt2
from transformers.models.llama import modeling_llama
from transformers.models.qwen2 import modeling_qwen2

REPO = pathlib.Path(__file__).resolve().parents[2]
MODULES = {"llama": modeling_llama, "qwen2": modeling_qwen2, "gpt2": modeling_gpt2}


def load(family):
    d = REPO / "tests" / "fixtures" / family
    raw = json.loads((d / "config.json").read_text(encoding="utf-8"))
    config = AutoConfig.from_pretrained(str(d))
    if "rope_parameters" in raw:  # transformers 5 writes rope_parameters; 4.51 reads rope_theta
        config.rope_theta = raw["rope_parameters"]["rope_theta"]
    model = AutoModelForSequenceClassification.from_pretrained(
        str(d), config=config, attn_implementation="eager").double().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, json.loads((d / "decoder.json").read_text(encoding="utf-8"))


def main():
    torch.set_num_threads(1)
    worst = 0.0
    for family, module in MODULES.items():
        monkey_patch(module, verbose=False)
        model, fx = load(family)
        for ex in fx["examples"] + fx["pairs"]:
            ids = torch.tensor([ex["input_ids"]])
            n = ids.shape[1]
            decoder = model.base_model
            emb = decoder.get_input_embeddings()(ids).detach().requires_grad_(True)
            h = decoder(inputs_embeds=emb, attention_mask=torch.ones_like(ids),
                            position_ids=torch.arange(n)[None]).last_hidden_state
            model.score(h[:, -1])[0, ex["target"]].backward()
            got = (emb.grad * emb).sum(-1)[0]
            want = torch.tensor(ex["attnlrp"]["scores"], dtype=torch.float64)
            rel = float((got - want).norm() / want.norm())
            worst = max(worst, rel)
            print(f"{family} {ex['text']!r} target {ex['target']}: LXT vs make_decoders.py "
                  f"relative L2 {rel:.2e}")
    print(f"transformers {transformers.__version__}, torch {torch.__version__}: worst {worst:.2e}")
    if worst > 1e-5:
        sys.exit("LXT and make_decoders.py disagree")


if __name__ == "__main__":
    main()
