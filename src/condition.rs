//! [`Condition`]: a condition variable for [`Lock`] guards, shared by threads
//! and tasks.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::task::{Poll, ready};

use event_listener::{EventListener, IntoNotification, Listener};

use crate::core::{
    AtomicUsize, Census, Kind, Op, Ordering, Strategy, Waiters, Waiting, Wake, block_forever,
    blocking_mode, const_fn, spin, waiting_future,
};
use crate::lock::{Lock, LockGuard, LockGuardArc};
use crate::rlock::{RLock, RLockGuard, RLockGuardArc};
use std::sync::atomic::AtomicUsize as StdAtomicUsize;

/// A condition variable (Python's `threading.Condition`, std's `Condvar`)
/// that threads and tasks wait on together, over the same [`Lock`].
///
/// Unlike Python's, the condition does not own its lock: like std's
/// `Condvar`, it takes the guard of any [`Lock`] (borrowed [`LockGuard`] or
/// owned [`LockGuardArc`]), releases the lock while waiting, and gives back a
/// re-acquired guard. Use one lock with a given condition.
///
/// A waiter starts listening *before* it releases the lock, so a `notify`
/// made by anyone who takes the lock after it is never lost. (As with std,
/// `notify` may be called without holding the lock; a notify that does not
/// hold it can run before a concurrent waiter has started to wait, and then
/// it does not wake that waiter.) Waiters are woken in FIFO order. A waiter
/// is woken only by a notify, or by the wake-up of a waiter that a
/// `notify(n)` reached and that was cancelled before it returned (passed on
/// so that `notify(1)` is never swallowed; a `notify_all` is not passed on);
/// and another thread may change the data between the wake-up and the
/// re-acquire. So check your condition in a loop, or use
/// [`wait_while`](Self::wait_while).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use amphi::{Condition, Lock};
///
/// # #[tokio::main] async fn main() {
/// let state = Arc::new((Lock::new(Vec::<u32>::new()), Condition::new()));
///
/// // A blocking producer thread...
/// let s = Arc::clone(&state);
/// let producer = std::thread::spawn(move || {
///     let (lock, cond) = &*s;
///     lock.lock_blocking().push(7);
///     cond.notify(1);
/// });
///
/// // ...and an async consumer, on the same lock and condition.
/// let (lock, cond) = &*state;
/// let guard = cond.wait_while(lock.lock().await, |items| items.is_empty()).await;
/// assert_eq!(*guard, vec![7]);
/// # drop(guard);
/// producer.join().unwrap();
/// # }
/// ```
pub struct Condition {
    event: event_listener::Event,
    /// The "someone waits" count.
    waiters: AtomicUsize,
    /// `notify_all` calls so far: a waiter dropped after one since it
    /// started does not hand its wake-up on (a broadcast is not handed on).
    broadcasts: StdAtomicUsize,
    census: Census,
}

impl Condition {
    const_fn! {
        /// A new condition. `const`.
        ///
        /// # Examples
        ///
        /// ```
        /// static READY: amphi::Condition = amphi::Condition::new();
        /// assert_eq!(READY.notify_all(), 0);
        /// ```
        pub fn new() -> Self {
            Condition {
                event: event_listener::Event::new(),
                waiters: AtomicUsize::new(0),
                broadcasts: StdAtomicUsize::new(0),
                census: Census::new(),
            }
        }
    }

