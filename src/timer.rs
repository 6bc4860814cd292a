//! Python's `threading.Timer`, plus repeating timers and an async form.
//!
//! One scheduler thread (`amphi-timer`, started on first use) keeps every
//! armed timer of the process in one ordered map keyed by deadline and
//! sleeps on a condition variable until the earliest; 10^4 pending timers
//! cost that one thread and a map entry each. A due call runs on a shared
//! [`ThreadPoolExecutor`] (`amphi-timer-callback_N` threads, at most
//! [`CALLBACK_THREADS`], started only when no idle one is there, and
//! kept), so that a slow callback does not hold up the others; an async
//! timer's call is spawned on the tokio runtime it was made in.
//!
//! An ordered map rather than a timer-wheel crate or a binary heap: a
//! timer needs exact cancellation (its entry leaves the map at `cancel`, so
//! a cancelled timer holds nothing until its deadline) and cheap
//! postponement under its own lock (a postponed timer keeps its earlier
//! entry, which files it again when it comes up, so a debounce that resets
//! on every keystroke costs no map operation), and a map of 10^4 entries
//! costs a microsecond or so per operation.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::core::{Op, Strategy, block_forever, blocking_mode, waiting_future};
use crate::event::{Event, EventWait};
use crate::executor::ThreadPoolExecutor;
use crate::panic::Panic;

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
    /// This timer's entry in the scheduler's map, if it has one. While
    /// waiting, the entry is due no later than the stage's deadline (a
    /// postponed timer keeps its earlier entry, which re-files it when it
    /// comes up).
    entry: Option<Key>,
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
                    entry: None,
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
        let _ = scheduler(); // started before any state changes
        let mut st = lock(&self.inner.state);
        if !matches!(st.stage, Stage::New) {
            return false;
        }
        self.inner
            .arm(&mut st, after(Instant::now(), self.inner.delay));
        true
    }

    /// Stops the timer. `true` if this prevented a call: the timer was
    /// waiting (or not started), or it is a repeating timer whose later
    /// calls are now off. `false` if there was nothing left to prevent: a
    /// one-shot's call has begun (it runs to its end) or returned, or the
    /// timer was cancelled already. Python's `cancel()` cannot tell.
    ///
    /// A call that runs is never interrupted; [`join`](Self::join) waits
    /// for it, while [`is_finished`](Self::is_finished) and
    /// [`is_cancelled`](Self::is_cancelled) are true as soon as a
    /// repeating timer is cancelled (Python sets `finished` at the cancel).
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
                // Out of the scheduler at once: a cancelled timer whose
                // handles are gone lets go of its closure now.
                if let Some(key) = st.entry.take() {
                    scheduler().remove(key);
                }
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
        let _ = scheduler(); // started before any state changes
        let mut st = lock(&self.inner.state);
        let at = after(Instant::now(), self.inner.delay);
        match &mut st.stage {
            Stage::Running { then, stop, .. } => {
                *then = Some(at);
                *stop = false;
            }
            Stage::Finished | Stage::Cancelled => {
                self.inner.finished.clear();
                self.inner.arm(&mut st, at);
            }
            Stage::New | Stage::Waiting(_) => self.inner.arm(&mut st, at),
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
    /// `timer.finished.is_set()`. A repeating timer cancelled during a call
    /// is finished at once (its call still runs: [`join`](Self::join)
    /// waits for it); a one-shot's running call cannot be cancelled, so it
    /// is finished when the call returns.
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
            Stage::Finished | Stage::Cancelled | Stage::Running { stop: true, .. }
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
        matches!(
            lock(&self.inner.state).stage,
            Stage::Cancelled | Stage::Running { stop: true, .. }
        )
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

    /// Whether a call panicked (which finished the timer, unless a `reset`
    /// during that call armed it again). Rust's panic
    /// hook has printed the message, and the
    /// [excepthook](crate::thread::set_excepthook) was called with it, on
    /// the thread that ran the call (as Python's, for which a `Timer` is a
    /// thread).
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

    /// Waits until the timer is finished or cancelled and no call of it
    /// runs: Python's `timer.join()`. Output `()`; the timed forms give
    /// `bool` (`false`: the time ran out first). A repeating timer
    /// finishes only when cancelled (or when a call panics). A timer never
    /// started waits until it is cancelled, or started and done.
    ///
    /// # Blocking
    ///
    /// `.await` it, or block with `.wait()` / `.wait_timeout(d)`, or
    /// [`join_blocking`](Self::join_blocking); no runtime needed. A join
    /// from inside the timer's own call (blocking or awaited, any timeout)
    /// panics, as Python's "cannot join current thread": it would wait for
    /// the call it runs in.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the end is a broadcast ([`Event`]); a dropped join
    /// takes nothing from anybody.
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
    pub fn join(&self) -> TimerJoin<'_> {
        TimerJoin {
            timer: self,
            done: self.inner.finished.wait(),
        }
    }

    /// Blocks until the timer is finished or cancelled: `join().wait()`.
    ///
    /// # Blocking
    ///
    /// Parks the thread (see [`TimerJoin::wait`]). Panics inside the
    /// timer's own call.
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
        let mode = blocking_mode("Timer::join_blocking");
        block_forever(&mut self.join(), mode)
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
// Joining.
// ---------------------------------------------------------------------------

