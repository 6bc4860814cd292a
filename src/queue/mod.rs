//! The queue family: [`Queue`] (FIFO), [`LifoQueue`] and [`PriorityQueue`],
//! one [`GenericQueue`] over an [`Order`], shared by threads and tasks.
//!
//! State: the items, the unfinished count, the shutdown flag, the lines of
//! waiting getters and putters (line.rs) and the joiners' count, all under
//! one mutex, so that a count and the wake-up it decides can never race (a
//! `task_done` that brings the count to zero and a `join` that starts
//! listening take the same lock). Getters and putters are woken from their
//! lines, after the lock is released; joiners (a broadcast) wait on an
//! `event-listener` event through the core's `Signal`. A put or get with
//! nobody waiting wakes nobody; besides the lock it touches only the
//! spinners' length hint, and that only when the count crosses empty or
//! full.
//!
//! Why a mutex around a plain container rather than a lock-free ring: the
//! family has to peek, drain, keep LIFO and priority order, and count
//! unfinished items and waiters together with the items; one short critical
//! section does all of it in one place. The benchmarks (benches/queue.rs)
//! show what that costs against the channel crates.

mod error;
mod line;
mod order;

use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use event_listener::Event;
use futures_core::{FusedStream, Stream};

#[cfg(loom)]
use loom::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
use std::sync::{Mutex, MutexGuard};

use crate::core::{
    Census, Flag, Kind, Op, Signal, Strategy, Waiters, block_forever, blocking_mode,
    waiting_future, watch_until,
};
use line::{Line, Waiting, Wakers};

pub use error::{
    GetTimeoutError, PutError, PutTimeoutError, ShutDown, TaskDoneError, TryGetError, TryPutError,
};
use order::Store;
pub use order::{Fifo, Lifo, Order, Prioritized, Priority};

/// A first-in, first-out queue that threads and tasks share (Python's
/// `queue.Queue`). All its methods are on [`GenericQueue`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// # #[tokio::main] async fn main() {
/// let q = Arc::new(amphi::Queue::new(16)); // at most 16 items; 0: unbounded
///
/// // A blocking producer thread feeds an async consumer.
/// let producer = std::thread::spawn({
///     let q = Arc::clone(&q);
///     move || {
///         for n in 0..100 {
///             q.put_blocking(n).unwrap();
///         }
///         q.shutdown(false); // gets drain what is left, then end
///     }
/// });
/// let mut sum = 0;
/// while let Ok(n) = q.get().await {
///     sum += n;
///     q.task_done().unwrap();
/// }
/// producer.join().unwrap();
/// assert_eq!(sum, 4950);
/// # }
/// ```
pub type Queue<T> = GenericQueue<T, Fifo>;

/// A last-in, first-out queue (a stack) that threads and tasks share
/// (Python's `queue.LifoQueue`). All its methods are on [`GenericQueue`].
///
/// # Examples
///
/// ```
/// let undo = amphi::LifoQueue::new(0);
/// undo.put_blocking("type a").unwrap();
/// undo.put_blocking("type b").unwrap();
/// assert_eq!(undo.get_blocking(), Ok("type b"));
/// ```
pub type LifoQueue<T> = GenericQueue<T, Lifo>;

/// A queue that hands out its smallest item first, threads and tasks alike
/// (Python's `queue.PriorityQueue`). Among equal items (by `Ord`) the one
/// put first leaves first. A `(priority, job)` tuple compares the job too;
/// to order by priority alone, in put order within a priority, put
/// [`Prioritized`] items. All its methods are on [`GenericQueue`].
///
/// # Examples
///
/// ```
/// use amphi::Prioritized;
/// let jobs = amphi::PriorityQueue::new(0);
/// jobs.put_blocking(Prioritized::new(5, "report")).unwrap();
/// jobs.put_blocking(Prioritized::new(0, "page the on-call")).unwrap();
/// jobs.put_blocking(Prioritized::new(5, "backup")).unwrap();
/// assert_eq!(jobs.get_blocking().unwrap().item, "page the on-call");
/// assert_eq!(jobs.get_blocking().unwrap().item, "report"); // equal: put order
/// assert_eq!(jobs.get_blocking().unwrap().item, "backup");
///
/// let plain = amphi::PriorityQueue::new(0);
/// plain.put_blocking((5, "report")).unwrap();
/// plain.put_blocking((5, "backup")).unwrap();
/// assert_eq!(plain.get_blocking(), Ok((5, "backup"))); // the job is compared
/// ```
pub type PriorityQueue<T> = GenericQueue<T, Priority>;

/// A queue of `T` in the order `O` ([`Fifo`], [`Lifo`] or [`Priority`]),
/// shared by OS threads and tokio tasks; usually named through [`Queue`],
/// [`LifoQueue`] or [`PriorityQueue`].
///
/// Every call that may wait exists in both worlds: `get().await` and
/// `get_blocking()`, `put(x).await` and `put_blocking(x)`, `join().await`
/// and `join_blocking()`, with timeouts on the futures (`.timeout(d)` for
/// tasks, `.wait_timeout(d)` for threads) and `try_` forms that never wait.
///
/// **Capacity**: `new(maxsize)` holds at most `maxsize` items, `0` meaning
/// unbounded (Python). A put waits while the queue is full.
///
/// **Work tracking** (Python's `task_done`/`join`): every item put counts as
/// unfinished until a [`task_done`](Self::task_done) marks it done;
/// [`join`](Self::join) waits until the count reaches zero.
///
/// **Shutdown** (Python 3.13's `shutdown`): after
/// [`shutdown`](Self::shutdown) every put fails and gives its item back,
/// gets drain what is left and then fail with [`ShutDown`], and every
/// blocked getter, putter and joiner wakes. `shutdown(true)` also removes
/// the items left, counts them done, and returns them.
///
/// **Fairness**: waiters are served in the order they started waiting. A
/// running caller may take an item (or a free slot) before the woken waiter
/// runs (barging, as in Python and the channel crates), which keeps
/// throughput high; the woken one keeps its place at the front of the line.
/// A waiter that has lost a woken race (or been held back) and has waited
/// for more than a millisecond is starving: the next item (or slot) that
/// wakes it is held for it, and running callers and waiters behind it
/// cannot take it, for up to 2 ms (so a future kept alive but not polled
/// stops nobody for longer; a thread held back looks again then, a task at
/// the first queue call after that). There are no holds once the queue is
/// shut down.
///
/// **No poisoning**: a panic in a priority queue's `Ord` or in a
/// [`peek_with`](Self::peek_with) closure leaves the queue usable. An item
/// whose comparison panics in a put stays in the queue (and counts as
/// unfinished); one whose comparison panics in a get is dropped (a
/// `get_many` drops the items it had taken so far too), still counted as
/// unfinished, so `join` waits for a `task_done` for each. Waiters hear of
/// the change either way.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use amphi::Queue;
///
/// # #[tokio::main] async fn main() {
/// let jobs: Arc<Queue<u32>> = Arc::new(Queue::new(0));
/// // Two blocking workers and one async worker take jobs from one queue.
/// let mut threads = Vec::new();
/// for _ in 0..2 {
///     let jobs = Arc::clone(&jobs);
///     threads.push(std::thread::spawn(move || {
///         while let Ok(_job) = jobs.get_blocking() {
///             jobs.task_done().unwrap();
///         }
///     }));
/// }
/// let task = tokio::spawn({
///     let jobs = Arc::clone(&jobs);
///     async move {
///         while let Ok(_job) = jobs.get().await {
///             jobs.task_done().unwrap();
///         }
///     }
/// });
/// for job in 0..1000 {
///     jobs.put(job).await.unwrap();
/// }
/// jobs.join().await; // every job was marked done
/// jobs.shutdown(false); // and the workers end
/// for t in threads {
///     t.join().unwrap();
/// }
/// task.await.unwrap();
/// # }
/// ```
pub struct GenericQueue<T, O: Order<T>> {
    state: Mutex<State<O::Store>>,
    maxsize: usize,
    /// Joiners wait here for the unfinished count to reach zero.
    all_done: Event,
    census: Census,
    /// The item count as of the last time it crossed "empty" or "full"
    /// (so zero exactly when empty, at least `maxsize` exactly when full),
    /// or `usize::MAX` once shut down: a hint, read without the lock by
    /// blocking waits while they spin, so that a spinning getter does not
    /// fight producers for the lock (never a decision).
    hint: StdAtomicUsize,
}

/// Everything that changes, under one lock.
struct State<S> {
    items: S,
    unfinished: usize,
    shutdown: bool,
    /// Getters and putters waiting, in order.
    getters: Line,
    putters: Line,
    /// The next waiter id (0: not in line).
    next_id: u64,
    /// Joiners with a listener in place: `task_done` notifies only if some.
    joiners: usize,
    /// During one attempt: the items (get) or slots (put) held for starving
    /// waiters other than the caller (the fairness fallback, line.rs).
    held: usize,
    /// How many times the unfinished count has reached zero: a joiner
    /// returns once it moves.
    epoch: u64,
}

