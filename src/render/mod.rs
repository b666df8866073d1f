//! Turning [`Explanation`](crate::explain::Explanation)s into something to read: terminal
//! text, a self-contained HTML page, a PNG; and reading saved explanations back
//! ([`saved`]) for `calig render`.
//!
//! Shared by every kind: [`palette`] (colours), [`scale`] (`--scale`), [`document`] (the text
//! with its spacing and truncation), [`flow`] (the layers × tokens views), [`overlay`] (an
//! image's map upsampled over the image) and [`font`] (text in PNGs).

mod checks;
pub mod compact;
pub mod document;
pub mod figure;
pub mod flow;
pub mod font;
pub mod generation;
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

/// How a set of explanations is drawn (HTML, PNG and SVG).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Options {
    pub scale: Scale,
    /// Where relative image paths are also looked for (the saved file's folder).
    pub image_dir: Option<std::path::PathBuf>,
    /// The input image already decoded (an upload to `calig serve`): drawn instead of reading
    /// the file `input.path` names.
    pub image: Option<std::sync::Arc<image::DynamicImage>>,
    /// PNG and SVG: the panels' arrangement.
    pub layout: Layout,
    /// PNG and SVG: leave out the layer views (a figure of the headline maps alone).
    pub hide_layers: bool,
    /// PNG: pixels per inch, against the 96 at which the figure is laid out (`--dpi 300` draws
    /// it 3.125 times as many pixels wide, text and all).
    pub dpi: Option<f64>,
}

/// How a figure arranges several explanations of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// One panel per method, stacked: header, checks, words (or image) and layer views.
    #[default]
    Full,
    /// Methods × words: one row per method on a shared words axis, each row on its scale
    /// (text only), for a paper's figure.
    Compact,
}

impl Layout {
    pub const NAMES: [&'static str; 2] = ["full", "compact"];

    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s {
            "full" => Ok(Self::Full),
            "compact" => Ok(Self::Compact),
            _ => Err(format!("`{s}` is not a layout: use full or compact")),
        }
    }
}

/// The target's label, and with a contrast what it is contrasted with ("positive rather than
/// negative").
pub(crate) fn target_label(e: &crate::explain::Explanation) -> String {
    match &e.contrast {
        Some(c) => format!("{} {}", e.target.label, c.phrase()),
        None => e.target.label.clone(),
    }
}
