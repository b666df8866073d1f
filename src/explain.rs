//! The `Explanation` value (JSON schema 1, docs/json-schema.md) and the function that produces
//! it from a loaded model, an input, a method and its parameters.

use crate::attr::settings::{Report, Scope, Used, SETTINGS};
use crate::attr::{self, Attribution, Delta, Memo, Method, Params, Scores, Subject};
use crate::error::{CaligError, Result};
use crate::model::text::Word;
use crate::model::{LoadedModel, ModelConfig};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

pub const SCHEMA_VERSION: u32 = 1;

/// What to explain.
#[derive(Debug, Clone)]
pub enum ExplainInput {
    Text(String),
    /// A sentence pair (premise and hypothesis, question and passage), joined by the
    /// tokenizer's pair template.
    Pair(String, String),
    Image(PathBuf),
    /// An image already decoded (e.g. a row of an idx file), with a name for the output.
    Decoded {
        name: String,
        image: std::sync::Arc<image::DynamicImage>,
    },
}

impl ExplainInput {
    pub fn is_text(&self) -> bool {
        matches!(self, Self::Text(_) | Self::Pair(..))
    }
}

/// The headline scores of an attribution and what they cover: text tokens, or image patches
/// (ViT token vectors start with \[CLS\], which the headline drops).
pub fn headline_scores(scores: Scores, is_text: bool) -> (Vec<f64>, &'static str) {
    match scores {
        Scores::Tokens(v) if is_text => (v, "tokens"),
        Scores::Tokens(v) => (v[1..].to_vec(), "patches"),
        Scores::Patches(v) => (v, "patches"),
    }
}

/// The class an explanation is contrasted with, in the JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ContrastRef {
    /// y_c − y_k.
    Class { index: usize, label: String },
    /// log p_c − log(1 − p_c).
    Rest,
}

impl ContrastRef {
    /// The value the explanation explains, from its logits: y_c, y_c − y_k or the log-odds.
    pub fn objective(this: Option<&Self>, target: usize) -> attr::Objective {
        attr::Objective {
            class: target,
            contrast: this.map(|c| match c {
                Self::Class { index, .. } => attr::Contrast::Class(*index),
                Self::Rest => attr::Contrast::Rest,
            }),
        }
    }

    /// "rather than negative", "rather than the rest".
    pub fn phrase(&self) -> String {
        match self {
            Self::Class { label, .. } => format!("rather than {label}"),
            Self::Rest => "rather than the rest (log-odds)".into(),
        }
    }
}

/// The reference `baseline` `neutral` chose: a candidate's name and the entropy of the model's
/// class distribution there as a share of the uniform distribution's (1 = uniform).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NeutralReference {
    pub baseline: String,
    pub entropy_ratio: f64,
}

