//! PNG reports: the figure (figure.rs) drawn into pixels with the embedded DejaVu Sans
//! (render::font), so that a PNG looks the same on every machine.

use super::figure::{layout, layout_each, Canvas, Op, WIDTH};
use super::Options;
use crate::error::Result;
use crate::explain::Explanation;
use image::RgbImage;

/// The figure laid out at 96 pixels per inch; a PNG at `dpi` draws every coordinate, font
/// size and picture scaled by dpi / 96 (sharper text, not an upscaled bitmap).
const LAYOUT_DPI: f64 = 96.0;

fn draw(c: Canvas, dpi: Option<f64>) -> Result<Vec<u8>> {
    let k = dpi.unwrap_or(LAYOUT_DPI) / LAYOUT_DPI;
    let at = |v: i32| (v as f64 * k).round() as i32;
    let (width, h) = (at(WIDTH as i32) as u32, at(c.height() as i32).max(1) as u32);
    let mut img = RgbImage::from_pixel(width, h, image::Rgb([255; 3]));
    for op in c.ops {
        match op {
            Op::Rect { x, y, w, h, colour } => {
                for py in at(y).max(0)..at(y + h).min(img.height() as i32) {
                    for px in at(x).max(0)..at(x + w).min(width as i32) {
                        img.put_pixel(px as u32, py as u32, image::Rgb(colour));
                    }
                }
            }
            Op::Text {
                x,
                y,
                text,
                size,
                colour,
                vertical,
            } => {
                let size = (size as f64 * k).round().max(1.0) as u32;
                if vertical {
                    super::font::draw_vertical(&mut img, at(x), at(y), &text, size, colour)
                } else {
                    super::font::draw(&mut img, at(x), at(y), &text, size, colour)
                }
            }
            Op::Image { x, y, img: picture } => {
                let picture = if k == 1.0 {
                    picture
                } else {
                    let (pw, ph) = picture.dimensions();
                    image::imageops::resize(
                        &picture,
                        at(pw as i32).max(1) as u32,
                        at(ph as i32).max(1) as u32,
                        image::imageops::FilterType::Triangle,
                    )
                };
                image::imageops::overlay(&mut img, &picture, at(x) as i64, at(y) as i64)
            }
        }
    }
    Ok(super::overlay::png_bytes(&img))
}

/// One PNG for one input explained by one or more methods (panels stacked).
pub fn render(es: &[Explanation], opts: &Options) -> Result<Vec<u8>> {
    draw(layout(es, opts)?, opts.dpi)
}

/// One PNG per explanation of a batch, on the batch's scales (`--scale shared` shares one
/// maximum across the rows).
pub fn render_each(es: &[&Explanation], opts: &Options) -> Result<Vec<Vec<u8>>> {
    layout_each(es, opts)?
        .into_iter()
        .map(|c| draw(c, opts.dpi))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::figure::SMALL;
    use crate::render::palette::FOR;
    use crate::render::sample;

    fn decode(png: &[u8]) -> RgbImage {
        image::load_from_memory(png).unwrap().to_rgb8()
    }

    fn count(img: &RgbImage, want: impl Fn([u8; 3]) -> bool) -> usize {
        img.pixels().filter(|p| want(p.0)).count()
    }

    #[test]
    fn a_text_report_has_the_word_strip_and_the_layer_strips() {
        let e = sample::text();
        let img = decode(&render(std::slice::from_ref(&e), &Options::default()).unwrap());
        assert_eq!(img.width(), WIDTH);
        // The strongest word ("gorgeous", the scale's maximum) is drawn in the full orange.
        assert!(count(&img, |p| p == FOR) > 100, "orange word box");
        // Layer strips of calig: layers, r and a.
        let two = decode(&render(&[e.clone(), e], &Options::default()).unwrap());
        assert!(
            two.height() > 2 * img.height() - 40,
            "{} vs {}",
            two.height(),
            img.height()
        );
    }

    #[test]
    fn dpi_scales_the_figure_and_hiding_layers_shortens_it() {
        let e = sample::text();
        let base = decode(&render(std::slice::from_ref(&e), &Options::default()).unwrap());
        let opts = Options {
            dpi: Some(192.0),
            ..Options::default()
        };
        let double = decode(&render(std::slice::from_ref(&e), &opts).unwrap());
        assert_eq!(double.width(), 2 * WIDTH);
        assert!((double.height() as i32 - 2 * base.height() as i32).abs() <= 2);
        let opts = Options {
            hide_layers: true,
            ..Options::default()
        };
        let bare = decode(&render(std::slice::from_ref(&e), &opts).unwrap());
        assert!(
            bare.height() + 200 < base.height(),
            "{} vs {}",
            bare.height(),
            base.height()
        );
    }

    #[test]
    fn an_image_report_overlays_the_map_and_draws_one_map_per_layer() {
        let mut e = sample::image();
        let plain = decode(&render(std::slice::from_ref(&e), &Options::default()).unwrap());
        assert_eq!(plain.width(), WIDTH);
        let blue = |p: [u8; 3]| p[2] as i32 - p[0] as i32 > 60;
        assert!(count(&plain, blue) > 1000, "unsigned blue map");
        e.layers = Some(vec![
            None,
            Some(vec![0.5, 0.0, 1.0, 0.0, 1.0]),
            Some(vec![0.5; 5]),
        ]);
        e.layers_cover = Some("tokens_cls_first".into());
        let layered = decode(&render(std::slice::from_ref(&e), &Options::default()).unwrap());
        assert!(
            layered.height() >= plain.height() + SMALL,
            "a row of layer maps"
        );
    }
}
