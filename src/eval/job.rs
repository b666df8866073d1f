//! One `calig eval` job, as the CLI and the Python package run it: the methods parsed (and
//! attributions made elsewhere read), the data set chosen ([`crate::data::select()`]), the
//! evaluation run ([`super::run`]), and its files written (output.rs, or
//! sanity_report.rs for `--sanity`) (docs/evaluation.md).

use super::image_removal::ImageRemoval;
use super::metrics::MetricChoice;
pub use super::metrics::Preset;
use super::output::{self, removal_name};
use super::removal::Removal;
use super::run::{evaluate, EvalOptions};
use super::sanity_report::SanityRun;
use super::spec::{Kind, MethodSpec};
use crate::data::{self, Selection, WordScores};
use crate::error::{CaligError, Result};
use crate::model::LoadedModel;
use std::path::PathBuf;
use std::time::Instant;

fn invalid(msg: String) -> CaligError {
    CaligError::InvalidInput(msg)
}

/// What to evaluate and where the results go: `calig eval`'s options.
#[derive(Debug, Clone)]
pub struct EvalJob {
    /// An ERASER directory, a .tsv/.csv/.jsonl table, an idx directory or an image folder.
    pub dataset: PathBuf,
    /// Comma-separated method entries with optional parameters.
    pub methods: String,
    /// JSON-lines attributions made elsewhere, scored as `file:<stem>`.
    pub attributions: Vec<PathBuf>,
    /// Empty: the preset's metrics, else every metric the data set allows.
    pub metrics: Vec<MetricChoice>,
    pub preset: Option<Preset>,
    pub removal: Option<Removal>,
    /// What removed image patches become (images only; default grey).
    pub image_removal: Option<ImageRemoval>,
    pub limit: Option<usize>,
    pub seed: u64,
    pub output: PathBuf,
    /// Default: OUTPUT/cache.
    pub cache: Option<PathBuf>,
    pub reference: Option<String>,
    pub split: Option<String>,
    pub text_column: Option<String>,
    /// The column of a sentence pair's second text.
    pub pair_column: Option<String>,
    pub label_column: String,
    pub id_column: Option<String>,
    /// Keep only the examples whose id is listed in this file (one per line).
    pub ids: Option<PathBuf>,
    /// The cascading randomisation test instead of the removal and rationale metrics.
    pub sanity: bool,
    pub min_words: usize,
    /// A progress bar on stderr.
    pub progress: bool,
    /// Recorded in results.json.
    pub command: Vec<String>,
}

impl EvalJob {
    /// The defaults of `calig eval` for a data set.
    pub fn new(dataset: impl Into<PathBuf>, methods: &str) -> Self {
        Self {
            dataset: dataset.into(),
            methods: methods.into(),
            attributions: Vec::new(),
            metrics: Vec::new(),
            preset: None,
            removal: None,
            image_removal: None,
            limit: None,
            seed: 0,
            output: PathBuf::from("calig-eval"),
            cache: None,
            reference: None,
            split: None,
            text_column: None,
            pair_column: None,
            label_column: "label".into(),
            id_column: None,
            ids: None,
            sanity: false,
            min_words: 0,
            progress: false,
            command: Vec::new(),
        }
    }
}

impl EvalJob {
    /// The key under which the run cached an example's metric values and curves
    /// (`cache::Measured`): the example, the removal and the metrics, as the run made it
    /// (`rationales`: the data set has human rationales).
    pub fn metric_key(&self, ex: &data::Example, is_text: bool, rationales: bool) -> String {
        let opts = EvalOptions {
            methods: Vec::new(),
            metrics: metrics_for(self, rationales),
            removal: self.removal(),
            image_removal: self.image_removal.unwrap_or_default(),
            seed: self.seed,
            cache_dir: PathBuf::new(),
            rationales,
            progress: false,
            external: Vec::new(),
        };
        opts.metric_key(ex, is_text)
    }

