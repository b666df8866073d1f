//! The layers × tokens relevance-flow view, compact enough for 512 tokens: the tokens wrap in
//! chunks of [`CHUNK`] columns, each chunk a grid with one 12-pixel row per layer under the
//! rotated token labels; every cell has its exact score on hover. Images get a grid of small
//! maps, one per layer, over the image instead.

use super::{colour_bar, escape, image};
use crate::explain::Explanation;
use crate::render::palette::css;
use crate::render::scale::Placed;
use crate::render::Options;
use std::fmt::Write;

/// Tokens per wrapped chunk.
pub const CHUNK: usize = 64;

/// A layer view of `e`; the first view of an explanation starts unfolded.
pub(super) fn flow_html(e: &Explanation, p: Placed, first: bool, opts: &Options) -> String {
    let f = p.flow;
    let mut s = format!(
        "<details{}><summary><b>{}</b> &mdash; {}</summary>{}",
        if first { " open" } else { "" },
        escape(&e.method),
        escape(&f.title),
        colour_bar(
            p.bar_max(),
            f.signed,
            &format!(
                "{}; {}",
                p.scale().flow_legend(),
                if e.input.is_image() {
                    "[CLS] outside it (its score on hover)"
                } else {
                    "special tokens outlined, outside it"
                }
            )
        )
    );
    if e.input.is_image() {
        s.push_str(&image::layer_grid(e, p, opts));
    } else {
        s.push_str(&token_grid(p));
    }
    s.push_str("</details>");
    s
}

fn token_grid(p: Placed) -> String {
    let f = p.flow;
    let n = f.labels.len();
    let mut s = String::new();
    for start in (0..n).step_by(CHUNK) {
        let end = (start + CHUNK).min(n);
        if n > CHUNK {
            let _ = write!(s, "<div class=\"chunk\">tokens {start}–{}</div>", end - 1);
        }
        let _ = write!(
            s,
            "<div class=\"flow\" style=\"grid-template-columns:3.5em repeat({},13px)\"><b></b>",
            end - start
        );
        for i in start..end {
            let class = if f.special[i] { " class=\"sp\"" } else { "" };
            let _ = write!(
                s,
                "<u{class} title=\"#{i} {}\">{}</u>",
                escape(&f.labels[i]),
                escape(&f.labels[i])
            );
        }
        for (l, row) in &f.rows {
            let max = p.row_max(row);
            let _ = write!(s, "<b title=\"layer {l}: scale ±{max:.4}\">L{l}</b>");
            for (i, &x) in row.iter().enumerate().take(end).skip(start) {
                let label = escape(&f.labels[i]);
                if f.special[i] {
                    let _ = write!(
                        s,
                        "<i class=\"sp\" title=\"L{l} #{i} {label}: {x:+.4} (special token)\"></i>"
                    );
                } else {
                    let _ = write!(
                        s,
                        "<i style=\"background:{}\" title=\"L{l} #{i} {label}: {x:+.4}\"></i>",
                        css(x, max, f.signed)
                    );
                }
            }
        }
        s.push_str("</div>");
    }
    s
}
