//! The private waiting core.
//!
//! Every operation that may wait is written once, as a state machine with a
//! `poll_op(&mut self, &mut Strategy)` method (the [`Op`] trait). The same
//! method is driven three ways:
//!
//! * [`Strategy::Async`]: from `Future::poll`; the listener lives in the future
//!   (one heap allocation per async wait, made by `event-listener`);
//! * [`Strategy::Blocking`]: parks the thread on a stack listener, optionally
//!   until a deadline (no allocation);
//! * [`Strategy::NoWait`]: a single attempt that never listens, used for the
//!   fast path of the blocking drivers.
//!
//! The primitives keep their own "someone waits" count next to their state, so
//! a release skips `Event::notify` (which takes a lock inside `event-listener`)
//! when nobody waits.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::AtomicUsize as StdAtomicUsize;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use event_listener::{Event, EventListener, IntoNotification, Listener};

// The atomics of every primitive: loom's under `--cfg loom` (the models in
// `loom/`), std's otherwise.
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64 as ModelU64, AtomicUsize};
pub(crate) use std::sync::atomic::Ordering;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64 as ModelU64, AtomicUsize};

/// A `const fn`, except under loom, whose atomics cannot be built in const
/// context.
macro_rules! const_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$m])* $vis const fn $name $($rest)*
        #[cfg(loom)]
        $(#[$m])* $vis fn $name $($rest)*
    };
}
pub(crate) use const_fn;

/// How a waiting operation is driven.
///
/// Nominally `pub` (in a private module) because sealed public traits name
/// it; not reachable from outside the crate.
#[allow(unreachable_pub, missing_debug_implementations)]
pub enum Strategy<'a, 'b> {
    /// Try once; never register a listener.
    NoWait,
    /// Poll from a task.
    Async(&'a mut Context<'b>),
    /// Park the thread, until the deadline if there is one.
    Blocking(Option<Instant>),
}

/// What one wait on an event produced.
#[derive(Debug)]
#[allow(unreachable_pub)]
pub enum Wake<T> {
    /// The listener was notified: try again.
    Woken,
    /// `arm` finished the operation while the listener was being set up.
    /// The listener is gone (discarded, handing nothing on); the `bool`
    /// says whether it had been notified. Such a wake-up may have been
    /// meant for another waiter (one that started counting after this
    /// listener was in place): a waiter that took a single unit must then
    /// look whether units are left for counted waiters and wake one.
    Done(T, bool),
}

impl Strategy<'_, '_> {
    /// Waits once for a notification of `event`.
    ///
    /// `arm` runs right after a new listener is in place, so that a state
    /// change it misses is guaranteed to notify that listener: it announces
    /// the waiter and re-checks the condition (returning `Some` finishes
    /// without waiting, see [`Wake::Done`]). `Pending` means: async, not yet notified (the listener
    /// stays in `slot`); blocking, the deadline passed; or `NoWait`.
    pub fn wait_on<T>(
        &mut self,
        event: &Event,
        slot: &mut Option<EventListener>,
        arm: impl FnOnce() -> Option<T>,
    ) -> Poll<Wake<T>> {
        match self {
            Strategy::NoWait => Poll::Pending,
            Strategy::Async(cx) => {
                let listener = match slot {
                    Some(listener) => listener,
                    None => {
                        let listener = slot.insert(event.listen());
                        if let Some(done) = arm() {
                            let notified = slot.take().is_some_and(|l| l.discard());
                            return Poll::Ready(Wake::Done(done, notified));
                        }
                        listener
                    }
                };
                match Pin::new(listener).poll(cx) {
                    Poll::Ready(()) => {
                        *slot = None;
                        Poll::Ready(Wake::Woken)
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
            Strategy::Blocking(deadline) => {
                // A future first polled from a task, then blocked on: its
                // listener is registered and armed already, and may hold the
                // very notification it waits for (a condition's notify, an
                // event's set), so wait on it rather than drop it.
                if let Some(listener) = slot.take() {
                    return park_on(listener, *deadline);
                }
                crate::raw::park(event, *deadline, arm)
            }
        }
    }
}

/// Parks the thread on `listener` until it is notified or `deadline` passes
/// (`Pending`). `wait_deadline` reports a notification that raced the
/// deadline as notified, and removes a listener that timed out without
/// handing anything on.
pub(crate) fn park_on<T>(listener: impl Listener, deadline: Option<Instant>) -> Poll<Wake<T>> {
    match deadline {
        None => {
            listener.wait();
            Poll::Ready(Wake::Woken)
        }
        Some(deadline) => match listener.wait_deadline(deadline) {
            Some(()) => Poll::Ready(Wake::Woken),
            None => Poll::Pending,
        },
    }
}

/// A waiting operation, written once and driven by any [`Strategy`].
///
/// Nominally `pub` (in a private module): the public futures implement it and
/// [`Timeout`] names it, but it cannot be named or implemented outside.
#[allow(unreachable_pub)]
pub trait Op {
    /// What the operation produces when it completes.
    type Output;
    /// What a timed wait produces (e.g. `Option<Output>`).
    type Timed;
    /// Advances the operation.
    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Output>;
    /// The deadline passed: give up, or finish what must be finished (a
    /// condition wait re-acquires its lock). Must not wait with a deadline.
    fn poll_expired(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Timed>;
    /// Wraps an output that came in time.
    fn in_time(out: Self::Output) -> Self::Timed;
    /// The operation's name in messages (e.g. `Lock::lock`).
    fn name(&self) -> &'static str;
    /// Whether a blocking wait should spin a little before parking: for
    /// acquires, whose holders usually let go within microseconds.
    const SPIN: bool = false;
    /// While spinning: a cheap look (no lock, no read-modify-write) at
    /// whether a try could succeed now; `false` skips the try.
    fn may_be_ready(&self) -> bool {
        true
    }
}

/// Spin rounds before a blocking acquire parks: a few short busy-waits, then
/// yields (which also let a preempted holder run when threads outnumber
/// cores), as parking_lot does. Parking costs a futex sleep and wake plus
/// `event-listener`'s list lock on both sides, so a short spin pays off
/// whenever the lock is held for less than that.
const SPIN_ROUNDS: u32 = 12;
const BUSY_ROUNDS: u32 = 6;

fn spin_round(round: u32) {
    if round < BUSY_ROUNDS {
        for _ in 0..(2u32 << round) {
            std::hint::spin_loop();
        }
    } else {
        std::thread::yield_now();
    }
}

/// Spins (a few busy rounds, then yields) while `attempt` is pending: what a
/// blocking acquire does before it parks. Never under loom.
pub(crate) fn spin<T>(mut attempt: impl FnMut() -> Poll<T>) -> Poll<T> {
    if cfg!(loom) {
        return Poll::Pending;
    }
    for round in 0..SPIN_ROUNDS {
        spin_round(round);
        if let Poll::Ready(out) = attempt() {
            return Poll::Ready(out);
        }
    }
    Poll::Pending
}

/// Blocks until `op` completes or `deadline` passes (`Pending`).
#[track_caller]
pub(crate) fn block<O: Op>(op: &mut O, deadline: Option<Instant>, mode: Mode) -> Poll<O::Output> {
    if let Poll::Ready(out) = op.poll_op(&mut Strategy::NoWait) {
        return Poll::Ready(out);
    }
    if deadline.is_some_and(|d| d <= Instant::now()) {
        return Poll::Pending;
    }
    if O::SPIN {
        let attempt = || {
            if op.may_be_ready() {
                op.poll_op(&mut Strategy::NoWait)
            } else {
                Poll::Pending
            }
        };
        if let Poll::Ready(out) = spin(attempt) {
            return Poll::Ready(out);
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Poll::Pending;
        }
    }
    blocking_section(mode, || op.poll_op(&mut Strategy::Blocking(deadline)))
}

/// Blocks until `op` completes; the timed flavour.
#[track_caller]
pub(crate) fn block_timed<O: Op>(op: &mut O, deadline: Option<Instant>, mode: Mode) -> O::Timed {
    match block(op, deadline, mode) {
        Poll::Ready(out) => O::in_time(out),
        Poll::Pending => match op.poll_expired(&mut Strategy::NoWait) {
            Poll::Ready(timed) => timed,
            Poll::Pending => {
                match blocking_section(mode, || op.poll_expired(&mut Strategy::Blocking(None))) {
                    Poll::Ready(timed) => timed,
                    Poll::Pending => unreachable!("an untimed blocking wait always completes"),
                }
            }
        },
    }
}

/// Blocks until `op` completes, with no deadline.
#[track_caller]
pub(crate) fn block_forever<O: Op>(op: &mut O, mode: Mode) -> O::Output {
    match block(op, None, mode) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("an untimed blocking wait always completes"),
    }
}

/// `now + timeout`, or `None` (wait forever) when that overflows.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

// ---------------------------------------------------------------------------
// Where a blocking call may block.
// ---------------------------------------------------------------------------

/// How a blocking call waits once it has to, decided by [`blocking_mode`]
/// at the start of every blocking call, fast path included, so that the
/// same call in the same place behaves the same whatever the contention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) enum Mode {
    /// Park the thread: no runtime here, or one that is fine with it.
    Park,
    /// Park inside `tokio::task::block_in_place`: a multi-thread runtime's
    /// thread, whose other tasks move to another thread first.
    InPlace,
}

/// Decides how a blocking call named `method` may wait on this thread, or
/// panics, at the caller's line, where it must not block at all: on a
/// thread that drives a current-thread tokio runtime (one of its tasks, a
/// `block_on` body, a `LocalSet` on it), blocking would stall every task of
/// that runtime, perhaps the very one that would wake the waiter.
///
/// Every blocking call asks, whether or not it would have to wait, so that
/// it fails the same way every time. Off any runtime the question is one
/// thread-local read.
#[track_caller]
#[inline]
pub(crate) fn blocking_mode(method: &'static str) -> Mode {
    #[cfg(feature = "tokio")]
    {
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            return runtime_mode(handle, method);
        }
    }
    let _ = method;
    Mode::Park
}

#[cfg(feature = "tokio")]
std::thread_local! {
    /// Set on a thread where `block_in_place` refused although its runtime
    /// is multi-thread (a `LocalSet` driven by `block_on`): blocking calls
    /// there park plainly.
    static NO_IN_PLACE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(feature = "tokio")]
#[cold]
#[track_caller]
fn runtime_mode(handle: tokio::runtime::Handle, method: &'static str) -> Mode {
    match handle.runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => {
            drop(handle);
            // On a current-thread runtime `block_in_place` never moves
            // anything: it runs its closure where blocking is fine (a
            // `spawn_blocking` thread, a thread that only entered the
            // runtime) and refuses on the thread that drives the runtime.
            // tokio offers no other way to tell the two apart.
            let probe = std::panic::catch_unwind(|| tokio::task::block_in_place(|| ()));
            match probe {
                Ok(()) => Mode::Park,
                Err(_) => refuse(method),
            }
        }
        _ if NO_IN_PLACE.with(|c| c.get()) => Mode::Park,
        _ => Mode::InPlace,
    }
}