    /// Releases the guard's lock, waits for a notification, re-acquires the
    /// lock and returns the new guard. `.await` it, or block with
    /// [`wait_blocking`](Self::wait_blocking) or the future's
    /// [`wait`](ConditionWait::wait)/[`wait_timeout`](ConditionWait::wait_timeout).
    ///
    /// Timed waits give `(guard, WaitTimeoutResult)`: the lock is always
    /// re-acquired (without a time limit, as Python does) and the guard
    /// handed back; [`WaitTimeoutResult::timed_out`] says whether the time
    /// ran out (Python's `wait(t)` returns the opposite, `True` when
    /// notified: [`WaitTimeoutResult::notified`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the future gives up the guard (the lock stays
    /// released). A notification that had already reached the dropped waiter
    /// passes on to the next waiter, so `notify(1)` is never swallowed by a
    /// cancelled task.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let lock = amphi::Lock::new(0);
    /// let cond = amphi::Condition::new();
    /// let guard = lock.lock().await;
    /// let (guard, result) = cond.wait(guard).timeout(Duration::from_millis(5)).await;
    /// assert!(result.timed_out());
    /// assert_eq!(*guard, 0); // the lock is held again
    /// # }
    /// ```
    pub fn wait<G: Relock>(&self, guard: G) -> ConditionWait<'_, G> {
        ConditionWait {
            cond: self,
            phase: Phase::Start(guard),
            listener: None,
            kind: None,
            broadcasts: 0,
        }
    }

    /// Blocking [`wait`](Self::wait).
    ///
    /// # Blocking
    ///
    /// Parks the thread until notified, then until the lock is free again.
    /// On a tokio multi-thread worker it moves the worker's other tasks away
    /// first. On a thread that drives a current-thread runtime it panics at
    /// the caller's line, every time: `.await` [`wait`](Self::wait) there.
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let pair = Arc::new((amphi::Lock::new(false), amphi::Condition::new()));
    /// let p = Arc::clone(&pair);
    /// std::thread::spawn(move || {
    ///     *p.0.lock_blocking() = true;
    ///     p.1.notify_all();
    /// });
    /// let mut ready = pair.0.lock_blocking();
    /// while !*ready {
    ///     ready = pair.1.wait_blocking(ready);
    /// }
    /// ```
    #[doc(alias = "blocking_wait")]
    #[track_caller]
    pub fn wait_blocking<G: Relock>(&self, guard: G) -> G {
        let mode = blocking_mode("Condition::wait_blocking");
        block_forever(&mut self.wait(guard), mode)
    }

    /// Waits while `condition` holds for the protected value (Python
    /// `wait_for(predicate)` with the predicate negated; std's `wait_while`).
    /// Returns at once, without releasing the lock, if it does not hold.
    ///
    /// Timed waits give `(guard, WaitTimeoutResult)`, where
    /// [`timed_out`](WaitTimeoutResult::timed_out) means the condition still
    /// held when the time ran out (Python's `wait_for(pred, t)` returns the
    /// predicate's last value: `!timed_out()`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = amphi::Lock::new(3);
    /// let cond = amphi::Condition::new();
    /// let (guard, result) = cond
    ///     .wait_while(lock.lock_blocking(), |n| *n > 0)
    ///     .wait_timeout(Duration::from_millis(5));
    /// assert!(result.timed_out());
    /// assert_eq!(*guard, 3);
    /// ```
    pub fn wait_while<G, F>(&self, guard: G, condition: F) -> ConditionWaitWhile<'_, G, F>
    where
        G: Relock + Deref,
        F: FnMut(&G::Target) -> bool,
    {
        ConditionWaitWhile {
            cond: self,
            guard: Some(guard),
            inner: None,
            condition,
        }
    }

    /// Wakes up to `n` waiting threads or tasks, in FIFO order, and returns
    /// how many it woke. Waiters already woken by an earlier notify are not
    /// counted again.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = amphi::Condition::new();
    /// assert_eq!(cond.notify(1), 0); // nobody waits
    /// ```
    pub fn notify(&self, n: usize) -> usize {
        if n == 0 || self.waiters.load(Ordering::SeqCst) == 0 {
            return 0;
        }
        self.event.notify(n.additional())
    }

    /// Wakes every waiter; returns how many it woke.
    ///
    /// A broadcast: a waiter woken by it that is then dropped (a timeout, a
    /// `select!`) does not hand the wake-up on, so a waiter that starts
    /// after `notify_all` is not woken by it.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = amphi::Condition::new();
    /// assert_eq!(cond.notify_all(), 0);
    /// ```
    pub fn notify_all(&self) -> usize {
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return 0;
        }
        self.broadcasts.fetch_add(1, Ordering::SeqCst);
        self.event.notify(usize::MAX)
    }

    fn broadcasts(&self) -> usize {
        self.broadcasts.load(Ordering::SeqCst)
    }

    /// How many threads and tasks wait for a notification right now (a
    /// snapshot, kept on the slow path only; waiters that were notified and
    /// are re-acquiring the lock count as the lock's waiters).
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = amphi::Condition::new();
    /// assert_eq!(cond.waiters().total(), 0);
    /// ```
    pub fn waiters(&self) -> Waiters {
        self.census.snapshot()
    }
}

