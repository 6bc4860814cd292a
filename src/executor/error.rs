//! What a job or an executor call that did not go through says. A refused
//! submission carries its closure back to the caller.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// A job that panicked (the crate's [`Panic`](crate::Panic), under the name the executor
/// has always used).
pub type JobPanic = crate::panic::Panic;

/// Why a job gave no result.
///
/// # Examples
///
/// ```
/// let pool = amphi::ThreadPoolExecutor::new(1);
/// let gate = std::sync::Arc::new(amphi::Event::new());
/// let g = gate.clone();
/// let first = pool.try_submit(move || g.wait_blocking()).unwrap();
/// let second = pool.try_submit(|| 2).unwrap();
/// assert!(second.cancel()); // still queued behind `first`
/// assert!(matches!(second.result_blocking(), Err(amphi::JobError::Cancelled)));
/// gate.set();
/// assert!(first.result_blocking().unwrap());
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum JobError {
    /// The job panicked (the worker survived).
    Panicked(JobPanic),
    /// The job was cancelled before it started (Python's `CancelledError`).
    Cancelled,
    /// The pool broke before the job started: a worker's initializer failed
    /// (Python's `BrokenThreadPool`), or not even one worker thread could be
    /// started. The text says why.
    BrokenPool(Arc<str>),
    /// The result was taken already, through this handle or a clone of it
    /// (a result is handed out once; see [`JobHandle`](crate::JobHandle)).
    Taken,
}

impl JobError {
    /// The panic, if the job panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(amphi::JobError::Cancelled.panic().is_none());
    /// ```
    pub fn panic(&self) -> Option<&JobPanic> {
        match self {
            JobError::Panicked(p) => Some(p),
            _ => None,
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Panicked(p) => p.fmt(f),
            JobError::Cancelled => f.write_str("the job was cancelled before it started"),
            JobError::BrokenPool(why) => write!(f, "the thread pool is broken: {why}"),
            JobError::Taken => f.write_str("the job's result was taken already"),
        }
    }
}

impl Error for JobError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            JobError::Panicked(p) => Some(p),
            _ => None,
        }
    }
}

macro_rules! closure_error {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }
    ) => {
        $(#[$meta])*
        #[derive(PartialEq, Eq)]
        pub enum $name<F> {
            $($(#[$vmeta])* $variant(F),)*
        }

        impl<F> $name<F> {
            /// The refused closure, back to the caller.
            ///
            /// # Examples
            ///
            /// ```
            /// let pool = amphi::ThreadPoolExecutor::new(1);
            /// drop(pool.shutdown(false));
            /// let f = pool.try_submit(|| 7).unwrap_err().into_inner();
            /// assert_eq!(f(), 7);
            /// ```
            pub fn into_inner(self) -> F {
                match self {
                    $($name::$variant(f) => f,)*
                }
            }
        }

        impl<F> fmt::Debug for $name<F> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(_) => f.write_str(concat!(stringify!($variant), "(..)")),)*
                }
            }
        }

        impl<F> fmt::Display for $name<F> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(_) => f.write_str($text),)*
                }
            }
        }

        impl<F> Error for $name<F> {}
    };
}

closure_error! {
    /// Why a waiting submission was refused; the closure comes back.
    ///
    /// The error holds the closure, so it is `Send`/`Sync` (and fits
    /// `Box<dyn Error + Send + Sync>` or `anyhow`) only when the closure is;
    /// take the closure out with `into_inner`, or map the error, before a
    /// `?` into such an error type.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// drop(pool.shutdown(false));
    /// let refused = pool.submit_blocking(|| 1).unwrap_err();
    /// assert!(matches!(refused, amphi::SubmitError::ShutDown(_)));
    /// assert_eq!((refused.into_inner())(), 1);
    /// ```
    SubmitError {
        /// The executor is shut down (Python's "cannot schedule new futures
        /// after shutdown").
        ShutDown => "the executor is shut down",
        /// The pool is broken (an initializer failed, or no worker thread
        /// could be started).
        Broken => "the thread pool is broken",
    }
}

closure_error! {
    /// Why [`try_submit`](crate::ThreadPoolExecutor::try_submit) refused;
    /// the closure comes back.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::builder().max_workers(1).queue_bound(1).build().unwrap();
    /// let gate = std::sync::Arc::new(amphi::Event::new());
    /// let g = gate.clone();
    /// let running = pool.try_submit(move || { g.wait_blocking(); }).unwrap();
    /// # while pool.stats().running == 0 { std::thread::yield_now(); }
    /// let queued = pool.try_submit(|| ()).unwrap();
    /// assert!(matches!(pool.try_submit(|| ()), Err(amphi::TrySubmitError::Full(_))));
    /// gate.set();
    /// # running.result_blocking().unwrap(); queued.result_blocking().unwrap();
    /// ```
    TrySubmitError {
        /// The queue of jobs is at its bound.
        Full => "the executor's job queue is full",
        /// The executor is shut down.
        ShutDown => "the executor is shut down",
        /// The pool is broken (an initializer failed, or no worker thread
        /// could be started).
        Broken => "the thread pool is broken",
    }
}

