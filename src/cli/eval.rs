//! `calig eval --model M --dataset D --methods LIST [...]`: faithfulness and plausibility of
//! attribution methods on a data set, with paired statistics (the job is src/eval/job.rs,
//! shared with the Python package; docs/results.md has the runs).

use super::choice::choice;
use super::RuntimeArgs;
use anyhow::Result;
use calig::eval::image_removal::ImageRemoval;
use calig::eval::job::{self, EvalJob, Preset};
use calig::eval::metrics::MetricChoice;
use calig::eval::removal::Removal;
use std::io::IsTerminal;
use std::path::PathBuf;

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
    #[arg(long, value_parser = choice::<MetricChoice>(), value_delimiter = ',')]
    metrics: Vec<MetricChoice>,
    /// The metrics and removal of a published protocol.
    #[arg(long, value_parser = choice::<Preset>())]
    preset: Option<Preset>,
    /// How removed tokens are removed (default: delete; pad-mask for chefer/beyond-intuition).
    #[arg(long, value_parser = choice::<Removal>())]
    removal: Option<Removal>,
    /// Images: what removed patches become (default grey: 0 in the normalised space, as
    /// Chefer et al.'s code; black: pixel 0 before normalisation, the reference IG, occlusion
    /// and CA-LIG integrate from by default).
    #[arg(long, value_parser = choice::<ImageRemoval>())]
    image_removal: Option<ImageRemoval>,
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
    /// Column of a sentence pair's second text (tables; the text column holds the first).
    #[arg(long)]
    pair_column: Option<String>,
    #[arg(long, default_value = "label")]
    label_column: String,
    #[arg(long)]
    id_column: Option<String>,
    /// Instead of the removal and rationale metrics, run the cascading model-parameter
    /// randomisation test (Adebayo et al. 2018): Spearman ρ of every method's maps between the
    /// trained model and copies re-initialised from the head down (sanity.md, sanity.csv).
    #[arg(long)]
    sanity: bool,
    /// Keep only the examples whose id is listed in FILE, one per line (e.g. the BBC dev split:
    /// models-src/minilm-bbc/dev_ids.txt); applied before --min-words and --limit.
    #[arg(long, value_name = "FILE")]
    ids: Option<std::path::PathBuf>,
    /// Keep only examples with at least this many words (whitespace-separated).
    #[arg(long, default_value_t = 0)]
    min_words: usize,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

impl EvalArgs {
    /// The job these arguments describe (recording `command`), with the model and runtime
    /// they name.
    pub fn into_job(self, command: Vec<String>, progress: bool) -> (String, RuntimeArgs, EvalJob) {
        let a = self;
        let job = EvalJob {
            dataset: a.dataset,
            methods: a.methods,
            attributions: a.attributions,
            metrics: a.metrics,
            preset: a.preset,
            removal: a.removal,
            image_removal: a.image_removal,
            limit: a.limit,
            seed: a.seed,
            output: a.output,
            cache: a.cache,
            reference: a.reference,
            split: a.split,
            text_column: a.text_column,
            pair_column: a.pair_column,
            label_column: a.label_column,
            id_column: a.id_column,
            ids: a.ids,
            sanity: a.sanity,
            min_words: a.min_words,
            progress,
            command,
        };
        (a.model, a.runtime, job)
    }
}

pub fn run(a: EvalArgs) -> Result<()> {
    let (model, runtime, job) =
        a.into_job(std::env::args().collect(), std::io::stderr().is_terminal());
    let m = runtime.load(&model)?;
    job::run(&job, &m, &|line| eprintln!("{line}"))?;
    Ok(())
}
