//! The tour: a small order service in which tokio tasks and OS threads share
//! amphi's primitives.
//!
//! * async request handlers (tokio tasks) and blocking workers (a plain
//!   thread and two `spawn_blocking` threads) all wait for a "ready"
//!   [`Event`] before they start;
//! * handlers queue orders in a `Lock<VecDeque<_>>` and wake the workers
//!   through a [`Condition`]; workers wait on the same condition, blocking;
//! * both sides use a "database" throttled by a [`Semaphore`] of 2
//!   connections, and record statistics in a shared [`Lock`];
//! * a handler gives up on a busy connection after a timeout instead of
//!   hanging; the last worker sets an "all done" [`Event`] that the
//!   async `main` awaits, and the service shuts down by itself.
//!
//! Run it with `cargo run --release --example tour`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use amphi::{Condition, Event, Lock, Semaphore};

#[derive(Debug, Default)]
struct Stats {
    orders_taken: u32,
    orders_done: u32,
    done_by: Vec<String>,
    max_connections_in_use: usize,
}

struct Service {
    ready: Event,
    queue: Lock<Orders>,
    work_arrived: Condition,
    db: Semaphore,
    in_use: AtomicUsize,
    stats: Lock<Stats>,
    all_done: Event,
}

#[derive(Default)]
struct Orders {
    pending: VecDeque<u32>,
    closed: bool,
}

const ORDERS: u32 = 12;
const DB_CONNECTIONS: usize = 2;

impl Service {
    /// Pretend to use a database connection, counting how many are in use.
    fn use_connection(&self, work: Duration) {
        let now = self.in_use.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(now <= DB_CONNECTIONS, "the semaphore let too many in");
        {
            let mut stats = self.stats.lock_blocking();
            stats.max_connections_in_use = stats.max_connections_in_use.max(now);
        }
        std::thread::sleep(work);
        self.in_use.fetch_sub(1, Ordering::SeqCst);
    }

    /// A blocking worker: waits for orders on the condition, blocking.
    fn worker(&self, name: &str) {
        self.ready.wait_blocking();
        println!("[{name}] ready, waiting for orders");
        loop {
            let mut queue = self
                .work_arrived
                .wait_while(self.queue.lock_blocking(), |q| {
                    q.pending.is_empty() && !q.closed
                })
                .wait();
            let Some(order) = queue.pending.pop_front() else {
                println!("[{name}] queue closed, stopping");
                return;
            };
            drop(queue); // never hold the queue while working

            let connection = self.db.acquire_blocking();
            self.use_connection(Duration::from_millis(5));
            drop(connection);

            let mut stats = self.stats.lock_blocking();
            stats.orders_done += 1;
            stats.done_by.push(format!("{order}:{name}"));
            if stats.orders_done == ORDERS {
                self.all_done.set();
            }
        }
    }

    /// An async handler: takes an order, checks stock in the database (with a
    /// time limit), and queues the order for the workers.
    async fn handle(&self, order: u32) {
        self.ready.wait().await;
        match self.db.acquire().timeout(Duration::from_millis(200)).await {
            Some(_connection) => {
                // Async code must not sleep a thread; the work is a yield.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            None => println!("[handler {order}] database busy, skipping the stock check"),
        }
        self.queue.lock().await.pending.push_back(order);
        self.work_arrived.notify(1);
        self.stats.lock().await.orders_taken += 1;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let service = Arc::new(Service {
        ready: Event::new(),
        queue: Lock::new(Orders::default()),
        work_arrived: Condition::new(),
        db: Semaphore::new(DB_CONNECTIONS),
        in_use: AtomicUsize::new(0),
        stats: Lock::new(Stats::default()),
        all_done: Event::new(),
    });

    // Blocking workers: one plain OS thread, two tokio `spawn_blocking` ones.
    let s = Arc::clone(&service);
    let plain = std::thread::spawn(move || s.worker("thread"));
    let blocking: Vec<_> = (0..2)
        .map(|i| {
            let s = Arc::clone(&service);
            tokio::task::spawn_blocking(move || s.worker(&format!("blocking-{i}")))
        })
        .collect();

    // Async handlers, started before the service is ready: they wait too.
    let handlers: Vec<_> = (1..=ORDERS)
        .map(|order| {
            let s = Arc::clone(&service);
            tokio::spawn(async move { s.handle(order).await })
        })
        .collect();

    println!("[main] loading configuration...");
    tokio::time::sleep(Duration::from_millis(20)).await;
    println!("[main] ready");
    service.ready.set();

    for h in handlers {
        h.await.expect("handler panicked");
    }

    // The workers (threads) report the last order; main (a task) awaits it.
    service.all_done.wait().await;
    service.queue.lock().await.closed = true;
    let woken = service.work_arrived.notify_all();
    println!("[main] queue closed, woke {woken} idle worker(s)");

    plain.join().expect("worker panicked");
    for b in blocking {
        b.await.expect("worker panicked");
    }

    let stats = service.stats.lock().await;
    println!(
        "[main] orders taken: {}, done: {}, most connections in use at once: {} of {}",
        stats.orders_taken, stats.orders_done, stats.max_connections_in_use, DB_CONNECTIONS
    );
    println!("[main] who did what: {}", stats.done_by.join(" "));
    assert_eq!(stats.orders_taken, ORDERS);
    assert_eq!(stats.orders_done, ORDERS);
    assert!(stats.max_connections_in_use <= DB_CONNECTIONS);
}
