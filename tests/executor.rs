//! ThreadPoolExecutor: every operation from threads, from tasks, and mixed
//! (tasks await handles that threads block on), cancellation, panics in
//! jobs, initializers and callbacks, shutdown from everywhere, the broken
//! pool, map / as_completed / wait, and a stress run. Every wait has a
//! deadline.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use amphi::{
    Event, JobError, MapError, ReturnWhen, SubmitError, SubmitTimeoutError, ThreadPoolExecutor,
    TrySubmitError,
};
use common::*;
use futures::StreamExt;
use tokio_test::{assert_pending, assert_ready};

fn result<T>(h: &amphi::JobHandle<T>) -> Result<T, JobError> {
    h.result()
        .wait_timeout(DEADLINE)
        .expect("job did not finish in time")
}

// ---------------------------------------------------------------------------
// submit and results
// ---------------------------------------------------------------------------

#[test]
fn thread_submit_and_block() {
    let pool = ThreadPoolExecutor::new(2);
    let h = pool.submit_blocking(|| 40 + 2).unwrap();
    assert_eq!(result(&h).unwrap(), 42);
    assert!(h.done() && !h.running() && !h.cancelled() && !h.failed());
    // The result is handed out once.
    assert!(matches!(h.try_result(), Some(Err(JobError::Taken))));
    let h = pool.try_submit(|| "x").unwrap();
    assert_eq!(h.result().wait_deadline(deadline()).unwrap().unwrap(), "x");
}

#[tokio::test]
async fn task_submit_and_await_on_current_thread_runtime() {
    let pool = ThreadPoolExecutor::new(2);
    let h = within(pool.submit(|| 6 * 7)).await.unwrap();
    assert_eq!(within(h).await.unwrap(), 42);
    let h = pool.try_submit(|| 1).unwrap();
    assert_eq!(h.result().timeout(DEADLINE).await.unwrap().unwrap(), 1);
    let h = pool.try_submit(|| ()).unwrap();
    within(h.finished()).await;
    assert!(h.done());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_task_awaits_while_threads_block_on_the_same_job() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let g = gate.clone();
    let h = pool
        .try_submit(move || {
            g.pass();
            7
        })
        .unwrap();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let c = h.clone();
            spawn_thread(move || {
                c.finished().wait_timeout(DEADLINE);
                c.done()
            })
        })
        .collect();
    let c = h.clone();
    let task = tokio::spawn(async move { c.finished().timeout(DEADLINE).await });
    let_thread_block();
    gate.open();
    assert_eq!(within(h).await.unwrap(), 7);
    assert!(join_task(task).await);
    for t in threads {
        assert!(t.join_async().await);
    }
}

#[test]
fn a_timeout_is_told_apart_from_the_outcome() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let g = gate.clone();
    let h = pool
        .try_submit(move || -> u8 {
            g.pass();
            panic!("late")
        })
        .unwrap();
    let start = Instant::now();
    assert!(h.result().wait_timeout(SHORT).is_none(), "still running");
    assert_elapsed_about(start, SHORT);
    assert!(!h.finished().wait_timeout(SHORT));
    gate.open();
    match result(&h) {
        Err(JobError::Panicked(p)) => assert_eq!(p.message(), "late"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_timeout_is_told_apart_too() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let h = pool.try_submit(|| 5).unwrap();
    assert!(h.result().timeout(SHORT).await.is_none());
    assert!(!h.finished().timeout(SHORT).await);
    gate.open();
    assert_eq!(within(h).await.unwrap(), 5);
    within(busy).await.unwrap();
}

#[test]
fn dropping_a_handle_does_not_cancel_the_job() {
    let pool = ThreadPoolExecutor::new(1);
    let ran = Arc::new(Event::new());
    let r = Arc::clone(&ran);
    drop(pool.try_submit(move || r.set()).unwrap());
    assert!(ran.wait().wait_timeout(DEADLINE));
}

#[test]
fn a_dropped_await_does_not_cancel_the_job_and_keeps_the_result() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let g = gate.clone();
    let mut h = pool
        .try_submit(move || {
            g.pass();
            9
        })
        .unwrap();
    {
        let mut t = tokio_test::task::spawn(&mut h);
        assert_pending!(t.poll());
    } // the awaiting future is gone
    {
        let mut t = tokio_test::task::spawn(h.result());
        assert_pending!(t.poll());
        gate.open();
        h.finished().wait_timeout(DEADLINE);
        assert!(t.is_woken());
        drop(t); // woken, then dropped: the result stays
    }
    assert_eq!(result(&h).unwrap(), 9);
}

#[test]
fn every_waiter_wakes_at_one_completion() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let g = gate.clone();
    let h = pool.try_submit(move || g.pass()).unwrap();
    let mut waiters: Vec<_> = (0..4)
        .map(|_| tokio_test::task::spawn(h.finished()))
        .collect();
    for w in &mut waiters {
        assert_pending!(w.poll());
    }
    gate.open();
    h.finished().wait_timeout(DEADLINE);
    for w in &mut waiters {
        assert!(w.is_woken());
        assert_ready!(w.poll());
    }
}

