//! A caught panic, as the executor, amphi threads and timers report it.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::sync::Mutex;

/// A caught panic (of an executor's job, an amphi thread or a timer's
/// callback): its message, and its payload for [`std::panic::resume_unwind`].
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
pub struct Panic {
    message: String,
    /// Who panicked, for `Display`: "job", "thread", "timer callback".
    who: &'static str,
    payload: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Panic {
    pub(crate) fn new(payload: Box<dyn Any + Send>) -> Self {
        Self::of("job", payload)
    }

    pub(crate) fn of(who: &'static str, payload: Box<dyn Any + Send>) -> Self {
        Panic {
            message: panic_message(&*payload),
            who,
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

impl fmt::Debug for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panic")
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} panicked: {}", self.who, self.message)
    }
}

impl Error for Panic {}