#[cfg(feature = "tokio")]
#[cold]
#[track_caller]
fn refuse(method: &'static str) -> ! {
    panic!(
        "amphi: `{method}` blocks the thread, but this thread is running a current-thread \
         tokio runtime (a task, a `block_on` body or a `LocalSet`), where blocking would stall \
         every task of the runtime, perhaps the one that would wake this wait. `.await` the \
         async form instead, or move the blocking code to `tokio::task::spawn_blocking` or a \
         plain thread (a `#[tokio::test]` can also use `flavor = \"multi_thread\"`). tokio's \
         own message just before this one comes from amphi asking it whether this thread may \
         block"
    )
}

/// Runs the slow part of a blocking wait as [`Mode`] says.
///
/// With [`Mode::InPlace`], `block_in_place` first hands the worker's other
/// tasks to another thread. It cannot do that when the runtime has no
/// thread to spare (its blocking pool is full): then those tasks wait until
/// this call returns. Only slow paths get here.
pub(crate) fn blocking_section<R>(mode: Mode, f: impl FnOnce() -> R) -> R {
    #[cfg(feature = "tokio")]
    {
        if mode == Mode::InPlace {
            return in_place(f);
        }
    }
    let _ = mode;
    f()
}

#[cfg(feature = "tokio")]
fn in_place<R>(f: impl FnOnce() -> R) -> R {
    let mut f = Some(f);
    let run = std::panic::AssertUnwindSafe(|| {
        tokio::task::block_in_place(|| (f.take().expect("runs once"))())
    });
    match std::panic::catch_unwind(run) {
        Ok(out) => out,
        // `block_in_place` refused before running `f`: a `LocalSet` on a
        // multi-thread runtime's `block_on`. Park plainly, as the fast path
        // would have worked there too, and remember it for this thread.
        Err(_) if f.is_some() => {
            NO_IN_PLACE.with(|c| c.set(true));
            (f.take().expect("checked"))()
        }
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Gives a named future of amphi its `Future` impl and its blocking and timed
/// methods, all driving the one `Op` state machine.
macro_rules! waiting_future {
    (
        impl[$($gen:tt)*] $ty:ty => $out:ty, timed $timed:ty;
        example: $example:literal
    ) => {
        impl<$($gen)*> ::std::future::Future for $ty {
            type Output = $out;
            #[inline]
            fn poll(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<$out> {
                $crate::core::Op::poll_op(&mut *self, &mut $crate::core::Strategy::Async(cx))
            }
        }

        impl<$($gen)*> $ty {
            /// Blocks the current thread until the operation completes.
            ///
            /// # Blocking
            ///
            /// Parks the thread (no allocation, no runtime needed), after a
            /// short spin for acquires. On a tokio multi-thread worker it
            /// first moves the worker's other tasks away (`block_in_place`).
            /// On a thread that drives a current-thread runtime (its tasks,
            /// `block_on`, a `LocalSet`) it panics at the caller's line,
            /// every time, even when it would not have to wait: `.await`
            /// the future there, or use `spawn_blocking`. A blocking wait
            /// inside a multi-thread task still stalls the other futures of
            /// that same task (`join!`/`select!` siblings).
            ///
            /// # Cancel safety
            ///
            /// Not a future; it returns only when done.
            ///
            /// # Examples
            ///
            #[doc = $example]
            #[track_caller]
            pub fn wait(mut self) -> $out {
                let mode = $crate::core::blocking_mode($crate::core::Op::name(&self));
                $crate::core::block_forever(&mut self, mode)
            }

            /// Blocks for at most `timeout`. A zero timeout only tries; a
            /// huge one saturates to "wait forever".
            ///
            /// # Blocking
            ///
            /// As [`wait`](Self::wait), for at most `timeout`.
            ///
            /// # Cancel safety
            ///
            /// Not a future. When the time runs out nothing is lost: a
            /// notification that arrived at the last moment passes on to
            /// another waiter (or, for a broadcast, is reported).
            ///
            /// # Examples
            ///
            #[doc = $example]
            #[track_caller]
            pub fn wait_timeout(self, timeout: ::std::time::Duration) -> $timed {
                self.wait_deadline_opt($crate::core::deadline_after(timeout))
            }

            /// Blocks until `deadline` at the latest.
            ///
            /// # Blocking
            ///
            /// As [`wait`](Self::wait), until `deadline`.
            ///
            /// # Cancel safety
            ///
            /// As [`wait_timeout`](Self::wait_timeout).
            ///
            /// # Examples
            ///
            #[doc = $example]
            #[track_caller]
            pub fn wait_deadline(self, deadline: ::std::time::Instant) -> $timed {
                self.wait_deadline_opt(Some(deadline))
            }

            #[track_caller]
            fn wait_deadline_opt(mut self, deadline: Option<::std::time::Instant>) -> $timed {
                let mode = $crate::core::blocking_mode($crate::core::Op::name(&self));
                $crate::core::block_timed(&mut self, deadline, mode)
            }

            /// Awaits with a time limit (needs a tokio runtime with time
            /// enabled, see [`Timeout`](crate::futures::Timeout)).
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: dropping the returned future loses nothing.
            ///
            /// # Examples
            ///
            #[doc = $example]
            #[cfg(feature = "tokio")]
            pub fn timeout(self, timeout: ::std::time::Duration) -> $crate::core::Timeout<Self> {
                $crate::core::Timeout::new(self, $crate::core::deadline_after(timeout))
            }

            /// Awaits until `deadline` at the latest (needs a tokio runtime
            /// with time enabled, see [`Timeout`](crate::futures::Timeout)).
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: dropping the returned future loses nothing.
            ///
            /// # Examples
            ///
            #[doc = $example]
            #[cfg(feature = "tokio")]
            pub fn timeout_at(self, deadline: ::std::time::Instant) -> $crate::core::Timeout<Self> {
                $crate::core::Timeout::new(self, Some(deadline))
            }
        }
    };
}
pub(crate) use waiting_future;

// ---------------------------------------------------------------------------
// Waiter census: how many threads and tasks wait right now.
// ---------------------------------------------------------------------------

/// Which world a waiter lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Thread,
    Task,
}

impl Strategy<'_, '_> {
    pub(crate) fn kind(&self) -> Option<Kind> {
        match self {
            Strategy::NoWait => None,
            Strategy::Async(_) => Some(Kind::Task),
            Strategy::Blocking(_) => Some(Kind::Thread),
        }
    }
}

/// How many threads and how many tasks wait on a primitive right now: a
/// snapshot for seeing what is stuck (`lock.waiters()`, `event.waiters()`,
/// ...). Kept on the slow path only, so the fast paths do not pay for it.
///
/// A waiter counts from the moment it starts listening until it returns,
/// times out or is dropped; a future first polled from a task and then
/// blocked on counts as a thread from then on.
///
/// # Examples
///
/// ```
/// let lock = amphi::Lock::new(());
/// let w = lock.waiters();
/// assert_eq!((w.threads, w.tasks, w.total()), (0, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Waiters {
    /// OS threads blocked in a waiting call.
    pub threads: usize,
    /// Futures that have been polled and are waiting (tasks).
    pub tasks: usize,
}

impl Waiters {
    /// `threads + tasks`.
    ///
    /// # Examples
    ///
    /// ```
    /// let w = amphi::Waiters { threads: 1, tasks: 2 };
    /// assert_eq!(w.total(), 3);
    /// ```
    pub fn total(&self) -> usize {
        self.threads + self.tasks
    }
}

/// The counters behind [`Waiters`]. Plain std atomics with relaxed
/// ordering: they are a report, never a decision.
#[derive(Debug, Default)]
pub(crate) struct Census {
    threads: StdAtomicUsize,
    tasks: StdAtomicUsize,
}

impl Census {
    pub(crate) const fn new() -> Self {
        Census {
            threads: StdAtomicUsize::new(0),
            tasks: StdAtomicUsize::new(0),
        }
    }

    fn counter(&self, kind: Kind) -> &StdAtomicUsize {
        match kind {
            Kind::Thread => &self.threads,
            Kind::Task => &self.tasks,
        }
    }

    /// Moves a waiter's entry from `from` to `to` (`None`: not counted).
    fn shift(&self, from: Option<Kind>, to: Option<Kind>) {
        if from == to {
            return;
        }
        if let Some(k) = from {
            self.counter(k).fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(k) = to {
            self.counter(k).fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A waiter starts listening as `kind`: its `entry` counts from now.
    pub(crate) fn enter(&self, entry: &mut Option<Kind>, kind: Option<Kind>) {
        self.shift(entry.take(), kind);
        *entry = kind;
    }

    /// A counted waiter is polled as `kind`: a future first polled from a
    /// task and then blocked on counts as a thread from then on.
    pub(crate) fn follow(&self, entry: &mut Option<Kind>, kind: Option<Kind>) {
        if entry.is_some() && kind.is_some() && *entry != kind {
            self.enter(entry, kind);
        }
    }

    /// The waiter leaves.
    pub(crate) fn leave(&self, entry: &mut Option<Kind>) {
        self.shift(entry.take(), None);
    }

    pub(crate) fn snapshot(&self) -> Waiters {
        Waiters {
            threads: self.threads.load(Ordering::Relaxed),
            tasks: self.tasks.load(Ordering::Relaxed),
        }
    }
}

// ---------------------------------------------------------------------------
// The gate: one state word, the "someone waits" count, the reservation.
// ---------------------------------------------------------------------------

/// How long a waiter may be barged before it asks for a hand-off.
///
/// Barging (a running thread taking a just-freed lock before the woken waiter
/// runs) is what makes contended throughput high, but a thread that relocks
/// in a loop could starve a waiter forever. A waiter that has waited this
/// long and then loses one more race reserves the resource instead: from
/// then on only it may take it (eventual fairness, as parking_lot does every
/// 0.5 ms on average).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const FAIR_AFTER: Duration = Duration::from_millis(1);

/// How long a reservation may keep a free resource from everyone else.
///
/// A reserving waiter that is a future kept alive but not polled (a `&mut
/// fut` in a `select!` loop that is busy elsewhere) would otherwise hold the
/// resource hostage. Once the resource has been free this long under a
/// reservation, the next `try_` call or arriving waiter breaks it.
pub(crate) const HOLD_AT_MOST: Duration = Duration::from_millis(2);

/// Every this many releases whose wake-up found the previous one not taken
/// up (its waiter may be a future nobody polls), a lock looks at the clock:
/// if the streak has lasted [`HOLD_AT_MOST`], it wakes one more waiter.
/// Counting first keeps the clock off the contended unlock path.
const ABSORBED_CHECK: usize = 32;

/// The layout of a primitive's state word: a count of free units (one for a
/// lock, the permits of a semaphore), a count of waiters, a reservation flag
/// and an optional closed flag. The [`Gate`] does all the waiting
/// bookkeeping over it, once for every primitive.
#[allow(unreachable_pub)]
pub trait Word {
    /// One waiter in the "someone waits" count.
    const WAITER: usize;
    /// The bits of the waiter count.
    const WAITER_MASK: usize;
    /// Set while a starved waiter has reserved the next free unit.
    const RESERVED: usize;
    /// Set once the primitive is closed (0 if it cannot be).
    const CLOSED: usize;
    /// Whether a release wakes as many new waiters as it frees units (a
    /// semaphore), or one at a time (a lock: a second wake-up while the
    /// first is on its way would only make the two fight).
    const ADDITIONAL: bool;
    /// Free units in `s`.
    fn units(s: usize) -> usize;
    /// `s` with one unit taken (`units(s) > 0`).
    fn take(s: usize) -> usize;
}

/// What one try at the resource gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    Acquired,
    Busy,
    /// Free, but held for a reservation that is not stale yet.
    Held,
    Closed,
}

/// What the reserving waiter's claim gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    Claimed,
    /// Still reserved, not free yet.
    Busy,
    /// The reservation is gone (broken as stale): wait as an ordinary
    /// waiter again.
    Lost,
    Closed,
}

/// The marker of a closed primitive, carried out of the waiting loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClosedMark;

/// The waiting half of a lock-like primitive: its state word, the events
/// its waiters listen on, the reservation, and the waiter census.
#[allow(unreachable_pub)]
pub struct Gate<W> {
    pub(crate) state: AtomicUsize,
    event: Event,
    /// Where the waiter holding the reservation listens.
    reserved: Event,
    /// Who holds the reservation, and since when. The `RESERVED` bit of the
    /// state word changes only under this lock, so the bit is set exactly
    /// while `holder` names a waiter; the fast paths read only the bit.
    reservation: ResMutex<Reservation>,
    /// When the resource was last freed under the current reservation
    /// (nanoseconds since `epoch()`; 0: not since it was made).
    freed_at: AtomicU64,
    /// Releases in a row whose wake-up found the last one not taken up.
    absorbed: StdAtomicUsize,
    /// When that streak began (nanoseconds since `epoch()`).
    absorbed_since: AtomicU64,
    census: Census,
    _word: PhantomData<fn() -> W>,
}

#[cfg(loom)]
use loom::sync::{Mutex as ResMutex, MutexGuard as ResGuard};
#[cfg(not(loom))]
use std::sync::{Mutex as ResMutex, MutexGuard as ResGuard};

/// The holder of a gate's reservation.
#[derive(Debug)]
struct Reservation {
    /// The holder's ticket; 0 when nobody holds it.
    holder: u64,
    /// When it was made.
    since: u64,
}

/// A ticket for a waiter about to reserve: unique, never 0.
fn next_ticket() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl<W> fmt::Debug for Gate<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate").finish_non_exhaustive()
    }
}

