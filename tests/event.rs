//! Integration tests of `amphi::Event`: `set` wakes every waiter (threads and
//! tasks) in one call, waiters woken by `set` report `true` even if `clear`
//! follows (CPython issue 13502), timed waits on both sides, waits on a set
//! event, and dropped waiters.
//!
//! Every wait has a deadline: threads are joined through a channel with
//! `recv_timeout`, async bodies run under `tokio::time::timeout`, and blocking
//! waits use `wait_timeout`, so a lost wake-up fails instead of hanging.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use amphi::Event;
use common::{
    DEADLINE, Joiner, SHORT, deadline, join_task, let_thread_block, spawn_pending, spawn_thread,
    within,
};
use tokio::task::JoinHandle;
use tokio_test::task::spawn;
use tokio_test::{assert_pending, assert_ready, assert_ready_eq};

/// Runs `f` on a new thread, with the event.
fn on_thread<T: Send + 'static>(
    ev: &Arc<Event>,
    f: impl FnOnce(&Event) -> T + Send + 'static,
) -> Joiner<T> {
    let e = Arc::clone(ev);
    spawn_thread(move || f(&e))
}

/// Runs `f`'s future in a new task, with the event.
fn on_task<F>(ev: &Arc<Event>, f: impl FnOnce(Arc<Event>) -> F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(f(Arc::clone(ev)))
}

// ---------------------------------------------------------------------------
// Basics
// ---------------------------------------------------------------------------

#[test]
fn flag_set_clear_is_set() {
    static EV: Event = Event::new();
    assert!(!EV.is_set());
    EV.set();
    assert!(EV.is_set());
    EV.set(); // idempotent
    assert!(EV.is_set());
    EV.clear();
    assert!(!EV.is_set());
    EV.clear();
    assert!(!EV.is_set());
    assert!(!Event::default().is_set());
}

/// Waits on a set event return `true` at once, on every path. (Multi-thread:
/// the blocking waits refuse to run inside a current-thread runtime.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_on_a_set_event_returns_at_once() {
    let ev = Event::new();
    ev.set();
    let start = Instant::now();
    assert!(ev.wait_blocking());
    assert!(ev.wait().wait());
    assert!(ev.wait().wait_timeout(Duration::ZERO));
    assert!(ev.wait().wait_timeout(DEADLINE));
    assert!(ev.wait().wait_deadline(Instant::now() - SHORT));
    assert!(ev.wait().await);
    assert!(ev.wait().timeout(Duration::ZERO).await);
    assert!(ev.wait().timeout_at(Instant::now() - SHORT).await);
    let mut w = spawn(ev.wait());
    assert_ready_eq!(w.poll(), true);
    assert!(start.elapsed() < DEADLINE / 2);
    assert!(ev.is_set(), "waiting must not clear the flag");
}

// ---------------------------------------------------------------------------
// set wakes all
// ---------------------------------------------------------------------------

/// Deterministic: many pending async waiters, one `set`, every one woken.
#[test]
fn set_wakes_every_pending_future() {
    let ev = Event::new();
    let mut ws: Vec<_> = (0..8).map(|_| spawn_pending(ev.wait())).collect();
    assert!(ws.iter().all(|w| !w.is_woken()));
    ev.set();
    for w in &mut ws {
        assert!(w.is_woken(), "set() missed a waiter");
        assert_ready_eq!(w.poll(), true);
    }
}

