//! `calig eval --model M --dataset D --methods LIST [...]`: faithfulness and plausibility of
//! attribution methods on a data set, with paired statistics (src/eval/, docs/results.md).

use super::RuntimeArgs;
use anyhow::{bail, Context, Result};
use calig::data::{self, Example, Table};
use calig::eval::metrics::MetricChoice;
use calig::eval::plot;
use calig::eval::removal::Removal;
use calig::eval::report::{self, write_atomic};
use calig::eval::run::{evaluate, EvalOptions, Outcome};
use calig::eval::sanity;
use calig::eval::spec::{Kind, MethodSpec};
use calig::model::LoadedModel;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Protocol presets that fix the metrics and the removal of a published set-up.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// DeYoung et al. 2020: comprehensiveness, sufficiency (AOPC), log-odds; token F1, IOU-F1
    /// and AUPRC with rationales; tokens deleted.
    Eraser,
    /// Chefer et al. 2021: the perturbation test (and token-F1@k with rationales); [PAD] with
    /// attention mask 0.
    Chefer,
    /// Chen et al. 2023: the positive/negative perturbation test; [PAD] with attention mask 0.
    BeyondIntuition,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Built-in model, checkpoint directory or cached hub id.
    #[arg(long)]
    model: String,
    /// An ERASER directory (<split>.jsonl + docs/), a .tsv/.csv/.jsonl file of labelled texts
    /// (fastText-style `__label__NAME<TAB>text` TSV is recognised too), an idx directory
    /// (MNIST / Fashion-MNIST `*-images-idx3-ubyte[.gz]`), or an image folder with one
    /// sub-folder per class.
    #[arg(long)]
    dataset: PathBuf,
    /// Comma-separated method entries with optional parameters, e.g.
    /// `calig,calig:lambda=1,aggregation=sum,lig:layers=3,ig,random`.
    #[arg(long, default_value = "")]
    methods: String,
    /// Attributions made elsewhere (Captum, inseq, ferret, ...): JSON lines
    /// `{"id": ..., "word_scores": [...]}`, one score per whitespace-separated word of the
    /// example's text; scored as the method `file:<stem>`. Repeatable.
    #[arg(long)]
    attributions: Vec<PathBuf>,
    /// Metrics (comma-separated; default: the preset's, else every metric the data set allows).
    #[arg(long, value_enum, value_delimiter = ',')]
    metrics: Vec<MetricChoice>,
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// How removed tokens are removed (default: delete; pad-mask for chefer/beyond-intuition).
    #[arg(long, value_enum)]
    removal: Option<Removal>,
    /// Evaluate a seeded random sample of N examples (kept in file order).
    #[arg(long)]
    limit: Option<usize>,
    /// Seed of the sample, the random baseline and the bootstrap/permutation resampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Directory for the tables, plots and exports.
    #[arg(long, default_value = "calig-eval")]
    output: PathBuf,
    /// Attribution cache (default: OUTPUT/cache); share it between runs to reuse attributions.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// The method the others are compared with (default: the first calig entry, else the first).
    #[arg(long)]
    reference: Option<String>,
    /// Split to read: ERASER `val` (default) or `test`; idx `test` (default) or `train`.
    #[arg(long)]
    split: Option<String>,
    /// Text column of a table (default: `sentence` for .tsv, `text` otherwise).
    #[arg(long)]
    text_column: Option<String>,
    #[arg(long, default_value = "label")]
    label_column: String,
    #[arg(long)]
    id_column: Option<String>,
    /// Instead of the removal and rationale metrics, run the cascading model-parameter
    /// randomisation test (Adebayo et al. 2018): Spearman ρ of every method's maps between the
    /// trained model and copies re-initialised from the head down (sanity.md, sanity.csv).
    #[arg(long)]
    sanity: bool,
    /// Keep only examples with at least this many words (whitespace-separated).
    #[arg(long, default_value_t = 0)]
    min_words: usize,
    #[command(flatten)]
    runtime: RuntimeArgs,
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

fn load_dataset(a: &EvalArgs, m: &LoadedModel) -> Result<(Vec<Example>, bool)> {
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
            .with_context(|| format!("cannot read {}", p.display()))?
            .flatten()
            .any(|e| e.path().is_dir());
        if folders && !p.join("docs").is_dir() {
            return Ok((data::read_image_folder(p, &labels)?, false));
        }
        bail!(
            "{}: a data-set directory must be ERASER-shaped ({split}.jsonl and docs/), hold idx \
             files (t10k-images-idx3-ubyte[.gz] ...), or have one image sub-folder per class",
            p.display()
        );
    }
    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
    // Only the start of the first line decides the format; the readers check the encoding.
    let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
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

