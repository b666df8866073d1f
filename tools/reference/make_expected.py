#!/usr/bin/env python3
"""Expected-gradients and blur:σ fixtures: tests/fixtures/{bert,vit}/expected.json (+ PNGs).

    /path/to/venv/bin/python tools/reference/make_expected.py

Environment: tools/reference/requirements.txt (torch, transformers, captum, numpy, pillow).
Deterministic (fixed inputs, seeded NumPy for the PNGs); no calig code is used.

What is compared. calig's `baseline=expected:N` is the average over N references x'_n of
integrated gradients from x'_n, each with the run's quadrature. Captum's GradientShap with
stdevs=0 is the same expectation but samples the references and the alphas at random; to make
the comparison exact it is computed here as what it estimates with fixed samples: the mean over
*every* reference of the set (so calig's draw, expected:N with N = the set's size, takes them
all; the order of an average does not matter) of Captum 0.9 `LayerIntegratedGradients` on
`embeddings.word_embeddings` (text; calig's `ig`) or `IntegratedGradients` on the normalised
pixels (ViT), and of `LayerIntegratedGradients` on the module whose output is h^(l) (calig's
`lig`, with each reference's own h^(l)), all with 50 Gauss-Legendre steps, in float64, for the
predicted class, with Captum's float32 rounding of the quadrature weights removed
(make_attributions.captum_float64, as the other fixtures' exact checks). Scores are summed over the hidden dimension (text) or over channels and each
patch's pixels (ViT). The deltas are Captum's convergence deltas, averaged.

Text references follow calig's rule (docs/methods.md): the reference text tokenised without its
special tokens fills the input's non-special positions in order, cut or padded with the pad id;
the input's specials, mask, token types and positions are kept.

Images: a 32x32 input and three 32x32 references (random PNGs, no resizing needed), normalised
as the ViT processor does ((p/255 - 0.5)/0.5). `blur:1.5` is IG from the input blurred with a
separable Gaussian, weights exp(-i^2/2σ^2) for |i| <= ceil(3σ), normalised, edge pixels
repeated beyond the border (written here with NumPy, independently of calig's Rust).
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from captum.attr import IntegratedGradients, LayerIntegratedGradients
from PIL import Image
from tokenizers import Tokenizer
from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_attributions import captum_float64  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"
STEPS = 50
TEXT = "a gorgeous , witty movie"
REFERENCE_TEXTS = [
    "the film is dull and far too long",
    "nothing here is worth the ticket",
    "a bore",
]
BLUR_SIGMA = 1.5

torch.set_num_threads(1)


def versions():
    return {"torch": torch.__version__,
            "transformers": __import__("transformers").__version__,
            "captum": __import__("captum").__version__}


def points(model):
    base = getattr(model, model.base_model_prefix)
    blocks = base.layers if hasattr(base, "layers") else base.encoder.layer
    return [base.embeddings] + list(blocks)


def lig_layers(fwd, model, inp, refs, target, extra=()):
    layers, deltas = [], []
    for point in points(model):
        algo = LayerIntegratedGradients(fwd, point)
        per, ds = [], []
        for ref in refs:
            a, d = algo.attribute(inp, baselines=ref, target=target, additional_forward_args=extra,
                                  n_steps=STEPS, method="gausslegendre",
                                  return_convergence_delta=True)
            per.append(a[0].detach().sum(-1))
            ds.append(float(d[0]))
        layers.append(torch.stack(per).mean(0).tolist())
        deltas.append(float(np.mean(ds)))
    return layers, deltas


def text():
    d = FIX / "bert"
    model = AutoModelForSequenceClassification.from_pretrained(
        d, attn_implementation="eager").double().eval()
    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    enc = tok.encode(TEXT)
    ids, special = enc.ids, enc.special_tokens_mask
    n = len(ids)
    pad = model.config.pad_token_id
    extra = (torch.ones((1, n), dtype=torch.long), torch.tensor([enc.type_ids]),
             torch.arange(n).unsqueeze(0))

    def fwd(x, mask, types, pos):
        b = x.shape[0]
        return model(input_ids=x, attention_mask=mask.expand(b, -1),
                     token_type_ids=types.expand(b, -1), position_ids=pos.expand(b, -1)).logits

    refs = []
    for t in REFERENCE_TEXTS:
        r = tok.encode(t)
        own = iter([i for i, s in zip(r.ids, r.special_tokens_mask) if not s])
        refs.append([i if s else next(own, pad) for i, s in zip(ids, special)])
    x = torch.tensor([ids])
    ref_t = [torch.tensor([r]) for r in refs]
    with torch.no_grad():
        logits = fwd(x, *extra)[0]
        ref_logits = [float(fwd(r, *extra)[0, int(logits.argmax())]) for r in ref_t]
    target = int(logits.argmax())
    lig = LayerIntegratedGradients(fwd, model.bert.embeddings.word_embeddings)
    per, ds = [], []
    for r in ref_t:
        a, dl = lig.attribute(x, baselines=r, target=target, additional_forward_args=extra,
                              n_steps=STEPS, method="gausslegendre",
                              return_convergence_delta=True)
        per.append(a[0].detach().sum(-1))
        ds.append(float(dl[0]))
    layers, layer_deltas = lig_layers(fwd, model, x, ref_t, target, extra)
    out = {
        "made_by": "tools/reference/make_expected.py", "versions": versions(),
        "text": TEXT, "reference_texts": REFERENCE_TEXTS, "input_ids": ids,
        "reference_input_ids": refs, "logits": logits.tolist(), "target": target,
        "reference_logits": ref_logits, "steps": STEPS, "quadrature": "gausslegendre",
        "ig": {"scores": torch.stack(per).mean(0).tolist(), "delta": float(np.mean(ds))},
        "lig": {"layers": layers, "deltas": layer_deltas},
    }
    (d / "expected.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"bert: target {target}, mean y(x') {np.mean(ref_logits):+.4f}, delta {out['ig']['delta']:.2e}")


def blur(px, sigma):
    """(c, h, w) blurred along w then h; taps beyond the border read the edge pixel."""
    r = max(math.ceil(3 * sigma), 1)
    k = np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma * sigma))
    k /= k.sum()
    c, h, w = px.shape
    out = px.copy()
    for axis, size in ((2, w), (1, h)):
        src = out.copy()
        acc = np.zeros_like(src)
        for j, kv in enumerate(k):
            idx = np.clip(np.arange(size) + j - r, 0, size - 1)
            acc += kv * np.take(src, idx, axis=axis)
        out = acc
    return out


def image():
    d = FIX / "vit"
    rng = np.random.default_rng(30)
    folder = d / "expected"
    folder.mkdir(exist_ok=True)
    names = ["input.png", "references/r0.png", "references/r1.png", "references/r2.png"]
    (folder / "references").mkdir(exist_ok=True)
    for name in names:
        # Smooth-ish images (a random 4x4 grid, upsampled) so the blur reference differs.
        small = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
        Image.fromarray(small).resize((32, 32), Image.NEAREST).save(folder / name)
    model = AutoModelForImageClassification.from_pretrained(
        d, attn_implementation="eager").double().eval()
    patch = model.config.patch_size

    def load(name):
        a = np.asarray(Image.open(folder / name).convert("RGB"), dtype=np.float64) / 255.0
        return torch.tensor(((a - 0.5) / 0.5).transpose(2, 0, 1)).unsqueeze(0)

    def fwd(px):
        return model(pixel_values=px).logits

    def patch_sum(a):
        pix = a[0].detach().sum(0)
        g = pix.shape[0] // patch
        return pix.reshape(g, patch, g, patch).sum((1, 3)).reshape(-1)

    x = load(names[0])
    refs = [load(n) for n in names[1:]]
    with torch.no_grad():
        logits = fwd(x)[0]
    target = int(logits.argmax())
    ig = IntegratedGradients(fwd)

    def ig_from(r):
        a, dl = ig.attribute(x, baselines=r, target=target, n_steps=STEPS,
                             method="gausslegendre", return_convergence_delta=True)
        return patch_sum(a), float(dl[0])

    each = [ig_from(r) for r in refs]
    layers, layer_deltas = lig_layers(fwd, model, x, refs, target)
    blurred = torch.tensor(blur(x[0].numpy(), BLUR_SIGMA)).unsqueeze(0)
    b_scores, b_delta = ig_from(blurred)
    with torch.no_grad():
        ref_logits = [float(fwd(r)[0, target]) for r in refs]
        blur_logit = float(fwd(blurred)[0, target])
    out = {
        "made_by": "tools/reference/make_expected.py", "versions": versions(),
        "input": "expected/input.png", "references": "expected/references",
        "logits": logits.tolist(), "target": target, "reference_logits": ref_logits,
        "steps": STEPS, "quadrature": "gausslegendre",
        "ig": {"scores": torch.stack([s for s, _ in each]).mean(0).tolist(),
               "delta": float(np.mean([dl for _, dl in each]))},
        "lig": {"layers": layers, "deltas": layer_deltas},
        "blur": {"sigma": BLUR_SIGMA, "scores": b_scores.tolist(), "delta": b_delta,
                 "reference_logit": blur_logit},
    }
    (d / "expected.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"vit: target {target}, mean y(x') {np.mean(ref_logits):+.4f}, "
          f"delta {out['ig']['delta']:.2e}, blur delta {b_delta:.2e}")


if __name__ == "__main__":
    with captum_float64():
        text()
        image()
