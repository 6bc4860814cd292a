//! [`ThreadPoolExecutor`]: a pool of threads whose jobs tasks await and
//! threads block on (Python's `concurrent.futures.ThreadPoolExecutor`).
//!
//! Built on amphi's own primitives: the jobs wait in a [`Queue`] (whose
//! bound gives `submit` its backpressure, in every form), each job's "done"
//! is an [`Event`] (one broadcast to every waiter), and `as_completed` /
//! `wait` collect completions in a `Queue` too.

mod completion;
mod error;
mod job;
mod map;

use std::cell::Cell as StdCell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering};

// loom's under `--cfg loom` (the models in `loom/`), std's otherwise.
#[cfg(loom)]
use loom::sync::atomic::AtomicUsize;
#[cfg(loom)]
use loom::sync::{Mutex, MutexGuard};
#[cfg(loom)]
use loom::thread::Builder as ThreadBuilder;
#[cfg(not(loom))]
use std::sync::atomic::AtomicUsize;
#[cfg(not(loom))]
use std::sync::{Mutex, MutexGuard};
use std::task::Poll;
#[cfg(not(loom))]
use std::thread::Builder as ThreadBuilder;

pub use completion::{
    AsCompleted, AsCompletedStream, ReturnWhen, WaitJobs, Waited, as_completed, wait,
};

pub use error::{
    AsCompletedTimeout, BuildError, JobError, JobPanic, MapError, SubmitError, SubmitTimeoutError,
    TrySubmitError,
};
pub use job::{JobFinished, JobHandle, JobResult};
pub use map::{Map, MapStream};

use crate::core::{Op, Strategy, block_forever, blocking_mode, waiting_future};
use crate::event::Event;
use crate::queue::Queue;
use crate::semaphore::{AcquireFuture, AcquireTimeoutError, Closed, Semaphore, TryAcquireError};
use job::{Cell, Counters, RunOnce, Work};

type Initializer = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// How a pool is made: see [`ThreadPoolExecutor::builder`].
///
/// # Examples
///
/// ```
/// let pool = amphi::ThreadPoolExecutor::builder()
///     .max_workers(4)
///     .thread_name_prefix("io")
///     .stack_size(256 * 1024)
///     .queue_bound(100)
///     .initializer(|| println!("worker up"))
///     .build()
///     .unwrap();
/// assert_eq!(pool.max_workers(), 4);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ExecutorBuilder {
    max_workers: Option<usize>,
    prefix: Option<String>,
    stack_size: Option<usize>,
    queue_bound: usize,
    initializer: Option<Initializer>,
}

impl fmt::Debug for ExecutorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutorBuilder")
            .field("max_workers", &self.max_workers)
            .field("thread_name_prefix", &self.prefix)
            .field("stack_size", &self.stack_size)
            .field("queue_bound", &self.queue_bound)
            .field("initializer", &self.initializer.is_some())
            .finish()
    }
}

impl ExecutorBuilder {
    /// At most this many worker threads (default: Python's
    /// `min(32, cpus + 4)`, with `cpus` from
    /// `std::thread::available_parallelism`, which also honours cgroup CPU
    /// quotas where Python 3.13 counts the CPUs the process may run on).
    /// Zero is refused by [`build`](Self::build).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::builder().max_workers(3).build().unwrap();
    /// assert_eq!(pool.max_workers(), 3);
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Names the threads `{prefix}_{n}` (n from 0), as Python does. The
    /// default prefix (also for an empty one) is `ThreadPoolExecutor-{k}`,
    /// k counting pools. A NUL byte is refused by [`build`](Self::build).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::builder().thread_name_prefix("db").build().unwrap();
    /// let name = pool.try_submit(|| std::thread::current().name().unwrap().to_owned()).unwrap();
    /// assert_eq!(name.result_blocking().unwrap(), "db_0");
    /// ```
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The workers' stack size in bytes (default: std's; 0 also means the
    /// default, as Python's `threading.stack_size(0)`). std raises a size
    /// below the platform's minimum to that minimum, so a small stack can
    /// overflow in a job, which aborts the process.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::builder().stack_size(1 << 20).build().unwrap();
    /// assert_eq!(pool.try_submit(|| 1).unwrap().result_blocking().unwrap(), 1);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// At most `bound` jobs wait in the queue (0, the default: no bound, as
    /// Python). When it is full, [`submit`](ThreadPoolExecutor::submit)
    /// waits for room (async, blocking or timed) and
    /// [`try_submit`](ThreadPoolExecutor::try_submit) refuses with `Full`:
    /// backpressure for a fast producer. Running jobs do not count, and a
    /// cancelled job gives its room back at once. A job that submits to its
    /// own full pool and waits for room can wait forever if every worker
    /// does the same: submit from a job with `try_submit` or a timeout. (A bound above
    /// [`Semaphore::MAX_PERMITS`](crate::Semaphore::MAX_PERMITS) counts as
    /// that.)
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::builder().queue_bound(8).build().unwrap();
    /// assert_eq!(pool.queue_bound(), 8);
    /// ```
    pub fn queue_bound(mut self, bound: usize) -> Self {
        self.queue_bound = bound;
        self
    }

