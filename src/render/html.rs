//! A self-contained HTML report: tokens (or the image with a patch heat map) coloured by signed
//! score, and a per-layer heat map when the method has layers. Every text is escaped.

use super::max_abs;
use crate::explain::Explanation;
use base64::Engine;
use std::fmt::Write;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Colour-blind-safe colours (PuOr ends): orange for evidence for the target, purple against;
/// unsigned maps use one hue (blue), darker = more relevant.
const FOR: (u8, u8, u8) = (230, 97, 1);
const AGAINST: (u8, u8, u8) = (94, 60, 153);
const UNSIGNED: (u8, u8, u8) = (33, 102, 172);

fn rgba(score: f64, max: f64, signed: bool) -> String {
    let t = (score.abs() / max).clamp(0.0, 1.0);
    let (r, g, b) = if !signed {
        UNSIGNED
    } else if score >= 0.0 {
        FOR
    } else {
        AGAINST
    };
    format!("rgba({r},{g},{b},{t:.3})")
}

/// A colour bar with its numeric ends, for one scale.
fn colour_bar(max: f64, signed: bool, what: &str) -> String {
    let c = |(r, g, b): (u8, u8, u8)| format!("rgb({r},{g},{b})");
    let (gradient, low) = if signed {
        (
            format!("linear-gradient(to right,{},#fff,{})", c(AGAINST), c(FOR)),
            format!("{:+.3} (against)", -max),
        )
    } else {
        (
            format!("linear-gradient(to right,#fff,{})", c(UNSIGNED)),
            "0".to_string(),
        )
    };
    let high = if signed {
        format!("{max:+.3} (for)")
    } else {
        format!("{max:.3}")
    };
    format!(
        "<div class=\"bar\"><span>{low}</span><span class=\"ramp\" style=\"background:{gradient}\"></span><span>{high}</span><span class=\"note\">{}</span></div>",
        escape(what)
    )
}

