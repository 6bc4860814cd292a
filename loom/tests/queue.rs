//! loom models of the queue family (untimed paths): in every interleaving
//! (up to `LOOM_MAX_PREEMPTIONS` preemptions) no getter, putter or joiner
//! is stranded (loom reports a deadlock), items are conserved, a dropped
//! waiter hands its wake-up on, and nobody is left counted.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use amphi::{Queue, ShutDown};
use loom::thread;

fn assert_quiet<T>(q: &Queue<T>) {
    assert_eq!(q.waiters().total(), 0);
}

/// A blocking getter and an async getter on an empty queue; a thread puts
/// two items: each getter gets exactly one.
#[test]
fn queue_getters_of_both_kinds_each_get_one() {
    loom::model(|| {
        let q = Arc::new(Queue::new(0));
        let q1 = q.clone();
        let blocking = thread::spawn(move || q1.get_blocking().unwrap());
        let q2 = q.clone();
        let putter = thread::spawn(move || {
            q2.put_blocking(1).unwrap();
            q2.put_blocking(2).unwrap();
        });
        let mine = loom::future::block_on(q.get()).unwrap();
        let theirs = blocking.join().unwrap();
        putter.join().unwrap();
        let mut got = [mine, theirs];
        got.sort();
        assert_eq!(got, [1, 2]);
        assert!(q.is_empty());
        assert_quiet(&q);
    });
}

/// A bounded(1) queue: a blocking putter waits for room that an async
/// getter makes, and the reverse.
#[test]
fn queue_bounded_putter_and_getter_meet() {
    loom::model(|| {
        let q = Arc::new(Queue::new(1));
        q.try_put(0).unwrap();
        let q1 = q.clone();
        let putter = thread::spawn(move || q1.put_blocking(1).unwrap());
        let a = loom::future::block_on(q.get()).unwrap();
        let b = loom::future::block_on(q.get()).unwrap();
        putter.join().unwrap();
        assert_eq!((a, b), (0, 1));
        assert_eq!(q.unfinished(), 2);
        assert_quiet(&q);
    });
}

/// A getter polled to Pending and then dropped must not keep the item
/// from a blocked getter, whatever the interleaving with the put.
#[test]
fn queue_dropped_getter_passes_the_wakeup_on() {
    loom::model(|| {
        let q = Arc::new(Queue::new(0));
        let q1 = q.clone();
        let blocked = thread::spawn(move || q1.get_blocking().unwrap());
        let q2 = q.clone();
        let canceller = thread::spawn(move || {
            let mut fut = q2.get();
            let mut cx = Context::from_waker(Waker::noop());
            let got = match Pin::new(&mut fut).poll(&mut cx) {
                Poll::Ready(r) => Some(r.unwrap()),
                Poll::Pending => None,
            };
            drop(fut);
            got
        });
        q.put_blocking(7).unwrap();
        let cancelled = canceller.join().unwrap();
        match cancelled {
            // The canceller got it first: give the blocked getter another.
            Some(7) => q.put_blocking(8).unwrap(),
            Some(other) => panic!("invented item {other}"),
            None => {}
        }
        let got = blocked.join().unwrap();
        assert!(got == 7 || (got == 8 && cancelled == Some(7)));
        assert!(q.is_empty());
        assert_quiet(&q);
    });
}

/// The last `task_done` races a joiner that starts listening (janus#715):
/// the joiner always returns.
#[test]
fn queue_join_races_the_last_task_done() {
    loom::model(|| {
        let q = Arc::new(Queue::new(0));
        q.try_put(1).unwrap();
        let q1 = q.clone();
        let worker = thread::spawn(move || {
            q1.get_blocking().unwrap();
            q1.task_done().unwrap();
        });
        let q2 = q.clone();
        let joiner = thread::spawn(move || q2.join_blocking());
        loom::future::block_on(q.join());
        worker.join().unwrap();
        joiner.join().unwrap();
        assert_eq!(q.unfinished(), 0);
        assert_quiet(&q);
    });
}

/// Shutdown wakes a blocked getter and a blocked putter of either kind.
#[test]
fn queue_shutdown_wakes_getter_and_putter() {
    loom::model(|| {
        let empty = Arc::new(Queue::<u8>::new(1));
        let full = Arc::new(Queue::new(1));
        full.try_put(0u8).unwrap();
        let e = empty.clone();
        let getter = thread::spawn(move || e.get_blocking());
        let f = full.clone();
        let putter = thread::spawn(move || loom::future::block_on(f.put(1)));
        empty.shutdown(false);
        let removed = full.shutdown(true);
        assert_eq!(getter.join().unwrap(), Err(ShutDown));
        assert_eq!(putter.join().unwrap().map_err(|e| e.into_inner()), Err(1));
        assert_eq!(removed, vec![0]);
        assert_eq!(full.unfinished(), 0);
        assert_quiet(&empty);
        assert_quiet(&full);
    });
}

// A listener that is in the event's list but not (or no longer) counted can
// catch a notification sent for a counted waiter; a waiter that then
// finishes by itself must pass it on. These models deadlocked with the
// queue's first, event-listener-based waiting (the first two at 2
// preemptions, the third at 3); the lines under the queue's lock keep them
// passing.

