//! One integrated-gradients chunk on the explicit engine (engine/): the block stack runs there;
//! the embeddings (input-space paths) and the head, a few rows each, keep candle's autograd.

use super::chunk::{add_to, Chunk, ChunkSums};
use super::{entry, Space};
use crate::engine::chunk::{self, Join};
use crate::engine::{to_host, Real, Stack};
use crate::error::{CaligError, Result};
use candle_core::{Tensor, Var};

pub(super) fn explicit_chunk<T: Real>(stack: &Stack<T>, c: &Chunk) -> Result<ChunkSums> {
    let num_layers = c.model.num_layers();
    let rows: Vec<Tensor> = c.leaves.iter().map(|l| c.rows(l)).collect::<Result<_>>()?;
    let (seq, width) = match rows.first() {
        Some(r) => (r.dim(1)?, r.dim(2)?),
        None => return Err(CaligError::Internal("an empty path chunk".into())),
    };
    let joins = c
        .leaves
        .iter()
        .zip(&rows)
        .map(|(leaf, r)| {
            let space = c.paths[leaf.path].space;
            Ok(Join {
                entry: entry(space),
                rows: r.dim(0)?,
                values: to_host(r)?,
                // As in the candle runner: the attention relevance of block b+1 along the
                // path entering it, h^(b).
                probe: c.attention && matches!(space, Space::Hidden(b) if b < num_layers),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mask = c.mask_bias.map(to_host::<T>).transpose()?;
    let device = c.model.device();
    let grads = chunk::run(stack, joins, seq, mask.as_deref(), |state, n, tokens| {
        let h = Var::from_tensor(&Tensor::from_slice(state, (n, tokens, width), device)?)?;
        let g = c.objective(&c.model.head(h.as_tensor())?)?.backward()?;
        let dh = g.get(h.as_tensor()).ok_or_else(|| {
            CaligError::Unsupported("no gradient reached the head's input".into())
        })?;
        Ok(to_host(dh)?)
    })?;
    let mut sums: Vec<Option<Tensor>> = vec![None; c.paths.len()];
    let mut attention: Vec<Option<Tensor>> = vec![None; num_layers];
    for ((leaf, r), g) in c.leaves.iter().zip(&rows).zip(grads) {
        let dr = Tensor::from_vec(g.grad, r.shape(), device)?;
        let dz = match c.paths[leaf.path].space {
            // Back through the embeddings with candle: ∂/∂E of Σ dr ⊙ h^(0)(E).
            Space::Input => {
                let grads = (r * &dr)?.sum_all()?.backward()?;
                grads
                    .get(leaf.points.as_tensor())
                    .ok_or_else(|| {
                        CaligError::Unsupported("no gradient reached the input path".into())
                    })?
                    .clone()
            }
            Space::Hidden(_) => dr,
        };
        add_to(&mut sums[leaf.path], dz.sum_keepdim(0)?)?;
        if let (Some(a), Space::Hidden(b)) = (g.attention, c.paths[leaf.path].space) {
            add_to(&mut attention[b], Tensor::from_vec(a, (seq, seq), device)?)?;
        }
    }
    Ok((sums, attention))
}
