//! Integration tests of `amphi::Lock`: blocking, async and mixed use, timed
//! acquires on both sides, guards crossing threads and tasks, panics, and
//! deterministic poll-order and cancellation tests (tokio#3652, tokio#4618 and
//! async-lock#91 are the class of bugs the cancellation tests are after).
//!
//! Every test that waits has a deadline ([`DEADLINE`]), so a lost wake-up
//! fails the test instead of hanging CI.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use amphi::{Lock, LockGuard, LockGuardArc};
use common::{
    DEADLINE, SHORT, SLACK, assert_times_out, assert_times_out_async, barged_waiter,
    current_thread_runtime, join_threads, let_thread_block, panic_message, spawn_pending,
    spawn_thread, within,
};
use tokio_test::{assert_pending, assert_ready, task};

// ---------------------------------------------------------------------------
// Basic API
// ---------------------------------------------------------------------------

static GLOBAL: Lock<u32> = Lock::new(7);

#[test]
fn const_new_in_a_static() {
    let mut g = GLOBAL.lock_blocking();
    *g += 1;
    assert!(GLOBAL.is_locked());
    drop(g);
    assert!(!GLOBAL.is_locked());
    assert_eq!(*GLOBAL.try_lock().expect("free"), 8);
}

#[test]
fn basic_api() {
    let mut lock = Lock::new(vec![1]);
    assert!(!lock.is_locked());
    lock.get_mut().push(2);

    let mut g = lock.try_lock().expect("free lock");
    assert!(lock.is_locked());
    assert!(lock.try_lock().is_none());
    g.push(3);
    assert!(std::ptr::eq(LockGuard::source(&g), &lock));
    assert_eq!(format!("{g:?}"), "[1, 2, 3]");
    assert!(format!("{lock:?}").contains("<locked>"));
    drop(g);
    assert!(!lock.is_locked());
    assert!(format!("{lock:?}").contains("[1, 2, 3]"));
    assert_eq!(lock.into_inner(), vec![1, 2, 3]);

    let d: Lock<String> = Lock::default();
    assert_eq!(*d.lock_blocking(), "");
    let f = Lock::from(5);
    assert_eq!(format!("{}", f.lock_blocking()), "5");

    let bare = Lock::new(());
    let g = bare.lock_blocking();
    assert!(bare.is_locked());
    drop(g);
    assert!(!bare.is_locked());
}

#[test]
fn arc_api() {
    let lock = Arc::new(Lock::new(0));
    let mut g = lock.try_lock_arc().expect("free");
    assert!(Arc::ptr_eq(LockGuardArc::source(&g), &lock));
    assert!(lock.try_lock_arc().is_none());
    assert!(lock.try_lock().is_none());
    *g += 1;
    drop(g);
    let mut g = lock.lock_arc_blocking();
    *g += 1;
    assert_eq!(format!("{g:?}"), "2");
    drop(g);
    let g = lock.lock_arc().wait();
    assert_eq!(*g, 2);
    drop(g);
    assert!(!lock.is_locked());
}

// ---------------------------------------------------------------------------
// Mutual exclusion
// ---------------------------------------------------------------------------

/// A critical section that notices overlap: `inside` must be false on entry,
/// and a non-atomic read-yield-write increment must not lose updates.
fn critical_blocking(inside: &AtomicBool, value: &mut u64) {
    assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
    let v = *value;
    thread::yield_now();
    *value = v + 1;
    inside.store(false, Ordering::SeqCst);
}

#[test]
fn mutual_exclusion_threads() {
    const THREADS: usize = 4;
    const ITERS: usize = 500;
    let lock = Arc::new(Lock::new(0u64));
    let inside = Arc::new(AtomicBool::new(false));
    let joiners: Vec<_> = (0..THREADS)
        .map(|i| {
            let lock = Arc::clone(&lock);
            let inside = Arc::clone(&inside);
            spawn_thread(move || {
                for j in 0..ITERS {
                    // Every blocking flavour takes part.
                    match (i + j) % 4 {
                        0 => critical_blocking(&inside, &mut lock.lock_blocking()),
                        1 => critical_blocking(&inside, &mut lock.lock().wait()),
                        2 => critical_blocking(
                            &inside,
                            &mut lock.lock().wait_timeout(DEADLINE).expect("deadline"),
                        ),
                        _ => critical_blocking(&inside, &mut lock.lock_arc_blocking()),
                    }
                }
            })
        })
        .collect();
    for j in joiners {
        j.join();
    }
    assert_eq!(*lock.lock_blocking(), (THREADS * ITERS) as u64);
    assert!(!lock.is_locked());
}

