//! Stress: plain threads, `spawn_blocking` threads and tokio tasks on a
//! multi-thread runtime hammer one `Lock` and one `Semaphore`, with and
//! without cancellation (timeouts and `select!` dropping pending acquires).
//! The counts must come out exact, at most `k` permit holders at a time, and
//! nothing may hang (every wait has a deadline).
//!
//! Sized to finish in a few seconds in a debug build on two cores.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use amphi::{AcquireTimeoutError, Lock, Semaphore, TryAcquireError};
use common::{Holders, Joiner, Rng, join_threads_within, spawn_thread, within_for};
use tokio::task::JoinHandle;

/// The stress runs are long: a looser deadline than the other tests'.
const DEADLINE: Duration = Duration::from_secs(30);

/// The lock's payload: a counter bumped with a non-atomic read-then-write,
/// and a flag that catches two holders at once.
struct Counted {
    inside: AtomicBool,
    value: Lock<u64>,
}

impl Counted {
    fn new() -> Arc<Self> {
        Arc::new(Counted {
            inside: AtomicBool::new(false),
            value: Lock::new(0),
        })
    }
    fn enter(&self) {
        assert!(!self.inside.swap(true, Ordering::SeqCst), "two holders");
    }
    fn leave(&self) {
        self.inside.store(false, Ordering::SeqCst);
    }
}

