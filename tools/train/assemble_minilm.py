"""Turn the GPU job's results (tools/train/devjob.sh -> $OUT) into models-src/<name>/ and,
optionally, full fp32 checkpoints models/<name>/ (what set-up will build in Rust/shell).

  models-src/<name>/model.safetensors   fp16, WITHOUT bert.embeddings.word_embeddings.weight
                                        (byte-exact payload of <name>.safetensors.xz.*; sha256 checked)
  models-src/<name>/config.json         all-MiniLM-L6-v2 config + id2label/label2id, architectures
  models-src/<name>/tokenizer.json ...  all-MiniLM-L6-v2 tokenizer, padding off, truncation 512
  models-src/<name>/metrics.json, train_log.txt

usage: python tools/train/assemble_minilm.py RESULTS_DIR [--minilm models/minilm-l6]
          [--src models-src] [--full models]
"""
import argparse
import hashlib
import json
import lzma
import os
import shutil

import torch
from safetensors.torch import load as st_load, load_file, save_file

WORD_EMB = "bert.embeddings.word_embeddings.weight"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read_payload(results, info):
    comp = b"".join(open(os.path.join(results, p), "rb").read() for p in info["parts"])
    blob = lzma.decompress(comp)
    assert hashlib.sha256(blob).hexdigest() == info["safetensors_sha256"], "sha256 mismatch"
    return blob


def config_for(minilm, task):
    cfg = json.load(open(os.path.join(minilm, "config.json")))
    for k in ["_name_or_path", "gradient_checkpointing", "transformers_version"]:
        cfg.pop(k, None)
    id2label = {str(k): v for k, v in task["config"]["id2label"].items()}
    cfg["architectures"] = ["BertForSequenceClassification"]
    cfg["id2label"] = id2label
    cfg["label2id"] = {v: int(k) for k, v in id2label.items()}
    cfg["problem_type"] = "single_label_classification"
    return cfg


def copy_tokenizer(minilm, dst):
    tj = json.load(open(os.path.join(minilm, "tokenizer.json"), encoding="utf-8"))
    tj["padding"] = None
    tj["truncation"] = {"direction": "Right", "max_length": 512, "strategy": "LongestFirst", "stride": 0}
    with open(os.path.join(dst, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    tc = json.load(open(os.path.join(minilm, "tokenizer_config.json")))
    tc.pop("name_or_path", None)
    tc["model_max_length"] = 512
    json.dump(tc, open(os.path.join(dst, "tokenizer_config.json"), "w"), indent=1)
    shutil.copy(os.path.join(minilm, "special_tokens_map.json"), dst)


def train_log(name, task):
    lines = []
    for r in task["runs"]:
        lines.append(f"== {name} run {r['run']} ({r['strategy']}, hyper {json.dumps(r['hyper'])})")
        for e in r["epochs"]:
            lines.append(f"epoch {e['epoch']} steps {e['steps']} train_loss {e['train_loss']} dev_loss {e['dev_loss']} "
                         f"dev_acc {e['dev_acc']} dev_macro_f1 {e['dev_macro_f1']} ({e['seconds']}s)")
        lines.append(f"best epoch {r['best_epoch']} dev_acc {r['best_dev_acc']}; shipped fp16 weights dev_acc "
                     f"{r['shipped_dev_acc']}; run time {r['seconds']}s")
    lines.append(f"selected run: {task['selected']}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--minilm", default=os.path.join(ROOT, "models", "minilm-l6"))
    ap.add_argument("--src", default=os.path.join(ROOT, "models-src"))
    ap.add_argument("--full", default=None, help="also write full fp32 checkpoints here (e.g. models)")
    a = ap.parse_args()
    m = json.load(open(os.path.join(a.results, "metrics.json")))
    reg = load_file(os.path.join(a.minilm, "model.safetensors"))["embeddings.word_embeddings.weight"]
    for name, task in m["tasks"].items():
        blob = read_payload(a.results, task["file"])
        dst = os.path.join(a.src, name)
        os.makedirs(dst, exist_ok=True)
        with open(os.path.join(dst, "model.safetensors"), "wb") as f:
            f.write(blob)
        cfg = config_for(a.minilm, task)
        json.dump(cfg, open(os.path.join(dst, "config.json"), "w"), indent=2)
        copy_tokenizer(a.minilm, dst)
        met = {k: v for k, v in task.items() if k not in ("config", "dev_logits")}
        met.update(hardware=m["hardware"], versions=m["versions"], precision=m["precision"],
                   selection=m["selection"], job_elapsed_s=m.get("elapsed_s"), smoke=m["smoke"])
        json.dump(met, open(os.path.join(dst, "metrics.json"), "w"), indent=1)
        open(os.path.join(dst, "train_log.txt"), "w").write(train_log(name, task))
        print(f"{dst}: {len(blob) / 2**20:.1f} MiB fp16, selected {task['selected']} dev_acc {task['shipped_dev_acc']}")
        if a.full:
            full = os.path.join(a.full, name)
            os.makedirs(full, exist_ok=True)
            sd = {k: v.float() for k, v in st_load(blob).items()}
            assert WORD_EMB not in sd
            sd[WORD_EMB] = reg.float().contiguous()
            save_file(sd, os.path.join(full, "model.safetensors"), metadata={"format": "pt"})
            for f in ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
                shutil.copy(os.path.join(dst, f), full)
            print(f"  full fp32 checkpoint: {full}")


if __name__ == "__main__":
    main()
