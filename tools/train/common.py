"""Shared data loading and splitting for calig's reference classifiers (tools/train/).

Only the standard library and `tokenizers` are used at import time (numpy and torch only inside
`set_seed`), so this file runs unchanged on the training machine (GPU box: torch 2.11 /
transformers 5.17) and on the pinned local venv.

Data layout (`root` = ../shared/data or the unpacked .devjob/data.tar.xz):
  sst2/{train,dev}.tsv, eraser_movies/{train,val}.jsonl + docs/, bbc_news/{train.jsonl,labels.txt}
"""
import json
import os
import random
import re
import time

T0 = time.time()  # the training scripts' clock: log stamps, deadlines, wall time
LOGFILE = [None]  # set LOGFILE[0] to also append every log line to a file


def log(msg):
    """Print a line stamped with the wall time and the seconds since T0 (and append it to
    LOGFILE[0] when set)."""
    line = f"[{time.strftime('%H:%M:%S')} +{time.time() - T0:7.1f}s] {msg}"
    print(line, flush=True)
    if LOGFILE[0]:
        with open(LOGFILE[0], "a") as f:
            f.write(line + "\n")


def set_seed(s):
    import numpy as np
    import torch

    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)

SENTIMENT_ID2LABEL = {0: "negative", 1: "positive"}
BBC_DEV_SEED = 15
BBC_DEV_FRACTION = 0.15


# ---------------------------------------------------------------- SST-2
def load_sst2(root, split):
    """split: 'train' or 'dev'. Returns (texts, labels). Sentences are stripped of the GLUE
    trailing space (the tokenizer ignores it anyway)."""
    texts, labels = [], []
    with open(os.path.join(root, "sst2", f"{split}.tsv"), encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        assert header == ["sentence", "label"], header
        for line in f:
            s, y = line.rstrip("\n").rsplit("\t", 1)
            texts.append(s.strip())
            labels.append(int(y))
    return texts, labels


# ---------------------------------------------------------------- ERASER movies
def movie_text(root, docid):
    """The document as calig sees it: the whitespace tokens of docs/<docid> joined by single
    spaces (so ERASER's token offsets index text.split())."""
    with open(os.path.join(root, "eraser_movies", "docs", docid), encoding="utf-8") as f:
        return " ".join(f.read().split())


def load_movies(root, split):
    """split: 'train' or 'val'. Returns (ids, texts, labels) with NEG=0, POS=1."""
    ids, texts, labels = [], [], []
    with open(os.path.join(root, "eraser_movies", f"{split}.jsonl"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            ids.append(r["annotation_id"])
            texts.append(movie_text(root, r["annotation_id"]))
            labels.append({"NEG": 0, "POS": 1}[r["classification"]])
    return ids, texts, labels


# ---------------------------------------------------------------- BBC News
def bbc_labels(root):
    with open(os.path.join(root, "bbc_news", "labels.txt"), encoding="utf-8") as f:
        return [l.strip() for l in f if l.strip()]


def load_bbc(root):
    """All rows of bbc_news/train.jsonl as dicts (id, label, label_id, text), file order."""
    with open(os.path.join(root, "bbc_news", "train.jsonl"), encoding="utf-8") as f:
        return [json.loads(l) for l in f]


def _shingles(text, n=8):
    w = re.findall(r"\w+", text.lower())
    return {" ".join(w[i:i + n]) for i in range(max(0, len(w) - n + 1))}


def bbc_groups(rows):
    """Leakage-safe groups, as in bbc_news/PROVENANCE.md: documents with the same headline
    (case-insensitive) or word 8-gram overlap |A∩B|/min(|A|,|B|) >= 0.5 are joined (union-find).
    Returns a list of groups (lists of row indices), each sorted, groups sorted by first index."""
    parent = list(range(len(rows)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a, b):
        a, b = find(a), find(b)
        if a != b:
            parent[max(a, b)] = min(a, b)

    heads = {}
    for i, r in enumerate(rows):
        h = r["text"].split("\n", 1)[0].strip().lower()
        if h in heads:
            union(i, heads[h])
        else:
            heads[h] = i
    sh = [_shingles(r["text"]) for r in rows]
    index = {}
    for i, s in enumerate(sh):
        for g in s:
            index.setdefault(g, []).append(i)
    for i, s in enumerate(sh):
        counts = {}
        for g in s:
            for j in index[g]:
                if j > i:
                    counts[j] = counts.get(j, 0) + 1
        for j, c in counts.items():
            if c / max(1, min(len(s), len(sh[j]))) >= 0.5:
                union(i, j)
    groups = {}
    for i in range(len(rows)):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


def bbc_dev_ids(rows, labels, seed=BBC_DEV_SEED, fraction=BBC_DEV_FRACTION):
    """Stratified, group-aware dev split of bbc_news/train.jsonl. For each class (labels.txt
    order) its groups are shuffled with one random.Random(seed) shared by all classes; groups
    are added to dev while the class's dev count stays <= round(fraction * class size).
    Returns the sorted list of dev ids."""
    rng = random.Random(seed)
    groups = bbc_groups(rows)
    dev = []
    for lab in labels:
        gs = [g for g in groups if rows[g[0]]["label"] == lab]
        assert all(rows[i]["label"] == lab for g in gs for i in g), "group crosses classes"
        n = sum(len(g) for g in gs)
        target = round(fraction * n)
        rng.shuffle(gs)
        got = 0
        for g in gs:
            if got + len(g) <= target:
                dev.extend(rows[i]["id"] for i in g)
                got += len(g)
    return sorted(dev)


def read_ids(path):
    with open(path, encoding="utf-8") as f:
        return [l.strip() for l in f if l.strip()]


# ---------------------------------------------------------------- tokenisation
def load_tokenizer(path):
    """tokenizer.json with its shipped fixed padding/truncation switched off."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(path)
    tok.no_padding()
    tok.no_truncation()
    return tok


def encode(tok, texts, max_len, strategy="head", head=128):
    """Token ids with special tokens, at most max_len long.
    strategy 'head': keep the first max_len-2 word pieces (what calig and transformers do
    with truncation=True). 'head_tail': keep the first `head` and the last max_len-2-head word
    pieces (Sun et al., 2019)."""
    encs = tok.encode_batch(texts)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    out = []
    n_trunc = 0
    for e in encs:
        ids = e.ids
        assert ids[0] == cls_id and ids[-1] == sep_id
        body = ids[1:-1]
        room = max_len - 2
        if len(body) > room:
            n_trunc += 1
            if strategy == "head":
                body = body[:room]
            elif strategy == "head_tail":
                body = body[:head] + body[len(body) - (room - head):]
            else:
                raise ValueError(strategy)
        out.append([cls_id] + body + [sep_id])
    return out, n_trunc
