//! The queue family: every operation in blocking, async and mixed mode, all
//! three orders, both directions of mixing, shutdown with waiters of both
//! kinds, and deterministic poll tests of wake-up order and cancellation.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use amphi::{
    Event, GenericQueue, GetTimeoutError, LifoQueue, Order, PriorityQueue, PutError,
    PutTimeoutError, Queue, ShutDown, TaskDoneError, TryGetError, TryPutError,
};
use common::*;
use futures::StreamExt;
use tokio_test::task;
use tokio_test::{assert_pending, assert_ready, assert_ready_eq};

// ---------------------------------------------------------------------------
// Orders and capacity
// ---------------------------------------------------------------------------

fn drain_blocking<T, O: Order<T>>(q: &GenericQueue<T, O>) -> Vec<T> {
    let mut out = Vec::new();
    while !q.is_empty() {
        out.push(q.get_blocking().unwrap());
    }
    out
}

#[test]
fn fifo_lifo_priority_orders_blocking() {
    let q = Queue::new(0);
    let l = LifoQueue::new(0);
    let p = PriorityQueue::new(0);
    for n in [3, 1, 2] {
        q.put_blocking(n).unwrap();
        l.put_blocking(n).unwrap();
        p.put_blocking(n).unwrap();
    }
    assert_eq!(drain_blocking(&q), vec![3, 1, 2]);
    assert_eq!(drain_blocking(&l), vec![2, 1, 3]);
    assert_eq!(drain_blocking(&p), vec![1, 2, 3]);
}

#[tokio::test]
async fn fifo_lifo_priority_orders_async() {
    let q = Queue::new(0);
    let l = LifoQueue::new(0);
    let p = PriorityQueue::new(0);
    for n in [3, 1, 2] {
        q.put(n).await.unwrap();
        l.put(n).await.unwrap();
        p.put(n).await.unwrap();
    }
    let mut got = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        got.0.push(q.get().await.unwrap());
        got.1.push(l.get().await.unwrap());
        got.2.push(p.get().await.unwrap());
    }
    assert_eq!(got, (vec![3, 1, 2], vec![2, 1, 3], vec![1, 2, 3]));
}

