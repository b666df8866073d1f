//! Sub-commands of the `calig` binary; each lives in its own file.

mod batch;
mod choice;
mod eval;
mod explain;
mod info;
mod method_args;
mod models;
mod output;
mod predict;
mod render;
mod report_args;
mod serve;

use anyhow::Result;
use calig::model::{load_model_with, LoadedModel};
use calig::runtime::Runtime;
use candle_core::{DType, Device};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "calig",
    version,
    about = "Explain Transformer classifiers with CA-LIG and baseline attributions"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Architecture, layers, sizes and labels of a model.
    Info(info::InfoArgs),
    /// Class probabilities for a text or an image.
    Predict(predict::PredictArgs),
    /// List the built-in models with their metrics, or install them.
    Models(models::ModelsArgs),
    /// Attribute a prediction to the input tokens or patches (CA-LIG and baselines).
    Explain(explain::ExplainArgs),
    /// Faithfulness and plausibility of attribution methods on a data set, with paired CIs.
    Eval(eval::EvalArgs),
    /// Explain every row of a jsonl/tsv/csv file into a resumable JSON-lines output.
    Batch(batch::BatchArgs),
    /// Redraw saved explanations (explain's JSON or batch's JSON lines) as text, HTML or PNG.
    Render(render::RenderArgs),
    /// A local web page and JSON API to explain texts interactively (docs/serve.md).
    Serve(serve::ServeArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    F64,
    /// bfloat16 (for GPUs; on the CPU slower than f32).
    Bf16,
    /// float16 (for GPUs; on the CPU slower than f32).
    F16,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceArg {
    Cpu,
    /// The first CUDA GPU (build with `--features cuda`).
    Cuda,
}

/// Options every command that runs a model shares.
#[derive(clap::Args, Debug, Clone)]
pub struct RuntimeArgs {
    /// Floating-point precision of the computation.
    #[arg(long, value_enum, default_value = "f32")]
    pub dtype: Precision,
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceArg,
    /// Let f32 matrix products on CUDA use TF32 tensor cores (faster, ~1e-3 relative error per
    /// product; see docs/performance.md). No effect on the CPU.
    #[arg(long)]
    pub tf32: bool,
}

impl RuntimeArgs {
    pub fn load(&self, model: &str) -> Result<LoadedModel> {
        let dtype = match self.dtype {
            Precision::F32 => DType::F32,
            Precision::F64 => DType::F64,
            Precision::Bf16 => DType::BF16,
            Precision::F16 => DType::F16,
        };
        let device = match self.device {
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Cuda => calig::runtime::cuda_device(0).map_err(anyhow::Error::msg)?,
        };
        // The runtime is decided here, at the top: the flags, then CALIG_ENGINE/CALIG_WORKERS.
        calig::runtime::set_tf32(self.tf32);
        if self.tf32 && device.is_cpu() {
            eprintln!("warning: --tf32 has no effect on the CPU");
        }
        if matches!(self.dtype, Precision::Bf16 | Precision::F16) && device.is_cpu() {
            eprintln!(
                "note: --dtype {} on the CPU is slower and less precise than f32; it is meant for GPUs",
                if self.dtype == Precision::Bf16 { "bf16" } else { "f16" }
            );
        }
        let m = load_model_with(model, &Runtime::from_env(dtype, device))?;
        for n in &m.notes {
            eprintln!("note: {n}");
        }
        Ok(m)
    }
}

/// `--no-truncate`: an error when `text` has more tokens than the model takes.
fn refuse_truncation(m: &LoadedModel, text: &str) -> Result<()> {
    let (enc, _) = m.prepare_text(text)?;
    Ok(calig::explain::refuse_truncation(
        enc.truncated_from,
        enc.ids.len(),
    )?)
}

/// The `calig eval` job a recorded command line describes (results.json's `command`).
pub fn eval_job_of(command: &[String]) -> Result<calig::eval::job::EvalJob> {
    match Cli::try_parse_from(command)?.command {
        Command::Eval(a) => Ok(a.into_job(command.to_vec(), false).2),
        _ => anyhow::bail!("not a calig eval command: {}", command.join(" ")),
    }
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info(a) => info::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Models(a) => models::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Batch(a) => batch::run(a),
        Command::Render(a) => render::run(a),
        Command::Serve(a) => serve::run(a),
    }
}