impl<W: Word> Gate<W> {
    const_fn! {
        pub(crate) fn new(state: usize) -> Self {
            Gate {
                state: AtomicUsize::new(state),
                event: Event::new(),
                reserved: Event::new(),
                reservation: ResMutex::new(Reservation { holder: 0, since: 0 }),
                freed_at: AtomicU64::new(0),
                absorbed: StdAtomicUsize::new(0),
                absorbed_since: AtomicU64::new(0),
                census: Census::new(),
                _word: PhantomData,
            }
        }
    }

    pub(crate) fn waiters(&self) -> Waiters {
        self.census.snapshot()
    }

    fn waiting(s: usize) -> usize {
        (s & W::WAITER_MASK) / W::WAITER
    }

    /// Tries to take one unit. When `counted`, the caller is in the waiter
    /// count and a success also removes it from the count.
    #[inline]
    pub(crate) fn try_acquire(&self, counted: bool) -> Attempt {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & W::CLOSED != 0 {
                return Attempt::Closed;
            }
            if W::units(s) == 0 {
                return Attempt::Busy;
            }
            if s & W::RESERVED != 0 {
                // Free, but reserved for a starved waiter.
                if !self.break_if_stale() {
                    return Attempt::Held;
                }
                s = self.state.load(Ordering::Relaxed);
                continue;
            }
            let new = W::take(s) - if counted { W::WAITER } else { 0 };
            match self
                .state
                .compare_exchange_weak(s, new, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Attempt::Acquired,
                Err(now) => s = now,
            }
        }
    }

    fn holder(&self) -> ResGuard<'_, Reservation> {
        self.reservation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The resource is free under a reservation: if it has been for longer
    /// than [`HOLD_AT_MOST`], the reserving waiter is not taking it up (a
    /// future nobody polls): end the reservation. `true`: try again.
    #[cold]
    fn break_if_stale(&self) -> bool {
        let mut r = self.holder();
        if r.holder == 0 {
            return true; // ended meanwhile
        }
        // Measured from the release that freed the unit under this
        // reservation only: until that release has noted its time (it does
        // so just after freeing), the holder has had no chance to come.
        let freed = self.freed_at.load(Ordering::Relaxed);
        if freed == 0 || freed < r.since || !held_too_long(freed) {
            return false;
        }
        r.holder = 0;
        let prev = self.state.fetch_and(!W::RESERVED, Ordering::AcqRel);
        drop(r);
        // The former holder finds its reservation gone when it looks.
        self.reserved.notify(usize::MAX);
        // Units beyond the one the caller is about to take.
        self.wake_free(prev & !W::RESERVED, 1);
        true
    }

    /// Adds one waiter to the "someone waits" count.
    pub(crate) fn count_waiter(&self) {
        let counted = self
            .state
            .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |s| {
                (s & W::WAITER_MASK != W::WAITER_MASK).then_some(s + W::WAITER)
            });
        assert!(counted.is_ok(), "amphi: too many waiters on one primitive");
    }

    /// Removes one waiter that gives up (timeout or cancellation).
    pub(crate) fn uncount_waiter(&self) {
        let prev = self.state.fetch_sub(W::WAITER, Ordering::SeqCst);
        self.pass_on(prev - W::WAITER);
    }

    /// After a waiter left: if units are free and others wait, make sure
    /// one of them looks (a wake-up the leaver had may have been theirs).
    fn pass_on(&self, now: usize) {
        if W::units(now) > 0 && Self::waiting(now) > 0 && now & W::CLOSED == 0 {
            if now & W::RESERVED != 0 {
                self.reserved.notify(1);
            } else {
                self.event.notify(1);
            }
        }
    }

    /// Wakes waiters for `n` units just added to a state that was `prev`
    /// (called by releases that saw someone waiting, or a reservation).
    #[cold]
    pub(crate) fn released(&self, n: usize, prev: usize) {
        if prev & W::RESERVED != 0 {
            // Only the reserving waiter may take it: wake it, and note when,
            // so that a holder that never comes can be told apart. (All of
            // the reserved event's listeners: a former holder's stale one
            // must not use the wake-up up.)
            self.freed_at.fetch_max(nanos_now(), Ordering::Relaxed);
            self.reserved.notify(usize::MAX);
            // And, if threads wait, one ordinary waiter, to watch: a thread
            // that finds the unit held for a reservation parks only until it
            // would go stale. (Tasks have no timer to watch with.)
            if Self::waiting(prev) > 1 && self.census.threads.load(Ordering::Relaxed) > 0 {
                self.event.notify(1);
            }
        } else if Self::waiting(prev) > 0 {
            self.wake(n);
        }
    }

    /// In state `now` (no reservation): wakes ordinary waiters for the free
    /// units beyond the `taken` ones the caller is about to take.
    fn wake_free(&self, now: usize, taken: usize) {
        if now & W::CLOSED == 0 && W::units(now) > taken && Self::waiting(now) > 0 {
            self.wake(W::units(now) - taken);
        }
    }

    /// Wakes ordinary waiters for `n` free units.
    fn wake(&self, n: usize) {
        if W::ADDITIONAL {
            // `n` wake-ups, not `min(n, waiters)`: a listener that is in the
            // list but not counted yet (between `listen` and `arm`) can take
            // one of them and then finish by itself, discarding it (found by
            // the loom model `semaphore_release_n_wakes_blocked_waiters`).
            self.event.notify(n.additional());
        } else if self.event.notify(1) == 0 {
            // The last wake-up has not been taken up yet. Usually its waiter
            // is about to run (and a second wake-up would only make two
            // waiters fight); but it may be a future that nobody polls, and
            // then it would absorb every wake-up. So: once a streak of such
            // unlocks has lasted `HOLD_AT_MOST`, wake one more waiter.
            let streak = self.absorbed.fetch_add(1, Ordering::Relaxed);
            if streak == 0 {
                self.absorbed_since.store(nanos_now(), Ordering::Relaxed);
            } else if streak % ABSORBED_CHECK == ABSORBED_CHECK - 1
                && held_too_long(self.absorbed_since.load(Ordering::Relaxed))
            {
                self.absorbed.store(0, Ordering::Relaxed);
                self.event.notify(1.additional());
            }
        } else if self.absorbed.load(Ordering::Relaxed) != 0 {
            self.absorbed.store(0, Ordering::Relaxed);
        }
    }

    /// Starvation fallback: reserves the next free unit for the (counted)
    /// waiter with `ticket`. `false` if a unit is free (just compete), or
    /// another waiter holds the reservation.
    fn reserve(&self, ticket: u64) -> bool {
        let mut r = self.holder();
        if r.holder != 0 {
            return false;
        }
        let reserved = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |s| {
                (W::units(s) == 0 && s & (W::RESERVED | W::CLOSED) == 0).then_some(s | W::RESERVED)
            })
            .is_ok();
        if reserved {
            r.holder = ticket;
            r.since = nanos_now();
            self.freed_at.store(0, Ordering::Relaxed);
        }
        reserved
    }

    /// Takes a unit under the reservation of `ticket` (ending it and the
    /// waiter's count).
    fn try_claim(&self, ticket: u64) -> Claim {
        let mut r = self.holder();
        if r.holder != ticket {
            return if self.state.load(Ordering::Acquire) & W::CLOSED != 0 {
                Claim::Closed
            } else {
                Claim::Lost
            };
        }
        let claimed = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |s| {
                (s & W::CLOSED == 0 && W::units(s) > 0)
                    .then(|| W::take(s) - W::WAITER - W::RESERVED)
            });
        match claimed {
            Ok(prev) => {
                r.holder = 0;
                drop(r);
                // Units released while the reservation kept the others
                // asleep are theirs now.
                self.wake_free(W::take(prev) - W::WAITER - W::RESERVED, 0);
                Claim::Claimed
            }
            Err(s) if s & W::CLOSED != 0 => Claim::Closed,
            Err(_) => Claim::Busy,
        }
    }

    /// The waiter with `ticket`, which believed it held the reservation,
    /// gives up: it leaves the count, and ends the reservation if it still
    /// holds it.
    fn unreserve(&self, ticket: u64) {
        let mut r = self.holder();
        let mine = r.holder == ticket;
        if mine {
            r.holder = 0;
        }
        let prev = self
            .state
            .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |s| {
                Some(if mine {
                    (s - W::WAITER) & !W::RESERVED
                } else {
                    s - W::WAITER
                })
            })
            .unwrap_or_else(|s| s);
        drop(r);
        let now = if mine {
            (prev - W::WAITER) & !W::RESERVED
        } else {
            prev - W::WAITER
        };
        if now & W::RESERVED == 0 {
            self.wake_free(now, 0);
        } else {
            self.pass_on(now);
        }
    }

    /// A waiter that took a unit by itself discarded a listener that had
    /// been notified. That wake-up may have been meant for a waiter that
    /// started counting after the listener was in place (found by a loom
    /// model: two `release(1)`s, two blocked acquirers): if units are still
    /// free and others wait, wake them.
    #[cold]
    pub(crate) fn pass_on_after_discard(&self) {
        let now = self.state.load(Ordering::SeqCst);
        if now & W::RESERVED == 0 {
            self.wake_free(now, 0);
        }
    }

    /// Sets the closed flag and wakes every waiter; `false` if it was set.
    pub(crate) fn close(&self) -> bool {
        let prev = self.state.fetch_or(W::CLOSED, Ordering::AcqRel);
        if prev & W::CLOSED != 0 {
            return false;
        }
        self.event.notify(usize::MAX);
        self.reserved.notify(usize::MAX);
        true
    }
}