/// Two blocked getters, one batch of two items: both getters get one.
#[test]
fn queue_put_many_of_two_wakes_two_getters() {
    loom::model(|| {
        let q = Arc::new(Queue::new(0));
        let q1 = q.clone();
        let a = thread::spawn(move || q1.get_blocking().unwrap());
        let q2 = q.clone();
        let b = thread::spawn(move || q2.get_blocking().unwrap());
        q.try_put_many([1, 2]).unwrap();
        let mut got = [a.join().unwrap(), b.join().unwrap()];
        got.sort();
        assert_eq!(got, [1, 2]);
        assert_quiet(&q);
    });
}

/// Two blocked putters on a full queue of 2, one `get_many(2)`: both get in.
#[test]
fn queue_get_many_of_two_wakes_two_putters() {
    loom::model(|| {
        let q = Arc::new(Queue::new(2));
        q.try_put_many([0, 0]).unwrap();
        let q1 = q.clone();
        let a = thread::spawn(move || q1.put_blocking(1).unwrap());
        let q2 = q.clone();
        let b = thread::spawn(move || q2.put_blocking(2).unwrap());
        assert_eq!(q.get_many(2).wait(), Ok(vec![0, 0]));
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(q.len(), 2);
        assert_quiet(&q);
    });
}

/// Single puts into a queue of 1, two blocked getters (one async).
#[test]
fn queue_single_puts_wake_two_getters() {
    loom::model(|| {
        let q = Arc::new(Queue::new(1));
        let q1 = q.clone();
        let a = thread::spawn(move || q1.get_blocking().unwrap());
        let q2 = q.clone();
        let b = thread::spawn(move || loom::future::block_on(q2.get()).unwrap());
        q.put_blocking(1).unwrap();
        q.put_blocking(2).unwrap();
        let mut got = [a.join().unwrap(), b.join().unwrap()];
        got.sort();
        assert_eq!(got, [1, 2]);
        assert_quiet(&q);
    });
}

/// A woken putter that is dropped passes its room on to the other putter.
#[test]
fn queue_dropped_woken_putter_passes_the_room_on() {
    loom::model(|| {
        let q = Arc::new(Queue::new(1));
        q.try_put(0).unwrap();
        let q1 = q.clone();
        let blocked = thread::spawn(move || q1.put_blocking(1).unwrap());
        let q2 = q.clone();
        let canceller = thread::spawn(move || {
            let mut fut = q2.put(2);
            let mut cx = Context::from_waker(Waker::noop());
            let put = matches!(Pin::new(&mut fut).poll(&mut cx), Poll::Ready(Ok(())));
            drop(fut);
            put
        });
        let first = q.get_blocking().unwrap();
        assert_eq!(first, 0);
        let cancelled_put = canceller.join().unwrap();
        if cancelled_put {
            // The canceller's item took the room: make room once more.
            assert_eq!(q.get_blocking().unwrap(), 2);
        }
        blocked.join().unwrap();
        assert_eq!(q.drain(), vec![1]);
        assert_quiet(&q);
    });
}

/// `get_many(2)` on a full queue of 2 frees room for two blocked putters.
#[test]
fn queue_get_many_frees_room_for_a_thread_and_a_task() {
    loom::model(|| {
        let q = Arc::new(Queue::new(2));
        q.try_put_many([0, 0]).unwrap();
        let q1 = q.clone();
        let a = thread::spawn(move || q1.put_blocking(1).unwrap());
        let q2 = q.clone();
        let b = thread::spawn(move || loom::future::block_on(q2.put(2)).unwrap());
        assert_eq!(q.get_many(2).wait(), Ok(vec![0, 0]));
        a.join().unwrap();
        b.join().unwrap();
        let mut left = q.drain();
        left.sort();
        assert_eq!(left, vec![1, 2]);
        assert_quiet(&q);
    });
}

/// A joiner waits while `shutdown(true)` removes the last unfinished item.
#[test]
fn queue_join_returns_after_shutdown_immediate() {
    loom::model(|| {
        let q = Arc::new(Queue::new(0));
        q.try_put(1).unwrap();
        let q1 = q.clone();
        let joiner = thread::spawn(move || q1.join_blocking());
        assert_eq!(q.shutdown(true), vec![1]);
        joiner.join().unwrap();
        assert_eq!(q.unfinished(), 0);
        assert_quiet(&q);
    });
}

/// A stream in a task ends once a thread has put and shut down.
#[test]
fn queue_stream_ends_after_items_and_shutdown() {
    use futures_core::Stream;
    loom::model(|| {
        let q = Arc::new(Queue::new(1));
        let q1 = q.clone();
        let producer = thread::spawn(move || {
            q1.put_blocking(1).unwrap();
            q1.put_blocking(2).unwrap();
            q1.shutdown(false);
        });
        let mut stream = q.stream();
        let mut got = Vec::new();
        while let Some(x) = loom::future::block_on(std::future::poll_fn(|cx| {
            Pin::new(&mut stream).poll_next(cx)
        })) {
            got.push(x);
        }
        drop(stream);
        producer.join().unwrap();
        assert_eq!(got, vec![1, 2]);
        assert_quiet(&q);
    });
}
