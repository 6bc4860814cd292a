//! Semaphore bounds and close: no path where a bound violation is
//! swallowed, no input that leads to a panic the caller could not see
//! coming, and a clean shutdown for blocking code.

mod common;

use std::sync::Arc;

use amphi::{
    AcquireTimeoutError, BoundedSemaphore, Closed, Semaphore, SemaphorePermitArc, TryAcquireError,
};
use common::*;

#[test]
fn bounded_refuses_the_extra_release_while_guards_are_out() {
    // Python: acquire x3, one release too many, release x3 -> ValueError at
    // the release that passes the bound. amphi refuses the extra one itself.
    let sem = BoundedSemaphore::new(3);
    let permits: Vec<_> = (0..3).map(|_| sem.try_acquire().unwrap()).collect();
    let err = sem.release(1).unwrap_err();
    assert_eq!((err.requested, err.releasable, err.bound), (1, 0, 3));
    // Nothing changed: no fourth holder can get in.
    assert_eq!(sem.available(), 0);
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    drop(permits);
    // Every drop was counted back: exactly the bound, never more.
    assert_eq!(sem.available(), 3);
    let again: Vec<_> = (0..3).map(|_| sem.try_acquire().unwrap()).collect();
    assert!(sem.try_acquire().is_err());
    drop(again);
}

#[test]
fn bounded_release_puts_back_forgotten_permits_only() {
    let sem = BoundedSemaphore::new(2);
    sem.try_acquire().unwrap().forget();
    let held = sem.try_acquire().unwrap();
    assert_eq!(sem.release(2).unwrap_err().releasable, 1);
    sem.release(1).unwrap();
    assert!(sem.release(1).is_err());
    drop(held);
    assert_eq!(sem.available(), 2);
    assert!(sem.release(1).is_err());
}

#[test]
fn bounded_at_max_permits_keeps_its_bound() {
    let sem = BoundedSemaphore::new(Semaphore::MAX_PERMITS);
    let p = sem.try_acquire().unwrap();
    assert!(sem.release(1).is_err());
    drop(p);
    assert_eq!(sem.available(), Semaphore::MAX_PERMITS);
    assert!(sem.release(1).is_err());
}

#[test]
fn plain_semaphore_cannot_pass_max_permits_through_drops() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    let p = sem.try_acquire().unwrap();
    // free + held is already MAX_PERMITS: this release would pass it.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sem.release(1)));
    let msg = panic_message(&*caught.unwrap_err());
    assert!(msg.contains("Semaphore::release"), "{msg}");
    assert!(msg.contains("MAX_PERMITS"), "{msg}");
    assert!(!msg.contains("BoundedSemaphore"), "{msg}");
    drop(p);
    assert_eq!(sem.available(), Semaphore::MAX_PERMITS);
    // And the semaphore still works.
    let p = sem.try_acquire().unwrap();
    p.forget();
    sem.release(1);
    assert_eq!(sem.available(), Semaphore::MAX_PERMITS);
}

#[test]
fn over_release_message_names_no_other_type() {
    let sem = BoundedSemaphore::new(1);
    let msg = sem.release(1).unwrap_err().to_string();
    assert!(msg.contains("release(1)"), "{msg}");
}

#[test]
fn bounded_semaphore_is_not_a_semaphore() {
    static_assertions::assert_not_impl_any!(BoundedSemaphore: std::ops::Deref);
}

#[test]
fn bounded_semaphore_has_owned_permits() {
    let sem = Arc::new(BoundedSemaphore::new(1));
    let p: SemaphorePermitArc<BoundedSemaphore> = sem.acquire_arc_blocking().unwrap();
    assert!(sem.try_acquire_arc().is_err());
    std::thread::spawn(move || drop(p)).join().unwrap();
    assert_eq!(sem.available(), 1);
    let p = sem.try_acquire_arc().unwrap();
    p.forget();
    sem.release(1).unwrap();
    assert!(sem.release(1).is_err());
}

#[test]
fn close_wakes_blocked_threads_and_tasks() {
    let rt = multi_thread_runtime(2);
    let sem = Arc::new(Semaphore::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let s = Arc::clone(&sem);
            spawn_thread(move || s.acquire_blocking().map(drop))
        })
        .collect();
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let s = Arc::clone(&sem);
            rt.spawn(async move { s.acquire().await.map(drop) })
        })
        .collect();
    let timed = {
        let s = Arc::clone(&sem);
        spawn_thread(move || s.acquire().wait_timeout(DEADLINE).map(drop))
    };
    wait_until("all wait", || sem.waiters().total() == 5);
    assert!(sem.close());
    assert!(!sem.close());
    for t in threads {
        assert_eq!(t.join_within(SLACK), Err(Closed));
    }
    assert_eq!(timed.join_within(SLACK), Err(AcquireTimeoutError::Closed));
    rt.block_on(async {
        for t in tasks {
            assert_eq!(join_task(t).await, Err(Closed));
        }
    });
    assert_eq!(sem.waiters().total(), 0);
}

#[test]
fn a_closed_semaphore_refuses_even_with_free_permits() {
    let sem = Semaphore::new(2);
    let held = sem.try_acquire().unwrap();
    sem.close();
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    assert_eq!(sem.acquire_blocking().unwrap_err(), Closed);
    drop(held); // still counted back
    sem.release(1);
    assert_eq!(sem.available(), 3);
    let rt = current_thread_runtime();
    rt.block_on(async {
        assert_eq!(sem.acquire().await.unwrap_err(), Closed);
        assert_eq!(
            sem.acquire().timeout(SHORT).await.unwrap_err(),
            AcquireTimeoutError::Closed
        );
    });
}
