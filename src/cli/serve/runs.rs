//! The run browser's API: `GET /api/runs` lists the `--run` directories (each a `calig eval`
//! output), `GET /api/runs/{index}` gives one run's summary tables (results.json) and its
//! examples, each with every method's value of every metric (per_instance.csv); an example's
//! maps come from run_example.rs. A request names a run by its index, never by a path.

use super::api::{blocking, Answer, ApiError};
use super::State;
use axum::extract::{Path as UrlPath, State as Shared};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/api/runs", get(list))
        .route("/api/runs/{index}", get(one))
        .route(
            "/api/runs/{index}/examples/{id}",
            get(super::run_example::example),
        )
}

/// The run's results.json.
pub(super) fn results(dir: &Path) -> Result<Value, ApiError> {
    let path = dir.join("results.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "{}: {e} (is it a `calig eval` output directory?)",
                path.display()
            ),
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{}: not the JSON calig eval writes: {e}", path.display()),
        )
    })
}

/// Each example's values, by method then metric, from per_instance.csv
/// (`example_id,method,metric,value`).
fn per_instance(dir: &Path) -> Result<BTreeMap<String, Map<String, Value>>, ApiError> {
    let path = dir.join("per_instance.csv");
    let bad = |e: String| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{}: {e}", path.display()),
        )
    };
    let mut reader = csv::Reader::from_path(&path).map_err(|e| bad(e.to_string()))?;
    let mut out: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for row in reader.records() {
        let row = row.map_err(|e| bad(e.to_string()))?;
        let (Some(id), Some(method), Some(metric), Some(value)) =
            (row.get(0), row.get(1), row.get(2), row.get(3))
        else {
            return Err(bad(format!("a row without four fields: {row:?}")));
        };
        let value = value.parse::<f64>().ok().map_or(Value::Null, Value::from);
        let by_method = out.entry(id.to_string()).or_default();
        by_method
            .entry(method.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("made as an object")
            .insert(metric.to_string(), value);
    }
    Ok(out)
}

/// The directory's name and the fields of results.json that describe a run.
fn summary(index: usize, dir: &Path, r: &Value) -> Value {
    let methods: Vec<&Value> = r["methods"]
        .as_array()
        .map(|m| m.iter().map(|m| &m["name"]).collect())
        .unwrap_or_default();
    json!({
        "index": index,
        "name": dir.file_name().map(|n| n.to_string_lossy().into_owned()),
        "model": r["model"],
        "dataset": r["dataset"],
        "n": r["n"],
        "methods": methods,
        "metrics": r["tables"].as_array().map(|t| t.iter().map(|t| t["metric"].clone()).collect::<Vec<_>>()),
        "header": r["header"],
    })
}

/// `GET /api/runs`: every `--run` directory, with its model, data set, methods and metrics (or
/// the error that keeps it from being read).
async fn list(Shared(state): Shared<Arc<State>>) -> Answer {
    let state = state.clone();
    let runs = blocking(move || {
        Ok(state
            .roots
            .iter()
            .enumerate()
            .map(|(i, dir)| match results(dir) {
                Ok(r) => summary(i, dir, &r),
                Err(e) => json!({"index": i, "error": e.message()}),
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(json!({ "runs": runs })).into_response())
}

/// `GET /api/runs/{index}`: the run's summary, its tables (results.json's `tables`: per
/// metric, each method's mean with its CI, the paired difference, p and verdict) and its
/// examples with their values.
async fn one(Shared(state): Shared<Arc<State>>, UrlPath(index): UrlPath<String>) -> Answer {
    let dir = run_dir(&state, &index)?;
    let i: usize = index.parse().expect("run_dir parsed it");
    let out = blocking(move || {
        let r = results(&dir)?;
        let mut values = per_instance(&dir)?;
        let examples: Vec<Value> = r["examples"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|mut e| {
                let id = e["id"].as_str().unwrap_or_default().to_string();
                e["values"] = Value::Object(values.remove(&id).unwrap_or_default());
                e
            })
            .collect();
        let mut out = summary(i, &dir, &r);
        out["tables"] = r["tables"].clone();
        out["methods_params"] = r["methods"].clone();
        out["examples"] = Value::Array(examples);
        Ok(out)
    })
    .await?;
    Ok(Json(out).into_response())
}

/// The directory of run `index` (its place among the `--run` directories); 404 otherwise.
pub(super) fn run_dir(state: &State, index: &str) -> Result<std::path::PathBuf, ApiError> {
    index
        .parse::<usize>()
        .ok()
        .and_then(|i| state.roots.get(i).cloned())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "no run `{index}`: this server has {} (indices from 0; GET /api/runs lists \
                     them)",
                    state.roots.len()
                ),
            )
        })
}
