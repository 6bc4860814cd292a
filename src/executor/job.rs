//! One job: its closure while queued, its outcome once done, and the handle
//! that threads block on and tasks await.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

// loom's under `--cfg loom` (the models in `loom/`), std's otherwise.
#[cfg(loom)]
use loom::sync::atomic::AtomicUsize;
#[cfg(loom)]
use loom::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
use std::sync::atomic::AtomicUsize;
#[cfg(not(loom))]
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};

use super::error::{JobError, JobPanic};
use crate::core::{Op, Signal, Strategy, block_forever, blocking_mode, waiting_future};
use crate::event::{Event, EventWait};
use crate::panic::panic_message;
use crate::semaphore::Semaphore;

/// A closure run once by a worker, that can give itself back (as `Any`)
/// when a submission is refused.
pub(crate) trait RunOnce<T>: Send + 'static {
    fn run(self: Box<Self>) -> T;
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

impl<T, F: FnOnce() -> T + Send + 'static> RunOnce<T> for F {
    fn run(self: Box<Self>) -> T {
        self()
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

/// What the queue of an executor holds: a job, its type erased.
pub(crate) trait Runnable: Send + Sync {
    /// Runs the job in this worker, unless it was cancelled; `idle` runs
    /// once the worker is free for the next job (see `Cell::finish`).
    fn run(self: Arc<Self>, idle: &dyn Fn());
    /// Cancels the job if it has not started (`shutdown(cancel_futures)`).
    fn cancel(self: Arc<Self>) -> bool;
    /// Fails the job, not started, because the pool broke.
    fn fail(self: Arc<Self>, why: Arc<str>);
}

pub(crate) type Work = Arc<dyn Runnable>;

/// Counts shared by an executor and its jobs.
#[derive(Debug)]
pub(crate) struct Counters {
    /// Jobs in the `Queued` stage and in the queue: counted up just before
    /// the put (and down again if the put is refused), down by whoever
    /// takes the job out of that stage, so it never drifts below zero.
    pub(crate) queued: AtomicUsize,
    pub(crate) running: AtomicUsize,
    pub(crate) panicked: AtomicUsize,
    pub(crate) callback_panics: AtomicUsize,
    pub(crate) completed: AtomicUsize,
    pub(crate) cancelled: AtomicUsize,
    /// The bound on queued jobs: one permit per job in the `Queued` stage,
    /// given back when it leaves that stage (taken by a worker, cancelled,
    /// failed), so that a cancelled job still in the queue holds no room.
    pub(crate) room: Option<Semaphore>,
}

impl Counters {
    pub(crate) fn new(bound: usize) -> Self {
        Counters {
            room: (bound > 0).then(|| Semaphore::new(bound.min(Semaphore::MAX_PERMITS))),
            queued: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            panicked: AtomicUsize::new(0),
            callback_panics: AtomicUsize::new(0),
            completed: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
        }
    }

    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// A job left the `Queued` stage: uncount it and give its room back.
    fn left_queue(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
        if let Some(room) = &self.room {
            room.release(1);
        }
    }
}

/// Drops a caught panic's payload; a payload whose own drop panics is
/// leaked instead, so that no second panic escapes from where the first
/// was caught.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

enum Stage<T> {
    Queued(Box<dyn RunOnce<T>>),
    Running,
    Done(Outcome<T>),
}

enum Outcome<T> {
    /// `None` once taken.
    Value(Option<T>),
    /// `None` once taken.
    Panicked(Option<JobPanic>),
    Cancelled,
    Broken(Arc<str>),
}

type Callback<T> = Box<dyn FnOnce(&JobHandle<T>) + Send>;

/// How `wait` and `as_completed` hear of a job's end: told right after the
/// job is done, before any callback runs (a slow callback delays no
/// waiter). Never panics (it only puts an index on a queue).
pub(crate) type Hook = Box<dyn FnOnce() + Send>;

struct State<T> {
    stage: Stage<T>,
    /// Run once, in the thread that finishes the job, after waiters wake.
    callbacks: Vec<Callback<T>>,
    /// The watchers' hooks, by id (removed when a watcher gives up).
    hooks: Vec<(u64, Hook)>,
    next_hook: u64,
    /// Done by a panic, a broken pool, or an `Err` of a fallible job.
    failed: bool,
}

/// The shared part of a job.
pub(crate) struct Cell<T> {
    state: Mutex<State<T>>,
    /// Set once, when the job is done: a broadcast to every waiter.
    done: Event,
    counters: Arc<Counters>,
    /// Whether an output counts as a failure (`FirstException`).
    fallible: fn(&T) -> bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while this lock is held (closures and callbacks run
    // outside it), but never let a poisoned lock stop the pool.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T: Send + 'static> Cell<T> {
    pub(crate) fn new(
        job: Box<dyn RunOnce<T>>,
        counters: Arc<Counters>,
        fallible: fn(&T) -> bool,
    ) -> Arc<Self> {
        Arc::new(Cell {
            state: Mutex::new(State {
                stage: Stage::Queued(job),
                callbacks: Vec::new(),
                hooks: Vec::new(),
                next_hook: 0,
                failed: false,
            }),
            done: Event::new(),
            counters,
            fallible,
        })
    }

    /// Takes the closure back from a job whose submission was refused.
    pub(crate) fn take_back(&self) -> Option<Box<dyn Any + Send>> {
        let mut st = lock(&self.state);
        let job = st.take_queued()?;
        st.stage = Stage::Done(Outcome::Cancelled);
        Some(job.into_any())
    }
}

impl<T> State<T> {
    /// Takes the closure out of a job still in the `Queued` stage (the
    /// stage is `Running` until the caller sets the next one, under the
    /// same lock); `None` if the job left that stage already.
    fn take_queued(&mut self) -> Option<Box<dyn RunOnce<T>>> {
        if !matches!(self.stage, Stage::Queued(_)) {
            return None;
        }
        match std::mem::replace(&mut self.stage, Stage::Running) {
            Stage::Queued(job) => Some(job),
            _ => unreachable!("checked above"),
        }
    }
}

/// Drops a closure that will not run; a panic in its drop (in what it
/// captured) is caught, so that it cannot stop a loop over many jobs (a
/// shutdown's cancelling, a broken pool's failing) half way. The panic hook
/// has reported it already.
fn drop_quietly<T>(job: Box<dyn RunOnce<T>>) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(job))) {
        drop_payload(payload);
    }
}

