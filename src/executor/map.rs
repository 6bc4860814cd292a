//! [`ThreadPoolExecutor::map`]: results in input order, with a bound on
//! the jobs in flight.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::completion::Deadline;
use super::error::{MapError, SubmitTimeoutError, TrySubmitError};
use super::job::{JobHandle, RunOnce};
use super::{Submit, ThreadPoolExecutor, never_failed};
use crate::core::{Op, Strategy, blocking_section};

/// One item's job: the shared function and its argument.
pub(crate) struct MapJob<F, A> {
    f: Arc<F>,
    arg: A,
}

impl<F, A, T> RunOnce<T> for MapJob<F, A>
where
    F: Fn(A) -> T + Send + Sync + 'static,
    A: Send + 'static,
{
    fn run(self: Box<Self>) -> T {
        (self.f)(self.arg)
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

impl ThreadPoolExecutor {
    /// Runs `f` on every item in the pool and yields the results in input
    /// order (Python's `map`), with at most twice `max_workers` jobs in
    /// flight (and at most 1024): [`map_buffered`](Self::map_buffered) with
    /// that bound. The
    /// first jobs are submitted by this call, as in Python.
    ///
    /// [`Map`] is a blocking `Iterator` (for threads), and
    /// [`.stream()`](Map::stream) a `Stream` (for tasks), of
    /// `Result<T, MapError>`: a job's panic is that item's error, and the
    /// iteration goes on. With a [`timeout`](Map::timeout), measured from
    /// this call, an item not ready in time gives `Err(MapError::TimedOut)`
    /// and the iteration ends. Dropping the map early (or a timeout)
    /// cancels the jobs that have not started.
    ///
    /// Unlike Python, the default is not to submit every item at once
    /// (an endless iterator works); `map_buffered(f, items, usize::MAX)`
    /// does that.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(4);
    /// let squares: Vec<u64> = pool.map(|x: u64| x * x, 1..=5).map(Result::unwrap).collect();
    /// assert_eq!(squares, [1, 4, 9, 16, 25]);
    /// ```
    pub fn map<F, I, T>(&self, f: F, items: I) -> Map<'_, F, I::IntoIter, T>
    where
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        I: IntoIterator,
        I::Item: Send + 'static,
        T: Send + 'static,
    {
        self.map_buffered(f, items, self.max_workers().min(512) * 2)
    }

    /// [`map`](Self::map) with at most `buffersize` jobs in flight
    /// (submitted, result not yet taken; Python 3.14's `buffersize`): this
    /// call submits the first `buffersize` items (as many as the pool's
    /// [queue bound](crate::ExecutorBuilder::queue_bound) lets in; the rest
    /// of the window follows as room comes), and each result taken lets
    /// one more in. `usize::MAX` submits every item now (Python's
    /// default).
    ///
    /// # Panics
    ///
    /// If `buffersize` is 0 (Python raises `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(2);
    /// let mut m = pool.map_buffered(|x: i32| -x, 0..100, 4);
    /// assert_eq!(m.in_flight(), 4);
    /// assert_eq!(m.next().unwrap().unwrap(), 0);
    /// assert_eq!(m.map(Result::unwrap).last(), Some(-99));
    /// ```
    #[track_caller]
    pub fn map_buffered<F, I, T>(
        &self,
        f: F,
        items: I,
        buffersize: usize,
    ) -> Map<'_, F, I::IntoIter, T>
    where
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        I: IntoIterator,
        I::Item: Send + 'static,
        T: Send + 'static,
    {
        assert!(
            buffersize > 0,
            "ThreadPoolExecutor::map_buffered: buffersize must be at least 1"
        );
        let mut map = Map {
            pool: self,
            f: Arc::new(f),
            items: items.into_iter().fuse(),
            window: VecDeque::new(),
            stash: None,
            submitting: None,
            buffersize,
            started: Instant::now(),
            deadline: Deadline::none(),
            refused: None,
            ended: None,
        };
        map.top_up();
        map
    }
}

/// The results of [`ThreadPoolExecutor::map`], in input order: a blocking
/// `Iterator` of `Result<T, MapError>`; [`stream`](Self::stream) turns it
/// into a `Stream` for tasks.
///
/// # Blocking
///
/// `next` parks the thread until the next result is ready (and, with a
/// bounded queue, until there is room to submit); on the thread of a
/// current-thread runtime it panics: use [`stream`](Self::stream) there.
///
/// # Cancel safety
///
/// Not a future. Dropping the `Map` cancels the jobs it has not started.
///
/// # Examples
///
/// ```
/// let pool = amphi::ThreadPoolExecutor::new(2);
/// let lens: Vec<usize> = pool
///     .map(|s: &'static str| s.len(), ["a", "bb", "ccc"])
///     .map(Result::unwrap)
///     .collect();
/// assert_eq!(lens, [1, 2, 3]);
/// ```
#[must_use = "the first jobs are submitted already; consume the results, or drop the map to cancel the jobs not started"]
pub struct Map<'a, F, I: Iterator, T> {
    pool: &'a ThreadPoolExecutor,
    f: Arc<F>,
    items: std::iter::Fuse<I>,
    /// Submitted, in input order.
    window: VecDeque<JobHandle<T>>,
    /// The next item's job, refused for lack of room.
    stash: Option<MapJob<F, I::Item>>,
    /// The stream waiting for room for the stashed job.
    submitting: Option<Submit<'a, MapJob<F, I::Item>, T>>,
    buffersize: usize,
    started: Instant,
    deadline: Deadline,
    /// A refused submission (shut down, broken): no more are made, and
    /// the error comes once the results in flight have been yielded.
    refused: Option<MapError>,
    /// Set when the iteration stopped early: the error still to yield.
    ended: Option<Option<MapError>>,
}

impl<F, I: Iterator, T> Unpin for Map<'_, F, I, T> {}

impl<F, I: Iterator, T> fmt::Debug for Map<'_, F, I, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("in_flight", &self.window.len())
            .field("buffersize", &self.buffersize)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<F, I: Iterator, T> Drop for Map<'_, F, I, T> {
    fn drop(&mut self) {
        for h in self.window.drain(..) {
            h.cancel();
        }
    }
}

