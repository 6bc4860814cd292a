//! [`Semaphore`] and [`BoundedSemaphore`]: counted permits for threads and
//! tasks.

use std::fmt;
use std::sync::Arc;
use std::task::Poll;

use event_listener::{Event, IntoNotification};

use crate::core::{
    Acquire, AtomicUsize, Op, Ordering, Strategy, Waiting, const_fn, waiting_future,
};

/// A counter of permits (Python's `threading.Semaphore`), shared by threads
/// and tasks.
///
/// [`acquire`](Self::acquire) takes one permit, waiting while there is none;
/// the returned [`SemaphorePermit`] gives it back on drop (or
/// [`forget`](SemaphorePermit::forget) it, as a Python `acquire()` without
/// `release()`). [`release(n)`](Self::release) adds `n` permits and wakes up
/// to `n` waiters (Python 3.9+).
///
/// **Fairness**: waiters are woken in FIFO order; a running thread or task may
/// take a freed permit first (barging). A waiter barged for more than a
/// millisecond reserves the next permit: until it has it, nobody else takes
/// one. So no waiter starves.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// # #[tokio::main] async fn main() {
/// let sem = Arc::new(amphi::Semaphore::new(2));
/// let a = sem.acquire().await;
/// let b = sem.acquire_blocking();
/// assert!(sem.try_acquire().is_none());
/// drop(a);
/// assert_eq!(sem.available(), 1);
/// # drop(b);
/// # }
/// ```
pub struct Semaphore {
    /// Free permits times `PERMIT`, plus the "someone waits" count in the
    /// low bits. One word, so that a release learns whether anyone waits
    /// from the same read-modify-write that adds the permit, and a waiter
    /// that announces itself sees every earlier release: no lost wake-up,
    /// without relying on `SeqCst` fences (the loom model checks it).
    state: AtomicUsize,
    event: Event,
    /// Where the waiter holding the reservation listens.
    reserved: Event,
    /// The most permits `release` may leave: `MAX_PERMITS`, or a
    /// [`BoundedSemaphore`]'s initial value.
    bound: usize,
}

/// Bits of `Semaphore::state` below the permits: the waiter count and the
/// `RESERVED` flag.
const WAITER_BITS: u32 = usize::BITS / 2;
/// One waiter.
const WAITER: usize = 1;
/// Set while a starved waiter has reserved the next permit.
const RESERVED: usize = 1 << (WAITER_BITS - 1);
/// The waiter count.
const WAITER_MASK: usize = RESERVED - 1;
/// One permit.
const PERMIT: usize = 1 << WAITER_BITS;

impl Semaphore {
    /// The most permits a semaphore can hold (2^31 - 1 on 64-bit targets);
    /// [`release`](Self::release) beyond it panics.
    pub const MAX_PERMITS: usize = usize::MAX >> WAITER_BITS >> 1;

    const_fn! {
        /// A semaphore with `permits` permits. `const`.
        ///
        /// # Panics
        ///
        /// If `permits` exceeds [`MAX_PERMITS`](Self::MAX_PERMITS).
        ///
        /// # Examples
        ///
        /// ```
        /// static POOL: amphi::Semaphore = amphi::Semaphore::new(4);
        /// assert_eq!(POOL.available(), 4);
        /// ```
        pub fn new(permits: usize) -> Self {
            assert!(
                permits <= Self::MAX_PERMITS,
                "amphi::Semaphore: more than MAX_PERMITS permits"
            );
            Semaphore {
                state: AtomicUsize::new(permits * PERMIT),
                event: Event::new(),
                reserved: Event::new(),
                bound: Self::MAX_PERMITS,
            }
        }
    }

