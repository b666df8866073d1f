//! An image explanation drawn over its image: the patch map upsampled bilinearly to pixels
//! (pixel centres, edges clamped: `align_corners = false`) and laid over a grey copy of the
//! image with opacity 0.9 · |score| / max. The grey copy keeps its luminance in [32, 224], so
//! the palette's orange, purple and blue stand out on dark and on light images alike.

use super::palette::{blend, end_and_strength};
use crate::explain::Explanation;
use image::{imageops::FilterType, DynamicImage, RgbImage};

/// Opacity of a score at the top of the scale.
pub const MAX_ALPHA: f64 = 0.9;

/// The input image of `e`, decoded with calig's decoder (and its size limits) and resized to
/// `size` × `size`: `opts.image` when given (an upload), else the file `input.path` names, a
/// relative path tried as given, then relative to `opts.image_dir` (the saved file's folder).
/// `None` when the image cannot be read (e.g. a row of an idx file).
pub fn input_image(e: &Explanation, opts: &super::Options, size: u32) -> Option<RgbImage> {
    let img: DynamicImage = match &opts.image {
        Some(img) => (**img).clone(),
        None => {
            let path = e.input.path.as_ref()?;
            let mut candidates = vec![path.clone()];
            if let (Some(dir), true) = (opts.image_dir.as_deref(), path.is_relative()) {
                candidates.push(dir.join(path));
            }
            candidates
                .iter()
                .find_map(|p| crate::model::image::decode(p).ok())?
        }
    };
    // Shown as the model saw it: squashed to its square input, and grey for a grey model.
    let img = img.resize_exact(size, size, FilterType::Triangle);
    Some(if e.input.channels == Some(1) {
        img.grayscale().to_rgb8()
    } else {
        img.to_rgb8()
    })
}

/// A `gh` × `gw` grid (row-major) upsampled bilinearly to `w` × `h` pixels.
pub fn upsample(grid: &[f64], [gh, gw]: [usize; 2], w: u32, h: u32) -> Vec<f64> {
    let at = |r: usize, c: usize| grid[r.min(gh - 1) * gw + c.min(gw - 1)];
    // Source coordinate of a destination pixel centre, and its two neighbours and weight.
    let coord = |d: u32, dn: u32, sn: usize| {
        let x = ((d as f64 + 0.5) * sn as f64 / dn as f64 - 0.5).max(0.0);
        let i = x.floor() as usize;
        (i, (i + 1).min(sn - 1), x - i as f64)
    };
    let mut out = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        let (r0, r1, fy) = coord(y, h, gh);
        for x in 0..w {
            let (c0, c1, fx) = coord(x, w, gw);
            let top = at(r0, c0) * (1.0 - fx) + at(r0, c1) * fx;
            let bottom = at(r1, c0) * (1.0 - fx) + at(r1, c1) * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// The grey base: the image's luminance squeezed into [32, 224], or mid-grey without an image.
fn grey(base: Option<&RgbImage>, size: u32) -> RgbImage {
    match base {
        Some(img) => {
            let img = if img.dimensions() == (size, size) {
                img.clone()
            } else {
                image::imageops::resize(img, size, size, FilterType::Triangle)
            };
            RgbImage::from_fn(size, size, |x, y| {
                let [r, g, b] = img.get_pixel(x, y).0.map(f64::from);
                let l = (0.299 * r + 0.587 * g + 0.114 * b) / 255.0;
                let v = (32.0 + 192.0 * l).round() as u8;
                image::Rgb([v, v, v])
            })
        }
        None => RgbImage::from_pixel(size, size, image::Rgb([128, 128, 128])),
    }
}

/// The map of `scores` (one per patch of `grid`) over the image, `size` × `size` pixels.
pub fn overlay(
    base: Option<&RgbImage>,
    scores: &[f64],
    grid: [usize; 2],
    max: f64,
    signed: bool,
    size: u32,
) -> RgbImage {
    let mut out = grey(base, size);
    if grid[0] * grid[1] != scores.len() || scores.is_empty() {
        return out;
    }
    let up = upsample(scores, grid, size, size);
    for (p, v) in out.pixels_mut().zip(up) {
        let (end, t) = end_and_strength(v, max, signed);
        p.0 = blend(p.0, end, MAX_ALPHA * t);
    }
    out
}

/// PNG bytes of an image (for data URIs).
pub fn png_bytes(img: &RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encoding a PNG in memory does not fail");
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grey_model_is_shown_the_grey_image_it_saw() {
        let mut e = crate::render::sample::image();
        let colour =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vit/image.png");
        e.input.path = Some(colour);
        let coloured = |img: &RgbImage| img.pixels().any(|p| p[0] != p[1] || p[1] != p[2]);
        e.input.channels = Some(3);
        assert!(coloured(&input_image(&e, &Default::default(), 32).unwrap()));
        e.input.channels = Some(1);
        assert!(!coloured(
            &input_image(&e, &Default::default(), 32).unwrap()
        ));
    }

    #[test]
    fn upsampling_keeps_the_values_at_patch_centres_and_interpolates_between() {
        // 2 × 2 grid to 4 × 4: pixel (0, 0) lies before the first centre (clamped), pixel
        // (1, 0) a quarter of the way from patch (0, 0) to (0, 1).
        let up = upsample(&[0.0, 1.0, 2.0, 3.0], [2, 2], 4, 4);
        assert_eq!(up.len(), 16);
        assert_eq!(up[0], 0.0);
        assert!((up[1] - 0.25).abs() < 1e-12, "{}", up[1]);
        assert_eq!(up[15], 3.0);
        let one = upsample(&[5.0], [1, 1], 3, 2);
        assert!(one.iter().all(|&v| v == 5.0));
    }

    #[test]
    fn strong_patches_are_coloured_and_zero_patches_show_the_grey_image() {
        let white = RgbImage::from_pixel(4, 4, image::Rgb([255, 255, 255]));
        let o = overlay(Some(&white), &[0.0, 0.0, 0.0, 1.0], [2, 2], 1.0, true, 4);
        assert_eq!(
            o.get_pixel(0, 0).0,
            [224, 224, 224],
            "light image, no score"
        );
        let p = o.get_pixel(3, 3).0;
        assert!(p[0] > p[2] + 100, "orange at the strong patch: {p:?}");
        let black = RgbImage::from_pixel(4, 4, image::Rgb([0, 0, 0]));
        let o = overlay(Some(&black), &[0.0, 0.0, 0.0, -1.0], [2, 2], 1.0, true, 4);
        assert_eq!(o.get_pixel(0, 0).0, [32, 32, 32], "dark image, no score");
        let p = o.get_pixel(3, 3).0;
        assert!(p[2] > p[1] + 60, "purple over a black image: {p:?}");
    }
}
