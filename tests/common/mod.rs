//! Helpers shared by the integration tests: the deadlines, a thread joiner
//! and async wrappers that turn a hang into a test failure, and a few timing
//! and bookkeeping checks.
//!
//! Every test binary compiles its own copy (`mod common;`) and uses only part
//! of it, hence the `dead_code` allowance.

#![allow(dead_code)]

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use amphi::{AcquireTimeoutError, Lock, LockGuard};

pub mod child;
use tokio_test::assert_pending;
use tokio_test::task::{self, Spawn};

/// How long anything may take before the test counts it as a hang.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// The time limit used by the "times out" tests.
pub const SHORT: Duration = Duration::from_millis(50);
/// A generous bound on how late a timed wait may return (loaded CI boxes).
pub const SLACK: Duration = Duration::from_secs(3);

/// [`DEADLINE`] from now.
pub fn deadline() -> Instant {
    Instant::now() + DEADLINE
}

// ---------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------

/// A thread whose result is collected with a deadline.
pub struct Joiner<T> {
    rx: mpsc::Receiver<thread::Result<T>>,
    done: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

/// Runs `f` on a new thread; collect its result with [`Joiner::join`].
pub fn spawn_thread<T, F>(f: F) -> Joiner<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let done = Arc::new(AtomicBool::new(false));
    let d = Arc::clone(&done);
    let handle = thread::spawn(move || {
        let r = panic::catch_unwind(AssertUnwindSafe(f));
        d.store(true, Ordering::SeqCst);
        let _ = tx.send(r);
    });
    Joiner {
        rx,
        done,
        handle: Some(handle),
    }
}

impl<T> Joiner<T> {
    /// The thread's result; panics if it does not come within [`DEADLINE`],
    /// and re-raises the thread's panic.
    #[track_caller]
    pub fn join(self) -> T {
        self.join_within(DEADLINE)
    }

    /// [`Joiner::join`] with another limit.
    #[track_caller]
    pub fn join_within(self, limit: Duration) -> T {
        match self.join_timeout(limit) {
            Some(v) => v,
            None => panic!("thread did not finish within {limit:?} (lost wake-up?)"),
        }
    }

    /// The thread's result if it comes within `limit`, `None` if it does not;
    /// re-raises the thread's panic.
    pub fn join_timeout(mut self, limit: Duration) -> Option<T> {
        self.outcome(limit).map(unwind)
    }

    /// The thread's outcome (`Err` = it panicked), within [`DEADLINE`].
    #[track_caller]
    pub fn join_outcome(mut self) -> thread::Result<T> {
        self.outcome(DEADLINE)
            .unwrap_or_else(|| panic!("thread did not finish within {DEADLINE:?}"))
    }

    /// The result if the thread is done, without waiting; re-raises the
    /// thread's panic.
    pub fn try_join(&mut self) -> Option<T> {
        match self.rx.try_recv() {
            Ok(r) => Some(unwind(self.finish(r))),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => panic!("the thread ended without a result"),
        }
    }

    /// Whether the thread has finished.
    pub fn finished(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }

    fn outcome(&mut self, limit: Duration) -> Option<thread::Result<T>> {
        match self.rx.recv_timeout(limit) {
            Ok(r) => Some(self.finish(r)),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("the thread ended without a result"),
        }
    }

    /// Joins the thread, which has sent its outcome and is about to end.
    fn finish(&mut self, r: thread::Result<T>) -> thread::Result<T> {
        if let Some(handle) = self.handle.take() {
            handle.join().expect("the thread panicked after its result");
        }
        r
    }
}

impl<T: Send + 'static> Joiner<T> {
    /// [`Joiner::join`] from async code, on a blocking thread, so that no
    /// runtime worker is stalled.
    pub async fn join_async(self) -> T {
        match tokio::task::spawn_blocking(move || self.join()).await {
            Ok(v) => v,
            Err(e) => panic::resume_unwind(e.into_panic()),
        }
    }
}

fn unwind<T>(r: thread::Result<T>) -> T {
    r.unwrap_or_else(|p| panic::resume_unwind(p))
}

/// Joins plain threads from async code without blocking a worker.
pub async fn join_threads<T: Send + 'static>(joiners: Vec<Joiner<T>>) -> Vec<T> {
    join_threads_within(DEADLINE, joiners).await
}