/// Awaits the tasks, then joins the threads, all with the deadline.
async fn run_to_the_end(tasks: Vec<JoinHandle<()>>, threads: Vec<Joiner<()>>) {
    within_for(DEADLINE, async {
        for t in tasks {
            t.await.expect("task panicked");
        }
    })
    .await;
    join_threads_within(DEADLINE, threads).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_hammered_by_threads_and_tasks() {
    const ITERS: usize = 2000;
    let c = Counted::new();
    let mut joiners = Vec::new();
    for t in 0..3 {
        let c = Arc::clone(&c);
        joiners.push(spawn_thread(move || {
            for i in 0..ITERS {
                let mut g = if (t + i) % 2 == 0 {
                    c.value.lock_blocking()
                } else {
                    c.value.lock().wait_timeout(DEADLINE).expect("deadline")
                };
                c.enter();
                let v = *g;
                thread::yield_now();
                *g = v + 1;
                c.leave();
            }
        }));
    }
    let mut tasks = Vec::new();
    for t in 0..4 {
        let c = Arc::clone(&c);
        tasks.push(tokio::spawn(async move {
            for i in 0..ITERS {
                let mut g = match (t + i) % 3 {
                    0 => c.value.lock().await,
                    1 => c.value.lock().timeout(DEADLINE).await.expect("deadline"),
                    _ => match c.value.try_lock() {
                        Some(g) => g,
                        None => c.value.lock().await,
                    },
                };
                c.enter();
                let v = *g;
                c.leave();
                // Held across a yield: the others must queue up.
                tokio::task::yield_now().await;
                c.enter();
                *g = v + 1;
                c.leave();
            }
        }));
    }
    {
        let c = Arc::clone(&c);
        tasks.push(tokio::task::spawn_blocking(move || {
            for _ in 0..ITERS {
                let mut g = c.value.lock_blocking();
                c.enter();
                *g += 1;
                c.leave();
            }
        }));
    }
    run_to_the_end(tasks, joiners).await;
    assert_eq!(*c.value.lock().await, (8 * ITERS) as u64);
    assert!(!c.value.is_locked());
}

/// Acquires are given up all the time (tiny timeouts, `select!` dropping a
/// pending or just-woken future, zero-timeout tries): afterwards the count
/// matches the successes exactly and the lock is free and fair game.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_with_cancellation_storm() {
    const ITERS: usize = 2000;
    let c = Counted::new();
    let successes = Arc::new(AtomicUsize::new(0));
    let mut joiners = Vec::new();
    for t in 0..2 {
        let c = Arc::clone(&c);
        let s = Arc::clone(&successes);
        joiners.push(spawn_thread(move || {
            let mut rng = Rng::new(t as u64);
            for _ in 0..ITERS {
                let timeout = Duration::from_micros(rng.below(200));
                if let Some(mut g) = c.value.lock().wait_timeout(timeout) {
                    c.enter();
                    let v = *g;
                    thread::sleep(Duration::from_micros(20));
                    *g = v + 1;
                    c.leave();
                    s.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let mut tasks = Vec::new();
    for t in 0..4 {
        let c = Arc::clone(&c);
        let s = Arc::clone(&successes);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(100 + t as u64);
            for _ in 0..ITERS {
                let got = match rng.below(3) {
                    0 => c.value.lock().timeout(Duration::from_millis(1)).await,
                    1 => tokio::select! {
                        g = c.value.lock() => Some(g),
                        () = tokio::task::yield_now() => None,
                    },
                    _ => c.value.lock().timeout(Duration::ZERO).await,
                };
                if let Some(mut g) = got {
                    c.enter();
                    let v = *g;
                    c.leave();
                    tokio::task::yield_now().await;
                    tokio::task::yield_now().await;
                    c.enter();
                    *g = v + 1;
                    c.leave();
                    s.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    run_to_the_end(tasks, joiners).await;
    let n = successes.load(Ordering::SeqCst);
    assert!(n > 0);
    assert_eq!(*c.value.lock().await, n as u64);
    assert!(!c.value.is_locked());
    assert!(c.value.try_lock().is_some());

    // Nothing stale is left: a held lock still wakes a thread and a task.
    let g = c.value.lock().await;
    let c2 = Arc::clone(&c);
    let thread = spawn_thread(move || *c2.value.lock_blocking() += 1);
    let c3 = Arc::clone(&c);
    let task = tokio::spawn(async move { *c3.value.lock().await += 1 });
    tokio::task::spawn_blocking(|| thread::sleep(Duration::from_millis(20)))
        .await
        .unwrap();
    drop(g);
    within_for(DEADLINE, task).await.unwrap();
    join_threads_within(DEADLINE, vec![thread]).await;
    assert_eq!(*c.value.lock().await, n as u64 + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semaphore_hammered_by_threads_and_tasks() {
    const K: usize = 3;
    const ITERS: usize = 1500;
    let sem = Arc::new(Semaphore::new(K));
    let h = Holders::new(K);
    let mut joiners = Vec::new();
    for t in 0..3 {
        let sem = Arc::clone(&sem);
        let h = Arc::clone(&h);
        joiners.push(spawn_thread(move || {
            for i in 0..ITERS {
                let p = match (t + i) % 3 {
                    0 => sem.acquire_blocking().unwrap(),
                    1 => sem.acquire().wait_timeout(DEADLINE).expect("deadline"),
                    _ => match sem.try_acquire() {
                        Ok(p) => p,
                        Err(TryAcquireError::NoPermits) => sem.acquire().wait().unwrap(),
                        Err(TryAcquireError::Closed) => panic!("nobody closed the semaphore"),
                    },
                };
                h.hold_yielding();
                drop(p);
            }
        }));
    }
    let mut tasks = Vec::new();
    for t in 0..5 {
        let sem = Arc::clone(&sem);
        let h = Arc::clone(&h);
        tasks.push(tokio::spawn(async move {
            for i in 0..ITERS {
                let p = if (t + i) % 2 == 0 {
                    sem.acquire_arc().await.unwrap()
                } else {
                    sem.acquire_arc().timeout(DEADLINE).await.expect("deadline")
                };
                h.hold_yielding_async().await;
                drop(p);
            }
        }));
    }
    run_to_the_end(tasks, joiners).await;
    assert_eq!(sem.available(), K);
    let max = h.max();
    assert!(max <= K);
    assert!(max > 1, "never more than one holder of {K} permits");
}

/// The permit of a timed acquire, `None` if the time ran out (the only
/// failure allowed: nobody closes the semaphore).
fn permit_or_timeout<P>(r: Result<P, AcquireTimeoutError>) -> Option<P> {
    match r {
        Ok(p) => Some(p),
        Err(AcquireTimeoutError::TimedOut) => None,
        Err(AcquireTimeoutError::Closed) => panic!("nobody closed the semaphore"),
    }
}

/// Semaphore acquires given up all the time; every permit comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semaphore_with_cancellation_storm() {
    const K: usize = 2;
    const ITERS: usize = 2000;
    let sem = Arc::new(Semaphore::new(K));
    let h = Holders::new(K);
    let mut joiners = Vec::new();
    for t in 0..2 {
        let sem = Arc::clone(&sem);
        let h = Arc::clone(&h);
        joiners.push(spawn_thread(move || {
            let mut rng = Rng::new(t as u64);
            for _ in 0..ITERS {
                let timeout = Duration::from_micros(rng.below(200));
                if let Some(p) = permit_or_timeout(sem.acquire().wait_timeout(timeout)) {
                    h.enter();
                    thread::sleep(Duration::from_micros(20));
                    h.leave();
                    drop(p);
                }
            }
        }));
    }
    let mut tasks = Vec::new();
    for t in 0..4 {
        let sem = Arc::clone(&sem);
        let h = Arc::clone(&h);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(100 + t as u64);
            for _ in 0..ITERS {
                let got = match rng.below(3) {
                    0 => permit_or_timeout(sem.acquire().timeout(Duration::from_millis(1)).await),
                    1 => tokio::select! {
                        p = sem.acquire() => Some(p.expect("nobody closed the semaphore")),
                        () = tokio::task::yield_now() => None,
                    },
                    _ => permit_or_timeout(sem.acquire().timeout(Duration::ZERO).await),
                };
                if let Some(p) = got {
                    h.enter();
                    tokio::task::yield_now().await;
                    tokio::task::yield_now().await;
                    h.leave();
                    drop(p);
                }
            }
        }));
    }
    run_to_the_end(tasks, joiners).await;
    assert_eq!(sem.available(), K);

    // Nothing stale: with every permit taken, a release of all of them lets
    // K waiting tasks through.
    let held: Vec<_> = (0..K).map(|_| sem.try_acquire_arc().unwrap()).collect();
    assert!(matches!(sem.try_acquire(), Err(TryAcquireError::NoPermits)));
    let tasks: Vec<_> = (0..K)
        .map(|_| {
            let sem = Arc::clone(&sem);
            tokio::spawn(async move { sem.acquire().await.unwrap().forget() })
        })
        .collect();
    tokio::task::yield_now().await;
    held.into_iter().for_each(amphi::SemaphorePermitArc::forget);
    sem.release(K);
    for t in tasks {
        within_for(DEADLINE, t).await.unwrap();
    }
    assert_eq!(sem.available(), 0);
}
