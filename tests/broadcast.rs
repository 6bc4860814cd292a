//! A broadcast (`Event::set`, `Condition::notify_all`) is not handed on by a
//! waiter dropped after it was woken; a `notify(1)` is. Deterministic poll
//! tests.

mod common;

use amphi::{Condition, Event, Lock};
use common::*;
use tokio_test::{assert_pending, assert_ready};

#[test]
fn event_set_is_not_handed_on_by_a_dropped_waiter() {
    let ev = Event::new();
    let a = spawn_pending(ev.wait());
    ev.set();
    assert!(a.is_woken());
    ev.clear();
    // B starts after the clear.
    let mut b = spawn_pending(ev.wait());
    drop(a); // woken, never polled
    assert!(!b.is_woken(), "a set that ended before B came woke B");
    assert_pending!(b.poll());
    ev.set();
    assert!(assert_ready!(b.poll()));
}

#[test]
fn notify_all_is_not_handed_on_but_notify_one_is() {
    let lock = Lock::new(());
    let cond = Condition::new();

    let a = spawn_pending(cond.wait(lock.lock_blocking()));
    assert_eq!(cond.notify_all(), 1);
    assert!(a.is_woken());
    let mut b = spawn_pending(cond.wait(lock.lock_blocking()));
    drop(a);
    assert!(!b.is_woken(), "a notify_all that came before B woke B");
    assert_pending!(b.poll());

    // notify(1) reaching a waiter that is then dropped passes on.
    assert_eq!(cond.notify(1), 1);
    assert!(b.is_woken());
    let mut c = spawn_pending(cond.wait(lock.lock_blocking()));
    drop(b);
    assert!(c.is_woken(), "notify(1) was swallowed by a dropped waiter");
    drop(assert_ready!(c.poll()));

    // Also when the woken waiter is dropped while it re-acquires the lock.
    let mut d = spawn_pending(cond.wait(lock.lock_blocking()));
    let held = lock.lock_blocking();
    assert_eq!(cond.notify_all(), 1);
    assert_pending!(d.poll()); // woken; now waits for the lock we hold
    let mut e = spawn_pending(cond.wait(held)); // starts after the broadcast
    drop(d);
    assert!(!e.is_woken(), "a notify_all that came before E woke E");
    assert_pending!(e.poll());
    cond.notify(1);
    drop(assert_ready!(e.poll()));
}