/// How many calls wait on a queue, by what they wait for: see
/// [`GenericQueue::waiting`].
///
/// # Examples
///
/// ```
/// let w = amphi::Queue::<u8>::new(0).waiting();
/// assert_eq!(w.total(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueWaiting {
    /// Gets (and streams, batch gets) waiting for an item.
    pub getters: usize,
    /// Puts (and batch puts) waiting for room.
    pub putters: usize,
    /// Joins waiting for every item to be done.
    pub joiners: usize,
}

impl QueueWaiting {
    /// `getters + putters + joiners`.
    ///
    /// # Examples
    ///
    /// ```
    /// let w = amphi::QueueWaiting { getters: 1, putters: 2, joiners: 0 };
    /// assert_eq!(w.total(), 3);
    /// ```
    pub fn total(&self) -> usize {
        self.getters + self.putters + self.joiners
    }
}

/// Which waiters a call belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Get,
    Put,
}

impl<S> State<S> {
    fn line(&mut self, side: Side) -> &mut Line {
        match side {
            Side::Get => &mut self.getters,
            Side::Put => &mut self.putters,
        }
    }

    fn finish_tasks(&mut self, n: usize) -> bool {
        self.unfinished -= n;
        if n > 0 && self.unfinished == 0 {
            self.epoch = self.epoch.wrapping_add(1);
            return self.joiners > 0;
        }
        false
    }
}

/// Bounded queues allocate their container up front, up to this many bytes
/// (a larger bound grows the container on demand, up to the bound, once).
const PREALLOCATE_AT_MOST: usize = 64 * 1024;

/// The slots a queue of `maxsize` items of `T` allocates up front.
fn preallocated<T>(maxsize: usize) -> usize {
    maxsize.min(PREALLOCATE_AT_MOST / std::mem::size_of::<T>().max(1))
}

impl<T, O: Order<T>> GenericQueue<T, O> {
    /// A queue that holds at most `maxsize` items; `0` means unbounded, as
    /// in Python.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::<u8>::new(2);
    /// assert_eq!(q.maxsize(), 2);
    /// let unbounded = amphi::PriorityQueue::<u8>::new(0);
    /// assert_eq!(unbounded.maxsize(), 0);
    /// ```
    pub fn new(maxsize: usize) -> Self {
        GenericQueue {
            state: Mutex::new(State {
                items: O::Store::with_capacity(preallocated::<T>(maxsize)),
                unfinished: 0,
                shutdown: false,
                getters: Line::new(),
                putters: Line::new(),
                next_id: 1,
                joiners: 0,
                held: 0,
                epoch: 0,
            }),
            maxsize,
            all_done: Event::new(),
            census: Census::new(),
            hint: StdAtomicUsize::new(0),
        }
    }

    /// A queue with no bound: puts never wait. Same as `new(0)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::unbounded();
    /// for n in 0..10_000 {
    ///     q.try_put(n).unwrap();
    /// }
    /// assert_eq!(q.len(), 10_000);
    /// ```
    pub fn unbounded() -> Self {
        Self::new(0)
    }

    /// A queue that holds at most `capacity` items.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0 (amphi has no rendezvous queue; `new(0)` is the
    /// unbounded one, as in Python).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::bounded(1);
    /// q.try_put('a').unwrap();
    /// assert!(q.is_full());
    /// ```
    pub fn bounded(capacity: usize) -> Self {
        assert!(
            capacity > 0,
            "amphi: Queue::bounded(0): a queue needs room for at least one item \
             (use `Queue::new(0)` or `Queue::unbounded()` for no bound)"
        );
        Self::new(capacity)
    }

