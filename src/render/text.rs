//! Plain-text rendering for the terminal: a header with the numbers that check the
//! attribution, the document coloured by score and wrapped to the terminal's width (paragraphs
//! kept), then one line per word (or patch) with its score and a bar, and each layer's
//! strongest tokens. Colour is the HTML's palette as backgrounds under black text (readable on
//! dark and light terminals), in 24-bit colour or the nearest of xterm's 256 colours.

use super::document::{pieces, Piece};
use super::palette;
use crate::explain::Explanation;
use std::fmt::Write;

/// `--color`: whether to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColourChoice {
    /// On a terminal, unless `NO_COLOR` is set or `TERM=dumb`.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColourChoice {
    pub const NAMES: [&'static str; 3] = ["auto", "always", "never"];

    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            _ => Err(format!(
                "`{s}` is not a colour choice: use auto, always, never"
            )),
        }
    }
}

/// The colours a terminal gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    None,
    /// xterm's 256-colour palette (when `COLORTERM` does not announce 24-bit colour).
    Ansi256,
    TrueColour,
}

impl Colour {
    /// The colours for `choice` writing to a terminal or not, given `NO_COLOR`, `TERM` and
    /// `COLORTERM` (an empty `NO_COLOR` counts as unset, as no-color.org says).
    pub fn decide(
        choice: ColourChoice,
        to_terminal: bool,
        no_color: Option<&str>,
        term: Option<&str>,
        colorterm: Option<&str>,
    ) -> Self {
        let depth = if matches!(colorterm, Some("truecolor" | "24bit")) {
            Self::TrueColour
        } else {
            Self::Ansi256
        };
        match choice {
            ColourChoice::Never => Self::None,
            ColourChoice::Always => depth,
            ColourChoice::Auto => {
                if !to_terminal || no_color.is_some_and(|v| !v.is_empty()) || term == Some("dumb") {
                    Self::None
                } else {
                    depth
                }
            }
        }
    }
}

/// How the text view is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextOptions {
    pub colour: Colour,
    /// List only the K strongest words (by |score|), strongest first; also K tokens per layer.
    pub top: Option<usize>,
    /// Columns to wrap the document at.
    pub width: usize,
}

impl Default for TextOptions {
    fn default() -> Self {
        Self {
            colour: Colour::None,
            top: None,
            width: 100,
        }
    }
}

/// The nearest xterm-256 colour: the 6 × 6 × 6 cube (16–231) or the grey ramp (232–255).
pub fn xterm256([r, g, b]: [u8; 3]) -> u8 {
    const LEVELS: [i32; 6] = [0, 95, 135, 175, 215, 255];
    let nearest = |v: u8| {
        (0..6)
            .min_by_key(|&i| (LEVELS[i] - v as i32).abs())
            .expect("six levels")
    };
    let (ri, gi, bi) = (nearest(r), nearest(g), nearest(b));
    let cube = [LEVELS[ri], LEVELS[gi], LEVELS[bi]];
    let mean = (r as i32 + g as i32 + b as i32) / 3;
    let gi_ = ((mean - 8).max(0) / 10).min(23);
    let grey = 8 + 10 * gi_;
    let dist = |c: [i32; 3]| {
        (c[0] - r as i32).pow(2) + (c[1] - g as i32).pow(2) + (c[2] - b as i32).pow(2)
    };
    if dist([grey; 3]) < dist(cube) {
        232 + gi_ as u8
    } else {
        16 + 36 * ri as u8 + 6 * gi as u8 + bi as u8
    }
}

/// xterm-256 colours of each palette end in five steps of strength, lightest first (the cube
/// entries nearest the blends at 20 % … 100 %, hand-picked to keep the hue: the nearest colour
/// of a light blend is often a grey, which loses the sign).
fn xterm_steps(end: [u8; 3]) -> [u8; 5] {
    match end {
        palette::FOR => [223, 216, 209, 202, 166],
        palette::AGAINST => [183, 141, 98, 55, 54],
        _ => [153, 117, 75, 33, 25],
    }
}

/// The RGB of an xterm-256 cube entry (16–231).
fn xterm_rgb(index: u8) -> [u8; 3] {
    const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let i = index.saturating_sub(16) as usize;
    [LEVELS[i / 36 % 6], LEVELS[i / 6 % 6], LEVELS[i % 6]]
}

