#!/usr/bin/env python3
"""Generate calig's golden attribution fixtures: tests/fixtures/<family>/attributions.json.

    /path/to/venv/bin/python tools/reference/make_attributions.py [--only bert,roberta,...]

make_fixtures.py runs this at its end for the families it regenerated (so the README command
regenerates everything); it reads the model directories and reference.json written by
make_fixtures.py and changes neither. Deterministic: single thread, float64 throughout, no
randomness; two runs give byte-identical files.

Families: bert, roberta, xlmr, distilbert (text) and vit (image). Definitions: DESIGN.md §3.

Computation
-----------
Every model is loaded with from_pretrained(attn_implementation="eager"), converted with
.double() (float64), eval mode. The eager attention of every family is replaced (module
attribute patch, see `probe_attention`) by the same arithmetic with the softmax computed in the
query's dtype (transformers 5.23's ViT upcasts it to float32 otherwise) that also records the
post-softmax probabilities A^(l,k) so that ∂y/∂A can be read; the patched models reproduce the
unpatched float64 logits (asserted; ViT: the same_dtype_softmax reference of make_fixtures.py).

Examples are single, unpadded inputs:
  text: each text of reference.json alone (its real tokens only; attention mask all ones;
        token_type_ids and position_ids = the real ones, passed explicitly to every forward,
        the reference input's included; roberta/xlmr: padding_idx + cumsum(mask), i.e.
        2, 3, ..., s+1);
  vit:  each of the 2 rows of reference.json "pixel_values" alone (float32 values widened to
        float64; row 0 = image.png processed, row 1 = seeded noise).
Targets: the predicted class (argmax of the float64 logits) of every example, and for example 0
also a second target, the runner-up class (second-largest logit). So text files hold 4 entries
(ex 0 predicted, ex 0 other, ex 1, ex 2), vit.json 3.

Baselines: text "pad" = the reference input of DESIGN §3: every token the post-processor did not
add (special_tokens_mask = 0 in tokenizer.json's encoding) replaced by the pad id; [CLS]/[SEP]
(<s>/</s>) kept. vit "black" = (0 − mean)/std per channel from preprocessor_config.json (here
−1 for every channel).

IG / LIG are implemented here in float64 (forward hooks that replace a module's output by the
batch of interpolated states; one forward+backward per path) and cross-checked against Captum
0.9 (LayerIntegratedGradients / IntegratedGradients / LayerGradientXActivation) on the first
entry of every family (all L+1 lig layers, ig with two rules, gxi, saliency). Captum itself
multiplies the gradients by float32-rounded step sizes and builds Riemann alphas with a
float32 torch.linspace, so it agrees with this float64 reference only to ~1e-7 relative; the
stored values use Captum's formulas evaluated in float64 (gausslegendre: numpy leggauss nodes
and weights scaled to [0, 1], exactly Captum's; riemann: step sizes 1/n (trapezoid: halved at
both ends), alphas = torch.linspace(..., dtype=float64) with Captum's end points). The alphas
and weights used are stored under "quadrature".

  IG/LIG attribution  = (x − x') ⊙ Σ_k w_k ∂y_c/∂z |_{z = x' + α_k (x − x')}
  convergence delta   = Σ attribution − (y_c(x) − y_c(x'))          (Captum's sign)

Captum's riemann_trapezoid weights are 1/n with both ends halved while its alphas are
linspace(0, 1, n): the weights sum to (n − 1)/n, so that rule is biased by −Δy/n (−5 % at
n = 20). It is kept exactly as Captum has it (DESIGN §3: Captum's alphas and weights exactly).

Checks run on every generation (the script stops if one fails): Captum agreement (as released:
max relative difference < 1e-5; with its float32 roundings removed, see `captum_float64`:
< 1e-10, in practice bit-identical); the path probe at α = 1 reproduces the at-input Ā;
single-example logits agree with reference.json's padded batch (< 1e-10); GL-50 convergence
deltas |delta| < 1e-2·|Δy| for every ig/lig vector, except where a kink makes GL-50 inaccurate:
distilbert's head has a ReLU (pre_classifier → ReLU), whose kinks make the integrands
discontinuous, and its GL-50 deltas reach 0.3·|Δy| (lig 0 of example 1); for those vectors a
4001-point trapezoid (not stored) must bring the delta under 1e-2·|Δy| (it reaches 1.5e-3), which
shows the gradients are right and the GL-50 values are the rule's true output; gae R[CLS,CLS]
>= 1; rollout rows sum to 1; calig λ = 1 "sum" = Σ_{l>=1} lig layers; and
check_attributions.py's JSON-only identities.

Properties a consumer should expect: lig layer 0 is exactly 0 at [CLS]/[SEP] (<s>/</s>): the
reference keeps those tokens and positions, so h^(0) is identical there; lig layer L is 0
everywhere but [CLS] (the heads read h^(L)[CLS] only), so r^(L) carries all of Δy at [CLS].

attributions.json layout (all numbers float64, shortest round-trip decimals)
------------------------------------------------------------------------------
top level:
  "schema": 1, "family", "model_class", "dtype": "float64",
  "baseline": "pad" (text) | "black" (vit),
  "versions": {...} (as reference.json),
  "num_layers": L, "num_heads", "num_labels",
  "pad_token_id" (text) | "baseline_pixel": [3] per-channel normalised baseline value,
      "image_size": 32, "patch_size": 8, "patch_grid": [4, 4] (vit),
  "quadrature": {"gausslegendre_50" | "gausslegendre_20" | "riemann_left_20" |
                 "riemann_right_20" | "riemann_middle_20" | "riemann_trapezoid_20":
                 {"method", "n_steps", "alphas": [n], "weights": [n]}},
  "calig_lambdas": [0.5, 1.0], "calig_aggregations": ["rollout", "sum"],
  "examples": [entry, ...]
entry:
  "example_index": i (the text / pixel row of reference.json), "target_kind": "predicted" |
      "other", "target": c,
  text: "text", "tokens": [s], "input_ids": [s], "reference_input_ids": [s],
        "special_tokens_mask": [s], "attention_mask": [s] (all 1), "token_type_ids": [s]
        (not for distilbert), "position_ids": [s]
  vit:  "pixel_index": i, "num_tokens": 17 ([CLS] first, then the 4x4 patch grid row-major)
  "logits": [C] at the input, "baseline_logits": [C] at the reference input,
  "target_logit_difference": y_c(input) − y_c(reference),
  "methods": {
    "ig": {"gausslegendre_50": {"scores": [..], "delta": x}, and for example 0 (both of its
           targets) also "riemann_left_20", "riemann_right_20", "riemann_middle_20",
           "riemann_trapezoid_20", "gausslegendre_20"}
          text: scores [s] = IG at word_embeddings output, summed over hidden, every token;
          vit: scores [16] = IG wrt the normalised pixels summed over channels, then summed per
               8x8 patch (row-major patch grid); plus "pixel_scores" [32][32] (channel sums
               before pooling).
    "lig": {"method": "gausslegendre_50", "layers": [L+1][s_tok], "deltas": [L+1]}
          layers[l] = LIG in the space of h^(l), summed over hidden, every token (vit: 17,
          [CLS] first). l = 0: embeddings module output (after its LayerNorm; vit: patch
          projection + [CLS] + positions); l >= 1: output of encoder block l.
    "gxi": {"scores"}, "saliency": {"scores"}
          text: at the word-embedding output E: gxi = Σ_hidden (∂y/∂E)·E, saliency =
          ||∂y/∂E||_2 over hidden, [s]; vit: wrt normalised pixels, gxi = Σ_channels grad·x,
          saliency = L2 norm over channels, then per-patch sums [16]; plus "pixel_scores".
    "attention": {"scores": [s_tok]}  last block, mean over heads, [CLS] row
    "rollout":   {"scores": [s_tok]}  Ã^(l) = rownorm(mean_k A^(l,k) + I); R = Ã^(L)···Ã^(1);
                                     R[CLS, :]  (rows of R sum to 1, so R[CLS,CLS] <= 1)
    "gae":       {"scores": [s_tok]}  Ā^(l) = mean_k (∂y_c/∂A^(l,k) ⊙ A^(l,k))^+ ; R = I;
                                     R ← R + Ā^(l) R for l = 1..L; R[CLS, :] (R[CLS,CLS] >= 1)
    "attn_grad": {"matrices": [L][s_tok][s_tok]}  Ā^(l), l = 1..L, at the real input
    "calig": {"a": [L][s_tok]  a^(l) = Ā^(l)[CLS, :], l = 1..L,
              "lambda_0.5_rollout" | "lambda_0.5_sum" | "lambda_1.0_rollout" | "lambda_1.0_sum":
                 {"lambda", "aggregation", "layers": [L][s_tok] (s^(l), l = 1..L; NOTE index 0
                  is block 1, unlike lig "layers" whose index 0 is h^(0)),
                  "scores": [s_tok] (the aggregated final map)}}
             computed by calig_reference.py from r^(l) = lig layers[1..L], a, Ā (attn_grad).
    "calig_path" (bert and vit, example 0, both targets only):
             {"method": "gausslegendre_50", "a": [L][s_tok], variants as in "calig"}
             a^(l) = Σ_k w_k Ā^(l)(α_k)[CLS, :], Ā^(l)(α_k) on the interpolation points of layer
             (l−1)'s LIG path (h^(l−1) = ref + α_k (input − ref), blocks l..L re-run, the
             gradient that of the target logit at that point); Σ w_k = 1. The rollout
             aggregation still propagates with the at-input matrices "attn_grad".
  }
"s_tok" = every token: text s (with [CLS]/[SEP] or <s>/</s>), vit 17 ([CLS] first).
"""

