//! Ports of CPython's `Lib/test/test_queue.py` (3.13, with `shutdown`) to
//! amphi, for all three orders. Where CPython runs a function in a thread,
//! the port runs it in a thread and, where it adds something, also in a
//! tokio task on the same queue. CPython's "trigger thread sleeps 0.1 s and
//! then unclogs" becomes "wait until the blocked call is counted as a
//! waiter, then unclog": no sleeps, and "appeared not to block" is checked
//! exactly.
//!
//! Not ported, because Rust rules them out at compile time: negative
//! timeouts (`Duration` is unsigned) and shrinking `maxsize` on a live
//! queue (it is fixed at construction). CPython's `FailingQueue` (an
//! exception inside `_put`/`_get`) becomes a priority item whose `Ord`
//! panics: the queue stays usable.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use amphi::{
    Event, GenericQueue, GetTimeoutError, Order, PriorityQueue, PutTimeoutError, ShutDown,
    TaskDoneError, TryGetError, TryPutError,
};
use common::*;

const QUEUE_SIZE: usize = 5;

type Q<O> = GenericQueue<i64, O>;

fn qfull<O: Order<i64>>(q: &Q<O>) -> bool {
    q.maxsize() > 0 && q.len() == q.maxsize()
}

/// CPython's `do_blocking_test`: `block` must block until `trigger` (run
/// on another thread once `block` is counted as waiting) unclogs it.
fn do_blocking_test<O, R>(
    q: &Arc<Q<O>>,
    block: impl FnOnce(&Q<O>) -> R,
    trigger: impl FnOnce(&Q<O>) + Send + 'static,
) -> R
where
    O: Order<i64> + 'static,
    Q<O>: Send + Sync,
{
    let started = Arc::new(Event::new());
    let t = {
        let (q, started) = (Arc::clone(q), Arc::clone(&started));
        spawn_thread(move || {
            let q2 = Arc::clone(&q);
            wait_until("the blocking call waits", move || q2.waiters().total() > 0);
            started.set();
            trigger(&q);
        })
    };
    let out = block(q);
    assert!(started.is_set(), "blocking function appeared not to block");
    t.join();
    out
}

fn basic_queue_test<O>(q: &Arc<Q<O>>, target_order: [i64; 3])
where
    O: Order<i64> + 'static,
    Q<O>: Send + Sync,
{
    assert_eq!(q.len(), 0, "call this function with an empty queue");
    assert!(q.is_empty());
    assert!(!q.is_full());
    q.put_blocking(111).unwrap();
    q.put_blocking(333).unwrap();
    q.put_blocking(222).unwrap();
    let actual = [
        q.get_blocking().unwrap(),
        q.get_blocking().unwrap(),
        q.get_blocking().unwrap(),
    ];
    assert_eq!(
        actual, target_order,
        "didn't seem to queue the correct data"
    );
    for i in 0..QUEUE_SIZE as i64 - 1 {
        q.put_blocking(i).unwrap();
        assert!(!q.is_empty(), "queue should not be empty");
    }
    assert!(!qfull(q), "queue should not be full");
    let last = 2 * QUEUE_SIZE as i64;
    let full = 3 * 2 * QUEUE_SIZE as i64;
    q.put_blocking(last).unwrap();
    assert!(qfull(q), "queue should be full");
    assert!(!q.is_empty());
    assert!(q.is_full());
    assert_eq!(q.try_put(full), Err(TryPutError::Full(full)));
    assert_eq!(
        q.put(full).wait_timeout(Duration::from_millis(10)),
        Err(PutTimeoutError::TimedOut(full))
    );
    // Blocking puts, untimed and timed.
    do_blocking_test(
        q,
        |q| q.put_blocking(full).unwrap(),
        |q| {
            q.get_blocking().unwrap();
        },
    );
    do_blocking_test(
        q,
        |q| q.put(full).wait_timeout(Duration::from_secs(10)).unwrap(),
        |q| {
            q.get_blocking().unwrap();
        },
    );
    for _ in 0..QUEUE_SIZE {
        q.get_blocking().unwrap();
    }
    assert_eq!(q.len(), 0, "queue should be empty");
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    assert_eq!(
        q.get().wait_timeout(Duration::from_millis(10)),
        Err(GetTimeoutError::TimedOut)
    );
    // Blocking gets, untimed and timed.
    do_blocking_test(
        q,
        |q| q.get_blocking().unwrap(),
        |q| q.put_blocking(-7).unwrap(),
    );
    do_blocking_test(
        q,
        |q| q.get().wait_timeout(Duration::from_secs(10)).unwrap(),
        |q| q.put_blocking(-7).unwrap(),
    );
    // Leave the work counter clean for the next round.
    q.task_done_many(q.unfinished()).unwrap();
}