/// Whether a timed [`Condition`] wait ran out of time (std's
/// `WaitTimeoutResult`), given back beside the re-acquired guard.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let lock = amphi::Lock::new(());
/// let cond = amphi::Condition::new();
/// let (_guard, result) = cond.wait(lock.lock_blocking()).wait_timeout(Duration::from_millis(1));
/// assert!(result.timed_out());
/// assert!(!result.notified());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult {
    timed_out: bool,
}

impl WaitTimeoutResult {
    /// The time ran out: no notification came (for `wait_while`: the
    /// condition still held).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = amphi::Lock::new(0);
    /// let cond = amphi::Condition::new();
    /// let (_g, r) = cond.wait_while(lock.lock_blocking(), |n| *n == 0)
    ///     .wait_timeout(Duration::from_millis(1));
    /// assert!(r.timed_out());
    /// ```
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// The opposite of [`timed_out`](Self::timed_out): what Python's
    /// `wait(t)` and `wait_for(pred, t)` return.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = amphi::Lock::new(1);
    /// let cond = amphi::Condition::new();
    /// // The condition does not hold: returns at once, in time.
    /// let (_g, r) = cond.wait_while(lock.lock_blocking(), |n| *n == 0)
    ///     .wait_timeout(Duration::from_millis(1));
    /// assert!(r.notified());
    /// ```
    pub fn notified(&self) -> bool {
        !self.timed_out
    }
}

const IN_TIME: WaitTimeoutResult = WaitTimeoutResult { timed_out: false };
const TIMED_OUT: WaitTimeoutResult = WaitTimeoutResult { timed_out: true };

impl Default for Condition {
    fn default() -> Self {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("waiters", &self.waiters.load(Ordering::Relaxed))
            .finish()
    }
}

/// A lock guard that a [`Condition`] can release and re-acquire: the guards
/// of [`Lock`] ([`LockGuard`], [`LockGuardArc`]). Sealed.
///
/// # Examples
///
/// ```
/// fn takes_any_guard<G: amphi::Relock>(cond: &amphi::Condition, g: G) -> G {
///     cond.notify_all();
///     g
/// }
/// let lock = amphi::Lock::new(());
/// let _g = takes_any_guard(&amphi::Condition::new(), lock.lock_blocking());
/// ```
pub trait Relock: sealed::Sealed + Unpin {}

pub(crate) mod sealed {
    use super::*;

    /// How a guard is released and re-acquired by a condition wait.
    pub trait Sealed: Sized {
        /// What is kept of the guard while its lock is released.
        type Parked: Unpin;
        /// Releases the lock.
        fn park(self) -> Self::Parked;
        /// Re-acquires it.
        fn poll_relock(
            parked: &Self::Parked,
            waiting: &mut Waiting,
            s: &mut Strategy<'_, '_>,
        ) -> Poll<Self>;
        /// Gives up re-acquiring.
        fn cancel_relock(parked: &Self::Parked, waiting: &mut Waiting);
        /// The wait is dropped without re-acquiring (from the waiting or the
        /// relock phase).
        fn abandon(_parked: &Self::Parked) {}
    }
}

impl<'a, T: ?Sized> sealed::Sealed for LockGuard<'a, T> {
    type Parked = &'a Lock<T>;

    fn park(self) -> &'a Lock<T> {
        let lock = self.lock;
        drop(self);
        lock
    }

    fn poll_relock(lock: &&'a Lock<T>, w: &mut Waiting, s: &mut Strategy<'_, '_>) -> Poll<Self> {
        w.poll(lock.gate(), s).map(|r| {
            r.map_or_else(
                |_| unreachable!("a Lock is never closed"),
                |()| LockGuard::new(lock),
            )
        })
    }

    fn cancel_relock(lock: &&'a Lock<T>, w: &mut Waiting) {
        w.cancel(lock.gate());
    }
}
impl<T: ?Sized> Relock for LockGuard<'_, T> {}

impl<T: ?Sized> sealed::Sealed for LockGuardArc<T> {
    type Parked = Arc<Lock<T>>;

    fn park(self) -> Arc<Lock<T>> {
        Arc::clone(&self.lock)
    }

