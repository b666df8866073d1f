//! Occlusion: leave-one-token-out for text (each non-special token's word embedding replaced by
//! the baseline's: the pad token by default, or zero), patch occlusion for images (each patch's
//! pixels replaced by the baseline's: black by default). Score = y_c(x) − y_c(x occluded).
//! A unit that already equals the baseline (a black background patch under the black
//! reference) leaves the input as it is: its score is exactly 0, with no forward pass, rather
//! than the float noise of a batched pass against the single one, whose sign would order the
//! tied units differently from run to run.

use super::{Attribution, Params, Scores, Subject};
use crate::error::Result;
use candle_core::{DType, Tensor};
use super::MethodInfo;

pub const INFO: MethodInfo = MethodInfo::new(
    "occlusion",
    "Leave-one-token-out (text) or patch occlusion (images), against the reference input.",
    run,
)
.with_reference()
.reading(&[&["baseline", "max_batch", "memory_mib"]])
// 2: units already equal to the baseline score exactly 0 (were float noise).
.revised(2);

pub fn run(subject: &Subject, params: &Params) -> Result<Attribution> {
    let model = subject.model;
    let input = model.input_embeddings(&subject.input)?;
    let baseline = super::reference::single(subject, params, "occlusion")?.input_embeddings;
    // Units, and one occluded variant per unit that the baseline changes: (unit, variant).
    let (units, variants): (usize, Vec<(usize, Tensor)>) = if subject.is_text() {
        let s = input.dim(1)?;
        let mut variants = Vec::new();
        for t in (0..s).filter(|&t| !subject.special[t]) {
            if !same(&input.narrow(1, t, 1)?, &baseline.narrow(1, t, 1)?)? {
                variants.push((t, splice(&input, &baseline, 1, t, 1)?));
            }
        }
        (s, variants)
    } else {
        let (_, _, h, w) = input.dims4()?;
        let p = subject.patch_size;
        let gw = w / p;
        let mut variants = Vec::new();
        for i in 0..(h / p) * gw {
            let (y0, x0) = ((i / gw) * p, (i % gw) * p);
            let patch =
                |x: &Tensor| -> Result<Tensor> { Ok(x.narrow(2, y0, p)?.narrow(3, x0, p)?) };
            if !same(&patch(&input)?, &patch(&baseline)?)? {
                variants.push((i, occlude_patch(&input, &baseline, y0, x0, p)?));
            }
        }
        ((h / p) * gw, variants)
    };
    let y = subject.logit()?;
    let mut scores = vec![0.0; units];
    // Batches of occluded copies, at least one per worker, run in parallel.
    let runtime = model.runtime();
    let rows = super::path::chunk_rows(params, subject, variants.len())
        .min(variants.len().div_ceil(runtime.workers).max(1));
    let chunks: Vec<&[(usize, Tensor)]> = variants.chunks(rows).collect();
    let per_chunk = runtime.map_parallel(&chunks, |chunk| -> Result<Vec<f64>> {
        let batch = Tensor::cat(&chunk.iter().map(|(_, v)| v).collect::<Vec<_>>(), 0)?;
        let h0 = model.embed(&subject.input, &batch)?;
        let logits = model.logits_from(&h0, subject.mask_bias.as_ref())?;
        Ok(subject
            .objective()
            .of_logits(&logits)?
            .to_dtype(DType::F64)?
            .to_vec1()?)
    })?;
    for (chunk, ys) in chunks.iter().zip(per_chunk) {
        for ((unit, _), yo) in chunk.iter().zip(ys) {
            scores[*unit] = y - yo;
        }
    }
    Ok(Attribution::scores_only(if subject.is_text() {
        Scores::Tokens(scores)
    } else {
        Scores::Patches(scores)
    }))
}

/// Whether two tensors of one shape hold the same values.
fn same(a: &Tensor, b: &Tensor) -> Result<bool> {
    let diff = (a - b)?.abs()?.max_all()?;
    Ok(diff.to_dtype(DType::F64)?.to_scalar::<f64>()? == 0.0)
}

/// `x` with `piece` in place of positions [start, start + piece's length) along `dim`.
fn replace_range(x: &Tensor, dim: usize, start: usize, piece: Tensor) -> Result<Tensor> {
    let (n, len) = (x.dim(dim)?, piece.dim(dim)?);
    let mut parts = Vec::new();
    if start > 0 {
        parts.push(x.narrow(dim, 0, start)?);
    }
    parts.push(piece);
    if start + len < n {
        parts.push(x.narrow(dim, start + len, n - start - len)?);
    }
    Ok(Tensor::cat(&parts, dim)?)
}

/// `x` with positions [start, start+len) along `dim` taken from `replacement`.
fn splice(
    x: &Tensor,
    replacement: &Tensor,
    dim: usize,
    start: usize,
    len: usize,
) -> Result<Tensor> {
    replace_range(x, dim, start, replacement.narrow(dim, start, len)?)
}

/// Images (1, c, h, w): `x` with the p×p patch at (y0, x0) taken from `replacement`.
fn occlude_patch(
    x: &Tensor,
    replacement: &Tensor,
    y0: usize,
    x0: usize,
    p: usize,
) -> Result<Tensor> {
    let band = splice(
        &x.narrow(2, y0, p)?,
        &replacement.narrow(2, y0, p)?,
        3,
        x0,
        p,
    )?;
    replace_range(x, 2, y0, band)
}
