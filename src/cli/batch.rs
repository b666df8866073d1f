//! `calig batch --input FILE --output OUT.jsonl [--method ...] [--resume] [--shard I/N]
//! [--on-error fail|skip]` and `calig batch --merge --output OUT.jsonl SHARD...`.

use super::choice::choice;
use super::method_args::MethodArgs;
use super::RuntimeArgs;
use anyhow::{bail, Result};
use calig::batch::{self, Columns, Job, Lock, OnError, Shard};
use calig::model::load::default_model;
use std::io::IsTerminal;
use std::path::PathBuf;

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
    /// Text column (default `text`, else `sentence`).
    #[arg(long)]
    text_column: Option<String>,
    /// Column of a sentence pair's second text (the text column holds the first).
    #[arg(long, conflicts_with = "image_column")]
    pair_column: Option<String>,
    /// Image-path column (image models; paths relative to the input file).
    #[arg(long)]
    image_column: Option<String>,
    #[arg(long)]
    id_column: Option<String>,
    /// Column with the class to explain (label or index; default: the predicted class).
    #[arg(long)]
    target_column: Option<String>,
    /// Explain each row's target rather than this class, or `rest` (the log-odds).
    #[arg(long)]
    contrast: Option<String>,
    #[command(flatten)]
    method: MethodArgs,
    /// Continue an interrupted run: rows already in the output are not explained again.
    #[arg(long)]
    resume: bool,
    /// What a row that cannot be explained does to the run.
    #[arg(long, value_parser = choice::<OnError>(), default_value = "fail")]
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
    let columns = Columns {
        input: match (&a.image_column, &a.text_column) {
            (Some(_), Some(_)) => bail!("give --text-column or --image-column, not both"),
            (Some(c), None) | (None, Some(c)) => Some(c.clone()),
            (None, None) => None,
        },
        is_image,
        pair: a.pair_column.clone(),
        id: a.id_column.clone(),
        target: a.target_column.clone(),
    };
    let model = a
        .model
        .clone()
        .unwrap_or_else(|| default_model(!is_image).to_string());
    let m = a.runtime.load(&model)?;
    let params = a.method.params(!is_image)?;
    a.method.warn_ignored(&params);
    let job = Job {
        input,
        output: a.output.clone(),
        columns,
        method,
        params,
        contrast: a.contrast.clone(),
        resume: a.resume,
        shard: a.shard,
        on_error: a.on_error,
        progress: std::io::stderr().is_terminal(),
    };
    let done = job.run(&m)?;
    eprintln!(
        "calig batch: {} rows explained in {:.1} s ({:.2} rows/s){}{}; output {}",
        done.explained,
        done.seconds,
        done.explained as f64 / done.seconds.max(1e-9),
        if done.already_done == 0 {
            String::new()
        } else {
            format!(", {} already done", done.already_done)
        },
        if done.skipped.is_empty() {
            String::new()
        } else {
            format!(
                ", {} skipped (listed in {})",
                done.skipped.len(),
                done.errors_path.display()
            )
        },
        a.output.display()
    );
    for s in &done.skipped {
        eprintln!("  skipped {s}");
    }
    Ok(())
}
