//! A common start: five workers, three OS threads and two tokio tasks, get
//! ready at their own pace and wait at one [`Barrier`]. The last to arrive
//! trips it: it runs the barrier's action (which announces the start)
//! before anyone is released, and then all five go at once.
//!
//! Each line says who acts. The example checks its own invariants (every
//! worker was ready before anyone went, the action ran once and before the
//! release, the indices are 0 to 4, one leader) and exits with a panic if
//! one fails. Run it with `cargo run --example barrier_start`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use amphi::{Barrier, BarrierWaitResult};

const THREADS: usize = 3;
const TASKS: usize = 2;
const WORKERS: usize = THREADS + TASKS;

/// What the workers share.
struct Start {
    t0: Instant,
    barrier: Barrier,
    /// Workers that are ready (counted just before they wait).
    ready: AtomicUsize,
    /// Runs of the action.
    actions: AtomicUsize,
}

impl Start {
    fn log(&self, who: &str, what: &str) {
        println!("[{:>4} ms] {who:<9} {what}", self.t0.elapsed().as_millis());
    }

    /// A worker is released: check and report.
    fn released(&self, who: &str, r: BarrierWaitResult) -> BarrierWaitResult {
        assert_eq!(
            self.ready.load(SeqCst),
            WORKERS,
            "{who} went before all were ready"
        );
        assert_eq!(
            self.actions.load(SeqCst),
            1,
            "{who} was released before the action ran"
        );
        let role = if r.is_leader() {
            "arrived last, tripped the barrier and ran the action"
        } else {
            "released"
        };
        self.log(who, &format!("goes: index {}, {role}", r.index()));
        r
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    watchdog();
    let start = Arc::new_cyclic(|me: &std::sync::Weak<Start>| {
        let me = me.clone();
        Start {
            t0: Instant::now(),
            // The action runs in whichever worker arrives last, thread or
            // task, while all the others wait at the barrier.
            barrier: Barrier::with_action(WORKERS, move || {
                let s = me.upgrade().expect("alive while workers wait");
                assert_eq!(s.ready.load(SeqCst), WORKERS);
                assert_eq!(s.barrier.n_waiting(), WORKERS, "everyone is in");
                s.actions.fetch_add(1, SeqCst);
                s.log("action", &format!("all {WORKERS} ready: go!"));
            }),
            ready: AtomicUsize::new(0),
            actions: AtomicUsize::new(0),
        }
    });
    start.log(
        "main",
        &format!("{THREADS} threads and {TASKS} tasks get ready"),
    );

    let mut threads = Vec::new();
    for i in 0..THREADS {
        let s = Arc::clone(&start);
        threads.push(std::thread::spawn(move || {
            let who = format!("thread {i}");
            std::thread::sleep(Duration::from_millis(20 + 30 * i as u64)); // getting ready
            s.ready.fetch_add(1, SeqCst);
            s.log(&who, "ready, blocks in wait_blocking()");
            let r = s
                .barrier
                .wait_blocking()
                .expect("nobody breaks this barrier");
            s.released(&who, r)
        }));
    }
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let s = Arc::clone(&start);
        tasks.push(tokio::spawn(async move {
            let who = format!("task {i}");
            tokio::time::sleep(Duration::from_millis(35 + 30 * i as u64)).await;
            s.ready.fetch_add(1, SeqCst);
            s.log(&who, "ready, awaits wait()");
            let r = s.barrier.wait().await.expect("nobody breaks this barrier");
            s.released(&who, r)
        }));
    }

    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("a task panicked"));
    }
    // Joined on a blocking thread, so that no runtime worker is stalled.
    let joined = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(|t| t.join().expect("a thread panicked"))
            .collect::<Vec<_>>()
    });
    results.extend(joined.await.unwrap());

    let mut indices: Vec<_> = results.iter().map(|r| r.index()).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..WORKERS).collect::<Vec<_>>());
    assert_eq!(results.iter().filter(|r| r.is_leader()).count(), 1);
    assert_eq!(start.actions.load(SeqCst), 1);
    assert_eq!(start.barrier.n_waiting(), 0);
    assert_eq!(start.barrier.waiters().total(), 0);
    start.log("main", "all five went together; checks passed");
}

/// Ends the process if the example hangs.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(10));
        eprintln!("barrier_start: still running after 10 s (a lost wake-up?)");
        std::process::exit(1);
    });
}
