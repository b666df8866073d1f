//! Turning an [`Explanation`](crate::explain::Explanation) into something to read: terminal
//! text, a self-contained HTML page.

pub mod html;
pub mod text;

/// Whether a method's scores carry a sign (evidence for and against); the others are
/// non-negative relevance.
pub fn is_signed(method: &str) -> bool {
    !matches!(
        method,
        "saliency" | "attention" | "rollout" | "gae" | "chefer2021"
    )
}

/// Which tokens are special ([CLS], [SEP], <s>, </s>): those no word covers (text only).
pub(crate) fn special_tokens(e: &crate::explain::Explanation) -> Vec<bool> {
    let mut special = vec![e.scores_cover == "tokens"; e.tokens.len()];
    for w in &e.words {
        for s in special
            .iter_mut()
            .take(w.token_range.1)
            .skip(w.token_range.0)
        {
            *s = false;
        }
    }
    special
}

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