/// Three threads (untimed, timed, deadline), three tasks and two hand-polled
/// futures wait; one `set` call wakes them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_wakes_all_threads_and_tasks_in_one_call() {
    within(async {
        let ev = Arc::new(Event::new());
        let t1 = on_thread(&ev, |e| e.wait_blocking());
        let t2 = on_thread(&ev, |e| e.wait().wait_timeout(DEADLINE));
        let t3 = on_thread(&ev, |e| e.wait().wait_deadline(deadline()));
        let k1 = on_task(&ev, |e| async move { e.wait().await });
        let k2 = on_task(&ev, |e| async move { e.wait().timeout(DEADLINE).await });
        let k3 = on_task(
            &ev,
            |e| async move { e.wait().timeout_at(deadline()).await },
        );
        let mut f1 = spawn_pending(ev.wait());
        let mut f2 = spawn_pending(ev.wait().timeout(DEADLINE));
        let_thread_block();
        assert!(!ev.is_set());

        ev.set();

        assert!(f1.is_woken() && f2.is_woken());
        assert_ready_eq!(f1.poll(), true);
        assert_ready_eq!(f2.poll(), true);
        for k in [k1, k2, k3] {
            assert!(join_task(k).await);
        }
        for t in [t1, t2, t3] {
            assert!(t.join());
        }
    })
    .await;
}