#[test]
fn test_basic() {
    // Twice on the same instance, as CPython does.
    let q = Arc::new(GenericQueue::<i64, amphi::Fifo>::new(QUEUE_SIZE));
    basic_queue_test(&q, [111, 333, 222]);
    basic_queue_test(&q, [111, 333, 222]);
    let q = Arc::new(GenericQueue::<i64, amphi::Lifo>::new(QUEUE_SIZE));
    basic_queue_test(&q, [222, 333, 111]);
    basic_queue_test(&q, [222, 333, 111]);
    let q = Arc::new(GenericQueue::<i64, amphi::Priority>::new(QUEUE_SIZE));
    basic_queue_test(&q, [111, 222, 333]);
    basic_queue_test(&q, [111, 222, 333]);
}

/// CPython's `queue_join_test`, with one worker thread and one worker task.
fn queue_join_test<O>(q: &Arc<Q<O>>, rt: &tokio::runtime::Runtime)
where
    O: Order<i64> + 'static,
    Q<O>: Send + Sync,
{
    let cum = Arc::new(Mutex::new(0i64));
    let thread = {
        let (q, cum) = (Arc::clone(q), Arc::clone(&cum));
        spawn_thread(move || {
            loop {
                let x = q.get_blocking().unwrap();
                if x < 0 {
                    q.task_done().unwrap();
                    return;
                }
                *cum.lock().unwrap() += x;
                q.task_done().unwrap();
            }
        })
    };
    let task = {
        let (q, cum) = (Arc::clone(q), Arc::clone(&cum));
        rt.spawn(async move {
            loop {
                let x = q.get().await.unwrap();
                if x < 0 {
                    q.task_done().unwrap();
                    return;
                }
                *cum.lock().unwrap() += x;
                q.task_done().unwrap();
            }
        })
    };
    for i in 0..100 {
        q.put_blocking(i).unwrap();
    }
    assert!(q.join().wait_timeout(DEADLINE), "join hung");
    assert_eq!(
        *cum.lock().unwrap(),
        (0..100).sum::<i64>(),
        "q.join() did not block until all tasks were done"
    );
    for _ in 0..2 {
        q.put_blocking(-1).unwrap(); // instruct the workers to close
    }
    assert!(q.join().wait_timeout(DEADLINE), "join twice");
    thread.join();
    rt.block_on(join_task(task));
}

fn queue_join<O>()
where
    O: Order<i64> + 'static,
    Q<O>: Send + Sync,
{
    let rt = multi_thread_runtime(1);
    let q = Arc::new(Q::<O>::new(0));
    queue_join_test(&q, &rt);
    queue_join_test(&q, &rt);
    assert_eq!(q.task_done(), Err(TaskDoneError), "count going negative");
}

#[test]
fn test_queue_join() {
    queue_join::<amphi::Fifo>();
    queue_join::<amphi::Lifo>();
    queue_join::<amphi::Priority>();
}

#[test]
fn test_queue_task_done() {
    assert_eq!(Q::<amphi::Fifo>::new(0).task_done(), Err(TaskDoneError));
    assert_eq!(Q::<amphi::Lifo>::new(0).task_done(), Err(TaskDoneError));
    assert_eq!(Q::<amphi::Priority>::new(0).task_done(), Err(TaskDoneError));
}

fn nowait<O: Order<i64>>() {
    let q = Q::<O>::new(QUEUE_SIZE);
    for _ in 0..QUEUE_SIZE {
        q.try_put(1).unwrap();
    }
    assert_eq!(q.try_put(1), Err(TryPutError::Full(1)));
    for _ in 0..QUEUE_SIZE {
        q.try_get().unwrap();
    }
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
}