    /// Runs `f` once in each worker, before its first job. If it panics,
    /// the pool is broken (see [`ThreadPoolExecutor`]).
    ///
    /// # Examples
    ///
    /// ```
    /// thread_local!(static CONN: std::cell::Cell<u32> = const { std::cell::Cell::new(0) });
    /// let pool = amphi::ThreadPoolExecutor::builder()
    ///     .initializer(|| CONN.with(|c| c.set(7)))
    ///     .build()
    ///     .unwrap();
    /// let job = pool.try_submit(|| CONN.with(|c| c.get())).unwrap();
    /// assert_eq!(job.result_blocking().unwrap(), 7);
    /// ```
    pub fn initializer(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.initializer = Some(Arc::new(move || {
            f();
            Ok(())
        }));
        self
    }

    /// Like [`initializer`](Self::initializer), for one that can fail: an
    /// `Err` (or a panic) breaks the pool, and the failed jobs'
    /// [`JobError::BrokenPool`] says `an initializer failed: {error}` (or
    /// `an initializer panicked: {message}`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::builder()
    ///     .try_initializer(|| Err::<(), _>("no database"))
    ///     .build()
    ///     .unwrap();
    /// let job = pool.try_submit(|| 1).unwrap();
    /// assert!(matches!(job.result_blocking(), Err(amphi::JobError::BrokenPool(_))));
    /// assert!(pool.is_broken());
    /// ```
    pub fn try_initializer<E: fmt::Display>(
        mut self,
        f: impl Fn() -> Result<(), E> + Send + Sync + 'static,
    ) -> Self {
        self.initializer = Some(Arc::new(move || f().map_err(|e| e.to_string())));
        self
    }

    /// Makes the pool; no thread starts until the first job comes.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroWorkers`] for `max_workers(0)`,
    /// [`BuildError::NulInThreadName`] for a prefix with a NUL byte (a
    /// thread name cannot hold one).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(amphi::ThreadPoolExecutor::builder().build().is_ok());
    /// ```
    pub fn build(self) -> Result<ThreadPoolExecutor, BuildError> {
        let max_workers = self.max_workers.unwrap_or_else(default_max_workers);
        if max_workers == 0 {
            return Err(BuildError::ZeroWorkers);
        }
        if self.prefix.as_ref().is_some_and(|p| p.contains('\0')) {
            return Err(BuildError::NulInThreadName);
        }
        static POOLS: StdAtomicUsize = StdAtomicUsize::new(0);
        // An empty prefix is no prefix (Python's `prefix or default`).
        let prefix = self.prefix.filter(|p| !p.is_empty()).unwrap_or_else(|| {
            format!(
                "ThreadPoolExecutor-{}",
                POOLS.fetch_add(1, Ordering::Relaxed)
            )
        });
        Ok(ThreadPoolExecutor {
            inner: Arc::new(Inner {
                // Unbounded: the bound is the counters' `room` semaphore,
                // whose permits cancelled jobs give back at once.
                queue: Queue::unbounded(),
                counters: Arc::new(Counters::new(self.queue_bound)),
                bound: self.queue_bound,
                idle_tokens: AtomicUsize::new(0),
                live: AtomicUsize::new(0),
                pool: Mutex::new(PoolState {
                    spawned: 0,
                    shutdown: false,
                    broken: None,
                }),
                exited: Event::new(),
                max_workers,
                prefix,
                stack_size: self.stack_size,
                initializer: self.initializer,
            }),
        })
    }
}

/// Python's default: `min(32, os.cpu_count() + 4)`.
fn default_max_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    32.min(cpus + 4)
}

struct PoolState {
    /// Threads ever started: the next name's number.
    spawned: usize,
    shutdown: bool,
    broken: Option<Arc<str>>,
}

pub(crate) struct Inner {
    queue: Queue<Work>,
    counters: Arc<Counters>,
    /// The bound on queued jobs (0: none), as given.
    bound: usize,
    /// Python's idle semaphore: one token per job a worker finished, taken
    /// by a submission instead of starting a new thread. Idle workers are
    /// reused first.
    idle_tokens: AtomicUsize,
    /// Worker threads alive (started, not yet exited): changed only under
    /// the pool's lock, read without it on the submit path.
    live: AtomicUsize,
    pool: Mutex<PoolState>,
    /// Set once the pool is shut down (or broken) and every worker exited.
    exited: Event,
    max_workers: usize,
    prefix: String,
    stack_size: Option<usize>,
    initializer: Option<Initializer>,
}