impl<T> Cell<T> {
    /// Ends the job with `outcome`: wakes every waiter, tells the
    /// watchers' hooks, then runs the callbacks here. `idle` (a worker
    /// counting itself idle) runs before the waiters wake, so that the next
    /// job submitted by one of them finds the worker idle; but after the
    /// callbacks if there are any, as a callback may submit a job and wait
    /// for it, which then needs another worker.
    fn finish(
        self: &Arc<Self>,
        mut st: MutexGuard<'_, State<T>>,
        outcome: Outcome<T>,
        idle: Option<&dyn Fn()>,
    ) {
        st.failed = match &outcome {
            Outcome::Value(Some(v)) => (self.fallible)(v),
            Outcome::Value(None) | Outcome::Cancelled => false,
            Outcome::Panicked(_) | Outcome::Broken(_) => true,
        };
        st.stage = Stage::Done(outcome);
        let callbacks = std::mem::take(&mut st.callbacks);
        let hooks = std::mem::take(&mut st.hooks);
        let idle_first = callbacks.is_empty();
        if idle_first && let Some(idle) = idle {
            idle();
        }
        // Set under the lock, so that whoever sees the stage `Done`
        // (`cancelled()`, `try_result`, a callback added now) also sees
        // `done()`.
        self.done.set();
        drop(st);
        for (_, hook) in hooks {
            hook();
        }
        if !callbacks.is_empty() {
            let handle = JobHandle::from_cell(Arc::clone(self));
            for cb in callbacks {
                run_callback(&self.counters, cb, &handle);
            }
        }
        if !idle_first && let Some(idle) = idle {
            idle();
        }
    }

