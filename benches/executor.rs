//! `ThreadPoolExecutor` against the other ways to run a closure on a pool
//! of threads and get its result back: tokio's `spawn_blocking`, smol's
//! `blocking::unblock`, rayon (`ThreadPool::spawn` and parallel iterators)
//! and the `threadpool` crate.
//!
//! Every pool has `WORKERS` = 4 threads where the peer lets one choose:
//! amphi `ThreadPoolExecutor::new(4)`, rayon `num_threads(4)`, threadpool
//! `ThreadPool::new(4)`, tokio `max_blocking_threads(4)` (its blocking pool,
//! which `spawn_blocking` uses; the runtime's async workers are the default,
//! one per core) and blocking `BLOCKING_MAX_THREADS=4` (an environment
//! variable read once, which `main` sets before anything else runs). Each
//! group makes its pools once, outside the clock; the workers start lazily
//! (amphi, tokio, blocking) and criterion's warm-up starts them.
//!
//! A job is a trivial closure, `black_box(i) + 1`, unless said otherwise, so
//! what is timed is the executor's own cost: submitting, waking a worker,
//! handing the result back and waking the waiter.
//!
//! Groups (function names `amphi`, `tokio_spawn_blocking`,
//! `blocking_unblock`, `rayon_spawn`, `threadpool`, `rayon_par_iter`,
//! `spawn_blocking_vec`):
//!
//! * `executor_latency_task`: one job at a time, from a tokio task (spawned
//!   on the multi-thread runtime; the clock runs inside it), awaited:
//!   amphi `pool.submit(f).await` then `.await` on the handle, tokio
//!   `spawn_blocking(f).await`, `blocking::unblock(f).await`, rayon
//!   `spawn` with a `futures::channel::oneshot` awaited. One iteration is
//!   one job submitted and its result back.
//! * `executor_latency_thread`: the same from a plain thread (criterion's,
//!   outside the runtime), blocking: amphi `try_submit(f)` +
//!   `result_blocking()`, tokio `Handle::spawn_blocking(f)` and blocking
//!   `unblock(f)` waited with `futures::executor::block_on` (the same park
//!   for both async-only peers), rayon `spawn` and threadpool `execute`
//!   with a crossbeam `bounded(1)` channel per job (the job's own result
//!   slot, as a `JobHandle` or a `JoinHandle` is).
//! * `executor_throughput_1`, `executor_throughput_4`: `JOBS` = 10^4 jobs
//!   per iteration, submitted by 1 or by 4 producer threads (each submits
//!   its share, then collects its share's results and checks their sum).
//!   The producers are OS threads for every peer, tokio and blocking
//!   included (they need no task: `Handle::spawn_blocking` and `unblock`
//!   work from any thread), so all of them run the same scenario; the
//!   async-only peers collect their handles inside one
//!   `futures::executor::block_on`, amphi with `result_blocking` on each
//!   handle. rayon and threadpool send the results through one crossbeam
//!   channel per producer, their idiom (cheaper than a channel per job).
//! * `executor_map_10k`: results of 10^4 items in input order, each item a
//!   small CPU computation (`work`, a few hundred cycles), from a thread:
//!   amphi `pool.map(work, 0..10_000)` (its default window: twice the
//!   workers in flight) as `amphi`, and `pool.map_buffered(work,
//!   0..10_000, usize::MAX)` (every item submitted at once, Python's
//!   default) as `amphi_buffer_max`; rayon
//!   `par_iter().map(work).collect::<Vec<_>>()` in its pool
//!   (`rayon_par_iter`, which splits the range in chunks: not one job per
//!   item), and one tokio `spawn_blocking` per item, the handles awaited in
//!   order (`spawn_blocking_vec`).
//!
//! Every run checks itself (each result, or the sum / the whole vector
//! against what was expected), so a broken setup panics instead of timing.
//! Lower is better; the throughput groups report elements (jobs or items)
//! per second.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use amphi::ThreadPoolExecutor;
use criterion::{Criterion, Throughput, criterion_group};
use rayon::prelude::*;
use tokio::runtime::{Handle, Runtime};