#[test]
#[should_panic(expected = "JobHandle::result")]
fn blocking_on_a_current_thread_runtime_panics_at_the_caller() {
    let pool = ThreadPoolExecutor::new(1);
    let h = pool.try_submit(|| 1).unwrap();
    h.finished().wait_timeout(DEADLINE);
    current_thread_runtime()
        .block_on(async { h.result_blocking() })
        .ok();
}

// ---------------------------------------------------------------------------
// workers
// ---------------------------------------------------------------------------

#[test]
fn workers_start_lazily_and_idle_ones_are_reused() {
    let pool = ThreadPoolExecutor::new(4);
    assert_eq!(pool.stats().threads, 0);
    for i in 0..20 {
        assert_eq!(result(&pool.try_submit(move || i).unwrap()).unwrap(), i);
    }
    assert_eq!(
        pool.stats().threads,
        1,
        "one job at a time needs one thread"
    );
}

#[test]
fn no_more_than_max_workers_threads() {
    let pool = ThreadPoolExecutor::new(3);
    let gate = Gate::new();
    let live = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..10)
        .map(|_| {
            let (g, l, m) = (gate.clone(), live.clone(), most.clone());
            pool.try_submit(move || {
                let now = l.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                g.pass();
                l.fetch_sub(1, Ordering::SeqCst);
            })
            .unwrap()
        })
        .collect();
    wait_until("three jobs run", || pool.stats().running == 3);
    assert_eq!(pool.stats().threads, 3);
    assert_eq!(pool.stats().queued, 7);
    gate.open();
    for j in &jobs {
        result(j).unwrap();
    }
    assert_eq!(most.load(Ordering::SeqCst), 3);
    assert_eq!(pool.stats().threads, 3);
}

#[test]
fn threads_are_named_from_the_prefix() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .thread_name_prefix("crunch")
        .build()
        .unwrap();
    let gate = Gate::new();
    let names: Vec<_> = (0..2)
        .map(|_| {
            let g = gate.clone();
            pool.try_submit(move || {
                g.pass();
                thread::current().name().unwrap().to_owned()
            })
            .unwrap()
        })
        .collect();
    wait_until("both run", || pool.stats().running == 2);
    gate.open();
    let mut names: Vec<_> = names.iter().map(|h| result(h).unwrap()).collect();
    names.sort();
    assert_eq!(names, ["crunch_0", "crunch_1"]);

    let default = ThreadPoolExecutor::new(1);
    let name = result(
        &default
            .try_submit(|| thread::current().name().unwrap().to_owned())
            .unwrap(),
    )
    .unwrap();
    assert!(
        name.starts_with("ThreadPoolExecutor-") && name.ends_with("_0"),
        "{name}"
    );
}

#[test]
fn default_max_workers_is_pythons() {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let pool = ThreadPoolExecutor::builder().build().unwrap();
    assert_eq!(pool.max_workers(), 32.min(cpus + 4));
}

#[test]
fn zero_workers_is_refused() {
    assert!(
        ThreadPoolExecutor::builder()
            .max_workers(0)
            .build()
            .is_err()
    );
    let caught = std::panic::catch_unwind(|| ThreadPoolExecutor::new(0));
    let msg = panic_message(&*caught.unwrap_err());
    assert!(msg.contains("at least one worker"), "{msg}");
}

#[test]
fn stack_size_is_used() {
    let pool = ThreadPoolExecutor::builder()
        .stack_size(8 << 20)
        .build()
        .unwrap();
    // Recursion that needs a few MiB of stack.
    fn deep(n: u32) -> u32 {
        let pad = std::hint::black_box([0u8; 1024]);
        if n == 0 {
            pad[0] as u32
        } else {
            deep(n - 1) + 1
        }
    }
    assert_eq!(
        result(&pool.try_submit(|| deep(4000)).unwrap()).unwrap(),
        4000
    );
}

#[test]
fn the_initializer_runs_once_per_worker() {
    let inits = Arc::new(AtomicUsize::new(0));
    let i = inits.clone();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(3)
        .initializer(move || {
            i.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let gate = Gate::new();
    let jobs: Vec<_> = (0..3).map(|_| block_worker(&pool, &gate)).collect();
    gate.open();
    for j in &jobs {
        result(j).unwrap();
    }
    for _ in 0..10 {
        result(&pool.try_submit(|| ()).unwrap()).unwrap();
    }
    assert_eq!(inits.load(Ordering::SeqCst), 3);
}

// ---------------------------------------------------------------------------
// panics
// ---------------------------------------------------------------------------

#[test]
fn a_panicking_job_leaves_the_worker_alive() {
    let pool = ThreadPoolExecutor::new(1);
    let h = pool
        .try_submit(|| -> u8 { std::panic::panic_any(17_u32) })
        .unwrap();
    h.finished().wait_timeout(DEADLINE);
    assert!(h.failed());
    let JobError::Panicked(p) = result(&h).unwrap_err() else {
        panic!("not a panic")
    };
    assert_eq!(p.message(), "Box<dyn Any>");
    assert_eq!(*p.into_payload().unwrap().downcast::<u32>().unwrap(), 17);
    let name = result(
        &pool
            .try_submit(|| thread::current().name().unwrap().to_owned())
            .unwrap(),
    )
    .unwrap();
    assert!(name.ends_with("_0"), "the same worker survives: {name}");
    let s = pool.stats();
    assert_eq!((s.threads, s.panicked, s.completed), (1, 1, 2));
}

#[test]
fn a_panic_can_be_resumed() {
    let pool = ThreadPoolExecutor::new(1);
    let h = pool.try_submit(|| -> () { panic!("resume me") }).unwrap();
    let JobError::Panicked(p) = result(&h).unwrap_err() else {
        panic!()
    };
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.resume()));
    assert_eq!(panic_message(&*caught.unwrap_err()), "resume me");
}

