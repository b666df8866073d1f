//! A text explanation as its original document: the words at their character offsets with the
//! text between them kept as it was (spaces, line breaks, paragraphs), and the part cut off by
//! truncation to the model's maximum marked as such.

use crate::explain::Explanation;

#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// Text between words, as in the input.
    Gap(String),
    /// `words[i]`, with its text as in the input.
    Word(usize, String),
    /// The text after the last token the model saw (the input was truncated).
    Cut(String),
}

/// The pieces of `e`'s text, in order. Without the original text (or with offsets that do not
/// fit it) the words are joined with single spaces.
pub fn pieces(e: &Explanation) -> Vec<Piece> {
    let fallback = || {
        let mut v = Vec::new();
        for (i, w) in e.words.iter().enumerate() {
            if i > 0 {
                v.push(Piece::Gap(" ".into()));
            }
            v.push(Piece::Word(i, w.text.clone()));
        }
        v
    };
    let Some(text) = &e.input.text else {
        return fallback();
    };
    let chars: Vec<char> = text.chars().collect();
    let fits = e.words.windows(2).all(|w| w[0].end <= w[1].start)
        && e.words
            .iter()
            .all(|w| w.start <= w.end && w.end <= chars.len());
    if !fits {
        return fallback();
    }
    let span = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    let mut out = Vec::new();
    let mut at = 0;
    for (i, w) in e.words.iter().enumerate() {
        if w.start > at {
            out.push(Piece::Gap(span(at, w.start)));
        }
        out.push(Piece::Word(i, span(w.start, w.end)));
        at = w.end;
    }
    if at < chars.len() {
        let rest = span(at, chars.len());
        if e.input.truncated_from.is_some() && !rest.trim().is_empty() {
            // Keep the gap before the cut text as a gap.
            let lead = rest.len() - rest.trim_start().len();
            if lead > 0 {
                out.push(Piece::Gap(rest[..lead].to_string()));
            }
            out.push(Piece::Cut(rest[lead..].to_string()));
        } else {
            out.push(Piece::Gap(rest));
        }
    }
    out
}

/// The sentence that says how much of a truncated input the model saw.
pub fn truncation_note(e: &Explanation) -> Option<String> {
    let n = e.input.truncated_from?;
    Some(format!(
        "The input was truncated from {n} to {} tokens (the model's maximum): the text after \
         the cut was not seen by the model and has no scores.",
        e.tokens.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;

    #[test]
    fn keeps_paragraphs_and_marks_the_cut() {
        let mut e = sample::text();
        assert_eq!(
            pieces(&e),
            vec![
                Piece::Word(0, "a".into()),
                Piece::Gap(" ".into()),
                Piece::Word(1, "gorgeous".into()),
                Piece::Gap("\n\n".into()),
                Piece::Word(2, "movie".into()),
            ]
        );
        e.input.text = Some("a gorgeous\n\nmovie, and more".into());
        e.input.truncated_from = Some(9);
        let p = pieces(&e);
        assert_eq!(p.last(), Some(&Piece::Cut(", and more".into())));
        assert!(truncation_note(&e).unwrap().contains("from 9 to 5 tokens"));
        // Offsets that do not fit the text: words joined by spaces.
        e.input.text = Some("short".into());
        assert_eq!(pieces(&e)[1], Piece::Gap(" ".into()));
    }
}
