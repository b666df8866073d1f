//! The integrated-gradients engine shared by `ig`, `lig` and `calig`.
//!
//! Several straight-line paths (in the input-embedding space and/or in the spaces of hidden
//! states h^(l)) are integrated together: their interpolation points are cut into chunks of at
//! most `max_batch` rows, and each chunk runs the blocks once with a growing batch, the rows of a
//! path joining just before the block that follows its space. So a layer-l path only re-runs
//! blocks l+1..L, and the paths of all layers share one forward/backward per chunk.

use super::batching::{chunks, Point};
use super::path_explicit::explicit_chunk;
use super::quadrature::Rule;
use crate::engine::{Engine, EngineChoice};
use crate::error::{CaligError, Result};
use crate::model::{Encoder, ModelInput};
use candle_core::{DType, IndexOp, Tensor, Var};

/// The space a path runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// The attributed input space: word embeddings E (text) or normalised pixels (images).
    Input,
    /// The hidden state h^(l), l = 0..L.
    Hidden(usize),
}

/// A straight path from `baseline` to `input`, both batch-of-one tensors of the space's shape.
#[derive(Clone)]
pub struct Path {
    pub space: Space,
    pub baseline: Tensor,
    pub input: Tensor,
}

pub struct PathOptions<'a> {
    pub rule: &'a Rule,
    /// The explicit engine (engine/) or candle's autograd.
    pub engine: EngineChoice,
    pub max_batch: usize,
    /// Also integrate the attention-gradient relevance along the paths (see
    /// [`PathOutput::path_attention`]).
    pub attention: bool,
}

pub struct PathOutput {
    /// Per path: (input − baseline) ⊙ Σ_k w_k ∂y_c/∂z(α_k), same shape as the endpoints.
    pub attributions: Vec<Tensor>,
    /// Per block b (0-based), when requested and the path of `Space::Hidden(b)` is present:
    /// Σ_k w_k mean_heads (∂y_c/∂A^(b+1) ⊙ A^(b+1))^+ (s, s) over that path's points, i.e. the
    /// attention-gradient relevance of block b+1 integrated along the path entering it.
    pub path_attention: Vec<Option<Tensor>>,
}

/// Where the rows of a path join the block stack: before block `entry` (0-based); the input
/// space enters through the embeddings, before block 0, ahead of h^(0) rows.
pub(super) fn entry(space: Space) -> usize {
    match space {
        Space::Input => 0,
        Space::Hidden(l) => l,
    }
}

