//! One Transformer block, post-LN or pre-LN, forward (keeping what the backward reads) and
//! backward for the input gradient only: weights are frozen, so no weight gradient is formed.

use super::attention::{self, Dims};
use super::buffer::Buf;
use super::gemm::{matmul, Mat};
use super::kernels::Activation;
use super::kernels::{
    activate, activation_backward, add_bias, add_into, layer_norm, layer_norm_backward, NormCache,
};
use super::Real;

/// Where a block normalises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    /// LayerNorm after each residual add (BERT family).
    Post,
    /// LayerNorm before attention and before the FFN (ViT).
    Pre,
}

/// A frozen linear layer: W (out, in) row-major and its bias.
pub struct Dense<T> {
    weight: Vec<T>,
    bias: Vec<T>,
    inputs: usize,
    outputs: usize,
}

impl<T: Real> Dense<T> {
    /// W (outputs, inputs) row-major; no bias is a bias of zeros.
    pub fn new(weight: Vec<T>, bias: Option<Vec<T>>, outputs: usize, inputs: usize) -> Self {
        debug_assert_eq!(weight.len(), outputs * inputs);
        Self {
            weight,
            bias: bias.unwrap_or_else(|| vec![T::zero(); outputs]),
            inputs,
            outputs,
        }
    }

    /// y = x · Wᵀ + b for `rows` rows.
    fn forward(&self, x: &[T], rows: usize) -> Buf<T> {
        let mut y = Buf::scratch(rows * self.outputs);
        matmul(
            &mut y,
            Mat::dense(rows, self.outputs),
            x,
            Mat::dense(rows, self.inputs),
            &self.weight,
            Mat::dense(self.outputs, self.inputs).t(),
            T::one(),
            false,
        );
        add_bias(&mut y, &self.bias);
        y
    }

    /// dx (+)= dy · W.
    fn backward_into(&self, dx: &mut [T], dy: &[T], rows: usize, accumulate: bool) {
        matmul(
            dx,
            Mat::dense(rows, self.inputs),
            dy,
            Mat::dense(rows, self.outputs),
            &self.weight,
            Mat::dense(self.outputs, self.inputs),
            T::one(),
            accumulate,
        );
    }

    fn backward(&self, dy: &[T], rows: usize) -> Buf<T> {
        let mut dx = Buf::scratch(rows * self.inputs);
        self.backward_into(&mut dx, dy, rows, false);
        dx
    }
}

pub struct LayerNormWeights<T> {
    pub gamma: Vec<T>,
    pub beta: Vec<T>,
    pub eps: T,
}

impl<T: Real> LayerNormWeights<T> {
    fn forward(&self, x: &[T]) -> (Buf<T>, NormCache<T>) {
        layer_norm(x, &self.gamma, &self.beta, self.eps)
    }

    fn backward(&self, cache: &NormCache<T>, dy: &[T]) -> Buf<T> {
        layer_norm_backward(cache, &self.gamma, dy)
    }
}

/// One block's frozen weights, as plain row-major arrays (the model converts its own).
pub struct BlockWeights<T> {
    pub query: Dense<T>,
    pub key: Dense<T>,
    pub value: Dense<T>,
    pub output: Dense<T>,
    pub attention_norm: LayerNormWeights<T>,
    pub ffn_in: Dense<T>,
    pub ffn_out: Dense<T>,
    pub ffn_norm: LayerNormWeights<T>,
    pub activation: Activation,
    pub norm: Norm,
    pub heads: usize,
}

/// What one block's backward reads, saved by its forward.
pub struct BlockCache<T: Real> {
    rows: usize,
    /// Query tokens per sequence: all `seq`, or 1 for the readout block.
    queries: usize,
    q: Buf<T>,
    k: Buf<T>,
    v: Buf<T>,
    /// Attention probabilities (rows, heads, queries, s).
    pub probs: Buf<T>,
    attention_norm: NormCache<T>,
    ffn_norm: NormCache<T>,
    /// Input of the activation (rows · queries, intermediate).
    ffn_pre: Buf<T>,
}

/// The rows of the query tokens: all of `x`, or the first token of each sequence.
pub(super) fn query_rows<T: Real>(
    x: &[T],
    rows: usize,
    seq: usize,
    queries: usize,
    width: usize,
) -> Buf<T> {
    if queries == seq {
        return Buf::from_slice(x);
    }
    let mut out = Buf::scratch(rows * width);
    for (r, o) in out.chunks_mut(width).enumerate() {
        o.copy_from_slice(&x[r * seq * width..][..width]);
    }
    out
}

/// dx\[query rows\] += part: the gradient of the query tokens added back at their positions.
pub(super) fn add_at_queries<T: Real>(
    dx: &mut [T],
    part: &[T],
    seq: usize,
    queries: usize,
    width: usize,
) {
    if queries == seq {
        return add_into(dx, part);
    }
    for (r, p) in part.chunks(width).enumerate() {
        add_into(&mut dx[r * seq * width..][..width], p);
    }
}

impl<T: Real> BlockWeights<T> {
    pub fn width(&self) -> usize {
        self.query.inputs
    }

    pub fn heads(&self) -> usize {
        self.heads
    }

    fn dims(&self, rows: usize, seq: usize, queries: usize) -> Dims {
        Dims {
            rows,
            seq,
            queries,
            width: self.width(),
            heads: self.heads,
        }
    }

