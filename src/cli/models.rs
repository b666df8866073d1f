//! `calig models` (list the built-ins with their metrics) and `calig models install`.

use super::output::{emit, Format};
use anyhow::{bail, Result};
use calig::model::builtin;

#[derive(clap::Args, Debug)]
pub struct ModelsArgs {
    #[command(subcommand)]
    action: Option<Action>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Build built-in models into models/ (float32 HF checkpoints) from their committed sources.
    Install {
        /// Models to install (default: all).
        names: Vec<String>,
    },
}

/// A one-line summary of a model's metrics.json `headline` entries.
fn headline(m: &Option<serde_json::Value>) -> String {
    let Some(h) = m.as_ref().and_then(|m| m["headline"].as_array()) else {
        return "-".into();
    };
    h.iter()
        .filter_map(|e| {
            let v = e["value"].as_f64()?;
            Some(format!(
                "{} {} {:.1}%",
                e["split"].as_str().unwrap_or(""),
                e["metric"].as_str().unwrap_or(""),
                v * 100.0
            ))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run(a: ModelsArgs) -> Result<()> {
    let all = builtin::list()?;
    match a.action {
        Some(Action::Install { names }) => {
            let names: Vec<String> = if names.is_empty() {
                all.iter().map(|m| m.name.clone()).collect()
            } else {
                names
            };
            if names.is_empty() {
                bail!(
                    "no built-in model sources in {}",
                    builtin::source_root().display()
                );
            }
            for n in names {
                let dir = builtin::install(&n)?;
                eprintln!("installed {n} into {}", dir.display());
            }
            Ok(())
        }
        None => {
            let text = match a.format {
                Format::Json => serde_json::to_string_pretty(&all)?,
                Format::Text => {
                    let mut s = format!(
                        "{:<18} {:<10} {:<28} {}\n",
                        "model", "installed", "task", "metrics"
                    );
                    for m in &all {
                        let task = m
                            .metrics
                            .as_ref()
                            .and_then(|v| v["task"].as_str())
                            .unwrap_or("-");
                        s.push_str(&format!(
                            "{:<18} {:<10} {:<28} {}\n",
                            m.name,
                            if m.installed { "yes" } else { "no" },
                            task,
                            headline(&m.metrics)
                        ));
                    }
                    s
                }
            };
            emit(None, &text)
        }
    }
}
