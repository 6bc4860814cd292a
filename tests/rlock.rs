//! RLock: reentrant for the same thread (outside tasks) and the same tokio
//! task (wherever it runs), exclusive between owners, in both worlds.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use amphi::{Condition, RLock};
use common::*;
use tokio_test::{assert_pending, assert_ready};

#[test]
fn a_thread_reenters_and_others_wait() {
    let r = Arc::new(RLock::new(AtomicUsize::new(0)));
    let a = r.lock_blocking();
    let b = r.lock_blocking();
    let c = r.try_lock().expect("the owner re-enters");
    assert_eq!(r.depth(), 3);
    assert!(r.is_owned());
    let r2 = Arc::clone(&r);
    let (checked_tx, checked_rx) = std::sync::mpsc::channel();
    let other = spawn_thread(move || {
        assert!(!r2.is_owned());
        assert!(r2.try_lock().is_none());
        assert!(r2.lock().wait_timeout(SHORT).is_none());
        checked_tx.send(()).unwrap();
        let g = r2.lock_blocking(); // waits for every level
        g.fetch_add(1, Ordering::SeqCst);
        drop(g);
    });
    checked_rx.recv_timeout(DEADLINE).unwrap();
    drop(a);
    drop(c);
    assert!(r.is_locked());
    assert!(!other.finished());
    drop(b);
    other.join_within(SLACK);
    assert!(!r.is_locked());
    assert_eq!(r.lock_blocking().load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_reenters_across_thread_hops() {
    let r = Arc::new(RLock::new(()));
    let r2 = Arc::clone(&r);
    within(tokio::spawn(async move {
        let outer = r2.lock().await;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.insert(std::thread::current().id());
            tokio::task::yield_now().await;
            let inner = r2.lock().timeout(SHORT).await.expect("same task re-enters");
            assert!(r2.is_owned());
            drop(inner);
        }
        drop(outer);
        seen.len()
    }))
    .await
    .unwrap();
    assert!(!r.is_locked());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_task_waits_for_the_owner() {
    let r = Arc::new(RLock::new(()));
    let held = r.lock_arc().await;
    let r2 = Arc::clone(&r);
    let other = tokio::spawn(async move {
        assert!(!r2.is_owned());
        assert!(r2.lock().timeout(SHORT).await.is_none());
        drop(r2.lock().await);
    });
    tokio::time::sleep(SHORT * 2).await;
    assert!(!other.is_finished());
    drop(held);
    join_task(other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_joined_in_one_task_share_its_ownership() {
    let r = Arc::new(RLock::new(()));
    let r2 = Arc::clone(&r);
    within(tokio::spawn(async move {
        let (a, b) = tokio::join!(r2.lock(), r2.lock());
        assert_eq!(r2.depth(), 2);
        drop((a, b));
    }))
    .await
    .unwrap();
    assert!(!r.is_locked());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_call_inside_the_owning_task_reenters_instead_of_deadlocking() {
    let r = Arc::new(RLock::new(AtomicI64::new(0)));
    let r2 = Arc::clone(&r);
    within(tokio::spawn(async move {
        let g = r2.lock().await;
        // Synchronous code called from the task that holds the lock.
        let inner = r2.lock_blocking();
        inner.fetch_add(1, Ordering::Relaxed);
        drop(inner);
        g.fetch_add(1, Ordering::Relaxed);
    }))
    .await
    .unwrap();
    assert_eq!(r.lock().await.load(Ordering::Relaxed), 2);
}

#[test]
fn threads_and_tasks_exclude_each_other() {
    let rt = multi_thread_runtime(2);
    let r = Arc::new(RLock::new(()));
    let inside = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (r, inside) = (r.clone(), inside.clone());
            spawn_thread(move || {
                for _ in 0..300 {
                    let a = r.lock_blocking();
                    let b = r.lock_blocking();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                    std::thread::yield_now();
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop((b, a));
                }
            })
        })
        .collect();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let (r, inside) = (r.clone(), inside.clone());
            rt.spawn(async move {
                for _ in 0..300 {
                    let a = r.lock().await;
                    let b = r.lock().await;
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                    tokio::task::yield_now().await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop((b, a));
                }
            })
        })
        .collect();
    for t in threads {
        t.join_within(Duration::from_secs(30));
    }
    rt.block_on(async {
        for t in tasks {
            join_task(t).await;
        }
    });
    assert!(!r.is_locked());
    assert_eq!(r.waiters().total(), 0);
}

#[test]
fn a_guard_dropped_on_another_thread_releases_one_level() {
    let r = Arc::new(RLock::new(()));
    let a = r.lock_arc_blocking();
    let b = r.lock_blocking();
    std::thread::spawn(move || drop(a)).join().unwrap();
    assert_eq!(r.depth(), 1);
    assert!(r.is_owned());
    drop(b);
    assert!(!r.is_locked());
}

#[test]
fn poll_order_and_cancellation() {
    let r = Arc::new(RLock::new(()));
    // This thread owns it: its futures (polled outside any task) re-enter.
    let held = r.lock_blocking();
    let mut same = tokio_test::task::spawn(r.lock());
    drop(assert_ready!(same.poll()));
    drop(same);
    // Hand the lock to another thread, then wait for it here.
    drop(held);
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let r2 = Arc::clone(&r);
    let owner = spawn_thread(move || {
        let g = r2.lock_blocking();
        locked_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        drop(g);
    });
    locked_rx.recv_timeout(DEADLINE).unwrap();
    let mut a = tokio_test::task::spawn(r.lock());
    let mut b = tokio_test::task::spawn(r.lock());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    release_tx.send(()).unwrap();
    owner.join_within(SLACK);
    assert!(a.is_woken(), "FIFO: the first waiter is woken");
    drop(a); // woken, never polled: hands the wake-up on
    assert!(b.is_woken(), "a dropped waiter handed its wake-up on");
    let g = assert_ready!(b.poll());
    assert!(r.is_owned());
    drop(g);
    assert!(r.try_lock().is_some());
}

#[test]
fn a_condition_wait_releases_every_level_and_restores_the_depth() {
    let state = Arc::new((RLock::new(AtomicBool::new(false)), Condition::new()));
    let s = Arc::clone(&state);
    let (r, cond) = &*state;
    let a = r.lock_blocking();
    let b = r.lock_blocking();
    let notifier = spawn_thread(move || {
        let (r, cond) = &*s;
        // Gets in only if the wait released both levels.
        let g = r.lock_blocking();
        g.store(true, Ordering::SeqCst);
        cond.notify_all();
    });
    let b = cond
        .wait_while(b, |ready| !ready.load(Ordering::SeqCst))
        .wait();
    assert!(b.load(Ordering::SeqCst));
    assert_eq!(r.depth(), 2);
    assert!(r.is_owned());
    notifier.join_within(SLACK);
    drop(b);
    assert!(r.is_locked());
    drop(a);
    assert!(!r.is_locked());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_condition_wait_over_an_rlock_restores_the_depth() {
    let state = Arc::new((RLock::new(AtomicUsize::new(0)), Condition::new()));
    let s = Arc::clone(&state);
    let waiter = tokio::spawn(async move {
        let (r, cond) = &*s;
        let a = r.lock().await;
        let b = r.lock().await;
        let (b, res) = cond
            .wait_while(b, |n| n.load(Ordering::SeqCst) == 0)
            .timeout(DEADLINE)
            .await;
        assert!(res.notified());
        assert_eq!(r.depth(), 2);
        drop((b, a));
    });
    let (r, cond) = &*state;
    loop {
        if let Some(g) = r.try_lock()
            && cond.waiters().total() == 1
        {
            g.store(1, Ordering::SeqCst);
            cond.notify(1);
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    join_task(waiter).await;
    assert!(!r.is_locked());
}

#[test]
fn auto_traits() {
    use static_assertions::{assert_impl_all, assert_not_impl_any};
    assert_impl_all!(RLock<AtomicUsize>: Send, Sync);
    assert_impl_all!(amphi::RLockGuard<'static, AtomicUsize>: Send, Sync);
    assert_impl_all!(amphi::RLockGuardArc<AtomicUsize>: Send, Sync);
    assert_impl_all!(amphi::futures::RLockFuture<'static, AtomicUsize>: Send, Sync, Unpin);
    // A value that is not Sync cannot be shared through &T guards.
    assert_not_impl_any!(RLock<std::cell::Cell<u8>>: Sync);
    assert_not_impl_any!(amphi::RLockGuard<'static, std::cell::Cell<u8>>: Send);
}

#[test]
fn rlock_storm_leaves_it_free() {
    let rt = multi_thread_runtime(2);
    let r = Arc::new(RLock::new(AtomicUsize::new(0)));
    let threads: Vec<_> = (0..3u64)
        .map(|i| {
            let r = r.clone();
            spawn_thread(move || {
                for j in 0..300u64 {
                    match (i + j) % 3 {
                        0 => {
                            if let Some(g) =
                                r.lock().wait_timeout(Duration::from_micros(50 * (j % 5)))
                            {
                                let g2 = r.lock_blocking();
                                g2.fetch_add(1, Ordering::Relaxed);
                                drop((g2, g));
                            }
                        }
                        1 => drop(r.try_lock()),
                        _ => {
                            let g = r.lock_blocking();
                            g.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    let tasks: Vec<_> = (0..3u64)
        .map(|i| {
            let r = r.clone();
            rt.spawn(async move {
                for j in 0..300u64 {
                    if (i + j) % 2 == 0 {
                        if let Some(g) = r.lock().timeout(Duration::from_micros(80 * (j % 4))).await
                        {
                            tokio::task::yield_now().await;
                            let g2 = r.lock().await;
                            g2.fetch_add(1, Ordering::Relaxed);
                            drop((g2, g));
                        }
                    } else {
                        let g = r.lock().await;
                        g.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join_within(Duration::from_secs(30));
    }
    rt.block_on(async {
        for t in tasks {
            join_task(t).await;
        }
    });
    assert!(!r.is_locked());
    assert_eq!(r.depth(), 0);
    assert_eq!(r.waiters().total(), 0);
}

/// A condition wait over an RLock held twice, dropped before it re-acquires
/// the lock: the outer guard stays outside the lock and releases nothing,
/// so another owner's hold is never broken.
#[test]
fn a_dropped_condition_wait_leaves_the_outer_guards_outside() {
    let r = Arc::new(RLock::new(()));
    let cond = Condition::new();
    let outer = r.lock_blocking();
    let inner = r.lock_blocking();
    {
        let mut w = tokio_test::task::spawn(cond.wait(inner));
        assert_pending!(w.poll());
        // dropped, as by a timeout or select!
    }
    assert!(!r.is_locked(), "the wait released every level");
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let r2 = Arc::clone(&r);
    let other = spawn_thread(move || {
        let g = r2.lock_blocking();
        held_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        drop(g);
    });
    held_rx.recv_timeout(DEADLINE).unwrap();
    drop(outer); // a level of the abandoned session: releases nothing
    assert!(r.is_locked(), "the other thread still holds it");
    assert_eq!(r.depth(), 1);
    let r3 = Arc::clone(&r);
    let third = spawn_thread(move || r3.lock().wait_timeout(SHORT).is_some());
    assert!(
        !third.join_within(SLACK),
        "a third owner got in while another held it"
    );
    release_tx.send(()).unwrap();
    other.join_within(SLACK);
    assert!(!r.is_locked());
    assert_eq!(r.depth(), 0);
    // And the lock works as before.
    let a = r.lock_blocking();
    let b = r.lock_blocking();
    assert_eq!(r.depth(), 2);
    drop((b, a));
    assert!(!r.is_locked());
}

/// An outer guard dropped while its session is parked in a condition wait
/// is not counted back when the wait re-acquires the lock.
#[test]
fn a_condition_wait_restores_only_the_outer_levels_still_held() {
    let state = Arc::new((RLock::new(AtomicBool::new(false)), Condition::new()));
    let (r, cond) = &*state;
    let outer = r.lock_blocking();
    let inner = r.lock_blocking();
    let mut w = tokio_test::task::spawn(cond.wait(inner));
    assert_pending!(w.poll());
    drop(outer); // while parked
    let s = Arc::clone(&state);
    spawn_thread(move || {
        let (r, cond) = &*s;
        let g = r.lock_blocking();
        g.store(true, Ordering::SeqCst);
        cond.notify_all();
    })
    .join_within(SLACK);
    let g = assert_ready!(w.poll());
    assert_eq!(r.depth(), 1, "only the waiting level came back");
    drop(g);
    assert!(!r.is_locked());
}
