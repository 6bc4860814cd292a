//! [`as_completed`] and [`wait`]: watching many jobs at once.
//!
//! Both hang a small done-hook on every handle that puts the handle's index
//! into an amphi [`Queue`]; waiting for "the next one done" is then a queue
//! get, in either world, with the queue's timeouts. A cancelled job runs
//! its hooks when it is cancelled, so it counts as done at once.

use std::fmt;
#[cfg(feature = "tokio")]
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::error::AsCompletedTimeout;
use super::job::JobHandle;
use crate::core::{Op, Strategy, waiting_future};
use crate::futures::Get;
use crate::queue::{GetTimeoutError, Queue};

/// The deadline of a stream (`as_completed`'s or `map`'s), and the tokio
/// timer that wakes the stream at it.
pub(super) struct Deadline {
    at: Option<Instant>,
    #[cfg(feature = "tokio")]
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Deadline {
    pub(super) fn none() -> Self {
        Deadline {
            at: None,
            #[cfg(feature = "tokio")]
            sleep: None,
        }
    }

    pub(super) fn set(&mut self, at: Option<Instant>) {
        *self = Deadline::none();
        self.at = at;
    }

    pub(super) fn at(&self) -> Option<Instant> {
        self.at
    }

    /// Makes the timer (first poll of a stream with a deadline), so that
    /// outside a tokio runtime the stream fails on every first poll, not
    /// only when it would have to wait.
    pub(super) fn arm(&mut self) {
        #[cfg(feature = "tokio")]
        if let Some(at) = self.at
            && self.sleep.is_none()
        {
            self.sleep = Some(Box::pin(tokio::time::sleep_until(at.into())));
        }
    }

    /// Whether the deadline has passed; if not, the stream is woken when
    /// it does (with tokio's timer; without it, only a later poll sees it).
    pub(super) fn passed(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(at) = self.at else {
            return false;
        };
        #[cfg(feature = "tokio")]
        {
            let _ = at;
            self.arm();
            let sleep = self.sleep.as_mut().expect("armed");
            sleep.as_mut().poll(cx).is_ready()
        }
        #[cfg(not(feature = "tokio"))]
        {
            let _ = cx;
            Instant::now() >= at
        }
    }
}

impl fmt::Debug for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.at.fmt(f)
    }
}

/// The handles being watched, and the queue their indices arrive in.
struct Tracker<T> {
    handles: Vec<Option<JobHandle<T>>>,
    /// Each handle's hook, while it is on the job (`None` once it ran).
    hooks: Vec<Option<u64>>,
    finished: Arc<Queue<usize>>,
    get: Option<Get<Arc<Queue<usize>>>>,
}

