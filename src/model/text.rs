//! Tokenisation with the checkpoint's own `tokenizer.json` (Rust `tokenizers`, pure-Rust
//! features), and the batching of encodings into model inputs.

use super::config::{Family, ModelConfig};
use super::roberta;
use super::TextInput;
use crate::error::{CaligError, Result};
use candle_core::{Device, Tensor};
use serde::Serialize;
use std::path::Path;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// A word of the input: its character span and the sub-tokens it covers.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Word {
    pub text: String,
    /// Character offsets into the input text.
    pub start: usize,
    pub end: usize,
    /// Half-open token index range [first, last + 1).
    pub token_range: (usize, usize),
    /// Which text of a sentence pair the word is in (0: the first, 1: the second); its
    /// offsets are into that text.
    #[serde(default, skip_serializing_if = "is_first")]
    pub segment: u8,
}

fn is_first(segment: &u8) -> bool {
    *segment == 0
}

#[derive(Debug, Clone)]
pub struct Encoded {
    pub text: String,
    /// The second text of a sentence pair.
    pub text_pair: Option<String>,
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    pub tokens: Vec<String>,
    pub special: Vec<bool>,
    pub words: Vec<Word>,
    /// Token count before truncation, when the input was cut to the model's maximum.
    pub truncated_from: Option<usize>,
}

/// Token ids a text reference input substitutes for the non-special tokens.
#[derive(Debug, Clone, Copy)]
pub struct SpecialIds {
    pub pad: u32,
    pub mask: Option<u32>,
    pub unk: Option<u32>,
}

pub struct TextTokenizer {
    tokenizer: Tokenizer,
    max_length: usize,
}

impl TextTokenizer {
    /// Loads `tokenizer.json`, replacing its fixed padding/truncation with truncation at
    /// `max_length` (the model's limit) and no padding; `truncate_left` cuts the start of long
    /// inputs instead of their end (tokenizer_config.json's `truncation_side`).
    pub fn from_file(path: &Path, max_length: usize, truncate_left: bool) -> Result<Self> {
        let mut tokenizer = Tokenizer::from_file(path).map_err(|e| CaligError::InvalidFile {
            path: path.to_path_buf(),
            reason: format!("cannot load tokenizer: {e}"),
        })?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: if truncate_left {
                    TruncationDirection::Left
                } else {
                    TruncationDirection::Right
                },
            }))
            .map_err(|e| CaligError::InvalidFile {
                path: path.to_path_buf(),
                reason: format!("cannot set truncation: {e}"),
            })?;
        Ok(Self {
            tokenizer,
            max_length,
        })
    }

    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Ids of the pad, mask and unknown tokens, by their usual spellings.
    pub fn special_ids(&self, pad: u32) -> SpecialIds {
        let find = |names: &[&str]| names.iter().find_map(|n| self.tokenizer.token_to_id(n));
        SpecialIds {
            pad,
            mask: find(&["[MASK]", "<mask>"]),
            unk: find(&["[UNK]", "<unk>"]),
        }
    }

    /// `ids` as text, special tokens kept: Python's `tokenizer.decode(ids)` (the decoder of
    /// tokenizer.json, with its clean-up of spaces before punctuation where it has one).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, false)
            .map_err(|e| CaligError::InvalidInput(format!("tokenizer failed to decode: {e}")))
    }

    /// Token and type ids of `text` (special tokens added, truncated), without the offsets and
    /// words that [`TextTokenizer::encode`] also works out.
    pub fn ids(&self, text: &str) -> Result<(Vec<u32>, Vec<u32>)> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| CaligError::InvalidInput(format!("tokenizer failed: {e}")))?;
        Ok((enc.get_ids().to_vec(), enc.get_type_ids().to_vec()))
    }

    /// Ids and token strings of `text` without special tokens or truncation: a continuation
    /// appended to an encoded prompt.
    pub fn plain(&self, text: &str) -> Result<(Vec<u32>, Vec<String>)> {
        let mut t = self.tokenizer.clone();
        t.with_truncation(None)
            .map_err(|e| CaligError::InvalidInput(format!("tokenizer failed: {e}")))?;
        let enc = t
            .encode(text, false)
            .map_err(|e| CaligError::InvalidInput(format!("tokenizer failed: {e}")))?;
        Ok((enc.get_ids().to_vec(), enc.get_tokens().to_vec()))
    }

    /// The token string of every id below `size` (an empty string for ids the vocabulary
    /// lacks).
    pub fn vocabulary(&self, size: usize) -> Vec<String> {
        (0..size as u32)
            .map(|i| self.tokenizer.id_to_token(i).unwrap_or_default())
            .collect()
    }

    pub fn encode(&self, text: &str) -> Result<Encoded> {
        self.encode_pair(text, None)
    }

    /// `text`, or the sentence pair (`text`, `pair`) as the tokenizer's pair template joins
    /// them (BERT: `[CLS] a [SEP] b [SEP]` with token type ids 0 then 1; RoBERTa:
    /// `<s> a </s></s> b </s>`); truncation takes tokens from the longer text first.
    pub fn encode_pair(&self, text: &str, pair: Option<&str>) -> Result<Encoded> {
        let tok_err =
            |e: tokenizers::Error| CaligError::InvalidInput(format!("tokenizer failed: {e}"));
        let input = |t: &str| -> tokenizers::EncodeInput<'static> {
            match pair {
                Some(b) => (t.to_string(), b.to_string()).into(),
                None => t.to_string().into(),
            }
        };
        let enc = self
            .tokenizer
            .encode_char_offsets(input(text), true)
            .map_err(tok_err)?;
        let truncated_from = if enc.get_overflowing().is_empty() {
            None
        } else {
            let mut full = self.tokenizer.clone();
            full.with_truncation(None).map_err(tok_err)?;
            Some(
                full.encode(input(text), true)
                    .map_err(tok_err)?
                    .get_ids()
                    .len(),
            )
        };
        let special: Vec<bool> = enc
            .get_special_tokens_mask()
            .iter()
            .map(|&m| m == 1)
            .collect();
        let texts: Vec<&str> = std::iter::once(text).chain(pair).collect();
        let segments: Vec<usize> = enc
            .get_sequence_ids()
            .iter()
            .map(|s| s.unwrap_or(0))
            .collect();
        let words = group_words(
            &texts,
            &segments,
            enc.get_word_ids(),
            enc.get_offsets(),
            &special,
        );
        Ok(Encoded {
            text: text.to_string(),
            text_pair: pair.map(str::to_string),
            ids: enc.get_ids().to_vec(),
            type_ids: enc.get_type_ids().to_vec(),
            tokens: enc.get_tokens().to_vec(),
            special,
            words,
            truncated_from,
        })
    }
}

