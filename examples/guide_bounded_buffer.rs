//! A bounded buffer built by hand from one [`Lock`]`<VecDeque>` and two
//! [`Condition`]s, `not_full` and `not_empty` (the textbook construction
//! that Python's `queue.Queue` is made of), with producers and consumers of
//! both kinds on it. (amphi's own [`Queue`](amphi::Queue) is this, ready
//! made; see `queue_producer_consumer`.)
//!
//! * `put` waits on `not_full` while the buffer holds `CAPACITY` items,
//!   pushes, and wakes one consumer (`not_empty.notify(1)`); `get` waits on
//!   `not_empty` while the buffer is empty, pops, and wakes one producer
//!   (`not_full.notify(1)`). Each condition has waiters of one kind only, so
//!   waking one is enough, and `wait_while` re-checks after every wake-up.
//! * Two threads and two tasks produce 25 items each into a buffer of 4;
//!   two threads and two tasks consume them, each taking 1 ms per item, so
//!   the buffer fills and producers wait for room.
//! * When every producer is done, `main` closes the buffer and wakes every
//!   consumer (`not_empty.notify_all()`); a consumer stops once the buffer
//!   is closed and empty.
//!
//! Each line says who acts. The example checks that every item was consumed
//! exactly once, that each consumer got each producer's items in the order
//! they were made (the buffer is FIFO), and that the buffer never held more
//! than `CAPACITY` items. Run it with `cargo run --example
//! guide_bounded_buffer`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use amphi::{Condition, Lock};

const CAPACITY: usize = 4;
const PER_PRODUCER: u32 = 25;
/// Simulated work per item on the consumer's side (lock not held).
const CONSUME: Duration = Duration::from_millis(1);

/// How long any wait may take before the example calls it a bug.
const PATIENCE: Duration = Duration::from_secs(5);
/// The backstop for waits that have no timeout of their own (joins).
const WATCHDOG: Duration = Duration::from_secs(10);

fn say(who: &str, what: impl std::fmt::Display) {
    println!("{who:<24} {what}");
}

/// `(producer, sequence number)`.
type Item = (u32, u32);

#[derive(Default)]
struct State {
    items: VecDeque<Item>,
    /// Set by `main` once every producer is done.
    closed: bool,
    /// The most items ever held at once.
    most: usize,
}

#[derive(Default)]
struct Buffer {
    state: Lock<State>,
    /// Notified when an item was taken out.
    not_full: Condition,
    /// Notified when an item was put in, or the buffer closed.
    not_empty: Condition,
}

impl Buffer {
    /// After a push, with the lock held.
    fn pushed(state: &mut State, item: Item) {
        state.items.push_back(item);
        state.most = state.most.max(state.items.len());
        assert!(state.items.len() <= CAPACITY, "the buffer overflowed");
    }

    /// Blocking put; returns whether it had to wait for room.
    fn put_blocking(&self, item: Item) -> bool {
        let state = self
            .state
            .lock()
            .wait_timeout(PATIENCE)
            .expect("the buffer's lock within 5 s");
        let mut checks = 0;
        let (mut state, r) = self
            .not_full
            .wait_while(state, |s| {
                checks += 1;
                s.items.len() == CAPACITY
            })
            .wait_timeout(PATIENCE);
        assert!(r.notified(), "room within 5 s");
        Self::pushed(&mut state, item);
        drop(state);
        self.not_empty.notify(1);
        checks > 1
    }

    /// Async put; returns whether it had to wait for room.
    async fn put(&self, item: Item) -> bool {
        let state = self
            .state
            .lock()
            .timeout(PATIENCE)
            .await
            .expect("the buffer's lock within 5 s");
        let mut checks = 0;
        let (mut state, r) = self
            .not_full
            .wait_while(state, |s| {
                checks += 1;
                s.items.len() == CAPACITY
            })
            .timeout(PATIENCE)
            .await;
        assert!(r.notified(), "room within 5 s");
        Self::pushed(&mut state, item);
        drop(state);
        self.not_empty.notify(1);
        checks > 1
    }

    /// Blocking get: `None` once the buffer is closed and empty.
    fn get_blocking(&self) -> Option<Item> {
        let state = self
            .state
            .lock()
            .wait_timeout(PATIENCE)
            .expect("the buffer's lock within 5 s");
        let (mut state, r) = self
            .not_empty
            .wait_while(state, |s| s.items.is_empty() && !s.closed)
            .wait_timeout(PATIENCE);
        assert!(r.notified(), "an item, or the close, within 5 s");
        let item = state.items.pop_front();
        drop(state);
        if item.is_some() {
            self.not_full.notify(1);
        }
        item
    }

