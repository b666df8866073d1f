#!/usr/bin/env python3
"""Generate calig's golden model-parity fixtures into tests/fixtures/.

Run from anywhere (paths are relative to the repository root, found from this file):

    /path/to/venv/bin/python tools/reference/make_fixtures.py [--only bert,vit,...]
        [--minilm-dir models/minilm-l6] [--skip-minilm]

Everything is deterministic (fixed seeds, single-threaded torch and tokenizers); running it twice
gives byte-identical JSON and safetensors files for the same pinned versions
(tools/reference/requirements.txt).

Fixtures written (tests/fixtures/...):

  bert/         BertForSequenceClassification, hidden 32, 3 layers, 4 heads, FFN 64, 3 labels,
                WordPiece tokenizer (vocab built from 400 SST-2 lines)
  bert-bin/     the same weights as pytorch_model.bin (torch.save zip format) + config + tokenizer
  bert-sharded/ the same weights as >= 2 safetensors shards + model.safetensors.index.json
                (both loader variants share ../bert/reference.json)
  roberta/      RobertaForSequenceClassification, byte-level BPE tokenizer, pad id 1, 2 labels
  xlmr/         XLMRobertaForSequenceClassification, Unigram/Metaspace tokenizer trained on
                Amharic tweets (vocab built from 400 lines), 3 labels (hate/offensive/normal)
  distilbert/   DistilBertForSequenceClassification, dim 32, 3 layers, 4 heads, FFN 64, 2 labels
                (same WordPiece tokenizer as bert, no token type ids)
  vit/          ViTForImageClassification, image 32, patch 8, hidden 32, 3 layers, 4 heads,
                FFN 64, 4 labels, preprocessor_config.json, image.png (40x28 RGB)
  minilm/       reference.json only: real all-MiniLM-L6-v2 hidden states (weights are fetched by
                tools/reference/fetch_minilm.sh, never committed)
  <family>/attributions.json for bert, roberta, xlmr, distilbert, vit: written at the end by
                make_attributions.py (float64 IG/LIG/gxi/saliency/attention/rollout/GAE/CA-LIG
                references; layout in its docstring); --skip-attributions leaves them out

Weights: after the HF init every parameter is re-initialised (see `reinit`):
  nn.Linear / nn.Conv2d weight ~ N(0, (g / sqrt(fan_in))^2), g = 1.4 for attention query/key
      (1.2 for ViT), 2.0 otherwise, 4.0 for the final classifier projection; bias ~ N(0, 0.2^2)
  nn.Embedding ~ N(0, 0.5^2) (pad rows included: they are not zero)
  nn.LayerNorm weight ~ N(1, 0.3^2), bias ~ N(0, 0.3^2)
  other parameters (ViT cls_token, position_embeddings) ~ N(0, 0.5^2)
Models run in eval mode with attn_implementation="eager".

reference.json layout (text families; all arrays are nested JSON lists, batch first):
  "family":          "bert" | "roberta" | "xlmr" | "distilbert" | "vit"
  "model_class":     HF class name
  "versions":        {"torch", "transformers", "captum", "tokenizers", "numpy", "safetensors", "pillow"}
  "seed":            the seed actually used (see choose_model)
  "config":          {"num_layers", "hidden_size", "num_heads", "num_labels", "id2label",
                      "pad_token_id"} (a summary; config.json is authoritative)
  "texts":           [str; b]  (b = 3, different lengths)
  "tokens":          [[str; s]; b]  token strings of the padded batch (pad tokens included)
  "input_ids":       [[int; s]; b]  padded on the right to the longest (s = longest length)
  "attention_mask":  [[int; s]; b]  1 = real token, 0 = padding
  "token_type_ids":  [[int; s]; b]  (bert, roberta, xlmr: the embeddings add token_type
                                     embeddings; roberta/xlmr type_vocab_size = 1, ids all 0;
                                     absent for distilbert)
  "position_ids":    [[int; s]; b]  what HF computes: bert/distilbert arange(s);
                                     roberta/xlmr padding_idx + cumsum(mask) * mask
                                     (pad positions get padding_idx)
  "f32": {"logits":        [b][C],
          "hidden_states": [L+1][b][s][d]   HF output_hidden_states: [0] = embeddings output,
                                            [l] = output of block l,
          "attentions":    [L][b][heads][s][s]  post-softmax attention probabilities}
  "f64": {same keys, computed with a float64 copy of the same model; every softmax in float64
          (transformers 5.23's ViT eager attention upcasts its softmax to float32; the script
          swaps in a same-dtype copy, see `same_dtype_softmax`)}
  Values at padded positions are whatever HF computes (padded keys get attention 0; padded
  queries still have hidden states); compare real positions only if you wish.
  f32 numbers are written as the shortest decimal that round-trips the float32 value;
  f64 numbers as the shortest decimal that round-trips the float64 value.

vit/reference.json differs:
  no texts/tokens/input_ids/...; instead
  "pixel_values":       [2][3][32][32] f32: row 0 = processed image.png, row 1 = randn (seeded)
  "image_pixel_values": [1][3][32][32] f32: the image processor's output for image.png alone
  "image_size": [height, width] of image.png before preprocessing
  hidden_states have s = 1 + 16 tokens ([CLS] first, then the 4x4 patch grid row-major);
  hidden_states[L] is the output of block L, BEFORE ViT's final `layernorm` (the classifier
  reads layernorm(hidden_states[L])[:, 0]).

minilm/reference.json:
  "family": "minilm", "versions", "model_dir_files": sha256 of config.json/model.safetensors/
  tokenizer.json used, "texts", "tokens", "input_ids", "attention_mask", "token_type_ids"
  (tokenizer.json with padding and truncation disabled, batch padded on the right with [PAD]=0),
  "position_ids",
  "f32": {"hidden_states": [7][b][s][hidden_dims_stored]  first `hidden_dims_stored` (48) of the
                           384 hidden dims of every layer (0 = embeddings output),
          "last_hidden_state": [b][s][384]  full last layer (= hidden_states[6]),
          "sentence_embedding": [b][384]  attention-masked mean of the last layer, L2-normalised},
  "hidden_dims_stored": 48, "significant_digits": 7  (all floats rounded to 7 significant digits).
"""

