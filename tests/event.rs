//! Integration tests of `amphi::Event`: `set` wakes every waiter (threads and
//! tasks) in one call, waiters woken by `set` report `true` even if `clear`
//! follows (CPython issue 13502), timed waits on both sides, waits on a set
//! event, and dropped waiters.
//!
//! Every wait has a deadline: threads are joined through a channel with
//! `recv_timeout`, async bodies run under `tokio::time::timeout`, and blocking
//! waits use `wait_timeout`, so a lost wake-up fails instead of hanging.

use std::future::Future;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use amphi::Event;
use tokio_test::task::spawn;
use tokio_test::{assert_pending, assert_ready, assert_ready_eq};

/// The most any test waits for anything.
const LIMIT: Duration = Duration::from_secs(10);
/// A short timeout for "times out" cases.
const SHORT: Duration = Duration::from_millis(50);

/// A thread whose result is collected with a deadline.
struct Joiner<T> {
    rx: mpsc::Receiver<T>,
    handle: Option<thread::JoinHandle<()>>,
}

fn thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Joiner<T> {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    Joiner {
        rx,
        handle: Some(handle),
    }
}

impl<T> Joiner<T> {
    /// The thread's result; panics if it takes longer than `LIMIT`, and
    /// re-raises the thread's panic.
    fn join(mut self) -> T {
        match self.rx.recv_timeout(LIMIT) {
            Ok(v) => self.finish(v),
            Err(RecvTimeoutError::Timeout) => {
                panic!("thread did not finish within {LIMIT:?} (lost wake-up?)")
            }
            Err(RecvTimeoutError::Disconnected) => self.rethrow(),
        }
    }

    /// The result if the thread is done.
    fn try_join(&mut self) -> Option<T> {
        match self.rx.try_recv() {
            Ok(v) => {
                self.handle.take().unwrap().join().unwrap();
                Some(v)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => self.rethrow(),
        }
    }

    fn finish(mut self, v: T) -> T {
        self.handle.take().unwrap().join().unwrap();
        v
    }

    fn rethrow(&mut self) -> ! {
        match self.handle.take().unwrap().join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread sends before it ends"),
        }
    }
}

/// Runs `f` with the `LIMIT` deadline.
async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("async test did not finish in time (lost wake-up?)")
}

/// Joins a tokio task with the `LIMIT` deadline.
async fn join_task<T>(task: tokio::task::JoinHandle<T>) -> T {
    within(task).await.expect("task panicked")
}

/// Gives spawned threads a moment to reach their blocking wait. An `Event`
/// does not expose its waiters, so there is no state to check instead; the
/// tests stay correct (only less sharp) if a thread comes late.
fn let_threads_park() {
    thread::sleep(Duration::from_millis(30));
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

/// Waits on a set event return `true` at once, on every path.
#[tokio::test]
async fn wait_on_a_set_event_returns_at_once() {
    let ev = Event::new();
    ev.set();
    let start = Instant::now();
    assert!(ev.wait_blocking());
    assert!(ev.wait().wait());
    assert!(ev.wait().wait_timeout(Duration::ZERO));
    assert!(ev.wait().wait_timeout(LIMIT));
    assert!(ev.wait().wait_deadline(Instant::now() - SHORT));
    assert!(ev.wait().await);
    assert!(ev.wait().timeout(Duration::ZERO).await);
    assert!(ev.wait().timeout_at(Instant::now() - SHORT).await);
    let mut w = spawn(ev.wait());
    assert_ready_eq!(w.poll(), true);
    assert!(start.elapsed() < LIMIT / 2);
    assert!(ev.is_set(), "waiting must not clear the flag");
}

// ---------------------------------------------------------------------------
// set wakes all
// ---------------------------------------------------------------------------

/// Deterministic: many pending async waiters, one `set`, every one woken.
#[test]
fn set_wakes_every_pending_future() {
    let ev = Event::new();
    let mut ws: Vec<_> = (0..8).map(|_| spawn(ev.wait())).collect();
    for w in &mut ws {
        assert_pending!(w.poll());
    }
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
        let e = Arc::clone(&ev);
        let t1 = thread(move || e.wait_blocking());
        let e = Arc::clone(&ev);
        let t2 = thread(move || e.wait().wait_timeout(LIMIT));
        let e = Arc::clone(&ev);
        let t3 = thread(move || e.wait().wait_deadline(Instant::now() + LIMIT));
        let e = Arc::clone(&ev);
        let k1 = tokio::spawn(async move { e.wait().await });
        let e = Arc::clone(&ev);
        let k2 = tokio::spawn(async move { e.wait().timeout(LIMIT).await });
        let e = Arc::clone(&ev);
        let k3 = tokio::spawn(async move { e.wait().timeout_at(Instant::now() + LIMIT).await });
        let mut f1 = spawn(ev.wait());
        let mut f2 = spawn(ev.wait().timeout(LIMIT));
        assert_pending!(f1.poll());
        assert_pending!(f2.poll());
        let_threads_park();
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
            .map(|_| {
                let e = Arc::clone(&ev);
                thread(move || e.wait().wait_timeout(LIMIT))
            })
            .collect();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let e = Arc::clone(&ev);
                tokio::spawn(async move { e.wait().await })
            })
            .collect();
        tokio::task::yield_now().await; // the tasks start waiting
        let e = Arc::clone(&ev);
        thread(move || e.set()).join();
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
    let mut a = spawn(ev.wait());
    let mut b = spawn(ev.wait());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    ev.set();
    ev.clear();
    assert!(!ev.is_set());
    assert!(a.is_woken() && b.is_woken());
    assert_ready_eq!(a.poll(), true);
    assert_ready_eq!(b.poll(), true);
    // A waiter that starts after the clear waits for the next set.
    let mut c = spawn(ev.wait());
    assert_pending!(c.poll());
}