    /// Takes one permit, waiting while there is none; `.await` it, or block
    /// with [`AcquireFuture::wait`] and its timed variants.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped future holds no permit, and a wake-up it had
    /// been given passes on to the next waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let sem = amphi::Semaphore::new(1);
    /// let permit = sem.acquire().await;
    /// assert_eq!(sem.available(), 0);
    /// drop(permit);
    /// assert_eq!(sem.available(), 1);
    /// # }
    /// ```
    pub fn acquire(&self) -> AcquireFuture<'_> {
        AcquireFuture {
            sem: self,
            waiting: Waiting::new(),
        }
    }

    /// Takes one permit, blocking the thread while there is none.
    ///
    /// # Blocking
    ///
    /// Parks the thread without allocating; on a tokio multi-thread worker it
    /// moves the worker's other tasks away first; inside a current-thread
    /// runtime's task it panics if it would have to wait.
    ///
    /// # Cancel safety
    ///
    /// Not a future; it returns only with a permit.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = amphi::Semaphore::new(1);
    /// let permit = sem.acquire_blocking();
    /// assert!(sem.try_acquire().is_none());
    /// # drop(permit);
    /// ```
    #[doc(alias = "blocking_acquire")]
    pub fn acquire_blocking(&self) -> SemaphorePermit<'_> {
        match self.try_acquire() {
            Some(permit) => permit,
            None => self.acquire().wait(),
        }
    }

    /// Takes a permit if one is free right now (Python
    /// `acquire(blocking=False)`).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = amphi::Semaphore::new(0);
    /// assert!(sem.try_acquire().is_none());
    /// sem.release(1);
    /// assert!(sem.try_acquire().is_some());
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        Acquire::try_acquire(self, false).then(|| SemaphorePermit { sem: self })
    }

    /// [`acquire`](Self::acquire) through an `Arc`, with an owned permit for
    /// `'static` work.
    ///
    /// # Cancel safety
    ///
    /// As [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # #[tokio::main] async fn main() {
    /// let sem = Arc::new(amphi::Semaphore::new(1));
    /// let permit = sem.acquire_arc().await;
    /// tokio::spawn(async move { drop(permit) }).await.unwrap();
    /// assert_eq!(sem.available(), 1);
    /// # }
    /// ```
    pub fn acquire_arc(self: &Arc<Self>) -> AcquireArcFuture {
        AcquireArcFuture {
            sem: Some(Arc::clone(self)),
            waiting: Waiting::new(),
        }
    }

    /// Blocking [`acquire_arc`](Self::acquire_arc).
    ///
    /// # Blocking
    ///
    /// As [`acquire_blocking`](Self::acquire_blocking).
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(amphi::Semaphore::new(1));
    /// let permit = sem.acquire_arc_blocking();
    /// std::thread::spawn(move || drop(permit)).join().unwrap();
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn acquire_arc_blocking(self: &Arc<Self>) -> SemaphorePermitArc {
        match self.try_acquire_arc() {
            Some(permit) => permit,
            None => self.acquire_arc().wait(),
        }
    }

    /// [`try_acquire`](Self::try_acquire) with an owned permit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(amphi::Semaphore::new(1));
    /// let p = sem.try_acquire_arc().unwrap();
    /// assert!(sem.try_acquire_arc().is_none());
    /// # drop(p);
    /// ```
    pub fn try_acquire_arc(self: &Arc<Self>) -> Option<SemaphorePermitArc> {
        Acquire::try_acquire(&**self, false).then(|| SemaphorePermitArc {
            sem: Some(Arc::clone(self)),
        })
    }

    /// Adds `n` permits and wakes up to `n` waiters (Python `release(n)`).
    /// `release(0)` does nothing.
    ///
    /// # Panics
    ///
    /// If the count would exceed [`MAX_PERMITS`](Self::MAX_PERMITS); the
    /// count is then left unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = amphi::Semaphore::new(0);
    /// sem.release(3);
    /// assert_eq!(sem.available(), 3);
    /// ```
    pub fn release(&self, n: usize) {
        if let Err(e) = self.add(n) {
            panic!("amphi::Semaphore::release: {e}");
        }
    }

    /// Adds `n` permits unless that passes the bound, then wakes up to `n`
    /// waiters.
    fn add(&self, n: usize) -> Result<(), OverRelease> {
        if n == 0 {
            return Ok(());
        }
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let p = s / PERMIT;
            if p.checked_add(n).is_none_or(|total| total > self.bound) {
                return Err(OverRelease {
                    requested: n,
                    available: p,
                    bound: self.bound,
                });
            }
            match self.state.compare_exchange_weak(
                s,
                s + n * PERMIT,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        self.wake(s, n);
        Ok(())
    }

    /// The number of free permits right now (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = amphi::Semaphore::new(5);
    /// let _p = sem.try_acquire();
    /// assert_eq!(sem.available(), 4);
    /// ```
    pub fn available(&self) -> usize {
        self.state.load(Ordering::Acquire) / PERMIT
    }

    /// Gives one permit back (permit drop): one atomic read-modify-write,
    /// plus a notify only when someone waits.
    #[inline]
    fn give_back(&self) {
        if self.bound == Self::MAX_PERMITS {
            let prev = self.state.fetch_add(PERMIT, Ordering::AcqRel);
            if prev & (WAITER_MASK | RESERVED) != 0 {
                self.wake(prev, 1);
            }
        } else {
            // A bounded semaphore that is already full (after a manual
            // release) does not count this permit back.
            let _ = self.add(1);
        }
    }

    /// After `n` permits were added to a state that was `prev`: wakes the
    /// reserving waiter if there is one (the others wait for it to claim),
    /// else `n` more waiters. Additional notifications: `n` new permits
    /// exist, whatever wake-ups are still on their way.
    #[cold]
    fn wake(&self, prev: usize, n: usize) {
        if prev & RESERVED != 0 {
            self.reserved.notify(1);
        } else if prev & WAITER_MASK != 0 {
            self.event.notify(n.additional());
        }
    }

    /// Wakes the ordinary waiters for the permits in `state`, which may have
    /// been released while a reservation kept them asleep.
    fn wake_after_reservation(&self, state: usize) {
        let free = state / PERMIT;
        let waiting = state & WAITER_MASK;
        if free > 0 && waiting > 0 {
            self.event.notify(free.min(waiting).additional());
        }
    }
}

