#!/usr/bin/env python3
"""Golden fixtures for calig's LRP methods: tests/fixtures/<family>/lrp.json.

    /path/to/venv/bin/python tools/reference/make_lrp.py [--only bert,roberta,...]

Uses the environment of requirements.txt (torch, transformers) and the fixture models and
examples of make_attributions.py (same examples, same targets, read from attributions.json).
Deterministic: float64, single thread, no randomness.

AttnLRP (Achtibat et al., ICML 2024) is computed here by an independent float64 forward pass of
each family, written from the HF modules' weights, in which every op that is not linear carries
its AttnLRP rule as a modified gradient (the Gradient x Input form of LXT's efficient mode):

    LayerNorm       (x - mean) / stop_grad(std) * w + b          identity rule on the division
    GELU, tanh, ReLU  y = f(x), grad = g * f(x) / (x + 1e-10)     identity rule
    Q K^T, A V      the product's gradient divided by 2           uniform rule
    softmax, linear layers, additions: plain gradients (the softmax rule and the epsilon rule
    with epsilon -> 0 in this form)

Relevance at a tensor = its modified gradient * its value. Stored per example: "scores" =
relevance at the word embeddings summed over hidden ([s]; ViT: at the normalised pixels summed
over channels then per patch, [patches]), "layers" = relevance at h^(0)..h^(L) summed over hidden
([L+1][s]), "layer_totals", "input_total" and the target logit. The hand-written forward is
asserted to reproduce the HF model's float64 logits (< 1e-10).

Where LXT supports the architecture (its efficient BertForSequenceClassification patch: the
bert fixture), check_lxt.py compares these values with LXT's own result (it needs the older
transformers that LXT 2.1 was written for; see README.md).
"""

import json

import torch
from transformers.activations import ACT2FN

import make_attributions as ma
import make_fixtures as mf

torch.set_num_threads(1)
DTYPE = torch.float64
FAMILIES = ("bert", "roberta", "xlmr", "distilbert", "electra", "albert", "vit")


class ScaleGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, factor):
        ctx.factor = factor
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g * ctx.factor, None


class IdentityRule(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, fn):
        y = fn(x)
        ratio = y / (x + 1e-10)
        ctx.save_for_backward(torch.where(torch.isfinite(ratio), ratio, torch.zeros_like(ratio)))
        return y

    @staticmethod
    def backward(ctx, g):
        (ratio,) = ctx.saved_tensors
        return g * ratio, None


def layer_norm(ln, x):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + ln.eps).detach() * ln.weight + ln.bias


def half(x):
    return ScaleGrad.apply(x, 0.5)


class Family:
    """The family's modules under one set of names."""

    def __init__(self, subj):
        m = subj.model
        self.subj, self.family = subj, subj.family
        base = getattr(m, m.base_model_prefix)
        self.base, self.cfg = base, m.config
        self.heads = getattr(m.config, "num_attention_heads", None) or m.config.n_heads
        act = getattr(m.config, "hidden_act", None) or m.config.activation
        self.act = ACT2FN[act]

    def attention_parts(self, layer):
        layer = unwrap(layer)
        if self.family == "albert":
            a = layer.attention
            return a.query, a.key, a.value, a.dense
        if self.family == "distilbert":
            a = layer.attention
            return a.q_lin, a.k_lin, a.v_lin, a.out_lin
        if self.family == "vit":
            a = layer.attention
            return a.q_proj, a.k_proj, a.v_proj, a.o_proj

        a = layer.attention
        return a.self.query, a.self.key, a.self.value, a.output.dense

    def attention(self, layer, x):
        q_lin, k_lin, v_lin, out_lin = self.attention_parts(layer)
        b, s, d = x.shape
        hd = d // self.heads

        def split(t):
            return t.view(b, s, self.heads, hd).transpose(1, 2)

        q, k, v = split(q_lin(x)), split(k_lin(x)), split(v_lin(x))
        scores = half(q @ k.transpose(-1, -2)) / hd ** 0.5
        probs = torch.softmax(scores, dim=-1)
        ctx = half(probs @ v).transpose(1, 2).reshape(b, s, d)
        return out_lin(ctx)

    def block(self, layer, x):
        fc1, fc2 = ffn_parts(self, layer)

        def ffn(t):
            return fc2(IdentityRule.apply(fc1(t), self.act))

        if self.family == "vit":
            a = self.attention(layer, layer_norm(layer.layernorm_before, x)) + x
            return ffn(layer_norm(layer.layernorm_after, a)) + a
        n1, n2 = norm_parts(self, layer)
        a = layer_norm(n1, self.attention(layer, x) + x)
        return layer_norm(n2, ffn(a) + a)

    def embed(self, x_attr):
        e = self.base.embeddings
        if self.family == "vit":
            proj = e.patch_embeddings.projection
            p = torch.nn.functional.conv2d(x_attr, proj.weight, proj.bias, stride=proj.stride)
            p = p.flatten(2).transpose(1, 2)
            cls = e.cls_token.expand(x_attr.shape[0], -1, -1)
            return torch.cat([cls, p], 1) + e.position_embeddings
        extra = self.subj.extra
        h = x_attr + e.position_embeddings(extra["position_ids"])
        if "token_type_ids" in extra:
            h = h + e.token_type_embeddings(extra["token_type_ids"])
        elif hasattr(e, "token_type_embeddings"):
            h = h + e.token_type_embeddings(torch.zeros_like(extra["position_ids"]))
        h = layer_norm(e.LayerNorm, h)
        # ELECTRA and ALBERT: the projection to the hidden size (a linear layer: plain gradient).
        if hasattr(self.base, "embeddings_project"):
            h = self.base.embeddings_project(h)
        elif self.family == "albert":
            h = self.base.encoder.embedding_hidden_mapping_in(h)
        return h

    def head(self, h):
        m = self.subj.model
        if self.family == "vit":
            return m.classifier(layer_norm(self.base.layernorm, h)[:, 0])
        dense, act, out = head_parts(self)
        return out(IdentityRule.apply(dense(h[:, 0]), act))