#[test]
fn errors_are_send_sync_errors() {
    fn takes(_: Box<dyn std::error::Error + Send + Sync>) {}
    let pool = ThreadPoolExecutor::new(1);
    let e = result(&pool.try_submit(|| -> () { panic!("x") }).unwrap()).unwrap_err();
    assert_eq!(e.to_string(), "the job panicked: x");
    takes(Box::new(e));
}

// ---------------------------------------------------------------------------
// cancel
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_never_runs_and_every_waiter_sees_it_at_once() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let h = pool
        .try_submit(move || {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    // A blocked thread, an awaiting task, wait() and as_completed, all on it.
    let c = h.clone();
    let thread = spawn_thread(move || c.result().wait_timeout(DEADLINE));
    let c = h.clone();
    let task = tokio::spawn(c);
    let c = h.clone();
    let waiting = tokio::spawn(async move { amphi::wait([c], ReturnWhen::AllCompleted).await });
    let c = h.clone();
    let completed = spawn_thread(move || amphi::as_completed([c]).timeout(DEADLINE).count());
    let_thread_block();
    assert!(h.cancel());
    assert!(h.cancel(), "cancel again is still true");
    // All of them return while the worker is still held at the gate.
    assert!(matches!(
        thread.join_async().await,
        Some(Err(JobError::Cancelled))
    ));
    assert!(matches!(join_task(task).await, Err(JobError::Cancelled)));
    let w = join_task(waiting).await;
    assert_eq!((w.done.len(), w.not_done.len()), (1, 0));
    assert_eq!(completed.join_async().await, 1);
    assert!(h.cancelled() && h.done() && !h.failed() && !h.running());
    assert!(!busy.done());
    gate.open();
    within(busy).await.unwrap();
    result(&pool.try_submit(|| ()).unwrap()).unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    let s = pool.stats();
    assert_eq!((s.queued, s.cancelled, s.completed), (0, 1, 2));
}

#[test]
fn a_running_or_finished_job_cannot_be_cancelled() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let h = block_worker(&pool, &gate);
    assert!(h.running());
    assert!(!h.cancel());
    gate.open();
    result(&h).unwrap();
    assert!(!h.cancel());
    assert!(!h.cancelled());
}

#[test]
fn cancel_drops_the_closure_at_once() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let held = Arc::new(());
    let h2 = Arc::clone(&held);
    let h = pool.try_submit(move || drop(h2)).unwrap();
    assert_eq!(Arc::strong_count(&held), 2);
    assert!(h.cancel());
    assert_eq!(Arc::strong_count(&held), 1, "the captured value is gone");
    gate.open();
    result(&busy).unwrap();
}

// ---------------------------------------------------------------------------
// callbacks
// ---------------------------------------------------------------------------

#[test]
fn callbacks_run_at_once_when_done_else_in_the_finishing_thread() {
    let pool = ThreadPoolExecutor::builder()
        .thread_name_prefix("cb")
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let h = pool.try_submit(|| 1).unwrap();
    h.finished().wait_timeout(DEADLINE);
    let s = seen.clone();
    h.add_done_callback(move |_| {
        s.lock()
            .unwrap()
            .push(thread::current().name().map(str::to_owned))
    });
    assert_eq!(seen.lock().unwrap().len(), 1, "ran at once, in this thread");
    assert_eq!(
        seen.lock().unwrap()[0],
        thread::current().name().map(str::to_owned)
    );

    let gate = Gate::new();
    let g = gate.clone();
    let h = pool.try_submit(move || g.pass()).unwrap();
    let done = Arc::new(Event::new());
    for k in 0..3 {
        let (s, d) = (seen.clone(), done.clone());
        h.add_done_callback(move |h| {
            assert!(h.done());
            s.lock()
                .unwrap()
                .push(Some(format!("{k}:{}", thread::current().name().unwrap())));
            if k == 2 {
                d.set();
            }
        });
    }
    gate.open();
    assert!(done.wait().wait_timeout(DEADLINE));
    let seen = seen.lock().unwrap();
    assert_eq!(seen[1].as_deref(), Some("0:cb_0"));
    assert_eq!(seen[2].as_deref(), Some("1:cb_0"));
    assert_eq!(seen[3].as_deref(), Some("2:cb_0"));
}

