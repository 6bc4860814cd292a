//! Randomized cancellation storms: threads and tasks wait with random
//! timeouts and drops while others release, set and clear; at the end every
//! count is checked exactly.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use amphi::{Event, Lock, Semaphore};
use common::*;

/// Polls `fut` once with a no-op waker, then drops it (a cancelled waiter
/// that may or may not have been notified).
fn poll_once_and_drop<F: Future + Unpin>(mut fut: F) -> Option<F::Output> {
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    match Pin::new(&mut fut).poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// Counters of `set()` calls begun and of the `clear()`s after them, to
/// tell whether the flag was set at some moment of a wait.
#[derive(Default)]
struct Sets {
    begun: AtomicUsize,
    cleared: AtomicUsize,
}

impl Sets {
    fn set_and_clear(&self, ev: &Event) {
        self.begun.fetch_add(1, Ordering::SeqCst);
        ev.set();
        ev.clear();
        self.cleared.fetch_add(1, Ordering::SeqCst);
    }
    /// Call at the start of a wait: every set counted here was cleared
    /// before the wait began.
    fn start(&self) -> usize {
        self.cleared.load(Ordering::SeqCst)
    }
    /// A wait that started at `start` returned `true`: some `set` must have
    /// begun before now and not been cleared before the start.
    #[track_caller]
    fn check(&self, start: usize, returned: bool) {
        if returned {
            let begun = self.begun.load(Ordering::SeqCst);
            assert!(
                begun > start,
                "a wait returned true although no set() overlapped it"
            );
        }
    }
}

#[test]
fn event_storm_never_hands_a_set_to_a_later_waiter() {
    let rt = multi_thread_runtime(2);
    let ev = Arc::new(Event::new());
    let sets = Arc::new(Sets::default());
    let stop = Arc::new(AtomicBool::new(false));
    let trues = Arc::new(AtomicUsize::new(0));

    let setter = {
        let (ev, sets, stop) = (ev.clone(), sets.clone(), stop.clone());
        spawn_thread(move || {
            let mut rng = Rng::new(1);
            while !stop.load(Ordering::Relaxed) {
                sets.set_and_clear(&ev);
                std::thread::sleep(rng.micros(300));
            }
        })
    };
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let (ev, sets, stop, trues) = (ev.clone(), sets.clone(), stop.clone(), trues.clone());
            spawn_thread(move || {
                let mut rng = Rng::new(10 + i);
                while !stop.load(Ordering::Relaxed) {
                    let start = sets.start();
                    let got = match rng.below(3) {
                        0 => ev.wait().wait_timeout(rng.micros(500)),
                        1 => poll_once_and_drop(ev.wait()).unwrap_or(false),
                        _ => {
                            // Polled from a "task", then dropped later.
                            let fut = ev.wait();
                            let mut fut = Box::pin(fut);
                            let waker = futures::task::noop_waker();
                            let mut cx = Context::from_waker(&waker);
                            let r = fut.as_mut().poll(&mut cx);
                            std::thread::sleep(rng.micros(200));
                            drop(fut);
                            matches!(r, Poll::Ready(true))
                        }
                    };
                    sets.check(start, got);
                    if got {
                        trues.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let (ev, sets, stop, trues) = (ev.clone(), sets.clone(), stop.clone(), trues.clone());
            rt.spawn(async move {
                let mut rng = Rng::new(100 + i);
                while !stop.load(Ordering::Relaxed) {
                    let start = sets.start();
                    let got = ev.wait().timeout(rng.micros(500)).await;
                    sets.check(start, got);
                    if got {
                        trues.fetch_add(1, Ordering::Relaxed);
                    }
                    if rng.below(4) == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    setter.join_within(SLACK);
    for t in threads {
        t.join_within(SLACK);
    }
    rt.block_on(async {
        for t in tasks {
            join_task(t).await;
        }
    });
    assert!(
        trues.load(Ordering::Relaxed) > 0,
        "the storm saw no set at all"
    );
    assert_eq!(ev.waiters().total(), 0);
}

#[test]
fn lock_storm_conserves_the_lock_and_every_increment() {
    let rt = multi_thread_runtime(2);
    let lock = Arc::new(Lock::new(0u64));
    let done = Arc::new(AtomicUsize::new(0));
    const ROUNDS: u64 = 400;
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let (lock, done) = (lock.clone(), done.clone());
            spawn_thread(move || {
                let mut rng = Rng::new(1000 + i);
                for _ in 0..ROUNDS {
                    match rng.below(4) {
                        0 => {
                            if let Some(mut g) = lock.lock().wait_timeout(rng.micros(200)) {
                                *g += 1;
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        1 => {
                            if let Some(Some(mut g)) = Some(poll_once_and_drop(lock.lock())) {
                                *g += 1;
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ => {
                            let mut g = lock.lock_blocking();
                            *g += 1;
                            done.fetch_add(1, Ordering::Relaxed);
                            if rng.below(8) == 0 {
                                std::thread::sleep(rng.micros(100));
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let (lock, done) = (lock.clone(), done.clone());
            rt.spawn(async move {
                let mut rng = Rng::new(2000 + i);
                for _ in 0..ROUNDS {
                    if rng.below(2) == 0 {
                        if let Some(mut g) = lock.lock().timeout(rng.micros(300)).await {
                            *g += 1;
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    } else {
                        let mut g = lock.lock().await;
                        *g += 1;
                        done.fetch_add(1, Ordering::Relaxed);
                        if rng.below(8) == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join_within(Duration::from_secs(30));
    }
    rt.block_on(async {
        for t in tasks {
            join_task(t).await;
        }
    });
    let total = *lock.try_lock().expect("the lock is free at the end");
    assert_eq!(total, done.load(Ordering::Relaxed) as u64);
    assert_eq!(lock.waiters().total(), 0);
}

#[test]
fn semaphore_storm_conserves_permits() {
    let rt = multi_thread_runtime(2);
    const PERMITS: usize = 3;
    let sem = Arc::new(Semaphore::new(PERMITS));
    let holders = Holders::new(PERMITS);
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let (sem, holders) = (sem.clone(), holders.clone());
            spawn_thread(move || {
                let mut rng = Rng::new(3000 + i);
                for _ in 0..300 {
                    let permit = match rng.below(3) {
                        0 => sem.acquire().wait_timeout(rng.micros(200)).ok(),
                        1 => poll_once_and_drop(sem.acquire()).and_then(Result::ok),
                        _ => sem.acquire_blocking().ok(),
                    };
                    if let Some(p) = permit {
                        holders.enter();
                        if rng.below(4) == 0 {
                            std::thread::yield_now();
                        }
                        holders.leave();
                        drop(p);
                    }
                }
            })
        })
        .collect();
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let (sem, holders) = (sem.clone(), holders.clone());
            rt.spawn(async move {
                let mut rng = Rng::new(4000 + i);
                for _ in 0..300 {
                    let permit = if rng.below(2) == 0 {
                        sem.acquire().timeout(rng.micros(300)).await.ok()
                    } else {
                        sem.acquire().await.ok()
                    };
                    if let Some(p) = permit {
                        holders.enter();
                        tokio::task::yield_now().await;
                        holders.leave();
                        drop(p);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join_within(Duration::from_secs(30));
    }
    rt.block_on(async {
        for t in tasks {
            join_task(t).await;
        }
    });
    assert!(holders.max() <= PERMITS);
    assert_eq!(sem.available(), PERMITS);
    assert_eq!(sem.waiters().total(), 0);
}
