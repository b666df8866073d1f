"""xlmr-amharic: a small XLM-RoBERTa for 3-class Amharic hate speech (Ayele et al., RANLP 2023).

1. Tokenizer: Unigram (tokenizers library) trained on the train-split tweets only; NFKC, Metaspace
   pre-tokenizer; XLM-R special tokens <s>=0 <pad>=1 </s>=2 <unk>=3, <mask> last;
   post-processor "<s> $A </s>". Saved as tokenizer.json.
2. MLM pre-training of XLMRobertaForMaskedLM (hidden 256, 4 layers, 4 heads, FFN 1024,
   max_position_embeddings 130) on the train tweets (15% dynamic masking, 80/10/10).
3. Fine-tuning XLMRobertaForSequenceClassification; epoch selected on a stratified 10% hold-out
   of train (seed 0); dev.tsv is evaluated for the selected epoch and compared with the
   majority-class baseline.

usage: python tools/train/train_xlmr_amharic.py --out models-src/xlmr-amharic --work /tmp/xlmr-work
Stages are resumable (cached in --work).
"""
import argparse
import json
import math
import os
import platform
import random
import shutil
import time

import numpy as np
import torch
import torch.nn.functional as F
import tokenizers
import transformers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM, XLMRobertaForSequenceClassification

from common import LOGFILE, T0, log, set_seed  # noqa: E402

LABELS = ["hate", "offensive", "normal"]
MAX_LEN = 128


def load_tsv(path):
    xs, ys = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            lab, text = line.rstrip("\n").split("\t", 1)
            assert lab.startswith("__label__"), lab
            ys.append(LABELS.index(lab[len("__label__"):]))
            xs.append(text)
    return xs, ys


def build_tokenizer(texts, vocab_size):
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                      unk_token="<unk>", max_piece_length=16, show_progress=False)
    tok.train_from_iterator(texts, trainer)
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)])
    for t, i in [("<s>", 0), ("<pad>", 1), ("</s>", 2), ("<unk>", 3)]:
        assert tok.token_to_id(t) == i, (t, tok.token_to_id(t))
    assert tok.token_to_id("<mask>") == tok.get_vocab_size() - 1
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.enable_truncation(max_length=MAX_LEN)
    return tok


def encode(tok, texts):
    return [e.ids for e in tok.encode_batch(texts)]


def pad(seqs):
    n = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), n), 1, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    return ids, mask


def linear_sched(step, total, warm, base):
    return base * (step + 1) / warm if step < warm else base * max(0.0, (total - step) / max(1, total - warm))


def amp():
    return torch.autocast(device_type="cpu", dtype=torch.bfloat16)


