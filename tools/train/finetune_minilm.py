"""Fine-tune all-MiniLM-L6-v2 into calig's three text classifiers (minilm-sst2, minilm-movies,
minilm-bbc) in one run, plain PyTorch loop (no Trainer), bf16 autocast on CUDA.

Run through tools/train/devjob.sh (unpacks .devjob/data.tar.xz), see tools/train/README.md.
Writes into --out, per task, the trainable tensors of the selected checkpoint as an fp16
safetensors file WITHOUT bert.embeddings.word_embeddings.weight (frozen during training, so it
equals the registry tensor), xz-compressed and split into <= 15 MiB parts
(<name>.safetensors.xz.00, .01, ...), plus metrics.json (per-epoch logs, dev predictions,
timings, versions). Reassemble with tools/train/assemble_minilm.py.
"""
import argparse
import hashlib
import json
import lzma
import math
import os
import platform
import random
import sys
import time

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import numpy as np
import torch
import transformers
import tokenizers
import safetensors
from safetensors.torch import save as st_save
from transformers import BertForSequenceClassification

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

T0 = time.time()
DEADLINE = [float("inf")]  # seconds after T0 at which a run stops training (set by --deadline-s)
PART_BYTES = 15 * 1024 * 1024
WORD_EMB = "bert.embeddings.word_embeddings.weight"

# name, task, seed and hyper-parameters of each run. "extra" runs are done only if the time
# budget allows (after every primary run), and the best dev checkpoint over a task's runs wins
# (movies: see select_movies).
RUNS = [
    dict(name="minilm-movies", run="head512", lr=5e-5, bs=16, epochs=8, max_len=512, warmup=0.1, seed=42, extra=False, strategy="head"),
    dict(name="minilm-bbc", run="head512", lr=5e-5, bs=16, epochs=6, max_len=512, warmup=0.1, seed=42, extra=False, strategy="head"),
    dict(name="minilm-sst2", run="lr1e-4", lr=1e-4, bs=32, epochs=3, max_len=128, warmup=0.06, seed=42, extra=False),
    dict(name="minilm-sst2", run="lr5e-5", lr=5e-5, bs=32, epochs=3, max_len=128, warmup=0.06, seed=42, extra=True),
    dict(name="minilm-movies", run="headtail512", lr=5e-5, bs=16, epochs=8, max_len=512, warmup=0.1, seed=42, extra=True, strategy="head_tail"),
]


def log(msg):
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def pad_batch(seqs, device):
    n = max(len(s) for s in seqs)
    ids = np.zeros((len(seqs), n), dtype=np.int64)
    mask = np.zeros((len(seqs), n), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = s
        mask[i, :len(s)] = 1
    ids = torch.from_numpy(ids).to(device, non_blocking=True)
    mask = torch.from_numpy(mask).to(device, non_blocking=True)
    return ids, mask


def autocast(device):
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=False)


@torch.no_grad()
def predict(model, seqs, device, bs=64, amp=True):
    model.eval()
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    logits = [None] * len(seqs)
    for k in range(0, len(order), bs):
        idx = order[k:k + bs]
        ids, mask = pad_batch([seqs[i] for i in idx], device)
        if amp:
            with autocast(device):
                out = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).logits
        else:
            out = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).logits
        out = out.float().cpu()
        for j, i in enumerate(idx):
            logits[i] = out[j]
    return torch.stack(logits)


def accuracy(logits, labels):
    return float((logits.argmax(-1) == torch.tensor(labels)).float().mean())


def macro_f1(pred, labels, k):
    f1s = []
    for c in range(k):
        tp = sum(1 for p, y in zip(pred, labels) if p == c and y == c)
        fp = sum(1 for p, y in zip(pred, labels) if p == c and y != c)
        fn = sum(1 for p, y in zip(pred, labels) if p != c and y == c)
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / k


