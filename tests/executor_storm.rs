//! Randomized cancellation storms on the ThreadPoolExecutor: threads and
//! tasks submit jobs in every form (try, timed, blocking, awaited, polled
//! once and dropped) to a small bounded pool, then drop, cancel, await with
//! random timeouts, block with random timeouts, add callbacks, and watch
//! them with `wait` and `as_completed`; some `map`s are left early. At the
//! end every job accepted either ran exactly once or was cancelled (its
//! handle says so), no refused job ran, every closure was dropped exactly
//! once (nothing leaked, nothing dropped twice), every callback ran once,
//! and the pool's counts agree with all of that.

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use amphi::{
    JobError, JobHandle, ReturnWhen, SubmitTimeoutError, ThreadPoolExecutor, TrySubmitError,
};
use common::*;

fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let waker = futures::task::noop_waker();
    Pin::new(fut).poll(&mut Context::from_waker(&waker))
}

#[derive(Default)]
struct Ledger {
    created: AtomicUsize,
    dropped: AtomicUsize,
    /// id -> how many times the job ran.
    ran: Mutex<HashMap<u64, usize>>,
    panicked: AtomicUsize,
    /// Accepted jobs, with a handle clone kept for the final check.
    accepted: Mutex<Vec<(u64, JobHandle<()>)>>,
    refused: Mutex<Vec<u64>>,
    callbacks_added: AtomicUsize,
    callbacks_run: AtomicUsize,
    map_items: AtomicUsize,
}

/// Captured by every job closure: counts its drop.
struct Token(Arc<Ledger>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

fn job(ledger: &Arc<Ledger>, id: u64, rng: &mut Rng) -> impl FnOnce() + Send + 'static {
    ledger.created.fetch_add(1, Ordering::SeqCst);
    let token = Token(Arc::clone(ledger));
    let work = rng.micros(300);
    let panics = rng.below(10) == 0;
    move || {
        let t = &token;
        *t.0.ran.lock().unwrap().entry(id).or_default() += 1;
        std::thread::sleep(work);
        if panics {
            t.0.panicked.fetch_add(1, Ordering::SeqCst);
            panic!("storm job {id} panics");
        }
    }
}

/// Something random done with an accepted handle, from a thread.
fn handle_from_thread(ledger: &Arc<Ledger>, h: JobHandle<()>, rng: &mut Rng) {
    match rng.below(7) {
        0 => drop(h),
        1 => {
            h.cancel();
        }
        2 => {
            let _ = h.result().wait_timeout(rng.micros(500));
        }
        3 => {
            let mut fut = h.result();
            let _ = poll_once(&mut fut);
        }
        4 => {
            ledger.callbacks_added.fetch_add(1, Ordering::SeqCst);
            let l = Arc::clone(ledger);
            h.add_done_callback(move |h| {
                assert!(h.done());
                l.callbacks_run.fetch_add(1, Ordering::SeqCst);
                if l.callbacks_run.load(Ordering::SeqCst).is_multiple_of(5) {
                    panic!("a storm callback panics");
                }
            });
        }
        5 => {
            let other = h.clone();
            let when = [
                ReturnWhen::FirstCompleted,
                ReturnWhen::FirstException,
                ReturnWhen::AllCompleted,
            ][rng.below(3) as usize];
            let w = amphi::wait([h, other], when).wait_timeout(rng.micros(400));
            assert_eq!(w.done.len() + w.not_done.len(), 2);
        }
        _ => {
            let n = amphi::as_completed([h])
                .timeout(rng.micros(400))
                .filter(Result::is_ok)
                .count();
            assert!(n <= 1);
        }
    }
}

/// Something random done with an accepted handle, from a task.
async fn handle_from_task(h: JobHandle<()>, rng: &mut Rng) {
    match rng.below(6) {
        0 => drop(h),
        1 => {
            h.cancel();
        }
        2 => {
            let _ = h.result().timeout(rng.micros(500)).await;
        }
        3 => {
            let _ = tokio::time::timeout(rng.micros(500), h).await;
        }
        4 => {
            let w = amphi::wait([h], ReturnWhen::FirstCompleted)
                .timeout(rng.micros(400))
                .await;
            assert_eq!(w.done.len() + w.not_done.len(), 1);
        }
        _ => {
            use futures::StreamExt;
            let mut s = amphi::as_completed([h]).timeout(rng.micros(400)).stream();
            let _ = s.next().await;
        }
    }
}

