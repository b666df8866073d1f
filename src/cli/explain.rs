//! `calig explain [--model M] [--method ..] ... (TEXT... | --image PATH)`.

use super::output::emit;
use super::RuntimeArgs;
use anyhow::{bail, Result};
use calig::attr::baseline::Baseline;
use calig::attr::quadrature::Quadrature;
use calig::attr::{
    Aggregation, AttentionMode, AttentionSign, Fusion, Heads, LayerRelevance, Layers, Method,
    Params, Propagation, Specials,
};
use calig::explain::{explain, ExplainInput};
use calig::model::load::{DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExplainFormat {
    Json,
    Html,
    Text,
}

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// Built-in model, checkpoint directory or cached hub id (default: minilm-sst2 for text,
    /// vit-fashion-mae for images).
    #[arg(long)]
    model: Option<String>,
    #[arg(long, value_enum, default_value = "calig")]
    method: Method,
    /// Class to explain, by label or index (default: the predicted class).
    #[arg(long)]
    target: Option<String>,
    /// Interpolation steps of the path methods.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    #[arg(long, value_enum, default_value = "gausslegendre")]
    quadrature: Quadrature,
    /// Reference input (default: pad for text, black for images).
    #[arg(long, value_enum)]
    baseline: Option<Baseline>,
    /// Layers of `lig` and `attnlrp`: `all` or a comma-separated list of indices 0..=L.
    #[arg(long, default_value = "all", value_parser = Layers::parse)]
    layers: Layers,
    /// Interpolation points per forward/backward chunk (default: sized by --memory-mib).
    #[arg(long)]
    max_batch: Option<usize>,
    /// Activation-memory budget in MiB that sizes the chunks when --max-batch is not given.
    #[arg(long, default_value_t = 2048)]
    memory_mib: usize,
    /// CA-LIG fusion weight λ in [0, 1].
    #[arg(long, default_value_t = 0.5)]
    lambda: f64,
    /// CA-LIG attention gradients: at the input or integrated along the path.
    #[arg(long, value_enum, default_value = "input")]
    attention_mode: AttentionMode,
    /// CA-LIG aggregation across layers.
    #[arg(long, value_enum, default_value = "rollout")]
    aggregation: Aggregation,
    /// CA-LIG: the map that rollout/backward aggregation propagates through.
    #[arg(long, value_enum, default_value = "gae")]
    propagation: Propagation,
    /// CA-LIG: keep GAE's ReLU in the attention relevance (positive) or not (signed).
    #[arg(long, value_enum, default_value = "positive")]
    attention_sign: AttentionSign,
    /// CA-LIG: how r and â are fused.
    #[arg(long, value_enum, default_value = "scale")]
    fusion: Fusion,
    /// CA-LIG: whether special tokens take part in normalising â and in propagation.
    #[arg(long, value_enum, default_value = "keep")]
    specials: Specials,
    /// CA-LIG: a^(l) as the mean over heads or weighted by each head's gradient relevance.
    #[arg(long, value_enum, default_value = "mean")]
    heads: Heads,
    /// CA-LIG: r^(l) by layer IG (the paper) or by AttnLRP relevance at h^(l).
    #[arg(long, value_enum, default_value = "lig")]
    layer_relevance: LayerRelevance,
    /// chefer2021: the first block of the rollout, 1..=L (1: every block; L: the last block
    /// only, as Chefer et al.'s BERT code).
    #[arg(long, default_value_t = 1)]
    start_layer: usize,
    #[arg(long, value_enum, default_value = "text")]
    format: ExplainFormat,
    /// Write here instead of stdout (the file appears whole or not at all).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Explain this image instead of text.
    #[arg(long)]
    image: Option<PathBuf>,
    /// Refuse a text longer than the model's maximum instead of truncating it.
    #[arg(long)]
    no_truncate: bool,
    /// The text to explain (several words are joined with spaces).
    text: Vec<String>,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

pub fn run(a: ExplainArgs) -> Result<()> {
    let text = a.text.join(" ");
    let input = match (&a.image, text.is_empty()) {
        (Some(_), false) => bail!("give either text or --image, not both"),
        (None, true) => bail!("nothing to explain: give a text or --image PATH"),
        (Some(p), true) => ExplainInput::Image(p.clone()),
        (None, false) => ExplainInput::Text(text),
    };
    let is_text = matches!(input, ExplainInput::Text(_));
    let model = a.model.clone().unwrap_or_else(|| {
        if is_text {
            DEFAULT_TEXT_MODEL
        } else {
            DEFAULT_IMAGE_MODEL
        }
        .to_string()
    });
    let m = a.runtime.load(&model)?;
    if let (true, ExplainInput::Text(t)) = (a.no_truncate, &input) {
        super::refuse_truncation(&m, t)?;
    }
    let params = Params {
        steps: a.steps,
        quadrature: a.quadrature,
        baseline: a.baseline.unwrap_or(Baseline::default_for(is_text)),
        layers: a.layers.clone(),
        max_batch: match a.max_batch {
            Some(0) => bail!("--max-batch must be at least 1"),
            Some(n) => n,
            None => 0,
        },
        memory_mib: a.memory_mib,
        lambda: a.lambda,
        attention_mode: a.attention_mode,
        aggregation: a.aggregation,
        propagation: a.propagation,
        attention_sign: a.attention_sign,
        fusion: a.fusion,
        specials: a.specials,
        heads: a.heads,
        layer_relevance: a.layer_relevance,
        start_layer: a.start_layer,
    };
    let e = explain(&m, &input, a.target.as_deref(), a.method, &params)?;
    for w in &e.warnings {
        eprintln!("warning: {w}");
    }
    if let (Some([h, w]), Some([mh, mw])) = (e.input.resized_from, e.input.image_size) {
        eprintln!("note: image resized from {h}x{w} to {mh}x{mw} (the model's input size)");
    }
    if let Some(n) = e.input.truncated_from {
        eprintln!(
            "note: input truncated from {n} to {} tokens (the model's maximum)",
            e.tokens.len()
        );
    }
    let rendered = match a.format {
        ExplainFormat::Json => serde_json::to_string_pretty(&e)?,
        ExplainFormat::Html => calig::render::html::render(&e),
        ExplainFormat::Text => {
            let ansi = a.output.is_none()
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none();
            calig::render::text::render(&e, ansi)
        }
    };
    emit(a.output.as_deref(), &rendered)
}
