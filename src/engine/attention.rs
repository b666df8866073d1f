//! Multi-head self-attention on (rows · s, d) activations: each head is a column slice of q, k,
//! v and ctx (strides, no split/merge copies). The queries are every token, or only the first
//! of each sequence when the block's other outputs are never read (the readout block, see
//! block.rs): then q and ctx are (rows, d) and the probabilities (rows, heads, 1, s).

use super::buffer::Buf;
use super::gemm::{matmul, Mat};
use super::kernels::{softmax_row, softmax_row_backward};
use super::Real;

/// Shapes of one attention call.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    pub rows: usize,
    pub seq: usize,
    /// Query tokens per sequence: `seq`, or 1 (the first token only).
    pub queries: usize,
    pub width: usize,
    pub heads: usize,
}

impl Dims {
    fn head_dim(&self) -> usize {
        self.width / self.heads
    }

    /// Head `h` of sequence `r` in a (rows · n, d) activation with n tokens per sequence.
    fn head(&self, r: usize, h: usize, n: usize) -> Mat {
        let hd = self.head_dim();
        Mat::dense(n, self.width)
            .columns(h * hd, hd)
            .at(r * n * self.width)
    }

    /// Keys and values: every token.
    fn keys(&self, r: usize, h: usize) -> Mat {
        self.head(r, h, self.seq)
    }

    /// Queries, ctx and their gradients.
    fn queries(&self, r: usize, h: usize) -> Mat {
        self.head(r, h, self.queries)
    }

    /// The (queries, s) probabilities of sequence `r`, head `h`.
    fn map(&self, r: usize, h: usize) -> Mat {
        Mat::dense(self.queries, self.seq).at((r * self.heads + h) * self.queries * self.seq)
    }

    fn map_len(&self) -> usize {
        self.rows * self.heads * self.queries * self.seq
    }

    fn scale<T: Real>(&self) -> T {
        T::one() / T::from(self.head_dim()).expect("head width fits").sqrt()
    }
}

/// Returns (ctx, probabilities). `mask` holds an additive bias per key, one row of `seq` values
/// shared by every sequence or one row per sequence.
pub fn forward<T: Real>(
    q: &[T],
    k: &[T],
    v: &[T],
    dims: Dims,
    mask: Option<&[T]>,
) -> (Buf<T>, Buf<T>) {
    let (rows, seq, queries, heads) = (dims.rows, dims.seq, dims.queries, dims.heads);
    let mut probs = Buf::scratch(dims.map_len());
    let mut ctx = Buf::scratch(rows * queries * dims.width);
    let scale = dims.scale::<T>();
    for r in 0..rows {
        let bias = mask.map(|m| {
            let shared = m.len() == seq;
            &m[if shared { 0 } else { r * seq }..][..seq]
        });
        for h in 0..heads {
            let map = dims.map(r, h);
            let (qh, kh) = (dims.queries(r, h), dims.keys(r, h));
            matmul(&mut probs, map, q, qh, k, kh.t(), scale, false);
            for row in probs[map.offset..map.offset + queries * seq].chunks_mut(seq) {
                if let Some(b) = bias {
                    for (x, &m) in row.iter_mut().zip(b) {
                        *x += m;
                    }
                }
                softmax_row(row);
            }
            matmul(&mut ctx, qh, &probs, map, v, kh, T::one(), false);
        }
    }
    (ctx, probs)
}

/// Gradients of q, k, v and of the probabilities, from the gradient of ctx.
pub struct Backward<T: Real> {
    pub dq: Buf<T>,
    pub dk: Buf<T>,
    pub dv: Buf<T>,
    pub dprobs: Buf<T>,
}

pub fn backward<T: Real>(
    dctx: &[T],
    q: &[T],
    k: &[T],
    v: &[T],
    probs: &[T],
    dims: Dims,
) -> Backward<T> {
    let (rows, seq, queries, heads) = (dims.rows, dims.seq, dims.queries, dims.heads);
    let n = rows * seq * dims.width;
    let (mut dq, mut dk, mut dv) = (
        Buf::scratch(rows * queries * dims.width),
        Buf::scratch(n),
        Buf::scratch(n),
    );
    let mut dprobs = Buf::scratch(probs.len());
    let mut dscores = Buf::scratch(queries * seq);
    let square = Mat::dense(queries, seq);
    let scale = dims.scale::<T>();
    for r in 0..rows {
        for h in 0..heads {
            let (map, qh, kh) = (dims.map(r, h), dims.queries(r, h), dims.keys(r, h));
            matmul(&mut dprobs, map, dctx, qh, v, kh.t(), T::one(), false);
            matmul(&mut dv, kh, probs, map.t(), dctx, qh, T::one(), false);
            let range = map.offset..map.offset + queries * seq;
            dscores.copy_from_slice(&dprobs[range.clone()]);
            for (y, g) in probs[range].chunks(seq).zip(dscores.chunks_mut(seq)) {
                softmax_row_backward(y, g);
            }
            matmul(&mut dq, qh, &dscores, square, k, kh, scale, false);
            matmul(&mut dk, kh, &dscores, square.t(), q, qh, scale, false);
        }
    }
    Backward { dq, dk, dv, dprobs }
}
