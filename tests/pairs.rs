//! Sentence pairs: the tokenizer's pair encoding, logits and integrated gradients against
//! PyTorch/Captum (tests/fixtures/<family>/pairs.json, tools/reference/make_pairs.py), and the
//! pair through the command line: JSON segments, reports, `calig batch --pair-column`, errors.

mod common;

use calig::attr::{self, Method, Params, Scores};
use calig::explain::{prepare, ExplainInput};
use calig::model::{load_model, ModelInput};
use candle_core::{DType, Device};
use common::*;
use serde_json::Value;

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn ids_of(t: &candle_core::Tensor) -> Vec<u32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn matches_pytorch(family: &str) {
    let fx = read_json(&fixture(family).join("pairs.json"));
    for dtype in [DType::F32, DType::F64] {
        let m = load_model(fixture(family).to_str().unwrap(), dtype, &Device::Cpu).unwrap();
        let (logit_tol, ig_tol) = if dtype == DType::F64 {
            (1e-10, 1e-6)
        } else {
            (1e-4, 1e-3)
        };
        for p in fx["pairs"].as_array().unwrap() {
            let input = ExplainInput::Pair(
                p["text"].as_str().unwrap().into(),
                p["text_pair"].as_str().unwrap().into(),
            );
            let prepared = prepare(&m, &input, None).unwrap();
            let ModelInput::Text(t) = &prepared.subject.input else {
                panic!("a text input")
            };
            assert_eq!(ids_of(&t.input_ids), u32s(&p["input_ids"]), "{family} ids");
            // DistilBERT has no token type embeddings (its tokenizer gives none).
            if family != "distilbert" {
                assert_eq!(
                    ids_of(&t.token_type_ids),
                    u32s(&p["token_type_ids"]),
                    "{family} token type ids"
                );
            }
            let want = flat(&p["logits"]).0;
            let worst = max_scaled_diff(&prepared.subject.logits, &want);
            assert!(
                worst <= logit_tol,
                "{family} {dtype:?} logits off by {worst:e}"
            );
            let target = p["target"].as_u64().unwrap() as usize;
            assert_eq!(prepared.subject.target, target);
            let ig = attr::run(Method::Ig, &prepared.subject, &Params::defaults(true)).unwrap();
            let Scores::Tokens(got) = &ig.scores else {
                panic!("token scores")
            };
            let e = rel_l2(got, &flat(&p["ig"]["scores"]).0);
            assert!(e <= ig_tol, "{family} {dtype:?} ig: relative L2 {e:e}");
        }
    }
}

#[test]
fn bert_pairs_match_pytorch_and_captum() {
    matches_pytorch("bert");
}

#[test]
fn roberta_pairs_match_pytorch_and_captum() {
    matches_pytorch("roberta");
}

#[test]
fn xlmr_pairs_match_pytorch_and_captum() {
    matches_pytorch("xlmr");
}

#[test]
fn distilbert_pairs_match_pytorch_and_captum() {
    matches_pytorch("distilbert");
}

#[test]
fn electra_pairs_match_pytorch_and_captum() {
    matches_pytorch("electra");
}

#[test]
fn albert_pairs_match_pytorch_and_captum() {
    matches_pytorch("albert");
}

fn bert() -> String {
    fixture("bert").to_str().unwrap().to_string()
}

/// `calig explain --method ig --format json --pair "a gorgeous movie" "it was dull"` on BERT.
fn ig_of_the_pair() -> Value {
    json_ok(&[
        "explain",
        "--model",
        &bert(),
        "--method",
        "ig",
        "--format",
        "json",
        "--pair",
        "a gorgeous movie",
        "it was dull",
    ])
}

