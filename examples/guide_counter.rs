//! The first scenario of every threading guide: a counter that many workers
//! increment, broken by a race and then fixed with a [`Lock`].
//!
//! 1. **The race, left to chance.** Four threads each add 1 to a shared
//!    counter 250 times with an unsynchronized read-modify-write: a load,
//!    a `yield_now()`, and a store of the value read plus one (what
//!    `counter += 1` does underneath, in Python as in Rust, when nothing
//!    makes it atomic). Increments are lost; the example prints how many
//!    (the number depends on the scheduler, so it is only printed).
//! 2. **The race, made certain.** A thread and a task share another
//!    unsynchronized counter, and a [`Barrier`] forces the bad interleaving
//!    on every round: both read, then both write. Each round loses exactly
//!    one of its two increments, and the example checks exactly that.
//! 3. **The fix.** Three threads and three tasks increment one
//!    [`Lock`]`<u64>` the same way (read, yield, write), but under the lock:
//!    threads through `lock().wait_timeout(..)`, tasks through
//!    `lock().timeout(..).await`. No increment is lost: the total is exact.
//!
//! Each line says who acts. The example panics if a check fails. Run it with
//! `cargo run --example guide_counter`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use amphi::{Barrier, Lock};

/// Part 1: threads racing, and how many increments each makes.
const RACERS: u64 = 4;
const PER_RACER: u64 = 250;
/// Part 2: rounds of the forced interleaving.
const ROUNDS: u64 = 50;
/// Part 3: threads and tasks on the lock, and increments by each.
const THREADS: u64 = 3;
const TASKS: u64 = 3;
const PER_WORKER: u64 = 200;

/// How long any wait may take before the example calls it a bug.
const PATIENCE: Duration = Duration::from_secs(5);
/// The backstop for waits that have no timeout of their own (joins).
const WATCHDOG: Duration = Duration::from_secs(10);

fn say(who: &str, what: impl std::fmt::Display) {
    println!("{who:<24} {what}");
}

/// Part 1: an unsynchronized read-modify-write on plain threads.
fn race_by_chance() {
    let counter = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (1..=RACERS)
        .map(|i| {
            let counter = Arc::clone(&counter);
            std::thread::spawn(move || {
                for _ in 0..PER_RACER {
                    let v = counter.load(SeqCst); // read
                    std::thread::yield_now(); //     another thread may run here
                    counter.store(v + 1, SeqCst); // write: overwrites its update
                }
                say(
                    &format!("[thread racer-{i}]"),
                    format!("added 1 x {PER_RACER}"),
                );
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a racer panicked");
    }
    let expected = RACERS * PER_RACER;
    let got = counter.load(SeqCst);
    assert!(
        got <= expected,
        "a race can lose increments, never add some"
    );
    say(
        "[main]",
        format!(
            "unsynchronized: counter = {got}, expected {expected}: {} increments lost to the race",
            expected - got
        ),
    );
}

/// Part 2: a thread and a task, forced by a barrier to read before either
/// writes.
async fn race_forced() {
    let counter = Arc::new(AtomicU64::new(0));
    let both = Arc::new(Barrier::new(2));

    let (c, b) = (Arc::clone(&counter), Arc::clone(&both));
    let thread = std::thread::spawn(move || {
        let me = "[thread racer]";
        for round in 0..ROUNDS {
            let v = c.load(SeqCst);
            b.wait().wait_timeout(PATIENCE).expect("the task reads too"); // both have read
            c.store(v + 1, SeqCst);
            b.wait()
                .wait_timeout(PATIENCE)
                .expect("the task writes too"); // both have written
            if round < 2 {
                say(me, format!("round {round}: read {v}, wrote {}", v + 1));
            }
        }
    });

    let (c, b) = (Arc::clone(&counter), Arc::clone(&both));
    let task = tokio::spawn(async move {
        let me = "[task racer]";
        for round in 0..ROUNDS {
            let v = c.load(SeqCst);
            b.wait()
                .timeout(PATIENCE)
                .await
                .expect("the thread reads too");
            c.store(v + 1, SeqCst);
            b.wait()
                .timeout(PATIENCE)
                .await
                .expect("the thread writes too");
            if round < 2 {
                say(me, format!("round {round}: read {v}, wrote {}", v + 1));
            }
        }
    });

    task.await.expect("the task racer panicked");
    tokio::task::spawn_blocking(move || thread.join().expect("the thread racer panicked"))
        .await
        .unwrap();

    let got = counter.load(SeqCst);
    say(
        "[main]",
        format!(
            "forced interleaving: {ROUNDS} rounds x 2 increments, counter = {got}: \
             {} lost, one per round",
            2 * ROUNDS - got
        ),
    );
    assert_eq!(got, ROUNDS, "every round loses exactly one increment");
}

/// Part 3: the same read-yield-write, under one `Lock`, from threads and
/// tasks at once.
async fn fixed_with_lock() {
    let counter = Arc::new(Lock::new(0u64));
    let t0 = Instant::now();

    let threads: Vec<_> = (1..=THREADS)
        .map(|i| {
            let counter = Arc::clone(&counter);
            std::thread::spawn(move || {
                for _ in 0..PER_WORKER {
                    let mut n = counter
                        .lock()
                        .wait_timeout(PATIENCE)
                        .expect("the counter's lock within 5 s");
                    let v = *n;
                    std::thread::yield_now(); // others may run, but not in here
                    *n = v + 1;
                }
                say(
                    &format!("[thread adder-{i}]"),
                    format!("added 1 x {PER_WORKER}"),
                );
            })
        })
        .collect();
    let tasks: Vec<_> = (1..=TASKS)
        .map(|i| {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                for _ in 0..PER_WORKER {
                    let mut n = counter
                        .lock()
                        .timeout(PATIENCE)
                        .await
                        .expect("the counter's lock within 5 s");
                    let v = *n;
                    tokio::task::yield_now().await; // the guard travels with the task
                    *n = v + 1;
                }
                say(
                    &format!("[task adder-{i}]"),
                    format!("added 1 x {PER_WORKER}"),
                );
            })
        })
        .collect();

    for t in tasks {
        t.await.expect("a task adder panicked");
    }
    tokio::task::spawn_blocking(move || {
        for t in threads {
            t.join().expect("a thread adder panicked");
        }
    })
    .await
    .unwrap();

    let expected = (THREADS + TASKS) * PER_WORKER;
    let got = *counter
        .lock()
        .timeout(PATIENCE)
        .await
        .expect("nobody holds the lock now");
    say(
        "[main]",
        format!(
            "with a Lock: counter = {got}, expected {expected}, in {} ms: nothing lost",
            t0.elapsed().as_millis()
        ),
    );
    assert_eq!(got, expected, "the lock makes each increment atomic");
    assert!(!counter.is_locked());
    assert_eq!(counter.waiters().total(), 0);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    watchdog();
    say("[main]", "1. the race, left to chance");
    tokio::task::spawn_blocking(race_by_chance)
        .await
        .expect("part 1 panicked");
    say(
        "[main]",
        "2. the race, forced by a Barrier: both read, then both write",
    );
    race_forced().await;
    say("[main]", "3. the fix: one Lock, taken by threads and tasks");
    fixed_with_lock().await;
    say("[main]", "checks passed");
}

/// Ends the process if the example hangs.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(WATCHDOG);
        eprintln!("guide_counter: still running after {WATCHDOG:?}; something is stuck");
        std::process::exit(1);
    });
}