impl<'a, F, I, T> Map<'a, F, I, T>
where
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    I: Iterator,
    I::Item: Send + 'static,
    T: Send + 'static,
{
    /// Gives up `timeout` after the call of `map` (a huge one means no
    /// limit): an item not ready by then gives `Err(MapError::TimedOut)`,
    /// and the iteration ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let mut it = pool.map(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), [300])
    ///     .timeout(Duration::from_millis(10));
    /// assert!(matches!(it.next(), Some(Err(amphi::MapError::TimedOut))));
    /// assert!(it.next().is_none());
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline.set(self.started.checked_add(timeout));
        self
    }

    /// The same results as a `Stream`, for tasks (see [`MapStream`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// # #[tokio::main] async fn main() {
    /// let pool = amphi::ThreadPoolExecutor::new(2);
    /// let mut s = pool.map(|x: u8| x + 1, [1, 2]).stream();
    /// assert_eq!(s.next().await.unwrap().unwrap(), 2);
    /// # }
    /// ```
    pub fn stream(self) -> MapStream<'a, F, I, T> {
        MapStream { inner: self }
    }

    /// How many jobs are in flight.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = amphi::ThreadPoolExecutor::new(1);
    /// let m = pool.map_buffered(|x: u8| x, [1, 2, 3], 2);
    /// assert_eq!(m.in_flight(), 2);
    /// ```
    pub fn in_flight(&self) -> usize {
        self.window.len()
    }

    fn next_job(&mut self) -> Option<MapJob<F, I::Item>> {
        self.stash.take().or_else(|| {
            let arg = self.items.next()?;
            Some(MapJob {
                f: Arc::clone(&self.f),
                arg,
            })
        })
    }

    /// Submits without waiting while the window has room.
    fn top_up(&mut self) {
        while self.ended.is_none()
            && self.refused.is_none()
            && self.submitting.is_none()
            && self.window.len() < self.buffersize
        {
            let Some(job) = self.next_job() else { return };
            match self.pool.try_submit_job(job, never_failed) {
                Ok(h) => self.window.push_back(h),
                Err(TrySubmitError::Full(job)) => {
                    self.stash = Some(job);
                    return;
                }
                Err(e) => {
                    // What is in flight still comes out first.
                    self.refused = Some(try_refused(e));
                    return;
                }
            }
        }
    }

    /// Stops: cancels what has not started; `why` is yielded next.
    fn end(&mut self, why: Option<MapError>) {
        for h in self.window.drain(..) {
            h.cancel();
        }
        self.stash = None;
        self.submitting = None;
        self.ended = Some(why);
    }

    fn yield_end(&mut self) -> Option<Result<T, MapError>> {
        self.ended.as_mut().and_then(Option::take).map(Err)
    }

    fn timed_out(&mut self) -> Option<Result<T, MapError>> {
        self.end(Some(MapError::TimedOut));
        self.yield_end()
    }
}

fn refused<F>(e: SubmitTimeoutError<F>) -> MapError {
    match e {
        SubmitTimeoutError::TimedOut(_) => MapError::TimedOut,
        SubmitTimeoutError::ShutDown(_) => MapError::ShutDown,
        SubmitTimeoutError::Broken(_) => MapError::Broken,
    }
}

