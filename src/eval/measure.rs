//! One method's metrics on one example: the removal metrics (ERASER, deletion/insertion, the
//! perturbation test) and ferret's, and the scores the rationale metrics read at the end.

use super::cache::Measured;
use super::faithfulness::{self, Predictor, THRESHOLDS};
use super::ferret;
use super::m4;
use super::metrics::MetricChoice;
use super::removal::Retokenized;
use super::units::Units;
use crate::error::Result;

/// What one method's metrics on one example need.
pub(super) struct Measure<'a> {
    pub(super) predictor: &'a dyn Predictor,
    pub(super) units: &'a Units,
    pub(super) probs: &'a [f64],
    pub(super) predicted: usize,
    pub(super) gold: usize,
    pub(super) want: &'a dyn Fn(MetricChoice) -> bool,
    pub(super) rationales: bool,
    /// Text (M⁴'s text protocol) or image patches.
    pub(super) is_text: bool,
    pub(super) ferret: Option<&'a FerretInput<'a>>,
    /// The data set has rationales: keep the scores ferret's plausibility reads.
    pub(super) ferret_rationales: bool,
}

/// ferret's view of one text: its removal and, once a method asks, the leave-one-out
/// importances that every method's τ-LOO shares.
pub(super) struct FerretInput<'a> {
    pub(super) predictor: Retokenized<'a>,
    pub(super) loo: std::cell::RefCell<Option<Vec<f64>>>,
}

impl FerretInput<'_> {
    fn leave_one_out(&self, class: usize, p_full: f64) -> Result<Vec<f64>> {
        if let Some(v) = self.loo.borrow().as_ref() {
            return Ok(v.clone());
        }
        let v = ferret::leave_one_out(&self.predictor, class, p_full)?;
        *self.loo.borrow_mut() = Some(v.clone());
        Ok(v)
    }
}

/// ferret's faithfulness metrics of one method on one text, and (with rationales) the scores
/// its plausibility metrics read at the end.
fn measure_ferret(
    x: &Measure,
    f: &FerretInput,
    scores_for: &mut dyn FnMut(usize) -> Result<Vec<f64>>,
    r: &mut Measured,
) -> Result<()> {
    let want = x.want;
    let s = scores_for(x.predicted)?;
    // The units: every token but the first and the last.
    let content = ferret::inner(&s).to_vec();
    let p_full = x.probs[x.predicted];
    if want(MetricChoice::AopcCompr) || want(MetricChoice::AopcSuff) {
        let a = ferret::aopc(&f.predictor, &content, x.predicted, p_full)?;
        if want(MetricChoice::AopcCompr) {
            r.values.push(("aopc_compr".into(), a.comprehensiveness));
        }
        if want(MetricChoice::AopcSuff) {
            r.values.push(("aopc_suff".into(), a.sufficiency));
        }
    }
    if want(MetricChoice::TaucorrLoo) {
        let loo = f.leave_one_out(x.predicted, p_full)?;
        // Undefined (scipy: nan) when the scores or the importances are constant: left out.
        if let Some(t) = ferret::kendall_tau_b(&loo, &content) {
            r.values.push(("taucorr_loo".into(), t));
        }
    }
    if x.ferret_rationales {
        r.ferret_scores = Some(content);
    }
    Ok(())
}

