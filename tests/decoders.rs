//! Decoder classifiers (Llama, Qwen2, Mistral, GPT-2) against PyTorch and Captum: tests/fixtures/<family>/
//! decoder.json, made by tools/reference/make_decoders.py. Logits, hidden states and
//! attention of a left-padded batch; integrated gradients and layer IG (Captum), attention,
//! rollout and GAE at the last token (the one the head reads) and AttnLRP (its rules applied
//! to transformers' modules), on single texts and pairs;
//! every method runs; the command line and the JSON say which token the head reads.

mod common;

use calig::attr::params::Aggregation;
use calig::attr::{self, Method, Params};
use calig::explain::{prepare, ExplainInput};
use calig::model::LoadedModel;
use candle_core::DType;
use common::family::*;
use common::*;

const DECODERS: [&str; 4] = ["llama", "qwen2", "mistral", "gpt2"];

#[test]
fn llama_matches_pytorch_on_a_left_padded_batch() {
    check_forward("decoder.json", "llama");
}

#[test]
fn qwen2_matches_pytorch_on_a_left_padded_batch() {
    check_forward("decoder.json", "qwen2");
}

#[test]
fn gpt2_matches_pytorch_on_a_left_padded_batch() {
    check_forward("decoder.json", "gpt2");
}

#[test]
fn mistral_matches_pytorch_with_its_sliding_window() {
    check_forward("decoder.json", "mistral");
}

#[test]
fn llama_attributions_match_captum_and_the_definitions() {
    check_methods("decoder.json", "llama");
}

#[test]
fn qwen2_attributions_match_captum_and_the_definitions() {
    check_methods("decoder.json", "qwen2");
}

#[test]
fn gpt2_attributions_match_captum_and_the_definitions() {
    check_methods("decoder.json", "gpt2");
}

#[test]
fn mistral_attributions_match_captum_and_the_definitions() {
    check_methods("decoder.json", "mistral");
}

#[test]
fn every_method_runs_on_a_decoder_or_says_why_not() {
    for family in DECODERS {
        let m = load(family, DType::F32);
        let p = prepare(
            &m,
            &ExplainInput::Text("a gorgeous , witty movie .".into()),
            None,
        )
        .unwrap();
        let params = Params::defaults(true);
        for &method in Method::ALL {
            let name = method.info().name;
            match attr::run(method, &p.subject, &params) {
                Ok(a) => {
                    let scores = token_scores(&a);
                    assert_eq!(scores.len(), p.subject.special.len(), "{family} {name}");
                    assert!(scores.iter().all(|v| v.is_finite()), "{family} {name}");
                }
                Err(e) => {
                    assert_eq!(name, "chefer2021", "{family} {name} failed: {e}");
                    assert!(e.to_string().contains("attnlrp"), "{e}");
                }
            }
        }
    }
}

#[test]
fn calig_at_lambda_one_is_the_sum_of_layer_ig_on_a_decoder() {
    let m = load("llama", DType::F64);
    let p = prepare(&m, &ExplainInput::Text("it is bad .".into()), None).unwrap();
    let s = &p.subject;
    let params = Params::defaults(true);
    let lig = attr::run(Method::Lig, s, &params).unwrap();
    let layers: Vec<Vec<f64>> = lig
        .layers
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect();
    // λ = 1 with sum aggregation is Σ_{l ≥ 1} of the layer IG maps (DESIGN §3).
    let mut pure = params.clone();
    pure.lambda = 1.0;
    pure.aggregation = Aggregation::Sum;
    let calig = token_scores(&attr::run(Method::Calig, s, &pure).unwrap());
    let sum: Vec<f64> = (0..calig.len())
        .map(|t| layers[1..].iter().map(|l| l[t]).sum())
        .collect();
    assert!(max_scaled_diff(&calig, &sum) < 1e-9, "{calig:?} vs {sum:?}");
}

#[test]
fn the_json_names_the_token_the_head_reads() {
    let m = fixture("qwen2");
    let e = json_ok(&[
        "explain",
        "--model",
        m.to_str().unwrap(),
        "--method",
        "gae",
        "--format",
        "json",
        "a gorgeous , witty movie .",
    ]);
    let n = e["tokens"].as_array().unwrap().len();
    assert_eq!(e["readout_token"], n as u64 - 1);
    let bert = json_ok(&[
        "explain",
        "--model",
        fixture("bert").to_str().unwrap(),
        "--method",
        "gae",
        "--format",
        "json",
        "a gorgeous , witty movie .",
    ]);
    assert_eq!(bert["readout_token"], 0);
}

#[test]
fn long_inputs_are_cut_where_the_tokenizer_config_says() {
    // The fixture's tokenizer_config.json has truncation_side = left: the end of the text,
    // the part a decoder's head reads, is kept.
    let m = load("llama", DType::F32);
    let tok = m.tokenizer.as_ref().unwrap();
    let long = "a gorgeous , witty movie . ".repeat(40) + "it is bad .";
    let enc = tok.encode(&long).unwrap();
    assert_eq!(enc.ids.len(), tok.max_length());
    assert!(enc.truncated_from.is_some());
    let tail = tok.encode("it is bad .").unwrap();
    assert_eq!(enc.ids[enc.ids.len() - 4..], tail.ids[tail.ids.len() - 4..]);
}