import argparse
import contextlib
import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_fixtures as mf  # noqa: E402  (environment, seeds, JSON helpers, versions)
import calig_reference  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from captum.attr import (  # noqa: E402
    IntegratedGradients,
    LayerGradientXActivation,
    LayerIntegratedGradients,
)
from captum.attr._utils.approximation_methods import approximation_parameters  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForImageClassification,
    AutoModelForSequenceClassification,
)

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

FAMILIES = ("bert", "roberta", "xlmr", "distilbert", "electra", "albert", "vit")
PATH_FAMILIES = ("bert", "vit")  # calig_path for example 0
DTYPE = torch.float64
LAMBDAS = (0.5, 1.0)
AGGREGATIONS = calig_reference.AGGREGATIONS
MAIN_QUAD = "gausslegendre_50"
DELTA_BOUND = 1e-2  # |delta| / |Δy| expected at GL-50 (or else at a 4001-point trapezoid)
EXTRA_QUADS = ("riemann_left_20", "riemann_right_20", "riemann_middle_20", "riemann_trapezoid_20",
               "gausslegendre_20")


# ----------------------------------------------------------------------------------------------
# Quadrature (Captum's rules, float64)


def quadrature(key):
    """(method, n, alphas, weights), alphas and weights float64 Python lists, for a key such as
    "gausslegendre_50" or "riemann_left_20"."""
    method, n = key.rsplit("_", 1)
    n = int(n)
    step_sizes_func, alphas_func = approximation_parameters(method)
    weights = [float(w) for w in step_sizes_func(n)]  # float64 already (numpy / 1/n)
    if method == "gausslegendre":
        alphas = [float(a) for a in alphas_func(n)]  # 0.5 * (1 + leggauss nodes), float64
    else:
        # Captum: torch.linspace(...) in the default float32; the same end points in float64
        ends = {"riemann_trapezoid": (0.0, 1.0), "riemann_left": (0.0, 1.0 - 1.0 / n),
                "riemann_middle": (1.0 / (2 * n), 1.0 - 1.0 / (2 * n)),
                "riemann_right": (1.0 / n, 1.0)}[method]
        alphas = torch.linspace(ends[0], ends[1], n, dtype=torch.float64).tolist()
        captum32 = alphas_func(n)
        assert max(abs(a - b) for a, b in zip(alphas, captum32)) < 1e-7, key
    return method, n, alphas, weights


