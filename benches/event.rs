//! `Event` fan-out against tokio's `Notify` (`notify_waiters`) and a raw
//! `event_listener::Event` (`notify(usize::MAX)`).
//!
//! * `event_fanout_tasks_1000`: 1000 tasks on the multi-thread runtime wait
//!   (each has been polled once, so it is registered); the clock runs from
//!   the `set` to the last task having woken and finished.
//! * `event_fanout_threads_8`: 8 OS threads block on the event; the clock
//!   runs from the `set` to the last thread having woken. The threads live
//!   for a whole sample; each round uses a fresh event.
//!
//! Lower is better. Spawning, and waiting for the waiters to register, are
//! outside the timed region. Completion is signalled by the last waiter
//! (one extra wake-up, the same for every peer).

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

mod common;

const TASKS: usize = 1000;
const THREADS: usize = 8;

/// An event many waiters wait on; `set` wakes them all.
trait FanOut: Send + Sync + 'static {
    fn create() -> Self;
    fn set(&self);
    /// A future that registers on its first poll and completes after `set`.
    fn wait(&self) -> impl Future<Output = ()> + Send;
    /// Blocks the thread; calls `registered` once it surely is a waiter
    /// (amphi: just before the call, see `wait_blocking_registered`).
    fn wait_blocking(&self, registered: impl FnOnce());
}

impl FanOut for amphi::Event {
    fn create() -> Self {
        amphi::Event::new()
    }
    fn set(&self) {
        amphi::Event::set(self)
    }
    async fn wait(&self) {
        assert!(amphi::Event::wait(self).await);
    }
    fn wait_blocking(&self, registered: impl FnOnce()) {
        // amphi cannot report "parked" from outside; the round leaves the
        // threads time to park (see `run_threads`). If `set` came first the
        // wait returns at once: never a hang.
        registered();
        assert!(amphi::Event::wait_blocking(self));
    }
}

impl FanOut for tokio::sync::Notify {
    fn create() -> Self {
        tokio::sync::Notify::new()
    }
    fn set(&self) {
        self.notify_waiters();
    }
    fn wait(&self) -> impl Future<Output = ()> + Send {
        self.notified()
    }
    fn wait_blocking(&self, registered: impl FnOnce()) {
        // `notify_waiters` only wakes enabled `Notified`s: enable first.
        let mut notified = pin!(self.notified());
        notified.as_mut().enable();
        registered();
        futures::executor::block_on(notified);
    }
}

impl FanOut for event_listener::Event {
    fn create() -> Self {
        event_listener::Event::new()
    }
    fn set(&self) {
        self.notify(usize::MAX);
    }
    async fn wait(&self) {
        self.listen().await
    }
    fn wait_blocking(&self, registered: impl FnOnce()) {
        use event_listener::Listener;
        let listener = self.listen();
        registered();
        listener.wait();
    }
}

/// Counts arrivals; the last one wakes whoever awaits `all_arrived`.
struct Countdown {
    left: AtomicUsize,
    notify: tokio::sync::Notify,
}

impl Countdown {
    fn new(n: usize) -> Self {
        Countdown {
            left: AtomicUsize::new(n),
            notify: tokio::sync::Notify::new(),
        }
    }
    fn arrive(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Stores a permit if nobody awaits yet.
            self.notify.notify_one();
        }
    }
    async fn all_arrived(&self) {
        self.notify.notified().await;
    }
}

fn run_tasks<E: FanOut>(rt: &Runtime, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let event = Arc::new(E::create());
        let registered = Arc::new(Countdown::new(TASKS));
        let done = Arc::new(Countdown::new(TASKS));
        total += rt.block_on(async {
            for _ in 0..TASKS {
                let event = Arc::clone(&event);
                let registered = Arc::clone(&registered);
                let done = Arc::clone(&done);
                tokio::spawn(async move {
                    let mut wait = pin!(event.wait());
                    let mut first = true;
                    std::future::poll_fn(|cx| {
                        let poll = wait.as_mut().poll(cx);
                        if first && poll.is_pending() {
                            first = false;
                            registered.arrive();
                        }
                        poll
                    })
                    .await;
                    if first {
                        // Ready on the first poll: cannot happen before `set`.
                        registered.arrive();
                    }
                    done.arrive();
                });
            }
            registered.all_arrived().await;
            let start = Instant::now();
            event.set();
            done.all_arrived().await;
            start.elapsed()
        });
    }
    total
}

fn run_threads<E: FanOut>(iters: u64) -> Duration {
    struct Shared<E> {
        round: Mutex<Option<Arc<E>>>,
        start: Barrier,
        registered: AtomicUsize,
        done: AtomicUsize,
        stop: AtomicBool,
        main: std::thread::Thread,
    }
    let shared = Arc::new(Shared::<E> {
        round: Mutex::new(None),
        start: Barrier::new(THREADS + 1),
        registered: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        main: std::thread::current(),
    });
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                loop {
                    shared.start.wait();
                    if shared.stop.load(Ordering::Acquire) {
                        return;
                    }
                    let event = shared.round.lock().unwrap().clone().unwrap();
                    event.wait_blocking(|| {
                        shared.registered.fetch_add(1, Ordering::AcqRel);
                    });
                    if shared.done.fetch_add(1, Ordering::AcqRel) + 1 == THREADS {
                        shared.main.unpark();
                    }
                }
            })
        })
        .collect();

    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let event = Arc::new(E::create());
        *shared.round.lock().unwrap() = Some(Arc::clone(&event));
        shared.registered.store(0, Ordering::Release);
        shared.done.store(0, Ordering::Release);
        shared.start.wait();
        while shared.registered.load(Ordering::Acquire) < THREADS {
            std::thread::yield_now();
        }
        // Let the last threads get from "registered" to parked.
        std::thread::sleep(Duration::from_micros(200));
        let start = Instant::now();
        event.set();
        while shared.done.load(Ordering::Acquire) < THREADS {
            std::thread::park();
        }
        total += start.elapsed();
    }
    shared.stop.store(true, Ordering::Release);
    shared.start.wait();
    for h in handles {
        h.join().unwrap();
    }
    total
}

fn fanout(c: &mut Criterion) {
    let rt = common::runtime();

    let mut g = c.benchmark_group(format!("event_fanout_tasks_{TASKS}"));
    // Each round spawns 1000 tasks outside the clock: keep the clock short.
    g.measurement_time(Duration::from_secs(1));
    g.bench_function("tokio_notify", |b| {
        b.iter_custom(|iters| run_tasks::<tokio::sync::Notify>(&rt, iters))
    });
    g.bench_function("event_listener", |b| {
        b.iter_custom(|iters| run_tasks::<event_listener::Event>(&rt, iters))
    });
    g.bench_function("amphi", |b| {
        b.iter_custom(|iters| run_tasks::<amphi::Event>(&rt, iters))
    });
    g.finish();
    drop(rt);

    let mut g = c.benchmark_group(format!("event_fanout_threads_{THREADS}"));
    // Each round sleeps 200 us outside the clock: keep the clock short.
    g.measurement_time(Duration::from_secs(1));
    g.bench_function("tokio_notify", |b| {
        b.iter_custom(run_threads::<tokio::sync::Notify>)
    });
    g.bench_function("event_listener", |b| {
        b.iter_custom(run_threads::<event_listener::Event>)
    });
    g.bench_function("amphi", |b| b.iter_custom(run_threads::<amphi::Event>));
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = fanout
}
criterion_main!(benches);
