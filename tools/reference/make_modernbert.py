#!/usr/bin/env python3
"""ModernBERT fixtures: tests/fixtures/modernbert/ (model, tokenizer, modernbert.json) and
tests/fixtures/modernbert-mean/ (the same architecture with `classifier_pooling = "mean"`;
modernbert.json with the forward pass only).

    /path/to/venv/bin/python tools/reference/make_modernbert.py

Environment: tools/reference/requirements.txt. Deterministic (fixed seeds, one thread).

Model: `ModernBertForSequenceClassification`, hidden 32, 4 layers, 4 heads, GeGLU 48, bias-free
LayerNorms (`norm_bias = false`) and projections, `global_attn_every_n_layers = 2` (layers 0
and 2 global, rotary θ = 160000; layers 1 and 3 local, θ = 10000) and `local_attention = 4`
(a local query sees the keys within 2 positions: every text is longer, so the window cuts),
the head `head.dense` + GELU + `head.norm` on [CLS] (`<s>`) and `classifier`, 3 labels; the
byte-level BPE tokenizer of make_fixtures.py (`<s> $A </s>`, pairs `<s> $A </s></s> $B </s>`,
padded on the right). Weights re-initialised as make_fixtures.py does (`reinit`), the query and
key rows of `Wqkv` scaled to the gain QK_GAIN.

modernbert.json (the schema of make_decoders.py's decoder.json, read at the first token):
  "f32" / "f64": {"logits", "hidden_states" [L+1][b][s][d], "attentions" [L][b][h][s][s]} of
      the right-padded batch of `texts`. hidden_states[0] is the embeddings' output (after
      their LayerNorm), hidden_states[l] the output of layer l, the last one *before*
      `final_norm` (calig counts the final norm as the head's). f32: transformers as it is
      (eager attention). f64: `.double()` with transformers' float32 casts removed
      (`exact_float64`: the softmax of the eager attention, the rotary cos/sin and
      apply_rotary_pos_emb's `.float()`), so that f64 is the exact arithmetic.
  "examples": each text alone, float64 exact: ids, the `pad` reference ids (non-special tokens
      replaced by the pad id), logits, reference logits, target (the predicted class; example 0
      also the runner-up) and
      "ig": Captum 0.9 LayerIntegratedGradients at `embeddings.tok_embeddings` (50
            Gauss–Legendre steps), summed over hidden, and its convergence delta;
      "lig": the same at h^(l), l = 0..L (h^(0): the `embeddings` module's output; l ≥ 1:
            layer l's output), deltas [L+1];
      "attention": last layer's probabilities, mean over heads, row 0 ([CLS]);
      "rollout": rownorm(mean_k A + I) multiplied over the layers, row 0;
      "gae": Ā = mean_k (∂y_c/∂A ⊙ A)^+, R = I, R ← R + Ā R, row 0;
      "attnlrp": AttnLRP's rules on transformers' own modules (`attnlrp_rules`: every
            LayerNorm's standard deviation held constant, GELU by the identity rule, the GeGLU
            product act(input) ⊙ gate and Q·Kᵀ, A·V by the uniform rule), relevance = modified
            gradient × value at the token embeddings ("scores") and at h^(0..L) ("layers"),
            summed over hidden; "logit" = y_c.
  "pairs": one pair encoding, as the examples.
"""
import copy
import sys
from pathlib import Path

import torch
from torch import nn
from captum.attr import LayerIntegratedGradients
from transformers import AutoModelForSequenceClassification, ModernBertConfig
import transformers.models.modernbert.modeling_modernbert as mb

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402
from make_decoders import choose, patched  # noqa: E402
from make_lrp import IdentityRule, ScaleGrad  # noqa: E402

STEPS = 50
QK_GAIN = 1.0
TEXTS = mf.EN_TEXTS
PAIRS = [("a gorgeous , witty movie", "the film is dull and far too long")]
LABELS = {0: "negative", 1: "neutral", 2: "positive"}

RECORD = []


