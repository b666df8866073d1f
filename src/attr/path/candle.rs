//! One chunk with candle's autograd (the oracle of the explicit engine).

use super::chunk::{add_to, Chunk, ChunkSums};
use super::{entry, Space};
use crate::error::{CaligError, Result};
use candle_core::{Tensor, Var};

/// A zero tensor added to block `block`'s attention probabilities, whose gradient is ∂y/∂A; the
/// path of h^(block) joined the batch last, so its `rows` are the batch's last.
struct Probe {
    block: usize,
    var: Var,
    rows: usize,
    /// The block's attention probabilities (rows of the whole batch).
    probs: Tensor,
}

/// One chunk with candle's autograd: the rows join a growing batch block by block, one
/// backward pass gives every leaf's gradient and the attention probes'.
pub(super) fn candle_chunk(c: &Chunk) -> Result<ChunkSums> {
    let num_layers = c.model.num_layers();
    let mut sums: Vec<Option<Tensor>> = vec![None; c.paths.len()];
    let mut attention: Vec<Option<Tensor>> = vec![None; num_layers];
    let mut state: Option<Tensor> = None;
    let mut next_leaf = 0;
    let mut probes: Vec<Probe> = Vec::new();
    let mut read_out = false;
    for b in 0..=num_layers {
        // Join the rows whose space enters before block b.
        let mut joined_here = 0;
        while next_leaf < c.leaves.len() && entry(c.paths[c.leaves[next_leaf].path].space) == b {
            let leaf = &c.leaves[next_leaf];
            let rows = c.rows(leaf)?;
            // After a readout block the state is the first token alone; so are the rows of
            // h^(L)'s path, which join it there.
            let rows = if read_out {
                rows.narrow(1, 0, 1)?
            } else {
                rows
            };
            if c.paths[leaf.path].space == Space::Hidden(b) {
                joined_here = leaf.weights.len();
            } else {
                // The rows of h^(b)'s path must join last, for the probe to find them.
                debug_assert_eq!(joined_here, 0, "rows joined after the path of h^({b})");
            }
            state = Some(match state.take() {
                None => rows,
                Some(s) => Tensor::cat(&[&s, &rows], 0)?,
            });
            next_leaf += 1;
        }
        if b == num_layers {
            break;
        }
        let Some(h) = state.take() else { continue };
        // The last block computes only the row the head reads, where it reads one.
        let readout = b + 1 == num_layers && c.model.reads_first_token();
        let probe = if c.attention && joined_here > 0 {
            let (rows, s) = (h.dim(0)?, h.dim(1)?);
            let heads = c.model.config().num_heads;
            let queries = if readout { 1 } else { s };
            Some(Var::zeros(
                (rows, heads, queries, s),
                h.dtype(),
                h.device(),
            )?)
        } else {
            None
        };
        let probe_tensor = probe.as_ref().map(|v| v.as_tensor());
        read_out = readout;
        let (out, probs) = if readout {
            c.model.readout_block(b, &h, c.mask_bias, probe_tensor)?
        } else {
            c.model.block(b, &h, c.mask_bias, probe_tensor)?
        };
        if let Some(var) = probe {
            probes.push(Probe {
                block: b,
                var,
                rows: joined_here,
                probs,
            });
        }
        state = Some(out);
    }
    let h_last = state.ok_or_else(|| CaligError::Internal("an empty path chunk".into()))?;
    let grads = c.objective(&c.model.head(&h_last)?)?.backward()?;
    for leaf in c.leaves {
        let g = grads.get(leaf.points.as_tensor()).ok_or_else(|| {
            CaligError::Unsupported(
                "no gradient reached the path: an op without backward is on the graph".into(),
            )
        })?;
        add_to(&mut sums[leaf.path], g.sum_keepdim(0)?)?;
    }
    for p in &probes {
        let g = grads.get(p.var.as_tensor()).ok_or_else(|| {
            CaligError::Unsupported("no gradient reached an attention probe".into())
        })?;
        let total = g.dim(0)?;
        let gp = g.narrow(0, total - p.rows, p.rows)?;
        let ap = p.probs.narrow(0, total - p.rows, p.rows)?.detach();
        let relevance = (gp * ap)?.relu()?.mean(1)?.sum(0)?;
        // A readout block's probabilities have the first token's row only; the others are 0.
        let (queries, s) = relevance.dims2()?;
        let relevance = if queries < s {
            let rest = Tensor::zeros((s - queries, s), relevance.dtype(), relevance.device())?;
            Tensor::cat(&[&relevance, &rest], 0)?
        } else {
            relevance
        };
        add_to(&mut attention[p.block], relevance)?;
    }
    Ok((sums, attention))
}
