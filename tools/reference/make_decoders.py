#!/usr/bin/env python3
"""Decoder fixtures: tests/fixtures/{llama,qwen2,mistral,gpt2,llama-lm}/ (model, tokenizer,
decoder.json or generation.json).

    /path/to/venv/bin/python tools/reference/make_decoders.py [--only llama,qwen2,mistral,...]

Environment: tools/reference/requirements.txt. Deterministic (fixed seeds, one thread).

Models: `LlamaForSequenceClassification` (hidden 32, 3 layers, 4 query heads sharing 2 key/value
heads, SwiGLU 64, RMSNorm, rotary θ = 10⁴, 3 labels), `Qwen2ForSequenceClassification`
(4 query heads, 1 key/value head, q/k/v biases, θ = 10⁶, 2 labels),
`MistralForSequenceClassification` (2 key/value heads, a sliding window of 4 tokens, 2 labels),
`GPT2ForSequenceClassification` (learned positions, Conv1D projections, 2 labels, a tokenizer
without special tokens) and `LlamaForCausalLM` (tied embeddings; make_lm); a byte-level BPE
tokenizer trained on 400 SST-2 lines whose template is `<s> $A` (pairs: `<s> $A <s> $B`, type ids 0
then 1) and whose pad token is `<pad>`, padded on the left. Weights re-initialised as
make_fixtures.py does (`reinit`; GPT-2's Conv1D projections likewise), RMSNorm weights ~ N(1, 0.3²). The score head reads the last
non-pad token (transformers' rule: the last position whose id is not the pad id).

decoder.json:
  "f32" / "f64": {"logits" [b][C], "hidden_states" [L+1][b][s][d], "attentions"
      [L][b][h][s][s]} of the left-padded batch of `texts`, with explicit position ids
      cumsum(mask) − 1 (0 at the pads) and the attention mask. hidden_states[l] is the input of
      block l+1 (l < L) and hidden_states[L] the output of the last block *before* the final
      RMSNorm (transformers reports it after the norm; calig counts the norm as the head's).
      f32: transformers as it is. f64: `.double()` with three float32 casts of transformers
      removed (`exact_float64`): the softmax of the eager attention, RMSNorm and the rotary
      cos/sin (inverse frequencies recomputed in float64), so that f64 is the exact arithmetic.
  "examples": each text alone (no padding), float64 exact: ids, the `pad` reference ids
      (non-special tokens replaced by the pad id; `<s>` kept), logits, reference logits, target
      (the predicted class; example 0 also the runner-up). The score is read at the last position
      for the reference too (transformers' "last non-pad token" would read the reference at
      `<s>`, all its other ids being the pad id); and
      "ig": Captum 0.9 LayerIntegratedGradients at embed_tokens (50 Gauss–Legendre steps),
            summed over hidden, and its convergence delta;
      "lig": the same at h^(l) for l = 0..L ([L+1][s]; l ≥ 1 at the output of decoder layer l,
            the reference's own h'^(l) as baseline), deltas [L+1];
      "attention": last block's probabilities, mean over heads, last row (the token the head
            reads);
      "rollout": rownorm(mean_k A + I) multiplied over the layers, last row;
      "gae": Ā = mean_k (∂y_c/∂A ⊙ A)^+, R = I, R ← R + Ā R, last row;
      "attnlrp": AttnLRP's rules on transformers' own modules (`attnlrp_rules`: RMSNorm's
            root mean square held constant, SiLU by the identity rule, the gate product and
            Q·Kᵀ, A·V by the uniform rule, as LXT's Llama patch), relevance = modified gradient
            × value at the token embeddings ("scores") and at h^(0..L) ("layers"; h^(0) is the
            first block's input: GPT-2's token plus position embeddings), summed over hidden;
            "logit" = y_c.
  "pairs": the tokenizer's pair encoding of two pairs, logits and ig as above.
"""
import argparse
import copy
import json
import sys
from pathlib import Path

import torch
from torch import nn
from captum.attr import LayerIntegratedGradients
from tokenizers import processors
from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification,
                          GPT2Config, LlamaConfig, MistralConfig,
                          PreTrainedTokenizerFast, Qwen2Config)