#[test]
fn test_nowait() {
    nowait::<amphi::Fifo>();
    nowait::<amphi::Lifo>();
    nowait::<amphi::Priority>();
}

fn shutdown_simple<O: Order<i64>>() {
    // test_shutdown_empty
    let q = Q::<O>::new(0);
    q.shutdown(false);
    assert!(q.put_blocking(1).is_err());
    assert_eq!(q.get_blocking(), Err(ShutDown));
    // test_shutdown_nonempty
    let q = Q::<O>::new(0);
    q.put_blocking(1).unwrap();
    q.shutdown(false);
    q.get_blocking().unwrap();
    assert_eq!(q.get_blocking(), Err(ShutDown));
    // test_shutdown_immediate
    let q = Q::<O>::new(0);
    q.put_blocking(1).unwrap();
    q.shutdown(true);
    assert_eq!(q.get_blocking(), Err(ShutDown));
    // test_shutdown_allowed_transitions
    let q = Q::<O>::new(0);
    assert!(!q.is_shutdown());
    q.shutdown(false);
    assert!(q.is_shutdown());
    q.shutdown(true);
    assert!(q.is_shutdown());
    q.shutdown(false);
    assert!(q.is_shutdown());
}

#[test]
fn test_shutdown_empty_nonempty_immediate_transitions() {
    shutdown_simple::<amphi::Fifo>();
    shutdown_simple::<amphi::Lifo>();
    shutdown_simple::<amphi::Priority>();
}

fn shutdown_all_methods_in_one_thread<O: Order<i64>>(immediate: bool) {
    let (l, o) = (1, 2);
    let q = Q::<O>::new(2);
    q.put_blocking(l).unwrap();
    q.try_put(o).unwrap();
    q.shutdown(immediate);
    assert!(q.put_blocking(3).is_err());
    assert_eq!(q.try_put(4), Err(TryPutError::ShutDown(4)));
    if immediate {
        assert_eq!(q.get_blocking(), Err(ShutDown));
        assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
        assert_eq!(q.task_done(), Err(TaskDoneError));
        q.join_blocking();
    } else {
        assert!([l, o].contains(&q.get_blocking().unwrap()));
        q.task_done().unwrap();
        assert!([l, o].contains(&q.get_blocking().unwrap()));
        q.task_done().unwrap();
        q.join_blocking();
        assert_eq!(q.get_blocking(), Err(ShutDown));
        assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
        assert_eq!(
            q.get().wait_timeout(Duration::from_secs(1)),
            Err(GetTimeoutError::ShutDown)
        );
    }
}

#[test]
fn test_shutdown_all_methods_in_one_thread() {
    for immediate in [false, true] {
        shutdown_all_methods_in_one_thread::<amphi::Fifo>(immediate);
        shutdown_all_methods_in_one_thread::<amphi::Lifo>(immediate);
        shutdown_all_methods_in_one_thread::<amphi::Priority>(immediate);
    }
}