    /// Cancels the job if it has not started; `true` also if it was
    /// cancelled already (as Python).
    fn cancel_job(self: &Arc<Self>) -> bool {
        let mut st = lock(&self.state);
        let Some(job) = st.take_queued() else {
            return matches!(st.stage, Stage::Done(Outcome::Cancelled));
        };
        self.counters.left_queue();
        self.counters.cancelled.fetch_add(1, Ordering::Relaxed);
        self.finish(st, Outcome::Cancelled, None);
        // The closure (and what it captured) goes now, not when a worker
        // pops the job; outside the lock, as its drop is user code.
        drop_quietly(job);
        true
    }
}

fn run_callback<T>(counters: &Counters, cb: Callback<T>, handle: &JobHandle<T>) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| cb(handle))) {
        counters.callback_panics.fetch_add(1, Ordering::Relaxed);
        eprintln!(
            "amphi: a done callback of a ThreadPoolExecutor job panicked: {}",
            panic_message(&*payload)
        );
        drop_payload(payload);
    }
}

impl<T: Send + 'static> Runnable for Cell<T> {
    fn run(self: Arc<Self>, idle: &dyn Fn()) {
        let mut st = lock(&self.state);
        let Some(job) = st.take_queued() else {
            // Cancelled (or failed) while queued: the worker, which a
            // submission may have counted on, is idle again at once.
            drop(st);
            idle();
            return;
        };
        // Room first: whoever sees the job counted as running (Release,
        // read with Acquire by `stats`) also finds its queue room free.
        self.counters.left_queue();
        self.counters.running.fetch_add(1, Ordering::Release);
        drop(st);
        let outcome = match catch_unwind(AssertUnwindSafe(|| job.run())) {
            Ok(v) => Outcome::Value(Some(v)),
            Err(payload) => {
                self.counters.panicked.fetch_add(1, Ordering::Relaxed);
                Outcome::Panicked(Some(JobPanic::new(payload)))
            }
        };
        // Counted before waiters wake, so a woken waiter sees right counts.
        self.counters.running.fetch_sub(1, Ordering::Relaxed);
        self.counters.completed.fetch_add(1, Ordering::Relaxed);
        let st = lock(&self.state);
        self.finish(st, outcome, Some(idle));
    }

    fn cancel(self: Arc<Self>) -> bool {
        self.cancel_job()
    }

    fn fail(self: Arc<Self>, why: Arc<str>) {
        let mut st = lock(&self.state);
        let Some(job) = st.take_queued() else {
            return;
        };
        self.counters.left_queue();
        self.finish(st, Outcome::Broken(why), None);
        drop_quietly(job);
    }
}

