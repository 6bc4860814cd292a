//! Python's `threading.Timer`, plus repeating timers and an async form.
//!
//! One scheduler thread (`amphi-timer`, started on first use) keeps every
//! armed timer of the process in a binary heap ordered by deadline and
//! sleeps on a condition variable until the earliest one; 10^4 pending
//! timers cost that one thread and a heap entry each. A due call runs on a
//! small shared [`ThreadPoolExecutor`] (`amphi-timer-callback_N` threads,
//! at most `max(4, cpus)`, started as needed and reused), so that one slow
//! callback does not hold up the others; an async timer's call is spawned
//! on the tokio runtime it was made in.
//!
//! A hand-written heap rather than a timer-wheel crate: the timers need
//! exact cancellation and postponement under their own lock (the heap
//! entry is only a hint; the timer's state says what is due), and a heap
//! of 10^4 entries costs a few microseconds per operation.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::event::{Event, EventWait};
use crate::executor::ThreadPoolExecutor;

/// How a repeating timer keeps time when its calls take a while.
///
/// Calls of one timer never overlap: the next call waits for the previous
/// one to return.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use amphi::{Repeat, Timer};
/// let t = Timer::repeating(Duration::from_millis(5), Repeat::FixedRate, || ());
/// t.start();
/// t.cancel();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repeat {
    /// Calls at `start + k × period` (a clock's tick). A call that runs
    /// past one or more ticks makes the timer skip them: the next call is
    /// at the next tick still ahead, never a burst to catch up.
    FixedRate,
    /// Each call `period` after the previous one returned (the pause
    /// between calls is fixed; the rate drifts with the calls' length).
    FixedDelay,
}

type SyncFn = Box<dyn FnMut() + Send>;
#[cfg(feature = "tokio")]
type AsyncFn =
    Box<dyn FnMut() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send>;

enum Action {
    Sync(SyncFn),
    #[cfg(feature = "tokio")]
    Async(tokio::runtime::Handle, AsyncFn),
}

#[derive(Debug)]
enum Stage {
    /// Made, not started.
    New,
    /// Armed for this instant.
    Waiting(Instant),
    /// A call runs. `tick`: the deadline it was due at; `then`: a
    /// `reset` during the call asked for this next deadline; `stop`: a
    /// `cancel` during the call stopped a repeating timer.
    Running {
        tick: Instant,
        then: Option<Instant>,
        stop: bool,
    },
    /// The call returned (one-shot), or it panicked.
    Finished,
    /// `cancel` stopped it.
    Cancelled,
}

struct State {
    stage: Stage,
    /// Whether the scheduler's heap holds an entry for this timer.
    in_heap: bool,
    calls: u64,
    panicked: bool,
}

struct Inner {
    /// The delay (one-shot) or the period (repeating).
    delay: Duration,
    repeat: Option<Repeat>,
    state: Mutex<State>,
    /// Taken out while a call runs (calls never overlap).
    action: Mutex<Option<Action>>,
    /// Set when the timer is finished or cancelled; cleared by a `reset`
    /// that re-arms it.
    finished: Event,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `now + d`, saturating at about a century for huge delays.
fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

/// A function called after a delay: Python's `threading.Timer`, plus
/// repeating timers, `reset` (postpone) and an async form.
///
/// The call runs on one of amphi's timer threads (a sync timer) or as a
/// task on the tokio runtime the timer was made in (an async timer). All
/// timers share one scheduler thread: many timers do not mean many
/// threads. Cheap to clone; clones control the same timer. Dropping every
/// handle does not cancel it (as Python's, which keeps its thread).
///
/// | state | after | `is_alive` | `is_finished` |
/// |---|---|---|---|
/// | new | `Timer::new` | no | no |
/// | waiting | `start`, `reset` | yes | no |
/// | running a call | the deadline | yes | no |
/// | finished | a one-shot's call returned, or a call panicked | no | yes |
/// | cancelled | `cancel` | no | yes |
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
/// let fired = Arc::new(AtomicBool::new(false));
/// let f = fired.clone();
/// let timer = amphi::Timer::after(Duration::from_millis(10), move || f.store(true, Ordering::SeqCst));
/// assert!(timer.join().wait_timeout(Duration::from_secs(10)));
/// assert!(fired.load(Ordering::SeqCst));
/// assert!(!timer.cancel()); // too late: it ran
/// ```
#[derive(Clone)]
pub struct Timer {
    inner: Arc<Inner>,
}

impl Timer {
    fn make(delay: Duration, repeat: Option<Repeat>, action: Action) -> Timer {
        if repeat.is_some() {
            assert!(
                !delay.is_zero(),
                "amphi: a repeating Timer needs a period greater than zero"
            );
        }
        Timer {
            inner: Arc::new(Inner {
                delay,
                repeat,
                state: Mutex::new(State {
                    stage: Stage::New,
                    in_heap: false,
                    calls: 0,
                    panicked: false,
                }),
                action: Mutex::new(Some(action)),
                finished: Event::new(),
            }),
        }
    }