/// Token spans on one shared scale; `special` tokens are shown outlined and left out of it.
fn token_spans(units: &[(String, f64)], special: &[bool], max: f64, signed: bool) -> String {
    units
        .iter()
        .enumerate()
        .map(|(i, (t, v))| {
            if special.get(i).copied().unwrap_or(false) {
                format!(
                    "<span class=\"tok special\" title=\"{v:+.4} (special token, outside the colour scale)\">{}</span>",
                    escape(t)
                )
            } else {
                format!(
                    "<span class=\"tok\" style=\"background:{}\" title=\"{:+.4}\">{}</span>",
                    rgba(*v, max, signed),
                    v,
                    escape(t)
                )
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Largest |score| over the non-special entries.
fn scale(values: &[f64], special: &[bool]) -> f64 {
    let kept: Vec<f64> = values
        .iter()
        .enumerate()
        .filter(|(i, _)| !special.get(*i).copied().unwrap_or(false))
        .map(|(_, v)| *v)
        .collect();
    max_abs(&kept)
}

fn layer_table(e: &Explanation, layers: &[Option<Vec<f64>>], signed: bool) -> String {
    // Layer vectors cover every token ([CLS] first for images).
    let tokens: Vec<String> = e.tokens.clone();
    let special = if e.scores_cover == "tokens" {
        super::special_tokens(e)
    } else {
        let mut v = vec![false; tokens.len()];
        if let Some(first) = v.first_mut() {
            *first = true;
        }
        v
    };
    let all: Vec<f64> = layers
        .iter()
        .flatten()
        .flat_map(|v| {
            v.iter()
                .enumerate()
                .filter(|(i, _)| !special.get(*i).copied().unwrap_or(false))
                .map(|(_, x)| *x)
        })
        .collect();
    let max = max_abs(&all);
    let mut s = String::from("<h2>Per-layer relevance</h2>");
    s.push_str(&colour_bar(
        max,
        signed,
        "one scale for every layer (special tokens outlined, outside it)",
    ));
    s.push_str("<div class=\"scroll\"><table class=\"layers\"><tr><th>layer</th>");
    for (t, sp) in tokens.iter().zip(&special) {
        let class = if *sp { "rot sp" } else { "rot" };
        let _ = write!(s, "<th class=\"{class}\">{}</th>", escape(t));
    }
    s.push_str("</tr>");
    for (l, v) in layers.iter().enumerate() {
        let Some(v) = v else { continue };
        let _ = write!(s, "<tr><td>{l}</td>");
        for (i, x) in v.iter().enumerate() {
            if special.get(i).copied().unwrap_or(false) {
                let _ = write!(
                    s,
                    "<td class=\"sp\" title=\"{x:+.4} (special token)\"></td>"
                );
            } else {
                let _ = write!(
                    s,
                    "<td style=\"background:{}\" title=\"{x:+.4}\"></td>",
                    rgba(*x, max, signed)
                );
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</table></div>");
    s
}

fn image_section(e: &Explanation, signed: bool) -> String {
    let (Some(path), Some([gh, gw])) = (&e.input.path, e.input.patch_grid) else {
        return String::new();
    };
    let max = max_abs(&e.scores);
    let img = std::fs::read(path)
        .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
        .unwrap_or_default();
    let mut cells = String::new();
    for v in &e.scores {
        let _ = write!(
            cells,
            "<div style=\"background:{}\" title=\"{:+.4}\"></div>",
            rgba(*v, max, signed),
            v
        );
    }
    // The input alone, then the patch scores over a faded copy of it.
    format!(
        "{}<div class=\"pair\"><div class=\"imgwrap\"><img src=\"data:image;base64,{img}\" alt=\"input\"></div>\
         <div class=\"imgwrap\"><img class=\"faded\" src=\"data:image;base64,{img}\" alt=\"input, faded\"><div class=\"grid\" \
         style=\"grid-template-columns:repeat({gw},1fr);grid-template-rows:repeat({gh},1fr)\">{cells}</div></div></div>",
        colour_bar(max, signed, "patch scores")
    )
}

/// The prediction and the numbers that check an attribution.
fn summary(e: &Explanation) -> String {
    let y = e.logits[e.target.index];
    let mut rows = String::new();
    for (i, (l, p)) in e.logits.iter().zip(&e.probs).enumerate() {
        let mark = if i == e.target.index { " (target)" } else { "" };
        let _ = write!(
            rows,
            "<tr><td>{}{mark}</td><td>{p:.4}</td><td>{l:+.4}</td></tr>",
            escape(e.labels.get(i).map_or("?", String::as_str))
        );
    }
    let mut checks = format!(
        "<p><b>y_c(x)</b> {y:+.4} &middot; <b>Σ scores</b> {:+.4}",
        e.sum_of_scores
    );
    if let Some(y0) = e.baseline_logit {
        let _ = write!(
            checks,
            " &middot; <b>y_c(x′)</b> {y0:+.4} (reference) &middot; <b>y_c(x) − y_c(x′)</b> {:+.4}",
            y - y0
        );
    }
    if let crate::attr::Delta::Scalar(d) = e.convergence_delta {
        let what = if e.method == "attnlrp" {
            "Σ relevance − y_c (biases and the softmax rule absorb the rest)"
        } else {
            "convergence delta"
        };
        let _ = write!(checks, " &middot; <b>{what}</b> {d:+.3e}");
    }
    checks.push_str("</p>");
    for w in &e.warnings {
        let _ = write!(checks, "<p class=\"warn\">⚠ {}</p>", escape(w));
    }
    if let Some(n) = e.input.truncated_from {
        let _ = write!(
            checks,
            "<p class=\"warn\">The input was truncated from {n} to {} tokens (the model's maximum).</p>",
            e.tokens.len()
        );
    }
    format!(
        "<table class=\"probs\"><tr><th>class</th><th>p</th><th>logit</th></tr>{rows}</table>{checks}"
    )
}

fn params_table(e: &Explanation) -> String {
    let mut s = String::from("<h2>Parameters</h2><table class=\"params\">");
    if let Some(obj) = e.params.as_object() {
        for (k, v) in obj {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            let _ = write!(s, "<tr><td>{}</td><td>{}</td></tr>", escape(k), escape(&v));
        }
    }
    let _ = write!(
        s,
        "<tr><td>calig</td><td>{} ({}, {})</td></tr></table>",
        escape(&e.calig_version),
        escape(&e.dtype),
        escape(&e.device)
    );
    s
}

pub fn render(e: &Explanation) -> String {
    let signed = super::is_signed(&e.method);
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{} explanation</h1><p><b>model</b> {} &middot; <b>target</b> {} (p = {:.4}) &middot; <b>predicted</b> {} (p = {:.4})</p>",
        escape(&e.method),
        escape(&e.model),
        escape(&e.target.label),
        e.probs[e.target.index],
        escape(&e.predicted.label),
        e.probs[e.predicted.index]
    );
    body.push_str(&summary(e));
    let meaning = if signed {
        "Orange supports the target class, purple opposes it."
    } else {
        "This method's scores are unsigned: darker means more relevant, not for or against."
    };
    if e.input.kind == "image" {
        body.push_str(&image_section(e, signed));
    } else {
        let words = super::display_units(e);
        let special = super::special_tokens(e);
        // Words and sub-tokens share one scale: the largest |score| of a real sub-token or word.
        let max =
            scale(&e.scores, &special).max(max_abs(&words.iter().map(|w| w.1).collect::<Vec<_>>()));
        body.push_str(&colour_bar(
            max,
            signed,
            "one scale for words and sub-tokens",
        ));
        let _ = write!(
            body,
            "<h2>Words</h2><p class=\"text\">{}</p>",
            token_spans(&words, &[], max, signed)
        );
        let toks: Vec<(String, f64)> = e
            .tokens
            .iter()
            .cloned()
            .zip(e.scores.iter().copied())
            .collect();
        let _ = write!(
            body,
            "<h2>Sub-tokens</h2><p class=\"text\">{}</p>",
            token_spans(&toks, &special, max, signed)
        );
    }
    if let Some(layers) = &e.layers {
        body.push_str(&layer_table(e, layers, signed));
    }
    let _ = write!(
        body,
        "<p class=\"note\">{meaning} Exact scores on hover.</p>{}",
        params_table(e)
    );
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>calig: {}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#111}}\
         .tok{{padding:2px 3px;border-radius:3px;line-height:2}} .text{{font-size:1.1em}}\
         .special{{outline:1px dashed #888;color:#666}} .sp{{outline:1px dashed #bbb}}\
         .note{{color:#555;font-size:.9em}} .warn{{color:#8a4b00;font-weight:600}} .scroll{{overflow-x:auto}}\
         .bar{{display:flex;align-items:center;gap:8px;margin:.5em 0}} .ramp{{display:inline-block;width:220px;height:14px;border:1px solid #ccc}}\
         table.layers{{border-collapse:collapse}} table.layers td{{width:18px;height:18px;border:1px solid #eee}}\
         table.probs td,table.probs th,table.params td{{padding:2px 10px;text-align:left}}\
         th.rot{{writing-mode:vertical-rl;font-weight:normal;font-size:.8em}}\
         .pair{{display:flex;gap:16px}} .faded{{opacity:.35;filter:grayscale(1)}}\
         .imgwrap{{position:relative;width:336px;height:336px}} .imgwrap img{{width:100%;height:100%;image-rendering:pixelated}}\
         .grid{{position:absolute;inset:0;display:grid}}</style></head><body>{}</body></html>\n",
        escape(&e.method),
        body
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
