//! Regression tests from a second independent review of the
//! ThreadPoolExecutor. The `b*` tests each failed before their fix: a
//! cancelled job held its slot of a bounded queue; `cancelled()` could be
//! true while `done()` was still false; and a panic payload whose own drop
//! panics escaped the places that catch panics (a callback, a result's
//! drop, an initializer), stranding jobs or killing a worker. The `ok*`
//! tests pin down races the review found sound. Every wait has a deadline:
//! a regression fails, it never hangs.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use amphi::{Event, JobError, ReturnWhen, ThreadPoolExecutor, TrySubmitError};
use common::*;

/// A panic payload whose own Drop panics: `catch_unwind` hands it back,
/// and dropping it (`let _ = catch_unwind(..)`) panics again, outside the
/// catch.
struct PayloadBomb;
impl Drop for PayloadBomb {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic!("PayloadBomb dropped");
        }
    }
}

/// A job result whose Drop panics with a `PayloadBomb` payload.
struct ResultBomb;
impl Drop for ResultBomb {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic_any(PayloadBomb);
        }
    }
}

// ---------------------------------------------------------------------------
// b01: a queue bound counts cancelled jobs. `cancel()` leaves the dead Work
// in the job queue until a worker pops it, so with every worker busy a
// bounded pool refuses (try_submit: Full; submit: waits / times out) while
// stats().queued says 0 and the docs say "at most `bound` jobs wait".
// A Map dropped or timed out cancels its whole window: the same.
// ---------------------------------------------------------------------------

#[test]
fn b01_cancelled_jobs_hold_queue_bound_slots() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .queue_bound(2)
        .build()
        .unwrap();
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let a = pool.try_submit(|| 1).unwrap();
    let b = pool.try_submit(|| 2).unwrap();
    assert!(a.cancel() && b.cancel());
    assert_eq!(pool.stats().queued, 0, "cancelled jobs are not queued");
    let c = pool.try_submit(|| 3);
    let full = matches!(c, Err(TrySubmitError::Full(_)));
    // A timed blocking submit waits for room that only the busy worker
    // can make by popping the dead jobs.
    let d = pool.submit(|| 4).wait_timeout(Duration::from_millis(200));
    gate.open();
    busy.result().wait_timeout(DEADLINE).unwrap().unwrap();
    assert!(
        !full,
        "no job waits (stats().queued == 0) yet try_submit says Full: the two \
         cancelled jobs still fill the bound"
    );
    assert!(d.is_ok(), "a timed submit timed out with nothing queued");
}

/// The same through `map`: a map dropped early cancels its window, and the
/// next submitter is refused by the dead jobs.
#[test]
fn b01b_dropped_map_window_holds_queue_bound() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .queue_bound(4)
        .build()
        .unwrap();
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let m = pool.map_buffered(|x: u32| x, 0..100, 4);
    assert_eq!(m.in_flight(), 4);
    drop(m); // cancels the 4 queued jobs
    assert_eq!(pool.stats().queued, 0);
    let r = pool.try_submit(|| ());
    gate.open();
    busy.result().wait_timeout(DEADLINE).unwrap().unwrap();
    assert!(
        r.is_ok(),
        "the dropped map's cancelled jobs still fill the queue bound"
    );
}

// ---------------------------------------------------------------------------
// b02: a done callback that panics with a payload whose Drop panics.
// run_callback (job.rs) catches the first panic, and then drops the payload
// outside the catch: the second panic leaves Cell::finish half way.
// (a) in shutdown(cancel_futures): it escapes Inner::shutdown's loop
//     (mod.rs), so the later drained jobs are neither cancelled nor run
//     (waiters hang), and shutdown() itself panics.
// (b) on a worker: the later callbacks never run, and `idle()` (run after
//     the callbacks) is skipped.
// ---------------------------------------------------------------------------

