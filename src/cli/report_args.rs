//! The report options `calig explain` and `calig render` share: format, output, scale,
//! colour, top K; and writing one input's explanations in the chosen format.

use anyhow::{bail, Result};
use calig::explain::Explanation;
use calig::render::text::{Colour, ColourChoice, TextOptions};
use calig::render::{Layout, Options, Scale};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// Terminal text (coloured on a terminal).
    Text,
    /// The JSON of docs/json-schema.md (an array for several methods).
    Json,
    /// One self-contained HTML page.
    Html,
    /// A PNG heat map (needs --output).
    Png,
    /// The PNG's figure as vector graphics (SVG: words as text), for papers.
    Svg,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// Write here instead of stdout (the file appears whole or not at all).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Colour scale of html and png reports: report (one per explanation), shared (one for
    /// every explanation in the report), layer (each layer row on its own).
    #[arg(long, default_value = "report", value_parser = Scale::parse)]
    pub scale: Scale,
    /// Colour in the text view: auto (on a terminal, unless NO_COLOR or TERM=dumb), always,
    /// never.
    #[arg(long, default_value = "auto", value_parser = ColourChoice::parse)]
    pub color: ColourChoice,
    /// Text view: list only the K strongest words (by |score|) and K tokens per layer.
    #[arg(long, value_name = "K", allow_negative_numbers = true, value_parser = parse_top)]
    pub top: Option<usize>,
    /// png and svg: full (a panel per method) or compact (methods x words: one row per
    /// method over the words, texts only).
    #[arg(long, default_value = "full", value_parser = Layout::parse)]
    pub layout: Layout,
    /// png and svg: leave out the layer views (the headline maps alone).
    #[arg(long)]
    pub no_layer_views: bool,
    /// png: pixels per inch (the figure is laid out at 96; 300 for print).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_dpi)]
    pub dpi: Option<f64>,
}

/// `--dpi N`: 24 to 1200 pixels per inch.
fn parse_dpi(v: &str) -> std::result::Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(d) if (24.0..=1200.0).contains(&d) => Ok(d),
        _ => Err(format!(
            "`{v}` is not a resolution from 24 to 1200 pixels per inch"
        )),
    }
}

/// `--top K`: a whole number of at least 1 (a negative one is refused here, not read as a flag).
fn parse_top(v: &str) -> std::result::Result<usize, String> {
    match v.trim().parse::<usize>() {
        Ok(k) if k >= 1 => Ok(k),
        _ => Err(format!("`{v}` is not a whole number of at least 1")),
    }
}

/// The terminal's width in columns: `COLUMNS`, else the terminal's size, else 100.
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .or_else(|| {
            console::Term::stdout()
                .size_checked()
                .map(|(_, w)| w as usize)
        })
        .unwrap_or(100)
        .max(20)
}

impl ReportArgs {
    /// Refuses option combinations before any work is done.
    pub fn check(&self) -> Result<()> {
        if self.format == ReportFormat::Png && self.output.is_none() {
            bail!("--format png needs --output FILE.png (a PNG is not written to the terminal)");
        }
        let figure = matches!(self.format, ReportFormat::Png | ReportFormat::Svg);
        let ignored = [
            ("--layout", self.layout != Layout::Full && !figure),
            ("--no-layer-views", self.no_layer_views && !figure),
            (
                "--dpi",
                self.dpi.is_some() && self.format != ReportFormat::Png,
            ),
        ];
        for (flag, _) in ignored.iter().filter(|(_, i)| *i) {
            eprintln!(
                "warning: {flag} is ignored by --format {}: it shapes the png{} figure only",
                format!("{:?}", self.format).to_lowercase(),
                if *flag == "--dpi" { "" } else { " and svg" }
            );
        }
        if self.top.is_some() && self.format != ReportFormat::Text {
            eprintln!(
                "warning: --top is ignored by --format {}: it shortens the text view only; \
                 the other formats report every word",
                format!("{:?}", self.format).to_lowercase()
            );
        }
        Ok(())
    }

    pub fn text_options(&self) -> TextOptions {
        let env = |k: &str| std::env::var(k).ok();
        let to_terminal = self.output.is_none() && std::io::stdout().is_terminal();
        TextOptions {
            colour: Colour::decide(
                self.color,
                to_terminal,
                env("NO_COLOR").as_deref(),
                env("TERM").as_deref(),
                env("COLORTERM").as_deref(),
            ),
            top: self.top,
            width: terminal_width(),
        }
    }

    pub fn options(&self, image_dir: Option<&Path>) -> Options {
        Options {
            scale: self.scale,
            image_dir: image_dir.map(Path::to_path_buf),
            image: None,
            layout: self.layout,
            hide_layers: self.no_layer_views,
            dpi: self.dpi,
        }
    }

    /// Renders one input's explanations (one per method) and writes them to --output or
    /// stdout.
    pub fn write(&self, es: &[Explanation], image_dir: Option<&Path>) -> Result<()> {
        let out = self.output.as_deref();
        match self.format {
            ReportFormat::Json => {
                let json = match es {
                    [one] => serde_json::to_string_pretty(one)?,
                    many => serde_json::to_string_pretty(many)?,
                };
                super::output::emit(out, &json)
            }
            ReportFormat::Html => super::output::emit(
                out,
                &calig::render::html::render(es, &self.options(image_dir)),
            ),
            ReportFormat::Text => {
                let o = self.text_options();
                let text = match es {
                    [one] => calig::render::text::render(one, &o),
                    many => calig::render::text::render_many(
                        many.iter()
                            .map(|e| (Some(format!("method {}", e.method)), e)),
                        &o,
                    ),
                };
                super::output::emit(out, &text)
            }
            ReportFormat::Png => {
                let path = out.expect("checked: png has an output");
                let png = calig::render::png::render(es, &self.options(image_dir))?;
                Ok(calig::atomic::write_file(path, &png)?)
            }
            ReportFormat::Svg => super::output::emit(
                out,
                &calig::render::svg::render(es, &self.options(image_dir))?,
            ),
        }
    }
}