#[test]
fn a_panicking_callback_is_caught_and_counted() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let g = gate.clone();
    let h = pool.try_submit(move || g.pass()).unwrap();
    let after = Arc::new(Event::new());
    h.add_done_callback(|_| panic!("callback bug"));
    let a = after.clone();
    h.add_done_callback(move |_| a.set());
    gate.open();
    assert!(
        after.wait().wait_timeout(DEADLINE),
        "later callbacks still run"
    );
    result(&h).unwrap();
    // The worker survived, and the panic at once (done already) is caught too.
    h.add_done_callback(|_| panic!("again"));
    result(&pool.try_submit(|| ()).unwrap()).unwrap();
    assert_eq!(pool.stats().callback_panics, 2);
    assert_eq!(pool.stats().panicked, 0);
}

#[test]
fn a_cancel_runs_the_callbacks_in_the_cancelling_thread() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let h = pool.try_submit(|| ()).unwrap();
    let who = Arc::new(Mutex::new(None));
    let w = who.clone();
    h.add_done_callback(move |h| {
        *w.lock().unwrap() = Some((thread::current().id(), h.cancelled()))
    });
    assert!(h.cancel());
    assert_eq!(*who.lock().unwrap(), Some((thread::current().id(), true)));
    gate.open();
    result(&busy).unwrap();
}

// ---------------------------------------------------------------------------
// bounded queue: backpressure in every form
// ---------------------------------------------------------------------------

fn bounded(workers: usize, bound: usize) -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(workers)
        .queue_bound(bound)
        .build()
        .unwrap()
}

#[test]
fn try_submit_on_a_full_queue_gives_the_closure_back() {
    let pool = bounded(1, 1);
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let queued = pool.try_submit(|| 1).unwrap();
    let refused = pool.try_submit(|| 2).unwrap_err();
    assert!(matches!(refused, TrySubmitError::Full(_)));
    assert_eq!(refused.to_string(), "the executor's job queue is full");
    assert_eq!((refused.into_inner())(), 2);
    assert_eq!(pool.stats().queued, 1);
    gate.open();
    result(&busy).unwrap();
    assert_eq!(result(&queued).unwrap(), 1);
}

#[test]
fn blocking_submit_waits_for_room_and_timed_submit_times_out() {
    let pool = bounded(1, 1);
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let _queued = pool.try_submit(|| 0).unwrap();
    let start = Instant::now();
    match pool.submit(|| 3).wait_timeout(SHORT) {
        Err(SubmitTimeoutError::TimedOut(f)) => assert_eq!(f(), 3),
        other => panic!("{other:?}"),
    }
    assert_elapsed_about(start, SHORT);
    let p = Arc::new(pool);
    let p2 = Arc::clone(&p);
    let submitter = spawn_thread(move || p2.submit_blocking(|| 4).map(|h| result(&h).unwrap()));
    let_thread_block();
    assert!(!submitter.finished(), "waits for room");
    gate.open();
    assert_eq!(submitter.join().ok(), Some(4));
    result(&busy).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_submit_waits_for_room() {
    let pool = Arc::new(bounded(1, 1));
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let _queued = pool.try_submit(|| 0).unwrap();
    assert!(matches!(
        pool.submit(|| 1).timeout(SHORT).await,
        Err(SubmitTimeoutError::TimedOut(_))
    ));
    let p = pool.clone();
    let task = tokio::spawn(async move { p.submit(|| 5).await.unwrap().await.unwrap() });
    tokio::time::sleep(SHORT).await;
    assert!(!task.is_finished());
    gate.open();
    assert_eq!(join_task(task).await, 5);
    within(busy).await.unwrap();
}

#[test]
fn a_dropped_pending_submit_queues_nothing() {
    let pool = bounded(1, 1);
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let _queued = pool.try_submit(|| ()).unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let mut t = tokio_test::task::spawn(pool.submit(move || {
        r.fetch_add(1, Ordering::SeqCst);
    }));
    assert_pending!(t.poll());
    drop(t);
    assert_eq!(
        pool.stats().queued,
        1,
        "the one queued job, and not the dropped one"
    );
    let r = ran.clone();
    let sub = pool.submit(move || {
        r.fetch_add(10, Ordering::SeqCst);
    });
    let f = sub.into_closure().expect("not queued");
    drop(f);
    gate.open();
    result(&busy).unwrap();
    // Room again: later jobs go in; the dropped ones never ran.
    result(&pool.submit_blocking(|| ()).unwrap()).unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(pool.stats().queued, 0);
}

// ---------------------------------------------------------------------------
// shutdown
// ---------------------------------------------------------------------------

#[test]
fn shutdown_refuses_new_jobs_and_gives_the_closure_back() {
    let pool = ThreadPoolExecutor::new(2);
    let h = pool.try_submit(|| 1).unwrap();
    pool.shutdown(false).wait_timeout(DEADLINE);
    assert!(pool.is_shutdown());
    assert_eq!(result(&h).unwrap(), 1);
    match pool.try_submit(|| 2) {
        Err(TrySubmitError::ShutDown(f)) => assert_eq!(f(), 2),
        other => panic!("{other:?}"),
    }
    match pool.submit_blocking(|| 3) {
        Err(e @ SubmitError::ShutDown(_)) => {
            assert_eq!(e.to_string(), "the executor is shut down");
            assert_eq!((e.into_inner())(), 3);
        }
        other => panic!("{other:?}"),
    }
    assert!(pool.shutdown(false).wait_timeout(DEADLINE), "twice is fine");
    assert_eq!(pool.stats().threads, 0);
}

#[test]
fn shutdown_without_cancel_runs_every_queued_job() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let count = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..20)
        .map(|_| {
            let (g, c) = (gate.clone(), count.clone());
            pool.try_submit(move || {
                g.pass();
                c.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap()
        })
        .collect();
    let joined = pool.shutdown(false);
    gate.open();
    assert!(joined.wait_timeout(DEADLINE));
    assert_eq!(count.load(Ordering::SeqCst), 20);
    assert!(jobs.iter().all(|j| j.done() && !j.cancelled()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancel_futures_cancels_through_cancel() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let busy = block_worker(&pool, &gate);
    let callbacks = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..5)
        .map(|_| {
            let h = pool.try_submit(|| unreachable!("cancelled")).unwrap();
            let c = callbacks.clone();
            h.add_done_callback(move |h| {
                assert!(h.cancelled());
                c.fetch_add(1, Ordering::SeqCst);
            });
            h
        })
        .collect();
    let awaiting = {
        let h = queued[0].clone();
        tokio::spawn(h)
    };
    let joined = pool.shutdown(true);
    assert!(matches!(
        join_task(awaiting).await,
        Err(JobError::Cancelled)
    ));
    assert!(queued.iter().all(|h| h.cancelled()));
    assert_eq!(callbacks.load(Ordering::SeqCst), 5);
    assert!(busy.running(), "the running job goes on");
    gate.open();
    within(joined).await;
    within(busy).await.unwrap();
    let s = pool.stats();
    assert_eq!((s.threads, s.cancelled, s.queued), (0, 5, 0));
}

#[test]
fn shutdown_from_a_job_does_not_deadlock() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let p = Arc::clone(&pool);
    let h = pool
        .try_submit(move || {
            p.shutdown_blocking(false); // returns: it would wait for itself
            p.is_shutdown()
        })
        .unwrap();
    assert!(result(&h).unwrap());
    assert!(pool.shutdown(false).wait_timeout(DEADLINE));
}

#[test]
fn two_jobs_shutting_down_at_once_do_not_deadlock() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let gate = Arc::new(amphi::Barrier::new(2));
    let jobs: Vec<_> = (0..2)
        .map(|_| {
            let (p, g) = (pool.clone(), gate.clone());
            pool.try_submit(move || {
                g.wait().wait_timeout(DEADLINE).unwrap();
                p.shutdown(true).wait_timeout(DEADLINE)
            })
            .unwrap()
        })
        .collect();
    for j in &jobs {
        assert!(result(j).unwrap());
    }
    assert!(pool.shutdown(false).wait_timeout(DEADLINE));
}

