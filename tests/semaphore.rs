//! Integration tests of `amphi::Semaphore` and `amphi::BoundedSemaphore`:
//! permit conservation for threads, tasks and both, `release(n)` waking up
//! to `n` waiters, timed acquires, owned and forgotten permits, cancellation
//! (a woken acquire that is dropped hands its wake-up on), and the bounded
//! semaphore's over-release error, checked against CPython 3.11.
//!
//! Every test that waits has a deadline ([`DEADLINE`]).

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use amphi::futures::AcquireFuture;
use amphi::{AcquireTimeoutError, BoundedSemaphore, Semaphore, SemaphorePermit, TryAcquireError};
use common::{
    DEADLINE, Holders, Joiner, SHORT, SLACK, assert_times_out, assert_times_out_async,
    current_thread_runtime, join_threads, let_thread_block, panic_message, spawn_pending,
    spawn_thread, wait_until, within,
};
use tokio_test::task::{self, Spawn};
use tokio_test::{assert_pending, assert_ready};

/// Polls, as an executor would, every woken and unfinished waiter until none
/// is woken; returns the permits of those that finished.
fn run_woken<'a>(
    waiters: &mut [Spawn<AcquireFuture<'a>>],
    done: &mut [bool],
) -> Vec<SemaphorePermit<'a>> {
    let mut permits = Vec::new();
    for _ in 0..16 {
        let mut progress = false;
        for (i, w) in waiters.iter_mut().enumerate() {
            if !done[i] && w.is_woken() {
                progress = true;
                if let Poll::Ready(p) = w.poll() {
                    done[i] = true;
                    permits.push(p.expect("a woken acquire found the semaphore closed"));
                }
            }
        }
        if !progress {
            break;
        }
    }
    permits
}

// ---------------------------------------------------------------------------
// Basic API
// ---------------------------------------------------------------------------

static POOL: Semaphore = Semaphore::new(2);
static BOUNDED: BoundedSemaphore = BoundedSemaphore::new(1);

#[test]
fn const_new_in_statics() {
    let p = POOL.try_acquire().expect("permit");
    assert_eq!(POOL.available(), 1);
    drop(p);
    assert_eq!(POOL.available(), 2);
    assert_eq!(BOUNDED.bound(), 1);
    assert!(BOUNDED.release(1).is_err());
}

#[test]
fn basic_api() {
    let sem = Semaphore::new(2);
    assert_eq!(sem.available(), 2);
    let a = sem.try_acquire().expect("first");
    let b = sem.acquire_blocking().unwrap();
    assert_eq!(sem.available(), 0);
    assert!(matches!(sem.try_acquire(), Err(TryAcquireError::NoPermits)));
    assert!(format!("{sem:?}").contains("available: 0"));
    assert!(format!("{a:?}").contains("SemaphorePermit"));
    drop(a);
    assert_eq!(sem.available(), 1);
    drop(b);
    assert_eq!(sem.available(), 2);

    // Forgotten permits are gone for good (Python: acquire without release).
    sem.try_acquire().unwrap().forget();
    assert_eq!(sem.available(), 1);
    sem.acquire().wait().unwrap().forget();
    assert_eq!(sem.available(), 0);
    // release(n) creates permits, release(0) does nothing.
    sem.release(0);
    assert_eq!(sem.available(), 0);
    sem.release(3);
    assert_eq!(sem.available(), 3);

    let zero = Semaphore::new(0);
    assert!(matches!(
        zero.try_acquire(),
        Err(TryAcquireError::NoPermits)
    ));
    zero.release(1);
    assert!(zero.try_acquire().is_ok());
    assert_eq!(zero.available(), 1);
}