    fn lock(&self) -> MutexGuard<'_, State<O::Store>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bound given to [`new`](Self::new) (`0`: unbounded; Python's
    /// `maxsize`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(amphi::Queue::<u8>::bounded(8).maxsize(), 8);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// How many items are in the queue right now (Python's `qsize()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::new(0);
    /// q.try_put(1).unwrap();
    /// assert_eq!(q.len(), 1);
    /// ```
    #[doc(alias = "qsize")]
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether the queue holds no item right now (Python's `empty()`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(amphi::Queue::<u8>::new(0).is_empty());
    /// ```
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a bounded queue holds `maxsize` items right now (Python's
    /// `full()`); never true for an unbounded one.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::new(1);
    /// assert!(!q.is_full());
    /// q.try_put(()).unwrap();
    /// assert!(q.is_full());
    /// ```
    #[doc(alias = "full")]
    pub fn is_full(&self) -> bool {
        self.maxsize > 0 && self.len() >= self.maxsize
    }

    /// How many items were put and not yet marked done with
    /// [`task_done`](Self::task_done) (Python's `unfinished_tasks`).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::new(0);
    /// q.try_put(1).unwrap();
    /// q.try_get().unwrap();
    /// assert_eq!(q.unfinished(), 1); // got, not yet done
    /// q.task_done().unwrap();
    /// assert_eq!(q.unfinished(), 0);
    /// ```
    #[doc(alias = "unfinished_tasks")]
    pub fn unfinished(&self) -> usize {
        self.lock().unfinished
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::<u8>::new(0);
    /// q.shutdown(false);
    /// assert!(q.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.lock().shutdown
    }

    /// How many threads and tasks wait in a get, put or join right now (a
    /// snapshot, kept on the slow path only).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(amphi::Queue::<u8>::new(0).waiters().total(), 0);
    /// ```
    pub fn waiters(&self) -> Waiters {
        self.census.snapshot()
    }

    /// How many getters, putters and joiners wait right now (a snapshot):
    /// [`waiters`](Self::waiters) splits the same waiters by world
    /// instead. Idle consumers show as `getters`, producers held back by a
    /// full queue as `putters`.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::<u8>::new(0);
    /// let w = q.waiting();
    /// assert_eq!((w.getters, w.putters, w.joiners), (0, 0, 0));
    /// ```
    pub fn waiting(&self) -> QueueWaiting {
        let st = self.lock();
        QueueWaiting {
            getters: st.getters.len(),
            putters: st.putters.len(),
            joiners: st.joiners,
        }
    }

    // -- put ---------------------------------------------------------------

    /// Puts `item` if there is room right now (Python's `put_nowait`);
    /// otherwise gives it back in the error.
    ///
    /// # Examples
    ///
    /// ```
    /// use amphi::TryPutError;
    /// let q = amphi::Queue::new(1);
    /// assert_eq!(q.try_put("a"), Ok(()));
    /// assert_eq!(q.try_put("b"), Err(TryPutError::Full("b")));
    /// q.shutdown(false);
    /// assert_eq!(q.try_put("c"), Err(TryPutError::ShutDown("c")));
    /// ```
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        let mut item = Some(item);
        let maxsize = self.maxsize;
        match self.step(Side::Put, None, &mut |st, moved| {
            put_one(st, maxsize, &mut item, moved)
        }) {
            Some(Ok(())) => Ok(()),
            Some(Err(refused)) => Err(TryPutError::ShutDown(refused.0)),
            None => Err(TryPutError::Full(item.take().expect("not put"))),
        }
    }

    /// Puts `item`, waiting for room if the queue is full; `.await` it, or
    /// block with [`Put::wait`] / [`wait_timeout`](Put::wait_timeout).
    ///
    /// The output is `Err(PutError(item))` if the queue is (or gets) shut
    /// down before the item went in; a timed put gives
    /// [`PutTimeoutError::TimedOut`]`(item)` when the time runs out.
    ///
    /// # Blocking
    ///
    /// Never blocks: it returns a future; `.await` it in a task, or block a thread on it with `.wait()`, `.wait_timeout(d)` or `.wait_deadline(t)` (see the future's docs).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it is ready leaves the queue untouched:
    /// the item was never in it, and is dropped with the future; take it
    /// back first with [`Put::into_item`]. A "room is free" wake-up the
    /// future had received passes on to the next waiting putter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let q = amphi::Queue::new(1);
    /// q.put(1).await.unwrap();
    /// // Full: a timed put gives the item back.
    /// let refused = q.put(2).timeout(Duration::from_millis(5)).await.unwrap_err();
    /// assert_eq!(refused.into_inner(), 2);
    /// # }
    /// ```
    pub fn put(&self, item: T) -> Put<&Self> {
        Put::new(self, item)
    }

    /// [`put`](Self::put) through an `Arc`: the future owns a handle to the
    /// queue, so it is `'static` (store it, hand it to `tokio::spawn`).
    ///
    /// # Blocking
    ///
    /// Never blocks: it returns a future; `.await` it in a task, or block a thread on it with `.wait()`, `.wait_timeout(d)` or `.wait_deadline(t)` (see the future's docs).
    ///
    /// # Cancel safety
    ///
    /// As [`put`](Self::put).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # #[tokio::main] async fn main() {
    /// let q = Arc::new(amphi::Queue::new(0));
    /// tokio::spawn(q.put_arc(5)).await.unwrap().unwrap();
    /// assert_eq!(q.try_get(), Ok(5));
    /// # }
    /// ```
    pub fn put_arc(self: &Arc<Self>, item: T) -> Put<Arc<Self>> {
        Put::new(Arc::clone(self), item)
    }

    /// Blocks the thread until `item` is in the queue (Python's `put()`).
    ///
    /// # Blocking
    ///
    /// Parks the thread while the queue is full; on a tokio multi-thread
    /// worker it first moves the worker's other tasks away. On a thread
    /// that drives a current-thread runtime it panics at the caller's line,
    /// every time, even when there is room: `.await` [`put`](Self::put)
    /// there. For a time limit use `put(item).wait_timeout(d)`.
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::new(0);
    /// q.put_blocking("job").unwrap();
    /// assert_eq!(q.len(), 1);
    /// ```
    #[doc(alias = "blocking_put")]
    #[track_caller]
    pub fn put_blocking(&self, item: T) -> Result<(), PutError<T>> {
        let mode = blocking_mode("Queue::put_blocking");
        block_forever(&mut self.put(item), mode)
    }

    /// Puts what fits of `items` right now, in order, in one lock; the rest
    /// comes back in [`TryPutError::Full`] (all of them in
    /// [`TryPutError::ShutDown`] after a shutdown).
    ///
    /// # Examples
    ///
    /// ```
    /// use amphi::TryPutError;
    /// let q = amphi::Queue::new(2);
    /// assert_eq!(q.try_put_many([1, 2, 3]), Err(TryPutError::Full(vec![3])));
    /// assert_eq!(q.drain(), vec![1, 2]);
    /// ```
    pub fn try_put_many<I: IntoIterator<Item = T>>(
        &self,
        items: I,
    ) -> Result<(), TryPutError<Vec<T>>> {
        let mut items: VecDeque<T> = items.into_iter().collect();
        let maxsize = self.maxsize;
        match self.step(Side::Put, None, &mut |st, moved| {
            put_some(st, maxsize, &mut items, moved)
        }) {
            Some(Ok(())) => Ok(()),
            Some(Err(refused)) => Err(TryPutError::ShutDown(refused.0)),
            None => Err(TryPutError::Full(items.into())),
        }
    }

    /// Puts all of `items`, in order, waiting for room as needed: each time
    /// there is room, as many go in as fit, under one lock and with one
    /// wake-up call. `.await` it or block with [`PutMany::wait`].
    ///
    /// Not atomic: on a bounded queue, getters may take the first items
    /// before the last ones are in. On shutdown (or a timeout), the items
    /// that did not go in come back in the error.
    ///
    /// # Blocking
    ///
    /// Never blocks: it returns a future; `.await` it in a task, or block a thread on it with `.wait()`, `.wait_timeout(d)` or `.wait_deadline(t)` (see the future's docs).
    ///
    /// # Cancel safety
    ///
    /// Items already put stay put; dropping the future drops the ones not
    /// yet in, which [`PutMany::into_items`] takes back first. A wake-up it
    /// had received passes on to the next putter.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let q = amphi::Queue::new(0);
    /// q.put_many(1..=3).await.unwrap();
    /// assert_eq!(q.get_many(10).await.unwrap(), vec![1, 2, 3]);
    /// # }
    /// ```
    pub fn put_many<I: IntoIterator<Item = T>>(&self, items: I) -> PutMany<&Self> {
        PutMany::new(self, items.into_iter().collect())
    }

    /// [`put_many`](Self::put_many) through an `Arc`: a `'static` future.
    ///
    /// # Blocking
    ///
    /// Never blocks: it returns a future; `.await` it in a task, or block a thread on it with `.wait()`, `.wait_timeout(d)` or `.wait_deadline(t)` (see the future's docs).
    ///
    /// # Cancel safety
    ///
    /// As [`put_many`](Self::put_many).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # #[tokio::main] async fn main() {
    /// let q = Arc::new(amphi::Queue::new(0));
    /// tokio::spawn(q.put_many_arc(0..3)).await.unwrap().unwrap();
    /// assert_eq!(q.len(), 3);
    /// # }
    /// ```
    pub fn put_many_arc<I: IntoIterator<Item = T>>(
        self: &Arc<Self>,
        items: I,
    ) -> PutMany<Arc<Self>> {
        PutMany::new(Arc::clone(self), items.into_iter().collect())
    }

    /// Blocks the thread until all of `items` are in the queue (see
    /// [`put_many`](Self::put_many)).
    ///
    /// # Blocking
    ///
    /// As [`put_blocking`](Self::put_blocking).
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::new(0);
    /// q.put_many_blocking(vec!["a", "b"]).unwrap();
    /// assert_eq!(q.len(), 2);
    /// ```
    #[track_caller]
    pub fn put_many_blocking<I: IntoIterator<Item = T>>(
        &self,
        items: I,
    ) -> Result<(), PutError<Vec<T>>> {
        let mode = blocking_mode("Queue::put_many_blocking");
        block_forever(&mut self.put_many(items), mode)
    }

    // -- get ---------------------------------------------------------------

    /// Takes the next item if there is one right now (Python's
    /// `get_nowait`).
    ///
    /// After a shutdown it still takes what is left, then gives
    /// [`TryGetError::ShutDown`] (not `Empty`).
    ///
    /// # Examples
    ///
    /// ```
    /// use amphi::TryGetError;
    /// let q = amphi::Queue::new(0);
    /// assert_eq!(q.try_get(), Err(TryGetError::Empty));
    /// q.try_put(1).unwrap();
    /// assert_eq!(q.try_get(), Ok(1));
    /// ```
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> Result<T, TryGetError> {
        match self.step(Side::Get, None, &mut get_one) {
            Some(Ok(item)) => Ok(item),
            Some(Err(ShutDown)) => Err(TryGetError::ShutDown),
            None => Err(TryGetError::Empty),
        }
    }

    /// Takes the next item, waiting for one if the queue is empty; `.await`
    /// it, or block with [`Get::wait`] / [`wait_timeout`](Get::wait_timeout).
    ///
    /// The output is `Err(ShutDown)` once the queue is shut down and empty;
    /// a timed get gives [`GetTimeoutError::TimedOut`] when the time runs
    /// out (Python's `Empty`).
    ///
    /// # Blocking
    ///
    /// Never blocks: it returns a future; `.await` it in a task, or block a thread on it with `.wait()`, `.wait_timeout(d)` or `.wait_deadline(t)` (see the future's docs).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an item leaves the queue only when the future returns
    /// it, so a dropped get never takes one, and an "item ready" wake-up it
    /// had received passes on to the next waiting getter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use amphi::GetTimeoutError;
    /// # #[tokio::main] async fn main() {
    /// let q = amphi::Queue::new(0);
    /// let timed = q.get().timeout(Duration::from_millis(5)).await;
    /// assert_eq!(timed, Err(GetTimeoutError::TimedOut));
    /// q.put(3).await.unwrap();
    /// assert_eq!(q.get().await, Ok(3));
    /// # }
    /// ```
    pub fn get(&self) -> Get<&Self> {
        Get::new(self)
    }

    /// [`get`](Self::get) through an `Arc`: a `'static` future.
    ///
    /// # Blocking
    ///
    /// Never blocks: it returns a future; `.await` it in a task, or block a thread on it with `.wait()`, `.wait_timeout(d)` or `.wait_deadline(t)` (see the future's docs).
    ///
    /// # Cancel safety
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # #[tokio::main] async fn main() {
    /// let q = Arc::new(amphi::Queue::new(0));
    /// let getter = tokio::spawn(q.get_arc());
    /// q.put(9).await.unwrap();
    /// assert_eq!(getter.await.unwrap(), Ok(9));
    /// # }
    /// ```
    pub fn get_arc(self: &Arc<Self>) -> Get<Arc<Self>> {
        Get::new(Arc::clone(self))
    }

    /// Blocks the thread until it can take an item (Python's `get()`);
    /// `Err(ShutDown)` once the queue is shut down and empty.
    ///
    /// # Blocking
    ///
    /// Parks the thread while the queue is empty; on a tokio multi-thread
    /// worker it first moves the worker's other tasks away. On a thread
    /// that drives a current-thread runtime it panics at the caller's line,
    /// every time, even when an item is there: `.await` [`get`](Self::get)
    /// there. For a time limit use `get().wait_timeout(d)`.
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let q = Arc::new(amphi::Queue::new(0));
    /// let p = Arc::clone(&q);
    /// std::thread::spawn(move || p.put_blocking(42).unwrap());
    /// assert_eq!(q.get_blocking(), Ok(42));
    /// ```
    #[doc(alias = "blocking_get")]
    #[track_caller]
    pub fn get_blocking(&self) -> Result<T, ShutDown> {
        let mode = blocking_mode("Queue::get_blocking");
        block_forever(&mut self.get(), mode)
    }

    /// Takes up to `max` items in one lock, waiting until there is at least
    /// one; `.await` it or block with [`GetMany::wait`]. `max == 0` gives
    /// an empty `Vec` at once.
    ///
    /// # Blocking
    ///
    /// Never blocks: it returns a future; `.await` it in a task, or block a thread on it with `.wait()`, `.wait_timeout(d)` or `.wait_deadline(t)` (see the future's docs).
    ///
    /// # Cancel safety
    ///
    /// As [`get`](Self::get): items leave the queue only when the future
    /// returns them.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let q = amphi::Queue::new(0);
    /// q.put_many(0..5).await.unwrap();
    /// assert_eq!(q.get_many(3).await.unwrap(), vec![0, 1, 2]);
    /// assert_eq!(q.get_many(3).await.unwrap(), vec![3, 4]);
    /// # }
    /// ```
    pub fn get_many(&self, max: usize) -> GetMany<&Self> {
        GetMany::new(self, max)
    }

    /// [`get_many`](Self::get_many) through an `Arc`: a `'static` future.
    ///
    /// # Blocking
    ///
    /// Never blocks: it returns a future; `.await` it in a task, or block a thread on it with `.wait()`, `.wait_timeout(d)` or `.wait_deadline(t)` (see the future's docs).
    ///
    /// # Cancel safety
    ///
    /// As [`get_many`](Self::get_many).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # #[tokio::main] async fn main() {
    /// let q = Arc::new(amphi::Queue::new(0));
    /// let batch = tokio::spawn(q.get_many_arc(8));
    /// q.put_many(0..3).await.unwrap();
    /// assert!(!batch.await.unwrap().unwrap().is_empty());
    /// # }
    /// ```
    pub fn get_many_arc(self: &Arc<Self>, max: usize) -> GetMany<Arc<Self>> {
        GetMany::new(Arc::clone(self), max)
    }

    /// Blocks the thread until it can take at least one item, then takes up
    /// to `max` (see [`get_many`](Self::get_many)).
    ///
    /// # Blocking
    ///
    /// As [`get_blocking`](Self::get_blocking).
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::new(0);
    /// q.put_many_blocking(0..10).unwrap();
    /// assert_eq!(q.get_many_blocking(4).unwrap().len(), 4);
    /// ```
    #[track_caller]
    pub fn get_many_blocking(&self, max: usize) -> Result<Vec<T>, ShutDown> {
        let mode = blocking_mode("Queue::get_many_blocking");
        block_forever(&mut self.get_many(max), mode)
    }

    /// Takes every item there is right now, in get order, without waiting
    /// (an empty `Vec` if there is none, shut down or not), except the ones
    /// held for a starving waiter (see the fairness notes on
    /// [`GenericQueue`]). The items still
    /// count as unfinished until marked done, as if each had been got.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::LifoQueue::new(0);
    /// q.try_put_many([1, 2, 3]).unwrap();
    /// assert_eq!(q.drain(), vec![3, 2, 1]);
    /// assert!(q.is_empty());
    /// ```
    pub fn drain(&self) -> Vec<T> {
        let got = self.step(Side::Get, None, &mut |st, moved| {
            let free = st.items.len().saturating_sub(st.held);
            let all: Vec<T> = (0..free).filter_map(|_| st.items.pop()).collect();
            *moved = all.len();
            Some(all)
        });
        got.unwrap_or_default()
    }

    /// Calls `f` with the item a get would take next, under the queue's
    /// lock, without taking it; `None` if the queue is empty.
    ///
    /// `f` runs while the queue is locked: keep it short, and do not call
    /// this queue's methods inside it (that deadlocks).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::PriorityQueue::new(0);
    /// q.try_put_many([(3, "c"), (1, "a")]).unwrap();
    /// assert_eq!(q.peek_with(|(prio, _)| *prio), Some(1));
    /// assert_eq!(q.len(), 2);
    /// ```
    pub fn peek_with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        self.lock().items.peek().map(f)
    }