import argparse
import copy
import hashlib
import json
import math
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("RAYON_RS_NUM_CPUS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import PIL  # noqa: E402
import safetensors  # noqa: E402
import safetensors.torch  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from PIL import Image  # noqa: E402
from tokenizers import (  # noqa: E402
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from torch import nn  # noqa: E402
from transformers import (  # noqa: E402
    AlbertConfig,
    AutoModelForImageClassification,
    AutoModelForSequenceClassification,
    BertConfig,
    BertModel,
    DistilBertConfig,
    ElectraConfig,
    PreTrainedTokenizerFast,
    RobertaConfig,
    ViTConfig,
    XLMRobertaConfig,
)

try:
    import captum

    CAPTUM_VERSION = captum.__version__
except ImportError:  # captum is only needed for attributions; record its absence
    CAPTUM_VERSION = None

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
DATA = Path(os.environ.get("CALIG_SHARED_DATA", REPO.parent / "shared" / "data"))

VERSIONS = {
    "torch": torch.__version__,
    "transformers": transformers.__version__,
    "captum": CAPTUM_VERSION,
    "tokenizers": tokenizers.__version__,
    "numpy": np.__version__,
    "safetensors": safetensors.__version__,
    "pillow": PIL.__version__,
}

N_TRAIN_LINES = 400

EN_TEXTS = [  # kept short: reference.json stores (L, b, heads, s, s) attentions twice
    "a gorgeous , witty movie .",
    "it is bad .",
    "the story is wonderfully told .",
]
AM_TEXTS = [
    "ለታሪክ የሚቀመጥ ማስታወሻ",
    "ኧረ ምን ጉድ ነው??",
    "@USER ሴራ እና ስሪያ ስራቸው ነው",
]
MINILM_TEXTS = [
    "A man is playing a guitar.",
    "The movie was unbelievably disappointing!",
    "Hello world",
]


# ----------------------------------------------------------------------------------------------
# JSON helpers


def f32_list(t):
    """Nested list of Python floats, each the shortest decimal that round-trips the float32."""
    a = np.asarray(t.detach().cpu().to(torch.float32).numpy() if torch.is_tensor(t) else t,
                   dtype=np.float32)
    flat = [float(str(x)) for x in a.ravel()]
    return np.array(flat, dtype=object).reshape(a.shape).tolist()


def f64_list(t):
    a = t.detach().cpu().to(torch.float64).numpy() if torch.is_tensor(t) else np.asarray(t)
    return a.astype(np.float64).tolist()


def rounded_list(t, digits=7):
    a = np.asarray(t.detach().cpu().to(torch.float32).numpy(), dtype=np.float64)
    flat = [float(f"{x:.{digits}g}") for x in a.ravel()]
    return np.array(flat, dtype=object).reshape(a.shape).tolist()


def int_list(t):
    return t.detach().cpu().to(torch.int64).tolist()


def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# Training corpora and tokenizers


def sst2_lines(n=N_TRAIN_LINES):
    lines = []
    with open(DATA / "sst2" / "train.tsv", encoding="utf-8") as f:
        next(f)  # header
        for line in f:
            lines.append(line.split("\t")[0].strip())
            if len(lines) >= n:
                break
    return lines


def amharic_lines(n=N_TRAIN_LINES):
    lines = []
    with open(DATA / "amharic_hate_ranlp2023" / "train.tsv", encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t", 1)
            if len(parts) == 2:
                lines.append(parts[1].strip())
            if len(lines) >= n:
                break
    return lines


def _ranked(counter):
    """Keys sorted by count (descending), ties by the string itself: deterministic."""
    return [k for k, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def wordpiece_vocab(words, size, specials):
    """Deterministic WordPiece vocabulary (the Rust WordPiece trainer breaks ties in hash-map
    order, so its output changes from run to run): specials, every character and its "##"
    continuation, then the most frequent whole words, word-initial pieces and "##" suffix
    pieces (2-5 characters) until `size` entries."""
    chars = sorted({c for w in words for c in w})
    vocab = list(specials)
    for c in chars:
        vocab.append(c)
    for c in chars:
        vocab.append("##" + c)
    cand = Counter()
    for w, n in words.items():
        cand[w] += n
        for k in range(2, min(5, len(w) - 1) + 1):
            cand[w[:k]] += n
            cand["##" + w[-k:]] += n
    seen = set(vocab)
    for piece in _ranked(cand):
        if len(vocab) >= size:
            break
        if piece not in seen:
            vocab.append(piece)
            seen.add(piece)
    return {p: i for i, p in enumerate(vocab)}


def wordpiece_tokenizer():
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    words = Counter()
    for line in sst2_lines():
        for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(line)):
            words[w] += 1
    vocab = wordpiece_vocab(words, 400, specials)
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100,
                                     continuing_subword_prefix="##"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", padding_side="right",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    return tok, hf, {"unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                     "sep_token": "[SEP]", "mask_token": "[MASK]"}


def bytelevel_bpe_tokenizer():
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer = trainers.BpeTrainer(
        vocab_size=500, min_frequency=2, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(sst2_lines(), trainer=trainer)
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")),
        trim_offsets=True, add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        sep_token="</s>", cls_token="<s>", pad_token="<pad>", mask_token="<mask>",
        padding_side="right", model_input_names=["input_ids", "attention_mask"])
    return tok, hf, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                     "sep_token": "</s>", "cls_token": "<s>", "pad_token": "<pad>",
                     "mask_token": "<mask>"}


def unigram_tokenizer():
    """Unigram (SentencePiece-style) tokenizer with a Metaspace pre-tokenizer. The Rust Unigram
    trainer is not deterministic, so the pieces and scores are built here: every character
    seen (alone and with the "▁" word prefix), then the most frequent substrings (2-6
    characters) of the pre-tokenized words, 600 pieces in all; score = log(count / total)."""
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    normalizer = normalizers.Sequence([
        normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    pre = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    words = Counter()
    for line in amharic_lines():
        for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(line)):
            words[w] += 1
    chars, subs = Counter(), Counter()
    for w, n in words.items():
        for c in w:
            chars[c] += n
        for i in range(len(w)):
            for k in range(2, 7):
                if i + k <= len(w):
                    subs[w[i:i + k]] += n
    pieces = [c for c in _ranked(chars)]
    pieces += ["▁" + c for c in _ranked(chars) if c != "▁" and "▁" + c not in subs]
    seen = set(pieces) | set(specials)
    for p in _ranked(subs):
        if len(pieces) >= 600 - len(specials):
            break
        if p not in seen:
            pieces.append(p)
            seen.add(p)
    counts = {**{c: chars[c] for c in chars}, **{p: subs[p] for p in subs}}
    total = float(sum(counts.get(p, 1) for p in pieces))
    vocab = [(t, 0.0) for t in specials]
    vocab += [(p, math.log(counts.get(p, 1) / total)) for p in pieces]
    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    assert [tok.token_to_id(t) for t in specials] == [0, 1, 2, 3, 4], "special token ids"
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        sep_token="</s>", cls_token="<s>", pad_token="<pad>", mask_token="<mask>",
        padding_side="right", model_input_names=["input_ids", "attention_mask"])
    return tok, hf, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                     "sep_token": "</s>", "cls_token": "<s>", "pad_token": "<pad>",
                     "mask_token": "<mask>"}


