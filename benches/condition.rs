//! `Condition` ping-pong latency: two parties take turns on a counter under
//! a lock, each waiting on the condition for its turn and notifying the other.
//! One iteration is one round trip (two hand-offs); lower is better.
//!
//! * `condition_pingpong_thread_thread`: two OS threads; peers std and
//!   parking_lot `Mutex` + `Condvar`.
//! * `condition_pingpong_task_task`: two tasks on the multi-thread runtime;
//!   peer tokio `Notify` (two of them, `notify_one`/`notified`: no lock, so
//!   a lower bound rather than a like-for-like condition variable).
//! * `condition_pingpong_thread_task`: an OS thread (outside the runtime,
//!   blocking) and a task; peer tokio `Notify`, the thread side driven by
//!   `futures::executor::block_on`.
//!
//! amphi always uses `Lock<u64>` + `Condition`, notifying while holding the
//! lock (so no notification can be lost).

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

type AmphiPair = (amphi::Lock<u64>, amphi::Condition);
type StdPair = (std::sync::Mutex<u64>, std::sync::Condvar);
type PlPair = (parking_lot::Mutex<u64>, parking_lot::Condvar);

/// Two notifies: the pinger signals `ping` and waits for `pong`.
struct NotifyPair {
    ping: tokio::sync::Notify,
    pong: tokio::sync::Notify,
}

impl NotifyPair {
    fn new() -> Self {
        NotifyPair {
            ping: tokio::sync::Notify::new(),
            pong: tokio::sync::Notify::new(),
        }
    }
}

// ---- amphi, blocking and async sides ---------------------------------------

/// Makes the counter odd (the other side's turn) and waits for it to be even.
fn amphi_ping_blocking(p: &AmphiPair, rounds: u64) {
    let (lock, cond) = p;
    let mut g = lock.lock_blocking();
    for _ in 0..rounds {
        *g += 1;
        cond.notify(1);
        while *g % 2 == 1 {
            g = cond.wait_blocking(g);
        }
    }
}

/// Waits for the counter to be odd and makes it even.
fn amphi_pong_blocking(p: &AmphiPair, rounds: u64) {
    let (lock, cond) = p;
    let mut g = lock.lock_blocking();
    for _ in 0..rounds {
        while *g % 2 == 0 {
            g = cond.wait_blocking(g);
        }
        *g += 1;
        cond.notify(1);
    }
}

async fn amphi_ping(p: &AmphiPair, rounds: u64) {
    let (lock, cond) = p;
    let mut g = lock.lock().await;
    for _ in 0..rounds {
        *g += 1;
        cond.notify(1);
        while *g % 2 == 1 {
            g = cond.wait(g).await;
        }
    }
}

async fn amphi_pong(p: &AmphiPair, rounds: u64) {
    let (lock, cond) = p;
    let mut g = lock.lock().await;
    for _ in 0..rounds {
        while *g % 2 == 0 {
            g = cond.wait(g).await;
        }
        *g += 1;
        cond.notify(1);
    }
}

// ---- std / parking_lot -----------------------------------------------------

fn std_ping(p: &StdPair, rounds: u64) {
    let (lock, cond) = p;
    let mut g = lock.lock().unwrap();
    for _ in 0..rounds {
        *g += 1;
        cond.notify_one();
        while *g % 2 == 1 {
            g = cond.wait(g).unwrap();
        }
    }
}

fn std_pong(p: &StdPair, rounds: u64) {
    let (lock, cond) = p;
    let mut g = lock.lock().unwrap();
    for _ in 0..rounds {
        while *g % 2 == 0 {
            g = cond.wait(g).unwrap();
        }
        *g += 1;
        cond.notify_one();
    }
}

fn pl_ping(p: &PlPair, rounds: u64) {
    let (lock, cond) = p;
    let mut g = lock.lock();
    for _ in 0..rounds {
        *g += 1;
        cond.notify_one();
        while *g % 2 == 1 {
            cond.wait(&mut g);
        }
    }
}

fn pl_pong(p: &PlPair, rounds: u64) {
    let (lock, cond) = p;
    let mut g = lock.lock();
    for _ in 0..rounds {
        while *g % 2 == 0 {
            cond.wait(&mut g);
        }
        *g += 1;
        cond.notify_one();
    }
}

// ---- tokio Notify ----------------------------------------------------------

async fn notify_ping(p: &NotifyPair, rounds: u64) {
    for _ in 0..rounds {
        p.ping.notify_one();
        p.pong.notified().await;
    }
}

async fn notify_pong(p: &NotifyPair, rounds: u64) {
    for _ in 0..rounds {
        p.ping.notified().await;
        p.pong.notify_one();
    }
}

