//! No starvation: a waiter barged by a holder that relocks in a tight loop
//! still gets the lock, within a bound, from a thread and from a task.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use amphi::Lock;
use common::{barged_waiter, spawn_pending};
use tokio_test::assert_ready;

/// Starts a thread that relocks `lock` in a tight loop, holding it a little
/// each time, until `stop` is set.
fn hog(
    lock: Arc<Lock<u64>>,
    stop: Arc<AtomicBool>,
    started: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut rounds = 0;
        while !stop.load(Ordering::Relaxed) {
            if rounds == 0 {
                started.fetch_add(1, Ordering::SeqCst);
            }
            let mut g = lock.lock_blocking();
            *g += 1;
            // A short critical section: long enough that a woken waiter is
            // almost always too late, without a fairness fallback.
            let t = Instant::now();
            while t.elapsed() < Duration::from_micros(20) {
                std::hint::spin_loop();
            }
            drop(g);
            rounds += 1;
        }
        rounds
    })
}

/// The hogs, running (each has taken the lock) when this returns.
fn start_hogs(lock: &Arc<Lock<u64>>, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<u64>> {
    let started = Arc::new(AtomicUsize::new(0));
    let hogs = (0..HOGS)
        .map(|_| hog(lock.clone(), stop.clone(), started.clone()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while started.load(Ordering::SeqCst) < HOGS {
        assert!(Instant::now() < deadline, "the hogs did not start");
        std::thread::yield_now();
    }
    hogs
}

const ROUNDS: usize = 50;
/// One hog: with two cores, it and the waiter both run, the worst case.
const HOGS: usize = 1;
/// Generous for a shared 2-core machine; a starved waiter takes forever.
const MAX_WAIT: Duration = Duration::from_millis(250);

#[test]
fn blocking_waiter_is_not_starved_by_a_relocking_thread() {
    let lock = Arc::new(Lock::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let hogs = start_hogs(&lock, &stop);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut worst = Duration::ZERO;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let g = lock
            .lock()
            .wait_deadline(deadline)
            .expect("the waiter starved until the test's deadline");
        worst = worst.max(t.elapsed());
        drop(g);
    }
    stop.store(true, Ordering::Relaxed);
    let rounds: u64 = hogs.into_iter().map(|h| h.join().unwrap()).sum();
    println!("worst wait {worst:?}; the hogs locked {rounds} times");
    assert!(worst < MAX_WAIT, "worst wait {worst:?}");
    assert!(rounds > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_waiter_is_not_starved_by_a_relocking_thread() {
    let lock = Arc::new(Lock::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let hogs = start_hogs(&lock, &stop);
    let mut worst = Duration::ZERO;
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let g = lock.lock().await;
            worst = worst.max(t.elapsed());
            drop(g);
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for h in hogs {
        h.join().unwrap();
    }
    waited.expect("the task starved until the test's deadline");
    println!("worst wait {worst:?}");
    assert!(worst < MAX_WAIT, "worst wait {worst:?}");
}

/// The mechanism, step by step: a waiter barged for over a millisecond
/// reserves the lock (see `barged_waiter`); the next unlock lets only it in;
/// dropping it while it holds the reservation gives the lock back to
/// everyone.
#[test]
fn a_barged_waiter_reserves_the_lock() {
    let lock = Lock::new(());
    let (mut a, barger) = barged_waiter(&lock, lock.lock());
    drop(barger);
    assert!(a.is_woken());
    assert!(!lock.is_locked());
    // Free, but reserved: nobody else may take it.
    assert!(
        lock.try_lock().is_none(),
        "the reservation must block bargers"
    );
    let guard = assert_ready!(a.poll());
    drop(guard);
    drop(a);
    assert!(
        lock.try_lock().is_some(),
        "the reservation ends with the acquire"
    );
}

#[test]
fn dropping_the_reserving_waiter_releases_the_reservation() {
    let lock = Lock::new(());
    let (a, barger) = barged_waiter(&lock, lock.lock());
    let mut b = spawn_pending(lock.lock()); // B waits behind the reservation
    drop(barger); // wakes A only
    assert!(a.is_woken());
    assert!(!b.is_woken());
    drop(a); // A gives up: B must get its turn
    assert!(b.is_woken(), "the turn must pass to the other waiters");
    let guard = assert_ready!(b.poll());
    drop(guard);
    assert!(lock.try_lock().is_some());
}

/// The semaphore's fallback, step by step: a waiter barged for over a
/// millisecond reserves the next permit; a release then lets only it in, and
/// permits released meanwhile go to the other waiters once it has its own.
#[test]
fn a_barged_semaphore_waiter_reserves_the_next_permit() {
    use tokio_test::{assert_pending, task};

    let sem = amphi::Semaphore::new(1);
    let holder = sem.try_acquire().unwrap();
    let mut a = task::spawn(sem.acquire());
    assert_pending!(a.poll());
    // Let A's wait grow past the fairness threshold (a time threshold, not a
    // synchronization: nothing else runs).
    std::thread::sleep(Duration::from_millis(3));
    drop(holder);
    assert!(a.is_woken());
    let barger = sem
        .try_acquire()
        .expect("barging is allowed before a reservation");
    assert_pending!(a.poll()); // A loses and reserves
    let mut b = task::spawn(sem.acquire());
    assert_pending!(b.poll());
    drop(barger);
    assert!(a.is_woken());
    assert!(!b.is_woken(), "only the reserving waiter is woken");
    assert_eq!(sem.available(), 1);
    assert!(
        matches!(sem.try_acquire(), Err(amphi::TryAcquireError::NoPermits)),
        "the reservation must block bargers"
    );
    sem.release(1); // a second permit, while reserved
    let permit_a = assert_ready!(a.poll()).unwrap();
    assert!(b.is_woken(), "the permit released meanwhile goes to B");
    let permit_b = assert_ready!(b.poll()).unwrap();
    drop((permit_a, permit_b));
    assert_eq!(sem.available(), 2);
    assert!(sem.try_acquire().is_ok());
}

#[test]
fn dropping_the_reserving_semaphore_waiter_passes_the_turn_on() {
    use tokio_test::{assert_pending, task};

    let sem = amphi::Semaphore::new(1);
    let holder = sem.try_acquire().unwrap();
    let mut a = task::spawn(sem.acquire());
    assert_pending!(a.poll());
    std::thread::sleep(Duration::from_millis(3));
    drop(holder);
    let barger = sem.try_acquire().unwrap();
    assert_pending!(a.poll()); // A reserves
    let mut b = task::spawn(sem.acquire());
    assert_pending!(b.poll());
    drop(barger); // wakes A only
    assert!(!b.is_woken());
    drop(a); // A gives up: B must get the permit
    assert!(b.is_woken(), "the turn must pass to the other waiters");
    drop(assert_ready!(b.poll()).unwrap());
    assert_eq!(sem.available(), 1);
}