/// Compares by priority only, so equal priorities are told apart by tag.
#[derive(Debug, PartialEq, Eq)]
struct Job(u8, &'static str);
impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Job {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

#[test]
fn equal_priorities_leave_in_put_order() {
    let p = PriorityQueue::new(0);
    let tags = ["a", "b", "c", "d", "e", "f", "g", "h"];
    for (i, t) in tags.iter().enumerate() {
        p.try_put(Job((i % 2) as u8, t)).unwrap();
    }
    let order: Vec<&str> = p.drain().into_iter().map(|j| j.1).collect();
    assert_eq!(order, vec!["a", "c", "e", "g", "b", "d", "f", "h"]);
}

#[test]
fn capacity_accessors() {
    let q = Queue::new(2);
    assert_eq!(q.maxsize(), 2);
    assert!(q.is_empty() && !q.is_full());
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    assert!(q.is_full());
    assert_eq!(q.len(), 2);
    assert_eq!(q.try_put(3), Err(TryPutError::Full(3)));
    let u = Queue::<u8>::unbounded();
    assert_eq!(u.maxsize(), 0);
    for _ in 0..1000 {
        u.try_put(0).unwrap();
    }
    assert!(!u.is_full());
    assert_eq!(Queue::<u8>::default().maxsize(), 0);
    let dbg = format!("{q:?}");
    assert!(dbg.contains("len: 2") && dbg.contains("Fifo"), "{dbg}");
}

#[test]
fn bounded_zero_panics_with_a_clear_message() {
    let err = std::panic::catch_unwind(|| Queue::<u8>::bounded(0)).unwrap_err();
    let msg = panic_message(&*err);
    assert!(
        msg.contains("bounded(0)") && msg.contains("Queue::new(0)"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------
// Errors give items back
// ---------------------------------------------------------------------------

#[test]
fn refused_items_come_back_blocking() {
    let q = Queue::new(1);
    q.put_blocking(String::from("a")).unwrap();
    let start = Instant::now();
    let e = q.put(String::from("b")).wait_timeout(SHORT).unwrap_err();
    assert_elapsed_about(start, SHORT);
    assert_eq!(e, PutTimeoutError::TimedOut(String::from("b")));
    assert!(!e.is_shutdown());
    assert_eq!(q.try_get().unwrap(), "a");
    let start = Instant::now();
    assert_eq!(q.get().wait_timeout(SHORT), Err(GetTimeoutError::TimedOut));
    assert_elapsed_about(start, SHORT);
    q.shutdown(false);
    assert_eq!(
        q.put_blocking(String::from("c")),
        Err(PutError(String::from("c")))
    );
    assert_eq!(
        q.try_put(String::from("d")),
        Err(TryPutError::ShutDown(String::from("d")))
    );
    assert_eq!(
        q.put(String::from("e")).wait_timeout(SHORT),
        Err(PutTimeoutError::ShutDown(String::from("e")))
    );
    assert_eq!(q.get_blocking(), Err(ShutDown));
    assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
    assert_eq!(q.get().wait_timeout(SHORT), Err(GetTimeoutError::ShutDown));
    assert_eq!(q.unfinished(), 1, "the refused puts counted nothing");
}

#[tokio::test]
async fn refused_items_come_back_async() {
    let q = Queue::new(1);
    q.put(1).await.unwrap();
    let e = q.put(2).timeout(SHORT).await.unwrap_err();
    assert_eq!(e.into_inner(), 2);
    assert_eq!(q.get().await, Ok(1));
    assert_eq!(q.get().timeout(SHORT).await, Err(GetTimeoutError::TimedOut));
    q.shutdown(false);
    assert_eq!(q.put(3).await, Err(PutError(3)));
    assert_eq!(
        q.put(4).timeout(SHORT).await,
        Err(PutTimeoutError::ShutDown(4))
    );
    assert_eq!(q.get().await, Err(ShutDown));
    assert_eq!(q.get().timeout(SHORT).await, Err(GetTimeoutError::ShutDown));
}

#[test]
fn errors_display_and_debug_without_item_bounds() {
    struct Opaque;
    let e = TryPutError::Full(Opaque);
    assert_eq!(format!("{e:?}"), "Full(..)");
    assert!(e.to_string().contains("full"));
    let e = PutError(Opaque);
    assert!(e.to_string().contains("shut down"));
    assert!(ShutDown.to_string().contains("shut down"));
    assert!(TaskDoneError.to_string().contains("task_done"));
    assert!(GetTimeoutError::TimedOut.to_string().contains("timed out"));
}

#[test]
fn zero_timeout_only_tries_and_huge_timeout_saturates() {
    let q = Queue::new(1);
    assert_eq!(
        q.get().wait_timeout(Duration::ZERO),
        Err(GetTimeoutError::TimedOut)
    );
    q.put(1).wait_timeout(Duration::MAX).unwrap();
    assert_eq!(
        q.put(2).wait_timeout(Duration::ZERO),
        Err(PutTimeoutError::TimedOut(2))
    );
    assert_eq!(q.get().wait_timeout(Duration::MAX), Ok(1));
}

// ---------------------------------------------------------------------------
// Mixed worlds
// ---------------------------------------------------------------------------

/// Producers of one kind and consumers of the other move `N` items each
/// through a small bounded queue; every item arrives exactly once.
async fn mixed<O: Order<u64> + 'static>(threads_put: bool)
where
    GenericQueue<u64, O>: Send + Sync,
{
    const PRODUCERS: u64 = 3;
    const N: u64 = 300;
    let q: Arc<GenericQueue<u64, O>> = Arc::new(GenericQueue::new(4));
    let mut threads = Vec::new();
    let mut tasks = Vec::new();
    for p in 0..PRODUCERS {
        let q = Arc::clone(&q);
        let items = (0..N).map(move |i| p * N + i);
        if threads_put {
            threads.push(spawn_thread(move || {
                for i in items {
                    q.put_blocking(i).unwrap();
                }
                0
            }));
        } else {
            tasks.push(tokio::spawn(async move {
                for i in items {
                    q.put(i).await.unwrap();
                }
                Vec::<u64>::new()
            }));
        }
    }
    let producers = (threads, tasks);
    let (mut threads, mut tasks) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let q = Arc::clone(&q);
        if threads_put {
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                while let Ok(i) = q.get().await {
                    got.push(i);
                    q.task_done().unwrap();
                }
                got
            }));
        } else {
            threads.push(spawn_thread(move || {
                let mut n = 0;
                while q.get_blocking().is_ok() {
                    n += 1;
                    q.task_done().unwrap();
                }
                n
            }));
        }
    }
    // Every item is in once the producers are done; then join waits for
    // the consumers to mark them all done.
    for t in producers.1 {
        join_task(t).await;
    }
    join_threads(producers.0).await;
    within(q.join()).await;
    q.shutdown(false);
    let mut seen = HashSet::new();
    let mut count = 0;
    for t in tasks {
        for i in join_task(t).await {
            assert!(seen.insert(i), "item {i} got twice");
            count += 1;
        }
    }
    for t in join_threads(threads).await {
        count += t;
    }
    assert_eq!(count, PRODUCERS * N);
    assert_eq!(q.len(), 0);
    assert_eq!(q.unfinished(), 0);
    assert_eq!(q.waiters().total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_put_tasks_get_all_orders() {
    mixed::<amphi::Fifo>(true).await;
    mixed::<amphi::Lifo>(true).await;
    mixed::<amphi::Priority>(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_put_threads_get_all_orders() {
    mixed::<amphi::Fifo>(false).await;
    mixed::<amphi::Lifo>(false).await;
    mixed::<amphi::Priority>(false).await;
}

#[test]
fn blocking_only_fifo_keeps_order_per_producer() {
    let q = Arc::new(Queue::new(8));
    let p = Arc::clone(&q);
    let producer = spawn_thread(move || {
        for i in 0..2000u32 {
            p.put_blocking(i).unwrap();
        }
        p.shutdown(false);
    });
    let got: Vec<u32> = q.iter_blocking().collect();
    producer.join();
    assert_eq!(got, (0..2000).collect::<Vec<_>>());
}

#[tokio::test]
async fn async_only_current_thread_runtime() {
    let q = Arc::new(Queue::new(2));
    let p = Arc::clone(&q);
    let producer = tokio::spawn(async move {
        for i in 0..500u32 {
            p.put(i).await.unwrap();
        }
        p.shutdown(false);
    });
    let got: Vec<u32> = within(q.stream().collect()).await;
    join_task(producer).await;
    assert_eq!(got, (0..500).collect::<Vec<_>>());
}

#[test]
fn get_blocking_on_a_current_thread_runtime_refuses() {
    let rt = current_thread_runtime();
    let q = Queue::new(0);
    q.try_put(1).unwrap();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { q.get_blocking() })
    }))
    .unwrap_err();
    let msg = panic_message(&*err);
    assert!(msg.contains("Queue::get_blocking"), "{msg}");
    assert_eq!(q.len(), 1, "the refused get took nothing");
}

// ---------------------------------------------------------------------------
// Batches, peek, drain, iterators
// ---------------------------------------------------------------------------

#[test]
fn batches_peek_and_drain() {
    let q = Queue::new(3);
    assert_eq!(q.peek(), None);
    assert_eq!(
        q.try_put_many([1, 2, 3, 4]),
        Err(TryPutError::Full(vec![4]))
    );
    assert_eq!(q.peek(), Some(1));
    assert_eq!(q.peek_with(|v| v * 10), Some(10));
    assert_eq!(q.get_many(2).wait(), Ok(vec![1, 2]));
    assert_eq!(q.get_many(0).wait(), Ok(vec![]));
    assert_eq!(q.drain(), vec![3]);
    assert_eq!(q.drain(), Vec::<i32>::new());
    assert_eq!(q.unfinished(), 3);
    assert_eq!(q.task_done_many(4), Err(TaskDoneError));
    assert_eq!(
        q.unfinished(),
        3,
        "a refused task_done_many changes nothing"
    );
    q.task_done_many(3).unwrap();
    assert_eq!(
        q.get_many(5).wait_timeout(SHORT),
        Err(GetTimeoutError::TimedOut)
    );
    q.shutdown(false);
    assert_eq!(q.get_many(5).wait(), Err(ShutDown));
    assert_eq!(q.try_put_many([9]), Err(TryPutError::ShutDown(vec![9])));
    assert_eq!(q.put_many_blocking([8]), Err(PutError(vec![8])));
}

#[test]
fn put_many_waits_for_room_and_a_getter_frees_it() {
    let q = Arc::new(Queue::new(2));
    let p = Arc::clone(&q);
    let putter = spawn_thread(move || p.put_many_blocking(0..10));
    let mut got = Vec::new();
    while got.len() < 10 {
        got.extend(q.get_many(3).wait_timeout(DEADLINE).unwrap());
    }
    assert_eq!(putter.join(), Ok(()));
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}

#[test]
fn put_many_timed_out_gives_back_only_what_did_not_go_in() {
    let q = Queue::new(2);
    let e = q
        .put_many(vec![1, 2, 3, 4])
        .wait_timeout(SHORT)
        .unwrap_err();
    assert_eq!(e, PutTimeoutError::TimedOut(vec![3, 4]));
    assert_eq!(q.drain(), vec![1, 2]);
    assert_eq!(q.unfinished(), 2);
}

#[tokio::test]
async fn streams_end_at_shutdown_and_iterators_too() {
    let q = Arc::new(PriorityQueue::new(0));
    q.put_many([5, 3, 4]).await.unwrap();
    let mut s = q.stream_arc();
    assert_eq!(s.next().await, Some(3));
    q.shutdown(false);
    assert_eq!(s.next().await, Some(4));
    assert_eq!(s.next().await, Some(5));
    assert_eq!(s.next().await, None);
    assert_eq!(s.next().await, None);
    let q2 = Arc::clone(&q);
    let none = tokio::task::spawn_blocking(move || q2.iter_blocking().count());
    assert_eq!(join_task(none).await, 0);
}

#[tokio::test]
async fn a_stream_waits_for_items_from_a_thread() {
    let q = Arc::new(Queue::new(1));
    let p = Arc::clone(&q);
    let producer = spawn_thread(move || {
        for i in 0..100 {
            p.put_blocking(i).unwrap();
        }
        p.shutdown(false);
    });
    let sum: i32 = within(q.stream().fold(0, |a, b| async move { a + b })).await;
    producer.join_async().await;
    assert_eq!(sum, 4950);
}

// ---------------------------------------------------------------------------
// task_done and join
// ---------------------------------------------------------------------------

#[test]
fn task_done_too_often_is_refused_and_changes_nothing() {
    let q = Queue::new(0);
    assert_eq!(q.task_done(), Err(TaskDoneError));
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    q.try_get().unwrap();
    q.task_done().unwrap();
    q.task_done().unwrap(); // item 2 is still in the queue: allowed, as Python
    assert_eq!(q.task_done(), Err(TaskDoneError));
    assert_eq!(q.unfinished(), 0);
    assert_eq!(q.len(), 1);
}

#[test]
fn join_blocks_until_every_item_is_done() {
    let q = Arc::new(Queue::new(0));
    q.put_many_blocking(0..50).unwrap();
    assert!(!q.join().wait_timeout(SHORT));
    let worker = {
        let q = Arc::clone(&q);
        spawn_thread(move || {
            while q.get().wait_timeout(SHORT).is_ok() {
                q.task_done().unwrap();
            }
        })
    };
    let joiner = {
        let q = Arc::clone(&q);
        spawn_thread(move || q.join_blocking())
    };
    assert!(q.join().wait_timeout(DEADLINE));
    joiner.join();
    worker.join();
    assert_eq!(q.unfinished(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joiners_of_both_kinds_wake_together() {
    let q = Arc::new(Queue::new(0));
    q.put(1).await.unwrap();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let q = Arc::clone(&q);
            tokio::spawn(async move { q.join().await })
        })
        .collect();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let q = Arc::clone(&q);
            spawn_thread(move || q.join().wait_timeout(DEADLINE))
        })
        .collect();
    let q2 = Arc::clone(&q);
    wait_until("all six joiners wait", move || q2.waiters().total() == 6);
    q.get().await.unwrap();
    q.task_done().unwrap();
    for t in tasks {
        join_task(t).await;
    }
    for t in join_threads(threads).await {
        assert!(t);
    }
    assert_eq!(q.waiters().total(), 0);
}

