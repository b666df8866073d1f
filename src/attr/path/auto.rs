//! `--steps auto`: how many steps a path gets next, from the completeness deltas of its earlier
//! tries ([`next_steps`], a pure decision), and the one loop that integrates ig's and lig's
//! paths until each meets the tolerance ([`integrate_paths`]). Gauss–Legendre nodes do not nest, so every try is a fresh integral;
//! its error falls about geometrically with the step count on these smooth paths, so after two
//! tries the rate predicts the count that meets the tolerance, and one more try usually ends it.

use super::{chunk_rows, integrate, Path, PathOptions, Space};
use crate::attr::attribution::{delta_warning, share, worst_share};
use crate::attr::params::Params;
use crate::attr::quadrature::Quadrature;
use crate::attr::subject::{to_vec, Subject};
use crate::error::{CaligError, Result};
use candle_core::Tensor;

/// The first try.
pub const FIRST_STEPS: usize = 8;
/// The most steps a path gets.
pub const MAX_STEPS: usize = 512;
/// Below this share of the logit difference a delta that stops shrinking is rounding, not
/// quadrature error: more steps cannot lower it.
const ROUNDING_SHARE: f64 = 1e-4;

/// One try: the steps and |completeness delta| / |y_c(x) − y_c(x′)|.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Try {
    pub steps: usize,
    pub share: f64,
}

/// The next step count, or None when the path is done: within `tolerance`, at the rounding
/// floor, or at [`MAX_STEPS`].
pub fn next_steps(tries: &[Try], tolerance: f64) -> Option<usize> {
    let last = *tries.last()?;
    if last.share <= tolerance || last.steps >= MAX_STEPS {
        return None;
    }
    let previous = tries.len().checked_sub(2).map(|i| tries[i]);
    if let Some(p) = previous {
        let shrinking = last.share < 0.5 * p.share;
        if !shrinking && last.share < ROUNDING_SHARE {
            return None;
        }
        if shrinking && last.share > 0.0 && last.steps > p.steps {
            // share(n) ≈ share(last) · ρ^(n − last), ρ from the last two tries; 25 % margin.
            let per_step = (last.share / p.share).ln() / (last.steps - p.steps) as f64;
            let more = ((tolerance / last.share).ln() / per_step * 1.25).ceil() as usize;
            let n = (last.steps + more.max(1))
                .min(4 * last.steps)
                .next_multiple_of(4);
            return Some(n.min(MAX_STEPS));
        }
    }
    Some((2 * last.steps).min(MAX_STEPS))
}

/// Said when `--steps auto` ended above the tolerance (at the cap or the rounding floor).
pub(crate) fn auto_steps_warning(pairs: &[(f64, f64)], tolerance: f64) -> Option<String> {
    let share = worst_share(pairs);
    (share > tolerance).then(|| {
        format!(
            "--steps auto ended with a completeness delta of {:.2e} of the logit difference, \
             above the tolerance of {tolerance:.2e} (at {} steps, or where more steps no \
             longer lower it: f32 rounding)",
            share, MAX_STEPS
        )
    })
}

/// Paths integrated until each meets completeness (or at the fixed step count).
pub struct Integrated {
    /// Per path: (input − baseline) ⊙ Σ_k w_k ∂y_c/∂z(α_k).
    pub attributions: Vec<Tensor>,
    /// Per path: Σ attributions − (y_c(x) − y_c(x′)).
    pub deltas: Vec<f64>,
    /// Per path: (delta, y_c(x) − y_c(x′)).
    pub completeness: Vec<(f64, f64)>,
    /// The steps each path was integrated with.
    pub steps: Vec<usize>,
    /// A warning when some delta is large, or `--steps auto` ended above its tolerance.
    pub warning: Option<String>,
    /// Per block, when asked for (see [`super::PathOutput::path_attention`]).
    pub path_attention: Vec<Option<Tensor>>,
}