    /// A timer that calls `f` once, `delay` after [`start`](Self::start):
    /// Python's `Timer(delay, f)`. `f` is `FnMut` because a
    /// [`reset`](Self::reset) after the call arms it again.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = amphi::Timer::new(Duration::from_millis(1), || println!("hi"));
    /// assert!(!t.is_alive());
    /// assert!(t.start());
    /// assert!(t.join().wait_timeout(Duration::from_secs(10)));
    /// ```
    pub fn new(delay: Duration, f: impl FnMut() + Send + 'static) -> Timer {
        Timer::make(delay, None, Action::Sync(Box::new(f)))
    }

    /// [`Timer::new`] and [`start`](Self::start) in one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = amphi::Timer::after(Duration::from_millis(1), || ());
    /// assert!(t.join().wait_timeout(Duration::from_secs(10)));
    /// ```
    pub fn after(delay: Duration, f: impl FnMut() + Send + 'static) -> Timer {
        let t = Timer::new(delay, f);
        t.start();
        t
    }

    /// A timer that calls `f` every `period` after [`start`](Self::start),
    /// until cancelled, keeping time by `repeat` (the first call is one
    /// period after the start). A call that panics stops it.
    ///
    /// # Panics
    ///
    /// If `period` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::time::Duration;
    /// use amphi::{Repeat, Timer};
    /// let ticks = Arc::new(AtomicU32::new(0));
    /// let t2 = ticks.clone();
    /// let t = Timer::repeating(Duration::from_millis(2), Repeat::FixedDelay, move || {
    ///     t2.fetch_add(1, Ordering::SeqCst);
    /// });
    /// t.start();
    /// while ticks.load(Ordering::SeqCst) < 3 { std::thread::yield_now(); }
    /// assert!(t.cancel());
    /// assert!(t.join().wait_timeout(Duration::from_secs(10)));
    /// ```
    pub fn repeating(period: Duration, repeat: Repeat, f: impl FnMut() + Send + 'static) -> Timer {
        Timer::make(period, Some(repeat), Action::Sync(Box::new(f)))
    }

    /// A timer whose call is a future, spawned as a task on the tokio
    /// runtime this is called in, `delay` after [`start`](Self::start).
    /// The call is over when the future completes; `f` makes a new one for
    /// each call.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (it needs one to spawn on).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let t = amphi::Timer::new_async(Duration::from_millis(1), || async {
    ///     tokio::task::yield_now().await;
    /// });
    /// t.start();
    /// assert!(t.join().timeout(Duration::from_secs(10)).await);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn new_async<F, Fut>(delay: Duration, f: F) -> Timer
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        Timer::make(delay, None, async_action(f))
    }