/// janus#715: a join racing the last `task_done` must never hang. Many
/// rounds of put/get/task_done with joiners starting at random moments.
#[test]
fn join_never_misses_the_last_task_done() {
    let q = Arc::new(Queue::new(0));
    for round in 0..300 {
        q.put_blocking(round).unwrap();
        let worker = {
            let q = Arc::clone(&q);
            spawn_thread(move || {
                q.get_blocking().unwrap();
                q.task_done().unwrap();
            })
        };
        assert!(q.join().wait_timeout(DEADLINE), "round {round}: join hung");
        worker.join();
    }
}

#[tokio::test]
async fn join_returns_once_the_count_was_zero_even_if_refilled() {
    let q = Queue::new(0);
    q.try_put(1).unwrap();
    let mut join = task::spawn(q.join());
    assert_pending!(join.poll());
    q.try_get().unwrap();
    q.task_done().unwrap();
    q.try_put(2).unwrap(); // refilled before the joiner runs
    assert!(join.is_woken());
    assert_ready!(join.poll());
}

#[tokio::test]
async fn a_dropped_joiner_takes_nothing_from_the_others() {
    let q = Queue::new(0);
    q.try_put(1).unwrap();
    let mut a = task::spawn(q.join());
    let mut b = task::spawn(q.join());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    q.try_get().unwrap();
    q.task_done().unwrap();
    drop(a); // woken, then dropped
    assert!(b.is_woken());
    assert_ready!(b.poll());
    // A join after a refill waits for the new item: the earlier "all done"
    // was not handed on.
    q.try_put(2).unwrap();
    let mut c = task::spawn(q.join());
    assert_pending!(c.poll());
    assert_eq!(q.waiters().total(), 1);
    drop(c);
    assert_eq!(q.waiters().total(), 0);
}

