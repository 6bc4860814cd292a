//! A future kept alive but not polled stops nobody (DESIGN principle 4b),
//! and the waiter census reports who waits.
//!
//! Deterministic poll tests: the "unpolled" future is a `tokio_test` mock
//! task that the test simply never polls again. Sleeps here only let real
//! time pass for the time-based bounds; they synchronize nothing.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use amphi::{Lock, Semaphore};
use common::*;
use tokio_test::{assert_pending, assert_ready};

/// Past the 2 ms a reservation may hold a free resource.
const PAST_HOLD: Duration = Duration::from_millis(5);

#[test]
fn a_free_lock_reserved_by_an_unpolled_future_is_free_again_soon() {
    let lock = Lock::new(());
    let (mut a, barger) = barged_waiter(&lock, lock.lock());
    drop(barger); // A is woken to claim, and never polled.
    // Right after the unlock the reservation holds: `try_lock` is refused.
    assert!(lock.try_lock().is_none());
    assert!(!lock.is_locked());
    thread::sleep(PAST_HOLD);
    // The reserving future did not come: others get in.
    let guard = lock.try_lock().expect("a stale reservation is broken");
    drop(guard);
    // A, polled at last, waits as an ordinary waiter and still gets the lock.
    let g = assert_ready!(a.poll());
    drop(g);
    assert!(lock.try_lock().is_some());
}

#[test]
fn a_blocked_thread_gets_a_lock_reserved_by_an_unpolled_future() {
    let lock = Arc::new(Lock::new(()));
    let (a, barger) = barged_waiter(&lock, lock.lock());
    let l = Arc::clone(&lock);
    let thread = spawn_thread(move || drop(l.lock_blocking()));
    wait_until("the thread waits", || lock.waiters().threads == 1);
    drop(barger);
    thread::sleep(PAST_HOLD);
    // An arriving waiter breaks the stale reservation, and its unlock lets
    // the parked thread in.
    drop(lock.lock_blocking());
    thread.join_within(SLACK);
    drop(a);
    assert!(lock.try_lock().is_some());
}

#[test]
fn a_semaphore_reserved_by_an_unpolled_future_lends_its_free_permits() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut a = spawn_pending(sem.acquire());
    thread::sleep(Duration::from_millis(3)); // past the fairness threshold
    drop(held);
    assert!(a.is_woken());
    let barger = sem.try_acquire().expect("barging before a reservation");
    assert_pending!(a.poll()); // loses, reserves
    sem.release(3);
    drop(barger); // 4 permits free, all reserved for A, which is not polled
    assert_eq!(sem.available(), 4);
    assert!(sem.try_acquire().is_err());
    thread::sleep(PAST_HOLD);
    let taken: Vec<_> = (0..4).map(|_| sem.try_acquire().expect("free")).collect();
    assert_eq!(sem.available(), 0);
    assert_pending!(a.poll()); // an ordinary waiter again
    drop(taken);
    assert!(a.is_woken());
    let p = assert_ready!(a.poll()).unwrap();
    drop(p);
    assert_eq!(sem.available(), 4);
}

#[test]
fn a_woken_unpolled_lock_future_does_not_absorb_every_wake_up() {
    let lock = Arc::new(Lock::new(()));
    let guard = lock.try_lock().unwrap();
    // F waits first, so the next unlock wakes F, which is never polled.
    let f = spawn_pending(lock.lock());
    let l = Arc::clone(&lock);
    let thread = spawn_thread(move || drop(l.lock_blocking()));
    wait_until("the thread waits", || lock.waiters().threads == 1);
    drop(guard);
    // Others keep taking and releasing the lock; the parked thread must get
    // woken too, although F holds the first wake-up and never takes it up.
    let start = Instant::now();
    let mut rounds = 0;
    while !thread.finished() {
        if let Some(g) = lock.try_lock() {
            drop(g);
            rounds += 1;
        }
        assert!(
            start.elapsed() < SLACK,
            "the parked thread slept through {rounds} unlocks"
        );
        thread::yield_now();
    }
    thread.join();
    drop(f);
    assert!(lock.try_lock().is_some());
}