#[test]
fn b02a_callback_payload_bomb_in_shutdown_cancel_strands_later_jobs() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let c1 = pool.try_submit(|| 1).unwrap();
    let c2 = pool.try_submit(|| 2).unwrap();
    c1.add_done_callback(|_| panic_any(PayloadBomb));
    let r = catch_unwind(AssertUnwindSafe(|| drop(pool.shutdown(true))));
    gate.open();
    busy.result().wait_timeout(DEADLINE).unwrap().unwrap();
    let out = c2.result().wait_timeout(DEADLINE);
    assert!(
        out.is_some(),
        "c2 was drained by shutdown(true) but never cancelled nor run: its waiters \
         hang (shutdown panicked: {}, stats {:?})",
        r.is_err(),
        pool.stats()
    );
    assert!(r.is_ok(), "a callback's panic escaped shutdown()");
}

#[test]
fn b02b_callback_payload_bomb_on_worker_skips_later_callbacks() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let g = gate.clone();
    let job = pool.try_submit(move || g.pass()).unwrap();
    let second = Arc::new(Event::new());
    let s = Arc::clone(&second);
    job.add_done_callback(|_| panic_any(PayloadBomb));
    job.add_done_callback(move |_| s.set());
    gate.open();
    job.result().wait_timeout(DEADLINE).unwrap().unwrap();
    assert!(
        second.wait().wait_timeout(DEADLINE),
        "the second done callback never ran (callback_panics = {})",
        pool.stats().callback_panics
    );
}

// ---------------------------------------------------------------------------
// b03: the worker loop's `let _ = catch_unwind(|| job.run(&idle))` (mod.rs
// `work`) drops the caught payload outside the catch. A result whose Drop
// panics with a PayloadBomb kills the worker after it already counted itself
// idle: the next submission takes that stale idle token, starts no thread,
// and its job waits forever.
// ---------------------------------------------------------------------------

#[test]
fn b03_payload_bomb_in_result_drop_kills_worker_next_job_stranded() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let g = gate.clone();
    let h = pool
        .try_submit(move || {
            g.pass();
            ResultBomb
        })
        .unwrap();
    drop(h); // the worker drops the last reference, and the result
    gate.open();
    wait_until("the job ran", || pool.stats().completed == 1);
    // Give the worker its chance to die (or to loop on).
    let probe = pool.try_submit(|| 1).unwrap();
    let r = probe.result().wait_timeout(DEADLINE);
    assert!(
        r.is_some(),
        "the only worker died; the next job took its stale idle token and \
         waits forever (stats {:?})",
        pool.stats()
    );
}

// ---------------------------------------------------------------------------
// b04: an initializer that panics with a PayloadBomb: `work` drops the
// payload (after formatting the message) before mark_broken, so the worker
// dies without breaking the pool; the queued job is never failed or run.
// ---------------------------------------------------------------------------

#[test]
fn b04_initializer_payload_bomb_kills_worker_without_breaking_pool() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .initializer(|| panic_any(PayloadBomb))
        .build()
        .unwrap();
    let job = pool.try_submit(|| 1).unwrap();
    let r = job.result().wait_timeout(DEADLINE);
    assert!(
        matches!(r, Some(Err(JobError::BrokenPool(_)))),
        "initializer panicked: the job should fail with BrokenPool, got {r:?} \
         (broken = {}, stats {:?})",
        pool.is_broken(),
        pool.stats()
    );
}

// ---------------------------------------------------------------------------
// b05: `cancelled()` / `try_result()` can be true/Some while `done()` is
// still false: Cell::finish sets the stage under the state lock, releases
// it, and only then sets the `done` Event (job.rs). Python changes _state
// and notifies under one condition, so cancelled() implies done().
// Statistical: watcher threads look while the main thread cancels.
// ---------------------------------------------------------------------------

