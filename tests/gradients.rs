//! Gradients through the hook API, checked against f64 central finite differences, and a guard
//! that every leaf on the path receives a gradient (candle's fused ops without backward cut the
//! graph silently: `grads.get` then returns None).

mod common;

use calig::model::{load_model, Encoder, LoadedModel};
use candle_core::{DType, Device, IndexOp, Tensor, Var};
use common::*;

fn load(name: &str) -> LoadedModel {
    load_model(fixture(name).to_str().unwrap(), DType::F64, &Device::Cpu).unwrap()
}

/// y_c from h^(layer) with probes on the attention of every later block.
fn target_from(
    model: &dyn Encoder,
    h: &Tensor,
    bias: Option<&Tensor>,
    layer: usize,
    probes: &[Tensor],
    class: usize,
) -> Tensor {
    let out = model.blocks(h, bias, layer, probes).unwrap();
    let last = out.hidden.last().cloned().unwrap_or_else(|| h.clone());
    model.head(&last).unwrap().i((0, class)).unwrap()
}

fn scalar(t: &Tensor) -> f64 {
    t.to_scalar::<f64>().unwrap()
}

/// Central differences of `f` at a few coordinates of `x` against `grad`, Richardson-extrapolated
/// (error O(eps⁴), so that a sharply curved model is not blamed on the analytic gradient).
fn check_fd(what: &str, x: &Tensor, grad: &Tensor, coords: &[usize], f: impl Fn(&Tensor) -> f64) {
    let eps = 1e-4;
    let base: Vec<f64> = x.flatten_all().unwrap().to_vec1().unwrap();
    let g: Vec<f64> = grad.flatten_all().unwrap().to_vec1().unwrap();
    let mut worst = 0f64;
    for &c in coords {
        let c = c % base.len();
        let shifted = |d: f64| {
            let mut v = base.clone();
            v[c] += d;
            Tensor::from_vec(v, x.shape(), x.device()).unwrap()
        };
        let central = |h: f64| (f(&shifted(h)) - f(&shifted(-h))) / (2.0 * h);
        let fd = (4.0 * central(eps / 2.0) - central(eps)) / 3.0;
        let err = (fd - g[c]).abs() / fd.abs().max(g[c].abs()).max(1e-3);
        worst = worst.max(err);
        assert!(
            err < 1e-5,
            "{what}[{c}]: analytic {} vs finite difference {fd}",
            g[c]
        );
    }
    eprintln!(
        "{what}: max relative error {worst:.2e} over {} coordinates",
        coords.len()
    );
}

fn hidden_and_attention_gradients(name: &str) {
    let m = load(name);
    let model = m.model.as_ref();
    let input = first_input(&m, name);
    let bias = input.mask_bias(DType::F64).unwrap();
    let full = model.forward(&input).unwrap();
    let class = 1;
    for layer in [0, 1] {
        let h = full.hidden_states[layer].clone();
        let hv = Var::from_tensor(&h).unwrap();
        let probes: Vec<Var> = full.attentions[layer..]
            .iter()
            .map(|a| Var::zeros(a.shape(), DType::F64, &Device::Cpu).unwrap())
            .collect();
        let probe_ts: Vec<Tensor> = probes.iter().map(|p| p.as_tensor().clone()).collect();
        let y = target_from(
            model,
            hv.as_tensor(),
            bias.as_ref(),
            layer,
            &probe_ts,
            class,
        );
        let grads = y.backward().unwrap();
        let gh = grads
            .get(hv.as_tensor())
            .expect("no gradient reached h: a no-backward op is on the path");
        check_fd(
            &format!("{name} dy/dh^({layer})"),
            &h,
            gh,
            &[3, 40, 77, 150, 301],
            |x| scalar(&target_from(model, x, bias.as_ref(), layer, &[], class)),
        );
        for (i, p) in probes.iter().enumerate() {
            let gp = grads
                .get(p.as_tensor())
                .expect("no gradient reached an attention probe");
            let zeros: Vec<Tensor> = probes
                .iter()
                .map(|q| q.as_tensor().zeros_like().unwrap())
                .collect();
            check_fd(
                &format!("{name} dy/dA^({})", layer + i + 1),
                p.as_tensor(),
                gp,
                &[5, 17, 29],
                |x| {
                    let mut ps = zeros.clone();
                    ps[i] = x.clone();
                    scalar(&target_from(model, &h, bias.as_ref(), layer, &ps, class))
                },
            );
        }
    }
}

