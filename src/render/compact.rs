//! The compact figure (`--layout compact`): one row per method on a shared words axis, each
//! word a box coloured by that method's score (each row on its explanation's scale, or the
//! units' shared one under `--scale shared`), the row's maximum at its end. For a paper's
//! methods × words comparison; text inputs only.

use super::figure::{
    target_and_prediction, text_width, Canvas, GREY, INK, MARGIN, WIDTH, WORD_LINE, WORD_SIZE,
};
use super::palette::{ink_on, on_white};
use super::scale::{legend_number, Maxima};
use super::Options;
use crate::error::{CaligError, Result};
use crate::explain::Explanation;

const LABEL_SIZE: u32 = 13;
const GAP: i32 = 3;

/// The methods × words figure of `es` (explanations of one text).
pub fn layout(es: &[&Explanation], maxima: &Maxima, opts: &Options) -> Result<Canvas> {
    let Some(first) = es.first() else {
        return Err(CaligError::InvalidInput("nothing to draw".into()));
    };
    if es.iter().any(|e| !e.input.is_text()) {
        return Err(CaligError::InvalidInput(
            "--layout compact draws texts (one row per method over the words); use --layout \
             full for images"
                .into(),
        ));
    }
    let words: Vec<&str> = first.words.iter().map(|w| w.text.as_str()).collect();
    if es.iter().any(|e| e.word_scores.len() != words.len()) {
        return Err(CaligError::InvalidInput(
            "--layout compact needs explanations of one text (the same words)".into(),
        ));
    }
    let mut c = Canvas {
        ops: vec![],
        y: MARGIN,
    };
    let title = format!("{} — {}", first.model, target_and_prediction(first));
    c.line(title, 16, INK);
    c.line(
        format!(
            "one row per method; signed: orange for the target, purple against; unsigned: blue, \
             darker = more relevant; each row's maximum |score| at its end (--scale {})",
            opts.scale.name()
        ),
        12,
        GREY,
    );
    let label_w = es
        .iter()
        .map(|e| text_width(&e.method, LABEL_SIZE))
        .max()
        .unwrap_or(0)
        + 12;
    let number_w = 64;
    let cell = |w: &str| text_width(w, WORD_SIZE) + 6;
    // Columns cut into blocks that fit the width; every row of a block shares its columns.
    let room = WIDTH as i32 - 2 * MARGIN - label_w - number_w;
    let mut blocks: Vec<std::ops::Range<usize>> = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (i, w) in words.iter().enumerate() {
        let wd = cell(w) + GAP;
        if i > start && used + wd > room {
            blocks.push(start..i);
            (start, used) = (i, 0);
        }
        used += wd;
    }
    blocks.push(start..words.len());
    for block in blocks {
        for (k, e) in es.iter().enumerate() {
            let y = c.y;
            c.text(MARGIN, y + 4, e.method.clone(), LABEL_SIZE, INK);
            let max = maxima.headline[k];
            let mut x = MARGIN + label_w;
            for i in block.clone() {
                let w = cell(words[i]);
                let fill = on_white(e.word_scores[i], max, e.signed, 1.0);
                c.rect(x, y, w, WORD_LINE - 4, fill);
                c.text(x + 3, y + 3, words[i], WORD_SIZE, ink_on(fill));
                x += w + GAP;
            }
            c.text(x + 6, y + 5, legend_number(max, false), 11, GREY);
            c.y += WORD_LINE;
        }
        c.y += 10;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::figure::Op;
    use crate::render::sample;

    fn texts(c: &Canvas) -> Vec<String> {
        c.ops
            .iter()
            .filter_map(|op| match op {
                Op::Text { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn one_row_per_method_over_the_same_words() {
        let mut ig = sample::text();
        ig.method = "ig".into();
        let gae = {
            let mut e = sample::text();
            e.method = "gae".into();
            e.signed = false;
            e
        };
        let es = [&ig, &gae];
        let maxima = Maxima::new(&es, &[vec![], vec![]], Default::default());
        let c = layout(&es, &maxima, &Options::default()).unwrap();
        let t = texts(&c);
        assert!(t.contains(&"ig".to_string()) && t.contains(&"gae".to_string()));
        // Each word once per method, and no layer view.
        for w in &ig.words {
            assert_eq!(t.iter().filter(|x| **x == w.text).count(), 2, "{}", w.text);
        }
        let Err(err) = layout(&[&sample::image()], &maxima, &Options::default()) else {
            panic!("an image in the compact layout");
        };
        assert!(err.to_string().contains("--layout compact draws texts"));
    }
}
