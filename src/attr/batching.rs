//! Splitting the interpolation points of one or several paths into chunks of bounded size, so
//! that memory stays bounded whatever the number of steps and layers.

/// One interpolation point: which path (index into the request's paths) and which step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub path: usize,
    pub step: usize,
}

/// All (path, step) points in path order, cut into chunks of at most `max_batch` points.
pub fn chunks(num_paths: usize, steps: usize, max_batch: usize) -> Vec<Vec<Point>> {
    let max_batch = max_batch.max(1);
    let all: Vec<Point> = (0..num_paths)
        .flat_map(|path| (0..steps).map(move |step| Point { path, step }))
        .collect();
    all.chunks(max_batch).map(<[Point]>::to_vec).collect()
}

/// calig's thread policy, for programs that use the library (the CLI, the Python package):
/// attribution runs independent chunks on one worker per core (`CALIG_WORKERS`), so candle's
/// own intra-op threads on top of that would oversubscribe the cores (measured: CA-LIG on
/// MiniLM 2.1 s with 2 intra-op threads and one worker, 1.4 s with 2 workers of 1 thread).
/// Sets `RAYON_NUM_THREADS=1` unless the user set it or `CALIG_WORKERS`. Call it before any
/// rayon thread pool exists (first thing in `main`, or at module import).
pub fn init_thread_policy() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none()
        && std::env::var_os("CALIG_WORKERS").is_none()
    {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
}

/// Worker threads for independent chunks: `$CALIG_WORKERS`, else the available cores.
pub fn workers() -> usize {
    std::env::var("CALIG_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

thread_local! {
    /// Set on the threads of [`map_parallel`], so that a nested call runs on its own thread
    /// instead of multiplying the threads.
    static IN_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `f` over every item (a chunk of points, of masks, ...) on up to [`workers`] threads;
/// results in item order. Inside a worker it runs sequentially.
pub fn map_parallel<I: Sync, T: Send, E: Send>(
    chunks: &[I],
    f: impl Fn(&I) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E> {
    let nested = IN_WORKER.with(|w| w.get());
    let n = if nested {
        1
    } else {
        workers().min(chunks.len()).max(1)
    };
    if n == 1 {
        return chunks.iter().map(&f).collect();
    }
    let f = &f;
    let per_worker: Vec<Result<Vec<(usize, T)>, E>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|w| {
                s.spawn(move || {
                    IN_WORKER.with(|w| w.set(true));
                    chunks
                        .iter()
                        .enumerate()
                        .skip(w)
                        .step_by(n)
                        .map(|(i, c)| f(c).map(|t| (i, t)))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("attribution worker panicked"))
            .collect()
    });
    let mut all = Vec::with_capacity(chunks.len());
    for r in per_worker {
        all.extend(r?);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, t)| t).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_point_once_in_order() {
        let c = chunks(3, 5, 4);
        assert_eq!(c.len(), 4);
        assert!(c.iter().all(|ch| ch.len() <= 4));
        let flat: Vec<Point> = c.into_iter().flatten().collect();
        assert_eq!(flat.len(), 15);
        assert_eq!(flat[5], Point { path: 1, step: 0 });
        assert_eq!(chunks(1, 3, 0).len(), 3);
    }

    #[test]
    fn parallel_map_keeps_chunk_order() {
        let c = chunks(2, 9, 2);
        let out: Vec<usize> =
            map_parallel(&c, |ch| Ok::<_, ()>(ch[0].path * 100 + ch[0].step)).unwrap();
        let want: Vec<usize> = c.iter().map(|ch| ch[0].path * 100 + ch[0].step).collect();
        assert_eq!(out, want);
    }
}
