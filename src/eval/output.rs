//! The files of a `calig eval` job (docs/evaluation.md): results.md (a header of what ran, the
//! tables, the corpus IOU-F1 and the costs), results.csv, results.json, per_instance.csv,
//! curves.csv, the PNG plots, and the ERASER and ferret exports.

use super::image_removal::ImageRemoval;
use super::metrics::MetricChoice;
use super::outcome::Outcome;
use super::plot;
use super::removal::Removal;
use super::report::{self, write_atomic};
use super::spec::MethodSpec;
use crate::choice::Choice;
use crate::error::Result;
use crate::model::LoadedModel;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Everything the files say about one run.
pub(super) struct Run<'a> {
    pub(super) output: &'a Path,
    pub(super) model: &'a LoadedModel,
    pub(super) dataset: &'a Path,
    pub(super) ids: Option<&'a Path>,
    pub(super) limit: Option<usize>,
    pub(super) min_words: usize,
    pub(super) seed: u64,
    pub(super) preset: Option<super::metrics::Preset>,
    pub(super) command: &'a [String],
    pub(super) methods: &'a [MethodSpec],
    pub(super) names: &'a [String],
    pub(super) reference: usize,
    pub(super) metrics: &'a [MetricChoice],
    pub(super) removal: Removal,
    pub(super) image_removal: ImageRemoval,
    /// Examples evaluated, and in the data set.
    pub(super) n: usize,
    pub(super) total: usize,
    pub(super) wall_s: f64,
}

const FERRET_REMOVAL: &str = "ferret's: deleted, the rest decoded and re-tokenised";

/// How removal works for this model: the text option, or the image rule.
pub(super) fn removal_name(
    m: &LoadedModel,
    removal: Removal,
    image_removal: ImageRemoval,
    metrics: &[MetricChoice],
) -> String {
    if !m.config.family.is_text() {
        image_removal.describe().into()
    } else if metrics.iter().all(MetricChoice::is_ferret) {
        FERRET_REMOVAL.into()
    } else if metrics.iter().any(MetricChoice::is_ferret) {
        format!("{} (ferret metrics: {FERRET_REMOVAL})", removal.name())
    } else {
        removal.name().into()
    }
}

/// Which class each metric explains, as the header says it.
fn explained_class(metrics: &[MetricChoice]) -> String {
    const FERRET: &str =
        "predicted class for ferret's metrics (its plausibility only where that is the gold class)";
    const CALIG: &str = "predicted class for comprehensiveness/sufficiency/log-odds/deletion/insertion; gold class for the perturbation test and rationales";
    if metrics.iter().all(MetricChoice::is_ferret) {
        FERRET.into()
    } else if metrics.iter().any(MetricChoice::is_ferret) {
        format!("{CALIG}; {FERRET}")
    } else {
        CALIG.into()
    }
}

