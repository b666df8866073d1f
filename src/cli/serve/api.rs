//! The JSON API under `/api/` (docs/serve.md): `GET /api/models`, `POST /api/predict`,
//! `POST /api/explain`, `POST /api/render` and `GET /api/status`. Every error is
//! `{"error": MESSAGE}`: 400 for wrong values, 422 for a body of the wrong shape (unknown or
//! missing fields), 404 for a model not served, 403 for a path outside the --run directories,
//! 413 for an upload over the limits (upload.rs), 503 (with Retry-After) when the model's
//! queue is full, 500 for a failure of calig itself. An image model's input is an uploaded
//! file, never a path.

use super::queue::Busy;
use super::{Served, State};
use axum::extract::rejection::JsonRejection;
use axum::extract::State as Shared;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use calig::attr::settings::{Kind, Setting, SETTINGS};
use calig::attr::{Method, Params};
use calig::error::CaligError;
use calig::explain::{explain_prepared, prepare, ExplainInput, Explanation};
use calig::model::LoadedModel;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Seconds a client is asked to wait after a 503.
const RETRY_AFTER_S: u32 = 2;

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/api/models", get(models))
        .route("/api/predict", post(predict))
        .route("/api/explain", post(explain))
        .route("/api/render", post(render))
        .route("/api/status", get(status))
        .layer(axum::extract::DefaultBodyLimit::max(
            super::upload::BODY_LIMIT,
        ))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such page or endpoint") })
}

/// An error answer: a status and a message for the user.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(super) fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(super) fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.message }));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            let retry = [(header::RETRY_AFTER, RETRY_AFTER_S.to_string())];
            (self.status, retry, body).into_response()
        } else {
            (self.status, body).into_response()
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return super::upload::too_large();
        }
        Self::new(r.status(), format!("bad request body: {}", r.body_text()))
    }
}

/// calig's errors: the user's (bad input, unknown model, unsupported combination) are 4xx.
impl From<CaligError> for ApiError {
    fn from(e: CaligError) -> Self {
        let status = match e {
            CaligError::InvalidInput(_) | CaligError::Unsupported(_) => StatusCode::BAD_REQUEST,
            CaligError::ModelNotFound(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}

impl From<Busy> for ApiError {
    fn from(_: Busy) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the model is busy and its queue is full; retry in {RETRY_AFTER_S} s"),
        )
    }
}

pub(super) type Answer = Result<Response, ApiError>;

/// `value` as the CLI prints it (`--format json`: pretty, fields in the schema's order, a final
/// newline), so that an answer and the CLI's output are the same bytes.
fn as_cli_prints(value: &impl serde::Serialize) -> Answer {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    text.push('\n');
    Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
}

/// The served model a request names (the first one when it names none).
fn served<'a>(state: &'a State, name: Option<&str>) -> Result<&'a Served, ApiError> {
    state.model(name).ok_or_else(|| {
        let names: Vec<&str> = state.models.iter().map(|s| s.name.as_str()).collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "model `{}` is not served here; the served models are {}",
                name.unwrap_or_default(),
                names.join(", ")
            ),
        )
    })
}

/// Runs `f` on the model's worker and waits for it without blocking the server.
pub(super) async fn on_worker<R: Send + 'static>(
    s: &Served,
    f: impl FnOnce(&LoadedModel) -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    let rx = s.worker.submit(f)?;
    match rx.await {
        Ok(Ok(out)) => out,
        Ok(Err(panic)) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, panic)),
        Err(_) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the model's worker stopped",
        )),
    }
}

/// How the API describes a setting's values.
fn kind_name(k: &Kind) -> &'static str {
    match k {
        Kind::Count => "count",
        Kind::Number => "number",
        Kind::Flag => "flag",
        Kind::Choice(_) => "choice",
        Kind::Steps => "steps",
        Kind::Layers => "layers",
        Kind::Baseline => "baseline",
        Kind::Path => "path",
    }
}