#[test]
fn waiters_counts_threads_and_tasks_apart() {
    let lock = Arc::new(Lock::new(()));
    let guard = lock.try_lock().unwrap();
    let task = spawn_pending(lock.lock());
    assert_eq!(
        lock.waiters(),
        amphi::Waiters {
            threads: 0,
            tasks: 1
        }
    );
    let l = Arc::clone(&lock);
    let thread = spawn_thread(move || drop(l.lock_blocking()));
    wait_until("the thread waits", || lock.waiters().threads == 1);
    assert_eq!(lock.waiters().tasks, 1);
    drop(task);
    assert_eq!(
        lock.waiters(),
        amphi::Waiters {
            threads: 1,
            tasks: 0
        }
    );
    drop(guard);
    thread.join();
    assert_eq!(lock.waiters().total(), 0);

    let sem = Semaphore::new(0);
    let t = spawn_pending(sem.acquire());
    assert_eq!(sem.waiters().tasks, 1);
    drop(t);
    assert_eq!(sem.waiters().total(), 0);

    let ev = amphi::Event::new();
    let t = spawn_pending(ev.wait());
    assert_eq!(ev.waiters().tasks, 1);
    ev.set();
    drop(t);
    assert_eq!(ev.waiters().total(), 0);

    let cond = amphi::Condition::new();
    let l2 = Lock::new(());
    let t = spawn_pending(cond.wait(l2.lock_blocking()));
    assert_eq!(cond.waiters().tasks, 1);
    drop(t);
    assert_eq!(cond.waiters().total(), 0);
}

#[test]
fn a_future_polled_then_blocked_on_counts_as_a_thread() {
    let lock = Arc::new(Lock::new(()));
    let guard = lock.lock_arc_blocking();
    let l = Arc::clone(&lock);
    let thread = spawn_thread(move || {
        let mut fut = l.lock();
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut fut).poll(&mut cx).is_pending());
        drop(fut.wait());
    });
    wait_until("the thread blocks", || lock.waiters().threads == 1);
    assert_eq!(lock.waiters().tasks, 0);
    drop(guard);
    thread.join();
    assert_eq!(lock.waiters().total(), 0);
}

use std::future::Future;

/// A reserver whose reservation was broken as stale must not take (or
/// swallow the wake-up of) a later waiter's reservation.
#[test]
fn a_broken_reserver_does_not_strand_the_next_reserver() {
    let lock = Lock::new(());
    // A reserves, is woken to claim, and is not polled until much later.
    let (mut a, barger) = barged_waiter(&lock, lock.lock());
    // B waits too, long enough to be starved.
    let mut b = spawn_pending(lock.lock());
    drop(barger);
    thread::sleep(PAST_HOLD);
    // A's reservation is stale: a barger breaks it.
    let g = lock.try_lock().expect("a stale reservation is broken");
    drop(g); // B is woken
    let g = lock
        .try_lock()
        .expect("no reservation now: barging is allowed");
    assert_pending!(b.poll()); // B loses and reserves
    drop(g); // freed under B's reservation: B must be woken
    assert!(b.is_woken(), "the new reserver was not woken");
    // A, polled at last, finds its reservation gone and waits behind B.
    assert_pending!(a.poll());
    let gb = assert_ready!(b.poll());
    drop(gb);
    let ga = assert_ready!(a.poll());
    drop(ga);
    assert!(lock.try_lock().is_some());
    assert_eq!(lock.waiters().total(), 0);
}

/// A starved waiter whose own reservation attempt fails must not make the
/// current reservation immune to going stale.
#[test]
fn a_failed_reservation_attempt_does_not_make_a_reservation_permanent() {
    let sem = Semaphore::new(0);
    let mut a = spawn_pending(sem.acquire());
    let mut b = spawn_pending(sem.acquire());
    thread::sleep(Duration::from_millis(3)); // both starved
    sem.release(2);
    let p1 = sem.try_acquire().unwrap(); // barging
    let p2 = sem.try_acquire().unwrap();
    assert_pending!(a.poll()); // A loses and reserves
    drop(p1); // freed under A's reservation; A is never polled again
    assert_pending!(b.poll()); // B loses, is starved, cannot reserve
    thread::sleep(PAST_HOLD);
    let p = sem.try_acquire().expect("the stale reservation is broken");
    drop((p, p2));
    drop((a, b));
    assert_eq!(sem.available(), 2);
}

/// A thread that starts waiting while a free unit is held for an unpolled
/// reserver gets it once the reservation would be stale, with nobody else
/// arriving.
#[test]
fn a_thread_arriving_during_a_reservation_gets_in_by_itself() {
    let lock = Arc::new(Lock::new(()));
    let (a, barger) = barged_waiter(&lock, lock.lock());
    drop(barger); // free, held for A, which is never polled
    let l = Arc::clone(&lock);
    let thread = spawn_thread(move || l.lock().wait_timeout(SLACK).map(drop).is_some());
    assert!(
        thread.join_within(SLACK),
        "the waiter slept through the stale reservation"
    );
    drop(a);
    assert_eq!(lock.waiters().total(), 0);
}
