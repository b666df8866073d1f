//! A server bound to a loopback address answers only requests addressed to it by a loopback
//! name (`Host: 127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`). A web page elsewhere that
//! points its own domain name at 127.0.0.1 (DNS rebinding) would otherwise reach the server as
//! if it were the same site and read its answers. A server bound elsewhere (`--host`) takes any
//! name: its operator chose to expose it, and was warned.

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;

/// The `Host` values a loopback-bound server accepts, for its port.
pub fn loopback_hosts(port: u16) -> Arc<Vec<String>> {
    Arc::new(
        ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .map(|h| format!("{h}:{port}"))
            .collect(),
    )
}

/// Refuses (403) a request whose `Host` is not one of `allowed`.
pub async fn check_host(allowed: Arc<Vec<String>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    match host {
        Some(h) if allowed.contains(&h) => next.run(req).await,
        other => (
            StatusCode::FORBIDDEN,
            Json(json!({"error": format!(
                "this server answers requests to {} only, not to host {}",
                allowed.join(", "),
                other.as_deref().unwrap_or("(none)")
            )})),
        )
            .into_response(),
    }
}