#[cfg(not(loom))]
thread_local! {
    /// The pool whose worker this thread is (its `Inner`'s address), or 0.
    static WORKER_OF: StdCell<usize> = const { StdCell::new(0) };
}
#[cfg(loom)]
loom::thread_local! {
    static WORKER_OF: StdCell<usize> = StdCell::new(0);
}

fn lock(m: &Mutex<PoolState>) -> MutexGuard<'_, PoolState> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts a worker out when its loop ends, even by a panic.
struct Exit<'a>(&'a Inner);

impl Drop for Exit<'_> {
    fn drop(&mut self) {
        self.0.exit();
    }
}

impl Inner {
    fn id(&self) -> usize {
        self as *const Inner as usize
    }

    fn on_own_worker(&self) -> bool {
        WORKER_OF.with(|w| w.get()) == self.id()
    }

    /// A new job and its queue entry (counted as queued once it is in).
    fn new_job<T: Send + 'static>(
        &self,
        run: Box<dyn RunOnce<T>>,
        fallible: fn(&T) -> bool,
    ) -> (JobHandle<T>, Work) {
        let cell = Cell::new(run, Arc::clone(&self.counters), fallible);
        let work: Work = cell.clone();
        (JobHandle::from_cell(cell), work)
    }

    /// A submission that did not go in: take the closure back out of its
    /// job.
    fn refused<F: 'static, T: Send + 'static>(&self, handle: JobHandle<T>, work: Work) -> F {
        drop(work);
        let any = handle
            .cell()
            .take_back()
            .expect("a refused job never started");
        *any.downcast::<F>().expect("the job's own closure type")
    }

    fn refusal<F>(&self, f: F) -> SubmitError<F> {
        if lock(&self.pool).broken.is_some() {
            SubmitError::Broken(f)
        } else {
            SubmitError::ShutDown(f)
        }
    }

    /// After a job went in: reuse an idle worker, or start one if there
    /// are fewer than `max_workers` (Python's `_adjust_thread_count`).
    fn went_in(self: &Arc<Self>) {
        let mut tokens = self.idle_tokens.load(Ordering::Acquire);
        while tokens > 0 {
            match self.idle_tokens.compare_exchange_weak(
                tokens,
                tokens - 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => tokens = now,
            }
        }
        // All the threads there may be are there (they leave only at a
        // shutdown): nothing to start, and no need for the pool's lock.
        if self.live.load(Ordering::Acquire) >= self.max_workers {
            return;
        }
        let mut pool = lock(&self.pool);
        let threads = self.live.load(Ordering::Acquire);
        if threads >= self.max_workers || pool.broken.is_some() {
            return;
        }
        // After a shutdown a worker is still started for jobs that went in
        // just before it, so that none is left without a thread.
        if pool.shutdown && self.queue.is_empty() {
            return;
        }
        let n = pool.spawned;
        let mut builder = ThreadBuilder::new().name(format!("{}_{n}", self.prefix));
        if let Some(size) = self.stack_size.filter(|&s| s > 0) {
            builder = builder.stack_size(size);
        }
        let inner = Arc::clone(self);
        match builder.spawn(move || inner.work()) {
            Ok(_) => {
                pool.spawned += 1;
                self.live.store(threads + 1, Ordering::Release);
            }
            Err(e) if threads == 0 => {
                // No thread will ever take these jobs: fail them rather
                // than leave them waiting forever.
                drop(pool);
                self.mark_broken(format!("could not start a worker thread: {e}"));
            }
            // The threads there are will take the job.
            Err(_) => {}
        }
    }

    /// The worker's loop.
    fn work(self: Arc<Self>) {
        WORKER_OF.with(|w| w.set(self.id()));
        // However the worker ends, it is counted out (and the last one
        // out tells the shutdown's waiters).
        let _exit = Exit(&self);
        if let Some(init) = &self.initializer {
            let failure = match catch_unwind(AssertUnwindSafe(|| init())) {
                Ok(Ok(())) => None,
                Ok(Err(why)) => Some((format!("an initializer failed: {why}"), None)),
                Err(payload) => Some((
                    format!(
                        "an initializer panicked: {}",
                        crate::panic::panic_message(&*payload)
                    ),
                    Some(payload),
                )),
            };
            if let Some((why, payload)) = failure {
                self.mark_broken(why);
                if let Some(payload) = payload {
                    job::drop_payload(payload);
                }
                return;
            }
        }
        // The worker counts itself idle before the job's waiters wake, so
        // that a caller who submits the next job as soon as it has this
        // one's result finds the worker idle (one job at a time: one
        // thread).
        let idle = || {
            self.idle_tokens.fetch_add(1, Ordering::AcqRel);
        };
        while let Ok(job) = self.queue.get_blocking() {
            // The job's own panic is caught inside; what is left is a
            // panic while dropping its result or closure (the last handle
            // was gone): the panic hook reported it, and the worker goes
            // on.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| job.run(&idle))) {
                job::drop_payload(payload);
            }
        }
    }

    fn exit(&self) {
        let pool = lock(&self.pool);
        let threads = self.live.load(Ordering::Acquire) - 1;
        self.live.store(threads, Ordering::Release);
        let last = threads == 0 && (pool.shutdown || pool.broken.is_some());
        drop(pool);
        WORKER_OF.with(|w| w.set(0));
        if last {
            self.exited.set();
        }
    }

    /// An initializer failed: refuse new jobs and fail every queued one
    /// (Python's `_initializer_failed`). Running jobs finish.
    fn mark_broken(&self, why: String) {
        let mut pool = lock(&self.pool);
        if pool.broken.is_some() {
            return;
        }
        let why: Arc<str> = why.into();
        pool.broken = Some(Arc::clone(&why));
        let queued = self.queue.shutdown(true);
        self.close_room();
        let none_left = self.live.load(Ordering::Acquire) == 0;
        drop(pool);
        for job in queued {
            job.fail(Arc::clone(&why));
        }
        if none_left {
            self.exited.set();
        }
    }

    /// Submitters waiting for room wake, refused.
    fn close_room(&self) {
        if let Some(room) = &self.counters.room {
            room.close();
        }
    }

    /// A job the caller took room for (a permit, if there is a bound) goes
    /// in: its handle, or the closure back if the pool is shut down.
    fn put_in<F: 'static, T: Send + 'static>(
        self: &Arc<Self>,
        handle: JobHandle<T>,
        work: Work,
    ) -> Result<JobHandle<T>, SubmitError<F>> {
        // Counted before the put, so that the worker that takes the job
        // (and counts it down) always comes after.
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        match self.queue.try_put(work) {
            Ok(()) => {
                self.went_in();
                Ok(handle)
            }
            Err(e) => {
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                if let Some(room) = &self.counters.room {
                    room.release(1);
                }
                let f = self.refused(handle, e.into_inner());
                Err(self.refusal(f))
            }
        }
    }

    fn shutdown(&self, cancel_futures: bool) {
        let mut pool = lock(&self.pool);
        pool.shutdown = true;
        // Puts fail from here on; workers take what is queued, then exit.
        self.queue.shutdown(false);
        self.close_room();
        let cancelled = if cancel_futures {
            self.queue.drain()
        } else {
            Vec::new()
        };
        let none_left = self.live.load(Ordering::Acquire) == 0 && self.queue.is_empty();
        drop(pool);
        for job in cancelled {
            job.cancel();
        }
        if none_left {
            self.exited.set();
        }
    }
}

