//! Images in the HTML report: the input, the map upsampled and overlaid with transparency on
//! a grey copy of it (render::overlay), with the exact patch scores on hover, and the per-layer
//! grid of small maps. The pictures are PNG data URIs.

use super::escape;
use crate::explain::Explanation;
use crate::render::overlay::{input_image, overlay, png_bytes};
use crate::render::scale::Placed;
use crate::render::Options;
use base64::Engine;
use std::fmt::Write;

/// Pixels a side of the main overlay and of the per-layer maps.
const BIG: u32 = 280;
const SMALL: u32 = 112;

fn data_uri(img: &::image::RgbImage) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png_bytes(img))
    )
}

fn missing_note(e: &Explanation) -> String {
    format!(
        "<p class=\"note\">The input image ({}) could not be read: the map is drawn on grey.</p>",
        escape(
            &e.input
                .path
                .as_ref()
                .map_or("no path".into(), |p| p.display().to_string())
        )
    )
}

/// The input image, once per input.
pub(super) fn input_html(e: &Explanation, opts: &Options) -> String {
    match input_image(e, opts, BIG) {
        Some(img) => format!(
            "<div class=\"imgwrap\"><img src=\"{}\" alt=\"the input image\"></div>",
            data_uri(&img)
        ),
        None => missing_note(e),
    }
}

/// The headline map over the image, with a transparent grid of patches carrying the scores.
pub(super) fn overlay_html(e: &Explanation, max: f64, signed: bool, opts: &Options) -> String {
    let Some([gh, gw]) = e.input.patch_grid else {
        return String::new();
    };
    let base = input_image(e, opts, BIG);
    let img = overlay(base.as_ref(), &e.scores, [gh, gw], max, signed, BIG);
    let mut cells = String::new();
    for (i, v) in e.scores.iter().enumerate() {
        let _ = write!(
            cells,
            "<div title=\"patch ({}, {}): {v:+.4}\"></div>",
            i / gw,
            i % gw
        );
    }
    format!(
        "<div class=\"imgwrap\"><img src=\"{}\" alt=\"{} map over the image\"><div class=\"grid\" \
         style=\"grid-template-columns:repeat({gw},1fr);grid-template-rows:repeat({gh},1fr)\">{cells}</div></div>\
         <p class=\"note\">Opacity grows with |score| (the image in grey beneath).</p>",
        data_uri(&img),
        escape(&e.method)
    )
}

/// One small map per layer (the layer vectors start with \[CLS\], which the map leaves out and
/// the caption gives).
pub(super) fn layer_grid(e: &Explanation, p: Placed, opts: &Options) -> String {
    let f = p.flow;
    let Some(grid) = e.input.patch_grid else {
        return String::new();
    };
    let base = input_image(e, opts, SMALL);
    let mut s = String::from("<div class=\"layergrid\">");
    for (l, row) in &f.rows {
        let max = p.row_max(row);
        let img = overlay(base.as_ref(), &row[1..], grid, max, f.signed, SMALL);
        let _ = write!(
            s,
            "<figure title=\"layer {l}: [CLS] {:+.4}; scale ±{max:.4}\"><img src=\"{}\" alt=\"layer {l}\"><figcaption>layer {l}</figcaption></figure>",
            row[0],
            data_uri(&img)
        );
    }
    s.push_str("</div>");
    s
}