    /// A clone of the item a get would take next, without taking it; `None`
    /// if the queue is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::new(0);
    /// q.try_put(String::from("next")).unwrap();
    /// assert_eq!(q.peek().as_deref(), Some("next"));
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn peek(&self) -> Option<T>
    where
        T: Clone,
    {
        self.peek_with(T::clone)
    }

    /// The items as a blocking iterator, for a thread: each `next` is a
    /// [`get_blocking`](Self::get_blocking), and the iterator ends once the
    /// queue is shut down and empty.
    ///
    /// # Blocking
    ///
    /// Each `next` blocks as `get_blocking` does (and so panics on a thread
    /// that drives a current-thread runtime).
    ///
    /// # Cancel safety
    ///
    /// Not a future; an item leaves the queue only when `next` returns it.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::new(0);
    /// q.put_many_blocking(1..=3).unwrap();
    /// q.shutdown(false);
    /// let got: Vec<i32> = q.iter_blocking().collect();
    /// assert_eq!(got, vec![1, 2, 3]);
    /// ```
    pub fn iter_blocking(&self) -> BlockingIter<'_, T, O> {
        BlockingIter { queue: self }
    }

    /// The items as a [`Stream`] for a task: it yields every item it gets
    /// and ends once the queue is shut down and empty.
    ///
    /// # Blocking
    ///
    /// Never blocks: it returns a stream; poll it from a task.
    ///
    /// # Cancel safety
    ///
    /// As [`get`](Self::get): dropping the stream (or a pending `next()`)
    /// takes no item.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// # #[tokio::main] async fn main() {
    /// let q = amphi::Queue::new(0);
    /// q.put_many(1..=3).await.unwrap();
    /// q.shutdown(false);
    /// let got: Vec<i32> = q.stream().collect().await;
    /// assert_eq!(got, vec![1, 2, 3]);
    /// # }
    /// ```
    pub fn stream(&self) -> GetStream<&Self> {
        GetStream::new(self)
    }

    /// [`stream`](Self::stream) through an `Arc`: a `'static` stream.
    ///
    /// # Blocking
    ///
    /// Never blocks: it returns a stream; poll it from a task.
    ///
    /// # Cancel safety
    ///
    /// As [`stream`](Self::stream).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use futures::StreamExt;
    /// # #[tokio::main] async fn main() {
    /// let q = Arc::new(amphi::Queue::new(0));
    /// let consumer = tokio::spawn(q.stream_arc().count());
    /// q.put_many(0..4).await.unwrap();
    /// q.shutdown(false);
    /// assert_eq!(consumer.await.unwrap(), 4);
    /// # }
    /// ```
    pub fn stream_arc(self: &Arc<Self>) -> GetStream<Arc<Self>> {
        GetStream::new(Arc::clone(self))
    }

    // -- task_done / join ----------------------------------------------------

    /// Marks one item as done (Python's `task_done()`); when no unfinished
    /// item is left, every [`join`](Self::join) returns.
    ///
    /// Called more times than items were put, it returns
    /// [`TaskDoneError`] and changes nothing (Python raises `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::new(0);
    /// q.try_put("job").unwrap();
    /// let _job = q.try_get().unwrap();
    /// assert_eq!(q.task_done(), Ok(()));
    /// assert_eq!(q.task_done(), Err(amphi::TaskDoneError));
    /// ```
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        self.task_done_many(1)
    }

    /// Marks `n` items as done at once (after a [`get_many`](Self::get_many)
    /// or [`drain`](Self::drain)); more than are unfinished is refused and
    /// changes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::new(0);
    /// q.try_put_many(0..3).unwrap();
    /// let batch = q.drain();
    /// assert_eq!(q.task_done_many(4), Err(amphi::TaskDoneError));
    /// assert_eq!(q.task_done_many(batch.len()), Ok(()));
    /// assert_eq!(q.unfinished(), 0);
    /// ```
    pub fn task_done_many(&self, n: usize) -> Result<(), TaskDoneError> {
        let mut st = self.lock();
        if n > st.unfinished {
            return Err(TaskDoneError);
        }
        let wake = st.finish_tasks(n);
        drop(st);
        if wake {
            self.all_done.notify(usize::MAX);
        }
        Ok(())
    }

    /// Waits until every item put has been marked done with
    /// [`task_done`](Self::task_done) (Python's `join()`); `.await` it, or
    /// block with [`Join::wait`] / [`wait_timeout`](Join::wait_timeout)
    /// (`true`: all done).
    ///
    /// It returns once the unfinished count has been zero at some moment
    /// after the call (as `asyncio.Queue.join` does): an item put right
    /// after that moment does not hold it back. Only `task_done` (and
    /// `shutdown(true)`, for the items it removes) lowers the count: if the
    /// consumers never call `task_done`, `join` never returns, even once
    /// the queue is shut down and empty (as in Python).
    ///
    /// # Blocking
    ///
    /// Never blocks: it returns a future; `.await` it in a task, or block a thread on it with `.wait()`, `.wait_timeout(d)` or `.wait_deadline(t)` (see the future's docs).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: "all done" wakes every joiner, so a dropped joiner takes
    /// nothing from the others.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # #[tokio::main] async fn main() {
    /// let q = Arc::new(amphi::Queue::new(0));
    /// q.put_many(0..10).await.unwrap();
    /// let worker = std::thread::spawn({
    ///     let q = Arc::clone(&q);
    ///     move || {
    ///         while q.try_get().is_ok() {
    ///             q.task_done().unwrap();
    ///         }
    ///     }
    /// });
    /// q.join().await;
    /// assert_eq!(q.unfinished(), 0);
    /// worker.join().unwrap();
    /// # }
    /// ```
    pub fn join(&self) -> Join<&Self> {
        Join::new(self)
    }

    /// [`join`](Self::join) through an `Arc`: a `'static` future.
    ///
    /// # Blocking
    ///
    /// Never blocks: it returns a future; `.await` it in a task, or block a thread on it with `.wait()`, `.wait_timeout(d)` or `.wait_deadline(t)` (see the future's docs).
    ///
    /// # Cancel safety
    ///
    /// As [`join`](Self::join).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # #[tokio::main] async fn main() {
    /// let q = Arc::new(amphi::Queue::new(0));
    /// q.put(1).await.unwrap();
    /// let joiner = tokio::spawn(q.join_arc());
    /// q.get().await.unwrap();
    /// q.task_done().unwrap();
    /// joiner.await.unwrap();
    /// # }
    /// ```
    pub fn join_arc(self: &Arc<Self>) -> Join<Arc<Self>> {
        Join::new(Arc::clone(self))
    }

    /// Blocks the thread until every item put has been marked done (see
    /// [`join`](Self::join)).
    ///
    /// # Blocking
    ///
    /// Parks the thread until the unfinished count reaches zero; on a tokio
    /// multi-thread worker it first moves the worker's other tasks away. On
    /// a thread that drives a current-thread runtime it panics at the
    /// caller's line, every time: `.await` [`join`](Self::join) there.
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::<u8>::new(0);
    /// q.join_blocking(); // nothing was put: returns at once
    /// ```
    #[doc(alias = "blocking_join")]
    #[track_caller]
    pub fn join_blocking(&self) {
        let mode = blocking_mode("Queue::join_blocking");
        block_forever(&mut self.join(), mode)
    }

    // -- shutdown --------------------------------------------------------------

    /// Shuts the queue down (Python 3.13's `shutdown(immediate)`).
    ///
    /// From now on every put fails and gives its item back; gets take what
    /// is left and then fail with [`ShutDown`]. Every blocked getter and
    /// putter wakes, threads and tasks alike, to look again: putters fail,
    /// getters take an item or fail. Joiners wake when the count reaches
    /// zero, which `shutdown(true)` can bring about.
    ///
    /// With `immediate`, the items still in the queue are removed, each
    /// counted as done (so `join` can return once the items already got are
    /// done too), and **returned** (Python drops them). Without it the
    /// returned `Vec` is empty. Calling it again is harmless;
    /// `shutdown(true)` after `shutdown(false)` removes what is left.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = amphi::Queue::new(0);
    /// q.try_put_many(["a", "b"]).unwrap();
    /// let left = q.shutdown(true);
    /// assert_eq!(left, vec!["a", "b"]);
    /// assert_eq!(q.unfinished(), 0);
    /// assert!(q.put_blocking("c").is_err());
    /// assert_eq!(q.get_blocking(), Err(amphi::ShutDown));
    /// ```
    pub fn shutdown(&self, immediate: bool) -> Vec<T> {
        let mut st = self.lock();
        st.shutdown = true;
        self.hint.store(usize::MAX, Ordering::Relaxed);
        let mut removed = Vec::new();
        let mut joiners = false;
        if immediate {
            removed = pop_all(&mut st.items);
            let done = removed.len().min(st.unfinished);
            joiners = st.finish_tasks(done);
        }
        self.unlock(st);
        if joiners {
            self.all_done.notify(usize::MAX);
        }
        removed
    }

    // -- the waiting machinery ------------------------------------------------

    /// Whether a get could succeed now, by the hint (see `hint`).
    fn may_get(&self) -> bool {
        self.hint.load(Ordering::Relaxed) != 0
    }

    /// Whether a put could succeed (or fail for shutdown) now, by the hint.
    fn may_put(&self) -> bool {
        let hint = self.hint.load(Ordering::Relaxed);
        self.maxsize == 0 || hint < self.maxsize || hint == usize::MAX
    }

    /// One attempt under the lock. `attempt` returns `Some` when the call is
    /// over and reports in `moved` how many items it put or took (a batch
    /// put may move some and still wait). With a `waiter`, a finished one
    /// leaves its line, and one that must wait joins it (or keeps its
    /// place) if `how` says how to wake it. The wake-ups the new state calls
    /// for are sent after the lock is released.
    fn step<R>(
        &self,
        side: Side,
        waiter: Option<(&mut Waiter, Option<Waiting<'_>>)>,
        attempt: &mut impl FnMut(&mut State<O::Store>, &mut usize) -> Option<R>,
    ) -> Option<R> {
        let mut st = self.lock();
        let before = st.items.len();
        let caller = waiter.as_ref().map_or(0, |(w, _)| w.id);
        // After a shutdown every waiter is woken to drain or fail: holds
        // would only make them spin.
        st.held = if st.shutdown || st.line(side).is_empty() {
            0
        } else {
            st.line(side).held_for_others(caller)
        };
        let mut moved = 0;
        let out = match panic::catch_unwind(AssertUnwindSafe(|| attempt(&mut st, &mut moved))) {
            Ok(out) => out,
            Err(payload) => {
                // A priority item's `Ord` panicked in the middle of a put or
                // get: the items may have changed all the same, so the
                // waiters must hear of it before the panic goes on.
                let hint = if st.shutdown {
                    usize::MAX
                } else {
                    st.items.len()
                };
                self.hint.store(hint, Ordering::Relaxed);
                self.unlock(st);
                panic::resume_unwind(payload);
            }
        };
        let held_back = out.is_none() && st.held > 0;
        st.held = 0;
        if let Some((waiter, how)) = waiter {
            waiter.held_back = held_back;
            if out.is_some() {
                if waiter.id != 0 {
                    st.line(side).leave(waiter.id);
                    waiter.id = 0;
                    self.census.leave(&mut waiter.kind);
                }
            } else if let Some(how) = how {
                if waiter.id == 0 {
                    waiter.id = st.next_id;
                    st.next_id += 1;
                    let kind = Some(match how {
                        Waiting::Task(_) => Kind::Task,
                        Waiting::Thread => Kind::Thread,
                    });
                    self.census.enter(&mut waiter.kind, kind);
                    st.line(side).join(waiter.id, how);
                } else {
                    st.line(side).wait(waiter.id, how);
                }
            }
        }
        if moved > 0 {
            self.update_hint(&st, before);
        }
        self.unlock(st);
        out
    }

    /// Refreshes the hint when the count crossed "empty" or "full" (all the
    /// spinning waiters read from it), so that steady traffic in between
    /// does not write a shared cache line on every move.
    #[inline]
    fn update_hint(&self, st: &State<O::Store>, before: usize) {
        let now = st.items.len();
        let full = |n: usize| self.maxsize != 0 && n >= self.maxsize;
        if (before == 0) != (now == 0) || full(before) != full(now) {
            let hint = if st.shutdown { usize::MAX } else { now };
            self.hint.store(hint, Ordering::Relaxed);
        }
    }

    /// Unlocks the queue after restoring the lines' rule (at least
    /// `min(items, getters)` getters and `min(room, putters)` putters
    /// notified, every one after a shutdown), and then sends the wake-ups.
    /// When nobody waits this is two checks and the unlock: nothing is
    /// built, nobody is woken.
    #[inline]
    fn unlock(&self, st: MutexGuard<'_, State<O::Store>>) {
        if st.getters.is_empty() && st.putters.is_empty() {
            return;
        }
        self.unlock_slow(st);
    }

    #[cold]
    fn unlock_slow(&self, mut st: MutexGuard<'_, State<O::Store>>) {
        let len = st.items.len();
        let (items, room) = if st.shutdown {
            (usize::MAX, usize::MAX)
        } else if self.maxsize == 0 {
            (len, usize::MAX)
        } else {
            (len, self.maxsize.saturating_sub(len))
        };
        let mut wakers = Wakers::new();
        st.getters.ensure(items, &mut wakers);
        st.putters.ensure(room, &mut wakers);
        drop(st);
        wakers.wake();
    }

    /// Advances a get or put waiter: try; if it must wait, take a place in
    /// line (a task returns `Pending`; a thread parks, until its deadline,
    /// and tries again whenever it is woken).
    fn poll_side<R>(
        &self,
        side: Side,
        waiter: &mut Waiter,
        s: &mut Strategy<'_, '_>,
        mut attempt: impl FnMut(&mut State<O::Store>, &mut usize) -> Option<R>,
    ) -> Poll<R> {
        let kind = s.kind();
        self.census.follow(&mut waiter.kind, kind);
        match s {
            Strategy::NoWait => match self.step(side, Some((waiter, None)), &mut attempt) {
                Some(out) => Poll::Ready(out),
                None => Poll::Pending,
            },
            Strategy::Async(cx) => {
                let how = Some(Waiting::Task(cx.waker()));
                match self.step(side, Some((waiter, how)), &mut attempt) {
                    Some(out) => Poll::Ready(out),
                    None => Poll::Pending,
                }
            }
            Strategy::Blocking(deadline) => loop {
                let how = Some(Waiting::Thread);
                if let Some(out) = self.step(side, Some((&mut *waiter, how)), &mut attempt) {
                    return Poll::Ready(out);
                }
                // Held back by a starving waiter's hold: look again when the
                // hold would lapse (its holder may be a future nobody polls).
                let until = if waiter.held_back {
                    Some(watch_until(*deadline))
                } else {
                    *deadline
                };
                if !line::park(until) && deadline.is_some_and(|d| Instant::now() >= d) {
                    // Still in line: `poll_expired` takes a last look, and
                    // leaves.
                    return Poll::Pending;
                }
            },
        }
    }

    /// A waiter leaves without finishing (dropped, timed out): it leaves its
    /// line, and if it had been notified, its turn passes to the next one.
    fn leave(&self, side: Side, waiter: &mut Waiter) {
        if waiter.id == 0 {
            return;
        }
        let mut st = self.lock();
        st.line(side).leave(waiter.id);
        waiter.id = 0;
        self.unlock(st);
        self.census.leave(&mut waiter.kind);
    }
}

