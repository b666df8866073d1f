//! Self-contained HTML reports (no scripts, fonts or network): the prediction and the numbers
//! that check an attribution, the heat map of each method (text with its spacing, or the map
//! over the image) with a colour bar whose legend states the scale, the layer views, and the
//! parameters. Several methods on one input sit side by side; a batch gets one page with an
//! index. Every text is escaped.

mod flow;
mod image;
mod text;

use super::flow::{flows, Flow};
use super::palette::{AGAINST, FOR, UNSIGNED};
use super::saved::Item;
use super::scale::{legend_number, Maxima, Scale};
use super::Options;
use crate::explain::Explanation;
use std::fmt::Write;

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A colour bar with its numeric ends (`None`: each row's own maximum) and what the scale is.
fn colour_bar(max: Option<f64>, signed: bool, what: &str) -> String {
    let c = |[r, g, b]: [u8; 3]| format!("rgb({r},{g},{b})");
    let (low, high) = match (max, signed) {
        (Some(m), true) => (
            format!("{} (against)", legend_number(-m, true)),
            format!("{} (for)", legend_number(m, true)),
        ),
        (Some(m), false) => ("0".into(), legend_number(m, false)),
        (None, true) => ("−row max (against)".into(), "+row max (for)".into()),
        (None, false) => ("0".into(), "row max".into()),
    };
    let gradient = if signed {
        format!("linear-gradient(to right,{},#fff,{})", c(AGAINST), c(FOR))
    } else {
        format!("linear-gradient(to right,#fff,{})", c(UNSIGNED))
    };
    format!(
        "<div class=\"bar\"><span>{low}</span><span class=\"ramp\" style=\"background:{gradient}\"></span><span>{high}</span><span class=\"note\">{}</span></div>",
        escape(what)
    )
}

fn meaning(signed: bool) -> &'static str {
    if signed {
        "Orange supports the target class, purple opposes it."
    } else {
        "This method's scores are unsigned: darker means more relevant, not for or against."
    }
}

/// The input and the prediction (shared by every method on this input).
fn input_section(e: &Explanation) -> String {
    let mut rows = String::new();
    for (i, (l, p)) in e.logits.iter().zip(&e.probs).enumerate() {
        let mark = if i == e.target.index { " (target)" } else { "" };
        let _ = write!(
            rows,
            "<tr><td>{}{mark}</td><td>{p:.4}</td><td>{l:+.4}</td></tr>",
            escape(e.labels.get(i).map_or("?", String::as_str))
        );
    }
    let mut s = format!(
        "<p><b>model</b> {} &middot; <b>target</b> {} (p = {:.4}) &middot; <b>predicted</b> {} (p = {:.4})</p>\
         <table class=\"probs\"><tr><th>class</th><th>p</th><th>logit</th></tr>{rows}</table>",
        escape(&e.model),
        escape(&super::target_label(e)),
        e.probs[e.target.index],
        escape(&e.predicted.label),
        e.probs[e.predicted.index]
    );
    if let Some(n) = super::document::truncation_note(e) {
        let _ = write!(s, "<p class=\"warn\">✂ {}</p>", escape(&n));
    }
    if let Some(n) = e.input.resize_note() {
        let _ = write!(s, "<p class=\"note\">{}.</p>", escape(&n));
    }
    s
}

/// y_c(x), Σ scores, y_c(x′), the convergence delta, what Σ scores means for the method, and
/// the warnings of one explanation.
fn checks(e: &Explanation) -> String {
    let items: Vec<String> = super::checks::checks(e)
        .iter()
        .map(|c| format!("<b>{}</b> {}", escape(c.label), c.value))
        .collect();
    let mut s = format!(
        "<p class=\"checks\">{}<br><span class=\"note\">{}</span></p>",
        items.join(" &middot; "),
        escape(super::checks::sum_meaning(e))
    );
    for w in &e.warnings {
        let _ = write!(s, "<p class=\"warn\">⚠ {}</p>", escape(w));
    }
    s
}

