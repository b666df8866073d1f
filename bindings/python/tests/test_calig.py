"""The Python package against the CLI on the fixture models (tests/fixtures/), run by
scripts/test.sh: the same numbers, NumPy shapes and dtypes, exceptions, the notebook HTML, and
the GIL released during long calls."""

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import calig

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures"
CLI = Path(os.environ.get("CALIG_BIN", REPO / "target" / "debug" / "calig"))
TEXT = "a gorgeous , witty movie ."


def cli_json(model: Path, method: str, *args: str) -> dict:
    out = subprocess.run([str(CLI), "explain", "--model", str(model), "--method", method,
                          "--format", "json", *args], check=True, capture_output=True)
    return json.loads(out.stdout)


def without_timing(d: dict) -> dict:
    d = dict(d)
    d.pop("timing_ms", None)
    return d


@pytest.mark.parametrize("family", ["bert", "roberta", "xlmr", "distilbert"])
@pytest.mark.parametrize("method", ["calig", "ig", "gae", "attnlrp"])
def test_text_results_equal_the_cli_json(family, method):
    text = "ይህ ጥሩ ነው" if family == "xlmr" else TEXT
    m = calig.load(str(FIXTURES / family))
    e = m.explain(text, method=method, steps=8)
    want = cli_json(FIXTURES / family, method, "--steps", "8", text)
    assert without_timing(e.to_dict()) == without_timing(want)


def test_a_sentence_pair_equals_the_cli_json():
    m = calig.load(str(FIXTURES / "bert"))
    e = m.explain("a gorgeous movie", pair="it was dull", method="ig", steps=8)
    want = cli_json(FIXTURES / "bert", "ig", "--steps", "8", "--pair", "a gorgeous movie",
                    "it was dull")
    assert without_timing(e.to_dict()) == without_timing(want)
    assert e.word_segments == [0, 0, 0, 1, 1, 1]
    with pytest.raises(TypeError, match="two str"):
        m.explain("a gorgeous movie", pair=["it", "was"])


def test_a_decoder_classifier_equals_the_cli_json():
    # LlamaForSequenceClassification (tests/fixtures/llama): the head reads the last token.
    m = calig.load(str(FIXTURES / "llama"))
    e = m.explain(TEXT, method="calig", steps=8)
    want = cli_json(FIXTURES / "llama", "calig", "--steps", "8", TEXT)
    assert without_timing(e.to_dict()) == without_timing(want)
    assert e.readout_token == len(e.tokens) - 1
    assert e.layers.shape == (4, len(e.tokens))
    pair = m.explain("a gorgeous movie", pair="it was dull", method="gae")
    assert pair.readout_token == len(pair.tokens) - 1 and 1 in pair.word_segments


def test_a_continuation_equals_the_cli_json():
    # LlamaForCausalLM with tied embeddings (tests/fixtures/llama-lm).
    m = calig.load(str(FIXTURES / "llama-lm"))
    g = m.explain_continuation("a gorgeous , witty", " movie that", method="ig", steps=8)
    out = subprocess.run([str(CLI), "explain", "--model", str(FIXTURES / "llama-lm"), "--method",
                          "ig", "--steps", "8", "--continuation", " movie that", "--format",
                          "json", "a gorgeous , witty"], check=True, capture_output=True)
    assert without_timing(g.to_dict()) == without_timing(json.loads(out.stdout))
    assert g.matrix.shape == (len(g.continuation_tokens), len(g.tokens))
    assert g.matrix[0, g.prompt_tokens:].tolist() == [0.0] * (len(g.tokens) - g.prompt_tokens)
    assert (g.log_probs < 0).all()
    with pytest.raises(TypeError, match="two str"):
        m.explain_continuation("a gorgeous", [" movie"])


def test_a_contrast_equals_the_cli_json():
    m = calig.load(str(FIXTURES / "bert"))
    e = m.explain(TEXT, method="ig", steps=8, target="positive", contrast="negative")
    want = cli_json(FIXTURES / "bert", "ig", "--steps", "8", "--target", "positive",
                    "--contrast", "negative", TEXT)
    assert without_timing(e.to_dict()) == without_timing(want)
    assert e.to_dict()["contrast"] == {"kind": "class", "index": 0, "label": "negative"}
    with pytest.raises(ValueError, match="target class itself"):
        m.explain(TEXT, target="positive", contrast="positive")


