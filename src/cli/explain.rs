//! `calig explain [--model M] [--method ..] ... (TEXT... | --pair TEXT TEXT_PAIR | --image PATH)`.

use super::method_args::MethodArgs;
use super::report_args::ReportArgs;
use super::report_args::ReportFormat;
use super::RuntimeArgs;
use anyhow::{bail, Context, Result};
use calig::continuation::explain_continuation;
use calig::explain::{explain_prepared, prepare, ExplainInput};
use calig::model::load::default_model;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// Built-in model, checkpoint directory or cached hub id (default: minilm-sst2 for text,
    /// vit-fashion-mae for images).
    #[arg(long)]
    model: Option<String>,
    #[command(flatten)]
    method: MethodArgs,
    /// Class to explain, by label or index (default: the predicted class).
    #[arg(long)]
    target: Option<String>,
    /// Explain the target rather than this class (y_c − y_k), or `rest` (the log-odds
    /// log p_c − log(1 − p_c)): "why c rather than k".
    #[arg(long)]
    contrast: Option<String>,
    #[command(flatten)]
    report: ReportArgs,
    /// Explain this image instead of text.
    #[arg(long)]
    image: Option<PathBuf>,
    /// Read the text to explain from this file.
    #[arg(long)]
    text_file: Option<PathBuf>,
    /// Explain a sentence pair (premise and hypothesis, question and passage): the two texts,
    /// joined as the model's tokenizer joins pairs.
    #[arg(long, num_args = 2, value_names = ["TEXT", "TEXT_PAIR"], conflicts_with_all = ["image", "text_file", "text"])]
    pair: Option<Vec<String>>,
    /// Causal language models (…ForCausalLM): explain each token of this continuation of the
    /// text (the prompt): its log-probability given the tokens before it, over those tokens.
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["image", "pair", "contrast", "target"])]
    continuation: Option<String>,
    /// The text to explain (several words are joined with spaces); `-` reads it from stdin.
    text: Vec<String>,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// The text from the arguments, `-` (stdin) or --text-file (a final newline dropped).
fn text_of(a: &ExplainArgs) -> Result<String> {
    let read = |what: &str, bytes: Vec<u8>| -> Result<String> {
        let t = String::from_utf8(bytes)
            .map_err(|e| anyhow::anyhow!("{what} is not valid UTF-8: {e}"))?;
        Ok(t.strip_suffix('\n').unwrap_or(&t).to_string())
    };
    match (&a.text_file, a.text.as_slice()) {
        (Some(_), [_, ..]) => bail!("give either a text or --text-file, not both"),
        (Some(p), []) => read(
            &p.display().to_string(),
            std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
        ),
        (None, [dash]) if dash == "-" => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)?;
            read("stdin", bytes)
        }
        (None, words) => Ok(words.join(" ")),
    }
}

/// `--continuation`: one method's tokens × continuation matrix, as JSON, text or HTML.
fn run_continuation(a: &ExplainArgs, prompt: &str, continuation: &str) -> Result<()> {
    let method = match a.method.method.as_slice() {
        [one] => *one,
        _ => bail!("--continuation explains with one --method at a time"),
    };
    if prompt.is_empty() {
        bail!("nothing to explain: give the prompt as the text, then --continuation TEXT");
    }
    let model = a
        .model
        .clone()
        .unwrap_or_else(|| default_model(true).to_string());
    let m = a.runtime.load(&model)?;
    let params = a.method.params(true)?;
    a.method.warn_ignored(&params);
    let show = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let g = calig::progress::watch_points(show, || {
        explain_continuation(&m, prompt, continuation, method, &params)
    })?;
    for w in &g.warnings {
        eprintln!("warning: {w}");
    }
    let content = match a.report.format {
        ReportFormat::Json => serde_json::to_string_pretty(&g)?,
        ReportFormat::Html => calig::render::generation::html(&g),
        _ => calig::render::generation::text(&g, a.report.top.unwrap_or(3)),
    };
    super::output::emit(a.report.output.as_deref(), &content)
}

pub fn run(a: ExplainArgs) -> Result<()> {
    if a.continuation.is_some() && matches!(a.report.format, ReportFormat::Png | ReportFormat::Svg)
    {
        bail!("--continuation writes json, text or html, not --format png or svg");
    }
    a.report.check()?;
    let text = text_of(&a)?;
    if let Some(c) = &a.continuation {
        return run_continuation(&a, &text, c);
    }
    let input = match (&a.image, text.is_empty(), &a.pair) {
        (None, true, Some(pair)) => ExplainInput::Pair(pair[0].clone(), pair[1].clone()),
        (Some(_), false, _) => bail!("give either text or --image, not both"),
        (None, true, _) => {
            bail!("nothing to explain: give a text, --pair TEXT TEXT_PAIR or --image PATH")
        }
        (Some(p), true, _) => ExplainInput::Image(p.clone()),
        (None, false, _) => ExplainInput::Text(text),
    };
    let is_text = input.is_text();
    let model = a
        .model
        .clone()
        .unwrap_or_else(|| default_model(is_text).to_string());
    let m = a.runtime.load(&model)?;
    let params = a.method.params(is_text)?;
    a.method.warn_ignored(&params);
    // The input is prepared once; each method explains the same prepared input.
    let mut prepared = prepare(&m, &input, a.target.as_deref())?;
    if let Some(c) = &a.contrast {
        prepared.contrast_with(&m.config, c)?;
    }
    let several = a.method.method.len() > 1;
    let mut es = Vec::new();
    for &method in &a.method.method {
        // A bar on a terminal's stderr once a method has run for 2 s (400 words of CA-LIG on
        // two cores take most of a minute).
        let show = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let e = calig::progress::watch_points(show, || {
            explain_prepared(&m, &prepared, method, &params)
        })?;
        for w in &e.warnings {
            if several {
                eprintln!("warning ({}): {w}", method.name());
            } else {
                eprintln!("warning: {w}");
            }
        }
        es.push(e);
    }
    let e = &es[0];
    if let Some(n) = e.input.resize_note() {
        eprintln!("note: {n}");
    }
    if let Some(n) = e.input.truncated_from {
        eprintln!(
            "note: input truncated from {n} to {} tokens (the model's maximum)",
            e.tokens.len()
        );
    }
    a.report.write(&es, None)
}
