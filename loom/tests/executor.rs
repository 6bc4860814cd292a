//! loom models of the ThreadPoolExecutor's races (untimed paths): in every
//! interleaving (up to `LOOM_MAX_PREEMPTIONS` preemptions) a job runs once
//! or is cancelled (never both, never neither), every waiter sees the end,
//! no job is left queued without a worker, `shutdown(..).wait()` returns
//! (loom reports a deadlock otherwise), and the counts add up.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};

use amphi::{JobError, ThreadPoolExecutor, TrySubmitError};
use loom::sync::Arc;
use loom::thread;

fn pool(workers: usize) -> Arc<ThreadPoolExecutor> {
    Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(workers)
            .build()
            .unwrap(),
    )
}

fn assert_quiet(pool: &ThreadPoolExecutor) {
    let s = pool.stats();
    assert_eq!((s.queued, s.running, s.threads), (0, 0, 0));
}

/// A cancel from one thread races the worker taking the job, while the
/// main thread blocks on the result.
#[test]
fn executor_cancel_races_the_worker() {
    loom::model(|| {
        let pool = pool(1);
        let ran = std::sync::Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let h = pool
            .try_submit(move || {
                r.fetch_add(1, Ordering::SeqCst);
                7
            })
            .unwrap();
        let c = h.clone();
        let canceller = thread::spawn(move || c.cancel());
        let out = h.result_blocking();
        let cancelled = canceller.join().unwrap();
        match out {
            Ok(7) => assert!(!cancelled && ran.load(Ordering::SeqCst) == 1),
            Err(JobError::Cancelled) => assert!(cancelled && ran.load(Ordering::SeqCst) == 0),
            other => panic!("{other:?}"),
        }
        pool.shutdown(false).wait();
        assert_quiet(&pool);
        let s = pool.stats();
        assert_eq!(s.completed + s.cancelled, 1);
    });
}

/// A submission races `shutdown`: the job is refused (closure back), or
/// it runs, or (with `cancel_futures`) it is cancelled; never left queued
/// with no worker, and the shutdown's wait returns.
fn submit_races_shutdown(cancel_futures: bool) {
    loom::model(move || {
        let pool = pool(1);
        let p = pool.clone();
        let submitter = thread::spawn(move || p.try_submit(|| 1u8));
        pool.shutdown(cancel_futures).wait();
        match submitter.join().unwrap() {
            // Joined means done: a job that went in before the shutdown
            // keeps the pool's "all exited" from being told until it ran
            // (or, with cancel_futures, was cancelled).
            Ok(h) => match h.try_result().expect("done once the shutdown joined") {
                Ok(1) => {}
                Err(JobError::Cancelled) => assert!(cancel_futures),
                other => panic!("{other:?}"),
            },
            Err(TrySubmitError::ShutDown(f)) => assert_eq!(f(), 1),
            Err(e) => panic!("{e:?}"),
        }
        assert_quiet(&pool);
    });
}

#[test]
fn executor_submit_races_shutdown() {
    submit_races_shutdown(false);
}

#[test]
fn executor_submit_races_shutdown_cancelling() {
    submit_races_shutdown(true);
}

/// A task awaits a job that a thread blocks on too: both see it finish.
///
/// `keep` holds the last handle until every thread is joined: a job's
/// shared state sits in a std `Arc`, whose reference-count fences loom
/// cannot see, so a last drop on another thread would be reported as a
/// data race on the job's loom atomics that the fences in fact prevent.
#[test]
fn executor_task_and_thread_wait_for_one_job() {
    loom::model(|| {
        let pool = pool(1);
        let h = pool.try_submit(|| 3u8).unwrap();
        let keep = h.clone();
        let c = h.clone();
        let thread = thread::spawn(move || {
            c.finished_blocking();
            c.done()
        });
        assert_eq!(loom::future::block_on(h).unwrap(), 3);
        assert!(thread.join().unwrap());
        pool.shutdown(false).wait();
        assert_quiet(&pool);
        drop(keep);
    });
}

/// `as_completed` sees a completion and a cancel that race each other.
#[test]
fn executor_as_completed_sees_a_cancel_and_a_completion() {
    loom::model(|| {
        let pool = pool(1);
        let a = pool.try_submit(|| 1u8).unwrap();
        let b = pool.try_submit(|| 2u8).unwrap();
        let c = b.clone();
        let canceller = thread::spawn(move || c.cancel());
        let seen = amphi::as_completed([a, b]).map(Result::unwrap).count();
        assert_eq!(seen, 2);
        canceller.join().unwrap();
        pool.shutdown(false).wait();
        assert_quiet(&pool);
    });
}

/// An initializer that fails breaks the pool while another thread submits:
/// every job accepted fails with `BrokenPool` (or ran, if a worker had
/// started fine; here none can), every refused one comes back, and the
/// shutdown's wait returns.
#[test]
fn executor_broken_pool_races_a_submit() {
    loom::model(|| {
        let pool = Arc::new(
            ThreadPoolExecutor::builder()
                .max_workers(1)
                .try_initializer(|| Err::<(), _>("no"))
                .build()
                .unwrap(),
        );
        let first = pool.try_submit(|| 1u8).unwrap();
        let p = pool.clone();
        let second = thread::spawn(move || p.try_submit(|| 2u8));
        assert!(matches!(
            first.result_blocking(),
            Err(JobError::BrokenPool(_))
        ));
        match second.join().unwrap() {
            Ok(h) => assert!(matches!(h.result_blocking(), Err(JobError::BrokenPool(_)))),
            Err(TrySubmitError::Broken(f)) => assert_eq!(f(), 2),
            Err(e) => panic!("{e:?}"),
        }
        pool.shutdown(false).wait();
        assert_quiet(&pool);
    });
}