/// [`join_threads`] with another limit, for each thread and for them all.
pub async fn join_threads_within<T: Send + 'static>(
    limit: Duration,
    joiners: Vec<Joiner<T>>,
) -> Vec<T> {
    let joined = tokio::task::spawn_blocking(move || {
        joiners.into_iter().map(|j| j.join_within(limit)).collect()
    });
    match within_for(limit, joined).await {
        Ok(v) => v,
        Err(e) => panic::resume_unwind(e.into_panic()),
    }
}

/// Gives a just-started thread time to reach its blocking wait. amphi has no
/// public "someone waits" probe, so there is no state to poll; every test
/// that uses this stays correct (only less interesting) if the thread is late.
pub fn let_thread_block() {
    thread::sleep(Duration::from_millis(50));
}

/// Waits (with the deadline) until `f` holds.
#[track_caller]
pub fn wait_until(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------
// Async
// ---------------------------------------------------------------------------

/// Awaits `f`, failing the test if it takes longer than [`DEADLINE`].
pub async fn within<F: Future>(f: F) -> F::Output {
    within_for(DEADLINE, f).await
}

/// [`within`] with another limit.
pub async fn within_for<F: Future>(limit: Duration, f: F) -> F::Output {
    match tokio::time::timeout(limit, f).await {
        Ok(v) => v,
        Err(_) => panic!("did not finish within {limit:?} (lost wake-up?)"),
    }
}

/// `f` in a mock task, polled once: it must be pending (waiting) after that.
#[track_caller]
pub fn spawn_pending<F>(f: F) -> Spawn<F>
where
    F: Future,
    F::Output: std::fmt::Debug,
{
    let mut t = task::spawn(f);
    assert_pending!(t.poll());
    t
}

/// Makes `waiter`, a future that locks the free `lock`, reserve it: it waits
/// past the fairness threshold, is woken by an unlock, and loses the lock to
/// a barger before it runs. Returns it (pending, holding the reservation) and
/// the barger's guard.
#[track_caller]
pub fn barged_waiter<F>(lock: &Lock<()>, waiter: F) -> (Spawn<F>, LockGuard<'_, ()>)
where
    F: Future,
    F::Output: std::fmt::Debug,
{
    let holder = lock.try_lock().expect("the lock is free");
    let mut a = spawn_pending(waiter);
    // Let A's wait grow past the fairness threshold (measured with `Instant`:
    // real time, not a synchronization; nothing else runs).
    thread::sleep(Duration::from_millis(3));
    drop(holder);
    assert!(a.is_woken());
    // A barger takes the lock before A runs: allowed, A has not reserved.
    let barger = lock
        .try_lock()
        .expect("barging is allowed before a reservation");
    // A runs, loses, and (barged for over a millisecond) reserves.
    assert_pending!(a.poll());
    (a, barger)
}

/// Joins a tokio task with the [`DEADLINE`].
pub async fn join_task<T>(task: tokio::task::JoinHandle<T>) -> T {
    within(task).await.expect("task panicked")
}

/// A current-thread runtime with time and I/O enabled.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A multi-thread runtime with `workers` workers, time and I/O enabled.
pub fn multi_thread_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// A timed wait that started at `start` returned after `timeout`, and not
/// far past it.
#[track_caller]
pub fn assert_elapsed_about(start: Instant, timeout: Duration) {
    let elapsed = start.elapsed();
    assert!(
        elapsed >= timeout,
        "returned after {elapsed:?}, before the timeout {timeout:?}"
    );
    assert!(
        elapsed < timeout + SLACK,
        "returned after {elapsed:?}, far past the timeout {timeout:?}"
    );
}

/// The outcome of a timed acquire: `Option<guard>` for locks (`None`: the
/// time ran out), `Result<permit, AcquireTimeoutError>` for semaphores
/// (`Err(TimedOut)`: the time ran out; `Err(Closed)` is not a timeout).
pub trait TimedAcquire {
    /// Whether the wait gave up because the time ran out.
    fn timed_out(&self) -> bool;
}

impl<T> TimedAcquire for Option<T> {
    fn timed_out(&self) -> bool {
        self.is_none()
    }
}

impl<T> TimedAcquire for Result<T, AcquireTimeoutError> {
    fn timed_out(&self) -> bool {
        matches!(self, Err(AcquireTimeoutError::TimedOut))
    }
}

/// Runs `wait`, a timed wait given its start time, and checks that it gives
/// up (it timed out) after about `timeout`.
#[track_caller]
pub fn assert_times_out<R: TimedAcquire>(timeout: Duration, wait: impl FnOnce(Instant) -> R) {
    let start = Instant::now();
    assert!(wait(start).timed_out(), "a timed wait did not time out");
    assert_elapsed_about(start, timeout);
}

/// [`assert_times_out`] for an async timed wait.
pub async fn assert_times_out_async<R, F>(timeout: Duration, wait: impl FnOnce(Instant) -> F)
where
    R: TimedAcquire,
    F: Future<Output = R>,
{
    let start = Instant::now();
    assert!(
        wait(start).await.timed_out(),
        "a timed wait did not time out"
    );
    assert_elapsed_about(start, timeout);
}

/// The message of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// Counts the holders of `k` permits; fails if more than `k` hold at once.
pub struct Holders {
    now: AtomicUsize,
    max: AtomicUsize,
    k: usize,
}

impl Holders {
    pub fn new(k: usize) -> Arc<Self> {
        Arc::new(Holders {
            now: AtomicUsize::new(0),
            max: AtomicUsize::new(0),
            k,
        })
    }

    pub fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(n <= self.k, "{n} holders of {} permits", self.k);
        self.max.fetch_max(n, Ordering::SeqCst);
    }

    pub fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    /// Holds a permit (counted) across a `thread::yield_now`.
    pub fn hold_yielding(&self) {
        self.enter();
        thread::yield_now();
        self.leave();
    }

    /// Holds a permit (counted) across a `tokio::task::yield_now`.
    pub async fn hold_yielding_async(&self) {
        self.enter();
        tokio::task::yield_now().await;
        self.leave();
    }

    /// The most holders seen at once.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------
// Randomness for the storms
// ---------------------------------------------------------------------------

/// A small xorshift generator: the storms need variety, not quality.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn micros(&mut self, max: u64) -> Duration {
        Duration::from_micros(self.below(max))
    }
    pub fn millis(&mut self, max: u64) -> Duration {
        Duration::from_micros(self.below(max * 1000))
    }
}

