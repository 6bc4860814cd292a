//! Regression tests from a third independent review of the executor: doc
//! claims, Python fidelity of edge cases, DESIGN 6b (a blocking call on a
//! current-thread runtime fails at the caller's line, every time, naming
//! itself) and DESIGN 9 (bad input). The `p*` tests each failed before
//! their fix; the `ok*` and `s*` tests pin behaviour that was checked and
//! found right (against CPython 3.13 where it applies).

mod common;

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use amphi::{
    Event, JobError, MapError, ReturnWhen, SubmitError, SubmitTimeoutError, ThreadPoolExecutor,
    TrySubmitError,
};
use common::*;

// ---------------------------------------------------------------------------
// Panic capture: a hook that records, per thread, where the last panic was,
// and keeps quiet on threads that asked it to (the other threads' panics,
// such as jobs that panic on purpose, print as usual).
// ---------------------------------------------------------------------------

thread_local! {
    static LAST: RefCell<Option<(String, u32)>> = const { RefCell::new(None) };
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let loc = info.location().map(|l| (l.file().to_owned(), l.line()));
            LAST.with(|l| *l.borrow_mut() = loc);
            if !QUIET.with(|q| q.get()) {
                prev(info);
            }
        }));
    });
}

/// What a call did: returned, or panicked (message, file, line).
#[derive(Debug)]
enum Outcome {
    Returned,
    Panicked(String, String, u32),
}

fn outcome(f: impl FnOnce()) -> Outcome {
    install_hook();
    QUIET.with(|q| q.set(true));
    LAST.with(|l| *l.borrow_mut() = None);
    let r = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    match r {
        Ok(()) => Outcome::Returned,
        Err(p) => {
            let (file, line) = LAST.with(|l| l.borrow_mut().take()).unwrap_or_default();
            Outcome::Panicked(panic_message(&*p), file, line)
        }
    }
}

/// Checks that `f` panics at the caller (this file), with a message that
/// names `method`; a problem is pushed on `bad` otherwise.
fn expect_refused(bad: &mut Vec<String>, case: &str, method: &str, f: impl FnOnce()) {
    match outcome(f) {
        Outcome::Returned => bad.push(format!("{case}: returned, no panic")),
        Outcome::Panicked(msg, file, line) => {
            if !file.ends_with("executor_regressions_3.rs") {
                bad.push(format!(
                    "{case}: panics at {file}:{line}, not at the caller"
                ));
            }
            if !msg.contains(method) {
                let head: String = msg.chars().take(60).collect();
                bad.push(format!(
                    "{case}: message does not name `{method}`: {head}.."
                ));
            }
        }
    }
}

fn done_job(pool: &ThreadPoolExecutor) -> amphi::JobHandle<u32> {
    let h = pool.try_submit(|| 7).unwrap();
    assert!(h.finished().wait_timeout(DEADLINE));
    h
}

// ---------------------------------------------------------------------------
// DESIGN 6b: on the thread of a current-thread runtime every blocking
// method panics at the caller's line, every time, naming the method.
// ---------------------------------------------------------------------------

/// The handle's and the pool's blocking calls, none of which would have
/// to wait here: they must all be refused at the caller, naming the
/// method called (`Lock::lock_blocking` names itself; so should these).
#[test]
fn p01_blocking_methods_name_the_method_called() {
    let pool = ThreadPoolExecutor::new(1);
    let h = done_job(&pool);
    let doomed = ThreadPoolExecutor::new(1);
    let mut bad = Vec::new();
    current_thread_runtime().block_on(async {
        expect_refused(
            &mut bad,
            "result_blocking",
            "JobHandle::result_blocking",
            || {
                let _ = h.result_blocking();
            },
        );
        expect_refused(
            &mut bad,
            "finished_blocking",
            "JobHandle::finished_blocking",
            || h.finished_blocking(),
        );
        expect_refused(
            &mut bad,
            "submit_blocking",
            "ThreadPoolExecutor::submit_blocking",
            || drop(pool.submit_blocking(|| 1)),
        );
        expect_refused(
            &mut bad,
            "shutdown_blocking",
            "ThreadPoolExecutor::shutdown_blocking",
            || doomed.shutdown_blocking(false),
        );
    });
    assert!(bad.is_empty(), "{bad:#?}");
}