def save_tokenizer(hf_tok, special_map, out_dir):
    # calling the tokenizer with padding=True leaves padding switched on in the backend
    hf_tok.backend_tokenizer.no_padding()
    hf_tok.backend_tokenizer.no_truncation()
    hf_tok.save_pretrained(str(out_dir))
    stm = out_dir / "special_tokens_map.json"
    if not stm.exists():  # transformers 5 no longer writes it; keep the classic file for loaders
        write_json(stm, special_map)
    # the saved tokenizer.json must have padding and truncation off
    saved = json.loads((out_dir / "tokenizer.json").read_text(encoding="utf-8"))
    assert saved.get("padding") is None and saved.get("truncation") is None, out_dir


# ----------------------------------------------------------------------------------------------
# Models


def reinit(model, seed, qk_gain=1.4, final_names=("classifier", "classifier.out_proj")):
    """Re-initialise every parameter (see module docstring)."""
    g = torch.Generator().manual_seed(seed)

    def randn(shape):
        return torch.randn(shape, generator=g, dtype=torch.float32)

    done = set()
    with torch.no_grad():
        for mname, mod in model.named_modules():
            for pname, p in mod.named_parameters(recurse=False):
                if isinstance(mod, nn.LayerNorm):
                    v = 1.0 + 0.3 * randn(p.shape) if pname == "weight" else 0.3 * randn(p.shape)
                elif isinstance(mod, nn.Embedding):
                    v = 0.5 * randn(p.shape)
                elif isinstance(mod, (nn.Linear, nn.Conv2d)):
                    if pname == "weight":
                        fan_in = p[0].numel()
                        last = mname.split(".")[-1]
                        if mname in final_names:
                            gain = 4.0
                        elif last in ("query", "key", "q_lin", "k_lin", "q_proj", "k_proj"):
                            gain = qk_gain
                        else:
                            gain = 2.0
                        v = randn(p.shape) * (gain / math.sqrt(fan_in))
                    else:
                        v = 0.2 * randn(p.shape)
                else:
                    v = 0.5 * randn(p.shape)
                p.copy_(v.to(p.dtype))
                done.add(id(p))
    missing = [n for n, p in model.named_parameters() if id(p) not in done]
    assert not missing, f"parameters not re-initialised: {missing}"


