//! A text explanation as its original document: the words at their character offsets with the
//! text between them kept as it was (spaces, line breaks, paragraphs), and the part cut off by
//! truncation to the model's maximum marked as such.

use crate::explain::Explanation;
use crate::model::text::Word;

#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// Text between words, as in the input.
    Gap(String),
    /// `words[i]`, with its text as in the input.
    Word(usize, String),
    /// The text after the last token the model saw (the input was truncated).
    Cut(String),
    /// Between the two texts of a sentence pair: the tokenizer's separator token.
    Separator(String),
}

/// The pieces of `e`'s text, in order: for a sentence pair, the first text's pieces, a
/// [`Piece::Separator`], then the second's. Without the original text (or with offsets that do
/// not fit it) the words are joined with single spaces.
pub fn pieces(e: &Explanation) -> Vec<Piece> {
    let mut out = Vec::new();
    let texts = [e.input.text.as_deref(), e.input.text_pair.as_deref()];
    let segments = if e.input.text_pair.is_some() { 2 } else { 1 };
    for (segment, text) in texts.iter().enumerate().take(segments) {
        if segment > 0 {
            out.push(Piece::Separator(separator(e)));
        }
        let words: Vec<(usize, &Word)> = e
            .words
            .iter()
            .enumerate()
            .filter(|(_, w)| w.segment as usize == segment || segments == 1)
            .collect();
        out.extend(segment_pieces(
            &words,
            *text,
            e.input.truncated_from.is_some(),
        ));
    }
    out
}

/// The pieces of one text from its `words` (with their indices in the explanation).
fn segment_pieces(words: &[(usize, &Word)], text: Option<&str>, truncated: bool) -> Vec<Piece> {
    let fallback = || {
        let mut v = Vec::new();
        for (k, (i, w)) in words.iter().enumerate() {
            if k > 0 {
                v.push(Piece::Gap(" ".into()));
            }
            v.push(Piece::Word(*i, w.text.clone()));
        }
        v
    };
    let Some(text) = text else {
        return fallback();
    };
    let chars: Vec<char> = text.chars().collect();
    let fits = words.windows(2).all(|w| w[0].1.end <= w[1].1.start)
        && words
            .iter()
            .all(|(_, w)| w.start <= w.end && w.end <= chars.len());
    if !fits {
        return fallback();
    }
    let span = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    let mut out = Vec::new();
    let mut at = 0;
    for (i, w) in words {
        if w.start > at {
            out.push(Piece::Gap(span(at, w.start)));
        }
        out.push(Piece::Word(*i, span(w.start, w.end)));
        at = w.end;
    }
    if at < chars.len() {
        let rest = span(at, chars.len());
        if truncated && !rest.trim().is_empty() {
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

/// The tokens between the texts of a pair (`[SEP]`, RoBERTa's `</s></s>`), for the reports to
/// show where the second text starts.
fn separator(e: &Explanation) -> String {
    let last = |seg: u8| e.words.iter().filter(move |w| w.segment == seg);
    let from = last(0).map(|w| w.token_range.1).max().unwrap_or(1);
    let to = last(1).map(|w| w.token_range.0).min().unwrap_or(from + 1);
    let between: String = e
        .tokens
        .get(from..to.max(from))
        .unwrap_or_default()
        .concat();
    if between.is_empty() {
        "[SEP]".into()
    } else {
        between
    }
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
