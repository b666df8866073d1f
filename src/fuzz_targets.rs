//! Entry points for fuzzing the input paths (fuzz/, `cargo +nightly fuzz run NAME`): each takes
//! arbitrary bytes and must return — an `Err` is fine, a panic, a hang or a crash is a bug.
//! `tests/fuzz_corpus.rs` replays the committed corpus (fuzz/corpus/NAME/) and seeded
//! mutations of it through the same functions on stable Rust, so CI runs a bounded smoke test.

use crate::error::Result;
use crate::model::{load_model, LoadedModel};
use candle_core::{DType, Device};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The directory of the tiny BERT test fixture (tests/fixtures/bert).
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A scratch directory per thread and purpose, reused across calls.
fn scratch(purpose: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "calig-fuzz-{}-{purpose}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// config.json parsing: bytes as JSON, then as a model configuration.
pub fn config(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = crate::model::ModelConfig::from_json(&v);
    }
}

/// A safetensors file: parsed alone, then as the weights of the BERT fixture's directory.
pub fn safetensors(data: &[u8]) {
    let _ = candle_core::safetensors::load_buffer(data, &Device::Cpu);
    let dir = scratch("safetensors");
    for f in [
        "config.json",
        "tokenizer.json",
        "special_tokens_map.json",
        "tokenizer_config.json",
    ] {
        if !dir.join(f).exists() {
            let _ = std::fs::copy(fixture("bert").join(f), dir.join(f));
        }
    }
    if std::fs::write(dir.join("model.safetensors"), data).is_ok() {
        if let Ok(m) = load_model(dir.to_str().unwrap_or_default(), DType::F32, &Device::Cpu) {
            // Whatever loads must also run (or refuse) without panicking.
            let _ = crate::explain::explain(
                &m,
                &crate::explain::ExplainInput::Text("a movie".into()),
                None,
                crate::attr::Method::Gxi,
                &crate::attr::Params::defaults(true),
            );
        }
    }
}

/// Image decoding and preprocessing (the ViT fixture's processor: 32×32 RGB).
pub fn image(data: &[u8]) {
    let path = scratch("image").join("input.img");
    if std::fs::write(&path, data).is_ok() {
        let p = crate::model::image::ImageProcessor::default_for(32, 3);
        let _ = p.load(&path, DType::F32, &Device::Cpu);
    }
}

/// Batch input parsing, as JSON lines and as a TSV table.
pub fn batch_rows(data: &[u8]) {
    let dir = scratch("rows");
    for (name, input) in [
        ("in.jsonl", "text"),
        ("in.tsv", "sentence"),
        ("in.csv", "text"),
    ] {
        let path = dir.join(name);
        if std::fs::write(&path, data).is_ok() {
            let cols = crate::batch::Columns {
                input: Some(input.into()),
                is_image: false,
                pair: None,
                id: None,
                target: Some("label".into()),
            };
            let _ = crate::batch::read_rows(&path, &cols);
        }
    }
}

fn bert() -> &'static Result<LoadedModel> {
    static MODEL: OnceLock<Result<LoadedModel>> = OnceLock::new();
    MODEL.get_or_init(|| {
        load_model(
            fixture("bert").to_str().unwrap_or_default(),
            DType::F32,
            &Device::Cpu,
        )
    })
}

/// Text through tokenisation to an explanation (gxi and a short CA-LIG) on the tiny BERT.
pub fn text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(m) = bert() else {
        return;
    };
    let input = crate::explain::ExplainInput::Text(text.to_string());
    let mut params = crate::attr::Params::defaults(true);
    params.steps = 4;
    for method in [crate::attr::Method::Gxi, crate::attr::Method::Calig] {
        if let Ok(e) = crate::explain::explain(m, &input, None, method, &params) {
            assert_eq!(e.scores.len(), e.tokens.len(), "one score per token");
            assert!(e.scores.iter().all(|s| s.is_finite()), "finite scores");
        }
    }
}

/// Saved explanations as `calig render` reads them (one object, an array, JSON lines), then
/// drawn as text, HTML and PNG.
pub fn saved(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(s) = crate::render::saved::parse(Path::new("fuzz.json"), text) else {
        return;
    };
    let es: Vec<_> = s.items.into_iter().map(|i| i.explanation).collect();
    let opts = crate::render::Options::default();
    let _ = crate::render::html::render(&es, &opts);
    let _ = crate::render::png::render(&es, &opts);
    for e in &es {
        let _ = crate::render::text::render(e, &Default::default());
    }
}
