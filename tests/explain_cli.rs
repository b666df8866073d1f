//! `calig explain` end to end: every method on every family, the JSON contract
//! (docs/json-schema.md), text and HTML output, atomic --output, and errors for bad options.

mod common;

use common::{calig, fixture, json_ok, FAMILIES};

fn explain_json(model: &str, method: &str, extra: &[&str]) -> serde_json::Value {
    let dir = fixture(model);
    let image = fixture("vit").join("image.png");
    let mut args = vec![
        "explain",
        "--model",
        dir.to_str().unwrap(),
        "--method",
        method,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    if model == "vit" {
        args.extend(["--image", image.to_str().unwrap()]);
    } else {
        args.push("a gorgeous , witty movie .");
    }
    json_ok(&args)
}

const METHODS: [&str; 11] = [
    "calig",
    "lig",
    "ig",
    "gxi",
    "saliency",
    "attention",
    "rollout",
    "gae",
    "occlusion",
    "attnlrp",
    "chefer2021",
];

#[test]
fn every_method_on_every_family_follows_the_schema() {
    for model in FAMILIES {
        for method in METHODS {
            let e = explain_json(model, method, &["--steps", "8"]);
            for key in [
                "schema",
                "calig_version",
                "dtype",
                "device",
                "sum_of_scores",
                "model",
                "method",
                "params",
                "input",
                "tokens",
                "words",
                "target",
                "predicted",
                "logits",
                "probs",
                "scores",
                "scores_cover",
                "word_scores",
                "layers",
                "convergence_delta",
                "timing_ms",
            ] {
                assert!(e.get(key).is_some(), "{model} {method}: missing `{key}`");
            }
            assert_eq!(e["schema"], 1);
            assert_eq!(e["method"], method);
            let sum: f64 = e["scores"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .sum();
            assert!((sum - e["sum_of_scores"].as_f64().unwrap()).abs() < 1e-9);
            // Completeness in the output's own numbers: Σ − (y_c(x) − y_c(x′)) = delta.
            if method == "ig" {
                let y = e["logits"][e["target"]["index"].as_u64().unwrap() as usize]
                    .as_f64()
                    .unwrap();
                let y0 = e["baseline_logit"].as_f64().unwrap();
                let d = e["convergence_delta"].as_f64().unwrap();
                assert!(
                    (sum - (y - y0) - d).abs() < 1e-4 * y.abs().max(1.0),
                    "{model}: {sum} {y} {y0} {d}"
                );
            }
            let n_scores = e["scores"].as_array().unwrap().len();
            let n_tokens = e["tokens"].as_array().unwrap().len();
            if model == "vit" {
                assert_eq!(e["scores_cover"], "patches");
                assert_eq!(n_scores, 16, "{method}: 4x4 patches");
                assert_eq!(n_tokens, 17);
                assert_eq!(e["input"]["patch_grid"], serde_json::json!([4, 4]));
            } else {
                assert_eq!(e["scores_cover"], "tokens");
                assert_eq!(n_scores, n_tokens);
                assert_eq!(
                    e["word_scores"].as_array().unwrap().len(),
                    e["words"].as_array().unwrap().len()
                );
                assert!(!e["words"].as_array().unwrap().is_empty());
            }
            assert_eq!(
                e["target"], e["predicted"],
                "{model} {method}: default target is the prediction"
            );
            let has_layers = matches!(method, "calig" | "lig" | "attnlrp" | "chefer2021");
            assert_eq!(
                e["layers"].is_array(),
                has_layers,
                "{model} {method}: layers"
            );
            if has_layers {
                let layers = e["layers"].as_array().unwrap();
                assert_eq!(layers.len(), 4, "{model} {method}: L+1 entries");
                let width = layers.iter().find_map(|l| l.as_array()).unwrap().len();
                assert_eq!(
                    width, n_tokens,
                    "{model} {method}: layer vectors cover all tokens"
                );
            }
        }
    }
}

#[test]
fn targets_by_label_and_index() {
    let by_label = explain_json("bert", "ig", &["--target", "neutral", "--steps", "8"]);
    let by_index = explain_json("bert", "ig", &["--target", "1", "--steps", "8"]);
    assert_eq!(by_label["target"]["index"], 1);
    assert_eq!(by_label["scores"], by_index["scores"]);
}

#[test]
fn lig_layer_selection() {
    let e = explain_json("bert", "lig", &["--layers", "2,0", "--steps", "8"]);
    let layers = e["layers"].as_array().unwrap();
    assert!(layers[0].is_array() && layers[2].is_array());
    assert!(layers[1].is_null() && layers[3].is_null());
    assert_eq!(e["scores"], layers[0]);
    assert_eq!(e["params"]["layers"], serde_json::json!([0, 2]));
    assert_eq!(
        explain_json("bert", "lig", &["--steps", "4"])["params"]["layers"],
        "all"
    );
}

#[test]
fn text_and_html_output() {
    let dir = fixture("bert");
    let o = calig(&[
        "explain",
        "--model",
        dir.to_str().unwrap(),
        "--method",
        "ig",
        "--steps",
        "8",
        "a <script>alert(1)</script> movie",
    ]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("method    ig") && text.contains("target"),
        "{text}"
    );
    assert!(
        !text.contains("\x1b["),
        "no colour codes when not on a terminal"
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("report.html");
    let o = calig(&[
        "explain",
        "--model",
        dir.to_str().unwrap(),
        "--method",
        "calig",
        "--steps",
        "8",
        "--format",
        "html",
        "--output",
        out.to_str().unwrap(),
        "a <script>alert(1)</script> movie",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>")
            && html.contains("the fused CA-LIG relevance of each layer")
    );
    assert!(!html.contains("<script>"), "user text must be escaped");
    let o = calig(&[
        "explain",
        "--model",
        fixture("vit").to_str().unwrap(),
        "--image",
        fixture("vit").join("image.png").to_str().unwrap(),
        "--format",
        "html",
    ]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("data:image/png;base64,"));
}

fn fails_with(args: &[&str], needle: &str) {
    common::fails_with(args, &[needle]);
}

#[test]
fn bad_options_are_refused_without_output() {
    let d = fixture("bert");
    let m = d.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never.json");
    let o = out.to_str().unwrap();
    fails_with(
        &[
            "explain", "--model", m, "--target", "joy", "--output", o, "nice",
        ],
        "target `joy`",
    );
    assert!(!out.exists(), "no partial output file");
    fails_with(
        &["explain", "--model", m, "--target", "7", "nice"],
        "target `7`",
    );
    fails_with(
        &[
            "explain", "--model", m, "--method", "lig", "--layers", "9", "nice",
        ],
        "layer 9 does not exist",
    );
    fails_with(
        &["explain", "--model", m, "--lambda", "1.5", "nice"],
        "lambda 1.5",
    );
    fails_with(
        &[
            "explain",
            "--model",
            m,
            "--quadrature",
            "riemann_left",
            "--steps",
            "1",
            "nice",
        ],
        "riemann_left needs more than 1 steps",
    );
    fails_with(
        &["explain", "--model", m, "--baseline", "black", "nice"],
        "baseline `black` is for images",
    );
    fails_with(
        &["explain", "--model", m, "--baseline", "grey", "nice"],
        "baseline `grey` is for images",
    );
    fails_with(
        &["explain", "--model", m, "--max-batch", "0", "nice"],
        "max-batch",
    );
    let v = fixture("vit");
    let img = v.join("image.png");
    fails_with(
        &[
            "explain",
            "--model",
            v.to_str().unwrap(),
            "--baseline",
            "mask",
            "--image",
            img.to_str().unwrap(),
        ],
        "baseline `mask` is for text",
    );
    fails_with(&["explain", "--model", m], "nothing to explain");
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "no temporary files left"
    );
}

#[test]
fn baselines_change_ig_but_keep_completeness() {
    for b in ["pad", "zero", "mask", "unk"] {
        let e = explain_json(
            "bert",
            "ig",
            &["--baseline", b, "--steps", "50", "--dtype", "f64"],
        );
        let d = e["convergence_delta"].as_f64().unwrap();
        assert!(d.abs() < 0.1, "baseline {b}: delta {d}");
        assert_eq!(e["params"]["baseline"], b);
    }
    for b in ["black", "blur", "zero"] {
        let e = explain_json("vit", "ig", &["--baseline", b, "--dtype", "f64"]);
        let d = e["convergence_delta"].as_f64().unwrap();
        assert!(d.abs() < 0.05, "baseline {b}: delta {d}");
    }
}

#[test]
fn an_inaccurate_integral_is_reported_and_an_accurate_one_is_not() {
    let coarse = explain_json(
        "bert",
        "ig",
        &["--quadrature", "riemann_trapezoid", "--steps", "20"],
    );
    let w = coarse["warnings"].as_array().expect("a warning");
    assert!(
        w[0].as_str().unwrap().contains("convergence delta"),
        "{w:?}"
    );
    let fine = explain_json("bert", "ig", &["--steps", "50"]);
    assert!(fine.get("warnings").is_none(), "{}", fine["warnings"]);
    let lig = explain_json(
        "bert",
        "lig",
        &["--quadrature", "riemann_trapezoid", "--steps", "20"],
    );
    assert!(
        lig["warnings"].is_array(),
        "lig: per-layer deltas are checked too"
    );
}

/// `--steps auto`: every path ends within the tolerance (or at the cap), the steps differ per
/// path where the paths converge at different rates, and the record says what was used.
#[test]
fn steps_auto_meets_the_tolerance_per_path() {
    for (method, tolerance) in [("calig", "0.001"), ("lig", "0.001"), ("ig", "0.0001")] {
        let e = explain_json(
            "bert",
            method,
            &["--steps", "auto", "--tolerance", tolerance],
        );
        let p = &e["params"];
        assert_eq!(
            p["steps_auto_tolerance"].as_f64(),
            Some(tolerance.parse().unwrap())
        );
        let per_path: Vec<u64> = p["steps_per_path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(p["steps"].as_u64(), per_path.iter().copied().max());
        assert!(per_path.iter().all(|s| (8..=512).contains(s) && s % 4 == 0));
        // Completeness against y_c(x) − y_c(x′) of the input path, for ig.
        if method == "ig" {
            let y = e["logits"][e["target"]["index"].as_u64().unwrap() as usize]
                .as_f64()
                .unwrap();
            let diff = y - e["baseline_logit"].as_f64().unwrap();
            let delta = e["convergence_delta"].as_f64().unwrap();
            assert!(
                delta.abs() <= 1e-4 * diff.abs(),
                "ig: delta {delta} of {diff}"
            );
        }
        assert!(e.get("warnings").is_none(), "{method}: {}", e["warnings"]);
    }
    let calig = explain_json(
        "bert",
        "calig",
        &["--steps", "auto", "--tolerance", "0.001"],
    );
    let fixed = explain_json("bert", "calig", &["--steps", "512"]);
    let (a, b) = (
        common::flat(&calig["scores"]).0,
        common::flat(&fixed["scores"]).0,
    );
    let e = common::rel_l2(&a, &b);
    assert!(e < 1e-2, "auto vs 512 steps: relative L2 {e}");
}

#[test]
fn steps_outside_the_accepted_range_are_refused() {
    let dir = fixture("bert");
    for (steps, needle) in [
        ("0", "needs more than 0 steps"),
        ("20000", "limit of 10000"),
    ] {
        common::fails_with(
            &[
                "explain",
                "--model",
                dir.to_str().unwrap(),
                "--method",
                "ig",
                "--steps",
                steps,
                "a movie",
            ],
            &[needle],
        );
    }
}

#[test]
fn steps_auto_tolerance_must_be_positive() {
    let dir = fixture("bert");
    // A usage error from the argument parser (exit 2) that names the accepted forms.
    let o = calig(&[
        "explain",
        "--model",
        dir.to_str().unwrap(),
        "--steps",
        "lots",
        "a movie",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(common::stderr(&o).contains("neither a number of steps nor `auto`"));
    for t in ["0", "-1", "nan"] {
        let t = format!("--tolerance={t}");
        common::fails_with(
            &[
                "explain",
                "--model",
                dir.to_str().unwrap(),
                "--steps",
                "auto",
                &t,
                "a movie",
            ],
            &["--tolerance must be a positive number"],
        );
    }
}

#[test]
fn no_truncate_refuses_long_text() {
    let d = fixture("bert");
    let long = "good ".repeat(100);
    for cmd in [
        vec![
            "explain",
            "--model",
            d.to_str().unwrap(),
            "--no-truncate",
            &long,
        ],
        vec!["predict", d.to_str().unwrap(), "--no-truncate", &long],
    ] {
        fails_with(&cmd, "202 tokens, more than the model's maximum of 64");
    }
}

#[test]
fn unwritable_outputs_fail_and_keep_earlier_files() {
    let d = fixture("bert");
    let m = d.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let earlier = tmp.path().join("earlier.json");
    std::fs::write(&earlier, "keep me").unwrap();
    // A path through a regular file cannot be created.
    let through = earlier.join("out.json");
    fails_with(
        &[
            "explain",
            "--model",
            m,
            "--output",
            through.to_str().unwrap(),
            "nice",
        ],
        "earlier.json",
    );
    assert_eq!(std::fs::read_to_string(&earlier).unwrap(), "keep me");
    if std::path::Path::new("/dev/full").exists() {
        fails_with(
            &[
                "explain",
                "--model",
                m,
                "--format",
                "json",
                "--output",
                "/dev/full",
                "nice",
            ],
            "No space left",
        );
        assert!(!std::fs::metadata("/dev/full").unwrap().is_file());
    }
    let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert_eq!(names.len(), 1, "no temporary files: {names:?}");
}

#[test]
fn start_layer_out_of_range_is_refused() {
    let d = fixture("bert");
    fails_with(
        &[
            "explain",
            "--model",
            d.to_str().unwrap(),
            "--method",
            "chefer2021",
            "--start-layer",
            "4",
            "nice",
        ],
        "start_layer 4 does not exist: the model has blocks 1..=3",
    );
}

#[test]
fn options_the_method_ignores_are_warned_about() {
    let d = fixture("bert");
    let o = calig(&[
        "explain",
        "--model",
        d.to_str().unwrap(),
        "--method",
        "gae",
        "--lambda",
        "0.7",
        "--steps",
        "8",
        "nice",
    ]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--lambda is ignored by --method gae"), "{err}");
    assert!(err.contains("--steps is ignored by --method gae"), "{err}");
    let used = calig(&[
        "explain",
        "--model",
        d.to_str().unwrap(),
        "--lambda",
        "0.7",
        "--steps",
        "8",
        "nice",
    ]);
    assert!(!String::from_utf8_lossy(&used.stderr).contains("ignored"));
}

#[test]
fn reduced_precision_is_said_and_a_missing_gpu_is_refused_plainly() {
    let f32_run = explain_json("bert", "ig", &[]);
    for dtype in ["bf16", "f16"] {
        let e = explain_json("bert", "ig", &["--dtype", dtype]);
        assert_eq!(e["dtype"], dtype);
        let (a, _) = common::flat(&e["scores"]);
        let (b, _) = common::flat(&f32_run["scores"]);
        let err = common::rel_l2(&a, &b);
        assert!(err < 0.1, "{dtype}: relative L2 {err} against f32");
    }
    let d = fixture("bert");
    let m = d.to_str().unwrap();
    let o = calig(&[
        "explain", "--model", m, "--tf32", "--method", "ig", "a movie",
    ]);
    assert!(o.status.success());
    assert!(common::stderr(&o).contains("--tf32 has no effect on the CPU"));
    if !cfg!(feature = "cuda") {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("never.json");
        let args = [
            "explain",
            "--model",
            m,
            "--device",
            "cuda",
            "--output",
            out.to_str().unwrap(),
            "a movie",
        ];
        fails_with(
            &args,
            "built without CUDA: build it with scripts/build-cuda.sh",
        );
        assert!(!out.exists());
    }
}

#[test]
fn figures_for_papers_svg_compact_dpi_and_no_layer_views() {
    let d = fixture("bert");
    let m = d.to_str().unwrap();
    let text = "a gorgeous , witty movie .";
    let svg = common::stdout(&calig(&[
        "explain", "--model", m, "--method", "ig,gae", "--format", "svg", "--layout", "compact",
        text,
    ]));
    assert!(svg.starts_with("<svg") && svg.contains(">ig</text>") && svg.contains(">gae</text>"));
    let tmp = tempfile::tempdir().unwrap();
    let (small, big) = (tmp.path().join("a.png"), tmp.path().join("b.png"));
    for (path, extra) in [
        (&small, vec!["--no-layer-views"]),
        (&big, vec!["--dpi", "192"]),
    ] {
        let mut args = vec![
            "explain", "--model", m, "--method", "calig", "--format", "png",
        ];
        args.extend(["--output", path.to_str().unwrap(), text]);
        args.extend(extra);
        assert!(calig(&args).status.success());
    }
    let (a, b) = (image::open(&small).unwrap(), image::open(&big).unwrap());
    assert_eq!((a.width(), b.width()), (1000, 2000));
    assert!(
        2 * a.height() < b.height(),
        "no layer views: {} vs {}",
        a.height(),
        b.height()
    );
    // An image in the compact layout, a resolution out of range, and --dpi with html.
    let vit = fixture("vit");
    let image = vit.join("image.png");
    fails_with(
        &[
            "explain",
            "--model",
            vit.to_str().unwrap(),
            "--image",
            image.to_str().unwrap(),
            "--format",
            "svg",
            "--layout",
            "compact",
        ],
        "--layout compact draws texts",
    );
    let o = calig(&[
        "explain", "--model", m, "--dpi", "5", "--format", "png", text,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(common::stderr(&o).contains("from 24 to 1200"));
    let o = calig(&[
        "explain", "--model", m, "--dpi", "300", "--format", "html", text,
    ]);
    assert!(common::stderr(&o).contains("--dpi is ignored by --format html"));
}

/// Entropy of a class distribution as a share of the uniform distribution's.
fn entropy_ratio(probs: &[f64]) -> f64 {
    let h: f64 = -probs
        .iter()
        .filter(|&&p| p > 0.0)
        .map(|p| p * p.ln())
        .sum::<f64>();
    h / (probs.len() as f64).ln()
}

#[test]
fn the_neutral_reference_is_the_candidate_closest_to_uniform() {
    let model = fixture("bert");
    let m = model.to_str().unwrap();
    let text = "a gorgeous , witty movie";
    let explain = |baseline: &str| {
        json_ok(&[
            "explain",
            "--model",
            m,
            "--method",
            "ig",
            "--format",
            "json",
            "--baseline",
            baseline,
            text,
        ])
    };
    let neutral = explain("neutral");
    let chosen = neutral["neutral_reference"]["baseline"].as_str().unwrap();
    let ratio = neutral["neutral_reference"]["entropy_ratio"]
        .as_f64()
        .unwrap();
    // The token references, made as texts of the same length (the tokenizer reads its special
    // tokens) and classed by `calig predict`: the chosen one is the most uniform of them.
    let n = neutral["tokens"].as_array().unwrap().len() - 2;
    for (name, token) in [("pad", "[PAD]"), ("mask", "[MASK]"), ("unk", "[UNK]")] {
        let reference = vec![token; n].join(" ");
        let p = json_ok(&["predict", "--model", m, "--format", "json", &reference]);
        let probs: Vec<f64> = p["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["prob"].as_f64().unwrap())
            .collect();
        let r = entropy_ratio(&probs);
        // f32 forward passes of two batch shapes agree to ~1e-6.
        assert!(
            r <= ratio + 1e-5,
            "{name} ({r}) is more uniform than {chosen} ({ratio})"
        );
        if name == chosen {
            assert!((r - ratio).abs() < 1e-5, "{name}: {r} vs {ratio}");
        }
    }
    // Its scores are those of that reference, which the JSON names.
    let same = explain(chosen);
    assert_eq!(neutral["scores"], same["scores"]);
    assert_eq!(neutral["baseline_logit"], same["baseline_logit"]);
    assert!(same.get("neutral_reference").is_none());
}