    /// A repeating timer whose calls are futures, spawned on the tokio
    /// runtime this is called in (see [`Timer::repeating`] and
    /// [`Timer::new_async`]).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or if `period` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let beats = std::sync::Arc::new(amphi::Semaphore::new(0));
    /// let b = beats.clone();
    /// let t = amphi::Timer::repeating_async(Duration::from_millis(1), amphi::Repeat::FixedRate, move || {
    ///     let b = b.clone();
    ///     async move { b.release(1) }
    /// });
    /// t.start();
    /// for _ in 0..3 {
    ///     beats.acquire().timeout(Duration::from_secs(10)).await.unwrap().forget();
    /// }
    /// t.cancel();
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn repeating_async<F, Fut>(period: Duration, repeat: Repeat, f: F) -> Timer
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        Timer::make(period, Some(repeat), async_action(f))
    }

    /// Arms the timer: its call is due `delay` from now. `false` if it was
    /// started (or cancelled) before; nothing changes then (Python raises).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = amphi::Timer::new(Duration::from_secs(60), || ());
    /// assert!(t.start());
    /// assert!(!t.start());
    /// t.cancel();
    /// ```
    pub fn start(&self) -> bool {
        let mut st = lock(&self.inner.state);
        if !matches!(st.stage, Stage::New) {
            return false;
        }
        self.arm(&mut st, after(Instant::now(), self.inner.delay));
        true
    }

    /// Stops the timer. `true` if this prevented a call: the timer was
    /// waiting (or not started), or it is a repeating timer whose later
    /// calls are now off. `false` if there was nothing left to prevent: a
    /// one-shot's call has begun (it runs to its end) or returned, or the
    /// timer was cancelled already. Python's `cancel()` cannot tell.
    ///
    /// A call that runs is never interrupted; [`join`](Self::join) waits
    /// for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = amphi::Timer::after(Duration::from_secs(60), || unreachable!());
    /// assert!(t.cancel());
    /// assert!(!t.cancel());
    /// assert!(t.is_cancelled() && !t.is_alive());
    /// ```
    pub fn cancel(&self) -> bool {
        let mut st = lock(&self.inner.state);
        let repeating = self.inner.repeat.is_some();
        match &mut st.stage {
            Stage::New | Stage::Waiting(_) => {
                st.stage = Stage::Cancelled;
                self.inner.finished.set();
                true
            }
            Stage::Running { then, stop, .. } => {
                // A one-shot's running call cannot be prevented; a re-arm
                // asked for during it, or a repeating timer's next call, can.
                let prevented = then.take().is_some() || (repeating && !*stop);
                if prevented {
                    *stop = true;
                }
                prevented
            }
            Stage::Finished | Stage::Cancelled => false,
        }
    }

    /// Arms the timer again for a full delay (or period) from now, whatever
    /// it was doing: a waiting call is postponed (the "debounce" and
    /// "log out after inactivity" patterns: reset on every event), a new
    /// timer starts, a finished or cancelled one is armed again (alive
    /// again; a later `join` waits for the new call). During a call, the
    /// call goes on and the next is due a delay from now (for a one-shot
    /// too).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = amphi::Timer::after(Duration::from_millis(50), || ());
    /// t.reset(); // due 50 ms from now, not from the start
    /// assert!(t.join().wait_timeout(Duration::from_secs(10)));
    /// t.reset(); // armed again
    /// assert!(t.is_alive());
    /// t.cancel();
    /// ```
    pub fn reset(&self) {
        let mut st = lock(&self.inner.state);
        let at = after(Instant::now(), self.inner.delay);
        match &mut st.stage {
            Stage::Running { then, stop, .. } => {
                *then = Some(at);
                *stop = false;
            }
            Stage::Finished | Stage::Cancelled => {
                self.inner.finished.clear();
                self.arm(&mut st, at);
            }
            Stage::New | Stage::Waiting(_) => self.arm(&mut st, at),
        }
    }

    /// Sets the stage to "waiting for `at`", with a heap entry no later
    /// than `at` (an earlier stale entry is re-pushed when it comes up).
    fn arm(&self, st: &mut State, at: Instant) {
        st.stage = Stage::Waiting(at);
        if !st.in_heap {
            st.in_heap = true;
            scheduler().push(at, Arc::clone(&self.inner));
        }
    }

    /// Whether the timer is waiting or running a call (Python: from
    /// `start` until its function returned or it was cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = amphi::Timer::after(Duration::from_secs(60), || ());
    /// assert!(t.is_alive());
    /// t.cancel();
    /// assert!(!t.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        matches!(
            lock(&self.inner.state).stage,
            Stage::Waiting(_) | Stage::Running { .. }
        )
    }

    /// Whether it is finished or cancelled: Python's
    /// `timer.finished.is_set()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::Timer::new(std::time::Duration::ZERO, || ());
    /// t.cancel();
    /// assert!(t.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        matches!(
            lock(&self.inner.state).stage,
            Stage::Finished | Stage::Cancelled
        )
    }

    /// Whether `cancel` stopped it (and no `reset` armed it since).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::Timer::new(std::time::Duration::ZERO, || ());
    /// assert!(!t.is_cancelled());
    /// t.cancel();
    /// assert!(t.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(lock(&self.inner.state).stage, Stage::Cancelled)
    }

    /// How many calls have begun.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = amphi::Timer::after(Duration::ZERO, || ());
    /// t.join().wait_timeout(Duration::from_secs(10));
    /// assert_eq!(t.calls(), 1);
    /// ```
    pub fn calls(&self) -> u64 {
        lock(&self.inner.state).calls
    }

    /// Whether a call panicked (which finished the timer; Rust's panic
    /// hook has printed the message).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = amphi::Timer::after(Duration::ZERO, || panic!("in a timer"));
    /// t.join().wait_timeout(Duration::from_secs(10));
    /// assert!(t.panicked());
    /// ```
    pub fn panicked(&self) -> bool {
        lock(&self.inner.state).panicked
    }

    /// The delay (one-shot) or period (repeating).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = amphi::Timer::new(Duration::from_secs(3), || ());
    /// assert_eq!(t.delay(), Duration::from_secs(3));
    /// ```
    pub fn delay(&self) -> Duration {
        self.inner.delay
    }

    /// How it repeats; `None` for a one-shot.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::Timer::new(std::time::Duration::ZERO, || ());
    /// assert_eq!(t.repeat(), None);
    /// ```
    pub fn repeat(&self) -> Option<Repeat> {
        self.inner.repeat
    }

    /// Waits until the timer is finished or cancelled (a running call
    /// included): Python's `timer.join()` / `timer.finished.wait()`.
    /// Output `bool`, `true`; the timed forms give `false` when the time
    /// ran out first. A repeating timer finishes only when cancelled (or
    /// when a call panics). A timer never started, or a `join` inside the
    /// timer's own call, waits until someone else cancels it.
    ///
    /// # Blocking
    ///
    /// `.await` it, or block with `.wait()` / `.wait_timeout(d)`, or
    /// [`join_blocking`](Self::join_blocking); no runtime needed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe (an [`Event`] wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = amphi::Timer::after(Duration::from_secs(60), || ());
    /// assert!(!t.join().wait_timeout(Duration::from_millis(5)));
    /// t.cancel();
    /// assert!(t.join().wait_timeout(Duration::ZERO));
    /// ```
    pub fn join(&self) -> EventWait<'_> {
        self.inner.finished.wait()
    }

    /// Blocks until the timer is finished or cancelled: `join().wait()`.
    ///
    /// # Blocking
    ///
    /// Parks the thread (see [`EventWait::wait`]).
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::Timer::after(std::time::Duration::from_millis(1), || ());
    /// t.join_blocking();
    /// assert!(t.is_finished());
    /// ```
    #[track_caller]
    pub fn join_blocking(&self) {
        self.join().wait();
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.inner.state);
        f.debug_struct("Timer")
            .field("delay", &self.inner.delay)
            .field("repeat", &self.inner.repeat)
            .field("stage", &st.stage)
            .field("calls", &st.calls)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "tokio")]