/// A word with its score's background and readable text; a word of score 0 keeps the
/// terminal's own colours (no white block on a dark terminal).
fn paint(score: f64, max: f64, signed: bool, text: &str, colour: Colour) -> String {
    let (end, t) = palette::end_and_strength(score, max, signed);
    if colour == Colour::None || t <= 0.0 {
        return text.to_string();
    }
    match colour {
        Colour::None => text.to_string(),
        Colour::TrueColour => {
            let bg = palette::blend([255; 3], end, t);
            let ([r, g, b], [fr, fg, fb]) = (bg, palette::ink_on(bg));
            format!("\x1b[48;2;{r};{g};{b}m\x1b[38;2;{fr};{fg};{fb}m{text}\x1b[0m")
        }
        Colour::Ansi256 => {
            let step = ((t * 5.0).ceil() as usize).clamp(1, 5) - 1;
            let bg = xterm_steps(end)[step];
            let fg = if palette::ink_on(xterm_rgb(bg)) == palette::LIGHT_INK {
                231
            } else {
                16
            };
            format!("\x1b[48;5;{bg}m\x1b[38;5;{fg}m{text}\x1b[0m")
        }
    }
}

/// The document with coloured words, wrapped at `width` columns; line breaks of the input are
/// kept, runs of spaces become one.
fn running_text(e: &Explanation, max: f64, signed: bool, o: &TextOptions) -> String {
    let mut out = String::new();
    let mut col = 0;
    let mut pending_space = false;
    let put = |out: &mut String, col: &mut usize, shown: String, len: usize, space: bool| {
        if *col > 0 && *col + usize::from(space) + len > o.width {
            out.push('\n');
            *col = 0;
        } else if space && *col > 0 {
            out.push(' ');
            *col += 1;
        }
        out.push_str(&shown);
        *col += len;
    };
    for p in pieces(e) {
        match p {
            Piece::Gap(g) => {
                let breaks = g.matches('\n').count();
                if breaks > 0 {
                    out.push_str(&"\n".repeat(breaks.min(2)));
                    col = 0;
                    pending_space = false;
                } else {
                    pending_space = true;
                }
            }
            Piece::Word(i, text) => {
                let len = text.chars().count();
                let shown = paint(e.word_scores[i], max, signed, &text, o.colour);
                put(&mut out, &mut col, shown, len, pending_space);
                pending_space = false;
            }
            Piece::Cut(rest) => {
                let mark = format!("[truncated here: the model saw {} tokens]", e.tokens.len());
                for w in mark.split_whitespace().chain(rest.split_whitespace()) {
                    put(&mut out, &mut col, w.to_string(), w.chars().count(), true);
                }
            }
            Piece::Separator(sep) => {
                put(&mut out, &mut col, sep.clone(), sep.chars().count(), true);
                pending_space = true;
            }
        }
    }
    out
}

fn header(e: &Explanation) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "model     {}", e.model);
    let _ = writeln!(s, "method    {}", e.method);
    let _ = writeln!(
        s,
        "target    {} (index {}, p = {:.4}); predicted {} (p = {:.4})",
        super::target_label(e),
        e.target.index,
        e.probs[e.target.index],
        e.predicted.label,
        e.probs[e.predicted.index]
    );
    let _ = writeln!(s, "checks    {}", super::checks::line(e, "; "));
    let _ = writeln!(s, "          {}", super::checks::sum_meaning(e));
    if let Some(n) = e.input.truncated_from {
        let _ = writeln!(
            s,
            "note      input truncated from {n} to {} tokens (the model's maximum)",
            e.tokens.len()
        );
    }
    for w in &e.warnings {
        let _ = writeln!(s, "warning   {w}");
    }
    s
}