#[test]
fn arc_permits() {
    let sem = Arc::new(Semaphore::new(2));
    let a = sem.try_acquire_arc().expect("first");
    let b = sem.acquire_arc_blocking().unwrap();
    assert!(matches!(
        sem.try_acquire_arc(),
        Err(TryAcquireError::NoPermits)
    ));
    assert!(matches!(
        sem.acquire_arc().wait_timeout(Duration::ZERO),
        Err(AcquireTimeoutError::TimedOut)
    ));
    assert!(format!("{a:?}").contains("SemaphorePermitArc"));
    // Owned permits are 'static and Send: drop one on another thread.
    spawn_thread(move || drop(a)).join();
    assert_eq!(sem.available(), 1);
    b.forget();
    assert_eq!(sem.available(), 1);
    let c = sem.acquire_arc().wait().unwrap();
    assert_eq!(sem.available(), 0);
    drop(c);
    assert_eq!(sem.available(), 1);
    // The forgotten permit's Arc is released: only our handle is left.
    assert_eq!(Arc::strong_count(&sem), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arc_permit_moves_into_spawned_task() {
    within(async {
        let sem = Arc::new(Semaphore::new(1));
        let permit = sem.acquire_arc().await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            rx.await.unwrap();
            drop(permit);
        });
        assert!(matches!(
            sem.acquire().timeout(SHORT).await,
            Err(AcquireTimeoutError::TimedOut)
        ));
        tx.send(()).unwrap();
        let p = sem.acquire().await.unwrap();
        assert_eq!(sem.available(), 0);
        drop(p);
        task.await.unwrap();
        assert_eq!(sem.available(), 1);
    })
    .await;
}

#[test]
fn release_past_max_permits_panics_and_changes_nothing() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS - 1);
    sem.release(1);
    assert_eq!(sem.available(), Semaphore::MAX_PERMITS);
    let r = panic::catch_unwind(AssertUnwindSafe(|| sem.release(1)));
    assert!(r.is_err());
    assert_eq!(sem.available(), Semaphore::MAX_PERMITS);
    let r = panic::catch_unwind(AssertUnwindSafe(|| sem.release(usize::MAX)));
    assert!(r.is_err());
    assert_eq!(sem.available(), Semaphore::MAX_PERMITS);
    assert!(sem.try_acquire().is_ok());
}

#[test]
fn new_past_max_permits_panics() {
    let r = panic::catch_unwind(|| Semaphore::new(Semaphore::MAX_PERMITS + 1));
    assert!(r.is_err());
    let r = panic::catch_unwind(|| BoundedSemaphore::new(usize::MAX));
    assert!(r.is_err());
}

// ---------------------------------------------------------------------------
// Conservation of permits
// ---------------------------------------------------------------------------

