//! Properties the methods must satisfy whatever the model: completeness of the path methods,
//! CA-LIG reducing to summed LIG at λ = 1, sign flip with the target of a 2-class model, and
//! invariance to how interpolation points are chunked.

mod common;

use calig::attr::{self, Aggregation, Delta, LayerRelevance, Layers, Method, Params, Scores};
use calig::explain::{prepare, ExplainInput};
use calig::model::{load_model, LoadedModel};
use candle_core::{DType, Device};
use common::{fixture, FAMILIES};

fn load(name: &str, dtype: DType) -> LoadedModel {
    load_model(fixture(name).to_str().unwrap(), dtype, &Device::Cpu).unwrap()
}

fn text_input() -> ExplainInput {
    ExplainInput::Text("a gorgeous , witty movie .".into())
}

fn input_for(name: &str) -> ExplainInput {
    if name == "vit" {
        ExplainInput::Image(fixture("vit").join("image.png"))
    } else if name == "xlmr" {
        ExplainInput::Text("ይህ ጥሩ ነው እናመሰግናለን".into())
    } else {
        text_input()
    }
}

fn tokens(s: &Scores) -> &[f64] {
    match s {
        Scores::Tokens(v) | Scores::Patches(v) => v,
    }
}

fn params(is_text: bool) -> Params {
    Params::defaults(is_text)
}

#[test]
fn path_methods_are_complete_on_every_family() {
    for name in FAMILIES {
        let m = load(name, DType::F64);
        let p = prepare(&m, &input_for(name), None).unwrap();
        let prm = params(name != "vit");
        let y = p.subject.logit().unwrap();
        // DistilBERT's head has a ReLU: the integrand jumps where units switch, so quadrature
        // converges only as O(1/steps) there (deltas at 50 steps are ~2% of y).
        let tol = if name == "distilbert" { 3e-2 } else { 1e-2 } * y.abs().max(1.0);
        let ig = attr::run(Method::Ig, &p.subject, &prm).unwrap();
        let Delta::Scalar(d) = ig.delta else {
            panic!("ig delta")
        };
        eprintln!("{name}: ig delta {d:.2e} (y = {y:.3})");
        assert!(d.abs() < tol, "{name}: ig delta {d}");
        let lig = attr::run(Method::Lig, &p.subject, &prm).unwrap();
        let Delta::PerLayer(ds) = lig.delta else {
            panic!("lig delta")
        };
        for (l, d) in ds.iter().enumerate() {
            let d = d.unwrap();
            eprintln!("{name}: lig layer {l} delta {d:.2e}");
            assert!(d.abs() < tol, "{name}: lig layer {l} delta {d}");
        }
    }
}

#[test]
fn calig_with_lambda_one_and_sum_is_summed_layer_relevance() {
    for (name, relevance) in [
        ("bert", LayerRelevance::Lig),
        ("vit", LayerRelevance::Lig),
        ("bert", LayerRelevance::Attnlrp),
        ("vit", LayerRelevance::Attnlrp),
    ] {
        let m = load(name, DType::F64);
        let p = prepare(&m, &input_for(name), None).unwrap();
        let mut prm = params(name != "vit");
        prm.lambda = 1.0;
        prm.aggregation = Aggregation::Sum;
        prm.layer_relevance = relevance;
        let c = attr::run(Method::Calig, &p.subject, &prm).unwrap();
        let per_layer = match relevance {
            LayerRelevance::Lig => Method::Lig,
            LayerRelevance::Attnlrp => Method::Attnlrp,
        };
        let lig = attr::run(per_layer, &p.subject, &prm).unwrap();
        let layers = lig.layers.unwrap();
        let n = tokens(&c.scores).len();
        for t in 0..n {
            let sum: f64 = layers[1..].iter().map(|l| l.as_ref().unwrap()[t]).sum();
            assert!(
                (tokens(&c.scores)[t] - sum).abs() < 1e-9,
                "{name} token {t}"
            );
        }
    }
}

#[test]
fn calig_backward_rownorm_conserves_layer_totals_and_variants_share_components() {
    use calig::attr::calig::{components, fuse};
    use calig::attr::{Fusion, Propagation, Specials};
    for name in ["bert", "roberta", "vit"] {
        let m = load(name, DType::F64);
        let p = prepare(&m, &input_for(name), None).unwrap();
        let mut prm = params(name != "vit");
        prm.aggregation = Aggregation::Backward;
        prm.propagation = Propagation::Rownorm;
        let parts = components(&p.subject, &prm).unwrap();
        let c = fuse(&p.subject, &parts, &prm).unwrap();
        // Row-stochastic maps carried backwards keep every layer's total.
        let s_total: f64 = c.layers.as_ref().unwrap()[1..]
            .iter()
            .map(|l| l.as_ref().unwrap().iter().sum::<f64>())
            .sum();
        let total: f64 = tokens(&c.scores).iter().sum();
        assert!(
            (total - s_total).abs() < 1e-9 * (1.0 + s_total.abs()),
            "{name}"
        );
        // Fusing shared components equals a fresh run, for every variant.
        for (fusion, specials) in [
            (Fusion::Mixed, Specials::Keep),
            (Fusion::Scale, Specials::Drop),
        ] {
            let mut v = prm.clone();
            v.fusion = fusion;
            v.specials = specials;
            v.lambda = 0.25;
            let shared = fuse(&p.subject, &parts, &v).unwrap();
            let fresh = attr::run(Method::Calig, &p.subject, &v).unwrap();
            assert_eq!(tokens(&shared.scores), tokens(&fresh.scores), "{name}");
        }
    }
}