def build_model(config, seed, image=False):
    torch.manual_seed(seed)
    auto = AutoModelForImageClassification if image else AutoModelForSequenceClassification
    model = auto.from_config(config, attn_implementation="eager")
    # ViT (pre-LN, 17 tokens) gets near one-hot attention with the text gain
    reinit(model, seed + 1, qk_gain=1.2 if image else 1.4)
    model.eval()
    return model


def choose_model(config, seed, inputs, image=False, tries=60):
    """First seed (seed, seed+10, ...) whose model predicts at least two different classes on
    the fixture inputs and is not saturated (every max softmax prob < 0.99), so that attributions
    for "predicted" and "other" targets are both interesting. Deterministic."""
    for k in range(tries):
        s = seed + 10 * k
        model = build_model(config, s, image=image)
        with torch.no_grad():
            probs = torch.softmax(model(**inputs).logits, -1)
        if len(set(probs.argmax(-1).tolist())) >= 2 and float(probs.max()) < 0.99:
            return model, s
    raise RuntimeError(f"no seed in {seed}..{seed + 10 * tries} gives a usable model")


# The eager attention of every family we use. transformers 5.x's ViT computes
# `softmax(scores, dtype=torch.float32).to(query.dtype)`, so a float64 ViT would only be
# float32-accurate inside attention; `same_dtype_softmax()` swaps such functions for one that
# keeps the query's dtype (identical arithmetic otherwise).
EAGER_ATTENTION_MODULES = (
    "transformers.models.bert.modeling_bert",
    "transformers.models.roberta.modeling_roberta",
    "transformers.models.xlm_roberta.modeling_xlm_roberta",
    "transformers.models.distilbert.modeling_distilbert",
    "transformers.models.electra.modeling_electra",
    "transformers.models.albert.modeling_albert",
    "transformers.models.vit.modeling_vit",
)


def eager_attention_same_dtype(module, query, key, value, attention_mask, scaling=None,
                               dropout=0.0, **kwargs):
    """transformers' eager_attention_forward (bert/vit, 5.x) with the softmax computed in the
    query's dtype."""
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value)
    attn_output = attn_output.transpose(1, 2).contiguous()
    return attn_output, attn_weights


def upcasting_attention_modules():
    """The modeling modules whose eager attention upcasts the softmax to float32."""
    import importlib
    import inspect

    out = []
    for name in EAGER_ATTENTION_MODULES:
        mod = importlib.import_module(name)
        src = inspect.getsource(mod.eager_attention_forward)
        if "dtype=torch.float32" in src:
            out.append(mod)
    return out


class same_dtype_softmax:
    """Context manager: while active, the eager attention of the upcasting families (ViT in
    transformers 5.23) computes its softmax in the query's dtype. The models look the
    function up as a module global at call time, so patching the module attribute is enough.
    A no-op for float32 (softmax(x, dtype=float32) of a float32 x is the same computation)."""

    def __enter__(self):
        self.saved = [(m, m.eager_attention_forward) for m in upcasting_attention_modules()]
        for m, _ in self.saved:
            m.eager_attention_forward = eager_attention_same_dtype
        return self

    def __exit__(self, *exc):
        for m, f in self.saved:
            m.eager_attention_forward = f
        return False