    /// Async get: `None` once the buffer is closed and empty.
    async fn get(&self) -> Option<Item> {
        let state = self
            .state
            .lock()
            .timeout(PATIENCE)
            .await
            .expect("the buffer's lock within 5 s");
        let (mut state, r) = self
            .not_empty
            .wait_while(state, |s| s.items.is_empty() && !s.closed)
            .timeout(PATIENCE)
            .await;
        assert!(r.notified(), "an item, or the close, within 5 s");
        let item = state.items.pop_front();
        drop(state);
        if item.is_some() {
            self.not_full.notify(1);
        }
        item
    }

    /// No more items will come: wakes every consumer.
    async fn close(&self) {
        self.state
            .lock()
            .timeout(PATIENCE)
            .await
            .expect("the buffer's lock within 5 s")
            .closed = true;
        self.not_empty.notify_all();
    }
}

/// Checks that `got` holds each producer's items in increasing order.
fn assert_fifo_per_producer(who: &str, got: &[Item]) {
    let mut last = std::collections::HashMap::new();
    for &(p, n) in got {
        if let Some(prev) = last.insert(p, n) {
            assert!(prev < n, "{who} got item {p}.{n} after {p}.{prev}");
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    watchdog();
    let buf = Arc::new(Buffer::default());

    // Producers 1 and 2 are threads, 3 and 4 tasks.
    let thread_producers: Vec<_> = (1..=2)
        .map(|p| {
            let buf = Arc::clone(&buf);
            std::thread::spawn(move || {
                let waits = (0..PER_PRODUCER)
                    .filter(|&n| buf.put_blocking((p, n)))
                    .count();
                say(
                    &format!("[thread producer-{p}]"),
                    format!("put {PER_PRODUCER} items, waited for room {waits} times"),
                );
            })
        })
        .collect();
    let task_producers: Vec<_> = (3..=4)
        .map(|p| {
            let buf = Arc::clone(&buf);
            tokio::spawn(async move {
                let mut waits = 0;
                for n in 0..PER_PRODUCER {
                    if buf.put((p, n)).await {
                        waits += 1;
                    }
                }
                say(
                    &format!("[task producer-{p}]"),
                    format!("put {PER_PRODUCER} items, waited for room {waits} times"),
                );
            })
        })
        .collect();

    let thread_consumers: Vec<_> = (1..=2)
        .map(|c| {
            let buf = Arc::clone(&buf);
            std::thread::spawn(move || {
                let me = format!("[thread consumer-{c}]");
                let mut got = Vec::new();
                while let Some(item) = buf.get_blocking() {
                    std::thread::sleep(CONSUME);
                    got.push(item);
                }
                say(&me, format!("closed and empty: consumed {}", got.len()));
                assert_fifo_per_producer(&me, &got);
                got
            })
        })
        .collect();
    let task_consumers: Vec<_> = (1..=2)
        .map(|c| {
            let buf = Arc::clone(&buf);
            tokio::spawn(async move {
                let me = format!("[task consumer-{c}]");
                let mut got = Vec::new();
                while let Some(item) = buf.get().await {
                    tokio::time::sleep(CONSUME).await;
                    got.push(item);
                }
                say(&me, format!("closed and empty: consumed {}", got.len()));
                assert_fifo_per_producer(&me, &got);
                got
            })
        })
        .collect();

    for t in task_producers {
        t.await.expect("a task producer panicked");
    }
    tokio::task::spawn_blocking(move || {
        for t in thread_producers {
            t.join().expect("a thread producer panicked");
        }
    })
    .await
    .unwrap();
    say("[task main]", "every producer is done: closes the buffer");
    buf.close().await;

    let mut all = Vec::new();
    for t in task_consumers {
        all.extend(t.await.expect("a task consumer panicked"));
    }
    all.extend(
        tokio::task::spawn_blocking(move || {
            thread_consumers
                .into_iter()
                .flat_map(|t| t.join().expect("a thread consumer panicked"))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap(),
    );

    let consumed = all.len();
    all.sort_unstable();
    let expected: Vec<Item> = (1..=4)
        .flat_map(|p| (0..PER_PRODUCER).map(move |n| (p, n)))
        .collect();
    assert_eq!(all, expected, "every item consumed exactly once");
    let state = buf.state.lock().timeout(PATIENCE).await.expect("free now");
    assert!(state.items.is_empty());
    assert!(state.most <= CAPACITY);
    say(
        "[task main]",
        format!(
            "{consumed} items consumed exactly once; at most {} of {CAPACITY} in the buffer",
            state.most
        ),
    );
    drop(state);
    assert_eq!(buf.not_full.waiters().total(), 0);
    assert_eq!(buf.not_empty.waiters().total(), 0);
    say("[task main]", "checks passed");
}

/// Ends the process if the example hangs.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(WATCHDOG);
        eprintln!("guide_bounded_buffer: still running after {WATCHDOG:?}; something is stuck");
        std::process::exit(1);
    });
}