import transformers.models.llama.modeling_llama as llama_mod
import transformers.models.gpt2.modeling_gpt2 as gpt2_mod
import transformers.models.mistral.modeling_mistral as mistral_mod
import transformers.models.qwen2.modeling_qwen2 as qwen2_mod

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402
from make_lrp import IdentityRule, ScaleGrad  # noqa: E402  (AttnLRP's autograd rules)

STEPS = 50
QK_GAIN = 0.7  # softer attention than the encoders: RMSNorm keeps no centring
TEXTS = mf.EN_TEXTS
PAIRS = [
    ("a gorgeous , witty movie", "the film is dull and far too long"),
    ("nothing here is worth the ticket", "it is an unexpected delight"),
]
MODULES = (llama_mod, qwen2_mod, mistral_mod)


# ----------------------------------------------------------------------------------------------
# float64 without transformers' float32 casts, and attention probabilities that keep their grad

RECORD = []


def repeat_kv(x, n):
    b, kv, s, d = x.shape
    return x if n == 1 else x[:, :, None].expand(b, kv, n, s, d).reshape(b, kv * n, s, d)


def attention_same_dtype(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                         **kwargs):
    groups = getattr(module, "num_key_value_groups", 1)
    k, v = repeat_kv(key, groups), repeat_kv(value, groups)
    if scaling is None:  # GPT-2
        scaling = query.size(-1) ** -0.5
    w = torch.matmul(query, k.transpose(2, 3)) * scaling
    if attention_mask is not None:
        w = w + attention_mask
    w = nn.functional.softmax(w, dim=-1)
    if w.requires_grad:
        w.retain_grad()
    RECORD.append(w)
    out = torch.matmul(w, v).transpose(1, 2).contiguous()
    return out, w


def rms_same_dtype(self, x):
    var = x.pow(2).mean(-1, keepdim=True)
    return self.weight * (x * torch.rsqrt(var + self.variance_epsilon))


def attention_lrp(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                  **kwargs):
    groups = getattr(module, "num_key_value_groups", 1)
    k, v = repeat_kv(key, groups), repeat_kv(value, groups)
    if scaling is None:  # GPT-2
        scaling = query.size(-1) ** -0.5
    w = ScaleGrad.apply(torch.matmul(query, k.transpose(2, 3)), 0.5) * scaling
    if attention_mask is not None:
        w = w + attention_mask
    w = nn.functional.softmax(w, dim=-1)
    out = ScaleGrad.apply(torch.matmul(w, v), 0.5).transpose(1, 2).contiguous()
    return out, w


def rms_lrp(self, x):
    var = x.pow(2).mean(-1, keepdim=True)
    return self.weight * (x * torch.rsqrt(var + self.variance_epsilon).detach())


def mlp_lrp(self, x):
    gated = IdentityRule.apply(self.gate_proj(x), self.act_fn) * self.up_proj(x)
    return self.down_proj(ScaleGrad.apply(gated, 0.5))


def attnlrp_rules():
    """While active (inside exact_float64): AttnLRP's rules as LXT's efficient mode writes them,
    on transformers' own modules: RMSNorm's root mean square and LayerNorm's standard deviation
    held constant, SiLU and GELU by the identity rule, the gate product and Q·Kᵀ, A·V by the
    uniform rule (half the gradient to each operand); softmax, linear layers, rotary and
    additions keep their gradients."""
    items = [(m, "eager_attention_forward", attention_lrp) for m in MODULES + (gpt2_mod,)]
    items += [(cls(m, "RMSNorm"), "forward", rms_lrp) for m in MODULES]
    items += [(cls(m, "MLP"), "forward", mlp_lrp) for m in MODULES]
    items += [(gpt2_mod.GPT2MLP, "forward", gpt2_mlp_lrp), (nn.LayerNorm, "forward", ln_lrp)]
    return patched(items)


def gpt2_mlp_lrp(self, x):
    return self.dropout(self.c_proj(IdentityRule.apply(self.c_fc(x), self.act)))


def ln_lrp(self, x):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + self.eps).detach() * self.weight + self.bias


def base(model):
    """The decoder under the head (Llama's `model`, GPT-2's `transformer`)."""
    return model.base_model


def blocks(model):
    b = base(model)
    return b.layers if hasattr(b, "layers") else b.h


def classifier_head(model):
    """The score read at the last position whatever its id."""
    return lambda h: model.score(h[:, -1])