pub fn integrate(
    model: &dyn Encoder,
    input: &ModelInput,
    mask_bias: Option<&Tensor>,
    target: usize,
    paths: &[Path],
    opts: &PathOptions,
) -> Result<PathOutput> {
    let num_layers = model.num_layers();
    let dtype = model.dtype();
    let steps = opts.rule.alphas.len();
    // Rows must join in block order: input-space rows first, then h^(0), h^(1), ...
    let mut order: Vec<usize> = (0..paths.len()).collect();
    order.sort_by_key(|&p| (entry(paths[p].space), paths[p].space != Space::Input));
    let diffs: Vec<Tensor> = paths
        .iter()
        .map(|p| p.input.broadcast_sub(&p.baseline))
        .collect::<candle_core::Result<_>>()?;

    let explicit = opts.engine.select(|| model.engine())?;
    let run_chunk = |chunk: &[Point]| -> Result<ChunkSums> {
        let leaves = interpolate(chunk, &order, paths, &diffs, opts.rule, dtype)?;
        let request = Chunk {
            model,
            input,
            mask_bias,
            target,
            paths,
            leaves: &leaves,
            attention: opts.attention,
        };
        match explicit {
            Some(Engine::F32(stack)) => explicit_chunk(stack, &request),
            Some(Engine::F64(stack)) => explicit_chunk(stack, &request),
            None => candle_chunk(&request),
        }
    };
    // Chunks are independent: run them on parallel workers, then add them up in chunk order so
    // the result does not depend on the number of workers.
    let mut sums: Vec<Option<Tensor>> = vec![None; paths.len()];
    let mut attention: Vec<Option<Tensor>> = vec![None; num_layers];
    // At most max_batch points per chunk, and at least one chunk per worker.
    let runtime = model.runtime();
    let rows = opts
        .max_batch
        .min((paths.len() * steps).div_ceil(runtime.workers).max(1));
    for (chunk_sums, chunk_attention) in
        runtime.map_parallel(&chunks(paths.len(), steps, rows), |c| run_chunk(c))?
    {
        accumulate(&mut sums, chunk_sums)?;
        accumulate(&mut attention, chunk_attention)?;
    }
    let attributions = sums
        .into_iter()
        .zip(&diffs)
        .map(|(s, d)| {
            let s =
                s.ok_or_else(|| CaligError::InvalidInput("a path received no points".into()))?;
            Ok(d.broadcast_mul(&s)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(PathOutput {
        attributions,
        path_attention: attention,
    })
}

/// Per-path gradient sums and per-block attention relevance of one chunk.
pub(super) type ChunkSums = (Vec<Option<Tensor>>, Vec<Option<Tensor>>);

/// An interpolated leaf: its path, the points (rows, in step order) and their quadrature
/// weights.
pub(super) struct Leaf {
    pub path: usize,
    pub points: Var,
    pub weights: Vec<f64>,
}

/// What a chunk runner needs: the model, the input, the paths and this chunk's leaves.
pub(super) struct Chunk<'a> {
    pub model: &'a dyn Encoder,
    pub input: &'a ModelInput,
    pub mask_bias: Option<&'a Tensor>,
    pub target: usize,
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

    /// Σ_rows w_row y_target(row): the objective whose gradient the chunk integrates.
    pub fn objective(&self, logits: &Tensor) -> Result<Tensor> {
        let weights: Vec<f64> = self.leaves.iter().flat_map(|l| l.weights.clone()).collect();
        let w =
            Tensor::from_vec(weights, logits.dim(0)?, logits.device())?.to_dtype(logits.dtype())?;
        Ok((logits.i((.., self.target))? * w)?.sum_all()?)
    }
}

/// The chunk's points of every path present, in joining order.
fn interpolate(
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

/// acc[i] += part, where acc[i] may be empty.
pub(super) fn add_to(acc: &mut Option<Tensor>, part: Tensor) -> Result<()> {
    *acc = Some(match acc.take() {
        None => part,
        Some(x) => (x + part)?,
    });
    Ok(())
}

/// One chunk with candle's autograd: the rows join a growing batch block by block, one
/// backward pass gives every leaf's gradient and the attention probes'.
fn candle_chunk(c: &Chunk) -> Result<ChunkSums> {
    let num_layers = c.model.num_layers();
    let mut sums: Vec<Option<Tensor>> = vec![None; c.paths.len()];
    let mut attention: Vec<Option<Tensor>> = vec![None; num_layers];
    let mut state: Option<Tensor> = None;
    let mut next_leaf = 0;
    let mut probes: Vec<(usize, Var, usize)> = Vec::new(); // (block, probe, rows of the path)
    let mut block_probs: Vec<Tensor> = Vec::new();
    for b in 0..=num_layers {
        // Join the rows whose space enters before block b.
        let mut joined_here = 0;
        while next_leaf < c.leaves.len() && entry(c.paths[c.leaves[next_leaf].path].space) == b {
            let leaf = &c.leaves[next_leaf];
            let rows = c.rows(leaf)?;
            if c.paths[leaf.path].space == Space::Hidden(b) {
                joined_here = leaf.weights.len();
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
        let probe = if c.attention && joined_here > 0 {
            let (rows, s) = (h.dim(0)?, h.dim(1)?);
            let heads = c.model.config().num_heads;
            let v = Var::zeros((rows, heads, s, s), h.dtype(), h.device())?;
            probes.push((b, v.clone(), joined_here));
            Some(v)
        } else {
            None
        };
        let (out, probs) =
            c.model
                .block(b, &h, c.mask_bias, probe.as_ref().map(|v| v.as_tensor()))?;
        if probe.is_some() {
            block_probs.push(probs);
        }
        state = Some(out);
    }
    let h_last = state.ok_or_else(|| CaligError::InvalidInput("empty path chunk".into()))?;
    let grads = c.objective(&c.model.head(&h_last)?)?.backward()?;
    for leaf in c.leaves {
        let g = grads.get(leaf.points.as_tensor()).ok_or_else(|| {
            CaligError::Unsupported(
                "no gradient reached the path: an op without backward is on the graph".into(),
            )
        })?;
        add_to(&mut sums[leaf.path], g.sum_keepdim(0)?)?;
    }
    for ((b, probe, n), probs) in probes.iter().zip(&block_probs) {
        let g = grads.get(probe.as_tensor()).ok_or_else(|| {
            CaligError::Unsupported("no gradient reached an attention probe".into())
        })?;
        let total = g.dim(0)?;
        // The path of h^(b) joined last: its rows are the last `n` of the batch.
        let gp = g.narrow(0, total - n, *n)?;
        let ap = probs.narrow(0, total - n, *n)?.detach();
        add_to(&mut attention[*b], (gp * ap)?.relu()?.mean(1)?.sum(0)?)?;
    }
    Ok((sums, attention))
}

/// acc[i] += part[i], where present.
fn accumulate(acc: &mut [Option<Tensor>], part: Vec<Option<Tensor>>) -> Result<()> {
    for (a, p) in acc.iter_mut().zip(part) {
        if let Some(p) = p {
            add_to(a, p)?;
        }
    }
    Ok(())
}

/// y_c at a state of the given space (batch of one), without gradients.
pub fn logit_at(
    model: &dyn Encoder,
    input: &ModelInput,
    mask_bias: Option<&Tensor>,
    target: usize,
    space: Space,
    state: &Tensor,
) -> Result<f64> {
    let (h, from) = match space {
        Space::Input => (model.embed(input, state)?, 0),
        Space::Hidden(l) => (state.clone(), l),
    };
    let out = model.blocks(&h, mask_bias, from, &[])?;
    let last = out.hidden.last().cloned().unwrap_or(h);
    Ok(model
        .head(&last)?
        .i((0, target))?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()?)
}