fn notify_ping_blocking(p: &NotifyPair, rounds: u64) {
    for _ in 0..rounds {
        p.ping.notify_one();
        futures::executor::block_on(p.pong.notified());
    }
}

// ---- drivers ---------------------------------------------------------------

/// Ping on this thread, pong on a new thread (spawned before the clock).
fn thread_thread<P: Send + Sync + 'static>(
    pair: P,
    rounds: u64,
    ping: fn(&P, u64),
    pong: fn(&P, u64),
) -> Duration {
    let pair = Arc::new(pair);
    let barrier = Arc::new(Barrier::new(2));
    let other = {
        let pair = Arc::clone(&pair);
        let barrier = Arc::clone(&barrier);
        std::thread::spawn(move || {
            barrier.wait();
            pong(&pair, rounds);
        })
    };
    barrier.wait();
    let start = Instant::now();
    ping(&pair, rounds);
    let elapsed = start.elapsed();
    other.join().unwrap();
    elapsed
}

fn thread_thread_group(c: &mut Criterion) {
    let mut g = c.benchmark_group("condition_pingpong_thread_thread");
    g.bench_function("std", |b| {
        b.iter_custom(|iters| {
            thread_thread(
                (std::sync::Mutex::new(0), std::sync::Condvar::new()),
                iters,
                std_ping,
                std_pong,
            )
        })
    });
    g.bench_function("parking_lot", |b| {
        b.iter_custom(|iters| {
            thread_thread(
                (parking_lot::Mutex::new(0), parking_lot::Condvar::new()),
                iters,
                pl_ping,
                pl_pong,
            )
        })
    });
    g.bench_function("amphi", |b| {
        b.iter_custom(|iters| {
            thread_thread(
                (amphi::Lock::new(0), amphi::Condition::new()),
                iters,
                amphi_ping_blocking,
                amphi_pong_blocking,
            )
        })
    });
    g.finish();
}

fn task_task_group(c: &mut Criterion, rt: &Runtime) {
    let mut g = c.benchmark_group("condition_pingpong_task_task");
    g.bench_function("tokio_notify", |b| {
        b.iter_custom(|rounds| {
            let pair = Arc::new(NotifyPair::new());
            rt.block_on(async {
                let start = Instant::now();
                let p = Arc::clone(&pair);
                let pong = tokio::spawn(async move { notify_pong(&p, rounds).await });
                let p = Arc::clone(&pair);
                let ping = tokio::spawn(async move { notify_ping(&p, rounds).await });
                ping.await.unwrap();
                pong.await.unwrap();
                start.elapsed()
            })
        })
    });
    g.bench_function("amphi", |b| {
        b.iter_custom(|rounds| {
            let pair: Arc<AmphiPair> = Arc::new((amphi::Lock::new(0), amphi::Condition::new()));
            rt.block_on(async {
                let start = Instant::now();
                let p = Arc::clone(&pair);
                let pong = tokio::spawn(async move { amphi_pong(&p, rounds).await });
                let p = Arc::clone(&pair);
                let ping = tokio::spawn(async move { amphi_ping(&p, rounds).await });
                ping.await.unwrap();
                pong.await.unwrap();
                start.elapsed()
            })
        })
    });
    g.finish();
}

fn thread_task_group(c: &mut Criterion, rt: &Runtime) {
    let mut g = c.benchmark_group("condition_pingpong_thread_task");
    g.bench_function("tokio_notify", |b| {
        b.iter_custom(|rounds| {
            let pair = Arc::new(NotifyPair::new());
            let start = Instant::now();
            let p = Arc::clone(&pair);
            let pong = rt.spawn(async move { notify_pong(&p, rounds).await });
            notify_ping_blocking(&pair, rounds);
            let elapsed = start.elapsed();
            rt.block_on(pong).unwrap();
            elapsed
        })
    });
    g.bench_function("amphi", |b| {
        b.iter_custom(|rounds| {
            let pair: Arc<AmphiPair> = Arc::new((amphi::Lock::new(0), amphi::Condition::new()));
            let start = Instant::now();
            let p = Arc::clone(&pair);
            let pong = rt.spawn(async move { amphi_pong(&p, rounds).await });
            // This thread is outside the runtime: plain blocking waits.
            amphi_ping_blocking(&pair, rounds);
            let elapsed = start.elapsed();
            rt.block_on(pong).unwrap();
            elapsed
        })
    });
    g.finish();
}

fn pingpong(c: &mut Criterion) {
    thread_thread_group(c);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    task_task_group(c, &rt);
    thread_task_group(c, &rt);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10);
    targets = pingpong
}
criterion_main!(benches);
