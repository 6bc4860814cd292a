//! Runs the code around amphi's only `unsafe` (the Lock data cell and the
//! stack-pinned listeners of blocking waits) under Miri:
//! `cargo +nightly miri test --manifest-path loom/Cargo.toml --test miri`.
#![cfg(not(loom))]

use std::sync::Arc;
use std::thread;

use amphi::{Condition, Event, Lock, Semaphore};

#[test]
fn lock_data_cell_under_contention() {
    let lock = Arc::new(Lock::new(Vec::new()));
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let l = lock.clone();
            thread::spawn(move || {
                for j in 0..20 {
                    l.lock_blocking().push(i * 100 + j);
                    let mut g = l.lock_arc_blocking();
                    let last = g.pop().unwrap();
                    g.push(last);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(lock.lock_blocking().len(), 60);
    let lock = Arc::into_inner(lock).unwrap();
    assert_eq!(lock.into_inner().len(), 60);
}

#[test]
fn blocking_waits_on_stack_listeners() {
    let pair = Arc::new((
        Lock::new(0u32),
        Condition::new(),
        Event::new(),
        Semaphore::new(0),
    ));
    let p = pair.clone();
    let t = thread::spawn(move || {
        let (lock, cond, ev, sem) = &*p;
        assert!(ev.wait_blocking());
        sem.acquire_blocking().unwrap().forget();
        let mut g = lock.lock_blocking();
        *g = 1;
        cond.notify_all();
    });
    let (lock, cond, ev, sem) = &*pair;
    let g = lock.lock_blocking();
    ev.set();
    sem.release(1);
    let g = cond.wait_while(g, |v| *v == 0).wait();
    assert_eq!(*g, 1);
    drop(g);
    t.join().unwrap();
}
