//! Turning an [`Explanation`](crate::explain::Explanation) into something to read: terminal
//! text, a self-contained HTML page.

pub mod html;
pub mod text;

/// Largest |score|, at least a tiny positive number so that all-zero maps render.
pub(crate) fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(1e-12, |m, x| m.max(x.abs()))
}

/// The (label, score) units to show: words when the text has words, else tokens/patches.
pub(crate) fn display_units(e: &crate::explain::Explanation) -> Vec<(String, f64)> {
    if !e.words.is_empty() && e.scores_cover == "tokens" {
        e.words
            .iter()
            .map(|w| w.text.clone())
            .zip(e.word_scores.iter().copied())
            .collect()
    } else if e.scores_cover == "tokens" {
        e.tokens
            .iter()
            .cloned()
            .zip(e.scores.iter().copied())
            .collect()
    } else {
        e.tokens
            .iter()
            .skip(1)
            .cloned()
            .zip(e.scores.iter().copied())
            .collect()
    }
}