#[test]
fn shutdown_and_drop_from_a_callback_do_not_deadlock() {
    let pool = Arc::new(ThreadPoolExecutor::new(1));
    let h = pool.try_submit(|| ()).unwrap();
    let p = Arc::clone(&pool);
    let done = Arc::new(Event::new());
    let d = done.clone();
    h.add_done_callback(move |_| {
        p.shutdown_blocking(false);
        drop(p); // perhaps the last one
        d.set();
    });
    assert!(done.wait().wait_timeout(DEADLINE));
    drop(pool);
}

#[test]
fn dropping_the_last_handle_to_the_pool_inside_its_own_job_is_fine() {
    let pool = Arc::new(ThreadPoolExecutor::new(1));
    let gate = Gate::new();
    let g = gate.clone();
    let p = Arc::clone(&pool);
    let h = pool
        .try_submit(move || {
            g.pass();
            drop(p); // the last reference: the executor drops in its own worker
        })
        .unwrap();
    let later = pool.try_submit(|| 5).unwrap();
    drop(pool);
    gate.open();
    result(&h).unwrap();
    assert_eq!(
        result(&later).unwrap(),
        5,
        "a drop still runs the queued jobs"
    );
}

#[tokio::test]
async fn dropping_the_pool_inside_a_runtime_neither_blocks_nor_loses_jobs() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let jobs: Vec<_> = (0..6)
        .map(|i| {
            let g = gate.clone();
            pool.try_submit(move || {
                g.pass();
                i
            })
            .unwrap()
        })
        .collect();
    drop(pool); // on a current-thread runtime: must not block or panic
    gate.open();
    for (i, j) in jobs.into_iter().enumerate() {
        assert_eq!(within(j).await.unwrap(), i);
    }
}

#[tokio::test]
async fn async_shutdown_joins_the_workers() {
    let pool = ThreadPoolExecutor::new(3);
    for _ in 0..6 {
        drop(pool.try_submit(|| thread::sleep(Duration::from_millis(5))));
    }
    within(pool.shutdown(false)).await;
    let s = pool.stats();
    assert_eq!((s.threads, s.completed, s.queued, s.running), (0, 6, 0, 0));
}

#[test]
fn shutdown_of_an_unused_pool_returns_at_once() {
    let pool = ThreadPoolExecutor::new(3);
    assert!(pool.shutdown(true).wait_timeout(DEADLINE));
}

// ---------------------------------------------------------------------------
// broken pool
// ---------------------------------------------------------------------------

