//! Decoder classifiers (Llama, Qwen2, Mistral, GPT-2) against PyTorch and Captum: tests/fixtures/<family>/
//! decoder.json, made by tools/reference/make_decoders.py. Logits, hidden states and
//! attention of a left-padded batch; integrated gradients and layer IG (Captum), attention,
//! rollout and GAE at the last token (the one the head reads) and AttnLRP (its rules applied
//! to transformers' modules), on single texts and pairs;
//! every method runs; the command line and the JSON say which token the head reads.

mod common;

use calig::attr::params::Aggregation;
use calig::attr::{self, Method, Params, Scores};
use calig::explain::{prepare, ExplainInput, Prepared};
use calig::model::{load_model, text, LoadedModel, ModelInput};
use candle_core::{DType, Device, IndexOp, Tensor};
use common::*;
use serde_json::Value;

const DECODERS: [&str; 4] = ["llama", "qwen2", "mistral", "gpt2"];

fn load(family: &str, dtype: DType) -> LoadedModel {
    load_model(fixture(family).to_str().unwrap(), dtype, &Device::Cpu).unwrap()
}

fn fixture_json(family: &str) -> Value {
    read_json(&fixture(family).join("decoder.json"))
}

/// Values of `t` at the real (unpadded) positions of each row, `axes` of them being token axes
/// after the batch axis: (b, s, d) → rows; (b, h, s, s) → query and key positions.
fn real_part(t: &Tensor, mask: &[Vec<u32>], token_axes: &[usize]) -> Vec<f64> {
    let mut out = Vec::new();
    for (r, m) in mask.iter().enumerate() {
        let real: Vec<u32> = (0..m.len() as u32)
            .filter(|&i| m[i as usize] == 1)
            .collect();
        let idx = Tensor::new(real.as_slice(), &Device::Cpu).unwrap();
        let mut row = t.i(r).unwrap();
        for &axis in token_axes {
            row = row.index_select(&idx, axis - 1).unwrap();
        }
        out.extend(values(&row));
    }
    out
}

/// The batch of the fixture's texts, unpadded ids padded again by calig (on the left).
fn batch_of(m: &LoadedModel, fx: &Value) -> (ModelInput, Vec<Vec<u32>>) {
    let ids = ints(&fx["input_ids"]);
    let mask = ints(&fx["attention_mask"]);
    let unpadded: Vec<Vec<u32>> = ids
        .iter()
        .zip(&mask)
        .map(|(i, m)| {
            i.iter()
                .zip(m)
                .filter(|(_, &k)| k == 1)
                .map(|(&t, _)| t)
                .collect()
        })
        .collect();
    let types: Vec<Vec<u32>> = unpadded.iter().map(|r| vec![0; r.len()]).collect();
    let input = text::batch(&m.config, &unpadded, &types, &Device::Cpu).unwrap();
    assert_eq!(
        ints_of(&input.input_ids),
        ids,
        "calig pads on the left as the tokenizer does"
    );
    assert_eq!(ints_of(&input.attention_mask), mask);
    (ModelInput::Text(input), mask)
}

fn ints_of(t: &Tensor) -> Vec<Vec<u32>> {
    t.to_vec2().unwrap()
}

fn check_forward(family: &str) {
    let fx = fixture_json(family);
    for (dtype, key, tol) in [(DType::F32, "f32", 1e-4), (DType::F64, "f64", 1e-10)] {
        let m = load(family, dtype);
        let (input, mask) = batch_of(&m, &fx);
        let out = m.model.forward(&input).unwrap();
        let want = &fx[key];
        let d = max_scaled_diff(&values(&out.logits), &flat(&want["logits"]).0);
        assert!(d <= tol, "{family} {key} logits off by {d:e}");
        let hidden = flat(&want["hidden_states"]).0;
        let per_layer = hidden.len() / out.hidden_states.len();
        for (l, h) in out.hidden_states.iter().enumerate() {
            let want_l = Tensor::from_vec(
                hidden[l * per_layer..(l + 1) * per_layer].to_vec(),
                h.shape(),
                &Device::Cpu,
            )
            .unwrap();
            let d = max_scaled_diff(&real_part(h, &mask, &[1]), &real_part(&want_l, &mask, &[1]));
            assert!(d <= tol * 10.0, "{family} {key} h^({l}) off by {d:e}");
        }
        let att = flat(&want["attentions"]).0;
        let per_block = att.len() / out.attentions.len();
        for (l, a) in out.attentions.iter().enumerate() {
            let want_l = Tensor::from_vec(
                att[l * per_block..(l + 1) * per_block].to_vec(),
                a.shape(),
                &Device::Cpu,
            )
            .unwrap();
            let d = max_scaled_diff(
                &real_part(a, &mask, &[2, 3]),
                &real_part(&want_l, &mask, &[2, 3]),
            );
            assert!(d <= tol, "{family} {key} attention {l} off by {d:e}");
        }
    }
}

