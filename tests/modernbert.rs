//! ModernBERT (`ModernBertForSequenceClassification`) against PyTorch and Captum:
//! tests/fixtures/modernbert/modernbert.json, made by tools/reference/make_modernbert.py (4
//! layers, global and local attention alternating, a local window of ±2 tokens that every text
//! exceeds, bias-free LayerNorms, GeGLU, [CLS] pooling). Logits, hidden states and attention of
//! a right-padded batch; integrated gradients and layer IG (Captum), attention, rollout and GAE
//! at [CLS] and AttnLRP (its rules applied to transformers' modules), on single texts and a
//! pair; every method runs from the command line; mean pooling (modernbert-mean) matches
//! PyTorch's logits one text at a time and refuses padded batches.

mod common;

use calig::attr::{self, Delta, Method, Params};
use calig::model::{text, ModelInput};
use candle_core::{DType, Device};
use common::family::*;
use common::*;

const FILE: &str = "modernbert.json";

#[test]
fn modernbert_matches_pytorch_on_a_right_padded_batch() {
    check_forward(FILE, "modernbert");
}

#[test]
fn modernbert_attributions_match_captum_and_the_definitions() {
    check_methods(FILE, "modernbert");
}

#[test]
fn modernbert_ig_is_complete_and_reads_cls() {
    // "it is bad .": Σ ig = y_c(x) − y_c(x′) up to the quadrature, with y_c(x′) PyTorch's.
    let fx = fixture_json(FILE, "modernbert");
    let ex = &fx["examples"][2];
    let m = load("modernbert", DType::F64);
    let p = prepared(&m, ex);
    let s = &p.subject;
    assert_eq!(s.readout_token().unwrap(), 0, "the head reads [CLS]");
    let t = ex["target"].as_u64().unwrap() as usize;
    let dy = flat(&ex["logits"]).0[t] - flat(&ex["reference_logits"]).0[t];
    let mut params = Params::defaults(true);
    params.steps = 300;
    let ig = attr::run(Method::Ig, s, &params).unwrap();
    let sum: f64 = token_scores(&ig).iter().sum();
    let Delta::Scalar(delta) = ig.delta else {
        panic!("ig reports a delta")
    };
    assert!(
        (sum - delta - dy).abs() < 1e-9,
        "Σ {sum} − δ {delta} vs Δy {dy}"
    );
    assert!(
        delta.abs() < 1e-3 * dy.abs(),
        "ig delta {delta:e} for Δy {dy}"
    );
}

#[test]
fn every_method_runs_on_modernbert_from_the_command_line() {
    let dir = fixture("modernbert");
    let model = dir.to_str().unwrap();
    for &method in Method::ALL {
        let name = method.info().name;
        let args = [
            "explain",
            "--model",
            model,
            "--method",
            name,
            "--format",
            "json",
            "a gorgeous , witty movie .",
        ];
        if name == "chefer2021" {
            fails_with(&args, &["chefer2021", "attnlrp"]);
            continue;
        }
        let e = json_ok(&args);
        let n = e["tokens"].as_array().unwrap().len();
        let scores = e["scores"].as_array().unwrap();
        assert_eq!(scores.len(), n, "{name}");
        assert!(
            scores.iter().all(|v| v.as_f64().unwrap().is_finite()),
            "{name}"
        );
        assert_eq!(e["readout_token"], 0, "{name}");
    }
}

#[test]
fn mean_pooling_matches_pytorch_one_text_at_a_time_and_refuses_padding() {
    let fx = fixture_json(FILE, "modernbert-mean");
    assert_eq!(fx["classifier_pooling"], "mean");
    let ids = ints(&fx["input_ids"]);
    let mask = ints(&fx["attention_mask"]);
    for (dtype, key, tol) in [(DType::F32, "f32", 1e-4), (DType::F64, "f64", 1e-10)] {
        let m = load("modernbert-mean", dtype);
        let want = flat(&fx[key]["logits"]).0;
        let classes = want.len() / ids.len();
        for (r, (row, mrow)) in ids.iter().zip(&mask).enumerate() {
            let real: Vec<u32> = row
                .iter()
                .zip(mrow)
                .filter(|(_, &k)| k == 1)
                .map(|(&t, _)| t)
                .collect();
            let types = vec![0; real.len()];
            let input = text::batch(&m.config, &[real], &[types], &Device::Cpu).unwrap();
            let got = values(&m.model.logits(&ModelInput::Text(input)).unwrap());
            let d = max_scaled_diff(&got, &want[r * classes..(r + 1) * classes]);
            assert!(d <= tol, "{key} text {r}: logits off by {d:e}");
        }
        let (input, _) = batch_of(&m, &fx);
        let err = m.model.logits(&input).unwrap_err().to_string();
        assert!(err.contains("classifier_pooling = mean"), "{err}");
    }
}

#[test]
fn mean_pooling_runs_every_method_and_reads_the_mean_of_the_rows() {
    // The attention method on the first text alone: the last layer's probabilities, mean over
    // heads, then over every row (the rows the head averages), against PyTorch's batch (the
    // text's real part: pads are masked keys).
    let fx = fixture_json(FILE, "modernbert-mean");
    let mask = ints(&fx["attention_mask"]);
    let n = mask[0].iter().filter(|&&k| k == 1).count();
    let (att, shape) = flat(&fx["f64"]["attentions"]);
    let (heads, s) = (shape[2], shape[3]);
    let last = &att[(shape[0] - 1) * shape[1] * heads * s * s..];
    let want: Vec<f64> = (0..n)
        .map(|k| {
            let mut sum = 0.0;
            for h in 0..heads {
                for q in 0..n {
                    sum += last[(h * s + q) * s + k];
                }
            }
            sum / (heads * n) as f64
        })
        .collect();
    let dir = fixture("modernbert-mean");
    let text = fx["texts"][0].as_str().unwrap();
    for &m in Method::ALL {
        let method = m.info().name;
        let args = [
            "explain",
            "--model",
            dir.to_str().unwrap(),
            "--method",
            method,
            "--format",
            "json",
            "--dtype",
            "f64",
            text,
        ];
        if method == "chefer2021" {
            fails_with(&args, &["chefer2021", "attnlrp"]);
            continue;
        }
        let e = json_ok(&args);
        assert!(e.get("readout_token").is_none(), "{method}: {e}");
        let got: Vec<f64> = e["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(got.len(), n, "{method}");
        assert!(got.iter().all(|v| v.is_finite()), "{method}");
        if method == "attention" {
            let d = max_scaled_diff(&got, &want);
            assert!(d <= 1e-9, "attention off by {d:e}");
        }
    }
}
