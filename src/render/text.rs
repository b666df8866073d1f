//! Plain-text rendering: a header, then tokens with signed scores, coloured on a terminal
//! (green supports the target class, red opposes it).

use super::max_abs;
use crate::explain::Explanation;
use std::fmt::Write;

fn colour(score: f64, max: f64, text: &str, ansi: bool) -> String {
    if !ansi {
        return text.to_string();
    }
    // The HTML report's colour-blind-safe ends (orange for, purple against), blended with white.
    let t = (score.abs() / max).clamp(0.0, 1.0) * 0.8;
    let (er, eg, eb) = if score >= 0.0 {
        (230.0, 97.0, 1.0)
    } else {
        (94.0, 60.0, 153.0)
    };
    let mix = |end: f64| (255.0 + (end - 255.0) * t) as u8;
    let (r, g, b) = (mix(er), mix(eg), mix(eb));
    format!("\x1b[48;2;{r};{g};{b}m\x1b[38;2;0;0;0m{text}\x1b[0m")
}

pub fn render(e: &Explanation, ansi: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "model     {}", e.model);
    let _ = writeln!(s, "method    {}", e.method);
    let _ = writeln!(
        s,
        "target    {} (index {}, p = {:.4}); predicted {} (p = {:.4})",
        e.target.label,
        e.target.index,
        e.probs[e.target.index],
        e.predicted.label,
        e.probs[e.predicted.index]
    );
    let y = e.logits[e.target.index];
    let _ = match e.baseline_logit {
        Some(y0) => writeln!(
            s,
            "logits    y_c(x) = {y:+.4}, y_c(x') = {y0:+.4} (reference), difference {:+.4}; sum of scores {:+.4}",
            y - y0,
            e.sum_of_scores
        ),
        None => writeln!(s, "logits    y_c(x) = {y:+.4}; sum of scores {:+.4}", e.sum_of_scores),
    };
    match &e.convergence_delta {
        crate::attr::Delta::Scalar(d) => {
            let _ = writeln!(
                s,
                "delta     {d:+.3e} (sum of attributions minus {})",
                if e.method == "attnlrp" {
                    "the target logit"
                } else {
                    "logit difference"
                }
            );
        }
        crate::attr::Delta::PerLayer(v) => {
            let worst = v.iter().flatten().fold(0.0f64, |m, d| m.max(d.abs()));
            let _ = writeln!(s, "delta     max |delta| over layers {worst:.3e}");
        }
        crate::attr::Delta::None => {}
    }
    let units = super::display_units(e);
    let max = max_abs(&units.iter().map(|u| u.1).collect::<Vec<_>>());
    let _ = writeln!(s);
    let line: Vec<String> = units
        .iter()
        .map(|(t, v)| colour(*v, max, t, ansi))
        .collect();
    if ansi {
        let _ = writeln!(s, "{}\n", line.join(" "));
    }
    let width = units
        .iter()
        .map(|u| u.0.chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 24);
    // Unsigned methods (relevance, not evidence for or against) get a neutral bar.
    let signed = super::is_signed(&e.method);
    for (t, v) in &units {
        let bar_len = ((v.abs() / max) * 20.0).round() as usize;
        let bar = if !signed {
            "#".repeat(bar_len)
        } else if *v >= 0.0 {
            "+".repeat(bar_len)
        } else {
            "-".repeat(bar_len)
        };
        let label: String = t.chars().take(24).collect();
        let number = if signed {
            format!("{v:>+10.4}")
        } else {
            format!("{v:>10.4}")
        };
        let _ = writeln!(
            s,
            "{}  {number}  {}",
            colour(*v, max, &format!("{label:<width$}"), ansi),
            bar
        );
    }
    if let Some(layers) = &e.layers {
        let _ = writeln!(s, "\nper layer (top 3 tokens by |score|):");
        for (l, v) in layers.iter().enumerate() {
            let Some(v) = v else { continue };
            let mut idx: Vec<usize> = (0..v.len()).collect();
            idx.sort_by(|&a, &b| v[b].abs().total_cmp(&v[a].abs()));
            let top: Vec<String> = idx
                .iter()
                .take(3)
                .map(|&i| format!("{} {:+.3}", e.tokens[i], v[i]))
                .collect();
            let _ = writeln!(s, "  layer {l:>2}: {}", top.join(", "));
        }
    }
    s
}
