//! 10^4 pending timers cost one scheduler thread, not 10^4 threads. Alone in
//! its binary, so that no other test starts threads while it counts them.

mod common;

use std::time::Duration;

use amphi::Timer;
use common::DEADLINE;

/// The process's thread count, from `/proc/self/status` (Linux).
#[cfg(target_os = "linux")]
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Threads:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn ten_thousand_pending_timers_cost_one_thread() {
    let before = threads();
    let timers: Vec<Timer> = (0..10_000u64)
        .map(|i| Timer::after(Duration::from_secs(3600 + i), || unreachable!()))
        .collect();
    let during = threads();
    assert!(
        during <= before + 1,
        "{before} threads before, {during} with 10^4 timers pending"
    );
    assert!(timers.iter().all(Timer::is_alive));
    assert!(timers.iter().all(Timer::cancel));
    assert!(timers.iter().all(|t| t.join().wait_timeout(DEADLINE)));
    // Firing them costs the callback threads only while calls run: at most
    // at most 64 of them (started only when no idle one is there),
    // whatever the number of timers.
    let fired: Vec<Timer> = (0..1_000)
        .map(|_| Timer::after(Duration::ZERO, || ()))
        .collect();
    assert!(fired.iter().all(|t| t.join().wait_timeout(DEADLINE)));
    let after = threads();
    assert!(
        after <= before + 1 + 64,
        "{after} threads after firing 1000 timers ({before} before)"
    );
}
