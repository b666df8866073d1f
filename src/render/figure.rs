//! The report figure as a display list, [`WIDTH`] pixels wide, one panel per explanation
//! stacked top to bottom: a title and the numbers that check the attribution, a colour bar
//! whose legend states the scale, then
//! - text: the words as a heat-map strip that wraps like the document (paragraphs kept, the
//!   truncated rest greyed), and for layer-wise methods a layers × tokens strip (wrapped in
//!   chunks of [`CHUNK`] tokens, labelled when the cells are wide enough);
//! - images: the input and the map upsampled over it (render::overlay), and for layer-wise
//!   methods a grid of small maps, one per layer.
//!
//! Same palettes and scales as the HTML report. Text is measured with the embedded DejaVu Sans
//! (render::font). Layout happens here (a list of drawing operations and the height they
//! need); png.rs draws the list into pixels, svg.rs writes it as vector graphics.

use super::document::{pieces, Piece};
use super::flow::{flows, Flow};
use super::overlay::{input_image, overlay};
use super::palette::{ink_on, on_white, NEUTRAL};
use super::scale::{legend_number, Maxima, Placed};
use super::{Layout, Options};
use crate::error::Result;
use crate::explain::Explanation;
use image::RgbImage;

/// The width of every PNG report.
pub const WIDTH: u32 = 1000;
pub(super) const MARGIN: i32 = 16;
/// Tokens per row of a wrapped layers × tokens strip.
pub const CHUNK: usize = 128;
const BIG: u32 = 224;
pub const SMALL: u32 = 112;
pub(super) const INK: [u8; 3] = [17, 17, 17];
pub(super) const GREY: [u8; 3] = [110, 110, 110];
const WARN: [u8; 3] = [138, 75, 0];

pub enum Op {
    Rect {
        x: i32,
        y: i32,
        w: i32,
        h: i32,
        colour: [u8; 3],
    },
    Text {
        x: i32,
        y: i32,
        text: String,
        size: u32,
        colour: [u8; 3],
        vertical: bool,
    },
    Image {
        x: i32,
        y: i32,
        img: RgbImage,
    },
}

/// Drawing operations laid out top to bottom; `y` is the next free row.
pub struct Canvas {
    pub ops: Vec<Op>,
    pub y: i32,
}

/// `text` cut into rows at spaces, each at most `width` pixels wide where its words allow.
fn wrap(text: &str, size: u32, width: i32) -> Vec<String> {
    let mut rows: Vec<String> = Vec::new();
    let mut row = String::new();
    for word in text.split(' ') {
        let candidate = if row.is_empty() {
            word.to_string()
        } else {
            format!("{row} {word}")
        };
        if !row.is_empty() && text_width(&candidate, size) > width {
            rows.push(std::mem::replace(&mut row, format!("  {word}")));
        } else {
            row = candidate;
        }
    }
    rows.push(row);
    rows
}

pub(super) fn text_width(text: &str, size: u32) -> i32 {
    super::font::width(text, size)
}

impl Canvas {
    pub(super) fn text(
        &mut self,
        x: i32,
        y: i32,
        text: impl Into<String>,
        size: u32,
        colour: [u8; 3],
    ) {
        self.ops.push(Op::Text {
            x,
            y,
            text: text.into(),
            size,
            colour,
            vertical: false,
        });
    }

    pub(super) fn rect(&mut self, x: i32, y: i32, w: i32, h: i32, colour: [u8; 3]) {
        self.ops.push(Op::Rect { x, y, w, h, colour });
    }

    /// A line of text at the cursor, which moves down; wrapped at the figure's width.
    pub(super) fn line(&mut self, text: impl Into<String>, size: u32, colour: [u8; 3]) {
        for row in wrap(&text.into(), size, WIDTH as i32 - 2 * MARGIN) {
            let y = self.y;
            self.text(MARGIN, y, row, size, colour);
            self.y += size as i32 + 8;
        }
    }