fn setting_json(s: &Setting) -> Value {
    let choices: Vec<&str> = match s.kind {
        Kind::Choice(list) => list().into_iter().map(|(n, _)| n).collect(),
        _ => vec![],
    };
    json!({
        "name": s.name,
        "doc": s.doc,
        "kind": kind_name(&s.kind),
        "values": s.kind.describe(),
        "choices": choices,
        "default": s.default.describe().replace('`', ""),
    })
}

/// `GET /api/models`: the served models with their labels, layers and input kind, the methods
/// and the settings (with their defaults) that explain takes.
async fn models(Shared(state): Shared<Arc<State>>) -> Json<Value> {
    let models: Vec<Value> = state
        .models
        .iter()
        .map(|s| {
            let m = &s.model;
            json!({
                "name": s.name,
                "source": m.source.name(),
                "labels": m.config.labels,
                "num_layers": m.config.num_layers,
                "input": if m.tokenizer.is_some() { "text" } else { "image" },
                "num_parameters": m.num_parameters,
            })
        })
        .collect();
    let methods: Vec<Value> = Method::ALL
        .iter()
        .map(|m| {
            let i = m.info();
            json!({"name": i.name, "summary": i.summary, "signed": i.signed})
        })
        .collect();
    let settings: Vec<Value> = SETTINGS.iter().map(setting_json).collect();
    Json(json!({"models": models, "methods": methods, "settings": settings}))
}

/// `GET /api/status`: each model's worker: the running job's seconds and interpolation points
/// (planned so far, done), the jobs waiting and the queue's capacity. The page polls it for
/// its progress line.
async fn status(Shared(state): Shared<Arc<State>>) -> Json<Value> {
    let models: Vec<Value> = state
        .models
        .iter()
        .map(|s| {
            let st = s.worker.status();
            json!({
                "name": s.name,
                "running": st.running.map(|(secs, (planned, done))| json!({
                    "seconds": secs, "points_planned": planned, "points_done": done})),
                "waiting": st.waiting,
                "capacity": st.capacity,
            })
        })
        .collect();
    Json(json!({ "models": models }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictRequest {
    model: Option<String>,
    text: String,
    text_pair: Option<String>,
}

/// `POST /api/predict`: what `calig predict --format json` prints for the text.
async fn predict(
    Shared(state): Shared<Arc<State>>,
    body: Result<Json<PredictRequest>, JsonRejection>,
) -> Answer {
    let Json(r) = body?;
    let s = served(&state, r.model.as_deref())?;
    text_model(s)?;
    if r.text.is_empty() {
        return Err(ApiError::bad("nothing to classify: `text` is empty"));
    }
    let out = on_worker(s, move |m| {
        let (enc, input) = m.prepare_pair(&r.text, r.text_pair.as_deref())?;
        let logits = m.logits(&input)?;
        let mut described = json!({"kind": "text", "text": r.text, "tokens": enc.tokens});
        if let Some(p) = &r.text_pair {
            described["text_pair"] = json!(p);
        }
        Ok(super::super::predict::prediction_json(
            m,
            described,
            &logits,
            enc.truncated_from,
        ))
    })
    .await?;
    as_cli_prints(&out)
}

/// Methods as a list or as `"calig,ig"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Methods {
    List(Vec<String>),
    Joined(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainRequest {
    model: Option<String>,
    #[serde(default)]
    text: String,
    /// An image file's bytes, base64 (upload.rs), for a model that reads images.
    image: Option<String>,
    /// The uploaded file's name, for `input.path` (its folders dropped).
    image_name: Option<String>,
    text_pair: Option<String>,
    /// Default: calig.
    methods: Option<Methods>,
    target: Option<String>,
    contrast: Option<String>,
    /// The settings of calig explain's flags, by name (`steps`, `lambda`, ...).
    #[serde(default)]
    settings: Map<String, Value>,
}

fn methods_of(m: Option<Methods>) -> Result<Vec<Method>, ApiError> {
    let names: Vec<String> = match m {
        None => vec!["calig".into()],
        Some(Methods::List(v)) => v,
        Some(Methods::Joined(s)) => s.split(',').map(|n| n.trim().to_string()).collect(),
    };
    if names.is_empty() {
        return Err(ApiError::bad(
            "`methods` is empty: name at least one method",
        ));
    }
    names
        .iter()
        .map(|n| {
            Method::from_name(n).ok_or_else(|| {
                let all: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
                ApiError::bad(format!(
                    "unknown method `{n}`: the methods are {}",
                    all.join(", ")
                ))
            })
        })
        .collect()
}

/// A JSON setting value as the command line would write it.
fn setting_text(name: &str, v: &Value) -> Result<String, ApiError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(ApiError::bad(format!(
            "settings.{name}: give a string, a number or true/false"
        ))),
    }
}

/// `path` resolved (links and `..` followed) when it lies inside one of `roots`.
fn inside_roots(path: &Path, roots: &[PathBuf]) -> Option<PathBuf> {
    path.canonicalize()
        .ok()
        .filter(|p| roots.iter().any(|r| p.starts_with(r)))
}

/// The request's settings applied to the defaults; a path setting must lie inside a `--run`
/// directory.
fn params_of(
    settings: &Map<String, Value>,
    roots: &[PathBuf],
    is_text: bool,
) -> Result<Params, ApiError> {
    let mut given = Vec::new();
    for (name, v) in settings {
        let mut text = setting_text(name, v)?;
        if SETTINGS
            .iter()
            .any(|s| s.name == name && matches!(s.kind, Kind::Path))
        {
            // The resolved path is what is read, so that the file checked is the file read.
            let resolved = inside_roots(Path::new(&text), roots).ok_or_else(|| {
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "settings.{name}: `{text}` is outside the directories this server may \
                         read (the --run directories{})",
                        if roots.is_empty() { ": none given" } else { "" }
                    ),
                )
            })?;
            text = resolved.display().to_string();
        }
        given.push((name.as_str(), text));
    }
    let mut p = Params::defaults(is_text);
    p.apply(
        given.iter().map(|(n, v)| (*n, v.as_str())),
        |s: &Setting| format!("settings.{}", s.name),
    )
    .map_err(|e| ApiError::bad(e.to_string()))?;
    Ok(p)
}

