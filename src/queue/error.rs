//! What a queue call that did not go through says. Every put error carries
//! the refused item(s) back to the caller.

use std::error::Error;
use std::fmt;

/// A get found the queue [shut down](crate::GenericQueue::shutdown) and
/// empty (Python's `queue.ShutDown`).
///
/// # Examples
///
/// ```
/// let q = amphi::Queue::<u8>::new(0);
/// q.shutdown(false);
/// assert_eq!(q.get_blocking(), Err(amphi::ShutDown));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ShutDown;

impl fmt::Display for ShutDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is shut down and empty")
    }
}

impl Error for ShutDown {}

/// Why [`try_get`](crate::GenericQueue::try_get) gave nothing.
///
/// # Examples
///
/// ```
/// use amphi::TryGetError;
/// let q = amphi::Queue::<u8>::new(0);
/// assert_eq!(q.try_get(), Err(TryGetError::Empty));
/// q.shutdown(false);
/// assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TryGetError {
    /// Nothing to get right now (Python's `queue.Empty`).
    Empty,
    /// Shut down and empty: nothing will come.
    ShutDown,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty => f.write_str("the queue is empty"),
            TryGetError::ShutDown => ShutDown.fmt(f),
        }
    }
}

impl Error for TryGetError {}

/// Why a timed get gave nothing.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use amphi::GetTimeoutError;
/// let q = amphi::Queue::<u8>::new(0);
/// assert_eq!(q.get().wait_timeout(Duration::from_millis(1)), Err(GetTimeoutError::TimedOut));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GetTimeoutError {
    /// The time ran out with the queue still empty (Python's `queue.Empty`).
    TimedOut,
    /// Shut down and empty: nothing will come.
    ShutDown,
}

impl fmt::Display for GetTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetTimeoutError::TimedOut => f.write_str("timed out waiting for an item"),
            GetTimeoutError::ShutDown => ShutDown.fmt(f),
        }
    }
}

impl Error for GetTimeoutError {}

/// A put found the queue shut down; the item comes back in `.0`.
///
/// # Examples
///
/// ```
/// let q = amphi::Queue::new(0);
/// q.shutdown(false);
/// let refused = q.put_blocking(String::from("late")).unwrap_err();
/// assert_eq!(refused.into_inner(), "late");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PutError<T>(pub T);

impl<T> PutError<T> {
    /// The item that was refused.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(amphi::PutError(7).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PutError(..)")
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is shut down; the refused item(s) came back")
    }
}

impl<T> Error for PutError<T> {}

/// Why [`try_put`](crate::GenericQueue::try_put) refused; the item comes
/// back in either case.
///
/// # Examples
///
/// ```
/// use amphi::TryPutError;
/// let q = amphi::Queue::new(1);
/// q.try_put(1).unwrap();
/// assert_eq!(q.try_put(2), Err(TryPutError::Full(2)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum TryPutError<T> {
    /// No room right now (Python's `queue.Full`).
    Full(T),
    /// Shut down: no put goes in any more.
    ShutDown(T),
}

/// Why a timed put refused; the item comes back in either case.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use amphi::PutTimeoutError;
/// let q = amphi::Queue::new(1);
/// q.try_put(1).unwrap();
/// let refused = q.put(2).wait_timeout(Duration::from_millis(1));
/// assert_eq!(refused, Err(PutTimeoutError::TimedOut(2)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PutTimeoutError<T> {
    /// The time ran out with the queue still full (Python's `queue.Full`).
    TimedOut(T),
    /// Shut down: no put goes in any more.
    ShutDown(T),
}

macro_rules! put_error {
    ($name:ident, $full:ident, $full_msg:literal) => {
        impl<T> $name<T> {
            /// The item that was refused.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let e = amphi::", stringify!($name), "::", stringify!($full), "(7);")]
            /// assert_eq!(e.into_inner(), 7);
            /// ```
            pub fn into_inner(self) -> T {
                match self {
                    $name::$full(item) | $name::ShutDown(item) => item,
                }
            }

            /// Whether the queue was shut down (rather than full).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("assert!(amphi::", stringify!($name), "::ShutDown(7).is_shutdown());")]
            /// ```
            pub fn is_shutdown(&self) -> bool {
                matches!(self, $name::ShutDown(_))
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $name::$full(_) => f.write_str(concat!(stringify!($full), "(..)")),
                    $name::ShutDown(_) => f.write_str("ShutDown(..)"),
                }
            }
        }

        impl<T> fmt::Display for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $name::$full(_) => f.write_str($full_msg),
                    $name::ShutDown(_) => {
                        f.write_str("the queue is shut down; the item was not put")
                    }
                }
            }
        }

        impl<T> Error for $name<T> {}
    };
}

put_error!(
    TryPutError,
    Full,
    "the queue is full; the refused item(s) came back"
);
put_error!(
    PutTimeoutError,
    TimedOut,
    "timed out waiting for room; the refused item(s) came back"
);

/// [`task_done`](crate::GenericQueue::task_done) was called more times than
/// items were put (Python raises `ValueError`). Nothing changed.
///
/// # Examples
///
/// ```
/// let q = amphi::Queue::<u8>::new(0);
/// assert_eq!(q.task_done(), Err(amphi::TaskDoneError));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called more times than items were put")
    }
}

impl Error for TaskDoneError {}
