//! One worker thread per model and a bounded queue in front of it: the model runs one job at a
//! time (an explanation already uses every core through the library's own workers), at most
//! `capacity` jobs wait, and a job that finds the queue full is refused at once ([`Busy`]) so
//! that a busy server answers 503 instead of piling up requests.

use calig::model::LoadedModel;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&LoadedModel) + Send>;

/// The queue was full: the caller should answer 503 and ask to retry later.
#[derive(Debug)]
pub struct Busy;

/// The worker of one model.
pub struct Worker {
    jobs: SyncSender<Job>,
}

impl Worker {
    /// Starts the model's thread with room for `capacity` waiting jobs besides the running one.
    pub fn start(name: &str, model: Arc<LoadedModel>, capacity: usize) -> std::io::Result<Self> {
        let (jobs, queue) = sync_channel::<Job>(capacity);
        std::thread::Builder::new()
            .name(format!("serve-{name}"))
            .spawn(move || {
                for job in queue {
                    job(&model);
                }
            })?;
        Ok(Self { jobs })
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
            let _ = tx.send(out);
        });
        match self.jobs.try_send(job) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => Err(Busy),
        }
    }
}
