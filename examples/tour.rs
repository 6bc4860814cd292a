//! The tour: a small order service in which tokio tasks and OS threads wait
//! on the very same amphi objects.
//!
//! * Async request handlers (tokio tasks) take orders; blocking workers (one
//!   plain thread, two `spawn_blocking` threads) save and deliver them.
//! * Everybody waits for the `ready` [`Event`] before starting. A health
//!   probe on a blocking thread asks first, with a time limit, and is told
//!   "not ready yet".
//! * Handlers put orders in a [`Lock`]`<VecDeque>` and wake a worker through
//!   the `work_arrived` [`Condition`]; workers sleep on that condition.
//! * Handlers (checking stock) and workers (saving orders) share a database
//!   of two connections, a [`Semaphore`]. The nightly backup holds both
//!   connections on purpose while the express handler tries for 50 ms: it
//!   gives up and queues its order unchecked, on every run.
//! * Workers hand orders to couriers, a [`BoundedSemaphore`] of two: never
//!   more than two out, and a courier "coming back twice" is refused.
//! * Workers record what they did in a stats [`Lock`] and announce progress
//!   on a second [`Condition`]; `main` waits on it, once with a time limit
//!   (it runs out during the backup), then until every order is done.
//!
//! Each line says who acts (`[task ..]`, `[thread ..]`, `[spawn_blocking ..]`)
//! and through which primitive. Every timeout is arranged with the
//! primitives themselves, so it fires on every run. The tour checks its own
//! results at the end and exits with an error if any is wrong. Run it with
//! `cargo run --release --example tour`.

use std::collections::VecDeque;
use std::fmt::Display;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use amphi::{BoundedSemaphore, Condition, Event, Lock, Semaphore};

const ORDERS: u32 = 6;
/// The express order: its handler will not wait long for the database.
const EXPRESS: u32 = 1;
const DB_CONNECTIONS: usize = 2;
const COURIERS: usize = 2;

/// How long the health probe waits for `ready`.
const PROBE_PATIENCE: Duration = Duration::from_millis(20);
/// How long the express handler waits for a database connection.
const EXPRESS_PATIENCE: Duration = Duration::from_millis(50);
/// How long `main` waits for progress before it reports.
const PROGRESS_PATIENCE: Duration = Duration::from_millis(20);
/// The tour must end well within this; otherwise something is stuck.
const WATCHDOG: Duration = Duration::from_secs(10);

/// Simulated work: a database query and a courier's drive.
const QUERY: Duration = Duration::from_millis(2);
const DRIVE: Duration = Duration::from_millis(3);

