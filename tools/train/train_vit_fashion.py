"""vit-fashion-mae: a small ViT (ViTForImageClassification layout) for Fashion-MNIST, pre-trained
as a masked autoencoder (HF ViTMAEForPreTraining, mask ratio 0.75) and then fine-tuned; the same
fine-tuning recipe from random initialisation is run as the "without MAE" baseline.

Data: Debian package dataset-fashion-mnist (MIT):
  apt-get download dataset-fashion-mnist && dpkg-deb -x dataset-fashion-mnist_*.deb /tmp/fmnist/out
  -> /tmp/fmnist/out/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
Model selection on a held-out 5,000 images of train (fixed permutation, seed 0); Fashion-MNIST
test (10,000) is evaluated once per fine-tuning run for the selected epoch.

usage: python tools/train/train_vit_fashion.py --out models-src/vit-fashion-mae --work /tmp/vit-work
       [--mae-epochs 30 --ft-epochs 15 --threads 2]   (--smoke for a tiny rehearsal)
Stages are resumable: each stage's result is cached in --work.
"""
import argparse
import gzip
import json
import math
import os
import platform
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from transformers import ViTConfig, ViTForImageClassification, ViTMAEConfig, ViTMAEForPreTraining

from common import LOGFILE, T0, log, set_seed  # noqa: E402

MEAN, STD = 0.2860, 0.3530
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
ENC = dict(image_size=28, patch_size=4, num_channels=1, hidden_size=128, num_hidden_layers=6,
           num_attention_heads=4, intermediate_size=512, hidden_act="gelu", qkv_bias=True,
           layer_norm_eps=1e-12, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    magic = int.from_bytes(b[0:4], "big")
    nd = magic & 0xFF
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def load_data(d):
    xtr = read_idx(os.path.join(d, "train-images-idx3-ubyte.gz"))
    ytr = read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    xte = read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"))
    yte = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(xtr))
    va, tr = perm[:5000], perm[5000:]
    return (xtr[tr], ytr[tr]), (xtr[va], ytr[va]), (xte, yte)


def normalise(x_uint8):
    """uint8 [N,28,28] -> float [N,1,28,28], exactly as ViTImageProcessor (rescale 1/255, then
    (x - mean) / std)."""
    x = torch.from_numpy(np.ascontiguousarray(x_uint8)).float().unsqueeze(1) * (1.0 / 255.0)
    return (x - MEAN) / STD