def attention_same_dtype(module, query, key, value, attention_mask, scaling, dropout=0.0,
                         lrp=False, **kwargs):
    w = torch.matmul(query, key.transpose(2, 3))
    if lrp:
        w = ScaleGrad.apply(w, 0.5)
    w = w * scaling
    if attention_mask is not None:
        w = w + attention_mask
    w = nn.functional.softmax(w, dim=-1)
    if w.requires_grad:
        w.retain_grad()
    RECORD.append(w)
    out = torch.matmul(w, value)
    if lrp:
        out = ScaleGrad.apply(out, 0.5)
    return out.transpose(1, 2).contiguous(), w


def attention_lrp(*args, **kwargs):
    return attention_same_dtype(*args, lrp=True, **kwargs)


def rotate_same_dtype(q, k, cos, sin, unsqueeze_dim=1):
    cos, sin = cos.unsqueeze(unsqueeze_dim), sin.unsqueeze(unsqueeze_dim)
    return q * cos + mb.rotate_half(q) * sin, k * cos + mb.rotate_half(k) * sin


ROTARY_FORWARD = mb.ModernBertRotaryEmbedding.forward


def rotary_float64(self, x, position_ids, layer_type):
    if x.dtype != torch.float64:
        return ROTARY_FORWARD(self, x, position_ids, layer_type)
    cfg = self.config
    dim = cfg.hidden_size // cfg.num_attention_heads
    theta = cfg.rope_parameters[layer_type]["rope_theta"]
    inv = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    freqs = position_ids[..., None].double() * inv
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def exact_float64():
    """While active: the attention softmax and rotary in the input's dtype; the attention
    probabilities recorded (RECORD) with their gradients kept."""
    return patched([(mb, "eager_attention_forward", attention_same_dtype),
                    (mb, "apply_rotary_pos_emb", rotate_same_dtype),
                    (mb.ModernBertRotaryEmbedding, "forward", rotary_float64)])


def ln_lrp(self, x):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    y = (x - mean) / torch.sqrt(var + self.eps).detach() * self.weight
    return y if self.bias is None else y + self.bias


def mlp_lrp(self, x):
    inp, gate = self.Wi(x).chunk(2, dim=-1)
    return self.Wo(ScaleGrad.apply(IdentityRule.apply(inp, self.act) * gate, 0.5))


def head_lrp(self, x):
    return self.norm(IdentityRule.apply(self.dense(x), self.act))


def attnlrp_rules():
    """While active (inside exact_float64): AttnLRP's rules as LXT's efficient mode writes them,
    on transformers' own modules (see the module docstring)."""
    return patched([(mb, "eager_attention_forward", attention_lrp),
                    (nn.LayerNorm, "forward", ln_lrp),
                    (mb.ModernBertMLP, "forward", mlp_lrp),
                    (mb.ModernBertPredictionHead, "forward", head_lrp)])


def classifier_head(model):
    """Logits from the base model's last_hidden_state (after final_norm), as the classifier
    pools them."""
    def head(h, mask=None):
        if model.config.classifier_pooling == "cls":
            pooled = h[:, 0]
        else:
            mask = torch.ones(h.shape[:2], dtype=h.dtype) if mask is None else mask.to(h.dtype)
            pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return model.classifier(model.drop(model.head(pooled)))
    return head


def build(config, seed):
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
    mf.reinit(model, seed + 1, final_names=("classifier",))
    d = config.hidden_size
    with torch.no_grad():
        for layer in model.model.layers:
            layer.attn.Wqkv.weight[: 2 * d] *= QK_GAIN / 2.0  # reinit's gain is 2
    return model.eval()


def forward(model, inputs, dtype):
    m = copy.deepcopy(model).to(dtype).eval()
    hidden = []
    keep = lambda _m, _i, out: hidden.append(out[0] if isinstance(out, tuple) else out)  # noqa
    hooks = [m.model.embeddings.register_forward_hook(keep)]
    hooks += [layer.register_forward_hook(keep) for layer in m.model.layers]
    ctx = exact_float64() if dtype == torch.float64 else mf.same_dtype_softmax()
    with torch.no_grad(), ctx:
        out = m(**inputs, output_attentions=True, return_dict=True)
    for h in hooks:
        h.remove()
    return {"logits": out.logits, "hidden_states": torch.stack(hidden),
            "attentions": torch.stack(list(out.attentions))}


