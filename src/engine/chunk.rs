//! One integrated-gradients chunk through the block stack with a growing batch: the rows of a
//! path join just before the block that follows their space, so a path at h^(l) runs only
//! blocks l+1..L; the backward pass hands each path its rows' gradient where it joined.

use super::buffer::Buf;
use super::{Real, Stack};
use crate::error::{CaligError, Result};

/// Rows entering the stack before block `entry` (0-based; `entry == L` goes straight to the
/// head). `values` is (rows · s, d).
pub struct Join<T> {
    pub entry: usize,
    pub rows: usize,
    pub values: Vec<T>,
    /// Also return these rows' attention-gradient relevance at block `entry`.
    pub probe: bool,
}

pub struct JoinGradient<T> {
    /// ∂objective/∂values, (rows · s, d).
    pub grad: Vec<T>,
    /// With `probe`: Σ_rows mean_heads (∂objective/∂A ⊙ A)^+ of block `entry`, (s, s).
    pub attention: Option<Vec<T>>,
}

/// Runs `joins` (sorted by entry) through the blocks; `head_gradient` maps the final states
/// (rows · s, d) and their row count to ∂objective/∂states.
pub fn run<T: Real>(
    stack: &Stack<T>,
    joins: Vec<Join<T>>,
    seq: usize,
    mask: Option<&[T]>,
    head_gradient: impl FnOnce(&[T], usize) -> Result<Vec<T>>,
) -> Result<Vec<JoinGradient<T>>> {
    let layers = stack.blocks.len();
    if joins.windows(2).any(|w| w[0].entry > w[1].entry) || joins.iter().any(|j| j.entry > layers) {
        return Err(CaligError::InvalidInput(
            "engine: joins must be sorted by block and within the stack".into(),
        ));
    }
    let width = seq * stack.width();
    let mut offsets = Vec::with_capacity(joins.len());
    let mut state = Buf::<T>::zeros(0);
    let mut rows = 0;
    let mut caches = Vec::with_capacity(layers);
    let mut next = 0;
    for b in 0..=layers {
        while next < joins.len() && joins[next].entry == b {
            offsets.push(rows);
            state.extend_from_slice(&joins[next].values);
            rows += joins[next].rows;
            next += 1;
        }
        if b == layers {
            break;
        }
        if rows == 0 {
            caches.push(None);
            continue;
        }
        let (out, cache) = stack.blocks[b].forward(&state, rows, seq, mask);
        caches.push(Some(cache));
        state = out;
    }
    if rows == 0 {
        return Err(CaligError::InvalidInput("empty path chunk".into()));
    }
    let mut grad = Buf::from_slice(&head_gradient(&state, rows)?);
    drop(state);
    let mut out: Vec<Option<JoinGradient<T>>> = (0..joins.len()).map(|_| None).collect();
    // Hands the joins entering at `b` their rows (the tail of `grad`) and cuts them off.
    let mut split = |b: usize, grad: &mut Buf<T>, dprobs: Option<(&[T], &[T], usize)>| {
        for (j, join) in joins.iter().enumerate().rev().filter(|(_, j)| j.entry == b) {
            let first = offsets[j];
            let attention = match (join.probe, dprobs) {
                (true, Some((dp, probs, heads))) => Some(attention_relevance(
                    dp,
                    probs,
                    first..first + join.rows,
                    seq,
                    heads,
                )),
                _ => None,
            };
            out[j] = Some(JoinGradient {
                grad: grad[first * width..].to_vec(),
                attention,
            });
            grad.truncate(first * width);
        }
    };
    split(layers, &mut grad, None);
    for b in (0..layers).rev() {
        let Some(cache) = caches[b].take() else {
            continue;
        };
        let (mut dx, dprobs) = stack.blocks[b].backward(&cache, seq, &grad);
        split(
            b,
            &mut dx,
            Some((&dprobs, &cache.probs, stack.blocks[b].heads())),
        );
        grad = dx;
    }
    out.into_iter()
        .map(|g| g.ok_or_else(|| CaligError::InvalidInput("engine: a join got no gradient".into())))
        .collect()
}

/// The blocks' forward pass alone (no caches kept): `h` is (rows · s, d) of h^(0).
pub fn forward<T: Real>(
    stack: &Stack<T>,
    h: &[T],
    rows: usize,
    seq: usize,
    mask: Option<&[T]>,
) -> Buf<T> {
    let mut state = Buf::from_slice(h);
    for block in &stack.blocks {
        state = block.forward(&state, rows, seq, mask).0;
    }
    state
}

/// Σ over `rows` of mean over heads of (dA ⊙ A)^+, for (rows, heads, s, s) maps.
fn attention_relevance<T: Real>(
    dprobs: &[T],
    probs: &[T],
    rows: std::ops::Range<usize>,
    seq: usize,
    heads: usize,
) -> Vec<T> {
    let map = seq * seq;
    let mut acc = vec![T::zero(); map];
    let inv = T::one() / T::from(heads).expect("head count fits");
    for r in rows {
        for h in 0..heads {
            let at = (r * heads + h) * map;
            for (a, (&g, &p)) in acc
                .iter_mut()
                .zip(dprobs[at..at + map].iter().zip(&probs[at..at + map]))
            {
                let x = g * p;
                if x > T::zero() {
                    *a += x * inv;
                }
            }
        }
    }
    acc
}
