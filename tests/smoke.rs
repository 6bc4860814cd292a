use amphi::{Condition, Event, Lock, Semaphore};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke() {
    let lock = Arc::new(Lock::new(0u64));
    let mut hs = vec![];
    for _ in 0..2 {
        let l = lock.clone();
        hs.push(std::thread::spawn(move || {
            for _ in 0..10000 {
                *l.lock_blocking() += 1;
            }
        }));
    }
    let mut ts = vec![];
    for _ in 0..4 {
        let l = lock.clone();
        ts.push(tokio::spawn(async move {
            for _ in 0..10000 {
                *l.lock().await += 1;
            }
        }));
    }
    for t in ts {
        t.await.unwrap();
    }
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(*lock.lock().await, 60000);

    let ev = Arc::new(Event::new());
    let e = ev.clone();
    let h = std::thread::spawn(move || e.wait_blocking());
    assert!(!ev.wait().timeout(Duration::from_millis(10)).await);
    ev.set();
    assert!(h.join().unwrap());

    let sem = Semaphore::new(1);
    let p = sem.acquire().await;
    assert!(
        sem.acquire()
            .timeout(Duration::from_millis(10))
            .await
            .is_none()
    );
    drop(p);
    let _p = sem.acquire().await;

    let pair = Arc::new((Lock::new(false), Condition::new()));
    let p2 = pair.clone();
    let h = std::thread::spawn(move || {
        let g = p2.1.wait_while(p2.0.lock_blocking(), |b| !*b).wait();
        assert!(*g);
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    *pair.0.lock().await = true;
    assert_eq!(pair.1.notify_all(), 1);
    h.join().unwrap();
}