/// CPython's `_shutdown_all_methods_in_many_threads`: writers, readers
/// (threads, and here tasks too) and, for an immediate shutdown, joiners;
/// one writer triggers the shutdown midway. Fewer messages than CPython's
/// 64 Ki (two cores, and the unbounded queue would only grow).
fn shutdown_all_methods_in_many_threads<O>(immediate: bool)
where
    O: Order<i64> + 'static,
    Q<O>: Send + Sync,
{
    let rt = multi_thread_runtime(2);
    let q = Arc::new(Q::<O>::new(0));
    let (write_threads, read_threads, read_tasks, joiners) = (4, 4, 2, 2);
    let nb_msgs_w = 4096 / write_threads as i64;
    let when_exec_shutdown = nb_msgs_w / 2;
    let nparties = write_threads + read_threads + read_tasks + if immediate { joiners } else { 0 };
    let barrier_start = Arc::new(amphi::Barrier::new(nparties));
    let ev_exec_shutdown = Arc::new(Event::new());
    let res_puts = Arc::new(Mutex::new(Vec::new()));
    let res_gets = Arc::new(Mutex::new(Vec::new()));

    let mut threads = Vec::new();
    for _ in 0..write_threads {
        let (q, b, ev, res) = (
            Arc::clone(&q),
            Arc::clone(&barrier_start),
            Arc::clone(&ev_exec_shutdown),
            Arc::clone(&res_puts),
        );
        threads.push(spawn_thread(move || {
            for i in 0..when_exec_shutdown / 2 {
                q.put_blocking(i).unwrap();
            }
            b.wait_blocking().unwrap();
            for i in when_exec_shutdown / 2..nb_msgs_w {
                if q.put_blocking(i).is_err() {
                    res.lock().unwrap().push(false);
                    break;
                }
                if i == when_exec_shutdown && !ev.is_set() {
                    ev.set();
                    res.lock().unwrap().push(true);
                }
            }
        }));
    }
    for _ in 0..read_threads {
        let (q, b, res) = (
            Arc::clone(&q),
            Arc::clone(&barrier_start),
            Arc::clone(&res_gets),
        );
        threads.push(spawn_thread(move || {
            q.get_blocking().unwrap();
            q.task_done().unwrap();
            b.wait_blocking().unwrap();
            loop {
                match q.try_get() {
                    Ok(_) => q.task_done().unwrap(),
                    Err(TryGetError::ShutDown) => {
                        res.lock().unwrap().push(true);
                        break;
                    }
                    Err(TryGetError::Empty) => std::thread::yield_now(),
                }
            }
        }));
    }
    let mut tasks = Vec::new();
    for _ in 0..read_tasks {
        let (q, b, res) = (
            Arc::clone(&q),
            Arc::clone(&barrier_start),
            Arc::clone(&res_gets),
        );
        tasks.push(rt.spawn(async move {
            q.get().await.unwrap();
            q.task_done().unwrap();
            b.wait().await.unwrap();
            while q.get().await.is_ok() {
                q.task_done().unwrap();
            }
            res.lock().unwrap().push(true);
        }));
    }
    let shutdown = {
        let (q, ev) = (Arc::clone(&q), Arc::clone(&ev_exec_shutdown));
        spawn_thread(move || {
            assert!(ev.wait().wait_timeout(DEADLINE));
            q.shutdown(immediate);
            q.is_empty()
        })
    };
    if immediate {
        for _ in 0..joiners {
            let (q, b) = (Arc::clone(&q), Arc::clone(&barrier_start));
            threads.push(spawn_thread(move || {
                b.wait_blocking().unwrap();
                assert!(q.join().wait_timeout(DEADLINE), "join hung");
            }));
        }
    }
    let emptied = shutdown.join();
    rt.block_on(async {
        join_threads(threads).await;
        for t in tasks {
            join_task(t).await;
        }
    });
    assert!(res_puts.lock().unwrap().contains(&true));
    assert_eq!(
        res_gets.lock().unwrap().iter().filter(|&&r| r).count(),
        read_threads + read_tasks
    );
    if immediate {
        assert!(emptied);
        assert!(q.is_empty());
    }
}

#[test]
fn test_shutdown_all_methods_in_many_threads() {
    for immediate in [false, true] {
        shutdown_all_methods_in_many_threads::<amphi::Fifo>(immediate);
        shutdown_all_methods_in_many_threads::<amphi::Lifo>(immediate);
        shutdown_all_methods_in_many_threads::<amphi::Priority>(immediate);
    }
}

/// CPython's `_shutdown_get`: getters that start after the shutdown of a
/// full queue of 2 drain it (immediate: nothing left, all fail).
fn shutdown_get<O>(immediate: bool)
where
    O: Order<i64> + 'static,
    Q<O>: Send + Sync,
{
    let q = Arc::new(Q::<O>::new(2));
    let go = Arc::new(Event::new());
    q.put_blocking(1).unwrap();
    q.put_blocking(2).unwrap();
    let n = if immediate { 2 } else { 3 };
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (q, go) = (Arc::clone(&q), Arc::clone(&go));
            spawn_thread(move || {
                assert!(go.wait().wait_timeout(DEADLINE));
                q.get_blocking().is_ok()
            })
        })
        .collect();
    q.shutdown(immediate);
    go.set();
    let mut results: Vec<bool> = threads.into_iter().map(|t| t.join()).collect();
    results.sort();
    if immediate {
        assert_eq!(results, vec![false, false]);
    } else {
        assert_eq!(results, vec![false, true, true]);
    }
}