mod common;
use common::Group;

/// Worker threads of every pool (where the peer lets one choose).
const WORKERS: usize = 4;
/// Jobs per iteration of the throughput groups, items of the map group.
const JOBS: u64 = 10_000;

// ---- the pools and the jobs -------------------------------------------------

/// A multi-thread runtime (default async workers) whose blocking pool has
/// `WORKERS` threads at most.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(WORKERS)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn amphi_pool() -> Arc<ThreadPoolExecutor> {
    Arc::new(ThreadPoolExecutor::new(WORKERS))
}

fn rayon_pool() -> Arc<rayon::ThreadPool> {
    Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(WORKERS)
            .build()
            .expect("rayon pool"),
    )
}

fn thread_pool() -> threadpool::ThreadPool {
    threadpool::ThreadPool::new(WORKERS)
}

/// Shuts amphi's pool down and joins its workers (once no clone is left in
/// a benchmark closure).
fn join_amphi(pool: Arc<ThreadPoolExecutor>) {
    pool.shutdown(false).wait();
}

/// The trivial job: `i + 1`, through `black_box` so that it is computed
/// on the worker.
#[inline]
fn job(i: u64) -> impl FnOnce() -> u64 + Send + 'static {
    move || black_box(i).wrapping_add(1)
}

/// The sum of the results of jobs `0..n`.
fn job_sum(n: u64) -> u64 {
    n * (n + 1) / 2
}

/// The map group's item: a small CPU computation (64 rounds of a
/// multiply-rotate-xor mix, a few hundred cycles).
#[inline]
fn work(x: u64) -> u64 {
    let mut h = black_box(x);
    for _ in 0..64 {
        h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29) ^ x;
    }
    h
}

// ---- drivers ----------------------------------------------------------------

/// Runs `fut` as a task of `rt` (on one of its workers, not on this
/// thread) and gives what it returns: the time it measured.
fn in_task<F>(rt: &Runtime, fut: F) -> Duration
where
    F: Future<Output = Duration> + Send + 'static,
{
    rt.block_on(rt.spawn(fut)).expect("benchmark task panicked")
}

/// `iters` iterations of `JOBS` jobs on `producers` threads (spawned before
/// the clock, started together); each thread runs `share` with its share
/// of the jobs, `iters` times.
fn producers(
    producers: usize,
    iters: u64,
    share: impl Fn(u64) + Send + Sync + 'static,
) -> Duration {
    let per = JOBS / producers as u64;
    assert_eq!(per * producers as u64, JOBS, "JOBS splits evenly");
    common::time_threads(producers, move || {
        for _ in 0..iters {
            share(per);
        }
    })
}

// ---- groups -----------------------------------------------------------------