/// A wait until a timer is finished and no call of it runs, from
/// [`Timer::join`]. Output `()`; the timed forms give `bool` (`false`: the
/// time ran out).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let t = amphi::Timer::after(Duration::ZERO, || ());
/// let fut: amphi::futures::TimerJoin<'_> = t.join();
/// assert!(fut.wait_timeout(Duration::from_secs(10)));
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it or use `Timer::join_blocking`"]
pub struct TimerJoin<'a> {
    timer: &'a Timer,
    done: EventWait<'a>,
}

impl fmt::Debug for TimerJoin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerJoin")
            .field("timer", self.timer)
            .finish_non_exhaustive()
    }
}

impl Op for TimerJoin<'_> {
    type Output = ();
    type Timed = bool;

    fn name(&self) -> &'static str {
        "Timer::join"
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<()> {
        if IN_CALL.with(Cell::get) == Arc::as_ptr(&self.timer.inner) as usize {
            panic!("amphi: a timer's call cannot join its own timer (it would wait for itself)");
        }
        self.done.poll_op(s).map(|_| ())
    }

    fn poll_expired(&mut self, s: &mut Strategy<'_, '_>) -> Poll<bool> {
        self.done.poll_expired(s)
    }

    fn in_time((): ()) -> bool {
        true
    }
}