#[test]
fn llama_matches_pytorch_on_a_left_padded_batch() {
    check_forward("llama");
}

#[test]
fn qwen2_matches_pytorch_on_a_left_padded_batch() {
    check_forward("qwen2");
}

#[test]
fn gpt2_matches_pytorch_on_a_left_padded_batch() {
    check_forward("gpt2");
}

#[test]
fn mistral_matches_pytorch_with_its_sliding_window() {
    check_forward("mistral");
}

fn token_scores(a: &attr::Attribution) -> Vec<f64> {
    match &a.scores {
        Scores::Tokens(t) => t.clone(),
        Scores::Patches(_) => panic!("token scores"),
    }
}

fn prepared<'a>(m: &'a LoadedModel, ex: &Value) -> Prepared<'a> {
    let input = match ex["text_pair"].as_str() {
        Some(b) => ExplainInput::Pair(ex["text"].as_str().unwrap().into(), b.into()),
        None => ExplainInput::Text(ex["text"].as_str().unwrap().into()),
    };
    let target = ex["target"].to_string();
    let p = prepare(m, &input, Some(&target)).unwrap();
    let ModelInput::Text(t) = &p.subject.input else {
        panic!("a text input")
    };
    assert_eq!(
        ints_of(&t.input_ids)[0],
        flat(&ex["input_ids"])
            .0
            .iter()
            .map(|&x| x as u32)
            .collect::<Vec<_>>()
    );
    p
}

fn check_methods(family: &str) {
    let fx = fixture_json(family);
    let entries: Vec<&Value> = fx["examples"]
        .as_array()
        .unwrap()
        .iter()
        .chain(fx["pairs"].as_array().unwrap())
        .collect();
    for (dtype, tol) in [(DType::F64, 1e-6), (DType::F32, 1e-3)] {
        let m = load(family, dtype);
        for ex in &entries {
            let what = format!(
                "{family} {dtype:?} {:?} target {}",
                ex["text"], ex["target"]
            );
            let p = prepared(&m, ex);
            let s = &p.subject;
            let d = max_scaled_diff(&s.logits, &flat(&ex["logits"]).0);
            assert!(d <= tol, "{what}: logits off by {d:e}");
            let params = Params::defaults(true);
            let ig = attr::run(Method::Ig, s, &params).unwrap();
            let e = rel_l2(&token_scores(&ig), &flat(&ex["ig"]["scores"]).0);
            assert!(e <= tol, "{what}: ig relative L2 {e:e}");
            let lig = attr::run(Method::Lig, s, &params).unwrap();
            let layers = lig.layers.as_ref().unwrap();
            for (l, want) in ex["lig"]["layers"].as_array().unwrap().iter().enumerate() {
                let got = layers[l].as_ref().unwrap();
                let want = flat(want).0;
                // The last layer is zero but at the last token: compare on the scale of Δy.
                let e = rel_l2(got, &want);
                assert!(e <= tol, "{what}: lig layer {l} relative L2 {e:e}");
            }
            let n = s.special.len();
            let last = layers.last().unwrap().as_ref().unwrap();
            assert!(
                last[..n - 1]
                    .iter()
                    .all(|v| v.abs() < 1e-9 * last[n - 1].abs().max(1e-30)),
                "{what}: h^(L) moves the logit at the last token only: {last:?}"
            );
            if dtype == DType::F64 {
                for (name, method) in [
                    ("attention", Method::Attention),
                    ("rollout", Method::Rollout),
                    ("gae", Method::Gae),
                ] {
                    let got = token_scores(&attr::run(method, s, &params).unwrap());
                    let e = max_scaled_diff(&got, &flat(&ex[name]).0);
                    assert!(e <= 1e-9, "{what}: {name} off by {e:e}");
                }
                // AttnLRP: the rules applied to transformers' own modules (make_decoders.py).
                let lrp = attr::run(Method::Attnlrp, s, &params).unwrap();
                let want = &ex["attnlrp"];
                let e = max_scaled_diff(&token_scores(&lrp), &flat(&want["scores"]).0);
                assert!(e <= 1e-8, "{what}: attnlrp off by {e:e}");
                let layers = lrp.layers.as_ref().unwrap();
                for (l, w) in want["layers"].as_array().unwrap().iter().enumerate() {
                    let e = max_scaled_diff(layers[l].as_ref().unwrap(), &flat(w).0);
                    assert!(e <= 1e-8, "{what}: attnlrp layer {l} off by {e:e}");
                }
            }
        }
    }
}

#[test]
fn llama_attributions_match_captum_and_the_definitions() {
    check_methods("llama");
}

#[test]
fn qwen2_attributions_match_captum_and_the_definitions() {
    check_methods("qwen2");
}

#[test]
fn gpt2_attributions_match_captum_and_the_definitions() {
    check_methods("gpt2");
}

#[test]
fn mistral_attributions_match_captum_and_the_definitions() {
    check_methods("mistral");
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