fn accept(ledger: &Ledger, id: u64, h: &JobHandle<()>) {
    ledger.accepted.lock().unwrap().push((id, h.clone()));
}

fn refuse(ledger: &Ledger, id: u64) {
    ledger.refused.lock().unwrap().push(id);
}

fn thread_storm(pool: &ThreadPoolExecutor, ledger: &Arc<Ledger>, seed: u64, rounds: u64) {
    let mut rng = Rng::new(seed);
    for r in 0..rounds {
        let id = seed * 1_000_000 + r;
        let f = job(ledger, id, &mut rng);
        let accepted = match rng.below(4) {
            0 => match pool.try_submit(f) {
                Ok(h) => Some(h),
                Err(TrySubmitError::Full(f) | TrySubmitError::ShutDown(f)) => {
                    drop(f);
                    None
                }
                Err(e) => panic!("{e:?}"),
            },
            1 => match pool.submit(f).wait_timeout(rng.micros(300)) {
                Ok(h) => Some(h),
                Err(SubmitTimeoutError::TimedOut(f) | SubmitTimeoutError::ShutDown(f)) => {
                    drop(f);
                    None
                }
                Err(e) => panic!("{e:?}"),
            },
            2 => {
                let mut fut = pool.submit(f);
                match poll_once(&mut fut) {
                    Poll::Ready(Ok(h)) => Some(h),
                    Poll::Ready(Err(_)) => None,
                    // Dropped pending: never queued; or take it back.
                    Poll::Pending if rng.below(2) == 0 => {
                        assert!(fut.into_closure().is_some());
                        None
                    }
                    Poll::Pending => None,
                }
            }
            _ => match pool.submit(f).wait_timeout(DEADLINE) {
                Ok(h) => Some(h),
                Err(SubmitTimeoutError::ShutDown(_)) => None,
                Err(e) => panic!("a submit with the deadline failed: {e:?}"),
            },
        };
        match accepted {
            Some(h) => {
                accept(ledger, id, &h);
                handle_from_thread(ledger, h, &mut rng);
            }
            None => refuse(ledger, id),
        }
        if r % 50 == 7 {
            let n = rng.below(20) as usize;
            let l = Arc::clone(ledger);
            let m = pool
                .map_buffered(
                    move |x: usize| {
                        l.map_items.fetch_add(1, Ordering::SeqCst);
                        x
                    },
                    0..n,
                    1 + rng.below(4) as usize,
                )
                .timeout(rng.micros(2000));
            let take = rng.below(n as u64 + 1) as usize;
            for (i, out) in m.take(take).enumerate() {
                if let Ok(x) = out {
                    assert_eq!(x, i, "map keeps input order");
                }
            }
        }
    }
}

async fn task_storm(pool: Arc<ThreadPoolExecutor>, ledger: Arc<Ledger>, seed: u64, rounds: u64) {
    let mut rng = Rng::new(seed);
    for r in 0..rounds {
        let id = seed * 1_000_000 + r;
        let f = job(&ledger, id, &mut rng);
        let accepted = match rng.below(4) {
            0 => pool.try_submit(f).ok(),
            1 => pool.submit(f).timeout(rng.micros(300)).await.ok(),
            2 => tokio::time::timeout(rng.micros(300), pool.submit(f))
                .await
                .ok()
                .and_then(Result::ok),
            _ => match within(pool.submit(f)).await {
                Ok(h) => Some(h),
                Err(e) => {
                    assert!(pool.is_shutdown(), "{e:?}");
                    None
                }
            },
        };
        match accepted {
            Some(h) => {
                accept(&ledger, id, &h);
                handle_from_task(h, &mut rng).await;
            }
            None => refuse(&ledger, id),
        }
        if r % 50 == 11 {
            use futures::StreamExt;
            let n = rng.below(20) as usize;
            let l = Arc::clone(&ledger);
            let mut s = pool
                .map_buffered(
                    move |x: usize| {
                        l.map_items.fetch_add(1, Ordering::SeqCst);
                        x
                    },
                    0..n,
                    1 + rng.below(4) as usize,
                )
                .timeout(rng.micros(2000))
                .stream();
            let take = rng.below(n as u64 + 1) as usize;
            let mut i = 0;
            while i < take {
                match s.next().await {
                    Some(Ok(x)) => assert_eq!(x, i),
                    Some(Err(_)) | None => break,
                }
                i += 1;
            }
        }
    }
}