waiting_future! {
    impl['a] TimerJoin<'a> => (), timed bool;
    example: "```
use std::time::Duration;
let t = amphi::Timer::after(Duration::ZERO, || ());
assert!(t.join().wait_timeout(Duration::from_secs(10)));
```"
}

thread_local! {
    /// The timer whose call runs on this thread now (its `Inner`'s
    /// address), 0 if none: a join from inside it is refused.
    static IN_CALL: Cell<usize> = const { Cell::new(0) };
}

/// Marks this thread as running a call of `inner` until dropped.
struct InCall(usize);

impl InCall {
    fn enter(inner: &Arc<Inner>) -> InCall {
        InCall(IN_CALL.with(|c| c.replace(Arc::as_ptr(inner) as usize)))
    }
}

impl Drop for InCall {
    fn drop(&mut self) {
        IN_CALL.with(|c| c.set(self.0));
    }
}

// ---------------------------------------------------------------------------
// Firing and finishing a call.
// ---------------------------------------------------------------------------

/// How a call ended.
enum Ended {
    Returned,
    Panicked,
    /// Its runtime dropped the task before it completed (it shut down):
    /// the timer finishes.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    Dropped,
    /// It never began: no callback thread could be started. It is tried
    /// again [`RETRY`] later (and not counted in `calls`).
    NotRun,
}

/// How long a call that could not get a thread waits before it tries again.
const RETRY: Duration = Duration::from_millis(10);

/// A caught panic of a call goes to the excepthook, as Python's `Timer`
/// (a thread) sends its exceptions there.
fn report(payload: Box<dyn std::any::Any + Send>) {
    let panic = Panic::of("timer callback", payload);
    crate::thread::run_excepthook(&crate::thread::current_thread(), &panic);
}

impl Inner {
    /// Sets the stage to "waiting for `at`", with a scheduler entry due
    /// no later than `at`.
    fn arm(self: &Arc<Self>, st: &mut State, at: Instant) {
        st.stage = Stage::Waiting(at);
        match st.entry {
            Some(key) if key.0 <= at => {}
            Some(key) => {
                scheduler().remove(key);
                st.entry = Some(scheduler().insert(at, Arc::clone(self)));
            }
            None => st.entry = Some(scheduler().insert(at, Arc::clone(self))),
        }
    }

    /// The scheduler took this timer's entry `key` off its map at `now`.
    fn due(self: &Arc<Self>, key: Key, now: Instant) {
        let mut st = lock(&self.state);
        if st.entry != Some(key) {
            return; // cancelled (and perhaps re-armed) since
        }
        st.entry = None;
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
            Stage::Waiting(at) => self.arm(&mut st, at), // postponed since
            _ => {}
        }
    }

    fn dispatch(self: &Arc<Self>) {
        let action = lock(&self.action).take().expect("calls never overlap");
        match action {
            Action::Sync(f) => {
                let call = SyncCall {
                    inner: Arc::clone(self),
                    f: Some(f),
                };
                let job = move || call.run();
                // A pool that broke (no worker thread could start) is
                // replaced by a fresh one; if that one refuses too, the
                // call runs here.
                let retried = callback_pool()
                    .try_submit(job)
                    .or_else(|refused| callback_pool().try_submit(refused.into_inner()));
                if let Err(refused) = retried {
                    (refused.into_inner())();
                }
            }
            #[cfg(feature = "tokio")]
            Action::Async(handle, make) => {
                let mut call = AsyncCall {
                    inner: Arc::clone(self),
                    parts: Some((handle.clone(), make)),
                    fut: None,
                    how: None,
                };
                // The future is made inside the task, on the runtime
                // (its maker may need the runtime's context).
                drop(handle.spawn(std::future::poll_fn(move |cx| call.poll_call(cx))));
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
        if stop {
            // Cancelled during the call: it stays cancelled, whatever the
            // call did.
            st.panicked |= matches!(how, Ended::Panicked);
            st.stage = Stage::Cancelled;
            self.finished.set();
            return;
        }
        let next = match how {
            // A panic finishes the timer, unless a `reset` during the call
            // (the excepthook's, say) armed it again.
            Ended::Panicked => {
                st.panicked = true;
                then
            }
            Ended::Dropped => None,
            Ended::NotRun => {
                st.calls -= 1;
                Some(then.unwrap_or_else(|| after(now, RETRY)))
            }
            Ended::Returned => then.or_else(|| match self.repeat? {
                Repeat::FixedDelay => Some(after(now, self.delay)),
                Repeat::FixedRate => Some(next_tick(tick, self.delay, now)),
            }),
        };
        match next {
            Some(at) => self.arm(&mut st, at),
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

/// A sync call on its way to a callback thread. Dropped without running
/// (its pool failed it), it finishes the timer instead of stranding it.
struct SyncCall {
    inner: Arc<Inner>,
    f: Option<SyncFn>,
}

impl SyncCall {
    fn run(mut self) {
        let mut f = self.f.take().expect("runs once");
        let how = {
            // The excepthook runs inside the call too: a join of this timer
            // from it is refused as well.
            let _in = InCall::enter(&self.inner);
            match catch_unwind(AssertUnwindSafe(&mut f)) {
                Ok(()) => Ended::Returned,
                Err(payload) => {
                    report(payload);
                    Ended::Panicked
                }
            }
        };
        *lock(&self.inner.action) = Some(Action::Sync(f));
        self.inner.ended(how);
    }
}

impl Drop for SyncCall {
    fn drop(&mut self) {
        // Dropped unrun: its pool could not start a thread for it.
        if let Some(f) = self.f.take() {
            *lock(&self.inner.action) = Some(Action::Sync(f));
            self.inner.ended(Ended::NotRun);
        }
    }
}

/// An async call: the task's whole state. Its `Drop` ends the call, how
/// ever the task ends (done, panicked, or dropped by its runtime).
#[cfg(feature = "tokio")]
struct AsyncCall {
    inner: Arc<Inner>,
    parts: Option<(tokio::runtime::Handle, AsyncFn)>,
    fut: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
    how: Option<Ended>,
}

#[cfg(feature = "tokio")]
impl AsyncCall {
    fn poll_call(&mut self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.how.is_some() {
            return Poll::Ready(());
        }
        let _in = InCall::enter(&self.inner);
        let (fut, parts) = (&mut self.fut, &mut self.parts);
        let polled = catch_unwind(AssertUnwindSafe(|| {
            let make = &mut parts.as_mut().expect("until dropped").1;
            fut.get_or_insert_with(make).as_mut().poll(cx)
        }));
        self.how = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(())) => Some(Ended::Returned),
            Err(payload) => {
                report(payload);
                Some(Ended::Panicked)
            }
        };
        Poll::Ready(())
    }
}

#[cfg(feature = "tokio")]
impl Drop for AsyncCall {
    fn drop(&mut self) {
        // A future that panics as it is dropped still ends the call.
        let fut = self.fut.take();
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(fut))) {
            report(payload);
            self.how = Some(Ended::Panicked);
        }
        if let Some((handle, make)) = self.parts.take() {
            *lock(&self.inner.action) = Some(Action::Async(handle, make));
        }
        self.inner.ended(self.how.take().unwrap_or(Ended::Dropped));
    }
}

static CALLBACK_POOL: Mutex<Option<Arc<ThreadPoolExecutor>>> = Mutex::new(None);

/// The threads that run sync timers' calls: at most [`CALLBACK_THREADS`]
/// at once, started as needed and kept. A pool that broke (a worker
/// thread could not start: its queued calls were dropped, which finished
/// their timers) is replaced by a fresh one.
fn callback_pool() -> Arc<ThreadPoolExecutor> {
    let mut pool = lock(&CALLBACK_POOL);
    let broken = match &*pool {
        Some(p) if p.is_broken() => pool.take(),
        _ => None,
    };
    let fresh = Arc::clone(pool.get_or_insert_with(|| {
        Arc::new(
            ThreadPoolExecutor::builder()
                .max_workers(CALLBACK_THREADS)
                .thread_name_prefix("amphi-timer-callback")
                .build()
                .expect("a valid pool"),
        )
    }));
    drop(pool);
    drop(broken);
    fresh
}

/// How many sync calls can run at once. Python gives every `Timer` a
/// thread; amphi shares these, so many timers cost few threads, but a call
/// that waits for another timer's call can wait for ever once this many
/// calls wait at once. Keep calls short, or hand long work to a thread or
/// an executor.
pub(crate) const CALLBACK_THREADS: usize = 64;

// ---------------------------------------------------------------------------
// The scheduler thread.
// ---------------------------------------------------------------------------

/// A scheduler entry's key: its deadline, and a number that makes it
/// unique and keeps equal deadlines in arming order.
type Key = (Instant, u64);

struct Scheduler {
    map: Mutex<BTreeMap<Key, Arc<Inner>>>,
    wake: Condvar,
    seq: AtomicU64,
}

impl Scheduler {
    fn insert(&self, at: Instant, timer: Arc<Inner>) -> Key {
        let key = (at, self.seq.fetch_add(1, Ordering::Relaxed));
        let mut map = lock(&self.map);
        let earliest = map.first_key_value().is_none_or(|(first, _)| key < *first);
        map.insert(key, timer);
        drop(map);
        if earliest {
            self.wake.notify_one();
        }
        key
    }

    fn remove(&self, key: Key) {
        let removed = lock(&self.map).remove(&key);
        drop(removed); // outside the lock
    }

    fn run(&self) {
        let mut map = lock(&self.map);
        loop {
            let now = Instant::now();
            let wait = match map.first_key_value() {
                None => None,
                Some((key, _)) if key.0 > now => Some(key.0 - now),
                Some(_) => {
                    let (key, timer) = map.pop_first().expect("looked");
                    drop(map);
                    timer.due(key, now);
                    // The last handle may be this one: the closure drops
                    // here, outside the lock (its drop may arm a timer).
                    drop(timer);
                    map = lock(&self.map);
                    continue;
                }
            };
            map = match wait {
                None => self.wake.wait(map).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    self.wake
                        .wait_timeout(map, d)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

/// The scheduler, its thread started on first use.
///
/// # Panics
///
/// If the OS refuses the scheduler thread (then every timer call panics
/// the same way, at the `start` or `reset` that needed it).
fn scheduler() -> &'static Scheduler {
    static SCHEDULER: OnceLock<&'static Scheduler> = OnceLock::new();
    SCHEDULER.get_or_init(|| {
        let s: &'static Scheduler = Box::leak(Box::new(Scheduler {
            map: Mutex::new(BTreeMap::new()),
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