def test_image_results_equal_the_cli_json():
    m = calig.load(str(FIXTURES / "vit"))
    image = FIXTURES / "vit" / "image.png"
    e = m.explain(image, method="ig", steps=8)
    want = cli_json(FIXTURES / "vit", "ig", "--steps", "8", "--image", str(image))
    assert without_timing(e.to_dict()) == without_timing(want)
    assert e.scores.shape == (16,)  # the 4 x 4 patch grid


def test_parameters_pass_through():
    m = calig.load(str(FIXTURES / "bert"))
    e = m.explain(TEXT, method="calig", steps=8, lambda_=1.0, aggregation="sum")
    want = cli_json(FIXTURES / "bert", "calig", "--steps", "8", "--lambda", "1",
                    "--aggregation", "sum", TEXT)
    assert e.params == want["params"]
    np.testing.assert_array_equal(e.scores, want["scores"])
    lig = m.explain(TEXT, method="lig", steps=8, layers=[1, 2])
    assert np.isnan(lig.layers[0]).all() and not np.isnan(lig.layers[1]).any()
    # A design variant by keyword, as the CLI's --cls: [CLS] hands its relevance on (and, with
    # sum aggregation, none comes back to it).
    spread = m.explain(TEXT, method="calig", steps=8, cls="spread", aggregation="sum")
    want = cli_json(FIXTURES / "bert", "calig", "--steps", "8", "--cls", "spread",
                    "--aggregation", "sum", TEXT)
    assert spread.params["cls"] == "spread" == want["params"]["cls"]
    np.testing.assert_array_equal(spread.scores, want["scores"])
    assert spread.scores[0] == 0.0


def test_every_setting_of_the_table_is_a_keyword_as_the_cli_takes_it():
    """The keywords come from calig's settings table: what the CLI's flags accept (steps=auto,
    tolerance, memory_mib, non-contiguous layers, no_truncate) Python accepts too."""
    m = calig.load(str(FIXTURES / "bert"))
    names = {s["name"] for s in calig.settings()}
    assert {"steps", "tolerance", "memory_mib", "no_truncate", "layers", "lambda"} <= names
    assert all(s["name"] in Model_explain_doc() for s in calig.settings())
    auto = m.explain(TEXT, method="lig", steps="auto", tolerance=1e-3, layers=[0, 2],
                     memory_mib=64)
    want = cli_json(FIXTURES / "bert", "lig", "--steps", "auto", "--tolerance", "0.001",
                    "--layers", "0,2", "--memory-mib", "64", TEXT)
    assert auto.params == want["params"]
    assert auto.params["steps_auto_tolerance"] == 1e-3 and auto.params["layers"] == [0, 2]
    np.testing.assert_array_equal(auto.scores, want["scores"])
    assert np.isnan(auto.layers[1]).all() and not np.isnan(auto.layers[2]).any()
    with pytest.raises(ValueError, match="202 tokens, more than the model's maximum of 64"):
        m.explain("good " * 100, method="gxi", no_truncate=True)
    assert len(m.explain("good " * 100, method="gxi").tokens) == 64
    with pytest.warns(UserWarning, match="lambda is ignored by method gae"):
        m.explain(TEXT, method="gae", lambda_=0.3)
    with pytest.raises(ValueError, match="tolerance must be a positive number"):
        m.explain(TEXT, method="ig", steps="auto", tolerance=-1)
    with pytest.raises(ValueError, match="neither a number of steps nor `auto`"):
        m.explain(TEXT, method="ig", steps="lots")


def Model_explain_doc() -> str:
    return calig.Model.explain.__doc__


def test_arrays_have_documented_shapes_and_dtypes():
    m = calig.load(str(FIXTURES / "bert"))
    e = m.explain(TEXT, method="calig", steps=8)
    n_tokens, n_words, n_layers = len(e.tokens), len(e.word_texts), 3
    for name, shape in [("scores", (n_tokens,)), ("word_scores", (n_words,)),
                        ("layers", (n_layers + 1, n_tokens)), ("logits", (3,)),
                        ("probs", (3,)), ("r", (n_layers + 1, n_tokens)),
                        ("a", (n_layers + 1, n_tokens)), ("s", (n_layers + 1, n_tokens))]:
        arr = getattr(e, name)
        assert isinstance(arr, np.ndarray) and arr.dtype == np.float64, name
        assert arr.shape == shape, (name, arr.shape)
    np.testing.assert_allclose(e.words("sum"), e.word_scores)
    assert e.words("absmax").shape == (n_words,)
    assert abs(e.probs.sum() - 1) < 1e-9
    with pytest.raises(ValueError):
        e.words("median")