/// A pool of worker threads whose jobs a tokio task can await and a thread
/// can block on (Python's `concurrent.futures.ThreadPoolExecutor`).
///
/// * [`submit`](Self::submit) / [`try_submit`](Self::try_submit) /
///   [`submit_blocking`](Self::submit_blocking) give a [`JobHandle`]:
///   `.await` it from a task, or
///   [`result_blocking`](JobHandle::result_blocking) from a thread.
/// * [`map`](Self::map): results in input order, lazily, as an iterator
///   (blocking) or a `Stream`.
/// * [`as_completed`](crate::as_completed) and [`wait`](crate::wait) over
///   any handles.
/// * [`shutdown`](Self::shutdown): no new jobs; optionally cancel the
///   queued ones; `.await` or `.wait()` the returned future to join the
///   workers.
///
/// Workers start lazily, one per job while there are fewer than
/// `max_workers`, and an idle worker is reused before a new one starts (as
/// Python). They live until shutdown. A job's panic is caught: the worker
/// survives, the handle gives [`JobError::Panicked`] with the message and
/// payload, and [`stats`](Self::stats) counts it. The panic hook still runs
/// first, as for any thread (the default hook prints the message on
/// stderr; `std::panic::set_hook` changes that).
///
/// **Broken pool** (as Python's `BrokenThreadPool`): if an initializer
/// panics or fails, the pool is broken: queued jobs fail with
/// [`JobError::BrokenPool`], later submissions are refused with `Broken`,
/// jobs already running finish.
///
/// **Dropping** the executor shuts it down without waiting (Python's
/// `shutdown(wait=False)`): no new jobs can come, the queued jobs still run,
/// and the workers exit when the queue is empty. Dropping never blocks, so
/// it cannot deadlock, in a runtime or in one of the pool's own jobs. To
/// join the workers (Python's `with` block), `.await` or `.wait()`
/// [`shutdown`](Self::shutdown) first. The process does not wait for
/// workers at exit (as any Rust thread).
///
/// # Examples
///
/// ```
/// # #[tokio::main] async fn main() {
/// let pool = amphi::ThreadPoolExecutor::new(4);
/// // From a task: submit, then await the result.
/// let job = pool.submit(|| (1..=10).sum::<u32>()).await.unwrap();
/// assert_eq!(job.await.unwrap(), 55);
/// // From a thread: the same pool, blocking.
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         let job = pool.submit_blocking(|| "hello").unwrap();
///         assert_eq!(job.result_blocking().unwrap(), "hello");
///     });
/// });
/// pool.shutdown(false).await; // joins the workers
/// # }
/// ```
pub struct ThreadPoolExecutor {
    inner: Arc<Inner>,
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolExecutor")
            .field("max_workers", &self.inner.max_workers)
            .field("thread_name_prefix", &self.inner.prefix)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        self.inner.shutdown(false);
    }
}

