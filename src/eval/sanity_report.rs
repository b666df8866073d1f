//! The files of `calig eval --sanity`: sanity.md (mean Spearman ρ per method and stage, with
//! bootstrap intervals), sanity.csv (every value) and plots/sanity.png.

use super::outcome::CurveValues;
use super::plot;
use super::report::write_atomic;
use super::sanity::{cascade, Cascade};
use super::spec::MethodSpec;
use crate::data::Example;
use crate::error::Result;
use crate::model::LoadedModel;
use std::path::Path;
use std::time::Instant;

/// What the sanity files say about the run.
pub(super) struct SanityRun<'a> {
    pub(super) output: &'a Path,
    pub(super) dataset: &'a Path,
    pub(super) limit: Option<usize>,
    pub(super) seed: u64,
    pub(super) methods: &'a [MethodSpec],
    pub(super) names: &'a [String],
    pub(super) examples: &'a [Example],
    /// Examples in the data set.
    pub(super) total: usize,
}

impl SanityRun<'_> {
    /// Runs the cascade and writes its files; returns their paths and the wall time.
    pub(super) fn run(
        &self,
        m: &LoadedModel,
        start: Instant,
        log: &dyn Fn(&str),
    ) -> Result<serde_json::Value> {
        log(&format!(
            "calig eval --sanity: {} of {} examples, {} methods, {} stages",
            self.examples.len(),
            self.total,
            self.methods.len(),
            m.config.num_layers + 2
        ));
        let work = std::env::temp_dir().join(format!("calig-sanity-{}", std::process::id()));
        let c = cascade(m, self.examples, self.methods, self.seed, &work, |stage| {
            log(&format!("  re-initialising up to: {stage}"))
        });
        let _ = std::fs::remove_dir_all(&work);
        let c = c?;
        let wall = start.elapsed().as_secs_f64();
        let (md, csv_path) = (
            self.output.join("sanity.md"),
            self.output.join("sanity.csv"),
        );
        write_atomic(&md, self.markdown(m, &c, wall).as_bytes())?;
        let ids: Vec<String> = self.examples.iter().map(|e| e.id.clone()).collect();
        write_atomic(&csv_path, csv(&c, self.names, &ids).as_bytes())?;
        self.plot(&c)?;
        log(&format!(
            "calig eval --sanity: done in {wall:.1} s; tables in {}",
            md.display()
        ));
        Ok(serde_json::json!({"sanity": md, "csv": csv_path, "wall_s": wall}))
    }

    fn markdown(&self, m: &LoadedModel, c: &Cascade, wall: f64) -> String {
        let mut md = format!(
            "# calig eval --sanity: cascading model-parameter randomisation\n\n- model: {}\n- data set: {} ({} of {} examples{})\n- explained class: the trained model's prediction, at every stage\n- re-initialisation: weights N(0, initializer_range²), biases 0, LayerNorm 1/0 (seed {})\n- wall time: {wall:.1} s\n- calig: {}\n\nMeans over examples with bootstrap 95 % intervals. Each column re-initialises one more part, from the head down (cumulative).\n\n",
            m.source.name(),
            self.dataset.display(),
            self.examples.len(),
            self.total,
            self.limit.map_or(String::new(), |l| format!(
                ", seeded sample --limit {l} --seed {}",
                self.seed
            )),
            self.seed,
            env!("CARGO_PKG_VERSION"),
        );
        md.push_str(&markdown(c, self.names, self.seed));
        md
    }

    /// ρ against the number of parts re-initialised (1 for the trained model itself).
    fn plot(&self, c: &Cascade) -> Result<()> {
        let curve = CurveValues {
            xs: (0..=c.stages.len()).map(|i| i as f64).collect(),
            values: c
                .signed
                .iter()
                .map(|per_stage| {
                    (0..self.examples.len())
                        .map(|ei| {
                            std::iter::once(1.0)
                                .chain(per_stage.iter().map(|v| v[ei]))
                                .collect()
                        })
                        .collect()
                })
                .collect(),
        };
        plot::line_plot(
            &self.output.join("plots").join("sanity.png"),
            "Cascading randomisation (0 = trained; then head, blocks top-down, embeddings)",
            "parts re-initialised",
            "Spearman ρ with the trained map",
            &curve,
            self.names,
        )
    }
}

/// The markdown tables: mean ρ with a bootstrap 95 % interval per method and stage.
pub fn markdown(c: &Cascade, methods: &[String], seed: u64) -> String {
    let mut s = String::new();
    for (title, values) in [
        ("Spearman ρ of the signed maps", &c.signed),
        ("Spearman ρ of the absolute maps", &c.absolute),
    ] {
        s.push_str(&format!(
            "## {title} (trained vs re-initialised from the top down; 0 = the map changed completely)\n\n| method | {} |\n|---|{}\n",
            c.stages.join(" | "),
            "---|".repeat(c.stages.len())
        ));
        for (name, per_stage) in methods.iter().zip(values) {
            let cells: Vec<String> = per_stage
                .iter()
                .map(|v| {
                    let i = super::stats::bootstrap_mean(v, seed);
                    format!("{:.3} [{:.3}, {:.3}]", i.mean, i.low, i.high)
                })
                .collect();
            s.push_str(&format!("| {name} | {} |\n", cells.join(" | ")));
        }
        s.push('\n');
    }
    s
}

/// One CSV row per method, stage and example.
pub fn csv(c: &Cascade, methods: &[String], ids: &[String]) -> String {
    let mut s = String::from("method,stage,example,spearman_signed,spearman_absolute\n");
    for (mi, name) in methods.iter().enumerate() {
        for (si, stage) in c.stages.iter().enumerate() {
            for (ei, id) in ids.iter().enumerate() {
                s.push_str(&format!(
                    "{},{},{},{},{}\n",
                    name.replace(',', ";"),
                    stage,
                    id.replace(',', ";"),
                    c.signed[mi][si][ei],
                    c.absolute[mi][si][ei]
                ));
            }
        }
    }
    s
}