impl<T> Tracker<T> {
    fn new(handles: impl IntoIterator<Item = JobHandle<T>>) -> Self {
        let finished = Arc::new(Queue::unbounded());
        let handles: Vec<_> = handles.into_iter().map(Some).collect();
        let hooks = handles
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let to = Arc::downgrade(&finished);
                h.as_ref().expect("just made").add_hook(Box::new(move || {
                    // Gone when the watcher was dropped: nothing to tell.
                    if let Some(q) = to.upgrade() {
                        let _ = q.try_put(i);
                    }
                }))
            })
            .collect();
        Tracker {
            handles,
            hooks,
            finished,
            get: None,
        }
    }

    /// Takes the hooks that have not run off their jobs: a watcher that
    /// gives up leaves nothing behind on a job that runs on.
    fn unhook(&mut self) {
        for (h, id) in self.handles.iter().zip(&mut self.hooks) {
            if let (Some(h), Some(id)) = (h, id.take()) {
                h.remove_hook(id);
            }
        }
    }

    /// The index of a job done since the last call; `Pending` as the
    /// strategy says.
    fn poll_next(&mut self, s: &mut Strategy<'_, '_>) -> Poll<usize> {
        if self.get.is_none()
            && let Ok(i) = self.finished.try_get()
        {
            return Poll::Ready(self.ran(i));
        }
        let get = self.get.get_or_insert_with(|| self.finished.get_arc());
        match get.poll_op(s) {
            Poll::Ready(r) => {
                self.get = None;
                let i = r.expect("the watch queue is never shut down");
                Poll::Ready(self.ran(i))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Handle `i`'s hook ran (that is how `i` came): it is off the job.
    fn ran(&mut self, i: usize) -> usize {
        self.hooks[i] = None;
        i
    }

    /// A last look after the time ran out.
    fn last_look(&mut self) -> Option<usize> {
        let i = match self.get.take() {
            Some(mut get) => match get.poll_expired(&mut Strategy::NoWait) {
                Poll::Ready(Ok(i)) => Some(i),
                Poll::Ready(Err(GetTimeoutError::TimedOut | GetTimeoutError::ShutDown))
                | Poll::Pending => None,
            },
            None => self.finished.try_get().ok(),
        }?;
        Some(self.ran(i))
    }
}

impl<T> Drop for Tracker<T> {
    fn drop(&mut self) {
        self.unhook();
    }
}

/// When [`wait`] returns (Python's `return_when`).
///
/// # Examples
///
/// ```
/// let pool = amphi::ThreadPoolExecutor::new(2);
/// let jobs = vec![pool.try_submit(|| 1).unwrap(), pool.try_submit(|| 2).unwrap()];
/// let w = amphi::wait(jobs, amphi::ReturnWhen::AllCompleted).wait();
/// assert_eq!((w.done.len(), w.not_done.len()), (2, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReturnWhen {
    /// As soon as any job is done (or was cancelled).
    FirstCompleted,
    /// As soon as any job [failed](JobHandle::failed) (panicked, hit a
    /// broken pool, or returned `Err` from
    /// [`submit_fallible`](crate::ThreadPoolExecutor::submit_fallible)); if
    /// none fails, when all are done.
    FirstException,
    /// When every job is done (the default, as Python).
    #[default]
    AllCompleted,
}

/// What [`wait`] gives: the handles done and not done, each in the order
/// they were given (Python's `DoneAndNotDoneFutures`, with lists for sets).
///
/// # Examples
///
/// ```
/// let pool = amphi::ThreadPoolExecutor::new(1);
/// let job = pool.try_submit(|| 1).unwrap();
/// let amphi::Waited { done, not_done } = amphi::wait([job], amphi::ReturnWhen::AllCompleted).wait();
/// assert!(not_done.is_empty());
/// assert_eq!(done[0].result_blocking().unwrap(), 1);
/// ```
#[derive(Debug)]
pub struct Waited<T> {
    /// Done (finished, failed or cancelled).
    pub done: Vec<JobHandle<T>>,
    /// Not done when `wait` returned.
    pub not_done: Vec<JobHandle<T>>,
}

/// Waits until the jobs are done as `return_when` says (Python's
/// `concurrent.futures.wait`); `.await` it, or block with
/// [`WaitJobs::wait`], and give it a time limit with
/// [`wait_timeout`](WaitJobs::wait_timeout) /
/// [`timeout`](WaitJobs::timeout): when the time runs out it returns what
/// is done by then (the rest in `not_done`), as Python does.
///
/// Cancelled jobs count as done at once. With no handles it returns at
/// once. The handles may come from different pools.
///
/// # Cancel safety
///
/// Cancel safe: dropping the future cancels no job; the handles are
/// dropped with it (which does not cancel them either).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main] async fn main() {
/// let pool = amphi::ThreadPoolExecutor::new(2);
/// let slow = pool.submit(|| std::thread::sleep(Duration::from_millis(300))).await.unwrap();
/// let fast = pool.submit(|| ()).await.unwrap();
/// let w = amphi::wait([slow, fast], amphi::ReturnWhen::FirstCompleted).await;
/// assert_eq!(w.done.len(), 1);
/// assert_eq!(w.not_done.len(), 1);
/// # }
/// ```
pub fn wait<T: Send + 'static>(
    handles: impl IntoIterator<Item = JobHandle<T>>,
    return_when: ReturnWhen,
) -> WaitJobs<T> {
    let tracker = Tracker::new(handles);
    let n = tracker.handles.len();
    WaitJobs {
        tracker,
        is_done: vec![false; n],
        done: 0,
        failed: false,
        return_when,
        finished: false,
    }
}

/// The future of [`wait`]. Output [`Waited`]; the timed forms give a
/// `Waited` too, with what was not done in time in `not_done`.
///
/// # Examples
///
/// ```
/// let w: amphi::futures::WaitJobs<u8> = amphi::wait(Vec::new(), amphi::ReturnWhen::FirstCompleted);
/// assert!(w.wait().done.is_empty());
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it"]
pub struct WaitJobs<T> {
    tracker: Tracker<T>,
    is_done: Vec<bool>,
    done: usize,
    failed: bool,
    return_when: ReturnWhen,
    finished: bool,
}

impl<T> Unpin for WaitJobs<T> {}

impl<T> fmt::Debug for WaitJobs<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitJobs")
            .field("jobs", &self.is_done.len())
            .field("done", &self.done)
            .field("return_when", &self.return_when)
            .finish_non_exhaustive()
    }
}

impl<T> WaitJobs<T> {
    fn mark(&mut self, i: usize) {
        if !std::mem::replace(&mut self.is_done[i], true) {
            self.done += 1;
            if self.tracker.handles[i].as_ref().is_some_and(|h| h.failed()) {
                self.failed = true;
            }
        }
    }

