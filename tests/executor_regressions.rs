//! Regression tests from an independent review of the ThreadPoolExecutor:
//! each section's comment says what the bug was; each test failed before
//! its fix. Every wait has a deadline: a regression fails, it never hangs.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use amphi::{ReturnWhen, ThreadPoolExecutor};
use common::*;

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/// Panics when dropped (unless already unwinding).
struct Bomb;
impl Drop for Bomb {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic!("Bomb dropped");
        }
    }
}

// ---------------------------------------------------------------------------
// r01: a Submit dropped before it went in decrements `queued` anyway
// ---------------------------------------------------------------------------

#[test]
fn r01_dropped_unpolled_submit_drifts_queued_count() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    // Never polled: its job never went in, never counted as queued.
    drop(pool.submit(|| ()));
    drop(pool.submit(|| ()));
    let queued = pool.try_submit(|| ()).unwrap();
    let seen = pool.stats().queued;
    gate.open();
    busy.result().wait_timeout(DEADLINE).unwrap().unwrap();
    queued.result().wait_timeout(DEADLINE).unwrap().unwrap();
    assert_eq!(
        seen, 1,
        "one job waits behind the busy worker, stats().queued says {seen}"
    );
}

// ---------------------------------------------------------------------------
// r02: the idle token is given before the callbacks run: a callback that
// submits and waits finds "an idle worker" (itself) and deadlocks, where
// Python starts a second thread.
// ---------------------------------------------------------------------------

#[test]
fn r02_callback_that_submits_and_waits_deadlocks() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let gate = Gate::new();
    let g = gate.clone();
    let a = pool.try_submit(move || g.pass()).unwrap();
    let out = Arc::new(Mutex::new(None));
    let (p, o) = (Arc::clone(&pool), Arc::clone(&out));
    a.add_done_callback(move |_| {
        let b = p.try_submit(|| 42).unwrap();
        *o.lock().unwrap() = Some(b.result().wait_timeout(DEADLINE).map(Result::unwrap));
    });
    gate.open();
    a.finished().wait_timeout(DEADLINE);
    wait_until("the callback finished", || out.lock().unwrap().is_some());
    let got = out.lock().unwrap().take().unwrap();
    assert_eq!(
        got,
        Some(42),
        "job B, submitted from A's done callback with max_workers=2, never ran \
         (threads = {})",
        pool.stats().threads
    );
}

// ---------------------------------------------------------------------------
// r03: a result whose Drop panics, with every handle gone, kills the worker
// thread outside any catch_unwind: `threads` is never decremented, so with
// max_workers=1 every later job waits forever.
// ---------------------------------------------------------------------------

#[test]
fn r03_panicking_result_drop_kills_the_worker() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let g = gate.clone();
    let h = pool
        .try_submit(move || {
            g.pass();
            Bomb
        })
        .unwrap();
    drop(h); // fire and forget: the worker holds the last reference
    gate.open();
    thread::sleep(Duration::from_millis(100));
    let next = pool.try_submit(|| 7).unwrap();
    let r = next.result().wait_timeout(DEADLINE);
    assert!(
        r.is_some(),
        "the only worker died; the next job waits forever (stats: {:?})",
        pool.stats()
    );
}

// ---------------------------------------------------------------------------
// r04: shutdown(cancel_futures) drops the first cancelled closure, whose
// Drop panics: the panic leaves shutdown with the other drained jobs neither
// run nor cancelled, and their waiters hang.
// ---------------------------------------------------------------------------

#[test]
fn r04_panicking_closure_drop_in_shutdown_cancel_strands_later_jobs() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let bomb = Bomb;
    let c1 = pool
        .try_submit(move || {
            let _b = &bomb;
        })
        .unwrap();
    let c2 = pool.try_submit(|| 2).unwrap();
    // The closure's drop panics (the panic hook reports it); the shutdown
    // goes on cancelling the rest.
    let r = catch_unwind(AssertUnwindSafe(|| drop(pool.shutdown(true))));
    gate.open();
    busy.result().wait_timeout(DEADLINE).unwrap().unwrap();
    assert!(c1.cancelled());
    assert!(r.is_ok(), "a closure's panicking drop escaped the shutdown");
    assert!(c2.cancelled(), "the shutdown cancelled every queued job");
    let out = c2.result().wait_timeout(DEADLINE);
    assert!(
        out.is_some(),
        "c2 was drained by shutdown(true) but neither cancelled nor run: its \
         waiters hang forever (done = {}, stats = {:?})",
        c2.done(),
        pool.stats()
    );
}

// ---------------------------------------------------------------------------
// r05: the pool breaks; failing the first queued job drops its closure, whose
// Drop panics in the worker thread inside mark_broken: the later queued jobs
// are never failed, and the worker never calls exit(), so `exited` is never
// set and shutdown().wait() hangs.
// ---------------------------------------------------------------------------

