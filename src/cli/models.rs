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

/// A one-line summary of a model's metrics.json `headline` entries: "accuracy 89.3%, ... (split)".
fn headline(m: &Option<serde_json::Value>) -> String {
    let Some(h) = m.as_ref().and_then(|m| m["headline"].as_array()) else {
        return "-".into();
    };
    let parts: Vec<String> = h
        .iter()
        .filter_map(|e| {
            Some(format!(
                "{} {:.1}%",
                e["metric"].as_str()?,
                e["value"].as_f64()? * 100.0
            ))
        })
        .collect();
    let split = h
        .first()
        .and_then(|e| e["split"].as_str())
        .map_or(String::new(), |s| format!(" ({s})"));
    parts.join(", ") + &split
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
                    let rows: Vec<[String; 4]> = all
                        .iter()
                        .map(|m| {
                            let task = m
                                .metrics
                                .as_ref()
                                .and_then(|v| v["task"].as_str())
                                .unwrap_or("-");
                            let installed = if m.installed { "yes" } else { "no" };
                            [
                                m.name.clone(),
                                installed.into(),
                                task.into(),
                                headline(&m.metrics),
                            ]
                        })
                        .collect();
                    let header = [
                        "model".to_string(),
                        "installed".into(),
                        "task".into(),
                        "metrics".into(),
                    ];
                    let width = |c: usize| {
                        rows.iter()
                            .chain([&header])
                            .map(|r| r[c].chars().count())
                            .max()
                            .unwrap_or(0)
                    };
                    let (w0, w1, w2) = (width(0), width(1), width(2));
                    std::iter::once(&header)
                        .chain(&rows)
                        .map(|r| format!("{:<w0$}  {:<w1$}  {:<w2$}  {}\n", r[0], r[1], r[2], r[3]))
                        .collect::<String>()
                }
            };
            emit(None, &text)
        }
    }
}