fn params_table(e: &Explanation) -> String {
    let mut s = format!(
        "<table class=\"params\"><tr><th colspan=\"2\">{}</th></tr>",
        escape(&e.method)
    );
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

/// The headline map of one explanation on the scale ±`max`: checks, colour bar, the text or the
/// image overlay.
fn method_panel(e: &Explanation, max: f64, scale: Scale, opts: &Options) -> String {
    let signed = e.signed;
    let mut s = format!("<section class=\"method\"><h3>{}</h3>", escape(&e.method));
    s.push_str(&checks(e));
    s.push_str(&colour_bar(
        Some(max),
        signed,
        &scale.headline_legend(e.input.is_text()),
    ));
    if e.input.is_image() {
        s.push_str(&image::overlay_html(e, max, signed, opts));
    } else {
        s.push_str(&text::document_html(e, max, signed));
    }
    let _ = write!(
        s,
        "<p class=\"note\">{} Exact scores on hover.</p></section>",
        meaning(signed)
    );
    s
}

/// Everything about one input: the prediction, each method's map side by side, the layer
/// views, the parameters. These are explanations `at..at + es.len()` of the report's `maxima`.
fn input_body(
    es: &[&Explanation],
    fl: &[Vec<Flow>],
    maxima: &Maxima,
    at: usize,
    opts: &Options,
) -> String {
    // An image sits beside the prediction table.
    let mut s = if es[0].input.is_image() {
        format!(
            "<div class=\"pair\"><div>{}</div>{}</div>",
            input_section(es[0]),
            image::input_html(es[0], opts)
        )
    } else {
        input_section(es[0])
    };
    s.push_str("<div class=\"methods\">");
    for (k, e) in es.iter().enumerate() {
        s.push_str(&method_panel(
            e,
            maxima.headline[at + k],
            maxima.scale,
            opts,
        ));
    }
    s.push_str("</div>");
    for (k, (e, fs)) in es.iter().zip(fl).enumerate() {
        for (v, f) in fs.iter().enumerate() {
            s.push_str(&flow::flow_html(
                e,
                maxima.place(f, at + k, v),
                v == 0,
                opts,
            ));
        }
    }
    s.push_str("<h2>Parameters</h2><div class=\"paramrow\">");
    for e in es {
        s.push_str(&params_table(e));
    }
    s.push_str("</div>");
    s
}

/// One report for one input explained by one or more methods (`--method a,b,c`).
pub fn render(es: &[Explanation], opts: &Options) -> String {
    let refs: Vec<&Explanation> = es.iter().collect();
    let fl: Vec<Vec<Flow>> = es.iter().map(flows).collect();
    let maxima = Maxima::new(&refs, &fl, opts.scale);
    let methods: Vec<&str> = es.iter().map(|e| e.method.as_str()).collect();
    let title = format!("{} explanation", methods.join(", "));
    let body = format!(
        "<h1>{}</h1>{}",
        escape(&title),
        input_body(&refs, &fl, &maxima, 0, opts)
    );
    page(&title, &body)
}

/// One page for many inputs (the JSON lines of `calig batch`): an index, then each input.
pub fn render_batch(items: &[Item], opts: &Options) -> String {
    let refs: Vec<&Explanation> = items.iter().map(|i| &i.explanation).collect();
    let fl: Vec<Vec<Flow>> = refs.iter().map(|e| flows(e)).collect();
    let maxima = Maxima::new(&refs, &fl, opts.scale);
    let mut index = String::from(
        "<table class=\"index\"><tr><th>line</th><th>id</th><th>input</th><th>predicted</th><th>target</th><th>p(target)</th></tr>",
    );
    let mut sections = String::new();
    for (i, it) in items.iter().enumerate() {
        let e = &it.explanation;
        let line = it
            .line
            .map_or_else(|| (i + 1).to_string(), |l| l.to_string());
        let id = it.id.clone().unwrap_or_else(|| line.clone());
        let input = match (&e.input.text, &e.input.path) {
            (Some(t), _) => t.chars().take(80).collect::<String>(),
            (None, Some(p)) => p.display().to_string(),
            _ => String::new(),
        };
        let _ = write!(
            index,
            "<tr><td><a href=\"#item-{i}\">{line}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td></tr>",
            escape(&id),
            escape(&input),
            escape(&e.predicted.label),
            escape(&e.target.label),
            e.probs[e.target.index]
        );
        let _ = write!(
            sections,
            "<section class=\"item\" id=\"item-{i}\"><h2>line {line} &middot; id {}</h2>{}</section>",
            escape(&id),
            input_body(&[e], &fl[i..=i], &maxima, i, opts)
        );
    }
    index.push_str("</table>");
    let methods: std::collections::BTreeSet<&str> =
        refs.iter().map(|e| e.method.as_str()).collect();
    let title = format!(
        "{} explanations ({})",
        items.len(),
        methods.into_iter().collect::<Vec<_>>().join(", ")
    );
    page(
        &title,
        &format!("<h1>{}</h1>{index}{sections}", escape(&title)),
    )
}

/// The report's style rules (flat: selectors and declarations, no at-rules).
const STYLE: &str = "\
    .tok{padding:2px 3px;border-radius:3px;line-height:2} .doc{font-size:1.05em;white-space:pre-wrap;line-height:2}\
    .special{outline:1px dashed #888;color:#666} .cut{color:#999} .cutmark{color:#8a4b00;font-weight:600} .sep{color:#666;font-family:monospace;font-size:.85em;border:1px solid #bbb;border-radius:3px;padding:0 3px}\
    .note{color:#555;font-size:.9em} .warn{color:#8a4b00;font-weight:600} .checks{font-size:.95em}\
    .bar{display:flex;align-items:center;gap:8px;margin:.5em 0;flex-wrap:wrap} .ramp{display:inline-block;width:220px;height:14px;border:1px solid #ccc}\
    .methods{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px}\
    .method{border:1px solid #ddd;border-radius:6px;padding:0 12px} .method h3{margin:.6em 0 .2em}\
    table.probs td,table.probs th,table.params td,table.params th,table.index td,table.index th{padding:2px 10px;text-align:left}\
    .paramrow{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start} .item{border-top:2px solid #ccc;margin-top:2em}\
    .flow{display:grid;gap:1px;margin:.4em 0 1em;font-size:11px} .flow i{display:block;height:12px;background:#fff}\
    .flow i.sp{outline:1px dashed #999;background:#eee} .flow b{font-weight:normal;color:#555;padding-right:4px;text-align:right}\
    .flow u{text-decoration:none;writing-mode:vertical-rl;transform:rotate(180deg);max-height:7em;overflow:hidden;white-space:nowrap;color:#333}\
    .flow u.sp{color:#999} .chunk{color:#555;font-size:.85em;margin-top:.6em}\
    .pair{display:flex;gap:16px;flex-wrap:wrap} .imgwrap{position:relative;width:280px;height:280px}\
    .imgwrap img{width:100%;height:100%} .grid{position:absolute;inset:0;display:grid}\
    .layergrid{display:flex;flex-wrap:wrap;gap:10px} .layergrid figure{margin:0;text-align:center;font-size:.8em}\
    .layergrid img{width:112px;height:112px;display:block}";

/// The class a fragment's styles are scoped under (see [`fragment`]).
pub const FRAGMENT_CLASS: &str = "calig-report-v1";

/// [`STYLE`] with every selector scoped under `.scope`.
fn scoped_style(scope: &str) -> String {
    STYLE
        .split('}')
        .filter_map(|rule| rule.split_once('{'))
        .map(|(selectors, declarations)| {
            let scoped: Vec<String> = selectors
                .split(',')
                .map(|sel| format!(".{scope} {}", sel.trim()))
                .collect();
            format!("{}{{{declarations}}}", scoped.join(","))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>calig: {}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#111}}\
         {STYLE}</style></head><body>{}</body></html>\n",
        escape(title),
        body
    )
}

/// One explanation report as an HTML fragment to place inside another page (a notebook cell):
/// one `<div>` of class [`FRAGMENT_CLASS`] that holds its own `<style>`, every rule scoped under
/// that class, so that it neither restyles the page nor is restyled by the page's own classes.
pub fn fragment(es: &[Explanation], opts: &Options) -> String {
    let refs: Vec<&Explanation> = es.iter().collect();
    let fl: Vec<Vec<Flow>> = es.iter().map(flows).collect();
    let maxima = Maxima::new(&refs, &fl, opts.scale);
    format!(
        "<div class=\"{FRAGMENT_CLASS}\"><style>.{FRAGMENT_CLASS}{{font-family:system-ui,sans-serif;color:#111}}\n{}</style>{}</div>\n",
        scoped_style(FRAGMENT_CLASS),
        input_body(&refs, &fl, &maxima, 0, opts)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;

    #[test]
    fn a_fragment_scopes_every_rule_under_its_class_and_has_no_page_rules() {
        let f = fragment(&[sample::text()], &Options::default());
        assert!(f.starts_with(&format!("<div class=\"{FRAGMENT_CLASS}\"><style>")));
        assert!(!f.contains("<!DOCTYPE") && !f.contains("<body") && !f.contains("body{"));
        let style = &f[f.find("<style>").unwrap() + 7..f.find("</style>").unwrap()];
        for rule in style.split('}').filter(|r| !r.trim().is_empty()) {
            let selectors = rule.split('{').next().unwrap();
            for sel in selectors.split(',') {
                assert!(
                    sel.trim().starts_with(&format!(".{FRAGMENT_CLASS}")),
                    "unscoped selector `{sel}`"
                );
            }
        }
        assert!(style.contains(&format!(".{FRAGMENT_CLASS} .item{{")));
        assert!(f.contains("<h2>") || f.contains("class=\"method\""));
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn one_page_states_its_scale_and_holds_every_method() {
        let mut weak = sample::text();
        weak.method = "lig".into();
        weak.scores.iter_mut().for_each(|s| *s /= 10.0);
        weak.word_scores.iter_mut().for_each(|s| *s /= 10.0);
        // Both in logit units, so that `shared` puts them on one scale.
        let mut strong = sample::text();
        strong.method = "ig".into();
        let es = [strong, weak];
        let report = render(&es, &Options::default());
        assert!(report.contains("<h3>ig</h3>") && report.contains("<h3>lig</h3>"));
        assert!(report.contains("--scale report"));
        // Own scales: both maps reach full strength; shared: the weak one does not.
        assert!(report.contains("+0.900 (for)") && report.contains("+0.0900 (for)"));
        let shared = render(
            &es,
            &Options {
                scale: Scale::Shared,
                ..Options::default()
            },
        );
        assert!(shared.contains("--scale shared"));
        assert!(!shared.contains("+0.0900 (for)"), "one shared maximum");
        let layer = render(
            &es,
            &Options {
                scale: Scale::Layer,
                ..Options::default()
            },
        );
        assert!(layer.contains("--scale layer") && layer.contains("row max"));
    }

    #[test]
    fn a_batch_page_has_an_index_and_a_section_per_row() {
        let items: Vec<Item> = (0..3)
            .map(|i| Item {
                line: Some(i + 1),
                id: Some(format!("r<{i}>")),
                explanation: sample::text(),
            })
            .collect();
        let page = render_batch(&items, &Options::default());
        assert_eq!(page.matches("<section class=\"item\"").count(), 3);
        assert!(page.contains("href=\"#item-2\"") && page.contains("r&lt;1&gt;"));
    }
}
