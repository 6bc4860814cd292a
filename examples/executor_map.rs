//! `map` over CPU-heavy work on a [`ThreadPoolExecutor`]: the results come
//! back in input order, while at most a few jobs are in flight.
//!
//! The work is counting the primes below a bound for each of 24 bounds
//! (trial division, deliberately slow). The bounds are given largest
//! first, so the jobs finish out of order; `map` still yields them in input
//! order. It runs twice: from a thread (the blocking iterator, with
//! `map_buffered` keeping at most 4 jobs in flight) and from a tokio task
//! (`.stream()`), and both must agree with a plain sequential count.
//!
//! A third run shows the `timeout`: a map given 1 ms for everything yields
//! `MapError::TimedOut` and ends, cancelling the jobs it had not started.
//!
//! Run it with `cargo run --release --example executor_map`.

use std::time::{Duration, Instant};

use amphi::{MapError, ThreadPoolExecutor};
use futures::StreamExt;

fn primes_below(n: u64) -> usize {
    (2..n)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count()
}

#[tokio::main]
async fn main() {
    let pool = ThreadPoolExecutor::new(4);
    let bounds: Vec<u64> = (1..=24).rev().map(|i| i * 4_000).collect();

    let start = Instant::now();
    let expected: Vec<usize> = bounds.iter().map(|&n| primes_below(n)).collect();
    let sequential = start.elapsed();

    // From a thread: the blocking iterator, at most 4 jobs in flight.
    let start = Instant::now();
    let from_thread: Vec<usize> = std::thread::scope(|s| {
        s.spawn(|| {
            pool.map_buffered(primes_below, bounds.clone(), 4)
                .map(|r| r.expect("no job panics"))
                .collect()
        })
        .join()
        .unwrap()
    });
    let on_pool = start.elapsed();

    // From a task: the same map as a Stream.
    let from_task: Vec<usize> = pool
        .map(primes_below, bounds.clone())
        .stream()
        .map(|r| r.expect("no job panics"))
        .collect()
        .await;

    for (n, count) in bounds.iter().zip(&from_thread).take(3) {
        println!("primes below {n}: {count}");
    }
    println!("... ({} bounds in all)", bounds.len());
    println!("sequential {sequential:.0?}, on the pool {on_pool:.0?} (4 workers)");
    assert_eq!(from_thread, expected, "in input order, from a thread");
    assert_eq!(from_task, expected, "in input order, from a task");

    // A map that runs out of time ends with TimedOut and cancels the rest.
    let out: Vec<_> = pool
        .map_buffered(primes_below, bounds.clone(), 8)
        .timeout(Duration::from_millis(1))
        .collect();
    let timed_out = matches!(out.last(), Some(Err(MapError::TimedOut)));
    println!(
        "with a 1 ms timeout: {} results, then {}",
        out.len() - 1,
        if timed_out { "TimedOut" } else { "?" }
    );
    assert!(timed_out && out.len() < bounds.len());
    pool.shutdown(false).await;
    println!("cancelled by the timeout: {}", pool.stats().cancelled);
    println!("ok");
}