    /// A colour bar: ramp, numeric ends, and what the scale is. `max: None`: each row's own.
    fn colour_bar(&mut self, max: Option<f64>, signed: bool, legend: &str) {
        let (low, high) = match (max, signed) {
            (Some(m), true) => (legend_number(-m, true), legend_number(m, true)),
            (Some(m), false) => ("0".into(), legend_number(m, false)),
            (None, true) => ("-row max".into(), "+row max".into()),
            (None, false) => ("0".into(), "row max".into()),
        };
        let y = self.y;
        let mut x = MARGIN;
        self.text(x, y, low.clone(), 12, INK);
        x += text_width(&low, 12) + 6;
        let ramp = 200;
        for i in 0..ramp {
            let f = i as f64 / (ramp - 1) as f64;
            let c = if signed {
                on_white(2.0 * f - 1.0, 1.0, true, 1.0)
            } else {
                on_white(f, 1.0, false, 1.0)
            };
            self.rect(x + i, y, 1, 13, c);
        }
        x += ramp + 6;
        self.text(x, y, high.clone(), 12, INK);
        x += text_width(&high, 12) + 12;
        let meaning = if signed {
            "orange for the target, purple against"
        } else {
            "unsigned: darker = more relevant"
        };
        self.text(x, y, format!("{meaning}; {legend}"), 12, GREY);
        self.y += 22;
    }
}

/// "target L (p = …), predicted L (p = …)".
pub(super) fn target_and_prediction(e: &Explanation) -> String {
    format!(
        "target {} (p = {:.4}), predicted {} (p = {:.4})",
        super::target_label(e),
        e.probs[e.target.index],
        e.predicted.label,
        e.probs[e.predicted.index]
    )
}

fn header(c: &mut Canvas, e: &Explanation) {
    let title = format!("{} on {}: {}", e.method, e.model, target_and_prediction(e));
    c.line(title, 16, INK);
    let checks = super::checks::line(e, "   ");
    c.line(checks, 13, GREY);
    c.line(super::checks::sum_meaning(e).to_string(), 12, GREY);
    for w in &e.warnings {
        c.line(format!("warning: {w}"), 12, WARN);
    }
    if let Some(n) = super::document::truncation_note(e) {
        c.line(n, 12, WARN);
    }
}

/// Where the next word box of the strip goes.
struct Pen {
    x: i32,
    y: i32,
}

pub(super) const WORD_SIZE: u32 = 15;
pub(super) const WORD_LINE: i32 = 26;

impl Pen {
    fn place(&mut self, c: &mut Canvas, text: &str, fill: Option<[u8; 3]>, ink: [u8; 3]) {
        let w = text_width(text, WORD_SIZE) + 6;
        if self.x > MARGIN && self.x + w > WIDTH as i32 - MARGIN {
            self.x = MARGIN;
            self.y += WORD_LINE;
        }
        if let Some(f) = fill {
            c.rect(self.x, self.y, w, WORD_LINE - 4, f);
        }
        c.text(self.x + 3, self.y + 3, text, WORD_SIZE, ink);
        self.x += w + 4;
    }
}

/// The words as coloured boxes, wrapping like the document.
fn words(c: &mut Canvas, e: &Explanation, max: f64, signed: bool) {
    let mut pen = Pen { x: MARGIN, y: c.y };
    for p in pieces(e) {
        match p {
            Piece::Gap(g) => {
                let breaks = g.matches('\n').count() as i32;
                if breaks > 0 {
                    pen.x = MARGIN;
                    pen.y += WORD_LINE * breaks.min(2);
                }
            }
            Piece::Word(i, text) => {
                let fill = on_white(e.word_scores[i], max, signed, 1.0);
                pen.place(c, &text, Some(fill), ink_on(fill));
            }
            Piece::Cut(rest) => {
                let mark = format!("[truncated here: the model saw {} tokens]", e.tokens.len());
                pen.place(c, &mark, None, WARN);
                for w in rest.split_whitespace() {
                    pen.place(c, w, None, GREY);
                }
            }
            Piece::Separator(sep) => pen.place(c, &sep, None, GREY),
        }
    }
    c.y = pen.y + WORD_LINE + 8;
}