    fn poll_relock(lock: &Arc<Lock<T>>, w: &mut Waiting, s: &mut Strategy<'_, '_>) -> Poll<Self> {
        w.poll(lock.gate(), s).map(|r| {
            r.map_or_else(
                |_| unreachable!("a Lock is never closed"),
                |()| LockGuardArc::new(Arc::clone(lock)),
            )
        })
    }

    fn cancel_relock(lock: &Arc<Lock<T>>, w: &mut Waiting) {
        w.cancel(lock.gate());
    }
}
impl<T: ?Sized> Relock for LockGuardArc<T> {}

/// An [`RLock`] guard: the wait releases every level the owner holds and
/// restores the same depth when it re-acquires (Python's
/// `Condition(RLock())`). The owner's other guards are parked meanwhile: if
/// the wait is dropped before it re-acquires the lock, they stay outside it
/// and release nothing when dropped.
impl<'a, T: ?Sized> sealed::Sealed for RLockGuard<'a, T> {
    type Parked = (&'a RLock<T>, u64);

    fn park(self) -> Self::Parked {
        let (rlock, session) = (self.rlock, self.session);
        std::mem::forget(self);
        rlock.leave_all(session);
        (rlock, session)
    }

    fn poll_relock(parked: &Self::Parked, w: &mut Waiting, s: &mut Strategy<'_, '_>) -> Poll<Self> {
        let (rlock, session) = *parked;
        if let Some(live) = rlock.try_reenter() {
            // The caller owns the lock already (another wait of the same
            // task restored it first): re-enter; our session's outer levels
            // stay outside.
            w.cancel(rlock.inner().gate());
            rlock.abandon(session);
            return Poll::Ready(RLockGuard {
                rlock,
                session: live,
            });
        }
        w.poll(rlock.inner().gate(), s).map(|r| {
            r.unwrap_or_else(|_| unreachable!("a Lock is never closed"));
            rlock.restore(session);
            RLockGuard { rlock, session }
        })
    }

    fn cancel_relock(parked: &Self::Parked, w: &mut Waiting) {
        w.cancel(parked.0.inner().gate());
    }

    fn abandon(parked: &Self::Parked) {
        parked.0.abandon(parked.1);
    }
}
impl<T: ?Sized> Relock for RLockGuard<'_, T> {}

impl<T: ?Sized> sealed::Sealed for RLockGuardArc<T> {
    type Parked = (Arc<RLock<T>>, u64);

    fn park(self) -> Self::Parked {
        let (rlock, session) = self.into_parts();
        rlock.leave_all(session);
        (rlock, session)
    }

    fn poll_relock(parked: &Self::Parked, w: &mut Waiting, s: &mut Strategy<'_, '_>) -> Poll<Self> {
        let (rlock, session) = parked;
        if let Some(live) = rlock.try_reenter() {
            w.cancel(rlock.inner().gate());
            rlock.abandon(*session);
            return Poll::Ready(RLockGuardArc::new(Arc::clone(rlock), live));
        }
        w.poll(rlock.inner().gate(), s).map(|r| {
            r.unwrap_or_else(|_| unreachable!("a Lock is never closed"));
            rlock.restore(*session);
            RLockGuardArc::new(Arc::clone(rlock), *session)
        })
    }

    fn cancel_relock(parked: &Self::Parked, w: &mut Waiting) {
        w.cancel(parked.0.inner().gate());
    }

    fn abandon(parked: &Self::Parked) {
        parked.0.abandon(parked.1);
    }
}
impl<T: ?Sized> Relock for RLockGuardArc<T> {}

enum Phase<G: Relock> {
    /// Not started: the guard is still held.
    Start(G),
    /// Listening, lock released.
    Waiting(G::Parked),
    /// Notified (or timed out): re-acquiring the lock.
    Relock {
        parked: G::Parked,
        waiting: Waiting,
        /// Woken by a notify (passed on if we are dropped now).
        notified: bool,
        timed_out: bool,
    },
    Done,
}

/// The future of [`Condition::wait`]: gives back the re-acquired guard.
///
/// `Send` when the guard is; `Unpin`. Timed waits give
/// `(guard, WaitTimeoutResult)`.
///
/// # Cancel safety
///
/// Cancel safe (see [`Condition::wait`]).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let lock = amphi::Lock::new(());
/// let cond = amphi::Condition::new();
/// let (_guard, result) = cond.wait(lock.lock_blocking()).wait_timeout(Duration::from_millis(1));
/// assert!(result.timed_out());
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it or use `Condition::wait_blocking`"]
pub struct ConditionWait<'c, G: Relock> {
    cond: &'c Condition,
    phase: Phase<G>,
    listener: Option<EventListener>,
    /// This waiter's entry in the condition's census.
    kind: Option<Kind>,
    /// `notify_all` calls before this waiter started listening.
    broadcasts: usize,
}