#[test]
fn a_failing_initializer_breaks_the_pool() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .try_initializer(move || {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                Ok(())
            } else {
                Err("no second connection")
            }
        })
        .build()
        .unwrap();
    let gate = Gate::new();
    let running = block_worker(&pool, &gate); // worker 0: initialized fine
    let queued = pool.try_submit(|| 1).unwrap(); // starts worker 1, which fails
    match result(&queued) {
        Err(JobError::BrokenPool(why)) => assert!(why.contains("no second connection"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(queued.failed());
    assert!(pool.is_broken());
    match pool.try_submit(|| 2) {
        Err(TrySubmitError::Broken(f)) => assert_eq!(f(), 2),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        pool.submit_blocking(|| 3),
        Err(SubmitError::Broken(_))
    ));
    assert!(!running.done(), "the running job goes on");
    gate.open();
    result(&running).unwrap();
    assert!(pool.shutdown(false).wait_timeout(DEADLINE));
}

#[tokio::test]
async fn a_panicking_initializer_breaks_the_pool() {
    let pool = ThreadPoolExecutor::builder()
        .initializer(|| panic!("bad config"))
        .build()
        .unwrap();
    let jobs: Vec<_> = (0..3).map(|_| pool.try_submit(|| ()).unwrap()).collect();
    for j in jobs {
        match within(j).await {
            Err(JobError::BrokenPool(why)) => assert!(why.contains("bad config"), "{why}"),
            // A submission can race the breaking: it is refused instead,
            // never left waiting.
            other => panic!("{other:?}"),
        }
    }
    assert!(pool.is_broken());
    assert!(matches!(
        pool.submit(|| ()).await,
        Err(SubmitError::Broken(_))
    ));
    within(pool.shutdown(false)).await;
    assert_eq!(pool.stats().threads, 0);
}

// ---------------------------------------------------------------------------
// map
// ---------------------------------------------------------------------------

#[test]
fn map_gives_results_in_input_order() {
    let pool = ThreadPoolExecutor::new(4);
    let out: Vec<u64> = pool
        .map(
            |x: u64| {
                thread::sleep(Duration::from_micros((50 - x) * 100));
                x * 2
            },
            0..50,
        )
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, (0..50).map(|x| x * 2).collect::<Vec<_>>());
}

#[test]
fn map_keeps_at_most_buffersize_jobs_in_flight() {
    let pool = ThreadPoolExecutor::new(4);
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let mut m = pool.map_buffered(
        move |x: usize| {
            s.fetch_add(1, Ordering::SeqCst);
            x
        },
        0..1000,
        3,
    );
    assert_eq!(m.in_flight(), 3, "the call submits the first three");
    assert_eq!(m.next().unwrap().unwrap(), 0);
    wait_until("the window's jobs ran", || {
        pool.stats().queued == 0 && pool.stats().running == 0
    });
    assert_eq!(started.load(Ordering::SeqCst), 3);
    assert_eq!(m.in_flight(), 2);
    assert_eq!(m.next().unwrap().unwrap(), 1);
    assert_eq!(m.in_flight(), 2, "one more submitted per result taken");
    drop(m);
    assert!(pool.shutdown(false).wait_timeout(DEADLINE));
    assert!(started.load(Ordering::SeqCst) <= 4);
}

#[test]
fn map_with_an_endless_iterator_is_lazy() {
    let pool = ThreadPoolExecutor::new(2);
    let first: Vec<u64> = pool
        .map(|x: u64| x + 1, 0..)
        .take(5)
        .map(Result::unwrap)
        .collect();
    assert_eq!(first, [1, 2, 3, 4, 5]);
}

#[test]
fn map_timeout_counts_from_the_call_and_cancels_the_rest() {
    let pool = ThreadPoolExecutor::new(1);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let start = Instant::now();
    let out: Vec<_> = pool
        .map_buffered(
            move |ms: u64| {
                r.fetch_add(1, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(ms));
            },
            [0, 200, 0, 0, 0],
            5,
        )
        .timeout(Duration::from_millis(50))
        .collect();
    assert!(start.elapsed() < Duration::from_millis(200) + SLACK);
    assert_eq!(out.len(), 2);
    assert!(out[0].is_ok());
    assert!(matches!(out[1], Err(MapError::TimedOut)));
    assert!(pool.shutdown(false).wait_timeout(DEADLINE));
    assert_eq!(
        ran.load(Ordering::SeqCst),
        2,
        "the queued rest was cancelled"
    );
    assert_eq!(pool.stats().cancelled, 3);
}

#[test]
fn map_leaving_early_cancels_what_has_not_started() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let (g, r) = (gate.clone(), ran.clone());
    let m = pool.map_buffered(
        move |_: u32| {
            g.pass();
            r.fetch_add(1, Ordering::SeqCst);
        },
        0..10,
        10,
    );
    wait_until("the first runs", || pool.stats().running == 1);
    drop(m);
    gate.open();
    assert!(pool.shutdown(false).wait_timeout(DEADLINE));
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(pool.stats().cancelled, 9);
}

