//! `--preset ferret`'s metrics against ferret itself: tools/reference/make_ferret.py handed
//! fixed token scores and rationales to ferret-xai 0.4.2's evaluators on the BERT, RoBERTa and
//! XLM-R fixtures (float32 PyTorch); calig's implementation (src/eval/ferret.rs, with the
//! decode-and-re-tokenise removal of src/eval/removal.rs) must give the same values.

mod common;

use calig::eval::faithfulness::Predictor;
use calig::eval::ferret;
use calig::eval::removal::Retokenized;
use calig::explain::{prepare, softmax, ExplainInput};
use calig::model::{load_model, ModelInput};
use candle_core::{DType, Device};
use common::*;
use std::collections::BTreeSet;

/// Probabilities of two float32 implementations (calig's engine, PyTorch).
const TOL: f64 = 2e-5;

fn close(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= TOL,
        "{what}: calig {got} vs ferret {want}"
    );
}

#[test]
fn ferret_metrics_match_ferret_on_every_text_family() {
    for family in ["bert", "roberta", "xlmr"] {
        let m = load_model(fixture(family).to_str().unwrap(), DType::F32, &Device::Cpu).unwrap();
        let tokenizer = m.tokenizer.as_ref().unwrap();
        let reference = read_json(&fixture(family).join("ferret.json"));
        for (i, ex) in reference["examples"].as_array().unwrap().iter().enumerate() {
            let what = |metric: &str| format!("{family} example {i} {metric}");
            let text = ex["text"].as_str().unwrap();
            let target = ex["target"].as_u64().unwrap() as usize;
            let p = prepare(&m, &ExplainInput::Text(text.into()), None).unwrap();
            let ids: Vec<u32> = match &p.subject.input {
                ModelInput::Text(t) => t.input_ids.flatten_all().unwrap().to_vec1().unwrap(),
                ModelInput::Image(_) => unreachable!(),
            };
            let predictor = Retokenized::new(m.model.as_ref(), &m.config, tokenizer, &ids);
            let p_full = softmax(&p.subject.logits)[target];
            let (scores, _) = flat(&ex["scores"]);
            assert_eq!(scores.len(), ids.len(), "{}", what("token count"));
            assert_eq!(predictor.len(), ids.len() - 2);
            let content = ferret::inner(&scores);

            let a = ferret::aopc(&predictor, content, target, p_full).unwrap();
            close(
                &what("aopc_compr"),
                a.comprehensiveness,
                ex["aopc_compr"].as_f64().unwrap(),
            );
            close(
                &what("aopc_suff"),
                a.sufficiency,
                ex["aopc_suff"].as_f64().unwrap(),
            );
            let loo = ferret::leave_one_out(&predictor, target, p_full).unwrap();
            let tau = ferret::kendall_tau_b(&loo, content).unwrap();
            close(
                &what("taucorr_loo"),
                tau,
                ex["taucorr_loo"].as_f64().unwrap(),
            );

            let (rationale, _) = flat(&ex["rationale"]);
            let gold: BTreeSet<usize> = (1..rationale.len() - 1)
                .filter(|&t| rationale[t] == 1.0)
                .map(|t| t - 1)
                .collect();
            let k = ex["top_k"].as_u64().unwrap() as usize;
            let (f1, iou) = ferret::hard_plausibility(content, &gold, k);
            close(
                &what("token_f1_plau"),
                f1,
                ex["token_f1_plau"].as_f64().unwrap(),
            );
            close(
                &what("token_iou_plau"),
                iou,
                ex["token_iou_plau"].as_f64().unwrap(),
            );
            let auprc = ferret::auprc_positive(content, &gold).unwrap();
            close(
                &what("auprc_plau"),
                auprc,
                ex["auprc_plau"].as_f64().unwrap(),
            );
        }
    }
}

/// Deleting a token and re-reading the text is not deleting its id: "a go ##r ##ge ##ous"
/// without "go" decodes to "argeous" (as transformers' `decode` writes it, spaces before
/// punctuation cleaned up), which the tokenizer reads as "ar ##ge ##ous".
#[test]
fn removal_re_tokenises_the_decoded_text() {
    let m = load_model(fixture("bert").to_str().unwrap(), DType::F32, &Device::Cpu).unwrap();
    let tokenizer = m.tokenizer.as_ref().unwrap();
    let (ids, _) = tokenizer.ids("a gorgeous , witty movie .").unwrap();
    let mut kept = ids[1..ids.len() - 1].to_vec();
    kept.remove(1); // "go"
    let text = tokenizer.decode(&kept).unwrap();
    assert_eq!(text, "argeous, witty movie.");
    let (again, _) = tokenizer.ids(&text).unwrap();
    assert_eq!(
        again.len(),
        kept.len() + 1,
        "ar ##ge ##ous: one token fewer"
    );
}