/// What a pool is doing right now (a snapshot): from
/// [`ThreadPoolExecutor::stats`].
///
/// # Examples
///
/// ```
/// let pool = amphi::ThreadPoolExecutor::new(2);
/// pool.try_submit(|| ()).unwrap().result_blocking().unwrap();
/// let s = pool.stats();
/// assert_eq!((s.queued, s.running, s.completed), (0, 0, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct ExecutorStats {
    /// Jobs waiting for a worker (cancelled ones not included).
    pub queued: usize,
    /// Jobs a worker runs right now.
    pub running: usize,
    /// Worker threads alive and not running a job.
    pub idle: usize,
    /// Worker threads alive.
    pub threads: usize,
    /// Jobs that ran to the end (returned or panicked).
    pub completed: usize,
    /// Jobs that panicked.
    pub panicked: usize,
    /// Jobs cancelled before they started.
    pub cancelled: usize,
    /// Done callbacks that panicked (caught and reported).
    pub callback_panics: usize,
}

impl ThreadPoolExecutor {
    /// A pool of at most `max_workers` threads, with no bound on queued
    /// jobs. No thread starts until the first job comes. Dropping the
    /// executor does not wait for the workers; see [`ThreadPoolExecutor`].
    ///
    /// # Panics
    ///
    /// If `max_workers` is 0 (Python raises `ValueError`); use
    /// [`builder`](Self::builder) to get an error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(8);
    /// assert_eq!(pool.stats().threads, 0);
    /// ```
    #[track_caller]
    pub fn new(max_workers: usize) -> Self {
        match Self::builder().max_workers(max_workers).build() {
            Ok(pool) => pool,
            Err(e) => panic!("ThreadPoolExecutor::new: {e}"),
        }
    }

    /// A builder: worker count, thread names, stack size, initializer and
    /// a bound on queued jobs.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::builder().max_workers(2).build().unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// ```
    pub fn builder() -> ExecutorBuilder {
        ExecutorBuilder {
            max_workers: None,
            prefix: None,
            stack_size: None,
            queue_bound: 0,
            initializer: None,
        }
    }