/// A handle to a job's result (Python's `concurrent.futures.Future`),
/// from [`ThreadPoolExecutor::submit`](crate::ThreadPoolExecutor::submit).
///
/// * **Await it** from any tokio task (current-thread runtimes too):
///   `handle.await` gives `Result<T, JobError>`.
/// * **Block on it** from a thread: [`result_blocking`](Self::result_blocking),
///   or with a time limit `handle.result().wait_timeout(d)`, which gives
///   `None` when the time ran out, so a timeout is never mistaken for the
///   job's own outcome.
/// * **Look** without waiting: [`done`](Self::done),
///   [`running`](Self::running), [`cancelled`](Self::cancelled),
///   [`failed`](Self::failed).
/// * **Cancel** a job that has not started: [`cancel`](Self::cancel).
/// * **Be called back** when it is done:
///   [`add_done_callback`](Self::add_done_callback).
///
/// A handle is `Clone`: a task can await one clone while a thread blocks on
/// another. Every clone sees the job finish at the same moment (one
/// broadcast, no "cancelled and notified" limbo), but the result itself is
/// handed out once (the job's `T` is moved, not cloned): the first clone to
/// take it gets it, later takers get [`JobError::Taken`]. Cancellation,
/// a broken pool and "done" are seen by every clone. A panic is handed
/// out once too (its payload moves); [`failed`](Self::failed) tells every
/// clone.
///
/// Dropping a handle does not cancel the job (as Python and tokio): the job
/// runs, and its result is dropped.
///
/// # Cancel safety
///
/// Awaiting the handle (`handle.await`, `&mut handle` in a `select!`, a
/// `tokio::time::timeout` around it) is cancel safe: dropping that future
/// cancels nothing and takes nothing; the result stays for the next
/// taker. "Done" is a broadcast, so a dropped waiter takes no wake-up from
/// the others.
///
/// # Examples
///
/// ```
/// # #[tokio::main] async fn main() {
/// let pool = amphi::ThreadPoolExecutor::new(2);
/// let job = pool.submit(|| 6 * 7).await.unwrap();
/// let copy = job.clone();
/// let thread = std::thread::spawn(move || copy.finished_blocking());
/// assert_eq!(job.await.unwrap(), 42);
/// thread.join().unwrap();
/// # }
/// ```
#[doc(alias = "Future")]
#[must_use = "dropping a JobHandle does not cancel the job, but its result is lost"]
pub struct JobHandle<T> {
    cell: Arc<Cell<T>>,
    /// The handle's own wait, when it is awaited directly.
    signal: Signal,
}

impl<T> Clone for JobHandle<T> {
    fn clone(&self) -> Self {
        JobHandle {
            cell: Arc::clone(&self.cell),
            signal: Signal::new(),
        }
    }
}

impl<T> Drop for JobHandle<T> {
    fn drop(&mut self) {
        self.signal.finish(&self.cell.done);
    }
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.cell.state);
        let stage = match &st.stage {
            Stage::Queued(_) => "queued",
            Stage::Running => "running",
            Stage::Done(Outcome::Value(_)) => "finished",
            Stage::Done(Outcome::Panicked(_)) => "panicked",
            Stage::Done(Outcome::Cancelled) => "cancelled",
            Stage::Done(Outcome::Broken(_)) => "broken pool",
        };
        f.debug_struct("JobHandle")
            .field("state", &stage)
            .field("failed", &st.failed)
            .finish_non_exhaustive()
    }
}

impl<T> JobHandle<T> {
    pub(crate) fn from_cell(cell: Arc<Cell<T>>) -> Self {
        JobHandle {
            cell,
            signal: Signal::new(),
        }
    }

    pub(crate) fn cell(&self) -> &Arc<Cell<T>> {
        &self.cell
    }

