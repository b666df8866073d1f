//! `calig batch --input FILE --output OUT.jsonl [--method ...] [--resume] [--shard I/N]
//! [--on-error fail|skip]` and `calig batch --merge --output OUT.jsonl SHARD...`.

use super::method_args::MethodArgs;
use super::RuntimeArgs;
use anyhow::{bail, Result};
use calig::batch::{self, Columns, Lock, Shard};
use calig::explain::explain;
use calig::model::load::default_model;
use calig::store::JsonlStore;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Stop at the first bad row (the rows before it are kept; `--resume` continues).
    Fail,
    /// Skip bad rows: listed in the summary and in OUTPUT.errors.jsonl.
    Skip,
}

#[derive(clap::Args, Debug)]
pub struct BatchArgs {
    /// Built-in model, checkpoint directory or cached hub id (default: minilm-sst2, or
    /// vit-fashion-mae with --image-column).
    #[arg(long)]
    model: Option<String>,
    /// Rows to explain: .jsonl, .tsv or .csv.
    #[arg(long, required_unless_present = "merge")]
    input: Option<PathBuf>,
    /// The JSON-lines output: one explanation per row, with its `line` and `id`.
    #[arg(long)]
    output: PathBuf,
    /// Text column (default `text`; `sentence` for .tsv).
    #[arg(long)]
    text_column: Option<String>,
    /// Image-path column (image models; paths relative to the input file).
    #[arg(long)]
    image_column: Option<String>,
    #[arg(long)]
    id_column: Option<String>,
    /// Column with the class to explain (label or index; default: the predicted class).
    #[arg(long)]
    target_column: Option<String>,
    #[command(flatten)]
    method: MethodArgs,
    /// Continue an interrupted run: rows already in the output are not explained again.
    #[arg(long)]
    resume: bool,
    #[arg(long, value_enum, default_value = "fail")]
    on_error: OnError,
    /// Take only the rows at positions I, I+N, I+2N, … (0-based; for job arrays).
    #[arg(long, value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Join shard outputs (the positional files) into --output, in input order.
    #[arg(long)]
    merge: bool,
    /// Shard outputs to merge.
    shards: Vec<PathBuf>,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

pub fn run(a: BatchArgs) -> Result<()> {
    if a.merge {
        if a.shards.is_empty() {
            bail!("--merge needs the shard outputs to join");
        }
        let _lock = Lock::acquire(&a.output)?;
        let merged = batch::merge(&a.shards)?;
        calig::atomic::write_file(&a.output, merged.as_bytes())?;
        eprintln!(
            "calig batch: merged {} shards ({} rows) into {}",
            a.shards.len(),
            merged.lines().count(),
            a.output.display()
        );
        return Ok(());
    }
    if !a.shards.is_empty() {
        bail!("positional files are shard outputs for --merge");
    }
    let input = a.input.clone().expect("clap requires --input");
    let method = a.method.single("calig batch")?;
    let is_image = a.image_column.is_some();
    let ext = input.extension().and_then(|e| e.to_str()).unwrap_or("");
    let cols = Columns {
        input: match (&a.image_column, &a.text_column) {
            (Some(_), Some(_)) => bail!("give --text-column or --image-column, not both"),
            (Some(c), None) | (None, Some(c)) => c.clone(),
            (None, None) if ext == "tsv" => "sentence".into(),
            (None, None) => "text".into(),
        },
        is_image,
        id: a.id_column.clone(),
        target: a.target_column.clone(),
    };
    let rows = batch::read_rows(&input, &cols)?;
    let model = a
        .model
        .clone()
        .unwrap_or_else(|| default_model(!is_image).to_string());
    let m = a.runtime.load(&model)?;
    if m.config.family.is_text() == is_image {
        bail!(
            "{model} is {} model: use {}",
            if is_image { "a text" } else { "an image" },
            if is_image {
                "--text-column"
            } else {
                "--image-column"
            }
        );
    }
    let params = a.method.params(!is_image)?;
    a.method.warn_ignored(&params);
    params.validate()?;
    let _lock = Lock::acquire(&a.output)?;
    let existing = std::fs::metadata(&a.output).map(|m| m.len()).unwrap_or(0);
    if existing > 0 && !a.resume {
        bail!(
            "{} already has results: add --resume to continue it, or choose another --output",
            a.output.display()
        );
    }
    let (mut store, done) = JsonlStore::open::<serde_json::Value>(&a.output)?;
    let done: std::collections::HashSet<u64> =
        done.iter().filter_map(|v| v["line"].as_u64()).collect();
    let errors_path = PathBuf::from(format!("{}.errors.jsonl", a.output.display()));
    // Rows skipped by an earlier run stay skipped; the side file is created at the first error.
    let (mut errors, skipped_before) = if errors_path.is_file() {
        let (store, earlier) = JsonlStore::open::<serde_json::Value>(&errors_path)?;
        let lines = earlier.iter().filter_map(|v| v["line"].as_u64()).collect();
        (Some(store), lines)
    } else {
        (None, std::collections::HashSet::new())
    };
    let todo: Vec<&batch::Row> = rows
        .iter()
        .enumerate()
        .filter(|(i, _)| a.shard.is_none_or(|s| s.takes(*i)))
        .map(|(_, r)| r)
        .filter(|r| !done.contains(&(r.line as u64)) && !skipped_before.contains(&(r.line as u64)))
        .collect();
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(todo.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("batch [{bar:30}] {pos}/{len} rows, {per_sec}, ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let start = Instant::now();
    let (mut explained, mut skipped) = (0usize, Vec::new());
    for row in &todo {
        let result = row.explain_input().and_then(|inp| {
            explain(&m, &inp, row.target.as_deref(), method, &params).map_err(|e| e.to_string())
        });
        match result {
            Ok(e) => {
                let mut v = serde_json::to_value(&e)?;
                if let Some(obj) = v.as_object_mut() {
                    let mut rec = serde_json::Map::new();
                    rec.insert("line".into(), row.line.into());
                    rec.insert("id".into(), row.id.clone().into());
                    rec.append(obj);
                    v = rec.into();
                }
                store.append(&v)?;
                explained += 1;
            }
            Err(why) => {
                let what = format!(
                    "{}: line {} (id {}): {why}",
                    input.display(),
                    row.line,
                    row.id
                );
                if a.on_error == OnError::Fail {
                    bar.abandon();
                    bail!("{what}; the {explained} rows before it are in {} (--resume continues; --on-error skip skips bad rows)", a.output.display());
                }
                let store = match &mut errors {
                    Some(s) => s,
                    None => errors.insert(JsonlStore::open::<serde_json::Value>(&errors_path)?.0),
                };
                store.append(&serde_json::json!({"line": row.line, "id": row.id, "error": why}))?;
                skipped.push(what);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "calig batch: {explained} rows explained in {secs:.1} s ({:.2} rows/s){}{}; output {}",
        explained as f64 / secs.max(1e-9),
        if done.is_empty() {
            String::new()
        } else {
            format!(", {} already done", done.len())
        },
        if skipped.is_empty() {
            String::new()
        } else {
            format!(
                ", {} skipped (listed in {})",
                skipped.len(),
                errors_path.display()
            )
        },
        a.output.display()
    );
    for s in &skipped {
        eprintln!("  skipped {s}");
    }
    Ok(())
}