    /// The most threads this pool starts.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(amphi::ThreadPoolExecutor::new(3).max_workers(), 3);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.inner.max_workers
    }

    /// The bound on queued jobs as given (0: none; a bound above
    /// [`Semaphore::MAX_PERMITS`](crate::Semaphore::MAX_PERMITS) acts as
    /// that).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(amphi::ThreadPoolExecutor::new(3).queue_bound(), 0);
    /// ```
    pub fn queue_bound(&self) -> usize {
        self.inner.bound
    }

    /// Counts of queued, running and idle, threads, completed and panicked
    /// jobs (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.try_submit(|| -> () { panic!("counted") }).unwrap();
    /// assert!(job.result_blocking().is_err());
    /// assert_eq!(pool.stats().panicked, 1);
    /// ```
    pub fn stats(&self) -> ExecutorStats {
        let c = &self.inner.counters;
        let threads = self.inner.live.load(Ordering::Acquire);
        let running = c.running.load(Ordering::Acquire);
        ExecutorStats {
            queued: c.queued(),
            running,
            idle: threads.saturating_sub(running),
            threads,
            completed: c.completed.load(Ordering::Relaxed),
            panicked: c.panicked.load(Ordering::Relaxed),
            cancelled: c.cancelled.load(Ordering::Relaxed),
            callback_panics: c.callback_panics.load(Ordering::Relaxed),
        }
    }

    /// Whether [`shutdown`](Self::shutdown) was called (or the executor is
    /// being dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// drop(pool.shutdown(false));
    /// assert!(pool.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        lock(&self.inner.pool).shutdown
    }

    /// Whether the pool is broken: an initializer failed, or not even one
    /// worker thread could be started.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!amphi::ThreadPoolExecutor::new(1).is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        lock(&self.inner.pool).broken.is_some()
    }

    /// Submits `f` and gives a handle to its result, never waiting: with
    /// no bound on the queue this is Python's `submit`.
    ///
    /// # Errors
    ///
    /// The closure comes back in the error: `Full` (the queue is at its
    /// [bound](ExecutorBuilder::queue_bound)), `ShutDown`, or `Broken`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(2);
    /// let job = pool.try_submit(|| 2 + 2).unwrap();
    /// assert_eq!(job.result_blocking().unwrap(), 4);
    /// ```
    pub fn try_submit<F, T>(&self, f: F) -> Result<JobHandle<T>, TrySubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_submit_job(f, never_failed)
    }

    pub(crate) fn try_submit_job<F, T>(
        &self,
        f: F,
        fallible: fn(&T) -> bool,
    ) -> Result<JobHandle<T>, TrySubmitError<F>>
    where
        F: RunOnce<T>,
        T: Send + 'static,
    {
        if let Some(room) = &self.inner.counters.room {
            match room.try_acquire() {
                Ok(permit) => permit.forget(),
                Err(TryAcquireError::NoPermits) => return Err(TrySubmitError::Full(f)),
                Err(TryAcquireError::Closed) => return Err(self.inner.refusal(f).into()),
            }
        }
        let (handle, work) = self.inner.new_job(Box::new(f), fallible);
        self.inner.put_in(handle, work).map_err(Into::into)
    }

    /// Submits `f`, waiting for room if the queue is at its
    /// [bound](ExecutorBuilder::queue_bound); `.await` it, or block with
    /// [`Submit::wait`] / [`wait_timeout`](Submit::wait_timeout). With no
    /// bound it is ready at once.
    ///
    /// The output is the job's [`JobHandle`], or the closure back in a
    /// [`SubmitError`] (`ShutDown`, `Broken`); the timed forms add
    /// [`SubmitTimeoutError::TimedOut`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a submission dropped before it is ready never queued
    /// its job (the closure is dropped with the future; take it back first
    /// with [`Submit::into_closure`]). A turn for room it had been given
    /// passes on to the next waiting submitter.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let pool = amphi::ThreadPoolExecutor::new(2);
    /// let job = pool.submit(|| "ok").await.unwrap();
    /// assert_eq!(job.await.unwrap(), "ok");
    /// # }
    /// ```
    pub fn submit<F, T>(&self, f: F) -> Submit<'_, F, T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit_job(f, never_failed)
    }

    pub(crate) fn submit_job<F, T>(&self, f: F, fallible: fn(&T) -> bool) -> Submit<'_, F, T>
    where
        F: RunOnce<T>,
        T: Send + 'static,
    {
        let (handle, work) = self.inner.new_job(Box::new(f), fallible);
        Submit {
            pool: self,
            handle: Some(handle),
            work: Some(work),
            room: self.inner.counters.room.as_ref().map(Semaphore::acquire),
            _f: std::marker::PhantomData,
        }
    }

    /// Submits `f`, blocking the thread while the queue is at its
    /// [bound](ExecutorBuilder::queue_bound) (Python's `submit`).
    ///
    /// # Errors
    ///
    /// The closure comes back: `ShutDown` or `Broken`.
    ///
    /// # Blocking
    ///
    /// As [`Submit::wait`]; with no bound it never waits, but on the thread
    /// of a current-thread runtime it panics all the same (use
    /// [`try_submit`](Self::try_submit) or `.await`
    /// [`submit`](Self::submit) there).
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.submit_blocking(|| 1).unwrap();
    /// assert_eq!(job.result_blocking().unwrap(), 1);
    /// ```
    #[doc(alias = "blocking_submit")]
    #[track_caller]
    pub fn submit_blocking<F, T>(&self, f: F) -> Result<JobHandle<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let mode = blocking_mode("ThreadPoolExecutor::submit_blocking");
        block_forever(&mut self.submit(f), mode)
    }

    /// Like [`submit`](Self::submit), for a job that returns a `Result`:
    /// an `Err` marks the job [`failed`](JobHandle::failed), which is what
    /// [`ReturnWhen::FirstException`] looks for (as a raised exception in
    /// Python). The `Err` itself is the job's result, as usual.
    ///
    /// # Cancel safety
    ///
    /// As [`submit`](Self::submit).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.submit_fallible(|| "x".parse::<u8>()).wait().unwrap();
    /// job.finished_blocking();
    /// assert!(job.failed());
    /// assert!(job.result_blocking().unwrap().is_err());
    /// ```
    pub fn submit_fallible<F, U, E>(&self, f: F) -> Submit<'_, F, Result<U, E>>
    where
        F: FnOnce() -> Result<U, E> + Send + 'static,
        U: Send + 'static,
        E: Send + 'static,
    {
        self.submit_job(f, Result::is_err)
    }

    /// Shuts the pool down (Python's `shutdown`), at once: no new jobs
    /// (submissions give their closure back with `ShutDown`), the queued
    /// jobs still run, and with `cancel_futures` they are cancelled instead
    /// (through the same path as [`JobHandle::cancel`]: their waiters see
    /// them cancelled at once). Calling it again is fine (a later call can
    /// still cancel what is queued).
    ///
    /// The returned future joins the workers: `.await` it, `.wait()` on it
    /// (or [`shutdown_blocking`](Self::shutdown_blocking)), or drop it not
    /// to wait (Python's `wait=False`). Called from one of this pool's own
    /// jobs, it does not wait (it would wait for itself): the shutdown
    /// still happens.
    ///
    /// # Cancel safety
    ///
    /// The shutdown happens when this is called, not when the future is
    /// polled; dropping the future only stops waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let pool = amphi::ThreadPoolExecutor::new(2);
    /// let job = pool.submit(|| 1).await.unwrap();
    /// pool.shutdown(false).await;
    /// assert_eq!(job.await.unwrap(), 1);
    /// assert!(pool.try_submit(|| 2).is_err());
    /// # }
    /// ```
    pub fn shutdown(&self, cancel_futures: bool) -> Shutdown<'_> {
        self.inner.shutdown(cancel_futures);
        Shutdown {
            pool: self,
            wait: self.inner.exited.wait(),
        }
    }

    /// Shuts the pool down and blocks until every worker has exited
    /// (Python's `shutdown(wait=True)`, or leaving a `with` block).
    ///
    /// # Blocking
    ///
    /// As [`Shutdown::wait`]. From one of the pool's own jobs it returns at
    /// once.
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(2);
    /// let job = pool.try_submit(|| 1).unwrap();
    /// pool.shutdown_blocking(false);
    /// assert_eq!(pool.stats().threads, 0);
    /// assert!(job.done());
    /// ```
    #[doc(alias = "blocking_shutdown")]
    #[track_caller]
    pub fn shutdown_blocking(&self, cancel_futures: bool) {
        // Asked before the shutdown, so that a refused call changes nothing.
        let mode = blocking_mode("ThreadPoolExecutor::shutdown_blocking");
        block_forever(&mut self.shutdown(cancel_futures), mode)
    }
}