impl Acquire for Semaphore {
    fn event(&self) -> &Event {
        &self.event
    }

    #[inline]
    fn try_acquire(&self, counted: bool) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s < PERMIT || s & RESERVED != 0 {
                return false;
            }
            let new = s - PERMIT - if counted { WAITER } else { 0 };
            match self
                .state
                .compare_exchange_weak(s, new, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    fn count_waiter(&self) {
        // Only reachable with 32767 waiters on a 32-bit target: refuse
        // before the count could carry into the `RESERVED` bit.
        let counted = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |s| {
                (s & WAITER_MASK != WAITER_MASK).then_some(s + WAITER)
            });
        assert!(counted.is_ok(), "amphi::Semaphore: too many waiters");
    }

    fn uncount_waiter(&self) {
        let prev = self.state.fetch_sub(WAITER, Ordering::AcqRel);
        // If permits are free and others wait, make sure one of them looks
        // (under a reservation, the release already woke the reserver).
        if prev >= PERMIT && prev & RESERVED == 0 && prev & WAITER_MASK > 1 {
            self.event.notify(1);
        }
    }

    fn reserve(&self) -> bool {
        // A permit is free: just compete. Already reserved: keep waiting.
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |s| {
                (s < PERMIT && s & RESERVED == 0).then_some(s | RESERVED)
            })
            .is_ok()
    }

    fn reserved_event(&self) -> &Event {
        &self.reserved
    }

    fn try_claim(&self) -> bool {
        let claimed = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |s| {
                (s >= PERMIT).then(|| s - PERMIT - WAITER - RESERVED)
            });
        match claimed {
            Ok(prev) => {
                self.wake_after_reservation(prev - PERMIT - WAITER - RESERVED);
                true
            }
            Err(_) => false,
        }
    }

    fn unreserve(&self) {
        let prev = self.state.fetch_sub(RESERVED + WAITER, Ordering::AcqRel);
        self.wake_after_reservation(prev - RESERVED - WAITER);
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available())
            .finish_non_exhaustive()
    }
}

