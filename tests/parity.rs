//! Golden parity with PyTorch `transformers` (fixtures from tools/reference/make_fixtures.py):
//! tokenisation, logits, every hidden state and attention map, in f32 and f64.

mod common;

use calig::model::{load_model, text, ImageInput, ModelInput};
use candle_core::{DType, Device, Tensor};
use common::*;

fn tolerance(dtype: DType) -> f64 {
    if dtype == DType::F64 {
        1e-8
    } else {
        1e-4
    }
}

/// Loads `dir`, tokenises the reference texts, checks ids and positions, and compares the
/// forward pass with the reference in both precisions.
fn text_parity(dir: &str, reference: &str) {
    let r = read_json(&fixture(reference).join("reference.json"));
    let want_ids = ints(&r["input_ids"]);
    let mask = ints(&r["attention_mask"]);
    for dtype in [DType::F32, DType::F64] {
        let m = load_model(fixture(dir).to_str().unwrap(), dtype, &Device::Cpu).unwrap();
        let tok = m.tokenizer.as_ref().unwrap();
        let (mut ids, mut types) = (vec![], vec![]);
        for (i, t) in r["texts"].as_array().unwrap().iter().enumerate() {
            let enc = tok.encode(t.as_str().unwrap()).unwrap();
            let n = mask[i].iter().sum::<u32>() as usize;
            assert_eq!(enc.ids, want_ids[i][..n], "{dir}: token ids of text {i}");
            ids.push(enc.ids);
            types.push(enc.type_ids);
        }
        let input = text::batch(&m.config, &ids, &types, m.device()).unwrap();
        let got_pos: Vec<Vec<u32>> = input.position_ids.to_vec2().unwrap();
        assert_eq!(got_pos, ints(&r["position_ids"]), "{dir}: position ids");
        let out = m.model.forward(&ModelInput::Text(input)).unwrap();
        compare_outputs(
            &format!("{dir} {dtype:?}"),
            &out,
            &r[dtype_key(dtype)],
            dtype,
        );
    }
}

fn dtype_key(dtype: DType) -> &'static str {
    if dtype == DType::F64 {
        "f64"
    } else {
        "f32"
    }
}

fn compare_outputs(
    what: &str,
    out: &calig::model::ForwardOutput,
    want: &serde_json::Value,
    dtype: DType,
) {
    let tol = tolerance(dtype);
    let hidden = want["hidden_states"].as_array().unwrap();
    assert_eq!(
        out.hidden_states.len(),
        hidden.len(),
        "{what}: number of hidden states"
    );
    for (l, (got, w)) in out.hidden_states.iter().zip(hidden).enumerate() {
        assert_close(
            &format!("{what} hidden[{l}]"),
            &values(got),
            &flat(w).0,
            tol,
        );
    }
    let att = want["attentions"].as_array().unwrap();
    assert_eq!(
        out.attentions.len(),
        att.len(),
        "{what}: number of attention maps"
    );
    for (l, (got, w)) in out.attentions.iter().zip(att).enumerate() {
        assert_close(
            &format!("{what} attention[{}]", l + 1),
            &values(got),
            &flat(w).0,
            tol,
        );
    }
    assert_close(
        &format!("{what} logits"),
        &values(&out.logits),
        &flat(&want["logits"]).0,
        tol,
    );
}

#[test]
fn bert_matches_pytorch() {
    text_parity("bert", "bert");
}

#[test]
fn bert_from_pytorch_bin_matches() {
    text_parity("bert-bin", "bert");
}

#[test]
fn bert_from_sharded_safetensors_matches() {
    text_parity("bert-sharded", "bert");
}

#[test]
fn roberta_matches_pytorch() {
    text_parity("roberta", "roberta");
}

#[test]
fn xlm_roberta_matches_pytorch() {
    text_parity("xlmr", "xlmr");
}

#[test]
fn distilbert_matches_pytorch() {
    text_parity("distilbert", "distilbert");
}

#[test]
fn electra_matches_pytorch() {
    text_parity("electra", "electra");
}

#[test]
fn albert_matches_pytorch() {
    text_parity("albert", "albert");
}

