//! Setup shared by the bench files: the runtime, criterion's settings, and
//! the drivers that run N threads or N tasks on one object and time them, so
//! that each group in a bench file reads as its scenario only.
//!
//! Every bench binary compiles its own copy (`mod common;`) and uses only part
//! of it, hence the `dead_code` allowance.

#![allow(dead_code)]

use std::future::Future;
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::Criterion;
use criterion::measurement::WallTime;
use tokio::runtime::Runtime;

/// A benchmark group as the bench files pass it around.
pub type Group<'a> = criterion::BenchmarkGroup<'a, WallTime>;

/// Criterion's settings for every bench file: short warm-up and measurement,
/// 10 samples (the suite must fit in minutes on a 2-core machine).
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
}

/// The multi-thread tokio runtime of the async and mixed scenarios, with the
/// default worker count (one per core: 2 on the CI box, more elsewhere).
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// OS threads spawned ahead of time, all held at a start line until
/// [`start`](Self::start), so that spawning stays outside the clock.
pub struct Threads {
    start_line: Arc<Barrier>,
    handles: Vec<JoinHandle<()>>,
}

impl Threads {
    /// Spawns `n` threads; each waits at the start line, then runs `work`.
    pub fn spawn(n: usize, work: impl Fn() + Send + Sync + 'static) -> Self {
        let work = Arc::new(work);
        let start_line = Arc::new(Barrier::new(n + 1));
        let handles = (0..n)
            .map(|_| {
                let work = Arc::clone(&work);
                let start_line = Arc::clone(&start_line);
                std::thread::spawn(move || {
                    start_line.wait();
                    work();
                })
            })
            .collect();
        Threads {
            start_line,
            handles,
        }
    }

    /// Lets every thread go at once; the clock starts here.
    pub fn start(&self) -> Instant {
        self.start_line.wait();
        Instant::now()
    }

    /// Waits for every thread to finish.
    pub fn join(self) {
        for h in self.handles {
            h.join().expect("benchmark thread panicked");
        }
    }
}

/// Runs `work` on `n` threads that start together; the time from the start
/// until the last one has finished.
pub fn time_threads(n: usize, work: impl Fn() + Send + Sync + 'static) -> Duration {
    let threads = Threads::spawn(n, work);
    let start = threads.start();
    threads.join();
    start.elapsed()
}

/// Spawns `n` tasks on the current runtime, each running the future `work`
/// makes, and waits for all of them.
pub async fn join_tasks<F>(n: usize, work: impl Fn() -> F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|_| tokio::spawn(work())).collect();
    for h in handles {
        h.await.expect("benchmark task panicked");
    }
}

/// Runs `n` tasks on `rt`, each running the future `work` makes; the time
/// from spawning the first until the last one has finished.
pub fn time_tasks<F>(rt: &Runtime, n: usize, work: impl Fn() -> F) -> Duration
where
    F: Future<Output = ()> + Send + 'static,
{
    rt.block_on(async {
        let start = Instant::now();
        join_tasks(n, work).await;
        start.elapsed()
    })
}
