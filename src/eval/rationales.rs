//! The rationale metrics, run once the whole data set has been seen (their hard-rationale k is
//! the mean rationale length): calig's token-F1@k, IOU-F1 and AUPRC on ERASER tokens, the
//! ERASER-format export, and ferret's plausibility on sub-word tokens.

use super::faithfulness::{Eraser, THRESHOLDS};
use super::ferret;
use super::metrics::MetricChoice;
use super::outcome::{Collector, ExampleInfo};
use super::plausibility::{self, TOKEN_F1_KS};
use crate::model::LoadedModel;
use std::collections::BTreeSet;

/// Full-input probabilities and ERASER removal scores of one example and method.
pub(super) type FaithRecord = (Vec<f64>, Eraser);

/// What the rationale metrics need from one example, kept until the end of the run.
pub(super) struct RationaleCase {
    pub(super) example: usize,
    /// Gold units (visible part) and gold spans clipped to the visible part.
    pub(super) gold: BTreeSet<usize>,
    pub(super) gold_spans: Vec<(usize, usize)>,
    pub(super) visible: usize,
    pub(super) doc_tokens: usize,
    /// Unit scores of the gold class, per method.
    pub(super) scores: Vec<Vec<f64>>,
    /// ferret: the rationale's sub-word tokens (indices among the tokens between the first and
    /// the last), whether the explained (predicted) class is the gold one (ferret scores
    /// plausibility only then), and the predicted class's token scores per method.
    pub(super) ferret_gold: BTreeSet<usize>,
    pub(super) ferret_scored: bool,
    pub(super) ferret_scores: Vec<Vec<f64>>,
}

/// The hard-rationale k: the mean rationale size, rounded, at least 1.
fn mean_size(sizes: impl ExactSizeIterator<Item = usize>) -> usize {
    let n = sizes.len().max(1);
    ((sizes.sum::<usize>() as f64 / n as f64).round() as usize).max(1)
}

