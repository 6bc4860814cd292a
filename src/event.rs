//! [`Event`]: a flag that threads and tasks wait for.

use std::fmt;
use std::task::Poll;

use crate::core::{
    AtomicUsize, Census, Flag, Op, Ordering, Signal, Strategy, Waiters, block_forever,
    blocking_mode, const_fn, waiting_future,
};

/// Set while the flag is set.
const SET: usize = 1;
/// One waiter in the "someone waits" count above the `SET` bit.
const WAITER: usize = 2;

/// A flag that threads and tasks wait for (Python's `threading.Event`).
///
/// [`set`](Self::set) wakes every waiter, threads and tasks alike, in one
/// call; [`clear`](Self::clear) resets the flag. A waiter woken by `set`
/// returns `true` even if `clear` runs before it is scheduled (as Python
/// since CPython issue 13502): waking is the report, not a later look at the
/// flag.
///
/// A `set` is a broadcast: it wakes the waiters that are there at that
/// moment, and no one else. A waiter that is dropped (or times out) after a
/// `set` woke it does not hand the wake-up on, so a waiter that starts after
/// a `clear` waits for the next `set`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// # #[tokio::main] async fn main() {
/// let ready = Arc::new(amphi::Event::new());
/// let r = Arc::clone(&ready);
/// let thread = std::thread::spawn(move || r.wait_blocking());
/// let r = Arc::clone(&ready);
/// let task = tokio::spawn(async move { r.wait().await });
/// ready.set();
/// assert!(thread.join().unwrap());
/// assert!(task.await.unwrap());
/// # }
/// ```
pub struct Event {
    /// `SET` bit plus `WAITER` times the number of counted waiters.
    state: AtomicUsize,
    event: event_listener::Event,
    census: Census,
}

impl Event {
    const_fn! {
        /// A new event, not set. `const`: usable in statics.
        ///
        /// # Examples
        ///
        /// ```
        /// static SHUTDOWN: amphi::Event = amphi::Event::new();
        /// assert!(!SHUTDOWN.is_set());
        /// ```
        pub fn new() -> Self {
            Event {
                state: AtomicUsize::new(0),
                event: event_listener::Event::new(),
                census: Census::new(),
            }
        }
    }

    /// Sets the flag and wakes every waiter. One atomic operation when nobody
    /// waits.
    ///
    /// # Examples
    ///
    /// ```
    /// let ev = amphi::Event::new();
    /// ev.set();
    /// assert!(ev.is_set());
    /// assert!(ev.wait_blocking()); // returns at once
    /// ```
    pub fn set(&self) {
        let prev = self.state.fetch_or(SET, Ordering::AcqRel);
        if prev & SET == 0 && prev >= WAITER {
            self.event.notify(usize::MAX);
        }
    }

    /// Clears the flag; later waits block until the next [`set`](Self::set).
    ///
    /// # Examples
    ///
    /// ```
    /// let ev = amphi::Event::new();
    /// ev.set();
    /// ev.clear();
    /// assert!(!ev.is_set());
    /// ```
    pub fn clear(&self) {
        self.state.fetch_and(!SET, Ordering::AcqRel);
    }

    /// Whether the flag is set.
    ///
    /// # Examples
    ///
    /// ```
    /// let ev = amphi::Event::new();
    /// assert!(!ev.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.state.load(Ordering::Acquire) & SET != 0
    }

    /// Waits until the flag is set; `.await` it, or block with
    /// [`EventWait::wait`] / [`wait_timeout`](EventWait::wait_timeout).
    ///
    /// The output is `true` (Python returns `True`); timed waits give `false`
    /// when the time ran out before a `set`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an event wakes all its waiters, so a dropped waiter takes
    /// nothing from the others.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let ev = amphi::Event::new();
    /// assert!(!ev.wait().timeout(Duration::from_millis(5)).await);
    /// ev.set();
    /// assert!(ev.wait().await);
    /// # }
    /// ```
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            signal: Signal::new(),
        }
    }

    /// Blocks the thread until the flag is set; returns `true`.
    ///
    /// # Blocking
    ///
    /// As [`EventWait::wait`]: parks the thread, moving a tokio multi-thread
    /// worker's tasks away first. On a thread that drives a current-thread
    /// runtime it panics at the caller's line, every time, even when the
    /// flag is set already: `.await` [`wait`](Self::wait) there.
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let ev = Arc::new(amphi::Event::new());
    /// let e = Arc::clone(&ev);
    /// std::thread::spawn(move || e.set());
    /// assert!(ev.wait_blocking());
    /// ```
    #[doc(alias = "blocking_wait")]
    #[track_caller]
    pub fn wait_blocking(&self) -> bool {
        let mode = blocking_mode("Event::wait_blocking");
        self.is_set() || block_forever(&mut self.wait(), mode)
    }

    /// How many threads and tasks wait for the flag right now (a snapshot,
    /// kept on the slow path only).
    ///
    /// # Examples
    ///
    /// ```
    /// let ev = amphi::Event::new();
    /// assert_eq!(ev.waiters().total(), 0);
    /// ```
    pub fn waiters(&self) -> Waiters {
        self.census.snapshot()
    }
}

impl Flag for Event {
    fn event(&self) -> &event_listener::Event {
        &self.event
    }
    fn census(&self) -> &Census {
        &self.census
    }
    fn is_over(&self) -> bool {
        self.is_set()
    }
    fn count(&self) -> bool {
        self.state.fetch_add(WAITER, Ordering::SeqCst) & SET != 0
    }
    fn uncount(&self) {
        self.state.fetch_sub(WAITER, Ordering::Relaxed);
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish_non_exhaustive()
    }
}

/// The future of [`Event::wait`]: `true` once the flag is set.
///
/// `Send`, `Sync` and `Unpin`.
///
/// # Cancel safety
///
/// Cancel safe.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let ev = amphi::Event::new();
/// assert!(!ev.wait().wait_timeout(Duration::from_millis(1)));
/// ev.set();
/// assert!(ev.wait().wait());
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it or use `Event::wait_blocking`"]
pub struct EventWait<'a> {
    event: &'a Event,
    signal: Signal,
}

impl Op for EventWait<'_> {
    type Output = bool;
    type Timed = bool;

    fn name(&self) -> &'static str {
        "Event::wait"
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<bool> {
        // Woken: `set` ran after we started listening. Report it even if the
        // flag was cleared since (CPython issue 13502).
        self.signal.poll(self.event, s).map(|()| true)
    }

    fn poll_expired(&mut self, _: &mut Strategy<'_, '_>) -> Poll<bool> {
        // A `set` that raced the deadline still counts.
        let woken = self.signal.finish(self.event);
        Poll::Ready(woken || self.event.is_set())
    }

    fn in_time(out: bool) -> bool {
        out
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        // Discards a wake-up we had: a `set` is not handed on.
        self.signal.finish(self.event);
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait").finish_non_exhaustive()
    }
}

waiting_future! {
    impl['a] EventWait<'a> => bool, timed bool;
    example: "```
use std::time::Duration;
let ev = amphi::Event::new();
assert!(!ev.wait().wait_timeout(Duration::from_millis(1)));
ev.set();
assert!(ev.wait().wait());
```"
}