/// The references `baseline` `expected:N` averaged over: N, the seed, the reference set and
/// its size, the positions drawn (from 0, in the set's order of entries) and the mean of the
/// explained objective over the references, (1/N) Σ_n y_c(x′_n).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExpectedReference {
    pub count: usize,
    pub seed: u64,
    pub reference_data: String,
    pub set_size: usize,
    pub drawn: Vec<usize>,
    pub mean_logit: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassRef {
    pub index: usize,
    pub label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputInfo {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The second text of a sentence pair (words with `segment` 1 are in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_pair: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Token count before truncation to the model's maximum, when truncated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated_from: Option<usize>,
    /// Images: rows and columns of the patch grid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_grid: Option<[usize; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_size: Option<[usize; 2]>,
    /// Images: the file's (height, width) when it differs from `image_size` (it was resized).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resized_from: Option<[usize; 2]>,
    /// Images: the colour channels the model reads (1: grey, 3: RGB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<usize>,
}

impl InputInfo {
    /// "the image was resized from W×H to W×H pixels …" when it was.
    pub fn resize_note(&self) -> Option<String> {
        match (self.resized_from, self.image_size) {
            (Some(from), Some(to)) => Some(crate::model::image::resize_note(from, to)),
            _ => None,
        }
    }

    pub fn is_text(&self) -> bool {
        self.kind == "text"
    }

    pub fn is_image(&self) -> bool {
        self.kind == "image"
    }
}

/// Serialised with `serde_json` as schema 1 (docs/json-schema.md) and read back by
/// `calig render`: `Deserialize` accepts exactly what `Serialize` writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Explanation {
    pub schema: u32,
    /// The calig version, the dtype and the device that computed this.
    pub calig_version: String,
    pub dtype: String,
    pub device: String,
    pub model: String,
    pub method: String,
    /// Whether the scores carry a sign (evidence for and against the target); unsigned methods
    /// give non-negative relevance.
    pub signed: bool,
    pub params: serde_json::Value,
    pub input: InputInfo,
    /// Text: sub-tokens, special tokens included. Images: "\[CLS\]" then one name per patch.
    pub tokens: Vec<String>,
    pub words: Vec<Word>,
    pub target: ClassRef,
    pub predicted: ClassRef,
    /// The class labels, in logit order.
    pub labels: Vec<String>,
    pub logits: Vec<f64>,
    pub probs: Vec<f64>,
    /// Text: one score per token. Images: one score per patch (row-major, \[CLS\] excluded).
    pub scores: Vec<f64>,
    /// "tokens" or "patches".
    pub scores_cover: String,
    /// Sum of each word's sub-token scores (text only).
    pub word_scores: Vec<f64>,
    /// Σ scores (the headline map).
    pub sum_of_scores: f64,
    /// y_c at the reference input x′ of the methods that have one (ig, lig, calig, occlusion):
    /// completeness reads Σ attributions ≈ y_c(x) − y_c(x′).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_logit: Option<f64>,
    /// What the target is contrasted with (`--contrast`): the scores, `baseline_logit` and the
    /// completeness checks are then of y_c − y_k, or of the log-odds log p_c − log(1 − p_c).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contrast: Option<ContrastRef>,
    /// `baseline` `neutral`: the reference it chose for this input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neutral_reference: Option<NeutralReference>,
    /// The token whose row of h^(L) the head reads (text: 0, \[CLS\] or `<s>`, for encoders;
    /// the last token for decoders), the row GAE, rollout, attention and CA-LIG's a^(l) read.
    /// Images: 0 (\[CLS\]). Absent for mean pooling (mean-pooled ViTs, ModernBERT with
    /// `classifier_pooling = "mean"`): those methods read the mean of the pooled rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readout_token: Option<usize>,
    /// `baseline` `expected:N`: the references drawn; `baseline_logit` is their mean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_reference: Option<ExpectedReference>,
    /// Per-layer token scores (index = layer, layers\[0\] = h^(0)); null where a layer has none.
    pub layers: Option<Vec<Option<Vec<f64>>>>,
    /// "tokens" (text) or "tokens_cls_first" (images: \[CLS\] then the patches).
    pub layers_cover: Option<String>,
    /// Σ attributions − (y_c(input) − y_c(baseline)): a number, or one per layer.
    pub convergence_delta: Delta,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// What the user should know about this result (e.g. an inaccurate integral).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub timing_ms: f64,
}

impl Explanation {
    /// Whether `scores` has one value per token (text), not per image patch.
    pub fn scores_cover_tokens(&self) -> bool {
        self.scores_cover == "tokens"
    }
}

/// Resolves a target given as a label name or an index; `None` picks the predicted class.
pub fn resolve_target(cfg: &ModelConfig, target: Option<&str>, predicted: usize) -> Result<usize> {
    let Some(t) = target else {
        return Ok(predicted);
    };
    cfg.label_index(t).ok_or_else(|| {
        CaligError::InvalidInput(format!(
            "target `{t}` is neither a label ({}) nor an index below {}",
            cfg.labels.join(", "),
            cfg.labels.len()
        ))
    })
}

/// `--contrast`: a label or index other than the target's, or `rest`.
pub fn resolve_contrast(
    cfg: &ModelConfig,
    contrast: &str,
    target: usize,
) -> Result<attr::Contrast> {
    if contrast == "rest" {
        return Ok(attr::Contrast::Rest);
    }
    let k = cfg.label_index(contrast).ok_or_else(|| {
        CaligError::InvalidInput(format!(
            "contrast `{contrast}` is neither `rest`, a label ({}) nor an index below {}",
            cfg.labels.join(", "),
            cfg.labels.len()
        ))
    })?;
    if k == target {
        return Err(CaligError::InvalidInput(format!(
            "contrast `{contrast}` is the target class itself: contrast it with another class \
             or `rest`"
        )));
    }
    Ok(attr::Contrast::Class(k))
}

/// Class probabilities from logits (max-shifted, in f64).
pub fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

/// Index of the largest value (the first on ties; 0 for an empty slice).
pub fn argmax<T: Copy + Into<f64>>(v: &[T]) -> usize {
    v.iter()
        .map(|&x| x.into())
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, x)| {
            if x > best.1 {
                (i, x)
            } else {
                best
            }
        })
        .0
}