#[track_caller]
fn async_action<F, Fut>(mut f: F) -> Action
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let handle = match tokio::runtime::Handle::try_current() {
        Ok(h) => h,
        Err(_) => panic!(
            "amphi: Timer::new_async and Timer::repeating_async need a tokio runtime to spawn \
             their calls on; make the timer inside one, or use Timer::new for a call on a thread"
        ),
    };
    Action::Async(handle, Box::new(move || Box::pin(f())))
}

// ---------------------------------------------------------------------------
// Firing and finishing a call.
// ---------------------------------------------------------------------------

/// How a call ended.
enum Ended {
    Returned,
    Panicked,
    /// Its runtime dropped the task before it completed: the timer stops.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    Dropped,
}

impl Inner {
    /// The scheduler popped this timer's heap entry at `now`.
    fn due(self: &Arc<Self>, now: Instant) {
        let mut st = lock(&self.state);
        st.in_heap = false;
        match st.stage {
            Stage::Waiting(at) if at <= now => {
                st.stage = Stage::Running {
                    tick: at,
                    then: None,
                    stop: false,
                };
                st.calls += 1;
                drop(st);
                self.dispatch();
            }
            Stage::Waiting(at) => {
                // Postponed since this entry was pushed.
                st.in_heap = true;
                scheduler().push(at, Arc::clone(self));
            }
            _ => {}
        }
    }

    fn dispatch(self: &Arc<Self>) {
        let action = lock(&self.action).take().expect("calls never overlap");
        match action {
            Action::Sync(mut f) => {
                let me = Arc::clone(self);
                let job = move || {
                    let ok = catch_unwind(AssertUnwindSafe(&mut f)).is_ok();
                    *lock(&me.action) = Some(Action::Sync(f));
                    me.ended(if ok { Ended::Returned } else { Ended::Panicked });
                };
                if let Err(refused) = callback_pool().try_submit(job) {
                    // The shared pool never shuts down; run it here if it
                    // ever refuses.
                    (refused.into_inner())();
                }
            }
            #[cfg(feature = "tokio")]
            Action::Async(handle, mut make) => {
                let fut = make();
                let guard = CallGuard {
                    inner: Arc::clone(self),
                    parts: Some((handle.clone(), make)),
                    completed: false,
                };
                drop(handle.spawn(async move {
                    let mut guard = guard;
                    fut.await;
                    guard.completed = true;
                }));
            }
        }
    }

