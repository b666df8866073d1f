//! The checks a rotary family's fixture goes through (decoder.json of make_decoders.py,
//! modernbert.json of make_modernbert.py; one schema): logits, hidden states and attention of a
//! padded batch against PyTorch; ig and lig against Captum, attention, rollout and GAE against
//! their definitions at the row the head reads, AttnLRP against its rules on transformers'
//! modules, on single texts and pairs.

use super::*;
use calig::attr::{self, Method, Params, Scores};
use calig::explain::{prepare, ExplainInput, Prepared};
use calig::model::{load_model, text, LoadedModel, ModelInput};
use candle_core::{DType, Device, IndexOp, Tensor};
use serde_json::Value;

pub fn load(family: &str, dtype: DType) -> LoadedModel {
    load_model(fixture(family).to_str().unwrap(), dtype, &Device::Cpu).unwrap()
}

pub fn fixture_json(file: &str, family: &str) -> Value {
    read_json(&fixture(family).join(file))
}

/// Values of `t` at the real (unpadded) positions of each row, `axes` of them being token axes
/// after the batch axis: (b, s, d) → rows; (b, h, s, s) → query and key positions.
pub fn real_part(t: &Tensor, mask: &[Vec<u32>], token_axes: &[usize]) -> Vec<f64> {
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

/// The batch of the fixture's texts, unpadded ids padded again by calig (on the left for
/// decoders).
pub fn batch_of(m: &LoadedModel, fx: &Value) -> (ModelInput, Vec<Vec<u32>>) {
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
        "calig pads as the tokenizer does"
    );
    assert_eq!(ints_of(&input.attention_mask), mask);
    (ModelInput::Text(input), mask)
}

pub fn ints_of(t: &Tensor) -> Vec<Vec<u32>> {
    t.to_vec2().unwrap()
}

pub fn check_forward(file: &str, family: &str) {
    let fx = fixture_json(file, family);
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

pub fn token_scores(a: &attr::Attribution) -> Vec<f64> {
    match &a.scores {
        Scores::Tokens(t) => t.clone(),
        Scores::Patches(_) => panic!("token scores"),
    }
}

pub fn prepared<'a>(m: &'a LoadedModel, ex: &Value) -> Prepared<'a> {
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

pub fn check_methods(file: &str, family: &str) {
    let fx = fixture_json(file, family);
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
                // The last layer is zero but at the row the head reads: compare on the scale of
                // Δy.
                let e = rel_l2(got, &want);
                assert!(e <= tol, "{what}: lig layer {l} relative L2 {e:e}");
            }
            let row = s.readout_token().unwrap();
            let last = layers.last().unwrap().as_ref().unwrap();
            assert!(
                last.iter()
                    .enumerate()
                    .all(|(t, v)| t == row || v.abs() < 1e-9 * last[row].abs().max(1e-30)),
                "{what}: h^(L) moves the logit at the token the head reads only: {last:?}"
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