fn never_failed<T>(_: &T) -> bool {
    false
}

/// A submission waiting for room in the job queue, from
/// [`ThreadPoolExecutor::submit`]. Output `Result<JobHandle<T>,
/// SubmitError<F>>`; the timed forms give `Result<JobHandle<T>,
/// SubmitTimeoutError<F>>`, with the closure back on every error.
///
/// # Examples
///
/// ```
/// let pool = amphi::ThreadPoolExecutor::new(1);
/// let fut: amphi::futures::Submit<'_, _, i32> = pool.submit(|| 1);
/// assert_eq!(fut.wait().unwrap().result_blocking().unwrap(), 1);
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it or use `submit_blocking`/`try_submit`"]
pub struct Submit<'a, F, T> {
    pool: &'a ThreadPoolExecutor,
    /// `None` once the future is done.
    handle: Option<JobHandle<T>>,
    /// The job, until it goes in.
    work: Option<Work>,
    /// Waiting for room, if the pool has a bound and none was taken yet.
    room: Option<AcquireFuture<'a>>,
    _f: std::marker::PhantomData<fn() -> F>,
}

impl<F, T> Unpin for Submit<'_, F, T> {}

impl<F, T> fmt::Debug for Submit<'_, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Submit")
            .field("done", &self.handle.is_none())
            .finish_non_exhaustive()
    }
}