fn try_refused<F>(e: TrySubmitError<F>) -> MapError {
    match e {
        TrySubmitError::Full(_) | TrySubmitError::ShutDown(_) => MapError::ShutDown,
        TrySubmitError::Broken(_) => MapError::Broken,
    }
}

impl<F, I, T> Iterator for Map<'_, F, I, T>
where
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    I: Iterator,
    I::Item: Send + 'static,
    T: Send + 'static,
{
    type Item = Result<T, MapError>;

    #[track_caller]
    fn next(&mut self) -> Option<Self::Item> {
        // Asked first, so that a call that may not block here fails the
        // same way every time, whatever is ready or left.
        let mode = crate::core::blocking_mode("Map::next");
        let deadline = self.deadline.at();
        match blocking_section(mode, || self.step(&mut Strategy::Blocking(deadline))) {
            Poll::Ready(out) => out,
            Poll::Pending => self.give_up(),
        }
    }
}

impl<F, I, T> Map<'_, F, I, T>
where
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    I: Iterator,
    I::Item: Send + 'static,
    T: Send + 'static,
{
    /// The one state machine of both the iterator and the stream: the next
    /// result in input order, or `Pending` as the strategy says (blocking:
    /// the deadline passed).
    fn step(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Option<Result<T, MapError>>> {
        loop {
            self.top_up();
            if self.ended.is_some() {
                return Poll::Ready(self.yield_end());
            }
            if let Some(front) = self.window.front_mut() {
                let r = std::task::ready!(front.poll_op(s));
                self.window.pop_front();
                return Poll::Ready(Some(r.map_err(MapError::Job)));
            }
            if let Some(why) = self.refused.take() {
                self.end(Some(why));
                continue;
            }
            // Nothing in flight: the queue was full, or the items are done.
            if self.submitting.is_none() {
                let Some(job) = self.next_job() else {
                    self.ended = Some(None);
                    return Poll::Ready(None);
                };
                self.submitting = Some(self.pool.submit_job(job, never_failed));
            }
            let submit = self.submitting.as_mut().expect("just set");
            let r = std::task::ready!(submit.poll_op(s));
            self.submitting = None;
            match r {
                Ok(h) => self.window.push_back(h),
                Err(e) => self.end(Some(refused(SubmitTimeoutError::from(e)))),
            }
        }
    }

    /// The time ran out: a last look at the front, else `TimedOut` (and
    /// the rest is cancelled).
    fn give_up(&mut self) -> Option<Result<T, MapError>> {
        if let Some(r) = self.window.front().and_then(JobHandle::try_result) {
            self.window.pop_front();
            return Some(r.map_err(MapError::Job));
        }
        self.timed_out()
    }

    fn poll_stream(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, MapError>>> {
        self.deadline.arm();
        if let Poll::Ready(out) = self.step(&mut Strategy::Async(cx)) {
            return Poll::Ready(out);
        }
        if !self.deadline.passed(cx) {
            return Poll::Pending;
        }
        Poll::Ready(self.give_up())
    }
}

/// The `Stream` of [`ThreadPoolExecutor::map`], from [`Map::stream`]: the
/// same results in input order, for tasks.
///
/// # Cancel safety
///
/// Cancel safe: dropping a `next()` future loses no result. Dropping the
/// stream cancels the jobs it has not started. Its timeout uses tokio's
/// timer (the default `tokio` feature); without that feature the deadline
/// is only noticed when the stream is polled for another reason (a job
/// finishing).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// # #[tokio::main] async fn main() {
/// let pool = amphi::ThreadPoolExecutor::new(2);
/// let lens: Vec<usize> = pool
///     .map(|s: &'static str| s.len(), ["a", "bb", "ccc"])
///     .stream()
///     .map(Result::unwrap)
///     .collect()
///     .await;
/// assert_eq!(lens, [1, 2, 3]);
/// # }
/// ```
#[must_use = "the first jobs are submitted already; consume the results, or drop the stream to cancel the jobs not started"]
#[derive(Debug)]
pub struct MapStream<'a, F, I: Iterator, T> {
    inner: Map<'a, F, I, T>,
}

impl<F, I, T> futures_core::Stream for MapStream<'_, F, I, T>
where
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    I: Iterator,
    I::Item: Send + 'static,
    T: Send + 'static,
{
    type Item = Result<T, MapError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_stream(cx)
    }
}

impl<F, I, T> futures_core::FusedStream for MapStream<'_, F, I, T>
where
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    I: Iterator,
    I::Item: Send + 'static,
    T: Send + 'static,
{
    fn is_terminated(&self) -> bool {
        self.inner.ended.as_ref().is_some_and(Option::is_none)
    }
}
