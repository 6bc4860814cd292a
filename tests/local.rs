//! `Local`: each thread sees its own value, made once per thread on first
//! use, fresh also for a thread that starts after others ended (whose
//! storage slots are reused); every value is dropped when the `Local` is;
//! tasks see the value of the thread they run on.

mod common;

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use amphi::Local;
use common::*;

#[test]
fn each_thread_sees_its_own_value() {
    let local = Arc::new(Local::new(|| Cell::new(0u32)));
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (1..=8u32)
        .map(|n| {
            let (l, b) = (local.clone(), start.clone());
            spawn_thread(move || {
                b.wait();
                for _ in 0..n {
                    l.get().set(l.get().get() + 1);
                }
                b.wait();
                l.get().get()
            })
        })
        .collect();
    let counts: Vec<u32> = threads.into_iter().map(|t| t.join()).collect();
    assert_eq!(counts, (1..=8).collect::<Vec<_>>());
    // This thread comes after eight that ended: it must not be handed one
    // of their values (the storage reuses the ended threads' slots).
    assert_eq!(local.get().get(), 0, "this thread starts fresh");
}

#[test]
fn threads_after_ended_ones_start_fresh_one_after_another() {
    let made = Arc::new(AtomicUsize::new(0));
    let m = made.clone();
    let local = Arc::new(Local::new(move || {
        m.fetch_add(1, Ordering::SeqCst);
        Cell::new(0u32)
    }));
    for round in 0..20 {
        let l = local.clone();
        // One at a time: each new thread very likely gets the slot of the
        // one before.
        let seen = spawn_thread(move || {
            let before = l.get().get();
            l.get().set(before + 1);
            before
        })
        .join();
        assert_eq!(seen, 0, "round {round}: a stale value from an ended thread");
    }
    assert_eq!(made.load(Ordering::SeqCst), 20);
    let mut local = Arc::into_inner(local).expect("the last reference");
    assert_eq!(
        local.iter_mut().count(),
        20,
        "one value per thread that used it"
    );
    assert!(local.iter_mut().all(|c| c.get() == 1));
}

#[test]
fn the_value_is_made_once_per_thread() {
    let made = Arc::new(AtomicUsize::new(0));
    let m = made.clone();
    let local = Arc::new(Local::new(move || {
        m.fetch_add(1, Ordering::SeqCst);
        std::thread::current().id()
    }));
    assert!(local.try_get().is_none(), "nothing before the first use");
    let start = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (l, b) = (local.clone(), start.clone());
            spawn_thread(move || {
                b.wait();
                for _ in 0..100 {
                    assert_eq!(*l.get(), std::thread::current().id());
                }
                b.wait();
            })
        })
        .collect();
    for t in threads {
        t.join();
    }
    assert_eq!(
        made.load(Ordering::SeqCst),
        4,
        "once per thread, not per get"
    );
    assert_eq!(*local.get(), std::thread::current().id());
    local.get();
    assert_eq!(made.load(Ordering::SeqCst), 5);
}

#[test]
fn every_value_is_dropped_with_the_local() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let local = Arc::new(Local::new(move || Counted(d.clone())));
    let start = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (l, b) = (local.clone(), start.clone());
            spawn_thread(move || {
                l.get();
                b.wait();
            })
        })
        .collect();
    for t in threads {
        t.join();
    }
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        0,
        "threads ending drop nothing"
    );
    let mut local = Arc::into_inner(local).expect("the last reference");
    assert_eq!(local.iter_mut().count(), 3);
    local.clear();
    assert_eq!(dropped.load(Ordering::SeqCst), 3, "clear drops them all");
    local.get();
    drop(local);
    assert_eq!(dropped.load(Ordering::SeqCst), 4, "and dropping the Local");
}

#[test]
fn a_panicking_init_leaves_no_value() {
    let tries = Arc::new(AtomicUsize::new(0));
    let t = tries.clone();
    let local = Local::new(move || {
        if t.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("first init fails");
        }
        5
    });
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *local.get()));
    assert_eq!(panic_message(&*caught.unwrap_err()), "first init fails");
    assert_eq!(local.try_get(), None);
    assert_eq!(*local.get(), 5, "the next get makes it");
    assert_eq!(tries.load(Ordering::SeqCst), 2);
}

#[test]
fn tasks_see_the_value_of_the_thread_they_run_on() {
    let local = Arc::new(Local::new(|| std::thread::current().id()));
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let rt = multi_thread_runtime(2);
    rt.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (l, s) = (local.clone(), seen.clone());
                tokio::spawn(async move {
                    for _ in 0..10 {
                        assert_eq!(*l.get(), std::thread::current().id());
                        s.lock().unwrap().insert(*l.get());
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            join_task(t).await;
        }
    });
    let seen = seen.lock().unwrap();
    assert!(
        !seen.is_empty() && seen.len() <= 2,
        "one per worker: {seen:?}"
    );
}

#[test]
fn default_uses_the_default_value() {
    let local: Local<Vec<u8>> = Local::default();
    assert!(local.get().is_empty());
    assert_eq!(format!("{local:?}"), "Local { this_thread: Some([]), .. }");
}
