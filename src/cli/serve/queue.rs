//! One worker thread per model and a bounded queue in front of it: the model runs one job at a
//! time (an explanation already uses every core through the library's own workers), at most
//! `capacity` jobs wait, and a job that finds the queue full is refused at once ([`Busy`]) so
//! that a busy server answers 503 instead of piling up requests. The worker's [`Status`] (the
//! running job's interpolation points, the jobs waiting) is readable while a job runs.

use calig::model::LoadedModel;
use calig::progress::{watch_points_seen, Points};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tokio::sync::oneshot;

/// A job runs on the model and returns the delivery of its answer, which the worker calls once
/// it has marked itself idle (so that a client never sees the status of its own finished job).
type Job = Box<dyn FnOnce(&LoadedModel) -> Deliver + Send>;
type Deliver = Box<dyn FnOnce() + Send>;

/// The queue was full: the caller should answer 503 and ask to retry later.
#[derive(Debug)]
pub struct Busy;

/// What a worker is doing.
#[derive(Default)]
struct State {
    /// When the running job started, and its interpolation points.
    running: Option<(Instant, Option<Points>)>,
    waiting: usize,
}

/// A snapshot of a worker's state.
pub struct Status {
    /// Seconds the running job has run, and its (planned, done) interpolation points so far.
    pub running: Option<(f64, (u64, u64))>,
    pub waiting: usize,
    pub capacity: usize,
}

/// The worker of one model.
pub struct Worker {
    jobs: SyncSender<Job>,
    state: Arc<Mutex<State>>,
    capacity: usize,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // A job's panic is caught before it can poison the lock; recover anyway.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Worker {
    /// Starts the model's thread with room for `capacity` waiting jobs besides the running one.
    pub fn start(name: &str, model: Arc<LoadedModel>, capacity: usize) -> std::io::Result<Self> {
        let (jobs, queue) = sync_channel::<Job>(capacity);
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::Builder::new()
            .name(format!("serve-{name}"))
            .spawn(move || {
                for job in queue {
                    {
                        let mut s = lock(&shared);
                        s.waiting = s.waiting.saturating_sub(1);
                        s.running = Some((Instant::now(), None));
                    }
                    let seen = |p: Points| {
                        if let Some(r) = lock(&shared).running.as_mut() {
                            r.1 = Some(p);
                        }
                    };
                    let deliver = watch_points_seen(false, seen, || job(&model));
                    lock(&shared).running = None;
                    deliver();
                }
            })?;
        Ok(Self {
            jobs,
            state,
            capacity,
        })
    }

    /// Queues `f` to run on the model; its result (`Err` with a message if it panicked) comes
    /// back through the receiver. `Err(Busy)` when the queue is full.
    pub fn submit<R: Send + 'static>(
        &self,
        f: impl FnOnce(&LoadedModel) -> R + Send + 'static,
    ) -> Result<oneshot::Receiver<Result<R, String>>, Busy> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |m| {
            let out = catch_unwind(AssertUnwindSafe(|| f(m))).map_err(|p| {
                let why = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown cause".into());
                format!("internal error (a panic in the explainer): {why}")
            });
            // The client may have gone away; its answer is then dropped.
            Box::new(move || {
                let _ = tx.send(out);
            }) as Deliver
        });
        // Counted before it is sent, so that the worker never takes it off a count of zero.
        lock(&self.state).waiting += 1;
        match self.jobs.try_send(job) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let mut s = lock(&self.state);
                s.waiting = s.waiting.saturating_sub(1);
                Err(Busy)
            }
        }
    }

    pub fn status(&self) -> Status {
        let s = lock(&self.state);
        Status {
            running: s.running.as_ref().map(|(t, p)| {
                (
                    t.elapsed().as_secs_f64(),
                    p.as_ref().map_or((0, 0), Points::get),
                )
            }),
            waiting: s.waiting,
            capacity: self.capacity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn worker(capacity: usize) -> Worker {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bert");
        let m = calig::model::load_model(dir, candle_core::DType::F32, &candle_core::Device::Cpu)
            .unwrap();
        Worker::start("test", Arc::new(m), capacity).unwrap()
    }

    #[test]
    fn a_full_queue_refuses_at_once_and_a_panic_leaves_the_worker_serving() {
        let w = worker(1);
        // The worker holds the first job until told to go on; the second waits; a third is
        // refused.
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let first = w.submit(move |_| wait.recv().unwrap()).unwrap();
        while w.status().running.is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let second = w.submit(|_| -> u32 { panic!("boom") }).unwrap();
        assert_eq!(w.status().waiting, 1);
        assert!(w.submit(|_| 3).is_err(), "the queue of one is full");
        go.send(()).unwrap();
        assert_eq!(first.blocking_recv().unwrap(), Ok(()));
        let err = second.blocking_recv().unwrap().unwrap_err();
        assert!(err.contains("panic") && err.contains("boom"), "{err}");
        // Still serving, with the model.
        let labels = w.submit(|m| m.config.labels.len()).unwrap();
        assert!(labels.blocking_recv().unwrap().unwrap() >= 2);
        let s = w.status();
        assert_eq!((s.waiting, s.capacity), (0, 1));
    }
}