def forward(model, inputs, dtype):
    m = copy.deepcopy(model).to(dtype).eval()
    kw = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in inputs.items()}
    with torch.no_grad(), same_dtype_softmax():
        out = m(**kw, output_hidden_states=True, output_attentions=True, return_dict=True)
    return {
        "logits": out.logits,
        "hidden_states": torch.stack(list(out.hidden_states)),
        "attentions": torch.stack(list(out.attentions)),
    }


def pack(res, dtype):
    conv = f32_list if dtype == torch.float32 else f64_list
    return {k: conv(v) for k, v in res.items()}


def roberta_position_ids(input_ids, padding_idx):
    mask = input_ids.ne(padding_idx).int()
    return (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() + padding_idx


def diagnostics(name, res, mask=None):
    logits = res["logits"]
    probs = torch.softmax(logits, -1)
    att = res["attentions"]  # L,b,h,s,s
    ent = -(att.clamp_min(1e-30).log() * att).sum(-1)  # L,b,h,s
    if mask is not None:
        n = mask.sum(-1).float()  # b
        max_ent = n.log()[None, :, None, None].expand_as(ent)
        sel = mask.bool()[None, :, None, :].expand_as(ent)
        rel = (ent / max_ent.clamp_min(1e-9))[sel]
    else:
        rel = ent / math.log(att.shape[-1])
    print(f"  [{name}] logits={np.round(logits.numpy(), 3).tolist()}")
    print(f"  [{name}] max prob per example={np.round(probs.max(-1).values.numpy(), 3).tolist()} "
          f"argmax={probs.argmax(-1).tolist()}")
    print(f"  [{name}] attention entropy / uniform entropy: mean={rel.mean():.3f} "
          f"min={rel.min():.3f} max={rel.max():.3f}; max prob={att.max():.3f}")


def check_reload(out_dir, ref_model, inputs, image=False):
    auto = AutoModelForImageClassification if image else AutoModelForSequenceClassification
    m = auto.from_pretrained(str(out_dir), attn_implementation="eager").eval()
    with torch.no_grad():
        a = m(**inputs).logits
        b = ref_model(**inputs).logits
    assert torch.equal(a, b), f"reloaded {out_dir} differs: {(a - b).abs().max()}"


def check_tokenizer_file(out_dir, texts, input_ids, attention_mask):
    tok = Tokenizer.from_file(str(out_dir / "tokenizer.json"))
    for i, t in enumerate(texts):
        ids = tok.encode(t).ids
        n = int(attention_mask[i].sum())
        assert ids == input_ids[i, :n].tolist(), (out_dir, t, ids, input_ids[i])


def clean_dir(d):
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)


# ----------------------------------------------------------------------------------------------
# Text fixtures


def text_fixture(family, config, tok_triplet, texts, seed, uses_token_types, roberta_like):
    out = FIXTURES / family
    clean_dir(out)
    raw_tok, hf_tok, special_map = tok_triplet
    enc = hf_tok(texts, padding=True, return_tensors="pt", return_token_type_ids=uses_token_types)
    input_ids, attention_mask = enc["input_ids"], enc["attention_mask"]
    b, s = input_ids.shape
    if roberta_like:
        position_ids = roberta_position_ids(input_ids, config.pad_token_id)
    else:
        position_ids = torch.arange(s).unsqueeze(0).expand(b, s).contiguous()
    assert int(position_ids.max()) < config.max_position_embeddings

    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if uses_token_types:
        token_type_ids = enc["token_type_ids"] if "token_type_ids" in enc else torch.zeros_like(input_ids)
        inputs["token_type_ids"] = token_type_ids

    model, seed = choose_model(config, seed, inputs)
    model.save_pretrained(str(out))
    save_tokenizer(hf_tok, special_map, out)

    res32 = forward(model, inputs, torch.float32)
    res64 = forward(model, inputs, torch.float64)
    # the position ids we store are the ones HF uses: passing them explicitly changes nothing
    with torch.no_grad():
        explicit = model(**inputs, position_ids=position_ids).logits
    assert torch.equal(explicit, res32["logits"]), f"{family}: position ids differ from HF's"
    diagnostics(family, res32, attention_mask)

    check_reload(out, model, inputs)
    check_tokenizer_file(out, texts, input_ids, attention_mask)

    tokens = [hf_tok.convert_ids_to_tokens(row) for row in input_ids.tolist()]
    ntoks = attention_mask.sum(-1).tolist()
    print(f"  [{family}] vocab={config.vocab_size} tokens per text={ntoks}")
    for t in tokens:
        print("   ", t)

    ref = {
        "family": family,
        "model_class": type(model).__name__,
        "versions": VERSIONS,
        "seed": seed,
        "config": {
            "num_layers": config.num_hidden_layers if hasattr(config, "num_hidden_layers") else config.n_layers,
            "hidden_size": config.hidden_size if hasattr(config, "hidden_size") else config.dim,
            "num_heads": config.num_attention_heads if hasattr(config, "num_attention_heads") else config.n_heads,
            "num_labels": config.num_labels,
            "id2label": {str(k): v for k, v in config.id2label.items()},
            "pad_token_id": config.pad_token_id,
        },
        "texts": texts,
        "tokens": tokens,
        "input_ids": int_list(input_ids),
        "attention_mask": int_list(attention_mask),
    }
    if uses_token_types:
        ref["token_type_ids"] = int_list(inputs["token_type_ids"])
    ref["position_ids"] = int_list(position_ids)
    ref["f32"] = pack(res32, torch.float32)
    ref["f64"] = pack(res64, torch.float64)
    write_json(out / "reference.json", ref)
    return model, hf_tok, special_map, inputs