def unwrap(layer):
    """ALBERT's per-layer Application (make_attributions.unshare_albert): its shared layer."""
    return layer.group.albert_layers[0] if hasattr(layer, "group") else layer


def ffn_parts(fam, layer):
    layer = unwrap(layer)
    if fam.family == "distilbert":
        return layer.ffn.lin1, layer.ffn.lin2
    if fam.family == "vit":
        return layer.mlp.fc1, layer.mlp.fc2
    if fam.family == "albert":
        return layer.ffn, layer.ffn_output
    return layer.intermediate.dense, layer.output.dense


def norm_parts(fam, layer):
    """The post-LN families' two LayerNorms: after attention, after the FFN."""
    layer = unwrap(layer)
    if fam.family == "distilbert":
        return layer.sa_layer_norm, layer.output_layer_norm
    if fam.family == "albert":
        return layer.attention.LayerNorm, layer.full_layer_layer_norm
    return layer.attention.output.LayerNorm, layer.output.LayerNorm


def head_parts(fam):
    """The text heads' (dense, activation, classifier)."""
    m = fam.subj.model
    if fam.family == "distilbert":
        return m.pre_classifier, torch.relu, m.classifier
    if fam.family in ("roberta", "xlmr"):
        return m.classifier.dense, torch.tanh, m.classifier.out_proj
    if fam.family == "electra":
        return m.classifier.dense, ACT2FN["gelu"], m.classifier.out_proj
    if fam.family == "albert":
        return fam.base.pooler, torch.tanh, m.classifier
    return fam.base.pooler.dense, torch.tanh, m.classifier


def attnlrp(fam, target):
    subj = fam.subj
    x = (subj.x if subj.image else subj.word(subj.x)).detach().clone().requires_grad_(True)
    hs = []
    h = fam.embed(x)
    for layer in subj.blocks:
        h.retain_grad()
        hs.append(h)
        h = fam.block(layer, h)
    h.retain_grad()
    hs.append(h)
    logits = fam.head(h)
    ref = subj.logits(subj.x)
    err = (logits[0].detach() - ref).abs().max().item()
    assert err < 1e-10, (fam.family, "hand-written forward differs from HF", err)
    logits[0, target].backward()
    rin = (x.grad * x).detach()
    if subj.image:
        scores = subj.patch_sum(rin[0].sum(0))
    else:
        scores = rin[0].sum(-1)
    layers = [(t.grad * t).detach()[0].sum(-1) for t in hs]
    return {
        "scores": ma.to_list(scores),
        "layers": [ma.to_list(v) for v in layers],
        "layer_totals": [float(v.sum()) for v in layers],
        "input_total": float(rin.sum()),
        "target_logit": float(logits[0, target]),
    }


# ---- Chefer, Gur & Wolf (CVPR 2021): explicit LRP with the rules of their released code -------
#
# Each rule is computed the way their code does it, through autograd: relevance of an input x of
# Z = f(x) is x * d(Z . S)/dx with S = safe_divide(R, Z). Linear layers: alpha = 1, beta = 0
# (z+ over x+W+ and x-W-, bias-free); LayerNorm, activations, softmax: relevance unchanged;
# additions: x * S per operand, rescaled to share sum(R) by their absolute totals; Q K^T and A V:
# each operand halved; a tensor used several times: x * sum_i safe_divide(R_i, x).


