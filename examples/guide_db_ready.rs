//! Workers wait for a database to be populated: a [`Lock`] over the data and
//! a [`Condition`] that says "it changed", waited on with
//! [`Condition::wait_while`] by threads and tasks together.
//!
//! * The database is a `Lock<Db>`; `Db::loaded` says whether the loader has
//!   finished. Three threads and three tasks wait with
//!   `wait_while(guard, |db| !db.loaded)`: the lock is released while they
//!   wait and held again when they return, with the data complete.
//! * Before the loader starts, an impatient health check (`main`) waits
//!   20 ms and times out (`timed_out()`); it gets the lock back all the same.
//! * The loader (a thread) inserts rows in batches, each under the lock, and
//!   calls `notify_all` after each batch, for a progress reporter (a task)
//!   that wants to see every batch. The same notification wakes the
//!   workers, who find `loaded` still false and go back to sleep: that is
//!   why a condition is checked in a loop, which `wait_while` does for you.
//!   Each worker says how many times it checked.
//! * A late worker comes after the load: `wait_while` returns at once, after
//!   one check, without waiting.
//!
//! Each line says who acts. The example checks that every worker saw the
//! whole database (never a part of it), that the health check timed out and
//! the late worker did not wait, and that nobody waits at the end. Run it
//! with `cargo run --example guide_db_ready`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use amphi::{Condition, Lock};

const BATCHES: u64 = 5;
const ROWS_PER_BATCH: u64 = 20;
const ROWS: u64 = BATCHES * ROWS_PER_BATCH;
/// Simulated I/O: the loader reads each batch from disk.
const READ_BATCH: Duration = Duration::from_millis(10);
const HEALTH_CHECK_PATIENCE: Duration = Duration::from_millis(20);

/// How long any other wait may take before the example calls it a bug.
const PATIENCE: Duration = Duration::from_secs(5);
/// The backstop for waits that have no timeout of their own (joins).
const WATCHDOG: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Db {
    rows: Vec<u64>,
    loaded: bool,
}

struct Shared {
    t0: Instant,
    db: Lock<Db>,
    /// Notified (`notify_all`) after every batch the loader inserts.
    changed: Condition,
}

impl Shared {
    fn say(&self, who: &str, what: impl std::fmt::Display) {
        println!("[{:>4} ms] {who:<22} {what}", self.t0.elapsed().as_millis());
    }
}

/// What a worker saw: rows, their sum, and how often it checked `loaded`.
struct Seen {
    rows: usize,
    sum: u64,
    checks: u32,
}

/// The loader: inserts the rows batch by batch, notifying after each.
fn load(s: &Shared) {
    let me = "[thread loader]";
    for batch in 0..BATCHES {
        std::thread::sleep(READ_BATCH); // reading the batch, lock not held
        let mut db =
            s.db.lock()
                .wait_timeout(PATIENCE)
                .expect("the database's lock within 5 s");
        let first = batch * ROWS_PER_BATCH;
        db.rows.extend(first..first + ROWS_PER_BATCH);
        db.loaded = batch + 1 == BATCHES;
        let rows = db.rows.len();
        drop(db);
        let woken = s.changed.notify_all();
        s.say(
            me,
            format!("batch {batch} in ({rows} rows), notify_all woke {woken}"),
        );
    }
    s.say(me, "database loaded");
}

/// A thread worker: blocks until the database is loaded, then queries it.
fn thread_worker(s: &Shared, me: &str) -> Seen {
    let db =
        s.db.lock()
            .wait_timeout(PATIENCE)
            .expect("the database's lock within 5 s");
    let mut checks = 0;
    let (db, waited) = s
        .changed
        .wait_while(db, |db| {
            checks += 1;
            !db.loaded
        })
        .wait_timeout(PATIENCE);
    assert!(waited.notified(), "{me}: the load takes far less than 5 s");
    query(s, me, &db, checks)
}

