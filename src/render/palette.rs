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

#[cfg(test)]
mod tests {
    use super::*;

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
