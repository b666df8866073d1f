//! Small explanations for the renderers' unit tests.

use crate::explain::Explanation;
use serde_json::json;

fn from(v: serde_json::Value) -> Explanation {
    serde_json::from_value(v).expect("a valid sample")
}

/// CA-LIG on "a gorgeous\n\nmovie" (two paragraphs), two layers, r/a/s details.
pub fn text() -> Explanation {
    let layers = json!([
        null,
        [0.5, 0.1, 0.4, -0.2, 0.3],
        [0.2, -0.1, 0.8, 0.1, 0.05]
    ]);
    from(json!({
        "schema": 1, "calig_version": "0.1.0", "dtype": "f32", "device": "cpu",
        "model": "tiny", "method": "calig", "signed": true,
        "params": {"steps": 4, "lambda": 0.5, "attention_sign": "positive", "input_kind": "text"},
        "input": {"kind": "text", "text": "a gorgeous\n\nmovie"},
        "tokens": ["[CLS]", "a", "gorgeous", "movie", "[SEP]"],
        "words": [
            {"text": "a", "start": 0, "end": 1, "token_range": [1, 2]},
            {"text": "gorgeous", "start": 2, "end": 10, "token_range": [2, 3]},
            {"text": "movie", "start": 12, "end": 17, "token_range": [3, 4]}
        ],
        "target": {"index": 1, "label": "positive"},
        "predicted": {"index": 1, "label": "positive"},
        "labels": ["negative", "positive"],
        "logits": [-1.0, 1.0], "probs": [0.1192, 0.8808],
        "scores": [2.0, 0.1, 0.9, -0.3, 0.4], "scores_cover": "tokens",
        "word_scores": [0.1, 0.9, -0.3], "sum_of_scores": 3.1, "baseline_logit": -0.5,
        "layers": layers, "layers_cover": "tokens",
        "convergence_delta": [null, 0.001, 0.002],
        "details": {"r": layers, "a": [null, [0.0, 0.2, 0.9, 0.1, 0.0], [0.0, 0.1, 0.5, 0.3, 0.0]],
                    "s": layers},
        "timing_ms": 1.0
    }))
}

/// GAE (unsigned) on a 2 × 2 patch grid of an image that does not exist on disk.
pub fn image() -> Explanation {
    from(json!({
        "schema": 1, "calig_version": "0.1.0", "dtype": "f32", "device": "cpu",
        "model": "tiny-vit", "method": "gae", "signed": false, "params": {"input_kind": "image"},
        "input": {"kind": "image", "path": "/nonexistent/shirt.png", "patch_grid": [2, 2],
                  "image_size": [8, 8]},
        "tokens": ["[CLS]", "patch_0_0", "patch_0_1", "patch_1_0", "patch_1_1"],
        "words": [],
        "target": {"index": 0, "label": "shirt"},
        "predicted": {"index": 0, "label": "shirt"},
        "labels": ["shirt", "boot"],
        "logits": [2.0, -2.0], "probs": [0.982, 0.018],
        "scores": [0.0, 0.1, 0.2, 1.0], "scores_cover": "patches",
        "word_scores": [], "sum_of_scores": 1.3,
        "layers": null, "layers_cover": null, "convergence_delta": null,
        "timing_ms": 1.0
    }))
}