#[test]
fn vit_matches_pytorch() {
    let r = read_json(&fixture("vit").join("reference.json"));
    for dtype in [DType::F32, DType::F64] {
        let m = load_model(fixture("vit").to_str().unwrap(), dtype, &Device::Cpu).unwrap();
        let (px, shape) = flat(&r["pixel_values"]);
        // Stored as the shortest decimals of f32 values: the f64 reference saw those f32 values.
        let px32: Vec<f32> = px.iter().map(|&x| x as f32).collect();
        let pixel_values = Tensor::from_vec(px32, shape, &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let out = m
            .model
            .forward(&ModelInput::Image(ImageInput { pixel_values }))
            .unwrap();
        compare_outputs(&format!("vit {dtype:?}"), &out, &r[dtype_key(dtype)], dtype);
    }
}

#[test]
fn vit_image_preprocessing_matches_hf_processor() {
    let r = read_json(&fixture("vit").join("reference.json"));
    let m = load_model(fixture("vit").to_str().unwrap(), DType::F32, &Device::Cpu).unwrap();
    let got = match m
        .prepare_image(&fixture("vit").join("image.png"))
        .unwrap()
        .0
    {
        ModelInput::Image(i) => values(&i.pixel_values),
        ModelInput::Text(_) => unreachable!(),
    };
    let (want, _) = flat(&r["image_pixel_values"]);
    // PIL resamples in 8-bit fixed point, the image crate in f32: allow a few grey levels
    // (normalised by std 0.5, one level is 2/255).
    let d = max_scaled_diff(&got, &want);
    let mean_abs = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / want.len() as f64;
    eprintln!("vit preprocessing: max diff {d:.3e}, mean abs diff {mean_abs:.3e}");
    assert!(d <= 8.0 / 255.0, "max diff {d}");
    assert!(mean_abs <= 2.0 / 255.0, "mean abs diff {mean_abs}");
}

/// The real all-MiniLM-L6-v2 encoder (fetched into models/minilm-l6 by scripts/setup.sh).
#[test]
fn minilm_real_encoder_matches_pytorch() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/minilm-l6");
    assert!(
        dir.join("model.safetensors").is_file(),
        "{} is missing: run scripts/setup.sh first",
        dir.display()
    );
    let r = read_json(&fixture("minilm").join("reference.json"));
    let m = load_model(dir.to_str().unwrap(), DType::F32, &Device::Cpu).unwrap();
    assert!(!m.model.has_head(), "all-MiniLM-L6-v2 is a bare encoder");
    let tok = m.tokenizer.as_ref().unwrap();
    let want_ids = ints(&r["input_ids"]);
    let mask = ints(&r["attention_mask"]);
    let mut ids = vec![];
    let mut types = vec![];
    for (i, t) in r["texts"].as_array().unwrap().iter().enumerate() {
        let enc = tok.encode(t.as_str().unwrap()).unwrap();
        let n = mask[i].iter().sum::<u32>() as usize;
        assert_eq!(enc.ids, want_ids[i][..n], "minilm token ids of text {i}");
        ids.push(enc.ids);
        types.push(enc.type_ids);
    }
    let input = ModelInput::Text(text::batch(&m.config, &ids, &types, m.device()).unwrap());
    let h0 = m
        .model
        .embed(&input, &m.model.input_embeddings(&input).unwrap())
        .unwrap();
    let bias = input.mask_bias(DType::F32).unwrap();
    let blocks = m.model.blocks(&h0, bias.as_ref(), 0, &[]).unwrap();
    let stored = r["hidden_dims_stored"].as_u64().unwrap() as usize;
    let mut states = vec![h0];
    states.extend(blocks.hidden);
    for (l, (got, w)) in states
        .iter()
        .zip(r["f32"]["hidden_states"].as_array().unwrap())
        .enumerate()
    {
        let got = got.narrow(2, 0, stored).unwrap();
        assert_close(
            &format!("minilm hidden[{l}] (first {stored} dims)"),
            &values(&got),
            &flat(w).0,
            1e-4,
        );
    }
    let last = states.last().unwrap();
    assert_close(
        "minilm last hidden state (all dims)",
        &values(last),
        &flat(&r["f32"]["last_hidden_state"]).0,
        1e-4,
    );
}