// ---------------------------------------------------------------------------
// Shutdown with everybody waiting
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_wakes_blocked_getters_putters_and_joiners_of_both_kinds() {
    // Getters wait on an empty queue.
    let empty = Arc::new(Queue::<u32>::new(1));
    // Putters wait on a full one; joiners wait for its unfinished item.
    let full = Arc::new(Queue::new(1));
    full.put(0).await.unwrap();

    let mut getter_threads = Vec::new();
    let mut putter_threads = Vec::new();
    let mut joiner_threads = Vec::new();
    for i in 0..2 {
        let e = Arc::clone(&empty);
        getter_threads.push(spawn_thread(move || e.get_blocking()));
        let f = Arc::clone(&full);
        putter_threads.push(spawn_thread(move || f.put_blocking(100 + i)));
        let f = Arc::clone(&full);
        joiner_threads.push(spawn_thread(move || f.join().wait_timeout(DEADLINE)));
    }
    let getter_tasks: Vec<_> = (0..2).map(|_| tokio::spawn(empty.get_arc())).collect();
    let putter_tasks: Vec<_> = (0..2)
        .map(|i| tokio::spawn(full.put_arc(200 + i)))
        .collect();
    let joiner_tasks: Vec<_> = (0..2)
        .map(|_| {
            let f = Arc::clone(&full);
            tokio::spawn(async move { f.join().await })
        })
        .collect();
    {
        let (e, f) = (Arc::clone(&empty), Arc::clone(&full));
        wait_until("everybody waits", move || {
            e.waiters().total() == 4 && f.waiters().total() == 8
        });
    }

    empty.shutdown(false);
    for r in join_threads(getter_threads).await {
        assert_eq!(r, Err(ShutDown));
    }
    for t in getter_tasks {
        assert_eq!(join_task(t).await, Err(ShutDown));
    }

    // Immediate: the waiting item is removed, returned, and counted done.
    let removed = full.shutdown(true);
    assert_eq!(removed, vec![0]);
    let mut refused = Vec::new();
    for r in join_threads(putter_threads).await {
        refused.push(r.unwrap_err().into_inner());
    }
    for t in putter_tasks {
        refused.push(join_task(t).await.unwrap_err().into_inner());
    }
    refused.sort();
    assert_eq!(
        refused,
        vec![100, 101, 200, 201],
        "every putter got its item back"
    );
    for r in join_threads(joiner_threads).await {
        assert!(r);
    }
    for t in joiner_tasks {
        join_task(t).await;
    }
    assert_eq!(full.unfinished(), 0);
    assert_eq!(empty.waiters().total() + full.waiters().total(), 0);
}