fn latency_task(c: &mut Criterion) {
    let rt = runtime();
    let amphi = amphi_pool();
    let rayon = rayon_pool();
    let mut g = c.benchmark_group("executor_latency_task");

    g.bench_function("amphi", |b| {
        b.iter_custom(|iters| {
            let pool = Arc::clone(&amphi);
            in_task(&rt, async move {
                let start = Instant::now();
                for i in 0..iters {
                    let handle = pool.submit(job(i)).await.expect("submit");
                    assert_eq!(handle.await.expect("job"), i + 1);
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("tokio_spawn_blocking", |b| {
        b.iter_custom(|iters| {
            in_task(&rt, async move {
                let start = Instant::now();
                for i in 0..iters {
                    let r = tokio::task::spawn_blocking(job(i)).await.expect("job");
                    assert_eq!(r, i + 1);
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("blocking_unblock", |b| {
        b.iter_custom(|iters| {
            in_task(&rt, async move {
                let start = Instant::now();
                for i in 0..iters {
                    assert_eq!(blocking::unblock(job(i)).await, i + 1);
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("rayon_spawn", |b| {
        b.iter_custom(|iters| {
            let pool = Arc::clone(&rayon);
            in_task(&rt, async move {
                let start = Instant::now();
                for i in 0..iters {
                    let (tx, rx) = futures::channel::oneshot::channel();
                    let f = job(i);
                    pool.spawn(move || {
                        let _ = tx.send(f());
                    });
                    assert_eq!(rx.await.expect("job"), i + 1);
                }
                start.elapsed()
            })
        })
    });
    g.finish();
    join_amphi(amphi);
}

fn latency_thread(c: &mut Criterion) {
    let rt = runtime();
    let tokio = rt.handle().clone();
    let amphi = amphi_pool();
    let rayon = rayon_pool();
    let threadpool = thread_pool();
    let mut g = c.benchmark_group("executor_latency_thread");

    g.bench_function("amphi", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                let handle = amphi.try_submit(job(i)).expect("submit");
                assert_eq!(handle.result_blocking().expect("job"), i + 1);
            }
            start.elapsed()
        })
    });
    g.bench_function("tokio_spawn_blocking", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                let r = futures::executor::block_on(tokio.spawn_blocking(job(i))).expect("job");
                assert_eq!(r, i + 1);
            }
            start.elapsed()
        })
    });
    g.bench_function("blocking_unblock", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                assert_eq!(
                    futures::executor::block_on(blocking::unblock(job(i))),
                    i + 1
                );
            }
            start.elapsed()
        })
    });
    g.bench_function("rayon_spawn", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                let (tx, rx) = crossbeam_channel::bounded(1);
                let f = job(i);
                rayon.spawn(move || tx.send(f()).expect("the waiter is there"));
                assert_eq!(rx.recv().expect("job"), i + 1);
            }
            start.elapsed()
        })
    });
    g.bench_function("threadpool", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                let (tx, rx) = crossbeam_channel::bounded(1);
                let f = job(i);
                threadpool.execute(move || tx.send(f()).expect("the waiter is there"));
                assert_eq!(rx.recv().expect("job"), i + 1);
            }
            start.elapsed()
        })
    });
    g.finish();
    join_amphi(amphi);
    threadpool.join();
}

fn throughput(c: &mut Criterion) {
    let rt = runtime();
    let amphi = amphi_pool();
    let rayon = rayon_pool();
    let threadpool = thread_pool();

    for n in [1, 4] {
        let mut g: Group<'_> = c.benchmark_group(format!("executor_throughput_{n}"));
        g.throughput(Throughput::Elements(JOBS));

        g.bench_function("amphi", |b| {
            b.iter_custom(|iters| {
                let pool = Arc::clone(&amphi);
                producers(n, iters, move |share| {
                    let handles: Vec<_> = (0..share)
                        .map(|i| pool.try_submit(job(i)).expect("submit"))
                        .collect();
                    let sum: u64 = handles
                        .iter()
                        .map(|h| h.result_blocking().expect("job"))
                        .sum();
                    assert_eq!(sum, job_sum(share));
                })
            })
        });
        g.bench_function("tokio_spawn_blocking", |b| {
            b.iter_custom(|iters| {
                let tokio: Handle = rt.handle().clone();
                producers(n, iters, move |share| {
                    let handles: Vec<_> =
                        (0..share).map(|i| tokio.spawn_blocking(job(i))).collect();
                    let sum = futures::executor::block_on(async {
                        let mut sum = 0;
                        for h in handles {
                            sum += h.await.expect("job");
                        }
                        sum
                    });
                    assert_eq!(sum, job_sum(share));
                })
            })
        });
        g.bench_function("blocking_unblock", |b| {
            b.iter_custom(|iters| {
                producers(n, iters, move |share| {
                    let tasks: Vec<_> = (0..share).map(|i| blocking::unblock(job(i))).collect();
                    let sum = futures::executor::block_on(async {
                        let mut sum = 0;
                        for t in tasks {
                            sum += t.await;
                        }
                        sum
                    });
                    assert_eq!(sum, job_sum(share));
                })
            })
        });
        g.bench_function("rayon_spawn", |b| {
            b.iter_custom(|iters| {
                let pool = Arc::clone(&rayon);
                producers(n, iters, move |share| {
                    let (tx, rx) = crossbeam_channel::unbounded();
                    for i in 0..share {
                        let tx = tx.clone();
                        let f = job(i);
                        pool.spawn(move || tx.send(f()).expect("the producer is there"));
                    }
                    let sum: u64 = (0..share).map(|_| rx.recv().expect("job")).sum();
                    assert_eq!(sum, job_sum(share));
                })
            })
        });
        g.bench_function("threadpool", |b| {
            b.iter_custom(|iters| {
                let pool = threadpool.clone();
                producers(n, iters, move |share| {
                    let (tx, rx) = crossbeam_channel::unbounded();
                    for i in 0..share {
                        let tx = tx.clone();
                        let f = job(i);
                        pool.execute(move || tx.send(f()).expect("the producer is there"));
                    }
                    let sum: u64 = (0..share).map(|_| rx.recv().expect("job")).sum();
                    assert_eq!(sum, job_sum(share));
                })
            })
        });
        g.finish();
    }
    join_amphi(amphi);
    threadpool.join();
}

fn map_10k(c: &mut Criterion) {
    let rt = runtime();
    let tokio = rt.handle().clone();
    let amphi = amphi_pool();
    let rayon = rayon_pool();
    let expected: Vec<u64> = (0..JOBS).map(work).collect();
    let mut g = c.benchmark_group("executor_map_10k");
    g.throughput(Throughput::Elements(JOBS));

    /// `iters` runs of `run`, each checked against `expected` outside the
    /// clock.
    fn timed(iters: u64, expected: &[u64], mut run: impl FnMut() -> Vec<u64>) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            let out = run();
            total += start.elapsed();
            assert!(out == expected, "results missing or out of order");
        }
        total
    }

    g.bench_function("amphi", |b| {
        b.iter_custom(|iters| {
            timed(iters, &expected, || {
                amphi.map(work, 0..JOBS).map(|r| r.expect("job")).collect()
            })
        })
    });
    g.bench_function("amphi_buffer_max", |b| {
        b.iter_custom(|iters| {
            timed(iters, &expected, || {
                amphi
                    .map_buffered(work, 0..JOBS, usize::MAX)
                    .map(|r| r.expect("job"))
                    .collect()
            })
        })
    });
    g.bench_function("rayon_par_iter", |b| {
        let items: Vec<u64> = (0..JOBS).collect();
        b.iter_custom(|iters| {
            timed(iters, &expected, || {
                rayon.install(|| items.par_iter().map(|&x| work(x)).collect())
            })
        })
    });
    g.bench_function("spawn_blocking_vec", |b| {
        b.iter_custom(|iters| {
            timed(iters, &expected, || {
                let handles: Vec<_> = (0..JOBS)
                    .map(|x| tokio.spawn_blocking(move || work(x)))
                    .collect();
                futures::executor::block_on(async {
                    let mut out = Vec::with_capacity(handles.len());
                    for h in handles {
                        out.push(h.await.expect("job"));
                    }
                    out
                })
            })
        })
    });
    g.finish();
    join_amphi(amphi);
}

criterion_group! {
    name = benches;
    // No HTML plots, as in the other bench files: scripts/bench_table.py
    // reads only criterion's estimates.
    config = common::config().without_plots();
    targets = latency_task, latency_thread, throughput, map_10k
}

/// `criterion_main!`, after sizing smol's `blocking` pool: it reads
/// `BLOCKING_MAX_THREADS` once, when its pool is first used.
fn main() {
    // SAFETY: the first thing the program does: no other thread exists yet
    // that could read the environment at the same time.
    unsafe { std::env::set_var("BLOCKING_MAX_THREADS", WORKERS.to_string()) };
    benches();
    Criterion::default().configure_from_args().final_summary();
}
