//! Tables of an evaluation: per metric and method the mean with its paired-bootstrap 95 % CI,
//! the paired difference to the reference method with its CI, a sign-flip permutation p-value
//! and its Holm correction across the methods compared with the reference. Written as
//! markdown, CSV and JSON, plus every per-instance value.

use super::metrics::higher_is_better;
use super::outcome::Outcome;
use super::stats::{self, Interval};
use crate::error::Result;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub method: String,
    pub n: usize,
    pub mean: Interval,
    /// method − reference (None for the reference itself).
    pub difference: Option<Interval>,
    pub p: Option<f64>,
    pub p_holm: Option<f64>,
    /// "better", "worse" or "no evidence" than the reference (Holm-corrected p < 0.05 and the
    /// CI of the difference excluding 0), from the metric's direction.
    pub verdict: Option<&'static str>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Table {
    pub metric: String,
    pub higher_is_better: bool,
    pub rows: Vec<Row>,
}

/// A stable per-metric seed, so tables do not depend on which other metrics ran.
fn seed_for(seed: u64, metric: &str, method: usize) -> u64 {
    super::fnv1a(
        seed ^ 0xcbf2_9ce4_8422_2325,
        metric.bytes().chain(method.to_le_bytes()),
    )
}

pub fn tables(out: &Outcome, methods: &[String], reference: usize, seed: u64) -> Vec<Table> {
    out.metrics
        .iter()
        .map(|(metric, mv)| {
            let higher = higher_is_better(metric);
            let reference_values = &mv.values[reference];
            let mut rows: Vec<Row> = methods
                .iter()
                .enumerate()
                .map(|(mi, name)| {
                    let v = &mv.values[mi];
                    let (difference, p) = if mi == reference {
                        (None, None)
                    } else {
                        let d = stats::differences(v, reference_values);
                        (
                            Some(stats::bootstrap_mean(&d, seed_for(seed, metric, mi))),
                            Some(stats::permutation_p(&d, seed_for(seed ^ 1, metric, mi))),
                        )
                    };
                    Row {
                        method: name.clone(),
                        n: v.len(),
                        mean: stats::bootstrap_mean(v, seed_for(seed ^ 2, metric, mi)),
                        difference,
                        p,
                        p_holm: None,
                        verdict: None,
                    }
                })
                .collect();
            let ps: Vec<(usize, f64)> = rows
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.p.map(|p| (i, p)))
                .collect();
            let adjusted = stats::holm(&ps.iter().map(|x| x.1).collect::<Vec<_>>());
            for ((i, _), a) in ps.iter().zip(adjusted) {
                let r = &mut rows[*i];
                r.p_holm = Some(a);
                let d = r.difference.expect("compared rows have a difference");
                let separated = d.low > 0.0 || d.high < 0.0;
                r.verdict = Some(if a < 0.05 && separated {
                    if (d.mean > 0.0) == higher {
                        "better"
                    } else {
                        "worse"
                    }
                } else {
                    "no evidence"
                });
            }
            Table {
                metric: metric.clone(),
                higher_is_better: higher,
                rows,
            }
        })
        .collect()
}

fn interval(i: &Interval) -> String {
    format!("{:.4} [{:.4}, {:.4}]", i.mean, i.low, i.high)
}

fn signed(i: &Interval) -> String {
    format!("{:+.4} [{:+.4}, {:+.4}]", i.mean, i.low, i.high)
}

/// The metrics of the headline table, in column order, when present.
const HEADLINE: [&str; 20] = [
    "comprehensiveness_aopc",
    "sufficiency_aopc",
    "log_odds@0.2",
    "deletion_auc",
    "insertion_auc",
    "perturbation_positive_auc",
    "perturbation_negative_auc",
    "token_f1_mean",
    "token_f1",
    "iou_f1",
    "auprc",
    "aopc_compr",
    "aopc_suff",
    "taucorr_loo",
    "auprc_plau",
    "token_f1_plau",
    "token_iou_plau",
    "morf",
    "lerf",
    "abpc",
];

/// One row per method, one column per headline metric: the mean and, against the reference,
/// `+` (better), `−` (worse) or `≈` (no evidence of a difference).
pub fn headline(tables: &[Table], methods: &[String], reference: &str) -> String {
    let cols: Vec<&Table> = HEADLINE
        .iter()
        .filter_map(|m| tables.iter().find(|t| t.metric == *m))
        .collect();
    if cols.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "## Headline (mean; + better, − worse, ≈ no evidence of a difference vs `{reference}`)\n\n| method | n |"
    );
    for t in &cols {
        let arrow = if t.higher_is_better { "↑" } else { "↓" };
        let _ = write!(s, " {} {arrow} |", t.metric);
    }
    s.push_str("\n|---|---|");
    s.push_str(&"---|".repeat(cols.len()));
    s.push('\n');
    for (mi, name) in methods.iter().enumerate() {
        let _ = write!(s, "| {name} | {} |", cols[0].rows[mi].n);
        for t in &cols {
            let r = &t.rows[mi];
            let mark = match r.verdict {
                Some("better") => " +",
                Some("worse") => " −",
                Some(_) => " ≈",
                None => "",
            };
            let _ = write!(s, " {:.4}{mark} |", r.mean.mean);
        }
        s.push('\n');
    }
    s.push('\n');
    s
}

