#!/usr/bin/env python3
"""calig on CUDA against calig on the CPU, and what reduced precision costs (run.sh, step 1).

    python3 check.py CALIG OUT.json [--quick]

For each model below (the tiny test fixtures, and the built-in models that travelled with the
run), `calig explain --format json` once per configuration with every method of the list:
cpu f32 (the reference), cuda f32, cuda tf32 (`--tf32`), cuda bf16 and cuda f16. Against the cpu
f32 run, per method: the relative L2 distance of the token scores (and of every layer's map where
the method has them), the share of the top-5 words both runs rank highest, the largest logit
difference, and the run's own completeness delta. f32 on CUDA must match the CPU within 1e-4
(relative L2); the other precisions are measured, not judged. No third-party packages.
"""
import json
import math
import os
import subprocess
import sys
import time

FIXTURE_TEXT = "a gorgeous , witty movie that never quite finds its ending"
# Two tweets from the Amharic hate-speech dev set (../shared/data/amharic_hate_ranlp2023, CC BY 4.0),
# the data xlmr-amharic was trained on.
AMHARIC = "ድርድር ፈርቶ፣ ጦርነት። በጠረጴዛ ዙርያ መወያየት እንደዚህ አስፈሪ አይመስለኝም ነበር።"
FIXTURE_METHODS = "calig,ig,lig,gae,attnlrp,rollout,chefer2021,saliency,gxi,occlusion"
REAL_METHODS = "calig,ig,attnlrp,gae"
# (name, checkpoint, input, methods, configurations): the fixtures check parity (and bf16), the
# real models measure every precision.
PARITY, ALL = ("cpu f32", "cuda f32", "cuda bf16"), None
MODELS = [
    ("bert fixture", "tests/fixtures/bert", [FIXTURE_TEXT], FIXTURE_METHODS, PARITY),
    ("roberta fixture", "tests/fixtures/roberta", [FIXTURE_TEXT], FIXTURE_METHODS, PARITY),
    ("vit fixture", "tests/fixtures/vit", ["--image", "tests/fixtures/vit/image.png"],
     FIXTURE_METHODS, PARITY),
    ("xlmr-amharic", "models/xlmr-amharic", [AMHARIC], REAL_METHODS, ALL),
    ("vit-fashion-mae", "models/vit-fashion-mae",
     ["--image", "models-src/vit-fashion-mae/examples/test00000_ankle-boot.png"], REAL_METHODS,
     ALL),
]
CONFIGS = [
    ("cpu f32", ["--device", "cpu"]),
    ("cuda f32", ["--device", "cuda"]),
    ("cuda tf32", ["--device", "cuda", "--tf32"]),
    ("cuda bf16", ["--device", "cuda", "--dtype", "bf16"]),
    ("cuda f16", ["--device", "cuda", "--dtype", "f16"]),
]
F32_PARITY = 1e-4


def flat(x):
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in flat(item)]
    return [float(x)] if isinstance(x, (int, float)) else []


def rel_l2(a, b):
    if len(a) != len(b) or not b:
        return float("nan")
    num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    den = math.sqrt(sum(y * y for y in b))
    return num / den if den > 0 else num


def layer_maps(e):
    layers = e.get("layers") or []
    return flat([layer.get("scores", layer) if isinstance(layer, dict) else layer
                 for layer in layers])


def top_words(e, k=5):
    scores = e.get("word_scores") or e.get("scores") or []
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    return set(order[:k])


def run(calig, model, inputs, methods, args):
    cmd = [calig, "explain", "--model", model, "--method", methods, "--format", "json",
           *args, *inputs]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=float(
        os.environ.get("CALL_TIMEOUT", "60")))
    took = time.perf_counter() - t
    if p.returncode != 0:
        # The error line, not the backtrace after it.
        lines = [l for l in p.stderr.splitlines() if l.lower().startswith("error")]
        return None, took, (lines[0] if lines else p.stderr.strip()[-400:])[:400]
    out = json.loads(p.stdout)
    return (out if isinstance(out, list) else [out]), took, ""


def main():
    calig, out_path = sys.argv[1], sys.argv[2]
    quick = "--quick" in sys.argv
    rows, failures = [], []
    for name, model, inputs, methods, wanted in MODELS:
        if not os.path.exists(model):
            failures.append({"model": name, "error": f"{model} is not here"})
            continue
        ref = None
        configs = [c for c in CONFIGS if wanted is None or c[0] in wanted]
        for config, args in configs[: 2 if quick else None]:
            got, took, err = run(calig, model, inputs, methods, args)
            print(f"{name:16} {config:10} {took:6.1f} s {'ok' if got else 'FAILED ' + err}",
                  flush=True)
            if got is None:
                failures.append({"model": name, "config": config, "error": err})
                continue
            if ref is None:
                ref = {e["method"]: e for e in got}
                continue
            for e in got:
                r = ref.get(e["method"])
                if r is None:
                    continue
                a, b = flat(e.get("scores")), flat(r.get("scores"))
                la, lb = layer_maps(e), layer_maps(r)
                ta, tb = top_words(e), top_words(r)
                rows.append({
                    "model": name, "config": config, "method": e["method"],
                    "rel_l2_scores": rel_l2(a, b),
                    "rel_l2_layers": rel_l2(la, lb) if lb else None,
                    "top5_agreement": len(ta & tb) / max(1, len(tb)),
                    "max_logit_diff": max(abs(x - y) for x, y in
                                          zip(flat(e["logits"]), flat(r["logits"]))),
                    "delta": e.get("convergence_delta"),
                    "delta_cpu_f32": r.get("convergence_delta"),
                    "timing_ms": e.get("timing_ms"),
                    "timing_ms_cpu_f32": r.get("timing_ms"),
                })
    f32 = [r for r in rows if r["config"] == "cuda f32"]
    worst = max((max(r["rel_l2_scores"], r["rel_l2_layers"] or 0) for r in f32), default=None)
    summary = {
        "f32_parity_tolerance": F32_PARITY,
        "cuda_f32_worst_rel_l2": worst,
        "cuda_f32_parity": worst is not None and worst <= F32_PARITY and not failures,
        "cuda_f32_worst_logit_diff": max((r["max_logit_diff"] for r in f32), default=None),
        "rows": rows,
        "failures": failures,
    }
    print(f"{'model':16} {'config':10} {'method':10} {'relL2':>9} {'layers':>9} {'top5':>5} "
          f"{'dlogit':>9} {'delta':>10} {'ms':>8} {'cpu ms':>8}")
    for r in rows:
        def fmt(v, spec):
            return format(v, spec) if isinstance(v, (int, float)) else "-"
        print(f"{r['model']:16} {r['config']:10} {r['method']:10} "
              f"{fmt(r['rel_l2_scores'], '9.2e')} {fmt(r['rel_l2_layers'], '9.2e')} "
              f"{r['top5_agreement']:5.2f} {fmt(r['max_logit_diff'], '9.2e')} "
              f"{fmt(r['delta'], '10.2e')} {fmt(r['timing_ms'], '8.0f')} "
              f"{fmt(r['timing_ms_cpu_f32'], '8.0f')}")
    print(f"cuda f32 worst relative L2 {worst} (tolerance {F32_PARITY}); failures: {failures}")
    with open(out_path, "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