/// One explanation as text.
pub fn render(e: &Explanation, o: &TextOptions) -> String {
    let mut s = header(e);
    let units = super::display_units(e);
    let max = super::scale::max_kept(&units.iter().map(|u| u.1).collect::<Vec<_>>(), &[]);
    let signed = e.signed;
    let _ = writeln!(s);
    if o.colour != Colour::None && e.input.is_text() {
        let _ = writeln!(s, "{}\n", running_text(e, max, signed, o));
    }
    let mut order: Vec<usize> = (0..units.len()).collect();
    if let Some(k) = o.top {
        order.sort_by(|&a, &b| units[b].1.abs().total_cmp(&units[a].1.abs()));
        order.truncate(k);
        let what = if e.input.is_text() {
            "words"
        } else {
            "patches"
        };
        let _ = writeln!(s, "the {} strongest {what} by |score|:", order.len());
    }
    let width = units
        .iter()
        .map(|u| u.0.chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 24);
    // Unsigned methods (relevance, not evidence for or against) get a neutral bar.
    let starts_second_text = |i: usize| {
        o.top.is_none()
            && e.input.text_pair.is_some()
            && e.words.get(i).is_some_and(|w| w.segment == 1)
            && (i == 0 || e.words[i - 1].segment == 0)
    };
    for &i in &order {
        if starts_second_text(i) {
            let _ = writeln!(s, "-- second text of the pair --");
        }
        let (t, v) = &units[i];
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
            "{}  {number}  {bar}",
            paint(*v, max, signed, &format!("{label:<width$}"), o.colour)
        );
    }
    // Special tokens have no word; their scores (often most of the mass) are listed here.
    let specials: Vec<String> = super::special_tokens(e)
        .iter()
        .zip(e.tokens.iter().zip(&e.scores))
        .filter(|(sp, _)| **sp)
        .map(|(_, (t, v))| format!("{t} {v:+.4}"))
        .collect();
    if !specials.is_empty() {
        let _ = writeln!(
            s,
            "\nspecial tokens (outside the scale): {}",
            specials.join(", ")
        );
    }
    if let Some(layers) = &e.layers {
        let k = o.top.unwrap_or(3);
        let _ = writeln!(s, "\nper layer (top {k} tokens by |score|):");
        let readout = super::flow::readout_columns(e);
        for (l, v) in layers.iter().enumerate() {
            let Some(v) = v else { continue };
            if super::flow::zero_but_specials(v, &readout) {
                let kept: Vec<String> = (0..v.len())
                    .filter(|&i| readout[i] && v[i] != 0.0)
                    .map(|i| format!("{} {:+.3}", e.tokens[i], v[i]))
                    .collect();
                let note = super::flow::head_reads_note(e);
                let _ = writeln!(s, "  layer {l:>2}: {} ({note})", kept.join(", "));
                continue;
            }
            let mut idx: Vec<usize> = (0..v.len()).collect();
            idx.sort_by(|&a, &b| v[b].abs().total_cmp(&v[a].abs()));
            let top: Vec<String> = idx
                .iter()
                .take(k)
                .map(|&i| format!("{} {:+.3}", e.tokens[i], v[i]))
                .collect();
            let _ = writeln!(s, "  layer {l:>2}: {}", top.join(", "));
        }
    }
    s
}