def train_run(cfg, model_dir, data, device, smoke):
    """One fine-tuning run. Returns (best_state (cpu fp32), record)."""
    t_start = time.time()
    set_seed(cfg["seed"])
    id2label = data["id2label"]
    model = BertForSequenceClassification.from_pretrained(
        model_dir, num_labels=len(id2label), id2label=id2label,
        label2id={v: k for k, v in id2label.items()}, dtype=torch.float32)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    model.to(device)
    tr, trl = data["train"], data["train_labels"]
    dv, dvl = data["dev"], data["dev_labels"]
    steps_per_epoch = math.ceil(len(tr) / cfg["bs"])
    epochs = cfg["epochs"] if not smoke else 2
    if smoke:
        steps_per_epoch = min(steps_per_epoch, 2)
    total = steps_per_epoch * epochs
    warm = max(1, int(cfg["warmup"] * total))
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if n.endswith("bias") or "LayerNorm" in n else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-6,
                            fused=(device.type == "cuda"))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    rng = np.random.default_rng(cfg["seed"])
    best, best_acc, epochs_log = None, -1.0, []
    step = 0
    for ep in range(1, epochs + 1):
        model.train()
        t_ep = time.time()
        perm = rng.permutation(len(tr))
        loss_sum = torch.zeros((), device=device)
        stopped = False
        for b in range(steps_per_epoch):
            if b % 50 == 0 and time.time() - T0 > DEADLINE[0]:
                stopped = True
                break
            idx = perm[b * cfg["bs"]:(b + 1) * cfg["bs"]]
            ids, mask = pad_batch([tr[i] for i in idx], device)
            y = torch.tensor([trl[i] for i in idx], device=device)
            with autocast(device):
                logits = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).logits
            loss = torch.nn.functional.cross_entropy(logits.float(), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            loss_sum += loss.detach()
            step += 1
        if stopped:
            log(f"{cfg['name']}/{cfg['run']}: deadline {DEADLINE[0]:.0f}s reached in epoch {ep} after step {step}")
        train_loss = float(loss_sum) / max(1, b if stopped else steps_per_epoch)
        dl = predict(model, dv, device)
        dev_loss = float(torch.nn.functional.cross_entropy(dl, torch.tensor(dvl)))
        acc = accuracy(dl, dvl)
        mf1 = macro_f1(dl.argmax(-1).tolist(), dvl, len(id2label))
        rec = dict(epoch=ep, steps=step, stopped_at_deadline=stopped, train_loss=round(train_loss, 5), dev_loss=round(dev_loss, 5),
                   dev_acc=round(acc, 5), dev_macro_f1=round(mf1, 5), lr_end=opt.param_groups[0]["lr"],
                   seconds=round(time.time() - t_ep, 2))
        epochs_log.append(rec)
        log(f"{cfg['name']}/{cfg['run']} epoch {ep}/{epochs}: train_loss {train_loss:.4f} "
            f"dev_loss {dev_loss:.4f} dev_acc {acc:.4f} macro_f1 {mf1:.4f} ({rec['seconds']}s)")
        if acc > best_acc:
            best_acc = acc
            best = {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()}
            best_epoch = ep
        if stopped:
            break
    del model, opt
    if device.type == "cuda":
        torch.cuda.empty_cache()
    record = dict(run=cfg["run"], hyper={k: v for k, v in cfg.items() if k not in ("name", "run", "extra")},
                  epochs_run=epochs, steps_per_epoch=steps_per_epoch, train_examples=len(tr),
                  dev_examples=len(dv), best_epoch=best_epoch, best_dev_acc=round(best_acc, 5),
                  epochs=epochs_log, seconds=round(time.time() - t_start, 2))
    return best, record


def shipped(best, model_dir, data, device):
    """fp16-round the selected weights (as shipped), rebuild the model in fp32 and evaluate it
    without autocast, as calig / transformers will run it."""
    sd16 = {k: v.half().contiguous() for k, v in best.items() if k != WORD_EMB and not k.endswith("position_ids")}
    id2label = data["id2label"]
    model = BertForSequenceClassification.from_pretrained(
        model_dir, num_labels=len(id2label), id2label=id2label,
        label2id={v: k for k, v in id2label.items()}, dtype=torch.float32)
    full = {k: v.float() for k, v in sd16.items()}
    full[WORD_EMB] = model.bert.embeddings.word_embeddings.weight.detach().clone()
    missing, unexpected = model.load_state_dict(full, strict=False)
    assert not unexpected, unexpected
    assert all(m.endswith("position_ids") for m in missing), missing
    model.to(device)
    dl = predict(model, data["dev"], device, amp=False)
    config = model.config.to_dict()
    del model
    return sd16, dl, config


def write_parts(out_dir, name, sd16):
    blob = st_save(sd16, metadata={"format": "pt"})
    sha = hashlib.sha256(blob).hexdigest()
    comp = lzma.compress(blob, preset=1)
    for old in os.listdir(out_dir):
        if old.startswith(name + ".safetensors.xz."):
            os.remove(os.path.join(out_dir, old))
    parts = []
    for i in range(0, len(comp), PART_BYTES):
        p = f"{name}.safetensors.xz.{i // PART_BYTES:02d}"
        with open(os.path.join(out_dir, p), "wb") as f:
            f.write(comp[i:i + PART_BYTES])
        parts.append(p)
    return dict(safetensors_sha256=sha, safetensors_bytes=len(blob), xz_bytes=len(comp), parts=parts,
                tensors=len(sd16), params=sum(v.numel() for v in sd16.values()))


def load_task_data(name, root, tok, smoke):
    t = time.time()
    d = {}
    if name == "minilm-sst2":
        tx, ty = common.load_sst2(root, "train")
        vx, vy = common.load_sst2(root, "dev")
        d["id2label"] = dict(common.SENTIMENT_ID2LABEL)
        d["dev_ids"] = list(range(len(vx)))
    elif name == "minilm-movies":
        _, tx, ty = common.load_movies(root, "train")
        d["dev_ids"], vx, vy = common.load_movies(root, "val")
        d["id2label"] = dict(common.SENTIMENT_ID2LABEL)
    elif name == "minilm-bbc":
        rows = common.load_bbc(root)
        labels = common.bbc_labels(root)
        here = os.path.dirname(os.path.abspath(__file__))
        ids_file = os.path.join(here, "..", "..", "models-src", "minilm-bbc", "dev_ids.txt")
        dev_ids = common.read_ids(ids_file)
        assert dev_ids == common.bbc_dev_ids(rows, labels), "dev_ids.txt differs from bbc_dev_ids()"
        dev = set(dev_ids)
        tr = [r for r in rows if r["id"] not in dev]
        dv = [r for r in rows if r["id"] in dev]
        tx, ty = [r["text"] for r in tr], [r["label_id"] for r in tr]
        vx, vy = [r["text"] for r in dv], [r["label_id"] for r in dv]
        d["dev_ids"] = [r["id"] for r in dv]
        d["id2label"] = dict(enumerate(labels))
    else:
        raise ValueError(name)
    if smoke:
        tx, ty, vx, vy, d["dev_ids"] = tx[:64], ty[:64], vx[:32], vy[:32], d["dev_ids"][:32]
    d["train_texts"], d["train_labels"], d["dev_texts"], d["dev_labels"] = tx, ty, vx, vy
    log(f"{name}: {len(tx)} train / {len(vx)} dev texts loaded ({time.time() - t:.1f}s)")
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="all-MiniLM-L6-v2 directory (config.json, model.safetensors, tokenizer.json)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--smoke", action="store_true", help="64 train / 32 dev examples, 2 steps x 2 epochs, all runs")
    ap.add_argument("--budget-s", type=float, default=400.0,
                    help="extra runs start only if they are expected to end before this many seconds")
    ap.add_argument("--deadline-s", type=float, default=480.0,
                    help="a run still training this many seconds after start stops and keeps its best checkpoint")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    DEADLINE[0] = args.deadline_s
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.makedirs(args.out, exist_ok=True)
    metrics = dict(
        job="tools/train/finetune_minilm.py", argv=sys.argv[1:], smoke=args.smoke,
        hardware=dict(device=str(device), gpu=torch.cuda.get_device_name(0) if device.type == "cuda" else None,
                      cpu_threads=torch.get_num_threads(), platform=platform.platform()),
        versions=dict(python=platform.python_version(), torch=torch.__version__, transformers=transformers.__version__,
                      tokenizers=tokenizers.__version__, safetensors=safetensors.__version__, numpy=np.__version__,
                      cuda=torch.version.cuda),
        precision="bf16 autocast for training and per-epoch eval; shipped weights fp16, evaluated in fp32",
        selection="per task: checkpoint (epoch, run) with the best dev accuracy; word embeddings frozen",
        tasks={})
    log(f"device {device} {metrics['hardware']['gpu']}; torch {torch.__version__} transformers {transformers.__version__}")

    tok = common.load_tokenizer(os.path.join(args.model, "tokenizer.json"))
    data = {}

    def get_data(name, strategy, max_len):
        if name not in data:
            data[name] = load_task_data(name, args.data, tok, args.smoke)
        d = data[name]
        key = (strategy, max_len)
        if d.get("key") != key:
            t = time.time()
            d["train"], ntr = common.encode(tok, d["train_texts"], max_len, strategy)
            d["dev"], ndv = common.encode(tok, d["dev_texts"], max_len, strategy)
            d["key"] = key
            d["truncated"] = dict(train=ntr, dev=ndv)
            log(f"{name}: tokenised ({strategy}, {max_len}) in {time.time() - t:.1f}s; truncated train {ntr} dev {ndv}")
        return d

    run_times = {}
    primaries = [r for r in RUNS if not r["extra"]]
    extras = [r for r in RUNS if r["extra"]]
    for cfg in primaries + extras:
        name = cfg["name"]
        if cfg["extra"] and not args.smoke:
            est = run_times.get(name, 0.0) * 1.1 + 10
            if time.time() - T0 + est > args.budget_s:
                log(f"skip extra run {name}/{cfg['run']}: expected {est:.0f}s, "
                    f"{time.time() - T0:.0f}s used of the {args.budget_s:.0f}s budget")
                metrics["tasks"].setdefault(name, {}).setdefault("skipped_runs", []).append(cfg["run"])
                continue
        strategy = cfg.get("strategy", "head")
        d = get_data(name, strategy, cfg["max_len"])
        best, rec = train_run(cfg, args.model, d, device, args.smoke)
        run_times[name] = rec["seconds"]
        sd16, dl, config = shipped(best, args.model, d, device)
        rec["strategy"] = strategy
        rec["truncated"] = d["truncated"]
        rec["shipped_dev_acc"] = round(accuracy(dl, d["dev_labels"]), 5)
        pred = dl.argmax(-1).tolist()
        rec["shipped_dev_macro_f1"] = round(macro_f1(pred, d["dev_labels"], len(d["id2label"])), 5)
        # the other truncation strategy at inference (movies: calig truncates at the head)
        if name == "minilm-movies":
            other = "head_tail" if strategy == "head" else "head"
            seqs, _ = common.encode(tok, d["dev_texts"], cfg["max_len"], other)
            m = BertForSequenceClassification.from_pretrained(
                args.model, num_labels=2, id2label=d["id2label"],
                label2id={v: k for k, v in d["id2label"].items()}, dtype=torch.float32)
            full = {k: v.float() for k, v in sd16.items()}
            full[WORD_EMB] = m.bert.embeddings.word_embeddings.weight.detach().clone()
            m.load_state_dict(full, strict=False)
            m.to(device)
            rec[f"shipped_dev_acc_infer_{other}"] = round(accuracy(predict(m, seqs, device, amp=False), d["dev_labels"]), 5)
            del m
        log(f"{name}/{cfg['run']}: best epoch {rec['best_epoch']} dev_acc {rec['best_dev_acc']:.4f}; "
            f"shipped fp16 dev_acc {rec['shipped_dev_acc']:.4f} ({rec['seconds']:.0f}s)")
        task = metrics["tasks"].setdefault(name, {})
        task.setdefault("runs", []).append(rec)
        cur = task.get("selected")
        better = cur is None or rec["shipped_dev_acc"] > task["shipped_dev_acc"]
        if name == "minilm-movies" and cur is not None:
            # calig truncates at the head: keep the head-512 model unless it misses the 85% target
            # and the head+tail model does better.
            better = task["shipped_dev_acc"] < 0.85 and rec["shipped_dev_acc"] > task["shipped_dev_acc"]
        if better:
            task["selected"] = cfg["run"]
            task["strategy"] = strategy
            task["max_len"] = cfg["max_len"]
            task["shipped_dev_acc"] = rec["shipped_dev_acc"]
            task["shipped_dev_macro_f1"] = rec["shipped_dev_macro_f1"]
            task["dev_ids"] = d["dev_ids"]
            task["dev_labels"] = d["dev_labels"]
            task["dev_pred"] = pred
            task["dev_logits"] = [[round(x, 4) for x in row] for row in dl.tolist()]
            task["config"] = config
            task["file"] = write_parts(args.out, name, sd16)
            log(f"{name}: wrote {task['file']['parts']} ({task['file']['xz_bytes'] / 2**20:.1f} MiB xz)")
        metrics["elapsed_s"] = round(time.time() - T0, 1)
        with open(os.path.join(args.out, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=1)
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    log(f"done: {len(os.listdir(args.out))} files, {total / 2**20:.1f} MiB in {args.out}")
    for name, t in metrics["tasks"].items():
        log(f"SUMMARY {name}: selected {t.get('selected')} dev_acc {t.get('shipped_dev_acc')}")


if __name__ == "__main__":
    main()
