//! Which maximum |score| maps to the darkest colour (`--scale`), stated in every legend.
//!
//! - `report` (default): each explanation has its own scale for its headline map (words,
//!   sub-tokens or patches together) and one scale shared by all rows of each layer view;
//! - `shared`: one scale for the headline maps of every explanation in the report (methods side
//!   by side, or the rows of a batch), and one for all their layer views, so that a weak method
//!   looks weak;
//! - `layer`: headline maps as `report`, but every layer row on its own maximum (compare within
//!   a row only).
//!
//! Special tokens (\[CLS\], \[SEP\]; \[CLS\] of a ViT) never set a scale.

use super::flow::Flow;
use crate::explain::Explanation;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scale {
    #[default]
    Report,
    Shared,
    Layer,
}

impl Scale {
    pub const NAMES: [&'static str; 3] = ["report", "shared", "layer"];

    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s {
            "report" => Ok(Self::Report),
            "shared" => Ok(Self::Shared),
            "layer" => Ok(Self::Layer),
            _ => Err(format!(
                "`{s}` is not a scale: use {}",
                Self::NAMES.join(", ")
            )),
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The legend's words for a headline map of a text (words and sub-tokens) or an image.
    pub fn headline_legend(self, is_text: bool) -> String {
        let what = if is_text {
            "words and sub-tokens"
        } else {
            "patches"
        };
        match self {
            Self::Shared => "one scale for every explanation in this report in the same units: \
                             the logit-unit methods (ig, lig, attnlrp) share one, every other \
                             method its own (--scale shared)"
                .into(),
            _ => format!("one scale for this explanation's {what} (--scale report)"),
        }
    }

    /// The legend's words for a layer view.
    pub fn flow_legend(self) -> &'static str {
        match self {
            Self::Report => "one scale for every layer of this view (--scale report)",
            Self::Shared => "one scale for this view and the same view of every explanation in this report in the same units (--scale shared)",
            Self::Layer => "each layer on its own scale: compare within a row, not across rows (--scale layer)",
        }
    }
}

/// Largest |v| over the entries not marked special, at least a tiny positive number so that
/// all-zero maps render.
pub fn max_kept(values: &[f64], special: &[bool]) -> f64 {
    values
        .iter()
        .enumerate()
        .filter(|(i, _)| !special.get(*i).copied().unwrap_or(false))
        .fold(
            1e-12,
            |m, (_, x)| if x.is_finite() { m.max(x.abs()) } else { m },
        )
}

/// The headline maximum of one explanation: its real sub-tokens and words, or its patches.
pub fn headline_max(e: &Explanation) -> f64 {
    if e.scores_cover_tokens() {
        let special = super::special_tokens(e);
        max_kept(&e.scores, &special).max(max_kept(&e.word_scores, &[]))
    } else {
        max_kept(&e.scores, &[])
    }
}

/// What an explanation's scores are measured in, for `--scale shared`: "logit" for the methods
/// whose scores add up to a logit or a logit difference (ig, lig, attnlrp), else the method's
/// own name (GAE's relevance and IG's logits on one scale would blank GAE).
fn unit(e: &Explanation) -> &str {
    match crate::attr::Method::parse(&e.method).map(|m| m.info().completeness) {
        Ok(crate::attr::method::Completeness::None) | Err(_) => &e.method,
        Ok(_) => "logit",
    }
}

/// The maxima a report draws with: one headline maximum per explanation, and per explanation
/// one maximum per layer view (by the view's name), under `scale`.
#[derive(Debug, Clone)]
pub struct Maxima {
    pub headline: Vec<f64>,
    /// `flows[i][k]`: the maximum of explanation i's k-th view (row maxima under `layer`).
    pub flows: Vec<Vec<f64>>,
    pub scale: Scale,
}

impl Maxima {
    pub fn new(es: &[&Explanation], flows: &[Vec<Flow>], scale: Scale) -> Self {
        let mut headline: Vec<f64> = es.iter().map(|e| headline_max(e)).collect();
        let mut fl: Vec<Vec<f64>> = flows
            .iter()
            .map(|fs| fs.iter().map(Flow::max).collect())
            .collect();
        if scale == Scale::Shared {
            // One maximum per unit: scores in logit units share one, every other method's
            // scores (relevance, gradient norms, attention) share among themselves only.
            let units: Vec<&str> = es.iter().map(|e| unit(e)).collect();
            let mut by_unit: std::collections::HashMap<&str, f64> = Default::default();
            for (u, m) in units.iter().zip(&headline) {
                let e = by_unit.entry(u).or_insert(1e-12);
                *e = e.max(*m);
            }
            for (u, m) in units.iter().zip(headline.iter_mut()) {
                *m = by_unit[u];
            }
            // Views of the same name and unit (e.g. every method's "layers") share one maximum.
            let mut by_name: std::collections::HashMap<(&str, &str), f64> = Default::default();
            for ((fs, ms), u) in flows.iter().zip(&fl).zip(&units) {
                for (f, m) in fs.iter().zip(ms) {
                    let e = by_name.entry((f.name.as_str(), u)).or_insert(1e-12);
                    *e = e.max(*m);
                }
            }
            for ((fs, ms), u) in flows.iter().zip(fl.iter_mut()).zip(&units) {
                for (f, m) in fs.iter().zip(ms.iter_mut()) {
                    *m = by_name[&(f.name.as_str(), *u)];
                }
            }
        }
        Self {
            headline,
            flows: fl,
            scale,
        }
    }