#[test]
fn shutdown_immediate_keeps_items_already_got_unfinished() {
    let q = Queue::new(0);
    q.try_put_many(["a", "b", "c"]).unwrap();
    let got = q.try_get().unwrap();
    assert_eq!(q.shutdown(true), vec!["b", "c"]);
    assert_eq!(q.unfinished(), 1, "the item got is still unfinished");
    assert!(!q.join().wait_timeout(SHORT));
    assert_eq!(got, "a");
    q.task_done().unwrap();
    assert!(q.join().wait_timeout(SHORT));
    assert_eq!(q.task_done(), Err(TaskDoneError));
}

#[test]
fn shutdown_then_immediate_removes_what_is_left() {
    let q = LifoQueue::new(0);
    q.try_put_many([1, 2, 3]).unwrap();
    assert_eq!(q.shutdown(false), Vec::<i32>::new());
    assert!(q.is_shutdown());
    assert_eq!(q.try_get(), Ok(3), "gets drain after a plain shutdown");
    assert_eq!(q.shutdown(true), vec![2, 1]);
    assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
    assert_eq!(q.unfinished(), 1);
}

// ---------------------------------------------------------------------------
// Deterministic poll tests: wake-up order and cancellation
// ---------------------------------------------------------------------------

#[test]
fn getters_are_woken_in_arrival_order() {
    let q = Queue::new(0);
    let mut a = task::spawn(q.get());
    let mut b = task::spawn(q.get());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    q.try_put(1).unwrap();
    assert!(a.is_woken() && !b.is_woken());
    q.try_put(2).unwrap();
    assert!(b.is_woken());
    assert_ready_eq!(a.poll(), Ok(1));
    assert_ready_eq!(b.poll(), Ok(2));
}

#[test]
fn a_notified_getter_that_is_dropped_passes_the_item_on() {
    let q = Queue::new(0);
    let mut a = task::spawn(q.get());
    let mut b = task::spawn(q.get());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    q.try_put(7).unwrap();
    assert!(a.is_woken());
    drop(a);
    assert!(b.is_woken(), "the wake-up passed on");
    assert_ready_eq!(b.poll(), Ok(7));
    assert_eq!(q.len(), 0);
    assert_eq!(q.waiters().total(), 0);
}