def make_bert(wp):
    config = BertConfig(
        vocab_size=wp[0].get_vocab_size(), hidden_size=32, num_hidden_layers=3,
        num_attention_heads=4, intermediate_size=64, hidden_act="gelu",
        max_position_embeddings=64, type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0,
        num_labels=3, id2label={0: "negative", 1: "neutral", 2: "positive"},
        label2id={"negative": 0, "neutral": 1, "positive": 2},
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    model, hf_tok, special_map, inputs = text_fixture(
        "bert", config, wp, EN_TEXTS, seed=1000, uses_token_types=True, roberta_like=False)

    # loader variant 1: pytorch_model.bin (torch.save zip format), same tensor names as the
    # safetensors file written by save_pretrained
    d = FIXTURES / "bert-bin"
    clean_dir(d)
    model.config.save_pretrained(str(d))
    save_tokenizer(hf_tok, special_map, d)
    sd = safetensors.torch.load_file(str(FIXTURES / "bert" / "model.safetensors"))
    sd = {k: sd[k].contiguous() for k in sorted(sd)}
    torch.save(sd, str(d / "pytorch_model.bin"))
    check_reload(d, model, inputs)

    # loader variant 2: sharded safetensors
    d = FIXTURES / "bert-sharded"
    clean_dir(d)
    model.save_pretrained(str(d), max_shard_size=60_000)
    save_tokenizer(hf_tok, special_map, d)
    shards = sorted(p.name for p in d.glob("model-*.safetensors"))
    assert len(shards) >= 2 and (d / "model.safetensors.index.json").exists(), shards
    print(f"  [bert-sharded] shards: {shards}")
    check_reload(d, model, inputs)


def make_distilbert(wp):
    raw, _, special_map = wp
    hf = PreTrainedTokenizerFast(
        tokenizer_object=copy.deepcopy(raw), unk_token="[UNK]", pad_token="[PAD]",
        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", padding_side="right",
        model_input_names=["input_ids", "attention_mask"])
    config = DistilBertConfig(
        vocab_size=raw.get_vocab_size(), dim=32, n_layers=3, n_heads=4, hidden_dim=64,
        activation="gelu", max_position_embeddings=64, sinusoidal_pos_embds=False,
        pad_token_id=0, num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1})
    text_fixture("distilbert", config, (raw, hf, special_map), EN_TEXTS, seed=4000,
                 uses_token_types=False, roberta_like=False)


def make_electra(wp):
    # Embeddings narrower than the blocks, so that `embeddings_project` is exercised.
    config = ElectraConfig(
        vocab_size=wp[0].get_vocab_size(), embedding_size=16, hidden_size=32,
        num_hidden_layers=3, num_attention_heads=4, intermediate_size=64, hidden_act="gelu",
        max_position_embeddings=64, type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0,
        num_labels=3, id2label={0: "negative", 1: "neutral", 2: "positive"},
        label2id={"negative": 0, "neutral": 1, "positive": 2})
    text_fixture("electra", config, wp, EN_TEXTS, seed=6000, uses_token_types=True,
                 roberta_like=False)


def make_albert(wp):
    # Factorised embeddings (16 → 32) and one block shared by the 3 layers; ALBERT's default
    # activation (gelu_new, the tanh approximation).
    config = AlbertConfig(
        vocab_size=wp[0].get_vocab_size(), embedding_size=16, hidden_size=32,
        num_hidden_layers=3, num_attention_heads=4, intermediate_size=64, hidden_act="gelu_new",
        max_position_embeddings=64, type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0,
        bos_token_id=2, eos_token_id=3, classifier_dropout_prob=0.1,
        num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1})
    text_fixture("albert", config, wp, EN_TEXTS, seed=7000, uses_token_types=True,
                 roberta_like=False)