/// A task worker: awaits the same condition on the same lock.
async fn task_worker(s: &Shared, me: &str) -> Seen {
    let db =
        s.db.lock()
            .timeout(PATIENCE)
            .await
            .expect("the database's lock within 5 s");
    let mut checks = 0;
    let (db, waited) = s
        .changed
        .wait_while(db, |db| {
            checks += 1;
            !db.loaded
        })
        .timeout(PATIENCE)
        .await;
    assert!(waited.notified(), "{me}: the load takes far less than 5 s");
    query(s, me, &db, checks)
}

/// Runs a query with the lock held (`wait_while` gave it back).
fn query(s: &Shared, me: &str, db: &Db, checks: u32) -> Seen {
    assert!(db.loaded, "{me}: wait_while returns only once loaded");
    let seen = Seen {
        rows: db.rows.len(),
        sum: db.rows.iter().sum(),
        checks,
    };
    s.say(
        me,
        format!(
            "database ready after {checks} check(s): {} rows, sum {}",
            seen.rows, seen.sum
        ),
    );
    seen
}

/// The progress reporter: wants every change, not just the end.
async fn report_progress(s: &Shared) -> usize {
    let me = "[task progress]";
    let mut shown = 0;
    let mut reports = 0;
    loop {
        let db =
            s.db.lock()
                .timeout(PATIENCE)
                .await
                .expect("the database's lock within 5 s");
        let (db, waited) = s
            .changed
            .wait_while(db, |db| db.rows.len() == shown)
            .timeout(PATIENCE)
            .await;
        assert!(waited.notified(), "{me}: a batch arrives within 5 s");
        shown = db.rows.len();
        reports += 1;
        let done = db.loaded;
        drop(db);
        s.say(me, format!("{shown} of {ROWS} rows loaded"));
        if done {
            return reports;
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    watchdog();
    let s = Arc::new(Shared {
        t0: Instant::now(),
        db: Lock::new(Db::default()),
        changed: Condition::new(),
    });

    // The health check runs before the loader exists: it must time out.
    let (db, result) = s
        .changed
        .wait_while(
            s.db.lock()
                .timeout(PATIENCE)
                .await
                .expect("the lock is free"),
            |db| !db.loaded,
        )
        .timeout(HEALTH_CHECK_PATIENCE)
        .await;
    assert!(result.timed_out(), "nothing loads the database yet");
    assert!(db.rows.is_empty());
    drop(db);
    s.say(
        "[task main]",
        format!(
            "health check: not ready within {} ms (timed out, lock given back)",
            HEALTH_CHECK_PATIENCE.as_millis()
        ),
    );

    let mut threads = Vec::new();
    for i in 1..=3 {
        let s = Arc::clone(&s);
        threads.push(std::thread::spawn(move || {
            thread_worker(&s, &format!("[thread worker-{i}]"))
        }));
    }
    let mut tasks = Vec::new();
    for i in 1..=3 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            task_worker(&s, &format!("[task worker-{i}]")).await
        }));
    }
    let progress = tokio::spawn({
        let s = Arc::clone(&s);
        async move { report_progress(&s).await }
    });
    let loader = std::thread::spawn({
        let s = Arc::clone(&s);
        move || load(&s)
    });

    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.expect("a task worker panicked"));
    }
    let reports = progress.await.expect("the progress reporter panicked");
    seen.extend(
        tokio::task::spawn_blocking(move || {
            loader.join().expect("the loader panicked");
            threads
                .into_iter()
                .map(|t| t.join().expect("a thread worker panicked"))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap(),
    );

    // A worker that comes after the load does not wait at all.
    let late = task_worker(&s, "[task worker-late]").await;
    assert_eq!(late.checks, 1, "the condition no longer holds: no wait");

    let sum: u64 = (0..ROWS).sum();
    for w in seen.iter().chain([&late]) {
        assert_eq!(w.rows as u64, ROWS, "every worker sees the whole database");
        assert_eq!(w.sum, sum);
    }
    assert!(
        (1..=BATCHES as usize).contains(&reports),
        "one report per change seen"
    );
    assert_eq!(s.changed.waiters().total(), 0);
    assert!(!s.db.is_locked());
    s.say("[main]", "checks passed");
}

/// Ends the process if the example hangs.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(WATCHDOG);
        eprintln!("guide_db_ready: still running after {WATCHDOG:?}; something is stuck");
        std::process::exit(1);
    });
}
