//! A text's heat map as the document itself: words at their offsets with the original spacing
//! and paragraphs (CSS `white-space: pre-wrap`), the truncated rest greyed, and the sub-tokens
//! (special tokens outlined, outside the scale) below.

use super::escape;
use crate::explain::Explanation;
use crate::render::document::{pieces, Piece};
use crate::render::palette::css_cell;
use std::fmt::Write;

/// Sub-token strips longer than this start folded.
const OPEN_TOKENS: usize = 80;

pub(super) fn document_html(e: &Explanation, max: f64, signed: bool) -> String {
    let mut s = String::from("<div class=\"doc\">");
    for p in pieces(e) {
        match p {
            Piece::Gap(g) => s.push_str(&escape(&g)),
            Piece::Word(i, text) => {
                let v = e.word_scores[i];
                let (a, b) = e.words[i].token_range;
                let _ = write!(
                    s,
                    "<span class=\"tok\" style=\"{}\" title=\"{v:+.4} (tokens {a}..{b})\">{}</span>",
                    css_cell(v, max, signed),
                    escape(&text)
                );
            }
            Piece::Cut(rest) => {
                let _ = write!(
                    s,
                    "<span class=\"cutmark\">✂ truncated here: the model saw {} tokens</span> <span class=\"cut\">{}</span>",
                    e.tokens.len(),
                    escape(&rest)
                );
            }
            Piece::Separator(sep) => {
                let _ = write!(
                    s,
                    " <span class=\"sep\" title=\"the second text of the pair starts here\">{}</span> ",
                    escape(&sep)
                );
            }
        }
    }
    s.push_str("</div>");
    let special = crate::render::special_tokens(e);
    let spans: Vec<String> = e
        .tokens
        .iter()
        .zip(&e.scores)
        .zip(&special)
        .enumerate()
        .map(|(i, ((t, v), sp))| {
            if *sp {
                format!(
                    "<span class=\"tok special\" title=\"#{i}: {v:+.4} (special token, outside the colour scale)\">{}</span>",
                    escape(t)
                )
            } else {
                format!(
                    "<span class=\"tok\" style=\"{}\" title=\"#{i}: {v:+.4}\">{}</span>",
                    css_cell(*v, max, signed),
                    escape(t)
                )
            }
        })
        .collect();
    let _ = write!(
        s,
        "<details{}><summary>Sub-tokens ({}; special tokens outlined, outside the scale)</summary><p>{}</p></details>",
        if e.tokens.len() <= OPEN_TOKENS { " open" } else { "" },
        e.tokens.len(),
        spans.join(" ")
    );
    s
}
