//! A deadlock from lock ordering, detected with timed acquires, and its fix:
//! one global order.
//!
//! A transfer between two accounts holds both accounts' [`Lock`]s, so that
//! nobody sees the money in neither or in both.
//!
//! 1. **The deadlock.** A thread moves money from alice to bob: it locks
//!    alice, then bob. A task moves money from bob to alice: it locks bob,
//!    then alice. A [`Barrier`] makes both take their first lock before
//!    either asks for its second, the interleaving that, left to chance,
//!    strikes now and then: each waits for the lock the other holds, and
//!    untimed acquires would wait forever. Here the second acquire is timed
//!    (`lock().wait_timeout(..)` on the thread, `lock().timeout(..).await`
//!    in the task): both come back with `None` after 100 ms, report the
//!    deadlock and back off, and no money moved. (A second barrier keeps
//!    each holding its first lock until both have given up, so both
//!    detections are certain.)
//! 2. **The fix.** Every transfer locks the account with the lower id first,
//!    whatever the direction of the transfer. Two threads and two tasks make
//!    300 transfers each among four accounts, in both directions, with a
//!    yield between the two acquires (where the deadlock struck). The
//!    example checks that every transfer completed (no acquire timed out),
//!    that the total is unchanged, and that each balance is what the
//!    workers' ledgers say.
//!
//! Each line says who acts. Run it with `cargo run --example guide_deadlock`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use amphi::{Barrier, Lock};

/// How long the deadlocked workers wait for their second lock.
const DETECT: Duration = Duration::from_millis(100);
/// How long any other wait may take before the example calls it a bug.
const PATIENCE: Duration = Duration::from_secs(5);
/// The backstop for waits that have no timeout of their own (joins).
const WATCHDOG: Duration = Duration::from_secs(10);

const OPENING_BALANCE: i64 = 100_000;
const TRANSFERS: usize = 300;

fn say(who: &str, what: impl std::fmt::Display) {
    println!("{who:<24} {what}");
}

struct Account {
    /// The global lock order: lower ids are locked first.
    id: usize,
    name: &'static str,
    balance: Lock<i64>,
}

fn open(names: &[&'static str]) -> Arc<Vec<Account>> {
    Arc::new(
        names
            .iter()
            .enumerate()
            .map(|(id, &name)| Account {
                id,
                name,
                balance: Lock::new(OPENING_BALANCE),
            })
            .collect(),
    )
}

/// Part 1: opposite lock orders, forced into the deadlock, detected.
async fn deadlock_detected() {
    let bank = open(&["alice", "bob"]);
    let sync = Arc::new(Barrier::new(2));

    let (b, s) = (Arc::clone(&bank), Arc::clone(&sync));
    let thread = std::thread::spawn(move || {
        let me = "[thread alice->bob]";
        let (alice, bob) = (&b[0], &b[1]);
        let _alice = alice
            .balance
            .lock()
            .wait_timeout(PATIENCE)
            .expect("alice is free");
        say(me, "holds alice, asks for bob");
        s.wait().wait_timeout(PATIENCE).expect("the task holds bob"); // both hold their first lock
        let t = Instant::now();
        let bob_guard = bob.balance.lock().wait_timeout(DETECT);
        assert!(bob_guard.is_none(), "the task holds bob until we give up");
        say(
            me,
            format!(
                "no bob after {} ms: deadlock detected, backs off",
                t.elapsed().as_millis()
            ),
        );
        s.wait()
            .wait_timeout(PATIENCE)
            .expect("the task gives up too"); // both have given up
        // `_alice` is released here.
    });

    let (b, s) = (Arc::clone(&bank), Arc::clone(&sync));
    let task = tokio::spawn(async move {
        let me = "[task bob->alice]";
        let (alice, bob) = (&b[0], &b[1]);
        let _bob = bob
            .balance
            .lock()
            .timeout(PATIENCE)
            .await
            .expect("bob is free");
        say(me, "holds bob, asks for alice");
        s.wait()
            .timeout(PATIENCE)
            .await
            .expect("the thread holds alice");
        let t = Instant::now();
        let alice_guard = alice.balance.lock().timeout(DETECT).await;
        assert!(
            alice_guard.is_none(),
            "the thread holds alice until we give up"
        );
        say(
            me,
            format!(
                "no alice after {} ms: deadlock detected, backs off",
                t.elapsed().as_millis()
            ),
        );
        s.wait()
            .timeout(PATIENCE)
            .await
            .expect("the thread gives up too");
    });

    task.await.expect("the task panicked");
    tokio::task::spawn_blocking(move || thread.join().expect("the thread panicked"))
        .await
        .unwrap();

    for a in bank.iter() {
        let balance = *a
            .balance
            .lock()
            .timeout(PATIENCE)
            .await
            .expect("released by both");
        assert_eq!(balance, OPENING_BALANCE, "no money moved");
    }
    say("[main]", "both detected the deadlock; no money moved");
}

/// A transfer: `(from, to, amount)`, indices into the bank.
type Transfer = (usize, usize, i64);

/// A worker's transfers: deterministic (an xorshift generator seeded by the
/// worker), so that `main` can replay them into a ledger.
fn transfers(worker: u64, accounts: usize) -> Vec<Transfer> {
    let mut x = 0x9E37_79B9_7F4A_7C15 ^ (worker + 1);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..TRANSFERS)
        .map(|_| {
            let from = (next() % accounts as u64) as usize;
            let to = (from + 1 + (next() % (accounts as u64 - 1)) as usize) % accounts;
            (from, to, 1 + (next() % 10) as i64)
        })
        .collect()
}

