//! The progress bars of long runs (`calig batch`, `calig eval`, a long `calig explain`) on
//! stderr.

use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A bar of `len` steps drawn with `template` (indicatif's syntax), or a hidden one. `{eta}` is
/// the time left at the run's mean rate so far ([`eta_at_mean_rate`]). The CLI's bars and the
/// Python package's `explain_batch` use it.
pub fn bar(shown: bool, len: usize, template: &str) -> ProgressBar {
    let bar = if shown {
        ProgressBar::new(len as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "eta",
                |s: &ProgressState, w: &mut dyn std::fmt::Write| match eta_at_mean_rate(
                    s.elapsed(),
                    s.pos(),
                    s.len().unwrap_or(0),
                ) {
                    Some(d) => {
                        let _ = write!(w, "{}", HumanDuration(d));
                    }
                    None => {
                        let _ = write!(w, "?");
                    }
                },
            )
            .progress_chars("=> "),
    );
    bar
}

/// Runs shorter than this draw no bar.
const QUIET_FOR: Duration = Duration::from_secs(2);

/// The interpolation points of the integrals inside [`watch_points`].
pub struct Watch {
    bar: ProgressBar,
    started: Instant,
    show: bool,
}

thread_local! {
    /// The watch of the explanation running on this thread; the workers of
    /// [`Runtime::map_parallel`](crate::runtime::Runtime::map_parallel) adopt their caller's,
    /// so explanations on other threads (Python's) count apart.
    static CURRENT: std::cell::RefCell<Option<Arc<Watch>>> = const { std::cell::RefCell::new(None) };
}

/// The watch of this thread, to hand to worker threads ([`adopt`]).
pub(crate) fn current() -> Option<Arc<Watch>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Makes `watch` this thread's (a worker taking its caller's).
pub(crate) fn adopt(watch: Option<Arc<Watch>>) {
    CURRENT.with(|c| *c.borrow_mut() = watch);
}

/// Runs `f` with its integrals' interpolation points counted on a bar, drawn on stderr once the
/// run has taken 2 s when `show` (`calig explain` on a terminal). The integrals report from
/// their workers (`plan_points`, `points_done`).
pub fn watch_points<T>(show: bool, f: impl FnOnce() -> T) -> T {
    watch_points_seen(show, |_| {}, f)
}

/// The points of a running [`watch_points_seen`] call, readable from any thread (`calig
/// serve`'s status endpoint reads them while the explanation runs on its worker).
#[derive(Clone)]
pub struct Points(Arc<Watch>);

impl Points {
    /// (planned so far, done so far).
    pub fn get(&self) -> (u64, u64) {
        (self.0.bar.length().unwrap_or(0), self.0.bar.position())
    }
}

/// [`watch_points`], handing `seen` the watch's [`Points`] before `f` runs.
pub fn watch_points_seen<T>(show: bool, seen: impl FnOnce(Points), f: impl FnOnce() -> T) -> T {
    let bar = bar(
        true,
        0,
        "explain [{bar:24}] {pos}/{len} interpolation points, ETA {eta}",
    );
    bar.set_draw_target(ProgressDrawTarget::hidden());
    let watch = Arc::new(Watch {
        bar,
        started: Instant::now(),
        show,
    });
    seen(Points(watch.clone()));
    let before = current();
    adopt(Some(watch.clone()));
    let out = f();
    adopt(before);
    watch.bar.finish_and_clear();
    out
}

/// An integral is about to run `n` more points.
pub(crate) fn plan_points(n: usize) {
    if let Some(w) = current() {
        w.bar.inc_length(n as u64);
    }
}

/// `n` points are done; the bar appears once the run has taken 2 s.
pub(crate) fn points_done(n: usize) {
    if let Some(w) = current() {
        if w.show && w.bar.is_hidden() && w.started.elapsed() >= QUIET_FOR {
            w.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        w.bar.inc(n as u64);
    }
}

/// Points counted so far by this thread's watch (planned, done); None outside one.
pub fn watched_points() -> Option<(u64, u64)> {
    current().map(|w| (w.bar.length().unwrap_or(0), w.bar.position()))
}

/// Time left at the mean rate of the steps done so far; None before the first. Steps of very
/// different cost (a slow method beside a fast one on every example) make a recent-rate
/// estimate swing: indicatif's said 38 s for a 21 s evaluation.
pub fn eta_at_mean_rate(elapsed: Duration, done: u64, len: u64) -> Option<Duration> {
    (done > 0).then(|| elapsed.mul_f64(len.saturating_sub(done) as f64 / done as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_counts_the_points_of_its_own_thread_and_its_workers() {
        assert_eq!(watched_points(), None);
        let got = watch_points(false, || {
            plan_points(10);
            points_done(4);
            // A worker adopting the caller's watch counts into it.
            let w = current();
            std::thread::spawn(move || {
                adopt(w);
                points_done(3);
            })
            .join()
            .unwrap();
            // Another thread's points do not.
            std::thread::spawn(|| points_done(100)).join().unwrap();
            watched_points()
        });
        assert_eq!(got, Some((10, 7)));
        assert_eq!(watched_points(), None);
    }

    #[test]
    fn another_thread_reads_the_points_through_their_handle() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let run = std::thread::spawn(move || {
            watch_points_seen(
                false,
                |p| tx.send(p).unwrap(),
                || {
                    plan_points(5);
                    points_done(2);
                    wait.recv().unwrap();
                },
            )
        });
        let points = rx.recv().unwrap();
        // Read while the run waits: (planned, done) as counted so far.
        let mut seen = points.get();
        for _ in 0..1000 {
            if seen == (5, 2) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
            seen = points.get();
        }
        assert_eq!(seen, (5, 2));
        go.send(()).unwrap();
        run.join().unwrap();
    }

    #[test]
    fn the_eta_follows_the_mean_rate() {
        let s = Duration::from_secs;
        assert_eq!(eta_at_mean_rate(s(10), 0, 8), None);
        assert_eq!(eta_at_mean_rate(s(10), 2, 8), Some(s(30)));
        assert_eq!(eta_at_mean_rate(s(21), 8, 8), Some(s(0)));
        assert_eq!(eta_at_mean_rate(s(5), 9, 8), Some(s(0)));
    }
}
