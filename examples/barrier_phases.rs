//! Two-phase parallel work on one [`Barrier`], with threads and tokio tasks
//! as the workers.
//!
//! * Phase 1: each worker sums its chunk of the data and posts the partial
//!   sum. The barrier's action, run once by the last worker to arrive and
//!   before anyone is released, merges the partial sums into the total.
//! * Phase 2: each worker computes its chunk's share of that total; a second
//!   trip of the barrier ends the job.
//! * A second job has bad data in one chunk: that worker calls
//!   [`Barrier::abort`] instead of arriving, and every other worker gets
//!   [`BrokenBarrier`] instead of waiting forever for it. The action does
//!   not run. [`Barrier::reset`] makes the barrier usable again, and a
//!   third job runs cleanly on it.
//!
//! The example checks its own results and panics if one is wrong. Run it
//! with `cargo run --example barrier_phases`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use amphi::{Barrier, BrokenBarrier, Lock};

/// Workers 0 and 2 are threads, 1 and 3 are tasks.
const WORKERS: usize = 4;

/// What the workers and the action share.
struct Board {
    /// Phase 1 results, one slot per worker.
    partial: Lock<Vec<Option<i64>>>,
    /// Set by the action between the phases.
    total: Lock<Option<i64>>,
    /// Runs of the action.
    merges: AtomicUsize,
}

/// A worker's result: its sum and its share of the total.
type Outcome = Result<(i64, f64), BrokenBarrier>;

fn board() -> Arc<Board> {
    Arc::new(Board {
        partial: Lock::new(vec![None; WORKERS]),
        total: Lock::new(None),
        merges: AtomicUsize::new(0),
    })
}

/// The barrier's action: merges the partial sums after phase 1 (and does
/// nothing after phase 2, when they have been taken). It runs while every
/// worker waits at the barrier, so no one holds the locks: `try_lock`
/// cannot fail here, and the action never blocks.
fn merge(board: &Board) {
    let mut partial = board
        .partial
        .try_lock()
        .expect("every worker waits at the barrier");
    if partial.iter().all(Option::is_some) {
        let total = partial.iter_mut().map(|p| p.take().unwrap()).sum();
        *board.total.try_lock().expect("free") = Some(total);
        board.merges.fetch_add(1, SeqCst);
        println!("  [action]   merged {WORKERS} partial sums: total {total}");
    } else {
        println!("  [action]   phase 2 done everywhere");
    }
}

fn bad(chunk: &[i64]) -> bool {
    chunk.iter().any(|&x| x < 0)
}

/// A worker on an OS thread: blocking calls.
fn thread_worker(id: usize, chunk: Vec<i64>, b: Arc<Barrier>, board: Arc<Board>) -> Outcome {
    if bad(&chunk) {
        println!("  [thread {id}] bad data in my chunk: abort()");
        b.abort();
        return Err(BrokenBarrier);
    }
    let sum: i64 = chunk.iter().sum();
    board.partial.lock_blocking()[id] = Some(sum);
    println!("  [thread {id}] phase 1: sum {sum}, waiting for the others");
    b.wait_blocking()
        .inspect_err(|e| println!("  [thread {id}] {e}: stop"))?;
    let total = board.total.lock_blocking().expect("merged by the action");
    let share = sum as f64 / total as f64;
    println!("  [thread {id}] phase 2: share {:.1} %", 100.0 * share);
    b.wait_blocking()?;
    Ok((sum, share))
}

/// A worker in a tokio task: the same steps, awaited.
async fn task_worker(id: usize, chunk: Vec<i64>, b: Arc<Barrier>, board: Arc<Board>) -> Outcome {
    if bad(&chunk) {
        println!("  [task {id}]   bad data in my chunk: abort()");
        b.abort();
        return Err(BrokenBarrier);
    }
    let sum: i64 = chunk.iter().sum();
    board.partial.lock().await[id] = Some(sum);
    println!("  [task {id}]   phase 1: sum {sum}, waiting for the others");
    b.wait()
        .await
        .inspect_err(|e| println!("  [task {id}]   {e}: stop"))?;
    let total = board.total.lock().await.expect("merged by the action");
    let share = sum as f64 / total as f64;
    println!("  [task {id}]   phase 2: share {:.1} %", 100.0 * share);
    b.wait().await?;
    Ok((sum, share))
}