def test_predictions_match_the_cli():
    m = calig.load(str(FIXTURES / "bert"))
    p = m.predict(TEXT)
    out = subprocess.run([str(CLI), "predict", "--model", str(FIXTURES / "bert"), TEXT,
                          "--format", "json"], check=True, capture_output=True)
    want = json.loads(out.stdout)
    assert p.label == want["prediction"]["label"]
    np.testing.assert_array_equal(p.logits, [l["logit"] for l in want["labels"]])
    assert len(m.predict([TEXT, "dull"])) == 2


def test_errors_are_python_exceptions_with_calig_messages():
    with pytest.raises(FileNotFoundError, match="no/such"):
        calig.load("/no/such/model-dir")
    m = calig.load(str(FIXTURES / "bert"))
    with pytest.raises(ValueError, match="target `joy`"):
        m.explain(TEXT, target="joy")
    with pytest.raises(ValueError, match="method"):
        m.explain(TEXT, method="shapley")
    with pytest.raises(ValueError, match="unknown parameter `lamda`"):
        m.explain(TEXT, lamda=1)
    with pytest.raises(ValueError, match="image"):
        m.explain(FIXTURES / "vit" / "image.png")
    with pytest.raises(ValueError, match="empty"):
        m.explain("   ")
    with pytest.raises(ValueError, match="dtype `int8`"):
        calig.load(str(FIXTURES / "bert"), dtype="int8")
    with pytest.raises(TypeError, match="tf32 must be a bool"):
        calig.load(str(FIXTURES / "bert"), tf32="yes")


def test_notebook_html_and_files(tmp_path):
    m = calig.load(str(FIXTURES / "bert"))
    e = m.explain(TEXT, method="gxi")
    # The notebook gets a fragment (issue 27); the page is html() and what save(".html") writes.
    html = e.html()
    assert html.startswith("<!DOCTYPE html>") and "gxi explanation" in html
    assert e._repr_html_().startswith('<div class="calig-report-v1">')
    e.save(tmp_path / "e.json")
    e.save(tmp_path / "e.html")
    assert json.loads((tmp_path / "e.json").read_text())["method"] == "gxi"
    assert (tmp_path / "e.html").read_text() == html


def test_to_torch_shares_memory():
    torch = pytest.importorskip("torch")
    e = calig.load(str(FIXTURES / "bert")).explain(TEXT, method="gxi")
    t = e.to_torch("scores")
    assert isinstance(t, torch.Tensor) and t.data_ptr() == e.scores.ctypes.data


def test_the_gil_is_released_during_batches():
    m = calig.load(str(FIXTURES / "bert"))
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    start = time.perf_counter()
    out = m.explain_batch([TEXT] * 40, method="calig", steps=20, progress=False)
    end = time.perf_counter()
    stop.set()
    t.join()
    assert len(out) == 40
    during = [x for x in ticks if start < x < end]
    # With the GIL held for the whole call the other thread could not tick at all.
    assert len(during) > 0.2 * (end - start) / 0.001 * 0.1, (len(during), end - start)


def _table(tmp_path: Path) -> Path:
    rows = ["a gorgeous , witty and moving film\tpositive",
            "dull , lifeless and far too long\tnegative",
            "the plot is thin but the actors are charming\tpositive",
            "nothing here is worth the ticket\tnegative"]
    p = tmp_path / "d.tsv"
    p.write_text("sentence\tlabel\n" + "\n".join(rows) + "\n")
    return p


def test_evaluate_equals_the_cli_and_scores_outside_attributions(tmp_path):
    data = _table(tmp_path)
    methods = "ig:steps=8,gxi,random"
    cli_out = tmp_path / "cli"
    subprocess.run([str(CLI), "eval", "--model", str(FIXTURES / "bert"), "--dataset", str(data),
                    "--methods", methods, "--output", str(cli_out)], check=True,
                   capture_output=True)
    want = json.loads((cli_out / "results.json").read_text())
    got = calig.evaluate(str(FIXTURES / "bert"), data, methods.split(","),
                         output=tmp_path / "py", progress=False)
    assert got["n"] == want["n"] == 4
    assert got["tables"] == want["tables"]
    assert (tmp_path / "py" / "per_instance.csv").read_text() == \
        (cli_out / "per_instance.csv").read_text()
    # gxi's word scores handed back as attributions "made elsewhere" score the same.
    ex = calig.load(str(FIXTURES / "bert"))
    lines = []
    for i, e in enumerate(want["examples"]):
        text = data.read_text().splitlines()[1 + i].split("\t")[0]
        word_scores = ex.explain(text, method="gxi").to_dict()["word_scores"]
        lines.append(json.dumps({"id": e["id"], "word_scores": word_scores}))
    ext = tmp_path / "gxi_elsewhere.jsonl"
    ext.write_text("\n".join(lines) + "\n")
    res = ex.evaluate(data, "gxi", attributions=[ext], metrics=["comprehensiveness"],
                      output=tmp_path / "ext", progress=False)
    table = next(t for t in res["tables"] if t["metric"] == "comprehensiveness_aopc")
    rows = {r["method"]: r for r in table["rows"]}
    assert rows["gxi"]["mean"]["mean"] == pytest.approx(
        rows["file:gxi_elsewhere"]["mean"]["mean"], abs=1e-9)