async fn critical_async(inside: &AtomicBool, value: &mut u64) {
    assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
    let v = *value;
    tokio::task::yield_now().await;
    *value = v + 1;
    inside.store(false, Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_exclusion_tasks() {
    const TASKS: usize = 8;
    const ITERS: usize = 300;
    let lock = Arc::new(Lock::new(0u64));
    let inside = Arc::new(AtomicBool::new(false));
    within(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let lock = Arc::clone(&lock);
                let inside = Arc::clone(&inside);
                tokio::spawn(async move {
                    for j in 0..ITERS {
                        match (i + j) % 3 {
                            0 => critical_async(&inside, &mut *lock.lock().await).await,
                            1 => critical_async(&inside, &mut *lock.lock_arc().await).await,
                            _ => {
                                let mut g = lock.lock().timeout(DEADLINE).await.expect("deadline");
                                critical_async(&inside, &mut g).await;
                            }
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task panicked");
        }
    })
    .await;
    assert_eq!(*lock.lock().await, (TASKS * ITERS) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_exclusion_mixed_threads_and_tasks() {
    const ITERS: usize = 300;
    let lock = Arc::new(Lock::new(0u64));
    let inside = Arc::new(AtomicBool::new(false));
    let mut expected = 0;

    // Plain threads.
    let joiners: Vec<_> = (0..2)
        .map(|_| {
            let lock = Arc::clone(&lock);
            let inside = Arc::clone(&inside);
            spawn_thread(move || {
                for _ in 0..ITERS {
                    critical_blocking(&inside, &mut lock.lock_blocking());
                }
            })
        })
        .collect();
    expected += 2 * ITERS;

    within(async {
        let mut tasks = Vec::new();
        // Async tasks.
        for _ in 0..4 {
            let lock = Arc::clone(&lock);
            let inside = Arc::clone(&inside);
            tasks.push(tokio::spawn(async move {
                for _ in 0..ITERS {
                    critical_async(&inside, &mut *lock.lock().await).await;
                }
            }));
        }
        // A `spawn_blocking` thread.
        {
            let lock = Arc::clone(&lock);
            let inside = Arc::clone(&inside);
            tasks.push(tokio::task::spawn_blocking(move || {
                for _ in 0..ITERS {
                    critical_blocking(&inside, &mut lock.lock_blocking());
                }
            }));
        }
        // A task that blocks its worker (block_in_place under the hood).
        {
            let lock = Arc::clone(&lock);
            let inside = Arc::clone(&inside);
            tasks.push(tokio::spawn(async move {
                for _ in 0..ITERS {
                    critical_blocking(&inside, &mut lock.lock_blocking());
                }
            }));
        }
        for t in tasks {
            t.await.expect("task panicked");
        }
    })
    .await;
    expected += 6 * ITERS;
    for j in joiners {
        j.join();
    }
    assert_eq!(*lock.lock().await, expected as u64);
    assert!(!lock.is_locked());
}

// ---------------------------------------------------------------------------
// Timed acquires
// ---------------------------------------------------------------------------

#[test]
fn blocking_timeout_expires_and_lock_stays_usable() {
    let lock = Arc::new(Lock::new(0));
    let held = lock.lock_blocking();

    assert_times_out(SHORT, |_| lock.lock().wait_timeout(SHORT));
    assert_times_out(SHORT, |start| lock.lock().wait_deadline(start + SHORT));
    assert_times_out(SHORT, |_| lock.lock_arc().wait_timeout(SHORT));

    // CPython issue 11618: a failed timed acquire leaves the lock usable.
    assert!(lock.is_locked());
    drop(held);
    assert!(!lock.is_locked());
    let mut g = lock.try_lock().expect("free after failed timed acquires");
    *g += 1;
    drop(g);
    let g = lock.lock().wait_timeout(SHORT).expect("free lock");
    assert_eq!(*g, 1);
    drop(g);
    assert!(lock.lock_arc().wait_timeout(SHORT).is_some());
    assert!(!lock.is_locked());
}

#[tokio::test]
async fn async_timeout_expires_and_lock_stays_usable() {
    within(async {
        let lock = Arc::new(Lock::new(0));
        let held = lock.lock().await;

        assert_times_out_async(SHORT, |_| lock.lock().timeout(SHORT)).await;
        assert_times_out_async(SHORT, |start| lock.lock().timeout_at(start + SHORT)).await;
        assert_times_out_async(SHORT, |_| lock.lock_arc().timeout(SHORT)).await;

        assert!(lock.is_locked());
        drop(held);
        let mut g = lock.try_lock().expect("free after failed timed acquires");
        *g += 1;
        drop(g);
        let g = lock.lock().timeout(SHORT).await.expect("free lock");
        assert_eq!(*g, 1);
        drop(g);
        assert!(lock.lock_arc().timeout(SHORT).await.is_some());
        assert!(!lock.is_locked());
    })
    .await;
}

#[test]
fn blocking_timed_acquire_succeeds_when_released_in_time() {
    let lock = Arc::new(Lock::new(0));
    let held = lock.lock_arc_blocking();
    let l = Arc::clone(&lock);
    let waiter = spawn_thread(move || {
        let start = Instant::now();
        let mut g = l.lock().wait_timeout(DEADLINE).expect("released in time");
        *g += 1;
        start.elapsed()
    });
    let_thread_block();
    drop(held);
    let waited = waiter.join();
    assert!(waited < DEADLINE);
    assert_eq!(*lock.lock_blocking(), 1);
}

#[tokio::test]
async fn async_timed_acquire_succeeds_when_released_in_time() {
    within(async {
        let lock = Arc::new(Lock::new(0));
        let held = lock.lock_arc().await;
        let l = Arc::clone(&lock);
        let task = tokio::spawn(async move {
            let mut g = l.lock().timeout(DEADLINE).await.expect("in time");
            *g += 1;
        });
        tokio::task::yield_now().await;
        // Released from a plain thread: the task must be woken across worlds.
        spawn_thread(move || drop(held)).join();
        task.await.unwrap();
        assert_eq!(*lock.lock().await, 1);
    })
    .await;
}

/// A waiter that gives up must not take the wake-up meant for the others.
#[test]
fn blocking_timeout_of_one_waiter_does_not_strand_another() {
    let lock = Arc::new(Lock::new(0));
    let held = lock.lock_blocking();
    let l = Arc::clone(&lock);
    let patient = spawn_thread(move || *l.lock_blocking() += 1);
    let_thread_block();
    // This waiter arrives second and times out while the first still waits.
    assert!(lock.lock().wait_timeout(SHORT).is_none());
    assert!(!patient.finished());
    drop(held);
    patient.join();
    assert_eq!(*lock.lock_blocking(), 1);
}

#[tokio::test]
async fn async_timeout_of_one_waiter_does_not_strand_another() {
    within(async {
        let lock = Lock::new(0);
        let held = lock.lock().await;
        let mut patient = spawn_pending(lock.lock());
        assert!(lock.lock().timeout(SHORT).await.is_none());
        assert!(!patient.is_woken());
        drop(held);
        assert!(patient.is_woken());
        let mut g = assert_ready!(patient.poll());
        *g += 1;
        drop(g);
        assert_eq!(*lock.try_lock().unwrap(), 1);
    })
    .await;
}

/// (Multi-thread: the blocking `wait_timeout` refuses to run inside a
/// current-thread runtime.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_timeout_only_tries() {
    within(async {
        let lock = Arc::new(Lock::new(()));

        // Free: succeeds at once, blocking and async.
        assert!(lock.lock().wait_timeout(Duration::ZERO).is_some());
        assert!(lock.lock_arc().wait_timeout(Duration::ZERO).is_some());
        assert!(lock.lock().timeout(Duration::ZERO).await.is_some());
        assert!(lock.lock().wait_deadline(Instant::now()).is_some());
        assert!(lock.lock().timeout_at(Instant::now()).await.is_some());

        // Held: fails at once.
        let held = lock.lock().await;
        let start = Instant::now();
        assert!(lock.lock().wait_timeout(Duration::ZERO).is_none());
        assert!(lock.lock_arc().wait_timeout(Duration::ZERO).is_none());
        assert!(lock.lock().timeout(Duration::ZERO).await.is_none());
        assert!(lock.lock_arc().timeout(Duration::ZERO).await.is_none());
        let past = Instant::now()
            .checked_sub(Duration::from_secs(1))
            .unwrap_or_else(Instant::now);
        assert!(lock.lock().wait_deadline(past).is_none());
        assert!(lock.lock().timeout_at(past).await.is_none());
        assert!(
            start.elapsed() < SLACK,
            "zero timeouts took {:?}",
            start.elapsed()
        );
        drop(held);

        // And the failed tries left nothing behind.
        assert!(lock.try_lock().is_some());
        assert!(lock.lock().wait_timeout(Duration::ZERO).is_some());
    })
    .await;
}

#[test]
fn huge_blocking_timeout_means_forever() {
    let lock = Arc::new(Lock::new(0));
    // Free: no overflow, immediate.
    assert!(lock.lock().wait_timeout(Duration::MAX).is_some());

    let held = lock.lock_arc_blocking();
    let l = Arc::clone(&lock);
    let waiter = spawn_thread(move || {
        let mut g = l.lock().wait_timeout(Duration::MAX).expect("no timeout");
        *g += 1;
    });
    let l = Arc::clone(&lock);
    let arc_waiter = spawn_thread(move || {
        let mut g = l
            .lock_arc()
            .wait_timeout(Duration::MAX)
            .expect("no timeout");
        *g += 1;
    });
    let_thread_block();
    assert!(!waiter.finished() && !arc_waiter.finished());
    // Released by yet another thread.
    spawn_thread(move || drop(held)).join();
    waiter.join();
    arc_waiter.join();
    assert_eq!(*lock.lock_blocking(), 2);
}

#[tokio::test]
async fn huge_async_timeout_means_forever() {
    within(async {
        let lock = Arc::new(Lock::new(0));
        assert!(lock.lock().timeout(Duration::MAX).await.is_some());

        let held = lock.lock_arc().await;
        let l = Arc::clone(&lock);
        let task = tokio::spawn(async move {
            *l.lock().timeout(Duration::MAX).await.expect("no timeout") += 1;
        });
        tokio::task::yield_now().await;
        assert!(!task.is_finished());
        spawn_thread(move || drop(held)).join();
        task.await.unwrap();
        assert_eq!(*lock.lock().await, 1);
    })
    .await;
}

// ---------------------------------------------------------------------------
// Guards crossing threads and tasks
// ---------------------------------------------------------------------------

#[test]
fn guard_dropped_on_another_thread() {
    let lock = Lock::new(0);
    let mut g = lock.lock_blocking();
    *g += 1;
    thread::scope(|s| {
        s.spawn(move || {
            *g += 1;
            drop(g);
        })
        .join()
        .unwrap();
    });
    assert!(!lock.is_locked());
    assert_eq!(*lock.try_lock().expect("unlocked by the other thread"), 2);
}

#[test]
fn guard_dropped_on_another_thread_wakes_a_waiter() {
    let lock = Arc::new(Lock::new(0));
    let held = lock.lock_arc_blocking();
    let l = Arc::clone(&lock);
    let waiter = spawn_thread(move || *l.lock_blocking() + 1);
    let_thread_block();
    // The guard travels to a third thread, which drops it.
    let dropper = spawn_thread(move || drop(held));
    dropper.join();
    assert_eq!(waiter.join(), 1);
    assert!(!lock.is_locked());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arc_guard_moves_into_spawned_task() {
    within(async {
        let lock = Arc::new(Lock::new(Vec::new()));
        let mut g = lock.lock_arc().await;
        g.push(1);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            // Still held while this task waits.
            rx.await.unwrap();
            g.push(2);
            // Dropped here, inside the spawned task.
        });
        assert!(lock.is_locked());
        assert!(lock.lock().timeout(SHORT).await.is_none());
        tx.send(()).unwrap();
        let g = lock.lock().await;
        assert_eq!(*g, vec![1, 2]);
        drop(g);
        task.await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn borrowed_guard_held_across_await_in_spawned_task() {
    within(async {
        let lock = Arc::new(Lock::new(0));
        let l = Arc::clone(&lock);
        // The future holds a `LockGuard` across `.await`: it must be `Send`.
        tokio::spawn(async move {
            let mut g = l.lock().await;
            tokio::task::yield_now().await;
            *g += 1;
        })
        .await
        .unwrap();
        assert_eq!(*lock.lock().await, 1);
    })
    .await;
}

// ---------------------------------------------------------------------------
// Panics do not poison
// ---------------------------------------------------------------------------

#[test]
fn panic_while_holding_unlocks() {
    let lock = Lock::new(0);
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut g = lock.lock_blocking();
        *g += 1;
        panic!("boom");
    }));
    assert!(r.is_err());
    assert!(!lock.is_locked());
    assert_eq!(*lock.try_lock().expect("no poisoning"), 1);
}

#[test]
fn panicking_thread_unlocks_and_wakes_a_waiter() {
    let lock = Arc::new(Lock::new(0));
    let (locked_tx, locked_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let l = Arc::clone(&lock);
    let panicker = spawn_thread(move || {
        let _g = l.lock_arc_blocking();
        locked_tx.send(()).unwrap();
        go_rx.recv_timeout(DEADLINE).unwrap();
        panic!("boom while holding the lock");
    });
    locked_rx.recv_timeout(DEADLINE).unwrap();
    let l = Arc::clone(&lock);
    let waiter = spawn_thread(move || *l.lock_blocking() += 1);
    let_thread_block();
    go_tx.send(()).unwrap();
    assert!(panicker.join_outcome().is_err());
    waiter.join();
    assert_eq!(*lock.lock_blocking(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_task_unlocks_and_wakes_a_waiter() {
    within(async {
        let lock = Arc::new(Lock::new(0));
        let g = lock.lock_arc().await;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let panicker = tokio::spawn(async move {
            let _g = g;
            rx.await.unwrap();
            panic!("boom while holding the lock");
        });
        let l = Arc::clone(&lock);
        let waiter = tokio::spawn(async move { *l.lock().await += 1 });
        tokio::task::yield_now().await;
        tx.send(()).unwrap();
        assert!(panicker.await.unwrap_err().is_panic());
        waiter.await.unwrap();
        assert_eq!(*lock.lock().await, 1);
    })
    .await;
}

#[test]
fn aborted_task_holding_guard_unlocks() {
    let rt = current_thread_runtime();
    let lock = Arc::new(Lock::new(()));
    rt.block_on(within(async {
        let l = Arc::clone(&lock);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let holder = tokio::spawn(async move {
            let _g = l.lock().await;
            tx.send(()).unwrap();
            std::future::pending::<()>().await;
        });
        rx.await.unwrap();
        assert!(lock.is_locked());
        holder.abort();
        assert!(holder.await.unwrap_err().is_cancelled());
        assert!(!lock.is_locked());
        assert!(lock.lock().timeout(SHORT).await.is_some());
    }));
}

// ---------------------------------------------------------------------------
// Deterministic poll order and cancellation
// ---------------------------------------------------------------------------

#[test]
fn unlock_wakes_one_waiter_then_the_next() {
    let lock = Lock::new(0);
    let held = lock.lock_blocking();
    let mut a = spawn_pending(lock.lock());
    let mut b = spawn_pending(lock.lock());
    assert!(!a.is_woken() && !b.is_woken());

    drop(held);
    // FIFO: the first waiter is woken, and only it.
    assert!(a.is_woken());
    assert!(!b.is_woken());
    let mut ga = assert_ready!(a.poll());
    *ga += 1;
    // B stays pending while A holds the lock.
    assert_pending!(b.poll());
    drop(ga);
    assert!(b.is_woken());
    let gb = assert_ready!(b.poll());
    assert_eq!(*gb, 1);
    drop(gb);
    assert!(!lock.is_locked());
}

/// tokio#3652 / tokio#4618 / async-lock#91: a waiter that was woken to take
/// the lock and is then dropped without being polled must hand the wake-up on.
#[test]
fn dropped_notified_waiter_passes_the_wakeup_on() {
    let lock = Lock::new(0);
    let held = lock.lock_blocking();
    let a = spawn_pending(lock.lock());
    let mut b = spawn_pending(lock.lock());
    drop(held);
    assert!(a.is_woken());
    assert!(!b.is_woken());
    drop(a); // woken, never polled
    assert!(b.is_woken(), "the wake-up died with the dropped waiter");
    let mut g = assert_ready!(b.poll());
    *g += 1;
    drop(g);
    assert_eq!(*lock.try_lock().unwrap(), 1);
}

#[test]
fn dropped_notified_arc_waiter_passes_the_wakeup_on() {
    let lock = Arc::new(Lock::new(()));
    let held = lock.lock_arc_blocking();
    let a = spawn_pending(lock.lock_arc());
    let b = spawn_pending(lock.lock_arc());
    let mut c = spawn_pending(lock.lock());
    drop(held);
    assert!(a.is_woken());
    drop(a);
    assert!(b.is_woken());
    drop(b);
    assert!(c.is_woken(), "two dropped waiters lost the wake-up");
    let g = assert_ready!(c.poll());
    drop(g);
    assert!(lock.try_lock().is_some());
}

/// A notified waiter is dropped while a blocking thread waits: the thread
/// must get the lock.
#[test]
fn dropped_notified_task_passes_the_wakeup_to_a_thread() {
    let lock = Arc::new(Lock::new(0));
    let held = lock.lock_arc_blocking();
    let a = spawn_pending(lock.lock());
    let l = Arc::clone(&lock);
    let thread = spawn_thread(move || *l.lock_blocking() += 1);
    let_thread_block();
    drop(held);
    drop(a);
    thread.join();
    assert_eq!(*lock.lock_blocking(), 1);
}

#[test]
fn dropped_pending_waiter_leaves_no_trace() {
    let lock = Lock::new(());
    let held = lock.lock_blocking();
    let a = spawn_pending(lock.lock());
    drop(a); // never notified
    drop(held);
    assert!(!lock.is_locked());
    // The fast paths work: no stale waiter count or hand-off.
    let g = lock.try_lock().expect("try_lock after a dropped waiter");
    drop(g);
    let mut fresh = task::spawn(lock.lock());
    let g = assert_ready!(fresh.poll());
    drop(g);
    let start = Instant::now();
    drop(lock.lock_blocking());
    assert!(lock.lock().wait_timeout(Duration::ZERO).is_some());
    assert!(start.elapsed() < SLACK);

    // And a later waiter is still woken normally.
    let held = lock.lock_blocking();
    let mut b = spawn_pending(lock.lock());
    drop(held);
    assert!(b.is_woken());
    drop(assert_ready!(b.poll()));
}

/// A waiter dropped while another holds the lock and a third waits: the third
/// is woken by the unlock and nobody else.
#[test]
fn dropped_waiter_in_the_middle_of_the_queue() {
    let lock = Lock::new(());
    let held = lock.lock_blocking();
    let mut a = spawn_pending(lock.lock());
    let b = spawn_pending(lock.lock());
    let mut c = spawn_pending(lock.lock());
    drop(b);
    assert!(!a.is_woken() && !c.is_woken());
    drop(held);
    assert!(a.is_woken());
    let ga = assert_ready!(a.poll());
    // (C may get a spurious wake-up here; polled, it must stay pending.)
    if c.is_woken() {
        assert_pending!(c.poll());
    }
    drop(ga);
    assert!(c.is_woken());
    drop(assert_ready!(c.poll()));
}

/// The documented fairness: waiters get the lock in FIFO order when an
/// executor polls every task that is woken (as all executors do), and nobody
/// barges in.
#[test]
fn waiters_acquire_in_fifo_order_under_an_executor() {
    let lock = Lock::new(Vec::new());
    let held = lock.lock_blocking();
    let mut waiters: Vec<_> = (0..3).map(|_| spawn_pending(lock.lock())).collect();
    drop(held);
    let mut done = [false; 3];
    for _ in 0..3 {
        // Run every woken task until one holds the lock.
        let mut guard = None;
        for _ in 0..10 {
            for (i, w) in waiters.iter_mut().enumerate() {
                if done[i] || !w.is_woken() {
                    continue;
                }
                if let std::task::Poll::Ready(mut g) = w.poll() {
                    assert!(guard.is_none(), "two guards at once");
                    g.push(i);
                    done[i] = true;
                    guard = Some(g);
                }
            }
        }
        let g = guard.expect("the unlock woke no waiter that could take the lock");
        drop(g);
    }
    assert_eq!(*lock.lock_blocking(), [0, 1, 2], "not FIFO");
}

/// The woken waiter loses the race to a barging `try_lock`: it goes back to
/// waiting, and the barger's unlock wakes someone who then gets the lock.
#[test]
fn woken_waiter_that_loses_to_a_barger_waits_again() {
    let lock = Lock::new(());
    let held = lock.lock_blocking();
    let mut a = spawn_pending(lock.lock());
    let mut b = spawn_pending(lock.lock());
    drop(held);
    assert!(a.is_woken());
    let barger = lock.try_lock().expect("barging is allowed");
    assert_pending!(a.poll());
    drop(barger);
    // One of the two is woken (FIFO says B, as A queued again), and the woken
    // one takes the lock.
    let (first, second) = if b.is_woken() {
        (&mut b, &mut a)
    } else {
        assert!(a.is_woken(), "unlock after barging woke no one");
        (&mut a, &mut b)
    };
    let g = assert_ready!(first.poll());
    assert_pending!(second.poll());
    drop(g);
    assert!(second.is_woken());
    drop(assert_ready!(second.poll()));
}

/// A timed waiter whose wake-up was taken by a barger, then timed out, leaves
/// the other waiter its turn (paused clock: fully deterministic).
#[tokio::test(start_paused = true)]
async fn timed_out_waiter_after_lost_race_leaves_the_queue_sound() {
    let lock = Lock::new(());
    let held = lock.try_lock().expect("free"); // not lock_blocking: current-thread runtime
    let mut a = spawn_pending(lock.lock().timeout(Duration::from_millis(10)));
    let mut b = spawn_pending(lock.lock());
    drop(held);
    assert!(a.is_woken());
    let barger = lock.try_lock().expect("barging is allowed");
    tokio::time::advance(Duration::from_millis(20)).await;
    assert!(assert_ready!(a.poll()).is_none());
    drop(a);
    drop(barger);
    assert!(b.is_woken(), "unlock after a timed-out waiter woke no one");
    drop(assert_ready!(b.poll()));
}

/// A timed waiter that is woken and then dropped at its deadline without
/// being polled passes the wake-up on.
#[tokio::test(start_paused = true)]
async fn notified_timed_waiter_dropped_at_deadline_passes_the_wakeup_on() {
    let lock = Lock::new(());
    let held = lock.try_lock().expect("free"); // not lock_blocking: current-thread runtime
    let a = spawn_pending(lock.lock().timeout(Duration::from_millis(10)));
    let mut b = spawn_pending(lock.lock());
    tokio::time::advance(Duration::from_millis(20)).await;
    drop(held);
    drop(a);
    assert!(b.is_woken());
    drop(assert_ready!(b.poll()));
}

/// A timed waiter woken by the unlock just as its deadline passes takes the
/// lock (a late wake-up is not thrown away).
#[tokio::test(start_paused = true)]
async fn timed_waiter_woken_at_its_deadline_takes_the_lock() {
    let lock = Lock::new(());
    let held = lock.try_lock().expect("free"); // not lock_blocking: current-thread runtime
    let mut a = spawn_pending(lock.lock().timeout(Duration::from_millis(10)));
    tokio::time::advance(Duration::from_millis(20)).await;
    drop(held);
    let g = assert_ready!(a.poll());
    assert!(g.is_some(), "free lock, woken waiter, yet it gave up");
    drop(g);
    assert!(!lock.is_locked());
}

/// A waiter that reserved the lock (barged for over a millisecond) and then
/// times out gives the reservation up: the next unlock wakes the other
/// waiter, and bargers are welcome again.
#[tokio::test(start_paused = true)]
async fn reserving_waiter_that_times_out_gives_the_reservation_up() {
    let lock = Lock::new(());
    let (mut a, barger) = barged_waiter(&lock, lock.lock().timeout(Duration::from_millis(50)));
    let mut b = spawn_pending(lock.lock());
    tokio::time::advance(Duration::from_millis(60)).await;
    assert!(
        assert_ready!(a.poll()).is_none(),
        "the barger still holds it"
    );
    drop(a);
    drop(barger);
    assert!(
        b.is_woken(),
        "the timed-out reservation swallowed the wake-up"
    );
    drop(assert_ready!(b.poll()));
    assert!(
        lock.try_lock().is_some(),
        "a stale reservation blocks try_lock"
    );
}

/// The same for a blocking waiter: a thread that reserved the lock and then
/// timed out leaves it usable by everyone.
#[test]
fn reserving_thread_that_times_out_gives_the_reservation_up() {
    let lock = Arc::new(Lock::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    // A hog relocks in a tight loop, holding the lock most of the time, so
    // the waiter is barged, reserves, and (with a short limit) may time out
    // while holding the reservation.
    let hog = {
        let lock = Arc::clone(&lock);
        let stop = Arc::clone(&stop);
        spawn_thread(move || {
            while !stop.load(Ordering::Relaxed) {
                let mut g = lock.lock_blocking();
                *g += 1;
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(200) {
                    std::hint::spin_loop();
                }
                drop(g);
            }
        })
    };
    let mut got = 0;
    for _ in 0..50 {
        if lock.lock().wait_timeout(Duration::from_millis(2)).is_some() {
            got += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    hog.join();
    // Whatever happened above, nothing is left reserved or counted.
    assert!(!lock.is_locked());
    assert!(
        lock.try_lock().is_some(),
        "a stale reservation blocks try_lock"
    );
    let mut w = task::spawn(lock.lock());
    drop(assert_ready!(w.poll()));
    assert!(got > 0, "the waiter never got the lock from the hog");
}

#[tokio::test]
async fn lock_future_dropped_by_select_loses_nothing() {
    within(async {
        let lock = Lock::new(0);
        let held = lock.lock().await;
        tokio::select! {
            biased;
            _ = lock.lock() => panic!("acquired a held lock"),
            () = std::future::ready(()) => {}
        }
        let mut b = spawn_pending(lock.lock());
        drop(held);
        assert!(b.is_woken());
        drop(assert_ready!(b.poll()));
    })
    .await;
}

// ---------------------------------------------------------------------------
// Mixed: threads and tasks waiting on one lock
// ---------------------------------------------------------------------------

/// A task waits first, then a thread; each unlock hands the lock to the next.
#[test]
fn task_and_blocked_thread_are_woken_in_turn() {
    let lock = Arc::new(Lock::new(Vec::new()));
    let held = lock.lock_blocking();
    let mut task_a = spawn_pending(lock.lock());
    let l = Arc::clone(&lock);
    let thread_b = spawn_thread(move || l.lock_blocking().push("thread"));
    let_thread_block();
    assert!(!thread_b.finished());
    drop(held);
    assert!(task_a.is_woken());
    match task_a.poll() {
        std::task::Poll::Ready(mut g) => {
            // The usual case: the thread is parked, not woken, so the task
            // gets the lock and the thread must wait for it.
            g.push("task");
            thread::sleep(Duration::from_millis(20));
            assert!(!thread_b.finished());
            drop(g);
            thread_b.join();
            assert_eq!(*lock.lock_blocking(), ["task", "thread"]);
        }
        std::task::Poll::Pending => {
            // The thread was so late that it barged in before the task ran:
            // its unlock must wake the task.
            thread_b.join();
            assert!(task_a.is_woken());
            assert_ready!(task_a.poll()).push("task");
            assert_eq!(*lock.lock_blocking(), ["thread", "task"]);
        }
    }
}

/// A thread blocks first, then a task waits; unlocking wakes the thread, and
/// the thread's unlock wakes the task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_thread_and_task_are_woken_in_turn() {
    within(async {
        let lock = Arc::new(Lock::new(Vec::new()));
        let held = lock.lock_arc().await;
        let l = Arc::clone(&lock);
        let thread_a = spawn_thread(move || l.lock_blocking().push("thread"));
        tokio::task::spawn_blocking(let_thread_block).await.unwrap();
        let l = Arc::clone(&lock);
        let task_b = tokio::spawn(async move { l.lock().await.push("task") });
        tokio::task::yield_now().await;
        drop(held);
        task_b.await.unwrap();
        thread_a.join_async().await;
        let v = lock.lock().await;
        assert_eq!(v.len(), 2);
        assert!(v.contains(&"thread") && v.contains(&"task"));
    })
    .await;
}

/// A task on a multi-thread worker uses `lock_blocking` while another task
/// holds the lock across an `.await`: `block_in_place` moves the other tasks
/// away, so the holder can finish and release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_blocking_on_a_multi_thread_worker() {
    within(async {
        let lock = Arc::new(Lock::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut g = lock.lock_arc().await;
        let holder = tokio::spawn(async move {
            rx.await.unwrap();
            *g += 1;
        });
        let l = Arc::clone(&lock);
        let blocker = tokio::spawn(async move {
            let mut g = l.lock_blocking();
            *g += 10;
            *g
        });
        tokio::task::yield_now().await;
        tx.send(()).unwrap();
        holder.await.unwrap();
        assert_eq!(blocker.await.unwrap(), 11);
    })
    .await;
}

/// Inside a current-thread runtime a blocking lock refuses every time,
/// uncontended too (DESIGN.md 6b), with amphi's message naming the method,
/// and leaves nothing behind.
#[test]
fn lock_blocking_in_current_thread_runtime() {
    let rt = current_thread_runtime();
    let lock = Lock::new(0);
    rt.block_on(async {
        // Uncontended: refused all the same.
        let r = panic::catch_unwind(AssertUnwindSafe(|| *lock.lock_blocking() += 1));
        let msg =
            panic_message(&*r.expect_err("uncontended lock_blocking in a current-thread runtime"));
        assert!(
            msg.starts_with("amphi: `Lock::lock_blocking` blocks the thread"),
            "unexpected panic: {msg}"
        );
        let r = panic::catch_unwind(AssertUnwindSafe(|| drop(lock.lock().wait_timeout(SHORT))));
        let msg = panic_message(
            &*r.expect_err("uncontended lock().wait_timeout in a current-thread runtime"),
        );
        assert!(
            msg.starts_with("amphi: `Lock::lock` blocks the thread"),
            "unexpected panic: {msg}"
        );
        assert!(!lock.is_locked(), "a refused lock was left held");
        *lock.lock().await += 1;

        // Contended: it would stall the runtime, so it panics instead of
        // deadlocking.
        let held = lock.lock().await;
        let r = panic::catch_unwind(AssertUnwindSafe(|| drop(lock.lock_blocking())));
        let msg = r.expect_err("contended lock_blocking in a current-thread runtime");
        let msg = panic_message(&*msg);
        assert!(
            msg.starts_with("amphi: `Lock::lock_blocking` blocks the thread"),
            "unexpected panic: {msg}"
        );
        assert!(lock.is_locked());
        assert_eq!(
            lock.waiters().total(),
            0,
            "the refused wait is still counted"
        );
        drop(held);
        // Nothing was left behind by the refused wait.
        assert_eq!(*lock.try_lock().expect("usable after the refusal"), 1);
        let mut w = task::spawn(lock.lock());
        drop(assert_ready!(w.poll()));
    });
}

/// Many waiters of all kinds queue on a held lock; one release lets them all
/// through one after another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convoy_of_threads_and_tasks_drains() {
    within(async {
        let lock = Arc::new(Lock::new(0usize));
        let done = Arc::new(AtomicUsize::new(0));
        let held = lock.lock_arc().await;
        let mut joiners = Vec::new();
        for _ in 0..4 {
            let l = Arc::clone(&lock);
            let d = Arc::clone(&done);
            joiners.push(spawn_thread(move || {
                *l.lock_blocking() += 1;
                d.fetch_add(1, Ordering::SeqCst);
            }));
        }
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let l = Arc::clone(&lock);
            let d = Arc::clone(&done);
            tasks.push(tokio::spawn(async move {
                *l.lock().await += 1;
                d.fetch_add(1, Ordering::SeqCst);
            }));
        }
        tokio::task::spawn_blocking(let_thread_block).await.unwrap();
        assert_eq!(done.load(Ordering::SeqCst), 0);
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        join_threads(joiners).await;
        assert_eq!(done.load(Ordering::SeqCst), 8);
        assert_eq!(*lock.lock().await, 8);
    })
    .await;
}

#[test]
fn guards_display_their_value() {
    let lock = std::sync::Arc::new(Lock::new(42));
    let owned = lock.lock_arc_blocking();
    assert_eq!(format!("{owned}"), "42");
    drop(owned);
    assert_eq!(format!("{}", lock.lock_blocking()), "42");
}