fn text_model(s: &Served) -> Result<(), ApiError> {
    if s.model.tokenizer.is_none() {
        return Err(ApiError::bad(format!(
            "model `{}` reads images: predict takes texts; explain takes the image as `image` \
             (base64)",
            s.name
        )));
    }
    Ok(())
}

/// The input a request describes: its text (and pair) for a text model, its uploaded image for
/// an image model. The upload is decoded on the model's worker.
enum Given {
    Text(ExplainInput),
    Image { encoded: String, name: String },
}

fn given(s: &Served, r: &mut ExplainRequest) -> Result<Given, ApiError> {
    let reads_text = s.model.tokenizer.is_some();
    match (reads_text, r.image.take()) {
        (true, Some(_)) => Err(ApiError::bad(format!(
            "model `{}` reads texts: give `text`, not `image`",
            s.name
        ))),
        (true, None) => match (r.text.is_empty(), r.text_pair.take()) {
            (true, _) => Err(ApiError::bad("nothing to explain: `text` is empty")),
            (false, Some(pair)) => Ok(Given::Text(ExplainInput::Pair(
                std::mem::take(&mut r.text),
                pair,
            ))),
            (false, None) => Ok(Given::Text(ExplainInput::Text(std::mem::take(&mut r.text)))),
        },
        (false, None) => Err(ApiError::bad(format!(
            "model `{}` reads images: upload one as `image` (the file's bytes in base64)",
            s.name
        ))),
        (false, Some(_)) if !r.text.is_empty() || r.text_pair.is_some() => Err(ApiError::bad(
            "give `image` alone: an image model reads no text",
        )),
        (false, Some(encoded)) => Ok(Given::Image {
            encoded,
            name: super::upload::display_name(r.image_name.as_deref()),
        }),
    }
}

