//! `--contrast`: explanations of y_c − y_k and of the log-odds. Checked by identities that hold
//! for every linear attribution (IG, layer IG, gradient×input, occlusion, AttnLRP's modified
//! gradient×input are linear in the explained scalar), completeness on the difference, the
//! binary case where the log-odds is y_c − y_k, and the errors.

mod common;
use common::{fails_with, fixture, json_ok};
use serde_json::Value;

const TEXT: &str = "a gorgeous , witty movie";

fn explain(model: &str, method: &str, extra: &[&str]) -> Vec<Value> {
    let dir = fixture(model);
    let args = [
        &[
            "explain",
            "--model",
            dir.to_str().unwrap(),
            "--method",
            method,
            "--dtype",
            "f64",
            "--format",
            "json",
        ],
        extra,
        &[TEXT],
    ]
    .concat();
    match json_ok(&args) {
        Value::Array(v) => v,
        one => vec![one],
    }
}

fn scores(e: &Value) -> Vec<f64> {
    serde_json::from_value(e["scores"].clone()).unwrap()
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    let scale = want.iter().fold(1.0f64, |m, w| m.max(w.abs()));
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-9 * scale, "{what}: {got:?} vs {want:?}");
    }
}

#[test]
fn a_contrast_is_the_difference_of_the_two_classes_explanations() {
    let methods = "ig,lig,gxi,occlusion,attnlrp";
    let of = |extra: &[&str]| explain("bert", methods, extra);
    let (c, k) = ("positive", "negative");
    let contrasted = of(&["--target", c, "--contrast", k]);
    let (for_c, for_k) = (of(&["--target", c]), of(&["--target", k]));
    for ((e, ec), ek) in contrasted.iter().zip(&for_c).zip(&for_k) {
        let method = e["method"].as_str().unwrap();
        let want: Vec<f64> = scores(ec)
            .iter()
            .zip(scores(ek))
            .map(|(a, b)| a - b)
            .collect();
        assert_close(method, &scores(e), &want);
        assert_eq!(e["contrast"]["kind"], "class");
        assert_eq!(e["contrast"]["label"], k);
        assert_eq!(e["target"]["label"], c);
    }
    // IG's completeness holds on the difference: Σ scores = f(x) − f(x′), f = y_c − y_k.
    let ig = &contrasted[0];
    let logits: Vec<f64> = serde_json::from_value(ig["logits"].clone()).unwrap();
    let f = logits[2] - logits[0];
    let gap = f - ig["baseline_logit"].as_f64().unwrap();
    let delta = ig["convergence_delta"].as_f64().unwrap();
    assert!((ig["sum_of_scores"].as_f64().unwrap() - gap - delta).abs() < 1e-9);
    assert!(
        delta.abs() < 1e-2 * gap.abs().max(1.0),
        "delta {delta} of {gap}"
    );
}

#[test]
fn the_log_odds_of_two_classes_is_their_difference() {
    // RoBERTa's fixture has two classes: log p_c − log(1 − p_c) = y_c − y_k exactly.
    let rest = explain("roberta", "ig,gxi", &["--contrast", "rest"]);
    let target = rest[0]["target"]["index"].as_u64().unwrap();
    let other = (1 - target).to_string();
    let pair = explain("roberta", "ig,gxi", &["--contrast", &other]);
    for (r, p) in rest.iter().zip(&pair) {
        assert_eq!(r["contrast"]["kind"], "rest");
        assert_close(r["method"].as_str().unwrap(), &scores(r), &scores(p));
    }
    // With three classes it is not: completeness on the log-odds itself.
    let ig = &explain("bert", "ig", &["--contrast", "rest"])[0];
    let probs: Vec<f64> = serde_json::from_value(ig["probs"].clone()).unwrap();
    let c = ig["target"]["index"].as_u64().unwrap() as usize;
    let f = probs[c].ln() - (1.0 - probs[c]).ln();
    let gap = f - ig["baseline_logit"].as_f64().unwrap();
    let sum = ig["sum_of_scores"].as_f64().unwrap();
    assert!(
        (sum - gap).abs() < 1e-2 * gap.abs().max(1.0),
        "Σ {sum} vs {gap}"
    );
}

#[test]
fn contrasts_that_cannot_be_explained_are_refused() {
    let dir = fixture("bert");
    let m = dir.to_str().unwrap();
    let run = |extra: &[&'static str]| -> Vec<&str> {
        [&["explain", "--model", m], extra, &[TEXT]].concat()
    };
    fails_with(
        &run(&["--target", "positive", "--contrast", "positive"]),
        &["the target class itself"],
    );
    fails_with(
        &run(&["--contrast", "sideways"]),
        &["contrast `sideways`", "rest"],
    );
    // The non-linear methods that take one run, and say what they explain.
    for e in explain("bert", "calig,gae,saliency", &["--contrast", "negative"]) {
        assert_eq!(e["contrast"]["label"], "negative", "{}", e["method"]);
    }
    for method in ["attention", "rollout", "chefer2021"] {
        fails_with(
            &run(&["--method", method, "--contrast", "rest"]),
            &[method, "explains no contrast", "ig"],
        );
    }
}

#[test]
fn batch_explains_every_row_against_the_contrast() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, format!("{{\"text\": \"{TEXT}\"}}\n")).unwrap();
    let out = dir.path().join("out.jsonl");
    let model = fixture("bert");
    let m = model.to_str().unwrap();
    let o = common::calig(&[
        "batch",
        "--model",
        m,
        "--method",
        "gxi",
        "--dtype",
        "f64",
        "--contrast",
        "rest",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let row: Value = serde_json::from_str(
        std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let alone = &explain("bert", "gxi", &["--contrast", "rest"])[0];
    assert_eq!(row["contrast"], alone["contrast"]);
    assert_eq!(row["scores"], alone["scores"]);
}

#[test]
fn the_report_says_what_is_explained() {
    let dir = fixture("bert");
    let o = common::calig(&[
        "explain",
        "--model",
        dir.to_str().unwrap(),
        "--method",
        "ig",
        "--target",
        "positive",
        "--contrast",
        "negative",
        TEXT,
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let out = common::stdout(&o);
    for needle in [
        "positive rather than negative",
        "f = y_c − y_k (k = negative)",
        "f(x′) (reference)",
        "Σ scores is meant to equal f(x) − f(x′)",
    ] {
        assert!(out.contains(needle), "no `{needle}` in\n{out}");
    }
}
