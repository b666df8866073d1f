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
import warnings
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np

from . import _calig

__all__ = ["load", "evaluate", "methods", "settings", "Model", "Explanation", "Prediction",
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


class Explanation:
    """One explanation, as ``calig explain --format json`` writes it (docs/json-schema.md).

    Arrays (float64): ``scores`` (tokens, or patches for images), ``word_scores`` (words, the
    sum of their sub-tokens; ``words(agg=...)`` for other aggregations),
    ``layers`` (L + 1, tokens) with NaN rows for layers without a value, ``logits`` and
    ``probs`` (classes). ``r``, ``a``, ``s`` hold CA-LIG's parts per layer (L + 1, tokens).
    """

    def __init__(self, data: dict, html: str):
        self._data = data
        self._html = html
        self.method: str = data["method"]
        self.tokens: list[str] = data["tokens"]
        #: the words: {"text", "start", "end", "token_range"} each (text models)
        self.word_spans: list[dict] = data["words"]
        self.word_texts: list[str] = [w["text"] for w in self.word_spans]
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

    def save(self, path: Union[str, Path]) -> None:
        """Writes the JSON (``.json``) or the HTML report (``.html``)."""
        path = Path(path)
        text = self._html if path.suffix.lower() in (".html", ".htm") else self.to_json(indent=1)
        path.write_text(text, encoding="utf-8")

    def html(self) -> str:
        """The self-contained HTML report (the same page as ``--format html``)."""
        return self._html

    def _repr_html_(self) -> str:
        return self._html

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
    return isinstance(x, Path)


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
        single = isinstance(inputs, (str, Path))
        items = [inputs] if single else list(inputs)
        image = bool(items) and _is_image(items[0])
        out = json.loads(self._m.predict([str(x) for x in items], image))
        preds = [Prediction(d, self.labels) for d in out]
        return preds[0] if single else preds

    def explain(self, input: Union[str, Path], method: str = "calig", target=None,
                steps: Union[int, str, None] = None, **settings) -> Explanation:
        """Explains one text (``str``) or image (``pathlib.Path``).

        ``method``: one of :func:`methods` (calig, lig, ig, gxi, saliency, attention, rollout,
        gae, occlusion, attnlrp, chefer2021). ``target``: a label or class index (default: the
        predicted class). ``steps`` and ``settings``: the settings of :func:`settings`, as the
        CLI's flags take them (``lambda_`` for λ), e.g. ``steps="auto"``, ``tolerance=1e-3``,
        ``aggregation="sum"``, ``baseline="mask"``, ``layers=[1, 3]``, ``memory_mib=512``,
        ``no_truncate=True``. A setting the method does not read gives a warning.
        """
        given = _settings(dict(steps=steps, **settings))
        data, html, ignored = self._m.explain(str(input), method, given, _target(target),
                                              _is_image(input))
        _warn_ignored(ignored, method)
        return Explanation(json.loads(data), html)

    def explain_batch(self, inputs: Iterable[Union[str, Path]], method: str = "calig",
                      targets=None, steps: Union[int, str, None] = None,
                      progress: bool = True, **settings) -> list[Explanation]:
        """Explains many inputs with the GIL released (other Python threads keep running) and
        a progress bar on stderr; ``method``, ``steps`` and ``settings`` as in :meth:`explain`."""
        items = list(inputs)
        image = bool(items) and _is_image(items[0])
        given = _settings(dict(steps=steps, **settings))
        ts = None if targets is None else [_target(t) for t in targets]
        pairs, ignored = self._m.explain_batch([str(x) for x in items], method, given, ts, image,
                                               progress)
        _warn_ignored(ignored, method)
        return [Explanation(json.loads(d), h) for d, h in pairs]


    def batch(self, input: Union[str, Path], output: Union[str, Path], method: str = "calig",
              *, steps: Union[int, str, None] = None, text_column: Optional[str] = None,
              image_column: Optional[str] = None, id_column: Optional[str] = None,
              target_column: Optional[str] = None, resume: bool = False,
              shard: Optional[str] = None, on_error: str = "fail", progress: bool = True,
              **settings) -> dict:
        """``calig batch``: explains every row of a .jsonl/.tsv/.csv file into the JSON-lines
        file ``output`` (one explanation per line with the row's ``line`` and ``id``; an
        ``id`` column is used when present, else the row index from 0). ``resume=True``
        continues an interrupted run, ``shard="I/N"`` takes every N-th row from I (merge the
        shards with ``calig batch --merge``), ``on_error="skip"`` lists bad rows in
        ``OUTPUT.errors.jsonl`` instead of stopping. ``method``, ``steps`` and ``settings`` as
        in :meth:`explain`. Returns a summary: ``explained``, ``already_done``, ``skipped``,
        ``errors_path``, ``seconds``. The GIL is released while it runs."""
        given = _settings(dict(steps=steps, **settings))
        summary, ignored = self._m.batch(str(input), str(output), method, given, text_column,
                                         image_column, id_column, target_column, resume, shard,
                                         on_error, progress)
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
                 image_removal: Optional[str] = None) -> dict:
        """``calig eval`` on this model (docs/evaluation.md): faithfulness and plausibility of
        the ``methods`` (entries as in the CLI, e.g. ``"calig,calig:lambda=1,ig,random"``, or a
        list of them) and of ``attributions`` made by other tools (JSON lines ``{"id": ...,
        "word_scores": [...]}``, one score per whitespace word; scored as ``file:<stem>``) on
        ``dataset``. Writes the CLI's files into ``output`` (results.md/.csv/.json,
        per_instance.csv, curves.csv, plots/) and returns results.json as a dict (``tables``:
        one per metric, each row a method with its mean, CI, Δ to the reference and Holm p).
        ``image_removal`` (images: ``"grey"``, the default, or ``"black"``) is the CLI's
        ``--image-removal``. The GIL is released while it runs."""
        if not isinstance(methods, str):
            methods = ",".join(methods)
        data = self._m.evaluate(
            str(dataset), methods, [str(a) for a in attributions], list(metrics or []), preset,
            removal, limit, seed, str(output), None if cache is None else str(cache), reference,
            split, text_column, label_column, id_column, None if ids is None else str(ids),
            min_words, sanity, progress, image_removal)
        return json.loads(data)


def evaluate(model: Union[str, "Model"], dataset: Union[str, Path],
             methods: Union[str, Sequence[str]] = "", **options) -> dict:
    """:meth:`Model.evaluate` on a loaded :class:`Model` or on a model name / directory."""
    m = model if isinstance(model, Model) else load(str(model))
    return m.evaluate(dataset, methods, **options)


def _target(t) -> Optional[str]:
    return None if t is None else str(t)


def load(model: str, dtype: str = "f32", device: str = "cpu") -> Model:
    """Loads a built-in model (``calig models``), a checkpoint directory or a hub id in the local
    Hugging Face cache, as the CLI does. ``dtype``: ``"f32"`` or ``"f64"``."""
    return Model(_calig.load(str(model), dtype, device))


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