def attnlrp(model, ids, target):
    outs = []

    def keep(_m, _i, out):
        h = out[0] if isinstance(out, tuple) else out
        h.retain_grad()
        outs.append(h)

    hooks = [model.model.embeddings.register_forward_hook(keep)]
    hooks += [layer.register_forward_hook(keep) for layer in model.model.layers]
    n = ids.shape[1]
    with exact_float64(), attnlrp_rules():
        e = model.model.embeddings.tok_embeddings(ids).detach().requires_grad_()
        h = model.model(inputs_embeds=e, attention_mask=torch.ones_like(ids),
                        position_ids=torch.arange(n)[None])
        y = classifier_head(model)(h.last_hidden_state)[0, target]
        y.backward()
    for k in hooks:
        k.remove()
    return {"scores": (e.grad * e)[0].sum(-1).tolist(),
            "layers": [(o.grad * o)[0].sum(-1).tolist() for o in outs],
            "logit": float(y.detach())}


def explain(model, ids, types, special, target):
    n = ids.shape[1]
    pad = model.config.pad_token_id
    ref = torch.tensor([[t if s else pad for t, s in zip(ids[0].tolist(), special)]])
    kw = {"attention_mask": torch.ones_like(ids), "position_ids": torch.arange(n)[None]}
    head = classifier_head(model)

    def fwd(x):
        h = model.model(input_ids=x, **{k: v.expand(x.shape[0], -1) for k, v in kw.items()})
        return head(h.last_hidden_state)

    def lig_at(layer):
        attr, delta = LayerIntegratedGradients(fwd, layer).attribute(
            ids, baselines=ref, target=target, n_steps=STEPS, method="gausslegendre",
            return_convergence_delta=True)
        return attr.sum(-1)[0].tolist(), float(delta[0])

    with exact_float64():
        with torch.no_grad():
            logits, ref_logits = fwd(ids)[0], fwd(ref)[0]
        ig, ig_delta = lig_at(model.model.embeddings.tok_embeddings)
        lig, deltas = [], []
        for layer in [model.model.embeddings] + list(model.model.layers):
            a, d = lig_at(layer)
            lig.append(a)
            deltas.append(d)
        RECORD.clear()
        y = fwd(ids)[0, target]
        y.backward()
        probs = [a.detach()[0] for a in RECORD]
        grads = [a.grad[0] for a in RECORD]
    eye = torch.eye(n, dtype=torch.float64)
    roll, gae = eye, eye.clone()
    for a, g in zip(probs, grads):
        mean = a.mean(0) + eye
        roll = (mean / mean.sum(-1, keepdim=True)) @ roll
        gae = gae + (g * a).clamp(min=0).mean(0) @ gae
    return {
        "input_ids": ids[0].tolist(), "token_type_ids": types,
        "reference_input_ids": ref[0].tolist(), "special_tokens_mask": special,
        "logits": logits.tolist(), "reference_logits": ref_logits.tolist(), "target": target,
        "ig": {"scores": ig, "delta": ig_delta},
        "lig": {"layers": lig, "deltas": deltas},
        "attention": probs[-1].mean(0)[0].tolist(),
        "rollout": roll[0].tolist(), "gae": gae[0].tolist(),
        "attnlrp": attnlrp(model, ids, target),
    }


def check_window(config, res, mask):
    """The local layers' probabilities vanish beyond |i − j| > local_attention / 2 (real
    queries), the global layers' do not."""
    att = res["attentions"]
    s = att.shape[-1]
    i = torch.arange(s)
    outside = (i[:, None] - i[None, :]).abs() > config.local_attention // 2
    real = mask.bool()[:, None, :, None] & mask.bool()[:, None, None, :]
    for l, kind in enumerate(config.layer_types):
        beyond = att[l][real.expand_as(att[l]) & outside.expand_as(att[l])]
        if kind == "sliding_attention":
            assert float(beyond.abs().max()) == 0.0, l
        else:
            assert float(beyond.abs().min()) > 0.0, l