def make_roberta():
    bpe = bytelevel_bpe_tokenizer()
    config = RobertaConfig(
        vocab_size=bpe[0].get_vocab_size(), hidden_size=32, num_hidden_layers=3,
        num_attention_heads=4, intermediate_size=64, hidden_act="gelu",
        max_position_embeddings=66, type_vocab_size=1, layer_norm_eps=1e-5,
        pad_token_id=1, bos_token_id=0, eos_token_id=2,
        num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1})
    assert bpe[0].token_to_id("<pad>") == 1
    text_fixture("roberta", config, bpe, EN_TEXTS, seed=2000, uses_token_types=True,
                 roberta_like=True)


def make_xlmr():
    uni = unigram_tokenizer()
    config = XLMRobertaConfig(
        vocab_size=uni[0].get_vocab_size(), hidden_size=32, num_hidden_layers=3,
        num_attention_heads=4, intermediate_size=64, hidden_act="gelu",
        max_position_embeddings=66, type_vocab_size=1, layer_norm_eps=1e-5,
        pad_token_id=1, bos_token_id=0, eos_token_id=2,
        num_labels=3, id2label={0: "hate", 1: "offensive", 2: "normal"},
        label2id={"hate": 0, "offensive": 1, "normal": 2})
    text_fixture("xlmr", config, uni, AM_TEXTS, seed=3000, uses_token_types=True,
                 roberta_like=True)


# ----------------------------------------------------------------------------------------------
# ViT


def make_test_image(path):
    h, w = 28, 40
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255.0 * x / (w - 1)
    g = 255.0 * y / (h - 1)
    b = 127.5 + 110.0 * np.sin(x / 3.0) * np.cos(y / 4.0)
    img = np.stack([r, g, b], axis=-1)
    img[4:12, 6:16] = [20, 30, 200]  # a blue rectangle
    circle = (x - 28) ** 2 + (y - 17) ** 2 <= 36
    img[circle] = [250, 240, 30]  # a yellow disc
    img[22:24, :] = [0, 0, 0]  # a black stripe
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    Image.fromarray(img, mode="RGB").save(path, format="PNG", optimize=False, compress_level=9)
    return img