/// The futures' `.wait*()` forms: refused at the caller, naming the op,
/// whatever the timeout (zero, huge, a passed deadline).
#[test]
fn ok01_future_wait_forms_are_refused_at_the_caller() {
    let pool = ThreadPoolExecutor::new(1);
    let h = done_job(&pool);
    let doomed = ThreadPoolExecutor::new(1);
    let mut bad = Vec::new();
    current_thread_runtime().block_on(async {
        let now = Instant::now();
        for (name, t) in [("zero", Duration::ZERO), ("max", Duration::MAX)] {
            expect_refused(
                &mut bad,
                &format!("result {name}"),
                "JobHandle::result",
                || {
                    let _ = h.result().wait_timeout(t);
                },
            );
            expect_refused(
                &mut bad,
                &format!("finished {name}"),
                "JobHandle::finished",
                || {
                    let _ = h.finished().wait_timeout(t);
                },
            );
            expect_refused(
                &mut bad,
                &format!("submit {name}"),
                "ThreadPoolExecutor::submit",
                || {
                    drop(pool.submit(|| 1).wait_timeout(t));
                },
            );
            expect_refused(
                &mut bad,
                &format!("shutdown {name}"),
                "ThreadPoolExecutor::shutdown",
                || {
                    let _ = doomed.shutdown(false).wait_timeout(t);
                },
            );
            expect_refused(&mut bad, &format!("wait {name}"), "amphi::wait", || {
                drop(amphi::wait([h.clone()], ReturnWhen::AllCompleted).wait_timeout(t));
            });
        }
        expect_refused(&mut bad, "result deadline", "JobHandle::result", || {
            let _ = h.result().wait_deadline(now);
        });
        expect_refused(&mut bad, "result wait", "JobHandle::result", || {
            let _ = h.result().wait();
        });
        expect_refused(&mut bad, "wait() empty", "amphi::wait", || {
            drop(amphi::wait(Vec::<amphi::JobHandle<u8>>::new(), ReturnWhen::AllCompleted).wait());
        });
    });
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(h.result().wait_timeout(DEADLINE).unwrap().unwrap(), 7);
}

/// `AsCompleted::next` must be refused at the caller's line (its `next`
/// has no `#[track_caller]`, unlike `Queue::iter_blocking`'s), and also
/// when there is nothing (left) to yield.
#[test]
fn p02_as_completed_next_is_refused_at_the_caller_every_time() {
    let pool = ThreadPoolExecutor::new(1);
    let h = done_job(&pool);
    let mut bad = Vec::new();
    current_thread_runtime().block_on(async {
        expect_refused(&mut bad, "one done handle", "AsCompleted::next", || {
            let _ = amphi::as_completed([h.clone()]).next();
        });
        expect_refused(&mut bad, "no handles", "AsCompleted::next", || {
            let _ = amphi::as_completed(Vec::<amphi::JobHandle<u32>>::new()).next();
        });
        let mut exhausted = amphi::as_completed([h.clone()]);
        // Drained with the fast path where blocking is fine.
        let (a, it) = std::thread::scope(|s| {
            s.spawn(move || (exhausted.next().map(|r| r.is_ok()), exhausted))
                .join()
                .unwrap()
        });
        assert_eq!(a, Some(true));
        let mut it = it;
        expect_refused(&mut bad, "exhausted", "AsCompleted::next", || {
            let _ = it.next();
        });
    });
    assert!(bad.is_empty(), "{bad:#?}");
}

/// `Map::next` must be refused at the caller's line, naming `Map::next`
/// (today the message names `JobHandle::result` or
/// `ThreadPoolExecutor::submit`, inner calls the user never made, and
/// points into map.rs), and the same way whatever the map's state: empty
/// input, a pool shut down, a map that has ended.
#[test]
fn p03_map_next_is_refused_at_the_caller_every_time() {
    let pool = ThreadPoolExecutor::new(2);
    let down = ThreadPoolExecutor::new(1);
    drop(down.shutdown(false));
    let mut bad = Vec::new();
    current_thread_runtime().block_on(async {
        expect_refused(&mut bad, "one item", "Map::next", || {
            let _ = pool.map(|x: u32| x, [1]).next();
        });
        expect_refused(&mut bad, "empty input", "Map::next", || {
            let _ = pool.map(|x: u32| x, []).next();
        });
        expect_refused(&mut bad, "pool shut down", "Map::next", || {
            let _ = down.map(|x: u32| x, [1, 2]).next();
        });
        let mut m = pool.map(|x: u32| x, [1]);
        let (first, m2) = std::thread::scope(|s| {
            s.spawn(move || (m.next().map(|r| r.unwrap()), m))
                .join()
                .unwrap()
        });
        assert_eq!(first, Some(1));
        let mut m2 = m2;
        expect_refused(&mut bad, "after the last item", "Map::next", || {
            let _ = m2.next();
        });
    });
    assert!(bad.is_empty(), "{bad:#?}");
}