#[test]
fn b05_cancelled_but_not_done() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let slot: Arc<Mutex<Option<amphi::JobHandle<u32>>>> = Arc::new(Mutex::new(None));
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicUsize::new(0));
    let watchers: Vec<_> = (0..2)
        .map(|_| {
            let slot = Arc::clone(&slot);
            let stop = Arc::clone(&stop);
            let seen = Arc::clone(&seen);
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let h = slot.lock().unwrap().clone();
                    if let Some(h) = h {
                        for _ in 0..64 {
                            if h.cancelled() && !h.done() {
                                seen.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(3) && seen.load(Ordering::Relaxed) == 0 {
        let h = pool.try_submit(|| 0u32).unwrap();
        *slot.lock().unwrap() = Some(h.clone());
        // let the watchers pick it up
        thread::yield_now();
        assert!(h.cancel());
        n += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for w in watchers {
        w.join().unwrap();
    }
    gate.open();
    busy.result().wait_timeout(DEADLINE).unwrap().unwrap();
    assert_eq!(
        seen.load(Ordering::Relaxed),
        0,
        "a handle was cancelled() but not done() ({n} cancels)"
    );
}

// ---------------------------------------------------------------------------
// ok*: suspected races that hold up (deterministic poll tests and storms).
// ---------------------------------------------------------------------------

/// A watcher that gives up while its hook may be running, over and over:
/// no completion is counted twice, none is missed, no hook stays behind.
#[test]
fn ok01_wait_timeouts_racing_completions_count_each_once() {
    let pool = ThreadPoolExecutor::new(4);
    for round in 0..300 {
        let barrier = Arc::new(Barrier::new(2));
        let b = Arc::clone(&barrier);
        let h = pool
            .try_submit(move || {
                b.wait();
                round
            })
            .unwrap();
        let other = pool.try_submit(|| 0).unwrap();
        let w = amphi::wait([h.clone(), other.clone()], ReturnWhen::AllCompleted);
        barrier.wait();
        let got = w.wait_timeout(Duration::from_micros(50));
        assert_eq!(got.done.len() + got.not_done.len(), 2);
        for x in got.done.iter() {
            assert!(x.done());
        }
        // as_completed right after: every handle exactly once
        let mut it = amphi::as_completed([h.clone(), other.clone()]).timeout(DEADLINE);
        let a = it.next().unwrap().unwrap();
        let b = it.next().unwrap().unwrap();
        assert!(!a.same_job(&b));
        assert!(it.next().is_none());
        assert_eq!(h.result_blocking().unwrap(), round);
    }
}

/// as_completed's stream never returns Pending without a waker in place:
/// poll to Pending, then a cancel (hook) wakes it; with a deadline, the
/// timer wakes it.
#[tokio::test(flavor = "current_thread")]
async fn ok02_as_completed_stream_wakes() {
    use futures::StreamExt;
    use tokio_test::{assert_pending, assert_ready, task};
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let g = gate.clone();
    let busy = pool.try_submit(move || g.pass()).unwrap();
    let queued = pool.try_submit(|| 5).unwrap();
    let mut s = amphi::as_completed([queued.clone()]).stream();
    let mut next = task::spawn(s.next());
    assert_pending!(next.poll());
    assert!(queued.cancel());
    assert!(next.is_woken());
    let h = assert_ready!(next.poll()).unwrap().unwrap();
    assert!(h.cancelled());
    drop(next);
    // With a deadline and nothing done: the timer must wake it.
    let mut s2 = amphi::as_completed([busy.clone()])
        .timeout(Duration::from_millis(30))
        .stream();
    let r = tokio::time::timeout(DEADLINE, s2.next()).await.unwrap();
    assert!(r.unwrap().is_err());
    gate.open();
    tokio::time::timeout(DEADLINE, busy).await.unwrap().unwrap();
}

/// A job whose closure drops the last owner of its pool, another that shuts
/// its pool down with cancel_futures, one that cancels itself: the worker
/// survives, the queued jobs are cancelled, `exited` is set.
#[test]
fn ok03_job_drops_or_shuts_down_its_own_pool() {
    let pool = Arc::new(ThreadPoolExecutor::new(1));
    let me: Arc<Mutex<Option<amphi::JobHandle<bool>>>> = Arc::new(Mutex::new(None));
    let me2 = Arc::clone(&me);
    let go = Gate::new();
    let g = go.clone();
    let p = Arc::clone(&pool);
    let first = pool
        .try_submit(move || {
            g.pass();
            let own = me2.lock().unwrap().take().unwrap();
            let cancelled_self = own.cancel();
            p.shutdown_blocking(true); // own worker: returns at once
            drop(p);
            cancelled_self
        })
        .unwrap();
    *me.lock().unwrap() = Some(first.clone());
    let later = pool.try_submit(|| true).unwrap();
    go.open();
    assert!(!first.result().wait_timeout(DEADLINE).unwrap().unwrap());
    assert!(matches!(
        later.result().wait_timeout(DEADLINE),
        Some(Err(JobError::Cancelled))
    ));
    assert!(pool.shutdown(false).wait_timeout(DEADLINE));
    assert_eq!(pool.stats().threads, 0);
}

/// b05b: the same skew seen by a thread's *own* call: a second `cancel()`
/// that returns true (it saw `Done(Cancelled)` under the lock) is followed
/// by `done() == false`; and a done callback added in that window runs at
/// once and sees `done() == false` (the add_done_callback doc's example
/// stores `h.done()`).
#[test]
fn b05b_own_cancel_true_then_not_done_and_callback_sees_not_done() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let slot: Arc<Mutex<Option<amphi::JobHandle<u32>>>> = Arc::new(Mutex::new(None));
    let stop = Arc::new(AtomicBool::new(false));
    let after_cancel = Arc::new(AtomicUsize::new(0));
    let in_callback = Arc::new(AtomicUsize::new(0));
    let watchers: Vec<_> = (0..2)
        .map(|_| {
            let slot = Arc::clone(&slot);
            let stop = Arc::clone(&stop);
            let after_cancel = Arc::clone(&after_cancel);
            let in_callback = Arc::clone(&in_callback);
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let h = slot.lock().unwrap().clone();
                    if let Some(h) = h {
                        let ic = Arc::clone(&in_callback);
                        h.add_done_callback(move |h| {
                            if !h.done() {
                                ic.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                        if h.cancel() && !h.done() {
                            after_cancel.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3)
        && (after_cancel.load(Ordering::Relaxed) == 0 || in_callback.load(Ordering::Relaxed) == 0)
    {
        let h = pool.try_submit(|| 0u32).unwrap();
        *slot.lock().unwrap() = Some(h.clone());
        thread::yield_now();
        h.cancel();
    }
    stop.store(true, Ordering::Relaxed);
    for w in watchers {
        w.join().unwrap();
    }
    gate.open();
    busy.result().wait_timeout(DEADLINE).unwrap().unwrap();
    assert_eq!(
        (
            after_cancel.load(Ordering::Relaxed),
            in_callback.load(Ordering::Relaxed)
        ),
        (0, 0),
        "(cancel() returned true then done() was false, a done callback saw done() false)"
    );
}

/// MapStream waiting for room in a full bounded queue registers a waker:
/// it wakes when a worker makes room, and then yields in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn ok04_map_stream_waiting_for_room_is_woken() {
    use futures::StreamExt;
    use tokio_test::{assert_pending, task};
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .queue_bound(1)
        .build()
        .unwrap();
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let filler = pool.try_submit(|| 0u32).unwrap(); // queue full
    let mut s = pool.map_buffered(|x: u32| x * 10, 1..=3, 2).stream();
    {
        let mut next = task::spawn(s.next());
        assert_pending!(next.poll());
        gate.open();
        let start = Instant::now();
        while !next.is_woken() {
            assert!(start.elapsed() < DEADLINE, "never woken for room");
            std::thread::yield_now();
        }
        // Woken: ready now or after the job runs.
        let r = loop {
            if let std::task::Poll::Ready(r) = next.poll() {
                break r;
            }
            let start = Instant::now();
            while !next.is_woken() {
                assert!(start.elapsed() < DEADLINE, "never woken for the result");
                std::thread::yield_now();
            }
        };
        assert_eq!(r.unwrap().unwrap(), 10);
    }
    let rest: Vec<u32> = tokio::time::timeout(DEADLINE, s.map(Result::unwrap).collect())
        .await
        .unwrap();
    assert_eq!(rest, [20, 30]);
    busy.result().wait_timeout(DEADLINE).unwrap().unwrap();
    filler.result().wait_timeout(DEADLINE).unwrap().unwrap();
}
