//! Ports of CPython 3.13's `Lib/test/test_concurrent_futures/` to amphi's
//! [`ThreadPoolExecutor`], as far as they apply to a thread pool:
//! `executor.py` (`ExecutorTest`), `test_thread_pool.py`,
//! `test_shutdown.py`, `test_wait.py`, `test_as_completed.py`,
//! `test_future.py`, `test_init.py` and thread-pool analogs of
//! `test_deadlock.py`. Each test is named after the Python test it ports,
//! prefixed with its file (`thread_pool_idle_thread_reuse` for
//! `test_thread_pool.py`'s `test_idle_thread_reuse`); `_async`, `_stream`,
//! `_task` and `_mixed` suffixes are the same test with tokio tasks.
//!
//! How Python maps to amphi here:
//!
//! * a raised exception is an `Err`: a job that returns `Err` from
//!   `submit_fallible` (what `ReturnWhen::FirstException` looks for), or a
//!   job that panics (`JobError::Panicked`). `ZeroDivisionError` is Rust's
//!   own "attempt to divide by zero" panic, or a checked division's `Err`.
//! * `time.sleep` used to keep a job busy becomes a job held by an amphi
//!   [`Event`] (a [`Gate`]) that the test opens; sleeps stay only where the
//!   sleeping is the work itself.
//! * `util.py`'s futures in fixed states (`PENDING_FUTURE`,
//!   `RUNNING_FUTURE`, ...) cannot be made by hand in amphi (a handle comes
//!   only from a submission), so [`Fixtures`] makes each state with real
//!   jobs on a one-worker pool.
//! * `executor._threads` (and `t.join()` on them) is not exposed: the port
//!   counts threads with `stats().threads` and sees them exit through a
//!   thread-local's destructor ([`counted_pool`]).
//! * `with executor:` is `shutdown(false).wait_timeout(..)` (or `.await`);
//!   dropping an executor shuts it down *without* waiting (documented).
//!
//! Where amphi differs from Python on purpose (documented), the test checks
//! amphi's behaviour and says so in a comment: `map` submits at most
//! `buffersize` items ahead (default 2 × `max_workers`, not all at once) and
//! goes on after a job's panic; a job's result is handed out once (other
//! clones get `JobError::Taken`); a cancelled job is done at once (no
//! "CANCELLED, not yet notified" state, so `wait` and `as_completed` see it
//! done); two clones of one job given to `wait`/`as_completed` are two
//! handles (Python's sets hold a future once); dropping the executor does
//! not wait; a shutdown waited on from one of the pool's own jobs returns at
//! once (Python raises `RuntimeError: cannot join current thread`).
//!
//! Not ported, because they cannot apply to Rust or to a thread pool:
//!
//! * `test_process_pool.py`, and every `ProcessPool*` variant.
//! * `test_deadlock.py`'s pickling and process-crash tests
//!   (`test_error_at_task_pickle`, `test_exit_at_task_unpickle`,
//!   `test_error_at_task_unpickle`, `test_crash_at_task_unpickle`,
//!   `test_crash_during_func_exec_on_worker`,
//!   `test_exit_during_func_exec_on_worker`,
//!   `test_crash_during_result_pickle_on_worker`,
//!   `test_exit_during_result_pickle_on_worker`,
//!   `test_error_during_result_pickle_on_worker`,
//!   `test_error_during_result_unpickle_in_result_handler`,
//!   `test_exit_during_result_unpickle_in_result_handler`,
//!   `test_shutdown_deadlock_pickle`): nothing is pickled, and there is no
//!   worker process to crash (a segfault or `process::exit` in a job ends
//!   the whole process). `test_error_during_func_exec_on_worker`,
//!   `test_shutdown_deadlock`, `test_crash_big_data` and
//!   `test_gh105829_should_not_deadlock_if_wakeup_pipe_full` are ported as
//!   thread-pool analogs (a panicking job for a crash, a bounded job queue
//!   for a full pipe).
//! * `test_shutdown.py`'s `test_interpreter_shutdown` and
//!   `test_submit_after_interpreter_shutdown` (atexit hooks and interpreter
//!   exit: a Rust process does not wait for worker threads at exit, as
//!   documented); of `test_hang_gh83386` and `test_cancel_futures_wait_false`
//!   only the in-process part is ported (the child-process exit is the same
//!   non-topic).
//! * `test_thread_pool.py`'s `test_hang_global_shutdown_lock`: its fork and
//!   `ProcessPoolExecutor` part; the job that resubmits itself to its own
//!   pool during a shutdown is ported.
//! * `test_future.py`'s `test_multiple_set_result` and
//!   `test_multiple_set_exception`: amphi has no user-completable future
//!   (only the job sets its outcome, once), so `InvalidStateError` cannot
//!   arise. `test_done_callback_raises`'s stderr check (amphi reports a
//!   panicking callback on stderr; the port checks
//!   `stats().callback_panics` instead). `test_repr`'s result type names.
//! * `test_init.py`'s `FailingInitializerResourcesTest` (the process pool's
//!   resource tracker) and its logging checks (amphi puts the initializer's
//!   error in `JobError::BrokenPool` instead of logging it).
//! * Things Rust rules out at compile time: keyword arguments and the
//!   `TypeError`s of `test_submit_keyword`, `max_workers=-1`, `map`'s
//!   `chunksize` (ignored by Python's thread pool anyway), and
//!   `sys.setswitchinterval` in `test_pending_calls_race` (no GIL).
//!
//! Garbage-collection tests (`test_no_stale_references`,
//! `test_free_reference`, `test_free_reference_yielded_future`) are ported
//! with `Weak` and drop flags: in Rust they check that amphi drops a job's
//! closure and result as soon as nobody can use them.

mod common;

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use amphi::{
    Barrier, BuildError, Event, ExecutorBuilder, JobError, JobHandle, MapError, ReturnWhen,
    Semaphore, SubmitError, SubmitTimeoutError, ThreadPoolExecutor, TrySubmitError, as_completed,
    wait,
};
use common::*;
use futures::{FutureExt, StreamExt};
use tokio_test::{assert_pending, assert_ready, task};

/// `ExecutorMixin.worker_count`.
const WORKER_COUNT: usize = 5;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// `ExecutorMixin.setUp`: a pool of [`WORKER_COUNT`] workers.
fn executor() -> ThreadPoolExecutor {
    ThreadPoolExecutor::new(WORKER_COUNT)
}

/// `shutdown(wait=True)`, with the deadline.
#[track_caller]
fn shutdown_wait(pool: &ThreadPoolExecutor) {
    assert!(
        pool.shutdown(false).wait_timeout(DEADLINE),
        "the workers did not exit within {DEADLINE:?}"
    );
}

/// `shutdown(wait=True)` from a task, with the deadline.
async fn shutdown_wait_async(pool: &ThreadPoolExecutor) {
    assert!(
        pool.shutdown(false).timeout(DEADLINE).await,
        "the workers did not exit within {DEADLINE:?}"
    );
}

/// `future.result()`, with the deadline.
#[track_caller]
fn result<T>(h: &JobHandle<T>) -> Result<T, JobError> {
    h.result()
        .wait_timeout(DEADLINE)
        .unwrap_or_else(|| panic!("the job did not finish within {DEADLINE:?}"))
}

/// `future.result()` from a task, with the deadline.
async fn result_async<T>(h: &JobHandle<T>) -> Result<T, JobError> {
    h.result()
        .timeout(DEADLINE)
        .await
        .unwrap_or_else(|| panic!("the job did not finish within {DEADLINE:?}"))
}

/// Waits until the job is done, with the deadline.
#[track_caller]
fn finished<T>(h: &JobHandle<T>) {
    assert!(
        h.finished().wait_timeout(DEADLINE),
        "the job did not finish within {DEADLINE:?}"
    );
}

/// `executor.submit(f)` on a pool with no queue bound: never waits, so it
/// works on both sides.
#[track_caller]
fn submit<F, T>(pool: &ThreadPoolExecutor, f: F) -> JobHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    pool.try_submit(f)
        .unwrap_or_else(|e| panic!("the submission was refused: {e}"))
}

/// `submit_fallible` on a pool with no queue bound: ready at its first
/// poll, so it needs no runtime and blocks nobody.
#[track_caller]
fn submit_fallible<F, U, E>(pool: &ThreadPoolExecutor, f: F) -> JobHandle<Result<U, E>>
where
    F: FnOnce() -> Result<U, E> + Send + 'static,
    U: Send + 'static,
    E: Send + 'static,
{
    match pool.submit_fallible(f).now_or_never() {
        Some(Ok(h)) => h,
        Some(Err(e)) => panic!("the submission was refused: {e}"),
        None => panic!("a submission to an unbounded pool waited"),
    }
}

fn mul(x: i32, y: i32) -> i32 {
    x * y
}

/// Python's `divmod`, raising `ZeroDivisionError` as Rust's own panic.
fn divmod(a: i32, b: i32) -> (i32, i32) {
    (a / b, a % b)
}

/// `divmod` for fallible jobs: the `ZeroDivisionError` as an `Err`.
fn checked_div(a: i32, b: i32) -> Result<i32, String> {
    a.checked_div(b)
        .ok_or_else(|| "ZeroDivisionError: integer division or modulo by zero".to_owned())
}

/// Holds jobs until it is opened (an amphi [`Event`]); opened on drop, so a
/// failing assertion never leaves a worker held (each hold also gives up at
/// the deadline).
struct Gate(Arc<Event>);

impl Gate {
    fn new() -> Self {
        Gate(Arc::new(Event::new()))
    }

    /// What a job holds on to.
    fn key(&self) -> Arc<Event> {
        Arc::clone(&self.0)
    }