fn label_names(m: &LoadedModel, p: &[f64]) -> serde_json::Value {
    m.config
        .labels
        .iter()
        .zip(p)
        .map(|(l, v)| (l.clone(), serde_json::json!(v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// calig's rationale metrics of every document with a visible gold token; the hard-rationale
/// k and, with IOU-F1, its corpus value per method.
pub(super) fn score(
    cases: &[RationaleCase],
    want: &dyn Fn(MetricChoice) -> bool,
    col: &mut Collector,
    n_methods: usize,
) -> (usize, Option<Vec<f64>>) {
    let with_gold: Vec<&RationaleCase> = cases.iter().filter(|c| !c.gold.is_empty()).collect();
    let k = mean_size(with_gold.iter().map(|c| c.gold.len()));
    let mut matches = vec![Vec::new(); n_methods];
    for c in &with_gold {
        for (mi, s) in c.scores.iter().enumerate() {
            if want(MetricChoice::TokenF1) {
                let curve: Vec<f64> = TOKEN_F1_KS
                    .iter()
                    .map(|&kk| plausibility::token_f1(&plausibility::top_k(s, kk), &c.gold))
                    .collect();
                for (kk, f) in TOKEN_F1_KS.iter().zip(&curve) {
                    col.value(&format!("token_f1@{kk}"), c.example, mi, *f);
                }
                let mean = curve.iter().sum::<f64>() / TOKEN_F1_KS.len() as f64;
                col.value("token_f1_mean", c.example, mi, mean);
                let xs: Vec<f64> = TOKEN_F1_KS.iter().map(|&k| k as f64).collect();
                col.curve("token_f1_at_k", &xs, mi, curve);
                let hard = plausibility::top_k(s, k);
                col.value(
                    "token_f1",
                    c.example,
                    mi,
                    plausibility::token_f1(&hard, &c.gold),
                );
            }
            if want(MetricChoice::IouF1) {
                let spans = plausibility::spans(&plausibility::top_k(s, k));
                let sm = plausibility::span_match(&spans, &c.gold_spans);
                col.value("iou_f1", c.example, mi, sm.f1());
                matches[mi].push(sm);
            }
            if want(MetricChoice::Auprc) {
                if let Some(a) = plausibility::auprc(s, &c.gold) {
                    col.value("auprc", c.example, mi, a);
                }
            }
        }
    }
    let corpus_iou = want(MetricChoice::IouF1).then(|| {
        matches
            .iter()
            .map(|m| plausibility::corpus_iou_f1(m))
            .collect()
    });
    (k, corpus_iou)
}

/// ERASER's own JSONL, one record per document and method.
pub(super) fn eraser_records(
    m: &LoadedModel,
    cases: &[RationaleCase],
    infos: &[ExampleInfo],
    faith: &[Vec<Option<FaithRecord>>],
    k: usize,
    n_methods: usize,
) -> Vec<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    #[allow(clippy::needless_range_loop)] // mi indexes the cases' and faith's inner rows
    for mi in 0..n_methods {
        let mut lines = Vec::new();
        for c in cases {
            let info = &infos[c.example];
            let mut soft = c.scores[mi].clone();
            soft.resize(c.doc_tokens, 0.0);
            let hard: Vec<serde_json::Value> =
                plausibility::spans(&plausibility::top_k(&c.scores[mi], k))
                    .iter()
                    .map(|(s, e)| serde_json::json!({"start_token": s, "end_token": e}))
                    .collect();
            let mut rec = serde_json::json!({
                "annotation_id": info.id,
                "rationales": [{
                    "docid": info.id,
                    "hard_rationale_predictions": hard,
                    "soft_rationale_predictions": soft,
                }],
                "calig_visible_tokens": c.visible,
                "calig_token_f1_target": info.label,
            });
            if let Some((probs, e)) = &faith[c.example][mi] {
                let twenty = THRESHOLDS.iter().position(|&t| t == 0.2).unwrap_or(3);
                rec["classification"] = m.config.labels[info.predicted].clone().into();
                rec["classification_scores"] = label_names(m, probs);
                rec["comprehensiveness_classification_scores"] = label_names(m, &e.without[twenty]);
                rec["sufficiency_classification_scores"] = label_names(m, &e.only[twenty]);
                rec["thresholded_scores"] = THRESHOLDS
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        serde_json::json!({
                            "threshold": t,
                            "comprehensiveness_classification_scores": label_names(m, &e.without[i]),
                            "sufficiency_classification_scores": label_names(m, &e.only[i]),
                        })
                    })
                    .collect::<Vec<_>>()
                    .into();
            }
            lines.push(rec);
        }
        out.push(lines);
    }
    out
}

/// ferret's plausibility metrics over the documents with a rationale, at the end of the run
/// when the mean rationale size (its top-k) is known; that k, when they were asked for.
pub(super) fn ferret_plausibility(
    cases: &[RationaleCase],
    want: &dyn Fn(MetricChoice) -> bool,
    col: &mut Collector,
) -> Option<usize> {
    let wanted = [
        MetricChoice::AuprcPlau,
        MetricChoice::TokenF1Plau,
        MetricChoice::TokenIouPlau,
    ];
    if !wanted.iter().any(|&c| want(c)) {
        return None;
    }
    let with_gold: Vec<&RationaleCase> =
        cases.iter().filter(|c| !c.ferret_gold.is_empty()).collect();
    let k = mean_size(with_gold.iter().map(|c| c.ferret_gold.len()));
    for c in with_gold.iter().filter(|c| c.ferret_scored) {
        for (mi, s) in c.ferret_scores.iter().enumerate() {
            let (f1, iou) = ferret::hard_plausibility(s, &c.ferret_gold, k);
            if want(MetricChoice::TokenF1Plau) {
                col.value("token_f1_plau", c.example, mi, f1);
            }
            if want(MetricChoice::TokenIouPlau) {
                col.value("token_iou_plau", c.example, mi, iou);
            }
            if want(MetricChoice::AuprcPlau) {
                if let Some(a) = ferret::auprc_positive(s, &c.ferret_gold) {
                    col.value("auprc_plau", c.example, mi, a);
                }
            }
        }
    }
    Some(k)
}