fn pop_all<T, S: Store<T>>(items: &mut S) -> Vec<T> {
    let mut all = Vec::with_capacity(items.len());
    while let Some(item) = items.pop() {
        all.push(item);
    }
    all
}

fn get_one<T, S: Store<T>>(st: &mut State<S>, moved: &mut usize) -> Option<Result<T, ShutDown>> {
    if st.items.len() > st.held {
        let item = st.items.pop().expect("not empty");
        *moved = 1;
        return Some(Ok(item));
    }
    (st.shutdown && st.items.len() == 0).then_some(Err(ShutDown))
}

fn put_one<T, S: Store<T>>(
    st: &mut State<S>,
    maxsize: usize,
    item: &mut Option<T>,
    moved: &mut usize,
) -> Option<Result<(), PutError<T>>> {
    let mut taken = || {
        item.take()
            .expect("amphi: a put future was polled after it completed")
    };
    if st.shutdown {
        return Some(Err(PutError(taken())));
    }
    if maxsize != 0 && st.items.len() + st.held >= maxsize {
        return None;
    }
    // Counted before the push: a priority item whose `Ord` panics in the
    // push stays in the queue, counted.
    st.unfinished += 1;
    *moved = 1;
    st.items.push(taken());
    Some(Ok(()))
}

fn put_some<T, S: Store<T>>(
    st: &mut State<S>,
    maxsize: usize,
    items: &mut VecDeque<T>,
    moved: &mut usize,
) -> Option<Result<(), PutError<Vec<T>>>> {
    if st.shutdown {
        return Some(Err(PutError(std::mem::take(items).into())));
    }
    while !items.is_empty() && (maxsize == 0 || st.items.len() + st.held < maxsize) {
        st.unfinished += 1;
        *moved += 1;
        st.items.push(items.pop_front().expect("not empty"));
    }
    items.is_empty().then_some(Ok(()))
}

