//! One integrated-gradients chunk through the block stack with a growing batch: the rows of a
//! path join just before the block that follows their space, so a path at h^(l) runs only
//! blocks l+1..L; the backward pass hands each path its rows' gradient where it joined.

use super::block::{add_at_queries, query_rows};
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
/// (rows · t, d), their row count and t (tokens per row: 1 when the stack reads out the first
/// token only, see [`Stack::readout_tokens`]) to ∂objective/∂states.
pub fn run<T: Real>(
    stack: &Stack<T>,
    joins: Vec<Join<T>>,
    seq: usize,
    mask: Option<&[T]>,
    head_gradient: impl FnOnce(&[T], usize, usize) -> Result<Vec<T>>,
) -> Result<Vec<JoinGradient<T>>> {
    let layers = stack.blocks.len();
    if joins.windows(2).any(|w| w[0].entry > w[1].entry) || joins.iter().any(|j| j.entry > layers) {
        return Err(CaligError::InvalidInput(
            "engine: joins must be sorted by block and within the stack".into(),
        ));
    }
    let d = stack.width();
    let tokens = stack.readout_tokens(seq);
    let mut offsets = Vec::with_capacity(joins.len());
    let mut state = Buf::<T>::zeros(0);
    let mut rows = 0;
    let mut caches = Vec::with_capacity(layers);
    let mut next = 0;
    for b in 0..=layers {
        while next < joins.len() && joins[next].entry == b {
            let join = &joins[next];
            offsets.push(rows);
            if b == layers && tokens < seq {
                state.extend_from_slice(&query_rows(&join.values, join.rows, seq, tokens, d));
            } else {
                state.extend_from_slice(&join.values);
            }
            rows += join.rows;
            next += 1;
        }
        if b == layers {
            break;
        }
        if rows == 0 {
            caches.push(None);
            continue;
        }
        let queries = stack.queries_at(b, seq);
        let (out, cache) = stack.blocks[b].forward(&state, rows, seq, queries, mask);
        caches.push(Some(cache));
        state = out;
    }
    if rows == 0 {
        return Err(CaligError::InvalidInput("empty path chunk".into()));
    }
    let mut grad = Buf::from_slice(&head_gradient(&state, rows, tokens)?);
    drop(state);
    let mut out: Vec<Option<JoinGradient<T>>> = (0..joins.len()).map(|_| None).collect();
    // Hands the joins entering at `b` their rows (the tail of `grad`, `t` tokens per row) and
    // cuts them off; rows read out at their first token get zero gradient elsewhere.
    let mut split = |b: usize, t: usize, grad: &mut Buf<T>, maps: Option<Maps<T>>| {
        for (j, join) in joins.iter().enumerate().rev().filter(|(_, j)| j.entry == b) {
            let first = offsets[j];
            let attention = match (join.probe, &maps) {
                (true, Some(m)) => Some(attention_relevance(m, first..first + join.rows, seq)),
                _ => None,
            };
            let mine = &grad[first * t * d..];
            let full = if t == seq {
                mine.to_vec()
            } else {
                let mut g = vec![T::zero(); join.rows * seq * d];
                add_at_queries(&mut g, mine, seq, t, d);
                g
            };
            out[j] = Some(JoinGradient {
                grad: full,
                attention,
            });
            grad.truncate(first * t * d);
        }
    };
    split(layers, tokens, &mut grad, None);
    for b in (0..layers).rev() {
        let Some(cache) = caches[b].take() else {
            continue;
        };
        let (mut dx, dprobs) = stack.blocks[b].backward(&cache, seq, &grad);
        let maps = Maps {
            dprobs: &dprobs,
            probs: &cache.probs,
            heads: stack.blocks[b].heads(),
            queries: stack.queries_at(b, seq),
        };
        split(b, seq, &mut dx, Some(maps));
        grad = dx;
    }
    out.into_iter()
        .map(|g| g.ok_or_else(|| CaligError::InvalidInput("engine: a join got no gradient".into())))
        .collect()
}

/// The blocks' forward pass alone (no caches kept): `h` is (rows · s, d) of h^(0); returns
/// (rows · t, d) with t = [`Stack::readout_tokens`].
pub fn forward<T: Real>(
    stack: &Stack<T>,
    h: &[T],
    rows: usize,
    seq: usize,
    mask: Option<&[T]>,
) -> Buf<T> {
    let mut state = Buf::from_slice(h);
    for (b, block) in stack.blocks.iter().enumerate() {
        let queries = stack.queries_at(b, seq);
        state = block.forward(&state, rows, seq, queries, mask).0;
    }
    state
}

/// One block's attention probabilities and their gradient, (rows, heads, queries, s).
struct Maps<'a, T> {
    dprobs: &'a [T],
    probs: &'a [T],
    heads: usize,
    queries: usize,
}

/// Σ over `rows` of mean over heads of (dA ⊙ A)^+, as an (s, s) map; with a single query
/// token only its row is filled (the others have no gradient).
fn attention_relevance<T: Real>(m: &Maps<T>, rows: std::ops::Range<usize>, seq: usize) -> Vec<T> {
    let map = m.queries * seq;
    let mut acc = vec![T::zero(); seq * seq];
    let inv = T::one() / T::from(m.heads).expect("head count fits");
    for r in rows {
        for h in 0..m.heads {
            let at = (r * m.heads + h) * map;
            for (a, (&g, &p)) in acc
                .iter_mut()
                .zip(m.dprobs[at..at + map].iter().zip(&m.probs[at..at + map]))
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