/// The same blocking calls work on a multi-thread runtime's worker (and
/// its other tasks go on: the job here needs another task to open its
/// gate), and on `spawn_blocking` threads of a current-thread runtime.
#[test]
fn ok02_blocking_forms_work_on_multi_thread_workers_and_spawn_blocking() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let rt = multi_thread_runtime(1);
    rt.block_on(async {
        let p = Arc::clone(&pool);
        let t = tokio::spawn(async move {
            let gate = Arc::new(Event::new());
            let g = Arc::clone(&gate);
            let h = p
                .submit_blocking(move || g.wait().wait_timeout(DEADLINE))
                .unwrap();
            // The only worker blocks below; this task must still run.
            let g = Arc::clone(&gate);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                g.set();
            });
            assert!(h.result_blocking().unwrap());
            h.finished_blocking();
            let hs: Vec<_> = (0..3).map(|i| p.try_submit(move || i).unwrap()).collect();
            assert_eq!(amphi::as_completed(hs.clone()).count(), 3);
            assert_eq!(
                amphi::wait(hs, ReturnWhen::AllCompleted).wait().done.len(),
                3
            );
            let v: Vec<_> = p.map(|x: u32| x + 1, 0..5).map(Result::unwrap).collect();
            assert_eq!(v, [1, 2, 3, 4, 5]);
        });
        within(t).await.unwrap();
    });
    let crt = current_thread_runtime();
    crt.block_on(async {
        let p = Arc::clone(&pool);
        let t = tokio::task::spawn_blocking(move || {
            let h = p.submit_blocking(|| 3).unwrap();
            assert_eq!(h.result_blocking().unwrap(), 3);
            let v: Vec<_> = p.map(|x: u32| x, 0..3).map(Result::unwrap).collect();
            assert_eq!(v, [0, 1, 2]);
            assert_eq!(
                amphi::as_completed([p.try_submit(|| 1).unwrap()]).count(),
                1
            );
            p.shutdown_blocking(false);
        });
        within(t).await.unwrap();
    });
    assert_eq!(pool.stats().threads, 0);
}

/// `shutdown_blocking` on a current-thread runtime panics, as it must, but
/// only after it has shut the pool down: the refused call still had its
/// effect (`submit_blocking`, refused the same way, queues nothing).
#[test]
fn p04_refused_shutdown_blocking_has_shut_the_pool_down() {
    let pool = ThreadPoolExecutor::new(1);
    let refused = current_thread_runtime().block_on(async {
        matches!(
            outcome(|| pool.shutdown_blocking(true)),
            Outcome::Panicked(..)
        )
    });
    assert!(refused);
    assert!(
        !pool.is_shutdown(),
        "a refused shutdown_blocking shut the pool down all the same"
    );
}

// ---------------------------------------------------------------------------
// Python fidelity (each checked against CPython 3.13)
// ---------------------------------------------------------------------------

/// CPython: queued True (and True again), running False, finished False,
/// failed False. amphi: the same, and a broken pool's job False.
#[test]
fn ok03_cancel_return_values_in_every_state() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let running = block_worker(&pool, &gate);
    let queued = pool.try_submit(|| 1).unwrap();
    assert!(queued.cancel());
    assert!(queued.cancel(), "a second cancel is true too");
    assert!(queued.cancelled() && queued.done() && !queued.failed());
    assert!(!running.cancel());
    assert!(running.running());
    gate.open();
    running.result().wait_timeout(DEADLINE).unwrap().unwrap();
    assert!(!running.cancel(), "finished");
    let failed = pool.try_submit(|| -> () { panic!("on purpose") }).unwrap();
    assert!(failed.finished().wait_timeout(DEADLINE));
    assert!(!failed.cancel(), "failed");
    let broken = ThreadPoolExecutor::builder()
        .try_initializer(|| Err::<(), _>("no"))
        .build()
        .unwrap();
    let b = broken.try_submit(|| 1).unwrap();
    assert!(b.finished().wait_timeout(DEADLINE));
    assert!(!b.cancel(), "failed by a broken pool");
    assert!(matches!(b.try_result(), Some(Err(JobError::BrokenPool(_)))));
}

/// CPython: `shutdown(wait=False)` then `shutdown(cancel_futures=True)`
/// cancels what is still queued.
#[test]
fn ok04_second_shutdown_with_cancel_futures_cancels_the_queue() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let running = block_worker(&pool, &gate);
    let queued = pool.try_submit(|| 2).unwrap();
    drop(pool.shutdown(false));
    assert!(!queued.done());
    drop(pool.shutdown(true));
    assert!(queued.cancelled());
    gate.open();
    assert!(pool.shutdown(false).wait_timeout(DEADLINE));
    assert!(running.try_result().unwrap().is_ok());
    // And the other way round: a later `false` undoes nothing.
    let pool = ThreadPoolExecutor::new(1);
    drop(pool.shutdown(true));
    assert!(pool.shutdown(false).wait_timeout(DEADLINE));
}

