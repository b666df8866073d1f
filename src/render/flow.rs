//! The layer views of an explanation: per-layer token scores (the "relevance flow"), and for
//! CA-LIG its parts r (layer IG), a (attention-gradient relevance) beside the fused s.

use super::scale::max_kept;
use crate::explain::Explanation;

/// One layers × tokens view.
#[derive(Debug, Clone)]
pub struct Flow {
    /// "layers" (the explanation's `layers`), "r" or "a" (CA-LIG's `details`).
    pub name: String,
    /// What the view shows, for its heading.
    pub title: String,
    /// (layer index, one score per column), layers without a value left out.
    pub rows: Vec<(usize, Vec<f64>)>,
    pub signed: bool,
    /// The column labels (tokens; "\[CLS\]" then patches for images).
    pub labels: Vec<String>,
    /// Columns outside the colour scale (special tokens, a ViT's \[CLS\]).
    pub special: Vec<bool>,
}

impl Flow {
    /// Largest |score| over every row, special columns left out.
    pub fn max(&self) -> f64 {
        self.rows
            .iter()
            .map(|(_, r)| max_kept(r, &self.special))
            .fold(1e-12, f64::max)
    }
}

/// Which columns of a layer vector are special: text, the tokens no word covers; images, the
/// leading \[CLS\].
pub fn layer_specials(e: &Explanation) -> Vec<bool> {
    if e.scores_cover_tokens() {
        super::special_tokens(e)
    } else {
        (0..e.tokens.len()).map(|i| i == 0).collect()
    }
}

fn rows_of(layers: &[Option<Vec<f64>>]) -> Vec<(usize, Vec<f64>)> {
    layers
        .iter()
        .enumerate()
        .filter_map(|(l, v)| v.clone().map(|v| (l, v)))
        .collect()
}

/// A CA-LIG part from `details` (index = layer, null where absent).
fn detail(e: &Explanation, key: &str) -> Option<Vec<(usize, Vec<f64>)>> {
    let layers: Vec<Option<Vec<f64>>> =
        serde_json::from_value(e.details.as_ref()?.get(key)?.clone()).ok()?;
    // `details` is free-form: rows that do not cover every token are left out.
    let rows: Vec<_> = rows_of(&layers)
        .into_iter()
        .filter(|(_, v)| v.len() == e.tokens.len())
        .collect();
    (!rows.is_empty()).then_some(rows)
}

/// The layer views of `e`, the explanation's own `layers` first; none for methods without
/// layers.
pub fn flows(e: &Explanation) -> Vec<Flow> {
    let Some(layers) = &e.layers else {
        return vec![];
    };
    let signed = e.signed;
    let special = layer_specials(e);
    let make = |name: &str, title: String, rows, signed| Flow {
        name: name.into(),
        title,
        rows,
        signed,
        labels: e.tokens.clone(),
        special: special.clone(),
    };
    let main_title = super::method_info(e)
        .and_then(|i| i.layers_title)
        .map_or_else(|| format!("{}: per-layer scores", e.method), String::from);
    let mut out = vec![make("layers", main_title, rows_of(layers), signed)];
    // CA-LIG's parts, where the explanation holds them.
    if let Some(r) = detail(e, "r") {
        out.push(make(
            "r",
            "r^(l): layer IG, the signed part".into(),
            r,
            true,
        ));
    }
    if let Some(a) = detail(e, "a") {
        let signed_a = e.params.get("attention_sign").and_then(|v| v.as_str()) == Some("signed");
        out.push(make(
            "a",
            "a^(l): class-specific attention-gradient relevance (before normalisation to â)".into(),
            a,
            signed_a,
        ));
    }
    out
}
