//! Text in PNG reports: the embedded DejaVu Sans (the `dejavu` crate, as the evaluation plots
//! use) laid out and rasterised with `ab_glyph` — advances, kerning and each glyph's own
//! bearings — so that a word is drawn exactly as wide as [`width`] measures it. (plotters'
//! text drawing drops the glyphs' left bearings, which left word boxes too wide and the
//! spacing inside words uneven.)

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::RgbImage;
use std::sync::OnceLock;

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        FontRef::try_from_slice(dejavu::sans::regular()).expect("the embedded DejaVu Sans parses")
    })
}

/// Each glyph of `text` at `size` pixels with its caret position (advances and kerning), and
/// the total advance.
fn layout(text: &str, size: u32) -> (Vec<(ab_glyph::GlyphId, f32)>, f32) {
    let sf = font().as_scaled(PxScale::from(size as f32));
    let mut caret = 0.0f32;
    let mut prev = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = sf.glyph_id(c);
        if let Some(p) = prev {
            caret += sf.kern(p, id);
        }
        glyphs.push((id, caret));
        caret += sf.h_advance(id);
        prev = Some(id);
    }
    (glyphs, caret)
}

/// Rasterises `text` at `size` pixels with its top-left corner at the origin, calling `plot`
/// with every covered pixel and its coverage in [0, 1].
fn raster(text: &str, size: u32, mut plot: impl FnMut(i32, i32, f32)) {
    let f = font();
    let scale = PxScale::from(size as f32);
    let ascent = f.as_scaled(scale).ascent();
    for (id, caret) in layout(text, size).0 {
        let glyph = id.with_scale_and_position(scale, ab_glyph::point(caret, ascent));
        if let Some(q) = f.outline_glyph(glyph) {
            let b = q.px_bounds();
            q.draw(|gx, gy, cov| plot(b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32, cov));
        }
    }
}

/// The advance width of `text` at `size` pixels, rounded up.
pub fn width(text: &str, size: u32) -> i32 {
    layout(text, size).1.ceil() as i32
}

/// The ascent of the font at `size` pixels: from the top of a line box to the baseline.
pub fn ascent(size: u32) -> f32 {
    font().as_scaled(PxScale::from(size as f32)).ascent()
}

/// The height of a line of text at `size` pixels (ascent to descent).
pub fn height(size: u32) -> i32 {
    let sf = font().as_scaled(PxScale::from(size as f32));
    (sf.ascent() - sf.descent()).ceil() as i32
}

fn blend(img: &mut RgbImage, x: i32, y: i32, colour: [u8; 3], cov: f32) {
    if x < 0 || y < 0 || x >= img.width() as i32 || y >= img.height() as i32 {
        return;
    }
    let p = img.get_pixel_mut(x as u32, y as u32);
    p.0 = super::palette::blend(p.0, colour, cov.clamp(0.0, 1.0) as f64);
}

/// Draws `text` with the top-left corner of its line box at (`x`, `y`).
pub fn draw(img: &mut RgbImage, x: i32, y: i32, text: &str, size: u32, colour: [u8; 3]) {
    raster(text, size, |gx, gy, cov| {
        blend(img, x + gx, y + gy, colour, cov)
    });
}

/// Draws `text` turned a quarter anticlockwise (read from bottom to top), the top-left corner
/// of its turned box at (`x`, `y`): [`height`] wide, [`width`] tall.
pub fn draw_vertical(img: &mut RgbImage, x: i32, y: i32, text: &str, size: u32, colour: [u8; 3]) {
    let w = width(text, size);
    raster(text, size, |gx, gy, cov| {
        blend(img, x + gy, y + (w - 1 - gx), colour, cov)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ink(img: &RgbImage) -> Vec<(u32, u32)> {
        img.enumerate_pixels()
            .filter(|(_, _, p)| p.0[0] < 128)
            .map(|(x, y, _)| (x, y))
            .collect()
    }

    #[test]
    fn drawn_text_stays_inside_its_measured_box() {
        let (w, h) = (width("gorgeous", 15), height(15));
        assert!(w > 40 && w < 90, "{w}");
        let mut img = RgbImage::from_pixel(120, 40, image::Rgb([255; 3]));
        draw(&mut img, 10, 5, "gorgeous", 15, [0; 3]);
        let pts = ink(&img);
        assert!(pts.len() > 100, "ink drawn");
        let (x0, x1) = (
            pts.iter().map(|p| p.0).min().unwrap(),
            pts.iter().map(|p| p.0).max().unwrap(),
        );
        assert!(
            x0 >= 10 && x1 < 10 + w as u32,
            "{x0}..{x1} outside 10..{}",
            10 + w
        );
        // Most of the advance is inked: no lost bearings at the right end.
        assert!(x1 + 4 >= 10 + w as u32, "{x1} vs {}", 10 + w);
        assert!(pts.iter().all(|p| p.1 >= 5 && p.1 < 5 + h as u32));
        // Turned: the box is h wide and w tall.
        let mut img = RgbImage::from_pixel(40, 120, image::Rgb([255; 3]));
        draw_vertical(&mut img, 5, 10, "gorgeous", 15, [0; 3]);
        let pts = ink(&img);
        assert!(pts
            .iter()
            .all(|p| p.0 >= 5 && p.0 < 5 + h as u32 && p.1 >= 10 && p.1 < 10 + w as u32));
        assert!(pts.len() > 100);
    }
}
