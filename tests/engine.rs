//! The explicit engine (src/engine) against candle's autograd (the oracle) on every fixture
//! family, in f64 (to rounding) and f32 (within the parity tolerance): integrated gradients
//! along the input path and along every hidden-state path at once, chunks that cut paths
//! apart, the attention-gradient relevance of every block, and a padded key.

mod common;

use calig::attr::path::{integrate, Path, PathOptions, Space};
use calig::attr::quadrature::Quadrature;
use calig::engine::EngineChoice;
use calig::model::{load_model, Encoder, LoadedModel, ModelInput};
use candle_core::{DType, Device, Tensor};
use common::*;

/// The input path and a path at every h^(l) (baseline 0.3 · h^(l)), 5 Gauss–Legendre steps in
/// chunks of `max_batch` rows (3: chunks cut paths apart; 1000: one chunk holds every path, as
/// on a GPU), with attention relevance; `mask_last` masks the last key.
fn run(
    m: &LoadedModel,
    input: &ModelInput,
    engine: EngineChoice,
    mask_last: bool,
    max_batch: usize,
) -> Vec<Vec<f64>> {
    let model: &dyn Encoder = m.model.as_ref();
    let dtype = model.dtype();
    let mut mask = input.mask_bias(dtype).unwrap();
    if mask_last {
        let s = model.input_embeddings(input).unwrap().dim(1).unwrap();
        let mut bias = vec![0.0f64; s];
        bias[s - 1] = -1e4;
        mask = Some(
            Tensor::from_vec(bias, (1, 1, 1, s), &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap(),
        );
    }
    let e = model.input_embeddings(input).unwrap();
    let hidden = model.forward(input).unwrap().hidden_states;
    let mut paths = vec![Path {
        space: Space::Input,
        baseline: (&e * 0.2).unwrap(),
        input: e.clone(),
    }];
    for (l, h) in hidden.iter().enumerate() {
        paths.push(Path {
            space: Space::Hidden(l),
            baseline: (h * 0.3).unwrap(),
            input: h.clone(),
        });
    }
    let rule = Quadrature::GaussLegendre.rule(5).unwrap();
    let out = integrate(
        model,
        input,
        mask.as_ref(),
        calig::attr::Objective::plain(0),
        &paths,
        &PathOptions {
            rule: &rule,
            engine,
            max_batch,
            attention: true,
        },
    )
    .unwrap();
    let mut all: Vec<Vec<f64>> = out.attributions.iter().map(values).collect();
    for a in out.path_attention.iter().flatten() {
        all.push(values(a));
    }
    assert_eq!(all.len(), 2 * hidden.len(), "one attention map per block");
    all
}

/// The ViT fixture with mean pooling: the head reads every token, so the last block runs in
/// full rather than for the first token alone.
fn mean_pooled_vit() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture_files("vit", dir.path());
    let cfg = dir.path().join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v["pooling"] = "mean".into();
    std::fs::write(&cfg, v.to_string()).unwrap();
    dir
}

#[test]
fn explicit_engine_matches_candle_autograd_on_every_family() {
    let mean_vit = mean_pooled_vit();
    let mean_vit = mean_vit.path().to_str().unwrap();
    for name in FAMILIES.into_iter().chain([mean_vit]) {
        for (dtype, tol) in [(DType::F64, 1e-11), (DType::F32, 1e-4)] {
            let dir = if name == mean_vit {
                mean_vit.into()
            } else {
                fixture(name)
            };
            let m = load_model(dir.to_str().unwrap(), dtype, &Device::Cpu).unwrap();
            assert!(m.model.engine().unwrap().is_some(), "{name}: no engine");
            let input = first_input(&m, if name == mean_vit { "vit" } else { name });
            for (mask_last, max_batch) in [(false, 3), (true, 3), (false, 1000)] {
                if mask_last && !m.config.family.is_text() {
                    continue;
                }
                let oracle = run(&m, &input, EngineChoice::Candle, mask_last, max_batch);
                let fast = run(&m, &input, EngineChoice::Auto, mask_last, max_batch);
                for (i, (a, b)) in fast.iter().zip(&oracle).enumerate() {
                    let e = rel_l2(a, b);
                    assert!(
                        e <= tol,
                        "{name} {dtype:?} mask {mask_last}, chunks of {max_batch}: output {i}: \
                         relative L2 {e:.2e} > {tol:.0e}"
                    );
                }
            }
        }
    }
}

/// Logits of a right-padded batch of three texts of different lengths (per-sequence masks) and
/// of a batch of images, engine against candle.
#[test]
fn batched_logits_match_candle_with_padding() {
    for name in FAMILIES {
        for (dtype, tol) in [(DType::F64, 1e-11), (DType::F32, 1e-4)] {
            let m = load_model(fixture(name).to_str().unwrap(), dtype, &Device::Cpu).unwrap();
            let model: &dyn Encoder = m.model.as_ref();
            let input = if m.config.family.is_text() {
                let r = read_json(&fixture(name).join("reference.json"));
                let texts: Vec<&str> = r["texts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap())
                    .chain(["a"])
                    .collect();
                let encoded: Vec<_> = texts.iter().map(|t| m.prepare_text(t).unwrap().0).collect();
                let ids: Vec<Vec<u32>> = encoded.iter().map(|e| e.ids.clone()).collect();
                let types: Vec<Vec<u32>> = ids.iter().map(|i| vec![0; i.len()]).collect();
                assert!(ids.iter().map(Vec::len).min() < ids.iter().map(Vec::len).max());
                ModelInput::Text(
                    calig::model::text::batch(&m.config, &ids, &types, &Device::Cpu).unwrap(),
                )
            } else {
                let one = first_input(&m, name);
                let ModelInput::Image(i) = &one else {
                    unreachable!()
                };
                let px = &i.pixel_values;
                ModelInput::Image(calig::model::ImageInput {
                    pixel_values: Tensor::cat(&[px, &(px * -0.5).unwrap(), px], 0).unwrap(),
                })
            };
            let fast = values(&model.logits(&input).unwrap());
            let oracle = values(&model.forward(&input).unwrap().logits);
            let e = rel_l2(&fast, &oracle);
            assert!(e <= tol, "{name} {dtype:?}: logits relative L2 {e:.2e}");
        }
    }
}
