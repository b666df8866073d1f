//! `GET /api/runs/{index}/examples/{id}`: one example of a `calig eval` run with each method's
//! map as the run's attribution cache holds it, as explanations that `POST /api/render` draws.
//!
//! The run's results.json records its command line: parsed again, it names the data set (read
//! for the example's text), the cache directory and the method entries, whose cache files are
//! read without writing. Relative paths are taken from where `calig eval` ran: the run directory
//! with the command's relative `--output` taken off its end (else the server's directory). The
//! run's model must be served (matched by content hash): it tokenises the text and gives the
//! logits. Only the run's index and the example's id come from the request.

use super::api::{blocking, Answer, ApiError};
use super::runs::results;
use super::{Served, State};
use axum::extract::{Path as UrlPath, State as Shared};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use calig::attr::Delta;
use calig::eval::cache::{example_key, model_hash, Cached, MethodCache};
use calig::eval::spec::{Kind, MethodSpec};
use calig::explain::{argmax, prepare, softmax, ClassRef, Explanation, Prepared, SCHEMA_VERSION};
use calig::model::LoadedModel;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where `calig eval` ran, judged from the run directory and the command's `--output`.
fn eval_dir(run: &Path, output: &Path) -> PathBuf {
    if output.is_relative() {
        let mut base = run.to_path_buf();
        for _ in output.components() {
            if !base.pop() {
                break;
            }
        }
        if base.join(output).canonicalize().ok().as_deref() == Some(run) {
            return base;
        }
    }
    std::env::current_dir().unwrap_or_default()
}

/// The served model whose content hash is `hash`.
fn served_with_hash<'a>(state: &'a State, hash: &str) -> Option<&'a Served> {
    state
        .models
        .iter()
        .find(|s| s.hash.get_or_init(|| model_hash(&s.model).ok()).as_deref() == Some(hash))
}

/// One method's map from its cached scores, dressed as an explanation of the example.
fn from_cache(
    m: &LoadedModel,
    p: &Prepared,
    spec: &MethodSpec,
    params: &Value,
    c: &Cached,
) -> Explanation {
    let labels = &m.config.labels;
    let class = |i: usize| ClassRef {
        index: i,
        label: labels[i].clone(),
    };
    let scores = c.scores.clone();
    let word_scores = p
        .words
        .iter()
        .map(|w| scores[w.token_range.0..w.token_range.1].iter().sum())
        .collect();
    let signed = match spec.kind {
        Kind::Method(method) => method.info().signed,
        Kind::Random => false,
        _ => true,
    };
    Explanation {
        schema: SCHEMA_VERSION,
        calig_version: env!("CARGO_PKG_VERSION").into(),
        dtype: calig::runtime::precision_name(m.dtype(), m.device()).into(),
        device: if m.device().is_cpu() { "cpu" } else { "cuda" }.into(),
        model: m.source.name(),
        method: spec.name.clone(),
        signed,
        params: params.clone(),
        input: p.info.clone(),
        tokens: p.tokens.clone(),
        words: p.words.clone(),
        target: class(p.subject.target),
        predicted: class(argmax(&p.subject.logits)),
        labels: labels.clone(),
        logits: p.subject.logits.clone(),
        probs: softmax(&p.subject.logits),
        sum_of_scores: scores.iter().sum(),
        scores,
        scores_cover: if p.info.is_text() {
            "tokens"
        } else {
            "patches"
        }
        .into(),
        word_scores,
        baseline_logit: None,
        contrast: None,
        neutral_reference: None,
        readout_token: None,
        expected_reference: None,
        layers: None,
        layers_cover: None,
        convergence_delta: Delta::None,
        details: None,
        warnings: vec![],
        timing_ms: c.ms,
    }
}

/// One method's stored curves of the example: `{name: {"x": [...], "y": [...]}}`.
fn curves_json(measured: &calig::eval::cache::Measured) -> Value {
    let by_name: serde_json::Map<String, Value> = measured
        .curves
        .iter()
        .map(|(name, ys)| {
            let xs = calig::eval::run::curve_xs(ys.len());
            (name.clone(), json!({"x": xs, "y": ys}))
        })
        .collect();
    Value::Object(by_name)
}

/// An image example's picture as PNG in base64 (the data set's file or idx row).
fn image_base64(input: &calig::explain::ExplainInput) -> Result<String, ApiError> {
    use base64::Engine;
    use calig::explain::ExplainInput;
    let img = match input {
        ExplainInput::Image(path) => calig::model::image::decode(path)?,
        ExplainInput::Decoded { image, .. } => (**image).clone(),
        _ => return Err(ApiError::bad("not an image example")),
    };
    let png = calig::render::overlay::png_bytes(&img.to_rgb8());
    Ok(base64::engine::general_purpose::STANDARD.encode(png))
}

/// What a run's example needs, found from its results.json.
struct Located {
    /// The run's eval job, its paths taken from where it ran.
    job: calig::eval::job::EvalJob,
    /// The example's row of results.json.
    row: Value,
    /// results.json's method entries with their parameters.
    methods: Vec<Value>,
    /// The run's model hash, the key of its cache.
    hash: String,
    cache_dir: PathBuf,
    /// The served model with that hash.
    model_index: usize,
}