def test_evaluate_takes_sentence_pairs_as_the_cli_does(tmp_path):
    data = tmp_path / "nli.tsv"
    data.write_text("premise\thypothesis\tlabel\n"
                    "a gorgeous movie\tit is a delight\tpositive\n"
                    "a gorgeous movie\tit is dull\tnegative\n")
    args = ["--text-column", "premise", "--pair-column", "hypothesis", "--methods", "ig:steps=8"]
    subprocess.run([str(CLI), "eval", "--model", str(FIXTURES / "bert"), "--dataset", str(data),
                    "--output", str(tmp_path / "cli"), *args], check=True, capture_output=True)
    want = json.loads((tmp_path / "cli" / "results.json").read_text())
    got = calig.evaluate(str(FIXTURES / "bert"), data, "ig:steps=8", text_column="premise",
                         pair_column="hypothesis", output=tmp_path / "py", progress=False)
    assert got["n"] == want["n"] == 2
    assert got["tables"] == want["tables"]


def test_evaluate_takes_the_ferret_preset_and_an_id_list(tmp_path):
    data = _table(tmp_path)
    ids = tmp_path / "ids.txt"
    ids.write_text("0\n2\n")
    res = calig.evaluate(str(FIXTURES / "bert"), data, "gxi,random", preset="ferret", ids=ids,
                         output=tmp_path / "f", progress=False)
    assert res["n"] == 2 and [e["id"] for e in res["examples"]] == ["0", "2"]
    assert {t["metric"] for t in res["tables"]} == {"aopc_compr", "aopc_suff", "taucorr_loo"}
    assert (tmp_path / "f" / "ferret" / "gxi.jsonl").is_file()


def test_evaluate_errors_are_python_exceptions(tmp_path):
    data = _table(tmp_path)
    m = calig.load(str(FIXTURES / "bert"))
    with pytest.raises(ValueError, match="nothing to evaluate"):
        m.evaluate(data, "", output=tmp_path / "o", progress=False)
    with pytest.raises(ValueError, match="removal `sideways`"):
        m.evaluate(data, "random", removal="sideways", output=tmp_path / "o", progress=False)
    with pytest.raises(ValueError, match="image_removal `white`"):
        m.evaluate(data, "random", image_removal="white", output=tmp_path / "o", progress=False)
    with pytest.raises(ValueError, match="image_removal= applies to images"):
        m.evaluate(data, "random", image_removal="black", output=tmp_path / "o", progress=False)
    with pytest.raises(FileNotFoundError):
        m.evaluate(tmp_path / "missing.tsv", "random", output=tmp_path / "o", progress=False)
    assert not (tmp_path / "o").exists()


