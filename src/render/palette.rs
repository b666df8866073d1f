//! The colours every report kind shares (HTML, PNG, terminal).
//!
//! Signed methods use a diverging, colour-blind-safe palette (the ends of ColorBrewer's PuOr):
//! orange for evidence for the target class, purple against, white at zero. Unsigned methods
//! (relevance without a direction) use one hue, blue, from white at zero. A score's strength is
//! t = |score| / max on the report's scale, clamped to [0, 1]; its colour is the end colour
//! blended with white by t, which is what the HTML's `rgba(end, t)` shows on its white page.

/// Evidence for the target class.
pub const FOR: [u8; 3] = [230, 97, 1];
/// Evidence against the target class.
pub const AGAINST: [u8; 3] = [94, 60, 153];
/// Unsigned relevance.
pub const UNSIGNED: [u8; 3] = [33, 102, 172];
/// Special tokens (\[CLS\], \[SEP\]) outside the scale, and cells without a value.
pub const NEUTRAL: [u8; 3] = [215, 215, 215];

/// The end colour of a score and its strength t in [0, 1] on the scale ±`max`.
pub fn end_and_strength(score: f64, max: f64, signed: bool) -> ([u8; 3], f64) {
    let t = if max > 0.0 && score.is_finite() {
        (score.abs() / max).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let end = if !signed {
        UNSIGNED
    } else if score >= 0.0 {
        FOR
    } else {
        AGAINST
    };
    (end, t)
}

/// `colour` blended over `base` with opacity `alpha` in [0, 1].
pub fn blend(base: [u8; 3], colour: [u8; 3], alpha: f64) -> [u8; 3] {
    let mix = |b: u8, c: u8| (b as f64 + (c as f64 - b as f64) * alpha).round() as u8;
    [
        mix(base[0], colour[0]),
        mix(base[1], colour[1]),
        mix(base[2], colour[2]),
    ]
}

/// The colour of a score on white; `strength` (≤ 1) caps the darkest end (the terminal uses
/// 0.8 to keep black text readable).
pub fn on_white(score: f64, max: f64, signed: bool, strength: f64) -> [u8; 3] {
    let (end, t) = end_and_strength(score, max, signed);
    blend([255; 3], end, t * strength)
}

/// CSS for the background of a score: the end colour with opacity t.
pub fn css(score: f64, max: f64, signed: bool) -> String {
    let (end, t) = end_and_strength(score, max, signed);
    format!("rgba({},{},{},{t:.3})", end[0], end[1], end[2])
}

/// Text on light backgrounds.
pub const DARK_INK: [u8; 3] = [0, 0, 0];
/// Text on dark backgrounds.
pub const LIGHT_INK: [u8; 3] = [255, 255, 255];

/// WCAG 2's relative luminance of an sRGB colour.
fn luminance(c: [u8; 3]) -> f64 {
    let lin = |v: u8| {
        let v = v as f64 / 255.0;
        if v <= 0.040_45 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
}

/// WCAG 2's contrast ratio of two colours (1 to 21).
pub fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// The text colour for a background: dark or white, whichever contrasts more (at least 4.5:1,
/// WCAG's AA for text, on every colour of the palettes; tested).
pub fn ink_on(background: [u8; 3]) -> [u8; 3] {
    if contrast(background, DARK_INK) >= contrast(background, LIGHT_INK) {
        DARK_INK
    } else {
        LIGHT_INK
    }
}

/// CSS for a word's cell: its background ([`css`]) and, on the darkest colours, white text.
pub fn css_cell(score: f64, max: f64, signed: bool) -> String {
    let [r, g, b] = ink_on(on_white(score, max, signed, 1.0));
    format!(
        "background:{};color:rgb({r},{g},{b})",
        css(score, max, signed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_colour_has_readable_text() {
        for end in [FOR, AGAINST, UNSIGNED] {
            for i in 0..=100 {
                let bg = blend([255; 3], end, i as f64 / 100.0);
                let c = contrast(bg, ink_on(bg));
                assert!(c >= 4.5, "{end:?} at {i} %: contrast {c:.2}");
            }
        }
        // The darkest purple and blue take white text (black on them was 2.6:1 and 3.6:1).
        assert_eq!(ink_on(AGAINST), LIGHT_INK);
        assert_eq!(ink_on(UNSIGNED), LIGHT_INK);
        assert_eq!(ink_on([255; 3]), DARK_INK);
        assert!(css_cell(-1.0, 1.0, true).ends_with("color:rgb(255,255,255)"));
    }

    #[test]
    fn signs_pick_the_ends_and_the_scale_sets_the_strength() {
        assert_eq!(on_white(2.0, 2.0, true, 1.0), FOR);
        assert_eq!(
            on_white(-5.0, 2.0, true, 1.0),
            AGAINST,
            "clamped to the end"
        );
        assert_eq!(
            on_white(-2.0, 2.0, false, 1.0),
            UNSIGNED,
            "unsigned: one hue"
        );
        assert_eq!(on_white(0.0, 2.0, true, 1.0), [255; 3]);
        assert_eq!(on_white(1.0, 2.0, true, 1.0), blend([255; 3], FOR, 0.5));
        assert_eq!(
            on_white(1.0, 0.0, true, 1.0),
            [255; 3],
            "an empty scale draws white"
        );
        assert_eq!(css(1.0, 2.0, true), "rgba(230,97,1,0.500)");
    }
}