impl<T, O: Order<T>> Default for GenericQueue<T, O> {
    /// An unbounded queue.
    fn default() -> Self {
        Self::new(0)
    }
}

impl<T, O: Order<T>> fmt::Debug for GenericQueue<T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Queue")
            .field("order", &OrderName(std::any::type_name::<O>()))
            .field("len", &st.items.len())
            .field("maxsize", &self.maxsize)
            .field("unfinished", &st.unfinished)
            .field("shutdown", &st.shutdown)
            .finish_non_exhaustive()
    }
}

/// Prints an order's type name without its path (`Fifo`).
struct OrderName(&'static str);

impl fmt::Debug for OrderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.rsplit("::").next().unwrap_or(self.0))
    }
}

// ---------------------------------------------------------------------------
// Handles and futures.
// ---------------------------------------------------------------------------

/// A borrowed (`&GenericQueue`) or owned (`Arc<GenericQueue>`) handle to a
/// queue: what the futures of [`get`](GenericQueue::get) and
/// [`get_arc`](GenericQueue::get_arc) (and the other pairs) hold. Sealed.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// fn total<Q: amphi::QueueRef<Item = u32>>(q: Q) -> usize {
///     q.queue().len()
/// }
/// let q = Arc::new(amphi::Queue::new(0));
/// q.try_put(1).unwrap();
/// assert_eq!(total(&*q), 1);
/// assert_eq!(total(q), 1);
/// ```
pub trait QueueRef: Unpin + order::sealed::Sealed {
    /// The item type.
    type Item;
    /// The queue's order.
    type Order: Order<Self::Item>;
    /// The queue.
    fn queue(&self) -> &GenericQueue<Self::Item, Self::Order>;
}

impl<T, O: Order<T>> order::sealed::Sealed for &GenericQueue<T, O> {}
impl<T, O: Order<T>> order::sealed::Sealed for Arc<GenericQueue<T, O>> {}

impl<T, O: Order<T>> QueueRef for &GenericQueue<T, O> {
    type Item = T;
    type Order = O;
    fn queue(&self) -> &GenericQueue<T, O> {
        self
    }
}

impl<T, O: Order<T>> QueueRef for Arc<GenericQueue<T, O>> {
    type Item = T;
    type Order = O;
    fn queue(&self) -> &GenericQueue<T, O> {
        self
    }
}

/// The per-waiter state of a get or put.
#[derive(Debug)]
struct Waiter {
    /// Its id in its side's line; 0 while not in line.
    id: u64,
    /// Its census entry.
    kind: Option<Kind>,
    /// Its last attempt found only items (or room) held for a starving
    /// waiter ahead of it.
    held_back: bool,
}

impl Waiter {
    const fn new() -> Self {
        Waiter {
            id: 0,
            kind: None,
            held_back: false,
        }
    }
}

/// What every get and put future holds: the queue, its side, its place in
/// line, and whether it completed. It leaves the line when dropped (a
/// notified waiter's turn passes on).
struct Place<Q: QueueRef> {
    queue: Q,
    side: Side,
    waiter: Waiter,
    done: bool,
}

/// The container of the queue a handle points to.
type StoreOf<Q> = <<Q as QueueRef>::Order as Order<<Q as QueueRef>::Item>>::Store;

impl<Q: QueueRef> Place<Q> {
    fn new(queue: Q, side: Side) -> Self {
        Place {
            queue,
            side,
            waiter: Waiter::new(),
            done: false,
        }
    }

    fn queue(&self) -> &GenericQueue<Q::Item, Q::Order> {
        self.queue.queue()
    }

    /// One poll of the operation `attempt` describes. A future polled
    /// again after it completed panics.
    fn poll<R>(
        &mut self,
        s: &mut Strategy<'_, '_>,
        attempt: impl FnMut(&mut State<StoreOf<Q>>, &mut usize) -> Option<R>,
    ) -> Poll<R> {
        assert!(!self.done, "{POLLED_AFTER_DONE}");
        let out = self
            .queue
            .queue()
            .poll_side(self.side, &mut self.waiter, s, attempt);
        self.done = out.is_ready();
        out
    }

    /// The time ran out. `last` is the last look (which may still have
    /// succeeded: then it counts as in time); either way the place is
    /// left.
    fn expire<R, T>(
        &mut self,
        last: Poll<R>,
        in_time: impl FnOnce(R) -> T,
        timed_out: impl FnOnce() -> T,
    ) -> Poll<T> {
        self.done = true;
        self.queue.queue().leave(self.side, &mut self.waiter);
        Poll::Ready(match last {
            Poll::Ready(out) => in_time(out),
            Poll::Pending => timed_out(),
        })
    }

    fn waiting(&self) -> bool {
        self.waiter.id != 0
    }
}

impl<Q: QueueRef> Drop for Place<Q> {
    fn drop(&mut self) {
        self.queue.queue().leave(self.side, &mut self.waiter);
    }
}

