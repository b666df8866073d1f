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

/// Whether a layer row is zero everywhere but at special tokens: the last layer of layer IG
/// and CA-LIG, whose head reads only \[CLS\] (no other token of h^(L) can move the logit).
pub fn zero_but_specials(row: &[f64], special: &[bool]) -> bool {
    let scale = row.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    scale > 0.0
        && row
            .iter()
            .zip(special)
            .all(|(v, &sp)| sp || v.abs() <= 1e-9 * scale)
}

/// What a report says of such a row.
pub const HEAD_READS_CLS: &str =
    "zero but at [CLS]: the head reads only [CLS] of the last layer, so no other token there can move the logit";

/// The same for a decoder, whose head reads the last token.
pub const HEAD_READS_LAST: &str =
    "zero but at the last token: a decoder's head reads only the last token of the last layer, so no other token there can move the logit";

/// The columns a blank last layer may keep: the special tokens and the token the head reads
/// (a decoder's last token is a word).
pub fn readout_columns(e: &Explanation) -> Vec<bool> {
    let mut columns = layer_specials(e);
    if let Some(c) = e.readout_token.and_then(|t| columns.get_mut(t)) {
        *c = true;
    }
    columns
}

/// What a report says of a row blank but at [`readout_columns`].
pub fn head_reads_note(e: &Explanation) -> &'static str {
    match e.readout_token {
        Some(t) if t > 0 && t + 1 == e.tokens.len() => HEAD_READS_LAST,
        _ => HEAD_READS_CLS,
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
    let readout = readout_columns(e);
    let note = head_reads_note(e);
    let make = |name: &str, title: String, rows: Vec<(usize, Vec<f64>)>, signed| {
        // Say why a row is blank, where it is (CA-LIG's and layer IG's last layer).
        let blank: Vec<String> = rows
            .iter()
            .filter(|(_, r)| zero_but_specials(r, &readout))
            .map(|(l, _)| l.to_string())
            .collect();
        let title = if blank.is_empty() {
            title
        } else {
            format!("{title}; layer {} is {note}", blank.join(", "))
        };
        Flow {
            name: name.into(),
            title,
            rows,
            signed,
            labels: e.tokens.clone(),
            special: special.clone(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_last_layer_blank_but_at_cls_is_explained() {
        let mut e = crate::render::sample::text();
        let last = vec![Some(vec![0.8, 0.0, 0.0, 0.0, 0.0])];
        e.layers.as_mut().unwrap().extend(last);
        let l = e.layers.as_ref().unwrap().len() - 1;
        let f = &flows(&e)[0];
        assert!(
            f.title.ends_with(&format!("layer {l} is {HEAD_READS_CLS}")),
            "{}",
            f.title
        );
        let text = crate::render::text::render(&e, &crate::render::text::TextOptions::default());
        assert!(
            text.contains(&format!("[CLS] +0.800 ({HEAD_READS_CLS})")),
            "{text}"
        );
        // A row with other non-zero tokens is not blank; an all-zero one is not either.
        let special = [true, false, false, false, true];
        assert!(!zero_but_specials(&[0.8, 0.1, 0.0, 0.0, 0.0], &special));
        assert!(!zero_but_specials(&[0.0; 5], &special));
    }

    #[test]
    fn a_decoders_last_layer_blank_but_at_its_last_token_is_explained() {
        let mut e = crate::render::sample::text();
        let n = e.tokens.len();
        e.readout_token = Some(n - 1);
        let mut last = vec![0.0; n];
        last[n - 1] = -1.5;
        e.layers.as_mut().unwrap().push(Some(last));
        let f = &flows(&e)[0];
        assert!(f.title.ends_with(HEAD_READS_LAST), "{}", f.title);
        let text = crate::render::text::render(&e, &crate::render::text::TextOptions::default());
        let tok = &e.tokens[n - 1];
        assert!(
            text.contains(&format!("{tok} -1.500 ({HEAD_READS_LAST})")),
            "{text}"
        );
    }
}
