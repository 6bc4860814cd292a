//! The classic producer/consumer of Python's docs, on one bounded
//! [`Queue`] shared by OS threads and tokio tasks, stopped by an
//! [`Event`].
//!
//! * Producers of both kinds: two tokio tasks and two blocking threads (a
//!   plain one and a `spawn_blocking` one) make readings and put them on a
//!   queue of four. A task producer awaits `put`; a thread producer blocks
//!   in `put(..).wait_timeout(..)`, and when the queue stays full it gets
//!   its reading back in the error and tries again.
//! * Consumers of both kinds: a task loops on `get().timeout(..)`, and a
//!   plain thread and a `spawn_blocking` thread on `get().wait_timeout(..)`.
//!   Each one stops once the `stop` event is set and the queue is empty:
//!
//!   ```text
//!   while not (stop.is_set() and q.empty()):
//!       try:
//!           item = q.get(timeout=POLL)
//!       except queue.Empty:
//!           continue
//!       ...
//!       q.task_done()
//!   ```
//!
//!   The order of the two checks matters: `main` sets `stop` only after
//!   every producer has returned, so once a consumer has seen `stop` set,
//!   an empty queue stays empty. (Checked the other way round, a put could
//!   slip in between.) A timed-out get just loops back to the checks.
//! * `main` awaits every producer, sets `stop`, awaits `q.join()` (every
//!   reading marked done) and then the consumers.
//!
//! Each line says who acts. The example checks that every reading was
//! consumed exactly once and that the queue ends empty with nothing
//! unfinished; it panics if not. Run it with `cargo run --example
//! queue_producer_consumer`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use amphi::{Event, GetTimeoutError, PutTimeoutError, Queue};

const CAPACITY: usize = 4;
/// Readings made by each producer.
const PER_PRODUCER: u32 = 6;
/// How long a consumer waits for a reading before it looks at `stop`.
const POLL: Duration = Duration::from_millis(5);
/// How long a thread producer waits for room before it says so and retries.
const PUT_PATIENCE: Duration = Duration::from_millis(3);
/// The sensors warm up before the first reading: the consumers' first polls
/// time out.
const WARM_UP: Duration = Duration::from_millis(8);

fn say(who: &str, what: impl std::fmt::Display) {
    println!("{who:<28} {what}");
}

/// A sensor reading: which producer made it, and its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Reading {
    producer: u32,
    n: u32,
}

fn show(r: Reading) -> String {
    format!("reading {}.{}", r.producer, r.n)
}

struct Shared {
    q: Queue<Reading>,
    /// Set once every producer has finished.
    stop: Event,
}

/// A task producer: awaits room for each reading.
async fn task_producer(s: Arc<Shared>, producer: u32, me: String) {
    tokio::time::sleep(WARM_UP).await;
    for n in 0..PER_PRODUCER {
        tokio::time::sleep(Duration::from_millis(1)).await; // a measurement
        s.q.put(Reading { producer, n })
            .await
            .expect("never shut down");
    }
    say(&me, format_args!("made {PER_PRODUCER} readings: done"));
}

/// A thread producer: blocks for room, with a time limit; when it runs
/// out, the reading comes back and the producer tries again.
fn thread_producer(s: &Shared, producer: u32, me: &str) -> usize {
    let mut retries = 0;
    std::thread::sleep(WARM_UP);
    for n in 0..PER_PRODUCER {
        std::thread::sleep(Duration::from_millis(1)); // a measurement
        let mut reading = Reading { producer, n };
        loop {
            match s.q.put(reading).wait_timeout(PUT_PATIENCE) {
                Ok(()) => break,
                Err(PutTimeoutError::TimedOut(back)) => {
                    say(
                        me,
                        format_args!(
                            "queue full ({CAPACITY}) for {} ms: got {} back, retries",
                            PUT_PATIENCE.as_millis(),
                            show(back)
                        ),
                    );
                    retries += 1;
                    reading = back;
                }
                Err(PutTimeoutError::ShutDown(_)) => unreachable!("never shut down"),
            }
        }
    }
    say(me, format_args!("made {PER_PRODUCER} readings: done"));
    retries
}

/// A slow consumer's work on a reading.
const WORK: Duration = Duration::from_millis(3);

/// A task consumer: `get().timeout(..)`, until `stop` is set and the queue
/// is empty.
async fn task_consumer(s: Arc<Shared>, me: String) -> Vec<Reading> {
    let mut got = Vec::new();
    let mut idle = 0;
    while !(s.stop.is_set() && s.q.is_empty()) {
        match s.q.get().timeout(POLL).await {
            Ok(reading) => {
                say(
                    &me,
                    format_args!("got {} ({} waiting)", show(reading), s.q.len()),
                );
                tokio::time::sleep(WORK).await;
                got.push(reading);
                s.q.task_done().expect("one task_done per reading got");
            }
            Err(GetTimeoutError::TimedOut) => {
                say(
                    &me,
                    format_args!("nothing within {} ms: checks stop", POLL.as_millis()),
                );
                idle += 1; // look at `stop` again
            }
            Err(GetTimeoutError::ShutDown) => unreachable!("never shut down"),
        }
    }
    say(
        &me,
        format_args!(
            "stop is set and the queue is empty: consumed {}, idle polls {idle}",
            got.len()
        ),
    );
    got
}

