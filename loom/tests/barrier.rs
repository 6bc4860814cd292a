//! loom models of `amphi::Barrier` (untimed paths): in every interleaving
//! (up to `LOOM_MAX_PREEMPTIONS` preemptions) no waiter is stranded (loom
//! reports a deadlock), each trip releases exactly its round, a dropped
//! waiter leaves its round cleanly, and nobody is left counted.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use amphi::{Barrier, BrokenBarrier};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;

/// Nobody waits, nobody is counted.
fn assert_quiet(b: &Barrier) {
    assert_eq!(b.n_waiting(), 0);
    assert_eq!(b.waiters().total(), 0);
}

/// A blocking thread and an async waiter trip a two-party barrier: one
/// leader, indices 0 and 1, the action once, before the release.
#[test]
fn barrier_blocking_and_async_meet() {
    loom::model(|| {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let b = Arc::new(Barrier::with_action(2, move || {
            r.fetch_add(1, Ordering::SeqCst);
        }));
        let (b2, r2) = (b.clone(), runs.clone());
        let t = thread::spawn(move || {
            let out = b2.wait_blocking().unwrap();
            assert_eq!(r2.load(Ordering::SeqCst), 1, "released before the action");
            out
        });
        let mine = loom::future::block_on(b.wait()).unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let theirs = t.join().unwrap();
        assert_eq!(mine.index() + theirs.index(), 1);
        assert!(mine.is_leader() != theirs.is_leader());
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_quiet(&b);
        assert!(!b.is_broken());
    });
}

/// A waiter polled once and dropped, racing a blocking waiter, then an
/// `abort` to end it: either the two met (one of them tripped), or the
/// dropped one left cleanly and the blocked one gets `Broken`; never a
/// round that counts a dropped waiter (tokio#6493).
#[test]
fn barrier_dropped_waiter_leaves_or_trips() {
    loom::model(|| {
        let b = Arc::new(Barrier::new(2));
        let gone = Arc::new(AtomicBool::new(false));
        let (b1, g1) = (b.clone(), gone.clone());
        let dropper = thread::spawn(move || {
            let mut fut = b1.wait();
            let mut cx = Context::from_waker(Waker::noop());
            let r = match Pin::new(&mut fut).poll(&mut cx) {
                Poll::Ready(r) => Some(r),
                Poll::Pending => None,
            };
            drop(fut); // pending, or woken by the trip
            g1.store(true, Ordering::SeqCst);
            r
        });
        let (b2, g2) = (b.clone(), gone.clone());
        let blocked = thread::spawn(move || {
            let after_the_drop = g2.load(Ordering::SeqCst);
            let r = b2.wait_blocking();
            if after_the_drop {
                // Arrived after the other waiter had left: nobody to meet.
                assert_eq!(r, Err(BrokenBarrier), "met a dropped waiter");
            }
            r
        });
        let dropped = dropper.join().unwrap();
        b.abort();
        let other = blocked.join().unwrap();
        match (dropped, other) {
            // They met within the dropper's one poll: it tripped the
            // barrier, or arrived first and saw the other trip it.
            (Some(Ok(d)), Ok(o)) => {
                assert_eq!(d.index() + o.index(), 1);
                assert!(d.is_leader() != o.is_leader());
            }
            // The dropper came first: tripped by the blocked one and then
            // dropped, or gone before it came.
            (None, Ok(o)) => assert!(o.is_leader() && o.index() == 1),
            (None, Err(BrokenBarrier)) => {}
            (d, o) => panic!("impossible outcome: {d:?}, {o:?}"),
        }
        assert!(b.is_broken());
        assert_quiet(&b);
    });
}

/// Two blocking waiters against a `reset` then an `abort`: they trip
/// together or are both broken; never one of each.
#[test]
fn barrier_reset_breaks_or_trips_together() {
    loom::model(|| {
        let b = Arc::new(Barrier::new(2));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || b.wait_blocking())
            })
            .collect();
        b.reset();
        b.abort();
        let r: Vec<_> = waiters.into_iter().map(|t| t.join().unwrap()).collect();
        match (r[0], r[1]) {
            (Ok(x), Ok(y)) => {
                assert_eq!(x.index() + y.index(), 1);
                assert!(x.is_leader() != y.is_leader());
            }
            (Err(BrokenBarrier), Err(BrokenBarrier)) => {}
            other => panic!("one tripped, one broken: {other:?}"),
        }
        assert_quiet(&b);
    });
}

/// Two waiters of a one-party barrier whose action runs: an arrival during
/// the action waits for it to end (the "entering" path), then trips the
/// next round itself. Two actions never overlap.
#[test]
fn barrier_arrival_during_the_action_waits_for_it() {
    loom::model(|| {
        let running = Arc::new(AtomicBool::new(false));
        let runs = Arc::new(AtomicUsize::new(0));
        let (r, n) = (running.clone(), runs.clone());
        let b = Arc::new(Barrier::with_action(1, move || {
            assert!(!r.swap(true, Ordering::SeqCst), "two actions at once");
            n.fetch_add(1, Ordering::SeqCst);
            r.store(false, Ordering::SeqCst);
        }));
        let b2 = b.clone();
        let t = thread::spawn(move || b2.wait_blocking().unwrap());
        let mine = loom::future::block_on(b.wait()).unwrap();
        let theirs = t.join().unwrap();
        assert!(mine.is_leader() && theirs.is_leader());
        assert_eq!((mine.index(), theirs.index()), (0, 0));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_quiet(&b);
    });
}
