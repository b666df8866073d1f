//! What a method returns ([`Attribution`]): the scores and what positions they cover, per-layer
//! scores, the completeness delta and the warnings about them.

use serde::Serialize;

/// What positions a score vector covers.
#[derive(Debug, Clone, PartialEq)]
pub enum Scores {
    /// One score per token (\[CLS\] first for ViT).
    Tokens(Vec<f64>),
    /// One score per image patch (row-major grid).
    Patches(Vec<f64>),
}

/// Completeness: Σ attributions − (y_c(input) − y_c(baseline)).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Delta {
    None,
    Scalar(f64),
    /// Index = layer.
    PerLayer(Vec<Option<f64>>),
}

/// The worst share of a (delta, logit difference) list.
pub fn worst_share(pairs: &[(f64, f64)]) -> f64 {
    pairs.iter().map(|(d, y)| share(*d, *y)).fold(0.0, f64::max)
}

/// |delta| / |y_c(x) − y_c(x′)|: how far a path misses completeness, as a share.
pub fn share(delta: f64, difference: f64) -> f64 {
    delta.abs() / difference.abs().max(1e-12)
}

/// Share of |y_c(input) − y_c(baseline)| above which a convergence delta is reported.
pub const DELTA_WARNING_SHARE: f64 = 0.05;

/// A warning when the worst (delta, logit difference) pair misses completeness by more than
/// [`DELTA_WARNING_SHARE`] of the difference (and by more than 1e-3 in absolute terms); `steps`
/// is the (largest) step count the paths used, `gauss_legendre` whether they used that rule
/// (then the advice is more steps or `steps=auto`, not the rule in use).
pub(crate) fn delta_warning(
    pairs: &[(f64, f64)],
    steps: usize,
    gauss_legendre: bool,
) -> Option<String> {
    let (delta, diff) = pairs
        .iter()
        .copied()
        .max_by(|a, b| share(a.0, a.1).total_cmp(&share(b.0, b.1)))?;
    if delta.abs() <= 1e-3 || delta.abs() <= DELTA_WARNING_SHARE * diff.abs() {
        return None;
    }
    Some(format!(
        "convergence delta {delta:+.3e} is {:.0} % of the logit difference {diff:+.3e}: the \
         integral is inaccurate; use more steps (now {steps}) or {}",
        100.0 * delta.abs() / diff.abs().max(1e-12),
        if gauss_legendre {
            "steps=auto"
        } else {
            "the gausslegendre quadrature"
        }
    ))
}

/// A method's result before it is dressed as an `Explanation` (explain.rs).
#[derive(Debug, Clone)]
pub struct Attribution {
    pub scores: Scores,
    /// Per-layer token scores, index = layer (None where a method has no value for a layer).
    pub layers: Option<Vec<Option<Vec<f64>>>>,
    pub delta: Delta,
    /// Method-specific extras (CA-LIG's r, a, s parts).
    pub details: Option<serde_json::Value>,
    /// What the user should know about this result (an inaccurate integral).
    pub warnings: Vec<String>,
    /// Path methods: (completeness delta, y_c(x) − y_c(x′)) of every path.
    pub completeness: Vec<(f64, f64)>,
    /// Path methods: the steps each path used (they differ under `--steps auto`).
    pub steps: Vec<usize>,
    /// y_c at the reference input x′, when the method computed it on the way.
    pub baseline_logit: Option<f64>,
}

impl Attribution {
    /// A single map, without layers, delta or details.
    pub fn scores_only(scores: Scores) -> Self {
        Self {
            scores,
            layers: None,
            delta: Delta::None,
            details: None,
            warnings: Vec::new(),
            completeness: Vec::new(),
            steps: Vec::new(),
            baseline_logit: None,
        }
    }

    /// The largest |delta| / |y_c(x) − y_c(x′)| over the paths (0 without paths).
    pub fn worst_delta_share(&self) -> f64 {
        worst_share(&self.completeness)
    }
}

/// Places per-layer values at their layer index in a 0..=L vector.
pub(crate) fn by_layer<T: Clone>(
    num_layers: usize,
    layers: &[usize],
    values: &[T],
) -> Vec<Option<T>> {
    let mut out = vec![None; num_layers + 1];
    for (&l, v) in layers.iter().zip(values) {
        out[l] = Some(v.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_delta_warning_advises_what_is_not_already_in_use() {
        let pairs = [(0.5, 2.0)];
        let gl = super::delta_warning(&pairs, 8, true).unwrap();
        assert!(
            gl.contains("(now 8) or steps=auto") && !gl.contains("gausslegendre"),
            "{gl}"
        );
        let riemann = super::delta_warning(&pairs, 8, false).unwrap();
        assert!(
            riemann.contains("the gausslegendre quadrature"),
            "{riemann}"
        );
        assert!(super::delta_warning(&[(1e-4, 2.0)], 8, true).is_none());
    }
}