/// Groups consecutive non-special tokens with the same segment and word id into words;
/// `segments[t]` is token t's text among `texts` (its offsets are into that text).
fn group_words(
    texts: &[&str],
    segments: &[usize],
    word_ids: &[Option<u32>],
    offsets: &[(usize, usize)],
    special: &[bool],
) -> Vec<Word> {
    let chars: Vec<Vec<char>> = texts.iter().map(|t| t.chars().collect()).collect();
    let mut words: Vec<(Option<u32>, Word)> = Vec::new();
    for (t, (&wid, &(s, e))) in word_ids.iter().zip(offsets).enumerate() {
        if special[t] || wid.is_none() {
            continue;
        }
        let segment = segments.get(t).copied().unwrap_or(0).min(texts.len() - 1) as u8;
        match words.last_mut() {
            Some((last_id, w))
                if *last_id == wid && w.token_range.1 == t && w.segment == segment =>
            {
                w.token_range.1 = t + 1;
                w.end = w.end.max(e);
            }
            _ => words.push((
                wid,
                Word {
                    text: String::new(),
                    start: s,
                    end: e,
                    token_range: (t, t + 1),
                    segment,
                },
            )),
        }
    }
    words
        .into_iter()
        .map(|(_, mut w)| {
            let chars = &chars[w.segment as usize];
            let end = w.end.min(chars.len());
            // SentencePiece pieces ("▁big") carry the preceding space in their offsets: the
            // word starts at its first non-space character.
            while w.start < end && chars[w.start].is_whitespace() {
                w.start += 1;
            }
            w.text = chars[w.start.min(end)..end]
                .iter()
                .collect::<String>()
                .trim()
                .to_string();
            w
        })
        .collect()
}

/// Position ids of one sequence, as the family computes them.
pub fn position_ids(cfg: &ModelConfig, ids: &[u32]) -> Vec<u32> {
    match cfg.family {
        Family::Roberta | Family::XlmRoberta => roberta::position_ids(ids, cfg.pad_token_id),
        _ => (0..ids.len() as u32).collect(),
    }
}

/// Pads sequences into a batch: on the right, or on the left for decoders (their head reads
/// the last position, which left padding makes every row's last real token). `ids[i]` and
/// `type_ids[i]` are one sequence each.
pub fn batch(
    cfg: &ModelConfig,
    ids: &[Vec<u32>],
    type_ids: &[Vec<u32>],
    device: &Device,
) -> Result<TextInput> {
    batch_masked(cfg, ids, type_ids, None, device)
}

