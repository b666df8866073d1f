//! `calig info M`.

use super::output::{emit, Format};
use super::RuntimeArgs;
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// Built-in model name, checkpoint directory, or hub id in the local cache.
    model: String,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

pub fn run(a: InfoArgs) -> Result<()> {
    let m = a.runtime.load(&a.model)?;
    let c = &m.config;
    let max_len = m.tokenizer.as_ref().map(|t| t.max_length());
    let files: Vec<String> = m
        .weight_files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    let text = match a.format {
        Format::Json => serde_json::to_string_pretty(&serde_json::json!({
            "model": m.source.name(),
            "directory": m.source.dir(),
            "config": c,
            "max_tokens": max_len,
            "has_classification_head": m.model.has_head(),
            "parameters": m.num_parameters,
            "weight_files": files,
        }))?,
        Format::Text => {
            let mut s = String::new();
            let mut line = |k: &str, v: String| s.push_str(&format!("{k:<14}{v}\n"));
            line("model", m.source.name());
            line("directory", m.source.dir().display().to_string());
            line(
                "family",
                format!("{:?} (model_type {})", c.family, c.model_type),
            );
            line(
                "architecture",
                c.architecture.clone().unwrap_or_else(|| "unknown".into()),
            );
            line("layers", c.num_layers.to_string());
            line("hidden size", c.hidden_size.to_string());
            line("heads", format!("{} x {}", c.num_heads, c.head_dim()));
            line("ffn size", c.intermediate_size.to_string());
            if let Some(ic) = &c.image {
                let g = ic.grid();
                line(
                    "image",
                    format!(
                        "{0}x{0}x{1}, patch {2} ({g}x{g} grid), pooling {3:?}",
                        ic.image_size, ic.num_channels, ic.patch_size, c.pooling
                    ),
                );
            } else {
                line("vocabulary", c.vocab_size.to_string());
                line("max tokens", max_len.map_or("?".into(), |m| m.to_string()));
            }
            line(
                "labels",
                if m.model.has_head() {
                    c.labels.join(", ")
                } else {
                    "none (no classification head)".into()
                },
            );
            line(
                "parameters",
                format!(
                    "{} ({:.1} M)",
                    m.num_parameters,
                    m.num_parameters as f64 / 1e6
                ),
            );
            line("weights", files.join(", "));
            s
        }
    };
    emit(None, &text)
}
