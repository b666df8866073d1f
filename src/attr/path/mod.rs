//! The integrated-gradients engine shared by `ig`, `lig` and `calig`.
//!
//! Several straight-line paths (in the input-embedding space and/or in the spaces of hidden
//! states h^(l)) are integrated together: their interpolation points are cut into chunks of at
//! most `max_batch` rows ([`chunk`]), and each chunk runs the blocks once with a growing batch,
//! the rows of a path joining just before the block that follows its space. So a layer-l path
//! only re-runs blocks l+1..L, and the paths of all layers share one forward/backward per chunk.
//! A chunk runs on candle's autograd (candle.rs) or on the explicit engine (explicit.rs);
//! [`layers`] sets up the hidden-state paths of lig and CA-LIG, and [`auto`] raises the steps
//! of each path under `--steps auto`.

pub mod auto;
mod candle;
pub mod chunk;
mod explicit;
pub mod layers;

use super::params::Params;
use super::quadrature::Rule;
use super::subject::Subject;
use crate::engine::{Engine, EngineChoice};
use crate::error::{CaligError, Result};
use crate::model::{Encoder, ModelInput};
use candle::candle_chunk;
use candle_core::{DType, IndexOp, Tensor};
use chunk::{accumulate, chunks, interpolate, Chunk, ChunkSums, Point};
use explicit::explicit_chunk;

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
pub(crate) fn entry(space: Space) -> usize {
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
            let s = s.ok_or_else(|| CaligError::Internal("a path received no points".into()))?;
            Ok(d.broadcast_mul(&s)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(PathOutput {
        attributions,
        path_attention: attention,
    })
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

/// Rows (interpolation points) per chunk: `max_batch` when set, else as many as the memory
/// budget allows for a full-depth pass, between 1 and 25 (the fastest of 12/16/25/32 on MiniLM,
/// measured). The estimate of the activations one row keeps for the backward pass, per block,
/// is 24·s·d + 8·heads·s² + 6·s·ffn values (calibrated on MiniLM: ~0.8 GB per row at 512
/// tokens, measured).
pub fn chunk_rows(params: &Params, subject: &Subject) -> usize {
    if params.max_batch > 0 {
        return params.max_batch;
    }
    let c = subject.model.config();
    let s = subject.seq_len() as f64;
    let per_block = 24.0 * s * c.hidden_size as f64
        + 8.0 * c.num_heads as f64 * s * s
        + 6.0 * s * c.intermediate_size as f64;
    let bytes =
        per_block * c.num_layers.max(1) as f64 * subject.model.dtype().size_in_bytes() as f64;
    // Chunks run on parallel workers: each gets its share of the budget.
    let workers = subject.model.runtime().workers;
    let budget = params.memory_mib as f64 * 1024.0 * 1024.0 / workers as f64;
    ((budget / bytes).floor() as usize).clamp(1, 25)
}