/// How long a blocked thread that someone else's hold keeps out parks
/// before it looks again: until the hold would go stale (`HOLD_AT_MOST`
/// from now, its holder may be a future nobody polls), or its own
/// `deadline` if that comes first. Used by the gate's reservations and the
/// queues' holds.
pub(crate) fn watch_until(deadline: Option<Instant>) -> Instant {
    let watch = Instant::now() + HOLD_AT_MOST;
    deadline.map_or(watch, |d| d.min(watch))
}

/// Whether `HOLD_AT_MOST` has passed since `since` (a [`nanos_now`]
/// reading). Never under loom, whose models have no time.
pub(crate) fn held_too_long(since: u64) -> bool {
    !cfg!(loom) && nanos_now().saturating_sub(since) >= HOLD_AT_MOST.as_nanos() as u64
}

/// The clock of reservations: nanoseconds since the first call.
#[cfg(not(loom))]
pub(crate) fn nanos_now() -> u64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(loom)]
pub(crate) fn nanos_now() -> u64 {
    0
}

// ---------------------------------------------------------------------------
// One acquire-like wait.
// ---------------------------------------------------------------------------

/// The state of one acquire-like wait: whether it is counted as a waiter
/// (and since when), whether it holds the reservation, its census entry and
/// its async listener.
#[derive(Debug, Default)]
#[allow(unreachable_pub)]
pub struct Waiting {
    counted: bool,
    /// The ticket of the reservation this waiter holds (or held: it finds
    /// out at its next claim that it was broken); 0 when none.
    ticket: u64,
    kind: Option<Kind>,
    since: Option<Instant>,
    /// Wake-ups after which the resource was already gone.
    barged: u32,
    listener: Option<EventListener>,
}