#[tokio::test]
async fn set_then_clear_still_reports_true_to_timed_futures() {
    let ev = Event::new();
    let mut a = spawn(ev.wait().timeout(SHORT));
    assert_pending!(a.poll());
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
        let e = Arc::clone(&ev);
        let mut waiter = thread(move || {
            if timed {
                e.wait().wait_timeout(LIMIT)
            } else {
                e.wait_blocking()
            }
        });
        let_threads_park();
        let deadline = Instant::now() + LIMIT;
        let woke = loop {
            ev.set();
            ev.clear();
            if let Some(r) = waiter.try_join() {
                break r;
            }
            assert!(Instant::now() < deadline, "the thread was never woken");
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
    let mut w = spawn(ev.wait());
    assert_pending!(w.poll());
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
    assert!(start.elapsed() < LIMIT / 2, "zero timeouts must not wait");
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
        let e = Arc::clone(&ev);
        let t1 = thread(move || {
            let start = Instant::now();
            (e.wait().wait_timeout(LIMIT), start.elapsed())
        });
        let e = Arc::clone(&ev);
        let t2 = thread(move || e.wait().wait_deadline(Instant::now() + LIMIT));
        let e = Arc::clone(&ev);
        join_task(tokio::spawn(async move { e.set() })).await;
        let (woke, elapsed) = t1.join();
        assert!(woke);
        assert!(elapsed < LIMIT);
        assert!(t2.join());
    })
    .await;
}

/// A task waits with a long async timeout; a thread sets the event in time.
#[tokio::test]
async fn timed_wait_set_in_time_async() {
    within(async {
        let ev = Arc::new(Event::new());
        let e = Arc::clone(&ev);
        let k1 = tokio::spawn(async move { e.wait().timeout(LIMIT).await });
        let e = Arc::clone(&ev);
        let k2 = tokio::spawn(async move { e.wait().timeout_at(Instant::now() + LIMIT).await });
        let e = Arc::clone(&ev);
        thread(move || e.set()).join();
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
        let e = Arc::clone(&ev);
        let t = thread(move || e.wait().wait_timeout(Duration::MAX));
        let e = Arc::clone(&ev);
        let k = tokio::spawn(async move { e.wait().timeout(Duration::MAX).await });
        ev.set();
        assert!(join_task(k).await);
        assert!(tokio::task::spawn_blocking(move || t.join()).await.unwrap());
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
    let mut a = spawn(ev.wait());
    let mut b = spawn(ev.wait());
    let mut c = spawn(ev.wait());
    for w in [&mut a, &mut b, &mut c] {
        assert_pending!(w.poll());
    }
    drop(a);
    ev.set();
    assert!(b.is_woken() && c.is_woken());
    drop(b); // woken, never polled again
    assert_ready_eq!(c.poll(), true);

    // Later waits and sets still work.
    assert!(ev.wait().wait());
    ev.clear();
    for _ in 0..100 {
        let mut w = spawn(ev.wait());
        assert_pending!(w.poll());
        drop(w);
    }
    let mut d = spawn(ev.wait());
    assert_pending!(d.poll());
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
            thread(move || (0..20).all(|_| !e.wait().wait_timeout(Duration::from_millis(1))))
                .join();
        assert!(timed_out);

        let e = Arc::clone(&ev);
        let t = thread(move || e.wait().wait_timeout(LIMIT));
        let mut w = spawn(ev.wait());
        assert_pending!(w.poll());
        ev.set();
        assert!(w.is_woken());
        assert_ready_eq!(w.poll(), true);
        assert!(tokio::task::spawn_blocking(move || t.join()).await.unwrap());
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
        let player = thread(move || {
            for i in 0..ROUNDS {
                // Alternate untimed and timed blocking waits.
                let woke = if i % 2 == 0 {
                    pi.wait_blocking()
                } else {
                    pi.wait().wait_timeout(LIMIT)
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
                pong.wait().timeout(LIMIT).await
            };
            assert!(woke, "round {i}: task not woken");
            pong.clear();
        }
        tokio::task::spawn_blocking(move || player.join())
            .await
            .unwrap();
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
            let e = Arc::clone(&ev);
            let t = thread(move || e.wait().wait_timeout(LIMIT));
            let e = Arc::clone(&ev);
            let k = tokio::spawn(async move { e.wait().await });
            let mut f = spawn(ev.wait());
            assert_pending!(f.poll());
            ev.set();
            assert_ready!(f.poll());
            assert!(join_task(k).await);
            assert!(tokio::task::spawn_blocking(move || t.join()).await.unwrap());
            ev.clear();
        }
    })
    .await;
}
