//! Integration rules for path methods, with Captum's exact alphas and weights
//! (`captum.attr._utils.approximation_methods`).

use crate::choice::Choice;
use serde::Serialize;
use strum::{EnumMessage, IntoStaticStr, VariantArray};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[derive(VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "snake_case")]
pub enum Quadrature {
    /// Gauss–Legendre nodes and weights (the default).
    #[default]
    #[serde(rename = "gausslegendre")]
    #[strum(serialize = "gausslegendre")]
    GaussLegendre,
    /// Left Riemann sum.
    RiemannLeft,
    /// Right Riemann sum.
    RiemannRight,
    /// Midpoint Riemann sum.
    RiemannMiddle,
    /// Trapezoid rule (Captum's: weights sum to (n − 1)/n).
    RiemannTrapezoid,
}

/// Interpolation coefficients α_k in [0, 1] and their weights. The weights sum to 1, except
/// Captum's trapezoid rule: step 1/n with halved ends sums to (n − 1)/n (kept for parity).
/// The largest number of interpolation steps calig accepts.
pub const MAX_STEPS: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub alphas: Vec<f64>,
    pub weights: Vec<f64>,
}

impl Quadrature {
    /// The rule with `n` points. Riemann rules need n > 1 (as in Captum).
    pub fn rule(&self, n: usize) -> Result<Rule, String> {
        if n == 0 || (n == 1 && *self != Self::GaussLegendre) {
            return Err(format!("{} needs more than {n} steps", self.name()));
        }
        let nf = n as f64;
        Ok(match self {
            Self::GaussLegendre => {
                let (x, w) = gauss_legendre(n);
                Rule {
                    alphas: x.iter().map(|x| 0.5 * (1.0 + x)).collect(),
                    weights: w.iter().map(|w| 0.5 * w).collect(),
                }
            }
            riemann => {
                let alphas = match riemann {
                    Self::RiemannTrapezoid => linspace_f32(0.0, 1.0, n),
                    Self::RiemannLeft => linspace_f32(0.0, 1.0 - 1.0 / nf, n),
                    Self::RiemannMiddle => {
                        linspace_f32(1.0 / (2.0 * nf), 1.0 - 1.0 / (2.0 * nf), n)
                    }
                    _ => linspace_f32(1.0 / nf, 1.0, n),
                };
                let mut weights = vec![1.0 / nf; n];
                if *riemann == Self::RiemannTrapezoid {
                    weights[0] /= 2.0;
                    weights[n - 1] /= 2.0;
                }
                Rule { alphas, weights }
            }
        })
    }
}

/// `torch.linspace(start, end, n)` in float32 (Captum builds Riemann alphas with it), returned
/// as f64: the first half counts up from `start`, the second half down from `end`.
fn linspace_f32(start: f64, end: f64, n: usize) -> Vec<f64> {
    let (s, e) = (start as f32, end as f32);
    if n == 1 {
        return vec![s as f64];
    }
    let step = (e - s) / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|i| {
            let v = if i < half {
                s + step * i as f32
            } else {
                e - step * (n - 1 - i) as f32
            };
            v as f64
        })
        .collect()
}

/// Gauss–Legendre nodes (ascending) and weights on [-1, 1], as `numpy.polynomial.legendre.leggauss`:
/// Newton iteration on P_n from Chebyshev-like initial guesses, then symmetrised.
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    // (P_n(x), P_n'(x)) by the three-term recurrence.
    let legendre = |x: f64| -> (f64, f64) {
        let (mut p0, mut p1) = (1.0, x);
        for k in 2..=n {
            let kf = k as f64;
            let p2 = ((2.0 * kf - 1.0) * x * p1 - (kf - 1.0) * p0) / kf;
            p0 = p1;
            p1 = p2;
        }
        let p = if n == 0 { 1.0 } else { p1 };
        let dp = if n == 0 {
            0.0
        } else {
            n as f64 * (x * p - p0) / (x * x - 1.0)
        };
        (p, dp)
    };
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    for i in 0..n {
        // Root i in descending order, refined by Newton's method.
        let mut r = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        for _ in 0..100 {
            let (p, dp) = legendre(r);
            let dr = p / dp;
            r -= dr;
            if dr.abs() < 1e-16 {
                break;
            }
        }
        let (_, dp) = legendre(r);
        x[n - 1 - i] = r;
        w[n - 1 - i] = 2.0 / ((1.0 - r * r) * dp * dp);
    }
    // Symmetrise exactly and normalise the weights to sum to 2, as numpy does.
    let xs: Vec<f64> = (0..n).map(|i| (x[i] - x[n - 1 - i]) / 2.0).collect();
    let ws: Vec<f64> = (0..n).map(|i| (w[i] + w[n - 1 - i]) / 2.0).collect();
    let total: f64 = ws.iter().sum();
    (xs, ws.iter().map(|v| v * 2.0 / total).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_matches_numpy_values() {
        // numpy.polynomial.legendre.leggauss(3)
        let (x, w) = gauss_legendre(3);
        let r = (3.0f64 / 5.0).sqrt();
        for (a, b) in x.iter().zip([-r, 0.0, r]) {
            assert!((a - b).abs() < 1e-15);
        }
        for (a, b) in w.iter().zip([5.0 / 9.0, 8.0 / 9.0, 5.0 / 9.0]) {
            assert!((a - b).abs() < 1e-15);
        }
        // High order integrates polynomials of degree 2n-1 exactly.
        let rule = Quadrature::GaussLegendre.rule(50).unwrap();
        let integral: f64 = rule
            .alphas
            .iter()
            .zip(&rule.weights)
            .map(|(a, w)| w * a.powi(99))
            .sum();
        assert!((integral - 0.01).abs() < 1e-13, "{integral}");
    }

    #[test]
    fn riemann_rules_follow_captum() {
        let r = Quadrature::RiemannLeft.rule(4).unwrap();
        assert_eq!(r.alphas, vec![0.0, 0.25, 0.5, 0.75]);
        assert_eq!(r.weights, vec![0.25; 4]);
        let t = Quadrature::RiemannTrapezoid.rule(5).unwrap();
        assert_eq!(t.alphas, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(t.weights, vec![0.1, 0.2, 0.2, 0.2, 0.1]);
        let m = Quadrature::RiemannMiddle.rule(2).unwrap();
        assert_eq!(m.alphas, vec![0.25, 0.75]);
        // float32 linspace, as torch computes it: 1/3 rounded to f32
        let right = Quadrature::RiemannRight.rule(3).unwrap();
        assert_eq!(right.alphas[0], (1.0f32 / 3.0) as f64);
        assert!(Quadrature::RiemannLeft.rule(1).is_err());
        for q in [Quadrature::GaussLegendre, Quadrature::RiemannRight] {
            let s: f64 = q.rule(50).unwrap().weights.iter().sum();
            assert!((s - 1.0).abs() < 1e-12);
        }
        let s: f64 = Quadrature::RiemannTrapezoid
            .rule(50)
            .unwrap()
            .weights
            .iter()
            .sum();
        assert!(
            (s - 0.98).abs() < 1e-12,
            "Captum's trapezoid sums to (n-1)/n"
        );
    }
}
