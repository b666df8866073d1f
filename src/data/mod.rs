//! The labelled data sets calig evaluates on, and tables of inputs: the [`Example`] type, the
//! one table reader ([`rows`], shared with `calig batch`), the readers of the other shapes
//! (ERASER, fastText TSV, idx files, image folders), choosing and sampling a data set's
//! examples (`select`, with the `eval` feature) and attributions made elsewhere ([`read_attributions`]).

mod attributions;
mod eraser;
mod fasttext;
mod images;
pub mod rows;
#[cfg(feature = "eval")]
pub mod select;
mod tabular;

pub use attributions::{read_attributions, WordScores};
pub use eraser::read_eraser;
pub use fasttext::read_fasttext_tsv;
pub use images::{read_idx, read_image_folder};
#[cfg(feature = "eval")]
pub use select::{select, Selected, Selection};
pub use tabular::{read_table, Table};

use crate::error::{CaligError, Result};
use std::path::Path;

/// One labelled text.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub id: String,
    pub text: String,
    /// The second text of a sentence pair (`--pair-column`).
    pub text_pair: Option<String>,
    pub label: usize,
    /// 1-based line of the example in its file.
    pub line: usize,
    /// Human rationale spans, half-open, in whitespace tokens of `text` (ERASER only).
    pub evidence: Vec<(usize, usize)>,
    /// Image data sets: the image (then `text` is its name, which keys the caches).
    pub image: Option<ImageData>,
}

/// Where an example's image is.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageData {
    File(std::path::PathBuf),
    Decoded(std::sync::Arc<image::DynamicImage>),
}

impl Example {
    /// The text that keys the example's cached values: its text, or both texts of a pair
    /// (joined by U+001F, which no data set holds).
    pub fn key_text(&self) -> std::borrow::Cow<'_, str> {
        match &self.text_pair {
            Some(pair) => format!("{}\u{1f}{pair}", self.text).into(),
            None => self.text.as_str().into(),
        }
    }

    /// What `calig explain` would be given for this example.
    pub fn input(&self) -> crate::explain::ExplainInput {
        use crate::explain::ExplainInput;
        match (&self.image, &self.text_pair) {
            (None, Some(pair)) => ExplainInput::Pair(self.text.clone(), pair.clone()),
            (None, None) => ExplainInput::Text(self.text.clone()),
            (Some(ImageData::File(p)), _) => ExplainInput::Image(p.clone()),
            (Some(ImageData::Decoded(img)), _) => ExplainInput::Decoded {
                name: self.text.clone(),
                image: img.clone(),
            },
        }
    }
}

/// The file as text; invalid UTF-8 is an error that names its line and byte column.
pub(crate) fn read(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| CaligError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = valid.len() - valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
        bad(
            path,
            line,
            format!("not valid UTF-8 (byte {column} of the line)"),
        )
    })
}

/// The non-empty lines of a JSON-lines file, parsed, with their 0-based line index.
pub(crate) fn json_lines(path: &Path) -> Result<Vec<(usize, serde_json::Value)>> {
    read(path)?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map(|v| (i, v))
                .map_err(|e| bad(path, i + 1, e.to_string()))
        })
        .collect()
}

pub(crate) fn bad(path: &Path, line: usize, reason: impl Into<String>) -> CaligError {
    CaligError::InvalidFile {
        path: path.to_path_buf(),
        reason: format!("line {line}: {}", reason.into()),
    }
}