fn storm(seed: u64, shutdown_midway: bool) {
    const ROUNDS: u64 = 500;
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(3)
            .queue_bound(6)
            .build()
            .unwrap(),
    );
    let ledger = Arc::new(Ledger::default());
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let (p, l) = (pool.clone(), ledger.clone());
            spawn_thread(move || thread_storm(&p, &l, seed * 10 + t, ROUNDS))
        })
        .collect();
    let rt = multi_thread_runtime(2);
    rt.block_on(async {
        let tasks: Vec<_> = (0..3)
            .map(|t| {
                tokio::spawn(task_storm(
                    pool.clone(),
                    ledger.clone(),
                    seed * 10 + 5 + t,
                    ROUNDS,
                ))
            })
            .collect();
        if shutdown_midway {
            tokio::time::sleep(Duration::from_millis(30)).await;
            drop(pool.shutdown(true));
        }
        for t in tasks {
            within_for(Duration::from_secs(60), t).await.unwrap();
        }
    });
    for t in threads {
        t.join_within(Duration::from_secs(60));
    }
    assert!(pool.shutdown(false).wait_timeout(DEADLINE), "workers exit");

    let accepted = ledger.accepted.lock().unwrap();
    let ran = ledger.ran.lock().unwrap();
    let mut cancelled = 0;
    for (id, h) in accepted.iter() {
        assert!(h.done(), "job {id} is not done after the shutdown joined");
        let runs = ran.get(id).copied().unwrap_or(0);
        if h.cancelled() {
            cancelled += 1;
            assert_eq!(runs, 0, "cancelled job {id} ran");
            assert!(matches!(h.try_result(), Some(Err(JobError::Cancelled))));
        } else {
            assert_eq!(runs, 1, "job {id} ran {runs} times");
        }
    }
    for id in ledger.refused.lock().unwrap().iter() {
        assert!(!ran.contains_key(id), "refused job {id} ran");
    }
    let created = ledger.created.load(Ordering::SeqCst);
    assert_eq!(created as u64, 6 * ROUNDS);
    assert_eq!(
        accepted.len() + ledger.refused.lock().unwrap().len(),
        created
    );
    // Every closure was dropped exactly once: run or not, none leaked.
    drop(accepted);
    assert_eq!(ledger.dropped.load(Ordering::SeqCst), created);
    assert_eq!(
        ledger.callbacks_run.load(Ordering::SeqCst),
        ledger.callbacks_added.load(Ordering::SeqCst)
    );
    let s = pool.stats();
    let map_runs = ledger.map_items.load(Ordering::SeqCst);
    let job_runs: usize = ran.values().sum();
    assert_eq!(s.queued, 0);
    assert_eq!(s.running, 0);
    assert_eq!(s.threads, 0);
    assert_eq!(s.completed, job_runs + map_runs);
    assert_eq!(s.panicked, ledger.panicked.load(Ordering::SeqCst));
    assert!(s.cancelled >= cancelled, "map cancels count too");
    assert_eq!(
        s.callback_panics,
        ledger.callbacks_run.load(Ordering::SeqCst) / 5
    );
    // The storm reached every outcome.
    let refused = ledger.refused.lock().unwrap().len();
    eprintln!(
        "seed {seed}: {job_runs} ran, {cancelled} cancelled, {refused} refused, {} panicked, {map_runs} map items",
        s.panicked
    );
    assert!(job_runs > 0 && cancelled > 0 && refused > 0 && s.panicked > 0);
}

/// The jobs' and callbacks' panics are expected: keep them off the output.
fn quiet_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = panic_message(info.payload());
        if !msg.starts_with("storm job") && !msg.starts_with("a storm callback") {
            default(info);
        }
    }));
}

#[test]
fn executor_storm() {
    quiet_panics();
    for seed in 1..=3 {
        storm(seed, false);
    }
}

#[test]
fn executor_storm_with_shutdown_midway() {
    quiet_panics();
    for seed in 11..=13 {
        storm(seed, true);
    }
}