#[test]
fn r05_panicking_closure_drop_when_pool_breaks_strands_jobs_and_shutdown() {
    let gate = Gate::new();
    let g = gate.clone();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .try_initializer(move || {
            g.pass();
            Err::<(), _>("no database")
        })
        .build()
        .unwrap();
    let bomb = Bomb;
    let j1 = pool
        .try_submit(move || {
            let _b = &bomb;
        })
        .unwrap();
    let j2 = pool.try_submit(|| 2).unwrap();
    gate.open();
    let mut problems = Vec::new();
    if j2.result().wait_timeout(DEADLINE).is_none() {
        problems.push(format!(
            "j2 never failed with BrokenPool (j1 done = {}, stats = {:?})",
            j1.done(),
            pool.stats()
        ));
    }
    if !pool.shutdown(false).wait_timeout(DEADLINE) {
        problems.push(format!(
            "shutdown never joined: the dead worker is still counted (stats = {:?})",
            pool.stats()
        ));
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

// ---------------------------------------------------------------------------
// r06: a NUL in the thread name prefix: std's spawn panics (under the pool
// lock, after the job went in): the submitter gets an undocumented panic and
// the job is left queued with no worker.
// ---------------------------------------------------------------------------

#[test]
fn r06_nul_in_thread_name_prefix() {
    // Was: accepted by `build`, then std's spawn panicked in the first
    // submit, under the pool lock, leaving the job queued with no worker.
    let e = ThreadPoolExecutor::builder()
        .thread_name_prefix("a\0b")
        .build()
        .unwrap_err();
    assert_eq!(e, amphi::BuildError::NulInThreadName);
}

// ---------------------------------------------------------------------------
// r07: a submission takes an idle token; the job is cancelled before the
// idle worker pops it; the worker pops the cancelled job and gives no token
// back: the idle worker is forgotten and the next job starts a new thread.
// Python puts the idle count back (the worker finds the queue empty).
// ---------------------------------------------------------------------------

#[test]
fn r07_cancelled_job_loses_idle_token_spawns_extra_threads() {
    let pool = ThreadPoolExecutor::new(8);
    pool.try_submit(|| ())
        .unwrap()
        .result()
        .wait_timeout(DEADLINE)
        .unwrap()
        .unwrap();
    thread::sleep(Duration::from_millis(20));
    let mut cancelled = 0;
    for _ in 0..30 {
        let h = pool.try_submit(|| ()).unwrap();
        if h.cancel() {
            cancelled += 1;
        }
        thread::sleep(Duration::from_millis(5));
        pool.try_submit(|| ())
            .unwrap()
            .result()
            .wait_timeout(DEADLINE)
            .unwrap()
            .unwrap();
        thread::sleep(Duration::from_millis(5));
    }
    let s = pool.stats();
    assert_eq!(
        s.threads, 1,
        "one job at a time, {cancelled} cancels: every job could run on the one \
         idle worker, yet {} threads were started",
        s.threads
    );
}

// ---------------------------------------------------------------------------
// r08: as_completed / wait hear of a job only after the callbacks that were
// added before them: a slow (or blocking) done callback delays them, where
// Python notifies its waiters before it runs the callbacks.
// ---------------------------------------------------------------------------

#[test]
fn r08_as_completed_waits_for_earlier_callbacks() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let g = gate.clone();
    let a = pool.try_submit(move || g.pass()).unwrap();
    a.add_done_callback(|_| thread::sleep(Duration::from_millis(800)));
    let mut it = amphi::as_completed([a.clone()]).timeout(DEADLINE);
    let opener = {
        let gate = gate.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            gate.open();
        })
    };
    let t0 = Instant::now();
    assert!(it.next().unwrap().is_ok());
    let took = t0.elapsed();
    opener.join().unwrap();
    assert!(
        took < Duration::from_millis(500),
        "as_completed yielded the job {took:?} after the gate opened (the job was done \
         after ~50 ms; an earlier slow callback held the notice back)"
    );
}

#[test]
fn r08b_cancel_is_not_seen_at_once_by_wait() {
    // JobHandle::cancel docs: "every waiter (.., `wait`, `as_completed`) sees
    // it cancelled at once".
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let q = pool.try_submit(|| ()).unwrap();
    q.add_done_callback(|_| thread::sleep(Duration::from_millis(800)));
    let q2 = q.clone();
    let waiter = thread::spawn(move || {
        let t0 = Instant::now();
        let w = amphi::wait([q2], ReturnWhen::FirstCompleted).wait_timeout(DEADLINE);
        (t0.elapsed(), w.done.len())
    });
    thread::sleep(Duration::from_millis(50));
    let canceller = thread::spawn(move || q.cancel());
    thread::sleep(Duration::from_millis(20));
    let (took, done) = waiter.join().unwrap();
    assert!(canceller.join().unwrap());
    gate.open();
    busy.result().wait_timeout(DEADLINE).unwrap().unwrap();
    assert_eq!(done, 1);
    assert!(
        took < Duration::from_millis(500),
        "wait saw the cancel only after {took:?}"
    );
}

