//! The numbers that check an explanation — y_c(x), Σ scores, y_c(x′) and the difference, the
//! convergence delta — and what Σ scores is meant to equal for the method, in the same words
//! for the terminal, HTML and PNG.

use super::method_info;
use crate::attr::{Completeness, Delta};
use crate::explain::{ContrastRef, Explanation};

/// One number with its label.
pub(crate) struct Check {
    pub(crate) label: &'static str,
    pub(crate) value: String,
}

/// The checks of `e`, in reading order.
pub(crate) fn checks(e: &Explanation) -> Vec<Check> {
    // With a contrast, f = y_c − y_k or the log-odds stands where y_c does.
    let f = ContrastRef::objective(e.contrast.as_ref(), e.target.index);
    let y = f.value(&e.logits).unwrap_or(f64::NAN);
    let contrasted = e.contrast.is_some();
    let (at_input, at_reference, difference) = if contrasted {
        ("f(x)", "f(x′) (reference)", "f(x) − f(x′)")
    } else {
        ("y_c(x)", "y_c(x′) (reference)", "y_c(x) − y_c(x′)")
    };
    let check = |label, value| Check { label, value };
    let mut out = vec![check(at_input, format!("{y:+.4}"))];
    if let Some(c) = &e.contrast {
        out.push(check(
            "f =",
            match c {
                ContrastRef::Class { label, .. } => format!("y_c − y_k (k = {label})"),
                ContrastRef::Rest => "log p_c − log(1 − p_c)".into(),
            },
        ));
    }
    out.push(check("Σ scores", format!("{:+.4}", e.sum_of_scores)));
    if let Some(n) = &e.neutral_reference {
        out.push(check(
            "neutral reference",
            format!("{} (entropy {:.3} of uniform)", n.baseline, n.entropy_ratio),
        ));
    }
    if let Some(y0) = e.baseline_logit {
        out.push(check(at_reference, format!("{y0:+.4}")));
        out.push(check(difference, format!("{:+.4}", y - y0)));
    }
    match &e.convergence_delta {
        Delta::Scalar(d) if completeness(e) == Completeness::Logit => {
            out.push(check("Σ relevance − y_c", format!("{d:+.3e}")));
        }
        Delta::Scalar(d) => out.push(check("convergence delta", format!("{d:+.3e}"))),
        Delta::PerLayer(v) => {
            let worst = v.iter().flatten().fold(0.0f64, |m, d| m.max(d.abs()));
            out.push(check("max |delta| over layers", format!("{worst:.3e}")));
        }
        Delta::None => {}
    }
    out
}

/// What the headline scores conserve (none for a method this calig does not know).
fn completeness(e: &Explanation) -> Completeness {
    method_info(e).map_or(Completeness::None, |i| i.completeness)
}

/// What Σ scores is meant to equal for this method, one sentence.
pub(crate) fn sum_meaning(e: &Explanation) -> &'static str {
    let contrasted = e.contrast.is_some();
    match completeness(e) {
        Completeness::LogitDifference if contrasted => {
            "Σ scores is meant to equal f(x) − f(x′), f the contrast above (completeness); the \
             convergence delta is how far it is off"
        }
        Completeness::Logit if contrasted => {
            "Σ scores is meant to equal f(x), f the contrast above (LRP conservation); biases \
             and the softmax rule absorb the rest, which the delta shows"
        }
        Completeness::LogitDifference => {
            "Σ scores is meant to equal y_c(x) − y_c(x′) (completeness); the convergence delta \
             is how far it is off"
        }
        Completeness::Logit => {
            "Σ scores is meant to equal y_c(x) (LRP conservation); biases and the softmax rule \
             absorb the rest, which the delta shows"
        }
        Completeness::None if matches!(e.convergence_delta, Delta::PerLayer(_)) => {
            "Σ scores is not meant to equal a logit: the fused map reweights and propagates the \
             layers' relevance; each layer's own relevance r^(l) is complete (its delta above)"
        }
        Completeness::None => "Σ scores is not meant to equal a logit: the method has no sum rule",
    }
}

/// The checks on one line, `label value` joined by `sep`.
pub(crate) fn line(e: &Explanation, sep: &str) -> String {
    checks(e)
        .iter()
        .map(|c| format!("{} {}", c.label, c.value))
        .collect::<Vec<_>>()
        .join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;

    #[test]
    fn every_method_says_what_its_sum_means() {
        let mut e = sample::text();
        for (method, needle) in [
            ("ig", "y_c(x) − y_c(x′) (completeness)"),
            ("lig", "y_c(x) − y_c(x′) (completeness)"),
            ("attnlrp", "LRP conservation"),
            ("gae", "no sum rule"),
        ] {
            e.method = method.into();
            e.convergence_delta = Delta::Scalar(0.0);
            assert!(sum_meaning(&e).contains(needle), "{method}");
        }
        e.method = "calig".into();
        e.convergence_delta = Delta::PerLayer(vec![None, Some(1e-3)]);
        assert!(sum_meaning(&e).contains("not meant to equal a logit"));
        let labels: Vec<&str> = checks(&e).iter().map(|c| c.label).collect();
        assert_eq!(
            labels,
            [
                "y_c(x)",
                "Σ scores",
                "y_c(x′) (reference)",
                "y_c(x) − y_c(x′)",
                "max |delta| over layers"
            ]
        );
    }
}