/// One line of the tour: who, through which primitive, does what.
fn say(who: &str, primitive: &str, what: impl Display) {
    println!("{who:<30} {primitive:<17} {what}");
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

struct Order {
    id: u32,
    express: bool,
}

/// What the `queue` lock protects.
#[derive(Default)]
struct Queue {
    pending: VecDeque<Order>,
    closed: bool,
}

/// What the `stats` lock protects.
#[derive(Default)]
struct Stats {
    /// Orders queued by handlers.
    taken: u32,
    /// Stock checks done by handlers (tasks) on a database connection.
    stock_checks: u32,
    /// Whether the express handler gave up on the database.
    express_gave_up: bool,
    /// How many of the handlers' `notify(1)` found a sleeping worker.
    workers_woken: usize,
    /// (order, worker) for every order saved and delivered.
    done: Vec<(u32, String)>,
}

/// Counts how many hold a resource right now, and the most ever at once.
struct Gauge {
    now: AtomicUsize,
    most: AtomicUsize,
    limit: usize,
}

impl Gauge {
    fn new(limit: usize) -> Self {
        Gauge {
            now: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            limit,
        }
    }

    /// One more holder; returns how many hold it now.
    fn enter(&self) -> usize {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(now <= self.limit, "{now} holders, limit {}", self.limit);
        self.most.fetch_max(now, Ordering::SeqCst);
        now
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

struct Service {
    /// Set once the service has started; everybody waits for it.
    ready: Event,
    queue: Lock<Queue>,
    /// Notified (with `queue` held) when an order is queued or the queue
    /// closes.
    work_arrived: Condition,
    /// The database's connections.
    db: Semaphore,
    db_in_use: Gauge,
    couriers: BoundedSemaphore,
    couriers_out: Gauge,
    stats: Lock<Stats>,
    /// Notified (with `stats` held) when an order is done.
    progress: Condition,
}

impl Service {
    /// An async handler (a tokio task): waits for `ready`, checks stock on
    /// a database connection, queues the order and wakes a worker.
    async fn handle(&self, order: Order) {
        let me = &format!("[task handler-{}]", order.id);
        let id = order.id;
        say(me, "Event", "waiting for 'ready'");
        self.ready.wait().await;

        let connection = if order.express {
            let connection = self.db.acquire().timeout(EXPRESS_PATIENCE).await.ok();
            if connection.is_none() {
                let waited = ms(EXPRESS_PATIENCE);
                let what = format!(
                    "no db connection within {waited} ms: timed out, \
                     queues express order #{id} unchecked"
                );
                say(me, "Semaphore", what);
                self.stats.lock().await.express_gave_up = true;
            }
            connection
        } else {
            Some(self.db.acquire().await.expect("the pool is never closed"))
        };
        if let Some(connection) = connection {
            let n = self.db_in_use.enter();
            let what =
                format!("db connection ({n} of {DB_CONNECTIONS} in use): order #{id} in stock");
            say(me, "Semaphore", what);
            tokio::time::sleep(QUERY).await; // a task never sleeps its thread
            self.db_in_use.leave();
            drop(connection);
            self.stats.lock().await.stock_checks += 1;
        }

        let mut queue = self.queue.lock().await;
        queue.pending.push_back(order);
        let woken = self.work_arrived.notify(1);
        let wake = match woken {
            0 => "found no worker asleep: the next free one takes it",
            _ => "woke a sleeping worker",
        };
        let what = format!(
            "queued order #{id} ({} waiting); notify(1) {wake}",
            queue.pending.len()
        );
        say(me, "Lock, Condition", what);
        drop(queue);

        let mut stats = self.stats.lock().await;
        stats.taken += 1;
        stats.workers_woken += woken;
    }

    /// A blocking worker (an OS thread): waits for `ready`, then sleeps on
    /// `work_arrived` until an order comes, saves it on a database
    /// connection and hands it to a courier, until the queue closes.
    fn work(&self, kind: &str, name: &str) {
        let me = &format!("[{kind} {name}]");
        say(me, "Event", "waiting for 'ready'");
        self.ready.wait_blocking();
        loop {
            let queue = self.queue.lock_blocking();
            let mut queue = self
                .work_arrived
                .wait_while(queue, |q| q.pending.is_empty() && !q.closed)
                .wait();
            let Some(order) = queue.pending.pop_front() else {
                say(me, "Condition", "queue closed and empty: going home");
                return;
            };
            let (id, left) = (order.id, queue.pending.len());
            drop(queue); // never hold the queue while working
            say(
                me,
                "Condition, Lock",
                format!("took order #{id} ({left} left)"),
            );

            let connection = self
                .db
                .acquire_blocking()
                .expect("the pool is never closed");
            let n = self.db_in_use.enter();
            let what = format!("db connection ({n} of {DB_CONNECTIONS} in use): saved order #{id}");
            say(me, "Semaphore", what);
            std::thread::sleep(QUERY);
            self.db_in_use.leave();
            drop(connection);

            let courier = self.couriers.acquire_blocking().expect("never closed");
            let n = self.couriers_out.enter();
            let what = format!("courier ({n} of {COURIERS} out) delivers order #{id}");
            say(me, "BoundedSemaphore", what);
            std::thread::sleep(DRIVE);
            self.couriers_out.leave();
            drop(courier);

            let mut stats = self.stats.lock_blocking();
            stats.done.push((id, name.to_string()));
            let what = format!("order #{id} done ({} of {ORDERS})", stats.done.len());
            say(me, "Lock", what);
            self.progress.notify_all();
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // A failed check or a lost wake-up must end the tour loudly, rather than
    // leave it waiting for blocked workers: exit at once with an error.
    match tokio::time::timeout(WATCHDOG, tokio::spawn(tour())).await {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => {
            eprintln!("the tour failed: {failure}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("the tour did not finish within {WATCHDOG:?}: something is stuck");
            std::process::exit(1);
        }
    }
}

async fn tour() {
    let me = "[task main]";
    println!("amphi tour: an order service; its tokio tasks and OS threads share every primitive");
    println!();
    say("who", "primitive", "what");

    let service = Arc::new(Service {
        ready: Event::new(),
        queue: Lock::new(Queue::default()),
        work_arrived: Condition::new(),
        db: Semaphore::new(DB_CONNECTIONS),
        db_in_use: Gauge::new(DB_CONNECTIONS),
        couriers: BoundedSemaphore::new(COURIERS),
        couriers_out: Gauge::new(COURIERS),
        stats: Lock::new(Stats::default()),
        progress: Condition::new(),
    });

    // Blocking workers: one plain OS thread, two tokio `spawn_blocking` ones.
    let s = Arc::clone(&service);
    let thread_worker = std::thread::spawn(move || s.work("thread", "worker-1"));
    let blocking_workers: Vec<_> = ["worker-2", "worker-3"]
        .into_iter()
        .map(|name| {
            let s = Arc::clone(&service);
            tokio::task::spawn_blocking(move || s.work("spawn_blocking", name))
        })
        .collect();

    // Async handlers, one per order, started before the service is ready.
    let mut handlers: Vec<_> = (1..=ORDERS)
        .map(|id| {
            let s = Arc::clone(&service);
            let order = Order {
                id,
                express: id == EXPRESS,
            };
            tokio::spawn(async move { s.handle(order).await })
        })
        .collect();

    // A health probe on a blocking thread asks whether the service is up.
    // `ready` is set only after the probe has answered: it always times out.
    let s = Arc::clone(&service);
    let probe = tokio::task::spawn_blocking(move || {
        let ready = s.ready.wait().wait_timeout(PROBE_PATIENCE);
        if !ready {
            let waited = ms(PROBE_PATIENCE);
            let what =
                format!("'ready' not set within {waited} ms: timed out, answers \"starting\"");
            say("[spawn_blocking health-probe]", "Event", what);
        }
        ready
    });
    let probe_was_ready = probe.await.expect("the probe panicked");

    // The nightly backup holds every database connection, on purpose.
    let backup: Vec<_> = (0..DB_CONNECTIONS)
        .map(|_| {
            service
                .db
                .try_acquire()
                .expect("nobody uses the db before 'ready'")
        })
        .collect();
    let free = service.db.available();
    let what =
        format!("the nightly backup takes all {DB_CONNECTIONS} db connections ({free} free)");
    say(me, "Semaphore", what);

    say(
        me,
        "Event",
        "set 'ready': the waiting tasks and threads start",
    );
    service.ready.set();

    // The express handler cannot get a connection while the backup runs:
    // it gives up after EXPRESS_PATIENCE. Wait until it has.
    let express = handlers.remove((EXPRESS - 1) as usize);
    express.await.expect("the express handler panicked");

    // No order can be done while the backup holds the database (workers
    // save every order on it): this wait for progress always runs out.
    let stats = service.stats.lock().await;
    let (stats, progress) = service
        .progress
        .wait_while(stats, |s| s.done.is_empty())
        .timeout(PROGRESS_PATIENCE)
        .await;
    let progress_timed_out = progress.timed_out();
    if progress_timed_out {
        let waited = ms(PROGRESS_PATIENCE);
        let what = format!("no order done within {waited} ms: timed out (the backup holds the db)");
        say(me, "Condition", what);
    }
    drop(stats);

    say(
        me,
        "Semaphore",
        "backup done: its connections go to the waiting tasks and threads",
    );
    drop(backup);

    // Now every order gets done; wait for that (the watchdog bounds it).
    let stats = service.stats.lock().await;
    let stats = service
        .progress
        .wait_while(stats, |s| s.done.len() < ORDERS as usize)
        .await;
    say(
        me,
        "Condition",
        format!("all {} orders done", stats.done.len()),
    );
    drop(stats);

    for handler in handlers {
        handler.await.expect("a handler panicked");
    }
    let mut queue = service.queue.lock().await;
    queue.closed = true;
    let woken = service.work_arrived.notify_all();
    drop(queue);
    let what = format!("queue closed; notify_all() woke {woken} idle worker(s)");
    say(me, "Lock, Condition", what);

    // Joining a plain thread blocks: do it on a blocking thread.
    tokio::task::spawn_blocking(move || thread_worker.join())
        .await
        .expect("the join panicked")
        .expect("worker-1 panicked");
    for worker in blocking_workers {
        worker.await.expect("a worker panicked");
    }

    // Every courier is back: one more "return" would be a bug, and the bound
    // refuses it (a plain Semaphore would just grow).
    let over_release = service.couriers.release(1);
    if let Err(e) = &over_release {
        say(
            me,
            "BoundedSemaphore",
            format!("one more release(1) is refused: {e}"),
        );
    }

    let stats = service.stats.lock().await;
    let queue = service.queue.lock().await;
    let mut who_did_what = stats.done.clone();
    who_did_what.sort();
    let who_did_what: Vec<_> = who_did_what
        .iter()
        .map(|(id, name)| format!("#{id} {name}"))
        .collect();

    println!();
    println!("What each primitive did:");
    let summary = [
        (
            "Event",
            format!(
                "'ready' held 3 workers (threads) and {ORDERS} handlers (tasks) until start-up;\n\
                 the health probe's {} ms wait for it timed out",
                ms(PROBE_PATIENCE)
            ),
        ),
        (
            "Lock<VecDeque>",
            format!(
                "carried {} orders from tasks to threads, each taken exactly once",
                stats.taken
            ),
        ),
        (
            "Condition",
            format!(
                "'work_arrived': {} of the handlers' notify(1) woke a sleeping worker;\n\
                 'progress': main's {} ms wait timed out during the backup",
                stats.workers_woken,
                ms(PROGRESS_PATIENCE)
            ),
        ),
        (
            "Semaphore",
            format!(
                "{DB_CONNECTIONS} db connections: {} stock checks (tasks), {} saves (threads), \
                 at most {} at once;\nthe express handler gave up after {} ms of backup",
                stats.stock_checks,
                stats.done.len(),
                service.db_in_use.most(),
                ms(EXPRESS_PATIENCE)
            ),
        ),
        (
            "BoundedSemaphore",
            format!(
                "{COURIERS} couriers, at most {} out at once; a release past the bound was refused",
                service.couriers_out.most()
            ),
        ),
        (
            "Lock<Stats>",
            format!("who did what: {}", who_did_what.join(", ")),
        ),
    ];
    for (primitive, what) in summary {
        let what = what.replace('\n', &format!("\n  {:<17} ", ""));
        println!("  {primitive:<17} {what}");
    }

    // The tour's invariants: if one fails, the tour exits with an error.
    let mut ids: Vec<u32> = stats.done.iter().map(|(id, _)| *id).collect();
    ids.sort();
    assert_eq!(
        ids,
        (1..=ORDERS).collect::<Vec<_>>(),
        "every order done exactly once"
    );
    assert_eq!(stats.taken, ORDERS, "every order queued once");
    assert!(queue.pending.is_empty(), "nothing left in the queue");
    assert!(!probe_was_ready, "the probe asked before 'ready' was set");
    assert!(
        stats.express_gave_up,
        "the express handler timed out during the backup"
    );
    assert!(progress_timed_out, "no order was done during the backup");
    assert_eq!(
        stats.stock_checks,
        ORDERS - 1,
        "all but the express order were checked"
    );
    assert!(service.db_in_use.most() <= DB_CONNECTIONS);
    assert!(service.couriers_out.most() <= COURIERS);
    assert_eq!(
        service.db.available(),
        DB_CONNECTIONS,
        "every connection returned"
    );
    assert_eq!(
        service.couriers.available(),
        COURIERS,
        "every courier returned"
    );
    assert!(
        over_release.is_err(),
        "the bounded semaphore refused to grow"
    );
    println!();
    println!("All checks passed: each order done exactly once, each timeout taken as arranged.");
}