/// The markdown report: a header of what ran, then one table per metric.
pub fn markdown(header: &[(String, String)], tables: &[Table], reference: &str) -> String {
    let mut s = String::from("# calig eval\n\n");
    for (k, v) in header {
        let _ = writeln!(s, "- {k}: {v}");
    }
    let _ = writeln!(
        s,
        "\nMeans with paired-bootstrap 95 % CIs; Δ = method − `{reference}` (paired), p = \
         two-sided sign-flip permutation test, Holm-corrected across methods. \"no evidence\" \
         means the CI of Δ contains 0 or the corrected p ≥ 0.05.\n"
    );
    let methods: Vec<String> = tables
        .first()
        .map(|t| t.rows.iter().map(|r| r.method.clone()).collect())
        .unwrap_or_default();
    s.push_str(&headline(tables, &methods, reference));
    for t in tables {
        let _ = writeln!(
            s,
            "## {} ({} is better)\n\n| method | n | mean [95 % CI] | Δ vs {reference} [95 % CI] | p (Holm) | vs {reference} |\n|---|---|---|---|---|---|",
            t.metric,
            if t.higher_is_better { "higher" } else { "lower" }
        );
        for r in &t.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                r.method,
                r.n,
                interval(&r.mean),
                r.difference.as_ref().map_or("—".into(), signed),
                r.p_holm.map_or("—".into(), |p| format!("{p:.4}")),
                r.verdict.unwrap_or("reference"),
            );
        }
        s.push('\n');
    }
    s
}

/// One CSV row per metric and method.
pub fn summary_csv(tables: &[Table]) -> String {
    let mut s = String::from(
        "metric,method,n,mean,ci_low,ci_high,diff,diff_low,diff_high,p,p_holm,verdict\n",
    );
    for t in tables {
        for r in &t.rows {
            let d = r.difference;
            let o = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v}"));
            let _ = writeln!(
                s,
                "{},\"{}\",{},{},{},{},{},{},{},{},{},{}",
                t.metric,
                r.method,
                r.n,
                r.mean.mean,
                r.mean.low,
                r.mean.high,
                o(d.map(|d| d.mean)),
                o(d.map(|d| d.low)),
                o(d.map(|d| d.high)),
                o(r.p),
                o(r.p_holm),
                r.verdict.unwrap_or("reference"),
            );
        }
    }
    s
}

/// Every per-instance value: example_id, method, metric, value.
pub fn per_instance_csv(out: &Outcome, methods: &[String]) -> String {
    let mut s = String::from("example_id,method,metric,value\n");
    for (metric, mv) in &out.metrics {
        for (mi, name) in methods.iter().enumerate() {
            for (i, &e) in mv.examples.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "\"{}\",\"{name}\",{metric},{}",
                    out.examples[e].id.replace('"', "\"\""),
                    mv.values[mi][i]
                );
            }
        }
    }
    s
}

/// Mean curves: curve, method, x, mean.
pub fn curves_csv(out: &Outcome, methods: &[String]) -> String {
    let mut s = String::from("curve,method,x,mean,n\n");
    for (name, c) in &out.curves {
        for (mi, m) in methods.iter().enumerate() {
            for (xi, x) in c.xs.iter().enumerate() {
                let vals: Vec<f64> = c.values[mi].iter().map(|v| v[xi]).collect();
                let _ = writeln!(
                    s,
                    "{name},\"{m}\",{x},{},{}",
                    stats::mean(&vals),
                    vals.len()
                );
            }
        }
    }
    s
}

/// Writes `bytes` to `path` whole or not at all (see atomic.rs).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::atomic::write_file(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::outcome::MetricValues;
    use std::collections::BTreeMap;

    #[test]
    fn verdicts_follow_the_metric_direction() {
        let n = 40;
        let base: Vec<f64> = (0..n).map(|i| (i % 5) as f64 * 0.1).collect();
        let better: Vec<f64> = base.iter().map(|v| v + 0.2).collect();
        let same: Vec<f64> = base
            .iter()
            .enumerate()
            .map(|(i, v)| v + if i % 2 == 0 { 0.01 } else { -0.01 })
            .collect();
        let mut metrics = BTreeMap::new();
        for m in ["comprehensiveness_aopc", "sufficiency_aopc"] {
            metrics.insert(
                m.to_string(),
                MetricValues {
                    examples: (0..n).collect(),
                    values: vec![base.clone(), better.clone(), same.clone()],
                },
            );
        }
        let out = Outcome::for_tables(metrics, n);
        let names = ["ref".to_string(), "up".to_string(), "same".to_string()];
        let t = tables(&out, &names, 0, 1);
        assert_eq!(t[0].rows[1].verdict, Some("better"));
        assert_eq!(t[0].rows[2].verdict, Some("no evidence"));
        // For sufficiency, lower is better: the same shift is worse.
        assert_eq!(t[1].rows[1].verdict, Some("worse"));
        let d = t[0].rows[1].difference.unwrap();
        assert!((d.mean - 0.2).abs() < 1e-12 && d.low > 0.19 && d.high < 0.21);
        let md = markdown(&[], &t, "ref");
        assert!(md.contains("| up | 40 |") && md.contains("no evidence"));
        assert!(md.contains("| up | 40 | 0.4000 + | 0.4000 − |"), "{md}");
        assert!(summary_csv(&t).lines().count() == 7);
    }
}