/// Many threads and tasks from a current-thread runtime, set by a thread.
#[tokio::test]
async fn set_from_a_thread_wakes_tasks_and_threads() {
    within(async {
        let ev = Arc::new(Event::new());
        let threads: Vec<_> = (0..4)
            .map(|_| on_thread(&ev, |e| e.wait().wait_timeout(DEADLINE)))
            .collect();
        let tasks: Vec<_> = (0..16)
            .map(|_| on_task(&ev, |e| async move { e.wait().await }))
            .collect();
        tokio::task::yield_now().await; // the tasks start waiting
        on_thread(&ev, |e| e.set()).join();
        for t in tasks {
            assert!(join_task(t).await);
        }
        for t in threads {
            assert!(t.join());
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// set then clear before the waiters run (CPython issue 13502)
// ---------------------------------------------------------------------------

#[test]
fn set_then_clear_still_reports_true_to_woken_futures() {
    let ev = Event::new();
    let mut a = spawn_pending(ev.wait());
    let mut b = spawn_pending(ev.wait());
    ev.set();
    ev.clear();
    assert!(!ev.is_set());
    assert!(a.is_woken() && b.is_woken());
    assert_ready_eq!(a.poll(), true);
    assert_ready_eq!(b.poll(), true);
    // A waiter that starts after the clear waits for the next set.
    let _later = spawn_pending(ev.wait());
}

#[tokio::test]
async fn set_then_clear_still_reports_true_to_timed_futures() {
    let ev = Event::new();
    let mut a = spawn_pending(ev.wait().timeout(SHORT));
    ev.set();
    ev.clear();
    // Even if the deadline passes before the waiter runs.
    tokio::time::sleep(2 * SHORT).await;
    assert!(a.is_woken());
    assert_ready_eq!(a.poll(), true);
}

/// A blocked thread must not be stranded by a `set` that is cleared at once.
/// Pulses (set + clear) until the thread returns; it must return `true`.
#[test]
fn set_then_clear_never_strands_a_blocked_thread() {
    for timed in [false, true] {
        let ev = Arc::new(Event::new());
        let mut waiter = on_thread(&ev, move |e| {
            if timed {
                e.wait().wait_timeout(DEADLINE)
            } else {
                e.wait_blocking()
            }
        });
        let_thread_block();
        let give_up = deadline();
        let woke = loop {
            ev.set();
            ev.clear();
            if let Some(r) = waiter.try_join() {
                break r;
            }
            assert!(Instant::now() < give_up, "the thread was never woken");
            thread::sleep(Duration::from_millis(5));
        };
        assert!(woke);
        assert!(!ev.is_set());
    }
}

/// `clear` does not wake anyone; waiters keep waiting for the next `set`.
#[test]
fn clear_leaves_waiters_waiting() {
    let ev = Event::new();
    let mut w = spawn_pending(ev.wait());
    ev.clear();
    assert!(!w.is_woken());
    assert_pending!(w.poll());
    ev.set();
    assert!(w.is_woken());
    assert_ready_eq!(w.poll(), true);
}

// ---------------------------------------------------------------------------
// Timed waits
// ---------------------------------------------------------------------------

#[test]
fn timed_wait_times_out_blocking() {
    let ev = Event::new();
    let start = Instant::now();
    assert!(!ev.wait().wait_timeout(SHORT));
    assert!(
        start.elapsed() >= SHORT,
        "returned early: {:?}",
        start.elapsed()
    );

    let start = Instant::now();
    assert!(!ev.wait().wait_deadline(start + SHORT));
    assert!(start.elapsed() >= SHORT);

    let start = Instant::now();
    assert!(!ev.wait().wait_timeout(Duration::ZERO));
    assert!(!ev.wait().wait_deadline(start - SHORT));
    assert!(
        start.elapsed() < DEADLINE / 2,
        "zero timeouts must not wait"
    );
}

#[tokio::test]
async fn timed_wait_times_out_async() {
    within(async {
        let ev = Event::new();
        let start = Instant::now();
        assert!(!ev.wait().timeout(SHORT).await);
        assert!(
            start.elapsed() >= SHORT,
            "returned early: {:?}",
            start.elapsed()
        );

        let start = Instant::now();
        assert!(!ev.wait().timeout_at(start + SHORT).await);
        assert!(start.elapsed() >= SHORT);

        assert!(!ev.wait().timeout(Duration::ZERO).await);
        assert!(!ev.wait().timeout_at(Instant::now() - SHORT).await);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_wait_times_out_async_multi_thread() {
    within(async {
        let ev = Event::new();
        let start = Instant::now();
        assert!(!ev.wait().timeout(SHORT).await);
        assert!(start.elapsed() >= SHORT);
    })
    .await;
}

/// A thread waits with a long timeout; a task sets the event in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_wait_set_in_time_blocking() {
    within(async {
        let ev = Arc::new(Event::new());
        let t1 = on_thread(&ev, |e| {
            let start = Instant::now();
            (e.wait().wait_timeout(DEADLINE), start.elapsed())
        });
        let t2 = on_thread(&ev, |e| e.wait().wait_deadline(deadline()));
        join_task(on_task(&ev, |e| async move { e.set() })).await;
        let (woke, elapsed) = t1.join();
        assert!(woke);
        assert!(elapsed < DEADLINE);
        assert!(t2.join());
    })
    .await;
}

/// A task waits with a long async timeout; a thread sets the event in time.
#[tokio::test]
async fn timed_wait_set_in_time_async() {
    within(async {
        let ev = Arc::new(Event::new());
        let k1 = on_task(&ev, |e| async move { e.wait().timeout(DEADLINE).await });
        let k2 = on_task(
            &ev,
            |e| async move { e.wait().timeout_at(deadline()).await },
        );
        on_thread(&ev, |e| e.set()).join();
        assert!(join_task(k1).await);
        assert!(join_task(k2).await);
    })
    .await;
}

/// A timeout too large for `Instant` means "wait forever", on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_timeouts_saturate() {
    within(async {
        let ev = Arc::new(Event::new());
        let t = on_thread(&ev, |e| e.wait().wait_timeout(Duration::MAX));
        let k = on_task(
            &ev,
            |e| async move { e.wait().timeout(Duration::MAX).await },
        );
        ev.set();
        assert!(join_task(k).await);
        assert!(t.join_async().await);
    })
    .await;
}

// ---------------------------------------------------------------------------
// Dropped waiters
// ---------------------------------------------------------------------------

#[test]
fn dropping_pending_waiters_is_harmless() {
    let ev = Event::new();

    // Dropped before being polled, while pending, and after being woken.
    drop(ev.wait());
    let a = spawn_pending(ev.wait());
    let b = spawn_pending(ev.wait());
    let mut c = spawn_pending(ev.wait());
    drop(a);
    ev.set();
    assert!(b.is_woken() && c.is_woken());
    drop(b); // woken, never polled again
    assert_ready_eq!(c.poll(), true);

    // Later waits and sets still work.
    assert!(ev.wait().wait());
    ev.clear();
    for _ in 0..100 {
        let w = spawn_pending(ev.wait());
        drop(w);
    }
    let mut d = spawn_pending(ev.wait());
    ev.set();
    assert!(
        d.is_woken(),
        "dropped waiters broke the wake-up of a live one"
    );
    assert_ready_eq!(d.poll(), true);
}

/// Cancelled async waits (timeout, select) and timed-out blocking waits leave
/// nothing behind that stops a later `set` from waking a waiter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_and_timed_out_waiters_leave_the_event_working() {
    within(async {
        let ev = Arc::new(Event::new());
        for _ in 0..20 {
            assert!(
                tokio::time::timeout(Duration::from_millis(1), ev.wait())
                    .await
                    .is_err()
            );
            assert!(!ev.wait().timeout(Duration::from_millis(1)).await);
            tokio::select! {
                biased;
                _ = ev.wait() => panic!("the event is not set"),
                _ = tokio::task::yield_now() => {}
            }
        }
        let e = Arc::clone(&ev);
        let timed_out =
            spawn_thread(move || (0..20).all(|_| !e.wait().wait_timeout(Duration::from_millis(1))))
                .join();
        assert!(timed_out);

        let t = on_thread(&ev, |e| e.wait().wait_timeout(DEADLINE));
        let mut w = spawn_pending(ev.wait());
        ev.set();
        assert!(w.is_woken());
        assert_ready_eq!(w.poll(), true);
        assert!(t.join_async().await);
    })
    .await;
}

// ---------------------------------------------------------------------------
// Many rounds, both worlds
// ---------------------------------------------------------------------------

/// A thread and a task hand the turn back and forth through two events, each
/// clearing its own event before setting the other's: no round may hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_pong_thread_and_task() {
    const ROUNDS: usize = 300;
    within(async {
        let ping = Arc::new(Event::new());
        let pong = Arc::new(Event::new());
        let (pi, po) = (Arc::clone(&ping), Arc::clone(&pong));
        let player = spawn_thread(move || {
            for i in 0..ROUNDS {
                // Alternate untimed and timed blocking waits.
                let woke = if i % 2 == 0 {
                    pi.wait_blocking()
                } else {
                    pi.wait().wait_timeout(DEADLINE)
                };
                assert!(woke, "round {i}: thread not woken");
                pi.clear();
                po.set();
            }
        });
        for i in 0..ROUNDS {
            ping.set();
            let woke = if i % 2 == 0 {
                pong.wait().await
            } else {
                pong.wait().timeout(DEADLINE).await
            };
            assert!(woke, "round {i}: task not woken");
            pong.clear();
        }
        player.join_async().await;
        assert!(!ping.is_set() && !pong.is_set());
    })
    .await;
}

/// Repeated set/clear cycles with fresh waiters from both worlds each cycle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_cycles_wake_every_waiter() {
    within(async {
        let ev = Arc::new(Event::new());
        for _ in 0..50 {
            let t = on_thread(&ev, |e| e.wait().wait_timeout(DEADLINE));
            let k = on_task(&ev, |e| async move { e.wait().await });
            let mut f = spawn_pending(ev.wait());
            ev.set();
            assert_ready!(f.poll());
            assert!(join_task(k).await);
            assert!(t.join_async().await);
            ev.clear();
        }
    })
    .await;
}

/// A wait first polled from a task and then driven by blocking still reports
/// a `set` that came in between, even after a `clear`.
#[test]
fn set_survives_switching_from_polling_to_blocking() {
    use futures::FutureExt;
    use std::task::{Context, Poll};

    let ev = amphi::Event::new();
    let mut fut = ev.wait();
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(matches!(fut.poll_unpin(&mut cx), Poll::Pending));
    ev.set();
    ev.clear();
    assert!(
        fut.wait_timeout(std::time::Duration::from_secs(5)),
        "woken by set, but reported false"
    );
}
