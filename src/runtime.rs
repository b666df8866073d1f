//! Where and how a model runs: the device, the float type, the implementation of the block
//! stack's integrated-gradients chunks and the number of worker threads. One [`Runtime`] is made
//! at the top (the CLI from its flags and the environment, Python from `calig.load`'s
//! arguments, a library user by hand) and handed down with the model, so nothing below reads
//! the environment.
//!
//! Independent pieces of work (chunks of interpolation points, of masked inputs, of sequences)
//! run on [`Runtime::map_parallel`], which keeps results in item order so that sums over them do
//! not depend on the number of workers.

use candle_core::{DType, Device};

/// Which implementation runs the integrated-gradients chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineChoice {
    /// The explicit engine (src/engine/) where it applies, else candle.
    #[default]
    Auto,
    /// candle's autograd (the oracle the explicit engine is tested against).
    Candle,
}

impl EngineChoice {
    /// The engine to run on: the model's (`engine`, asked only under Auto, so the oracle never
    /// builds the engine's copy of the weights) or none.
    pub fn select<'a, E, Err>(
        self,
        engine: impl FnOnce() -> Result<Option<&'a E>, Err>,
    ) -> Result<Option<&'a E>, Err> {
        match self {
            Self::Auto => engine(),
            Self::Candle => Ok(None),
        }
    }
}

/// How a model runs; carried by the loaded model and read by everything below it.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub device: Device,
    pub dtype: DType,
    pub engine: EngineChoice,
    /// Worker threads for independent chunks (at least 1).
    pub workers: usize,
}

impl Runtime {
    /// `dtype` on `device` with the explicit engine and one worker per available core.
    pub fn new(dtype: DType, device: Device) -> Self {
        Self {
            device,
            dtype,
            engine: EngineChoice::Auto,
            workers: available_cores(),
        }
    }

    /// f32 on the CPU.
    pub fn cpu() -> Self {
        Self::new(DType::F32, Device::Cpu)
    }

    /// [`Runtime::new`] with the environment's overrides, for programs' entry points (the CLI,
    /// the Python module, `load_model`): `CALIG_ENGINE=candle` selects candle's autograd,
    /// `CALIG_WORKERS=N` the number of workers.
    pub fn from_env(dtype: DType, device: Device) -> Self {
        let mut r = Self::new(dtype, device);
        if std::env::var("CALIG_ENGINE").as_deref() == Ok("candle") {
            r.engine = EngineChoice::Candle;
        }
        if let Some(n) = std::env::var("CALIG_WORKERS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        {
            r.workers = n.max(1);
        }
        r
    }

    /// `f` over every item on up to [`Runtime::workers`] threads; results in item order. Inside
    /// a worker (a nested call) it runs sequentially on that worker's thread instead of
    /// multiplying the threads.
    pub fn map_parallel<I: Sync, T: Send, E: Send>(
        &self,
        items: &[I],
        f: impl Fn(&I) -> Result<T, E> + Sync,
    ) -> Result<Vec<T>, E> {
        let nested = IN_WORKER.with(|w| w.get());
        let n = if nested {
            1
        } else {
            self.workers.min(items.len()).max(1)
        };
        if n == 1 {
            return items.iter().map(&f).collect();
        }
        let f = &f;
        let per_worker: Vec<Result<Vec<(usize, T)>, E>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|w| {
                    s.spawn(move || {
                        IN_WORKER.with(|w| w.set(true));
                        items
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
                .map(|h| h.join().expect("calig worker panicked"))
                .collect()
        });
        let mut all = Vec::with_capacity(items.len());
        for r in per_worker {
            all.extend(r?);
        }
        all.sort_by_key(|(i, _)| *i);
        Ok(all.into_iter().map(|(_, t)| t).collect())
    }
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

thread_local! {
    /// Set on the threads of [`Runtime::map_parallel`], so that a nested call runs on its own
    /// thread.
    static IN_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_map_keeps_item_order_for_any_worker_count() {
        let items: Vec<usize> = (0..23).collect();
        for workers in [1, 2, 5, 40] {
            let r = Runtime {
                workers,
                ..Runtime::cpu()
            };
            let out: Vec<usize> = r.map_parallel(&items, |i| Ok::<_, ()>(i * 10)).unwrap();
            assert_eq!(out, items.iter().map(|i| i * 10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn the_first_error_in_item_order_is_returned() {
        let r = Runtime {
            workers: 3,
            ..Runtime::cpu()
        };
        let items: Vec<usize> = (0..9).collect();
        let e = r
            .map_parallel(&items, |&i| if i % 4 == 3 { Err(i) } else { Ok(i) })
            .unwrap_err();
        assert!(e == 3 || e == 7, "{e}");
    }

    #[test]
    fn nested_calls_stay_on_their_worker() {
        let r = Runtime {
            workers: 2,
            ..Runtime::cpu()
        };
        let outer: Vec<usize> = (0..4).collect();
        let out = r
            .map_parallel(&outer, |&i| {
                let id = std::thread::current().id();
                let inner =
                    r.map_parallel(&[0, 1, 2], |_| Ok::<_, ()>(std::thread::current().id()))?;
                Ok::<_, ()>((i, inner.iter().all(|t| *t == id)))
            })
            .unwrap();
        assert!(out.iter().all(|(_, same)| *same));
    }
}