fn metrics_for(a: &EvalArgs, rationales: bool) -> Vec<MetricChoice> {
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
        }
        .into_iter()
        .filter(|c| rationales || !c.needs_rationales())
        .collect()
    };
    m.sort();
    m.dedup();
    m
}

pub fn run(a: EvalArgs) -> Result<()> {
    let start = Instant::now();
    let m = a.runtime.load(&a.model)?;
    let is_text = m.config.family.is_text();
    if !is_text && a.removal.is_some() {
        bail!(
            "--removal applies to text; removed image patches are set to 0 in the normalised space"
        );
    }
    let mut methods = if a.methods.trim().is_empty() {
        Vec::new()
    } else {
        MethodSpec::parse_list(&a.methods, is_text)?
    };
    let mut external = Vec::new();
    for (i, path) in a.attributions.iter().enumerate() {
        let content =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        external.push(read_attributions(path, &content)?);
        let spec = MethodSpec::external(i, path, &content, is_text);
        if methods.iter().any(|m| m.name == spec.name) {
            bail!("two methods are named `{}`", spec.name);
        }
        methods.push(spec);
    }
    if methods.is_empty() {
        bail!("nothing to evaluate: give --methods or --attributions");
    }
    let (all, rationales) = load_dataset(&a, &m)?;
    let total = all.len();
    let filtered: Vec<Example> = all
        .into_iter()
        .filter(|e| e.text.split_whitespace().count() >= a.min_words)
        .collect();
    let examples = sample(filtered, a.limit, a.seed);
    if examples.is_empty() {
        bail!("{}: no examples to evaluate", a.dataset.display());
    }
    let removal = a.removal.unwrap_or(match a.preset {
        Some(Preset::Chefer) | Some(Preset::BeyondIntuition) => Removal::PadMask,
        _ => Removal::Delete,
    });
    let metrics = metrics_for(&a, rationales);
    let names: Vec<String> = methods.iter().map(|s| s.name.clone()).collect();
    let reference = match &a.reference {
        Some(r) => names
            .iter()
            .position(|n| n == r)
            .with_context(|| format!("--reference `{r}` is not one of the methods"))?,
        None => methods
            .iter()
            .position(|s| s.kind == Kind::Method(calig::attr::Method::Calig))
            .unwrap_or(0),
    };
    if a.sanity {
        return run_sanity(&a, &m, &methods, &names, &examples, total, start);
    }
    let opts = EvalOptions {
        methods: methods.clone(),
        metrics: metrics.clone(),
        removal,
        seed: a.seed,
        cache_dir: a.cache.clone().unwrap_or_else(|| a.output.join("cache")),
        rationales,
        progress: std::io::stderr().is_terminal(),
        external,
    };
    eprintln!(
        "calig eval: {} of {} examples, {} methods, metrics {}, removal {}",
        examples.len(),
        total,
        methods.len(),
        metrics
            .iter()
            .map(|m| format!("{m:?}"))
            .collect::<Vec<_>>()
            .join(","),
        removal_name(&m, removal)
    );
    // Created only now: a request refused above (or by `evaluate`'s own checks) leaves nothing.
    let out = evaluate(&m, &examples, &opts)?;
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("cannot create {}", a.output.display()))?;
    let wall = start.elapsed().as_secs_f64();
    write_outputs(
        &a,
        &m,
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
    eprintln!(
        "calig eval: done in {wall:.1} s; {} attributions computed, {} from the cache; tables in {}",
        out.computed.iter().sum::<usize>(),
        out.cached.iter().sum::<usize>(),
        a.output.join("results.md").display()
    );
    Ok(())
}