/// The error of the `no_truncate` setting: a text of `truncated_from` tokens (when it was cut)
/// for a model that takes `max`.
pub fn refuse_truncation(truncated_from: Option<usize>, max: usize) -> Result<()> {
    match truncated_from {
        Some(n) => Err(CaligError::InvalidInput(format!(
            "the text has {n} tokens, more than the model's maximum of {max}; with \
             no_truncate off it is cut to that length"
        ))),
        None => Ok(()),
    }
}

/// An input turned into a [`Subject`] plus what the explanation reports about it.
pub struct Prepared<'a> {
    pub subject: Subject<'a>,
    pub info: InputInfo,
    pub tokens: Vec<String>,
    pub words: Vec<Word>,
}

impl Prepared<'_> {
    /// Explain the target rather than `contrast` (a label, an index or `rest`;
    /// [`resolve_contrast`]) from now on.
    pub fn contrast_with(&mut self, cfg: &ModelConfig, contrast: &str) -> Result<()> {
        self.subject.contrast = Some(resolve_contrast(cfg, contrast, self.subject.target)?);
        Ok(())
    }
}

pub fn prepare<'a>(
    m: &'a LoadedModel,
    input: &ExplainInput,
    target: Option<&str>,
) -> Result<Prepared<'a>> {
    let cfg = &m.config;
    let (model_input, info, tokens, words, special, special_ids) = match input {
        ExplainInput::Text(_) | ExplainInput::Pair(..) => {
            let (text, pair) = match input {
                ExplainInput::Pair(a, b) => (a, Some(b.as_str())),
                ExplainInput::Text(t) => (t, None),
                _ => unreachable!("matched above"),
            };
            let (enc, mi) = m.prepare_pair(text, pair)?;
            let ids = m
                .tokenizer
                .as_ref()
                .map(|t| t.special_ids(cfg.pad_token_id));
            let info = InputInfo {
                kind: "text".into(),
                text: Some(text.clone()),
                text_pair: enc.text_pair.clone(),
                path: None,
                truncated_from: enc.truncated_from,
                patch_grid: None,
                image_size: None,
                resized_from: None,
                channels: None,
            };
            (mi, info, enc.tokens, enc.words, enc.special, ids)
        }
        ExplainInput::Image(_) | ExplainInput::Decoded { .. } => {
            let (mi, size, path) = match input {
                ExplainInput::Image(path) => {
                    let (mi, size) = m.prepare_image(path)?;
                    (mi, size, path.clone())
                }
                ExplainInput::Decoded { name, image } => {
                    let (mi, size) = m.prepare_decoded_image(image)?;
                    (mi, size, PathBuf::from(name))
                }
                _ => unreachable!("matched above"),
            };
            let ic = cfg.image.as_ref().expect("image model");
            let g = ic.grid();
            let tokens = std::iter::once("[CLS]".to_string())
                .chain((0..g * g).map(|i| format!("patch_{}_{}", i / g, i % g)))
                .collect();
            let info = InputInfo {
                kind: "image".into(),
                text: None,
                text_pair: None,
                path: Some(path),
                truncated_from: None,
                patch_grid: Some([g, g]),
                image_size: Some([ic.image_size, ic.image_size]),
                resized_from: (size != [ic.image_size, ic.image_size]).then_some(size),
                channels: Some(ic.num_channels),
            };
            (mi, info, tokens, vec![], vec![], None)
        }
    };
    let logits = m.logits(&model_input)?;
    let target = resolve_target(cfg, target, argmax(&logits))?;
    let black = m
        .image_processor
        .as_ref()
        .map(|p| p.black())
        .unwrap_or_default();
    let mask_bias = model_input.mask_bias(m.dtype())?;
    Ok(Prepared {
        subject: Subject {
            model: m.model.as_ref(),
            input: model_input,
            mask_bias,
            target,
            contrast: None,
            special,
            special_ids,
            black,
            patch_size: cfg.image.as_ref().map_or(1, |i| i.patch_size),
            logits,
            neutral: Default::default(),
            loaded: Some(m),
        },
        info,
        tokens,
        words,
    })
}