/// A copy of a fixture directory whose weights `edit` has changed.
fn edited_copy(
    name: &str,
    edit: impl FnOnce(&mut std::collections::HashMap<String, candle_core::Tensor>),
) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_fixture_files(name, tmp.path());
    let path = tmp.path().join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    edit(&mut tensors);
    candle_core::safetensors::save(&tensors, &path).unwrap();
    tmp
}

/// A copy of a 2-class fixture whose last classifier layer gives y_1 = −y_0 exactly.
fn antisymmetric_copy(name: &str, out_proj: &str) -> tempfile::TempDir {
    edited_copy(name, |tensors| {
        for suffix in ["weight", "bias"] {
            let key = format!("{out_proj}.{suffix}");
            let t = &tensors[&key];
            let first = t.narrow(0, 0, 1).unwrap();
            let flipped = candle_core::Tensor::cat(&[&first, &first.neg().unwrap()], 0).unwrap();
            tensors.insert(key, flipped);
        }
    })
}

#[test]
fn calig_r_flips_sign_with_the_target_of_a_two_class_model() {
    for (name, out_proj) in [
        ("roberta", "classifier.out_proj"),
        ("distilbert", "classifier"),
    ] {
        let dir = antisymmetric_copy(name, out_proj);
        let m = load_model(dir.path().to_str().unwrap(), DType::F64, &Device::Cpu).unwrap();
        let prm = params(true);
        let run = |target: &str| {
            let p = prepare(&m, &text_input(), Some(target)).unwrap();
            attr::run(Method::Calig, &p.subject, &prm).unwrap()
        };
        let (a, b) = (run("0"), run("1"));
        let (ra, rb) = (
            &a.details.as_ref().unwrap()["r"],
            &b.details.as_ref().unwrap()["r"],
        );
        let layers = ra.as_array().unwrap().len();
        for l in 1..layers {
            for (x, y) in ra[l]
                .as_array()
                .unwrap()
                .iter()
                .zip(rb[l].as_array().unwrap())
            {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!(
                    (x + y).abs() < 1e-9 * x.abs().max(1.0),
                    "{name} layer {l}: r {x} vs {y}"
                );
            }
        }
        // The fused and final maps flip too (â is target-specific but non-negative).
        let (sa, sb) = (tokens(&a.scores), tokens(&b.scores));
        let opposite = sa
            .iter()
            .zip(sb)
            .filter(|(x, y)| x.signum() != y.signum() || x.abs() < 1e-12)
            .count();
        eprintln!(
            "{name}: final CA-LIG signs opposite on {opposite}/{} tokens",
            sa.len()
        );
    }
}

#[test]
fn chunking_does_not_change_results() {
    let m = load("bert", DType::F64);
    let p = prepare(&m, &text_input(), None).unwrap();
    let mut prm = params(true);
    prm.steps = 7;
    prm.layers = Layers::All;
    let mut results = vec![];
    for mb in [1, 5, 64] {
        prm.max_batch = mb;
        let lig = attr::run(Method::Lig, &p.subject, &prm).unwrap();
        let c = attr::run(Method::Calig, &p.subject, &prm).unwrap();
        results.push((lig.layers.unwrap(), tokens(&c.scores).to_vec()));
    }
    for r in &results[1..] {
        for (a, b) in r.0.iter().zip(&results[0].0) {
            for (x, y) in a.as_ref().unwrap().iter().zip(b.as_ref().unwrap()) {
                assert!((x - y).abs() < 1e-10);
            }
        }
        for (x, y) in r.1.iter().zip(&results[0].1) {
            assert!((x - y).abs() < 1e-10);
        }
    }
}