#[test]
fn permits_conserved_threads() {
    const K: usize = 3;
    let sem = Arc::new(Semaphore::new(K));
    let holders = Holders::new(K);
    let joiners: Vec<_> = (0..5)
        .map(|i| {
            let sem = Arc::clone(&sem);
            let h = Arc::clone(&holders);
            spawn_thread(move || {
                for j in 0..300 {
                    let p = match (i + j) % 4 {
                        0 => sem.acquire_blocking().unwrap(),
                        1 => sem.acquire().wait().unwrap(),
                        2 => sem.acquire().wait_timeout(DEADLINE).expect("deadline"),
                        _ => {
                            let p = sem.acquire_arc_blocking().unwrap();
                            h.hold_yielding();
                            drop(p);
                            continue;
                        }
                    };
                    h.hold_yielding();
                    drop(p);
                }
            })
        })
        .collect();
    for j in joiners {
        j.join();
    }
    assert_eq!(sem.available(), K);
    assert!(holders.max() <= K);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permits_conserved_mixed_threads_and_tasks() {
    const K: usize = 2;
    let sem = Arc::new(Semaphore::new(K));
    let holders = Holders::new(K);
    let joiners: Vec<_> = (0..2)
        .map(|_| {
            let sem = Arc::clone(&sem);
            let h = Arc::clone(&holders);
            spawn_thread(move || {
                for _ in 0..300 {
                    let _p = sem.acquire_blocking().unwrap();
                    h.hold_yielding();
                }
            })
        })
        .collect();
    within(async {
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let sem = Arc::clone(&sem);
                let h = Arc::clone(&holders);
                tokio::spawn(async move {
                    for j in 0..300 {
                        let _p = if (i + j) % 2 == 0 {
                            sem.acquire_arc().await.unwrap()
                        } else {
                            sem.acquire_arc().timeout(DEADLINE).await.expect("deadline")
                        };
                        h.hold_yielding_async().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await;
    join_threads(joiners).await;
    assert_eq!(sem.available(), K);
}

// ---------------------------------------------------------------------------
// release(n) wakes up to n waiters
// ---------------------------------------------------------------------------

#[test]
fn release_n_wakes_exactly_n_tasks() {
    let sem = Semaphore::new(0);
    let mut a = spawn_pending(sem.acquire());
    let mut b = spawn_pending(sem.acquire());
    let mut c = spawn_pending(sem.acquire());

    sem.release(2);
    assert!(a.is_woken());
    assert!(b.is_woken());
    assert!(!c.is_woken(), "release(2) woke three waiters");
    let pa = assert_ready!(a.poll()).unwrap();
    let pb = assert_ready!(b.poll()).unwrap();
    assert_eq!(sem.available(), 0);
    if c.is_woken() {
        assert_pending!(c.poll());
    }

    sem.release(1);
    assert!(c.is_woken());
    let pc = assert_ready!(c.poll()).unwrap();
    assert_eq!(sem.available(), 0);
    drop((pa, pb, pc));
    assert_eq!(sem.available(), 3);
}

#[test]
fn release_n_larger_than_waiters_keeps_the_rest() {
    let sem = Semaphore::new(0);
    let mut a = spawn_pending(sem.acquire());
    sem.release(5);
    assert!(a.is_woken());
    let p = assert_ready!(a.poll()).unwrap();
    assert_eq!(sem.available(), 4);
    drop(p);
    assert_eq!(sem.available(), 5);
}

#[test]
fn release_n_wakes_n_blocked_threads() {
    let sem = Arc::new(Semaphore::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let joiners: Vec<_> = (0..3)
        .map(|_| {
            let sem = Arc::clone(&sem);
            let done = Arc::clone(&done);
            spawn_thread(move || {
                sem.acquire_blocking().unwrap().forget();
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let_thread_block();
    assert_eq!(done.load(Ordering::SeqCst), 0);
    sem.release(2);
    wait_until("two threads got a permit", || {
        done.load(Ordering::SeqCst) == 2
    });
    // Only two permits: the third thread must still be waiting.
    thread::sleep(Duration::from_millis(30));
    assert_eq!(done.load(Ordering::SeqCst), 2);
    assert_eq!(sem.available(), 0);
    sem.release(1);
    for j in joiners {
        j.join();
    }
    assert_eq!(done.load(Ordering::SeqCst), 3);
    assert_eq!(sem.available(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_n_wakes_a_thread_and_a_task() {
    within(async {
        let sem = Arc::new(Semaphore::new(0));
        let s = Arc::clone(&sem);
        let thread = spawn_thread(move || s.acquire_blocking().unwrap().forget());
        let s = Arc::clone(&sem);
        let task = tokio::spawn(async move { s.acquire().await.unwrap().forget() });
        tokio::task::spawn_blocking(let_thread_block).await.unwrap();
        assert!(!thread.finished() && !task.is_finished());
        sem.release(2);
        task.await.unwrap();
        thread.join_async().await;
        assert_eq!(sem.available(), 0);
    })
    .await;
}

/// Two `release(1)` calls in a row, before the first woken task runs: an
/// executor polling the woken tasks must let both waiters through.
#[test]
fn successive_releases_reach_successive_tasks() {
    let sem = Semaphore::new(0);
    let mut waiters: Vec<_> = (0..3).map(|_| spawn_pending(sem.acquire())).collect();
    let mut done = [false; 3];
    sem.release(1);
    sem.release(1);
    let permits = run_woken(&mut waiters, &mut done);
    assert_eq!(permits.len(), 2, "two permits, {} taken", permits.len());
    assert_eq!(sem.available(), 0);
    drop(permits);
    assert_eq!(sem.available(), 2);
    let last = run_woken(&mut waiters, &mut done);
    assert_eq!(last.len(), 1);
    assert_eq!(done, [true; 3]);
}

/// The same with permits dropped one by one (each drop is a `release(1)`).
#[test]
fn successive_permit_drops_reach_successive_tasks() {
    let sem = Semaphore::new(2);
    let p1 = sem.acquire_blocking().unwrap();
    let p2 = sem.acquire_blocking().unwrap();
    let mut waiters: Vec<_> = (0..2).map(|_| spawn_pending(sem.acquire())).collect();
    let mut done = [false; 2];
    drop(p1);
    drop(p2);
    let permits = run_woken(&mut waiters, &mut done);
    assert_eq!(
        permits.len(),
        2,
        "two permits freed, {} taken",
        permits.len()
    );
}

/// `n` threads that block in `acquire_blocking` (and forget the permit they
/// get), given the time to block.
fn spawn_blocked_acquirers(sem: &Arc<Semaphore>, n: usize) -> Vec<Joiner<()>> {
    let joiners = (0..n)
        .map(|_| {
            let sem = Arc::clone(sem);
            spawn_thread(move || sem.acquire_blocking().unwrap().forget())
        })
        .collect();
    let_thread_block();
    joiners
}

/// Joins threads that must all have got a permit: one still blocked after
/// two seconds lost its wake-up. `context` prefixes the failure message.
#[track_caller]
fn join_acquirers(joiners: Vec<Joiner<()>>, sem: &Semaphore, context: &str) {
    for j in joiners {
        j.join_timeout(Duration::from_secs(2)).unwrap_or_else(|| {
            panic!(
                "{context}a thread stayed blocked with {} permit(s) free",
                sem.available()
            )
        });
    }
}

/// Two `release(1)` calls in a row while two threads are blocked: both
/// threads must get a permit.
#[test]
fn successive_releases_reach_successive_threads() {
    for round in 0..20 {
        let sem = Arc::new(Semaphore::new(0));
        let joiners = spawn_blocked_acquirers(&sem, 2);
        sem.release(1);
        sem.release(1);
        join_acquirers(joiners, &sem, &format!("round {round}: "));
        assert_eq!(sem.available(), 0);
    }
}

/// Deterministic form of the bug above: a blocked thread is first in line, a
/// task second. Two `release(1)`: once the thread has its permit, the task
/// must have been woken, as a permit is free for it.
#[test]
fn successive_releases_reach_a_thread_then_a_task() {
    // The thread may wake before the second release, which hides the bug:
    // several rounds make the failure reliable.
    for round in 0..10 {
        let sem = Arc::new(Semaphore::new(0));
        let s = Arc::clone(&sem);
        let thread = spawn_thread(move || s.acquire_blocking().unwrap().forget());
        let_thread_block();
        let mut t = spawn_pending(sem.acquire());
        sem.release(1);
        sem.release(1);
        thread.join();
        assert_eq!(sem.available(), 1);
        assert!(
            t.is_woken(),
            "round {round}: a permit is free but the waiting task was never woken"
        );
        assert_ready!(t.poll()).unwrap().forget();
        assert_eq!(sem.available(), 0);
    }
}

/// Permits dropped back to back by two holders while two threads wait.
#[test]
fn successive_permit_drops_reach_successive_threads() {
    for round in 0..20 {
        let sem = Arc::new(Semaphore::new(2));
        let p1 = sem.acquire_arc_blocking().unwrap();
        let p2 = sem.acquire_arc_blocking().unwrap();
        let joiners = spawn_blocked_acquirers(&sem, 2);
        drop(p1);
        drop(p2);
        join_acquirers(joiners, &sem, &format!("round {round}: "));
        assert_eq!(sem.available(), 0);
    }
}

// ---------------------------------------------------------------------------
// Cancellation
// ---------------------------------------------------------------------------

/// A pending acquire woken by `release(1)` and dropped before it runs hands
/// the wake-up (and so the permit) to the next waiter.
#[test]
fn dropped_woken_acquire_passes_the_permit_on() {
    let sem = Semaphore::new(0);
    let a = spawn_pending(sem.acquire());
    let mut b = spawn_pending(sem.acquire());
    let mut c = spawn_pending(sem.acquire());
    sem.release(1);
    assert!(a.is_woken());
    assert!(!b.is_woken());
    drop(a);
    assert!(b.is_woken(), "the wake-up died with the dropped acquire");
    let p = assert_ready!(b.poll()).unwrap();
    assert_eq!(sem.available(), 0);
    if c.is_woken() {
        assert_pending!(c.poll());
    }
    drop(p);
    assert!(c.is_woken());
    assert_ready!(c.poll()).unwrap().forget();
    assert_eq!(sem.available(), 0);
}

#[test]
fn dropped_woken_arc_acquire_passes_the_permit_on() {
    let sem = Arc::new(Semaphore::new(0));
    let a = spawn_pending(sem.acquire_arc());
    let mut b = spawn_pending(sem.acquire_arc());
    sem.release(1);
    drop(a);
    assert!(b.is_woken());
    let p = assert_ready!(b.poll()).unwrap();
    drop(p);
    assert_eq!(sem.available(), 1);
}

/// Woken by `release(2)`, the first two waiters are dropped: under an
/// executor, the two permits reach the two other waiters.
#[test]
fn two_dropped_woken_acquires_pass_two_permits_on() {
    let sem = Semaphore::new(0);
    let mut w: Vec<_> = (0..4).map(|_| spawn_pending(sem.acquire())).collect();
    sem.release(2);
    assert!(w[0].is_woken() && w[1].is_woken());
    let mut rest = w.split_off(2);
    drop(w);
    let mut done = [false; 2];
    let permits = run_woken(&mut rest, &mut done);
    assert_eq!(
        permits.len(),
        2,
        "two permits free, {} taken",
        permits.len()
    );
    permits.into_iter().for_each(SemaphorePermit::forget);
    assert_eq!(sem.available(), 0);
}

/// The documented cancel safety, taken literally: "a wake-up that had already
/// been delivered to the dropped waiter passes on to the next one". Two
/// dropped woken waiters must leave two woken waiters behind, at once.
#[test]
fn two_dropped_woken_acquires_wake_two_others_at_once() {
    let sem = Semaphore::new(0);
    let mut w: Vec<_> = (0..4).map(|_| spawn_pending(sem.acquire())).collect();
    sem.release(2);
    let rest = w.split_off(2);
    drop(w);
    assert!(rest[0].is_woken());
    assert!(
        rest[1].is_woken(),
        "one of the two passed-on wake-ups was lost"
    );
}

/// The same with blocked threads behind the dropped tasks: threads consume
/// their wake-up without passing it on, so here the lost one is a hang.
#[test]
fn two_dropped_woken_acquires_pass_two_permits_to_threads() {
    let sem = Arc::new(Semaphore::new(0));
    let w: Vec<_> = (0..2).map(|_| spawn_pending(sem.acquire())).collect();
    let joiners = spawn_blocked_acquirers(&sem, 2);
    sem.release(2);
    drop(w);
    join_acquirers(joiners, &sem, "");
    assert_eq!(sem.available(), 0);
}

/// A dropped woken acquire passes its permit on to a blocked thread.
#[test]
fn dropped_woken_task_passes_the_permit_to_a_thread() {
    let sem = Arc::new(Semaphore::new(0));
    let a = spawn_pending(sem.acquire());
    let s = Arc::clone(&sem);
    let thread = spawn_thread(move || s.acquire_blocking().unwrap().forget());
    let_thread_block();
    sem.release(1);
    drop(a);
    thread.join();
    assert_eq!(sem.available(), 0);
}

#[test]
fn dropped_pending_acquire_leaves_no_trace() {
    let sem = Semaphore::new(0);
    let a = spawn_pending(sem.acquire());
    drop(a);
    sem.release(1);
    assert_eq!(sem.available(), 1);
    let p = sem.try_acquire().expect("permit after a dropped waiter");
    drop(p);
    let mut b = task::spawn(sem.acquire());
    let p = assert_ready!(b.poll()).unwrap();
    drop(p);
    assert!(sem.acquire().wait_timeout(Duration::ZERO).is_ok());
    assert_eq!(sem.available(), 1);
}

#[tokio::test]
async fn acquire_dropped_by_select_loses_nothing() {
    within(async {
        let sem = Semaphore::new(0);
        tokio::select! {
            biased;
            _ = sem.acquire() => panic!("acquired without a permit"),
            () = std::future::ready(()) => {}
        }
        let mut b = spawn_pending(sem.acquire());
        sem.release(1);
        assert!(b.is_woken());
        assert_ready!(b.poll()).unwrap().forget();
        assert_eq!(sem.available(), 0);
    })
    .await;
}

/// A timed acquire that was woken and then lost the permit to a barging
/// `try_acquire`, then timed out, leaves the queue sound.
#[tokio::test(start_paused = true)]
async fn timed_out_acquire_after_lost_race_leaves_the_queue_sound() {
    let sem = Semaphore::new(0);
    let mut a = spawn_pending(sem.acquire().timeout(Duration::from_millis(10)));
    let mut b = spawn_pending(sem.acquire());
    sem.release(1);
    assert!(a.is_woken());
    let barger = sem.try_acquire().expect("barging is allowed");
    tokio::time::advance(Duration::from_millis(20)).await;
    assert!(matches!(
        assert_ready!(a.poll()),
        Err(AcquireTimeoutError::TimedOut)
    ));
    drop(a);
    drop(barger);
    assert!(b.is_woken(), "release after a timed-out waiter woke no one");
    assert_ready!(b.poll()).unwrap().forget();
    assert_eq!(sem.available(), 0);
}

#[tokio::test(start_paused = true)]
async fn woken_timed_acquire_dropped_at_deadline_passes_the_permit_on() {
    let sem = Semaphore::new(0);
    let a = spawn_pending(sem.acquire().timeout(Duration::from_millis(10)));
    let mut b = spawn_pending(sem.acquire());
    tokio::time::advance(Duration::from_millis(20)).await;
    sem.release(1);
    drop(a);
    assert!(b.is_woken());
    assert_ready!(b.poll()).unwrap().forget();
}

// ---------------------------------------------------------------------------
// Timed acquires
// ---------------------------------------------------------------------------

#[test]
fn blocking_timeout_expires_and_semaphore_stays_usable() {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.acquire_blocking().unwrap();

    assert_times_out(SHORT, |_| sem.acquire().wait_timeout(SHORT));
    assert_times_out(SHORT, |start| sem.acquire().wait_deadline(start + SHORT));
    assert_times_out(SHORT, |_| sem.acquire_arc().wait_timeout(SHORT));

    assert_eq!(sem.available(), 0);
    drop(held);
    assert_eq!(sem.available(), 1);
    assert!(sem.acquire().wait_timeout(SHORT).is_ok());
    assert!(sem.acquire_arc().wait_timeout(SHORT).is_ok());
    assert_eq!(sem.available(), 1);
}

#[tokio::test]
async fn async_timeout_expires_and_semaphore_stays_usable() {
    within(async {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.acquire().await.unwrap();

        assert_times_out_async(SHORT, |_| sem.acquire().timeout(SHORT)).await;
        assert_times_out_async(SHORT, |start| sem.acquire().timeout_at(start + SHORT)).await;
        assert_times_out_async(SHORT, |_| sem.acquire_arc().timeout(SHORT)).await;

        drop(held);
        assert!(sem.acquire().timeout(SHORT).await.is_ok());
        assert!(sem.acquire_arc().timeout(SHORT).await.is_ok());
        assert_eq!(sem.available(), 1);
    })
    .await;
}

/// (Multi-thread: the blocking `wait_timeout` refuses to run inside a
/// current-thread runtime.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_timeout_only_tries() {
    within(async {
        let sem = Semaphore::new(1);
        let start = Instant::now();
        let p = sem.acquire().wait_timeout(Duration::ZERO).expect("free");
        assert!(matches!(
            sem.acquire().wait_timeout(Duration::ZERO),
            Err(AcquireTimeoutError::TimedOut)
        ));
        assert!(matches!(
            sem.acquire().timeout(Duration::ZERO).await,
            Err(AcquireTimeoutError::TimedOut)
        ));
        assert!(matches!(
            sem.acquire().wait_deadline(Instant::now()),
            Err(AcquireTimeoutError::TimedOut)
        ));
        assert!(matches!(
            sem.acquire().timeout_at(Instant::now()).await,
            Err(AcquireTimeoutError::TimedOut)
        ));
        assert!(start.elapsed() < SLACK);
        drop(p);
        assert!(sem.acquire().timeout(Duration::ZERO).await.is_ok());
        assert_eq!(sem.available(), 1);
    })
    .await;
}

#[test]
fn huge_timeouts_mean_forever() {
    let sem = Arc::new(Semaphore::new(0));
    let s = Arc::clone(&sem);
    let thread = spawn_thread(move || {
        s.acquire()
            .wait_timeout(Duration::MAX)
            .expect("no timeout")
            .forget()
    });
    let rt = current_thread_runtime();
    let s = Arc::clone(&sem);
    let task = rt.spawn(async move {
        s.acquire()
            .timeout(Duration::MAX)
            .await
            .expect("no timeout")
            .forget()
    });
    let_thread_block();
    assert!(!thread.finished());
    sem.release(2);
    thread.join();
    rt.block_on(within(task)).unwrap();
    assert_eq!(sem.available(), 0);
}

#[test]
fn blocking_timeout_of_one_waiter_does_not_strand_another() {
    let sem = Arc::new(Semaphore::new(0));
    let s = Arc::clone(&sem);
    let patient = spawn_thread(move || s.acquire_blocking().unwrap().forget());
    let_thread_block();
    assert!(matches!(
        sem.acquire().wait_timeout(SHORT),
        Err(AcquireTimeoutError::TimedOut)
    ));
    assert!(!patient.finished());
    sem.release(1);
    patient.join();
    assert_eq!(sem.available(), 0);
}

#[tokio::test]
async fn async_timeout_of_one_waiter_does_not_strand_another() {
    within(async {
        let sem = Semaphore::new(0);
        let mut patient = spawn_pending(sem.acquire());
        assert!(matches!(
            sem.acquire().timeout(SHORT).await,
            Err(AcquireTimeoutError::TimedOut)
        ));
        assert!(!patient.is_woken());
        sem.release(1);
        assert!(patient.is_woken());
        assert_ready!(patient.poll()).unwrap().forget();
        assert_eq!(sem.available(), 0);
    })
    .await;
}

/// A blocking acquire inside a current-thread runtime refuses every time,
/// whether or not it would have to wait (DESIGN.md 6b), and takes nothing.
#[test]
fn acquire_blocking_on_current_thread_runtime_always_panics() {
    let rt = current_thread_runtime();
    let sem = Semaphore::new(1);
    rt.block_on(async {
        // Free: refused all the same.
        let r = panic::catch_unwind(AssertUnwindSafe(|| drop(sem.acquire_blocking())));
        let msg = panic_message(&*r.expect_err("an uncontended blocking acquire must refuse too"));
        assert!(
            msg.starts_with("amphi: `Semaphore::acquire_blocking` blocks the thread"),
            "{msg}"
        );
        assert_eq!(sem.available(), 1, "the refused acquire took a permit");
        let p = sem.try_acquire().unwrap();
        let r = panic::catch_unwind(AssertUnwindSafe(|| drop(sem.acquire_blocking())));
        assert!(
            r.is_err(),
            "a contended blocking acquire must refuse to stall"
        );
        drop(p);
        assert_eq!(sem.available(), 1);
        let mut w = task::spawn(sem.acquire());
        assert_ready!(w.poll()).unwrap().forget();
        assert_eq!(sem.available(), 0);
    });
}

// ---------------------------------------------------------------------------
// BoundedSemaphore
// ---------------------------------------------------------------------------

#[test]
fn bounded_over_release_errors_and_changes_nothing() {
    let sem = BoundedSemaphore::new(2);
    assert_eq!(sem.bound(), 2);
    assert_eq!(sem.available(), 2);

    let err = sem.release(1).unwrap_err();
    let expected = sem.release(1).unwrap_err();
    assert_eq!(err, expected);
    assert_eq!(
        (err.requested, err.releasable, err.bound),
        (1, 0, 2),
        "{err:?}"
    );
    assert_eq!(sem.available(), 2);

    sem.acquire_blocking().unwrap().forget();
    assert_eq!(sem.available(), 1);
    let err = sem.release(2).unwrap_err();
    assert_eq!((err.requested, err.releasable, err.bound), (2, 1, 2));
    assert_eq!(sem.available(), 1);
    let err = sem.release(usize::MAX).unwrap_err();
    assert_eq!(
        (err.requested, err.releasable, err.bound),
        (usize::MAX, 1, 2)
    );
    assert_eq!(sem.available(), 1);

    assert_eq!(sem.release(0), Ok(()));
    assert_eq!(sem.release(1), Ok(()));
    assert_eq!(sem.available(), 2);

    let msg = err.to_string();
    assert!(msg.contains("released too many times"), "{msg}");
    let dyn_err: &dyn std::error::Error = &err;
    assert!(dyn_err.source().is_none());
    assert!(format!("{sem:?}").contains("bound: 2"));
}

// A bounded semaphore cannot be released unchecked through a `Semaphore`
// view: it does not deref to one (it used to, and `Semaphore::release` on it
// had to panic past the bound). Checked at compile time.
static_assertions::assert_not_impl_any!(BoundedSemaphore: std::ops::Deref);

/// A permit held as a guard gives itself back on drop, so releasing it as
/// well is refused at once (nothing changes), and the drop is counted back.
#[test]
fn bounded_release_of_a_held_permit_is_refused() {
    let sem = BoundedSemaphore::new(1);
    let p = sem.acquire_blocking().unwrap();
    assert_eq!(sem.available(), 0);
    let err = sem.release(1).unwrap_err();
    assert_eq!((err.requested, err.releasable, err.bound), (1, 0, 1));
    assert_eq!(sem.available(), 0, "a refused release changed the count");
    drop(p);
    assert_eq!(sem.available(), 1, "the permit drop was not counted back");
    assert!(sem.release(1).is_err());
    assert_eq!(sem.available(), 1, "bound exceeded");

    // new(3), three guards out: no release is allowed until one is forgotten.
    let sem = BoundedSemaphore::new(3);
    let mut guards: Vec<_> = (0..3).map(|_| sem.try_acquire().unwrap()).collect();
    assert!(sem.release(1).is_err());
    assert_eq!(sem.available(), 0);
    guards.pop().unwrap().forget();
    sem.release(1).unwrap();
    assert_eq!(sem.available(), 1);
    assert!(sem.release(1).is_err());
    drop(guards);
    assert_eq!(sem.available(), 3);
    assert!(sem.release(1).is_err());
    assert_eq!(sem.available(), 3);
}

#[test]
fn bounded_release_wakes_waiters_and_over_release_wakes_none() {
    let sem = BoundedSemaphore::new(2);
    sem.acquire_blocking().unwrap().forget();
    sem.acquire_blocking().unwrap().forget();
    let mut a = spawn_pending(sem.acquire());
    let mut b = spawn_pending(sem.acquire());

    let err = sem.release(3).unwrap_err();
    assert_eq!((err.requested, err.releasable, err.bound), (3, 2, 2));
    assert_eq!(sem.available(), 0);
    assert!(!a.is_woken() && !b.is_woken());

    sem.release(2).unwrap();
    assert!(a.is_woken() && b.is_woken());
    let pa = assert_ready!(a.poll()).unwrap();
    let pb = assert_ready!(b.poll()).unwrap();
    assert_eq!(sem.available(), 0);
    drop((pa, pb));
    assert_eq!(sem.available(), 2);
}

#[test]
fn bounded_semaphore_with_a_blocked_thread() {
    let sem = Arc::new(BoundedSemaphore::new(1));
    sem.acquire_blocking().unwrap().forget();
    assert_eq!(sem.available(), 0);
    let s = Arc::clone(&sem);
    let thread = spawn_thread(move || drop(s.acquire_blocking().unwrap()));
    let_thread_block();
    assert!(!thread.finished());
    sem.release(1).unwrap();
    thread.join();
    assert_eq!(sem.available(), 1);
}

/// The behaviours above, side by side with CPython 3.11's `threading`
/// (results recorded from running the same steps with python3.11).
#[test]
fn python_semantics() {
    // s = BoundedSemaphore(2); s.acquire(blocking=False) -> True; _value 1
    let s = BoundedSemaphore::new(2);
    s.try_acquire().expect("True").forget();
    assert_eq!(s.available(), 1);
    // s.release(2) -> ValueError, _value still 1
    assert!(s.release(2).is_err());
    assert_eq!(s.available(), 1);
    // s.release(1) -> _value 2; s.release(1) -> ValueError, _value 2
    s.release(1).unwrap();
    assert_eq!(s.available(), 2);
    assert!(s.release(1).is_err());
    assert_eq!(s.available(), 2);

    // t = Semaphore(0): acquire(timeout=0) -> False, acquire(blocking=False)
    // -> False, acquire(timeout=0.05) -> False after >= 0.05 s
    let t = Semaphore::new(0);
    assert!(matches!(
        t.acquire().wait_timeout(Duration::ZERO),
        Err(AcquireTimeoutError::TimedOut)
    ));
    assert!(matches!(t.try_acquire(), Err(TryAcquireError::NoPermits)));
    assert_times_out(SHORT, |_| t.acquire().wait_timeout(SHORT));
    // Deviation, documented: Python's release(0) raises ValueError ("n must
    // be one or more"); amphi's does nothing.
    t.release(0);
    assert_eq!(t.available(), 0);
    // t.release(3) -> _value 3
    t.release(3);
    assert_eq!(t.available(), 3);
}