/// A permit of a [`Semaphore`] (or [`BoundedSemaphore`]); released on drop.
///
/// `Send` and `Sync`.
///
/// # Examples
///
/// ```
/// let sem = amphi::Semaphore::new(1);
/// let permit = sem.acquire_blocking();
/// permit.forget(); // never given back
/// assert_eq!(sem.available(), 0);
/// ```
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken for good (Python: `acquire()` with no
    /// `release()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = amphi::Semaphore::new(2);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.sem.give_back();
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

/// An owned permit of a semaphore in an `Arc`; released on drop.
///
/// `Send`, `Sync` and `'static`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let sem = Arc::new(amphi::Semaphore::new(1));
/// let permit: amphi::SemaphorePermitArc = sem.acquire_arc_blocking();
/// drop(permit);
/// assert_eq!(sem.available(), 1);
/// ```
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermitArc {
    /// `None` once forgotten.
    sem: Option<Arc<Semaphore>>,
}

impl SemaphorePermitArc {
    /// Keeps the permit taken for good.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(amphi::Semaphore::new(1));
    /// sem.acquire_arc_blocking().forget();
    /// assert_eq!(sem.available(), 0);
    /// ```
    pub fn forget(mut self) {
        self.sem = None;
    }
}

impl Drop for SemaphorePermitArc {
    fn drop(&mut self) {
        if let Some(sem) = &self.sem {
            sem.give_back();
        }
    }
}

impl fmt::Debug for SemaphorePermitArc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermitArc").finish_non_exhaustive()
    }
}

/// The future of [`Semaphore::acquire`]. `Send`, `Sync`, `Unpin`.
///
/// # Cancel safety
///
/// Cancel safe.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let sem = amphi::Semaphore::new(0);
/// assert!(sem.acquire().wait_timeout(Duration::from_millis(1)).is_none());
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct AcquireFuture<'a> {
    sem: &'a Semaphore,
    waiting: Waiting,
}

impl<'a> Op for AcquireFuture<'a> {
    const SPIN: bool = true;
    type Output = SemaphorePermit<'a>;
    type Timed = Option<SemaphorePermit<'a>>;

    #[inline]
    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Output> {
        let sem = self.sem;
        self.waiting.poll(sem, s).map(|()| SemaphorePermit { sem })
    }

    fn poll_expired(&mut self, _: &mut Strategy<'_, '_>) -> Poll<Self::Timed> {
        self.waiting.cancel(self.sem);
        Poll::Ready(None)
    }

    fn in_time(out: Self::Output) -> Self::Timed {
        Some(out)
    }
}

impl Drop for AcquireFuture<'_> {
    fn drop(&mut self) {
        self.waiting.cancel(self.sem);
    }
}

impl fmt::Debug for AcquireFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireFuture").finish_non_exhaustive()
    }
}

waiting_future! {
    impl['a] AcquireFuture<'a> => SemaphorePermit<'a>, timed Option<SemaphorePermit<'a>>;
    example: "```
use std::time::Duration;
let sem = amphi::Semaphore::new(0);
assert!(sem.acquire().wait_timeout(Duration::from_millis(1)).is_none());
sem.release(1);
let _permit = sem.acquire().wait();
```"
}

/// The future of [`Semaphore::acquire_arc`]. `Send`, `Sync`, `Unpin`,
/// `'static`.
///
/// # Cancel safety
///
/// Cancel safe.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let sem = Arc::new(amphi::Semaphore::new(1));
/// let _permit = sem.acquire_arc().wait();
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct AcquireArcFuture {
    sem: Option<Arc<Semaphore>>,
    waiting: Waiting,
}

impl Op for AcquireArcFuture {
    const SPIN: bool = true;
    type Output = SemaphorePermitArc;
    type Timed = Option<SemaphorePermitArc>;

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Output> {
        let sem = self
            .sem
            .as_ref()
            .expect("AcquireArcFuture polled after completion");
        std::task::ready!(self.waiting.poll(&**sem, s));
        Poll::Ready(SemaphorePermitArc {
            sem: self.sem.take(),
        })
    }

    fn poll_expired(&mut self, _: &mut Strategy<'_, '_>) -> Poll<Self::Timed> {
        if let Some(sem) = &self.sem {
            self.waiting.cancel(&**sem);
        }
        Poll::Ready(None)
    }

    fn in_time(out: Self::Output) -> Self::Timed {
        Some(out)
    }
}

impl Drop for AcquireArcFuture {
    fn drop(&mut self) {
        if let Some(sem) = &self.sem {
            self.waiting.cancel(&**sem);
        }
    }
}

impl fmt::Debug for AcquireArcFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireArcFuture").finish_non_exhaustive()
    }
}

