//! Barrier rounds: N parties meet R times. One iteration is one round (all
//! N parties passing the barrier once); lower is better.
//!
//! * `barrier_threads_{2,4,8}`: N OS threads; peers std's `Barrier` and
//!   tokio's `Barrier` (its threads driven by `futures::executor::block_on`).
//! * `barrier_tasks_8`: 8 tasks on the multi-thread runtime; peer tokio's
//!   `Barrier`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

mod common;

/// A barrier a thread can wait on.
trait BlockingBarrier: Send + Sync + 'static {
    fn create(n: usize) -> Self;
    fn meet(&self);
}

impl BlockingBarrier for std::sync::Barrier {
    fn create(n: usize) -> Self {
        std::sync::Barrier::new(n)
    }
    fn meet(&self) {
        self.wait();
    }
}

impl BlockingBarrier for tokio::sync::Barrier {
    fn create(n: usize) -> Self {
        tokio::sync::Barrier::new(n)
    }
    fn meet(&self) {
        futures::executor::block_on(self.wait());
    }
}

impl BlockingBarrier for amphi::Barrier {
    fn create(n: usize) -> Self {
        amphi::Barrier::new(n)
    }
    fn meet(&self) {
        self.wait_blocking().expect("never broken");
    }
}

/// A barrier a task can wait on.
trait AsyncBarrier: Send + Sync + 'static {
    fn create(n: usize) -> Self;
    fn meet(&self) -> impl Future<Output = ()> + Send;
}

impl AsyncBarrier for tokio::sync::Barrier {
    fn create(n: usize) -> Self {
        tokio::sync::Barrier::new(n)
    }
    async fn meet(&self) {
        self.wait().await;
    }
}

impl AsyncBarrier for amphi::Barrier {
    fn create(n: usize) -> Self {
        amphi::Barrier::new(n)
    }
    async fn meet(&self) {
        self.wait().await.expect("never broken");
    }
}

fn run_threads<B: BlockingBarrier>(n: usize, rounds: u64) -> Duration {
    let b = Arc::new(B::create(n));
    common::time_threads(n, move || {
        for _ in 0..rounds {
            b.meet();
        }
    })
}

fn run_tasks<B: AsyncBarrier>(rt: &Runtime, n: usize, rounds: u64) -> Duration {
    let b = Arc::new(B::create(n));
    common::time_tasks(rt, n, || {
        let b = Arc::clone(&b);
        async move {
            for _ in 0..rounds {
                b.meet().await;
            }
        }
    })
}

fn threads(c: &mut Criterion) {
    for n in [2, 4, 8] {
        let mut g = c.benchmark_group(format!("barrier_threads_{n}"));
        g.bench_function("std", |b| {
            b.iter_custom(|r| run_threads::<std::sync::Barrier>(n, r))
        });
        g.bench_function("tokio", |b| {
            b.iter_custom(|r| run_threads::<tokio::sync::Barrier>(n, r))
        });
        g.bench_function("amphi", |b| {
            b.iter_custom(|r| run_threads::<amphi::Barrier>(n, r))
        });
        g.finish();
    }
}

fn tasks(c: &mut Criterion) {
    let rt = common::runtime();
    let mut g = c.benchmark_group("barrier_tasks_8");
    g.bench_function("tokio", |b| {
        b.iter_custom(|r| run_tasks::<tokio::sync::Barrier>(&rt, 8, r))
    });
    g.bench_function("amphi", |b| {
        b.iter_custom(|r| run_tasks::<amphi::Barrier>(&rt, 8, r))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = threads, tasks
}
criterion_main!(benches);
