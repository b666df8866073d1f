//! SVG reports: the figure (figure.rs) as vector graphics for papers — rectangles and text
//! stay vectors (text as text, in DejaVu Sans, laid out with its metrics and held to the
//! measured widths), the images' maps are embedded PNGs.

use super::figure::{layout, layout_each, Canvas, Op, WIDTH};
use super::Options;
use crate::error::Result;
use crate::explain::Explanation;
use base64::Engine;
use std::fmt::Write;

fn rgb([r, g, b]: [u8; 3]) -> String {
    format!("rgb({r},{g},{b})")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One SVG document of the figure.
fn write(c: Canvas) -> String {
    let h = c.height();
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{h}\" \
         viewBox=\"0 0 {WIDTH} {h}\" font-family=\"DejaVu Sans, Verdana, sans-serif\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
    );
    for op in c.ops {
        match op {
            Op::Rect { x, y, w, h, colour } => {
                let _ = writeln!(
                    s,
                    "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"{}\"/>",
                    rgb(colour)
                );
            }
            Op::Text {
                x,
                y,
                text,
                size,
                colour,
                vertical,
            } => {
                let w = super::font::width(&text, size);
                let base = super::font::ascent(size);
                // Held to the width the layout measured, so boxes fit in every viewer.
                let attrs = format!(
                    "font-size=\"{size}\" fill=\"{}\" textLength=\"{w}\" \
                     lengthAdjust=\"spacingAndGlyphs\" xml:space=\"preserve\"",
                    rgb(colour)
                );
                let _ = if vertical {
                    // Read bottom to top: the turned box's top-left corner at (x, y).
                    writeln!(
                        s,
                        "<text transform=\"translate({x},{}) rotate(-90)\" x=\"0\" y=\"{base:.1}\" {attrs}>{}</text>",
                        y + w,
                        escape(&text)
                    )
                } else {
                    writeln!(
                        s,
                        "<text x=\"{x}\" y=\"{:.1}\" {attrs}>{}</text>",
                        y as f32 + base,
                        escape(&text)
                    )
                };
            }
            Op::Image { x, y, img } => {
                let png = super::overlay::png_bytes(&img);
                let _ = writeln!(
                    s,
                    "<image x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{}\" href=\"data:image/png;base64,{}\"/>",
                    img.width(),
                    img.height(),
                    base64::engine::general_purpose::STANDARD.encode(png)
                );
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

/// One SVG for one input explained by one or more methods (panels stacked).
pub fn render(es: &[Explanation], opts: &Options) -> Result<String> {
    Ok(write(layout(es, opts)?))
}

/// One SVG per explanation of a batch, on the batch's scales.
pub fn render_each(es: &[&Explanation], opts: &Options) -> Result<Vec<String>> {
    Ok(layout_each(es, opts)?.into_iter().map(write).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;

    #[test]
    fn a_text_report_is_vectors_with_its_words_as_text() {
        let e = sample::text();
        let svg = render(std::slice::from_ref(&e), &Options::default()).unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        // Words are text, their boxes rectangles in the palette's colours; no raster.
        assert!(svg.contains(">gorgeous</text>"), "{svg}");
        assert!(
            svg.contains("fill=\"rgb(230,97,1)\""),
            "the strongest word in full orange"
        );
        assert!(!svg.contains("<image"));
        // The same figure as the PNG: same height.
        let png =
            crate::render::png::render(std::slice::from_ref(&e), &Options::default()).unwrap();
        let img = image::load_from_memory(&png).unwrap();
        assert!(svg.contains(&format!("height=\"{}\"", img.height())));
    }

    #[test]
    fn an_image_report_embeds_its_maps() {
        let svg = render(&[sample::image()], &Options::default()).unwrap();
        assert!(svg.contains("<image") && svg.contains("data:image/png;base64,"));
        assert!(svg.matches("<text").count() > 3);
    }
}
