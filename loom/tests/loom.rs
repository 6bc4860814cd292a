//! loom models of amphi's waiting state machines: every interleaving (up to
//! `LOOM_MAX_PREEMPTIONS` preemptions) of the untimed paths must neither lose
//! a wake-up (loom reports a deadlock) nor break the primitive's invariant.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use amphi::{Closed, Condition, Event, Lock, Semaphore};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use std::sync::Arc;

/// Two threads, one blocking and one async, increment under the lock.
#[test]
fn lock_blocking_and_async_exclude_each_other() {
    loom::model(|| {
        let lock = Arc::new(Lock::new(0u32));
        let l = lock.clone();
        let t = thread::spawn(move || *l.lock_blocking() += 1);
        {
            let mut g = loom::future::block_on(lock.lock());
            *g += 1;
        }
        t.join().unwrap();
        assert_eq!(*lock.lock_blocking(), 2);
    });
}

/// A waiter polled to Pending and then dropped must not keep the lock from
/// the next waiter, whatever the interleaving with the unlock.
#[test]
fn lock_dropped_waiter_passes_the_wakeup_on() {
    loom::model(|| {
        let lock = Arc::new(Lock::new(()));
        let guard = lock.lock_arc_blocking();
        let l = lock.clone();
        let blocked = thread::spawn(move || drop(l.lock_blocking()));
        let l = lock.clone();
        let canceller = thread::spawn(move || {
            let mut fut = l.lock();
            let mut cx = Context::from_waker(Waker::noop());
            if let Poll::Ready(g) = Pin::new(&mut fut).poll(&mut cx) {
                drop(g);
            }
            drop(fut);
        });
        drop(guard);
        canceller.join().unwrap();
        blocked.join().unwrap();
        assert!(!lock.is_locked());
    });
}

/// At most one holder of a one-permit semaphore; `release(n)` wakes waiters.
#[test]
fn semaphore_limits_holders() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let inside = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::new();
        for _ in 0..2 {
            let (s, i) = (sem.clone(), inside.clone());
            threads.push(thread::spawn(move || {
                let p = s.acquire_blocking().unwrap();
                assert_eq!(i.fetch_add(1, Ordering::SeqCst), 0);
                i.fetch_sub(1, Ordering::SeqCst);
                drop(p);
            }));
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.available(), 1);
    });
}

#[test]
fn semaphore_release_n_wakes_blocked_waiters() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let mut threads = Vec::new();
        for _ in 0..2 {
            let s = sem.clone();
            threads.push(thread::spawn(move || {
                s.acquire_blocking().unwrap().forget()
            }));
        }
        sem.release(2);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.available(), 0);
    });
}

/// `close` is never lost against a concurrent acquire, blocking or async:
/// both wake with `Closed` (no permit is ever released).
#[test]
fn semaphore_close_wakes_both_worlds() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s = sem.clone();
        let blocking = thread::spawn(move || assert_eq!(s.acquire_blocking().unwrap_err(), Closed));
        let s = sem.clone();
        let asynch = thread::spawn(move || {
            assert_eq!(loom::future::block_on(s.acquire()).unwrap_err(), Closed)
        });
        assert!(sem.close());
        blocking.join().unwrap();
        asynch.join().unwrap();
        assert!(sem.is_closed());
    });
}

/// `set` is never lost against a concurrent `wait`, blocking or async.
#[test]
fn event_set_wakes_both_worlds() {
    loom::model(|| {
        let ev = Arc::new(Event::new());
        let e = ev.clone();
        let blocking = thread::spawn(move || assert!(e.wait_blocking()));
        let e = ev.clone();
        let asynch = thread::spawn(move || assert!(loom::future::block_on(e.wait())));
        ev.set();
        blocking.join().unwrap();
        asynch.join().unwrap();
    });
}

/// A notify made under the lock after the flag is set always reaches a waiter
/// that checked the flag under the same lock.
#[test]
fn condition_notify_is_not_lost() {
    loom::model(|| {
        let pair = Arc::new((Lock::new(false), Condition::new()));
        let p = pair.clone();
        let waiter = thread::spawn(move || {
            let mut g = p.0.lock_blocking();
            while !*g {
                g = p.1.wait_blocking(g);
            }
        });
        *pair.0.lock_blocking() = true;
        pair.1.notify(1);
        waiter.join().unwrap();
    });
}

/// Two blocked acquirers, two `release(1)`s: both get a permit. (A waiter
/// that took a permit by itself used to discard a wake-up meant for the
/// other; deadlocked at 2 preemptions.)
#[test]
fn semaphore_two_single_releases_wake_two_waiters() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let mut threads = Vec::new();
        for _ in 0..2 {
            let s = sem.clone();
            threads.push(thread::spawn(move || s.acquire_blocking().unwrap().forget()));
        }
        sem.release(1);
        sem.release(1);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.available(), 0);
    });
}

/// Three contenders on one lock: every increment lands.
#[test]
fn lock_three_contenders() {
    loom::model(|| {
        let lock = Arc::new(Lock::new(0u32));
        let mut threads = Vec::new();
        for _ in 0..2 {
            let l = lock.clone();
            threads.push(thread::spawn(move || *l.lock_blocking() += 1));
        }
        *lock.lock_blocking() += 1;
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*lock.lock_blocking(), 3);
    });
}
