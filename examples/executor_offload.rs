//! An async service that offloads blocking calls to a [`ThreadPoolExecutor`]
//! and awaits them with a timeout, then shuts down cancelling what is still
//! queued.
//!
//! * The "service" is a set of tokio tasks, each handling requests that
//!   need a blocking call (a legacy library, simulated by a `sleep` of 5 to
//!   40 ms). The pool has 3 workers and a queue bound of 6: when it is
//!   full, `submit(..).await` waits, so the service gets backpressure
//!   instead of an unbounded backlog.
//! * Each request awaits its job with a 50 ms `timeout`. A request that
//!   times out answers "busy" and **cancels** its job if it has not
//!   started (`cancel()` is `false` once it runs: the blocking call cannot
//!   be stopped, and its result is dropped).
//! * After the requests have been sent, the service shuts the pool down
//!   with `cancel_futures = true`: the jobs still queued are cancelled
//!   (their awaiting requests see `JobError::Cancelled` at once) and the
//!   running ones finish. `shutdown(..).await` joins the workers.
//!
//! The example checks that every request got exactly one answer and that
//! the pool's counts add up. Run it with `cargo run --example
//! executor_offload`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use amphi::{JobError, ThreadPoolExecutor};

#[derive(Default)]
struct Answers {
    ok: AtomicUsize,
    busy: AtomicUsize,
    busy_cancelled: AtomicUsize,
    shut_down: AtomicUsize,
}

/// The legacy blocking call.
fn legacy_lookup(key: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(5 + key * 7 % 36));
    key * 2
}

async fn handle_request(pool: Arc<ThreadPoolExecutor>, key: u64, answers: Arc<Answers>) {
    let job = match pool.submit(move || legacy_lookup(key)).await {
        Ok(job) => job,
        Err(_) => {
            // Submitted after the shutdown: refused, the closure comes back.
            answers.shut_down.fetch_add(1, SeqCst);
            return;
        }
    };
    match job.result().timeout(Duration::from_millis(50)).await {
        Some(Ok(v)) => {
            assert_eq!(v, key * 2);
            answers.ok.fetch_add(1, SeqCst);
        }
        Some(Err(JobError::Cancelled)) => {
            answers.shut_down.fetch_add(1, SeqCst);
        }
        Some(Err(e)) => panic!("unexpected: {e}"),
        None => {
            // Too slow: answer "busy", and take the job back if it has not
            // started.
            if job.cancel() {
                answers.busy_cancelled.fetch_add(1, SeqCst);
            }
            answers.busy.fetch_add(1, SeqCst);
        }
    }
}

#[tokio::main]
async fn main() {
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(3)
            .queue_bound(6)
            .thread_name_prefix("legacy")
            .build()
            .unwrap(),
    );
    let answers = Arc::new(Answers::default());
    const REQUESTS: u64 = 60;
    let mut requests = Vec::new();
    for key in 0..REQUESTS {
        requests.push(tokio::spawn(handle_request(
            pool.clone(),
            key,
            answers.clone(),
        )));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Stop taking work: cancel what is queued, let the running jobs end.
    let queued = pool.stats().queued;
    pool.shutdown(true).await;
    for r in requests {
        r.await.unwrap();
    }
    let (ok, busy, cancelled, shut) = (
        answers.ok.load(SeqCst),
        answers.busy.load(SeqCst),
        answers.busy_cancelled.load(SeqCst),
        answers.shut_down.load(SeqCst),
    );
    let stats = pool.stats();
    println!(
        "{REQUESTS} requests: {ok} answered, {busy} busy ({cancelled} of their jobs cancelled before they ran), {shut} cut off by the shutdown"
    );
    println!("at shutdown {queued} jobs were queued");
    println!(
        "pool: {} jobs completed, {} cancelled, {} threads left",
        stats.completed, stats.cancelled, stats.threads
    );
    assert_eq!(
        ok + busy + shut,
        REQUESTS as usize,
        "one answer per request"
    );
    assert_eq!(stats.threads, 0, "shutdown(..).await joined the workers");
    assert_eq!(stats.queued + stats.running, 0);
    assert!(stats.cancelled >= cancelled);
    assert!(busy > 0, "the 50 ms limit is shorter than the slow lookups");
    println!("ok");
}
