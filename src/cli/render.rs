//! `calig render FILE --format text|html|png|json [--output PATH]`: redraws saved
//! explanations without the model.
//!
//! - One explanation (`explain --format json`) or the array of several methods on one input
//!   (`explain --method a,b --format json`): the same report `calig explain` would have
//!   written in that format.
//! - The JSON lines of `calig batch`: text, every row one after another under a rule with its
//!   line and id; html, one page with an index of the rows and a section per row; png, one
//!   file per row in the directory `--output` names (`line-00003_ID.png`).
//!
//! The whole file is read and checked before anything is written: a bad line is an error
//! naming the file, the line and the problem, and leaves no output.

use super::report_args::{ReportArgs, ReportFormat};
use anyhow::{bail, Context, Result};
use calig::render::saved::{self, Item, Kind, Saved};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// A saved explanation (`calig explain --format json`, one object or an array of methods)
    /// or `calig batch` output (JSON lines); `-` reads stdin.
    input: PathBuf,
    #[command(flatten)]
    report: ReportArgs,
}

fn read(input: &Path) -> Result<Saved> {
    if input.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("cannot read stdin")?;
        return Ok(saved::parse(Path::new("stdin"), &text)?);
    }
    Ok(saved::read(input)?)
}

/// A file name for a batch row: its line and its id, kept to letters, digits, `.`, `-`, `_`.
fn file_name(i: usize, line: Option<u64>, id: Option<&str>, extension: &str) -> String {
    let line = line.unwrap_or(i as u64 + 1);
    let id: String = id
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    if id.is_empty() {
        format!("line-{line:05}.{extension}")
    } else {
        format!("line-{line:05}_{id}.{extension}")
    }
}

fn batch(a: &RenderArgs, items: &[Item], image_dir: Option<&Path>) -> Result<()> {
    let out = a.report.output.as_deref();
    let opts = a.report.options(image_dir);
    match a.report.format {
        ReportFormat::Json => bail!(
            "{} is already JSON lines; render it as text, html or png",
            a.input.display()
        ),
        ReportFormat::Text => {
            let o = a.report.text_options();
            let text = calig::render::text::render_many(
                items.iter().enumerate().map(|(i, it)| {
                    let line = it.line.unwrap_or(i as u64 + 1);
                    let id = it.id.clone().unwrap_or_else(|| line.to_string());
                    (Some(format!("line {line}, id {id}")), &it.explanation)
                }),
                &o,
            );
            super::output::emit(out, &text)
        }
        ReportFormat::Html => {
            super::output::emit(out, &calig::render::html::render_batch(items, &opts))
        }
        ReportFormat::Png | ReportFormat::Svg => {
            let svg = a.report.format == ReportFormat::Svg;
            let kind = if svg { "svg" } else { "png" };
            let Some(dir) = out else {
                bail!("with JSON lines, --format {kind} writes one file per line into the directory --output names");
            };
            if dir.is_file() {
                bail!(
                    "{} is a file: with JSON lines, --format {kind} writes one file per line into \
                     the directory --output names",
                    dir.display()
                );
            }
            let refs: Vec<_> = items.iter().map(|it| &it.explanation).collect();
            // Everything is drawn before the first file is written.
            let files: Vec<Vec<u8>> = if svg {
                calig::render::svg::render_each(&refs, &opts)?
                    .into_iter()
                    .map(String::into_bytes)
                    .collect()
            } else {
                calig::render::png::render_each(&refs, &opts)?
            };
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (i, (it, bytes)) in items.iter().zip(&files).enumerate() {
                let name = file_name(i, it.line, it.id.as_deref(), kind);
                calig::atomic::write_file(&dir.join(name), bytes)?;
            }
            eprintln!(
                "calig render: {} {} files in {}",
                files.len(),
                kind.to_uppercase(),
                dir.display()
            );
            Ok(())
        }
    }
}

pub fn run(a: RenderArgs) -> Result<()> {
    a.report.check()?;
    let saved = read(&a.input)?;
    let image_dir = a.input.parent().filter(|d| !d.as_os_str().is_empty());
    match saved.kind {
        Kind::One | Kind::Methods => {
            let es: Vec<_> = saved.items.into_iter().map(|it| it.explanation).collect();
            a.report.write(&es, image_dir)
        }
        Kind::Batch => batch(&a, &saved.items, image_dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_line_order_and_safe_ids() {
        assert_eq!(
            file_name(0, Some(3), Some("a/b c"), "png"),
            "line-00003_a_b_c.png"
        );
        assert_eq!(file_name(4, None, None, "svg"), "line-00005.svg");
    }
}
