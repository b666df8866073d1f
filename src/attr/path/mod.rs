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
    objective: crate::attr::Objective,
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
            objective,
            paths,
            leaves: &leaves,
            attention: opts.attention,
        };
        let sums = match explicit {
            Some(Engine::F32(stack)) => explicit_chunk(stack, &request),
            Some(Engine::F64(stack)) => explicit_chunk(stack, &request),
            None => candle_chunk(&request),
        };
        crate::progress::points_done(chunk.len());
        sums
    };
    // Chunks are independent: run them on parallel workers, then add them up in chunk order so
    // the result does not depend on the number of workers.
    let runtime = model.runtime();
    let run_all = |rows: usize| -> Result<ChunkSums> {
        let mut sums: Vec<Option<Tensor>> = vec![None; paths.len()];
        let mut attention: Vec<Option<Tensor>> = vec![None; num_layers];
        for (chunk_sums, chunk_attention) in
            runtime.map_parallel(&chunks(paths.len(), steps, rows), |c| run_chunk(c))?
        {
            accumulate(&mut sums, chunk_sums)?;
            accumulate(&mut attention, chunk_attention)?;
        }
        Ok((sums, attention))
    };
    // At most max_batch points per chunk, and at least one chunk per worker.
    let rows = opts
        .max_batch
        .min((paths.len() * steps).div_ceil(runtime.workers).max(1));
    crate::progress::plan_points(paths.len() * steps);
    let (sums, attention) = with_fewer_rows_when_out_of_memory(rows, run_all)?;
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

/// `run(rows)`, and again with half the rows while a device runs out of memory: the chunk
/// sizes of a GPU are an estimate against its free memory, which other programs share.
fn with_fewer_rows_when_out_of_memory<T>(
    mut rows: usize,
    mut run: impl FnMut(usize) -> Result<T>,
) -> Result<T> {
    loop {
        match run(rows) {
            Err(e) if rows > 1 && out_of_memory(&e) => rows = rows.div_ceil(2),
            other => return other,
        }
    }
}

/// Whether an error is a device's allocation failure (CUDA's driver, cuBLAS).
fn out_of_memory(e: &CaligError) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    ["out_of_memory", "out of memory", "alloc_failed"]
        .iter()
        .any(|s| text.contains(s))
}

/// y_c at a state of the given space (batch of one), without gradients.
pub fn logit_at(
    model: &dyn Encoder,
    input: &ModelInput,
    mask_bias: Option<&Tensor>,
    objective: crate::attr::Objective,
    space: Space,
    state: &Tensor,
) -> Result<f64> {
    objective.value(&logits_at(model, input, mask_bias, space, state)?)
}

/// Every class's logit with `state` in place of the input's (embeddings or h^(l)).
pub fn logits_at(
    model: &dyn Encoder,
    input: &ModelInput,
    mask_bias: Option<&Tensor>,
    space: Space,
    state: &Tensor,
) -> Result<Vec<f64>> {
    let (h, from) = match space {
        Space::Input => (model.embed(input, state)?, 0),
        Space::Hidden(l) => (state.clone(), l),
    };
    let out = model.blocks(&h, mask_bias, from, &[])?;
    let last = out.hidden.last().cloned().unwrap_or(h);
    Ok(model.head(&last)?.i(0)?.to_dtype(DType::F64)?.to_vec1()?)
}

/// Rows (interpolation points) per chunk: `max_batch` when set, else from an estimate of the
/// activations one row keeps for the backward pass, per block 24·s·d + 8·heads·s² + 6·s·ffn
/// values (calibrated on MiniLM: ~0.8 GB per row at 512 tokens, measured), against the
/// `memory_mib` budget on the CPU and the device's free memory on a GPU
/// ([`chunk_rows_policy`](crate::runtime::chunk_rows_policy)).
pub fn chunk_rows(params: &Params, subject: &Subject, points: usize) -> usize {
    if params.max_batch > 0 {
        return params.max_batch;
    }
    let c = subject.model.config();
    let s = subject.seq_len() as f64;
    let per_block = 24.0 * s * c.hidden_size as f64
        + 8.0 * c.num_heads as f64 * s * s
        + 6.0 * s * c.intermediate_size as f64;
    let row_bytes =
        per_block * c.num_layers.max(1) as f64 * subject.model.dtype().size_in_bytes() as f64;
    let runtime = subject.model.runtime();
    crate::runtime::chunk_rows_policy(
        row_bytes,
        points,
        runtime.workers,
        params.memory_mib as f64 * 1024.0 * 1024.0,
        runtime.device_free_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_out_of_memory_device_retries_with_half_the_rows() {
        let oom = || {
            CaligError::Tensor(candle_core::Error::Msg(
                "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")".into(),
            ))
        };
        let mut tried = Vec::new();
        let got = with_fewer_rows_when_out_of_memory(650, |rows| {
            tried.push(rows);
            if rows > 100 {
                Err(oom())
            } else {
                Ok(rows)
            }
        });
        assert_eq!(got.unwrap(), 82);
        assert_eq!(tried, vec![650, 325, 163, 82]);
        // Other errors, and running out with a single row, are returned as they are.
        let other = with_fewer_rows_when_out_of_memory(8, |_| -> Result<()> {
            Err(CaligError::Internal("no".into()))
        });
        assert!(matches!(other, Err(CaligError::Internal(_))));
        let mut calls = 0;
        let one = with_fewer_rows_when_out_of_memory(1, |_| -> Result<()> {
            calls += 1;
            Err(oom())
        });
        assert!(one.is_err() && calls == 1);
    }
}