#[test]
fn test_shutdown_get() {
    for immediate in [false, true] {
        shutdown_get::<amphi::Fifo>(immediate);
        shutdown_get::<amphi::Lifo>(immediate);
        shutdown_get::<amphi::Priority>(immediate);
    }
}

/// CPython's `_shutdown_put`: putters on a full queue of 2, started and
/// blocked, fail with their items once it shuts down (here: a thread and
/// a task).
fn shutdown_put<O>()
where
    O: Order<i64> + 'static,
    Q<O>: Send + Sync,
{
    let rt = multi_thread_runtime(1);
    let q = Arc::new(Q::<O>::new(2));
    q.put_blocking(1).unwrap();
    q.put_blocking(2).unwrap();
    let thread = {
        let q = Arc::clone(&q);
        spawn_thread(move || q.put_blocking(3).map_err(|e| e.into_inner()))
    };
    let task = rt.spawn(q.put_arc(4));
    let q2 = Arc::clone(&q);
    wait_until("both putters wait", move || q2.waiters().total() == 2);
    q.shutdown(false);
    assert_eq!(thread.join(), Err(3));
    assert_eq!(
        rt.block_on(join_task(task)).map_err(|e| e.into_inner()),
        Err(4)
    );
}

#[test]
fn test_shutdown_put() {
    shutdown_put::<amphi::Fifo>();
    shutdown_put::<amphi::Lifo>();
    shutdown_put::<amphi::Priority>();
}

/// CPython's `_shutdown_join`: joiners wait for one unfinished item; an
/// immediate shutdown removes it (counted done), otherwise a getter that
/// starts after the shutdown takes it and marks it done.
fn shutdown_join<O>(immediate: bool)
where
    O: Order<i64> + 'static,
    Q<O>: Send + Sync,
{
    let q = Arc::new(Q::<O>::new(0));
    q.put_blocking(1).unwrap();
    let go = Arc::new(Event::new());
    let mut joiners = Vec::new();
    for _ in 0..2 {
        let q = Arc::clone(&q);
        joiners.push(spawn_thread(move || q.join().wait_timeout(DEADLINE)));
    }
    let getter = (!immediate).then(|| {
        let (q, go) = (Arc::clone(&q), Arc::clone(&go));
        spawn_thread(move || {
            assert!(go.wait().wait_timeout(DEADLINE));
            q.get_blocking().unwrap();
            q.task_done().unwrap();
        })
    });
    q.shutdown(immediate);
    go.set();
    for j in joiners {
        assert!(j.join(), "a joiner hung");
    }
    if let Some(g) = getter {
        g.join();
    }
}

#[test]
fn test_shutdown_join() {
    for immediate in [false, true] {
        shutdown_join::<amphi::Fifo>(immediate);
        shutdown_join::<amphi::Lifo>(immediate);
        shutdown_join::<amphi::Priority>(immediate);
    }
}

/// CPython's `_shutdown_put_join`.
fn shutdown_put_join<O>(immediate: bool)
where
    O: Order<i64> + 'static,
    Q<O>: Send + Sync,
{
    let q = Arc::new(Q::<O>::new(2));
    let go = Arc::new(Event::new());
    q.put_blocking(1).unwrap();
    let putter = {
        let (q, go) = (Arc::clone(&q), Arc::clone(&go));
        spawn_thread(move || {
            assert!(go.wait().wait_timeout(DEADLINE));
            q.put_blocking(5).is_err()
        })
    };
    let joiner = {
        let q = Arc::clone(&q);
        spawn_thread(move || q.join().wait_timeout(DEADLINE))
    };
    assert_eq!(q.unfinished(), 1);
    q.shutdown(immediate);
    go.set();
    if immediate {
        assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
    } else {
        assert_eq!(q.get_blocking(), Ok(1));
        q.task_done().unwrap();
    }
    assert!(putter.join(), "the put after shutdown must fail");
    assert!(joiner.join());
}