    /// The maxima of explanation `at` alone (a batch row drawn on the batch's scales).
    pub fn only(&self, at: usize) -> Self {
        Self {
            headline: vec![self.headline[at]],
            flows: vec![self.flows[at].clone()],
            scale: self.scale,
        }
    }

    /// View `v` of explanation `at`, placed on these maxima.
    pub fn place<'a>(&'a self, flow: &'a Flow, at: usize, v: usize) -> Placed<'a> {
        Placed {
            flow,
            maxima: self,
            at,
            v,
        }
    }
}

/// One layer view placed in a report: the view and the maximum it is drawn with.
#[derive(Debug, Clone, Copy)]
pub struct Placed<'a> {
    pub flow: &'a Flow,
    maxima: &'a Maxima,
    at: usize,
    v: usize,
}

impl Placed<'_> {
    /// The maximum for one of the view's rows.
    pub fn row_max(&self, row: &[f64]) -> f64 {
        match self.maxima.scale {
            Scale::Layer => max_kept(row, &self.flow.special),
            _ => self.maxima.flows[self.at][self.v],
        }
    }

    /// The colour bar's maximum; `None` under `--scale layer` (each row its own).
    pub fn bar_max(&self) -> Option<f64> {
        (self.maxima.scale != Scale::Layer).then(|| self.maxima.flows[self.at][self.v])
    }

    pub fn scale(&self) -> Scale {
        self.maxima.scale
    }
}

/// A colour bar's end value: three significant digits, in scientific notation outside
/// [0.01, 10⁴) ("3.10e-4", not "0.000"), with a sign when the scale is signed.
pub fn legend_number(m: f64, signed: bool) -> String {
    let a = m.abs();
    let text = if a == 0.0 || !a.is_finite() {
        format!("{a}")
    } else if (0.01..1e4).contains(&a) {
        let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
        format!("{a:.decimals$}")
    } else {
        format!("{a:.2e}")
    };
    match (signed, m < 0.0) {
        (_, true) => format!("-{text}"),
        (true, false) => format!("+{text}"),
        (false, false) => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_scale_is_shared_within_units_only() {
        let with = |method: &str, factor: f64| {
            let mut e = crate::render::sample::text();
            e.method = method.into();
            e.scores.iter_mut().for_each(|v| *v *= factor);
            e.word_scores.iter_mut().for_each(|v| *v *= factor);
            e
        };
        let (ig, lig, gae) = (with("ig", 100.0), with("lig", 1.0), with("gae", 0.01));
        let es = [&ig, &lig, &gae];
        let flows = vec![Vec::new(); 3];
        let m = Maxima::new(&es, &flows, Scale::Shared);
        // ig and lig (logit units) share ig's maximum; GAE keeps its own (it was blank).
        assert_eq!(m.headline[0], m.headline[1]);
        assert_eq!(m.headline[0], headline_max(&ig));
        assert_eq!(m.headline[2], headline_max(&gae));
    }

    #[test]
    fn legend_numbers_keep_three_significant_digits() {
        assert_eq!(legend_number(3.1e-4, false), "3.10e-4");
        assert_eq!(legend_number(0.0021, false), "2.10e-3");
        assert_eq!(legend_number(0.0123, false), "0.0123");
        assert_eq!(legend_number(1.234, true), "+1.23");
        assert_eq!(legend_number(-45.67, true), "-45.7");
        assert_eq!(legend_number(1234.6, false), "1235");
        assert_eq!(legend_number(2.5e6, false), "2.50e6");
        assert_eq!(legend_number(0.0, false), "0");
    }

    #[test]
    fn special_entries_do_not_set_the_scale() {
        assert_eq!(max_kept(&[5.0, -0.5, 0.25], &[true, false, false]), 0.5);
        assert_eq!(max_kept(&[0.0, 0.0], &[]), 1e-12);
        assert_eq!(max_kept(&[f64::NAN, 2.0], &[]), 2.0);
    }

    #[test]
    fn names_parse_back() {
        for n in Scale::NAMES {
            assert_eq!(Scale::parse(n).unwrap().name(), n);
        }
        assert!(Scale::parse("global")
            .unwrap_err()
            .contains("report, shared, layer"));
    }
}
