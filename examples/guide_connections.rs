//! Limiting concurrency with semaphores: a pool of at most three database
//! connections ([`BoundedSemaphore`]), and a rate limit on outgoing
//! requests (a [`Semaphore`] used as a token bucket, refilled by a ticker).
//!
//! 1. **Three connections.** Four threads and four tasks run four queries
//!    each; a query holds a permit of a `BoundedSemaphore::new(3)` for 3 ms.
//!    A gauge counts the holders and the example checks that there were
//!    never more than three at once.
//! 2. **All taken.** `main` takes the three permits; a thread asks with
//!    `acquire().wait_timeout(20 ms)` and a task with
//!    `acquire().timeout(20 ms)`: both get `Err(TimedOut)`.
//! 3. **Releasing too often.** A `release(1)` with every permit back in the
//!    pool is refused with an [`OverRelease`] error (Python raises
//!    `ValueError`) and changes nothing. A permit kept for good with
//!    `forget()` (a connection that broke) may be released once, and only
//!    once: the pool is whole again.
//! 4. **A rate limit.** Outgoing requests take a token from a
//!    `Semaphore::new(BURST)` and `forget()` it (a spent token). A ticker
//!    thread adds one token every 10 ms, as long as fewer than `BURST` are
//!    free; it sleeps by waiting on a stop [`Event`] until the next tick, so
//!    it stops at once when told. Two threads and two tasks send six
//!    requests each. Tokens by time `t` are at most `BURST + t / TICK`, so
//!    the `k`-th request can leave no earlier than `(k - BURST) * TICK`: the
//!    example checks that bound for every request (a lower bound, which a
//!    slow machine only makes easier to meet).
//!
//! Each line says who acts. Run it with `cargo run --example
//! guide_connections`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use amphi::{AcquireTimeoutError, BoundedSemaphore, Event, Lock, OverRelease, Semaphore};

const CONNECTIONS: usize = 3;
const QUERIES: usize = 4;
/// Simulated work: one query, with a connection held.
const QUERY: Duration = Duration::from_millis(3);
/// How long the workers of part 2 wait for a connection.
const SHORT: Duration = Duration::from_millis(20);

/// Tokens the bucket holds at most (and starts with).
const BURST: usize = 3;
/// One token per tick: at most 100 requests a second after the burst.
const TICK: Duration = Duration::from_millis(10);
const REQUESTS: usize = 6;

/// How long any other wait may take before the example calls it a bug.
const PATIENCE: Duration = Duration::from_secs(5);
/// The backstop for waits that have no timeout of their own (joins).
const WATCHDOG: Duration = Duration::from_secs(10);

fn say(who: &str, what: impl std::fmt::Display) {
    println!("{who:<24} {what}");
}

/// Counts how many hold a connection right now, and the most ever at once.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        assert!(now <= CONNECTIONS, "{now} connections in use at once");
        self.most.fetch_max(now, SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, SeqCst);
    }
}

struct Db {
    pool: BoundedSemaphore,
    in_use: Gauge,
}

