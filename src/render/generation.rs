//! Reports of a [`Generation`]: the tokens × continuation matrix as terminal text and as an
//! HTML table, one column per continuation token, its cells coloured on one scale.

use super::html::escape;
use super::palette::css_cell;
use crate::continuation::Generation;
use std::fmt::Write;

/// Largest |score| of the matrix (1 when it is all zero).
fn matrix_max(g: &Generation) -> f64 {
    let m = g
        .steps
        .iter()
        .flat_map(|s| s.scores.iter())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    if m > 0.0 {
        m
    } else {
        1.0
    }
}

/// The rows shown: every token that can explain some continuation token (all but the last).
fn source_rows(g: &Generation) -> usize {
    g.tokens.len().saturating_sub(1)
}

fn header(g: &Generation) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "model     {}", g.model);
    let _ = writeln!(s, "method    {}", g.method);
    let _ = writeln!(s, "prompt    {:?}", g.prompt);
    let _ = writeln!(s, "continued {:?}", g.continuation);
    s
}

/// Terminal text: each continuation token with its log-probability and strongest sources, then
/// the matrix (rows: the tokens it is attributed to; columns: the continuation's tokens; `·`
/// where the causal mask hides a token from a column).
pub fn text(g: &Generation, top: usize) -> String {
    let mut s = header(g);
    let _ = writeln!(
        s,
        "\nper continuation token (log p, the {top} strongest sources by |score|):"
    );
    for step in &g.steps {
        let mut idx: Vec<usize> = (0..step.position).collect();
        idx.sort_by(|&a, &b| step.scores[b].abs().total_cmp(&step.scores[a].abs()));
        let top: Vec<String> = idx
            .iter()
            .take(top)
            .map(|&i| format!("{} {:+.3}", g.tokens[i], step.scores[i]))
            .collect();
        let base = step
            .baseline_log_prob
            .map_or(String::new(), |b| format!(" (reference {b:+.3})"));
        let _ = writeln!(
            s,
            "  {:>3} {:<12} log p {:+.3}{base}: {}",
            step.position,
            step.token,
            step.log_prob,
            top.join(", ")
        );
    }
    let width = 9;
    let _ = write!(s, "\n{:<14}", "");
    for step in &g.steps {
        let t: String = step.token.chars().take(width - 1).collect();
        let _ = write!(s, "{t:>width$}");
    }
    s.push('\n');
    for row in 0..source_rows(g) {
        let t: String = g.tokens[row].chars().take(12).collect();
        let mark = if row < g.prompt_tokens { ' ' } else { '>' };
        let _ = write!(s, "{mark}{t:<13}");
        for step in &g.steps {
            if row < step.position {
                let _ = write!(s, "{:>width$.3}", step.scores[row]);
            } else {
                let _ = write!(s, "{:>width$}", "·");
            }
        }
        s.push('\n');
    }
    let _ = writeln!(s, "(> marks continuation tokens)");
    for w in &g.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}

/// One self-contained HTML page with the matrix as a table.
pub fn html(g: &Generation) -> String {
    let max = matrix_max(g);
    let mut s = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>calig: generation</title><style>\
         body{font-family:system-ui,sans-serif;margin:2em}\
         table{border-collapse:collapse;font-size:14px}\
         td,th{padding:3px 7px;text-align:right;border:1px solid #eee}\
         th{font-weight:600;background:#fafafa}td.tok{text-align:left}\
         td.hidden{color:#bbb;text-align:center}tr.cont td.tok{font-style:italic}\
         </style></head><body>\n",
    );
    let _ = writeln!(
        s,
        "<h1>{} on {}</h1><p>prompt: <b>{}</b><br>continuation: <b>{}</b></p>",
        escape(&g.method),
        escape(&g.model),
        escape(&g.prompt),
        escape(&g.continuation)
    );
    let _ = writeln!(
        s,
        "<p>Column j: the scores of log p(token j | the tokens before it); rows: the tokens \
         it is attributed to (continuation tokens in italics; · where the causal mask hides \
         a token). One colour scale, ±{max:.4}.</p><table><tr><th>token</th>"
    );
    for step in &g.steps {
        let _ = write!(
            s,
            "<th title=\"log p {:+.4}\">{}</th>",
            step.log_prob,
            escape(&step.token)
        );
    }
    s.push_str("</tr>\n<tr><th>log p</th>");
    for step in &g.steps {
        let _ = write!(s, "<th>{:+.3}</th>", step.log_prob);
    }
    s.push_str("</tr>\n");
    for row in 0..source_rows(g) {
        let class = if row < g.prompt_tokens {
            ""
        } else {
            " class=\"cont\""
        };
        let _ = write!(
            s,
            "<tr{class}><td class=\"tok\">{}</td>",
            escape(&g.tokens[row])
        );
        for step in &g.steps {
            if row < step.position {
                let v = step.scores[row];
                let _ = write!(
                    s,
                    "<td style=\"{}\">{v:+.3}</td>",
                    css_cell(v, max, g.signed)
                );
            } else {
                s.push_str("<td class=\"hidden\">·</td>");
            }
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    for w in &g.warnings {
        let _ = writeln!(s, "<p>warning: {}</p>", escape(w));
    }
    s.push_str("</body></html>\n");
    s
}