# ----------------------------------------------------------------------------------------------
# Attention probe: same arithmetic as transformers' eager attention, softmax in the query dtype,
# post-softmax probabilities recorded (retain_grad) while a recording is active.


class Recorder:
    active = False
    probs = []


def probe_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                    **kwargs):
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    w = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        w = w + attention_mask
    w = torch.nn.functional.softmax(w, dim=-1)
    assert not module.training
    if Recorder.active:
        if w.requires_grad:
            w.retain_grad()
        Recorder.probs.append(w)
    out = torch.matmul(w, value).transpose(1, 2).contiguous()
    return out, w


@contextlib.contextmanager
def patched_attention():
    saved = []
    for name in mf.EAGER_ATTENTION_MODULES:
        mod = importlib.import_module(name)
        ORIGINAL.setdefault(mod.__name__, mod.eager_attention_forward)
        saved.append((mod, mod.eager_attention_forward))
        mod.eager_attention_forward = probe_attention
    try:
        yield
    finally:
        for mod, f in saved:
            mod.eager_attention_forward = f


@contextlib.contextmanager
def recording():
    Recorder.active, Recorder.probs = True, []
    try:
        yield Recorder.probs
    finally:
        Recorder.active = False


@contextlib.contextmanager
def replace_output(module, z):
    """Forward hook: the module's output becomes z (a tensor of the same shape)."""
    def hook(_m, _inp, out):
        assert torch.is_tensor(out) and out.shape == z.shape, (type(out), z.shape)
        return z
    h = module.register_forward_hook(hook)
    try:
        yield
    finally:
        h.remove()


def capture_output(module, run):
    got = []
    h = module.register_forward_hook(lambda _m, _i, out: got.append(out.detach().clone()))
    try:
        with torch.no_grad():
            run()
    finally:
        h.remove()
    assert len(got) == 1
    return got[0]


# ----------------------------------------------------------------------------------------------
# Models and examples


class Application(torch.nn.Module):
    """One application of ALBERT's shared layer group, so that each layer has a module of its
    own whose output a hook can read or replace (the weights stay shared)."""

    def __init__(self, group):
        super().__init__()
        self.group = group

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        return self.group(hidden_states, attention_mask, **kwargs)


def unshare_albert(encoder, config):
    """Makes ALBERT's encoder run one Application per layer (AlbertTransformer picks group
    int(i / (L / num_hidden_groups)), so L groups give group i at layer i); returns them."""
    assert config.num_hidden_groups == 1 and config.inner_group_num == 1
    shared = encoder.albert_layer_groups[0]
    apps = [Application(shared) for _ in range(config.num_hidden_layers)]
    encoder.albert_layer_groups = torch.nn.ModuleList(apps)
    config.num_hidden_groups = config.num_hidden_layers
    return apps


