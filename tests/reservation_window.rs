//! A reservation is measured from the release that freed its unit: a
//! barger spinning on `try_lock` must not break a fresh reservation in the
//! moment between an unlock and the unlock noting its time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use amphi::Lock;
use tokio_test::{assert_pending, task};

#[test]
fn a_spinning_barger_does_not_break_a_fresh_reservation() {
    let mut early = 0;
    let rounds = 100;
    for _ in 0..rounds {
        let lock = Arc::new(Lock::new(()));
        let holder = lock.try_lock().unwrap();
        let mut f = task::spawn(lock.lock());
        assert_pending!(f.poll());
        thread::sleep(Duration::from_millis(2));
        drop(holder);
        let barger = lock.try_lock().unwrap();
        assert_pending!(f.poll()); // F reserves now (units == 0)
        // Reservation 3 ms old by the time the barger unlocks.
        let go = Arc::new(AtomicBool::new(false));
        let got_at = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let (l, g2, at) = (lock.clone(), go.clone(), got_at.clone());
        let spinner = thread::spawn(move || {
            while !g2.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            loop {
                if let Some(g) = l.try_lock() {
                    at.store(epoch.elapsed().as_nanos() as u64, Ordering::SeqCst);
                    drop(g);
                    return;
                }
            }
        });
        thread::sleep(Duration::from_millis(3));
        go.store(true, Ordering::Release);
        for _ in 0..2000 {
            std::hint::spin_loop();
        }
        let unlocked_at = epoch.elapsed().as_nanos() as u64;
        drop(barger); // freed under F's reservation
        spinner.join().unwrap();
        let got = got_at.load(Ordering::SeqCst);
        if got < unlocked_at + 1_000_000 {
            early += 1; // got in within 1 ms of the unlock: the reservation was broken early
        }
        drop(f);
    }
    eprintln!("{early} of {rounds} reservations broken less than 1 ms after the unlock");
    assert_eq!(early, 0);
}
