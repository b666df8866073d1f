//! Matrix products on contiguous buffers through the `gemm` crate (the GEMM candle itself
//! uses), with transposes and per-head slices expressed as strides so that nothing is copied.

use super::Real;

/// A strided matrix inside a slice: element (i, j) is at `offset + i·row_stride + j·col_stride`.
#[derive(Debug, Clone, Copy)]
pub struct Mat {
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl Mat {
    /// A row-major (rows, cols) matrix at the start of its slice.
    pub fn dense(rows: usize, cols: usize) -> Self {
        Self {
            offset: 0,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose, as a view of the same elements.
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Columns `first..first + cols` (one head's slice of a (rows, d) activation).
    pub fn columns(self, first: usize, cols: usize) -> Self {
        Self {
            offset: self.offset + first * self.col_stride,
            cols,
            ..self
        }
    }

    /// Shifted by `by` elements (the next sequence of a batch).
    pub fn at(self, by: usize) -> Self {
        Self {
            offset: self.offset + by,
            ..self
        }
    }

    /// Index one past the last element, for bounds checks.
    fn end(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            return self.offset;
        }
        self.offset + (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride + 1
    }
}

/// dst = scale · a · b, or dst += scale · a · b when `accumulate`. Single-threaded: chunks
/// already run on parallel workers (attr/batching.rs). BLAS-like: three operands with their
/// views, a scale and a mode.
#[allow(clippy::too_many_arguments)]
pub fn matmul<T: Real>(
    dst: &mut [T],
    d: Mat,
    a: &[T],
    ma: Mat,
    b: &[T],
    mb: Mat,
    scale: T,
    accumulate: bool,
) {
    assert!(
        ma.cols == mb.rows && d.rows == ma.rows && d.cols == mb.cols,
        "matmul shapes: ({}, {}) · ({}, {}) into ({}, {})",
        ma.rows,
        ma.cols,
        mb.rows,
        mb.cols,
        d.rows,
        d.cols
    );
    assert!(
        d.end() <= dst.len() && ma.end() <= a.len() && mb.end() <= b.len(),
        "matmul view out of bounds"
    );
    if d.rows == 0 || d.cols == 0 {
        return;
    }
    // SAFETY: every view was checked above to lie inside its slice; `dst` is borrowed mutably
    // and so cannot alias `a` or `b`; the gemm crate reads and writes exactly those elements.
    unsafe {
        gemm::gemm(
            d.rows,
            d.cols,
            ma.cols,
            dst.as_mut_ptr().add(d.offset),
            d.col_stride as isize,
            d.row_stride as isize,
            accumulate,
            a.as_ptr().add(ma.offset),
            ma.col_stride as isize,
            ma.row_stride as isize,
            b.as_ptr().add(mb.offset),
            mb.col_stride as isize,
            mb.row_stride as isize,
            T::one(),
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], ma: Mat, b: &[f64], mb: Mat) -> Vec<f64> {
        let mut out = vec![0.0; ma.rows * mb.cols];
        for i in 0..ma.rows {
            for j in 0..mb.cols {
                out[i * mb.cols + j] = (0..ma.cols)
                    .map(|k| {
                        a[ma.offset + i * ma.row_stride + k * ma.col_stride]
                            * b[mb.offset + k * mb.row_stride + j * mb.col_stride]
                    })
                    .sum();
            }
        }
        out
    }

    #[test]
    fn strided_products_match_the_definition() {
        let a: Vec<f64> = (0..60).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..60).map(|i| (i as f64 * 0.11).cos()).collect();
        // (4, 3) head slice of a (4, 15) matrix times the transpose of a (5, 3) slice.
        let ma = Mat::dense(4, 15).columns(6, 3);
        let mb = Mat::dense(5, 12).columns(3, 3).t();
        let want = naive(&a, ma, &b, mb);
        let mut got = vec![1.0; 20];
        matmul(&mut got, Mat::dense(4, 5), &a, ma, &b, mb, 1.0, false);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-12);
        }
        // Accumulating with a scale.
        matmul(&mut got, Mat::dense(4, 5), &a, ma, &b, mb, 0.5, true);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - 1.5 * w).abs() < 1e-12);
        }
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn views_outside_the_slice_are_refused() {
        let a = vec![0.0f32; 6];
        let mut d = vec![0.0f32; 4];
        matmul(
            &mut d,
            Mat::dense(2, 2),
            &a,
            Mat::dense(2, 4),
            &a,
            Mat::dense(4, 2),
            1.0,
            false,
        );
    }
}