/// CPython raises `RuntimeError: cannot schedule new futures after
/// shutdown` in the job; amphi gives the closure back, in every form.
#[test]
fn ok05_submit_from_a_job_during_shutdown_gives_the_closure_back() {
    let pool = Arc::new(ThreadPoolExecutor::new(1));
    let gate = Gate::new();
    let (p, g) = (Arc::clone(&pool), gate.clone());
    let h = pool
        .try_submit(move || {
            g.pass();
            let a = matches!(p.try_submit(|| 1), Err(TrySubmitError::ShutDown(f)) if f() == 1);
            let b = matches!(p.submit_blocking(|| 2), Err(SubmitError::ShutDown(f)) if f() == 2);
            let c = matches!(
                p.submit(|| 3).wait_timeout(Duration::ZERO),
                Err(SubmitTimeoutError::ShutDown(f)) if f() == 3
            );
            (a, b, c)
        })
        .unwrap();
    drop(pool.shutdown(false));
    gate.open();
    assert_eq!(
        h.result().wait_timeout(DEADLINE).unwrap().unwrap(),
        (true, true, true)
    );
    assert!(pool.shutdown(false).wait_timeout(DEADLINE));
}

/// CPython: an initializer failing in the second worker only breaks the
/// pool: the queued job fails (`BrokenThreadPool`), submits are refused,
/// the job running in the first worker finishes with its result, and
/// `shutdown()` returns.
#[test]
fn ok06_initializer_failing_on_the_second_worker_only() {
    let n = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&n);
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .try_initializer(move || {
            if c.fetch_add(1, Ordering::SeqCst) == 1 {
                Err("second")
            } else {
                Ok(())
            }
        })
        .build()
        .unwrap();
    let gate = Gate::new();
    let first = block_worker(&pool, &gate);
    let second = pool.try_submit(|| 2).unwrap(); // starts worker 2
    assert!(second.finished().wait_timeout(DEADLINE));
    match second.try_result() {
        Some(Err(JobError::BrokenPool(why))) => {
            assert_eq!(&*why, "an initializer failed: second");
            assert_eq!(
                JobError::BrokenPool(why).to_string(),
                "the thread pool is broken: an initializer failed: second"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(pool.is_broken());
    assert!(!pool.is_shutdown());
    assert!(matches!(
        pool.try_submit(|| 3),
        Err(TrySubmitError::Broken(_))
    ));
    assert!(matches!(
        pool.submit_blocking(|| 3),
        Err(SubmitError::Broken(_))
    ));
    gate.open();
    first.result().wait_timeout(DEADLINE).unwrap().unwrap();
    assert!(pool.shutdown(false).wait_timeout(DEADLINE));
    assert_eq!(pool.stats().threads, 0);
    assert_eq!(n.load(Ordering::SeqCst), 2);
}

/// A job's panic is that item's `Err` and the map goes on (documented;
/// CPython raises and ends); a cancelled item too.
#[test]
fn ok07_map_goes_on_after_a_panic() {
    let pool = ThreadPoolExecutor::new(2);
    let out: Vec<_> = pool
        .map(
            |x: u32| {
                if x == 1 {
                    panic!("item 1")
                }
                x
            },
            0..3,
        )
        .timeout(DEADLINE)
        .collect();
    assert_eq!(out.len(), 3);
    assert_eq!(*out[0].as_ref().unwrap(), 0);
    assert!(
        matches!(&out[1], Err(MapError::Job(JobError::Panicked(p))) if p.message() == "item 1")
    );
    assert_eq!(*out[2].as_ref().unwrap(), 2);
}

/// CPython: `[0, CancelledError]` (the running item's result, then the
/// cancelled one raises and ends the map). amphi: `Ok(0)`, the cancelled
/// item's `Err(Job(Cancelled))`, then `Err(ShutDown)` for the items never
/// submitted, then the end.
#[test]
fn ok08_map_after_shutdown_with_cancel_futures_midway() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let started = Arc::new(Event::new());
    let (g, s) = (gate.clone(), Arc::clone(&started));
    let mut m = pool
        .map(
            move |x: u32| {
                if x == 0 {
                    s.set();
                    g.pass();
                }
                x
            },
            0..5,
        )
        .timeout(DEADLINE);
    assert_eq!(m.in_flight(), 2);
    assert!(started.wait().wait_timeout(DEADLINE));
    drop(pool.shutdown(true));
    gate.open();
    assert_eq!(m.next().unwrap().unwrap(), 0);
    assert!(matches!(
        m.next(),
        Some(Err(MapError::Job(JobError::Cancelled)))
    ));
    assert!(matches!(m.next(), Some(Err(MapError::ShutDown))));
    assert!(m.next().is_none());
    assert!(m.next().is_none());
}

/// CPython: `map` of nothing gives nothing (with `timeout=0` too); a
/// `timeout=0` map raises `TimeoutError` when the first result is not
/// there yet, and ends.
#[test]
fn ok09_map_of_nothing_and_map_with_timeout_zero() {
    let pool = ThreadPoolExecutor::new(1);
    assert!(pool.map(|x: u8| x, []).next().is_none());
    assert!(
        pool.map(|x: u8| x, [])
            .timeout(Duration::ZERO)
            .next()
            .is_none()
    );
    let gate = Gate::new();
    let g = gate.clone();
    let mut m = pool
        .map(
            move |x: u8| {
                g.pass();
                x
            },
            [1, 2, 3],
        )
        .timeout(Duration::ZERO);
    assert!(matches!(m.next(), Some(Err(MapError::TimedOut))));
    assert!(m.next().is_none());
    gate.open();
    assert!(pool.shutdown(false).wait_timeout(DEADLINE));
    let st = pool.stats();
    assert!(st.cancelled >= 1, "the queued item was cancelled: {st:?}");
    assert_eq!(st.cancelled + st.completed, 2, "{st:?}");
}

/// CPython: duplicates merge (documented difference: amphi yields each
/// handle given); timeout 0 yields what is done, then raises
/// `N (of M) futures unfinished`; a cancelled future with timeout 0
/// raises in CPython (CANCELLED is not CANCELLED_AND_NOTIFIED; documented
/// difference: done at once in amphi); nothing with timeout 0 ends.
#[test]
fn ok10_as_completed_edge_cases() {
    let pool = ThreadPoolExecutor::new(1);
    let done = pool.try_submit(|| ()).unwrap();
    assert!(done.finished().wait_timeout(DEADLINE));
    assert_eq!(amphi::as_completed([done.clone(), done.clone()]).count(), 2);
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let queued = pool.try_submit(|| ()).unwrap();
    let mut it = amphi::as_completed([busy.clone(), done.clone()]).timeout(Duration::ZERO);
    assert!(it.next().unwrap().unwrap().same_job(&done));
    let e = it.next().unwrap().unwrap_err();
    assert_eq!((e.unfinished, e.total), (1, 2));
    assert_eq!(e.to_string(), "1 (of 2) jobs unfinished");
    assert!(it.next().is_none());
    assert!(queued.cancel());
    let mut it = amphi::as_completed([queued.clone()]).timeout(Duration::ZERO);
    assert!(it.next().unwrap().unwrap().cancelled());
    assert!(
        amphi::as_completed(Vec::<amphi::JobHandle<u8>>::new())
            .timeout(Duration::ZERO)
            .next()
            .is_none()
    );
    gate.open();
    busy.result().wait_timeout(DEADLINE).unwrap().unwrap();
}

/// CPython: `wait(timeout=0)` gives what is done and not done;
/// FIRST_COMPLETED with none done gives (0, 1); nothing gives (0, 0).
#[test]
fn ok11_wait_edge_cases() {
    let pool = ThreadPoolExecutor::new(1);
    let done = pool.try_submit(|| ()).unwrap();
    assert!(done.finished().wait_timeout(DEADLINE));
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let w = amphi::wait([done.clone(), busy.clone()], ReturnWhen::AllCompleted)
        .wait_timeout(Duration::ZERO);
    assert_eq!((w.done.len(), w.not_done.len()), (1, 1));
    let w = amphi::wait([busy.clone()], ReturnWhen::FirstCompleted).wait_timeout(Duration::ZERO);
    assert_eq!((w.done.len(), w.not_done.len()), (0, 1));
    let w = amphi::wait([done.clone(), done.clone()], ReturnWhen::FirstCompleted)
        .wait_timeout(Duration::ZERO);
    assert_eq!(w.done.len(), 2, "lists, not sets (documented)");
    let w = amphi::wait(Vec::<amphi::JobHandle<u8>>::new(), ReturnWhen::AllCompleted)
        .wait_timeout(Duration::ZERO);
    assert!(w.done.is_empty() && w.not_done.is_empty());
    gate.open();
    busy.result().wait_timeout(DEADLINE).unwrap().unwrap();
}

/// CPython names threads `ThreadPoolExecutor-K_N` and `{prefix}_N`; the
/// default `max_workers` is `min(32, cpus + 4)`.
#[test]
fn ok12_names_and_default_max_workers() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(
        ThreadPoolExecutor::builder().build().unwrap().max_workers(),
        32.min(cpus + 4)
    );
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let name = pool
        .try_submit(|| std::thread::current().name().map(str::to_owned))
        .unwrap()
        .result()
        .wait_timeout(DEADLINE)
        .unwrap()
        .unwrap()
        .unwrap();
    let (head, tail) = name.rsplit_once('_').unwrap();
    assert!(head.starts_with("ThreadPoolExecutor-"), "{name}");
    assert!(
        head["ThreadPoolExecutor-".len()..].parse::<usize>().is_ok(),
        "{name}"
    );
    assert_eq!(tail, "0");
}