def next_token_head(model, row):
    """log p(next token) read at `row`: the final norm is in last_hidden_state."""
    return lambda h: torch.log_softmax(model.lm_head(h[:, row]), -1)


def attnlrp(model, ids, target, head):
    """Relevance (modified gradient × value) at the token embeddings and at every h^(l),
    summed over hidden, of head(last_hidden_state)[target]."""
    n = ids.shape[1]
    outs = []

    def keep(_m, _i, out):
        h = out[0] if isinstance(out, tuple) else out
        h.retain_grad()
        outs.append(h)

    first = []

    def keep_input(_m, args, kwargs):
        h = args[0] if args else kwargs["hidden_states"]
        h.retain_grad()
        first.append(h)

    hooks = [layer.register_forward_hook(keep) for layer in blocks(model)]
    # h^(0): the first block's input (GPT-2: token plus position embeddings; Llama: e itself)
    hooks.append(blocks(model)[0].register_forward_pre_hook(keep_input, with_kwargs=True))
    with exact_float64(), attnlrp_rules():
        e = base(model).get_input_embeddings()(ids).detach().requires_grad_()
        h = base(model)(inputs_embeds=e, attention_mask=torch.ones_like(ids),
                        position_ids=torch.arange(n)[None])
        y = head(h.last_hidden_state)[0, target]
        y.backward()
    for k in hooks:
        k.remove()
    layers = [(o.grad * o)[0].sum(-1).tolist() for o in first[:1] + outs]
    scores = (e.grad * e)[0].sum(-1).tolist()
    return {"scores": scores, "layers": layers, "logit": float(y.detach())}


def cls(module, suffix):
    """The class of `module` whose name ends with `suffix` (LlamaRMSNorm, Qwen2MLP, ...)."""
    return getattr(module, [n for n in dir(module) if n.endswith(suffix)][0])


class patched:
    """While active, each (owner, name, value) of `items` is set; the old values come back."""

    def __init__(self, items):
        self.items = items

    def __enter__(self):
        self.saved = [(o, n, getattr(o, n)) for o, n, _ in self.items]
        for o, n, v in self.items:
            setattr(o, n, v)
        return self

    def __exit__(self, *exc):
        for o, n, v in reversed(self.saved):
            setattr(o, n, v)
        return False


ROTARY_FORWARD = {}


def rotary_float64(self, x, position_ids):
    if x.dtype != torch.float64:
        return ROTARY_FORWARD[type(self)](self, x, position_ids)
    cfg = self.config
    dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    theta = cfg.rope_parameters["rope_theta"]
    inv = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    freqs = position_ids[..., None].double() * inv
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def exact_float64():
    """While active: softmax, RMSNorm and rotary in the input's dtype (see the docstring); the
    attention probabilities recorded (RECORD) with their gradients kept."""
    for m in MODULES:
        ROTARY_FORWARD.setdefault(cls(m, "RotaryEmbedding"), cls(m, "RotaryEmbedding").forward)
    items = [(m, "eager_attention_forward", attention_same_dtype) for m in MODULES + (gpt2_mod,)]
    items += [(cls(m, "RMSNorm"), "forward", rms_same_dtype) for m in MODULES]
    items += [(cls(m, "RotaryEmbedding"), "forward", rotary_float64) for m in MODULES]
    return patched(items)


# ----------------------------------------------------------------------------------------------


def tokenizer(bos_first=True):
    """bos_first: `<s> $A` (Llama-like); else no special tokens at all (GPT-2-like)."""
    tok, _, _ = mf.bytelevel_bpe_tokenizer()
    bos = tok.token_to_id("<s>")
    if bos_first:
        tok.post_processor = processors.TemplateProcessing(
            single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1", special_tokens=[("<s>", bos)])
    else:
        tok.post_processor = processors.TemplateProcessing(
            single="$A:0", pair="$A:0 $B:1", special_tokens=[])
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>", padding_side="left", truncation_side="left",
        model_input_names=["input_ids", "attention_mask"])
    return tok, hf, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                     "pad_token": "<pad>"}