impl Waiting {
    /// A fresh wait.
    pub(crate) const fn new() -> Self {
        Waiting {
            counted: false,
            ticket: 0,
            kind: None,
            since: None,
            barged: 0,
            listener: None,
        }
    }

    /// Not counted, not reserved, not listening: nothing to undo.
    #[inline]
    pub(crate) fn is_fresh(&self) -> bool {
        !self.counted && self.ticket == 0 && self.listener.is_none()
    }

    /// The acquire loop, shared by every lock-like primitive and the
    /// condition's relock. `Err` once the primitive is closed.
    pub(crate) fn poll<W: Word>(
        &mut self,
        g: &Gate<W>,
        s: &mut Strategy<'_, '_>,
    ) -> Poll<Result<(), ClosedMark>> {
        let kind = s.kind();
        g.census.follow(&mut self.kind, kind);
        loop {
            if self.ticket != 0 {
                let ticket = self.ticket;
                let claim = match g.try_claim(ticket) {
                    Claim::Busy => {
                        let arm = || Some(g.try_claim(ticket)).filter(|c| *c != Claim::Busy);
                        // The reserved event is a broadcast to the one
                        // holder: nothing to pass on.
                        match s.wait_on(&g.reserved, &mut self.listener, arm) {
                            Poll::Ready(Wake::Done(c, _)) => c,
                            Poll::Ready(Wake::Woken) => continue,
                            Poll::Pending => return Poll::Pending,
                        }
                    }
                    c => c,
                };
                match claim {
                    Claim::Claimed => return self.done(g),
                    Claim::Closed => return self.closed(g),
                    Claim::Lost | Claim::Busy => {
                        // Broken as stale: an ordinary (still counted)
                        // waiter again.
                        self.ticket = 0;
                        self.discard_listener();
                        continue;
                    }
                }
            }
            let held = match g.try_acquire(self.counted) {
                Attempt::Acquired => return self.done(g),
                Attempt::Closed => return self.closed(g),
                Attempt::Held => true,
                Attempt::Busy => false,
            };
            let counted = &mut self.counted;
            let since = &mut self.since;
            let entry = &mut self.kind;
            let arm = || {
                if !*counted {
                    g.count_waiter();
                    *counted = true;
                    *since = Some(Instant::now());
                    g.census.enter(entry, kind);
                }
                match g.try_acquire(true) {
                    Attempt::Busy | Attempt::Held => None,
                    a => Some(a),
                }
            };
            // A thread that finds the unit held for a reservation parks only
            // until the reservation would go stale, then looks again (its
            // holder may be a future nobody polls). A task has no timer
            // here: it looks again at the next release or arrival.
            let user_deadline = match s {
                Strategy::Blocking(d) => Some(*d),
                _ => None,
            };
            let waited = match user_deadline {
                Some(deadline) if held => {
                    let mut watching = Strategy::Blocking(Some(watch_until(deadline)));
                    match watching.wait_on(&g.event, &mut self.listener, arm) {
                        Poll::Pending if deadline.is_none_or(|d| Instant::now() < d) => continue,
                        other => other,
                    }
                }
                _ => s.wait_on(&g.event, &mut self.listener, arm),
            };
            match waited {
                Poll::Ready(Wake::Done(Attempt::Acquired, notified)) => {
                    if notified {
                        g.pass_on_after_discard();
                    }
                    return self.done(g);
                }
                Poll::Ready(Wake::Done(..)) => return self.closed(g),
                Poll::Ready(Wake::Woken) => {
                    // Woken, and about to compete again: if we have been
                    // barged for too long, reserve the resource.
                    self.barged += 1;
                    if self.starved() {
                        let ticket = next_ticket();
                        if g.reserve(ticket) {
                            self.ticket = ticket;
                        }
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Whether this waiter has waited long enough to reserve.
    #[cfg(not(loom))]
    fn starved(&self) -> bool {
        self.since.is_some_and(|t| t.elapsed() >= FAIR_AFTER)
    }

    /// Under loom, time is not part of the model: a waiter reserves after
    /// its first lost race, so the models explore the reservation too.
    #[cfg(loom)]
    fn starved(&self) -> bool {
        self.barged >= 1
    }

    fn discard_listener(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.discard();
        }
    }

    /// Success: the count and any reservation ended with the acquire.
    fn done<W: Word>(&mut self, g: &Gate<W>) -> Poll<Result<(), ClosedMark>> {
        g.census.leave(&mut self.kind);
        self.counted = false;
        self.ticket = 0;
        self.since = None;
        self.barged = 0;
        // A wake-up that reached us while we took the resource by ourselves
        // was usually meant for the release we consumed: passing it on
        // blindly would wake the next waiter for nothing and send it to the
        // back of the queue. But it may have been another waiter's, so if
        // units are left for the counted waiters, wake them.
        if let Some(listener) = self.listener.take()
            && listener.discard()
        {
            g.pass_on_after_discard();
        }
        Poll::Ready(Ok(()))
    }

    fn closed<W: Word>(&mut self, g: &Gate<W>) -> Poll<Result<(), ClosedMark>> {
        // `close` woke everyone (a broadcast): hand nothing on.
        self.discard_listener();
        self.cancel(g);
        Poll::Ready(Err(ClosedMark))
    }

    /// Gives up: a notification already delivered to our listener passes on
    /// (`event-listener` does that when a notified listener is dropped), and
    /// we leave the waiter count and the reservation.
    pub(crate) fn cancel<W: Word>(&mut self, g: &Gate<W>) {
        self.listener = None;
        if self.ticket != 0 {
            g.unreserve(self.ticket);
        } else if self.counted {
            g.uncount_waiter();
        }
        g.census.leave(&mut self.kind);
        self.counted = false;
        self.ticket = 0;
    }
}

// ---------------------------------------------------------------------------
// "Woken means done" waits: Event (and, later, Barrier).
// ---------------------------------------------------------------------------

/// A flag-like primitive whose waiters are all woken at once (a
/// broadcast), so that a wake-up is the result, not a cue to try again.
pub(crate) trait Flag {
    fn event(&self) -> &Event;
    fn census(&self) -> &Census;
    /// Whether the wait is over already (checked before listening).
    fn is_over(&self) -> bool;
    /// Announces a new waiter (after its listener is in place) and returns
    /// whether the wait is over already.
    fn count(&self) -> bool;
    /// Removes a waiter announced by `count`.
    fn uncount(&self);
}

/// The state of one "woken means done" wait.
///
/// Unlike an acquire, a wake-up here is a broadcast: a waiter that is
/// dropped after it was woken must not hand the wake-up on, or a waiter that
/// came later would return for something that happened before it came. So
/// every exit *discards* the listener.
#[derive(Debug, Default)]
#[allow(unreachable_pub)]
pub struct Signal {
    counted: bool,
    kind: Option<Kind>,
    listener: Option<EventListener>,
}

impl Signal {
    pub(crate) const fn new() -> Self {
        Signal {
            counted: false,
            kind: None,
            listener: None,
        }
    }

    /// `Ready` once the flag says the wait is over or a broadcast woke us.
    pub(crate) fn poll<F: Flag + ?Sized>(&mut self, f: &F, s: &mut Strategy<'_, '_>) -> Poll<()> {
        let kind = s.kind();
        f.census().follow(&mut self.kind, kind);
        if f.is_over() {
            self.finish(f);
            return Poll::Ready(());
        }
        let counted = &mut self.counted;
        let entry = &mut self.kind;
        let arm = || {
            if *counted {
                f.is_over()
            } else {
                *counted = true;
                f.census().enter(entry, kind);
                f.count()
            }
            .then_some(())
        };
        match s.wait_on(f.event(), &mut self.listener, arm) {
            Poll::Ready(_) => {
                self.finish(f);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Leaves: uncounts and discards the listener. Returns whether a
    /// broadcast had reached us (a timed wait that raced it still reports
    /// it).
    pub(crate) fn finish<F: Flag + ?Sized>(&mut self, f: &F) -> bool {
        let woken = self.listener.take().is_some_and(|l| l.discard());
        if self.counted {
            self.counted = false;
            f.uncount();
        }
        f.census().leave(&mut self.kind);
        woken
    }
}

// ---------------------------------------------------------------------------
// One generic acquire future over a handle (`&P` or `Arc<P>`).
// ---------------------------------------------------------------------------

/// A borrowed or owned handle to a lock-like primitive, and what an acquire
/// through it hands out. Sealed: nominally `pub` so that the public future
/// [`Acquiring`] can name it.
#[allow(unreachable_pub)]
pub trait Handle: Sized + Unpin {
    /// The layout of the primitive's state word.
    #[doc(hidden)]
    type Word: Word;
    /// What the acquire produces (a guard, or `Result<permit, Closed>`).
    type Output;
    /// What a timed acquire produces.
    type Timed;
    /// The name of the future's `wait` in messages (e.g. `Lock::lock`).
    #[doc(hidden)]
    const NAME: &'static str;
    #[doc(hidden)]
    fn gate(&self) -> &Gate<Self::Word>;
    /// What the caller gets without waiting at all, tried at every poll
    /// (an RLock's owner re-enters); `None` for most primitives.
    #[doc(hidden)]
    #[inline]
    fn shortcut(&self) -> Option<Self::Output> {
        None
    }
    /// The handle, turned into what the caller gets once it holds the unit.
    #[doc(hidden)]
    fn granted(self) -> Self::Output;
    /// The primitive was closed.
    #[doc(hidden)]
    fn closed() -> Self::Output;
    #[doc(hidden)]
    fn in_time(out: Self::Output) -> Self::Timed;
    #[doc(hidden)]
    fn timed_out() -> Self::Timed;
}

/// The one acquire future of amphi: [`LockFuture`](crate::futures::LockFuture),
/// [`LockArcFuture`](crate::futures::LockArcFuture),
/// [`AcquireFuture`](crate::futures::AcquireFuture),
/// [`AcquireArcFuture`](crate::futures::AcquireArcFuture),
/// [`RLockFuture`](crate::futures::RLockFuture) and
/// [`RLockArcFuture`](crate::futures::RLockArcFuture) are this type over a
/// borrowed or an owned (`Arc`) handle.
///
/// `.await` it from a task, or block a thread with
/// [`wait`](Self::wait), [`wait_timeout`](Self::wait_timeout) and
/// [`wait_deadline`](Self::wait_deadline); [`timeout`](Self::timeout) awaits
/// it with a time limit. `Unpin`; `Send` and `Sync` when the handle is.
///
/// # Cancel safety
///
/// Cancel safe: dropping it before it completes holds nothing, and a wake-up
/// it had been given passes on to the next waiter.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let lock = amphi::Lock::new(0);
/// let held = lock.lock_blocking();
/// let fut: amphi::futures::Acquiring<&amphi::Lock<i32>> = lock.lock();
/// assert!(fut.wait_timeout(Duration::from_millis(5)).is_none());
/// drop(held);
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it or use the `_blocking` method"]
pub struct Acquiring<H: Handle> {
    /// `None` once the acquire completed.
    handle: Option<H>,
    waiting: Waiting,
}

impl<H: Handle> Acquiring<H> {
    pub(crate) fn new(handle: H) -> Self {
        Acquiring {
            handle: Some(handle),
            waiting: Waiting::new(),
        }
    }

    /// Everything but the first-poll fast path, kept out of line so that the
    /// fast path inlines into the caller.
    #[inline(never)]
    fn poll_slow(&mut self, s: &mut Strategy<'_, '_>) -> Poll<H::Output> {
        let handle = self
            .handle
            .as_ref()
            .expect("amphi: acquire future polled after it completed");
        let result = std::task::ready!(self.waiting.poll(handle.gate(), s));
        let handle = self.handle.take().expect("checked above");
        Poll::Ready(match result {
            Ok(()) => handle.granted(),
            Err(ClosedMark) => H::closed(),
        })
    }
}

impl<H: Handle> Op for Acquiring<H> {
    const SPIN: bool = true;
    type Output = H::Output;
    type Timed = H::Timed;

    fn name(&self) -> &'static str {
        H::NAME
    }

    #[inline]
    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<H::Output> {
        if let Some(handle) = &self.handle
            && let Some(out) = handle.shortcut()
        {
            // Leaves the wait (a wake-up it had passes on).
            let handle = self.handle.take().expect("checked above");
            self.waiting.cancel(handle.gate());
            return Poll::Ready(out);
        }
        // Fast path of a first poll: one compare-and-swap, nothing to undo.
        if self.waiting.is_fresh()
            && let Some(handle) = &self.handle
            && handle.gate().try_acquire(false) == Attempt::Acquired
        {
            let handle = self.handle.take().expect("checked above");
            return Poll::Ready(handle.granted());
        }
        self.poll_slow(s)
    }

    fn poll_expired(&mut self, _: &mut Strategy<'_, '_>) -> Poll<H::Timed> {
        // One last try at the deadline (it also ends a reservation that went
        // stale while we slept), then give up.
        if let Some(handle) = &self.handle
            && let Poll::Ready(result) = self.waiting.poll(handle.gate(), &mut Strategy::NoWait)
        {
            let handle = self.handle.take().expect("checked above");
            return Poll::Ready(H::in_time(match result {
                Ok(()) => handle.granted(),
                Err(ClosedMark) => H::closed(),
            }));
        }
        if let Some(handle) = self.handle.take() {
            self.waiting.cancel(handle.gate());
        }
        Poll::Ready(H::timed_out())
    }

    fn in_time(out: H::Output) -> H::Timed {
        H::in_time(out)
    }
}

impl<H: Handle> Drop for Acquiring<H> {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            self.waiting.cancel(handle.gate());
        }
    }
}

impl<H: Handle> fmt::Debug for Acquiring<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquiring")
            .field("of", &H::NAME)
            .field("done", &self.handle.is_none())
            .finish_non_exhaustive()
    }
}

waiting_future! {
    impl[H: Handle] Acquiring<H> => H::Output, timed H::Timed;
    example: "```
use std::time::Duration;
let lock = amphi::Lock::new(0);
let held = lock.lock_blocking();
assert!(lock.lock().wait_timeout(Duration::from_millis(5)).is_none());
drop(held);
*lock.lock().wait() += 1;
```"
}

#[cfg(feature = "tokio")]
pin_project_lite::pin_project! {
    /// A waiting future with an async time limit, made by the `timeout` and
    /// `timeout_at` methods of amphi's futures.
    ///
    /// Its output is the future's timed output: `Option<guard>` for lock
    /// acquires (`None` when the time ran out), `Result<permit,
    /// AcquireTimeoutError>` for semaphores, `bool` for
    /// [`Event`](crate::Event) waits, `(guard, WaitTimeoutResult)` for
    /// [`Condition`](crate::Condition) waits (which always give the guard
    /// back), `Result<_, BarrierTimeoutError>` for
    /// [`Barrier`](crate::Barrier) waits, `Result<item, GetTimeoutError>`
    /// and `Result<(), PutTimeoutError<item>>` for queue gets and puts
    /// (a refused item comes back in the error), and `bool` for queue joins.
    ///
    /// It needs a tokio runtime with the time driver enabled when it is first
    /// polled (`Runtime::new()`, `#[tokio::main]`, `#[tokio::test]`, or a
    /// builder with `enable_time()`); polling it elsewhere panics, as
    /// `tokio::time::sleep` does. Current-thread and multi-thread runtimes
    /// both work.
    ///
    /// `Send` when the inner future is (so `tokio::spawn` takes it). Not
    /// `Unpin` (it holds a tokio `Sleep`): pin it (`std::pin::pin!`) to poll
    /// it through `&mut`, e.g. in a `select!` loop.
    ///
    /// # Cancel safety
    ///
    /// Dropping it is the same as dropping the inner future: nothing is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let lock = amphi::Lock::new(0);
    /// let held = lock.lock().await;
    /// // The lock is held, so this gives up after 10 ms.
    /// assert!(lock.lock().timeout(Duration::from_millis(10)).await.is_none());
    /// drop(held);
    /// assert!(lock.lock().timeout(Duration::from_millis(10)).await.is_some());
    /// # }
    /// ```
    #[must_use = "futures do nothing unless you `.await` them"]
    pub struct Timeout<F> {
        fut: F,
        deadline: Instant,
        #[pin]
        sleep: Option<tokio::time::Sleep>,
        expired: bool,
    }
}

#[cfg(feature = "tokio")]
impl<F> std::fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeout")
            .field("deadline", &self.deadline)
            .field("expired", &self.expired)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "tokio")]