waiting_future! {
    impl[] AcquireArcFuture => SemaphorePermitArc, timed Option<SemaphorePermitArc>;
    example: "```
use std::sync::Arc;
use std::time::Duration;
let sem = Arc::new(amphi::Semaphore::new(1));
let held = sem.acquire_arc().wait();
assert!(sem.acquire_arc().wait_timeout(Duration::from_millis(1)).is_none());
drop(held);
```"
}

/// The error of [`BoundedSemaphore::release`] past the initial value (Python
/// raises `ValueError`). The semaphore is left unchanged.
///
/// # Examples
///
/// ```
/// let sem = amphi::BoundedSemaphore::new(1);
/// let err = sem.release(1).unwrap_err();
/// assert_eq!(err.requested, 1);
/// assert_eq!(sem.available(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OverRelease {
    /// Permits the call tried to add.
    pub requested: usize,
    /// Permits free at the time of the call.
    pub available: usize,
    /// The initial (and largest allowed) number of permits.
    pub bound: usize,
}

impl fmt::Display for OverRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BoundedSemaphore released too many times: {} + {} would exceed the bound {}",
            self.available, self.requested, self.bound
        )
    }
}

impl std::error::Error for OverRelease {}

/// A [`Semaphore`] that refuses to grow past its initial value (Python's
/// `threading.BoundedSemaphore`).
///
/// It derefs to a [`Semaphore`] for everything else (`acquire`,
/// `acquire_blocking`, `try_acquire`, `available`, ...), whose permits are the
/// same [`SemaphorePermit`]s. Its own [`release`](Self::release) returns an
/// error past the bound (the deref'd `Semaphore::release` panics there
/// instead). A permit dropped while the count is already at the bound (after
/// a manual `release`) is not counted back, so the bound always holds.
/// Owned (`Arc`) permits are only offered by [`Semaphore`].
///
/// # Examples
///
/// ```
/// let sem = amphi::BoundedSemaphore::new(2);
/// sem.acquire_blocking().forget();
/// assert!(sem.release(1).is_ok());
/// assert!(sem.release(1).is_err()); // would be 3 > 2
/// assert_eq!(sem.available(), 2);
/// ```
pub struct BoundedSemaphore {
    sem: Semaphore,
}

impl BoundedSemaphore {
    const_fn! {
        /// A bounded semaphore with `permits` permits, which is also its bound.
        ///
        /// # Panics
        ///
        /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
        ///
        /// # Examples
        ///
        /// ```
        /// let sem = amphi::BoundedSemaphore::new(3);
        /// assert_eq!(sem.bound(), 3);
        /// ```
        pub fn new(permits: usize) -> Self {
            let mut sem = Semaphore::new(permits);
            sem.bound = permits;
            BoundedSemaphore { sem }
        }
    }

    /// The initial number of permits, which `release` cannot exceed.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(amphi::BoundedSemaphore::new(4).bound(), 4);
    /// ```
    pub fn bound(&self) -> usize {
        self.sem.bound
    }

    /// Adds `n` permits and wakes up to `n` waiters, unless the count would
    /// exceed the bound: then nothing changes and the error says why.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = amphi::BoundedSemaphore::new(1);
    /// let p = sem.acquire_blocking();
    /// p.forget();
    /// sem.release(1).unwrap();
    /// assert!(sem.release(1).is_err());
    /// ```
    pub fn release(&self, n: usize) -> Result<(), OverRelease> {
        if n == 0 {
            return Ok(());
        }
        self.sem.add(n)
    }
}

impl std::ops::Deref for BoundedSemaphore {
    type Target = Semaphore;
    fn deref(&self) -> &Semaphore {
        &self.sem
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("available", &self.available())
            .field("bound", &self.sem.bound)
            .finish()
    }
}