#[test]
fn bert_gradients_match_finite_differences() {
    hidden_and_attention_gradients("bert");
}

#[test]
fn roberta_gradients_match_finite_differences() {
    hidden_and_attention_gradients("roberta");
}

#[test]
fn distilbert_gradients_match_finite_differences() {
    hidden_and_attention_gradients("distilbert");
}

#[test]
fn electra_gradients_match_finite_differences() {
    hidden_and_attention_gradients("electra");
}

#[test]
fn albert_gradients_match_finite_differences() {
    hidden_and_attention_gradients("albert");
}

#[test]
fn vit_gradients_match_finite_differences() {
    hidden_and_attention_gradients("vit");
}

#[test]
fn vit_pixel_gradient_matches_finite_differences() {
    let m = load("vit");
    let model = m.model.as_ref();
    let input = first_input(&m, "vit");
    let px = model.input_embeddings(&input).unwrap();
    let pv = Var::from_tensor(&px).unwrap();
    let y_of = |x: &Tensor| {
        let h0 = model.embed(&input, x).unwrap();
        target_from(model, &h0, None, 0, &[], 2)
    };
    let grads = y_of(pv.as_tensor()).backward().unwrap();
    let g = grads
        .get(pv.as_tensor())
        .expect("no gradient reached the pixels");
    check_fd("vit dy/dpixels", &px, g, &[0, 100, 1000, 2047, 3000], |x| {
        scalar(&y_of(x))
    });
}

/// Every family: gradients of every logit reach the input embeddings and every block's probe,
/// and are not all zero.
#[test]
fn every_family_keeps_the_graph_from_logits_to_inputs() {
    for name in FAMILIES {
        for dtype in [DType::F32, DType::F64] {
            let m = load_model(fixture(name).to_str().unwrap(), dtype, &Device::Cpu).unwrap();
            let model = m.model.as_ref();
            let input = first_input(&m, name);
            let e = Var::from_tensor(
                &model
                    .input_embeddings(&input)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap(),
            )
            .unwrap();
            let h0 = model.embed(&input, e.as_tensor()).unwrap();
            let bias = input.mask_bias(dtype).unwrap();
            let plain = model.blocks(&h0, bias.as_ref(), 0, &[]).unwrap();
            let probes: Vec<Var> = plain
                .attentions
                .iter()
                .map(|a| Var::zeros(a.shape(), dtype, &Device::Cpu).unwrap())
                .collect();
            let pts: Vec<Tensor> = probes.iter().map(|p| p.as_tensor().clone()).collect();
            let out = model.blocks(&h0, bias.as_ref(), 0, &pts).unwrap();
            let logits = model.head(out.hidden.last().unwrap()).unwrap();
            let grads = logits.sum_all().unwrap().backward().unwrap();
            let nonzero = |t: &Tensor| {
                t.abs()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_dtype(DType::F64)
                    .unwrap()
                    .to_scalar::<f64>()
                    .unwrap()
                    > 0.0
            };
            let ge = grads.get(e.as_tensor()).unwrap_or_else(|| {
                panic!("{name} {dtype:?}: graph cut before the input embeddings")
            });
            assert!(nonzero(ge), "{name} {dtype:?}: zero input gradient");
            for (l, p) in probes.iter().enumerate() {
                let gp = grads
                    .get(p.as_tensor())
                    .unwrap_or_else(|| panic!("{name} {dtype:?}: graph cut at block {}", l + 1));
                assert!(
                    nonzero(gp),
                    "{name} {dtype:?}: zero attention gradient at block {}",
                    l + 1
                );
            }
        }
    }
}
