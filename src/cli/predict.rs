//! `calig predict --model M (TEXT... | --image PATH)`, or with the model first: `calig predict M
//! TEXT...`.

use super::output::{emit, Format};
use super::RuntimeArgs;
use anyhow::{bail, Result};
use calig::model::{LoadedModel, ModelInput};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct PredictArgs {
    /// Built-in model name, checkpoint directory, or hub id in the local cache (as `explain`);
    /// without it the first positional argument is the model.
    #[arg(long = "model", id = "model_flag")]
    model: Option<String>,
    /// \[MODEL\] then the text to classify (several words are joined with spaces).
    words: Vec<String>,
    /// Classify this image instead of text.
    #[arg(long)]
    image: Option<PathBuf>,
    /// Refuse a text longer than the model's maximum instead of truncating it.
    #[arg(long)]
    no_truncate: bool,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

pub fn run(a: PredictArgs) -> Result<()> {
    let (model, words) = match (&a.model, a.words.split_first()) {
        (Some(m), _) => (m.clone(), a.words.as_slice()),
        (None, Some((m, rest))) => (m.clone(), rest),
        (None, None) => bail!("no model: give --model M (or the model as the first argument)"),
    };
    let m = a.runtime.load(&model)?;
    let text = words.join(" ");
    let (input, described, truncated_from): (ModelInput, serde_json::Value, Option<usize>) =
        match (&a.image, text.is_empty()) {
            (Some(_), false) => bail!("give either text or --image, not both"),
            (None, true) => bail!("nothing to classify: give a text or --image PATH"),
            (Some(p), true) => {
                let (input, size) = m.prepare_image(p)?;
                let model_size = m.config.image.as_ref().map(|i| [i.image_size; 2]);
                let resized = (Some(size) != model_size).then_some(size);
                if let (Some(from), Some(to)) = (resized, model_size) {
                    eprintln!("note: {}", calig::model::image::resize_note(from, to));
                }
                (
                    input,
                    serde_json::json!({"kind": "image", "path": p, "resized_from": resized}),
                    None,
                )
            }
            (None, false) => {
                if a.no_truncate {
                    super::refuse_truncation(&m, &text)?;
                }
                let (enc, input) = m.prepare_text(&text)?;
                if let Some(n) = enc.truncated_from {
                    eprintln!(
                        "note: input truncated from {n} to {} tokens (the model's maximum)",
                        enc.ids.len()
                    );
                }
                (
                    input,
                    serde_json::json!({"kind": "text", "text": text, "tokens": enc.tokens}),
                    enc.truncated_from,
                )
            }
        };
    let logits = m.logits(&input)?;
    let probs = calig::explain::softmax(&logits);
    let labels = &m.config.labels;
    let out = match a.format {
        Format::Json => {
            serde_json::to_string_pretty(&prediction_json(&m, described, &logits, truncated_from))?
        }
        Format::Text => {
            let mut order: Vec<usize> = (0..labels.len()).collect();
            order.sort_by(|&i, &j| probs[j].total_cmp(&probs[i]));
            let width = labels
                .iter()
                .map(|l| l.chars().count())
                .max()
                .unwrap_or(5)
                .max(5);
            let mut s = format!("{:<width$}  {:>8}  {:>9}\n", "label", "prob", "logit");
            for i in order {
                s.push_str(&format!(
                    "{:<width$}  {:>8.4}  {:>9.4}\n",
                    labels[i], probs[i], logits[i]
                ));
            }
            s
        }
    };
    emit(None, &out)
}

/// `calig predict --format json` (and `calig serve`'s /api/predict): the model, the input as
/// `described`, the predicted class and every class's logit and probability.
pub fn prediction_json(
    m: &LoadedModel,
    described: serde_json::Value,
    logits: &[f64],
    truncated_from: Option<usize>,
) -> serde_json::Value {
    let probs = calig::explain::softmax(logits);
    let best = calig::explain::argmax(&probs);
    let labels = &m.config.labels;
    serde_json::json!({
        "model": m.source.name(),
        "input": described,
        "prediction": {"index": best, "label": labels[best], "prob": probs[best]},
        "labels": labels.iter().enumerate().map(|(i, l)| serde_json::json!({
            "index": i, "label": l, "logit": logits[i], "prob": probs[i]})).collect::<Vec<_>>(),
        "truncated_from": truncated_from,
    })
}
