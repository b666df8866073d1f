//! `--steps auto`: how many Gauss–Legendre steps a path gets next, from the completeness deltas
//! of its earlier tries. Gauss–Legendre nodes do not nest, so every try is a fresh integral;
//! its error falls about geometrically with the step count on these smooth paths, so after two
//! tries the rate predicts the count that meets the tolerance, and one more try usually ends it.

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

/// The worst share of a (delta, logit difference) list.
pub fn worst_share(pairs: &[(f64, f64)]) -> f64 {
    pairs.iter().map(|(d, y)| share(*d, *y)).fold(0.0, f64::max)
}

pub fn share(delta: f64, difference: f64) -> f64 {
    delta.abs() / difference.abs().max(1e-12)
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