    /// Whether two handles are clones for the same job.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let a = pool.try_submit(|| ()).unwrap();
    /// let b = pool.try_submit(|| ()).unwrap();
    /// assert!(a.same_job(&a.clone()));
    /// assert!(!a.same_job(&b));
    /// ```
    pub fn same_job(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.cell, &other.cell)
    }

    /// Whether the job is done: finished, panicked, cancelled, or failed by
    /// a broken pool (Python's `done()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.try_submit(|| 1).unwrap();
    /// job.finished_blocking();
    /// assert!(job.done());
    /// ```
    pub fn done(&self) -> bool {
        self.cell.done.is_set()
    }

    /// Whether a worker is running the job right now (Python's `running()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.try_submit(|| 1).unwrap();
    /// job.finished_blocking();
    /// assert!(!job.running());
    /// ```
    pub fn running(&self) -> bool {
        matches!(lock(&self.cell.state).stage, Stage::Running)
    }

    /// Whether the job was cancelled (Python's `cancelled()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.try_submit(|| 1).unwrap();
    /// job.finished_blocking();
    /// assert!(!job.cancelled());
    /// ```
    pub fn cancelled(&self) -> bool {
        matches!(
            lock(&self.cell.state).stage,
            Stage::Done(Outcome::Cancelled)
        )
    }

    /// Whether the job is done and failed: it panicked, the pool broke
    /// before it started, or (for [`submit_fallible`] jobs) it returned
    /// `Err`. A cancelled job has not failed (as Python's `exception()`,
    /// which raises `CancelledError` rather than returning one). What
    /// `wait(.., FirstException)` looks at.
    ///
    /// [`submit_fallible`]: crate::ThreadPoolExecutor::submit_fallible
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.try_submit(|| -> () { panic!("x") }).unwrap();
    /// job.finished_blocking();
    /// assert!(job.failed());
    /// ```
    pub fn failed(&self) -> bool {
        lock(&self.cell.state).failed
    }

    /// Takes the result if the job is done, without waiting: `None` while
    /// it is queued or running.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.try_submit(|| 5).unwrap();
    /// job.finished_blocking();
    /// assert_eq!(job.try_result().unwrap().unwrap(), 5);
    /// assert!(matches!(job.try_result(), Some(Err(amphi::JobError::Taken))));
    /// ```
    pub fn try_result(&self) -> Option<Result<T, JobError>> {
        let mut st = lock(&self.cell.state);
        let Stage::Done(outcome) = &mut st.stage else {
            return None;
        };
        Some(match outcome {
            Outcome::Value(v) => v.take().ok_or(JobError::Taken),
            Outcome::Panicked(p) => p
                .take()
                .map(JobError::Panicked)
                .map_or(Err(JobError::Taken), Err),
            Outcome::Cancelled => Err(JobError::Cancelled),
            Outcome::Broken(why) => Err(JobError::BrokenPool(Arc::clone(why))),
        })
    }

    /// Waits for the job's result; `.await` it, or block with
    /// [`JobResult::wait`] / [`wait_timeout`](JobResult::wait_timeout).
    ///
    /// Timed forms give `None` when the time ran out (the job goes on), and
    /// `Some(outcome)` otherwise.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future cancels nothing (not the job) and
    /// takes nothing; the result stays for the next taker.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.try_submit(|| { std::thread::sleep(Duration::from_millis(50)); 1 }).unwrap();
    /// assert!(job.result().wait_timeout(Duration::from_millis(1)).is_none());
    /// assert_eq!(job.result().wait().unwrap(), 1);
    /// ```
    pub fn result(&self) -> JobResult<'_, T> {
        JobResult {
            handle: self,
            done: self.cell.done.wait(),
        }
    }

    /// Blocks the thread until the job is done and takes its result
    /// (Python's `result()`).
    ///
    /// # Blocking
    ///
    /// As [`JobResult::wait`]: parks the thread (a tokio multi-thread
    /// worker moves its other tasks away first); on the thread of a
    /// current-thread runtime it panics at the caller's line, every time:
    /// `.await` the handle there.
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.try_submit(|| "done").unwrap();
    /// assert_eq!(job.result_blocking().unwrap(), "done");
    /// ```
    #[doc(alias = "blocking_result")]
    #[track_caller]
    pub fn result_blocking(&self) -> Result<T, JobError> {
        let mode = blocking_mode("JobHandle::result_blocking");
        block_forever(&mut self.result(), mode)
    }

    /// Waits until the job is done, without taking the result; `.await`
    /// it, or block with [`JobFinished::wait`] /
    /// [`wait_timeout`](JobFinished::wait_timeout) (`false`: the time ran
    /// out).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: "done" is a broadcast; a dropped waiter takes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.submit(|| 1).await.unwrap();
    /// job.finished().await;
    /// assert!(job.done());
    /// # }
    /// ```
    pub fn finished(&self) -> JobFinished<'_, T> {
        JobFinished {
            handle: self,
            done: self.cell.done.wait(),
        }
    }

    /// Blocks the thread until the job is done.
    ///
    /// # Blocking
    ///
    /// As [`JobFinished::wait`].
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.try_submit(|| 1).unwrap();
    /// job.finished_blocking();
    /// assert!(job.done());
    /// ```
    #[doc(alias = "blocking_finished")]
    #[track_caller]
    pub fn finished_blocking(&self) {
        let mode = blocking_mode("JobHandle::finished_blocking");
        block_forever(&mut self.finished(), mode)
    }
}

