//! `Lock` against std, parking_lot, tokio, async-lock and futures mutexes.
//!
//! Groups (one per scenario, amphi and its peers side by side, same run):
//!
//! * `lock_uncontended_blocking`: one lock + unlock on one thread.
//! * `lock_uncontended_async`: one `lock()` future polled once with a no-op
//!   waker (it must be ready), then unlocked: no executor cost.
//! * `lock_contended_threads_{2,4}`: N OS threads, each doing `OPS` lock /
//!   increment / unlock per iteration on one shared lock.
//! * `lock_contended_tasks`: 10 tokio tasks on the multi-thread runtime, each
//!   doing `OPS` lock / increment / unlock per iteration.
//! * `lock_mixed`: 2 OS threads (outside the runtime, blocking calls) and 8
//!   tasks (`.await`), each doing `OPS` lock / increment / unlock per iteration.
//!
//! For the multi-thread cases, one iteration is the whole batch (all threads
//! or tasks doing `OPS` each); lower is better. Threads are spawned and
//! runtimes built outside the timed region.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

mod common;
use common::{Group, Threads};

/// Lock operations per thread or task in one iteration.
const OPS: u64 = 1000;

/// Polls `fut` once with a no-op waker; it must be ready (uncontended).
#[inline(always)]
fn poll_once<F: Future>(fut: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(fut).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("an uncontended lock was not ready on its first poll"),
    }
}

/// A mutex a thread can block on; `lock_inc` locks, increments, unlocks.
trait BlockingLock: Send + Sync + 'static {
    fn create() -> Self;
    fn lock_inc_blocking(&self);
}

/// A mutex a task can await.
trait AsyncLock: Send + Sync + 'static {
    fn create() -> Self;
    fn lock_inc(&self) -> impl Future<Output = ()> + Send;
}

impl BlockingLock for std::sync::Mutex<u64> {
    fn create() -> Self {
        std::sync::Mutex::new(0)
    }
    #[inline]
    fn lock_inc_blocking(&self) {
        *self.lock().unwrap() += 1;
    }
}

impl BlockingLock for parking_lot::Mutex<u64> {
    fn create() -> Self {
        parking_lot::Mutex::new(0)
    }
    #[inline]
    fn lock_inc_blocking(&self) {
        *self.lock() += 1;
    }
}

impl BlockingLock for tokio::sync::Mutex<u64> {
    fn create() -> Self {
        tokio::sync::Mutex::new(0)
    }
    /// Only on threads outside any runtime (tokio panics otherwise).
    #[inline]
    fn lock_inc_blocking(&self) {
        *self.blocking_lock() += 1;
    }
}

impl AsyncLock for tokio::sync::Mutex<u64> {
    fn create() -> Self {
        tokio::sync::Mutex::new(0)
    }
    #[inline]
    async fn lock_inc(&self) {
        *self.lock().await += 1
    }
}

impl BlockingLock for async_lock::Mutex<u64> {
    fn create() -> Self {
        async_lock::Mutex::new(0)
    }
    #[inline]
    fn lock_inc_blocking(&self) {
        *self.lock_blocking() += 1;
    }
}

impl AsyncLock for async_lock::Mutex<u64> {
    fn create() -> Self {
        async_lock::Mutex::new(0)
    }
    #[inline]
    async fn lock_inc(&self) {
        *self.lock().await += 1
    }
}

impl AsyncLock for futures::lock::Mutex<u64> {
    fn create() -> Self {
        futures::lock::Mutex::new(0)
    }
    #[inline]
    async fn lock_inc(&self) {
        *self.lock().await += 1
    }
}

impl BlockingLock for amphi::Lock<u64> {
    fn create() -> Self {
        amphi::Lock::new(0)
    }
    #[inline]
    fn lock_inc_blocking(&self) {
        *self.lock_blocking() += 1;
    }
}

impl AsyncLock for amphi::Lock<u64> {
    fn create() -> Self {
        amphi::Lock::new(0)
    }
    #[inline]
    async fn lock_inc(&self) {
        *self.lock().await += 1
    }
}

fn uncontended_blocking(c: &mut Criterion) {
    let mut g = c.benchmark_group("lock_uncontended_blocking");
    g.sample_size(20);
    fn bench<M: BlockingLock>(g: &mut Group<'_>, name: &str) {
        let m = M::create();
        g.bench_function(name, |b| b.iter(|| black_box(&m).lock_inc_blocking()));
    }
    bench::<std::sync::Mutex<u64>>(&mut g, "std");
    bench::<parking_lot::Mutex<u64>>(&mut g, "parking_lot");
    bench::<async_lock::Mutex<u64>>(&mut g, "async_lock");
    bench::<amphi::Lock<u64>>(&mut g, "amphi");
    g.finish();
}