    /// The data-set options.
    pub fn selection(&self) -> Selection<'_> {
        Selection {
            dataset: &self.dataset,
            split: self.split.as_deref(),
            text_column: self.text_column.as_deref(),
            pair_column: self.pair_column.as_deref(),
            label_column: &self.label_column,
            id_column: self.id_column.as_deref(),
            ids: self.ids.as_deref(),
            min_words: self.min_words,
            limit: self.limit,
            seed: self.seed,
        }
    }

    /// Refuses the removal option of the other input kind.
    fn check_removal(&self, is_text: bool) -> Result<()> {
        if !is_text && self.removal.is_some() {
            return Err(invalid(
                "--removal applies to text; for images, --image-removal grey|black says what \
                 removed patches become"
                    .into(),
            ));
        }
        if is_text && self.image_removal.is_some() {
            return Err(invalid(
                "--image-removal applies to images; for text, --removal delete|pad|pad-mask".into(),
            ));
        }
        Ok(())
    }

    /// The text removal: given, else the preset's.
    fn removal(&self) -> Removal {
        self.removal.unwrap_or(match self.preset {
            Some(Preset::Chefer) | Some(Preset::BeyondIntuition) | Some(Preset::M4) => {
                Removal::PadMask
            }
            _ => Removal::Delete,
        })
    }

    /// The method entries and the attributions files (as `file:<stem>` entries and their
    /// scores); a setting an entry's method ignores is said through `log`.
    fn methods(
        &self,
        is_text: bool,
        num_layers: usize,
        log: &dyn Fn(&str),
    ) -> Result<(Vec<MethodSpec>, Vec<WordScores>)> {
        let mut methods = if !self.methods.trim().is_empty() {
            MethodSpec::parse_list(&self.methods, is_text)?
        } else if self.preset == Some(Preset::M4) && self.attributions.is_empty() {
            MethodSpec::parse_list(&m4_methods(num_layers), is_text)?
        } else {
            Vec::new()
        };
        for spec in &methods {
            spec.check_layers(num_layers)?;
        }
        for spec in &methods {
            for name in &spec.ignored {
                log(&format!(
                    "warning: method entry `{}`: {name} is ignored by {}",
                    spec.name,
                    spec.name.split(':').next().unwrap_or_default()
                ));
            }
        }
        let mut external = Vec::new();
        for (i, path) in self.attributions.iter().enumerate() {
            let content = std::fs::read(path).map_err(|e| CaligError::io(path, e))?;
            external.push(data::read_attributions(path, &content)?);
            let spec = MethodSpec::external(i, path, &content, is_text);
            if methods.iter().any(|m| m.name == spec.name) {
                return Err(invalid(format!("two methods are named `{}`", spec.name)));
            }
            methods.push(spec);
        }
        if methods.is_empty() {
            return Err(invalid(
                "nothing to evaluate: give --methods or --attributions".into(),
            ));
        }
        Ok((methods, external))
    }

    /// The method the others are compared with: `--reference`, else the first CA-LIG entry,
    /// else the first.
    fn reference(&self, methods: &[MethodSpec]) -> Result<usize> {
        match &self.reference {
            Some(r) => methods
                .iter()
                .position(|s| &s.name == r)
                .ok_or_else(|| invalid(format!("--reference `{r}` is not one of the methods"))),
            None => Ok(methods
                .iter()
                .position(|s| s.kind == Kind::Method(crate::attr::Method::Calig))
                .unwrap_or(0)),
        }
    }
}

/// What `--preset m4` evaluates without --methods: IG's embedding-dimension attributions
/// reduced by `sum`, `abs` and `sq` (M⁴'s three IG entries), gae, chefer2021 and rollout
/// from start blocks 1, 3, 5, … and L (M⁴'s 0-based sweep 0, 2, …, 10, 11 on 12 blocks), and
/// the random floor.
pub fn m4_methods(num_layers: usize) -> String {
    let mut starts: Vec<usize> = (1..=num_layers).step_by(2).collect();
    if starts.last() != Some(&num_layers) {
        starts.push(num_layers);
    }
    let mut entries: Vec<String> = ["sum", "abs", "sq"]
        .iter()
        .map(|r| format!("ig:reduce={r}"))
        .collect();
    for method in ["gae", "chefer2021", "rollout"] {
        entries.extend(starts.iter().map(|s| format!("{method}:start_layer={s}")));
    }
    entries.push("random".into());
    entries.join(",")
}

