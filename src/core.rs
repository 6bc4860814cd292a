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

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use event_listener::{Event, EventListener, Listener};

// The atomics of every primitive: loom's under `--cfg loom` (the models in
// `loom/`), std's otherwise.
#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicUsize;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicUsize;
pub(crate) use std::sync::atomic::Ordering;

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
    Done(T),
}

impl Strategy<'_, '_> {
    /// Waits once for a notification of `event`.
    ///
    /// `arm` runs right after a new listener is in place, so that a state
    /// change it misses is guaranteed to notify that listener: it announces
    /// the waiter and re-checks the condition (returning `Some` finishes
    /// without waiting). `Pending` means: async, not yet notified (the listener
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
                            *slot = None;
                            return Poll::Ready(Wake::Done(done));
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
                    return match deadline {
                        None => {
                            listener.wait();
                            Poll::Ready(Wake::Woken)
                        }
                        Some(deadline) => match listener.wait_deadline(*deadline) {
                            Some(()) => Poll::Ready(Wake::Woken),
                            None => Poll::Pending,
                        },
                    };
                }
                crate::raw::park(event, *deadline, arm)
            }
        }
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
    /// Whether a blocking wait should spin a little before parking: for
    /// acquires, whose holders usually let go within microseconds.
    const SPIN: bool = false;
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

/// Blocks until `op` completes or `deadline` passes (`Pending`).
pub(crate) fn block<O: Op>(op: &mut O, deadline: Option<Instant>) -> Poll<O::Output> {
    if let Poll::Ready(out) = op.poll_op(&mut Strategy::NoWait) {
        return Poll::Ready(out);
    }
    if deadline.is_some_and(|d| d <= Instant::now()) {
        return Poll::Pending;
    }
    if O::SPIN && !cfg!(loom) {
        for round in 0..SPIN_ROUNDS {
            spin_round(round);
            if let Poll::Ready(out) = op.poll_op(&mut Strategy::NoWait) {
                return Poll::Ready(out);
            }
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Poll::Pending;
        }
    }
    blocking_section(|| op.poll_op(&mut Strategy::Blocking(deadline)))
}

/// Blocks until `op` completes; the timed flavour.
pub(crate) fn block_timed<O: Op>(op: &mut O, deadline: Option<Instant>) -> O::Timed {
    match block(op, deadline) {
        Poll::Ready(out) => O::in_time(out),
        Poll::Pending => match op.poll_expired(&mut Strategy::NoWait) {
            Poll::Ready(timed) => timed,
            Poll::Pending => {
                match blocking_section(|| op.poll_expired(&mut Strategy::Blocking(None))) {
                    Poll::Ready(timed) => timed,
                    Poll::Pending => unreachable!("an untimed blocking wait always completes"),
                }
            }
        },
    }
}

/// Blocks until `op` completes, with no deadline.
pub(crate) fn block_forever<O: Op>(op: &mut O) -> O::Output {
    match block(op, None) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("an untimed blocking wait always completes"),
    }
}

/// `now + timeout`, or `None` (wait forever) when that overflows.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Runs a blocking wait so that it never silently stalls a tokio runtime.
///
/// On a multi-thread runtime's worker, `block_in_place` first hands the
/// worker's other tasks to another thread. On a `spawn_blocking` thread or a
/// thread outside any runtime it costs nothing. Inside a task of a
/// current-thread runtime it panics with tokio's message, since blocking there
/// would stop every other task of that runtime (possibly the one that would
/// release us). Only slow paths get here.
pub(crate) fn blocking_section<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(feature = "tokio")]
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            return tokio::task::block_in_place(f);
        }
    }
    f()
}

/// How long a waiter may be barged before it asks for a hand-off.
///
/// Barging (a running thread taking a just-freed lock before the woken waiter
/// runs) is what makes contended throughput high, but a thread that relocks
/// in a loop could starve a waiter forever. A waiter that has waited this
/// long reserves the resource instead: from then on only it may take it
/// (eventual fairness, as parking_lot does every 0.5 ms on average).
pub(crate) const FAIR_AFTER: Duration = Duration::from_millis(1);

/// The part of a primitive that an acquire-like wait needs.
pub(crate) trait Acquire {
    /// The event whose notification means "try again".
    fn event(&self) -> &Event;
    /// Tries to take the resource. When `counted`, this waiter is in the
    /// "someone waits" count and a success also removes it from the count.
    fn try_acquire(&self, counted: bool) -> bool;
    /// Adds one waiter to the "someone waits" count.
    fn count_waiter(&self);
    /// Removes one waiter that gives up (timeout or cancellation).
    fn uncount_waiter(&self);

    /// Starvation fallback: reserves the resource for this (counted) waiter,
    /// so that nobody else can take it once it is free. `false` if the
    /// primitive has no reservation or another waiter holds it.
    fn reserve(&self) -> bool {
        false
    }
    /// The event the reserving waiter listens on.
    fn reserved_event(&self) -> &Event {
        self.event()
    }
    /// Takes the resource under our reservation (ends the reservation and
    /// the count) if it is free.
    fn try_claim(&self) -> bool {
        unreachable!("try_claim without a reservation")
    }
    /// Drops our reservation and our count (timeout or cancellation).
    fn unreserve(&self) {
        unreachable!("unreserve without a reservation")
    }
}

