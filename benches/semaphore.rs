//! `Semaphore` churn against tokio's and async-lock's semaphores.
//!
//! Groups `semaphore_churn_{10,5}p_6t`: 6 tasks on the multi-thread runtime
//! share a semaphore of 10 (never short of permits) or 5 (always one task
//! short) permits; each task repeats `OPS` times per iteration: acquire one
//! permit, `yield_now` while holding it (so other tasks run and, with 5
//! permits, really have to wait), release. One iteration is the whole batch
//! of 6 x `OPS` acquire/release pairs; lower is better.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

mod common;

/// Acquire/release pairs per task in one iteration.
const OPS: u64 = 1000;
const TASKS: usize = 6;

trait AsyncSemaphore: Send + Sync + 'static {
    fn create(permits: usize) -> Self;
    /// Acquire one permit, yield while holding it, release it.
    fn churn(&self) -> impl Future<Output = ()> + Send;
}

impl AsyncSemaphore for tokio::sync::Semaphore {
    fn create(permits: usize) -> Self {
        tokio::sync::Semaphore::new(permits)
    }
    #[inline]
    async fn churn(&self) {
        let permit = self.acquire().await.unwrap();
        tokio::task::yield_now().await;
        drop(permit);
    }
}

impl AsyncSemaphore for async_lock::Semaphore {
    fn create(permits: usize) -> Self {
        async_lock::Semaphore::new(permits)
    }
    #[inline]
    async fn churn(&self) {
        let permit = self.acquire().await;
        tokio::task::yield_now().await;
        drop(permit);
    }
}

impl AsyncSemaphore for amphi::Semaphore {
    fn create(permits: usize) -> Self {
        amphi::Semaphore::new(permits)
    }
    #[inline]
    async fn churn(&self) {
        let permit = self.acquire().await.unwrap();
        tokio::task::yield_now().await;
        drop(permit);
    }
}

/// `TASKS` tasks on `rt` sharing `permits` permits, each doing `iters * OPS`
/// acquire/yield/release.
fn run<S: AsyncSemaphore>(rt: &Runtime, permits: usize, iters: u64) -> Duration {
    let sem = Arc::new(S::create(permits));
    common::time_tasks(rt, TASKS, || {
        let sem = Arc::clone(&sem);
        async move {
            for _ in 0..iters * OPS {
                sem.churn().await;
            }
        }
    })
}

fn churn(c: &mut Criterion) {
    let rt = common::runtime();
    for permits in [10, 5] {
        let mut g = c.benchmark_group(format!("semaphore_churn_{permits}p_{TASKS}t"));
        g.bench_function("tokio", |b| {
            b.iter_custom(|iters| run::<tokio::sync::Semaphore>(&rt, permits, iters))
        });
        g.bench_function("async_lock", |b| {
            b.iter_custom(|iters| run::<async_lock::Semaphore>(&rt, permits, iters))
        });
        g.bench_function("amphi", |b| {
            b.iter_custom(|iters| run::<amphi::Semaphore>(&rt, permits, iters))
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = churn
}
criterion_main!(benches);