#[test]
fn a_pending_getter_that_is_dropped_takes_nothing() {
    let q = Queue::new(0);
    let mut a = task::spawn(q.get());
    assert_pending!(a.poll());
    assert_eq!(q.waiters().tasks, 1);
    drop(a);
    assert_eq!(q.waiters().total(), 0);
    q.try_put(1).unwrap();
    assert_eq!(q.try_get(), Ok(1));
}

#[tokio::test]
async fn timed_getters_take_an_item_there_at_the_deadline_and_leave_cleanly() {
    let q = Queue::new(0);
    // `a` is first in line, `b` second.
    let mut a = task::spawn(q.get().timeout(Duration::from_millis(1)));
    let mut b = task::spawn(q.get());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    tokio::time::sleep(Duration::from_millis(5)).await;
    // Woken by the put after its time ran out, `a` still takes the item on
    // its last look.
    q.try_put(1).unwrap();
    assert!(a.is_woken() && !b.is_woken());
    assert_ready_eq!(a.poll(), Ok(1));
    // `c` is woken, loses the item to a barger, and times out: it leaves
    // the line, and the next put wakes `b`.
    let mut c = task::spawn(q.get().timeout(Duration::from_millis(1)));
    assert_pending!(c.poll());
    drop(b);
    let mut b = task::spawn(q.get());
    assert_pending!(b.poll());
    tokio::time::sleep(Duration::from_millis(5)).await;
    q.try_put(2).unwrap();
    assert!(c.is_woken());
    assert_eq!(q.try_get(), Ok(2));
    assert_ready_eq!(c.poll(), Err(GetTimeoutError::TimedOut));
    assert_eq!(q.waiters().total(), 1);
    q.try_put(3).unwrap();
    assert!(b.is_woken());
    assert_ready_eq!(b.poll(), Ok(3));
    assert_eq!(q.waiters().total(), 0);
}

#[test]
fn a_notified_putter_that_is_dropped_passes_the_room_on() {
    let q = Queue::new(1);
    q.try_put(0).unwrap();
    let mut a = task::spawn(q.put(1));
    let mut b = task::spawn(q.put(2));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    assert_eq!(q.try_get(), Ok(0));
    assert!(a.is_woken() && !b.is_woken());
    drop(a); // its item was never in the queue
    assert!(b.is_woken());
    assert_ready_eq!(b.poll(), Ok(()));
    assert_eq!(q.drain(), vec![2]);
    assert_eq!(q.unfinished(), 2, "0 and 2 were put; 1 was not");
}

#[test]
fn a_pending_put_gives_its_item_back() {
    let q = Queue::new(1);
    q.try_put("in").unwrap();
    let mut put = task::spawn(q.put("out"));
    assert_pending!(put.poll());
    let put = put.into_inner();
    assert_eq!(put.into_item(), Some("out"));
    assert_eq!(q.waiters().total(), 0);
    assert_eq!(q.drain(), vec!["in"]);
}

#[test]
fn putters_get_room_in_arrival_order() {
    let q = Queue::new(1);
    q.try_put(0).unwrap();
    let mut a = task::spawn(q.put(1));
    let mut b = task::spawn(q.put(2));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    q.try_get().unwrap();
    assert!(a.is_woken() && !b.is_woken());
    assert_ready_eq!(a.poll(), Ok(()));
    assert_pending!(b.poll());
    q.try_get().unwrap();
    assert!(b.is_woken());
    assert_ready_eq!(b.poll(), Ok(()));
    assert_eq!(q.drain(), vec![2]);
}

#[test]
fn a_barged_getter_waits_again_at_its_place() {
    let q = Queue::new(0);
    let mut a = task::spawn(q.get());
    let mut b = task::spawn(q.get());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    q.try_put(1).unwrap();
    assert_eq!(q.try_get(), Ok(1), "a running caller barges");
    assert_pending!(a.poll());
    // `a` kept its place at the front: the next item is its.
    q.try_put(2).unwrap();
    assert!(a.is_woken() && !b.is_woken());
    assert_ready_eq!(a.poll(), Ok(2));
    assert_pending!(b.poll());
    assert_eq!(q.waiters().total(), 1);
}

#[test]
fn a_future_polled_then_blocked_on_keeps_its_place() {
    let q = Arc::new(Queue::new(0));
    let mut fut = task::spawn(q.get());
    assert_pending!(fut.poll());
    let p = Arc::clone(&q);
    let putter = spawn_thread(move || {
        let_thread_block();
        p.put_blocking(5).unwrap();
    });
    assert_eq!(fut.into_inner().wait_timeout(DEADLINE), Ok(5));
    putter.join();
}