// ---------------------------------------------------------------------------
// DESIGN 9: bad input
// ---------------------------------------------------------------------------

/// Opens `gate` from another thread after a short while.
fn open_later(gate: &Gate) -> Joiner<()> {
    let g = gate.clone();
    spawn_thread(move || {
        std::thread::sleep(Duration::from_millis(30));
        g.open();
    })
}

/// `Duration::MAX` (and a deadline a century away) on every timed method,
/// blocking and async: each waits for the job (no overflow panic, no
/// instant time-out).
#[test]
fn ok13_huge_timeouts_everywhere() {
    let far = Instant::now() + Duration::from_secs(100 * 365 * 86400);
    // Blocking.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .queue_bound(1)
        .build()
        .unwrap();
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let queued = pool.try_submit(|| 1u32).unwrap(); // the queue is full
    let opener = open_later(&gate);
    let h = pool.submit(|| 2u32).wait_timeout(Duration::MAX).unwrap();
    assert_eq!(h.result().wait_timeout(Duration::MAX).unwrap().unwrap(), 2);
    assert!(busy.finished().wait_timeout(Duration::MAX));
    assert!(queued.finished().wait_deadline(far));
    opener.join();
    let gate = Gate::new();
    let slow = block_worker(&pool, &gate);
    let opener = open_later(&gate);
    let w = amphi::wait([slow.clone()], ReturnWhen::AllCompleted).wait_timeout(Duration::MAX);
    assert_eq!(w.done.len(), 1);
    opener.join();
    let gate = Gate::new();
    let slow = block_worker(&pool, &gate);
    let opener = open_later(&gate);
    let mut it = amphi::as_completed([slow.clone()]).timeout(Duration::MAX);
    assert!(it.next().unwrap().is_ok());
    opener.join();
    let gate = Gate::new();
    let slow = block_worker(&pool, &gate);
    let opener = open_later(&gate);
    let mut it = amphi::as_completed([slow.clone()]).deadline(far);
    assert!(it.next().unwrap().is_ok());
    opener.join();
    let gate = Gate::new();
    let g = gate.clone();
    let opener = open_later(&gate);
    let v: Vec<_> = pool
        .map(
            move |x: u8| {
                g.pass();
                x
            },
            [1, 2],
        )
        .timeout(Duration::MAX)
        .map(Result::unwrap)
        .collect();
    assert_eq!(v, [1, 2]);
    opener.join();
    let gate = Gate::new();
    let _slow = block_worker(&pool, &gate);
    let opener = open_later(&gate);
    drop(pool.shutdown(false));
    assert!(pool.shutdown(false).wait_timeout(Duration::MAX));
    opener.join();

    // Async, on both runtime flavours.
    for rt in [current_thread_runtime(), multi_thread_runtime(2)] {
        rt.block_on(async {
            use futures::StreamExt;
            let pool = ThreadPoolExecutor::builder()
                .max_workers(1)
                .queue_bound(1)
                .build()
                .unwrap();
            let gate = Gate::new();
            let g = gate.clone();
            let busy = pool.submit(move || g.pass()).await.unwrap();
            let _queued = within(pool.submit(|| ())).await.unwrap();
            let opener = open_later(&gate);
            // Room comes only once the gate opens (the queue is full or
            // about to be: the worker may not have taken `busy` yet).
            let h = within(pool.submit(|| ()).timeout(Duration::MAX))
                .await
                .unwrap();
            assert!(
                within(h.result().timeout(Duration::MAX))
                    .await
                    .unwrap()
                    .is_ok()
            );
            assert!(within(busy.finished().timeout(Duration::MAX)).await);
            join_threads(vec![opener]).await;
            for kind in 0..4 {
                let gate = Gate::new();
                let g = gate.clone();
                let slow = pool.submit(move || g.pass()).await.unwrap();
                let opener = open_later(&gate);
                match kind {
                    0 => {
                        let w = within(
                            amphi::wait([slow], ReturnWhen::AllCompleted).timeout(Duration::MAX),
                        )
                        .await;
                        assert_eq!(w.done.len(), 1);
                    }
                    1 => {
                        let mut s = amphi::as_completed([slow]).timeout(Duration::MAX).stream();
                        assert!(within(s.next()).await.unwrap().is_ok());
                    }
                    2 => {
                        let mut s = amphi::as_completed([slow]).deadline(far).stream();
                        assert!(within(s.next()).await.unwrap().is_ok());
                    }
                    _ => {
                        assert!(within(slow.result().timeout_at(far)).await.is_some());
                    }
                }
                join_threads(vec![opener]).await;
            }
            let gate = Gate::new();
            let g = gate.clone();
            let opener = open_later(&gate);
            let v: Vec<u8> = within(
                pool.map(
                    move |x: u8| {
                        g.pass();
                        x
                    },
                    [1, 2],
                )
                .timeout(Duration::MAX)
                .stream()
                .map(Result::unwrap)
                .collect::<Vec<_>>(),
            )
            .await;
            assert_eq!(v, [1, 2]);
            join_threads(vec![opener]).await;
            assert!(within(pool.shutdown(false).timeout(Duration::MAX)).await);
        });
    }
}

