//! The units that removal and rationale metrics rank: ERASER's whitespace tokens for ERASER
//! documents (so rationales line up with the human spans), calig's words otherwise. Each unit
//! lists the sub-token positions it covers; its score is the sum of theirs (DESIGN §3).

use crate::model::text::Word;

pub struct Units {
    /// Sub-token positions of each unit, in text order.
    pub positions: Vec<Vec<usize>>,
    /// ERASER documents: how many leading whitespace tokens the model saw (the rest were
    /// truncated away); otherwise the number of units.
    pub visible: usize,
}

impl Units {
    /// Image patches as units: patch i covers position i.
    pub fn patches(n: usize) -> Self {
        Self {
            positions: (0..n).map(|i| vec![i]).collect(),
            visible: n,
        }
    }

    /// calig's words as units.
    pub fn words(words: &[Word]) -> Self {
        let positions: Vec<Vec<usize>> = words
            .iter()
            .map(|w| (w.token_range.0..w.token_range.1).collect())
            .collect();
        Self {
            visible: positions.len(),
            positions,
        }
    }

    /// The whitespace tokens of `text` (single-space separated, as ERASER documents are read),
    /// each covering the words that start inside it; tokens after the last one that covers a
    /// word were truncated away and are not units.
    pub fn whitespace_tokens(text: &str, words: &[Word]) -> Self {
        // Character start of every whitespace token.
        let mut starts = Vec::new();
        let mut at_start = true;
        for (i, c) in text.chars().enumerate() {
            if c == ' ' {
                at_start = true;
            } else if at_start {
                starts.push(i);
                at_start = false;
            }
        }
        let mut positions: Vec<Vec<usize>> = vec![Vec::new(); starts.len()];
        for w in words {
            let token = starts.partition_point(|&s| s <= w.start).saturating_sub(1);
            if let Some(p) = positions.get_mut(token) {
                p.extend(w.token_range.0..w.token_range.1);
            }
        }
        let visible = positions
            .iter()
            .rposition(|p| !p.is_empty())
            .map_or(0, |i| i + 1);
        positions.truncate(visible);
        Self { positions, visible }
    }

    /// [`Units::whitespace_tokens`] of each text of an example (one, or the two of a sentence
    /// pair, whose words carry their segment), in order.
    pub fn whitespace_tokens_of(texts: &[Option<&str>], words: &[Word]) -> Self {
        let present: Vec<&str> = texts.iter().flatten().copied().collect();
        if present.len() <= 1 {
            return Self::whitespace_tokens(present.first().copied().unwrap_or(""), words);
        }
        let mut positions = Vec::new();
        for (segment, text) in present.iter().enumerate() {
            let own: Vec<Word> = words
                .iter()
                .filter(|w| w.segment as usize == segment)
                .cloned()
                .collect();
            positions.extend(Self::whitespace_tokens(text, &own).positions);
        }
        Self {
            visible: positions.len(),
            positions,
        }
    }

    pub fn scores(&self, token_scores: &[f64]) -> Vec<f64> {
        self.positions
            .iter()
            .map(|p| p.iter().map(|&t| token_scores[t]).sum())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(start: usize, end: usize, range: (usize, usize)) -> Word {
        Word {
            text: String::new(),
            start,
            end,
            token_range: range,
            segment: 0,
        }
    }

    #[test]
    fn a_pairs_whitespace_tokens_follow_each_text() {
        // "[CLS] good film [SEP] bad [SEP]": the second text's offsets start again at 0.
        let mut words = vec![word(0, 4, (1, 2)), word(5, 9, (2, 3)), word(0, 3, (4, 5))];
        words[2].segment = 1;
        let u = Units::whitespace_tokens_of(&[Some("good film"), Some("bad")], &words);
        assert_eq!(u.positions, vec![vec![1], vec![2], vec![4]]);
        assert_eq!(u.visible, 3);
    }

    #[test]
    fn whitespace_tokens_collect_their_words() {
        // "it's great ." → BERT words: it (1), ' (2), s (3), great (4..6), . (6); [CLS] = 0.
        let text = "it's great .";
        let words = [
            word(0, 2, (1, 2)),
            word(2, 3, (2, 3)),
            word(3, 4, (3, 4)),
            word(5, 10, (4, 6)),
            word(11, 12, (6, 7)),
        ];
        let u = Units::whitespace_tokens(text, &words);
        assert_eq!(u.positions, vec![vec![1, 2, 3], vec![4, 5], vec![6]]);
        assert_eq!(u.visible, 3);
        assert_eq!(
            u.scores(&[9.0, 1.0, 2.0, 3.0, 0.5, 0.5, -1.0]),
            vec![6.0, 1.0, -1.0]
        );
        // Truncated after "great": the last token is not a unit.
        let cut = Units::whitespace_tokens(text, &words[..4]);
        assert_eq!(cut.visible, 2);
        assert_eq!(Units::words(&words).positions.len(), 5);
    }
}