#[test]
fn a_waiting_event_driven_consumer_stops_when_set_and_empty() {
    let q = Arc::new(Queue::new(0));
    let stop = Arc::new(Event::new());
    let consumer = {
        let (q, stop) = (Arc::clone(&q), Arc::clone(&stop));
        spawn_thread(move || {
            let mut n = 0;
            loop {
                match q.get().wait_timeout(Duration::from_millis(5)) {
                    Ok(_) => n += 1,
                    Err(_) if stop.is_set() => return n,
                    Err(_) => {}
                }
            }
        })
    };
    q.put_many_blocking(0..20).unwrap();
    stop.set();
    assert_eq!(consumer.join(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prioritized_items_keep_put_order_within_a_priority_across_worlds() {
    use amphi::Prioritized;
    let q = Arc::new(PriorityQueue::new(0));
    // A thread and a task put jobs whose payloads sort against put order.
    let p = Arc::clone(&q);
    spawn_thread(move || {
        for (i, name) in ["zeta", "eta", "alpha"].into_iter().enumerate() {
            p.put_blocking(Prioritized::new(1, (i, name))).unwrap();
        }
    })
    .join_async()
    .await;
    for (i, name) in ["omega", "beta"].into_iter().enumerate() {
        q.put(Prioritized::new(0, (i, name))).await.unwrap();
    }
    let got: Vec<&str> = q.drain().into_iter().map(|j| j.into_item().1).collect();
    assert_eq!(got, ["omega", "beta", "zeta", "eta", "alpha"]);
}

#[test]
#[should_panic(expected = "polled after it completed")]
fn a_completed_get_polled_again_panics_instead_of_taking_another_item() {
    let q = Queue::new(0);
    q.try_put_many([1, 2]).unwrap();
    let mut g = task::spawn(q.get());
    assert_ready_eq!(g.poll(), Ok(1));
    let _ = g.poll();
}

#[test]
fn a_panicking_priority_push_leaves_the_item_counted() {
    static FAIL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let q = PriorityQueue::new(0);
    q.try_put(Touchy(1, &FAIL)).unwrap();
    Touchy::arm(&FAIL);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.try_put(Touchy(9, &FAIL))));
    assert!(r.is_err());
    assert_eq!(q.len(), 2, "the item stayed in the heap");
    assert_eq!(q.unfinished(), 2, "and is counted");
}

#[tokio::test]
async fn arc_forms_of_batches_and_join_are_static() {
    let q = Arc::new(Queue::new(0));
    within(tokio::spawn(q.put_many_arc(0..4)))
        .await
        .unwrap()
        .unwrap();
    let got = within(tokio::spawn(q.get_many_arc(10)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, vec![0, 1, 2, 3]);
    let joiner = tokio::spawn(q.join_arc());
    q.task_done_many(4).unwrap();
    join_task(joiner).await;
    let mut s = q.stream_arc();
    q.shutdown(false);
    use futures::stream::FusedStream;
    assert!(!s.is_terminated());
    assert_eq!(s.next().await, None);
    assert!(s.is_terminated());
}

#[test]
fn a_woken_getter_that_is_not_polled_passes_its_turn_on_after_2ms() {
    let q = Queue::new(1);
    let mut a = task::spawn(q.get());
    let mut b = task::spawn(q.get());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    let woken_at = Instant::now();
    q.try_put(1).unwrap();
    assert!(a.is_woken() && !b.is_woken());
    // `a` is kept alive but never polled: within 2 ms the turn is its own.
    assert_eq!(q.try_put(2), Err(TryPutError::Full(2)));
    if woken_at.elapsed() < Duration::from_millis(1) {
        // (Checked only when this thread was not held up for a
        // millisecond or more here: a loaded machine may have passed 2 ms.)
        assert!(!b.is_woken());
    }
    // Once it has held the wake-up for 2 ms, the next queue call wakes the
    // next waiter in its place.
    std::thread::sleep(Duration::from_millis(3));
    assert_eq!(q.try_put(3), Err(TryPutError::Full(3)));
    assert!(b.is_woken());
    assert_ready_eq!(b.poll(), Ok(1));
    // `a`, polled at last, waits again at its place.
    assert_pending!(a.poll());
    q.try_put(4).unwrap();
    assert!(a.is_woken());
    assert_ready_eq!(a.poll(), Ok(4));
    assert_eq!(q.waiters().total(), 0);
}

#[test]
fn a_get_whose_ord_panics_still_wakes_a_waiting_putter() {
    static FAIL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let q = PriorityQueue::new(3);
    let items = [1, 2, 3, 5].map(|n| Touchy(n, &FAIL));
    q.try_put_many(items).unwrap_err();
    let mut p = task::spawn(q.put(Touchy(4, &FAIL)));
    assert_pending!(p.poll());
    Touchy::arm(&FAIL);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.try_get()));
    assert!(r.is_err());
    assert_eq!(q.len(), 2, "the pop freed a slot (its item is lost)");
    assert!(p.is_woken(), "the freed slot woke the waiting putter");
    assert_ready_eq!(p.poll().map(|r| r.is_ok()), true);
}