#[test]
fn map_reports_a_panic_per_item_and_goes_on() {
    let pool = ThreadPoolExecutor::new(2);
    let out: Vec<_> = pool
        .map(
            |x: i32| {
                assert!(x != 2, "two is bad");
                x
            },
            0..5,
        )
        .collect();
    assert_eq!(out.len(), 5);
    match &out[2] {
        Err(MapError::Job(JobError::Panicked(p))) => assert_eq!(p.message(), "two is bad"),
        other => panic!("{other:?}"),
    }
    assert!(out.iter().enumerate().all(|(i, r)| i == 2 || r.is_ok()));
}

#[test]
fn map_on_a_bounded_queue_waits_for_room() {
    let pool = bounded(2, 1);
    let out: Vec<u32> = pool
        .map_buffered(|x: u32| x, 0..100, 50)
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, (0..100).collect::<Vec<_>>());
}

#[test]
fn map_after_shutdown_says_so() {
    let pool = ThreadPoolExecutor::new(1);
    drop(pool.shutdown(false));
    let out: Vec<_> = pool.map(|x: u8| x, [1, 2]).collect();
    assert!(matches!(out[..], [Err(MapError::ShutDown)]));
}

#[tokio::test]
async fn map_stream_in_order_with_timeout() {
    let pool = ThreadPoolExecutor::new(2);
    let out: Vec<u32> = pool
        .map(|x: u32| x * 3, 0..20)
        .stream()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(out, (0..20).map(|x| x * 3).collect::<Vec<_>>());
    let out: Vec<_> = pool
        .map(
            |ms: u64| thread::sleep(Duration::from_millis(ms)),
            [0, 300, 0],
        )
        .timeout(Duration::from_millis(30))
        .stream()
        .collect()
        .await;
    assert_eq!(out.len(), 2);
    assert!(matches!(out[1], Err(MapError::TimedOut)));
}

#[tokio::test]
async fn map_stream_on_a_bounded_queue() {
    let pool = bounded(1, 1);
    let out: Vec<u32> = within(
        pool.map_buffered(|x: u32| x, 0..50, 10)
            .stream()
            .map(Result::unwrap)
            .collect(),
    )
    .await;
    assert_eq!(out, (0..50).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------
// as_completed and wait
// ---------------------------------------------------------------------------

#[test]
fn as_completed_yields_in_completion_order() {
    let pool = ThreadPoolExecutor::new(3);
    let gates: Vec<_> = (0..3).map(|_| Gate::new()).collect();
    let jobs: Vec<_> = gates
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let g = g.clone();
            pool.try_submit(move || {
                g.pass();
                i
            })
            .unwrap()
        })
        .collect();
    let mut it = amphi::as_completed(jobs).timeout(DEADLINE);
    for i in [2, 0, 1] {
        gates[i].open();
        assert_eq!(result(&it.next().unwrap().unwrap()).unwrap(), i);
    }
    assert!(it.next().is_none());
}

#[test]
fn as_completed_times_out_with_the_unfinished_count() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let done = pool.try_submit(|| ()).unwrap();
    done.finished().wait_timeout(DEADLINE);
    let g = gate.clone();
    let stuck = pool.try_submit(move || g.pass()).unwrap();
    let start = Instant::now();
    let mut it = amphi::as_completed([stuck, done]).timeout(SHORT);
    assert!(it.next().unwrap().is_ok(), "the finished one first");
    let e = it.next().unwrap().unwrap_err();
    assert_eq!((e.unfinished, e.total), (1, 2));
    assert_elapsed_about(start, SHORT);
    assert!(it.next().is_none());
    gate.open();
}

