//! The single-input page, the run browser (`/runs`) and their scripts and style, embedded in the binary (no network, no
//! CDN). The page talks to the server through the JSON API only; its colours are the reports'
//! (render/palette.rs), written into the page when it is served.

use super::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use calig::render::palette::{AGAINST, FOR, NEUTRAL, UNSIGNED};
use std::sync::Arc;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");
const RUNS: &str = include_str!("assets/runs.html");
const RUNS_SCRIPT: &str = include_str!("assets/runs.js");
const CURVES_SCRIPT: &str = include_str!("assets/curves.js");

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(script))
        .route("/style.css", get(style))
        .route("/runs", get(|| async { Html(RUNS) }))
        .route("/runs.js", get(|| async { javascript(RUNS_SCRIPT) }))
        .route("/curves.js", get(|| async { javascript(CURVES_SCRIPT) }))
}

/// The page with the palette filled in.
fn index_html() -> String {
    let rgb = |[r, g, b]: [u8; 3]| format!("[{r},{g},{b}]");
    let palette = format!(
        "{{\"for\":{},\"against\":{},\"unsigned\":{},\"neutral\":{}}}",
        rgb(FOR),
        rgb(AGAINST),
        rgb(UNSIGNED),
        rgb(NEUTRAL)
    );
    INDEX.replace("{{PALETTE}}", &palette)
}

async fn index() -> Html<String> {
    Html(index_html())
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

fn javascript(text: &'static str) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        text,
    )
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_holds_the_reports_palette_and_loads_only_local_assets() {
        let page = super::index_html();
        assert!(!page.contains("{{PALETTE}}"));
        assert!(page.contains("\"for\":[230,97,1]"));
        for asset in ["src=\"/app.js\"", "href=\"/style.css\""] {
            assert!(page.contains(asset), "{asset}");
        }
        for page in [page.as_str(), super::RUNS] {
            assert!(!page.contains("http://") && !page.contains("https://"));
        }
        assert!(super::RUNS.contains("src=\"/runs.js\""));
        assert!(super::RUNS.contains("src=\"/curves.js\""));
    }
}