/// The future of [`GenericQueue::get`] and [`get_arc`](GenericQueue::get_arc):
/// the next item, or `Err(ShutDown)`.
///
/// `Send` and `Sync` when `T` is `Send`; always `Unpin`.
///
/// # Cancel safety
///
/// Cancel safe: the item leaves the queue only when this future returns
/// it; an "item ready" wake-up it had received passes on when it is
/// dropped.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let q = amphi::Queue::<u8>::new(0);
/// assert!(q.get().wait_timeout(Duration::from_millis(1)).is_err());
/// q.try_put(1).unwrap();
/// assert_eq!(q.get().wait(), Ok(1));
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it or use `Queue::get_blocking`"]
pub struct Get<Q: QueueRef> {
    place: Place<Q>,
}

impl<Q: QueueRef> Get<Q> {
    fn new(queue: Q) -> Self {
        Get {
            place: Place::new(queue, Side::Get),
        }
    }
}

/// Futures polled again after they completed panic with this.
const POLLED_AFTER_DONE: &str = "amphi: a queue future was polled after it completed";

impl<Q: QueueRef> Op for Get<Q> {
    type Output = Result<Q::Item, ShutDown>;
    type Timed = Result<Q::Item, GetTimeoutError>;
    const SPIN: bool = true;

    fn name(&self) -> &'static str {
        "Queue::get"
    }

    fn may_be_ready(&self) -> bool {
        self.place.queue().may_get()
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Output> {
        self.place.poll(s, get_one)
    }

    fn poll_expired(&mut self, _: &mut Strategy<'_, '_>) -> Poll<Self::Timed> {
        let last = self.poll_op(&mut Strategy::NoWait);
        self.place
            .expire(last, Self::in_time, || Err(GetTimeoutError::TimedOut))
    }

    fn in_time(out: Self::Output) -> Self::Timed {
        out.map_err(|ShutDown| GetTimeoutError::ShutDown)
    }
}

impl<Q: QueueRef> fmt::Debug for Get<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get")
            .field("waiting", &self.place.waiting())
            .finish_non_exhaustive()
    }
}

waiting_future! {
    impl[Q: QueueRef] Get<Q> => Result<Q::Item, ShutDown>, timed Result<Q::Item, GetTimeoutError>;
    example: "```
use std::time::Duration;
let q = amphi::Queue::<u8>::new(0);
assert!(q.get().wait_timeout(Duration::from_millis(1)).is_err());
q.try_put(1).unwrap();
assert_eq!(q.get().wait(), Ok(1));
```"
}

/// The future of [`GenericQueue::put`] and [`put_arc`](GenericQueue::put_arc):
/// `Ok(())` once the item is in, or the item back in the error.
///
/// `Send` when `T` is `Send`; always `Unpin`.
///
/// # Cancel safety
///
/// Dropping it before it is ready leaves the queue untouched; the item,
/// never put, is dropped with it unless taken back with
/// [`into_item`](Self::into_item). A "room is free" wake-up it had received
/// passes on to the next putter.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let q = amphi::Queue::new(1);
/// q.put('a').wait().unwrap();
/// let refused = q.put('b').wait_timeout(Duration::from_millis(1));
/// assert_eq!(refused.unwrap_err().into_inner(), 'b');
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it or use `Queue::put_blocking`"]
pub struct Put<Q: QueueRef> {
    place: Place<Q>,
    item: Option<Q::Item>,
}

// The item is never pinned: the future only moves it into the queue.
impl<Q: QueueRef> Unpin for Put<Q> {}

impl<Q: QueueRef> Put<Q> {
    fn new(queue: Q, item: Q::Item) -> Self {
        Put {
            place: Place::new(queue, Side::Put),
            item: Some(item),
        }
    }

    /// Gives up the put and takes the item back: `None` if it is in the
    /// queue already. For a put future kept in a `select!` loop (through
    /// `&mut`) that the caller decides to abandon.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let q = amphi::Queue::new(1);
    /// q.put("first").await.unwrap();
    /// let mut put = q.put("second");
    /// tokio::select! {
    ///     _ = &mut put => unreachable!("the queue is full"),
    ///     _ = tokio::time::sleep(Duration::from_millis(5)) => {}
    /// }
    /// assert_eq!(put.into_item(), Some("second"));
    /// # }
    /// ```
    pub fn into_item(mut self) -> Option<Q::Item> {
        self.item.take()
    }
}

impl<Q: QueueRef> Op for Put<Q> {
    type Output = Result<(), PutError<Q::Item>>;
    type Timed = Result<(), PutTimeoutError<Q::Item>>;
    const SPIN: bool = true;

    fn name(&self) -> &'static str {
        "Queue::put"
    }

    fn may_be_ready(&self) -> bool {
        self.place.queue().may_put()
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Output> {
        let maxsize = self.place.queue().maxsize;
        let item = &mut self.item;
        self.place
            .poll(s, |st, moved| put_one(st, maxsize, item, moved))
    }

    fn poll_expired(&mut self, _: &mut Strategy<'_, '_>) -> Poll<Self::Timed> {
        let last = self.poll_op(&mut Strategy::NoWait);
        let item = &mut self.item;
        self.place.expire(last, Self::in_time, || {
            Err(PutTimeoutError::TimedOut(item.take().expect("not put")))
        })
    }

    fn in_time(out: Self::Output) -> Self::Timed {
        out.map_err(|PutError(item)| PutTimeoutError::ShutDown(item))
    }
}

impl<Q: QueueRef> fmt::Debug for Put<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put")
            .field("done", &self.item.is_none())
            .field("waiting", &self.place.waiting())
            .finish_non_exhaustive()
    }
}

waiting_future! {
    impl[Q: QueueRef] Put<Q> => Result<(), PutError<Q::Item>>, timed Result<(), PutTimeoutError<Q::Item>>;
    example: "```
use std::time::Duration;
let q = amphi::Queue::new(1);
q.put('a').wait().unwrap();
let refused = q.put('b').wait_timeout(Duration::from_millis(1));
assert_eq!(refused.unwrap_err().into_inner(), 'b');
```"
}

/// The future of [`GenericQueue::get_many`]: up to `max` items, at least
/// one, or `Err(ShutDown)`.
///
/// # Cancel safety
///
/// Cancel safe, as [`Get`].
///
/// # Examples
///
/// ```
/// let q = amphi::Queue::new(0);
/// q.try_put_many([1, 2, 3]).unwrap();
/// assert_eq!(q.get_many(2).wait(), Ok(vec![1, 2]));
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it or use `Queue::get_many_blocking`"]
pub struct GetMany<Q: QueueRef> {
    place: Place<Q>,
    max: usize,
}

impl<Q: QueueRef> GetMany<Q> {
    fn new(queue: Q, max: usize) -> Self {
        GetMany {
            place: Place::new(queue, Side::Get),
            max,
        }
    }
}

impl<Q: QueueRef> Op for GetMany<Q> {
    type Output = Result<Vec<Q::Item>, ShutDown>;
    type Timed = Result<Vec<Q::Item>, GetTimeoutError>;
    const SPIN: bool = true;

    fn name(&self) -> &'static str {
        "Queue::get_many"
    }

    fn may_be_ready(&self) -> bool {
        self.place.queue().may_get()
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Output> {
        let max = self.max;
        self.place.poll(s, |st, moved| {
            let n = st.items.len().saturating_sub(st.held).min(max);
            if n == 0 && max > 0 {
                return (st.shutdown && st.items.len() == 0).then_some(Err(ShutDown));
            }
            let mut got = Vec::with_capacity(n);
            while got.len() < n {
                got.push(st.items.pop().expect("counted"));
            }
            *moved = n;
            Some(Ok(got))
        })
    }

    fn poll_expired(&mut self, _: &mut Strategy<'_, '_>) -> Poll<Self::Timed> {
        let last = self.poll_op(&mut Strategy::NoWait);
        self.place
            .expire(last, Self::in_time, || Err(GetTimeoutError::TimedOut))
    }

    fn in_time(out: Self::Output) -> Self::Timed {
        out.map_err(|ShutDown| GetTimeoutError::ShutDown)
    }
}

impl<Q: QueueRef> fmt::Debug for GetMany<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetMany")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

waiting_future! {
    impl[Q: QueueRef] GetMany<Q> => Result<Vec<Q::Item>, ShutDown>, timed Result<Vec<Q::Item>, GetTimeoutError>;
    example: "```
let q = amphi::Queue::new(0);
q.try_put_many([1, 2, 3]).unwrap();
assert_eq!(q.get_many(2).wait(), Ok(vec![1, 2]));
```"
}

/// The future of [`GenericQueue::put_many`]: `Ok(())` once every item is
/// in, or the items that did not go in back in the error.
///
/// # Cancel safety
///
/// Items already put stay put; the rest are dropped with the future unless
/// taken back with [`into_items`](Self::into_items). A wake-up it had
/// received passes on.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let q = amphi::Queue::new(2);
/// let refused = q.put_many(1..=3).wait_timeout(Duration::from_millis(1));
/// assert_eq!(refused.unwrap_err().into_inner(), vec![3]);
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it or use `Queue::put_many_blocking`"]
pub struct PutMany<Q: QueueRef> {
    place: Place<Q>,
    items: VecDeque<Q::Item>,
}

impl<Q: QueueRef> Unpin for PutMany<Q> {}

impl<Q: QueueRef> PutMany<Q> {
    fn new(queue: Q, items: VecDeque<Q::Item>) -> Self {
        PutMany {
            place: Place::new(queue, Side::Put),
            items,
        }
    }

    /// Gives up and takes back the items not yet in the queue, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let q = amphi::Queue::new(1);
    /// let mut put = q.put_many([1, 2]);
    /// assert!(futures::poll!(&mut put).is_pending()); // 1 went in, 2 waits
    /// assert_eq!(put.into_items(), vec![2]);
    /// assert_eq!(q.try_get(), Ok(1));
    /// # }
    /// ```
    pub fn into_items(mut self) -> Vec<Q::Item> {
        std::mem::take(&mut self.items).into()
    }
}

impl<Q: QueueRef> Op for PutMany<Q> {
    type Output = Result<(), PutError<Vec<Q::Item>>>;
    type Timed = Result<(), PutTimeoutError<Vec<Q::Item>>>;
    const SPIN: bool = true;

    fn name(&self) -> &'static str {
        "Queue::put_many"
    }

    fn may_be_ready(&self) -> bool {
        self.place.queue().may_put()
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Output> {
        let maxsize = self.place.queue().maxsize;
        let items = &mut self.items;
        self.place
            .poll(s, |st, moved| put_some(st, maxsize, items, moved))
    }

    fn poll_expired(&mut self, _: &mut Strategy<'_, '_>) -> Poll<Self::Timed> {
        let last = self.poll_op(&mut Strategy::NoWait);
        let items = &mut self.items;
        self.place.expire(last, Self::in_time, || {
            Err(PutTimeoutError::TimedOut(std::mem::take(items).into()))
        })
    }

    fn in_time(out: Self::Output) -> Self::Timed {
        out.map_err(|PutError(items)| PutTimeoutError::ShutDown(items))
    }
}

impl<Q: QueueRef> fmt::Debug for PutMany<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutMany")
            .field("left", &self.items.len())
            .finish_non_exhaustive()
    }
}

