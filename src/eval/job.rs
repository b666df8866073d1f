//! One `calig eval` job, as the CLI and the Python package run it: the data set read and
//! sampled, the methods parsed (and attributions made elsewhere read), the evaluation run, and
//! the tables, plots and exports written to the output directory (docs/evaluation.md).

use super::image_removal::ImageRemoval;
use super::metrics::MetricChoice;
use super::plot;
use super::removal::Removal;
use super::report::{self, write_atomic};
use super::run::{evaluate, EvalOptions, Outcome};
use super::sanity;
use super::spec::{Kind, MethodSpec};
use crate::choice::Choice;
use crate::data::{self, Example, Table};
use crate::error::{CaligError, Result};
use crate::model::LoadedModel;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn invalid(msg: String) -> CaligError {
    CaligError::InvalidInput(msg)
}

/// A JSON value as indented text (a `Value` always serialises).
fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// Protocol presets that fix the metrics and the removal of a published set-up.
#[derive(
    strum::VariantArray,
    strum::IntoStaticStr,
    strum::EnumMessage,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Preset {
    /// DeYoung et al. 2020: comprehensiveness, sufficiency (AOPC), log-odds; token F1, IOU-F1
    /// and AUPRC with rationales; tokens deleted.
    Eraser,
    /// Chefer et al. 2021: the perturbation test (and token-F1@k with rationales); [PAD] with
    /// attention mask 0.
    Chefer,
    /// Chen et al. 2023: the positive/negative perturbation test; [PAD] with attention mask 0.
    BeyondIntuition,
    /// ferret (Attanasio et al. 2023): AOPC comprehensiveness/sufficiency over 10 bins and τ-LOO
    /// (token F1, IOU and AUPRC with rationales) on sub-word tokens, positive scores only;
    /// removed tokens deleted and the text re-tokenised.
    Ferret,
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

/// A label name as the data set spells it, mapped to the model's class: exact, case-insensitive,
/// index, or a prefix either way (ERASER's `NEG` for a model's `negative`).
fn label_of(m: &LoadedModel, name: &str) -> Option<usize> {
    m.config.label_index(name).or_else(|| {
        let n = name.to_lowercase();
        let hits: Vec<usize> = (0..m.config.labels.len())
            .filter(|&i| {
                let l = m.config.labels[i].to_lowercase();
                !n.is_empty() && (l.starts_with(&n) || n.starts_with(&l))
            })
            .collect();
        (hits.len() == 1).then(|| hits[0])
    })
}

fn load_dataset(a: &EvalJob, m: &LoadedModel) -> Result<(Vec<Example>, bool)> {
    let labels = |s: &str| label_of(m, s);
    let p = &a.dataset;
    if p.is_dir() {
        let has = |name: &str| p.join(name).is_file() || p.join(format!("{name}.gz")).is_file();
        if has("t10k-images-idx3-ubyte") || has("train-images-idx3-ubyte") {
            let split = a.split.as_deref().unwrap_or("test");
            return Ok((data::read_idx(p, split)?, false));
        }
        let split = a.split.as_deref().unwrap_or("val");
        let jsonl = p.join(format!("{split}.jsonl"));
        if jsonl.is_file() && p.join("docs").is_dir() {
            return Ok((data::read_eraser(&jsonl, &p.join("docs"), &labels)?, true));
        }
        let folders = std::fs::read_dir(p)
            .map_err(|e| CaligError::io(p, e))?
            .flatten()
            .any(|e| e.path().is_dir());
        if folders && !p.join("docs").is_dir() {
            return Ok((data::read_image_folder(p, &labels)?, false));
        }
        return Err(CaligError::InvalidFile {
            path: p.clone(),
            reason: format!(
                "a data-set directory must be ERASER-shaped ({split}.jsonl and docs/), hold \
                 idx files (t10k-images-idx3-ubyte[.gz] ...), or have one image sub-folder per \
                 class"
            ),
        });
    }
    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
    // Only the start of the first line decides the format; the readers check the encoding.
    let bytes = std::fs::read(p).map_err(|e| CaligError::io(p, e))?;
    let first = String::from_utf8_lossy(bytes.split(|&b| b == b'\n').next().unwrap_or_default())
        .into_owned();
    if ext == "tsv" && first.starts_with("__label__") {
        return Ok((data::read_fasttext_tsv(p, &m.config.labels)?, false));
    }
    let text_column = a
        .text_column
        .clone()
        .unwrap_or_else(|| if ext == "tsv" { "sentence" } else { "text" }.into());
    let table = Table {
        text_column: &text_column,
        label_column: &a.label_column,
        id_column: a.id_column.as_deref(),
    };
    Ok((data::read_table(p, &table, &labels)?, false))
}

fn sample(mut examples: Vec<Example>, limit: Option<usize>, seed: u64) -> Vec<Example> {
    let Some(n) = limit.filter(|&n| n < examples.len()) else {
        return examples;
    };
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let mut keep: Vec<usize> = order[..n].to_vec();
    keep.sort_unstable();
    let mut out = Vec::with_capacity(n);
    for i in keep.into_iter().rev() {
        out.push(examples.swap_remove(i));
    }
    out.reverse();
    out
}

/// The examples whose id `path` lists (one per line, blank lines ignored), in data-set order;
/// an id that the data set lacks is an error naming its line.
fn keep_listed(all: Vec<Example>, path: &Path, dataset: &Path) -> Result<Vec<Example>> {
    let text = std::fs::read_to_string(path).map_err(|e| CaligError::io(path, e))?;
    let known: std::collections::HashSet<&str> = all.iter().map(|e| e.id.as_str()).collect();
    let mut wanted = std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let id = line.trim();
        if id.is_empty() {
            continue;
        }
        if !known.contains(id) {
            return Err(invalid(format!(
                "{} line {}: no example `{id}` in {}",
                path.display(),
                i + 1,
                dataset.display()
            )));
        }
        wanted.insert(id.to_string());
    }
    Ok(all.into_iter().filter(|e| wanted.contains(&e.id)).collect())
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
    if !is_text && a.removal.is_some() {
        return Err(invalid(
            "--removal applies to text; for images, --image-removal grey|black says what \
             removed patches become"
                .into(),
        ));
    }
    if is_text && a.image_removal.is_some() {
        return Err(invalid(
            "--image-removal applies to images; for text, --removal delete|pad|pad-mask".into(),
        ));
    }
    let image_removal = a.image_removal.unwrap_or_default();
    let mut methods = if a.methods.trim().is_empty() {
        Vec::new()
    } else {
        MethodSpec::parse_list(&a.methods, is_text)?
    };
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
    for (i, path) in a.attributions.iter().enumerate() {
        let content = std::fs::read(path).map_err(|e| CaligError::io(path, e))?;
        external.push(read_attributions(path, &content)?);
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
    let (mut all, rationales) = load_dataset(a, m)?;
    if let Some(path) = &a.ids {
        all = keep_listed(all, path, &a.dataset)?;
    }
    let total = all.len();
    let filtered: Vec<Example> = all
        .into_iter()
        .filter(|e| e.text.split_whitespace().count() >= a.min_words)
        .collect();
    let examples = sample(filtered, a.limit, a.seed);
    if examples.is_empty() {
        return Err(invalid(format!(
            "{}: no examples to evaluate",
            a.dataset.display()
        )));
    }
    let removal = a.removal.unwrap_or(match a.preset {
        Some(Preset::Chefer) | Some(Preset::BeyondIntuition) => Removal::PadMask,
        _ => Removal::Delete,
    });
    let metrics = metrics_for(a, rationales);
    let names: Vec<String> = methods.iter().map(|s| s.name.clone()).collect();
    let reference = match &a.reference {
        Some(r) => names
            .iter()
            .position(|n| n == r)
            .ok_or_else(|| invalid(format!("--reference `{r}` is not one of the methods")))?,
        None => methods
            .iter()
            .position(|s| s.kind == Kind::Method(crate::attr::Method::Calig))
            .unwrap_or(0),
    };
    if a.sanity {
        return run_sanity(a, m, &methods, &names, &examples, total, start, log);
    }
    let opts = EvalOptions {
        methods: methods.clone(),
        metrics: metrics.clone(),
        removal,
        image_removal,
        seed: a.seed,
        cache_dir: a.cache.clone().unwrap_or_else(|| a.output.join("cache")),
        rationales,
        progress: a.progress,
        external,
    };
    log(&format!(
        "calig eval: {} of {} examples, {} methods, metrics {}, removal {}",
        examples.len(),
        total,
        methods.len(),
        metrics
            .iter()
            .map(|m| format!("{m:?}"))
            .collect::<Vec<_>>()
            .join(","),
        removal_name(m, removal, image_removal, &metrics)
    ));
    // Created only now: a request refused above (or by `evaluate`'s own checks) leaves nothing.
    let out = evaluate(m, &examples, &opts)?;
    std::fs::create_dir_all(&a.output).map_err(|e| CaligError::io(&a.output, e))?;
    let wall = start.elapsed().as_secs_f64();
    let results = write_outputs(
        a,
        m,
        &methods,
        &names,
        reference,
        &metrics,
        removal,
        &out,
        wall,
        examples.len(),
        total,
    )?;
    log(&format!(
        "calig eval: done in {wall:.1} s; {} attributions computed, {} from the cache; tables in {}",
        out.computed.iter().sum::<usize>(),
        out.cached.iter().sum::<usize>(),
        a.output.join("results.md").display()
    ));
    Ok(results)
}

#[allow(clippy::too_many_arguments)]
fn run_sanity(
    a: &EvalJob,
    m: &LoadedModel,
    methods: &[MethodSpec],
    names: &[String],
    examples: &[Example],
    total: usize,
    start: Instant,
    log: &dyn Fn(&str),
) -> Result<serde_json::Value> {
    log(&format!(
        "calig eval --sanity: {} of {total} examples, {} methods, {} stages",
        examples.len(),
        methods.len(),
        m.config.num_layers + 2
    ));
    let work = std::env::temp_dir().join(format!("calig-sanity-{}", std::process::id()));
    let c = sanity::cascade(m, examples, methods, a.seed, &work, |stage| {
        log(&format!("  re-initialising up to: {stage}"))
    });
    let _ = std::fs::remove_dir_all(&work);
    let c = c?;
    let wall = start.elapsed().as_secs_f64();
    let mut md = format!(
        "# calig eval --sanity: cascading model-parameter randomisation\n\n- model: {}\n- data set: {} ({} of {total} examples{})\n- explained class: the trained model's prediction, at every stage\n- re-initialisation: weights N(0, initializer_range²), biases 0, LayerNorm 1/0 (seed {})\n- wall time: {wall:.1} s\n- calig: {}\n\nMeans over examples with bootstrap 95 % intervals. Each column re-initialises one more part, from the head down (cumulative).\n\n",
        m.source.name(),
        a.dataset.display(),
        examples.len(),
        a.limit.map_or(String::new(), |l| format!(", seeded sample --limit {l} --seed {}", a.seed)),
        a.seed,
        env!("CARGO_PKG_VERSION"),
    );
    md.push_str(&sanity::markdown(&c, names, a.seed));
    let ids: Vec<String> = examples.iter().map(|e| e.id.clone()).collect();
    report::write_atomic(&a.output.join("sanity.md"), md.as_bytes())?;
    report::write_atomic(
        &a.output.join("sanity.csv"),
        sanity::csv(&c, names, &ids).as_bytes(),
    )?;
    let curve = super::run::CurveValues {
        xs: (0..=c.stages.len()).map(|i| i as f64).collect(),
        values: c
            .signed
            .iter()
            .map(|per_stage| {
                (0..examples.len())
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
        &a.output.join("plots").join("sanity.png"),
        "Cascading randomisation (0 = trained; then head, blocks top-down, embeddings)",
        "parts re-initialised",
        "Spearman ρ with the trained map",
        &curve,
        names,
    )?;
    log(&format!(
        "calig eval --sanity: done in {wall:.1} s; tables in {}",
        a.output.join("sanity.md").display()
    ));
    Ok(serde_json::json!({
        "sanity": a.output.join("sanity.md"),
        "csv": a.output.join("sanity.csv"),
        "wall_s": wall,
    }))
}

/// How removal works for this model: the text option, or the image rule.
fn removal_name(
    m: &LoadedModel,
    removal: Removal,
    image_removal: ImageRemoval,
    metrics: &[MetricChoice],
) -> String {
    const FERRET: &str = "ferret's: deleted, the rest decoded and re-tokenised";
    if !m.config.family.is_text() {
        image_removal.describe().into()
    } else if metrics.iter().all(MetricChoice::is_ferret) {
        FERRET.into()
    } else if metrics.iter().any(MetricChoice::is_ferret) {
        format!("{} (ferret metrics: {FERRET})", removal.name())
    } else {
        removal.name().into()
    }
}

#[allow(clippy::too_many_arguments)]
fn write_outputs(
    a: &EvalJob,
    m: &LoadedModel,
    methods: &[MethodSpec],
    names: &[String],
    reference: usize,
    metrics: &[MetricChoice],
    removal: Removal,
    out: &Outcome,
    wall: f64,
    n: usize,
    total: usize,
) -> Result<serde_json::Value> {
    let dir = &a.output;
    let image_removal = a.image_removal.unwrap_or_default();
    let tables = report::tables(out, names, reference, a.seed);
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
    let mut header: Vec<(String, String)> = vec![
        (
            "model".into(),
            format!("{} (content hash {})", m.source.name(), out.model_hash),
        ),
        (
            "data set".into(),
            format!(
                "{}{} ({n} of {total} examples{}{})",
                a.dataset.display(),
                a.ids.as_ref().map_or(String::new(), |p| format!(
                    ", the ids listed in {}",
                    p.display()
                )),
                a.limit.map_or(String::new(), |l| format!(
                    ", seeded sample --limit {l} --seed {}",
                    a.seed
                )),
                if a.min_words > 0 {
                    format!(", ≥ {} words", a.min_words)
                } else {
                    String::new()
                }
            ),
        ),
        (
            "model accuracy on these examples".into(),
            format!("{:.4}", accuracy),
        ),
        (
            "truncated to the model maximum".into(),
            truncated.to_string(),
        ),
        (
            "preset".into(),
            a.preset.map_or("none".into(), |p| format!("{p:?}")),
        ),
        (
            "removal".into(),
            removal_name(m, removal, image_removal, metrics),
        ),
        ("explained class".into(), {
            const FERRET: &str = "predicted class for ferret's metrics (its plausibility only where that is the gold class)";
            const CALIG: &str = "predicted class for comprehensiveness/sufficiency/log-odds/deletion/insertion; gold class for the perturbation test and rationales";
            if metrics.iter().all(MetricChoice::is_ferret) {
                FERRET.into()
            } else if metrics.iter().any(MetricChoice::is_ferret) {
                format!("{CALIG}; {FERRET}")
            } else {
                CALIG.into()
            }
        }),
        (
            "rationale k (hard token F1, IOU-F1)".into(),
            out.rationale_k.map_or("—".into(), |k| k.to_string()),
        ),
        ("seed".into(), a.seed.to_string()),
        ("wall time".into(), format!("{wall:.1} s")),
        ("calig".into(), env!("CARGO_PKG_VERSION").into()),
    ];
    if let Some(k) = out.ferret_k {
        header.push((
            "ferret top-k (token_f1_plau, token_iou_plau: the mean rationale size in sub-word tokens)".into(),
            k.to_string(),
        ));
    }
    let mut md = report::markdown(&header, &tables, &names[reference]);
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
    write_atomic(&dir.join("results.md"), md.as_bytes())?;
    write_atomic(
        &dir.join("results.csv"),
        report::summary_csv(&tables).as_bytes(),
    )?;
    write_atomic(
        &dir.join("per_instance.csv"),
        report::per_instance_csv(out, names).as_bytes(),
    )?;
    write_atomic(
        &dir.join("curves.csv"),
        report::curves_csv(out, names).as_bytes(),
    )?;
    let json = serde_json::json!({
        "header": header.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
        "command": a.command,
        "model": m.source.name(),
        "model_hash": out.model_hash,
        "dataset": a.dataset,
        "n": n,
        "seed": a.seed,
        "removal": removal_name(m, removal, image_removal, metrics),
        "preset": a.preset,
        "metrics_requested": metrics,
        "reference": names[reference],
        "methods": methods.iter().map(|s| serde_json::json!({"name": s.name, "slug": s.slug(), "params": s.params})).collect::<Vec<_>>(),
        "examples": out.examples,
        "tables": tables,
        "corpus_iou_f1": out.corpus_iou_f1.as_ref().map(|v| names.iter().cloned().zip(v.iter().copied()).collect::<std::collections::BTreeMap<_, _>>()),
        "rationale_k": out.rationale_k,
        "ferret_k": out.ferret_k,
        "wall_s": wall,
    });
    write_atomic(&dir.join("results.json"), pretty(&json).as_bytes())?;
    let plots = [
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
    ];
    for (key, title, x, y) in plots {
        if let Some(c) = out.curves.get(key) {
            plot::line_plot(
                &dir.join("plots").join(format!("{key}.png")),
                title,
                x,
                y,
                c,
                names,
            )?;
        }
    }
    write_export(&dir.join("eraser"), methods, &out.eraser)?;
    write_export(&dir.join("ferret"), methods, &out.ferret)?;
    Ok(json)
}

/// Per-method JSON-lines records into `dir/<slug>.jsonl`, with `dir/index.json` naming them;
/// nothing when there are none.
fn write_export(
    dir: &Path,
    methods: &[MethodSpec],
    records: &[Vec<serde_json::Value>],
) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let index = serde_json::json!({"methods": methods.iter().map(|s| serde_json::json!({"name": s.name, "slug": s.slug()})).collect::<Vec<_>>()});
    write_atomic(&dir.join("index.json"), pretty(&index).as_bytes())?;
    for (s, lines) in methods.iter().zip(records) {
        let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
        write_atomic(&dir.join(format!("{}.jsonl", s.slug())), body.as_bytes())?;
    }
    Ok(())
}

/// Reads `{"id", "word_scores"}` lines; a bad line is named.
fn read_attributions(
    path: &Path,
    content: &[u8],
) -> Result<std::collections::HashMap<String, Vec<f64>>> {
    #[derive(serde::Deserialize)]
    struct Line {
        id: serde_json::Value,
        word_scores: Vec<f64>,
    }
    let text = std::str::from_utf8(content).map_err(|_| CaligError::InvalidFile {
        path: path.to_path_buf(),
        reason: "not UTF-8".into(),
    })?;
    let mut out = std::collections::HashMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let l: Line = serde_json::from_str(line).map_err(|_| CaligError::InvalidFile {
            path: path.to_path_buf(),
            reason: format!(
                "line {}: expected {{\"id\": ..., \"word_scores\": [numbers]}}",
                i + 1
            ),
        })?;
        let id = match l.id {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        if out.insert(id.clone(), l.word_scores).is_some() {
            return Err(CaligError::InvalidFile {
                path: path.to_path_buf(),
                reason: format!("line {}: example `{id}` appears twice", i + 1),
            });
        }
    }
    Ok(out)
}