class Subject:
    """A float64 model with its attributable points and one single example."""

    def __init__(self, family):
        self.family = family
        self.dir = mf.FIXTURES / family
        self.ref = json.loads((self.dir / "reference.json").read_text(encoding="utf-8"))
        self.image = family == "vit"
        auto = AutoModelForImageClassification if self.image else AutoModelForSequenceClassification
        model = auto.from_pretrained(str(self.dir), attn_implementation="eager")
        model = model.to(DTYPE).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self.model = model
        base = getattr(model, model.base_model_prefix)
        self.embeddings = base.embeddings
        if self.image:
            blocks = base.layers if hasattr(base, "layers") else base.encoder.layer
            self.word = None
        elif family == "albert":
            self.word = base.embeddings.word_embeddings
            blocks = unshare_albert(base.encoder, model.config)
        else:
            self.word = base.embeddings.word_embeddings
            blocks = base.transformer.layer if hasattr(base, "transformer") else base.encoder.layer
        self.blocks = list(blocks)
        # The module whose output is h^(0), the first block's input: ELECTRA's and ALBERT's
        # embeddings are projected to the hidden size first.
        first = self.embeddings
        if hasattr(base, "embeddings_project"):
            first = base.embeddings_project
        elif family == "albert":
            first = base.encoder.embedding_hidden_mapping_in
        self.points = [first] + self.blocks  # module whose output is h^(l)
        self.L = len(self.blocks)
        self.num_labels = model.config.num_labels
        if self.image:
            pre = json.loads((self.dir / "preprocessor_config.json").read_text(encoding="utf-8"))
            mean, std = np.array(pre["image_mean"]), np.array(pre["image_std"])
            self.baseline_pixel = ((0.0 - mean) / std).tolist()
            self.patch = model.config.patch_size
            self.image_size = model.config.image_size
        else:
            self.tok = Tokenizer.from_file(str(self.dir / "tokenizer.json"))
            self.pad_id = model.config.pad_token_id
            self.roberta_like = family in ("roberta", "xlmr")

    # -- example setup --------------------------------------------------------------------------

    def set_example(self, i):
        self.index = i
        r = self.ref
        if self.image:
            x = torch.tensor(r["pixel_values"][i], dtype=torch.float32).to(DTYPE).unsqueeze(0)
            base = torch.tensor(self.baseline_pixel, dtype=DTYPE).view(1, 3, 1, 1).expand_as(x)
            self.x, self.xr = x, base.contiguous()
            self.extra = {}
            self.meta = {"pixel_index": i, "num_tokens": 1 + (self.image_size // self.patch) ** 2}
            return
        n = int(sum(r["attention_mask"][i]))
        ids = r["input_ids"][i][:n]
        enc = self.tok.encode(r["texts"][i])
        assert enc.ids == ids, (self.family, enc.ids, ids)
        special = list(enc.special_tokens_mask)
        ref_ids = [t if sp else self.pad_id for t, sp in zip(ids, special)]
        pos = r["position_ids"][i][:n]
        ids_t = torch.tensor([ids])
        if self.roberta_like:
            assert mf.roberta_position_ids(ids_t, self.pad_id).tolist() == [pos]
        else:
            assert pos == list(range(n))
        self.x, self.xr = ids_t, torch.tensor([ref_ids])
        self.extra = {"attention_mask": torch.ones((1, n), dtype=torch.long),
                      "position_ids": torch.tensor([pos])}
        tti = None
        if "token_type_ids" in r:
            tti = r["token_type_ids"][i][:n]
            self.extra["token_type_ids"] = torch.tensor([tti])
        self.meta = {"text": r["texts"][i], "tokens": r["tokens"][i][:n], "input_ids": ids,
                     "reference_input_ids": ref_ids, "special_tokens_mask": special,
                     "attention_mask": [1] * n}
        if tti is not None:
            self.meta["token_type_ids"] = tti
        self.meta["position_ids"] = pos

    def forward(self, x, batch=None):
        """logits for x (text: ids (1, s), expanded to `batch` rows; vit: pixels (B, 3, H, W))."""
        b = batch or x.shape[0]
        if self.image:
            return self.model(pixel_values=x.expand(b, -1, -1, -1)).logits
        kw = {k: v.expand(b, -1) for k, v in self.extra.items()}
        return self.model(input_ids=x.expand(b, -1), **kw).logits

    def logits(self, x):
        with torch.no_grad():
            return self.forward(x)[0]

    # -- path integrals -------------------------------------------------------------------------

    def integrate(self, point, target, quad, record=False):
        """IG along the straight path from the reference to the input in the space of `point`'s
        output (point None: the pixels). Returns (attribution with the point's shape minus the
        batch dim, list of recorded probes (n, heads, s, s) with .grad, or None)."""
        _, n, alphas, weights = quadrature(quad)
        if point is None:
            hx, hr = self.x, self.xr
        else:
            hx = capture_output(point, lambda: self.forward(self.x))
            hr = capture_output(point, lambda: self.forward(self.xr))
        z = torch.cat([hr + a * (hx - hr) for a in alphas], 0).requires_grad_()
        ctx = contextlib.nullcontext() if point is None else replace_output(point, z)
        with ctx, recording() as probes:
            logits = self.forward(z if point is None else self.x, batch=n)
            logits[:, target].sum().backward()
        w = torch.tensor(weights, dtype=DTYPE).view((n,) + (1,) * (z.dim() - 1))
        avg = (w * z.grad).sum(0)
        attr = avg * (hx - hr)[0]
        return attr.detach(), (list(probes) if record else None)

    def fine_delta(self, point, target, n=4001, chunk=500):
        """Convergence delta of a trapezoid rule with n points (chunked): used only to show
        that a large GL-50 delta is quadrature error (kinks of a ReLU) and not a wrong
        gradient; not stored."""
        alphas = torch.linspace(0.0, 1.0, n, dtype=DTYPE)
        weights = torch.full((n,), 1.0 / (n - 1), dtype=DTYPE)
        weights[0] /= 2
        weights[-1] /= 2
        if point is None:
            hx, hr = self.x, self.xr
        else:
            hx = capture_output(point, lambda: self.forward(self.x))
            hr = capture_output(point, lambda: self.forward(self.xr))
        total = torch.zeros_like(hx[0])
        shape = (-1,) + (1,) * (hx.dim() - 1)
        for a, w in zip(torch.split(alphas, chunk), torch.split(weights, chunk)):
            z = (hr + a.view(shape) * (hx - hr)).requires_grad_()
            ctx = contextlib.nullcontext() if point is None else replace_output(point, z)
            with ctx:
                logits = self.forward(z if point is None else self.x, batch=len(a))
                logits[:, target].sum().backward()
            total = total + (w.view(shape) * z.grad).sum(0)
        return self.delta(total * (hx - hr)[0], target)

    def delta(self, attr, target):
        dy = float(self.logits(self.x)[target] - self.logits(self.xr)[target])
        return float(attr.sum()) - dy

    # -- gradient at the input ------------------------------------------------------------------

    def input_pass(self, target):
        """One forward+backward at the real input: (grad-based maps, A (L,h,s,s), ∇A)."""
        e = None if self.image else capture_output(self.word, lambda: self.forward(self.x))
        with recording() as probes:
            if self.image:
                x = self.x.clone().requires_grad_()
                logits = self.forward(x)
                logits[0, target].backward()
                g = x.grad[0]
                maps = {"gxi": (g * self.x[0]).sum(0), "saliency": g.norm(dim=0)}
            else:
                z = e.clone().requires_grad_()
                with replace_output(self.word, z):
                    logits = self.forward(self.x)
                    logits[0, target].backward()
                g = z.grad[0]
                maps = {"gxi": (g * e[0]).sum(-1), "saliency": g.norm(dim=-1)}
        assert len(probes) == self.L
        a = torch.stack([p.detach()[0] for p in probes])
        ga = torch.stack([p.grad[0] for p in probes])
        return maps, a, ga

    def patch_sum(self, pix):
        """(H, W) pixel map → per-patch sums, row-major patch grid."""
        g = self.image_size // self.patch
        return pix.reshape(g, self.patch, g, self.patch).sum(dim=(1, 3)).reshape(-1)


def abar_of(a, ga):
    """Ā = mean over heads of (∇A ⊙ A)^+ ; a, ga: (..., heads, s, s) → (..., s, s)."""
    return (ga * a).clamp(min=0).mean(-3)


def rollout(a):
    s = a.shape[-1]
    eye = torch.eye(s, dtype=DTYPE)
    r = eye.clone()
    for l in range(a.shape[0]):
        at = a[l].mean(0) + eye
        at = at / at.sum(-1, keepdim=True)
        r = at @ r
    return r


def gae(abar):
    s = abar.shape[-1]
    r = torch.eye(s, dtype=DTYPE)
    for l in range(abar.shape[0]):
        r = r + abar[l] @ r
    return r


def to_list(t):
    return t.detach().cpu().to(torch.float64).numpy().tolist() if torch.is_tensor(t) else \
        np.asarray(t, dtype=np.float64).tolist()


def calig_block(r_layers, a, abar):
    out = {"a": to_list(a)}
    for lam in LAMBDAS:
        for agg in AGGREGATIONS:
            layers, final = calig_reference.calig(r_layers, a, abar, lam, agg)
            out[calig_reference.variant_key(lam, agg)] = {
                "lambda": lam, "aggregation": agg, "layers": to_list(layers),
                "scores": to_list(final)}
    return out


# ----------------------------------------------------------------------------------------------
# One entry


def entry(subj, i, target, kind, log):
    subj.set_example(i)
    lx, lr = subj.logits(subj.x), subj.logits(subj.xr)
    dy = float(lx[target] - lr[target])
    e = {"example_index": i, "target_kind": kind, "target": target}
    e.update(subj.meta)
    e["logits"] = to_list(lx)
    e["baseline_logits"] = to_list(lr)
    e["target_logit_difference"] = dy
    m = {}

    # ig
    m["ig"] = {}
    quads = (MAIN_QUAD,) + (EXTRA_QUADS if i == 0 else ())
    for q in quads:
        attr, _ = subj.integrate(subj.word, target, q)
        d = subj.delta(attr, target)
        if subj.image:
            pix = attr.sum(0)
            m["ig"][q] = {"scores": to_list(subj.patch_sum(pix)), "delta": d,
                          "pixel_scores": to_list(pix)}
        else:
            m["ig"][q] = {"scores": to_list(attr.sum(-1)), "delta": d}
        fine = subj.fine_delta(subj.word, target) if (
            q == MAIN_QUAD and abs(d) > DELTA_BOUND * abs(dy)) else None
        log.append((subj.family, i, kind, f"ig {q}", d, dy, fine))

    # lig, all layers; the recorded probes give the path-integrated a for calig_path
    _, _, _, gl_w = quadrature(MAIN_QUAD)
    gl_w = torch.tensor(gl_w, dtype=DTYPE)
    layers, deltas, a_path = [], [], []
    for l, point in enumerate(subj.points):
        attr, probes = subj.integrate(point, target, MAIN_QUAD, record=True)
        layers.append(attr.sum(-1))
        deltas.append(subj.delta(attr, target))
        fine = subj.fine_delta(point, target) if abs(deltas[-1]) > DELTA_BOUND * abs(dy) \
            else None
        log.append((subj.family, i, kind, f"lig {l}", deltas[-1], dy, fine))
        if l < subj.L:  # path of h^(l) → block l+1's Ā along it
            p = probes[l]
            ab = abar_of(p.detach(), p.grad)  # (n, s, s)
            a_path.append((gl_w.view(-1, 1) * ab[:, 0, :]).sum(0))
    m["lig"] = {"method": MAIN_QUAD, "layers": to_list(torch.stack(layers)), "deltas": deltas}

    # gradient at the input: gxi, saliency, attention maps
    maps, a, ga = subj.input_pass(target)
    for k in ("gxi", "saliency"):
        if subj.image:
            m[k] = {"scores": to_list(subj.patch_sum(maps[k])), "pixel_scores": to_list(maps[k])}
        else:
            m[k] = {"scores": to_list(maps[k])}
    abar = abar_of(a, ga)  # (L, s, s)
    m["attention"] = {"scores": to_list(a[-1].mean(0)[0])}
    ro = rollout(a)
    m["rollout"] = {"scores": to_list(ro[0])}
    ge = gae(abar)
    m["gae"] = {"scores": to_list(ge[0])}
    m["attn_grad"] = {"matrices": to_list(abar)}

    # checks on the attention maps
    assert torch.allclose(ro.sum(-1), torch.ones(ro.shape[0], dtype=DTYPE), atol=1e-12)
    assert float(ro[0, 0]) <= 1.0 + 1e-12 and float(ro.min()) >= 0
    assert float(ge[0, 0]) >= 1.0, ge[0, 0]

    # calig
    r_layers = torch.stack(layers[1:]).numpy()
    a_in = abar[:, 0, :].numpy()
    abar_np = abar.numpy()
    m["calig"] = calig_block(r_layers, a_in, abar_np)
    s1 = np.array(m["calig"]["lambda_1.0_sum"]["scores"])
    assert np.allclose(s1, r_layers.sum(0), rtol=0, atol=1e-12 * max(1.0, np.abs(s1).max()))
    if subj.family in PATH_FAMILIES and i == 0:
        ap = torch.stack(a_path).numpy()
        cp = calig_block(r_layers, ap, abar_np)
        m["calig_path"] = {"method": MAIN_QUAD, **cp}
    e["methods"] = m
    return e, (a, ga, abar, maps)


# ----------------------------------------------------------------------------------------------
# Cross-checks against Captum (first entry of every family) and internal identities


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@contextlib.contextmanager
def captum_float64():
    """Captum with its float32 roundings removed: IntegratedGradients._attribute with the step
    sizes kept in float64 (source patched: `torch.tensor(step_sizes).float()` ->
    `torch.tensor(step_sizes, dtype=torch.float64)`), and the quadrature
    from `quadrature()` (float64 Riemann alphas). Used to show that the remaining difference
    to Captum is those roundings only."""
    import inspect
    import textwrap

    from captum.attr._core import integrated_gradients as igm

    src = textwrap.dedent(inspect.getsource(igm.IntegratedGradients._attribute))
    old = "torch.tensor(step_sizes).float()"
    assert src.count(old) == 1, "captum changed: revisit captum_float64"
    ns = dict(igm.__dict__)
    src = src.replace(old, "torch.tensor(step_sizes, dtype=torch.float64)")
    exec(compile(src, igm.__file__, "exec"), ns)
    saved = igm.IntegratedGradients._attribute

    def params(method):
        def steps(n):
            return quadrature(f"{method}_{n}")[3]

        def alphas(n):
            return quadrature(f"{method}_{n}")[2]
        return steps, alphas

    ns["approximation_parameters"] = params  # the patched _attribute's globals
    igm.IntegratedGradients._attribute = ns["_attribute"]
    try:
        yield
    finally:
        igm.IntegratedGradients._attribute = saved


def captum_checks(subj, e, target):
    """Recompute with Captum and compare: returns {what: (max rel diff of the token/patch
    scores, |difference of deltas|)}, for Captum as released and for captum_float64()."""
    plain = _captum_checks(subj, e, target)
    with captum_float64():
        exact = _captum_checks(subj, e, target)
    return plain, exact


def _captum_checks(subj, e, target):
    subj.set_example(e["example_index"])
    rep = {}
    if subj.image:
        def fwd(px):
            return subj.model(pixel_values=px).logits
        args, inp, base = None, subj.x, subj.xr
    else:
        keys = list(subj.extra)

        def fwd(ids, *extra):
            return subj.model(input_ids=ids, **dict(zip(keys, extra))).logits
        args = tuple(subj.extra[k] for k in keys)
        inp, base = subj.x, subj.xr
    quads = [MAIN_QUAD, "riemann_trapezoid_20", "riemann_left_20"]
    for q in quads:
        method, n, _, _ = quadrature(q)
        if subj.image:
            algo = IntegratedGradients(fwd)
        else:
            algo = LayerIntegratedGradients(fwd, subj.word)
        attr, delta = algo.attribute(inp, baselines=base, target=target,
                                     additional_forward_args=args, n_steps=n, method=method,
                                     return_convergence_delta=True)
        mine = e["methods"]["ig"][q]
        if subj.image:
            pix = attr[0].detach().sum(0)
            rep[f"ig {q}"] = (rel(subj.patch_sum(pix).numpy(), mine["scores"]),
                              abs(float(delta) - mine["delta"]))
        else:
            rep[f"ig {q}"] = (rel(attr[0].detach().sum(-1).numpy(), mine["scores"]),
                              abs(float(delta) - mine["delta"]))
    lig = e["methods"]["lig"]
    for l, point in enumerate(subj.points):
        algo = LayerIntegratedGradients(fwd, point)
        attr, delta = algo.attribute(inp, baselines=base, target=target,
                                     additional_forward_args=args, n_steps=50,
                                     method="gausslegendre", return_convergence_delta=True)
        rep[f"lig {l}"] = (rel(attr[0].detach().sum(-1).numpy(), lig["layers"][l]),
                           abs(float(delta) - lig["deltas"][l]))
    if not subj.image:
        gx = LayerGradientXActivation(fwd, subj.word).attribute(
            inp, target=target, additional_forward_args=args)
        rep["gxi"] = (rel(gx[0].detach().sum(-1).numpy(), e["methods"]["gxi"]["scores"]), 0.0)
        gr = LayerGradientXActivation(fwd, subj.word, multiply_by_inputs=False).attribute(
            inp, target=target, additional_forward_args=args)
        rep["saliency"] = (rel(gr[0].detach().norm(dim=-1).numpy(), e["methods"]["saliency"]["scores"]),
                           0.0)
    return rep


def identity_checks(subj, e, target, abar):
    """The hook/probe path machinery at α = 1 reproduces the at-input Ā of every block."""
    subj.set_example(e["example_index"])
    worst = 0.0
    for l in range(subj.L):
        point = subj.points[l]
        hx = capture_output(point, lambda: subj.forward(subj.x))
        z = hx.clone().requires_grad_()
        with replace_output(point, z), recording() as probes:
            subj.forward(subj.x)[:, target].sum().backward()
        p = probes[l]
        worst = max(worst, float((abar_of(p.detach(), p.grad)[0] - abar[l]).abs().max()))
    assert worst < 1e-13, worst
    return worst


@contextlib.contextmanager
def original_attention():
    """Inside patched_attention(): transformers' own eager attention again, with the ViT
    softmax kept in the query dtype (make_fixtures.same_dtype_softmax)."""
    mods = [importlib.import_module(n) for n in mf.EAGER_ATTENTION_MODULES]
    cur = [m.eager_attention_forward for m in mods]
    for m in mods:
        m.eager_attention_forward = ORIGINAL[m.__name__]
    try:
        with mf.same_dtype_softmax():
            yield
    finally:
        for m, f in zip(mods, cur):
            m.eager_attention_forward = f


def check_logits(subj):
    """Patched float64 logits == transformers' float64 logits (bitwise), and the single
    examples agree with the padded batch of reference.json's "f64" logits."""
    worst = 0.0
    for i in range(len(subj.ref["f64"]["logits"])):
        subj.set_example(i)
        with torch.no_grad():
            patched = subj.forward(subj.x)[0]
            with original_attention():
                plain = subj.forward(subj.x)[0]
        assert torch.equal(patched, plain), (subj.family, i, (patched - plain).abs().max())
        batch = torch.tensor(subj.ref["f64"]["logits"][i], dtype=DTYPE)
        worst = max(worst, float((patched - batch).abs().max()))
    assert worst < 1e-10, worst
    return worst


ORIGINAL = {}


# ----------------------------------------------------------------------------------------------


def make_family(family, summary):
    subj = Subject(family)
    worst_batch = check_logits(subj)
    n_examples = len(subj.ref["f64"]["logits"])
    plan = []
    for i in range(n_examples):
        subj.set_example(i)
        lx = subj.logits(subj.x)
        order = torch.argsort(lx, descending=True).tolist()
        plan.append((i, order[0], "predicted"))
        if i == 0:
            plan.append((i, order[1], "other"))
    log, entries = [], []
    for idx, (i, target, kind) in enumerate(plan):
        e, (a, ga, abar, _maps) = entry(subj, i, target, kind, log)
        if idx == 0:
            plain, exact = captum_checks(subj, e, target)
            ident = identity_checks(subj, e, target, abar)
            summary.append((family, "captum", plain, exact, ident, worst_batch))
        entries.append(e)
    out = {
        "schema": 1,
        "family": family,
        "model_class": type(subj.model).__name__,
        "dtype": "float64",
        "baseline": "black" if subj.image else "pad",
        "versions": mf.VERSIONS,
        "num_layers": subj.L,
        "num_heads": subj.model.config.num_attention_heads if hasattr(
            subj.model.config, "num_attention_heads") else subj.model.config.n_heads,
        "num_labels": subj.num_labels,
    }
    if subj.image:
        g = subj.image_size // subj.patch
        out.update({"baseline_pixel": subj.baseline_pixel, "image_size": subj.image_size,
                    "patch_size": subj.patch, "patch_grid": [g, g]})
    else:
        out["pad_token_id"] = subj.pad_id
    out["quadrature"] = {}
    for q in (MAIN_QUAD,) + EXTRA_QUADS:
        method, n, alphas, weights = quadrature(q)
        out["quadrature"][q] = {"method": method, "n_steps": n, "alphas": alphas,
                                "weights": weights}
    out["calig_lambdas"] = list(LAMBDAS)
    out["calig_aggregations"] = list(AGGREGATIONS)
    out["examples"] = entries
    path = subj.dir / "attributions.json"
    mf.write_json(path, out)
    summary.append((family, "deltas", log))
    print(f"  [{family}] wrote {path.relative_to(mf.REPO)} "
          f"({path.stat().st_size / 1e3:.0f} kB, {len(entries)} entries)")


def report(summary):
    worst_ratio = 0.0
    for item in summary:
        if item[1] == "captum":
            family, _, plain, exact, ident, wb = item
            cap = max(v[0] for v in plain.values())
            dd = max(v[1] for v in plain.values())
            cap64 = max(v[0] for v in exact.values())
            dd64 = max(v[1] for v in exact.values())
            print(f"  [{family}] vs Captum ({len(plain)} checks: ig x3 rules, lig 0..L"
                  f"{', gxi, saliency' if 'gxi' in plain else ''}): max rel diff {cap:.2e}, "
                  f"max |Δdelta| {dd:.2e}; vs Captum without its float32 roundings: "
                  f"{cap64:.2e}, {dd64:.2e}")
            print(f"  [{family}] α=1 path probe vs at-input Ā: {ident:.1e}; "
                  f"single vs padded-batch f64 logits: {wb:.1e}")
            assert cap < 1e-5 and cap64 < 1e-10 and dd64 < 1e-10, (plain, exact)
            continue
        family, _, log = item
        rows = []
        for _fam, i, kind, what, d, dy, fine in log:
            ratio = abs(d) / max(abs(dy), 1e-12)
            rows.append((what, i, kind, d, dy, ratio, fine))
        gl = [r for r in rows if r[0] == f"ig {MAIN_QUAD}" or r[0].startswith("lig")]
        w = max(gl, key=lambda r: r[5])
        print(f"  [{family}] GL-50 ig/lig ({len(gl)} vectors): max |delta|/|Δy| = {w[5]:.2e} "
              f"({w[0]}, ex {w[1]} {w[2]}, delta {w[3]:+.2e}, Δy {w[4]:+.3f})")
        big = [r for r in gl if r[6] is not None]
        if big:
            fr = max(abs(r[6]) / max(abs(r[4]), 1e-12) for r in big)
            print(f"      {len(big)} of them above {DELTA_BOUND:g}·|Δy|; with a 4001-point trapezoid "
                  f"instead: max |delta|/|Δy| = {fr:.2e}")
            for r in big:
                print(f"        {r[0]:>22} ex {r[1]} {r[2]:9}: GL-50 {r[3]:+.2e}, "
                      f"trapezoid-4001 {r[6]:+.2e} (Δy {r[4]:+.3f})")
            worst_ratio = max(worst_ratio, fr)
        worst_ratio = max(worst_ratio, max([r[5] for r in gl if r[6] is None], default=0.0))
        for what in [f"ig {q}" for q in EXTRA_QUADS]:
            rr = [r for r in rows if r[0] == what]
            print(f"      {what}: " + ", ".join(f"{r[3]:+.2e} (Δy {r[4]:+.3f})" for r in rr))
    return worst_ratio


def main(only=FAMILIES):
    summary = []
    with patched_attention():
        for family in only:
            print(f"attributions: {family}")
            make_family(family, summary)
    worst = report(summary)
    print(f"  worst |delta|/|Δy| over all ig/lig vectors (GL-50, or the fine trapezoid where "
          f"GL-50 exceeds {DELTA_BOUND:g}): {worst:.2e}")
    assert worst < DELTA_BOUND, worst
    import check_attributions

    check_attributions.main(only)


def families_from_args(script, doc, families=FAMILIES):
    """The --only list of a reference script's command line, checked against `families`."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(families))
    args = ap.parse_args()
    only = [f for f in args.only.split(",") if f]
    bad = [f for f in only if f not in families]
    if bad:
        sys.exit(f"{script}: unknown family {bad}; known: {families}")
    return only


if __name__ == "__main__":
    main(families_from_args("make_attributions.py", __doc__))