/// Integrates `paths`, whose logit differences y_c(x) − y_c(x′) are `differences`, with
/// `params.steps`, or under `--steps auto` (`params.tolerance`) from [`FIRST_STEPS`], raising
/// the steps of only the paths whose completeness delta is still above the tolerance, with the
/// count [`next_steps`] predicts: cheap deep paths that converge early are not recomputed with
/// the slow shallow ones. Paths that need the same count share one integration.
pub fn integrate_paths(
    subject: &Subject,
    params: &Params,
    paths: &[Path],
    differences: &[f64],
    attention: bool,
) -> Result<Integrated> {
    let model = subject.model;
    let first = match params.tolerance {
        Some(_) => FIRST_STEPS,
        None => params.steps,
    };
    let mut steps = vec![first; paths.len()];
    let mut tries: Vec<Vec<Try>> = vec![Vec::new(); paths.len()];
    let mut attributions: Vec<Option<Tensor>> = vec![None; paths.len()];
    let mut deltas = vec![0.0; paths.len()];
    let mut path_attention = vec![None; model.num_layers()];
    let mut todo: Vec<usize> = (0..paths.len()).collect();
    while !todo.is_empty() {
        let mut counts: Vec<usize> = todo.iter().map(|&i| steps[i]).collect();
        counts.sort_unstable();
        counts.dedup();
        for n in counts {
            let group: Vec<usize> = todo.iter().copied().filter(|&i| steps[i] == n).collect();
            let rule = params
                .quadrature
                .rule(n)
                .map_err(CaligError::InvalidInput)?;
            let group_paths: Vec<Path> = group.iter().map(|&i| paths[i].clone()).collect();
            let out = integrate(
                model,
                &subject.input,
                subject.mask_bias.as_ref(),
                subject.objective(),
                &group_paths,
                &PathOptions {
                    rule: &rule,
                    engine: model.runtime().engine,
                    max_batch: chunk_rows(params, subject, group_paths.len() * n),
                    attention,
                },
            )?;
            for (&i, attr) in group.iter().zip(out.attributions) {
                deltas[i] = to_vec(&attr)?.iter().sum::<f64>() - differences[i];
                tries[i].push(Try {
                    steps: n,
                    share: share(deltas[i], differences[i]),
                });
                attributions[i] = Some(attr);
                if let Space::Hidden(l) = paths[i].space {
                    if let Some(Some(a)) = out.path_attention.get(l) {
                        path_attention[l] = Some(a.clone());
                    }
                }
            }
        }
        let Some(tolerance) = params.tolerance else {
            break;
        };
        todo.retain(|&i| match next_steps(&tries[i], tolerance) {
            Some(n) => {
                steps[i] = n;
                true
            }
            None => false,
        });
    }
    let completeness: Vec<(f64, f64)> = deltas
        .iter()
        .copied()
        .zip(differences.iter().copied())
        .collect();
    let most = steps.iter().copied().max().unwrap_or(first);
    let gauss_legendre = params.quadrature == Quadrature::GaussLegendre;
    let mut warning = delta_warning(&completeness, most, gauss_legendre);
    if let Some(tolerance) = params.tolerance {
        warning = warning.or_else(|| auto_steps_warning(&completeness, tolerance));
    }
    let attributions = attributions
        .into_iter()
        .map(|a| a.ok_or_else(|| CaligError::Internal("a path was never integrated".into())))
        .collect::<Result<_>>()?;
    Ok(Integrated {
        attributions,
        deltas,
        completeness,
        steps,
        warning,
        path_attention,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(steps: usize, share: f64) -> Try {
        Try { steps, share }
    }

    #[test]
    fn doubles_first_then_predicts_from_the_rate() {
        assert_eq!(next_steps(&[t(8, 0.2)], 0.01), Some(16));
        // 0.2 at 8, 0.02 at 16: a factor 10 per 8 steps; 0.01 needs ln(0.5)/ln(0.1)·8 ≈ 2.4
        // more steps, 3.01 with the margin, so 4: 20 (already a multiple of 4).
        assert_eq!(next_steps(&[t(8, 0.2), t(16, 0.02)], 0.01), Some(20));
        // Far from the target the jump is capped at 4× the last count.
        assert_eq!(next_steps(&[t(8, 0.5), t(16, 0.2)], 1e-9), Some(64));
        assert_eq!(next_steps(&[t(8, 0.02)], 0.05), None);
    }

    #[test]
    fn stops_at_the_rounding_floor_and_at_the_cap() {
        // 3e-6 after 1e-5 is still shrinking (to 0.3 of it): keep going.
        assert!(next_steps(&[t(16, 1e-5), t(32, 3e-6)], 1e-7).is_some());
        // Not shrinking below 1e-4: rounding.
        assert_eq!(next_steps(&[t(16, 2e-6), t(32, 3e-6)], 1e-7), None);
        // Not shrinking but large: double.
        assert_eq!(next_steps(&[t(16, 0.3), t(32, 0.3)], 1e-3), Some(64));
        assert_eq!(next_steps(&[t(512, 0.3)], 1e-3), None);
        assert_eq!(next_steps(&[t(256, 0.3)], 1e-3), Some(512));
    }
}
