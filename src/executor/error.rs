//! What a job or an executor call that did not go through says. A refused
//! submission carries its closure back to the caller.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex};

/// A job that panicked: the panic's message, and its payload for
/// [`std::panic::resume_unwind`].
///
/// `Send` and `Sync` (the payload sits behind a lock), so it fits in
/// `Box<dyn Error + Send + Sync>` and error crates built on it.
///
/// # Examples
///
/// ```
/// let pool = amphi::ThreadPoolExecutor::new(1);
/// let job = pool.try_submit(|| -> u8 { panic!("no luck") }).unwrap();
/// match job.result_blocking() {
///     Err(amphi::JobError::Panicked(p)) => assert_eq!(p.message(), "no luck"),
///     other => panic!("{other:?}"),
/// }
/// ```
pub struct JobPanic {
    message: String,
    payload: Mutex<Option<Box<dyn Any + Send>>>,
}

impl JobPanic {
    pub(crate) fn new(payload: Box<dyn Any + Send>) -> Self {
        JobPanic {
            message: panic_message(&*payload),
            payload: Mutex::new(Some(payload)),
        }
    }

    /// The panic's message (`"Box<dyn Any>"` when the payload was neither a
    /// `&str` nor a `String`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.try_submit(|| -> () { panic!("boom {}", 7) }).unwrap();
    /// let err = job.result_blocking().unwrap_err();
    /// assert_eq!(err.panic().unwrap().message(), "boom 7");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The panic's payload, as `catch_unwind` gave it; `None` if it was
    /// taken already.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.try_submit(|| -> () { std::panic::panic_any(42_u32) }).unwrap();
    /// let amphi::JobError::Panicked(p) = job.result_blocking().unwrap_err() else { panic!() };
    /// assert_eq!(*p.into_payload().unwrap().downcast::<u32>().unwrap(), 42);
    /// ```
    pub fn into_payload(self) -> Option<Box<dyn Any + Send>> {
        self.payload.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// Resumes the panic in the calling thread, with its own payload (or
    /// its message, if the payload was taken).
    ///
    /// # Examples
    ///
    /// ```should_panic
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.try_submit(|| -> () { panic!("again") }).unwrap();
    /// if let Err(amphi::JobError::Panicked(p)) = job.result_blocking() {
    ///     p.resume();
    /// }
    /// ```
    pub fn resume(self) -> ! {
        let message = self.message.clone();
        match self.into_payload() {
            Some(payload) => std::panic::resume_unwind(payload),
            None => std::panic::resume_unwind(Box::new(message)),
        }
    }
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

impl fmt::Debug for JobPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobPanic")
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for JobPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the job panicked: {}", self.message)
    }
}

impl Error for JobPanic {}

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