waiting_future! {
    impl[Q: QueueRef] PutMany<Q> => Result<(), PutError<Vec<Q::Item>>>, timed Result<(), PutTimeoutError<Vec<Q::Item>>>;
    example: "```
use std::time::Duration;
let q = amphi::Queue::new(2);
let refused = q.put_many(1..=3).wait_timeout(Duration::from_millis(1));
assert_eq!(refused.unwrap_err().into_inner(), vec![3]);
```"
}

/// The future of [`GenericQueue::join`]: ready once every item put has been
/// marked done. Timed waits give `true` if so, `false` if the time ran out.
///
/// # Cancel safety
///
/// Cancel safe.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let q = amphi::Queue::new(0);
/// q.try_put(1).unwrap();
/// assert!(!q.join().wait_timeout(Duration::from_millis(1)));
/// q.try_get().unwrap();
/// q.task_done().unwrap();
/// assert!(q.join().wait_timeout(Duration::from_millis(1)));
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it or use `Queue::join_blocking`"]
pub struct Join<Q: QueueRef> {
    queue: Q,
    /// The zero-count epoch when `join` was called.
    epoch: u64,
    /// Nothing was unfinished when `join` was called.
    done: bool,
    signal: Signal,
}

impl<Q: QueueRef> Join<Q> {
    fn new(queue: Q) -> Self {
        let (epoch, done) = {
            let st = queue.queue().lock();
            (st.epoch, st.unfinished == 0)
        };
        Join {
            queue,
            epoch,
            done,
            signal: Signal::new(),
        }
    }
}

/// The "all done" condition of one join, for the core's broadcast wait.
struct AllDone<'a, T, O: Order<T>> {
    queue: &'a GenericQueue<T, O>,
    epoch: u64,
}

impl<T, O: Order<T>> Flag for AllDone<'_, T, O> {
    fn event(&self) -> &Event {
        &self.queue.all_done
    }
    fn census(&self) -> &Census {
        &self.queue.census
    }
    fn is_over(&self) -> bool {
        self.queue.lock().epoch != self.epoch
    }
    fn count(&self) -> bool {
        let mut st = self.queue.lock();
        st.joiners += 1;
        st.epoch != self.epoch
    }
    fn uncount(&self) {
        self.queue.lock().joiners -= 1;
    }
}

impl<Q: QueueRef> Op for Join<Q> {
    type Output = ();
    type Timed = bool;

    fn name(&self) -> &'static str {
        "Queue::join"
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        let flag = AllDone {
            queue: self.queue.queue(),
            epoch: self.epoch,
        };
        let out = self.signal.poll(&flag, s);
        self.done = out.is_ready();
        out
    }

    fn poll_expired(&mut self, _: &mut Strategy<'_, '_>) -> Poll<bool> {
        let flag = AllDone {
            queue: self.queue.queue(),
            epoch: self.epoch,
        };
        let woken = self.signal.finish(&flag);
        Poll::Ready(self.done || woken || flag.is_over())
    }

    fn in_time((): ()) -> bool {
        true
    }
}

impl<Q: QueueRef> Drop for Join<Q> {
    fn drop(&mut self) {
        let flag = AllDone {
            queue: self.queue.queue(),
            epoch: self.epoch,
        };
        self.signal.finish(&flag);
    }
}

impl<Q: QueueRef> fmt::Debug for Join<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

waiting_future! {
    impl[Q: QueueRef] Join<Q> => (), timed bool;
    example: "```
use std::time::Duration;
let q = amphi::Queue::new(0);
q.try_put(1).unwrap();
assert!(!q.join().wait_timeout(Duration::from_millis(1)));
q.try_get().unwrap();
q.task_done().unwrap();
assert!(q.join().wait_timeout(Duration::from_millis(1)));
```"
}

/// The stream of [`GenericQueue::stream`] and
/// [`stream_arc`](GenericQueue::stream_arc): every item it gets, ending
/// once the queue is shut down and empty.
///
/// # Cancel safety
///
/// Cancel safe, as [`Get`]: a pending `next()` that is dropped takes no
/// item.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// # #[tokio::main] async fn main() {
/// let q = amphi::Queue::new(0);
/// q.put_many(["a", "b"]).await.unwrap();
/// q.shutdown(false);
/// let mut items = q.stream();
/// assert_eq!(items.next().await, Some("a"));
/// assert_eq!(items.next().await, Some("b"));
/// assert_eq!(items.next().await, None);
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct GetStream<Q: QueueRef> {
    place: Place<Q>,
    ended: bool,
}

impl<Q: QueueRef> GetStream<Q> {
    fn new(queue: Q) -> Self {
        GetStream {
            place: Place::new(queue, Side::Get),
            ended: false,
        }
    }
}

impl<Q: QueueRef> Stream for GetStream<Q> {
    type Item = Q::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Q::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        // Each item completes one get; the stream's place stays in use.
        let place = &mut this.place;
        let next = place
            .queue
            .queue()
            .poll_side(
                Side::Get,
                &mut place.waiter,
                &mut Strategy::Async(cx),
                get_one,
            )
            .map(Result::ok);
        this.ended = matches!(next, Poll::Ready(None));
        next
    }
}

/// Ended once it has yielded `None` (the queue was shut down and empty).
impl<Q: QueueRef> FusedStream for GetStream<Q> {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl<Q: QueueRef> fmt::Debug for GetStream<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetStream").finish_non_exhaustive()
    }
}

/// The iterator of [`GenericQueue::iter_blocking`]: each `next` blocks for
/// the next item; it ends once the queue is shut down and empty.
///
/// # Examples
///
/// ```
/// let q = amphi::Queue::new(0);
/// q.try_put_many([1, 2]).unwrap();
/// q.shutdown(false);
/// assert_eq!(q.iter_blocking().sum::<i32>(), 3);
/// ```
pub struct BlockingIter<'a, T, O: Order<T>> {
    queue: &'a GenericQueue<T, O>,
}

impl<T, O: Order<T>> Iterator for BlockingIter<'_, T, O> {
    type Item = T;

    #[track_caller]
    fn next(&mut self) -> Option<T> {
        let mode = blocking_mode("Queue::iter_blocking");
        block_forever(&mut self.queue.get(), mode).ok()
    }
}

impl<T, O: Order<T>> fmt::Debug for BlockingIter<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingIter").finish_non_exhaustive()
    }
}