closure_error! {
    /// Why a timed submission was refused; the closure comes back.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// drop(pool.shutdown(false));
    /// let refused = pool.submit(|| 1).wait_timeout(Duration::from_millis(1));
    /// assert!(matches!(refused, Err(amphi::SubmitTimeoutError::ShutDown(_))));
    /// ```
    SubmitTimeoutError {
        /// The queue of jobs stayed full until the time ran out.
        TimedOut => "timed out waiting for room in the executor's job queue",
        /// The executor is shut down.
        ShutDown => "the executor is shut down",
        /// The pool is broken (an initializer failed, or no worker thread
        /// could be started).
        Broken => "the thread pool is broken",
    }
}

impl<F> From<SubmitError<F>> for TrySubmitError<F> {
    fn from(e: SubmitError<F>) -> Self {
        match e {
            SubmitError::ShutDown(f) => TrySubmitError::ShutDown(f),
            SubmitError::Broken(f) => TrySubmitError::Broken(f),
        }
    }
}

impl<F> From<SubmitError<F>> for SubmitTimeoutError<F> {
    fn from(e: SubmitError<F>) -> Self {
        match e {
            SubmitError::ShutDown(f) => SubmitTimeoutError::ShutDown(f),
            SubmitError::Broken(f) => SubmitTimeoutError::Broken(f),
        }
    }
}

/// Why an item of [`map`](crate::ThreadPoolExecutor::map) gave no result.
/// After `TimedOut`, `ShutDown` or `Broken` the iteration ends, and the
/// jobs it had not started are cancelled.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let pool = amphi::ThreadPoolExecutor::new(1);
/// let out: Vec<_> = pool
///     .map(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), [0, 500])
///     .timeout(Duration::from_millis(100))
///     .collect();
/// assert!(out[0].is_ok());
/// assert!(matches!(out[1], Err(amphi::MapError::TimedOut)));
/// assert_eq!(out.len(), 2);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum MapError {
    /// This item's job failed (it panicked, was cancelled, or the pool
    /// broke before it started).
    Job(JobError),
    /// The map's time ran out before this item's result came.
    TimedOut,
    /// The executor was shut down before this item could be submitted.
    ShutDown,
    /// The pool broke before this item could be submitted.
    Broken,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::Job(e) => e.fmt(f),
            MapError::TimedOut => f.write_str("timed out waiting for a result of map"),
            MapError::ShutDown => f.write_str("the executor was shut down during map"),
            MapError::Broken => f.write_str("the thread pool broke during map"),
        }
    }
}

impl Error for MapError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            MapError::Job(e) => Some(e),
            _ => None,
        }
    }
}

/// [`as_completed`](crate::as_completed)'s time ran out with jobs still
/// unfinished (Python's `TimeoutError: N (of M) futures unfinished`).
///
/// # Examples
///
/// ```
/// let e = amphi::AsCompletedTimeout { unfinished: 2, total: 5 };
/// assert_eq!(e.to_string(), "2 (of 5) jobs unfinished");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AsCompletedTimeout {
    /// How many jobs had not finished.
    pub unfinished: usize,
    /// How many jobs were given.
    pub total: usize,
}

impl fmt::Display for AsCompletedTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (of {}) jobs unfinished", self.unfinished, self.total)
    }
}

impl Error for AsCompletedTimeout {}

/// Why [`ExecutorBuilder::build`](crate::ExecutorBuilder::build) refused.
///
/// # Examples
///
/// ```
/// use amphi::{BuildError, ThreadPoolExecutor};
/// let e = ThreadPoolExecutor::builder().max_workers(0).build().unwrap_err();
/// assert_eq!(e, BuildError::ZeroWorkers);
/// let e = ThreadPoolExecutor::builder().thread_name_prefix("a\0b").build().unwrap_err();
/// assert_eq!(e, BuildError::NulInThreadName);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BuildError {
    /// Zero workers (Python's `ValueError: max_workers must be greater
    /// than 0`).
    ZeroWorkers,
    /// The thread name prefix holds a NUL byte, which no thread name can.
    NulInThreadName,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroWorkers => f.write_str("a thread pool needs at least one worker"),
            BuildError::NulInThreadName => {
                f.write_str("a thread name prefix may not contain a NUL byte")
            }
        }
    }
}

impl Error for BuildError {}