impl<F> Timeout<F> {
    pub(crate) fn new(fut: F, deadline: Option<Instant>) -> Self {
        // A deadline beyond what `Instant` holds is as good as never.
        let deadline = deadline.unwrap_or_else(far_future);
        Timeout {
            fut,
            deadline,
            sleep: None,
            expired: false,
        }
    }
}

/// About thirty years from now: tokio saturates longer sleeps anyway.
#[cfg(feature = "tokio")]
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365 * 30)
}

#[cfg(feature = "tokio")]
impl<F: Op> Future for Timeout<F> {
    type Output = F::Timed;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Timed> {
        let mut this = self.project();
        if !*this.expired {
            // The timer is made on the first poll, before the inner future
            // is looked at: outside a tokio runtime that panics every time,
            // not only when the inner future would have to wait.
            if this.sleep.is_none() {
                let deadline = tokio::time::Instant::from_std(*this.deadline);
                this.sleep.set(Some(tokio::time::sleep_until(deadline)));
            }
            if let Poll::Ready(out) = this.fut.poll_op(&mut Strategy::Async(cx)) {
                return Poll::Ready(F::in_time(out));
            }
            if let Some(sleep) = this.sleep.as_mut().as_pin_mut()
                && sleep.poll(cx).is_pending()
            {
                return Poll::Pending;
            }
            *this.expired = true;
        }
        this.fut.poll_expired(&mut Strategy::Async(cx))
    }
}