    fn open(&self) {
        self.0.set();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// In a job: waits until the gate opens (with the deadline).
fn hold(key: &Event) -> bool {
    key.wait().wait_timeout(DEADLINE)
}

/// Sets an event when dropped: what `weakref.ref(obj, callback)` tells.
struct DropFlag(Arc<Event>);

impl DropFlag {
    fn my_method(&self) {}
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// A value handed from a callback (any thread) to the test, with the
/// "it was called" event.
struct Slot<T> {
    value: Mutex<Option<T>>,
    called: Event,
}

impl<T> Slot<T> {
    fn new() -> Arc<Self> {
        Arc::new(Slot {
            value: Mutex::new(None),
            called: Event::new(),
        })
    }

    fn put(&self, v: T) {
        *self.value.lock().unwrap() = Some(v);
        self.called.set();
    }

    /// The value, if the callback ran already (no waiting).
    fn now(&self) -> Option<T> {
        self.value.lock().unwrap().take()
    }

    /// The value, waiting for the callback (with the deadline).
    #[track_caller]
    fn within_deadline(&self) -> T {
        assert!(
            self.called.wait().wait_timeout(DEADLINE),
            "the callback did not run within {DEADLINE:?}"
        );
        self.now().expect("the callback put a value")
    }
}

/// Checks that `got` holds the same jobs as `want`, in any order (Python
/// compares sets of futures).
#[track_caller]
fn assert_jobs<T>(got: &[JobHandle<T>], want: &[&JobHandle<T>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: got {got:?}, want {want:?}");
    let mut used = vec![false; want.len()];
    for g in got {
        let i = (0..want.len())
            .find(|&i| !used[i] && g.same_job(want[i]))
            .unwrap_or_else(|| panic!("{what}: {g:?} is not one of {want:?}"));
        used[i] = true;
    }
}

/// The outcome type of the fixtures and of the `wait`/`as_completed` tests.
type Out = Result<i32, String>;
type H = JobHandle<Out>;

/// `util.py`'s futures in fixed states, made with real jobs on a
/// one-worker pool (amphi has no hand-made future): `running` holds the
/// worker until the fixture is dropped, so `pending` stays queued.
///
/// `cancelled` and `cancelled_and_notified` are both cancelled handles:
/// amphi has no "cancelled, waiters not yet notified" state (a cancelled
/// job is done at once, documented), so Python's `CANCELLED_FUTURE` and
/// `CANCELLED_AND_NOTIFIED_FUTURE` are the same state here.
struct Fixtures {
    pending: H,
    running: H,
    cancelled: H,
    cancelled_and_notified: H,
    /// `EXCEPTION_FUTURE` (`OSError()`): a fallible job that returned `Err`.
    exception: H,
    /// `SUCCESSFUL_FUTURE` (42).
    successful: H,
    /// Holds `running`; opened (dropped) before the pool.
    _gate: Gate,
    _pool: ThreadPoolExecutor,
}

impl Fixtures {
    /// Blocks (briefly) until the states are reached; from a task use
    /// [`Fixtures::new_async`].
    fn new() -> Self {
        let pool = ThreadPoolExecutor::new(1);
        let successful = submit_fallible(&pool, || Ok(42));
        finished(&successful);
        let exception = submit_fallible(&pool, || Err("OSError".to_owned()));
        finished(&exception);
        let gate = Gate::new();
        let started = Arc::new(Event::new());
        let (key, s) = (gate.key(), Arc::clone(&started));
        let running = submit_fallible(&pool, move || {
            s.set();
            hold(&key);
            Ok(0)
        });
        assert!(started.wait().wait_timeout(DEADLINE), "RUNNING never ran");
        let pending = submit_fallible(&pool, || Ok(1));
        let cancelled = submit_fallible(&pool, || Ok(2));
        assert!(cancelled.cancel());
        let cancelled_and_notified = submit_fallible(&pool, || Ok(3));
        assert!(cancelled_and_notified.cancel());
        Fixtures {
            pending,
            running,
            cancelled,
            cancelled_and_notified,
            exception,
            successful,
            _gate: gate,
            _pool: pool,
        }
    }

    async fn new_async() -> Self {
        join_task(tokio::task::spawn_blocking(Fixtures::new)).await
    }
}

thread_local! {
    /// Set in each worker of a [`counted_pool`]; its drop tells the thread
    /// exited.
    static EXIT_SIGNAL: RefCell<Option<ExitSignal>> = const { RefCell::new(None) };
}

struct ExitSignal(Arc<Semaphore>);

impl Drop for ExitSignal {
    fn drop(&mut self) {
        self.0.release(1);
    }
}

/// A pool whose worker threads each release a permit of the returned
/// semaphore as they exit (a thread-local's destructor): the port of
/// Python's `for t in executor._threads: t.join()`.
fn counted_pool(builder: ExecutorBuilder) -> (ThreadPoolExecutor, Arc<Semaphore>) {
    let exits = Arc::new(Semaphore::new(0));
    let e = Arc::clone(&exits);
    let pool = builder
        .initializer(move || {
            EXIT_SIGNAL.with(|s| *s.borrow_mut() = Some(ExitSignal(Arc::clone(&e))));
        })
        .build()
        .unwrap();
    (pool, exits)
}

/// `for t in threads: t.join()`: `threads` workers exit within the
/// deadline.
#[track_caller]
fn assert_threads_joined(exits: &Semaphore, threads: usize) {
    for i in 0..threads {
        match exits.acquire().wait_timeout(DEADLINE) {
            Ok(permit) => permit.forget(),
            Err(e) => panic!("only {i} of {threads} worker threads exited ({e:?})"),
        }
    }
    assert_eq!(
        exits.available(),
        0,
        "more workers exited than were started"
    );
}

// ---------------------------------------------------------------------------
// executor.py: ExecutorTest
// ---------------------------------------------------------------------------

#[test]
fn executor_submit() {
    let pool = executor();
    let future = submit(&pool, || 2_i64.pow(8));
    assert_eq!(result(&future).unwrap(), 256);
    // The blocking and the timed forms of Python's `submit`.
    let future = pool.submit_blocking(|| 2_i64.pow(8)).unwrap();
    assert_eq!(result(&future).unwrap(), 256);
    let future = pool.submit(|| 2_i64.pow(8)).wait_timeout(DEADLINE).unwrap();
    assert_eq!(result(&future).unwrap(), 256);
    shutdown_wait(&pool);
}

#[tokio::test]
async fn executor_submit_async() {
    let pool = executor();
    let future = within(pool.submit(|| 2_i64.pow(8))).await.unwrap();
    assert_eq!(within(future).await.unwrap(), 256);
    shutdown_wait_async(&pool).await;
}

#[test]
fn executor_submit_keyword() {
    // Keyword arguments are captures of the closure. The `TypeError` cases
    // (no `fn` given) do not compile in Rust.
    let pool = executor();
    let (x, y) = (2, 8);
    let future = submit(&pool, move || mul(x, y));
    assert_eq!(result(&future).unwrap(), 16);
    let future = submit(&pool, || ((1,), [("self", 2), ("fn", 3)]));
    assert_eq!(result(&future).unwrap(), ((1,), [("self", 2), ("fn", 3)]));
    shutdown_wait(&pool);
}

fn pow_pairs() -> impl Iterator<Item = (u64, u32)> {
    (0..10_u64).zip(0..10_u32)
}

#[test]
fn executor_map() {
    let pool = executor();
    let expected: Vec<u64> = pow_pairs().map(|(a, b)| a.pow(b)).collect();
    let got: Vec<u64> = pool
        .map(|(a, b): (u64, u32)| a.pow(b), pow_pairs())
        .timeout(DEADLINE)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, expected);
    // Python's second call passes `chunksize=3`, which its thread pool
    // ignores; amphi has no chunksize. Its window size must not change the
    // results either.
    for n in [1, 3, usize::MAX] {
        let got: Vec<u64> = pool
            .map_buffered(|(a, b): (u64, u32)| a.pow(b), pow_pairs(), n)
            .timeout(DEADLINE)
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, expected, "buffersize {n}");
    }
    shutdown_wait(&pool);
}

#[tokio::test]
async fn executor_map_stream() {
    let pool = executor();
    let expected: Vec<u64> = pow_pairs().map(|(a, b)| a.pow(b)).collect();
    for n in [1, 3, usize::MAX] {
        let got: Vec<u64> = within(
            pool.map_buffered(|(a, b): (u64, u32)| a.pow(b), pow_pairs(), n)
                .stream()
                .map(Result::unwrap)
                .collect::<Vec<_>>(),
        )
        .await;
        assert_eq!(got, expected, "buffersize {n}");
    }
    shutdown_wait_async(&pool).await;
}

#[track_caller]
fn assert_division_panic<T: std::fmt::Debug>(item: Option<Result<T, MapError>>) {
    match item {
        Some(Err(MapError::Job(JobError::Panicked(p)))) => {
            assert!(p.message().contains("divide by zero"), "{p:?}");
        }
        other => panic!("expected the ZeroDivisionError, got {other:?}"),
    }
}

#[test]
fn executor_map_exception() {
    let pool = executor();
    let mut i = pool
        .map(|(a, b)| divmod(a, b), [(1, 2), (1, 3), (1, 0), (1, 5)])
        .timeout(DEADLINE);
    assert_eq!(i.next().unwrap().unwrap(), (0, 1));
    assert_eq!(i.next().unwrap().unwrap(), (0, 1));
    assert_division_panic(i.next());
    // amphi differs on purpose (documented): a job's panic is that item's
    // error and the iteration goes on; Python's generator ends with the
    // exception.
    assert_eq!(i.next().unwrap().unwrap(), (0, 1));
    assert!(i.next().is_none());
    drop(i);
    shutdown_wait(&pool);
}

#[tokio::test]
async fn executor_map_exception_stream() {
    let pool = executor();
    let mut i = pool
        .map(|(a, b)| divmod(a, b), [(1, 2), (1, 3), (1, 0), (1, 5)])
        .stream();
    assert_eq!(within(i.next()).await.unwrap().unwrap(), (0, 1));
    assert_eq!(within(i.next()).await.unwrap().unwrap(), (0, 1));
    assert_division_panic(within(i.next()).await);
    // As in the thread version: the iteration goes on (amphi, documented).
    assert_eq!(within(i.next()).await.unwrap().unwrap(), (0, 1));
    assert!(within(i.next()).await.is_none());
    drop(i);
    shutdown_wait_async(&pool).await;
}

#[test]
fn executor_map_timeout() {
    // `map(time.sleep, [0, 0, 6], timeout=5)`: the third job is held by a
    // gate instead, and the timeout is short.
    let pool = executor();
    let gate = Gate::new();
    let key = gate.key();
    let start = Instant::now();
    let results: Vec<_> = pool
        .map(
            move |slow: bool| {
                if slow {
                    hold(&key);
                }
            },
            [false, false, true],
        )
        .timeout(SHORT)
        .collect();
    assert_elapsed_about(start, SHORT);
    assert_eq!(results.len(), 3, "{results:?}");
    assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
    assert!(matches!(results[2], Err(MapError::TimedOut)), "{results:?}");
    gate.open();
    shutdown_wait(&pool);
}

#[tokio::test]
async fn executor_map_timeout_stream() {
    let pool = executor();
    let gate = Gate::new();
    let key = gate.key();
    let start = Instant::now();
    let results: Vec<_> = within(
        pool.map(
            move |slow: bool| {
                if slow {
                    hold(&key);
                }
            },
            [false, false, true],
        )
        .timeout(SHORT)
        .stream()
        .collect::<Vec<_>>(),
    )
    .await;
    assert_elapsed_about(start, SHORT);
    assert_eq!(results.len(), 3, "{results:?}");
    assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
    assert!(matches!(results[2], Err(MapError::TimedOut)), "{results:?}");
    gate.open();
    shutdown_wait_async(&pool).await;
}

#[test]
fn executor_shutdown_race_issue12456() {
    let pool = executor();
    // Python drops the map's generator unstarted, and its jobs still run.
    // Dropping an amphi `Map` cancels the jobs it has not started, so the
    // map is kept across the shutdown; its window (2 × 5 workers) holds all
    // six items, submitted by the `map` call.
    let results = pool
        .map(|x: i32| x.to_string(), vec![2; WORKER_COUNT + 1])
        .timeout(DEADLINE);
    assert_eq!(results.in_flight(), WORKER_COUNT + 1);
    shutdown_wait(&pool);
    let got: Vec<String> = results.map(Result::unwrap).collect();
    assert_eq!(got, vec!["2"; WORKER_COUNT + 1]);
}

#[test]
fn executor_no_stale_references() {
    // Issue #16284: the executor must not hold on to a job's closure (and
    // what it captured) once the job ran, here with the handle discarded.
    let pool = executor();
    let my_object_collected = Arc::new(Event::new());
    let my_object = DropFlag(Arc::clone(&my_object_collected));
    drop(submit(&pool, move || my_object.my_method()));
    assert!(
        my_object_collected.wait().wait_timeout(DEADLINE),
        "Stale reference not collected within timeout."
    );
    // And with the handle kept: the closure goes when the job ran, not
    // with the handle.
    let collected = Arc::new(Event::new());
    let obj = DropFlag(Arc::clone(&collected));
    let future = submit(&pool, move || obj.my_method());
    finished(&future);
    assert!(
        collected.wait().wait_timeout(DEADLINE),
        "the job's closure outlived the job"
    );
    shutdown_wait(&pool);
}

#[test]
fn executor_max_workers_negative() {
    // `max_workers=-1` cannot be written (`usize`); 0 is refused.
    let err = ThreadPoolExecutor::builder()
        .max_workers(0)
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::ZeroWorkers);
    assert!(err.to_string().contains("at least one worker"), "{err}");
    let panicked = std::panic::catch_unwind(|| ThreadPoolExecutor::new(0)).unwrap_err();
    let message = panic_message(&*panicked);
    assert!(message.contains("at least one worker"), "{message}");
}

struct MyObject;

#[test]
fn executor_free_reference() {
    // Issue #14406: the result iterator must not keep its own reference to
    // a result once it was yielded.
    let pool = executor();
    for obj in pool.map(|_| Arc::new(MyObject), 0..10).timeout(DEADLINE) {
        let obj = obj.unwrap();
        let wr = Arc::downgrade(&obj);
        drop(obj);
        assert!(wr.upgrade().is_none(), "the map kept a result alive");
    }
    shutdown_wait(&pool);
}

// ---------------------------------------------------------------------------
// test_thread_pool.py
// ---------------------------------------------------------------------------

#[test]
fn thread_pool_map_submits_without_iteration() {
    // Issue 11777: the map's jobs run without iterating over it. The map is
    // kept alive (dropping it would cancel what has not started).
    let pool = executor();
    let finished_items = Arc::new(Mutex::new(Vec::new()));
    let f = Arc::clone(&finished_items);
    let m = pool.map(move |n: i32| f.lock().unwrap().push(n), 0..10);
    shutdown_wait(&pool);
    let mut got = finished_items.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    drop(m);
}

#[test]
fn thread_pool_map_submits_without_iteration_window() {
    // amphi differs on purpose (documented): without iteration only
    // `buffersize` items (default 2 × max_workers) are submitted;
    // `map_buffered(.., usize::MAX)` submits every item at once, as Python.
    let count = Arc::new(AtomicUsize::new(0));
    let pool = executor();
    let c = Arc::clone(&count);
    let m = pool.map(
        move |_: i32| {
            c.fetch_add(1, Ordering::SeqCst);
        },
        0..100,
    );
    assert_eq!(m.in_flight(), 2 * WORKER_COUNT);
    shutdown_wait(&pool);
    assert_eq!(count.load(Ordering::SeqCst), 2 * WORKER_COUNT);
    drop(m);

    count.store(0, Ordering::SeqCst);
    let pool = executor();
    let c = Arc::clone(&count);
    let m = pool.map_buffered(
        move |_: i32| {
            c.fetch_add(1, Ordering::SeqCst);
        },
        0..100,
        usize::MAX,
    );
    shutdown_wait(&pool);
    assert_eq!(count.load(Ordering::SeqCst), 100);
    drop(m);
}

#[test]
fn thread_pool_default_workers() {
    let pool = ThreadPoolExecutor::builder().build().unwrap();
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(pool.max_workers(), 32.min(cpus + 4));
    assert_eq!(pool.stats().threads, 0, "no thread before the first job");
}

/// A job that waits for a permit of `sem` (Python's `acquire_lock`).
fn acquire_job(sem: &Arc<Semaphore>) -> impl FnOnce() -> bool + Send + 'static {
    let sem = Arc::clone(sem);
    move || {
        sem.acquire()
            .wait_timeout(DEADLINE)
            .map(|p| p.forget())
            .is_ok()
    }
}