#[test]
fn test_shutdown_put_join() {
    for immediate in [false, true] {
        shutdown_put_join::<amphi::Fifo>(immediate);
        shutdown_put_join::<amphi::Lifo>(immediate);
        shutdown_put_join::<amphi::Priority>(immediate);
    }
}

fn shutdown_get_task_done_join<O>()
where
    O: Order<i64> + 'static,
    Q<O>: Send + Sync,
{
    let q = Arc::new(Q::<O>::new(2));
    let go = Arc::new(Event::new());
    q.put_blocking(1).unwrap();
    q.put_blocking(2).unwrap();
    assert_eq!(q.unfinished(), q.len());
    let mut threads = Vec::new();
    for _ in 0..2 {
        let (q, go) = (Arc::clone(&q), Arc::clone(&go));
        threads.push(spawn_thread(move || {
            assert!(go.wait().wait_timeout(DEADLINE));
            let ok = q.get_blocking().is_ok();
            if ok {
                q.task_done().unwrap();
            }
            ok
        }));
    }
    for _ in 0..2 {
        let q = Arc::clone(&q);
        threads.push(spawn_thread(move || q.join().wait_timeout(DEADLINE)));
    }
    go.set();
    q.shutdown(false);
    for t in threads {
        assert!(t.join());
    }
}

#[test]
fn test_shutdown_get_task_done_join() {
    shutdown_get_task_done_join::<amphi::Fifo>();
    shutdown_get_task_done_join::<amphi::Lifo>();
    shutdown_get_task_done_join::<amphi::Priority>();
}

#[test]
fn test_shutdown_pending_get() {
    let q = Arc::new(Q::<amphi::Fifo>::new(0));
    let getter = {
        let q = Arc::clone(&q);
        spawn_thread(move || q.get_blocking())
    };
    q.shutdown(false);
    assert_eq!(getter.join_within(Duration::from_secs(10)), Err(ShutDown));
}

// ---------------------------------------------------------------------------
// FailingQueue: a panic inside the container's work leaves the queue sound.
// ---------------------------------------------------------------------------

static FAIL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[test]
fn test_failing_queue() {
    let q = PriorityQueue::new(QUEUE_SIZE);
    for i in 0..QUEUE_SIZE as i64 - 1 {
        q.put_blocking(Touchy(i, &FAIL)).unwrap();
    }
    Touchy::arm(&FAIL);
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = q.try_put(Touchy(100, &FAIL));
    }));
    assert!(failed.is_err(), "the queue didn't fail when it should have");
    // The queue is not poisoned: every call still works.
    let n = q.len();
    assert!(n == QUEUE_SIZE - 1 || n == QUEUE_SIZE);
    while q.len() < QUEUE_SIZE {
        q.put_blocking(Touchy(50, &FAIL)).unwrap();
    }
    assert!(q.is_full());
    assert_eq!(q.try_get().map(|t| t.0), Ok(0));
    Touchy::arm(&FAIL);
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = q.try_get();
    }));
    assert!(failed.is_err());
    let left = q.drain();
    assert!(left.len() >= QUEUE_SIZE - 2);
    assert!(q.is_empty());
    q.put_blocking(Touchy(1, &FAIL)).unwrap();
    assert_eq!(q.get_blocking().map(|t| t.0), Ok(1));
}

#[test]
fn put_timeout_shutdown_variants_match_python_exceptions() {
    // Python: put(block=True, timeout=t) on a full, shut-down queue raises
    // ShutDown (checked first), not Full.
    let q = Q::<amphi::Fifo>::new(1);
    q.try_put(1).unwrap();
    q.shutdown(false);
    assert_eq!(
        q.put(2).wait_timeout(Duration::from_millis(10)),
        Err(PutTimeoutError::ShutDown(2))
    );
    assert_eq!(q.try_put(3), Err(TryPutError::ShutDown(3)));
    // And a get on the non-empty, shut-down queue still gets.
    assert_eq!(q.try_get(), Ok(1));
}