// ---------------------------------------------------------------------------
// A priority item whose `Ord` panics on demand
// ---------------------------------------------------------------------------

/// Compares as its number, but the next comparison after its test arms the
/// flag (its own static, so tests running in parallel do not meet) panics.
#[derive(Debug)]
pub struct Touchy(pub i64, pub &'static AtomicBool);

impl Touchy {
    /// Makes the next comparison of any item sharing `flag` panic.
    pub fn arm(flag: &AtomicBool) {
        flag.store(true, Ordering::SeqCst);
    }
}

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Touchy {}

impl PartialOrd for Touchy {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Touchy {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self.1.swap(false, Ordering::SeqCst) {
            panic!("touchy");
        }
        self.0.cmp(&other.0)
    }
}

// ---------------------------------------------------------------------------
// The executor's tests
// ---------------------------------------------------------------------------

/// A gate that jobs wait at (with the deadline, so a bug fails instead of
/// hanging): `open` lets them all through.
#[derive(Clone)]
pub struct Gate(Arc<amphi::Event>);

impl Gate {
    pub fn new() -> Self {
        Gate(Arc::new(amphi::Event::new()))
    }
    pub fn pass(&self) {
        assert!(self.0.wait().wait_timeout(DEADLINE), "gate never opened");
    }
    pub fn open(&self) {
        self.0.set();
    }
}

/// Submits a job that waits at `gate`, and waits until a worker runs it.
#[track_caller]
pub fn block_worker(pool: &amphi::ThreadPoolExecutor, gate: &Gate) -> amphi::JobHandle<()> {
    let g = gate.clone();
    let started = Arc::new(amphi::Event::new());
    let s = Arc::clone(&started);
    let h = pool
        .try_submit(move || {
            s.set();
            g.pass();
        })
        .unwrap();
    assert!(
        started.wait().wait_timeout(DEADLINE),
        "the job never started"
    );
    h
}