fn metrics_for(a: &EvalJob, rationales: bool) -> Vec<MetricChoice> {
    use MetricChoice::*;
    let mut m = if !a.metrics.is_empty() {
        a.metrics.clone()
    } else {
        match a.preset {
            None => MetricChoice::all(rationales),
            Some(Preset::Eraser) => vec![
                Comprehensiveness,
                Sufficiency,
                LogOdds,
                TokenF1,
                IouF1,
                Auprc,
            ],
            Some(Preset::Chefer) | Some(Preset::BeyondIntuition) => vec![Perturbation, TokenF1],
            Some(Preset::Ferret) => MetricChoice::ferret(rationales),
            Some(Preset::M4) => vec![M4],
        }
        .into_iter()
        .filter(|c| rationales || !c.needs_rationales())
        .collect()
    };
    m.sort();
    m.dedup();
    m
}

/// Runs the job on a loaded model, writes its files into `a.output` and returns what
/// results.json holds (`--sanity`: the paths of its tables). `log` receives the progress lines.
pub fn run(a: &EvalJob, m: &LoadedModel, log: &dyn Fn(&str)) -> Result<serde_json::Value> {
    let start = Instant::now();
    let is_text = m.config.family.is_text();
    a.check_removal(is_text)?;
    let (methods, external) = a.methods(is_text, m.config.num_layers, log)?;
    let selected = data::select(&a.selection(), &m.config)?;
    let metrics = metrics_for(a, selected.rationales);
    let names: Vec<String> = methods.iter().map(|s| s.name.clone()).collect();
    let reference = a.reference(&methods)?;
    if a.sanity {
        let sanity = SanityRun {
            output: &a.output,
            dataset: &a.dataset,
            limit: a.limit,
            seed: a.seed,
            methods: &methods,
            names: &names,
            examples: &selected.examples,
            total: selected.total,
        };
        return sanity.run(m, start, log);
    }
    let opts = EvalOptions {
        methods: methods.clone(),
        metrics: metrics.clone(),
        removal: a.removal(),
        image_removal: a.image_removal.unwrap_or_default(),
        seed: a.seed,
        cache_dir: a.cache.clone().unwrap_or_else(|| a.output.join("cache")),
        rationales: selected.rationales,
        progress: a.progress,
        external,
    };
    let removal_text = removal_name(m, opts.removal, opts.image_removal, &metrics);
    log(&format!(
        "calig eval: {} of {} examples, {} methods, metrics {}, removal {removal_text}",
        selected.examples.len(),
        selected.total,
        methods.len(),
        // The names --metrics takes (comprehensiveness, log-odds, …).
        metrics
            .iter()
            .map(|&m| <&'static str>::from(m))
            .collect::<Vec<_>>()
            .join(","),
    ));
    // Created only now: a request refused above (or by `evaluate`'s own checks) leaves nothing.
    let out = evaluate(m, &selected.examples, &opts)?;
    std::fs::create_dir_all(&a.output).map_err(|e| CaligError::io(&a.output, e))?;
    let results = output::Run {
        output: &a.output,
        model: m,
        dataset: &a.dataset,
        ids: a.ids.as_deref(),
        limit: a.limit,
        min_words: a.min_words,
        seed: a.seed,
        preset: a.preset,
        command: &a.command,
        methods: &methods,
        names: &names,
        reference,
        metrics: &metrics,
        removal: opts.removal,
        image_removal: opts.image_removal,
        n: selected.examples.len(),
        total: selected.total,
        wall_s: start.elapsed().as_secs_f64(),
    }
    .write(&out)?;
    log(&format!(
        "calig eval: done in {:.1} s; {} attributions computed, {} from the cache; tables in {}",
        start.elapsed().as_secs_f64(),
        out.computed.iter().sum::<usize>(),
        out.cached.iter().sum::<usize>(),
        a.output.join("results.md").display()
    ));
    Ok(results)
}
