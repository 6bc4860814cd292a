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

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

mod common;
use common::Threads;

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

async fn amphi_ping(p: Arc<AmphiPair>, rounds: u64) {
    let (lock, cond) = &*p;
    let mut g = lock.lock().await;
    for _ in 0..rounds {
        *g += 1;
        cond.notify(1);
        while *g % 2 == 1 {
            g = cond.wait(g).await;
        }
    }
}

async fn amphi_pong(p: Arc<AmphiPair>, rounds: u64) {
    let (lock, cond) = &*p;
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

async fn notify_ping(p: Arc<NotifyPair>, rounds: u64) {
    for _ in 0..rounds {
        p.ping.notify_one();
        p.pong.notified().await;
    }
}

async fn notify_pong(p: Arc<NotifyPair>, rounds: u64) {
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
    let other = Threads::spawn(1, {
        let pair = Arc::clone(&pair);
        move || pong(&pair, rounds)
    });
    let start = other.start();
    ping(&pair, rounds);
    let elapsed = start.elapsed();
    other.join();
    elapsed
}

/// Ping and pong on two tasks of `rt`, both spawned inside the clock.
fn task_task<P, Ping, Pong>(
    rt: &Runtime,
    pair: P,
    rounds: u64,
    ping: fn(Arc<P>, u64) -> Ping,
    pong: fn(Arc<P>, u64) -> Pong,
) -> Duration
where
    P: Send + Sync + 'static,
    Ping: Future<Output = ()> + Send + 'static,
    Pong: Future<Output = ()> + Send + 'static,
{
    let pair = Arc::new(pair);
    rt.block_on(async {
        let start = Instant::now();
        let pong = tokio::spawn(pong(Arc::clone(&pair), rounds));
        let ping = tokio::spawn(ping(Arc::clone(&pair), rounds));
        ping.await.unwrap();
        pong.await.unwrap();
        start.elapsed()
    })
}

/// Ping on this thread (outside the runtime: plain blocking waits), pong on
/// a task of `rt` spawned inside the clock.
fn thread_task<P, Pong>(
    rt: &Runtime,
    pair: P,
    rounds: u64,
    ping: fn(&P, u64),
    pong: fn(Arc<P>, u64) -> Pong,
) -> Duration
where
    P: Send + Sync + 'static,
    Pong: Future<Output = ()> + Send + 'static,
{
    let pair = Arc::new(pair);
    let start = Instant::now();
    let pong = rt.spawn(pong(Arc::clone(&pair), rounds));
    ping(&pair, rounds);
    let elapsed = start.elapsed();
    rt.block_on(pong).unwrap();
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
        b.iter_custom(|rounds| task_task(rt, NotifyPair::new(), rounds, notify_ping, notify_pong))
    });
    g.bench_function("amphi", |b| {
        b.iter_custom(|rounds| {
            let pair = (amphi::Lock::new(0), amphi::Condition::new());
            task_task(rt, pair, rounds, amphi_ping, amphi_pong)
        })
    });
    g.finish();
}

fn thread_task_group(c: &mut Criterion, rt: &Runtime) {
    let mut g = c.benchmark_group("condition_pingpong_thread_task");
    g.bench_function("tokio_notify", |b| {
        b.iter_custom(|rounds| {
            thread_task(
                rt,
                NotifyPair::new(),
                rounds,
                notify_ping_blocking,
                notify_pong,
            )
        })
    });
    g.bench_function("amphi", |b| {
        b.iter_custom(|rounds| {
            let pair = (amphi::Lock::new(0), amphi::Condition::new());
            thread_task(rt, pair, rounds, amphi_ping_blocking, amphi_pong)
        })
    });
    g.finish();
}

fn pingpong(c: &mut Criterion) {
    thread_thread_group(c);
    let rt = common::runtime();
    task_task_group(c, &rt);
    thread_task_group(c, &rt);
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = pingpong
}
criterion_main!(benches);