// ---------------------------------------------------------------------------
// r10: Python treats an empty thread_name_prefix as "use the default"
// (`thread_name_prefix or "ThreadPoolExecutor-%d"`).
// ---------------------------------------------------------------------------

#[test]
fn r10_empty_prefix_is_pythons_default() {
    let pool = ThreadPoolExecutor::builder()
        .thread_name_prefix("")
        .build()
        .unwrap();
    let name = pool
        .try_submit(|| thread::current().name().map(str::to_owned))
        .unwrap()
        .result()
        .wait_timeout(DEADLINE)
        .unwrap()
        .unwrap();
    assert!(
        name.as_deref()
            .is_some_and(|n| n.starts_with("ThreadPoolExecutor-")),
        "name = {name:?} (Python: ThreadPoolExecutor-N_0)"
    );
}

// ---------------------------------------------------------------------------
// r11: DESIGN 6b: a blocking call fails the same way whatever the timeout.
// AsCompleted::next on a current-thread runtime panics with a long timeout
// but not with an expired one.
// ---------------------------------------------------------------------------

#[test]
fn r11_as_completed_next_on_current_thread_runtime_depends_on_timeout() {
    let pool = ThreadPoolExecutor::new(1);
    let h = pool.try_submit(|| 1).unwrap();
    h.finished().wait_timeout(DEADLINE);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (expired, long) = rt.block_on(async {
        let a = catch_unwind(AssertUnwindSafe(|| {
            amphi::as_completed([h.clone()])
                .timeout(Duration::ZERO)
                .next()
        }))
        .is_ok();
        let b = catch_unwind(AssertUnwindSafe(|| {
            amphi::as_completed([h.clone()]).timeout(DEADLINE).next()
        }))
        .is_ok();
        (a, b)
    });
    assert_eq!(
        expired, long,
        "expired timeout: no panic = {expired}; long timeout: no panic = {long}"
    );
}

// ---------------------------------------------------------------------------
// r12: a Map stream that gives up waiting for room (timeout) drops its
// pending Submit: the same `queued` drift as r01, through map.
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r12_map_stream_timeout_waiting_for_room_drifts_queued() {
    use futures::StreamExt;
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .queue_bound(1)
        .build()
        .unwrap();
    let gate = Gate::new();
    let g = gate.clone();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let busy = pool
        .try_submit(move || {
            s.store(true, Ordering::SeqCst);
            g.pass()
        })
        .unwrap();
    while !started.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let filler = pool.try_submit(|| ()).unwrap(); // the queue is full now
    {
        let mut s = pool
            .map(|x: u32| x, [1, 2])
            .timeout(Duration::from_millis(50))
            .stream();
        let first = tokio::time::timeout(DEADLINE, s.next()).await.unwrap();
        assert!(
            matches!(first, Some(Err(amphi::MapError::TimedOut))),
            "{first:?}"
        );
    }
    let extra = Arc::new(AtomicUsize::new(0));
    let stats_q = pool.stats().queued;
    gate.open();
    let _ = (busy, filler, extra);
    assert_eq!(
        stats_q, 1,
        "one job (filler) is queued; stats says {stats_q}"
    );
}

// Control for r07: the same loop without cancels keeps one thread.
#[test]
fn r07_control_without_cancels_one_thread() {
    let pool = ThreadPoolExecutor::new(8);
    for _ in 0..30 {
        pool.try_submit(|| ())
            .unwrap()
            .result()
            .wait_timeout(DEADLINE)
            .unwrap()
            .unwrap();
        thread::sleep(Duration::from_millis(5));
        pool.try_submit(|| ())
            .unwrap()
            .result()
            .wait_timeout(DEADLINE)
            .unwrap()
            .unwrap();
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(pool.stats().threads, 1);
}

// ---------------------------------------------------------------------------
// r13: a pending Submit woken for room, then dropped unpolled, passes its
// turn to the next pending Submit (deterministic poll test).
// ---------------------------------------------------------------------------

#[test]
fn r13_woken_submit_dropped_passes_room_on() {
    use tokio_test::{assert_pending, task};
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .queue_bound(1)
        .build()
        .unwrap();
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let filler = pool.try_submit(|| ()).unwrap();
    let mut s1 = task::spawn(pool.submit(|| 1));
    let mut s2 = task::spawn(pool.submit(|| 2));
    assert_pending!(s1.poll());
    assert_pending!(s2.poll());
    gate.open();
    busy.result().wait_timeout(DEADLINE).unwrap().unwrap();
    filler.result().wait_timeout(DEADLINE).unwrap().unwrap();
    wait_until("s1 or s2 woken", || s1.is_woken() || s2.is_woken());
    let s1_woken = s1.is_woken();
    drop(s1);
    if s1_woken {
        wait_until("s2 woken after s1 dropped", || s2.is_woken());
    }
    match s2.poll() {
        std::task::Poll::Ready(Ok(h)) => {
            assert_eq!(h.result().wait_timeout(DEADLINE).unwrap().unwrap(), 2)
        }
        other => panic!("s2 not admitted: {other:?}"),
    }
}