    /// Attention with keys and values from `x` (rows · s, d) and queries from `xq`
    /// (rows · queries, d): q, k, v, the probabilities and the output projection.
    fn attend(
        &self,
        x: &[T],
        xq: &[T],
        dims: Dims,
        mask: Option<&[T]>,
    ) -> (Buf<T>, [Buf<T>; 3], Buf<T>) {
        let (n, nq) = (dims.rows * dims.seq, dims.rows * dims.queries);
        let (q, k, v) = (
            self.query.forward(xq, nq),
            self.key.forward(x, n),
            self.value.forward(x, n),
        );
        let (ctx, probs) = attention::forward(&q, &k, &v, dims, mask);
        (self.output.forward(&ctx, nq), [q, k, v], probs)
    }

    /// From the gradient at the output projection: the gradient at the keys' and values'
    /// input (rows · s, d) with the queries' part added at their rows, and ∂/∂probabilities.
    fn attend_backward(&self, cache: &BlockCache<T>, seq: usize, datt: &[T]) -> (Buf<T>, Buf<T>) {
        let dims = self.dims(cache.rows, seq, cache.queries);
        let (n, nq) = (cache.rows * seq, cache.rows * cache.queries);
        let dctx = self.output.backward(datt, nq);
        let g = attention::backward(&dctx, &cache.q, &cache.k, &cache.v, &cache.probs, dims);
        let mut dx = self.key.backward(&g.dk, n);
        self.value.backward_into(&mut dx, &g.dv, n, true);
        let dxq = self.query.backward(&g.dq, nq);
        add_at_queries(&mut dx, &dxq, seq, cache.queries, self.width());
        (dx, g.dprobs)
    }

    /// The feed-forward network's backward from its output gradient; needs its input's cache.
    fn ffn_backward(&self, cache: &BlockCache<T>, dout: &[T]) -> Buf<T> {
        let nq = cache.rows * cache.queries;
        let mut dg = self.ffn_out.backward(dout, nq);
        activation_backward(self.activation, &cache.ffn_pre, &mut dg);
        self.ffn_in.backward(&dg, nq)
    }

    /// x: (rows · s, d). Returns the block's output at the query tokens, (rows · queries, d),
    /// and its cache. `queries` is `seq`, or 1 when only the first token's output is read.
    pub fn forward(
        &self,
        x: &[T],
        rows: usize,
        seq: usize,
        queries: usize,
        mask: Option<&[T]>,
    ) -> (Buf<T>, BlockCache<T>) {
        let dims = self.dims(rows, seq, queries);
        let (d, nq) = (self.width(), rows * queries);
        let ffn = |t: &[T]| -> (Buf<T>, Buf<T>) {
            let pre = self.ffn_in.forward(t, nq);
            let out = self.ffn_out.forward(&activate(self.activation, &pre), nq);
            (out, pre)
        };
        let (out, [q, k, v], probs, attention_norm, ffn_norm, ffn_pre) = match self.norm {
            Norm::Post => {
                let xq = query_rows(x, rows, seq, queries, d);
                let (mut att, qkv, probs) = self.attend(x, &xq, dims, mask);
                add_into(&mut att, &xq);
                let (a, attention_norm) = self.attention_norm.forward(&att);
                let (mut f, ffn_pre) = ffn(&a);
                add_into(&mut f, &a);
                let (out, ffn_norm) = self.ffn_norm.forward(&f);
                (out, qkv, probs, attention_norm, ffn_norm, ffn_pre)
            }
            Norm::Pre => {
                let (xn, attention_norm) = self.attention_norm.forward(x);
                let xnq = query_rows(&xn, rows, seq, queries, d);
                let (mut a, qkv, probs) = self.attend(&xn, &xnq, dims, mask);
                add_into(&mut a, &query_rows(x, rows, seq, queries, d));
                let (an, ffn_norm) = self.ffn_norm.forward(&a);
                let (mut out, ffn_pre) = ffn(&an);
                add_into(&mut out, &a);
                (out, qkv, probs, attention_norm, ffn_norm, ffn_pre)
            }
        };
        let cache = BlockCache {
            rows,
            queries,
            q,
            k,
            v,
            probs,
            attention_norm,
            ffn_norm,
            ffn_pre,
        };
        (out, cache)
    }

    /// From ∂/∂output (rows · queries, d) to (∂/∂x (rows · s, d), ∂/∂probabilities).
    pub fn backward(&self, cache: &BlockCache<T>, seq: usize, dout: &[T]) -> (Buf<T>, Buf<T>) {
        let (queries, d) = (cache.queries, self.width());
        match self.norm {
            Norm::Post => {
                // out = LN2(f + a), f = FFN(a), a = LN1(att + x), att = Attn(x).
                let df = self.ffn_norm.backward(&cache.ffn_norm, dout);
                let mut da = self.ffn_backward(cache, &df);
                add_into(&mut da, &df);
                let datt = self.attention_norm.backward(&cache.attention_norm, &da);
                let (mut dx, dprobs) = self.attend_backward(cache, seq, &datt);
                add_at_queries(&mut dx, &datt, seq, queries, d);
                (dx, dprobs)
            }
            Norm::Pre => {
                // out = FFN(LN2(a)) + a, a = Attn(LN1(x)) + x.
                let dan = self.ffn_backward(cache, dout);
                let mut da = self.ffn_norm.backward(&cache.ffn_norm, &dan);
                add_into(&mut da, dout);
                let (dxn, dprobs) = self.attend_backward(cache, seq, &da);
                let mut dx = self.attention_norm.backward(&cache.attention_norm, &dxn);
                add_at_queries(&mut dx, &da, seq, queries, d);
                (dx, dprobs)
            }
        }
    }
}