def mlm_pretrain(tok, seqs, cfg, args, work):
    d = os.path.join(work, "mlm")
    if os.path.exists(os.path.join(d, "model.safetensors")):
        log(f"MLM: cached {d}")
        return d, json.load(open(os.path.join(d, "history.json")))
    set_seed(args.seed)
    model = XLMRobertaForMaskedLM(cfg)
    mask_id, vocab = tok.token_to_id("<mask>"), cfg.vocab_size
    bs, epochs = args.mlm_bs, args.mlm_epochs
    steps = len(seqs) // bs
    total, warm = steps * epochs, max(1, int(0.06 * steps * epochs))
    opt = torch.optim.AdamW(model.parameters(), lr=args.mlm_lr, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01)
    gen = torch.Generator().manual_seed(args.seed)
    hist, step = [], 0
    for ep in range(1, epochs + 1):
        model.train()
        t = time.time()
        perm = torch.randperm(len(seqs), generator=gen).tolist()
        tot, n_ok, n_m = 0.0, 0, 0
        for b in range(steps):
            for g in opt.param_groups:
                g["lr"] = linear_sched(step, total, warm, args.mlm_lr)
            ids, att = pad([seqs[i] for i in perm[b * bs:(b + 1) * bs]])
            special = (ids <= 3) | (ids == mask_id)
            sel = (torch.rand(ids.shape, generator=gen) < 0.15) & ~special
            labels = ids[sel]
            r = torch.rand(ids.shape, generator=gen)
            inp = ids.clone()
            inp[sel & (r < 0.8)] = mask_id
            rnd = sel & (r >= 0.8) & (r < 0.9)
            inp[rnd] = torch.randint(4, vocab - 1, (int(rnd.sum()),), generator=gen)
            with amp():
                h = model.roberta(input_ids=inp, attention_mask=att).last_hidden_state
                logits = model.lm_head(h[sel])
            loss = F.cross_entropy(logits.float(), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            tot += float(loss)
            n_ok += int((logits.argmax(-1) == labels).sum())
            n_m += len(labels)
            step += 1
        rec = dict(epoch=ep, mlm_loss=round(tot / steps, 4), masked_acc=round(n_ok / max(1, n_m), 4),
                   seconds=round(time.time() - t, 1))
        hist.append(rec)
        log(f"MLM epoch {ep}/{epochs}: loss {rec['mlm_loss']:.4f} masked-token acc {rec['masked_acc']:.4f} ({rec['seconds']}s)")
    model.save_pretrained(d)
    json.dump(hist, open(os.path.join(d, "history.json"), "w"))
    return d, hist


@torch.no_grad()
def predict(model, seqs, bs=256):
    model.eval()
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out = [None] * len(seqs)
    for k in range(0, len(order), bs):
        idx = order[k:k + bs]
        ids, att = pad([seqs[i] for i in idx])
        lg = model(input_ids=ids, attention_mask=att).logits.float()
        for j, i in enumerate(idx):
            out[i] = lg[j]
    return torch.stack(out)


def scores(pred, gold, k=3):
    acc = sum(int(p == g) for p, g in zip(pred, gold)) / len(gold)
    f1 = []
    for c in range(k):
        tp = sum(1 for p, g in zip(pred, gold) if p == c and g == c)
        fp = sum(1 for p, g in zip(pred, gold) if p == c and g != c)
        fn = sum(1 for p, g in zip(pred, gold) if p != c and g == c)
        f1.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return dict(acc=round(acc, 5), macro_f1=round(sum(f1) / k, 5), f1=[round(x, 5) for x in f1])


def finetune(mlm_dir, tr, hv, dv, args, work):
    path = os.path.join(work, "ft_best.pt")
    if os.path.exists(path):
        log(f"fine-tune: cached {path}")
        return torch.load(path), json.load(open(path + ".json"))
    set_seed(args.seed)
    model = XLMRobertaForSequenceClassification.from_pretrained(
        mlm_dir, num_labels=3, id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)},
        dtype=torch.float32)
    (trx, try_), (hvx, hvy), (dvx, dvy) = tr, hv, dv
    bs, epochs = args.ft_bs, args.ft_epochs
    steps = math.ceil(len(trx) / bs)
    total, warm = steps * epochs, max(1, int(0.1 * steps * epochs))
    nd = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    de = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    opt = torch.optim.AdamW([{"params": de, "weight_decay": 0.01}, {"params": nd, "weight_decay": 0.0}],
                            lr=args.ft_lr, betas=(0.9, 0.98), eps=1e-6)
    gen = torch.Generator().manual_seed(args.seed + 1)
    hist, best, best_f1, step = [], None, -1.0, 0
    for ep in range(1, epochs + 1):
        model.train()
        t = time.time()
        perm = torch.randperm(len(trx), generator=gen).tolist()
        tot = 0.0
        for b in range(steps):
            for g in opt.param_groups:
                g["lr"] = linear_sched(step, total, warm, args.ft_lr)
            idx = perm[b * bs:(b + 1) * bs]
            ids, att = pad([trx[i] for i in idx])
            with amp():
                logits = model(input_ids=ids, attention_mask=att).logits
            loss = F.cross_entropy(logits.float(), torch.tensor([try_[i] for i in idx]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            tot += float(loss)
            step += 1
        hs = scores(predict(model, hvx).argmax(-1).tolist(), hvy)
        ds = scores(predict(model, dvx).argmax(-1).tolist(), dvy)
        rec = dict(epoch=ep, train_loss=round(tot / steps, 5), holdout=hs, dev=ds, seconds=round(time.time() - t, 1))
        hist.append(rec)
        log(f"fine-tune epoch {ep}/{epochs}: train_loss {rec['train_loss']:.4f} holdout acc {hs['acc']:.4f} "
            f"macro-F1 {hs['macro_f1']:.4f} | dev acc {ds['acc']:.4f} macro-F1 {ds['macro_f1']:.4f} ({rec['seconds']}s)")
        if hs["macro_f1"] > best_f1:
            best_f1, best, best_ep = hs["macro_f1"], {k: v.detach().clone() for k, v in model.state_dict().items()}, ep
    res = dict(best_epoch=best_ep, selection="holdout macro-F1", epochs=hist)
    torch.save(best, path)
    json.dump(res, open(path + ".json", "w"))
    return best, res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data",
                                                   "amharic_hate_ranlp2023"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default="/tmp/xlmr-work")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--mlm-epochs", type=int, default=20)
    ap.add_argument("--mlm-bs", type=int, default=64)
    ap.add_argument("--mlm-lr", type=float, default=5e-4)
    ap.add_argument("--ft-epochs", type=int, default=6)
    ap.add_argument("--ft-bs", type=int, default=32)
    ap.add_argument("--ft-lr", type=float, default=1e-4)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    LOGFILE[0] = os.path.join(args.work, "train_log.txt")
    trx, try_ = load_tsv(os.path.join(args.data, "train.tsv"))
    dvx, dvy = load_tsv(os.path.join(args.data, "dev.tsv"))
    if args.smoke:
        trx, try_, dvx, dvy = trx[:600], try_[:600], dvx[:100], dvy[:100]
        args.mlm_epochs, args.ft_epochs, args.vocab = 1, 1, 2000
    log(f"train {len(trx)} dev {len(dvx)}; torch {torch.__version__} transformers {transformers.__version__} "
        f"tokenizers {tokenizers.__version__}; threads {args.threads}")

    tok_path = os.path.join(args.work, "tokenizer.json")
    if os.path.exists(tok_path):
        tok = Tokenizer.from_file(tok_path)
    else:
        tok = build_tokenizer(trx, args.vocab)
        tok.save(tok_path)
    V = tok.get_vocab_size()
    tr_ids = encode(tok, trx)
    dv_ids = encode(tok, dvx)
    lens = [len(s) for s in tr_ids]
    unk = sum(s.count(3) for s in tr_ids + dv_ids)
    log(f"tokenizer: vocab {V}; train tokens/tweet mean {np.mean(lens):.1f} max {max(lens)}; "
        f"truncated {sum(1 for l in lens if l >= MAX_LEN)}; <unk> in train+dev {unk}")

    cfg = XLMRobertaConfig(vocab_size=V, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                           intermediate_size=1024, max_position_embeddings=MAX_LEN + 2, type_vocab_size=1,
                           pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5,
                           hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, initializer_range=0.02)
    mlm_dir, mlm_hist = mlm_pretrain(tok, tr_ids, cfg, args, args.work)

    # stratified 10% hold-out of train for epoch selection (seed 0)
    rng = random.Random(args.seed)
    hold = set()
    for c in range(3):
        idx = [i for i, y in enumerate(try_) if y == c]
        rng.shuffle(idx)
        hold.update(idx[:round(0.1 * len(idx))])
    fit = [i for i in range(len(trx)) if i not in hold]
    hv = sorted(hold)
    best, ft = finetune(mlm_dir, ([tr_ids[i] for i in fit], [try_[i] for i in fit]),
                        ([tr_ids[i] for i in hv], [try_[i] for i in hv]), (dv_ids, dvy), args, args.work)

    # ---- ship (fp16 weights; evaluate the shipped weights in fp32)
    out = args.out
    os.makedirs(out, exist_ok=True)
    cfg_c = XLMRobertaConfig.from_pretrained(mlm_dir)
    cfg_c.num_labels = 3
    cfg_c.id2label = dict(enumerate(LABELS))
    cfg_c.label2id = {l: i for i, l in enumerate(LABELS)}
    cfg_c.architectures = ["XLMRobertaForSequenceClassification"]
    model = XLMRobertaForSequenceClassification(cfg_c)
    model.load_state_dict({k: v.half().float() for k, v in best.items()})
    dl = predict(model, dv_ids)
    dev = scores(dl.argmax(-1).tolist(), dvy)
    maj = max(range(3), key=lambda c: try_.count(c))
    base = scores([maj] * len(dvy), dvy)
    log(f"dev (shipped fp16 weights, fp32 inference): acc {dev['acc']:.4f} macro-F1 {dev['macro_f1']:.4f} "
        f"per-class F1 {dev['f1']}; majority '{LABELS[maj]}' baseline acc {base['acc']:.4f} macro-F1 {base['macro_f1']:.4f}")
    model.half().save_pretrained(out)
    shutil.copy(tok_path, os.path.join(out, "tokenizer.json"))
    special = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", sep_token="</s>", cls_token="<s>",
                   pad_token="<pad>", mask_token="<mask>")
    json.dump(dict(special, tokenizer_class="XLMRobertaTokenizer", model_max_length=MAX_LEN,
                   clean_up_tokenization_spaces=False), open(os.path.join(out, "tokenizer_config.json"), "w"), indent=1)
    json.dump(special, open(os.path.join(out, "special_tokens_map.json"), "w"), indent=1)
    metrics = dict(
        model="xlmr-amharic", architecture="XLMRobertaForSequenceClassification",
        data=dict(source="uhh-lt/AmharicHateSpeech Data/RANLP2023 (../shared/data/amharic_hate_ranlp2023)",
                  train=len(trx), fit=len(fit), holdout=len(hv), dev=len(dvx),
                  holdout_rule="stratified 10% of train, random.Random(0) per class in label order"),
        tokenizer=dict(type="Unigram (tokenizers)", vocab=V, trained_on="train.tsv tweets",
                       normalizer="NFKC + collapse spaces", pre_tokenizer="Metaspace", max_len=MAX_LEN),
        encoder=dict(hidden=256, layers=4, heads=4, ffn=1024, max_position_embeddings=MAX_LEN + 2),
        mlm=dict(epochs=args.mlm_epochs, batch=args.mlm_bs, lr=args.mlm_lr, mask=0.15, history=mlm_hist),
        finetune=dict(n_epochs=args.ft_epochs, batch=args.ft_bs, lr=args.ft_lr, **ft),
        dev=dev, dev_majority_baseline=dict(label=LABELS[maj], **base),
        dev_pred=dl.argmax(-1).tolist(), dev_labels=dvy,
        seeds=dict(seed=args.seed), smoke=args.smoke,
        hardware=dict(cpu=platform.machine(), threads=args.threads),
        versions=dict(python=platform.python_version(), torch=torch.__version__, transformers=transformers.__version__,
                      tokenizers=tokenizers.__version__, numpy=np.__version__),
        wall_seconds=round(time.time() - T0, 1))
    json.dump(metrics, open(os.path.join(out, "metrics.json"), "w"), indent=1)
    log(f"shipped to {out}")
    shutil.copy(LOGFILE[0], os.path.join(out, "train_log.txt"))


if __name__ == "__main__":
    main()