/// A thread consumer: `get().wait_timeout(..)`, the same loop, blocking.
fn thread_consumer(s: &Shared, me: &str) -> Vec<Reading> {
    let mut got = Vec::new();
    let mut idle = 0;
    while !(s.stop.is_set() && s.q.is_empty()) {
        match s.q.get().wait_timeout(POLL) {
            Ok(reading) => {
                say(
                    me,
                    format_args!("got {} ({} waiting)", show(reading), s.q.len()),
                );
                std::thread::sleep(WORK);
                got.push(reading);
                s.q.task_done().expect("one task_done per reading got");
            }
            Err(GetTimeoutError::TimedOut) => {
                say(
                    me,
                    format_args!("nothing within {} ms: checks stop", POLL.as_millis()),
                );
                idle += 1;
            }
            Err(GetTimeoutError::ShutDown) => unreachable!("never shut down"),
        }
    }
    say(
        me,
        format_args!(
            "stop is set and the queue is empty: consumed {}, idle polls {idle}",
            got.len()
        ),
    );
    got
}

async fn run() {
    let me = "[task main]";
    let s = Arc::new(Shared {
        q: Queue::bounded(CAPACITY),
        stop: Event::new(),
    });
    say(
        me,
        format_args!("4 producers x {PER_PRODUCER} readings, 3 consumers, queue of {CAPACITY}"),
    );

    // Consumers first: they poll an empty queue until readings come.
    let c1 = tokio::spawn(task_consumer(Arc::clone(&s), "[task consumer-1]".into()));
    let c2 = std::thread::spawn({
        let s = Arc::clone(&s);
        move || thread_consumer(&s, "[thread consumer-2]")
    });
    let c3 = tokio::task::spawn_blocking({
        let s = Arc::clone(&s);
        move || thread_consumer(&s, "[spawn_blocking consumer-3]")
    });

    let p1 = tokio::spawn(task_producer(Arc::clone(&s), 1, "[task producer-1]".into()));
    let p2 = tokio::spawn(task_producer(Arc::clone(&s), 2, "[task producer-2]".into()));
    let p3 = std::thread::spawn({
        let s = Arc::clone(&s);
        move || thread_producer(&s, 3, "[thread producer-3]")
    });
    let p4 = tokio::task::spawn_blocking({
        let s = Arc::clone(&s);
        move || thread_producer(&s, 4, "[spawn_blocking producer-4]")
    });

    p1.await.expect("producer-1 panicked");
    p2.await.expect("producer-2 panicked");
    let retries_4 = p4.await.expect("producer-4 panicked");
    let retries_3 = tokio::task::spawn_blocking(move || p3.join())
        .await
        .unwrap()
        .expect("producer-3 panicked");
    say(
        me,
        format_args!(
            "every producer returned ({} waiting): stop.set()",
            s.q.len()
        ),
    );
    s.stop.set();

    // Python's work tracking: every reading put is marked done.
    let all_done = s.q.join().timeout(Duration::from_secs(2)).await;
    assert!(all_done, "the consumers finish every reading");
    say(me, "q.join(): every reading consumed and marked done");

    let per_consumer = [
        c1.await.expect("consumer-1 panicked"),
        tokio::task::spawn_blocking(move || c2.join())
            .await
            .unwrap()
            .expect("consumer-2 panicked"),
        c3.await.expect("consumer-3 panicked"),
    ];

    // FIFO: each consumer got each producer's readings in the order they
    // were made (its gets follow one another through the queue).
    for got in &per_consumer {
        for producer in 1..=4 {
            let ns: Vec<u32> = got
                .iter()
                .filter(|r| r.producer == producer)
                .map(|r| r.n)
                .collect();
            assert!(
                ns.is_sorted(),
                "producer {producer}'s readings in order: {ns:?}"
            );
        }
    }
    // Every reading consumed exactly once.
    let consumed: Vec<Reading> = per_consumer.concat();
    let total = 4 * PER_PRODUCER as usize;
    let unique: BTreeSet<Reading> = consumed.iter().copied().collect();
    assert_eq!(
        consumed.len(),
        total,
        "{} readings consumed",
        consumed.len()
    );
    assert_eq!(unique.len(), total, "no reading consumed twice");
    for producer in 1..=4 {
        for n in 0..PER_PRODUCER {
            assert!(
                unique.contains(&Reading { producer, n }),
                "{producer}.{n} lost"
            );
        }
    }
    assert!(s.q.is_empty());
    assert_eq!(s.q.unfinished(), 0);
    assert_eq!(s.q.waiters().total(), 0);
    println!();
    println!(
        "All checks passed: {total} readings from 2 task and 2 thread producers, each consumed \
         exactly once by 1 task and 2 thread consumers ({} timed put(s) of the thread \
         producers ran out and were retried).",
        retries_3 + retries_4
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    watchdog();
    run().await;
}

/// Ends the process if the example hangs.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(10));
        eprintln!("queue_producer_consumer: still running after 10 s (a lost wake-up?)");
        std::process::exit(1);
    });
}
