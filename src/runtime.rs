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
    /// `dtype` on `device` with the explicit engine and [`default_workers`].
    pub fn new(dtype: DType, device: Device) -> Self {
        Self {
            workers: default_workers(device.is_cpu(), available_cores()),
            device,
            dtype,
            engine: EngineChoice::Auto,
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

    /// Free memory of the device in bytes; None on the CPU (or where it cannot be asked).
    pub fn device_free_bytes(&self) -> Option<usize> {
        match &self.device {
            #[cfg(feature = "cuda")]
            Device::Cuda(d) => d
                .cuda_stream()
                .context()
                .mem_get_info()
                .ok()
                .map(|(f, _)| f),
            _ => None,
        }
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
        let watch = crate::progress::current();
        let per_worker: Vec<Result<Vec<(usize, T)>, E>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|w| {
                    let watch = watch.clone();
                    s.spawn(move || {
                        IN_WORKER.with(|w| w.set(true));
                        crate::progress::adopt(watch);
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

/// Workers for independent chunks: one per core on the CPU; one on a GPU, whose single
/// stream of work several host threads would only fight over (measured on an H200: 16 workers
/// did not finish in 110 s what one did in 1.9 s, 2 workers were 3× slower than one).
pub fn default_workers(on_cpu: bool, cores: usize) -> usize {
    if on_cpu {
        cores.max(1)
    } else {
        1
    }
}

/// Share of a device's free memory that one chunk's activations may take: the rest is left
/// for the weights' copies, the backward pass's temporaries and the allocator's slack.
const DEVICE_MEMORY_SHARE: f64 = 0.6;

/// The CPU's chunks are at most this many rows (the fastest of 12/16/25/32 on MiniLM,
/// measured).
const MAX_CPU_ROWS: usize = 25;

/// Rows (interpolation points) per chunk for a request of `points` rows of `row_bytes` each.
/// On the CPU every worker gets its share of `host_budget_bytes`, at most 25 rows; on a device
/// (`device_free_bytes` known) the rows take up to 60 % of its free memory, so that all points
/// of all paths run in as few chunks as fit, of equal size: fewer, larger launches.
pub fn chunk_rows_policy(
    row_bytes: f64,
    points: usize,
    workers: usize,
    host_budget_bytes: f64,
    device_free_bytes: Option<usize>,
) -> usize {
    let row_bytes = row_bytes.max(1.0);
    match device_free_bytes {
        Some(free) => {
            let fit = ((free as f64 * DEVICE_MEMORY_SHARE / row_bytes).floor() as usize)
                .clamp(1, points.max(1));
            // As many chunks as needed, of equal size: 600 points that fit 267 at a time run
            // as 3 x 200, not 267 + 267 + 66.
            points.max(1).div_ceil(points.max(1).div_ceil(fit))
        }
        None => {
            let share = host_budget_bytes / workers.max(1) as f64;
            ((share / row_bytes).floor() as usize).clamp(1, MAX_CPU_ROWS)
        }
    }
}

/// Allows TF32 tensor cores for f32 matrix products on CUDA (cuBLAS's
/// `CUBLAS_COMPUTE_32F_FAST_TF32`; PyTorch's `torch.backends.cuda.matmul.allow_tf32`): about
/// 10 mantissa bits per product instead of 23, accumulation in f32. Process-wide in candle, like
/// PyTorch's switch; no effect on the CPU.
pub fn set_tf32(on: bool) {
    TF32.store(on, std::sync::atomic::Ordering::Relaxed);
    candle_core::cuda::set_gemm_reduced_precision_f32(on);
}

/// TF32 set to a value for as long as this lives; the previous setting comes back on drop.
pub struct Tf32Scope {
    before: bool,
}

impl Tf32Scope {
    pub fn new(on: bool) -> Self {
        let before = tf32();
        if on != before {
            set_tf32(on);
        }
        Self { before }
    }
}

impl Drop for Tf32Scope {
    fn drop(&mut self) {
        if tf32() != self.before {
            set_tf32(self.before);
        }
    }
}

/// Whether [`set_tf32`] last turned TF32 on.
pub fn tf32() -> bool {
    TF32.load(std::sync::atomic::Ordering::Relaxed)
}

static TF32: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The float type a user names: `f32`, `f64`, `bf16`, `f16` (or PyTorch's `float32`, `float64`,
/// `bfloat16`, `float16`); otherwise a message that lists them.
pub fn dtype_named(name: &str) -> Result<DType, String> {
    match name {
        "f32" | "float32" => Ok(DType::F32),
        "f64" | "float64" => Ok(DType::F64),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        "f16" | "float16" => Ok(DType::F16),
        other => Err(format!("dtype `{other}`: use f32, f64, bf16 or f16")),
    }
}

/// What the explanations of a model in `dtype` on `device` were computed in, as the JSON's
/// `dtype` says it: `f32`, `f64`, `bf16`, `f16`, or `tf32` (f32 with TF32 products on CUDA).
pub fn precision_name(dtype: DType, device: &Device) -> &'static str {
    match dtype {
        DType::F64 => "f64",
        DType::BF16 => "bf16",
        DType::F16 => "f16",
        _ if !device.is_cpu() && TF32.load(std::sync::atomic::Ordering::Relaxed) => "tf32",
        _ => "f32",
    }
}

/// The CUDA GPU `ordinal`, or what stands in the way in a user's words.
pub fn cuda_device(ordinal: usize) -> Result<Device, String> {
    if !cfg!(feature = "cuda") {
        return Err(
            "this calig was built without CUDA: build it with scripts/build-cuda.sh \
                    (docs/performance.md, \"On a GPU\")"
                .into(),
        );
    }
    Device::new_cuda(ordinal).map_err(|e| {
        // candle appends a backtrace; the first line says what happened.
        let first = e.to_string().lines().next().unwrap_or_default().to_string();
        if first.contains("STUB_LIBRARY") {
            "no NVIDIA driver here: libcuda.so.1 is the build's stub (use --device cpu, or run \
             on a machine with a GPU driver)"
                .into()
        } else if first.contains("NO_DEVICE") || first.contains("INVALID_DEVICE") {
            format!("no CUDA GPU number {ordinal} on this machine ({first})")
        } else {
            format!("cannot use CUDA GPU {ordinal}: {first}")
        }
    })
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
    #[cfg(not(feature = "cuda"))]
    fn a_build_without_cuda_says_how_to_get_one() {
        let e = cuda_device(0).unwrap_err();
        assert!(
            e.contains("built without CUDA") && e.contains("build-cuda.sh"),
            "{e}"
        );
    }

    #[test]
    fn a_gpu_gets_one_worker_and_the_cpu_one_per_core() {
        assert_eq!(default_workers(false, 16), 1);
        assert_eq!(default_workers(true, 16), 16);
        assert_eq!(default_workers(true, 0), 1);
        assert_eq!(Runtime::cpu().workers, available_cores());
        assert_eq!(Runtime::cpu().device_free_bytes(), None);
    }

    #[test]
    fn a_device_takes_every_point_in_one_chunk_when_its_memory_allows() {
        let gib = 1usize << 30;
        let row = 300e6; // BERT-base at 128 tokens, estimated
                         // 100 GiB free: 650 points (13 paths x 50 steps), 214 fit at a time: 4 chunks of 163.
        assert_eq!(chunk_rows_policy(row, 650, 1, 0.0, Some(100 * gib)), 163);
        // 1 TB free: one chunk holds all the points, not more.
        assert_eq!(chunk_rows_policy(row, 650, 1, 0.0, Some(1000 * gib)), 650);
        // Too little memory for one row still makes progress, a row at a time.
        assert_eq!(chunk_rows_policy(row, 650, 1, 0.0, Some(1 << 20)), 1);
        // The device's rows do not depend on the host budget or the workers.
        assert_eq!(
            chunk_rows_policy(row, 650, 16, 1e12, Some(100 * gib)),
            chunk_rows_policy(row, 650, 1, 0.0, Some(100 * gib))
        );
    }

    #[test]
    fn the_cpu_shares_its_budget_among_workers_up_to_25_rows() {
        let mib = 1024.0 * 1024.0;
        assert_eq!(
            chunk_rows_policy(10.0 * mib, 650, 1, 2048.0 * mib, None),
            25
        );
        assert_eq!(
            chunk_rows_policy(100.0 * mib, 650, 2, 2048.0 * mib, None),
            10
        );
        assert_eq!(
            chunk_rows_policy(4096.0 * mib, 650, 1, 2048.0 * mib, None),
            1
        );
    }

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
