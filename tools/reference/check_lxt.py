#!/usr/bin/env python3
"""Cross-check tests/fixtures/bert/lrp.json (make_lrp.py's own AttnLRP) against LXT itself.

    PYTHONPATH=/tmp/calig-tf4 /path/to/venv/bin/python tools/reference/check_lxt.py

LXT 2.1 (PyPI `lxt`) patches BERT for AttnLRP with a copy of transformers' modeling_bert that
imports names removed in transformers 5, so this check runs with transformers 4.51.3 and
tokenizers 0.21.1 installed in a separate --target directory put first on PYTHONPATH (see
README.md). Only the BERT fixture: LXT's efficient mode has no patch for RoBERTa, XLM-R,
DistilBERT or Hugging Face's ViT. Prints the relative L2 difference of every score vector and
fails above 1e-10 (both are float64).
"""

import json
import pathlib
import sys

import torch
import transformers
from lxt.efficient import monkey_patch
from transformers import BertForSequenceClassification
from transformers.models.bert import modeling_bert

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "bert"


def main():
    torch.set_num_threads(1)
    monkey_patch(modeling_bert, verbose=False)
    model = BertForSequenceClassification.from_pretrained(str(FIXTURE), attn_implementation="eager")
    model = model.double().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    attributions = json.loads((FIXTURE / "attributions.json").read_text(encoding="utf-8"))
    lrp = json.loads((FIXTURE / "lrp.json").read_text(encoding="utf-8"))
    worst = 0.0
    for ex, ref in zip(attributions["examples"], lrp["examples"]):
        assert (ex["example_index"], ex["target"]) == (ref["example_index"], ref["target"])
        ids = torch.tensor([ex["input_ids"]])
        emb = model.bert.embeddings.word_embeddings(ids).detach().requires_grad_(True)
        logits = model(inputs_embeds=emb,
                       attention_mask=torch.tensor([ex["attention_mask"]]),
                       token_type_ids=torch.tensor([ex["token_type_ids"]]),
                       position_ids=torch.tensor([ex["position_ids"]])).logits
        logits[0, ex["target"]].backward()
        got = (emb.grad * emb).sum(-1)[0]
        want = torch.tensor(ref["attnlrp"]["scores"], dtype=torch.float64)
        rel = float((got - want).norm() / want.norm())
        worst = max(worst, rel)
        print(f"bert ex {ex['example_index']} target {ex['target']}: LXT vs make_lrp.py "
              f"relative L2 {rel:.2e}")
    print(f"transformers {transformers.__version__}, torch {torch.__version__}: worst {worst:.2e}")
    if worst > 1e-10:
        sys.exit("LXT and make_lrp.py disagree")


if __name__ == "__main__":
    main()
