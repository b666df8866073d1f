//! Turning [`Explanation`](crate::explain::Explanation)s into something to read: terminal
//! text, a self-contained HTML page, a PNG; and reading saved explanations back
//! ([`saved`]) for `calig render`.
//!
//! Shared by every kind: [`palette`] (colours), [`scale`] (`--scale`), [`document`] (the text
//! with its spacing and truncation), [`flow`] (the layers × tokens views), [`overlay`] (an
//! image's map upsampled over the image) and [`font`] (text in PNGs).

mod checks;
pub mod document;
pub mod figure;
pub mod flow;
pub mod font;
pub mod html;
pub mod overlay;
pub mod palette;
pub mod png;
pub mod saved;
pub mod scale;
pub mod svg;
pub mod text;

#[cfg(test)]
pub(crate) mod sample;

pub use scale::Scale;

use crate::attr::{Method, MethodInfo};

/// What the method table says about the explanation's method (None for a method this calig
/// does not know).
pub(crate) fn method_info(e: &crate::explain::Explanation) -> Option<&'static MethodInfo> {
    Method::from_name(&e.method).map(|m| m.info())
}

/// Which tokens are special (\[CLS\], \[SEP\], `<s>`, `</s>`): those no word covers (text only).
pub(crate) fn special_tokens(e: &crate::explain::Explanation) -> Vec<bool> {
    let mut special = vec![e.scores_cover_tokens(); e.tokens.len()];
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

/// The (label, score) units to show: words when the text has words, else tokens/patches.
pub(crate) fn display_units(e: &crate::explain::Explanation) -> Vec<(String, f64)> {
    if !e.words.is_empty() && e.scores_cover_tokens() {
        e.words
            .iter()
            .map(|w| w.text.clone())
            .zip(e.word_scores.iter().copied())
            .collect()
    } else if e.scores_cover_tokens() {
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

/// How a set of explanations is drawn (HTML and PNG).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    pub scale: Scale,
    /// Where relative image paths are also looked for (the saved file's folder).
    pub image_dir: Option<std::path::PathBuf>,
}