def test_batch_resumes_shards_and_matches_the_cli(tmp_path):
    """calig batch's job from Python: the same records as the CLI, resumable, sharded."""
    rows = tmp_path / "in.tsv"
    rows.write_text("text\tlabel\n" + "".join(f"row {i} is fine\t1\n" for i in range(5)))
    m = calig.load(str(FIXTURES / "bert"))
    out = tmp_path / "py.jsonl"
    s = m.batch(rows, out, method="gxi", progress=False)
    assert s["explained"] == 5 and s["already_done"] == 0
    records = [json.loads(l) for l in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["0", "1", "2", "3", "4"]
    cli = tmp_path / "cli.jsonl"
    subprocess.run([str(CLI), "batch", "--model", str(FIXTURES / "bert"), "--method", "gxi",
                    "--input", str(rows), "--output", str(cli)], check=True, capture_output=True)
    want = [json.loads(l) for l in cli.read_text().splitlines()]
    assert [without_timing(r) for r in records] == [without_timing(r) for r in want]
    again = m.batch(rows, out, method="gxi", resume=True, progress=False)
    assert again["explained"] == 0 and again["already_done"] == 5
    with pytest.raises(ValueError, match="already has results"):
        m.batch(rows, out, method="gxi", progress=False)
    half = m.batch(rows, tmp_path / "s0.jsonl", method="gxi", shard="0/2", progress=False)
    assert half["explained"] == 3
    with pytest.raises(ValueError, match="shard"):
        m.batch(rows, tmp_path / "s.jsonl", method="gxi", shard="2/2")


def _png(path: Path, pixels: np.ndarray) -> None:
    """A minimal 8-bit RGB PNG writer (no PIL needed), for comparing array and file inputs."""
    import struct
    import zlib

    h, w, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_explain_type_checks_its_input_and_takes_image_arrays(tmp_path):
    m = calig.load(str(FIXTURES / "bert"))
    for bad, needle in [(None, "not NoneType"), (b"good movie", "decode"),
                        (["good", "bad"], "explain_batch"), (3, "not int")]:
        with pytest.raises(TypeError, match=needle):
            m.explain(bad)
    with pytest.raises(TypeError, match="for one, use explain"):
        m.explain_batch("good movie")
    v = calig.load(str(FIXTURES / "vit"))
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    _png(tmp_path / "a.png", pixels)
    from_file = v.explain(tmp_path / "a.png", method="gxi")
    from_array = v.explain(pixels, method="gxi")
    np.testing.assert_array_equal(from_array.scores, from_file.scores)
    from_floats = v.explain(pixels.astype(np.float64) / 255.0, method="gxi")
    np.testing.assert_array_equal(from_floats.scores, from_file.scores)
    with pytest.raises(ValueError, match=r"1\|3\|4"):
        v.explain(np.zeros((8, 8, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        v.explain(np.full((8, 8), 2.0))
    # Errors in Python's words: no command-line flag in them.
    with pytest.raises(ValueError) as e:
        v.explain("a text for an image model")
    assert "--" not in str(e.value) and "give it an image" in str(e.value)


def test_save_writes_by_suffix_and_load_reads_it_back(tmp_path):
    m = calig.load(str(FIXTURES / "bert"))
    e = m.explain(TEXT, method="gxi")
    e.save(tmp_path / "e.json")
    back = calig.Explanation.load(tmp_path / "e.json")
    assert back.to_dict() == e.to_dict()
    e.save(tmp_path / "e.html")
    assert (tmp_path / "e.html").read_text().startswith("<!DOCTYPE html>")
    e.save(tmp_path / "e.png")
    assert (tmp_path / "e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    e.save(tmp_path / "e.svg")
    svg = (tmp_path / "e.svg").read_text()
    assert svg.startswith("<svg xmlns=") and "</text>" in svg and "<image" not in svg
    for bad in ("e.txt", "fig", "e.jpg"):
        with pytest.raises(ValueError, match="save writes .json, .html, .png or .svg"):
            e.save(tmp_path / bad)
        assert not (tmp_path / bad).exists()
    rows = tmp_path / "in.tsv"
    rows.write_text("text\nfine\ndull\n")
    m.batch(rows, tmp_path / "out.jsonl", method="gxi", progress=False)
    many = calig.Explanation.load(tmp_path / "out.jsonl")
    assert [x.tokens for x in many] == [m.explain(t, method="gxi").tokens for t in ("fine", "dull")]
    (tmp_path / "broken.json").write_text("{\"schema\": 1}")
    with pytest.raises(ValueError, match="broken.json"):
        calig.Explanation.load(tmp_path / "broken.json")


def test_notebook_html_is_a_scoped_fragment():
    e = calig.load(str(FIXTURES / "bert")).explain(TEXT, method="calig", steps=4)
    frag = e._repr_html_()
    assert frag.startswith('<div class="calig-report-v1"><style>')
    assert "<!DOCTYPE" not in frag and "<body" not in frag and "body{" not in frag
    style = frag[frag.index("<style>") + 7:frag.index("</style>")]
    for rule in filter(str.strip, style.split("}")):
        for selector in rule.split("{")[0].split(","):
            assert selector.strip().startswith(".calig-report-v1"), selector
    assert e.html().startswith("<!DOCTYPE html>")


def test_reduced_precision_loads_and_says_so():
    """bf16 and f16 (meant for GPUs) run on the CPU too, and the explanation says which."""
    ref = calig.load(str(FIXTURES / "bert")).explain("a gorgeous movie", method="ig")
    for dtype in ("bf16", "f16"):
        e = calig.load(str(FIXTURES / "bert"), dtype=dtype).explain("a gorgeous movie", method="ig")
        assert json.loads(e.to_json())["dtype"] == dtype
        a, b = e.word_scores, ref.word_scores
        num = sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5
        assert num <= 0.1 * sum(y * y for y in b) ** 0.5, (dtype, a, b)