def make_vit():
    from transformers.image_utils import PILImageResampling
    try:
        from transformers import ViTImageProcessorPil as Proc
    except ImportError:  # older transformers
        from transformers import ViTImageProcessor as Proc

    out = FIXTURES / "vit"
    clean_dir(out)
    config = ViTConfig(
        image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=3,
        num_attention_heads=4, intermediate_size=64, hidden_act="gelu", layer_norm_eps=1e-12,
        qkv_bias=True, num_labels=4,
        id2label={0: "cat", 1: "dog", 2: "car", 3: "plane"},
        label2id={"cat": 0, "dog": 1, "car": 2, "plane": 3})
    proc = Proc(do_resize=True, size={"height": 32, "width": 32},
                resample=PILImageResampling.BILINEAR, do_rescale=True, rescale_factor=1 / 255,
                do_normalize=True, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    proc.save_pretrained(str(out))

    img_path = out / "image.png"
    make_test_image(img_path)
    image = Image.open(img_path).convert("RGB")
    image_pv = proc(images=image, return_tensors="pt")["pixel_values"].to(torch.float32)
    assert image_pv.shape == (1, 3, 32, 32), image_pv.shape
    # the saved preprocessor_config.json reproduces the same pixels
    proc2 = Proc.from_pretrained(str(out))
    assert torch.equal(proc2(images=image, return_tensors="pt")["pixel_values"].to(torch.float32),
                       image_pv)

    g = torch.Generator().manual_seed(5100)
    noise = torch.randn((1, 3, 32, 32), generator=g, dtype=torch.float32)
    pixel_values = torch.cat([image_pv, noise], 0)
    inputs = {"pixel_values": pixel_values}
    model, seed = choose_model(config, 5000, inputs, image=True)
    model.save_pretrained(str(out))

    res32 = forward(model, inputs, torch.float32)
    res64 = forward(model, inputs, torch.float64)
    diagnostics("vit", res32)
    check_reload(out, model, inputs, image=True)

    ref = {
        "family": "vit",
        "model_class": type(model).__name__,
        "versions": VERSIONS,
        "seed": seed,
        "config": {
            "num_layers": config.num_hidden_layers, "hidden_size": config.hidden_size,
            "num_heads": config.num_attention_heads, "num_labels": config.num_labels,
            "id2label": {str(k): v for k, v in config.id2label.items()},
            "image_size": config.image_size, "patch_size": config.patch_size,
        },
        "image_size": [image.height, image.width],
        "pixel_values": f32_list(pixel_values),
        "image_pixel_values": f32_list(image_pv),
        "f32": pack(res32, torch.float32),
        "f64": pack(res64, torch.float64),
    }
    write_json(out / "reference.json", ref)


# ----------------------------------------------------------------------------------------------
# Real MiniLM


def make_minilm(model_dir):
    model_dir = Path(model_dir)
    need = ["config.json", "model.safetensors", "tokenizer.json"]
    if not all((model_dir / n).exists() for n in need):
        sys.exit(f"make_fixtures.py: {model_dir} lacks {need}; run "
                 f"tools/reference/fetch_minilm.sh {model_dir} first (or pass --skip-minilm)")
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    encs = tok.encode_batch(MINILM_TEXTS)
    s = max(len(e.ids) for e in encs)
    pad_id = tok.token_to_id("[PAD]")
    assert pad_id == 0
    b = len(encs)
    input_ids = torch.full((b, s), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((b, s), dtype=torch.long)
    token_type_ids = torch.zeros((b, s), dtype=torch.long)
    tokens = []
    for i, e in enumerate(encs):
        n = len(e.ids)
        input_ids[i, :n] = torch.tensor(e.ids)
        attention_mask[i, :n] = torch.tensor(e.attention_mask)
        token_type_ids[i, :n] = torch.tensor(e.type_ids)
        tokens.append(list(e.tokens) + ["[PAD]"] * (s - n))
    position_ids = torch.arange(s).unsqueeze(0).expand(b, s).contiguous()

    model = BertModel.from_pretrained(str(model_dir), attn_implementation="eager",
                                      add_pooling_layer=False).eval()
    with torch.no_grad():
        out = model(input_ids=input_ids, attention_mask=attention_mask,
                    token_type_ids=token_type_ids, output_hidden_states=True, return_dict=True)
    hs = torch.stack(list(out.hidden_states))  # 7,b,s,384
    last = out.last_hidden_state
    m = attention_mask.unsqueeze(-1).float()
    emb = (last * m).sum(1) / m.sum(1)
    emb = torch.nn.functional.normalize(emb, p=2, dim=-1)
    dims = 48
    print(f"  [minilm] tokens per text={attention_mask.sum(-1).tolist()}")
    for t in tokens:
        print("   ", t)
    ref = {
        "family": "minilm",
        "model_class": "BertModel",
        "versions": VERSIONS,
        "model_dir_files": {n: sha256(model_dir / n) for n in need},
        "texts": MINILM_TEXTS,
        "tokens": tokens,
        "input_ids": int_list(input_ids),
        "attention_mask": int_list(attention_mask),
        "token_type_ids": int_list(token_type_ids),
        "position_ids": int_list(position_ids),
        "hidden_dims_stored": dims,
        "significant_digits": 7,
        "f32": {
            "hidden_states": rounded_list(hs[..., :dims]),
            "last_hidden_state": rounded_list(last),
            "sentence_embedding": rounded_list(emb),
        },
    }
    write_json(FIXTURES / "minilm" / "reference.json", ref)


# ----------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="bert,roberta,xlmr,distilbert,electra,albert,vit,minilm",
                    help="comma-separated subset (bert also writes bert-bin and bert-sharded)")
    ap.add_argument("--minilm-dir", default=str(REPO / "models" / "minilm-l6"))
    ap.add_argument("--skip-minilm", action="store_true")
    ap.add_argument("--skip-attributions", action="store_true",
                    help="do not run make_attributions.py for the regenerated families")
    args = ap.parse_args()
    only = set(args.only.split(","))
    print(f"versions: {VERSIONS}")
    if only & {"bert", "distilbert", "electra", "albert"}:
        wp = wordpiece_tokenizer()
    if "bert" in only:
        print("bert"); make_bert(wp)
    if "roberta" in only:
        print("roberta"); make_roberta()
    if "xlmr" in only:
        print("xlmr"); make_xlmr()
    if "distilbert" in only:
        print("distilbert"); make_distilbert(wp)
    if "electra" in only:
        print("electra"); make_electra(wp)
    if "albert" in only:
        print("albert"); make_albert(wp)
    if "vit" in only:
        print("vit"); make_vit()
    if "minilm" in only and not args.skip_minilm:
        print("minilm"); make_minilm(args.minilm_dir)
    if not args.skip_attributions:
        # attributions.json (tests/fixtures/<family>/) from the directories written above;
        # clean_dir() removed the old ones of the regenerated families
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import make_attributions

        fams = [f for f in make_attributions.FAMILIES if f in only]
        if fams:
            make_attributions.main(fams)
    total = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    print(f"tests/fixtures total: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