/// Occlusion, recomputed independently: text through token ids (not embeddings), images by
/// overwriting pixels of one patch.
#[test]
fn occlusion_matches_direct_recomputation() {
    use calig::model::text;
    let m = load("bert", DType::F64);
    let p = prepare(&m, &text_input(), None).unwrap();
    let occ = attr::run(Method::Occlusion, &p.subject, &params(true)).unwrap();
    let y = p.subject.logit().unwrap();
    let enc = m
        .tokenizer
        .as_ref()
        .unwrap()
        .encode("a gorgeous , witty movie .")
        .unwrap();
    for t in 0..enc.ids.len() {
        let want = if enc.special[t] {
            0.0
        } else {
            let mut ids = enc.ids.clone();
            ids[t] = m.config.pad_token_id;
            let input = calig::model::ModelInput::Text(
                text::batch(
                    &m.config,
                    &[ids],
                    std::slice::from_ref(&enc.type_ids),
                    &Device::Cpu,
                )
                .unwrap(),
            );
            let l = m.logits(&input).unwrap();
            y - l[p.subject.target]
        };
        assert!((tokens(&occ.scores)[t] - want).abs() < 1e-10, "token {t}");
    }

    let m = load("vit", DType::F64);
    let p = prepare(&m, &input_for("vit"), None).unwrap();
    let occ = attr::run(Method::Occlusion, &p.subject, &params(false)).unwrap();
    let y = p.subject.logit().unwrap();
    let calig::model::ModelInput::Image(img) = &p.subject.input else {
        panic!()
    };
    let px: Vec<f64> = img.pixel_values.flatten_all().unwrap().to_vec1().unwrap();
    let (c, h, w, patch) = (3, 32, 32, 8);
    for patch_index in [0, 5, 15] {
        let (py, pxi) = (patch_index / 4, patch_index % 4);
        let mut v = px.clone();
        for ch in 0..c {
            for yy in py * patch..(py + 1) * patch {
                for xx in pxi * patch..(pxi + 1) * patch {
                    v[ch * h * w + yy * w + xx] = p.subject.black[ch];
                }
            }
        }
        let t = candle_core::Tensor::from_vec(v, (1, c, h, w), &Device::Cpu).unwrap();
        let input = calig::model::ModelInput::Image(calig::model::ImageInput { pixel_values: t });
        let l = m.logits(&input).unwrap();
        let want = y - l[p.subject.target];
        assert!(
            (tokens(&occ.scores)[patch_index] - want).abs() < 1e-10,
            "patch {patch_index}"
        );
    }
}

/// A copy of a fixture with every bias (linear layers, LayerNorms, patch projection) set to 0.
fn bias_free_copy(name: &str) -> tempfile::TempDir {
    edited_copy(name, |tensors| {
        for (key, t) in tensors.iter_mut() {
            if key.ends_with(".bias") {
                *t = t.zeros_like().unwrap();
            }
        }
    })
}

#[test]
fn chefer_lrp_conserves_one_unit_of_relevance_at_every_layer() {
    for name in FAMILIES {
        let m = load(name, DType::F64);
        let p = prepare(&m, &input_for(name), None).unwrap();
        let s = &p.subject;
        let r = s
            .model
            .lrp_relevance(&s.input, s.mask_bias.as_ref(), s.target)
            .unwrap();
        assert_eq!(r.hidden.len(), s.model.num_layers() + 1);
        for (l, h) in r.hidden.iter().enumerate() {
            let total: f64 = common::values(h).iter().sum();
            eprintln!("{name}: Σ R(h^({l})) = {total:.12}");
            assert!((total - 1.0).abs() < 1e-6, "{name} layer {l}: {total}");
        }
    }
}