def build(config, seed):
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
    mf.reinit(model, seed + 1, qk_gain=QK_GAIN, final_names=("score",))
    g = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        for name, mod in model.named_modules():
            if type(mod).__name__.endswith("RMSNorm"):
                mod.weight.copy_(1.0 + 0.3 * torch.randn(mod.weight.shape, generator=g))
            if type(mod).__name__ == "Conv1D":
                # GPT-2's (in, out) projections, scaled as reinit scales nn.Linear
                gain = QK_GAIN if name.endswith("c_attn") else 2.0
                fan_in = mod.weight.shape[0]
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g) * gain / fan_in ** 0.5)
                mod.bias.copy_(0.2 * torch.randn(mod.bias.shape, generator=g))
    return model.eval()


def position_ids(mask):
    return (mask.cumsum(-1) - 1).clamp(min=0)


def forward(model, inputs, dtype):
    m = copy.deepcopy(model).to(dtype).eval()
    last = {}
    hook = blocks(m)[-1].register_forward_hook(lambda _m, _i, out: last.update(h=out))
    ctx = exact_float64() if dtype == torch.float64 else mf.same_dtype_softmax()
    with torch.no_grad(), ctx:
        out = m(**inputs, output_hidden_states=True, output_attentions=True, return_dict=True)
    hook.remove()
    hidden = list(out.hidden_states)
    hidden[-1] = last["h"][0] if isinstance(last["h"], tuple) else last["h"]
    return {"logits": out.logits, "hidden_states": torch.stack(hidden),
            "attentions": torch.stack(list(out.attentions))}


def choose(config, seed, inputs, build=build):
    """The first of seeds seed, seed + 10, ... whose model predicts at least two classes on
    `inputs`, none with probability ≥ 0.99."""
    for k in range(60):
        model = build(config, seed + 10 * k)
        with torch.no_grad():
            probs = torch.softmax(model(**inputs).logits, -1)
        if len(set(probs.argmax(-1).tolist())) >= 2 and float(probs.max()) < 0.99:
            return model, seed + 10 * k
    raise RuntimeError("no usable seed")


def explain(model, ids, types, special, target, head=None, row=-1):
    """float64 exact: ig, lig, attention, rollout, gae (read at `row`), attnlrp of
    head(last_hidden_state)[target] for one unpadded input (default: the classifier's score at
    the last position)."""
    head = head or classifier_head(model)
    n = ids.shape[1]
    pad = model.config.pad_token_id
    ref = torch.tensor([[t if s else pad for t, s in zip(ids[0].tolist(), special)]])
    kw = {"attention_mask": torch.ones_like(ids), "position_ids": torch.arange(n)[None]}

    def fwd(x):
        # The score read at the last position whatever its id: transformers' "last non-pad
        # token" would move to <s> on the pad reference, whose other ids are all the pad id.
        h = base(model)(input_ids=x, **{k: v.expand(x.shape[0], -1) for k, v in kw.items()})
        return head(h.last_hidden_state)

    with exact_float64():
        with torch.no_grad():
            logits, ref_logits = fwd(ids)[0], fwd(ref)[0]
        layers = [base(model).get_input_embeddings()] + list(blocks(model))
        lig, deltas = [], []
        for layer in layers:
            attr, delta = LayerIntegratedGradients(fwd, layer).attribute(
                ids, baselines=ref, target=target, n_steps=STEPS, method="gausslegendre",
                return_convergence_delta=True)
            lig.append(attr.sum(-1)[0].tolist())
            deltas.append(float(delta[0]))
        RECORD.clear()
        y = fwd(ids)[0, target]
        y.backward()
        probs = [a.detach()[0] for a in RECORD]
        grads = [a.grad[0] for a in RECORD]
    eye = torch.eye(n, dtype=torch.float64)
    roll = eye
    gae = eye.clone()
    for a, g in zip(probs, grads):
        mean = a.mean(0) + eye
        roll = (mean / mean.sum(-1, keepdim=True)) @ roll
        abar = (g * a).clamp(min=0).mean(0)
        gae = gae + abar @ gae
    return {
        "input_ids": ids[0].tolist(), "token_type_ids": types,
        "reference_input_ids": ref[0].tolist(), "special_tokens_mask": special,
        "logits": logits.tolist(), "reference_logits": ref_logits.tolist(), "target": target,
        "ig": {"scores": lig[0], "delta": deltas[0]},
        "lig": {"layers": lig, "deltas": deltas},
        "attention": probs[-1].mean(0)[row].tolist(),
        "rollout": roll[row].tolist(),
        "gae": gae[row].tolist(),
        "attnlrp": attnlrp(model, ids, target, head),
    }


