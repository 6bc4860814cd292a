//! Blocking calls inside tokio runtimes are deterministic: the same call in
//! the same place always works or always fails, whatever the contention,
//! and a failure points at the caller's line and names the amphi method.
//!
//! One test (one thread) installs a panic hook to read panic locations, so
//! this file keeps its panicking cases in that single test.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amphi::{Condition, Event, Lock, Semaphore};
use common::*;

/// Runs `f`, which must panic; returns the message and the panic's file.
fn panic_of(f: impl FnOnce()) -> (String, String) {
    static WHERE: Mutex<Option<String>> = Mutex::new(None);
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if let Some(loc) = info.location() {
            *WHERE.lock().unwrap() = Some(loc.file().to_string());
        }
    }));
    let caught = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(prev);
    let payload = caught.expect_err("the blocking call must panic");
    let file = WHERE.lock().unwrap().take().unwrap_or_default();
    (panic_message(&*payload), file)
}

#[track_caller]
fn assert_refused(method: &str, f: impl FnOnce()) {
    let (msg, file) = panic_of(f);
    assert!(msg.contains(method), "message names {method}: {msg}");
    assert!(
        msg.contains("spawn_blocking"),
        "message names the fix: {msg}"
    );
    assert!(
        file.ends_with("runtime_rules.rs"),
        "the panic points at the caller, not at {file}"
    );
}

#[test]
fn blocking_calls_on_a_current_thread_runtime_always_fail_at_the_caller() {
    let lock = Arc::new(Lock::new(0));
    let sem = Semaphore::new(1);
    let ev = Event::new();
    ev.set(); // would not have to wait
    let cond = Condition::new();
    let rt = current_thread_runtime();
    // Uncontended and contended alike: the same failure.
    for contended in [false, true] {
        let held = contended.then(|| lock.lock_arc_blocking());
        rt.block_on(async {
            assert_refused("Lock::lock_blocking", || drop(lock.lock_blocking()));
            assert_refused("Lock::lock_arc_blocking", || drop(lock.lock_arc_blocking()));
            assert_refused("Lock::lock", || drop(lock.lock().wait()));
            assert_refused("Lock::lock", || {
                drop(lock.lock().wait_timeout(Duration::from_micros(1)))
            });
        });
        drop(held);
    }
    rt.block_on(async {
        assert_refused("Semaphore::acquire_blocking", || {
            drop(sem.acquire_blocking())
        });
        let r = amphi::RLock::new(());
        assert_refused("RLock::lock_blocking", || drop(r.lock_blocking()));
        let b = amphi::Barrier::new(1);
        assert_refused("Barrier::wait", || {
            let _ = b.wait_blocking();
        });
        assert_refused("Event::wait_blocking", || {
            ev.wait_blocking();
        });
        assert_refused("Event::wait", || {
            ev.wait().wait_timeout(SHORT);
        });
        let g = lock.lock().await;
        assert_refused("Condition::wait", || {
            drop(cond.wait(g).wait_timeout(Duration::from_millis(1)))
        });
    });
    // Inside a spawned task and a LocalSet of the same runtime, too.
    let l = Arc::clone(&lock);
    rt.block_on(async move {
        tokio::spawn(async move {
            assert_refused("Lock::lock_blocking", || drop(l.lock_blocking()));
        })
        .await
        .unwrap();
    });
    let local = tokio::task::LocalSet::new();
    let l = Arc::clone(&lock);
    local.block_on(&rt, async move {
        tokio::task::spawn_local(async move {
            assert_refused("Lock::lock_blocking", || drop(l.lock_blocking()));
        })
        .await
        .unwrap();
    });
    // Nothing leaked: the lock is free and nobody is counted as waiting.
    assert!(lock.try_lock().is_some());
    assert_eq!(lock.waiters().total(), 0);
    assert_eq!(sem.available(), 1);
}

#[test]
fn spawn_blocking_of_a_current_thread_runtime_may_block() {
    let rt = current_thread_runtime();
    let lock = Arc::new(Lock::new(0));
    rt.block_on(async {
        let held = lock.lock_arc().await;
        let l = Arc::clone(&lock);
        let worker = tokio::task::spawn_blocking(move || *l.lock_blocking() += 1);
        wait_until_async(|| lock.waiters().threads == 1).await;
        drop(held);
        within(worker).await.unwrap();
        let l = Arc::clone(&lock);
        within(tokio::task::spawn_blocking(move || *l.lock_blocking() += 1))
            .await
            .unwrap();
    });
    assert_eq!(*lock.try_lock().unwrap(), 2);
}

#[test]
fn a_local_set_on_a_multi_thread_runtime_blocks_the_same_way_contended_or_not() {
    let rt = multi_thread_runtime(2);
    let lock = Arc::new(Lock::new(0));
    let local = tokio::task::LocalSet::new();
    let l = Arc::clone(&lock);
    local.block_on(&rt, async move {
        tokio::task::spawn_local(async move {
            *l.lock_blocking() += 1; // uncontended
            let held = l.lock_arc_blocking();
            let l2 = Arc::clone(&l);
            let other = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                drop(held);
                *l2.lock_blocking() += 1;
            });
            *l.lock_blocking() += 1; // contended: parks, does not panic
            other.join().unwrap();
        })
        .await
        .unwrap();
    });
    assert_eq!(*lock.try_lock().unwrap(), 3);
}

#[test]
fn a_multi_thread_worker_may_block_and_keeps_its_other_tasks_running() {
    let rt = multi_thread_runtime(1);
    let lock = Arc::new(Lock::new(0));
    rt.block_on(async {
        let held = lock.lock_arc().await;
        let l = Arc::clone(&lock);
        let blocker = tokio::spawn(async move { *l.lock_blocking() += 1 });
        // The only worker blocks; `block_in_place` hands its other tasks on,
        // so this spawned task still runs and can release the lock.
        within(tokio::spawn(async move { drop(held) }))
            .await
            .unwrap();
        within(blocker).await.unwrap();
    });
    assert_eq!(*lock.try_lock().unwrap(), 1);
}

async fn wait_until_async(f: impl Fn() -> bool) {
    within(async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
}