/// The layers × tokens strip of a text explanation, wrapped in chunks of [`CHUNK`] tokens.
fn token_strip(c: &mut Canvas, p: Placed) {
    let f = p.flow;
    let n = f.labels.len();
    let label_w = 40;
    let chunk = n.clamp(1, CHUNK);
    let cw = ((WIDTH as i32 - 2 * MARGIN - label_w) / chunk as i32).clamp(1, 18);
    let ch = 12;
    for start in (0..n).step_by(chunk) {
        let end = (start + chunk).min(n);
        if n > chunk {
            c.line(format!("tokens {start}-{}", end - 1), 11, GREY);
        }
        for (l, row) in &f.rows {
            let max = p.row_max(row);
            let y = c.y;
            c.text(MARGIN, y, format!("L{l}"), 10, GREY);
            for (i, &score) in row.iter().enumerate().take(end).skip(start) {
                let x = MARGIN + label_w + (i - start) as i32 * cw;
                if f.special[i] {
                    c.rect(x, y, cw, ch, NEUTRAL);
                } else {
                    c.rect(x, y, cw, ch, on_white(score, max, f.signed, 1.0));
                }
            }
            c.y += ch;
        }
        // Token labels, rotated, where the cells are wide enough to tell them apart.
        if cw >= 10 {
            let y = c.y + 2;
            let mut longest = 0;
            for i in start..end {
                let t: String = f.labels[i].chars().take(12).collect();
                longest = longest.max(text_width(&t, 10));
                c.ops.push(Op::Text {
                    x: MARGIN + label_w + (i - start) as i32 * cw + cw / 2 - 5,
                    y,
                    text: t,
                    size: 10,
                    colour: if f.special[i] { GREY } else { INK },
                    vertical: true,
                });
            }
            c.y += longest + 8;
        } else {
            c.y += 6;
        }
    }
    c.y += 8;
}

/// One small map per layer over the image, with the layer's number above it.
fn image_grid(c: &mut Canvas, e: &Explanation, p: Placed, base: Option<&RgbImage>) {
    let f = p.flow;
    let Some(grid) = e.input.patch_grid else {
        return;
    };
    let step = SMALL as i32 + 16;
    let per_row = ((WIDTH as i32 - 2 * MARGIN) / step).max(1) as usize;
    for (k, (l, row)) in f.rows.iter().enumerate() {
        let (col, r) = ((k % per_row) as i32, (k / per_row) as i32);
        let (x, y) = (MARGIN + col * step, c.y + r * (step + 8));
        let max = p.row_max(row);
        c.text(x, y, format!("layer {l}"), 11, GREY);
        c.ops.push(Op::Image {
            x,
            y: y + 14,
            img: overlay(base, &row[1..], grid, max, f.signed, SMALL),
        });
    }
    let rows = f.rows.len().div_ceil(per_row) as i32;
    c.y += rows * (step + 8) + 4;
}