def safe_divide(a, b):
    den = b.clamp(min=1e-9) + b.clamp(max=1e-9)
    den = den + den.eq(0).type(den.type()) * 1e-9
    return a / den * b.ne(0).type(b.type())


def leaf(t):
    return t.detach().clone().requires_grad_(True)


def grad(z, xs, s):
    return torch.autograd.grad(z, xs, s)


def rel_linear(layer, x, r):
    w = layer.weight.detach()
    px, nx = leaf(x.clamp(min=0)), leaf(x.clamp(max=0))
    z1 = torch.nn.functional.linear(px, w.clamp(min=0))
    z2 = torch.nn.functional.linear(nx, w.clamp(max=0))
    s = safe_divide(r, z1 + z2)
    return px * grad(z1, px, s)[0] + nx * grad(z2, nx, s)[0]


def rel_add(a, b, r):
    a, b = leaf(a), leaf(b)
    z = a + b
    ca, cb = grad(z, [a, b], safe_divide(r, z))
    ra, rb = (a * ca).detach(), (b * cb).detach()
    a_sum, b_sum = ra.sum(), rb.sum()
    a_fact = safe_divide(a_sum.abs(), a_sum.abs() + b_sum.abs()) * r.sum()
    b_fact = safe_divide(b_sum.abs(), a_sum.abs() + b_sum.abs()) * r.sum()
    return ra * safe_divide(a_fact, a_sum), rb * safe_divide(b_fact, b_sum)


def rel_matmul(x1, x2, r):
    x1, x2 = leaf(x1), leaf(x2)
    z = x1 @ x2
    c1, c2 = grad(z, [x1, x2], safe_divide(r, z))
    return (x1 * c1).detach() / 2, (x2 * c2).detach() / 2


def rel_fan_in(x, rs):
    x = leaf(x)
    zs = [x * 1.0 for _ in rs]
    (c,) = grad(zs, x, [safe_divide(r, x) for r in rs])
    return (x * c).detach()


def rel_first_token(h, r):
    h = leaf(h)
    z = h[:, 0]
    (c,) = grad(z, h, safe_divide(r, z))
    return (h * c).detach()


def chefer_attention(fam, layer, x, r_out, text):
    q_lin, k_lin, v_lin, out_lin = fam.attention_parts(layer)
    b, s, d = x.shape
    hd = d // fam.heads

    def split(t):
        return t.view(b, s, fam.heads, hd).transpose(1, 2)

    def merge(t):
        return t.transpose(1, 2).reshape(b, s, d)

    with torch.no_grad():
        q, k, v = split(q_lin(x)), split(k_lin(x)), split(v_lin(x))
        kt = k.transpose(-1, -2)
        qk = q @ kt
        scores = qk / hd ** 0.5
        probs = torch.softmax(scores, dim=-1)
        ctx = merge(probs @ v)
    r_ctx = split(rel_linear(out_lin, ctx, r_out))
    r_probs, r_v = rel_matmul(probs, v, r_ctx)
    r_scores = r_probs
    if text:  # the (all-zero) attention mask of an unpadded input is an addition
        r_scores, _ = rel_add(scores, torch.zeros((1, 1, 1, s), dtype=DTYPE).expand_as(scores),
                              r_probs)
    r_q, r_kt = rel_matmul(q, kt, r_scores)
    r_xq = rel_linear(q_lin, x, merge(r_q))
    r_xk = rel_linear(k_lin, x, merge(r_kt.transpose(-1, -2)))
    r_xv = rel_linear(v_lin, x, merge(r_v))
    return rel_fan_in(x, [r_xq, r_xk, r_xv]), r_probs


def chefer_block(fam, layer, x, r_out):
    fc1, fc2 = ffn_parts(fam, layer)
    text = fam.family != "vit"

    with torch.no_grad():
        if fam.family == "vit":
            xn = layer.layernorm_before(x)
            att = fam.attention(layer, xn)
            a = att + x
            an = layer.layernorm_after(a)
            hidden = fam.act(fc1(an))
            f = fc2(hidden)
        else:
            n1 = norm_parts(fam, layer)[0]
            att = fam.attention(layer, x)
            a = n1(att + x)
            hidden = fam.act(fc1(a))
            f = fc2(hidden)
    if fam.family == "vit":
        r_a_res, r_f = rel_add(a, f, r_out)
        r_a_ffn = rel_linear(fc1, an, rel_linear(fc2, hidden, r_f))
        r_a = rel_fan_in(a, [r_a_res, r_a_ffn])
        r_x_res, r_att = rel_add(x, att, r_a)
        r_x_att, r_probs = chefer_attention(fam, layer, xn, r_att, text)
        return rel_fan_in(x, [r_x_res, r_x_att]), r_probs
    r_f, r_a_res = rel_add(f, a, r_out)
    r_a_ffn = rel_linear(fc1, a, rel_linear(fc2, hidden, r_f))
    r_a = rel_fan_in(a, [r_a_ffn, r_a_res])
    r_att, r_x_res = rel_add(att, x, r_a)
    r_x_att, r_probs = chefer_attention(fam, layer, x, r_att, text)
    return rel_fan_in(x, [r_x_att, r_x_res]), r_probs