#[tokio::test]
async fn as_completed_stream_and_its_timeout() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let g = gate.clone();
    let stuck = pool.try_submit(move || g.pass()).unwrap();
    let fine = pool.try_submit(|| ()).unwrap();
    let mut s = amphi::as_completed([stuck.clone(), fine])
        .timeout(SHORT)
        .stream();
    assert!(within(s.next()).await.unwrap().is_ok());
    let e = within(s.next()).await.unwrap().unwrap_err();
    assert_eq!(e.unfinished, 1);
    assert!(s.next().await.is_none());
    gate.open();
    let mut s = amphi::as_completed([stuck]).stream();
    assert!(within(s.next()).await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_return_when_in_both_worlds() {
    let pool = Arc::new(ThreadPoolExecutor::new(3));
    let gate = Gate::new();
    let g = gate.clone();
    let slow = pool.try_submit(move || g.pass()).unwrap();
    let fast = pool.try_submit(|| ()).unwrap();
    let w = within(amphi::wait(
        [slow.clone(), fast.clone()],
        ReturnWhen::FirstCompleted,
    ))
    .await;
    assert_eq!((w.done.len(), w.not_done.len()), (1, 1));
    assert!(w.done[0].same_job(&fast));

    let p = pool.clone();
    let (s, f) = (slow.clone(), fast.clone());
    let thread = spawn_thread(move || {
        let bad = p.try_submit(|| -> () { panic!("bad") }).unwrap();
        amphi::wait([s, f, bad], ReturnWhen::FirstException).wait_timeout(DEADLINE)
    });
    let w = thread.join_async().await;
    assert_eq!((w.done.len(), w.not_done.len()), (2, 1), "slow is not done");

    let start = Instant::now();
    let w = amphi::wait([slow.clone()], ReturnWhen::AllCompleted)
        .timeout(SHORT)
        .await;
    assert_eq!(w.not_done.len(), 1);
    assert_elapsed_about(start, SHORT);
    gate.open();
    let w = within(amphi::wait([slow, fast], ReturnWhen::AllCompleted)).await;
    assert_eq!(w.done.len(), 2);
    let w = amphi::wait(
        Vec::<amphi::JobHandle<()>>::new(),
        ReturnWhen::FirstCompleted,
    )
    .await;
    assert!(w.done.is_empty() && w.not_done.is_empty());
}

#[test]
fn first_exception_sees_an_err_of_a_fallible_job_but_not_a_cancel() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let g = gate.clone();
    let slow = pool.try_submit(move || g.pass()).unwrap();
    let ok = pool.submit_fallible(|| Ok::<_, String>(1)).wait().unwrap();
    let err = pool
        .submit_fallible(|| Err::<u8, _>("bad".to_owned()))
        .wait()
        .unwrap();
    err.finished().wait_timeout(DEADLINE);
    ok.finished().wait_timeout(DEADLINE);
    assert!(err.failed() && !ok.failed());
    let w = amphi::wait([ok, err], ReturnWhen::FirstException).wait_timeout(DEADLINE);
    assert_eq!(w.done.len(), 2);

    // A cancelled job is done but not failed: FirstException keeps waiting.
    let gate2 = Gate::new();
    let busy = {
        let g = gate2.clone();
        pool.try_submit(move || g.pass()).unwrap()
    };
    let queued = pool.try_submit(|| ()).unwrap();
    assert!(queued.cancel());
    let w = amphi::wait([queued, slow.clone()], ReturnWhen::FirstException).wait_timeout(SHORT);
    assert_eq!((w.done.len(), w.not_done.len()), (1, 1));
    gate.open();
    gate2.open();
    result(&busy).unwrap();
    result(&slow).unwrap();
}

// ---------------------------------------------------------------------------
// stress: 10^5 jobs from threads and tasks at once
// ---------------------------------------------------------------------------

#[test]
fn stress_every_result_collected_exactly_once() {
    const PER: usize = 12_500;
    const THREADS: usize = 4;
    const TASKS: usize = 4;
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(4)
            .queue_bound(256)
            .build()
            .unwrap(),
    );
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (p, seen) = (pool.clone(), seen.clone());
            spawn_thread(move || {
                let mut handles = std::collections::VecDeque::new();
                let mut got = Vec::with_capacity(PER);
                for i in 0..PER {
                    let id = t * PER + i;
                    handles.push_back(p.submit_blocking(move || id).unwrap());
                    if handles.len() > 64 {
                        got.push(result(&handles.pop_front().unwrap()).unwrap());
                    }
                }
                got.extend(handles.iter().map(|h| result(h).unwrap()));
                let mut s = seen.lock().unwrap();
                for id in got {
                    assert!(s.insert(id), "job {id} came back twice");
                }
            })
        })
        .collect();
    let rt = multi_thread_runtime(2);
    rt.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let (p, seen) = (pool.clone(), seen.clone());
                tokio::spawn(async move {
                    let mut handles = std::collections::VecDeque::new();
                    let mut got = Vec::with_capacity(PER);
                    for i in 0..PER {
                        let id = (THREADS + t) * PER + i;
                        handles.push_back(p.submit(move || id).await.unwrap());
                        if handles.len() > 64 {
                            got.push(handles.pop_front().unwrap().await.unwrap());
                        }
                    }
                    for h in handles {
                        got.push(h.await.unwrap());
                    }
                    let mut s = seen.lock().unwrap();
                    for id in got {
                        assert!(s.insert(id), "job {id} came back twice");
                    }
                })
            })
            .collect();
        for t in tasks {
            within_for(Duration::from_secs(120), t).await.unwrap();
        }
    });
    for t in threads {
        t.join_within(Duration::from_secs(120));
    }
    let n = (THREADS + TASKS) * PER;
    assert_eq!(seen.lock().unwrap().len(), n);
    assert!(seen.lock().unwrap().iter().all(|&id| id < n));
    let s = pool.stats();
    assert_eq!((s.completed, s.queued, s.running), (n, 0, 0));
}

/// A job counted as running has given its queue room back: a submit made
/// after `stats().running` shows it finds the room (the order of the two
/// counts; this once failed the `TrySubmitError` doc example in CI).
#[test]
fn a_job_seen_running_has_left_its_queue_room() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .queue_bound(1)
        .build()
        .unwrap();
    for _ in 0..2_000 {
        let gate = Arc::new(Event::new());
        let g = Arc::clone(&gate);
        let running = pool
            .try_submit(move || assert!(g.wait().wait_timeout(DEADLINE)))
            .unwrap();
        // Spin (not sleep) on the count, to catch the moment it changes.
        let end = Instant::now() + DEADLINE;
        while pool.stats().running == 0 {
            assert!(Instant::now() < end, "the job never ran");
            thread::yield_now();
        }
        let queued = pool.try_submit(|| ()).expect("the room was given back");
        gate.set();
        running.result_blocking().unwrap();
        queued.result_blocking().unwrap();
    }
}