#[test]
fn thread_pool_saturation() {
    let pool = ThreadPoolExecutor::new(4);
    let sem = Arc::new(Semaphore::new(0));
    let n = 15 * pool.max_workers();
    let started = Arc::new(Semaphore::new(0));
    let jobs: Vec<_> = (0..n)
        .map(|_| {
            let (s, job) = (Arc::clone(&started), acquire_job(&sem));
            submit(&pool, move || {
                s.release(1);
                job()
            })
        })
        .collect();
    assert_eq!(pool.stats().threads, pool.max_workers());
    for _ in 0..4 {
        started
            .acquire()
            .wait_timeout(DEADLINE)
            .expect("every worker runs a job")
            .forget();
    }
    assert_eq!(pool.stats().running, 4);
    assert_eq!(pool.stats().queued, n - 4);
    sem.release(n);
    shutdown_wait(&pool);
    for job in &jobs {
        assert!(result(job).unwrap(), "a job timed out on the semaphore");
    }
    assert_eq!(pool.stats().threads, 0);
}

#[tokio::test]
async fn thread_pool_saturation_async() {
    let pool = ThreadPoolExecutor::new(4);
    let sem = Arc::new(Semaphore::new(0));
    let n = 15 * pool.max_workers();
    let mut jobs = Vec::new();
    for _ in 0..n {
        jobs.push(within(pool.submit(acquire_job(&sem))).await.unwrap());
    }
    assert_eq!(pool.stats().threads, pool.max_workers());
    sem.release(n);
    shutdown_wait_async(&pool).await;
    for job in jobs {
        assert!(within(job).await.unwrap());
    }
    assert_eq!(pool.stats().threads, 0);
}

#[test]
fn thread_pool_idle_thread_reuse() {
    let pool = ThreadPoolExecutor::builder().build().unwrap();
    assert_eq!(result(&submit(&pool, || mul(21, 2))).unwrap(), 42);
    assert_eq!(result(&submit(&pool, || mul(6, 7))).unwrap(), 42);
    assert_eq!(result(&submit(&pool, || mul(3, 14))).unwrap(), 42);
    assert_eq!(pool.stats().threads, 1);
    shutdown_wait(&pool);
}

/// The job of `test_hang_global_shutdown_lock`: submits itself again to its
/// own pool, until the pool refuses.
fn resubmit(pool: &Arc<ThreadPoolExecutor>, runs: &Arc<Semaphore>, refused: &Arc<AtomicBool>) {
    runs.release(1);
    let (p, r, f) = (Arc::clone(pool), Arc::clone(runs), Arc::clone(refused));
    match pool.try_submit(move || resubmit(&p, &r, &f)) {
        Ok(job) => drop(job),
        Err(TrySubmitError::ShutDown(_)) => refused.store(true, Ordering::SeqCst),
        Err(e) => panic!("unexpected refusal: {e}"),
    }
}

#[test]
fn thread_pool_hang_global_shutdown_lock() {
    // Only the thread-pool half: a job that keeps resubmitting itself while
    // the pool (leaving Python's `with`) shuts down. The fork and
    // ProcessPoolExecutor half does not apply.
    let pool = Arc::new(ThreadPoolExecutor::new(1));
    let runs = Arc::new(Semaphore::new(0));
    let refused = Arc::new(AtomicBool::new(false));
    resubmit(&pool, &runs, &refused);
    for _ in 0..50 {
        runs.acquire()
            .wait_timeout(DEADLINE)
            .expect("the job kept running")
            .forget();
    }
    shutdown_wait(&pool);
    assert!(
        refused.load(Ordering::SeqCst),
        "the last job was not refused"
    );
    // No queued closure (each holds the pool) is left behind.
    assert_eq!(Arc::strong_count(&pool), 1);
}