fn generation_of(m: &LoadedModel, method: Method) -> calig::continuation::Generation {
    let fx = read_json(&fixture("llama-lm").join("generation.json"));
    calig::continuation::explain_continuation(
        m,
        fx["prompt"].as_str().unwrap(),
        fx["continuation"].as_str().unwrap(),
        method,
        &Params::defaults(true),
    )
    .unwrap()
}

#[test]
fn a_continuation_is_explained_token_by_token_as_pytorch_and_captum_do() {
    let fx = read_json(&fixture("llama-lm").join("generation.json"));
    let steps = fx["steps"].as_array().unwrap();
    for (dtype, key, tol) in [
        (DType::F64, "log_prob_f64", 1e-6f64),
        (DType::F32, "log_prob_f32", 1e-3),
    ] {
        let m = load("llama-lm", dtype);
        let ig = generation_of(&m, Method::Ig);
        let ids: Vec<u32> = flat(&fx["input_ids"]).0.iter().map(|&x| x as u32).collect();
        assert_eq!(ig.steps.len(), steps.len());
        assert_eq!(
            ig.prompt_tokens as u64,
            fx["prompt_tokens"].as_u64().unwrap()
        );
        let lig = generation_of(&m, Method::Lig);
        for (j, (got, want)) in ig.steps.iter().zip(steps).enumerate() {
            let what = format!("{dtype:?} step {j}");
            assert_eq!(got.id, ids[got.position], "{what}: the token explained");
            let lp = want[key].as_f64().unwrap();
            assert!(
                (got.log_prob - lp).abs() <= tol.min(1e-4) * lp.abs().max(1.0),
                "{what}: log p {} vs {lp}",
                got.log_prob
            );
            let e = rel_l2(&got.scores, &flat(&want["ig"]["scores"]).0);
            assert!(e <= tol, "{what}: ig relative L2 {e:e}");
            // Causality: nothing at or after the explained token moves its probability.
            assert!(
                got.scores[got.position..].iter().all(|&v| v == 0.0),
                "{what}"
            );
            let layers = lig.steps[j].layers.as_ref().unwrap();
            for (l, w) in want["lig"]["layers"].as_array().unwrap().iter().enumerate() {
                let e = rel_l2(layers[l].as_ref().unwrap(), &flat(w).0);
                assert!(e <= tol, "{what}: lig layer {l} relative L2 {e:e}");
            }
        }
        if dtype == DType::F64 {
            for (name, method, tol) in [
                ("attention", Method::Attention, 1e-9),
                ("rollout", Method::Rollout, 1e-9),
                ("gae", Method::Gae, 1e-9),
                ("attnlrp", Method::Attnlrp, 1e-8),
            ] {
                let g = generation_of(&m, method);
                for (j, (got, want)) in g.steps.iter().zip(steps).enumerate() {
                    let w = if name == "attnlrp" {
                        &want[name]["scores"]
                    } else {
                        &want[name]
                    };
                    let e = max_scaled_diff(&got.scores, &flat(w).0);
                    assert!(e <= tol, "step {j}: {name} off by {e:e}");
                }
            }
        }
    }
}

#[test]
fn continuations_need_a_causal_lm_and_classifiers_need_none() {
    let lm = fixture("llama-lm");
    let lm = lm.to_str().unwrap();
    fails_with(
        &["explain", "--model", lm, "a gorgeous movie"],
        &["no sequence-classification head", "--continuation"],
    );
    fails_with(
        &[
            "explain",
            "--model",
            fixture("llama").to_str().unwrap(),
            "--continuation",
            " movie",
            "a gorgeous",
        ],
        &["no language-model head"],
    );
    fails_with(
        &[
            "explain",
            "--model",
            fixture("bert").to_str().unwrap(),
            "--continuation",
            " movie",
            "a gorgeous",
        ],
        &["needs a causal language model"],
    );
    fails_with(
        &["explain", "--model", lm, "--continuation", "", "a gorgeous"],
        &["continuation is empty"],
    );
    fails_with(
        &[
            "explain",
            "--model",
            lm,
            "--continuation",
            " movie",
            "--format",
            "png",
            "a",
        ],
        &["--continuation", "png"],
    );
}

#[test]
fn the_cli_writes_the_generation_matrix_as_json_text_and_html() {
    let lm = fixture("llama-lm");
    let lm = lm.to_str().unwrap();
    let args = |format: &'static str| {
        vec![
            "explain",
            "--model",
            lm,
            "--method",
            "gxi",
            "--continuation",
            " movie that",
            "--format",
            format,
            "a gorgeous , witty",
        ]
    };
    let g = json_ok(&args("json"));
    assert_eq!(g["kind"], "generation");
    let steps = g["steps"].as_array().unwrap();
    let n = g["tokens"].as_array().unwrap().len();
    assert_eq!(
        steps.len() + g["prompt_tokens"].as_u64().unwrap() as usize,
        n
    );
    for s in steps {
        assert_eq!(s["scores"].as_array().unwrap().len(), n);
    }
    let text = stdout(&calig(&args("text")));
    assert!(text.contains("log p"), "{text}");
    assert!(text.contains("movie"), "{text}");
    let html = stdout(&calig(&args("html")));
    assert!(html.contains("<table") && html.contains("movie"), "{html}");
}