fn panel(c: &mut Canvas, e: &Explanation, fl: &[Flow], maxima: &Maxima, at: usize, opts: &Options) {
    let signed = e.signed;
    header(c, e);
    let max = maxima.headline[at];
    c.colour_bar(
        Some(max),
        signed,
        &maxima.scale.headline_legend(e.input.is_text()),
    );
    let base = if e.input.is_image() {
        input_image(e, opts, BIG)
    } else {
        None
    };
    if let (true, Some(grid)) = (e.input.is_image(), e.input.patch_grid) {
        let y = c.y;
        c.text(MARGIN, y, "input", 12, GREY);
        c.text(
            MARGIN + BIG as i32 + 24,
            y,
            "map over the image (opacity grows with |score|)",
            12,
            GREY,
        );
        let input = base
            .clone()
            .unwrap_or_else(|| overlay(None, &[], grid, 1.0, signed, BIG));
        c.ops.push(Op::Image {
            x: MARGIN,
            y: y + 16,
            img: input,
        });
        c.ops.push(Op::Image {
            x: MARGIN + BIG as i32 + 24,
            y: y + 16,
            img: overlay(base.as_ref(), &e.scores, grid, max, signed, BIG),
        });
        c.y += BIG as i32 + 28;
        if base.is_none() {
            c.line(
                "(the input image could not be read: the map is drawn on grey)",
                12,
                WARN,
            );
        }
    } else {
        words(c, e, max, signed);
    }
    let shown = if opts.hide_layers { &fl[..0] } else { fl };
    for (v, f) in shown.iter().enumerate() {
        c.line(format!("{}: {}", e.method, f.title), 13, INK);
        let p = maxima.place(f, at, v);
        c.colour_bar(p.bar_max(), f.signed, maxima.scale.flow_legend());
        if e.input.is_image() {
            let small = base.as_ref().map(|b| {
                image::imageops::resize(b, SMALL, SMALL, image::imageops::FilterType::Triangle)
            });
            image_grid(c, e, p, small.as_ref());
        } else {
            token_strip(c, p);
        }
    }
}

/// A rule between stacked panels.
fn separator(c: &mut Canvas) {
    let y = c.y;
    c.rect(MARGIN, y, WIDTH as i32 - 2 * MARGIN, 1, NEUTRAL);
    c.y += 12;
}

/// The figure of one input explained by one or more methods: panels stacked, or under
/// `--layout compact` one row per method (compact.rs).
pub fn layout(es: &[Explanation], opts: &Options) -> Result<Canvas> {
    let refs: Vec<&Explanation> = es.iter().collect();
    let fl: Vec<Vec<Flow>> = es.iter().map(flows).collect();
    let maxima = Maxima::new(&refs, &fl, opts.scale);
    if opts.layout == Layout::Compact {
        return super::compact::layout(&refs, &maxima, opts);
    }
    let mut c = Canvas {
        ops: vec![],
        y: MARGIN,
    };
    for (i, e) in es.iter().enumerate() {
        if i > 0 {
            separator(&mut c);
        }
        panel(&mut c, e, &fl[i], &maxima, i, opts);
    }
    Ok(c)
}

/// One figure per explanation of a batch, on the batch's scales (`--scale shared` shares one
/// maximum across the rows).
pub fn layout_each(es: &[&Explanation], opts: &Options) -> Result<Vec<Canvas>> {
    let fl: Vec<Vec<Flow>> = es.iter().map(|e| flows(e)).collect();
    let maxima = Maxima::new(es, &fl, opts.scale);
    es.iter()
        .enumerate()
        .map(|(i, e)| {
            if opts.layout == Layout::Compact {
                return super::compact::layout(&[*e], &maxima.only(i), opts);
            }
            let mut c = Canvas {
                ops: vec![],
                y: MARGIN,
            };
            panel(&mut c, e, &fl[i], &maxima, i, opts);
            Ok(c)
        })
        .collect()
}

impl Canvas {
    /// The figure's height in pixels.
    pub fn height(&self) -> u32 {
        (self.y + MARGIN).max(1) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_wrap_at_the_figure_width() {
        let long = "warning: the reference input (pad) is itself classed as the target, ".repeat(4);
        let rows = wrap(long.trim(), 12, 600);
        assert!(rows.len() >= 2, "{rows:?}");
        assert!(rows.iter().all(|r| text_width(r, 12) <= 600), "{rows:?}");
        assert_eq!(
            rows.join(" ").split_whitespace().collect::<Vec<_>>(),
            long.split_whitespace().collect::<Vec<_>>()
        );
        assert_eq!(wrap("short", 12, 600), vec!["short"]);
    }
}