fn log_n_wait(
    log: &Arc<Mutex<Vec<String>>>,
    stop: &Arc<Event>,
) -> impl Fn(&'static str) + Send + Sync + 'static {
    let (log, stop) = (Arc::clone(log), Arc::clone(stop));
    move |ident| {
        log.lock().unwrap().push(format!("ident='{ident}' started"));
        hold(&stop);
        log.lock().unwrap().push(format!("ident='{ident}' stopped"));
    }
}

#[test]
fn thread_pool_executor_map_current_future_cancel() {
    let stop_event = Gate::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let f = log_n_wait(&log, &stop_event.key());
    let pool = ThreadPoolExecutor::new(1);
    // Submit work to saturate the pool.
    let fut = submit(&pool, move || f("first"));
    {
        let mut results = pool
            .map(log_n_wait(&log, &stop_event.key()), ["second", "third"])
            .timeout(Duration::ZERO);
        assert!(matches!(results.next(), Some(Err(MapError::TimedOut))));
        assert!(results.next().is_none());
    }
    stop_event.open();
    result(&fut).unwrap();
    shutdown_wait(&pool);
    // 'second' is cancelled by the timeout, 'third' because it remained in
    // the window.
    assert_eq!(
        *log.lock().unwrap(),
        ["ident='first' started", "ident='first' stopped"]
    );
}

#[tokio::test]
async fn thread_pool_executor_map_current_future_cancel_stream() {
    let stop_event = Gate::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let f = log_n_wait(&log, &stop_event.key());
    let pool = ThreadPoolExecutor::new(1);
    let fut = within(pool.submit(move || f("first"))).await.unwrap();
    {
        let mut results = pool
            .map(log_n_wait(&log, &stop_event.key()), ["second", "third"])
            .timeout(Duration::ZERO)
            .stream();
        assert!(matches!(
            within(results.next()).await,
            Some(Err(MapError::TimedOut))
        ));
        assert!(within(results.next()).await.is_none());
    }
    stop_event.open();
    within(fut).await.unwrap();
    shutdown_wait_async(&pool).await;
    assert_eq!(
        *log.lock().unwrap(),
        ["ident='first' started", "ident='first' stopped"]
    );
}

// ---------------------------------------------------------------------------
// test_shutdown.py
// ---------------------------------------------------------------------------

#[test]
fn shutdown_run_after_shutdown() {
    let pool = executor();
    shutdown_wait(&pool);
    assert!(pool.is_shutdown());
    // Python raises `RuntimeError`; amphi refuses and gives the closure back.
    match pool.try_submit(|| 2_i64.pow(5)) {
        Err(TrySubmitError::ShutDown(f)) => assert_eq!(f(), 32),
        other => panic!("{other:?}"),
    }
    match pool.submit_blocking(|| 2_i64.pow(5)) {
        Err(SubmitError::ShutDown(f)) => assert_eq!(f(), 32),
        other => panic!("{other:?}"),
    }
    match pool.submit(|| 2_i64.pow(5)).wait_timeout(SHORT) {
        Err(SubmitTimeoutError::ShutDown(f)) => assert_eq!(f(), 32),
        other => panic!("{other:?}"),
    }
    let mut m = pool.map(|x: i64| 2_i64.pow(x as u32), [5]);
    assert!(matches!(m.next(), Some(Err(MapError::ShutDown))));
    assert!(m.next().is_none());
}

#[tokio::test]
async fn shutdown_run_after_shutdown_async() {
    let pool = executor();
    shutdown_wait_async(&pool).await;
    match within(pool.submit(|| 2_i64.pow(5))).await {
        Err(SubmitError::ShutDown(f)) => assert_eq!(f(), 32),
        other => panic!("{other:?}"),
    }
    let mut m = pool.map(|x: i64| 2_i64.pow(x as u32), [5]).stream();
    assert!(matches!(
        within(m.next()).await,
        Some(Err(MapError::ShutDown))
    ));
    assert!(within(m.next()).await.is_none());
}

#[test]
fn shutdown_hang_issue12364() {
    // 50 short sleeps (the work) on 5 workers, then a waiting shutdown.
    let pool = executor();
    let fs: Vec<_> = (0..50)
        .map(|_| submit(&pool, || thread::sleep(Duration::from_millis(10))))
        .collect();
    shutdown_wait(&pool);
    for f in &fs {
        result(f).unwrap();
    }
}

#[test]
fn shutdown_cancel_futures() {
    // As Python: 50 jobs of 0.1 s on 5 workers, `shutdown(cancel_futures=True)`.
    let pool = executor();
    let fs: Vec<_> = (0..50)
        .map(|_| submit(&pool, || thread::sleep(Duration::from_millis(100))))
        .collect();
    shutdown_wait_cancel(&pool);
    let cancelled = fs.iter().filter(|f| f.cancelled()).count();
    assert!(cancelled > 20, "only {cancelled} cancelled");
    let others: Vec<_> = fs.iter().filter(|f| !f.cancelled()).collect();
    for f in &others {
        assert!(f.done(), "{f:?}");
        assert!(!f.failed(), "{f:?}");
        result(f).unwrap();
    }
    // Python also asserts that at least one job finished. That rests on
    // timing (its `Thread.start()` waits for the new thread, which with the
    // GIL takes its first job at once). amphi's workers start lazily and
    // `thread::spawn` does not wait, so a shutdown right after the
    // submissions can find all 50 still queued and cancel them all, as
    // documented ("the queued jobs ... are cancelled"). The exact variant
    // below checks that running jobs finish.
    assert_eq!(cancelled + others.len(), 50);
    assert_eq!(pool.stats().cancelled, cancelled);
}

#[track_caller]
fn shutdown_wait_cancel(pool: &ThreadPoolExecutor) {
    assert!(
        pool.shutdown(true).wait_timeout(DEADLINE),
        "the workers did not exit within {DEADLINE:?}"
    );
}

/// Fifty jobs held by `gate` on a pool of five: each running one releases a
/// permit of the returned semaphore as it starts, so five permits mean five
/// running and 45 queued.
fn saturated(pool: &ThreadPoolExecutor, gate: &Gate) -> (Vec<JobHandle<bool>>, Arc<Semaphore>) {
    let started = Arc::new(Semaphore::new(0));
    let fs = (0..50)
        .map(|_| {
            let (key, s) = (gate.key(), Arc::clone(&started));
            submit(pool, move || {
                s.release(1);
                hold(&key)
            })
        })
        .collect();
    (fs, started)
}

#[test]
fn shutdown_cancel_futures_exact() {
    // With the running jobs held by a gate instead of sleeping, the count
    // is exact: every queued job is cancelled, every running one finishes.
    let pool = executor();
    let gate = Gate::new();
    let (fs, started) = saturated(&pool, &gate);
    for _ in 0..WORKER_COUNT {
        started
            .acquire()
            .wait_timeout(DEADLINE)
            .expect("every worker runs a job")
            .forget();
    }
    let joining = pool.shutdown(true);
    // Cancelled at the call, before anyone waits.
    assert_eq!(fs.iter().filter(|f| f.cancelled()).count(), 45);
    gate.open();
    assert!(joining.wait_timeout(DEADLINE), "the workers did not exit");
    let (cancelled, others): (Vec<_>, Vec<_>) = fs.iter().partition(|f| f.cancelled());
    assert_eq!((cancelled.len(), others.len()), (45, 5));
    for f in cancelled {
        assert!(matches!(result(f), Err(JobError::Cancelled)));
    }
    for f in others {
        assert!(result(f).unwrap(), "a held job timed out");
    }
    assert_eq!(pool.stats().cancelled, 45);
}

#[tokio::test]
async fn shutdown_cancel_futures_exact_async() {
    let pool = executor();
    let gate = Gate::new();
    let (fs, started) = saturated(&pool, &gate);
    for _ in 0..WORKER_COUNT {
        within(started.acquire()).await.unwrap().forget();
    }
    let joining = pool.shutdown(true);
    assert_eq!(fs.iter().filter(|f| f.cancelled()).count(), 45);
    gate.open();
    assert!(joining.timeout(DEADLINE).await, "the workers did not exit");
    let mut finished_ok = 0;
    for f in fs {
        match within(f).await {
            Ok(true) => finished_ok += 1,
            Err(JobError::Cancelled) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(finished_ok, 5);
}

#[test]
fn shutdown_hang_gh83386() {
    // In-process part only: `shutdown(wait=False)` with a running job, then
    // the executor goes away; the job still finishes ("apple").
    let pool = ThreadPoolExecutor::new(3);
    let job = submit(&pool, || {
        thread::sleep(Duration::from_millis(50));
        "apple"
    });
    drop(pool.shutdown(false));
    drop(pool);
    assert_eq!(result(&job).unwrap(), "apple");
}

#[test]
fn shutdown_hang_gh94440() {
    // `shutdown(wait=True)` does not hang when a job was submitted and
    // quickly cancelled right before it.
    let pool = ThreadPoolExecutor::new(1);
    result(&submit(&pool, || 0)).unwrap();
    let job = submit(&pool, || 0);
    let cancelled = job.cancel();
    assert!(
        pool.shutdown(false).wait_timeout(Duration::from_secs(5)),
        "timed out waiting for shutdown"
    );
    assert_eq!(job.cancelled(), cancelled);
    if !cancelled {
        assert_eq!(result(&job).unwrap(), 0);
    }
}

#[tokio::test]
async fn shutdown_hang_gh94440_async() {
    let pool = ThreadPoolExecutor::new(1);
    within(within(pool.submit(|| 0)).await.unwrap())
        .await
        .unwrap();
    let job = within(pool.submit(|| 0)).await.unwrap();
    let cancelled = job.cancel();
    assert!(
        pool.shutdown(false).timeout(Duration::from_secs(5)).await,
        "timed out waiting for shutdown"
    );
    assert_eq!(job.cancelled(), cancelled);
}

#[test]
fn shutdown_threads_terminate() {
    let (pool, exits) = counted_pool(ThreadPoolExecutor::builder().max_workers(WORKER_COUNT));
    let sem = Arc::new(Semaphore::new(0));
    let jobs: Vec<_> = (0..3).map(|_| submit(&pool, acquire_job(&sem))).collect();
    assert_eq!(pool.stats().threads, 3);
    sem.release(3);
    shutdown_wait(&pool);
    assert_threads_joined(&exits, 3);
    assert_eq!(pool.stats().threads, 0);
    for job in &jobs {
        assert!(result(job).unwrap());
    }
}

#[test]
fn shutdown_context_manager_shutdown() {
    // Leaving Python's `with` block is `shutdown(false).wait()` in amphi
    // (dropping the executor would not wait, documented).
    let (pool, exits) = counted_pool(ThreadPoolExecutor::builder().max_workers(5));
    let got: Vec<i32> = pool
        .map(|x: i32| x.abs(), -5..5)
        .timeout(DEADLINE)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]);
    let threads = pool.stats().threads;
    assert!(threads > 0);
    shutdown_wait(&pool);
    assert_threads_joined(&exits, threads);
}

#[tokio::test]
async fn shutdown_context_manager_shutdown_async() {
    let (pool, exits) = counted_pool(ThreadPoolExecutor::builder().max_workers(5));
    let got: Vec<i32> = within(
        pool.map(|x: i32| x.abs(), -5..5)
            .stream()
            .map(Result::unwrap)
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(got, [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]);
    let threads = pool.stats().threads;
    shutdown_wait_async(&pool).await;
    for _ in 0..threads {
        within(exits.acquire()).await.unwrap().forget();
    }
}

#[test]
fn shutdown_del_shutdown() {
    // `del executor`: dropping shuts down without waiting; the queued jobs
    // still run and the workers exit. A `Map` borrows its executor, so the
    // jobs are submitted one by one (handles outlive the executor).
    let (pool, exits) = counted_pool(ThreadPoolExecutor::builder().max_workers(5));
    let res: Vec<_> = (-5..5)
        .map(|v: i32| submit(&pool, move || v.abs()))
        .collect();
    let threads = pool.stats().threads;
    drop(pool);
    assert_threads_joined(&exits, threads);
    // The results were all computed before the executor was shut down.
    for (r, v) in res.iter().zip(-5_i32..5) {
        assert_eq!(result(r).unwrap(), v.abs());
    }
}

#[test]
fn shutdown_shutdown_no_wait() {
    let (pool, exits) = counted_pool(ThreadPoolExecutor::builder().max_workers(5));
    // Python submits every item at once.
    let res = pool
        .map_buffered(|x: i32| x.abs(), -5..5, usize::MAX)
        .timeout(DEADLINE);
    let threads = pool.stats().threads;
    drop(pool.shutdown(false));
    assert_threads_joined(&exits, threads);
    let got: Vec<i32> = res.map(Result::unwrap).collect();
    assert_eq!(got, (-5..5).map(i32::abs).collect::<Vec<_>>());
}

#[test]
fn shutdown_shutdown_no_wait_map_window() {
    // amphi's window: with a buffersize of 2 the third item cannot be
    // submitted after the shutdown, and `MapError::ShutDown` says "the
    // executor was shut down before this item could be submitted". The two
    // items submitted (and done) before the shutdown should still come.
    let pool = executor();
    let res = pool
        .map_buffered(|x: i32| x.abs(), -5..5, 2)
        .timeout(DEADLINE);
    wait_until("both submitted jobs are done", || {
        pool.stats().completed == 2
    });
    shutdown_wait(&pool);
    let got: Vec<_> = res.collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].as_ref().unwrap(), &5, "{got:?}");
    assert_eq!(got[1].as_ref().unwrap(), &4, "{got:?}");
    assert!(matches!(got[2], Err(MapError::ShutDown)), "{got:?}");
}

#[tokio::test]
async fn shutdown_shutdown_no_wait_map_window_stream() {
    let pool = executor();
    let done = Arc::new(Semaphore::new(0));
    let d = Arc::clone(&done);
    let res = pool.map_buffered(
        move |x: i32| {
            d.release(1);
            x.abs()
        },
        -5..5,
        2,
    );
    for _ in 0..2 {
        within(done.acquire()).await.unwrap().forget();
    }
    shutdown_wait_async(&pool).await;
    let got: Vec<_> = within(res.stream().collect::<Vec<_>>()).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].as_ref().unwrap(), &5, "{got:?}");
    assert_eq!(got[1].as_ref().unwrap(), &4, "{got:?}");
    assert!(matches!(got[2], Err(MapError::ShutDown)), "{got:?}");
}

/// Thread names of five jobs that meet at a barrier, so each runs on its
/// own worker.
fn names_of_all_workers(pool: &ThreadPoolExecutor) -> Vec<String> {
    let barrier = Arc::new(Barrier::new(5));
    let jobs: Vec<_> = (0..5)
        .map(|_| {
            let b = Arc::clone(&barrier);
            submit(pool, move || {
                b.wait().wait_timeout(DEADLINE).expect("five workers met");
                thread::current().name().map(str::to_owned)
            })
        })
        .collect();
    let mut names: Vec<String> = jobs
        .iter()
        .map(|j| result(j).unwrap().expect("workers are named"))
        .collect();
    names.sort();
    names
}

#[test]
fn shutdown_thread_names_assigned() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(5)
        .thread_name_prefix("SpecialPool")
        .build()
        .unwrap();
    let got: Vec<i32> = pool
        .map(|x: i32| x.abs(), -5..5)
        .timeout(DEADLINE)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got.len(), 10);
    let names = names_of_all_workers(&pool);
    let want: Vec<String> = (0..5).map(|i| format!("SpecialPool_{i}")).collect();
    assert_eq!(names, want);
    drop(pool);
}

