//! "Fetch 100 URLs in parallel" on one [`ThreadPoolExecutor`], from a tokio
//! task and from a plain thread at the same time.
//!
//! The fetches are simulated: a blocking `std::thread::sleep` of a few
//! milliseconds (as a blocking HTTP client or an FFI call would block), and
//! one endpoint, `/flaky`, fails by panicking. The pool has eight workers.
//!
//! * A tokio task submits the first 50 URLs (`submit(..).await`) and reads
//!   the results with `as_completed(..).stream()`, in the order the fetches
//!   finish.
//! * A plain OS thread submits the other 50 (`submit_blocking`) and reads
//!   them with the blocking `as_completed` iterator, with a time limit for
//!   the whole batch.
//! * The failing fetch is reported by its handle as `JobError::Panicked`
//!   with the panic's message; the worker that ran it goes on working.
//!
//! The example checks at the end that every URL was fetched exactly once,
//! that exactly one failed, and that the pool counted it. Run it with
//! `cargo run --example executor_fetch`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use amphi::{JobError, ThreadPoolExecutor};
use futures::StreamExt;

/// A blocking "HTTP GET": a few milliseconds, or a panic for `/flaky`.
fn fetch(url: String) -> (String, usize) {
    let n: u64 = url.bytes().map(u64::from).sum();
    std::thread::sleep(Duration::from_millis(2 + n % 7));
    if url.ends_with("/flaky") {
        panic!("503 Service Unavailable from {url}");
    }
    let body_len = 1000 + (n as usize % 500);
    (url, body_len)
}

fn urls() -> Vec<String> {
    (0..100)
        .map(|i| {
            if i == 42 {
                "https://example.test/flaky".to_owned()
            } else {
                format!("https://example.test/page/{i}")
            }
        })
        .collect()
}

/// What each side saw: fetched URLs, and the failures' messages.
type Seen = (Vec<String>, Vec<String>);

fn from_thread(pool: &ThreadPoolExecutor, urls: Vec<String>) -> Seen {
    let handles: Vec<_> = urls
        .into_iter()
        .map(|u| {
            pool.submit_blocking(move || fetch(u))
                .expect("the pool is open")
        })
        .collect();
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for done in amphi::as_completed(handles).timeout(Duration::from_secs(30)) {
        let handle = done.expect("every fetch finishes within 30 s");
        match handle.result_blocking() {
            Ok((url, len)) => ok.push(format!("{url} ({len} bytes)")),
            Err(JobError::Panicked(p)) => failed.push(p.message().to_owned()),
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    println!("thread: {} fetched, {} failed", ok.len(), failed.len());
    (ok, failed)
}

async fn from_task(pool: &ThreadPoolExecutor, urls: Vec<String>) -> Seen {
    let mut handles = Vec::new();
    for u in urls {
        handles.push(
            pool.submit(move || fetch(u))
                .await
                .expect("the pool is open"),
        );
    }
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    let mut done = amphi::as_completed(handles).stream();
    while let Some(handle) = done.next().await {
        match handle.expect("no timeout set").await {
            Ok((url, len)) => ok.push(format!("{url} ({len} bytes)")),
            Err(JobError::Panicked(p)) => failed.push(p.message().to_owned()),
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    println!("task:   {} fetched, {} failed", ok.len(), failed.len());
    (ok, failed)
}

#[tokio::main]
async fn main() {
    // The failing fetch panics on purpose: keep its message short.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map_or("?", String::as_str);
        eprintln!("  (a worker caught: {msg})")
    }));
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(8)
            .thread_name_prefix("fetch")
            .build()
            .unwrap(),
    );
    let start = Instant::now();
    let mut all = urls();
    let second_half = all.split_off(50);

    let p = Arc::clone(&pool);
    let thread = std::thread::spawn(move || from_thread(&p, second_half));
    let (task_ok, task_failed) = from_task(&pool, all).await;
    let (thread_ok, thread_failed) = thread.join().unwrap();

    let elapsed = start.elapsed();
    let fetched: BTreeSet<_> = task_ok.iter().chain(&thread_ok).collect();
    let failed: Vec<_> = task_failed.iter().chain(&thread_failed).collect();
    println!(
        "100 fetches on 8 workers in {:.0?}, one at a time would take about {:.0?}",
        elapsed,
        Duration::from_millis(5 * 100)
    );
    println!("failed: {failed:?}");
    let stats = pool.stats();
    println!(
        "pool: {} threads, {} jobs completed, {} panicked",
        stats.threads, stats.completed, stats.panicked
    );
    assert_eq!(fetched.len(), 99, "every other URL fetched exactly once");
    assert_eq!(failed.len(), 1);
    assert!(failed[0].contains("503") && failed[0].contains("/flaky"));
    assert_eq!((stats.completed, stats.panicked), (100, 1));
    assert!(stats.threads <= 8);
    pool.shutdown(false).await;
    println!("ok");
}