/// Parts 1 to 3.
async fn connection_pool() {
    let db = Arc::new(Db {
        pool: BoundedSemaphore::new(CONNECTIONS),
        in_use: Gauge::default(),
    });

    // 1. Eight workers, three connections.
    let threads: Vec<_> = (1..=4)
        .map(|i| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for _ in 0..QUERIES {
                    let _connection = db
                        .pool
                        .acquire()
                        .wait_timeout(PATIENCE)
                        .expect("a connection within 5 s");
                    db.in_use.enter();
                    std::thread::sleep(QUERY);
                    db.in_use.leave();
                }
                say(
                    &format!("[thread client-{i}]"),
                    format!("ran {QUERIES} queries"),
                );
            })
        })
        .collect();
    let tasks: Vec<_> = (1..=4)
        .map(|i| {
            let db = Arc::clone(&db);
            tokio::spawn(async move {
                for _ in 0..QUERIES {
                    let _connection = db
                        .pool
                        .acquire()
                        .timeout(PATIENCE)
                        .await
                        .expect("a connection within 5 s");
                    db.in_use.enter();
                    tokio::time::sleep(QUERY).await;
                    db.in_use.leave();
                }
                say(
                    &format!("[task client-{i}]"),
                    format!("ran {QUERIES} queries"),
                );
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a task client panicked");
    }
    tokio::task::spawn_blocking(move || {
        for t in threads {
            t.join().expect("a thread client panicked");
        }
    })
    .await
    .unwrap();
    let most = db.in_use.most.load(SeqCst);
    say(
        "[task main]",
        format!(
            "{} queries ran, at most {most} connections at once",
            8 * QUERIES
        ),
    );
    assert!((1..=CONNECTIONS).contains(&most));
    assert_eq!(db.pool.available(), CONNECTIONS, "every permit came back");

    // 2. All three taken: timed acquires of both kinds give up.
    let held: Vec<_> = (0..CONNECTIONS)
        .map(|_| db.pool.try_acquire().expect("all three are free"))
        .collect();
    say("[task main]", "holds all three connections");
    let d = Arc::clone(&db);
    let thread = std::thread::spawn(move || {
        let err = d.pool.acquire().wait_timeout(SHORT).err();
        assert_eq!(err, Some(AcquireTimeoutError::TimedOut));
        say(
            "[thread impatient]",
            format!("no connection within {} ms: TimedOut", SHORT.as_millis()),
        );
    });
    let d = Arc::clone(&db);
    let task = tokio::spawn(async move {
        let err = d.pool.acquire().timeout(SHORT).await.err();
        assert_eq!(err, Some(AcquireTimeoutError::TimedOut));
        say(
            "[task impatient]",
            format!("no connection within {} ms: TimedOut", SHORT.as_millis()),
        );
    });
    task.await.expect("the impatient task panicked");
    tokio::task::spawn_blocking(move || thread.join().expect("the impatient thread panicked"))
        .await
        .unwrap();
    drop(held);

    // 3. An extra release is refused; a forgotten permit may come back once.
    let err: OverRelease = db.pool.release(1).expect_err("nothing to release");
    assert_eq!(
        (err.requested, err.releasable, err.bound),
        (1, 0, CONNECTIONS)
    );
    assert_eq!(
        db.pool.available(),
        CONNECTIONS,
        "the refusal changed nothing"
    );
    say("[task main]", format!("release(1) refused: {err}"));
    let broken = db.pool.try_acquire().expect("a free connection");
    broken.forget(); // the connection broke: its permit is kept for good
    assert_eq!(db.pool.available(), CONNECTIONS - 1);
    db.pool
        .release(1)
        .expect("a forgotten permit may be released");
    assert!(db.pool.release(1).is_err(), "but only once");
    assert_eq!(db.pool.available(), CONNECTIONS);
    say(
        "[task main]",
        "a broken connection's permit forgotten, then released once: 3 free again",
    );
}

/// Part 4: a token bucket.
struct Limiter {
    t0: Instant,
    tokens: Semaphore,
    stop: Event,
    /// When each request left, since `t0`.
    sent: Lock<Vec<Duration>>,
}

/// Adds a token every `TICK` while fewer than `BURST` are free; the `k`-th
/// tick happens no earlier than `t0 + k * TICK`. Returns the tokens added.
fn ticker(l: &Limiter) -> usize {
    let mut added = 0;
    for k in 1u32.. {
        let at = l.t0 + TICK * k;
        // Sleeps until the tick, woken early only by `stop`.
        while Instant::now() < at {
            if l.stop.wait().wait_deadline(at) {
                return added;
            }
        }
        if l.tokens.available() < BURST {
            l.tokens.release(1);
            added += 1;
        }
    }
    unreachable!()
}

fn record(l: &Limiter, sent: &mut Vec<Duration>, who: &str) {
    let at = l.t0.elapsed();
    sent.push(at);
    if sent.len() <= BURST + 2 || sent.len().is_multiple_of(6) {
        say(
            who,
            format!("request {} sent at {} ms", sent.len(), at.as_millis()),
        );
    }
}

async fn rate_limit() {
    let l = Arc::new(Limiter {
        t0: Instant::now(),
        tokens: Semaphore::new(BURST),
        stop: Event::new(),
        sent: Lock::new(Vec::new()),
    });
    let tick = std::thread::spawn({
        let l = Arc::clone(&l);
        move || ticker(&l)
    });

    let threads: Vec<_> = (1..=2)
        .map(|i| {
            let l = Arc::clone(&l);
            std::thread::spawn(move || {
                let me = format!("[thread sender-{i}]");
                for _ in 0..REQUESTS {
                    l.tokens
                        .acquire()
                        .wait_timeout(PATIENCE)
                        .expect("a token within 5 s")
                        .forget();
                    let mut sent = l.sent.lock().wait_timeout(PATIENCE).expect("the log");
                    record(&l, &mut sent, &me);
                }
            })
        })
        .collect();
    let tasks: Vec<_> = (1..=2)
        .map(|i| {
            let l = Arc::clone(&l);
            tokio::spawn(async move {
                let me = format!("[task sender-{i}]");
                for _ in 0..REQUESTS {
                    l.tokens
                        .acquire()
                        .timeout(PATIENCE)
                        .await
                        .expect("a token within 5 s")
                        .forget();
                    let mut sent = l.sent.lock().timeout(PATIENCE).await.expect("the log");
                    record(&l, &mut sent, &me);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a task sender panicked");
    }
    tokio::task::spawn_blocking(move || {
        for t in threads {
            t.join().expect("a thread sender panicked");
        }
    })
    .await
    .unwrap();
    let elapsed = l.t0.elapsed();
    l.stop.set();
    let stop_at = Instant::now();
    let added = tokio::task::spawn_blocking(move || tick.join().expect("the ticker panicked"))
        .await
        .unwrap();
    say(
        "[thread ticker]",
        format!(
            "stopped {} ms after the stop event; added {added} tokens",
            stop_at.elapsed().as_millis()
        ),
    );

    let mut sent = l
        .sent
        .lock()
        .timeout(PATIENCE)
        .await
        .expect("the log")
        .clone();
    sent.sort_unstable();
    let total = 4 * REQUESTS;
    assert_eq!(sent.len(), total, "every request was sent");
    for (i, at) in sent.iter().enumerate() {
        let k = i + 1;
        let earliest = TICK * k.saturating_sub(BURST) as u32;
        assert!(
            *at >= earliest,
            "request {k} left at {at:?}, before {earliest:?}: the limit was broken"
        );
    }
    assert!(added + BURST >= total, "each request spent a token");
    let rate = total as f64 / elapsed.as_secs_f64();
    say(
        "[task main]",
        format!(
            "{total} requests in {} ms ({rate:.0}/s; limit {}/s after a burst of {BURST}): \
             none left before its time",
            elapsed.as_millis(),
            Duration::from_secs(1).as_millis() / TICK.as_millis()
        ),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    watchdog();
    say("[task main]", "1-3. a pool of three connections");
    connection_pool().await;
    say(
        "[task main]",
        "4. a rate limit: a token bucket refilled by a ticker",
    );
    rate_limit().await;
    say("[task main]", "checks passed");
}

/// Ends the process if the example hangs.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(WATCHDOG);
        eprintln!("guide_connections: still running after {WATCHDOG:?}; something is stuck");
        std::process::exit(1);
    });
}