/// Runs `method` on a prepared input and dresses the result.
pub fn explain_prepared(
    m: &LoadedModel,
    p: &Prepared,
    method: Method,
    params: &Params,
) -> Result<Explanation> {
    explain_prepared_with(m, p, method, params, &mut Memo::default())
}

/// [`explain_prepared`], sharing work with earlier runs on the same prepared input that `memo`
/// holds (CA-LIG variants share their layer paths and attention maps).
pub fn explain_prepared_with(
    m: &LoadedModel,
    p: &Prepared,
    method: Method,
    params: &Params,
    memo: &mut Memo,
) -> Result<Explanation> {
    if params.no_truncate {
        refuse_truncation(p.info.truncated_from, p.tokens.len())?;
    }
    if p.subject.contrast.is_some() && !method.info().takes_contrast {
        return Err(CaligError::InvalidInput(format!(
            "--contrast: {} explains no contrast (it reads no class, or seeds its relevance \
             with one class); the methods that do: {}",
            method.name(),
            Method::ALL
                .iter()
                .filter(|m| m.info().takes_contrast)
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let start = Instant::now();
    let a: Attribution = attr::run_with(method, &p.subject, params, memo)?;
    let timing_ms = start.elapsed().as_secs_f64() * 1e3;
    let is_text = p.subject.is_text();
    let (scores, scores_cover) = headline_scores(a.scores, is_text);
    let word_scores = p
        .words
        .iter()
        .map(|w| scores[w.token_range.0..w.token_range.1].iter().sum())
        .collect();
    let labels = &m.config.labels;
    let predicted = argmax(&p.subject.logits);
    let class = |i: usize| ClassRef {
        index: i,
        label: labels[i].clone(),
    };
    // y_c(x′) for the methods with a reference input: from the method when it has it (ig),
    // else one forward pass at the reference; and a word when the reference is itself classed
    // as the target.
    let mut warnings = a.warnings;
    let baseline_logit = match (a.baseline_logit, method.info().uses_reference) {
        (Some(y), _) => Some(y),
        (None, true) => Some(attr::reference::logit(&p.subject, params)?),
        (None, false) => None,
    };
    if let Some(y0) = baseline_logit {
        warnings.extend(attr::reference::warning(&p.subject, params, y0)?);
    }
    let neutral_reference = match baseline_logit {
        Some(_) if params.baseline == attr::baseline::Baseline::Neutral => {
            let (b, ratio) = p.subject.neutral_reference()?;
            Some(NeutralReference {
                baseline: crate::choice::Choice::name(b).into(),
                entropy_ratio: ratio,
            })
        }
        _ => None,
    };
    let expected_reference = match baseline_logit {
        Some(mean_logit) if params.baseline == attr::baseline::Baseline::Expected => {
            let path = params.reference_data.clone().unwrap_or_default();
            let set = attr::expected::read_set(std::path::Path::new(&path), is_text)?;
            Some(ExpectedReference {
                count: params.expected_samples,
                seed: params.seed,
                reference_data: path,
                set_size: set.len(),
                drawn: attr::expected::draw(set.len(), params.expected_samples, params.seed)?,
                mean_logit,
            })
        }
        _ => None,
    };
    Ok(Explanation {
        schema: SCHEMA_VERSION,
        calig_version: env!("CARGO_PKG_VERSION").into(),
        dtype: crate::runtime::precision_name(m.dtype(), m.device()).into(),
        device: if m.device().is_cpu() { "cpu" } else { "cuda" }.into(),
        sum_of_scores: scores.iter().sum(),
        baseline_logit,
        contrast: p.subject.contrast.map(|c| match c {
            attr::Contrast::Class(k) => ContrastRef::Class {
                index: k,
                label: labels[k].clone(),
            },
            attr::Contrast::Rest => ContrastRef::Rest,
        }),
        neutral_reference,
        readout_token: match m.config.pooling {
            crate::model::Pooling::Mean => None,
            _ => Some(p.subject.readout_token()?),
        },
        expected_reference,
        model: m.source.name(),
        method: method.name().into(),
        signed: method.info().signed,
        params: method_params(method, params, &p.subject, &a.steps),
        input: p.info.clone(),
        tokens: p.tokens.clone(),
        words: p.words.clone(),
        target: class(p.subject.target),
        predicted: class(predicted),
        labels: labels.clone(),
        probs: softmax(&p.subject.logits),
        logits: p.subject.logits.clone(),
        scores,
        scores_cover: scores_cover.into(),
        word_scores,
        layers_cover: a.layers.as_ref().map(|_| {
            if is_text {
                "tokens"
            } else {
                "tokens_cls_first"
            }
            .to_string()
        }),
        layers: a.layers,
        convergence_delta: a.delta,
        details: a.details,
        warnings,
        timing_ms,
    })
}

/// The settings a method read, as the settings table reports them (attr/settings.rs), and
/// the input kind. `steps_used`: what each path of the method used (they differ under
/// `--steps auto`).
fn method_params(
    method: Method,
    p: &Params,
    subject: &Subject,
    steps_used: &[usize],
) -> serde_json::Value {
    let used = Used {
        steps: steps_used,
        // The cap; a request with fewer points runs them in one chunk.
        chunk_rows: attr::path::chunk_rows(p, subject, usize::MAX),
    };
    let mut v = serde_json::Map::new();
    for s in SETTINGS
        .iter()
        .filter(|s| s.scope == Scope::Method && method.info().reads(s.name))
    {
        match s.report {
            Report::Value => {
                v.insert(s.name.into(), (s.get)(p));
            }
            Report::Hidden => {}
            Report::Custom(report) => {
                for (key, value) in report(p, &used) {
                    v.insert(key.into(), value);
                }
            }
        }
    }
    v.insert(
        "input_kind".into(),
        if subject.is_text() { "text" } else { "image" }.into(),
    );
    serde_json::Value::Object(v)
}

/// Convenience: prepare and explain in one call.
pub fn explain(
    m: &LoadedModel,
    input: &ExplainInput,
    target: Option<&str>,
    method: Method,
    params: &Params,
) -> Result<Explanation> {
    explain_contrasted(m, input, target, None, method, params)
}

/// [`explain`] of the target rather than `contrast` (a label, an index or `rest`; see
/// [`resolve_contrast`]) when one is given.
pub fn explain_contrasted(
    m: &LoadedModel,
    input: &ExplainInput,
    target: Option<&str>,
    contrast: Option<&str>,
    method: Method,
    params: &Params,
) -> Result<Explanation> {
    let mut p = prepare(m, input, target)?;
    if let Some(c) = contrast {
        p.contrast_with(&m.config, c)?;
    }
    explain_prepared(m, &p, method, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::load_model;
    use candle_core::{DType, Device};

    fn fixture(name: &str) -> String {
        format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    /// The progress hook of `calig explain`: every interpolation point planned is reported
    /// done, on the workers too.
    #[test]
    fn an_explanation_reports_its_interpolation_points() {
        let m = load_model(&fixture("bert"), DType::F32, &Device::Cpu).unwrap();
        let mut p = Params::defaults(true);
        p.steps = 8;
        let input = ExplainInput::Text("a gorgeous movie".into());
        for (method, points) in [
            (Method::Ig, 8),
            (Method::Lig, 8 * (m.config.num_layers + 1)),
        ] {
            let got = crate::progress::watch_points(false, || {
                explain(&m, &input, None, method, &p).unwrap();
                crate::progress::watched_points()
            });
            assert_eq!(got, Some((points as u64, points as u64)), "{method:?}");
        }
    }

    /// What `--format json` writes reads back into the same value: serialising the read-back
    /// explanation gives the same bytes, for a text method with layers and details (calig), an
    /// image and a method without a reference input.
    #[test]
    fn explanations_round_trip_through_json() {
        let cases = [
            (
                "bert",
                ExplainInput::Text("a gorgeous , witty movie".into()),
                Method::Calig,
            ),
            ("bert", ExplainInput::Text("dull".into()), Method::Gae),
            (
                "vit",
                ExplainInput::Image(format!("{}/image.png", fixture("vit")).into()),
                Method::Lig,
            ),
        ];
        for (model, input, method) in cases {
            let m = load_model(&fixture(model), DType::F32, &Device::Cpu).unwrap();
            let mut params = Params::defaults(input.is_text());
            params.steps = 4;
            let e = explain(&m, &input, None, method, &params).unwrap();
            let json = serde_json::to_string_pretty(&e).unwrap();
            let back: Explanation = serde_json::from_str(&json).unwrap();
            assert_eq!(
                serde_json::to_string_pretty(&back).unwrap(),
                json,
                "{model} {}",
                method.name()
            );
            assert_eq!(back.scores, e.scores, "floats survive exactly");
        }
    }
}