/// Finds example `id` of run `index` (in `dir`), its job and its served model.
fn locate(state: &State, dir: &Path, index: &str, id: &str) -> Result<Located, ApiError> {
    let not_found = |m: String| ApiError::new(StatusCode::NOT_FOUND, m);
    let r = results(dir)?;
    let row = r["examples"]
        .as_array()
        .and_then(|rows| rows.iter().find(|e| e["id"] == id))
        .cloned()
        .ok_or_else(|| not_found(format!("run {index} has no example `{id}`")))?;
    let command: Vec<String> = serde_json::from_value(r["command"].clone())
        .map_err(|_| not_found("results.json records no command line".into()))?;
    let mut job = super::super::eval_job_of(&command)
        .map_err(|e| not_found(format!("the run's command: {e}")))?;
    let hash = r["model_hash"].as_str().unwrap_or_default().to_string();
    let model = r["model"].as_str().unwrap_or("?");
    let served = served_with_hash(state, &hash).ok_or_else(|| {
        not_found(format!(
            "the run's model {model} (content hash {hash}) is not served: start calig serve \
             with --model {model}"
        ))
    })?;
    let model_index = state
        .models
        .iter()
        .position(|s| std::ptr::eq(s, served))
        .expect("found among them");
    // Relative paths from where eval ran (`join` keeps an absolute path as it is).
    let base = eval_dir(dir, &job.output);
    job.dataset = base.join(&job.dataset);
    job.ids = job.ids.as_deref().map(|p| base.join(p));
    let cache_dir = job
        .cache
        .as_deref()
        .map_or_else(|| dir.join("cache"), |p| base.join(p));
    Ok(Located {
        job,
        row,
        methods: r["methods"].as_array().cloned().unwrap_or_default(),
        hash,
        cache_dir,
        model_index,
    })
}

/// The example's text and each method entry's map from the cache (on the model's worker: it
/// reads the data set with the model's labels, tokenises and runs the forward pass).
fn maps(m: &LoadedModel, at: Located) -> Result<Value, ApiError> {
    let Located {
        job,
        row,
        methods,
        hash,
        cache_dir,
        ..
    } = at;
    let selected = calig::data::select(&job.selection(), &m.config)?;
    let id = row["id"].as_str().unwrap_or_default();
    let ex = selected
        .examples
        .iter()
        .find(|e| e.id == id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "example `{id}` is not in the run's data set {}",
                    job.dataset.display()
                ),
            )
        })?;
    let predicted = row["predicted"].as_u64().unwrap_or_default() as usize;
    let p = prepare(m, &ex.input(), Some(&predicted.to_string()))?;
    let params_of = |name: &str| {
        methods
            .iter()
            .find(|m| m["name"] == name)
            .map_or(Value::Null, |m| m["params"].clone())
    };
    let key = example_key(&ex.key_text(), predicted);
    let is_text = m.tokenizer.is_some();
    // A text's scores cover its tokens, an image's its patches ([CLS] left out).
    let covered = p.info.patch_grid.map_or(p.tokens.len(), |[h, w]| h * w);
    let measured_key = job.metric_key(ex, is_text, selected.rationales);
    let (mut explanations, mut missing) = (Vec::new(), Vec::new());
    let mut curves = serde_json::Map::new();
    for spec in MethodSpec::parse_list(&job.methods, is_text)? {
        if let Some(measured) = MethodCache::read_measured(&cache_dir, &hash, &spec)?
            .remove(&measured_key)
            .filter(|r| !r.curves.is_empty())
        {
            curves.insert(spec.name.clone(), curves_json(&measured));
        }
        let cached = MethodCache::read(&cache_dir, &hash, &spec)?;
        match cached.get(&key) {
            Some(c) if c.scores.len() == covered => {
                explanations.push(from_cache(m, &p, &spec, &params_of(&spec.name), c));
            }
            Some(c) => missing.push(json!({"method": spec.name, "why": format!(
                "{} cached scores for {covered} positions", c.scores.len())})),
            None => missing.push(json!({"method": spec.name, "why": "not in the cache"})),
        }
    }
    let mut example = json!({"id": ex.id, "line": ex.line, "label": ex.label,
                             "predicted": predicted, "text": ex.text, "text_pair": ex.text_pair});
    if selected.rationales {
        // ERASER: the document's whitespace tokens and the human rationale spans among them.
        example["words"] = json!(ex.text.split_whitespace().collect::<Vec<_>>());
        example["evidence"] = json!(ex.evidence);
    }
    let mut out = json!({
        "example": example,
        "explanations": explanations,
        "missing": missing,
        "curves": curves,
    });
    if !is_text {
        // The image the maps are drawn on, as POST /api/render takes an upload.
        out["image"] = json!(image_base64(&ex.input())?);
    }
    Ok(out)
}

/// `GET /api/runs/{index}/examples/{id}`: `{"example": {id, line, label, predicted, text,
/// text_pair}, "explanations": [...], "missing": [{"method", "why"}], "model": NAME}`.
pub async fn example(
    Shared(state): Shared<Arc<State>>,
    UrlPath((index, id)): UrlPath<(String, String)>,
) -> Answer {
    let dir = super::runs::run_dir(&state, &index)?;
    let shared = state.clone();
    // Off the server's thread: results.json, the command, the served models' hashes.
    let at = blocking(move || locate(&shared, &dir, &index, &id)).await?;
    let served = &state.models[at.model_index];
    let mut out = super::api::on_worker(served, move |m| maps(m, at)).await?;
    // The served model that drew it, for the page's link to the single-input page.
    out["model"] = json!(served.name);
    Ok(Json(out).into_response())
}
