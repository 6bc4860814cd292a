//! RLock races and API corners found by review, each a regression test:
//! an older pending future of the owning task re-enters, `lock_arc_blocking`
//! re-enters like `lock_blocking`, two condition waits joined in one task
//! over two levels of one session finish, and a guard dropped on another
//! thread while a condition wait re-acquires is never lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use amphi::{Condition, RLock};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn an_older_pending_future_of_the_owning_task_reenters() {
    rt().block_on(async {
        let r = Arc::new(RLock::new(()));
        let held = r.try_lock_arc().unwrap(); // owner: this thread (block_on body)
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let r2 = r.clone();
        let task = tokio::spawn(async move {
            let mut first = r2.lock();
            assert!(futures::poll!(&mut first).is_pending());
            rx.await.unwrap();
            let second = r2.lock().await; // the lock was free: this task owns it
            assert!(r2.is_owned());
            let fresh = r2.lock().timeout(Duration::from_millis(100)).await;
            assert!(fresh.is_some(), "a fresh future re-enters");
            drop(fresh);
            let old = first.timeout(Duration::from_millis(100)).await;
            drop(second);
            old.is_some()
        });
        tokio::task::yield_now().await; // let the task poll `first`
        drop(held);
        tx.send(()).unwrap();
        assert!(
            task.await.unwrap(),
            "the older future of the owning task did not re-enter"
        );
    });
}

/// `lock_blocking` re-enters on a current-thread runtime's thread;
/// `lock_arc_blocking`, documented "as lock_blocking", panics there.
#[test]
fn lock_arc_blocking_reenters_like_lock_blocking() {
    rt().block_on(async {
        let r = Arc::new(RLock::new(()));
        let g = r.try_lock_arc().unwrap();
        let a = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(r.lock_blocking())));
        let b =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(r.lock_arc_blocking())));
        drop(g);
        assert!(a.is_ok(), "lock_blocking re-entry panicked");
        assert!(
            b.is_ok(),
            "lock_arc_blocking re-entry panicked, lock_blocking did not"
        );
    });
}

#[test]
fn two_joined_condition_waits_of_one_session_finish() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = Arc::new(RLock::new(()));
        let cond = Arc::new(Condition::new());
        let (r2, c2) = (r.clone(), cond.clone());
        let task = tokio::spawn(async move {
            let g1 = r2.lock_arc().await;
            let g2 = r2.lock_arc().await;
            let both = async {
                tokio::join!(async { drop(c2.wait(g1).await) }, async {
                    drop(c2.wait(g2).await)
                })
            };
            tokio::time::timeout(Duration::from_millis(300), both)
                .await
                .is_ok()
        });
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        cond.notify_all();
        let ok = task.await.unwrap();
        eprintln!(
            "joined waits finished: {ok}; lock left locked: {}",
            r.is_locked()
        );
        assert!(ok, "the two joined waits deadlocked");
    });
}

#[test]
fn a_guard_dropped_during_a_condition_relock_is_never_lost() {
    let r = Arc::new(RLock::new(()));
    let cond = Condition::new();
    let (tx, rx) = mpsc::channel::<(amphi::RLockGuardArc<()>, u64)>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        for (g, spins) in rx {
            for _ in 0..spins {
                std::hint::spin_loop();
            }
            drop(g);
            done_tx.send(()).unwrap();
        }
    });
    let seed = AtomicU64::new(0x2545F4914F6CDD1D);
    let rnd = || {
        let mut x = seed.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        seed.store(x, Ordering::Relaxed);
        x
    };
    let start = Instant::now();
    let mut i = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        i += 1;
        let g1 = r.lock_arc_blocking();
        let g2 = r.lock_arc_blocking(); // depth 2, one session
        assert_eq!(r.depth(), 2);
        tx.send((g2, rnd() % 4000)).unwrap();
        let (g, _) = cond.wait(g1).wait_timeout(Duration::from_micros(5));
        drop(g);
        done_rx.recv().unwrap();
        if r.is_locked() {
            panic!(
                "iteration {i}: every guard is gone, yet the RLock is locked at depth {} \
                 (is_owned by this thread: {})",
                r.depth(),
                r.is_owned()
            );
        }
    }
    drop(tx);
    worker.join().unwrap();
    eprintln!("no leak in {i} iterations");
}
