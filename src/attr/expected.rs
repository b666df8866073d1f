//! Expected gradients (`baseline=expected:N`; Erion et al., Nature Machine Intelligence 2021):
//! N references x′_1..x′_N drawn from a reference set, one integrated-gradients path each (the
//! run's quadrature and steps), the attributions averaged:
//!
//!   EG(x) = (1/N) Σ_n IG(x; x′_n),   Σ_t EG_t(x) ≈ y(x) − (1/N) Σ_n y(x′_n),
//!
//! so completeness holds for the average against the mean reference objective. The layer
//! methods (lig, CA-LIG) take each reference's hidden states as h′^(l) and average their maps.
//!
//! **The draw.** N distinct entries of the set (without replacement; N above the set's size is
//! an error), chosen by a partial Fisher–Yates shuffle driven by SplitMix64 seeded with `seed`
//! (0 unless given): the same file, N and seed give the same references on every machine.
//!
//! **Text references** keep the input's length and specials: the reference text is tokenised
//! (its own special tokens dropped), its tokens fill the input's non-special positions in order,
//! cut when longer, padded with the pad token when shorter; the input's special tokens
//! (\[CLS\], \[SEP\], `<s>`, `</s>`), attention mask, token types and positions stay, as for
//! the other text references. A sentence pair's positions are filled across both segments.
//! **Image references** are preprocessed as the input (resized, normalised).

use super::baseline::ResolvedBaseline;
use super::params::Params;
use super::subject::Subject;
use crate::batch::{Columns, RowInput};
use crate::error::{CaligError, Result};
use crate::model::{ModelInput, TextInput};
use candle_core::Tensor;
use std::path::{Path, PathBuf};

/// One entry of a reference set.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Text(String),
    Image(PathBuf),
}

/// The references an `expected:N` run drew: their positions in the set (from 0, in draw
/// order), the set's size and the references as inputs.
pub struct Drawn {
    pub indices: Vec<usize>,
    pub set_size: usize,
    pub references: Vec<ResolvedBaseline>,
}

const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "bmp", "gif", "tif", "webp"];