/// `ThreadPoolExecutor-\d+_[0-4]$`: the pool's number and the thread's.
fn default_name_parts(name: &str) -> (u64, u32) {
    let rest = name
        .strip_prefix("ThreadPoolExecutor-")
        .unwrap_or_else(|| panic!("{name}"));
    let (pool, n) = rest.split_once('_').unwrap_or_else(|| panic!("{name}"));
    let n: u32 = n.parse().unwrap_or_else(|_| panic!("{name}"));
    assert!(n <= 4, "{name}");
    (pool.parse().unwrap_or_else(|_| panic!("{name}")), n)
}

#[test]
fn shutdown_thread_names_default() {
    let pool = ThreadPoolExecutor::new(5);
    let names = names_of_all_workers(&pool);
    let parts: Vec<_> = names.iter().map(|n| default_name_parts(n)).collect();
    // One pool number for all, threads 0..=4.
    assert!(parts.iter().all(|p| p.0 == parts[0].0), "{names:?}");
    assert_eq!(
        parts.iter().map(|p| p.1).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    // "Reasonably sane and unique": another pool gets another number.
    let other = ThreadPoolExecutor::new(1);
    let name = result(&submit(&other, || {
        thread::current().name().map(str::to_owned)
    }))
    .unwrap()
    .unwrap();
    assert_ne!(default_name_parts(&name).0, parts[0].0, "{name}");
    drop(pool);
}

#[test]
fn shutdown_cancel_futures_wait_false() {
    // In-process part only: `shutdown(wait=False, cancel_futures=True)`
    // right after a submission; the job either ran or was cancelled
    // (gh-116682), and nothing hangs.
    let pool = ThreadPoolExecutor::builder().build().unwrap();
    let job = submit(&pool, || {
        thread::sleep(Duration::from_millis(100));
        "apple"
    });
    drop(pool.shutdown(true));
    drop(pool);
    match result(&job) {
        Ok(out) => assert_eq!(out, "apple"),
        Err(JobError::Cancelled) => {}
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn shutdown_from_own_job() {
    // Not a CPython test: there, `shutdown(wait=True)` from a worker raises
    // `RuntimeError: cannot join current thread`. amphi (documented): the
    // shutdown happens, and waiting on it from the pool's own job returns
    // at once.
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let p = Arc::clone(&pool);
    let job = submit(&pool, move || {
        let joined = p.shutdown(false).wait_timeout(DEADLINE);
        (joined, p.is_shutdown())
    });
    assert_eq!(result(&job).unwrap(), (true, true));
    shutdown_wait(&pool);
    assert!(matches!(
        pool.try_submit(|| ((), ())),
        Err(TrySubmitError::ShutDown(_))
    ));
}

// ---------------------------------------------------------------------------
// test_wait.py
// ---------------------------------------------------------------------------

#[test]
fn wait_20369() {
    // Issue 20369: duplicate futures in `wait` must not hang. amphi returns
    // lists, not sets: the two clones are two entries of `done`, both the
    // same job.
    let pool = executor();
    let future = submit(&pool, || thread::sleep(SHORT));
    let w = wait([future.clone(), future.clone()], ReturnWhen::AllCompleted).wait_timeout(DEADLINE);
    assert_eq!(w.done.len(), 2, "{w:?}");
    assert!(w.done.iter().all(|h| h.same_job(&future)));
    assert!(w.not_done.is_empty(), "{w:?}");
    shutdown_wait(&pool);
}

/// `future1 = submit(mul, 21, 2)` and a job held until `gate` opens (for
/// `time.sleep(1.5)`).
fn fast_and_held(pool: &ThreadPoolExecutor, gate: &Gate) -> (H, H) {
    let future1 = submit_fallible(pool, || Ok(mul(21, 2)));
    let key = gate.key();
    let future2 = submit_fallible(pool, move || {
        hold(&key);
        Ok(0)
    });
    (future1, future2)
}

#[test]
fn wait_first_completed() {
    let fx = Fixtures::new();
    let pool = executor();
    let gate = Gate::new();
    let (future1, future2) = fast_and_held(&pool, &gate);
    let w = wait(
        [future1.clone(), future2.clone()],
        ReturnWhen::FirstCompleted,
    )
    .wait_timeout(DEADLINE);
    assert_jobs(&w.done, &[&future1], "done");
    assert_jobs(&w.not_done, &[&future2], "not_done");
    // Python also passes CANCELLED_FUTURE and finds it in `not_done` (it is
    // cancelled but its waiters were not notified yet). amphi differs on
    // purpose (documented): a cancelled job is done at once.
    let w = wait(
        [fx.cancelled.clone(), future1.clone(), future2.clone()],
        ReturnWhen::FirstCompleted,
    )
    .wait_timeout(DEADLINE);
    assert_jobs(&w.done, &[&fx.cancelled, &future1], "done");
    assert_jobs(&w.not_done, &[&future2], "not_done");
    gate.open();
    shutdown_wait(&pool);
}

#[tokio::test]
async fn wait_first_completed_async() {
    let fx = Fixtures::new_async().await;
    let pool = executor();
    let gate = Gate::new();
    let (future1, future2) = fast_and_held(&pool, &gate);
    let w = wait(
        [future1.clone(), future2.clone()],
        ReturnWhen::FirstCompleted,
    )
    .timeout(DEADLINE)
    .await;
    assert_jobs(&w.done, &[&future1], "done");
    assert_jobs(&w.not_done, &[&future2], "not_done");
    let w = wait(
        [fx.cancelled.clone(), future2.clone()],
        ReturnWhen::FirstCompleted,
    )
    .timeout(DEADLINE)
    .await;
    assert_jobs(&w.done, &[&fx.cancelled], "done");
    assert_jobs(&w.not_done, &[&future2], "not_done");
    gate.open();
    shutdown_wait_async(&pool).await;
}

#[test]
fn wait_first_completed_some_already_completed() {
    let fx = Fixtures::new();
    let pool = executor();
    let gate = Gate::new();
    let (_, future1) = fast_and_held(&pool, &gate);
    let w = wait(
        [
            fx.cancelled_and_notified.clone(),
            fx.successful.clone(),
            future1.clone(),
        ],
        ReturnWhen::FirstCompleted,
    )
    .wait_timeout(DEADLINE);
    assert_jobs(
        &w.done,
        &[&fx.cancelled_and_notified, &fx.successful],
        "finished",
    );
    assert_jobs(&w.not_done, &[&future1], "pending");
    gate.open();
    shutdown_wait(&pool);
}

/// `test_first_exception`'s three jobs: `mul(2, 21)`; one that fails once
/// the first is done (`sleep_and_raise(1.5)`); one held by `gate`
/// (`time.sleep(3)`). `panic` makes the second one panic instead of
/// returning `Err`.
fn first_exception_jobs(pool: &ThreadPoolExecutor, gate: &Gate, panic: bool) -> (H, H, H) {
    let future1 = submit_fallible(pool, || Ok(mul(2, 21)));
    let first_done = Arc::new(Event::new());
    let fd = Arc::clone(&first_done);
    future1.add_done_callback(move |_| fd.set());
    let future2 = submit_fallible(pool, move || {
        hold(&first_done);
        if panic {
            panic!("this is an exception");
        }
        Err("this is an exception".to_owned())
    });
    let key = gate.key();
    let future3 = submit_fallible(pool, move || {
        hold(&key);
        Ok(0)
    });
    (future1, future2, future3)
}

#[test]
fn wait_first_exception() {
    // Both kinds of "raise": an `Err` from a fallible job, and a panic.
    for panic in [false, true] {
        let pool = executor();
        let gate = Gate::new();
        let (future1, future2, future3) = first_exception_jobs(&pool, &gate, panic);
        let w = wait(
            [future1.clone(), future2.clone(), future3.clone()],
            ReturnWhen::FirstException,
        )
        .wait_timeout(DEADLINE);
        assert_jobs(&w.done, &[&future1, &future2], "finished");
        assert_jobs(&w.not_done, &[&future3], "pending");
        assert!(future2.failed());
        gate.open();
        shutdown_wait(&pool);
    }
}

#[tokio::test]
async fn wait_first_exception_async() {
    let pool = executor();
    let gate = Gate::new();
    let (future1, future2, future3) = first_exception_jobs(&pool, &gate, false);
    let w = wait(
        [future1.clone(), future2.clone(), future3.clone()],
        ReturnWhen::FirstException,
    )
    .timeout(DEADLINE)
    .await;
    assert_jobs(&w.done, &[&future1, &future2], "finished");
    assert_jobs(&w.not_done, &[&future3], "pending");
    gate.open();
    shutdown_wait_async(&pool).await;
}

#[test]
fn wait_first_exception_some_already_complete() {
    let fx = Fixtures::new();
    let pool = executor();
    let gate = Gate::new();
    let future1 = submit_fallible(&pool, || checked_div(21, 0));
    let (_, future2) = fast_and_held(&pool, &gate);
    let w = wait(
        [
            fx.successful.clone(),
            fx.cancelled.clone(),
            fx.cancelled_and_notified.clone(),
            future1.clone(),
            future2.clone(),
        ],
        ReturnWhen::FirstException,
    )
    .wait_timeout(DEADLINE);
    // Python finds CANCELLED_FUTURE in `pending` (not yet notified); in
    // amphi a cancelled job is done at once (documented).
    assert_jobs(
        &w.done,
        &[
            &fx.successful,
            &fx.cancelled,
            &fx.cancelled_and_notified,
            &future1,
        ],
        "finished",
    );
    assert_jobs(&w.not_done, &[&future2], "pending");
    gate.open();
    shutdown_wait(&pool);
}

#[test]
fn wait_first_exception_one_already_failed() {
    let fx = Fixtures::new();
    let pool = executor();
    let gate = Gate::new();
    let (_, future1) = fast_and_held(&pool, &gate);
    let w = wait(
        [fx.exception.clone(), future1.clone()],
        ReturnWhen::FirstException,
    )
    .wait_timeout(DEADLINE);
    assert_jobs(&w.done, &[&fx.exception], "finished");
    assert_jobs(&w.not_done, &[&future1], "pending");
    gate.open();
    shutdown_wait(&pool);
}

#[test]
fn wait_all_completed() {
    let fx = Fixtures::new();
    let pool = executor();
    let future1 = submit_fallible(&pool, || checked_div(2, 0));
    let future2 = submit_fallible(&pool, || Ok(mul(2, 21)));
    let all = [
        &fx.successful,
        &fx.cancelled_and_notified,
        &fx.exception,
        &future1,
        &future2,
    ];
    let w = wait(all.iter().map(|h| (*h).clone()), ReturnWhen::AllCompleted).wait_timeout(DEADLINE);
    assert_jobs(&w.done, &all, "finished");
    assert!(w.not_done.is_empty(), "{w:?}");
    shutdown_wait(&pool);
}

#[tokio::test]
async fn wait_all_completed_async() {
    let fx = Fixtures::new_async().await;
    let pool = executor();
    let future1 = submit_fallible(&pool, || checked_div(2, 0));
    let future2 = submit_fallible(&pool, || Ok(mul(2, 21)));
    let all = [
        &fx.successful,
        &fx.cancelled_and_notified,
        &fx.exception,
        &future1,
        &future2,
    ];
    let w = wait(all.iter().map(|h| (*h).clone()), ReturnWhen::AllCompleted)
        .timeout(DEADLINE)
        .await;
    assert_jobs(&w.done, &all, "finished");
    assert!(w.not_done.is_empty(), "{w:?}");
    shutdown_wait_async(&pool).await;
}

#[test]
fn wait_timeout() {
    let fx = Fixtures::new();
    let pool = executor();
    let gate = Gate::new();
    let (_, future) = fast_and_held(&pool, &gate);
    let start = Instant::now();
    let w = wait(
        [
            fx.cancelled_and_notified.clone(),
            fx.exception.clone(),
            fx.successful.clone(),
            future.clone(),
        ],
        ReturnWhen::AllCompleted,
    )
    .wait_timeout(SHORT);
    assert_elapsed_about(start, SHORT);
    assert_jobs(
        &w.done,
        &[&fx.cancelled_and_notified, &fx.exception, &fx.successful],
        "finished",
    );
    assert_jobs(&w.not_done, &[&future], "pending");
    gate.open();
    shutdown_wait(&pool);
}

#[tokio::test]
async fn wait_timeout_async() {
    let fx = Fixtures::new_async().await;
    let pool = executor();
    let gate = Gate::new();
    let (_, future) = fast_and_held(&pool, &gate);
    let start = Instant::now();
    let w = wait(
        [
            fx.cancelled_and_notified.clone(),
            fx.exception.clone(),
            fx.successful.clone(),
            future.clone(),
        ],
        ReturnWhen::AllCompleted,
    )
    .timeout(SHORT)
    .await;
    assert_elapsed_about(start, SHORT);
    assert_jobs(
        &w.done,
        &[&fx.cancelled_and_notified, &fx.exception, &fx.successful],
        "finished",
    );
    assert_jobs(&w.not_done, &[&future], "pending");
    gate.open();
    shutdown_wait_async(&pool).await;
}

#[test]
fn wait_pending_calls_race() {
    // Issue #14406: a race when waiting on all futures. (No GIL switch
    // interval to shorten in Rust.)
    let pool = executor();
    let event = Gate::new();
    let fs: Vec<_> = (0..100)
        .map(|_| {
            let key = event.key();
            submit(&pool, move || hold(&key))
        })
        .collect();
    event.open();
    let w = wait(fs, ReturnWhen::AllCompleted).wait_timeout(DEADLINE);
    assert_eq!((w.done.len(), w.not_done.len()), (100, 0));
    shutdown_wait(&pool);
}

#[tokio::test]
async fn wait_pending_calls_race_async() {
    let pool = executor();
    let event = Gate::new();
    let mut fs = Vec::new();
    for _ in 0..100 {
        let key = event.key();
        fs.push(within(pool.submit(move || hold(&key))).await.unwrap());
    }
    event.open();
    let w = wait(fs, ReturnWhen::AllCompleted).timeout(DEADLINE).await;
    assert_eq!((w.done.len(), w.not_done.len()), (100, 0));
    shutdown_wait_async(&pool).await;
}

// ---------------------------------------------------------------------------
// test_as_completed.py
// ---------------------------------------------------------------------------

#[test]
fn as_completed_no_timeout() {
    let fx = Fixtures::new();
    let pool = executor();
    let future1 = submit_fallible(&pool, || Ok(mul(2, 21)));
    let future2 = submit_fallible(&pool, || Ok(mul(7, 6)));
    let all = [
        &fx.cancelled_and_notified,
        &fx.exception,
        &fx.successful,
        &future1,
        &future2,
    ];
    let completed: Vec<H> = as_completed(all.iter().map(|h| (*h).clone()))
        .timeout(DEADLINE)
        .map(|r| r.expect("in time"))
        .collect();
    assert_jobs(&completed, &all, "completed");
    shutdown_wait(&pool);
}

#[tokio::test]
async fn as_completed_no_timeout_stream() {
    let fx = Fixtures::new_async().await;
    let pool = executor();
    let future1 = submit_fallible(&pool, || Ok(mul(2, 21)));
    let future2 = submit_fallible(&pool, || Ok(mul(7, 6)));
    let all = [
        &fx.cancelled_and_notified,
        &fx.exception,
        &fx.successful,
        &future1,
        &future2,
    ];
    let completed: Vec<H> = within(
        as_completed(all.iter().map(|h| (*h).clone()))
            .stream()
            .map(|r| r.expect("no timeout set"))
            .collect::<Vec<_>>(),
    )
    .await;
    assert_jobs(&completed, &all, "completed");
    shutdown_wait_async(&pool).await;
}

#[test]
fn as_completed_future_times_out() {
    // `as_completed` times out before its final future completes.
    let fx = Fixtures::new();
    let already_completed = [&fx.cancelled_and_notified, &fx.exception, &fx.successful];
    let pool = executor();
    let short_timeout = Duration::from_millis(100);
    for timeout in [Duration::ZERO, short_timeout] {
        let gate = Gate::new();
        let (_, future) = fast_and_held(&pool, &gate);
        let mut completed_futures = Vec::new();
        let start = Instant::now();
        let mut it = as_completed(
            already_completed
                .iter()
                .map(|h| (*h).clone())
                .chain([future.clone()]),
        )
        .timeout(timeout);
        let err = loop {
            match it.next() {
                Some(Ok(f)) => completed_futures.push(f),
                Some(Err(e)) => break e,
                None => panic!("as_completed ended without a timeout ({timeout:?})"),
            }
        };
        assert_elapsed_about(start, timeout);
        assert_eq!((err.unfinished, err.total), (1, 4));
        assert!(it.next().is_none(), "the iteration ends after a timeout");
        // `future` was not completed.
        assert_jobs(&completed_futures, &already_completed, "completed");
        assert!(!future.done());
        gate.open();
    }
    shutdown_wait(&pool);
}

#[tokio::test]
async fn as_completed_future_times_out_stream() {
    let fx = Fixtures::new_async().await;
    let already_completed = [&fx.cancelled_and_notified, &fx.exception, &fx.successful];
    let pool = executor();
    for timeout in [Duration::ZERO, Duration::from_millis(100)] {
        let gate = Gate::new();
        let (_, future) = fast_and_held(&pool, &gate);
        let start = Instant::now();
        let items: Vec<_> = within(
            as_completed(
                already_completed
                    .iter()
                    .map(|h| (*h).clone())
                    .chain([future.clone()]),
            )
            .timeout(timeout)
            .stream()
            .collect::<Vec<_>>(),
        )
        .await;
        assert_elapsed_about(start, timeout);
        assert_eq!(items.len(), 4, "{items:?}");
        let (ok, err): (Vec<_>, Vec<_>) = items.into_iter().partition(Result::is_ok);
        let completed: Vec<H> = ok.into_iter().map(Result::unwrap).collect();
        assert_jobs(&completed, &already_completed, "completed");
        let err = err.into_iter().next().unwrap().unwrap_err();
        assert_eq!((err.unfinished, err.total), (1, 4));
        assert!(!future.done());
        gate.open();
    }
    shutdown_wait_async(&pool).await;
}

#[test]
fn as_completed_duplicate_futures() {
    // Issue 20367: duplicate futures raise nothing and do not hang. amphi
    // differs on purpose (documented): each handle given is yielded once,
    // and three clones are three handles (Python yields the future once).
    // Its result is handed out once: to one of them.
    let pool = executor();
    let future1 = submit(&pool, || {
        thread::sleep(SHORT);
        7
    });
    let completed: Vec<_> = as_completed(std::iter::repeat_n(future1.clone(), 3))
        .timeout(DEADLINE)
        .map(|r| r.expect("in time"))
        .collect();
    assert_eq!(completed.len(), 3);
    assert!(completed.iter().all(|h| h.same_job(&future1)));
    let outcomes: Vec<_> = completed.iter().map(result).collect();
    assert_eq!(outcomes.iter().filter(|r| matches!(r, Ok(7))).count(), 1);
    assert_eq!(
        outcomes
            .iter()
            .filter(|r| matches!(r, Err(JobError::Taken)))
            .count(),
        2
    );
    shutdown_wait(&pool);
}

struct Entry {
    handle: JobHandle<Arc<()>>,
    /// Alive while the job's result (or its closure) is.
    weak: Weak<()>,
    /// Holds the job: `set_result` is opening it.
    gate: Option<Arc<Event>>,
}

#[test]
fn as_completed_free_reference_yielded_future() {
    // Issue #14406: `as_completed` keeps no reference to a future it
    // yielded. Here: once the yielded handle (and the test's copy) are
    // dropped, the job's result is freed, unless someone kept the handle.
    let pool = ThreadPoolExecutor::new(8);
    let mut list: Vec<Entry> = Vec::new();
    // The FINISHED future, result 42 (here: a value the test can track).
    let value = Arc::new(());
    let weak = Arc::downgrade(&value);
    let done = submit(&pool, move || value);
    finished(&done);
    let done_entry = Entry {
        handle: done,
        weak,
        gate: None,
    };
    // Eight pending `Future()`s: jobs held by their own gate, one per worker.
    for _ in 0..8 {
        let gate = Arc::new(Event::new());
        let value = Arc::new(());
        let weak = Arc::downgrade(&value);
        let g = Arc::clone(&gate);
        let handle = submit(&pool, move || {
            hold(&g);
            value
        });
        list.push(Entry {
            handle,
            weak,
            gate: Some(gate),
        });
    }
    // The CANCELLED_AND_NOTIFIED future: queued behind the eight, cancelled.
    let value = Arc::new(());
    let weak = Arc::downgrade(&value);
    let cancelled = submit(&pool, move || value);
    assert!(cancelled.cancel());
    list.push(Entry {
        handle: cancelled,
        weak,
        gate: None,
    });
    list.push(done_entry);

    /// Removes the yielded handle from `list`, drops it, and checks its
    /// result was freed.
    #[track_caller]
    fn yielded(list: &mut Vec<Entry>, future: JobHandle<Arc<()>>) {
        let i = list
            .iter()
            .position(|e| e.handle.same_job(&future))
            .expect("a handle of the list");
        let entry = list.remove(i);
        drop(future);
        drop(entry.handle);
        // The worker that finished the job may still hold it for a moment.
        wait_until("the yielded job's result is freed", || {
            entry.weak.upgrade().is_none()
        });
    }

    let mut it = as_completed(list.iter().map(|e| e.handle.clone())).timeout(Duration::ZERO);
    let timed_out = loop {
        match it.next() {
            Some(Ok(future)) => yielded(&mut list, future),
            Some(Err(e)) => break e,
            None => panic!("expected a timeout"),
        }
    };
    assert_eq!((timed_out.unfinished, timed_out.total), (8, 10));
    drop(it);
    assert_eq!(list.len(), 8);

    list[0].gate.as_ref().unwrap().set();
    let it = as_completed(list.iter().map(|e| e.handle.clone())).timeout(DEADLINE);
    for future in it {
        yielded(&mut list, future.expect("in time"));
        if let Some(first) = list.first() {
            first.gate.as_ref().unwrap().set();
        }
    }
    assert!(list.is_empty());
    shutdown_wait(&pool);
}

#[test]
fn as_completed_correct_timeout_exception_msg() {
    let fx = Fixtures::new();
    let futures_list = [
        fx.cancelled_and_notified.clone(),
        fx.pending.clone(),
        fx.running.clone(),
        fx.successful.clone(),
    ];
    let items: Vec<_> = as_completed(futures_list).timeout(Duration::ZERO).collect();
    assert_eq!(items.len(), 3, "{items:?}");
    let err = items[2].as_ref().unwrap_err();
    // Python: "2 (of 4) futures unfinished"; amphi says "jobs".
    assert_eq!(err.to_string(), "2 (of 4) jobs unfinished");
}

#[tokio::test]
async fn as_completed_correct_timeout_exception_msg_stream() {
    let fx = Fixtures::new_async().await;
    let futures_list = [
        fx.cancelled_and_notified.clone(),
        fx.pending.clone(),
        fx.running.clone(),
        fx.successful.clone(),
    ];
    let items: Vec<_> = within(
        as_completed(futures_list)
            .timeout(Duration::ZERO)
            .stream()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(
        items[2].as_ref().unwrap_err().to_string(),
        "2 (of 4) jobs unfinished"
    );
}

// ---------------------------------------------------------------------------
// test_future.py
// ---------------------------------------------------------------------------
//
// Python's tests complete a bare `Future()` by hand (`set_result`); here a
// job held by a gate is the future, and opening the gate completes it.

/// A one-worker pool and a job on it that returns `out()` once `gate`
/// opens (so it is running, not done, while callbacks are added).
fn held_job<T: Send + 'static>(
    out: impl FnOnce() -> T + Send + 'static,
) -> (ThreadPoolExecutor, Gate, JobHandle<T>) {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let key = gate.key();
    let f = submit(&pool, move || {
        hold(&key);
        out()
    });
    (pool, gate, f)
}

#[test]
fn future_done_callback_with_result() {
    let (pool, gate, f) = held_job(|| 5);
    let callback_result = Slot::new();
    let slot = Arc::clone(&callback_result);
    f.add_done_callback(move |callback_future| slot.put(callback_future.try_result()));
    gate.open();
    assert!(matches!(callback_result.within_deadline(), Some(Ok(5))));
    // The callback took the result: a result is handed out once (amphi,
    // documented); Python's `result()` would give 5 again.
    assert!(matches!(f.try_result(), Some(Err(JobError::Taken))));
    shutdown_wait(&pool);
}

#[test]
fn future_done_callback_with_exception() {
    let (pool, gate, f) = held_job(|| -> i32 { panic!("test") });
    let callback_exception = Slot::new();
    let slot = Arc::clone(&callback_exception);
    f.add_done_callback(move |cf| slot.put((cf.failed(), cf.try_result())));
    gate.open();
    match callback_exception.within_deadline() {
        (true, Some(Err(JobError::Panicked(p)))) => assert_eq!(p.message(), "test"),
        other => panic!("{other:?}"),
    }
    shutdown_wait(&pool);
}

#[test]
fn future_done_callback_with_cancel() {
    let (pool, gate, _running) = held_job(|| ());
    let f = submit(&pool, || ());
    let was_cancelled = Slot::new();
    let slot = Arc::clone(&was_cancelled);
    f.add_done_callback(move |cf| slot.put(cf.cancelled()));
    assert!(f.cancel());
    // The callback ran in the thread that cancelled, before `cancel`
    // returned (documented), as Python's.
    assert_eq!(was_cancelled.now(), Some(true));
    gate.open();
    shutdown_wait(&pool);
}

#[test]
fn future_done_callback_raises() {
    let (pool, gate, f) = held_job(|| 5);
    let raising_was_called = Arc::new(AtomicBool::new(false));
    let fn_was_called = Slot::new();
    let r = Arc::clone(&raising_was_called);
    f.add_done_callback(move |_| {
        r.store(true, Ordering::SeqCst);
        panic!("doh!");
    });
    let slot = Arc::clone(&fn_was_called);
    f.add_done_callback(move |_| slot.put(true));
    gate.open();
    assert!(fn_was_called.within_deadline());
    assert!(raising_was_called.load(Ordering::SeqCst));
    // Python checks 'Exception: doh!' on stderr; amphi reports it there too,
    // and counts it.
    assert_eq!(pool.stats().callback_panics, 1);
    assert_eq!(result(&f).unwrap(), 5, "the job's result is untouched");
    shutdown_wait(&pool);
}

#[test]
fn future_done_callback_already_successful() {
    let pool = ThreadPoolExecutor::new(1);
    let f = submit(&pool, || 5);
    finished(&f);
    let callback_result = Slot::new();
    let slot = Arc::clone(&callback_result);
    let here = thread::current().id();
    f.add_done_callback(move |cf| slot.put((thread::current().id(), cf.try_result())));
    // Run at once, in this thread.
    match callback_result.now() {
        Some((id, Some(Ok(5)))) => assert_eq!(id, here),
        other => panic!("{other:?}"),
    }
    shutdown_wait(&pool);
}

#[test]
fn future_done_callback_already_failed() {
    let pool = ThreadPoolExecutor::new(1);
    let f = submit(&pool, || -> i32 { panic!("test") });
    finished(&f);
    let callback_exception = Slot::new();
    let slot = Arc::clone(&callback_exception);
    f.add_done_callback(move |cf| slot.put((cf.failed(), cf.try_result())));
    match callback_exception.now() {
        Some((true, Some(Err(JobError::Panicked(p))))) => assert_eq!(p.message(), "test"),
        other => panic!("{other:?}"),
    }
    shutdown_wait(&pool);
}

#[test]
fn future_done_callback_already_cancelled() {
    let (pool, gate, _running) = held_job(|| ());
    let f = submit(&pool, || ());
    assert!(f.cancel());
    let was_cancelled = Slot::new();
    let slot = Arc::clone(&was_cancelled);
    f.add_done_callback(move |cf| slot.put(cf.cancelled()));
    assert_eq!(was_cancelled.now(), Some(true));
    gate.open();
    shutdown_wait(&pool);
}

#[test]
fn future_done_callback_raises_already_succeeded() {
    let pool = ThreadPoolExecutor::new(1);
    let f = submit(&pool, || 5);
    finished(&f);
    // Run at once, and its panic is caught (Python logs 'exception calling
    // callback for ... doh!').
    f.add_done_callback(|_| panic!("doh!"));
    assert_eq!(pool.stats().callback_panics, 1);
    assert_eq!(result(&f).unwrap(), 5);
    shutdown_wait(&pool);
}

#[test]
fn future_repr() {
    // Python: `<Future at 0x... state=pending>` etc.; amphi's `Debug` names
    // the state (without the result's type).
    let fx = Fixtures::new();
    let state = |h: &H| format!("{h:?}");
    assert!(
        state(&fx.pending).contains(r#"state: "queued""#),
        "{}",
        state(&fx.pending)
    );
    assert!(
        state(&fx.running).contains(r#"state: "running""#),
        "{}",
        state(&fx.running)
    );
    assert!(state(&fx.cancelled).contains(r#"state: "cancelled""#));
    assert!(state(&fx.cancelled_and_notified).contains(r#"state: "cancelled""#));
    // A fallible job's `Err` is its result: "finished" (Python: "finished
    // raised OSError"); a panic is "panicked".
    assert!(state(&fx.exception).contains(r#"state: "finished""#));
    assert!(state(&fx.successful).contains(r#"state: "finished""#));
    let pool = ThreadPoolExecutor::new(1);
    let raised = submit(&pool, || -> () { panic!("OSError") });
    finished(&raised);
    assert!(
        format!("{raised:?}").contains(r#"state: "panicked""#),
        "{raised:?}"
    );
    shutdown_wait(&pool);
}

#[test]
fn future_cancel() {
    let fx = Fixtures::new();
    let (f1, f2, f3) = (&fx.pending, &fx.running, &fx.cancelled);
    let (f4, f5, f6) = (&fx.cancelled_and_notified, &fx.exception, &fx.successful);

    assert!(f1.cancel());
    assert!(f1.cancelled() && f1.done());

    assert!(!f2.cancel());
    assert!(f2.running() && !f2.cancelled());

    assert!(f3.cancel());
    assert!(f3.cancelled());

    assert!(f4.cancel());
    assert!(f4.cancelled());

    assert!(!f5.cancel());
    assert!(f5.done() && !f5.cancelled());

    assert!(!f6.cancel());
    assert!(f6.done() && !f6.cancelled());

    // amphi (documented): the closure of a cancelled job is dropped by
    // `cancel` itself.
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let key = gate.key();
    let running = submit(&pool, move || {
        hold(&key);
    });
    let dropped = Arc::new(Event::new());
    let flag = DropFlag(Arc::clone(&dropped));
    let queued = submit(&pool, move || flag.my_method());
    assert!(queued.cancel());
    assert!(
        dropped.is_set(),
        "the cancelled job's closure is still alive"
    );
    gate.open();
    result(&running).unwrap();
    shutdown_wait(&pool);
}

#[test]
fn future_cancelled() {
    let fx = Fixtures::new();
    assert!(!fx.pending.cancelled());
    assert!(!fx.running.cancelled());
    assert!(fx.cancelled.cancelled());
    assert!(fx.cancelled_and_notified.cancelled());
    assert!(!fx.exception.cancelled());
    assert!(!fx.successful.cancelled());
}

#[test]
fn future_done() {
    let fx = Fixtures::new();
    assert!(!fx.pending.done());
    assert!(!fx.running.done());
    assert!(fx.cancelled.done());
    assert!(fx.cancelled_and_notified.done());
    assert!(fx.exception.done());
    assert!(fx.successful.done());
}

#[test]
fn future_running() {
    let fx = Fixtures::new();
    assert!(!fx.pending.running());
    assert!(fx.running.running());
    assert!(!fx.cancelled.running());
    assert!(!fx.cancelled_and_notified.running());
    assert!(!fx.exception.running());
    assert!(!fx.successful.running());
}

#[test]
fn future_result_with_timeout() {
    let fx = Fixtures::new();
    let zero = Duration::ZERO;
    // `TimeoutError` is `None`: the time ran out.
    assert!(fx.pending.result().wait_timeout(zero).is_none());
    assert!(fx.running.result().wait_timeout(zero).is_none());
    assert!(matches!(
        fx.cancelled.result().wait_timeout(zero),
        Some(Err(JobError::Cancelled))
    ));
    assert!(matches!(
        fx.cancelled_and_notified.result().wait_timeout(zero),
        Some(Err(JobError::Cancelled))
    ));
    // A fallible job's `Err` is its result (the job ran).
    assert_eq!(
        fx.exception.result().wait_timeout(zero).unwrap().unwrap(),
        Err("OSError".to_owned())
    );
    assert_eq!(
        fx.successful.result().wait_timeout(zero).unwrap().unwrap(),
        Ok(42)
    );
}

#[tokio::test]
async fn future_result_with_timeout_async() {
    let fx = Fixtures::new_async().await;
    let zero = Duration::ZERO;
    assert!(fx.pending.result().timeout(zero).await.is_none());
    assert!(fx.running.result().timeout(zero).await.is_none());
    assert!(matches!(
        fx.cancelled.result().timeout(zero).await,
        Some(Err(JobError::Cancelled))
    ));
    assert!(matches!(
        fx.cancelled_and_notified.result().timeout(zero).await,
        Some(Err(JobError::Cancelled))
    ));
    assert_eq!(
        fx.exception.result().timeout(zero).await.unwrap().unwrap(),
        Err("OSError".to_owned())
    );
    assert_eq!(
        fx.successful.result().timeout(zero).await.unwrap().unwrap(),
        Ok(42)
    );
}

#[test]
fn future_result_with_success() {
    // Python sleeps a second so that the main thread waits first; here a
    // thread opens the gate whenever it runs, and the mock-task version
    // below makes the order exact.
    let (pool, gate, f1) = held_job(|| 42);
    let key = gate.key();
    let t = spawn_thread(move || key.set());
    assert_eq!(
        f1.result()
            .wait_timeout(Duration::from_secs(5))
            .expect("in time")
            .unwrap(),
        42
    );
    t.join();
    shutdown_wait(&pool);
}

#[test]
fn future_result_with_success_task() {
    let (pool, gate, f1) = held_job(|| 42);
    let mut waiter = task::spawn(f1.result());
    assert_pending!(waiter.poll());
    gate.open();
    wait_until("the waiting task is woken", || waiter.is_woken());
    assert_eq!(assert_ready!(waiter.poll()).unwrap(), 42);
    drop(waiter);
    shutdown_wait(&pool);
}

#[tokio::test]
async fn future_result_with_success_mixed() {
    // A task awaits one clone while a thread blocks on another. amphi hands
    // the result out once (documented): one of them gets 42, the other
    // `Taken`; both see the job done.
    let (pool, gate, f1) = held_job(|| 42);
    let copy = f1.clone();
    let t = spawn_thread(move || result(&copy));
    let task_side = tokio::spawn({
        let f = f1.clone();
        async move { result_async(&f).await }
    });
    gate.open();
    let thread_side = t.join_async().await;
    let task_side = join_task(task_side).await;
    let outcomes = [thread_side, task_side];
    assert_eq!(outcomes.iter().filter(|r| matches!(r, Ok(42))).count(), 1);
    assert_eq!(
        outcomes
            .iter()
            .filter(|r| matches!(r, Err(JobError::Taken)))
            .count(),
        1
    );
    assert!(f1.done());
    shutdown_wait_async(&pool).await;
}

#[test]
fn future_result_with_cancel() {
    let (pool, gate, _running) = held_job(|| ());
    let f1 = submit(&pool, || ());
    let f = f1.clone();
    let t = spawn_thread(move || f.cancel());
    assert!(matches!(
        f1.result().wait_timeout(DEADLINE),
        Some(Err(JobError::Cancelled))
    ));
    assert!(t.join());
    gate.open();
    shutdown_wait(&pool);
}

#[test]
fn future_result_with_cancel_task() {
    let (pool, gate, _running) = held_job(|| ());
    let f1 = submit(&pool, || ());
    let mut waiter = task::spawn(f1.result());
    assert_pending!(waiter.poll());
    assert!(f1.cancel());
    assert!(waiter.is_woken());
    assert!(matches!(
        assert_ready!(waiter.poll()),
        Err(JobError::Cancelled)
    ));
    drop(waiter);
    gate.open();
    shutdown_wait(&pool);
}

#[test]
fn future_exception_with_timeout() {
    // amphi has no `exception()`: "done" is `finished()`, "raised" is
    // `failed()`.
    let fx = Fixtures::new();
    let zero = Duration::ZERO;
    // `TimeoutError`.
    assert!(!fx.pending.finished().wait_timeout(zero));
    assert!(!fx.running.finished().wait_timeout(zero));
    // `CancelledError`: done, cancelled, not failed.
    for h in [&fx.cancelled, &fx.cancelled_and_notified] {
        assert!(h.finished().wait_timeout(zero));
        assert!(h.cancelled() && !h.failed());
    }
    // `OSError` returned.
    assert!(fx.exception.finished().wait_timeout(zero));
    assert!(fx.exception.failed());
    // `None`.
    assert!(fx.successful.finished().wait_timeout(zero));
    assert!(!fx.successful.failed());
}

#[test]
fn future_exception_with_success() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let key = gate.key();
    let f1 = submit_fallible(&pool, move || {
        hold(&key);
        Err::<i32, _>("OSError".to_owned())
    });
    let key = gate.key();
    let t = spawn_thread(move || key.set());
    assert!(f1.finished().wait_timeout(DEADLINE));
    assert!(f1.failed());
    assert_eq!(result(&f1).unwrap(), Err("OSError".to_owned()));
    t.join();
    shutdown_wait(&pool);
}

// ---------------------------------------------------------------------------
// test_init.py
// ---------------------------------------------------------------------------

thread_local! {
    /// Python's global `INITIALIZER_STATUS`, per worker thread.
    static INITIALIZER_STATUS: Cell<&'static str> = const { Cell::new("uninitialized") };
}

fn init(x: &'static str) {
    INITIALIZER_STATUS.with(|s| s.set(x));
}

fn get_init_status() -> &'static str {
    INITIALIZER_STATUS.with(Cell::get)
}

/// `InitializerMixin`: two workers, each initialized.
fn initialized_pool() -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(|| init("initialized"))
        .build()
        .unwrap()
}

/// A job that meets the other worker's job at `barrier` (so both workers
/// run one), then reads the status.
fn status_job(barrier: &Arc<Barrier>) -> impl FnOnce() -> &'static str + Send + 'static {
    let b = Arc::clone(barrier);
    move || {
        b.wait().wait_timeout(DEADLINE).expect("both workers met");
        get_init_status()
    }
}

#[test]
fn init_initializer() {
    let pool = initialized_pool();
    let barrier = Arc::new(Barrier::new(2));
    let futures: Vec<_> = (0..2)
        .map(|_| submit(&pool, status_job(&barrier)))
        .collect();
    for f in &futures {
        assert_eq!(result(f).unwrap(), "initialized");
    }
    // The test's own thread was not initialized.
    assert_eq!(get_init_status(), "uninitialized");
    shutdown_wait(&pool);
}

#[tokio::test]
async fn init_initializer_async() {
    let pool = initialized_pool();
    let barrier = Arc::new(Barrier::new(2));
    let mut futures = Vec::new();
    for _ in 0..2 {
        futures.push(within(pool.submit(status_job(&barrier))).await.unwrap());
    }
    for f in futures {
        assert_eq!(within(f).await.unwrap(), "initialized");
    }
    shutdown_wait_async(&pool).await;
}

/// `FailingInitializerMixin`: an initializer that fails once `gate` opens
/// (for `time.sleep(0.1)  # let some futures be scheduled`), by `Err` or by
/// a panic.
fn failing_pool(gate: &Gate, panics: bool) -> ThreadPoolExecutor {
    let key = gate.key();
    let builder = ThreadPoolExecutor::builder().max_workers(2);
    if panics {
        builder.initializer(move || {
            hold(&key);
            panic!("ValueError: error in initializer");
        })
    } else {
        builder.try_initializer(move || {
            hold(&key);
            Err::<(), _>("ValueError: error in initializer")
        })
    }
    .build()
    .unwrap()
}

#[track_caller]
fn assert_broken_pool<T: std::fmt::Debug>(r: Result<T, JobError>) {
    match r {
        Err(JobError::BrokenPool(why)) => {
            assert!(why.contains("ValueError: error in initializer"), "{why}");
        }
        other => panic!("expected a broken pool, got {other:?}"),
    }
}

#[test]
fn init_failing_initializer() {
    for panics in [false, true] {
        let gate = Gate::new();
        let pool = failing_pool(&gate, panics);
        // Python allows the executor to be broken already here; the gate
        // makes sure it is not.
        let future = submit(&pool, get_init_status);
        gate.open();
        // Python checks the log for 'ValueError: error in initializer';
        // amphi puts it in the error.
        assert_broken_pool(result(&future));
        assert!(future.failed());
        // From this point submit() is guaranteed to fail.
        assert!(pool.is_broken());
        assert!(matches!(
            pool.try_submit(get_init_status),
            Err(TrySubmitError::Broken(_))
        ));
        assert!(matches!(
            pool.submit_blocking(get_init_status),
            Err(SubmitError::Broken(_))
        ));
        let mut m = pool.map(|_: i32| get_init_status(), [1]);
        assert!(matches!(m.next(), Some(Err(MapError::Broken))));
        drop(m);
        shutdown_wait(&pool);
    }
}

#[tokio::test]
async fn init_failing_initializer_async() {
    let gate = Gate::new();
    let pool = failing_pool(&gate, false);
    let future = within(pool.submit(get_init_status)).await.unwrap();
    gate.open();
    assert_broken_pool(within(future).await);
    assert!(pool.is_broken());
    assert!(matches!(
        within(pool.submit(get_init_status)).await,
        Err(SubmitError::Broken(_))
    ));
    shutdown_wait_async(&pool).await;
}

// ---------------------------------------------------------------------------
// test_deadlock.py: thread-pool analogs
// ---------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
struct RuntimeError;

#[test]
fn deadlock_error_during_func_exec_on_worker() {
    // `_check_crash(RuntimeError, _raise_error, RuntimeError)`: the job's
    // own error comes back (here a panic with a typed payload), the worker
    // survives, and the shutdown does not deadlock.
    let pool = ThreadPoolExecutor::new(2);
    let res = submit(&pool, || -> () { std::panic::panic_any(RuntimeError) });
    match result(&res) {
        Err(JobError::Panicked(p)) => {
            let payload = p.into_payload().expect("the payload");
            assert_eq!(*payload.downcast::<RuntimeError>().unwrap(), RuntimeError);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.stats().panicked, 1);
    assert_eq!(pool.stats().threads, 1, "the worker survived");
    assert_eq!(result(&submit(&pool, || 1)).unwrap(), 1);
    assert_eq!(pool.stats().threads, 1, "the same worker took the next job");
    shutdown_wait(&pool);
}

#[test]
fn deadlock_shutdown_deadlock() {
    // A worker that fails (panics) after the shutdown call does not
    // deadlock the shutdown; the job reports the failure.
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let (key, started) = (gate.key(), Arc::new(Event::new()));
    let s = Arc::clone(&started);
    let f = submit(&pool, move || -> () {
        s.set();
        hold(&key);
        panic!("crash after shutdown");
    });
    assert!(started.wait().wait_timeout(DEADLINE), "the job never ran");
    let mut joining = task::spawn(pool.shutdown(false));
    assert_pending!(joining.poll());
    gate.open();
    wait_until("the shutdown is woken", || joining.is_woken());
    assert_ready!(joining.poll());
    drop(joining);
    match result(&f) {
        Err(JobError::Panicked(p)) => assert_eq!(p.message(), "crash after shutdown"),
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.stats().threads, 0);
}

#[test]
fn deadlock_crash_big_data() {
    // Every job of a map fails: a clean error per item, no deadlock
    // (Python: `BrokenProcessPool` out of `list(executor.map(...))`; in
    // amphi a job's panic is that item's error and the iteration goes on).
    let pool = ThreadPoolExecutor::new(2);
    let data = "a".repeat(1 << 16);
    let out: Vec<_> = pool
        .map(
            |d: String| -> usize { panic!("crash with {} bytes", d.len()) },
            vec![data; 10],
        )
        .timeout(DEADLINE)
        .collect();
    assert_eq!(out.len(), 10);
    for item in &out {
        assert!(
            matches!(item, Err(MapError::Job(JobError::Panicked(_)))),
            "{item:?}"
        );
    }
    shutdown_wait(&pool);
}

#[test]
fn deadlock_gh105829_should_not_deadlock_if_wakeup_pipe_full() {
    // Python's wake-up pipe filled up and blocked `submit`. The analog: a
    // job queue bounded at one, and a map that wants every item in flight.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .queue_bound(1)
        .build()
        .unwrap();
    let job_num = 100;
    let out: Vec<i32> = pool
        .map_buffered(|x: i32| x, 0..job_num, usize::MAX)
        .timeout(DEADLINE)
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, (0..job_num).collect::<Vec<_>>());
    shutdown_wait(&pool);
}

#[tokio::test]
async fn deadlock_gh105829_should_not_deadlock_if_wakeup_pipe_full_stream() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .queue_bound(1)
        .build()
        .unwrap();
    let job_num = 100;
    let out: Vec<i32> = within(
        pool.map_buffered(|x: i32| x, 0..job_num, usize::MAX)
            .stream()
            .map(Result::unwrap)
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out, (0..job_num).collect::<Vec<_>>());
    shutdown_wait_async(&pool).await;
}
