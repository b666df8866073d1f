//! Multi-head self-attention on (rows · s, d) activations: each head is a column slice of q, k,
//! v and ctx (strides, no split/merge copies), probabilities are (rows, heads, s, s).

use super::buffer::Buf;
use super::gemm::{matmul, Mat};
use super::kernels::{softmax_row, softmax_row_backward};
use super::Real;

/// Shapes of one attention call.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    pub rows: usize,
    pub seq: usize,
    pub width: usize,
    pub heads: usize,
}

impl Dims {
    fn head_dim(&self) -> usize {
        self.width / self.heads
    }

    /// Head `h` of sequence `r` in a (rows · s, d) activation.
    fn head(&self, r: usize, h: usize) -> Mat {
        let hd = self.head_dim();
        Mat::dense(self.seq, self.width)
            .columns(h * hd, hd)
            .at(r * self.seq * self.width)
    }

    /// The (s, s) probabilities of sequence `r`, head `h`.
    fn map(&self, r: usize, h: usize) -> Mat {
        Mat::dense(self.seq, self.seq).at((r * self.heads + h) * self.seq * self.seq)
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
    let Dims {
        rows, seq, heads, ..
    } = dims;
    let mut probs = Buf::zeros(rows * heads * seq * seq);
    let mut ctx = Buf::zeros(rows * seq * dims.width);
    let scale = dims.scale::<T>();
    for r in 0..rows {
        let bias = mask.map(|m| {
            let shared = m.len() == seq;
            &m[if shared { 0 } else { r * seq }..][..seq]
        });
        for h in 0..heads {
            let map = dims.map(r, h);
            matmul(
                &mut probs,
                map,
                q,
                dims.head(r, h),
                k,
                dims.head(r, h).t(),
                scale,
                false,
            );
            for row in probs[map.offset..map.offset + seq * seq].chunks_mut(seq) {
                if let Some(b) = bias {
                    for (x, &m) in row.iter_mut().zip(b) {
                        *x += m;
                    }
                }
                softmax_row(row);
            }
            matmul(
                &mut ctx,
                dims.head(r, h),
                &probs,
                map,
                v,
                dims.head(r, h),
                T::one(),
                false,
            );
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
    let Dims {
        rows, seq, heads, ..
    } = dims;
    let n = rows * seq * dims.width;
    let (mut dq, mut dk, mut dv) = (Buf::zeros(n), Buf::zeros(n), Buf::zeros(n));
    let mut dprobs = Buf::zeros(probs.len());
    let mut dscores = Buf::zeros(seq * seq);
    let square = Mat::dense(seq, seq);
    let scale = dims.scale::<T>();
    for r in 0..rows {
        for h in 0..heads {
            let (map, head) = (dims.map(r, h), dims.head(r, h));
            matmul(&mut dprobs, map, dctx, head, v, head.t(), T::one(), false);
            matmul(&mut dv, head, probs, map.t(), dctx, head, T::one(), false);
            let range = map.offset..map.offset + seq * seq;
            dscores.copy_from_slice(&dprobs[range.clone()]);
            for (y, g) in probs[range].chunks(seq).zip(dscores.chunks_mut(seq)) {
                softmax_row_backward(y, g);
            }
            matmul(&mut dq, head, &dscores, square, k, head, scale, false);
            matmul(&mut dk, head, &dscores, square.t(), q, head, scale, false);
        }
    }
    Backward { dq, dk, dv, dprobs }
}