fn is_image_path(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn invalid(path: &Path, reason: impl Into<String>) -> CaligError {
    CaligError::InvalidFile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The entries of the reference set at `path`, for a text or an image model: a .jsonl, .tsv or
/// .csv read as `calig batch` reads its input (column `text` or `sentence`; images: paths
/// relative to the file); else a folder of images (searched recursively, sorted by path), one
/// image, or a text file with one entry per non-blank line (texts, or image paths relative to
/// the file).
pub fn read_set(path: &Path, is_text: bool) -> Result<Vec<Entry>> {
    let kind = if is_text { "a text" } else { "an image" };
    let meta = std::fs::metadata(path).map_err(|e| CaligError::io(path, e))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let entries = if meta.is_dir() {
        if is_text {
            return Err(invalid(
                path,
                "the reference set of a text model is a file of texts, not a folder",
            ));
        }
        let mut files = Vec::new();
        images_in(path, &mut files)?;
        files.sort();
        files.into_iter().map(Entry::Image).collect()
    } else if is_image_path(path) {
        if is_text {
            return Err(invalid(
                path,
                "an image cannot be the reference set of a text model",
            ));
        }
        vec![Entry::Image(path.to_path_buf())]
    } else if matches!(ext, "jsonl" | "json" | "tsv" | "csv") {
        let cols = Columns {
            is_image: !is_text,
            ..Columns::default()
        };
        let mut out = Vec::new();
        for row in crate::batch::read_rows(path, &cols)? {
            out.push(match row.input {
                RowInput::Text(t) => Entry::Text(t),
                RowInput::Image(p) => Entry::Image(p),
                RowInput::Pair(a, b) => Entry::Text(format!("{a} {b}")),
                RowInput::Bad(why) => {
                    return Err(invalid(path, format!("line {}: {why}", row.line)))
                }
            });
        }
        out
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| CaligError::io(path, e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .peekable();
        if is_text && lines.peek().is_some() && lines.all(|l| is_image_path(Path::new(l))) {
            return Err(invalid(
                path,
                "every line names an image file, but the model is a text model: give it texts",
            ));
        }
        let mut out = Vec::new();
        for (i, l) in text.lines().enumerate() {
            let l = l.trim();
            if l.is_empty() {
                continue;
            }
            if is_text {
                out.push(Entry::Text(l.to_string()));
                continue;
            }
            let image = base.join(l);
            if !image.is_file() {
                return Err(invalid(
                    path,
                    format!(
                        "line {}: `{l}` is not an image file (an image model's list names one \
                         image per line, relative to the list's folder)",
                        i + 1
                    ),
                ));
            }
            out.push(Entry::Image(image));
        }
        out
    };
    if entries.is_empty() {
        return Err(invalid(
            path,
            format!("no references in it ({kind} model's reference set)"),
        ));
    }
    Ok(entries)
}

fn images_in(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(|e| CaligError::io(dir, e))? {
        let p = e.map_err(|e| CaligError::io(dir, e))?.path();
        if p.is_dir() {
            images_in(&p, out)?;
        } else if is_image_path(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// SplitMix64 (Steele, Lea & Flood 2014): a small, portable generator for the draw.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in 0..n (n ≥ 1), by the high half of a 64×64-bit product.
    fn below(&mut self, n: usize) -> usize {
        ((self.next() as u128 * n as u128) >> 64) as usize
    }
}

/// `n` distinct positions of a set of `size`, drawn with `seed` (partial Fisher–Yates).
pub fn draw(size: usize, n: usize, seed: u64) -> Result<Vec<usize>> {
    if n == 0 || n > size {
        return Err(CaligError::InvalidInput(format!(
            "expected:{n}: the reference set has {size} references; N must be 1..={size} \
             (references are drawn without replacement)"
        )));
    }
    let mut rng = SplitMix64(seed);
    let mut order: Vec<usize> = (0..size).collect();
    for i in 0..n {
        let j = i + rng.below(size - i);
        order.swap(i, j);
    }
    order.truncate(n);
    Ok(order)
}

/// The reference ids of a text input: its special tokens where they are, the reference's
/// tokens in its other positions in order, the pad token where the reference ran out.
pub fn fill_text(input_ids: &[u32], special: &[bool], reference: &[u32], pad: u32) -> Vec<u32> {
    let mut next = reference.iter();
    input_ids
        .iter()
        .zip(special)
        .map(|(&id, &sp)| if sp { id } else { *next.next().unwrap_or(&pad) })
        .collect()
}

/// The `expected:N` references of this input, drawn from `params.reference_data`.
pub fn references(subject: &Subject, params: &Params) -> Result<Drawn> {
    let path = params.reference_data.as_deref().ok_or_else(|| {
        CaligError::InvalidInput(
            "baseline expected:N needs a reference set (reference_data, --reference-data FILE)"
                .into(),
        )
    })?;
    let m = subject.loaded.ok_or_else(|| {
        CaligError::Unsupported(
            "expected:N reads its references with the loaded model's tokenizer or image \
             processor; this input was prepared without one"
                .into(),
        )
    })?;
    let set = read_set(Path::new(path), subject.is_text())?;
    let indices = draw(set.len(), params.expected_samples, params.seed)?;
    let references = indices
        .iter()
        .map(|&i| {
            let reference = reference_input(subject, m, &set[i])?;
            Ok(ResolvedBaseline {
                input_embeddings: subject.model.input_embeddings(&reference)?,
                input: Some(reference),
            })
        })
        .collect::<Result<_>>()?;
    Ok(Drawn {
        indices,
        set_size: set.len(),
        references,
    })
}

/// One entry as a reference input shaped like the subject's input.
fn reference_input(
    subject: &Subject,
    m: &crate::model::LoadedModel,
    entry: &Entry,
) -> Result<ModelInput> {
    match (&subject.input, entry) {
        (ModelInput::Text(t), Entry::Text(text)) => {
            let tok = m
                .tokenizer
                .as_ref()
                .ok_or_else(|| CaligError::InvalidInput("the model has no tokenizer".into()))?;
            let enc = tok.encode(text)?;
            let own: Vec<u32> = enc
                .ids
                .iter()
                .zip(&enc.special)
                .filter(|(_, &sp)| !sp)
                .map(|(&id, _)| id)
                .collect();
            let pad = subject
                .special_ids
                .map(|s| s.pad)
                .ok_or_else(|| CaligError::InvalidInput("no tokenizer special ids".into()))?;
            let ids: Vec<u32> = t.input_ids.flatten_all()?.to_vec1()?;
            let filled = fill_text(&ids, &subject.special, &own, pad);
            Ok(ModelInput::Text(TextInput {
                input_ids: Tensor::from_vec(filled, t.input_ids.shape(), t.input_ids.device())?,
                ..t.clone()
            }))
        }
        (ModelInput::Image(img), Entry::Image(path)) => {
            let (reference, _) = m.prepare_image(path)?;
            if let ModelInput::Image(r) = &reference {
                if r.pixel_values.dims() != img.pixel_values.dims() {
                    return Err(invalid(
                        path,
                        "the preprocessed reference image does not have the input's shape",
                    ));
                }
            }
            Ok(reference)
        }
        _ => Err(CaligError::Internal(
            "a reference entry of the other input kind".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_draw_is_seeded_distinct_and_checked() {
        let a = draw(10, 4, 0).unwrap();
        assert_eq!(a, draw(10, 4, 0).unwrap());
        assert_ne!(a, draw(10, 4, 1).unwrap());
        let mut sorted = a.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 4);
        assert!(a.iter().all(|&i| i < 10));
        // The whole set is a permutation of it.
        let mut all = draw(5, 5, 7).unwrap();
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2, 3, 4]);
        // SplitMix64's published first output for seed 0.
        assert_eq!(SplitMix64(0).next(), 0xe220_a839_7b1d_cdaf);
        let e = draw(3, 4, 0).unwrap_err().to_string();
        assert!(e.contains("has 3 references") && e.contains("1..=3"), "{e}");
        assert!(draw(3, 0, 0).is_err());
    }

    #[test]
    fn text_references_keep_the_input_specials_and_length() {
        let ids = [101, 7, 8, 9, 102];
        let special = [true, false, false, false, true];
        // Longer: cut; shorter: padded.
        assert_eq!(
            fill_text(&ids, &special, &[1, 2, 3, 4], 0),
            vec![101, 1, 2, 3, 102]
        );
        assert_eq!(fill_text(&ids, &special, &[5], 0), vec![101, 5, 0, 0, 102]);
        // A pair's separator stays where the input has it.
        let pair = [101, 7, 102, 8, 102];
        let sp = [true, false, true, false, true];
        assert_eq!(
            fill_text(&pair, &sp, &[1, 2, 3], 0),
            vec![101, 1, 102, 2, 102]
        );
    }

    #[test]
    fn reference_sets_are_read_by_kind_and_bad_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        let lines = dir.path().join("refs.txt");
        std::fs::write(&lines, "one text\n\n  two  \n").unwrap();
        assert_eq!(
            read_set(&lines, true).unwrap(),
            vec![Entry::Text("one text".into()), Entry::Text("two".into())]
        );
        // Images: lines are paths beside the list, which must exist.
        let e = read_set(&lines, false).unwrap_err().to_string();
        assert!(e.contains("line 1: `one text` is not an image file"), "{e}");
        std::fs::write(dir.path().join("one.png"), b"").unwrap();
        let images = dir.path().join("images.txt");
        std::fs::write(&images, "one.png\n").unwrap();
        assert_eq!(
            read_set(&images, false).unwrap(),
            vec![Entry::Image(dir.path().join("one.png"))]
        );
        let table = dir.path().join("refs.tsv");
        std::fs::write(&table, "sentence\tlabel\nit is fine\t1\n").unwrap();
        assert_eq!(
            read_set(&table, true).unwrap(),
            vec![Entry::Text("it is fine".into())]
        );
        let empty = dir.path().join("empty.txt");
        std::fs::write(&empty, "\n \n").unwrap();
        assert!(read_set(&empty, true)
            .unwrap_err()
            .to_string()
            .contains("no references"));
        let images = dir.path().join("imgs");
        std::fs::create_dir_all(images.join("b")).unwrap();
        std::fs::write(images.join("b/x.png"), b"").unwrap();
        std::fs::write(images.join("a.PNG"), b"").unwrap();
        std::fs::write(images.join("notes.txt"), b"").unwrap();
        assert_eq!(
            read_set(&images, false).unwrap(),
            vec![
                Entry::Image(images.join("a.PNG")),
                Entry::Image(images.join("b/x.png"))
            ]
        );
        let e = read_set(&images, true).unwrap_err().to_string();
        assert!(e.contains("not a folder"), "{e}");
        let list = dir.path().join("list.txt");
        std::fs::write(&list, "a.png\nb/x.jpg\n").unwrap();
        let e = read_set(&list, true).unwrap_err().to_string();
        assert!(e.contains("names an image file"), "{e}");
        let e = read_set(&dir.path().join("missing.txt"), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.txt"), "{e}");
    }
}