def make(name, config, seed, explained=True):
    out = mf.FIXTURES / name
    mf.clean_dir(out)
    _, hf, special_map = mf.bytelevel_bpe_tokenizer()
    enc = hf(TEXTS, padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    s = ids.shape[1]
    inputs = {"input_ids": ids, "attention_mask": mask}
    model, seed = choose(config, seed, inputs, build)
    model.save_pretrained(str(out))
    mf.save_tokenizer(hf, special_map, out)
    with torch.no_grad():
        explicit = model(**inputs, position_ids=torch.arange(s)[None].expand(len(TEXTS), s))
    res32, res64 = forward(model, inputs, torch.float32), forward(model, inputs, torch.float64)
    assert torch.equal(explicit.logits, res32["logits"]), "positions 0..s−1"
    mf.diagnostics(name, res32, mask)
    check_window(config, res64, mask)
    m64 = copy.deepcopy(model).double().eval()
    examples, pairs = [], []
    if explained:
        for i, text in enumerate(TEXTS):
            e = hf(text, return_special_tokens_mask=True)
            x = torch.tensor([e["input_ids"]])
            with torch.no_grad(), exact_float64():
                lg = m64(input_ids=x).logits[0]
            order = lg.argsort(descending=True).tolist()
            for kind, target in [("predicted", order[0])] + ([("other", order[1])] if i == 0
                                                               else []):
                ex = explain(m64, x, [0] * x.shape[1], e["special_tokens_mask"], target)
                examples.append({"text": text, "target_kind": kind, **ex})
        for a, b in PAIRS:
            e = hf(a, b, return_special_tokens_mask=True)
            x = torch.tensor([e["input_ids"]])
            with torch.no_grad(), exact_float64():
                target = int(m64(input_ids=x).logits[0].argmax())
            ex = explain(m64, x, [0] * x.shape[1], e["special_tokens_mask"], target)
            pairs.append({"text": a, "text_pair": b, **ex})
    mf.write_json(out / "modernbert.json", {
        "family": "modernbert", "model_class": type(model).__name__, "versions": mf.VERSIONS,
        "made_by": "tools/reference/make_modernbert.py", "seed": seed, "texts": TEXTS,
        "classifier_pooling": config.classifier_pooling,
        "layer_types": config.layer_types, "local_attention": config.local_attention,
        "tokens": [hf.convert_ids_to_tokens(r) for r in ids.tolist()],
        "input_ids": mf.int_list(ids), "attention_mask": mf.int_list(mask),
        "f32": mf.pack(res32, torch.float32), "f64": mf.pack(res64, torch.float64),
        "examples": examples, "pairs": pairs,
    })
    for ex in examples + pairs:
        dy = ex["logits"][ex["target"]] - ex["reference_logits"][ex["target"]]
        print(f"  [{name}] {len(ex['input_ids'])} tokens, target {ex['target']}, Δy {dy:+.4f}, "
              f"ig delta {ex['ig']['delta']:.1e}, lig deltas "
              f"{max(abs(d) for d in ex['lig']['deltas']):.1e}")


def main():
    torch.set_num_threads(1)
    tok = mf.bytelevel_bpe_tokenizer()[0]
    common = dict(
        vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=48,
        num_hidden_layers=4, num_attention_heads=4, max_position_embeddings=64,
        pad_token_id=tok.token_to_id("<pad>"), bos_token_id=tok.token_to_id("<s>"),
        eos_token_id=tok.token_to_id("</s>"), cls_token_id=tok.token_to_id("<s>"),
        sep_token_id=tok.token_to_id("</s>"), global_attn_every_n_layers=2,
        local_attention=4, global_rope_theta=160000.0, local_rope_theta=10000.0,
        norm_eps=1e-5, norm_bias=False, hidden_activation="gelu",
        classifier_activation="gelu", tie_word_embeddings=False, num_labels=3,
        id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    make("modernbert", ModernBertConfig(**common, classifier_pooling="cls"), seed=13000)
    make("modernbert-mean", ModernBertConfig(**common, classifier_pooling="mean"), seed=14000,
         explained=False)


if __name__ == "__main__":
    main()