#[test]
fn waiting_tells_getters_putters_and_joiners_apart() {
    let empty = Queue::<u8>::new(1);
    let full = Queue::new(1);
    full.try_put(0u8).unwrap();
    let mut g = task::spawn(empty.get());
    let mut p = task::spawn(full.put(1));
    let mut j = task::spawn(full.join());
    assert_pending!(g.poll());
    assert_pending!(p.poll());
    assert_pending!(j.poll());
    assert_eq!(
        (
            empty.waiting().getters,
            full.waiting().putters,
            full.waiting().joiners
        ),
        (1, 1, 1)
    );
    assert_eq!(full.waiting().total(), 2);
    assert_eq!(full.waiters().tasks, 2);
    drop((g, p, j));
    assert_eq!(empty.waiting().total() + full.waiting().total(), 0);
}

/// Makes `g` (a pending get on `q`) starving: it waits past the fairness
/// threshold, is woken, and loses the item to a running caller.
fn starve<F: std::future::Future>(q: &Queue<u32>, g: &mut task::Spawn<F>)
where
    F::Output: std::fmt::Debug,
{
    std::thread::sleep(Duration::from_millis(2));
    q.try_put(100).unwrap();
    assert!(g.is_woken());
    assert_eq!(q.try_get(), Ok(100), "barging is allowed before starvation");
    assert_pending!(g.poll());
}

#[test]
fn a_waiter_barged_after_1ms_gets_the_next_item_held_for_it() {
    let q = Queue::new(0);
    let mut g = task::spawn(q.get());
    assert_pending!(g.poll());
    starve(&q, &mut g);
    let put_at = Instant::now();
    q.try_put(2).unwrap();
    assert!(g.is_woken());
    let barged = q.try_get();
    if put_at.elapsed() < Duration::from_millis(1) {
        // (Unless this thread was held up past the hold's 2 ms.)
        assert_eq!(barged, Err(TryGetError::Empty), "the item is held for g");
        assert_ready_eq!(g.poll(), Ok(2));
    }
}

#[test]
fn a_hold_for_a_future_that_is_not_polled_lapses_after_2ms() {
    let q = Arc::new(Queue::new(0));
    let mut g = task::spawn(q.get());
    assert_pending!(g.poll());
    starve(&q, &mut g);
    q.try_put(2).unwrap();
    assert!(g.is_woken());
    // `g` never comes. A blocked thread looks again when the hold would
    // lapse, and then takes the item.
    let q2 = Arc::clone(&q);
    let thread = spawn_thread(move || q2.get().wait_timeout(DEADLINE));
    assert_eq!(thread.join_within(SLACK), Ok(2));
    // And after the lapse a running caller is not held back either.
    q.try_put(3).unwrap();
    std::thread::sleep(Duration::from_millis(3));
    assert_eq!(q.try_get(), Ok(3));
    assert_pending!(g.poll());
}

/// A waiter held back by a hold sleeps; it is not woken over and over
/// (neither by the rule that passes a stale turn on, nor after a shutdown).
#[test]
fn a_held_back_getter_is_not_woken_in_a_loop() {
    let q = Queue::new(0);
    let mut x = task::spawn(q.get());
    let mut a = task::spawn(q.get());
    assert_pending!(x.poll());
    assert_pending!(a.poll());
    std::thread::sleep(Duration::from_millis(2));
    q.try_put_many([100, 101]).unwrap();
    assert_eq!(q.try_get(), Ok(100));
    assert_eq!(q.try_get(), Ok(101));
    assert_pending!(a.poll()); // `a` lost a race: starving; `x` never polled
    std::thread::sleep(Duration::from_millis(3)); // `x`'s turn is stale
    q.try_put(1).unwrap();
    assert!(
        a.is_woken(),
        "the stale turn passed to `a`, which holds the item"
    );
    let mut b = task::spawn(q.get());
    let mut polls = 0;
    while polls < 10 {
        polls += 1;
        if b.poll().is_ready() || !b.is_woken() {
            break;
        }
    }
    assert!(polls < 3, "`b` was woken {polls} times for nothing");
    // After a shutdown there are no holds: `b` drains the item, `a` ends.
    q.shutdown(false);
    assert_ready_eq!(b.poll(), Ok(1));
    assert_ready_eq!(a.poll(), Err(ShutDown));
    assert_ready_eq!(x.poll(), Err(ShutDown));
}
