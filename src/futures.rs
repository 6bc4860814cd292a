//! Every named future of amphi, in one place.
//!
//! Each one is `#[must_use]`, cancel safe, and has the same driving methods:
//! `.await`, `wait()`, `wait_timeout(d)`, `wait_deadline(t)`, and (with the
//! default `tokio` feature) `timeout(d)` and `timeout_at(t)`.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! let event = amphi::Event::new();
//! let fut: amphi::futures::EventWait<'_> = event.wait();
//! assert!(!fut.wait_timeout(Duration::from_millis(1)));
//! ```

pub use crate::barrier::BarrierWait;
pub use crate::condition::{ConditionWait, ConditionWaitWhile};
pub use crate::core::Acquiring;
#[cfg(feature = "tokio")]
pub use crate::core::Timeout;
pub use crate::event::EventWait;
pub use crate::executor::{JobFinished, JobResult, Shutdown, Submit, WaitJobs};
pub use crate::lock::{LockArcFuture, LockFuture};
pub use crate::queue::{Get, GetMany, GetStream, Join, Put, PutMany};
pub use crate::rlock::{RLockArcFuture, RLockFuture};
pub use crate::semaphore::{AcquireArcFuture, AcquireFuture};
pub use crate::thread::{NonDaemonJoin, ThreadJoin, ThreadWait};
pub use crate::timer::TimerJoin;