def augment(x, gen):
    """Random 28x28 crop of the image padded by 2 background pixels, and a horizontal flip with
    probability 1/2, on a normalised batch [N,1,28,28] (any device; gen on the same device)."""
    n, dev = x.shape[0], x.device
    bg = (0.0 - MEAN) / STD
    xp = F.pad(x, (2, 2, 2, 2), value=bg)[:, 0]
    ox = torch.randint(0, 5, (n,), generator=gen, device=dev)
    oy = torch.randint(0, 5, (n,), generator=gen, device=dev)
    ar = torch.arange(28, device=dev)
    flip = torch.rand(n, generator=gen, device=dev) < 0.5
    cols = torch.where(flip[:, None], 27 - ar[None, :], ar[None, :]) + ox[:, None]
    rows = ar[None, :] + oy[:, None]
    out = xp[torch.arange(n, device=dev)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.unsqueeze(1)


def cosine(step, total, warm, base):
    if step < warm:
        return base * (step + 1) / warm
    return base * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


DEVICE = [torch.device("cpu")]
DEADLINE = [float("inf")]
BF16 = [False]


def amp():
    """bf16 autocast, or nothing in fp32: a CPU without native bf16 (AVX2) runs a bf16
    training step about 10x slower than fp32 (0.9 s against 9.8 s, batch 128, one thread)."""
    return torch.autocast(device_type=DEVICE[0].type, dtype=torch.bfloat16, enabled=BF16[0])


def past(frac):
    return time.time() - T0 > frac * DEADLINE[0]


def mae_pretrain(xtr, args, work):
    path = os.path.join(work, "mae_encoder.pt")
    if os.path.exists(path):
        log(f"MAE: cached {path}")
        return torch.load(path), json.load(open(path + ".json"))
    set_seed(args.seed)
    cfg = ViTMAEConfig(**ENC, mask_ratio=0.75, norm_pix_loss=True, decoder_hidden_size=96,
                       decoder_num_hidden_layers=2, decoder_num_attention_heads=4,
                       decoder_intermediate_size=384)
    model = ViTMAEForPreTraining(cfg).to(DEVICE[0])
    model.train()
    x_all = normalise(xtr).to(DEVICE[0])
    bs = args.mae_bs
    steps = len(x_all) // bs
    epochs = args.mae_epochs
    total, warm = steps * epochs, steps * max(1, epochs // 10)
    opt = torch.optim.AdamW(model.parameters(), lr=args.mae_lr, betas=(0.9, 0.95), weight_decay=0.05)
    gen = torch.Generator(device=DEVICE[0]).manual_seed(args.seed)
    hist = []
    step = 0
    for ep in range(1, epochs + 1):
        t = time.time()
        perm = torch.randperm(len(x_all), generator=gen, device=DEVICE[0])
        tot = torch.zeros((), device=DEVICE[0])
        for b in range(steps):
            for g in opt.param_groups:
                g["lr"] = cosine(step, total, warm, args.mae_lr)
            xb = augment(x_all[perm[b * bs:(b + 1) * bs]], gen)
            with amp():
                loss = model(pixel_values=xb).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            tot += loss.detach().float()
            step += 1
        tot = float(tot)
        hist.append(dict(epoch=ep, mae_loss=round(tot / steps, 5), seconds=round(time.time() - t, 1)))
        log(f"MAE epoch {ep}/{epochs}: loss {tot / steps:.4f} ({time.time() - t:.1f}s)")
        if ep < epochs and past(0.4):
            log(f"MAE: stopped after epoch {ep} (deadline)")
            hist[-1]["stopped_at_deadline"] = True
            break
    enc = {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if k.startswith("vit.")}
    torch.save(enc, path)
    json.dump(hist, open(path + ".json", "w"))
    return enc, hist


@torch.no_grad()
def evaluate(model, x, y, bs=1000):
    model.eval()
    logits = []
    for i in range(0, len(x), bs):
        logits.append(model(pixel_values=x[i:i + bs].to(DEVICE[0])).logits.float().cpu())
    logits = torch.cat(logits)
    return float((logits.argmax(-1) == torch.from_numpy(y)).float().mean()), logits


def finetune(tag, enc_state, data, args, work):
    path = os.path.join(work, f"ft_{tag}.pt")
    if os.path.exists(path):
        log(f"fine-tune {tag}: cached {path}")
        return torch.load(path), json.load(open(path + ".json"))
    (xtr, ytr), (xva, yva), (xte, yte) = data
    set_seed(args.seed)
    cfg = ViTConfig(**ENC, num_labels=10, id2label=dict(enumerate(CLASSES)),
                    label2id={c: i for i, c in enumerate(CLASSES)})
    model = ViTForImageClassification(cfg)
    if enc_state is not None:
        missing, unexpected = model.load_state_dict(enc_state, strict=False)
        assert not unexpected, unexpected
        assert set(missing) == {"classifier.weight", "classifier.bias"}, missing
    model.to(DEVICE[0])
    x_all, y_all = normalise(xtr).to(DEVICE[0]), torch.from_numpy(ytr).to(DEVICE[0])
    x_va, x_te = normalise(xva), normalise(xte)
    bs = args.ft_bs
    steps = len(x_all) // bs
    epochs = args.ft_epochs
    total, warm = steps * epochs, steps
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and "position" not in n and "cls_token" not in n]
    other = [p for n, p in model.named_parameters() if not (p.ndim > 1 and "position" not in n and "cls_token" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": other, "weight_decay": 0.0}],
                            lr=args.ft_lr, betas=(0.9, 0.999))
    gen = torch.Generator(device=DEVICE[0]).manual_seed(args.seed + 1)
    hist, best, best_acc = [], None, -1.0
    step = 0
    for ep in range(1, epochs + 1):
        model.train()
        t = time.time()
        perm = torch.randperm(len(x_all), generator=gen, device=DEVICE[0])
        tot = torch.zeros((), device=DEVICE[0])
        for b in range(steps):
            for g in opt.param_groups:
                g["lr"] = cosine(step, total, warm, args.ft_lr)
            idx = perm[b * bs:(b + 1) * bs]
            xb = augment(x_all[idx], gen)
            with amp():
                logits = model(pixel_values=xb).logits
            loss = F.cross_entropy(logits.float(), y_all[idx], label_smoothing=0.1)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            tot += loss.detach()
            step += 1
        tot = float(tot)
        va_acc, _ = evaluate(model, x_va, yva)
        rec = dict(epoch=ep, train_loss=round(tot / steps, 5), val_acc=round(va_acc, 5), seconds=round(time.time() - t, 1))
        hist.append(rec)
        log(f"fine-tune {tag} epoch {ep}/{epochs}: train_loss {tot / steps:.4f} val_acc {va_acc:.4f} ({rec['seconds']}s)")
        if va_acc > best_acc:
            best_acc, best = va_acc, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            best_ep = ep
        if ep < epochs and past(0.7 if tag == "mae" else 1.0):
            log(f"fine-tune {tag}: stopped after epoch {ep} (deadline)")
            rec["stopped_at_deadline"] = True
            break
    model.load_state_dict(best)
    te_acc, te_logits = evaluate(model, x_te, yte)
    # the shipped fp16 weights, evaluated in fp32
    m16 = ViTForImageClassification(cfg).to(DEVICE[0])
    m16.load_state_dict({k: v.half().float() for k, v in best.items()})
    te16, lg16 = evaluate(m16, x_te, yte)
    res = dict(tag=tag, best_epoch=best_ep, val_acc=round(best_acc, 5), test_acc=round(te_acc, 5),
               test_acc_fp16_weights=round(te16, 5), epochs=hist, test_pred_fp16_weights=lg16.argmax(-1).tolist())
    log(f"fine-tune {tag}: best epoch {best_ep} val_acc {best_acc:.4f} test_acc {te_acc:.4f} (fp16 weights {te16:.4f})")
    torch.save(best, path)
    json.dump(res, open(path + ".json", "w"))
    return best, res


def write_examples(out, test):
    """One raw 28x28 greyscale PNG per class for a few classes: the first test image of each."""
    from PIL import Image
    ex = os.path.join(out, "examples")
    os.makedirs(ex, exist_ok=True)
    xte, yte = test
    for c in [0, 7, 9]:
        i = int(np.nonzero(yte == c)[0][0])
        name = CLASSES[c].lower().replace("/", "-").replace(" ", "-")
        Image.fromarray(xte[i], mode="L").save(os.path.join(ex, f"test{i:05d}_{name}.png"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/fmnist/out/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default="/tmp/vit-work")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mae-epochs", type=int, default=30)
    ap.add_argument("--mae-bs", type=int, default=256)
    ap.add_argument("--mae-lr", type=float, default=1.5e-3)
    ap.add_argument("--ft-epochs", type=int, default=15)
    ap.add_argument("--ft-bs", type=int, default=128)
    ap.add_argument("--ft-lr", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--patch", type=int, default=4, help="patch size (divides 28: 4 or 7)")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                    help="training precision; auto: bf16 autocast on CUDA, fp32 on the CPU")
    ap.add_argument("--deadline-s", type=float, default=float("inf"),
                    help="stop MAE after 40%%, fine-tune (MAE) after 70%%, fine-tune (scratch) after 100%% of this")
    ap.add_argument("--no-examples", action="store_true", help="do not write examples/*.png")
    ap.add_argument("--examples-only", action="store_true", help="only write OUT/examples/*.png")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--name", default="vit-fashion-mae", help="model name recorded in metrics.json")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the from-scratch fine-tuning baseline (halves the fine-tuning cost)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    DEVICE[0] = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    DEADLINE[0] = args.deadline_s
    BF16[0] = args.precision == "bf16" or (args.precision == "auto" and DEVICE[0].type == "cuda")
    precision = "bf16 autocast" if BF16[0] else "fp32"  # MAE pre-training and fine-tuning alike
    ENC.update(patch_size=args.patch, hidden_size=args.hidden, num_hidden_layers=args.layers, num_attention_heads=args.heads,
               intermediate_size=4 * args.hidden)
    if DEVICE[0].type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    os.makedirs(args.work, exist_ok=True)
    LOGFILE[0] = os.path.join(args.work, "train_log.txt")
    data = load_data(args.data)
    if args.examples_only:
        write_examples(args.out, data[2])
        return
    if args.smoke:
        (xtr, ytr), (xva, yva), (xte, yte) = data
        data = (xtr[:512], ytr[:512]), (xva[:256], yva[:256]), (xte[:256], yte[:256])
        args.mae_epochs = args.ft_epochs = 1
    log(f"device {DEVICE[0]} {torch.cuda.get_device_name(0) if DEVICE[0].type == 'cuda' else ''}")
    log(f"train {len(data[0][0])} / val {len(data[1][0])} / test {len(data[2][0])}; torch {torch.__version__} "
        f"transformers {transformers.__version__}; threads {args.threads}; "
        f"precision {precision}; encoder {ENC}")
    enc, mae_hist = mae_pretrain(data[0][0], args, args.work)
    best, res_mae = finetune("mae", enc, data, args, args.work)
    res_scratch = None if args.no_baseline else finetune("scratch", None, data, args, args.work)[1]

    # ---- ship
    out = args.out
    os.makedirs(out, exist_ok=True)
    cfg = ViTConfig(**ENC, num_labels=10, id2label=dict(enumerate(CLASSES)),
                    label2id={c: i for i, c in enumerate(CLASSES)})
    cfg.architectures = ["ViTForImageClassification"]
    model = ViTForImageClassification(cfg)
    model.load_state_dict(best)
    model.half().save_pretrained(out)  # fp16 safetensors, standard (legacy) tensor names
    json.dump(dict(do_normalize=True, do_rescale=True, do_resize=True, image_mean=[MEAN],
                   image_processor_type="ViTImageProcessor", image_std=[STD], resample=2,
                   rescale_factor=1 / 255, size={"height": 28, "width": 28}),
              open(os.path.join(out, "preprocessor_config.json"), "w"), indent=2)
    if not args.no_examples:
        write_examples(out, data[2])
    metrics = dict(
        model=args.name, task="Fashion-MNIST (10 classes)",
        headline=[dict(split="test", metric="accuracy", value=round(res_mae["test_acc_fp16_weights"], 4))],
        architecture="ViTForImageClassification", encoder=ENC,
        data=dict(source="Debian dataset-fashion-mnist 0.0~git20200523.55506a9-1 (MIT)",
                  train=len(data[0][0]), val_holdout=len(data[1][0]), test=len(data[2][0]),
                  holdout="np.random.default_rng(0).permutation(60000)[:5000] of the train images"),
        normalisation=dict(rescale=1 / 255, mean=MEAN, std=STD),
        mae=dict(mask_ratio=0.75, norm_pix_loss=True, decoder=dict(hidden=96, layers=2, heads=4, ffn=384),
                 epochs=args.mae_epochs, batch=args.mae_bs, lr=args.mae_lr, history=mae_hist),
        finetune=dict(epochs=args.ft_epochs, batch=args.ft_bs, lr=args.ft_lr, weight_decay=0.05,
                      label_smoothing=0.1, augmentation="random crop (pad 2) + horizontal flip",
                      schedule="1 warm-up epoch, cosine"),
        precision=precision,
        with_mae=res_mae, without_mae=res_scratch,
        test_acc=res_mae["test_acc"],
        test_acc_without_mae=res_scratch and res_scratch["test_acc"],
        seeds=dict(seed=args.seed), smoke=args.smoke,
        hardware=dict(device=str(DEVICE[0]), gpu=torch.cuda.get_device_name(0) if DEVICE[0].type == "cuda" else None,
                      cpu=platform.machine(), threads=torch.get_num_threads()),
        versions=dict(python=platform.python_version(), torch=torch.__version__,
                      transformers=transformers.__version__, numpy=np.__version__),
        wall_seconds=round(time.time() - T0, 1))
    json.dump(metrics, open(os.path.join(out, "metrics.json"), "w"), indent=1)
    log(f"shipped to {out}")
    shutil.copy(LOGFILE[0], os.path.join(out, "train_log.txt"))


if __name__ == "__main__":
    main()