/// Zero timeouts only try: a done job's result comes, a running one's
/// does not (and the job goes on), a full queue gives the closure back.
#[test]
fn ok14_zero_timeouts_only_try() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .queue_bound(1)
        .build()
        .unwrap();
    let done = done_job(&pool);
    assert!(done.finished().wait_timeout(Duration::ZERO));
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let queued = pool.try_submit(|| 0u32).unwrap();
    assert!(busy.result().wait_timeout(Duration::ZERO).is_none());
    assert!(!busy.finished().wait_timeout(Duration::ZERO));
    assert!(
        !busy
            .finished()
            .wait_deadline(Instant::now() - Duration::from_secs(1))
    );
    match pool.submit(|| 5u32).wait_timeout(Duration::ZERO) {
        Err(SubmitTimeoutError::TimedOut(f)) => assert_eq!(f(), 5),
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert!(!pool.shutdown(false).wait_timeout(Duration::ZERO));
    current_thread_runtime().block_on(async {
        assert_eq!(
            done.result()
                .timeout(Duration::ZERO)
                .await
                .unwrap()
                .unwrap(),
            7
        );
        assert!(busy.result().timeout(Duration::ZERO).await.is_none());
        assert!(!busy.finished().timeout(Duration::ZERO).await);
    });
    gate.open();
    assert!(queued.finished().wait_timeout(DEADLINE));
    assert!(pool.shutdown(false).wait_timeout(DEADLINE));
    assert_eq!(pool.stats().threads, 0);
}