/// Several explanations one after another, each under a rule naming its method (and, for a
/// batch, its line and id).
pub fn render_many<'a>(
    es: impl IntoIterator<Item = (Option<String>, &'a Explanation)>,
    o: &TextOptions,
) -> String {
    let rule = "=".repeat(o.width.clamp(20, 100));
    es.into_iter()
        .map(|(title, e)| match title {
            Some(t) => format!("{rule}\n{t}\n{rule}\n{}", render(e, o)),
            None => render(e, o),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `s` without its ANSI colour sequences (what a terminal shows).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (_, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (false, c) => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;

    #[test]
    fn colour_follows_the_choice_the_terminal_and_the_environment() {
        use ColourChoice::*;
        let d = Colour::decide;
        assert_eq!(d(Auto, true, None, Some("xterm"), None), Colour::Ansi256);
        assert_eq!(
            d(Auto, true, None, Some("xterm"), Some("truecolor")),
            Colour::TrueColour
        );
        assert_eq!(
            d(Auto, false, None, Some("xterm"), None),
            Colour::None,
            "a pipe"
        );
        assert_eq!(
            d(Auto, true, Some("1"), None, None),
            Colour::None,
            "NO_COLOR"
        );
        assert_eq!(
            d(Auto, true, Some(""), None, None),
            Colour::Ansi256,
            "empty NO_COLOR"
        );
        assert_eq!(
            d(Auto, true, None, Some("dumb"), None),
            Colour::None,
            "TERM=dumb"
        );
        assert_eq!(
            d(Always, false, Some("1"), Some("dumb"), Some("24bit")),
            Colour::TrueColour
        );
        assert_eq!(d(Never, true, None, None, Some("truecolor")), Colour::None);
    }

    #[test]
    fn the_sign_survives_256_colours_and_neutral_words_stay_plain() {
        let purple = |i: u8| {
            let [r, g, b] = xterm_rgb(i);
            b > g && r > g
        };
        let orange = |i: u8| {
            let [r, g, b] = xterm_rgb(i);
            r > g && g >= b
        };
        for score in [-1.0, -0.3, -0.01] {
            let s = paint(score, 1.0, true, "quite", Colour::Ansi256);
            let bg: u8 = s[7..].split('m').next().unwrap().parse().unwrap();
            assert!(purple(bg) && bg < 232, "{score}: {bg}");
        }
        for score in [1.0, 0.3, 0.01] {
            let s = paint(score, 1.0, true, "good", Colour::Ansi256);
            let bg: u8 = s[7..].split('m').next().unwrap().parse().unwrap();
            assert!(orange(bg) && bg < 232, "{score}: {bg}");
        }
        // The darkest steps take white text; zero is the terminal's own colours.
        assert!(paint(-1.0, 1.0, true, "x", Colour::Ansi256).contains("\x1b[38;5;231m"));
        assert!(paint(-1.0, 1.0, true, "x", Colour::TrueColour).contains("38;2;255;255;255"));
        assert_eq!(paint(0.0, 1.0, true, "plain", Colour::Ansi256), "plain");
        assert_eq!(paint(0.0, 1.0, true, "plain", Colour::TrueColour), "plain");
    }

    #[test]
    fn xterm256_finds_cube_and_grey_entries() {
        assert_eq!(xterm256([0, 0, 0]), 16);
        assert_eq!(xterm256([255, 255, 255]), 231);
        assert_eq!(xterm256([255, 135, 0]), 16 + 36 * 5 + 6 * 2);
        assert_eq!(xterm256([128, 128, 128]), 244, "grey ramp");
    }

    #[test]
    fn no_colour_means_no_escape_codes_and_top_k_keeps_the_strongest() {
        let e = sample::text();
        let plain = render(&e, &TextOptions::default());
        assert!(!plain.contains('\x1b'), "{plain}");
        let coloured = render(
            &e,
            &TextOptions {
                colour: Colour::Ansi256,
                ..TextOptions::default()
            },
        );
        assert!(coloured.contains("\x1b[48;5;"), "{coloured}");
        let top = render(
            &e,
            &TextOptions {
                top: Some(1),
                ..TextOptions::default()
            },
        );
        assert!(top.contains("the 1 strongest words"));
        assert!(
            top.contains("gorgeous") && !top.contains("movie  "),
            "{top}"
        );
        assert!(
            plain.contains("special tokens (outside the scale): [CLS] +2.0000, [SEP] +0.4000"),
            "{plain}"
        );
    }

    #[test]
    fn the_document_wraps_at_the_width_and_keeps_paragraphs() {
        let mut e = sample::text();
        let words = ["alpha", "beta", "gamma", "delta", "epsilon"];
        let mut text = String::new();
        e.words.clear();
        for (i, w) in words.iter().enumerate() {
            if i == 3 {
                text.push_str("\n\n");
            } else if i > 0 {
                text.push(' ');
            }
            let start = text.chars().count();
            text.push_str(w);
            e.words.push(crate::model::text::Word {
                text: w.to_string(),
                start,
                end: start + w.len(),
                token_range: (1, 2),
                segment: 0,
            });
        }
        e.word_scores = vec![0.1; 5];
        e.input.text = Some(text);
        let o = TextOptions {
            colour: Colour::TrueColour,
            top: None,
            width: 11,
        };
        let shown = strip_ansi(&running_text(&e, 1.0, true, &o));
        assert_eq!(shown, "alpha beta\ngamma\n\ndelta\nepsilon");
    }
}