fn run_sanity(
    a: &EvalArgs,
    m: &LoadedModel,
    methods: &[MethodSpec],
    names: &[String],
    examples: &[Example],
    total: usize,
    start: Instant,
) -> Result<()> {
    eprintln!(
        "calig eval --sanity: {} of {total} examples, {} methods, {} stages",
        examples.len(),
        methods.len(),
        m.config.num_layers + 2
    );
    let work = std::env::temp_dir().join(format!("calig-sanity-{}", std::process::id()));
    let c = sanity::cascade(m, examples, methods, a.seed, &work, |stage| {
        eprintln!("  re-initialising up to: {stage}")
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
    let curve = calig::eval::run::CurveValues {
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
    calig::eval::plot::line_plot(
        &a.output.join("plots").join("sanity.png"),
        "Cascading randomisation (0 = trained; then head, blocks top-down, embeddings)",
        "parts re-initialised",
        "Spearman ρ with the trained map",
        &curve,
        names,
    )?;
    eprintln!(
        "calig eval --sanity: done in {wall:.1} s; tables in {}",
        a.output.join("sanity.md").display()
    );
    Ok(())
}

/// How removal works for this model: the text option, or the image rule.
fn removal_name(m: &LoadedModel, removal: Removal) -> &'static str {
    if m.config.family.is_text() {
        removal.name()
    } else {
        "patch set to 0 (normalised pixels)"
    }
}

#[allow(clippy::too_many_arguments)]
fn write_outputs(
    a: &EvalArgs,
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
) -> Result<()> {
    let dir = &a.output;
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
    let header: Vec<(String, String)> = vec![
        ("model".into(), format!("{} (content hash {})", m.source.name(), out.model_hash)),
        ("data set".into(), format!("{} ({n} of {total} examples{}{})", a.dataset.display(),
            a.limit.map_or(String::new(), |l| format!(", seeded sample --limit {l} --seed {}", a.seed)),
            if a.min_words > 0 { format!(", ≥ {} words", a.min_words) } else { String::new() })),
        ("model accuracy on these examples".into(), format!("{:.4}", accuracy)),
        ("truncated to the model maximum".into(), truncated.to_string()),
        ("preset".into(), a.preset.map_or("none".into(), |p| format!("{p:?}"))),
        ("removal".into(), removal_name(m, removal).into()),
        ("explained class".into(), "predicted class for comprehensiveness/sufficiency/log-odds/deletion/insertion; gold class for the perturbation test and rationales".into()),
        ("rationale k (hard token F1, IOU-F1)".into(), out.rationale_k.map_or("—".into(), |k| k.to_string())),
        ("seed".into(), a.seed.to_string()),
        ("wall time".into(), format!("{wall:.1} s")),
        ("calig".into(), env!("CARGO_PKG_VERSION").into()),
    ];
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
        "command": std::env::args().collect::<Vec<_>>(),
        "model": m.source.name(),
        "model_hash": out.model_hash,
        "dataset": a.dataset,
        "n": n,
        "seed": a.seed,
        "removal": removal_name(m, removal),
        "preset": a.preset,
        "metrics_requested": metrics,
        "reference": names[reference],
        "methods": methods.iter().map(|s| serde_json::json!({"name": s.name, "slug": s.slug(), "params": s.params})).collect::<Vec<_>>(),
        "examples": out.examples,
        "tables": tables,
        "corpus_iou_f1": out.corpus_iou_f1.as_ref().map(|v| names.iter().cloned().zip(v.iter().copied()).collect::<std::collections::BTreeMap<_, _>>()),
        "rationale_k": out.rationale_k,
        "wall_s": wall,
    });
    write_atomic(
        &dir.join("results.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
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
    if !out.eraser.is_empty() {
        let index = serde_json::json!({"methods": methods.iter().map(|s| serde_json::json!({"name": s.name, "slug": s.slug()})).collect::<Vec<_>>()});
        write_atomic(
            &dir.join("eraser").join("index.json"),
            serde_json::to_string_pretty(&index)?.as_bytes(),
        )?;
        for (s, lines) in methods.iter().zip(&out.eraser) {
            let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
            write_atomic(&eraser_path(dir, s), body.as_bytes())?;
        }
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
    let text =
        std::str::from_utf8(content).with_context(|| format!("{}: not UTF-8", path.display()))?;
    let mut out = std::collections::HashMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let l: Line = serde_json::from_str(line).with_context(|| {
            format!(
                "{} line {}: expected {{\"id\": ..., \"word_scores\": [numbers]}}",
                path.display(),
                i + 1
            )
        })?;
        let id = match l.id {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        if out.insert(id.clone(), l.word_scores).is_some() {
            bail!(
                "{} line {}: example `{id}` appears twice",
                path.display(),
                i + 1
            );
        }
    }
    Ok(out)
}

fn eraser_path(dir: &Path, s: &MethodSpec) -> PathBuf {
    dir.join("eraser").join(format!("{}.jsonl", s.slug()))
}