def make(family, config, seed):
    out = mf.FIXTURES / family
    mf.clean_dir(out)
    rotary = family != "gpt2"
    raw, hf, special_map = tokenizer(bos_first=rotary)
    enc = hf(TEXTS, padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    inputs = {"input_ids": ids, "attention_mask": mask, "position_ids": position_ids(mask)}
    model, seed = choose(config, seed, inputs)
    model.save_pretrained(str(out))
    mf.save_tokenizer(hf, special_map, out)
    with torch.no_grad():
        implicit = model(input_ids=ids, attention_mask=mask).logits
        explicit = model(**inputs).logits
    if rotary:
        # rotary depends on position differences only: the left pads' offset changes nothing
        assert (implicit - explicit).abs().max() < 1e-5, (implicit - explicit).abs().max()
    res32, res64 = forward(model, inputs, torch.float32), forward(model, inputs, torch.float64)
    mf.diagnostics(family, res32, mask)
    m64 = copy.deepcopy(model).double().eval()
    examples = []
    for i, text in enumerate(TEXTS):
        e = hf(text, return_special_tokens_mask=True)
        x = torch.tensor([e["input_ids"]])
        with torch.no_grad(), exact_float64():
            lg = m64(input_ids=x).logits[0]
        order = lg.argsort(descending=True).tolist()
        for kind, target in [("predicted", order[0])] + ([("other", order[1])] if i == 0 else []):
            ex = explain(m64, x, [0] * x.shape[1], e["special_tokens_mask"], target)
            examples.append({"text": text, "target_kind": kind, **ex})
    pairs = []
    for a, b in PAIRS:
        e = hf(a, b, return_special_tokens_mask=True, return_token_type_ids=True)
        x = torch.tensor([e["input_ids"]])
        with torch.no_grad(), exact_float64():
            target = int(m64(input_ids=x).logits[0].argmax())
        ex = explain(m64, x, e["token_type_ids"], e["special_tokens_mask"], target)
        pairs.append({"text": a, "text_pair": b, **ex})
    doc = {
        "family": family, "model_class": type(model).__name__, "versions": mf.VERSIONS,
        "made_by": "tools/reference/make_decoders.py", "seed": seed, "texts": TEXTS,
        "tokens": [hf.convert_ids_to_tokens(r) for r in ids.tolist()],
        "input_ids": mf.int_list(ids), "attention_mask": mf.int_list(mask),
        "position_ids": mf.int_list(inputs["position_ids"]),
        "f32": mf.pack(res32, torch.float32), "f64": mf.pack(res64, torch.float64),
        "examples": examples, "pairs": pairs,
    }
    mf.write_json(out / "decoder.json", doc)
    for ex in examples + pairs:
        dy = ex["logits"][ex["target"]] - ex["reference_logits"][ex["target"]]
        print(f"  [{family}] {len(ex['input_ids'])} tokens, target {ex['target']}, Δy {dy:+.4f}, "
              f"ig delta {ex['ig']['delta']:.1e}, lig deltas "
              f"{max(abs(d) for d in ex['lig']['deltas']):.1e}")


LM_PROMPT, LM_CONTINUATION = "a gorgeous , witty", " movie that never quite"


def make_lm(config, seed):
    """llama-lm/: a tiny LlamaForCausalLM with tied embeddings and generation.json: for each
    token of LM_CONTINUATION after LM_PROMPT, its log-probability (f32 as transformers gives it,
    f64 exact) and, in float64, ig, lig, attention, rollout, gae and attnlrp of that
    log-probability, read at the row before the token."""
    out = mf.FIXTURES / "llama-lm"
    mf.clean_dir(out)
    raw, hf, special_map = tokenizer()
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    mf.reinit(model, seed + 1, qk_gain=QK_GAIN, final_names=())
    g = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        for _, mod in model.named_modules():
            if type(mod).__name__.endswith("RMSNorm"):
                mod.weight.copy_(1.0 + 0.3 * torch.randn(mod.weight.shape, generator=g))
    model.eval()
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(), "tied"
    model.save_pretrained(str(out))
    mf.save_tokenizer(hf, special_map, out)
    enc = hf(LM_PROMPT, return_special_tokens_mask=True)
    cont = hf(LM_CONTINUATION, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([enc["input_ids"] + cont])
    special = enc["special_tokens_mask"] + [0] * len(cont)
    n = len(enc["input_ids"])
    with torch.no_grad():
        lp32 = torch.log_softmax(model(input_ids=ids).logits, -1)[0]
    m64 = copy.deepcopy(model).double().eval()
    with torch.no_grad(), exact_float64():
        lp64 = torch.log_softmax(m64(input_ids=ids).logits, -1)[0]
    steps = []
    for j, tok in enumerate(cont):
        row = n + j - 1
        ex = explain(m64, ids, [0] * ids.shape[1], special, tok, next_token_head(m64, row), row)
        steps.append({"position": n + j, "id": tok, "log_prob_f32": float(lp32[row, tok]),
                      "log_prob_f64": float(lp64[row, tok]), **ex})
        print(f"  [llama-lm] step {j}: token {tok} log p {float(lp64[row, tok]):+.4f}, ig delta "
              f"{ex['ig']['delta']:.1e}, lig deltas "
              f"{max(abs(d) for d in ex['lig']['deltas']):.1e}")
    mf.write_json(out / "generation.json", {
        "family": "llama", "model_class": type(model).__name__, "versions": mf.VERSIONS,
        "made_by": "tools/reference/make_decoders.py", "seed": seed,
        "prompt": LM_PROMPT, "continuation": LM_CONTINUATION,
        "tokens": hf.convert_ids_to_tokens(ids[0].tolist()), "input_ids": ids[0].tolist(),
        "prompt_tokens": n, "steps": steps})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="llama,qwen2,mistral,llama-lm,gpt2")
    only = ap.parse_args().only.split(",")
    torch.set_num_threads(1)
    vocab = mf.bytelevel_bpe_tokenizer()[0].get_vocab_size()
    pad = mf.bytelevel_bpe_tokenizer()[0].token_to_id("<pad>")
    common = dict(vocab_size=vocab, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                  max_position_embeddings=64, pad_token_id=pad, bos_token_id=0, eos_token_id=2,
                  tie_word_embeddings=False)
    if "llama" in only:
        make("llama", LlamaConfig(
            **common, num_key_value_heads=2, intermediate_size=64, rms_norm_eps=1e-6,
            rope_theta=10000.0, hidden_act="silu", attention_bias=False, num_labels=3,
            id2label={0: "negative", 1: "neutral", 2: "positive"},
            label2id={"negative": 0, "neutral": 1, "positive": 2}), seed=8000)
    if "qwen2" in only:
        make("qwen2", Qwen2Config(
            **common, num_key_value_heads=1, intermediate_size=48, rms_norm_eps=1e-6,
            rope_theta=1000000.0, hidden_act="silu", use_sliding_window=False, num_labels=2,
            id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1}),
            seed=9000)
    if "mistral" in only:
        # A sliding window of 4 tokens, shorter than every text: the window is exercised.
        make("mistral", MistralConfig(
            **common, num_key_value_heads=2, intermediate_size=64, rms_norm_eps=1e-5,
            rope_theta=10000.0, hidden_act="silu", sliding_window=4, num_labels=2,
            id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1}),
            seed=10000)

    if "gpt2" in only:
        make("gpt2", GPT2Config(
            vocab_size=vocab, n_embd=32, n_layer=3, n_head=4, n_positions=64, n_inner=64,
            activation_function="gelu_new", layer_norm_epsilon=1e-5, pad_token_id=pad,
            bos_token_id=0, eos_token_id=2, num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"},
            label2id={"NEGATIVE": 0, "POSITIVE": 1}), seed=12000)
    if "llama-lm" in only:
        # A causal LM whose lm_head is the token embedding matrix (tie_word_embeddings).
        make_lm(LlamaConfig(
            **{**common, "tie_word_embeddings": True}, num_key_value_heads=2,
            intermediate_size=64, rms_norm_eps=1e-6, rope_theta=10000.0, hidden_act="silu",
            attention_bias=False), seed=11000)


if __name__ == "__main__":
    main()
