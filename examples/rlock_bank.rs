//! A bank account whose `transfer` calls `deposit` and `withdraw` under one
//! `RLock`: the lock is re-entered by its owner (a tokio task, or a thread),
//! so the compound operation is atomic without splitting the methods into
//! locked and unlocked versions. Threads and tasks move money at once; the
//! total never changes.
//!
//! Run it with `cargo run --example rlock_bank`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use amphi::RLock;

/// An account: the balance lives behind the account's reentrant lock.
struct Account {
    name: &'static str,
    balance: RLock<AtomicI64>,
}

impl Account {
    fn new(name: &'static str, amount: i64) -> Self {
        Account {
            name,
            balance: RLock::new(AtomicI64::new(amount)),
        }
    }

    /// Blocking deposit (threads).
    fn deposit(&self, amount: i64) {
        let b = self.balance.lock_blocking();
        b.fetch_add(amount, Ordering::Relaxed);
    }

    /// Blocking withdrawal; `false` if the balance is too low.
    fn withdraw(&self, amount: i64) -> bool {
        let b = self.balance.lock_blocking();
        if b.load(Ordering::Relaxed) < amount {
            return false;
        }
        b.fetch_sub(amount, Ordering::Relaxed);
        true
    }

    /// Moves `amount` to `to`, holding this account's lock across the
    /// check, the withdrawal and the deposit: `withdraw` re-enters it.
    fn transfer(&self, to: &Account, amount: i64) -> bool {
        let _mine = self.balance.lock_blocking();
        if !self.withdraw(amount) {
            return false;
        }
        to.deposit(amount);
        true
    }

    /// The same from a task: `.await` on the lock, re-entered by the task.
    async fn transfer_async(&self, to: &Account, amount: i64) -> bool {
        let mine = self.balance.lock().await;
        let again = self.balance.lock().await; // the same task: re-enters
        assert!(self.balance.depth() >= 2);
        if again.load(Ordering::Relaxed) < amount {
            return false;
        }
        again.fetch_sub(amount, Ordering::Relaxed);
        drop((again, mine));
        to.balance.lock().await.fetch_add(amount, Ordering::Relaxed);
        true
    }

    fn balance(&self) -> i64 {
        self.balance.lock_blocking().load(Ordering::Relaxed)
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let alice = Arc::new(Account::new("alice", 1_000));
    let bob = Arc::new(Account::new("bob", 1_000));
    let total = alice.balance() + bob.balance();

    // Two threads move money alice -> bob, two tasks bob -> alice.
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let (a, b) = (Arc::clone(&alice), Arc::clone(&bob));
            std::thread::spawn(move || {
                let moved = (0..500).filter(|_| a.transfer(&b, 3)).count();
                println!(
                    "[thread {i}] moved {moved} x 3 from {} to {}",
                    a.name, b.name
                );
                moved
            })
        })
        .collect();
    let tasks: Vec<_> = (0..2)
        .map(|i| {
            let (a, b) = (Arc::clone(&alice), Arc::clone(&bob));
            tokio::spawn(async move {
                let mut moved = 0;
                for _ in 0..500 {
                    if b.transfer_async(&a, 2).await {
                        moved += 1;
                    }
                    tokio::task::yield_now().await; // may resume on another thread
                }
                println!("[task {i}] moved {moved} x 2 from {} to {}", b.name, a.name);
                moved
            })
        })
        .collect();
    let mut by_threads = 0;
    for t in threads {
        by_threads += t.join().expect("thread panicked");
    }
    let mut by_tasks = 0;
    for t in tasks {
        by_tasks += t.await.expect("task panicked");
    }
    let (a, b) = (alice.balance(), bob.balance());
    println!("alice {a}, bob {b}, total {}", a + b);
    assert_eq!(a + b, total, "money was created or lost");
    assert_eq!(a, 1_000 - 3 * by_threads as i64 + 2 * by_tasks as i64);
    assert!(!alice.balance.is_locked() && !bob.balance.is_locked());
    println!("the total never changed; every transfer ran under one re-entered lock");
}