/// `POST /api/explain`: what `calig explain --format json` prints for the same input, methods,
/// target and settings (one object for one method, an array for several).
async fn explain(
    Shared(state): Shared<Arc<State>>,
    body: Result<Json<ExplainRequest>, JsonRejection>,
) -> Answer {
    let Json(mut r) = body?;
    let s = served(&state, r.model.as_deref())?;
    let given = given(s, &mut r)?;
    let is_text = matches!(given, Given::Text(_));
    let methods = methods_of(r.methods)?;
    let params = params_of(&r.settings, &state.roots, is_text)?;
    let (target, contrast) = (r.target, r.contrast);
    let es = on_worker(s, move |m| {
        let input = match given {
            Given::Text(input) => input,
            Given::Image { encoded, name } => ExplainInput::Decoded {
                image: super::upload::decode(&encoded, &name)?,
                name,
            },
        };
        let mut prepared = prepare(m, &input, target.as_deref())?;
        if let Some(c) = &contrast {
            prepared.contrast_with(&m.config, c)?;
        }
        let mut es = Vec::new();
        for &method in &methods {
            es.push(explain_prepared(m, &prepared, method, &params)?);
        }
        Ok(es)
    })
    .await?;
    match es.as_slice() {
        [one] => as_cli_prints(one),
        many => as_cli_prints(&many),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Box<Explanation>),
    Many(Vec<Explanation>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenderRequest {
    explanations: OneOrMany,
    /// `report`, `shared` or `layer` (as `--scale`).
    scale: Option<String>,
    /// For image explanations: the image file's bytes (base64), drawn beneath the maps.
    image: Option<String>,
}

/// `POST /api/render`: the HTML report of explanations (explain's answer) as a fragment to
/// place in a page, the same maps, checks and layer views as `calig explain --format html`.
async fn render(body: Result<Json<RenderRequest>, JsonRejection>) -> Answer {
    let Json(r) = body?;
    let es = match r.explanations {
        OneOrMany::One(e) => vec![*e],
        OneOrMany::Many(v) => v,
    };
    if es.is_empty() {
        return Err(ApiError::bad("`explanations` is empty"));
    }
    // An image report would read the image at `input.path`, a path from the request: it is
    // drawn on the uploaded image instead, or refused.
    let image = match r.image {
        Some(encoded) => {
            let name = es[0].input.path.as_deref().map(Path::to_path_buf);
            let name = super::upload::display_name(name.as_deref().and_then(Path::to_str));
            Some(blocking(move || super::upload::decode(&encoded, &name)).await?)
        }
        None => None,
    };
    if image.is_none()
        && es
            .iter()
            .any(|e| !e.input.is_text() || e.input.path.is_some())
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "an image explanation is drawn on the uploaded image: give it as `image` (base64); \
             the server reads no file the request names",
        ));
    }
    let scale = match r.scale.as_deref() {
        None => calig::render::Scale::Report,
        Some(s) => {
            calig::render::Scale::parse(s).map_err(|e| ApiError::bad(format!("scale: {e}")))?
        }
    };
    let opts = calig::render::Options {
        scale,
        image,
        ..Default::default()
    };
    // A bad explanation (scores shorter than tokens, say) must not take the server down.
    let html = std::panic::catch_unwind(|| calig::render::html::fragment(&es, &opts))
        .map_err(|_| ApiError::bad("these explanations cannot be drawn (inconsistent lengths?)"))?;
    Ok(Json(json!({ "html": html })).into_response())
}

/// Runs `f` (file reading) off the server's thread.
pub(super) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading the run failed: {e}"),
        )
    })?
}