fn uncontended_async(c: &mut Criterion) {
    let mut g = c.benchmark_group("lock_uncontended_async");
    g.sample_size(20);
    fn bench<M: AsyncLock>(g: &mut Group<'_>, name: &str) {
        let m = M::create();
        g.bench_function(name, |b| b.iter(|| poll_once(black_box(&m).lock_inc())));
    }
    bench::<tokio::sync::Mutex<u64>>(&mut g, "tokio");
    bench::<async_lock::Mutex<u64>>(&mut g, "async_lock");
    bench::<futures::lock::Mutex<u64>>(&mut g, "futures");
    bench::<amphi::Lock<u64>>(&mut g, "amphi");
    g.finish();
}

/// `threads` OS threads, each doing `iters * OPS` lock/increment/unlock.
fn run_threads<M: BlockingLock>(iters: u64, threads: usize) -> Duration {
    let lock = Arc::new(M::create());
    common::time_threads(threads, move || {
        for _ in 0..iters * OPS {
            lock.lock_inc_blocking();
        }
    })
}

fn contended_threads(c: &mut Criterion) {
    for threads in [2, 4] {
        let mut g = c.benchmark_group(format!("lock_contended_threads_{threads}"));
        g.bench_function("std", |b| {
            b.iter_custom(|iters| run_threads::<std::sync::Mutex<u64>>(iters, threads))
        });
        g.bench_function("parking_lot", |b| {
            b.iter_custom(|iters| run_threads::<parking_lot::Mutex<u64>>(iters, threads))
        });
        g.bench_function("tokio", |b| {
            b.iter_custom(|iters| run_threads::<tokio::sync::Mutex<u64>>(iters, threads))
        });
        g.bench_function("async_lock", |b| {
            b.iter_custom(|iters| run_threads::<async_lock::Mutex<u64>>(iters, threads))
        });
        g.bench_function("amphi", |b| {
            b.iter_custom(|iters| run_threads::<amphi::Lock<u64>>(iters, threads))
        });
        g.finish();
    }
}

/// `tasks` tasks on `rt`, each doing `iters * OPS` lock/increment/unlock.
fn run_tasks<M: AsyncLock>(rt: &Runtime, iters: u64, tasks: usize) -> Duration {
    let lock = Arc::new(M::create());
    common::time_tasks(rt, tasks, || {
        let lock = Arc::clone(&lock);
        async move {
            for _ in 0..iters * OPS {
                lock.lock_inc().await;
            }
        }
    })
}

fn contended_tasks(c: &mut Criterion) {
    let rt = common::runtime();
    let mut g = c.benchmark_group("lock_contended_tasks");
    g.bench_function("tokio", |b| {
        b.iter_custom(|iters| run_tasks::<tokio::sync::Mutex<u64>>(&rt, iters, 10))
    });
    g.bench_function("async_lock", |b| {
        b.iter_custom(|iters| run_tasks::<async_lock::Mutex<u64>>(&rt, iters, 10))
    });
    g.bench_function("futures", |b| {
        b.iter_custom(|iters| run_tasks::<futures::lock::Mutex<u64>>(&rt, iters, 10))
    });
    g.bench_function("amphi", |b| {
        b.iter_custom(|iters| run_tasks::<amphi::Lock<u64>>(&rt, iters, 10))
    });
    g.finish();
}

/// 2 OS threads (blocking calls, outside the runtime) and 8 tasks on one
/// lock, each doing `iters * OPS` lock/increment/unlock.
fn run_mixed<M: BlockingLock + AsyncLock>(rt: &Runtime, iters: u64) -> Duration {
    const THREADS: usize = 2;
    const TASKS: usize = 8;
    let lock = Arc::new(<M as BlockingLock>::create());
    let threads = Threads::spawn(THREADS, {
        let lock = Arc::clone(&lock);
        move || {
            for _ in 0..iters * OPS {
                lock.lock_inc_blocking();
            }
        }
    });
    let start = threads.start();
    rt.block_on(common::join_tasks(TASKS, || {
        let lock = Arc::clone(&lock);
        async move {
            for _ in 0..iters * OPS {
                lock.lock_inc().await;
            }
        }
    }));
    threads.join();
    start.elapsed()
}

fn mixed(c: &mut Criterion) {
    let rt = common::runtime();
    let mut g = c.benchmark_group("lock_mixed");
    g.bench_function("tokio", |b| {
        b.iter_custom(|iters| run_mixed::<tokio::sync::Mutex<u64>>(&rt, iters))
    });
    g.bench_function("async_lock", |b| {
        b.iter_custom(|iters| run_mixed::<async_lock::Mutex<u64>>(&rt, iters))
    });
    g.bench_function("amphi", |b| {
        b.iter_custom(|iters| run_mixed::<amphi::Lock<u64>>(&rt, iters))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = uncontended_blocking, uncontended_async, contended_threads, contended_tasks, mixed
}
criterion_main!(benches);