def chefer_head(fam, h, target, classes):
    m, subj = fam.subj.model, fam.subj
    r = torch.zeros((1, classes), dtype=DTYPE)
    r[0, target] = 1.0
    if fam.family == "vit":
        with torch.no_grad():
            hn = fam.base.layernorm(h)
        return rel_first_token(hn, rel_linear(m.classifier, hn[:, 0], r))
    with torch.no_grad():
        dense, act, out = head_parts(fam)
        first = h[:, 0]
        y = act(dense(first))
    r_first = rel_linear(dense, first, rel_linear(out, y, r))
    return rel_first_token(h, r_first)


def hidden_states(fam):
    subj = fam.subj
    with torch.no_grad():
        x = subj.x if subj.image else subj.word(subj.x)
        hs = [fam.embed(x)]
        for layer in subj.blocks:
            hs.append(fam.block(layer, hs[-1]))
    return hs


def chefer2021(fam, target, start_layer):
    subj = fam.subj
    hs = hidden_states(fam)
    r = chefer_head(fam, hs[-1], target, subj.num_labels)
    hidden_r, attention_r = [r], []
    for l in reversed(range(subj.L)):
        r, r_probs = chefer_block(fam, subj.blocks[l], hs[l], r)
        hidden_r.append(r)
        attention_r.append(r_probs[0])
    hidden_r.reverse()
    attention_r.reverse()
    _maps, _a, ga = subj.input_pass(target)
    cams = [(ga[l] * attention_r[l]).clamp(min=0).mean(0) for l in range(subj.L)]
    s = cams[0].shape[-1]
    eye = torch.eye(s, dtype=DTYPE)
    mats = [c + eye for c in cams]
    if subj.image:
        mats = [m / m.sum(-1, keepdim=True) for m in mats]
    joint = mats[start_layer - 1]
    for m in mats[start_layer:]:
        joint = m @ joint
    row = joint[0].clone()
    row[0] = 0.0
    return {
        "start_layer": start_layer,
        "scores": ma.to_list(row),
        "layers": [None] + [ma.to_list(c[0]) for c in cams],
        "hidden_totals": [float(t.sum()) for t in hidden_r],
    }


def make_family(family):
    subj = ma.Subject(family)
    fam = Family(subj)
    attributions = json.loads((subj.dir / "attributions.json").read_text(encoding="utf-8"))
    entries = []
    for ex in attributions["examples"]:
        i, target = ex["example_index"], ex["target"]
        subj.set_example(i)
        entries.append({"example_index": i, "target": target, "target_kind": ex["target_kind"],
                        "attnlrp": attnlrp(fam, target),
                        "chefer2021": chefer2021(fam, target, 1),
                        "chefer2021_last": chefer2021(fam, target, subj.L)})
        a = entries[-1]["attnlrp"]
        dev = max(abs(t - a["target_logit"]) for t in a["layer_totals"])
        print(f"  [{family}] ex {i} target {target}: logit {a['target_logit']:+.4f}, "
              f"layer totals {', '.join(f'{t:+.4f}' for t in a['layer_totals'])}, "
              f"input total {a['input_total']:+.4f} (max |layer total - logit| {dev:.3f}); "
              f"chefer2021 relevance totals "
              f"{', '.join(f'{t:.6f}' for t in entries[-1]['chefer2021']['hidden_totals'])}")
    out = {"schema": 1, "family": family, "model_class": type(subj.model).__name__,
           "dtype": "float64", "versions": mf.VERSIONS, "examples": entries}
    path = subj.dir / "lrp.json"
    mf.write_json(path, out)
    print(f"  [{family}] wrote {path.relative_to(mf.REPO)}")


def main(only):
    # The HF logits the hand-written forward is checked against: make_attributions' patched
    # eager attention (softmax in float64; ViT upcasts it to float32 otherwise).
    with ma.patched_attention():
        for family in only:
            make_family(family)


if __name__ == "__main__":
    main(ma.families_from_args("make_lrp.py", __doc__, FAMILIES))