/// `map_buffered(.., 0)` panics at the caller with a clear message (as
/// documented; CPython 3.14 raises `ValueError`).
#[test]
fn ok15_map_buffered_zero_is_refused_at_the_caller() {
    let pool = ThreadPoolExecutor::new(1);
    match outcome(|| drop(pool.map_buffered(|x: u8| x, [1], 0))) {
        Outcome::Panicked(msg, file, _) => {
            assert!(msg.contains("buffersize must be at least 1"), "{msg}");
            assert!(file.ends_with("executor_regressions_3.rs"), "{file}");
        }
        Outcome::Returned => panic!("map_buffered(.., 0) was accepted"),
    }
    assert_eq!(
        pool.stats().queued + pool.stats().completed,
        0,
        "nothing ran"
    );
}

/// `queue_bound(usize::MAX)` and `max_workers(usize::MAX)` are accepted
/// and work.
#[test]
fn ok16_huge_bound_and_worker_count_work() {
    let pool = ThreadPoolExecutor::builder()
        .queue_bound(usize::MAX)
        .max_workers(2)
        .build()
        .unwrap();
    assert_eq!(pool.queue_bound(), usize::MAX);
    let hs: Vec<_> = (0..100)
        .map(|i| pool.try_submit(move || i).unwrap())
        .collect();
    let sum: u64 = hs
        .iter()
        .map(|h| h.result().wait_timeout(DEADLINE).unwrap().unwrap())
        .sum();
    assert_eq!(sum, 4950);
    current_thread_runtime().block_on(async {
        let h = within(pool.submit(|| 1)).await.unwrap();
        assert_eq!(within(h).await.unwrap(), 1);
    });
    let pool = ThreadPoolExecutor::builder()
        .max_workers(usize::MAX)
        .build()
        .unwrap();
    assert_eq!(pool.max_workers(), usize::MAX);
    let v: Vec<_> = pool.map(|x: u8| x, 0..10).map(Result::unwrap).collect();
    assert_eq!(v.len(), 10);
    assert!(pool.shutdown(false).wait_timeout(DEADLINE));
}

/// `map` documents "an endless iterator works" (at most twice
/// `max_workers` in flight), but the window is `2 * max_workers`
/// saturated: with a huge `max_workers` the `map` call itself drains the
/// iterator (an endless one: forever, starting a thread per item).
#[test]
fn p05_map_with_huge_max_workers_does_not_drain_an_endless_iterator() {
    // Was: the default window, 2 * max_workers saturated, made the `map`
    // call itself pull an endless iterator forever.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(usize::MAX)
        .build()
        .unwrap();
    let m = pool.map(|x: u32| x, 0..);
    assert_eq!(m.in_flight(), 1024, "the default window is capped");
    drop(m);
    assert!(pool.shutdown(false).wait_timeout(DEADLINE));
}