impl<T> JobHandle<T> {
    /// Cancels the job if it has not started (Python's `cancel()`): it will
    /// never run, every waiter (awaiting tasks, blocked threads, `wait`,
    /// `as_completed`) sees it cancelled at once, its callbacks run here,
    /// and then its closure is dropped (a panic in that drop is caught; the
    /// panic hook reports it). Returns `false` if the job is running or
    /// done (not cancelled), `true` if it is cancelled (now or before).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let gate = std::sync::Arc::new(amphi::Event::new());
    /// let g = gate.clone();
    /// let busy = pool.try_submit(move || { g.wait_blocking(); }).unwrap();
    /// let queued = pool.try_submit(|| unreachable!()).unwrap();
    /// assert!(queued.cancel());
    /// assert!(queued.cancelled() && queued.done());
    /// gate.set();
    /// busy.result_blocking().unwrap();
    /// assert!(!busy.cancel());
    /// ```
    pub fn cancel(&self) -> bool {
        self.cell.cancel_job()
    }
}

impl<T: Send + 'static> JobHandle<T> {
    /// Runs `f` with this handle once the job is done: at once, in this
    /// thread, if it is done already; else in the thread that finishes it
    /// (the worker, or the caller of `cancel`/`shutdown`), after the
    /// waiters were woken. Callbacks run in the order they were added. A
    /// panicking callback is caught: it is counted in
    /// [`ExecutorStats::callback_panics`](crate::ExecutorStats), reported
    /// on stderr, and the other callbacks still run (Python logs it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.try_submit(|| 3).unwrap();
    /// let seen = Arc::new(AtomicBool::new(false));
    /// let s = seen.clone();
    /// job.add_done_callback(move |h| s.store(h.done(), Ordering::SeqCst));
    /// job.finished_blocking();
    /// # pool.shutdown(false).wait();
    /// assert!(seen.load(Ordering::SeqCst));
    /// ```
    pub fn add_done_callback(&self, f: impl FnOnce(&JobHandle<T>) + Send + 'static) {
        self.on_done(Box::new(f));
    }

    fn on_done(&self, f: Callback<T>) {
        let mut st = lock(&self.cell.state);
        if matches!(st.stage, Stage::Done(_)) {
            drop(st);
            run_callback(&self.cell.counters, f, self);
        } else {
            st.callbacks.push(f);
        }
    }
}

impl<T> JobHandle<T> {
    /// Hangs a watcher's hook on the job: its id, or `None` if the job is
    /// done already (then the hook ran here, now).
    pub(crate) fn add_hook(&self, hook: Hook) -> Option<u64> {
        let mut st = lock(&self.cell.state);
        if matches!(st.stage, Stage::Done(_)) {
            drop(st);
            hook();
            return None;
        }
        let id = st.next_hook;
        st.next_hook += 1;
        st.hooks.push((id, hook));
        Some(id)
    }

    /// Takes a watcher's hook off again (the watcher gave up or was
    /// dropped); nothing if it ran already.
    pub(crate) fn remove_hook(&self, id: u64) {
        let mut st = lock(&self.cell.state);
        if let Some(i) = st.hooks.iter().position(|(h, _)| *h == id) {
            let hook = st.hooks.swap_remove(i).1;
            drop(st);
            drop(hook);
        }
    }
}

impl<T> Op for JobHandle<T> {
    type Output = Result<T, JobError>;
    type Timed = Option<Result<T, JobError>>;