/// The state of one acquire-like wait: whether it is counted as a waiter
/// (and since when), whether it holds the primitive's reservation, and its
/// async listener.
#[derive(Debug, Default)]
#[allow(unreachable_pub)]
pub struct Waiting {
    counted: bool,
    reserved: bool,
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
            reserved: false,
            since: None,
            barged: 0,
            listener: None,
        }
    }

    /// The acquire loop, shared by Lock, Semaphore and the condition relock.
    pub(crate) fn poll<A: Acquire + ?Sized>(
        &mut self,
        a: &A,
        s: &mut Strategy<'_, '_>,
    ) -> Poll<()> {
        loop {
            if self.reserved {
                let arm = || a.try_claim().then_some(());
                if arm().is_some() {
                    return self.done();
                }
                match s.wait_on(a.reserved_event(), &mut self.listener, arm) {
                    Poll::Ready(Wake::Done(())) => return self.done(),
                    Poll::Ready(Wake::Woken) => continue,
                    Poll::Pending => return Poll::Pending,
                }
            }
            if a.try_acquire(self.counted) {
                return self.done();
            }
            let counted = &mut self.counted;
            let since = &mut self.since;
            let arm = || {
                if !*counted {
                    a.count_waiter();
                    *counted = true;
                    *since = Some(Instant::now());
                }
                a.try_acquire(true).then_some(())
            };
            match s.wait_on(a.event(), &mut self.listener, arm) {
                Poll::Ready(Wake::Done(())) => return self.done(),
                Poll::Ready(Wake::Woken) => {
                    // Woken, and about to compete again: if we have been
                    // barged for too long, reserve the resource.
                    self.barged += 1;
                    if self.starved() && a.reserve() {
                        self.reserved = true;
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

    /// Success: the count and any reservation ended with the acquire.
    fn done(&mut self) -> Poll<()> {
        self.counted = false;
        self.reserved = false;
        self.since = None;
        self.barged = 0;
        // A wake-up that reached us while we took the resource by ourselves
        // was meant for the release we consumed: passing it on would wake
        // the next waiter for nothing and send it to the back of the queue.
        if let Some(listener) = self.listener.take() {
            listener.discard();
        }
        Poll::Ready(())
    }

    /// Gives up: a notification already delivered to our listener passes on
    /// (`event-listener` does that when a notified listener is dropped), and
    /// we leave the waiter count and the reservation.
    pub(crate) fn cancel<A: Acquire + ?Sized>(&mut self, a: &A) {
        self.listener = None;
        if self.reserved {
            a.unreserve();
        } else if self.counted {
            a.uncount_waiter();
        }
        self.counted = false;
        self.reserved = false;
    }
}

#[cfg(feature = "tokio")]
pin_project_lite::pin_project! {
    /// A waiting future with an async time limit, made by the `timeout` and
    /// `timeout_at` methods of amphi's futures.
    ///
    /// Its output is the future's timed output: `Option<_>` for acquires
    /// (`None` when the time ran out), `bool` for [`Event`](crate::Event)
    /// waits, and `(guard, timed_out)` for [`Condition`](crate::Condition)
    /// waits, which always give the guard back.
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
    #[must_use = "futures do nothing unless you `.await` or poll them"]
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
            if let Poll::Ready(out) = this.fut.poll_op(&mut Strategy::Async(cx)) {
                return Poll::Ready(F::in_time(out));
            }
            if this.sleep.is_none() {
                let deadline = tokio::time::Instant::from_std(*this.deadline);
                this.sleep.set(Some(tokio::time::sleep_until(deadline)));
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

/// Gives a named future of amphi its `Future` impl and its blocking and timed
/// methods, all driving the one `Op` state machine.
macro_rules! waiting_future {
    (
        impl[$($gen:tt)*] $ty:ty => $out:ty, timed $timed:ty;
        example: $example:literal
    ) => {
        impl<$($gen)*> ::std::future::Future for $ty {
            type Output = $out;
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
            /// Parks the thread (no allocation, no runtime needed). On a
            /// tokio multi-thread worker it first moves the worker's other
            /// tasks away (`block_in_place`); inside a current-thread
            /// runtime's task it panics rather than stall the runtime, when
            /// it would have to wait at all.
            ///
            /// # Cancel safety
            ///
            /// Not a future; it returns only when done.
            ///
            /// # Examples
            ///
            #[doc = $example]
            pub fn wait(mut self) -> $out {
                $crate::core::block_forever(&mut self)
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
            /// another waiter.
            ///
            /// # Examples
            ///
            #[doc = $example]
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
            pub fn wait_deadline(self, deadline: ::std::time::Instant) -> $timed {
                self.wait_deadline_opt(Some(deadline))
            }

            fn wait_deadline_opt(mut self, deadline: Option<::std::time::Instant>) -> $timed {
                $crate::core::block_timed(&mut self, deadline)
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
