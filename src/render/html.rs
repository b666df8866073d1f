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

fn rgba(score: f64, max: f64) -> String {
    let t = (score.abs() / max).clamp(0.0, 1.0);
    if score >= 0.0 {
        format!("rgba(22,163,74,{t:.3})")
    } else {
        format!("rgba(220,38,38,{t:.3})")
    }
}

fn token_spans(units: &[(String, f64)]) -> String {
    let max = max_abs(&units.iter().map(|u| u.1).collect::<Vec<_>>());
    units
        .iter()
        .map(|(t, v)| {
            format!(
                "<span class=\"tok\" style=\"background:{}\" title=\"{:+.4}\">{}</span>",
                rgba(*v, max),
                v,
                escape(t)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn layer_table(e: &Explanation, layers: &[Option<Vec<f64>>]) -> String {
    let mut s = String::from("<h2>Per-layer relevance</h2><div class=\"scroll\"><table class=\"layers\"><tr><th>layer</th>");
    for t in &e.tokens {
        let _ = write!(s, "<th class=\"rot\">{}</th>", escape(t));
    }
    s.push_str("</tr>");
    for (l, v) in layers.iter().enumerate() {
        let Some(v) = v else { continue };
        let max = max_abs(v);
        let _ = write!(s, "<tr><td>{l}</td>");
        for x in v {
            let _ = write!(
                s,
                "<td style=\"background:{}\" title=\"{:+.4}\"></td>",
                rgba(*x, max),
                x
            );
        }
        s.push_str("</tr>");
    }
    s.push_str(
        "</table></div><p class=\"note\">Each row is scaled to its own largest |score|.</p>",
    );
    s
}

fn image_section(e: &Explanation) -> String {
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
            rgba(*v, max),
            v
        );
    }
    // The input alone, then the patch scores over a faded copy of it.
    format!(
        "<div class=\"pair\"><div class=\"imgwrap\"><img src=\"data:image;base64,{img}\" alt=\"input\"></div>\
         <div class=\"imgwrap\"><img class=\"faded\" src=\"data:image;base64,{img}\" alt=\"input, faded\"><div class=\"grid\" \
         style=\"grid-template-columns:repeat({gw},1fr);grid-template-rows:repeat({gh},1fr)\">{cells}</div></div></div>"
    )
}

pub fn render(e: &Explanation) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{} explanation</h1><p><b>model</b> {} &middot; <b>target</b> {} (p = {:.4}) &middot; <b>predicted</b> {} (p = {:.4})</p>",
        escape(e.method),
        escape(&e.model),
        escape(&e.target.label),
        e.probs[e.target.index],
        escape(&e.predicted.label),
        e.probs[e.predicted.index]
    );
    if e.input.kind == "image" {
        body.push_str(&image_section(e));
    } else {
        let _ = write!(
            body,
            "<h2>Words</h2><p class=\"text\">{}</p>",
            token_spans(&super::display_units(e))
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
            token_spans(&toks)
        );
    }
    if let Some(layers) = &e.layers {
        body.push_str(&layer_table(e, layers));
    }
    let _ = write!(
        body,
        "<p class=\"note\">Green supports the target class, red opposes it. Parameters: {}</p>",
        escape(&e.params.to_string())
    );
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>calig: {}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#111}}\
         .tok{{padding:2px 3px;border-radius:3px;line-height:2}} .text{{font-size:1.1em}}\
         .note{{color:#555;font-size:.9em}} .scroll{{overflow-x:auto}}\
         table.layers{{border-collapse:collapse}} table.layers td{{width:18px;height:18px;border:1px solid #eee}}\
         th.rot{{writing-mode:vertical-rl;font-weight:normal;font-size:.8em}}\
         .pair{{display:flex;gap:16px}} .faded{{opacity:.35;filter:grayscale(1)}}\
         .imgwrap{{position:relative;width:336px;height:336px}} .imgwrap img{{width:100%;height:100%;image-rendering:pixelated}}\
         .grid{{position:absolute;inset:0;display:grid}}</style></head><body>{}</body></html>\n",
        escape(e.method),
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