    fn satisfied(&self) -> bool {
        let all = self.done == self.is_done.len();
        match self.return_when {
            ReturnWhen::AllCompleted => all,
            ReturnWhen::FirstCompleted => all || self.done > 0,
            ReturnWhen::FirstException => all || self.failed,
        }
    }

    fn split(&mut self) -> Waited<T> {
        assert!(!self.finished, "WaitJobs polled after completion");
        self.finished = true;
        self.tracker.get = None;
        self.tracker.unhook();
        let mut waited = Waited {
            done: Vec::new(),
            not_done: Vec::new(),
        };
        for (h, done) in self.tracker.handles.iter_mut().zip(&self.is_done) {
            let h = h.take().expect("each handle once");
            if *done || h.done() {
                waited.done.push(h);
            } else {
                waited.not_done.push(h);
            }
        }
        waited
    }
}

impl<T> Op for WaitJobs<T> {
    type Output = Waited<T>;
    type Timed = Waited<T>;

    fn name(&self) -> &'static str {
        "amphi::wait"
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Waited<T>> {
        loop {
            if self.satisfied() {
                return Poll::Ready(self.split());
            }
            match self.tracker.poll_next(s) {
                Poll::Ready(i) => self.mark(i),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_expired(&mut self, _: &mut Strategy<'_, '_>) -> Poll<Waited<T>> {
        while let Some(i) = self.tracker.last_look() {
            self.mark(i);
        }
        Poll::Ready(self.split())
    }

    fn in_time(out: Waited<T>) -> Waited<T> {
        out
    }
}

waiting_future! {
    impl[T] WaitJobs<T> => Waited<T>, timed Waited<T>;
    example: "```
use std::time::Duration;
let pool = amphi::ThreadPoolExecutor::new(1);
let job = pool.try_submit(|| std::thread::sleep(Duration::from_millis(300))).unwrap();
let w = amphi::wait([job], amphi::ReturnWhen::AllCompleted).wait_timeout(Duration::from_millis(10));
assert_eq!(w.not_done.len(), 1);
```"
}

/// Yields the handles as their jobs finish, the first done first (Python's
/// `concurrent.futures.as_completed`): a blocking iterator for threads,
/// and with [`.stream()`](AsCompleted::stream) a `Stream` for tasks. Jobs done (or cancelled) already come first.
///
/// With a [`timeout`](AsCompleted::timeout), measured from this call, it
/// yields `Err(AsCompletedTimeout { unfinished, .. })` once the time runs
/// out, and then ends (Python raises `TimeoutError`). Each handle given is
/// yielded once (two clones of one job are two handles).
///
/// # Blocking
///
/// The call itself never waits; the iterator's `next` parks the thread
/// (see [`AsCompleted`]). Use [`.stream()`](AsCompleted::stream) in tasks.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let pool = amphi::ThreadPoolExecutor::new(3);
/// let jobs: Vec<_> = [30, 0, 15]
///     .into_iter()
///     .map(|ms| pool.try_submit(move || { std::thread::sleep(Duration::from_millis(ms)); ms }).unwrap())
///     .collect();
/// let order: Vec<u64> = amphi::as_completed(jobs)
///     .map(|h| h.unwrap().result_blocking().unwrap())
///     .collect();
/// assert_eq!(order.len(), 3);
/// ```
pub fn as_completed<T: Send + 'static>(
    handles: impl IntoIterator<Item = JobHandle<T>>,
) -> AsCompleted<T> {
    let tracker = Tracker::new(handles);
    let remaining = tracker.handles.len();
    AsCompleted {
        total: remaining,
        remaining,
        tracker,
        started: Instant::now(),
        deadline: Deadline::none(),
        ended: false,
    }
}

/// The blocking iterator of [`as_completed`]; [`stream`](Self::stream)
/// turns it into a `Stream` for tasks. Items are
/// `Result<JobHandle<T>, AsCompletedTimeout>`.
///
/// # Blocking
///
/// `next` parks the thread until a job is done (or the timeout passes); on
/// the thread of a current-thread runtime it panics: use
/// [`stream`](Self::stream) there.
///
/// # Cancel safety
///
/// Not a future.
///
/// # Examples
///
/// ```
/// let pool = amphi::ThreadPoolExecutor::new(2);
/// let jobs = vec![pool.try_submit(|| 1).unwrap(), pool.try_submit(|| 2).unwrap()];
/// let sum: i32 = amphi::as_completed(jobs).map(|h| h.unwrap().result_blocking().unwrap()).sum();
/// assert_eq!(sum, 3);
/// ```
#[must_use = "iterators do nothing unless consumed"]
pub struct AsCompleted<T> {
    tracker: Tracker<T>,
    total: usize,
    remaining: usize,
    started: Instant,
    deadline: Deadline,
    ended: bool,
}

impl<T> Unpin for AsCompleted<T> {}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("total", &self.total)
            .field("remaining", &self.remaining)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<T> AsCompleted<T> {
    /// Gives up `timeout` after the call of [`as_completed`] (a huge one
    /// means no limit).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let slow = pool.try_submit(|| std::thread::sleep(Duration::from_millis(300))).unwrap();
    /// let mut it = amphi::as_completed([slow]).timeout(Duration::from_millis(10));
    /// assert_eq!(it.next().unwrap().unwrap_err().unfinished, 1);
    /// assert!(it.next().is_none());
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline.set(self.started.checked_add(timeout));
        self
    }

    /// Gives up at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let it = amphi::as_completed(Vec::<amphi::JobHandle<u8>>::new())
    ///     .deadline(Instant::now() + Duration::from_secs(1));
    /// assert_eq!(it.count(), 0);
    /// ```
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline.set(Some(deadline));
        self
    }

    /// The same handles as a `Stream`, for tasks (see
    /// [`AsCompletedStream`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// # #[tokio::main] async fn main() {
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let job = pool.submit(|| 7).await.unwrap();
    /// let first = amphi::as_completed([job]).stream().next().await.unwrap();
    /// assert_eq!(first.unwrap().await.unwrap(), 7);
    /// # }
    /// ```
    pub fn stream(self) -> AsCompletedStream<T> {
        AsCompletedStream { inner: self }
    }

    /// How many handles are still to come.
    ///
    /// # Examples
    ///
    /// ```
    /// let it = amphi::as_completed(Vec::<amphi::JobHandle<u8>>::new());
    /// assert_eq!(it.remaining(), 0);
    /// ```
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    fn take(&mut self, i: usize) -> JobHandle<T> {
        self.remaining -= 1;
        self.tracker.handles[i]
            .take()
            .expect("each index comes once")
    }

    fn time_out(&mut self) -> Option<Result<JobHandle<T>, AsCompletedTimeout>> {
        if let Some(i) = self.tracker.last_look() {
            return Some(Ok(self.take(i)));
        }
        self.ended = true;
        Some(Err(AsCompletedTimeout {
            unfinished: self.remaining,
            total: self.total,
        }))
    }
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Result<JobHandle<T>, AsCompletedTimeout>;

    #[track_caller]
    fn next(&mut self) -> Option<Self::Item> {
        // Asked first, so that a call that may not block here fails the
        // same way every time (time run out, nothing left, or not).
        let mode = crate::core::blocking_mode("AsCompleted::next");
        if self.ended || self.remaining == 0 {
            return None;
        }
        let deadline = self.deadline.at();
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return self.time_out();
        }
        let next = crate::core::blocking_section(mode, || {
            self.tracker.poll_next(&mut Strategy::Blocking(deadline))
        });
        match next {
            Poll::Ready(i) => Some(Ok(self.take(i))),
            Poll::Pending => self.time_out(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.ended {
            (0, Some(0))
        } else {
            (0, Some(self.remaining + 1))
        }
    }
}

impl<T> AsCompleted<T> {
    fn poll_stream(&mut self, cx: &mut Context<'_>) -> Poll<Option<<Self as Iterator>::Item>> {
        let this = self;
        this.deadline.arm();
        if this.ended || this.remaining == 0 {
            return Poll::Ready(None);
        }
        if let Poll::Ready(i) = this.tracker.poll_next(&mut Strategy::Async(cx)) {
            return Poll::Ready(Some(Ok(this.take(i))));
        }
        if !this.deadline.passed(cx) {
            return Poll::Pending;
        }
        Poll::Ready(this.time_out())
    }
}

/// The `Stream` of [`as_completed`], from [`AsCompleted::stream`]: the
/// same handles, the first done first, for tasks.
///
/// # Cancel safety
///
/// Cancel safe: dropping a `next()` future loses no handle. Its timeout
/// uses tokio's timer (the default `tokio` feature); without that feature
/// the deadline is only noticed when the stream is polled for another
/// reason (a job finishing).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// # #[tokio::main] async fn main() {
/// let pool = amphi::ThreadPoolExecutor::new(2);
/// let jobs = vec![pool.submit(|| 1).await.unwrap(), pool.submit(|| 2).await.unwrap()];
/// let mut sum = 0;
/// let mut done = amphi::as_completed(jobs).stream();
/// while let Some(h) = done.next().await {
///     sum += h.unwrap().await.unwrap();
/// }
/// assert_eq!(sum, 3);
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
#[derive(Debug)]
pub struct AsCompletedStream<T> {
    inner: AsCompleted<T>,
}

impl<T> futures_core::Stream for AsCompletedStream<T> {
    type Item = Result<JobHandle<T>, AsCompletedTimeout>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_stream(cx)
    }
}

impl<T> futures_core::FusedStream for AsCompletedStream<T> {
    fn is_terminated(&self) -> bool {
        self.inner.ended || self.inner.remaining == 0
    }
}