/// M⁴'s MoRF, LeRF and ABPC of the predicted class's map: text over the sub-word tokens
/// between the special ones (as InterpretDL's PerturbationNLP), images over the patches.
fn measure_m4(x: &Measure, token_scores: &[f64], r: &mut Measured) -> Result<()> {
    let (units, unit_scores): (Vec<Vec<usize>>, Vec<f64>) = if x.is_text {
        let fixed = x.predictor.fixed();
        (0..x.predictor.len())
            .filter(|&i| !fixed[i])
            .map(|i| (vec![i], token_scores[i]))
            .unzip()
    } else {
        (x.units.positions.clone(), x.units.scores(token_scores))
    };
    let (m, morf_sets, lerf_sets) =
        m4::m4(x.predictor, &units, &unit_scores, x.predicted, x.is_text)?;
    r.values.push(("morf".into(), m.morf));
    r.values.push(("lerf".into(), m.lerf));
    r.values.push(("abpc".into(), m.abpc));
    r.m4 = Some(serde_json::json!({
        "class": x.predicted,
        "units": units,
        "unit_scores": unit_scores,
        "morf_removed": morf_sets,
        "lerf_removed": lerf_sets,
        "morf_curve": m.morf_curve,
        "lerf_curve": m.lerf_curve,
        "morf": m.morf,
        "lerf": m.lerf,
        "abpc": m.abpc,
    }));
    r.curves.push(("morf".into(), m.morf_curve));
    r.curves.push(("lerf".into(), m.lerf_curve));
    Ok(())
}

/// The removal metrics of one method on one example, and its gold-class unit scores for the
/// rationale metrics; `scores_for(class)` gives the token scores explaining `class`.
pub(super) fn measure(
    x: &Measure,
    scores_for: &mut dyn FnMut(usize) -> Result<Vec<f64>>,
) -> Result<Measured> {
    let want = x.want;
    let mut r = Measured::default();
    let eraser_wanted = want(MetricChoice::Comprehensiveness)
        || want(MetricChoice::Sufficiency)
        || want(MetricChoice::LogOdds);
    let curves_wanted = want(MetricChoice::Deletion) || want(MetricChoice::Insertion);
    if eraser_wanted || curves_wanted {
        let unit_scores = x.units.scores(&scores_for(x.predicted)?);
        if eraser_wanted {
            let e = faithfulness::eraser(
                x.predictor,
                &x.units.positions,
                &unit_scores,
                x.predicted,
                x.probs[x.predicted],
            )?;
            if want(MetricChoice::Comprehensiveness) {
                r.values
                    .push(("comprehensiveness_aopc".into(), e.comprehensiveness_aopc()));
                for (t, v) in THRESHOLDS.iter().zip(&e.comprehensiveness) {
                    r.values.push((format!("comprehensiveness@{t}"), *v));
                }
            }
            if want(MetricChoice::Sufficiency) {
                r.values
                    .push(("sufficiency_aopc".into(), e.sufficiency_aopc()));
                for (t, v) in THRESHOLDS.iter().zip(&e.sufficiency) {
                    r.values.push((format!("sufficiency@{t}"), *v));
                }
            }
            if want(MetricChoice::LogOdds) {
                r.values.push(("log_odds@0.2".into(), e.log_odds_20));
            }
            r.faith = Some(e);
        }
        if curves_wanted {
            let (del, ins) = faithfulness::deletion_insertion(
                x.predictor,
                &x.units.positions,
                &unit_scores,
                x.predicted,
            )?;
            for (name, c, wanted) in [
                ("deletion", del, want(MetricChoice::Deletion)),
                ("insertion", ins, want(MetricChoice::Insertion)),
            ] {
                if wanted {
                    r.values.push((format!("{name}_auc"), c.auc));
                    r.curves.push((name.into(), c.values));
                }
            }
        }
    }
    if want(MetricChoice::M4) {
        measure_m4(x, &scores_for(x.predicted)?, &mut r)?;
    }
    if want(MetricChoice::Perturbation) || x.rationales {
        let s = scores_for(x.gold)?;
        if want(MetricChoice::Perturbation) {
            let (pos, neg) = faithfulness::perturbation(x.predictor, &s, x.gold)?;
            r.values.push(("perturbation_positive_auc".into(), pos.auc));
            r.values.push(("perturbation_negative_auc".into(), neg.auc));
            r.curves.push(("perturbation_positive".into(), pos.values));
            r.curves.push(("perturbation_negative".into(), neg.values));
        }
        if x.rationales {
            r.gold_unit_scores = Some(x.units.scores(&s));
        }
    }
    if let Some(f) = x.ferret {
        measure_ferret(x, f, scores_for, &mut r)?;
    }
    Ok(r)
}