impl Run<'_> {
    fn removal_name(&self) -> String {
        removal_name(self.model, self.removal, self.image_removal, self.metrics)
    }

    /// "data set" in the header: the path, the id list, the sample, the length filter.
    fn data_set(&self) -> String {
        format!(
            "{}{} ({} of {} examples{}{})",
            self.dataset.display(),
            self.ids.map_or(String::new(), |p| format!(
                ", the ids listed in {}",
                p.display()
            )),
            self.n,
            self.total,
            self.limit.map_or(String::new(), |l| format!(
                ", seeded sample --limit {l} --seed {}",
                self.seed
            )),
            if self.min_words > 0 {
                format!(", ≥ {} words", self.min_words)
            } else {
                String::new()
            }
        )
    }

    /// What ran, as (key, value) lines of results.md and the `header` of results.json.
    fn header(&self, out: &Outcome) -> Vec<(String, String)> {
        let accuracy = out
            .examples
            .iter()
            .filter(|e| e.label == e.predicted)
            .count() as f64
            / out.examples.len().max(1) as f64;
        let truncated = out
            .examples
            .iter()
            .filter(|e| e.truncated_from.is_some())
            .count();
        let mut header = vec![
            (
                "model",
                format!(
                    "{} (content hash {})",
                    self.model.source.name(),
                    out.model_hash
                ),
            ),
            ("data set", self.data_set()),
            ("model accuracy on these examples", format!("{accuracy:.4}")),
            ("truncated to the model maximum", truncated.to_string()),
            (
                "preset",
                self.preset.map_or("none".into(), |p| format!("{p:?}")),
            ),
            ("removal", self.removal_name()),
            ("explained class", explained_class(self.metrics)),
            (
                "rationale k (hard token F1, IOU-F1)",
                out.rationale_k.map_or("—".into(), |k| k.to_string()),
            ),
            ("seed", self.seed.to_string()),
            ("wall time", format!("{:.1} s", self.wall_s)),
            ("calig", env!("CARGO_PKG_VERSION").into()),
        ];
        if let Some(k) = out.ferret_k {
            header.push((
                "ferret top-k (token_f1_plau, token_iou_plau: the mean rationale size in sub-word tokens)",
                k.to_string(),
            ));
        }
        header
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    /// results.md: the header, the tables, ERASER's corpus IOU-F1 and the costs.
    fn markdown(
        &self,
        header: &[(String, String)],
        tables: &[report::Table],
        out: &Outcome,
    ) -> String {
        let names = self.names;
        let mut md = report::markdown(header, tables, &names[self.reference]);
        if let Some(iou) = &out.corpus_iou_f1 {
            md.push_str("## iou_f1, corpus (F1 of macro precision and recall, ERASER's headline)\n\n| method | IOU-F1 |\n|---|---|\n");
            for (name, v) in names.iter().zip(iou) {
                md.push_str(&format!("| {name} | {v:.4} |\n"));
            }
            md.push('\n');
        }
        md.push_str("## Cost\n\n| method | attributions computed this run | time (s) | from cache | max abs convergence delta |\n|---|---|---|---|---|\n");
        for (i, name) in names.iter().enumerate() {
            md.push_str(&format!(
                "| {name} | {} | {:.1} | {} | {:.3e} |\n",
                out.computed[i],
                out.computed_ms[i] / 1e3,
                out.cached[i],
                out.max_abs_delta[i]
            ));
        }
        md
    }

    /// results.json.
    fn json(&self, header: &[(String, String)], tables: &[report::Table], out: &Outcome) -> Value {
        let names = self.names;
        json!({
            "header": header.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "command": self.command,
            "model": self.model.source.name(),
            "model_hash": out.model_hash,
            "dataset": self.dataset,
            "n": self.n,
            "seed": self.seed,
            "removal": self.removal_name(),
            "preset": self.preset,
            "metrics_requested": self.metrics,
            "reference": names[self.reference],
            "methods": self.methods.iter().map(|s| json!({"name": s.name, "slug": s.slug(), "params": s.params})).collect::<Vec<_>>(),
            "examples": out.examples,
            "tables": tables,
            "corpus_iou_f1": out.corpus_iou_f1.as_ref().map(|v| names.iter().cloned().zip(v.iter().copied()).collect::<std::collections::BTreeMap<_, _>>()),
            "rationale_k": out.rationale_k,
            "ferret_k": out.ferret_k,
            "wall_s": self.wall_s,
        })
    }

    /// Writes every file into the output directory; returns results.json's value.
    pub(super) fn write(&self, out: &Outcome) -> Result<Value> {
        let dir = self.output;
        let tables = report::tables(out, self.names, self.reference, self.seed);
        let header = self.header(out);
        let file = |name: &str| dir.join(name);
        write_atomic(
            &file("results.md"),
            self.markdown(&header, &tables, out).as_bytes(),
        )?;
        write_atomic(
            &file("results.csv"),
            report::summary_csv(&tables).as_bytes(),
        )?;
        write_atomic(
            &file("per_instance.csv"),
            report::per_instance_csv(out, self.names).as_bytes(),
        )?;
        write_atomic(
            &file("curves.csv"),
            report::curves_csv(out, self.names).as_bytes(),
        )?;
        let json = self.json(&header, &tables, out);
        write_atomic(&file("results.json"), pretty(&json).as_bytes())?;
        self.plots(out)?;
        write_export(&dir.join("eraser"), self.methods, &out.eraser)?;
        write_export(&dir.join("ferret"), self.methods, &out.ferret)?;
        write_export(&dir.join("m4"), self.methods, &out.m4)?;
        Ok(json)
    }

    /// One PNG per curve the run has.
    fn plots(&self, out: &Outcome) -> Result<()> {
        const PLOTS: [(&str, &str, &str, &str); 7] = [
            (
                "token_f1_at_k",
                "Token-F1@k against human rationales",
                "k (words)",
                "token F1",
            ),
            (
                "deletion",
                "Deletion: p(ŷ) as top units are removed",
                "fraction removed",
                "p(ŷ)",
            ),
            (
                "insertion",
                "Insertion: p(ŷ) as top units are kept",
                "fraction kept",
                "p(ŷ)",
            ),
            (
                "perturbation_positive",
                "Positive perturbation (most relevant first)",
                "fraction removed",
                "accuracy",
            ),
            (
                "perturbation_negative",
                "Negative perturbation (least relevant first)",
                "fraction removed",
                "accuracy",
            ),
            (
                "morf",
                "M⁴ MoRF: p(ŷ) as the most relevant percentiles are removed",
                "step / K",
                "p(ŷ)",
            ),
            (
                "lerf",
                "M⁴ LeRF: p(ŷ) as the least relevant percentiles are removed",
                "step / K",
                "p(ŷ)",
            ),
        ];
        for (key, title, x, y) in PLOTS {
            if let Some(c) = out.curves.get(key) {
                let path: PathBuf = self.output.join("plots").join(format!("{key}.png"));
                plot::line_plot(&path, title, x, y, c, self.names)?;
            }
        }
        Ok(())
    }
}

/// A JSON value as indented text (a `Value` always serialises).
pub(super) fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// Per-method JSON-lines records into `dir/<slug>.jsonl`, with `dir/index.json` naming them;
/// nothing when there are none.
fn write_export(dir: &Path, methods: &[MethodSpec], records: &[Vec<Value>]) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let index = json!({"methods": methods.iter().map(|s| json!({"name": s.name, "slug": s.slug()})).collect::<Vec<_>>()});
    write_atomic(&dir.join("index.json"), pretty(&index).as_bytes())?;
    for (s, lines) in methods.iter().zip(records) {
        let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
        write_atomic(&dir.join(format!("{}.jsonl", s.slug())), body.as_bytes())?;
    }
    Ok(())
}