/// The two accounts of a transfer in lock order: lower id first.
fn in_order<'a>(from: &'a Account, to: &'a Account) -> (&'a Account, &'a Account) {
    if from.id < to.id {
        (from, to)
    } else {
        (to, from)
    }
}

/// Moves `amount` between the two balances, given in lock order.
fn apply(first: &mut i64, second: &mut i64, from_is_first: bool, amount: i64) {
    let (from, to) = if from_is_first {
        (first, second)
    } else {
        (second, first)
    };
    *from -= amount;
    *to += amount;
}

fn transfer_blocking(bank: &[Account], (from, to, amount): Transfer) {
    let (first, second) = in_order(&bank[from], &bank[to]);
    let mut a = first
        .balance
        .lock()
        .wait_timeout(PATIENCE)
        .expect("with one lock order there is no deadlock");
    std::thread::yield_now(); // where the deadlock struck
    let mut b = second
        .balance
        .lock()
        .wait_timeout(PATIENCE)
        .expect("with one lock order there is no deadlock");
    apply(&mut a, &mut b, first.id == from, amount);
}

async fn transfer(bank: &[Account], (from, to, amount): Transfer) {
    let (first, second) = in_order(&bank[from], &bank[to]);
    let mut a = first
        .balance
        .lock()
        .timeout(PATIENCE)
        .await
        .expect("with one lock order there is no deadlock");
    tokio::task::yield_now().await; // where the deadlock struck
    let mut b = second
        .balance
        .lock()
        .timeout(PATIENCE)
        .await
        .expect("with one lock order there is no deadlock");
    apply(&mut a, &mut b, first.id == from, amount);
}

/// Part 2: the same transfers in both directions, all locking in id order.
async fn fixed_by_order() {
    let bank = open(&["alice", "bob", "carol", "dave"]);
    let n = bank.len();
    let t0 = Instant::now();

    let threads: Vec<_> = (0..2u64)
        .map(|w| {
            let bank = Arc::clone(&bank);
            std::thread::spawn(move || {
                for t in transfers(w, n) {
                    transfer_blocking(&bank, t);
                }
                say(
                    &format!("[thread teller-{}]", w + 1),
                    format!("made {TRANSFERS} transfers"),
                );
            })
        })
        .collect();
    let tasks: Vec<_> = (2..4u64)
        .map(|w| {
            let bank = Arc::clone(&bank);
            tokio::spawn(async move {
                for t in transfers(w, n) {
                    transfer(&bank, t).await;
                }
                say(
                    &format!("[task teller-{}]", w + 1),
                    format!("made {TRANSFERS} transfers"),
                );
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a task teller panicked");
    }
    tokio::task::spawn_blocking(move || {
        for t in threads {
            t.join().expect("a thread teller panicked");
        }
    })
    .await
    .unwrap();

    // The ledger: every worker's transfers replayed in one place.
    let mut expected = vec![OPENING_BALANCE; n];
    for w in 0..4 {
        for (from, to, amount) in transfers(w, n) {
            expected[from] -= amount;
            expected[to] += amount;
        }
    }
    let mut total = 0;
    for a in bank.iter() {
        let balance = *a
            .balance
            .lock()
            .timeout(PATIENCE)
            .await
            .expect("nobody holds it now");
        say(
            "[main]",
            format!("{:<6} {balance:>7} (ledger {})", a.name, expected[a.id]),
        );
        assert_eq!(balance, expected[a.id], "{}'s balance", a.name);
        total += balance;
    }
    assert_eq!(
        total,
        OPENING_BALANCE * n as i64,
        "money was created or lost"
    );
    say(
        "[main]",
        format!(
            "{} transfers done in {} ms; total {total}, unchanged",
            4 * TRANSFERS,
            t0.elapsed().as_millis()
        ),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    watchdog();
    say("[main]", "1. opposite lock orders: the deadlock, detected");
    deadlock_detected().await;
    say("[main]", "2. the fix: lock accounts in id order");
    fixed_by_order().await;
    say("[main]", "checks passed");
}

/// Ends the process if the example hangs.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(WATCHDOG);
        eprintln!("guide_deadlock: still running after {WATCHDOG:?}; something is stuck");
        std::process::exit(1);
    });
}