/// `stack_size(0)` is accepted silently; std rounds it up to the platform
/// minimum (about 16 KiB here), so a job that uses a modest 64 KiB of
/// stack aborts the whole process (a stack overflow is not a panic). Run
/// in a child process.
#[test]
fn p06_stack_size_zero_is_accepted_and_a_modest_job_aborts_the_process() {
    if std::env::var_os("R3_STACK_CHILD").is_some() {
        return;
    }
    let accepted = ThreadPoolExecutor::builder().stack_size(0).build().is_ok();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_stack_size_zero_job",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("R3_STACK_CHILD", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&status.stderr);
    assert!(
        !accepted || status.status.success(),
        "stack_size(0) was accepted, and a job with 64 KiB on its stack killed the process \
         ({:?}): {}",
        status.status,
        err.lines().find(|l| l.contains("overflow")).unwrap_or("")
    );
}

#[test]
fn child_stack_size_zero_job() {
    if std::env::var_os("R3_STACK_CHILD").is_none() {
        return;
    }
    let pool = ThreadPoolExecutor::builder().stack_size(0).build().unwrap();
    let h = pool
        .try_submit(|| {
            let mut a = [0u8; 64 * 1024];
            a[1000] = 1;
            std::hint::black_box(&mut a)[1000]
        })
        .unwrap();
    assert_eq!(h.result().wait_timeout(DEADLINE).unwrap().unwrap(), 1);
}

// ---------------------------------------------------------------------------
// Doc claims
// ---------------------------------------------------------------------------

/// The streams' timeouts outside a tokio runtime (the `tokio` feature on):
/// whether polling panics depends on whether a job happens to be done at
/// the first poll (DESIGN 6b: no panic that only timing brings out; the
/// docs say only "its timeout uses tokio's timer").
#[test]
fn p08_stream_timeout_outside_tokio_panics_only_when_not_ready() {
    use futures::StreamExt;
    let pool = ThreadPoolExecutor::new(1);
    let done = done_job(&pool);
    let gate = Gate::new();
    let g = gate.clone();
    let slow = pool
        .try_submit(move || {
            g.pass();
            1
        })
        .unwrap();
    let ready = outcome(|| {
        let mut s = amphi::as_completed([done.clone()])
            .timeout(DEADLINE)
            .stream();
        assert!(futures::executor::block_on(s.next()).unwrap().is_ok());
    });
    let not_ready = outcome(|| {
        let mut s = amphi::as_completed([slow.clone()])
            .timeout(DEADLINE)
            .stream();
        let opener = open_later(&gate);
        let r = futures::executor::block_on(s.next());
        opener.join();
        assert!(r.unwrap().is_ok());
    });
    gate.open();
    assert!(slow.finished().wait_timeout(DEADLINE));
    let same = matches!(
        (&ready, &not_ready),
        (Outcome::Returned, Outcome::Returned) | (Outcome::Panicked(..), Outcome::Panicked(..))
    );
    assert!(
        same,
        "job done at the first poll: {ready:?}; not done: {not_ready:?}"
    );
}

/// Suspicion (passes): a job that submits to its own full bounded pool
/// waits for room that only its own worker could make (Python has no
/// bound, so no precedent); `submit_blocking` there never returns. amphi
/// special-cases `shutdown` from a pool's own job, not this; the
/// `queue_bound` docs do not warn.
#[test]
fn s13_a_job_submitting_to_its_own_full_pool_cannot_get_room() {
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(1)
            .queue_bound(1)
            .build()
            .unwrap(),
    );
    let p = Arc::clone(&pool);
    let h = pool
        .try_submit(move || {
            let queued = p.try_submit(|| ()).unwrap(); // fills the queue
            let more = p.submit(|| ()).wait_timeout(Duration::from_millis(200));
            (
                queued.done(),
                matches!(more, Err(SubmitTimeoutError::TimedOut(_))),
            )
        })
        .unwrap();
    assert_eq!(
        h.result().wait_timeout(DEADLINE).unwrap().unwrap(),
        (false, true)
    );
}

/// `JobError::Taken`: "Another clone of this handle took the result
/// already", Display "the job's result was taken by another handle". The
/// same handle taking twice (the `try_result` doc example does it) gets
/// `Taken` too.
#[test]
fn p14_taken_is_not_only_by_another_handle() {
    let pool = ThreadPoolExecutor::new(1);
    let h = done_job(&pool);
    assert_eq!(h.try_result().unwrap().unwrap(), 7);
    let again = h.try_result().unwrap().unwrap_err();
    assert!(matches!(again, JobError::Taken));
    assert!(
        !again.to_string().contains("another handle"),
        "the same handle took it: {again}"
    );
}
