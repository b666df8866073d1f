//! Activation buffers that go back to a per-thread pool when dropped, so that a worker's
//! later chunks reuse the memory of its earlier ones instead of faulting in fresh pages (about
//! a tenth of the time went to page faults and zeroing before this).

use super::Real;
use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// What one thread keeps for reuse, at most.
const POOL_BYTES: usize = 1 << 30;

/// The per-thread free list of one float type.
pub struct Pool<T> {
    free: Vec<Vec<T>>,
    bytes: usize,
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Self {
            free: Vec::new(),
            bytes: 0,
        }
    }
}

thread_local! {
    static F32: RefCell<Pool<f32>> = RefCell::new(Pool::default());
    static F64: RefCell<Pool<f64>> = RefCell::new(Pool::default());
}

/// The float types that have a pool.
/// None while the thread is being torn down and its pool is gone.
pub trait Pooled: Sized + 'static {
    fn with_pool<R>(f: impl FnOnce(&mut Pool<Self>) -> R) -> Option<R>;
}

impl Pooled for f32 {
    fn with_pool<R>(f: impl FnOnce(&mut Pool<Self>) -> R) -> Option<R> {
        F32.try_with(|p| f(&mut p.borrow_mut())).ok()
    }
}

impl Pooled for f64 {
    fn with_pool<R>(f: impl FnOnce(&mut Pool<Self>) -> R) -> Option<R> {
        F64.try_with(|p| f(&mut p.borrow_mut())).ok()
    }
}

/// A zero-filled buffer from the pool; returned to it on drop.
pub struct Buf<T: Real>(Vec<T>);

impl<T: Real> Buf<T> {
    /// `len` elements in the smallest free buffer large enough (or new memory); the elements
    /// that buffer already held keep their old values.
    fn take(len: usize) -> Vec<T> {
        let reused = T::with_pool(|pool| {
            let best = pool
                .free
                .iter()
                .enumerate()
                .filter(|(_, v)| v.capacity() >= len)
                .min_by_key(|(_, v)| v.capacity())
                .map(|(i, _)| i)?;
            let v = pool.free.swap_remove(best);
            pool.bytes -= v.capacity() * std::mem::size_of::<T>();
            Some(v)
        })
        .flatten();
        let mut v = reused.unwrap_or_else(|| Vec::with_capacity(len));
        v.truncate(len);
        v.resize(len, T::zero());
        v
    }

    pub fn zeros(len: usize) -> Self {
        let mut v = Self::take(len);
        v.fill(T::zero());
        Self(v)
    }

    /// A buffer whose contents are unspecified (left from earlier use, or zero): for outputs
    /// that are written in full before they are read, so reused memory is not cleared first.
    pub fn scratch(len: usize) -> Self {
        Self(Self::take(len))
    }

    pub fn from_slice(values: &[T]) -> Self {
        let mut b = Self::scratch(values.len());
        b.copy_from_slice(values);
        b
    }

    /// Keeps the first `len` elements.
    pub fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    /// Appends `values`.
    pub fn extend_from_slice(&mut self, values: &[T]) {
        self.0.extend_from_slice(values);
    }
}

impl<T: Real> Drop for Buf<T> {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        let bytes = v.capacity() * std::mem::size_of::<T>();
        if bytes == 0 {
            return;
        }
        // During thread teardown the pool may already be gone: then the memory is just freed.
        T::with_pool(|pool| {
            if pool.bytes + bytes <= POOL_BYTES {
                pool.bytes += bytes;
                pool.free.push(v);
            }
        });
    }
}

impl<T: Real> Deref for Buf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: Real> DerefMut for Buf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_buffers_are_reused_zeroed() {
        let mut a = Buf::<f32>::zeros(1000);
        a[3] = 7.0;
        let ptr = a.as_ptr();
        drop(a);
        let b = Buf::<f32>::zeros(800);
        assert_eq!(b.as_ptr(), ptr, "the freed buffer is reused");
        assert!(b.iter().all(|&x| x == 0.0) && b.len() == 800);
        // Scratch buffers keep what the memory held; zeros clear it.
        let mut d = Buf::<f32>::scratch(800);
        d[5] = 3.0;
        drop(d);
        assert_eq!(Buf::<f32>::scratch(800)[5], 3.0);
        assert_eq!(Buf::<f32>::zeros(800)[5], 0.0);
        // A request larger than anything free gets new memory.
        let c = Buf::<f32>::zeros(5000);
        assert_eq!(c.len(), 5000);
    }
}