#[test]
fn the_json_keeps_both_texts_and_each_words_segment() {
    let m = bert();
    let e = ig_of_the_pair();
    assert_eq!(e["input"]["text"], "a gorgeous movie");
    assert_eq!(e["input"]["text_pair"], "it was dull");
    let words: Vec<(String, u64)> = e["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["text"].as_str().unwrap().to_string(),
                w["segment"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let texts: Vec<&str> = words.iter().map(|w| w.0.as_str()).collect();
    assert_eq!(texts, ["a", "gorgeous", "movie", "it", "was", "dull"]);
    let segments: Vec<u64> = words.iter().map(|w| w.1).collect();
    assert_eq!(segments, [0, 0, 0, 1, 1, 1]);
    let tokens = e["tokens"].as_array().unwrap();
    assert_eq!(tokens.iter().filter(|t| *t == "[SEP]").count(), 2);
    // Completeness holds on the pair as on one text.
    let delta = e["convergence_delta"].as_f64().unwrap();
    let gap = e["logits"][e["target"]["index"].as_u64().unwrap() as usize]
        .as_f64()
        .unwrap()
        - e["baseline_logit"].as_f64().unwrap();
    assert!(
        delta.abs() <= 1e-2 * gap.abs().max(1.0),
        "delta {delta} of {gap}"
    );
    // The pair is not the two texts run together: the separator and the token types count.
    let joined = json_ok(&[
        "explain",
        "--model",
        &m,
        "--method",
        "ig",
        "--format",
        "json",
        "a gorgeous movie it was dull",
    ]);
    assert_ne!(e["logits"], joined["logits"]);
    // A saved pair renders again, separator included.
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("pair.json");
    std::fs::write(&saved, serde_json::to_vec(&e).unwrap()).unwrap();
    let html = dir.path().join("pair.html");
    let o = calig(&[
        "render",
        saved.to_str().unwrap(),
        "--format",
        "html",
        "--output",
        html.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("class=\"sep\""), "no separator in the report");
    assert!(page.contains(">[SEP]</span>"));
}

#[test]
fn the_terminal_report_marks_the_second_text() {
    let o = calig(&[
        "explain",
        "--model",
        &bert(),
        "--method",
        "gxi",
        "--pair",
        "a gorgeous movie",
        "it was dull",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let (first, second) = out
        .split_once("-- second text of the pair --")
        .expect("a separator line");
    assert!(
        first.contains("gorgeous") && !first.contains("dull"),
        "{out}"
    );
    assert!(second.contains("dull"), "{out}");
}

#[test]
fn batch_reads_a_pair_column() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("nli.csv");
    std::fs::write(
        &input,
        "premise,hypothesis,id\na gorgeous movie,it was dull,p1\nnothing works,\"still, fun\",p2\n",
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    let m = bert();
    let o = calig(&[
        "batch",
        "--model",
        &m,
        "--method",
        "ig",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--text-column",
        "premise",
        "--pair-column",
        "hypothesis",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["id"], "p2");
    assert_eq!(lines[1]["input"]["text_pair"], "still, fun");
    // The same numbers as `calig explain --pair`.
    let alone = ig_of_the_pair();
    assert_eq!(lines[0]["scores"], alone["scores"]);
    // A named pair column the file lacks is an error that names it.
    fails_with(
        &[
            "batch",
            "--model",
            &m,
            "--input",
            input.to_str().unwrap(),
            "--output",
            dir.path().join("x.jsonl").to_str().unwrap(),
            "--text-column",
            "premise",
            "--pair-column",
            "claim",
        ],
        &["no column `claim`"],
    );
}

#[test]
fn bad_pairs_name_the_problem() {
    let m = bert();
    fails_with(
        &["explain", "--model", &m, "--pair", "a movie", "  "],
        &["the second text of the pair is empty"],
    );
    fails_with(
        &["explain", "--model", &m, "--pair", "", "a movie"],
        &["the text is empty"],
    );
    let vit = fixture("vit");
    fails_with(
        &[
            "explain",
            "--model",
            vit.to_str().unwrap(),
            "--pair",
            "a",
            "b",
        ],
        &["image model"],
    );
    // One text only, or a pair and a text: clap refuses (exit 2).
    for args in [
        vec!["explain", "--model", &m, "--pair", "a movie"],
        vec!["explain", "--model", &m, "--pair", "a", "b", "c"],
    ] {
        let o = calig(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}
