"""Build .devjob/ (git-ignored via .git/info/exclude): what the GPU machine needs for
tools/train/devjob.sh besides the tracked tree.

  .devjob/minilm-l6/   all-MiniLM-L6-v2 from models/minilm-l6 (scripts/fetch-assets.sh), weights
                       cast to fp16 (embeddings.position_ids buffer dropped), tokenizer files
  .devjob/data.tar.xz  sst2/{train,dev}.tsv, eraser_movies/{train,val}.jsonl + docs/,
                       bbc_news/{train.jsonl,labels.txt} from ../shared/data
  .devjob/fmnist/      (with --fmnist DIR) the four Fashion-MNIST *.gz files, for devjob_vit.sh
Carry list for devjob.sh: .devjob/minilm-l6 .devjob/data.tar.xz; for devjob_vit.sh: .devjob/fmnist

usage: python tools/train/make_devjob.py [--data ../shared/data] [--minilm models/minilm-l6]
"""
import argparse
import os
import shutil
import tarfile

import torch
from safetensors.torch import load_file, save_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--minilm", default=os.path.join(ROOT, "models", "minilm-l6"))
    ap.add_argument("--out", default=os.path.join(ROOT, ".devjob"))
    ap.add_argument("--fmnist", default=None, help="folder with the Debian package's *-ubyte.gz files")
    a = ap.parse_args()
    if a.fmnist:
        os.makedirs(os.path.join(a.out, "fmnist"), exist_ok=True)
        for f in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                  "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]:
            shutil.copy(os.path.join(a.fmnist, f), os.path.join(a.out, "fmnist"))
    md = os.path.join(a.out, "minilm-l6")
    os.makedirs(md, exist_ok=True)
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"]:
        shutil.copy(os.path.join(a.minilm, f), md)
    sd = load_file(os.path.join(a.minilm, "model.safetensors"))
    sd = {k: v.half().contiguous() for k, v in sd.items() if not k.endswith("position_ids")}
    save_file(sd, os.path.join(md, "model.safetensors"), metadata={"format": "pt"})
    files = ["sst2/train.tsv", "sst2/dev.tsv", "eraser_movies/train.jsonl", "eraser_movies/val.jsonl",
             "eraser_movies/docs", "bbc_news/train.jsonl", "bbc_news/labels.txt"]
    with tarfile.open(os.path.join(a.out, "data.tar.xz"), "w:xz", preset=9) as t:
        for f in files:
            t.add(os.path.join(a.data, f), arcname=f)
    total = 0
    for dp, _, fs in os.walk(a.out):
        for f in fs:
            s = os.path.getsize(os.path.join(dp, f))
            total += s
            print(f"{s / 2**20:8.2f} MiB  {os.path.relpath(os.path.join(dp, f), a.out)}")
    print(f"{total / 2**20:8.2f} MiB  total")


if __name__ == "__main__":
    main()