    /// A call is over: what comes next.
    fn ended(self: &Arc<Self>, how: Ended) {
        let now = Instant::now();
        let mut st = lock(&self.state);
        let Stage::Running { tick, then, stop } = st.stage else {
            unreachable!("a call ends in the running stage");
        };
        let next = match how {
            Ended::Panicked => {
                st.panicked = true;
                None
            }
            Ended::Dropped => None,
            Ended::Returned if stop => {
                st.stage = Stage::Cancelled;
                self.finished.set();
                return;
            }
            Ended::Returned => then.or_else(|| match self.repeat? {
                Repeat::FixedDelay => Some(after(now, self.delay)),
                Repeat::FixedRate => Some(next_tick(tick, self.delay, now)),
            }),
        };
        match next {
            Some(at) => {
                st.stage = Stage::Waiting(at);
                if !st.in_heap {
                    st.in_heap = true;
                    scheduler().push(at, Arc::clone(self));
                }
            }
            None => {
                st.stage = Stage::Finished;
                self.finished.set();
            }
        }
    }
}

/// The first tick `tick + k × period` (k ≥ 1) after `now`: missed ticks
/// are skipped.
fn next_tick(tick: Instant, period: Duration, now: Instant) -> Instant {
    let next = after(tick, period);
    if next > now {
        return next;
    }
    let behind = now.duration_since(tick).as_nanos();
    let k = behind / period.as_nanos() + 1;
    let step = u64::try_from(period.as_nanos().saturating_mul(k)).unwrap_or(u64::MAX);
    after(tick, Duration::from_nanos(step))
}

/// Ends an async call when its task is done, panicked or dropped.
#[cfg(feature = "tokio")]
struct CallGuard {
    inner: Arc<Inner>,
    parts: Option<(tokio::runtime::Handle, AsyncFn)>,
    completed: bool,
}

#[cfg(feature = "tokio")]
impl Drop for CallGuard {
    fn drop(&mut self) {
        if let Some((handle, make)) = self.parts.take() {
            *lock(&self.inner.action) = Some(Action::Async(handle, make));
        }
        let how = if self.completed {
            Ended::Returned
        } else if std::thread::panicking() {
            Ended::Panicked
        } else {
            Ended::Dropped
        };
        self.inner.ended(how);
    }
}

/// The threads that run sync timers' calls.
fn callback_pool() -> &'static ThreadPoolExecutor {
    static POOL: OnceLock<ThreadPoolExecutor> = OnceLock::new();
    POOL.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
        ThreadPoolExecutor::builder()
            .max_workers(cpus.max(4))
            .thread_name_prefix("amphi-timer-callback")
            .build()
            .expect("a valid pool")
    })
}

// ---------------------------------------------------------------------------
// The scheduler thread.
// ---------------------------------------------------------------------------

struct Entry {
    at: Instant,
    seq: u64,
    timer: Arc<Inner>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed: the heap's top is the earliest deadline.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct Scheduler {
    heap: Mutex<BinaryHeap<Entry>>,
    wake: Condvar,
    seq: AtomicU64,
}

impl Scheduler {
    fn push(&self, at: Instant, timer: Arc<Inner>) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut heap = lock(&self.heap);
        let earliest = heap.peek().is_none_or(|top| at < top.at);
        heap.push(Entry { at, seq, timer });
        drop(heap);
        if earliest {
            self.wake.notify_one();
        }
    }

    fn run(&self) {
        let mut heap = lock(&self.heap);
        loop {
            let now = Instant::now();
            let wait = match heap.peek() {
                None => None,
                Some(top) if top.at > now => Some(top.at - now),
                Some(_) => {
                    let entry = heap.pop().expect("peeked");
                    drop(heap);
                    entry.timer.due(now);
                    heap = lock(&self.heap);
                    continue;
                }
            };
            heap = match wait {
                None => self.wake.wait(heap).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    self.wake
                        .wait_timeout(heap, d)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

fn scheduler() -> &'static Scheduler {
    static SCHEDULER: OnceLock<&'static Scheduler> = OnceLock::new();
    SCHEDULER.get_or_init(|| {
        let s: &'static Scheduler = Box::leak(Box::new(Scheduler {
            heap: Mutex::new(BinaryHeap::new()),
            wake: Condvar::new(),
            seq: AtomicU64::new(0),
        }));
        std::thread::Builder::new()
            .name("amphi-timer".to_owned())
            .spawn(move || s.run())
            .expect("amphi: cannot start the timer thread");
        s
    })
}
