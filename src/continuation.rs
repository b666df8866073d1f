//! Generation attribution for causal language models (`…ForCausalLM`): the prompt and a given
//! continuation run as one sequence (teacher forcing), and for each continuation token t_j at
//! position p_j the method explains log p(t_j | tokens before p_j), read at row p_j − 1 of the
//! last layer, over every earlier token (model/next_token.rs). Tokens at or after p_j score 0:
//! the causal mask hides them. The rows together are the continuation × tokens matrix.

use crate::attr::{self, Delta, Method, Params, Scores, Subject};
use crate::error::{CaligError, Result};
use crate::model::next_token::NextToken;
use crate::model::{text, Encoder, LoadedModel, ModelInput};
use serde::{Deserialize, Serialize};

/// Schema of [`Generation`] (docs/json-schema.md, "Generations").
pub const GENERATION_SCHEMA: u32 = 1;

/// What `calig explain --continuation` writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Generation {
    pub schema: u32,
    /// Always "generation" (an [`crate::explain::Explanation`] has none).
    pub kind: String,
    pub calig_version: String,
    pub dtype: String,
    pub device: String,
    pub model: String,
    pub method: String,
    pub signed: bool,
    pub params: serde_json::Value,
    pub prompt: String,
    pub continuation: String,
    /// Every token: the prompt's (special tokens included), then the continuation's.
    pub tokens: Vec<String>,
    /// How many of `tokens` are the prompt's.
    pub prompt_tokens: usize,
    /// Which of `tokens` are special.
    pub special: Vec<bool>,
    /// One per continuation token, in order.
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub timing_ms: f64,
}

/// One continuation token explained.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub token: String,
    pub id: u32,
    /// Its index in `tokens`; the explained row of the last layer is `position − 1`.
    pub position: usize,
    /// log p(token | the tokens before it).
    pub log_prob: f64,
    /// The same at the reference input, for the methods with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_log_prob: Option<f64>,
    /// One score per token of `tokens`; 0 from `position` on.
    pub scores: Vec<f64>,
    pub sum_of_scores: f64,
    /// Per-layer token scores (index = layer), for the methods with layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<Option<Vec<f64>>>>,
    pub convergence_delta: Delta,
}

impl Generation {
    /// The continuation × tokens matrix: row j holds step j's scores.
    pub fn matrix(&self) -> Vec<Vec<f64>> {
        self.steps.iter().map(|s| s.scores.clone()).collect()
    }
}

/// Explains each token of `continuation` after `prompt` with `method`.
pub fn explain_continuation(
    m: &LoadedModel,
    prompt: &str,
    continuation: &str,
    method: Method,
    params: &Params,
) -> Result<Generation> {
    let start = std::time::Instant::now();
    let cfg = &m.config;
    let decoder = m.model.as_decoder().ok_or_else(|| {
        CaligError::Unsupported(format!(
            "--continuation needs a causal language model (a llama, qwen2 or mistral \
             …ForCausalLM checkpoint); {} is a {} model",
            m.source.name(),
            cfg.model_type
        ))
    })?;
    let tok = m.tokenizer.as_ref().ok_or_else(|| {
        CaligError::InvalidInput("--continuation needs a text model with a tokenizer".into())
    })?;
    if prompt.trim().is_empty() {
        return Err(CaligError::InvalidInput("the prompt is empty".into()));
    }
    let enc = tok.encode(prompt)?;
    if enc.truncated_from.is_some() {
        return Err(CaligError::InvalidInput(format!(
            "the prompt is longer than the model's {} tokens",
            tok.max_length()
        )));
    }
    let (cont_ids, cont_tokens) = tok.plain(continuation)?;
    if cont_ids.is_empty() {
        return Err(CaligError::InvalidInput(
            "the continuation is empty: give the text the model generates after the prompt".into(),
        ));
    }
    let prompt_len = enc.ids.len();
    let ids: Vec<u32> = enc.ids.iter().chain(&cont_ids).copied().collect();
    if ids.len() > tok.max_length() {
        return Err(CaligError::InvalidInput(format!(
            "the prompt and the continuation are {} tokens; the model takes at most {}",
            ids.len(),
            tok.max_length()
        )));
    }
    let tokens: Vec<String> = enc.tokens.iter().chain(&cont_tokens).cloned().collect();
    let special: Vec<bool> = enc
        .special
        .iter()
        .copied()
        .chain(std::iter::repeat_n(false, cont_ids.len()))
        .collect();
    let input = ModelInput::Text(text::batch(
        cfg,
        std::slice::from_ref(&ids),
        &[vec![0; ids.len()]],
        m.device(),
    )?);
    let mask_bias = input.mask_bias(m.dtype())?;
    let mut vocab_cfg = cfg.clone();
    vocab_cfg.labels = tok.vocabulary(cfg.vocab_size);
    let (mut steps, mut warnings) = (Vec::new(), Vec::new());
    for (j, (&id, token)) in cont_ids.iter().zip(&cont_tokens).enumerate() {
        let position = prompt_len + j;
        let view = NextToken::new(decoder, &vocab_cfg, position - 1)?;
        let subject = Subject {
            model: &view,
            input: input.clone(),
            mask_bias: mask_bias.clone(),
            target: id as usize,
            contrast: None,
            special: special.clone(),
            special_ids: Some(tok.special_ids(cfg.pad_token_id)),
            black: vec![],
            patch_size: 1,
            logits: crate::attr::subject::to_vec(&view.logits(&input)?)?,
            neutral: Default::default(),
            loaded: Some(m),
        };
        let a = attr::run(method, &subject, params)?;
        let Scores::Tokens(scores) = a.scores else {
            return Err(CaligError::Internal(
                "a text method gave patch scores".into(),
            ));
        };
        warnings.extend(
            a.warnings
                .iter()
                .map(|w| format!("token {j} ({token}): {w}")),
        );
        steps.push(Step {
            token: token.clone(),
            id,
            position,
            log_prob: subject.logits[id as usize],
            baseline_log_prob: a.baseline_logit,
            sum_of_scores: scores.iter().sum(),
            scores,
            layers: a.layers,
            convergence_delta: a.delta,
        });
    }
    Ok(Generation {
        schema: GENERATION_SCHEMA,
        kind: "generation".into(),
        calig_version: env!("CARGO_PKG_VERSION").into(),
        dtype: crate::runtime::precision_name(m.dtype(), m.device()).into(),
        device: if m.device().is_cpu() { "cpu" } else { "cuda" }.into(),
        model: m.source.name(),
        method: method.name().into(),
        signed: method.info().signed,
        params: serde_json::to_value(params).unwrap_or_default(),
        prompt: prompt.into(),
        continuation: continuation.into(),
        tokens,
        prompt_tokens: prompt_len,
        special,
        steps,
        warnings,
        timing_ms: start.elapsed().as_secs_f64() * 1e3,
    })
}