/// [`batch`] with explicit attention masks (1 = attend) for the real positions of each
/// sequence; padding positions are always masked.
pub fn batch_masked(
    cfg: &ModelConfig,
    ids: &[Vec<u32>],
    type_ids: &[Vec<u32>],
    masks: Option<&[Vec<u32>]>,
    device: &Device,
) -> Result<TextInput> {
    let b = ids.len();
    let s = ids.iter().map(Vec::len).max().unwrap_or(0);
    if b == 0 || s == 0 {
        return Err(CaligError::InvalidInput("empty text input".into()));
    }
    let pad = cfg.pad_token_id;
    let left = cfg.family.is_decoder();
    let (mut all_ids, mut all_types, mut all_pos, mut all_mask) = (vec![], vec![], vec![], vec![]);
    for (r, (row, types)) in ids.iter().zip(type_ids).enumerate() {
        let n = row.len();
        let given = masks.map(|m| &m[r]);
        // Real tokens at offset..offset + n of the padded row.
        let offset = if left { s - n } else { 0 };
        let at = |i: usize| i.checked_sub(offset).filter(|&k| k < n);
        let padded: Vec<u32> = (0..s).map(|i| at(i).map_or(pad, |k| row[k])).collect();
        if left {
            // Learned positions (GPT-2) count from the first real token; pads get 0.
            all_pos.extend((0..s).map(|i| at(i).unwrap_or(0) as u32));
        } else {
            all_pos.extend(position_ids(cfg, &padded));
        }
        all_ids.extend(padded);
        all_types.extend((0..s).map(|i| at(i).and_then(|k| types.get(k).copied()).unwrap_or(0)));
        all_mask.extend((0..s).map(|i| match (at(i), given) {
            (Some(k), Some(m)) => m[k],
            (Some(_), None) => 1,
            (None, _) => 0,
        }));
    }
    let t = |v: Vec<u32>| Tensor::from_vec(v, (b, s), device);
    Ok(TextInput {
        input_ids: t(all_ids)?,
        token_type_ids: t(all_types)?,
        position_ids: t(all_pos)?,
        attention_mask: t(all_mask)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_group_subtokens() {
        let text = "unbelievable film";
        let word_ids = [None, Some(0), Some(0), Some(1), None];
        let offsets = [(0, 0), (0, 2), (2, 12), (13, 17), (0, 0)];
        let special = [true, false, false, false, true];
        let words = group_words(&[text], &[0; 5], &word_ids, &offsets, &special);
        assert_eq!(words.len(), 2);
        assert_eq!(words[0].text, "unbelievable");
        assert_eq!(words[0].token_range, (1, 3));
        assert_eq!(words[1].text, "film");
        assert_eq!((words[1].start, words[1].end), (13, 17));
    }

    #[test]
    fn sentencepiece_offsets_skip_the_leading_space() {
        // XLM-R gives "▁big" the offsets (5, 9) of " big" in "hello big world".
        let text = "hello big world";
        let word_ids = [None, Some(0), Some(1), Some(2), None];
        let offsets = [(0, 0), (0, 5), (5, 9), (9, 15), (0, 0)];
        let special = [true, false, false, false, true];
        let words = group_words(&[text], &[0; 5], &word_ids, &offsets, &special);
        assert_eq!(
            (words[1].start, words[1].end, words[1].text.as_str()),
            (6, 9, "big")
        );
        assert_eq!((words[2].start, words[2].text.as_str()), (10, "world"));
    }

    #[test]
    fn decoders_are_padded_on_the_left_with_their_masks_aligned() {
        let cfg = ModelConfig::from_json(&serde_json::json!({
            "model_type": "llama", "num_hidden_layers": 1, "hidden_size": 8,
            "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 20,
            "max_position_embeddings": 16, "pad_token_id": 9
        }))
        .unwrap();
        let ids = [vec![1, 2, 3], vec![4]];
        let types = [vec![0; 3], vec![0]];
        let masks = [vec![1, 0, 1], vec![1]];
        let t = batch_masked(&cfg, &ids, &types, Some(&masks), &Device::Cpu).unwrap();
        let rows = |t: &Tensor| t.to_vec2::<u32>().unwrap();
        assert_eq!(rows(&t.input_ids), [[1, 2, 3], [9, 9, 4]]);
        assert_eq!(rows(&t.attention_mask), [[1, 0, 1], [0, 0, 1]]);
        assert_eq!(rows(&t.position_ids), [[0, 1, 2], [0, 0, 0]]);
    }

    #[test]
    fn pair_words_keep_their_segment_and_its_offsets() {
        // "[CLS] good film [SEP] bad [SEP]": word ids restart in the second text.
        let texts = ["good film", "bad"];
        let segments = [0, 0, 0, 0, 1, 1];
        let word_ids = [None, Some(0), Some(1), None, Some(0), None];
        let offsets = [(0, 0), (0, 4), (5, 9), (0, 0), (0, 3), (0, 0)];
        let special = [true, false, false, true, false, true];
        let words = group_words(&texts, &segments, &word_ids, &offsets, &special);
        let got: Vec<(&str, u8, (usize, usize))> = words
            .iter()
            .map(|w| (w.text.as_str(), w.segment, w.token_range))
            .collect();
        assert_eq!(
            got,
            [("good", 0, (1, 2)), ("film", 0, (2, 3)), ("bad", 1, (4, 5))]
        );
    }
}
