"""calig: explain Transformer classifiers (CA-LIG, IG, AttnLRP, GAE, ...) from Python.

The engine is calig's Rust library (no PyTorch needed); results are the same numbers as the
``calig`` command line, as NumPy arrays.

    >>> import calig
    >>> m = calig.load("minilm-sst2")
    >>> e = m.explain("a gorgeous, witty movie")
    >>> e.word_scores          # one float per word, signed: + supports the target class
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np

from . import _calig

__all__ = ["load", "evaluate", "methods", "settings", "Model", "Explanation", "Generation",
           "Prediction",
           "__version__"]
__version__ = _calig.version()


def _setting_value(key: str, value) -> str:
    """A keyword argument's value as calig's settings table reads it (the CLI's spelling)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            raise ValueError(f"{key}: an empty list")
        return ",".join(str(v) for v in value)
    return str(value)


def _settings(params: dict) -> list:
    """(name, value) pairs of the given settings (``None`` means not given; ``lambda_`` is
    ``lambda``, a Python keyword)."""
    pairs = []
    for key, value in params.items():
        if value is None:
            continue
        name = "lambda" if key == "lambda_" else key
        pairs.append((name, _setting_value(name, value)))
    return pairs


def _warn_ignored(ignored: list, method: str) -> None:
    for name in ignored:
        warnings.warn(f"{name} is ignored by method {method}", stacklevel=3)


def _layers(value) -> Optional[np.ndarray]:
    if value is None:
        return None
    width = max((len(v) for v in value if v is not None), default=0)
    out = np.full((len(value), width), np.nan, dtype=np.float64)
    for i, v in enumerate(value):
        if v is not None:
            out[i, : len(v)] = v
    return out


class Generation:
    """What :meth:`Model.explain_continuation` returns, as ``calig explain --continuation
    --format json`` writes it (docs/json-schema.md, "Generations").

    ``matrix``: float64 (continuation tokens, tokens): row j holds the scores of
    log p(continuation token j | the tokens before it) over every token (0 from the token
    itself on: the causal mask); ``log_probs`` (continuation tokens); ``tokens`` (the prompt's,
    special tokens included, then the continuation's); ``prompt_tokens`` (how many are the
    prompt's); ``continuation_tokens``.
    """

    def __init__(self, data: dict):
        self._data = data
        self.method: str = data["method"]
        self.tokens: list[str] = data["tokens"]
        self.prompt_tokens: int = data["prompt_tokens"]
        self.continuation_tokens: list[str] = [s["token"] for s in data["steps"]]
        self.matrix = np.asarray([s["scores"] for s in data["steps"]], dtype=np.float64)
        self.log_probs = np.asarray([s["log_prob"] for s in data["steps"]], dtype=np.float64)

    def __repr__(self) -> str:
        return (f"<calig.Generation {self.method}: {len(self.continuation_tokens)} tokens "
                f"after {self.prompt_tokens}>")

    def to_dict(self) -> dict:
        return self._data


class Explanation:
    """One explanation, as ``calig explain --format json`` writes it (docs/json-schema.md).

    Arrays (float64): ``scores`` (tokens, or patches for images), ``word_scores`` (words, the
    sum of their sub-tokens; ``words(agg=...)`` for other aggregations),
    ``layers`` (L + 1, tokens) with NaN rows for layers without a value, ``logits`` and
    ``probs`` (classes). ``r``, ``a``, ``s`` hold CA-LIG's parts per layer (L + 1, tokens).
    """

    def __init__(self, data: dict, html: Optional[str] = None):
        self._data = data
        self._html = html
        self.method: str = data["method"]
        self.tokens: list[str] = data["tokens"]
        #: the words: {"text", "start", "end", "token_range"} each (text models), and
        #: "segment": 1 for the words of a sentence pair's second text
        self.word_spans: list[dict] = data["words"]
        self.word_texts: list[str] = [w["text"] for w in self.word_spans]
        #: per word, which text of a sentence pair it is in (0 or 1; all 0 for one text)
        self.word_segments: list[int] = [w.get("segment", 0) for w in self.word_spans]
        self.scores = np.asarray(data["scores"], dtype=np.float64)
        self.word_scores = np.asarray(data["word_scores"], dtype=np.float64)
        self.layers = _layers(data.get("layers"))
        self.logits = np.asarray(data["logits"], dtype=np.float64)
        self.probs = np.asarray(data["probs"], dtype=np.float64)
        self.labels: list[str] = data["labels"]
        self.target: int = data["target"]["index"]
        self.predicted: int = data["predicted"]["index"]
        self.convergence_delta = data["convergence_delta"]
        self.baseline_logit: Optional[float] = data.get("baseline_logit")
        #: the token whose row of the last layer the head reads: 0 ([CLS], <s>) for encoders,
        #: the last token for decoders (Llama, Qwen2, Mistral); None for mean-pooled ViTs
        self.readout_token: Optional[int] = data.get("readout_token")
        self.params: dict = data["params"]
        details = data.get("details") or {}
        self.r = _layers(details.get("r"))
        self.a = _layers(details.get("a"))
        self.s = _layers(details.get("s"))

    def __repr__(self) -> str:
        return (f"Explanation(method={self.method!r}, target={self.labels[self.target]!r}, "
                f"{len(self.scores)} scores)")

    def to_dict(self) -> dict:
        """The explanation as the CLI's JSON object."""
        return json.loads(json.dumps(self._data))

    def to_json(self, indent: Optional[int] = None) -> str:
        return json.dumps(self._data, indent=indent)

    @classmethod
    def load(cls, path: Union[str, Path]):
        """Reads explanations saved by :meth:`save`, ``calig explain --format json`` or
        ``calig batch`` (checked as ``calig render`` checks them): one :class:`Explanation`
        for a file of one, else a list."""
        text = Path(path).read_text(encoding="utf-8")
        try:
            items = [cls(json.loads(j)) for j in _calig.read_saved(text)]
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        single = text.lstrip().startswith("{") and len(items) == 1
        return items[0] if single else items

    def save(self, path: Union[str, Path]) -> None:
        """Writes the explanation in the format its suffix names: ``.json`` (the CLI's JSON,
        which :meth:`load` reads back), ``.html`` (the report page), ``.png`` (the figure) or
        ``.svg`` (the figure in vectors, words as text, for papers)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            path.write_text(self.to_json(indent=1), encoding="utf-8")
        elif suffix in (".html", ".htm"):
            path.write_text(self.html(), encoding="utf-8")
        elif suffix == ".png":
            path.write_bytes(_calig.render_png(self.to_json()))
        elif suffix == ".svg":
            path.write_text(_calig.render_svg(self.to_json()), encoding="utf-8")
        else:
            raise ValueError(f"save writes .json, .html, .png or .svg files, not `{path.name}`")

    def html(self) -> str:
        """The self-contained HTML report (the same page as ``--format html``)."""
        if self._html is None:
            self._html = _calig.render_html(self.to_json())
        return self._html

    def _repr_html_(self) -> str:
        # A fragment, its styles scoped under one class: a notebook's page keeps its own.
        return _calig.render_html(self.to_json(), fragment=True)

    def words(self, agg: str = "sum") -> np.ndarray:
        """Word scores from the sub-token scores: ``sum`` (as ``word_scores``), ``mean`` or
        ``absmax`` (the signed score of largest magnitude); words in ``word_texts``."""
        out = []
        for w in self.word_spans:
            a, b = w["token_range"]
            part = self.scores[a:b]
            if agg == "sum":
                out.append(part.sum())
            elif agg == "mean":
                out.append(part.mean())
            elif agg == "absmax":
                out.append(part[np.argmax(np.abs(part))])
            else:
                raise ValueError(f"agg `{agg}`: use sum, mean or absmax")
        return np.asarray(out, dtype=np.float64)

    def to_torch(self, name: str = "scores"):
        """An array attribute as a torch tensor sharing its memory (needs torch)."""
        import torch  # optional dependency

        return torch.from_numpy(getattr(self, name))


class Prediction:
    """Class probabilities and logits of one input."""

    def __init__(self, data: dict, labels: list[str]):
        self.logits = np.asarray(data["logits"], dtype=np.float64)
        self.probs = np.asarray(data["probs"], dtype=np.float64)
        self.labels = labels
        self.index = int(np.argmax(self.probs))
        self.label = labels[self.index]

    def __repr__(self) -> str:
        return f"Prediction({self.label!r}, p={self.probs[self.index]:.4f})"


def _is_image(x: Any) -> bool:
    return isinstance(x, os.PathLike)


def _is_pil(x: Any) -> bool:
    return type(x).__module__.startswith("PIL.") and hasattr(x, "convert")


def _kind_of(x: Any, what: str) -> str:
    """``"text"``, ``"path"`` or ``"pixels"``; anything else is a TypeError that says what
    ``what`` takes."""
    if isinstance(x, str):
        return "text"
    if isinstance(x, os.PathLike):
        return "path"
    if isinstance(x, np.ndarray) or _is_pil(x):
        return "pixels"
    if isinstance(x, (bytes, bytearray)):
        raise TypeError(f"{what} takes text as a str: decode the bytes first (.decode())")
    if isinstance(x, (list, tuple)):
        raise TypeError(f"{what} takes one input; for a list of inputs use explain_batch")
    raise TypeError(f"{what} takes a str (text), or a pathlib.Path, PIL.Image or NumPy array "
                    f"(image), not {type(x).__name__}")


def _pixels(x: Any) -> tuple:
    """An image as (bytes, height, width, channels) of 8-bit values: a PIL image, or a NumPy
    array (height, width[, channels]) of uint8, or of floats in [0, 1]."""
    if _is_pil(x):
        x = np.asarray(x.convert("RGBA" if "A" in x.getbands() else "RGB"))
    a = np.asarray(x)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"an image array is (height, width) or (height, width, 1|3|4), "
                         f"not {a.shape}")
    if a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.floating):
            raise TypeError(f"an image array holds uint8 or floats in [0, 1], not {a.dtype}")
        if a.size and (np.nanmin(a) < 0 or np.nanmax(a) > 1 or np.isnan(a).any()):
            raise ValueError("a float image array holds values in [0, 1]")
        a = np.rint(a * 255).astype(np.uint8)
    h, w, c = a.shape
    return np.ascontiguousarray(a).tobytes(), h, w, c


class Model:
    """A classifier loaded with :func:`load`. Texts are ``str``; images are ``pathlib.Path``."""

    def __init__(self, inner: "_calig.Model"):
        self._m = inner

    @property
    def labels(self) -> list[str]:
        return self._m.labels

    @property
    def name(self) -> str:
        return self._m.name

    def __repr__(self) -> str:
        return f"Model({self.name!r}, labels={self.labels})"

    def predict(self, inputs: Union[str, Path, Sequence[Union[str, Path]]]):
        """One :class:`Prediction` per input (a single input gives a single one)."""
        single = isinstance(inputs, (str, os.PathLike))
        items = [inputs] if single else list(inputs)
        kinds = {_kind_of(x, "predict") for x in items}
        if "pixels" in kinds or len(kinds) > 1:
            raise TypeError("predict takes texts (str) or image paths (pathlib.Path), one kind "
                            "at a time")
        out = json.loads(self._m.predict([os.fspath(x) for x in items], kinds == {"path"}))
        preds = [Prediction(d, self.labels) for d in out]
        return preds[0] if single else preds

    def explain(self, input: Union[str, "os.PathLike[str]", np.ndarray, Any],
                method: str = "calig", target=None, steps: Union[int, str, None] = None,
                *, pair: Optional[str] = None, contrast=None, **settings) -> Explanation:
        """Explains one text (``str``) or image (a ``pathlib.Path``, a ``PIL.Image``, or a
        NumPy array (height, width[, channels]) of uint8 or of floats in [0, 1]). Anything
        else is a ``TypeError`` (a list goes to :meth:`explain_batch`). ``pair``: the second
        text of a sentence pair (``input`` is the first), joined as the model's tokenizer joins
        pairs; each word's ``segment`` (0 or 1) says which text it is in. ``contrast``: a label
        or class index to explain the target against (y_c − y_k, "why c rather than k"), or
        ``"rest"`` (the log-odds log p_c − log(1 − p_c)); text inputs.

        ``method``: one of :func:`methods` (calig, lig, ig, gxi, saliency, attention, rollout,
        gae, occlusion, attnlrp, chefer2021). ``target``: a label or class index (default: the
        predicted class). ``steps`` and ``settings``: the settings of :func:`settings`, as the
        CLI's flags take them (``lambda_`` for λ), e.g. ``steps="auto"``, ``tolerance=1e-3``,
        ``aggregation="sum"``, ``baseline="mask"``, ``layers=[1, 3]``, ``memory_mib=512``,
        ``no_truncate=True``. A setting the method does not read gives a warning.
        """
        given = _settings(dict(steps=steps, **settings))
        kind = _kind_of(input, "explain")
        if pair is not None or contrast is not None:
            if pair is not None and (kind != "text" or not isinstance(pair, str)):
                raise TypeError("a sentence pair is two str: explain(text, pair=text_pair)")
            if kind == "pixels":
                raise TypeError("contrast= takes a text or an image path, not an array")
            data, ignored = self._m.explain(os.fspath(input), method, given, _target(target),
                                            kind == "path", pair, _target(contrast))
            _warn_ignored(ignored, method)
            return Explanation(json.loads(data))
        if kind == "pixels":
            pixels, h, w, c = _pixels(input)
            data, ignored = self._m.explain_pixels(pixels, h, w, c, "array", method, given,
                                                   _target(target))
        else:
            data, ignored = self._m.explain(os.fspath(input), method, given, _target(target),
                                            kind == "path")
        _warn_ignored(ignored, method)
        return Explanation(json.loads(data))

    def explain_continuation(self, prompt: str, continuation: str, method: str = "ig",
                             steps: Union[int, str, None] = None, **settings) -> "Generation":
        """Generation attribution for a causal language model (``…ForCausalLM``): each token of
        ``continuation`` after ``prompt`` (teacher-forced) is explained by ``method``: its
        log-probability given the tokens before it, over those tokens. ``steps`` and
        ``settings`` as in :meth:`explain`."""
        if not isinstance(prompt, str) or not isinstance(continuation, str):
            raise TypeError("explain_continuation takes two str: the prompt and the continuation")
        given = _settings(dict(steps=steps, **settings))
        data, ignored = self._m.explain_continuation(prompt, continuation, method, given)
        _warn_ignored(ignored, method)
        return Generation(json.loads(data))

    def explain_batch(self, inputs: Iterable[Union[str, Path]], method: str = "calig",
                      targets=None, steps: Union[int, str, None] = None,
                      progress: bool = True, **settings) -> list[Explanation]:
        """Explains many inputs with the GIL released (other Python threads keep running) and
        a progress bar on stderr; ``method``, ``steps`` and ``settings`` as in :meth:`explain`."""
        if isinstance(inputs, (str, bytes, os.PathLike)):
            raise TypeError("explain_batch takes a list of inputs; for one, use explain")
        items = list(inputs)
        kinds = {_kind_of(x, "explain_batch") for x in items}
        if "pixels" in kinds:
            raise TypeError("explain_batch takes texts or image paths; explain image arrays one "
                            "at a time with explain")
        if len(kinds) > 1:
            raise TypeError("explain_batch takes texts or image paths, not both")
        given = _settings(dict(steps=steps, **settings))
        ts = None if targets is None else [_target(t) for t in targets]
        out, ignored = self._m.explain_batch([os.fspath(x) for x in items], method, given, ts,
                                             kinds == {"path"}, progress)
        _warn_ignored(ignored, method)
        return [Explanation(json.loads(d)) for d in out]


    def batch(self, input: Union[str, Path], output: Union[str, Path], method: str = "calig",
              *, steps: Union[int, str, None] = None, text_column: Optional[str] = None,
              image_column: Optional[str] = None, id_column: Optional[str] = None,
              target_column: Optional[str] = None, resume: bool = False,
              shard: Optional[str] = None, on_error: str = "fail", progress: bool = True,
              pair_column: Optional[str] = None, contrast=None, **settings) -> dict:
        """``calig batch``: explains every row of a .jsonl/.tsv/.csv file into the JSON-lines
        file ``output`` (one explanation per line with the row's ``line`` and ``id``; an
        ``id`` column is used when present, else the row index from 0). ``resume=True``
        continues an interrupted run, ``shard="I/N"`` takes every N-th row from I (merge the
        shards with ``calig batch --merge``), ``on_error="skip"`` lists bad rows in
        ``OUTPUT.errors.jsonl`` instead of stopping. ``method``, ``steps`` and ``settings`` as
        in :meth:`explain`. Returns a summary: ``explained``, ``already_done``, ``skipped``,
        ``errors_path``, ``seconds``. ``pair_column``: the column of a sentence pair's second
        text (``text_column`` holds the first); ``contrast``: a class or ``"rest"`` every row's
        target is explained against (as in :meth:`explain`). The GIL is released while it runs."""
        given = _settings(dict(steps=steps, **settings))
        summary, ignored = self._m.batch(str(input), str(output), method, given, text_column,
                                         image_column, id_column, target_column, resume, shard,
                                         on_error, progress, pair_column, _target(contrast))
        _warn_ignored(ignored, method)
        return json.loads(summary)

    def evaluate(self, dataset: Union[str, Path], methods: Union[str, Sequence[str]] = "",
                 *, attributions: Sequence[Union[str, Path]] = (),
                 metrics: Optional[Sequence[str]] = None, preset: Optional[str] = None,
                 removal: Optional[str] = None, limit: Optional[int] = None, seed: int = 0,
                 output: Union[str, Path] = "calig-eval", cache: Optional[Union[str, Path]] = None,
                 reference: Optional[str] = None, split: Optional[str] = None,
                 text_column: Optional[str] = None, label_column: str = "label",
                 id_column: Optional[str] = None, ids: Optional[Union[str, Path]] = None,
                 min_words: int = 0, sanity: bool = False, progress: bool = True,
                 image_removal: Optional[str] = None, pair_column: Optional[str] = None) -> dict:
        """``calig eval`` on this model (docs/evaluation.md): faithfulness and plausibility of
        the ``methods`` (entries as in the CLI, e.g. ``"calig,calig:lambda=1,ig,random"``, or a
        list of them) and of ``attributions`` made by other tools (JSON lines ``{"id": ...,
        "word_scores": [...]}``, one score per whitespace word; scored as ``file:<stem>``) on
        ``dataset``. Writes the CLI's files into ``output`` (results.md/.csv/.json,
        per_instance.csv, curves.csv, plots/) and returns results.json as a dict (``tables``:
        one per metric, each row a method with its mean, CI, Δ to the reference and Holm p).
        ``image_removal`` (images: ``"grey"``, the default, or ``"black"``) is the CLI's
        ``--image-removal``; ``pair_column`` the column of a sentence pair's second text
        (``--pair-column``). The GIL is released while it runs."""
        if not isinstance(methods, str):
            methods = ",".join(methods)
        data = self._m.evaluate(
            str(dataset), methods, [str(a) for a in attributions], list(metrics or []), preset,
            removal, limit, seed, str(output), None if cache is None else str(cache), reference,
            split, text_column, label_column, id_column, None if ids is None else str(ids),
            min_words, sanity, progress, image_removal, pair_column)
        return json.loads(data)


def evaluate(model: Union[str, "Model"], dataset: Union[str, Path],
             methods: Union[str, Sequence[str]] = "", **options) -> dict:
    """:meth:`Model.evaluate` on a loaded :class:`Model` or on a model name / directory."""
    m = model if isinstance(model, Model) else load(str(model))
    return m.evaluate(dataset, methods, **options)


def _target(t) -> Optional[str]:
    return None if t is None else str(t)


def load(model: str, dtype: str = "f32", device: str = "cpu", tf32: bool = False) -> Model:
    """Loads a built-in model (``calig models``), a checkpoint directory or a hub id in the local
    Hugging Face cache, as the CLI does. ``dtype``: ``"f32"``, ``"f64"``, or for GPUs ``"bf16"``
    and ``"f16"``; ``device``: ``"cpu"`` or ``"cuda"`` (a CUDA build); ``tf32=True`` lets f32
    matrix products on CUDA use TF32 tensor cores (process-wide, like PyTorch's
    ``torch.backends.cuda.matmul.allow_tf32``)."""
    for name, value in (("model", model), ("dtype", dtype), ("device", device)):
        if not isinstance(value, (str, Path)) or (name != "model" and isinstance(value, Path)):
            raise TypeError(f"load: {name} must be a str, not {type(value).__name__}")
    if not isinstance(tf32, bool):
        raise TypeError(f"load: tf32 must be a bool, not {type(tf32).__name__}")
    return Model(_calig.load(str(model), dtype, device, tf32))


def methods() -> list:
    """The methods calig offers (its method table): one dict each with ``name``, ``summary``,
    ``signed``, ``uses_reference`` and ``integrates_path``."""
    return json.loads(_calig.methods_table())


def settings() -> list:
    """The settings the methods read (calig's settings table), as :meth:`Model.explain` takes
    them: one dict each with ``name``, ``default``, ``values``, ``methods`` (which read it) and
    ``doc``."""
    return json.loads(_calig.settings_table())


def _settings_doc() -> str:
    lines = ["", "        Settings (``calig.settings()``):", ""]
    for s in settings():
        lines.append(f"        - ``{s['name']}`` (default {s['default']}; {s['values']}): {s['doc']}")
    return "\n".join(lines) + "\n"


Model.explain.__doc__ = (Model.explain.__doc__ or "") + _settings_doc()