#[test]
fn attnlrp_conserves_the_logit_through_a_bias_free_head() {
    for name in FAMILIES {
        let dir = bias_free_copy(name);
        let m = load_model(dir.path().to_str().unwrap(), DType::F64, &Device::Cpu).unwrap();
        let p = prepare(&m, &input_for(name), None).unwrap();
        let a = attr::run(Method::Attnlrp, &p.subject, &params(p.subject.is_text())).unwrap();
        let c = &a.details.unwrap()["conservation"];
        let logit = c["target_logit"].as_f64().unwrap();
        let totals: Vec<f64> = c["layer_totals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        eprintln!("{name} without biases: logit {logit:+.6}, layer totals {totals:+.6?}");
        // The head (linear layers, the identity rule on tanh/ReLU, LayerNorm with its standard
        // deviation held constant) conserves exactly once it has no bias.
        let last = *totals.last().unwrap();
        assert!(
            (last - logit).abs() < 1e-9 * logit.abs().max(1.0),
            "{name}: {last} vs {logit}"
        );
    }
}

#[test]
fn head_weighted_attention_relevance_favours_the_heads_that_carry_the_class() {
    // Σ_k w_k R_k with w_k = t_k / Σ t (t_k = head k's total) has total Σ t_k² / Σ t, at least
    // the head mean's Σ t / H (Cauchy–Schwarz), with equality only when the heads carry the
    // same total.
    let m = load("bert", DType::F64);
    let p = prepare(&m, &text_input(), None).unwrap();
    let maps = calig::attr::gae::relevance_maps_with_signed(&p.subject).unwrap();
    for (l, (w, mean)) in maps.head_weighted.iter().zip(&maps.positive).enumerate() {
        let (tw, tm): (f64, f64) = (
            common::values(w).iter().sum(),
            common::values(mean).iter().sum(),
        );
        assert!(tw >= tm - 1e-12, "block {l}: weighted {tw} < mean {tm}");
    }
    let mut prm = params(true);
    prm.heads = calig::attr::Heads::Weighted;
    let weighted = attr::run(Method::Calig, &p.subject, &prm).unwrap();
    let plain = attr::run(Method::Calig, &p.subject, &params(true)).unwrap();
    assert_ne!(tokens(&weighted.scores), tokens(&plain.scores));
    prm.attention_sign = calig::attr::AttentionSign::Signed;
    assert!(attr::run(Method::Calig, &p.subject, &prm).is_err());
}

#[test]
fn the_grey_image_reference_starts_every_layer_path_at_the_grey_images_hidden_states() {
    use calig::attr::baseline::Baseline;
    use calig::model::{ImageInput, ModelInput};
    let m = load("vit", DType::F64);
    let p = prepare(&m, &input_for("vit"), None).unwrap();
    let ModelInput::Image(img) = &p.subject.input else {
        panic!("vit input")
    };
    // y_c of the grey image (pixels 0 after normalisation), straight from the model.
    let grey = ModelInput::Image(ImageInput {
        pixel_values: img.pixel_values.zeros_like().unwrap(),
    });
    let y_grey = m.logits(&grey).unwrap()[p.subject.target];
    let y = p.subject.logit().unwrap();
    let run = |baseline| {
        let mut prm = params(false);
        prm.baseline = baseline;
        attr::run(Method::Lig, &p.subject, &prm).unwrap()
    };
    let grey_paths = run(Baseline::Grey);
    // Every layer's path ends where the grey image's forward pass is: y(x) − y(grey) each time,
    // and the integral is complete.
    for (l, (delta, difference)) in grey_paths.completeness.iter().enumerate() {
        assert!((difference - (y - y_grey)).abs() < 1e-9, "layer {l}");
        assert!(delta.abs() < 1e-2 * difference.abs().max(1.0), "layer {l}");
    }
    // `zero` has the same pixels but the zero hidden state above the embeddings: a different
    // reference logit in the blocks.
    let zero_paths = run(Baseline::Zero);
    let (_, last) = zero_paths.completeness.last().unwrap();
    assert!((last - (y - y_grey)).abs() > 1e-6);
    // At the input (h^(0) is computed from the pixels), IG sees the same pixels either way.
    let ig = |baseline| {
        let mut prm = params(false);
        prm.baseline = baseline;
        tokens(&attr::run(Method::Ig, &p.subject, &prm).unwrap().scores).to_vec()
    };
    assert_eq!(ig(Baseline::Grey), ig(Baseline::Zero));
}

#[test]
fn calig_cls_spread_moves_the_readout_relevance_onto_the_tokens_and_keeps_every_layer_total() {
    use calig::attr::Cls;
    for name in ["bert", "vit"] {
        let m = load(name, DType::F64);
        let p = prepare(&m, &input_for(name), None).unwrap();
        let mut prm = params(name != "vit");
        prm.lambda = 1.0;
        prm.aggregation = Aggregation::Sum;
        prm.cls = Cls::Spread;
        let c = attr::run(Method::Calig, &p.subject, &prm).unwrap();
        let lig = attr::run(Method::Lig, &p.subject, &prm).unwrap();
        let layers = lig.layers.unwrap();
        // With λ = 1 and sum: the map holds every layer's whole LIG total (Σ_l Σ_t r^(l)_t),
        // [CLS]'s share included, and [CLS] itself (text: token 0) keeps nothing.
        let want: f64 = layers[1..].iter().flat_map(|l| l.as_ref().unwrap()).sum();
        let s = tokens(&c.scores);
        let got: f64 = s.iter().sum();
        assert!(
            (got - want).abs() < 1e-9 * want.abs().max(1.0),
            "{name}: {got} vs {want}"
        );
        if name == "bert" {
            assert_eq!(s[0], 0.0);
        }
        // The layer maps keep their totals one by one.
        for (l, (fused, r)) in c.layers.unwrap()[1..].iter().zip(&layers[1..]).enumerate() {
            let (f, r): (f64, f64) = (
                fused.as_ref().unwrap().iter().sum(),
                r.as_ref().unwrap().iter().sum(),
            );
            assert!(
                (f - r).abs() < 1e-9 * r.abs().max(1.0),
                "{name} layer {}",
                l + 1
            );
        }
    }
}
