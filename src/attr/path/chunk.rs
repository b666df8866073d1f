//! One chunk of interpolation points: which (path, step) points it holds, their interpolated
//! leaves, and the objective whose gradient the chunk integrates; shared by the two chunk
//! runners (candle.rs, explicit.rs).

use super::{Path, Space};
use crate::attr::quadrature::Rule;
use crate::error::Result;
use crate::model::{Encoder, ModelInput};
use candle_core::{DType, Tensor, Var};

/// One interpolation point: which path (index into the request's paths) and which step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub path: usize,
    pub step: usize,
}

/// All (path, step) points in path order, cut into chunks of at most `max_batch` points.
pub fn chunks(num_paths: usize, steps: usize, max_batch: usize) -> Vec<Vec<Point>> {
    let max_batch = max_batch.max(1);
    let all: Vec<Point> = (0..num_paths)
        .flat_map(|path| (0..steps).map(move |step| Point { path, step }))
        .collect();
    all.chunks(max_batch).map(<[Point]>::to_vec).collect()
}

/// Per-path gradient sums and per-block attention relevance of one chunk.
pub(crate) type ChunkSums = (Vec<Option<Tensor>>, Vec<Option<Tensor>>);

/// An interpolated leaf: its path, the points (rows, in step order) and their quadrature
/// weights.
pub(crate) struct Leaf {
    pub path: usize,
    pub points: Var,
    pub weights: Vec<f64>,
}

/// What a chunk runner needs: the model, the input, the paths and this chunk's leaves.
pub(crate) struct Chunk<'a> {
    pub model: &'a dyn Encoder,
    pub input: &'a ModelInput,
    pub mask_bias: Option<&'a Tensor>,
    pub objective: crate::attr::Objective,
    pub paths: &'a [Path],
    /// In joining order: input-space rows first, then h^(0), h^(1), ...
    pub leaves: &'a [Leaf],
    pub attention: bool,
}

impl Chunk<'_> {
    /// The rows a leaf's path feeds into the block stack: h^(0) of the interpolated
    /// embeddings for the input space, the points themselves for a hidden space.
    pub fn rows(&self, leaf: &Leaf) -> Result<Tensor> {
        Ok(match self.paths[leaf.path].space {
            Space::Input => self.model.embed(self.input, leaf.points.as_tensor())?,
            Space::Hidden(_) => leaf.points.as_tensor().clone(),
        })
    }

    /// Σ_rows w_row y(row), y the explained objective: what the chunk integrates the gradient of.
    pub fn objective(&self, logits: &Tensor) -> Result<Tensor> {
        let weights: Vec<f64> = self.leaves.iter().flat_map(|l| l.weights.clone()).collect();
        let w =
            Tensor::from_vec(weights, logits.dim(0)?, logits.device())?.to_dtype(logits.dtype())?;
        Ok((self.objective.of_logits(logits)? * w)?.sum_all()?)
    }
}

/// The chunk's points of every path present, in joining order.
pub(crate) fn interpolate(
    chunk: &[Point],
    order: &[usize],
    paths: &[Path],
    diffs: &[Tensor],
    rule: &Rule,
    dtype: DType,
) -> Result<Vec<Leaf>> {
    let mut leaves = Vec::new();
    for &p in order {
        let ks: Vec<usize> = chunk
            .iter()
            .filter(|pt| pt.path == p)
            .map(|pt| pt.step)
            .collect();
        if ks.is_empty() {
            continue;
        }
        let rank = diffs[p].rank();
        let mut shape = vec![ks.len()];
        shape.extend(std::iter::repeat_n(1, rank - 1));
        let alphas: Vec<f64> = ks.iter().map(|&k| rule.alphas[k]).collect();
        let a = Tensor::from_vec(alphas, shape, diffs[p].device())?.to_dtype(dtype)?;
        let z = paths[p]
            .baseline
            .broadcast_add(&diffs[p].broadcast_mul(&a)?)?;
        leaves.push(Leaf {
            path: p,
            points: Var::from_tensor(&z)?,
            weights: ks.iter().map(|&k| rule.weights[k]).collect(),
        });
    }
    Ok(leaves)
}

/// acc\[i\] += part, where acc\[i\] may be empty.
pub(crate) fn add_to(acc: &mut Option<Tensor>, part: Tensor) -> Result<()> {
    *acc = Some(match acc.take() {
        None => part,
        Some(x) => (x + part)?,
    });
    Ok(())
}

/// acc\[i\] += part\[i\], where present.
pub(crate) fn accumulate(acc: &mut [Option<Tensor>], part: Vec<Option<Tensor>>) -> Result<()> {
    for (a, p) in acc.iter_mut().zip(part) {
        if let Some(p) = p {
            add_to(a, p)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_point_once_in_order() {
        let c = chunks(3, 5, 4);
        assert_eq!(c.len(), 4);
        assert!(c.iter().all(|ch| ch.len() <= 4));
        let flat: Vec<Point> = c.into_iter().flatten().collect();
        assert_eq!(flat.len(), 15);
        assert_eq!(flat[5], Point { path: 1, step: 0 });
        assert_eq!(chunks(1, 3, 0).len(), 3);
    }
}