impl<F: 'static, T: Send + 'static> Submit<'_, F, T> {
    /// Gives up the submission and takes the closure back. `None` if the
    /// job went in already (the future returned `Ready` with its handle):
    /// then it runs.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// drop(pool.shutdown(false));
    /// let f = pool.submit(|| 5).into_closure().unwrap();
    /// assert_eq!(f(), 5);
    /// ```
    pub fn into_closure(mut self) -> Option<F> {
        let work = self.work.take()?;
        let handle = self.handle.take()?;
        Some(self.pool.inner.refused(handle, work))
    }

    /// With room taken (or no bound), puts the job in.
    fn settle(&mut self) -> Result<JobHandle<T>, SubmitError<F>> {
        self.room = None;
        let handle = self.handle.take().expect("Submit polled after completion");
        let work = self.work.take().expect("Submit polled after completion");
        self.pool.inner.put_in(handle, work)
    }

    /// No room will come: the pool is shut down or broken.
    fn refuse(&mut self) -> SubmitError<F> {
        self.room = None;
        let handle = self.handle.take().expect("Submit polled after completion");
        let work = self.work.take().expect("Submit polled after completion");
        let f = self.pool.inner.refused(handle, work);
        self.pool.inner.refusal(f)
    }
}

impl<F: 'static, T: Send + 'static> Op for Submit<'_, F, T> {
    type Output = Result<JobHandle<T>, SubmitError<F>>;
    type Timed = Result<JobHandle<T>, SubmitTimeoutError<F>>;
    const SPIN: bool = true;

    fn name(&self) -> &'static str {
        "ThreadPoolExecutor::submit"
    }

    fn may_be_ready(&self) -> bool {
        self.room.as_ref().is_none_or(Op::may_be_ready)
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Output> {
        if let Some(room) = &mut self.room {
            match room.poll_op(s) {
                Poll::Ready(Ok(permit)) => permit.forget(),
                Poll::Ready(Err(Closed)) => return Poll::Ready(Err(self.refuse())),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(self.settle())
    }

    fn poll_expired(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Timed> {
        if let Some(room) = &mut self.room {
            match room.poll_expired(s) {
                Poll::Ready(Ok(permit)) => permit.forget(),
                Poll::Ready(Err(AcquireTimeoutError::Closed)) => {
                    return Poll::Ready(Err(self.refuse().into()));
                }
                Poll::Ready(Err(AcquireTimeoutError::TimedOut)) => {
                    self.room = None;
                    let handle = self.handle.take().expect("not done");
                    let work = self.work.take().expect("not done");
                    return Poll::Ready(Err(SubmitTimeoutError::TimedOut(
                        self.pool.inner.refused(handle, work),
                    )));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(self.settle().map_err(Into::into))
    }

    fn in_time(out: Self::Output) -> Self::Timed {
        out.map_err(Into::into)
    }
}

waiting_future! {
    impl['a, F: 'static, T: Send + 'static] Submit<'a, F, T> => Result<JobHandle<T>, SubmitError<F>>, timed Result<JobHandle<T>, SubmitTimeoutError<F>>;
    example: "```
use std::time::Duration;
let pool = amphi::ThreadPoolExecutor::builder().max_workers(1).queue_bound(1).build().unwrap();
let job = pool.submit(|| 1).wait_timeout(Duration::from_secs(5)).unwrap();
assert_eq!(job.result_blocking().unwrap(), 1);
```"
}

/// Joining the workers after a shutdown, from
/// [`ThreadPoolExecutor::shutdown`]. Output `()`; the timed forms give
/// `bool` (`false`: some worker still runs). Dropping it only stops
/// waiting: the shutdown happened already. Driven from one of the pool's
/// own jobs it returns at once without waiting (the timed forms then give
/// `true`, though that worker still runs: it would wait for itself).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let pool = amphi::ThreadPoolExecutor::new(1);
/// pool.try_submit(|| ()).unwrap();
/// assert!(pool.shutdown(false).wait_timeout(Duration::from_secs(5)));
/// ```
#[must_use = "the shutdown happened already; `.await` or `.wait()` this to join the workers, or drop it not to wait"]
pub struct Shutdown<'a> {
    pool: &'a ThreadPoolExecutor,
    wait: crate::event::EventWait<'a>,
}

impl fmt::Debug for Shutdown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown").finish_non_exhaustive()
    }
}

impl Op for Shutdown<'_> {
    type Output = ();
    type Timed = bool;

    fn name(&self) -> &'static str {
        "ThreadPoolExecutor::shutdown"
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<()> {
        if self.pool.inner.on_own_worker() {
            return Poll::Ready(());
        }
        self.wait.poll_op(s).map(|_| ())
    }

    fn poll_expired(&mut self, s: &mut Strategy<'_, '_>) -> Poll<bool> {
        if self.pool.inner.on_own_worker() {
            return Poll::Ready(true);
        }
        self.wait.poll_expired(s)
    }

    fn in_time((): ()) -> bool {
        true
    }
}

waiting_future! {
    impl['a] Shutdown<'a> => (), timed bool;
    example: "```
let pool = amphi::ThreadPoolExecutor::new(2);
pool.try_submit(|| ()).unwrap();
pool.shutdown(true).wait();
assert_eq!(pool.stats().threads, 0);
```"
}