impl<G: Relock> ConditionWait<'_, G> {
    fn uncount(&mut self) {
        self.cond.waiters.fetch_sub(1, Ordering::SeqCst);
        self.cond.census.leave(&mut self.kind);
    }

    fn poll_relock(&mut self, s: &mut Strategy<'_, '_>) -> Poll<(G, WaitTimeoutResult)> {
        let Phase::Relock {
            parked,
            waiting,
            timed_out,
            ..
        } = &mut self.phase
        else {
            unreachable!("poll_relock outside the relock phase")
        };
        let guard = ready!(G::poll_relock(parked, waiting, s));
        let result = if *timed_out { TIMED_OUT } else { IN_TIME };
        self.phase = Phase::Done;
        Poll::Ready((guard, result))
    }

    fn start_relock(&mut self, notified: bool) {
        let parked = match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Waiting(parked) => parked,
            _ => unreachable!("start_relock outside the waiting phase"),
        };
        self.uncount();
        self.phase = Phase::Relock {
            parked,
            waiting: Waiting::new(),
            notified,
            timed_out: !notified,
        };
    }
}

impl<G: Relock> Op for ConditionWait<'_, G> {
    type Output = G;
    type Timed = (G, WaitTimeoutResult);

    fn name(&self) -> &'static str {
        "Condition::wait"
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<G> {
        if let Phase::Start(_) | Phase::Waiting(_) = self.phase {
            let cond = self.cond;
            let kind = s.kind();
            cond.census.follow(&mut self.kind, kind);
            let phase = &mut self.phase;
            let entry = &mut self.kind;
            let broadcasts = &mut self.broadcasts;
            // Runs once the listener is in place: only then is the lock let go.
            let arm = || {
                if let Phase::Start(_) = phase {
                    cond.waiters.fetch_add(1, Ordering::SeqCst);
                    *broadcasts = cond.broadcasts();
                    cond.census.enter(entry, kind);
                    let Phase::Start(guard) = std::mem::replace(phase, Phase::Done) else {
                        unreachable!()
                    };
                    *phase = Phase::Waiting(guard.park());
                }
                None::<()>
            };
            match ready!(s.wait_on(&cond.event, &mut self.listener, arm)) {
                Wake::Woken => self.start_relock(true),
                Wake::Done(..) => unreachable!("arm never finishes the wait"),
            }
            // A blocked thread was just woken, usually by a notifier that
            // still holds the lock for a moment: spin for it before parking
            // a second time.
            if matches!(s, Strategy::Blocking(_))
                && let Poll::Ready((guard, _)) = spin(|| self.poll_relock(&mut Strategy::NoWait))
            {
                return Poll::Ready(guard);
            }
        }
        self.poll_relock(s).map(|(guard, _)| guard)
    }

    fn poll_expired(&mut self, s: &mut Strategy<'_, '_>) -> Poll<(G, WaitTimeoutResult)> {
        match &self.phase {
            Phase::Start(_) => {
                // The time ran out before we let go of the lock.
                let Phase::Start(guard) = std::mem::replace(&mut self.phase, Phase::Done) else {
                    unreachable!()
                };
                return Poll::Ready((guard, TIMED_OUT));
            }
            Phase::Waiting(_) => {
                // A notification that raced the deadline is ours: report it.
                let notified = self.listener.take().is_some_and(|l| l.discard());
                self.start_relock(notified);
            }
            Phase::Relock { .. } => {}
            Phase::Done => unreachable!("ConditionWait polled after completion"),
        }
        self.poll_relock(s)
    }

    fn in_time(guard: G) -> (G, WaitTimeoutResult) {
        (guard, IN_TIME)
    }
}