/// Runs one job of `data` split into `WORKERS` chunks.
async fn job(b: &Arc<Barrier>, board: &Arc<Board>, data: &[i64]) -> Vec<Outcome> {
    let chunks: Vec<Vec<i64>> = data
        .chunks(data.len() / WORKERS)
        .map(<[i64]>::to_vec)
        .collect();
    assert_eq!(chunks.len(), WORKERS);
    let mut threads = Vec::new();
    let mut tasks = Vec::new();
    for (id, chunk) in chunks.into_iter().enumerate() {
        let (b, board) = (Arc::clone(b), Arc::clone(board));
        if id % 2 == 0 {
            threads.push((
                id,
                std::thread::spawn(move || thread_worker(id, chunk, b, board)),
            ));
        } else {
            tasks.push((id, tokio::spawn(task_worker(id, chunk, b, board))));
        }
    }
    let mut out: Vec<Option<Outcome>> = vec![None; WORKERS];
    for (id, t) in tasks {
        out[id] = Some(t.await.expect("a task panicked"));
    }
    let joined = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(|(id, t)| (id, t.join().expect("a thread panicked")))
            .collect::<Vec<_>>()
    });
    for (id, r) in joined.await.unwrap() {
        out[id] = Some(r);
    }
    out.into_iter().map(Option::unwrap).collect()
}

/// Checks a clean job: the total, and the shares adding up to 1.
fn check_clean(outcomes: &[Outcome], data: &[i64]) {
    let sums: i64 = outcomes.iter().map(|o| o.unwrap().0).sum();
    assert_eq!(sums, data.iter().sum::<i64>());
    let shares: f64 = outcomes.iter().map(|o| o.unwrap().1).sum();
    assert!((shares - 1.0).abs() < 1e-9, "shares add up to {shares}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    watchdog();
    let board = board();
    let b = {
        let board = Arc::clone(&board);
        Arc::new(Barrier::with_action(WORKERS, move || merge(&board)))
    };

    println!("job 1: 1..=400");
    let data: Vec<i64> = (1..=400).collect();
    let outcomes = job(&b, &board, &data).await;
    check_clean(&outcomes, &data);
    assert_eq!(board.merges.load(SeqCst), 1);
    assert!(!b.is_broken());

    println!("job 2: the same data, with one bad value in chunk 2");
    *board.total.lock().await = None;
    let mut data2 = data.clone();
    data2[250] = -1;
    let outcomes = job(&b, &board, &data2).await;
    assert!(
        outcomes.iter().all(|o| *o == Err(BrokenBarrier)),
        "{outcomes:?}"
    );
    assert!(b.is_broken());
    assert_eq!(b.n_waiting(), 0);
    assert_eq!(board.merges.load(SeqCst), 1, "no merge in a broken job");
    // A late arrival is refused at once too, until the barrier is reset.
    assert_eq!(b.wait().await, Err(BrokenBarrier));
    println!("  [main]     every worker saw the broken barrier; reset()");
    b.reset();
    assert!(!b.is_broken());

    println!("job 3: 1..=400 again, on the reset barrier");
    board.partial.lock().await.fill(None);
    *board.total.lock().await = None;
    let outcomes = job(&b, &board, &data).await;
    check_clean(&outcomes, &data);
    assert_eq!(board.merges.load(SeqCst), 2);
    assert_eq!(b.waiters().total(), 0);
    println!("all checks passed");
}

/// Ends the process if the example hangs.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(10));
        eprintln!("barrier_phases: still running after 10 s (a lost wake-up?)");
        std::process::exit(1);
    });
}