    fn name(&self) -> &'static str {
        "JobHandle::result"
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Output> {
        // The handle owns its wait (it cannot hold an `EventWait` borrowing
        // its own job), with the same `Signal` an `EventWait` uses.
        let cell = Arc::clone(&self.cell);
        match self.signal.poll(&cell.done, s) {
            Poll::Ready(()) => Poll::Ready(self.try_result().expect("done")),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_expired(&mut self, _: &mut Strategy<'_, '_>) -> Poll<Self::Timed> {
        self.signal.finish(&self.cell.done);
        Poll::Ready(self.try_result())
    }

    fn in_time(out: Self::Output) -> Self::Timed {
        Some(out)
    }
}

/// Awaiting a handle takes the job's result. Polling it again after that
/// gives `Err(JobError::Taken)`.
impl<T> Future for JobHandle<T> {
    type Output = Result<T, JobError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_op(&mut Strategy::Async(cx))
    }
}

/// A wait for a job's result, from [`JobHandle::result`].
///
/// Output `Result<T, JobError>`; the timed forms give
/// `Option<Result<T, JobError>>`, `None` when the time ran out.
///
/// # Examples
///
/// ```
/// let pool = amphi::ThreadPoolExecutor::new(1);
/// let job = pool.try_submit(|| 1).unwrap();
/// let fut: amphi::futures::JobResult<'_, i32> = job.result();
/// assert_eq!(fut.wait().unwrap(), 1);
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it or use `JobHandle::result_blocking`"]
pub struct JobResult<'a, T> {
    handle: &'a JobHandle<T>,
    /// The wait for the job's "done" broadcast.
    done: EventWait<'a>,
}

impl<T> fmt::Debug for JobResult<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobResult")
            .field("job", self.handle)
            .finish_non_exhaustive()
    }
}

impl<T> Op for JobResult<'_, T> {
    type Output = Result<T, JobError>;
    type Timed = Option<Result<T, JobError>>;

    fn name(&self) -> &'static str {
        "JobHandle::result"
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Output> {
        let handle = self.handle;
        self.done
            .poll_op(s)
            .map(|_| handle.try_result().expect("done"))
    }

    fn poll_expired(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Timed> {
        let handle = self.handle;
        self.done.poll_expired(s).map(|_| handle.try_result())
    }

    fn in_time(out: Self::Output) -> Self::Timed {
        Some(out)
    }
}

waiting_future! {
    impl['a, T] JobResult<'a, T> => Result<T, JobError>, timed Option<Result<T, JobError>>;
    example: "```
use std::time::Duration;
let pool = amphi::ThreadPoolExecutor::new(1);
let job = pool.try_submit(|| 2).unwrap();
assert_eq!(job.result().wait_timeout(Duration::from_secs(5)).unwrap().unwrap(), 2);
```"
}

/// A wait until a job is done, from [`JobHandle::finished`]. Output `()`;
/// the timed forms give `bool` (`false`: the time ran out).
///
/// # Examples
///
/// ```
/// let pool = amphi::ThreadPoolExecutor::new(1);
/// let job = pool.try_submit(|| 1).unwrap();
/// let fut: amphi::futures::JobFinished<'_, i32> = job.finished();
/// fut.wait();
/// assert!(job.done());
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it or use `JobHandle::finished_blocking`"]
pub struct JobFinished<'a, T> {
    handle: &'a JobHandle<T>,
    /// The wait for the job's "done" broadcast.
    done: EventWait<'a>,
}

impl<T> fmt::Debug for JobFinished<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobFinished")
            .field("job", self.handle)
            .finish_non_exhaustive()
    }
}

impl<T> Op for JobFinished<'_, T> {
    type Output = ();
    type Timed = bool;

    fn name(&self) -> &'static str {
        "JobHandle::finished"
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<()> {
        self.done.poll_op(s).map(|_| ())
    }

    fn poll_expired(&mut self, s: &mut Strategy<'_, '_>) -> Poll<bool> {
        self.done.poll_expired(s)
    }

    fn in_time((): ()) -> bool {
        true
    }
}

waiting_future! {
    impl['a, T] JobFinished<'a, T> => (), timed bool;
    example: "```
use std::time::Duration;
let pool = amphi::ThreadPoolExecutor::new(1);
let job = pool.try_submit(|| 2).unwrap();
assert!(job.finished().wait_timeout(Duration::from_secs(5)));
```"
}