impl<G: Relock> Drop for ConditionWait<'_, G> {
    fn drop(&mut self) {
        match &mut self.phase {
            Phase::Waiting(parked) => {
                G::abandon(parked);
                if self.cond.broadcasts() != self.broadcasts {
                    // A `notify_all` came since we started: whatever woke us
                    // woke everyone; hand nothing on.
                    if let Some(l) = self.listener.take() {
                        l.discard();
                    }
                }
                // Dropping a notified listener passes its notification on.
                self.listener = None;
                self.uncount();
            }
            Phase::Relock {
                parked,
                waiting,
                notified,
                ..
            } => {
                G::cancel_relock(parked, waiting);
                G::abandon(parked);
                if *notified && self.cond.broadcasts() == self.broadcasts {
                    // Woken by a `notify(n)` but we will never return: wake
                    // someone else.
                    self.cond.notify(1);
                }
            }
            Phase::Start(_) | Phase::Done => {}
        }
    }
}

impl<G: Relock> fmt::Debug for ConditionWait<'_, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionWait").finish_non_exhaustive()
    }
}

waiting_future! {
    impl['c, G: Relock] ConditionWait<'c, G> => G, timed (G, WaitTimeoutResult);
    example: "```
use std::time::Duration;
let lock = amphi::Lock::new(());
let cond = amphi::Condition::new();
let (guard, result) = cond.wait(lock.lock_blocking()).wait_timeout(Duration::from_millis(1));
assert!(result.timed_out());
drop(guard);
```"
}

/// The future of [`Condition::wait_while`]. Timed waits give
/// `(guard, WaitTimeoutResult)`.
///
/// `Send` when the guard and the closure are; `Unpin` when the closure is.
///
/// # Cancel safety
///
/// Cancel safe (see [`Condition::wait`]).
///
/// # Examples
///
/// ```
/// let lock = amphi::Lock::new(0);
/// let cond = amphi::Condition::new();
/// // Returns at once: the condition does not hold.
/// let guard = cond.wait_while(lock.lock_blocking(), |n| *n > 0).wait();
/// assert_eq!(*guard, 0);
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it"]
pub struct ConditionWaitWhile<'c, G: Relock, F> {
    cond: &'c Condition,
    guard: Option<G>,
    inner: Option<ConditionWait<'c, G>>,
    condition: F,
}

impl<G, F> Op for ConditionWaitWhile<'_, G, F>
where
    G: Relock + Deref,
    F: FnMut(&G::Target) -> bool,
{
    type Output = G;
    type Timed = (G, WaitTimeoutResult);

    fn name(&self) -> &'static str {
        "Condition::wait_while"
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<G> {
        loop {
            if let Some(inner) = &mut self.inner {
                let guard = ready!(inner.poll_op(s));
                self.inner = None;
                self.guard = Some(guard);
            }
            let mut guard = self
                .guard
                .take()
                .expect("ConditionWaitWhile polled after completion");
            if !(self.condition)(&mut guard) {
                return Poll::Ready(guard);
            }
            self.inner = Some(self.cond.wait(guard));
        }
    }

    fn poll_expired(&mut self, s: &mut Strategy<'_, '_>) -> Poll<(G, WaitTimeoutResult)> {
        if let Some(inner) = &mut self.inner {
            let (guard, _) = ready!(inner.poll_expired(s));
            self.inner = None;
            self.guard = Some(guard);
        }
        let mut guard = self
            .guard
            .take()
            .expect("ConditionWaitWhile polled after completion");
        let still = (self.condition)(&mut guard);
        Poll::Ready((guard, if still { TIMED_OUT } else { IN_TIME }))
    }

    fn in_time(guard: G) -> (G, WaitTimeoutResult) {
        (guard, IN_TIME)
    }
}

impl<G: Relock, F> fmt::Debug for ConditionWaitWhile<'_, G, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionWaitWhile").finish_non_exhaustive()
    }
}

waiting_future! {
    impl['c, G: Relock + Deref, F: FnMut(&G::Target) -> bool + Unpin] ConditionWaitWhile<'c, G, F> => G, timed (G, WaitTimeoutResult);
    example: "```
use std::time::Duration;
let lock = amphi::Lock::new(1);
let cond = amphi::Condition::new();
let (guard, result) = cond
    .wait_while(lock.lock_blocking(), |n| *n != 0)
    .wait_timeout(Duration::from_millis(1));
assert!(result.timed_out() && *guard == 1);
```"
}
