//! [`Semaphore`] and [`BoundedSemaphore`]: counted permits for threads and
//! tasks.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize as StdAtomicUsize;

use crate::core::{
    Acquiring, Attempt, Gate, Handle, Ordering, Waiters, Word, block_forever, blocking_mode,
    const_fn,
};

/// Bits of the state word below the permits: the waiter count and the
/// `CLOSED` and `RESERVED` flags.
const WAITER_BITS: u32 = usize::BITS / 2;
/// One waiter.
const WAITER: usize = 1;
/// Set while a starved waiter has reserved the next permit.
const RESERVED: usize = 1 << (WAITER_BITS - 1);
/// Set once the semaphore is closed.
const CLOSED: usize = 1 << (WAITER_BITS - 2);
/// The waiter count.
const WAITER_MASK: usize = CLOSED - 1;
/// One permit.
const PERMIT: usize = 1 << WAITER_BITS;

/// The layout of a semaphore's state word, for the waiting core.
#[derive(Debug)]
#[allow(unreachable_pub)]
pub struct SemaphoreWord;

impl Word for SemaphoreWord {
    const WAITER: usize = WAITER;
    const WAITER_MASK: usize = WAITER_MASK;
    const RESERVED: usize = RESERVED;
    const CLOSED: usize = CLOSED;
    const ADDITIONAL: bool = true;
    #[inline]
    fn units(s: usize) -> usize {
        s / PERMIT
    }
    #[inline]
    fn take(s: usize) -> usize {
        s - PERMIT
    }
}

/// A counter of permits (Python's `threading.Semaphore`), shared by threads
/// and tasks.
///
/// [`acquire`](Self::acquire) takes one permit, waiting while there is none;
/// the returned [`SemaphorePermit`] gives it back on drop (or
/// [`forget`](SemaphorePermit::forget) it, as a Python `acquire()` without
/// `release()`). [`release(n)`](Self::release) adds `n` permits and wakes up
/// to `n` waiters (Python 3.9+). [`close`](Self::close) (not in Python)
/// wakes every waiter with [`Closed`], so that blocking code has a clean way
/// to shut down.
///
/// Acquires give `Result<permit, Closed>`: on a semaphore that is never
/// closed the error cannot happen (`.expect("semaphore is never closed")`).
///
/// **Fairness**: waiters are woken in FIFO order; a running thread or task may
/// take a freed permit first (barging). A waiter that has waited for more
/// than a millisecond and then loses one more race reserves the next permit:
/// until it has it, nobody else takes one. So no waiter starves. A reserving
/// waiter that does not come (a future nobody polls) holds the freed permit
/// for at most 2 ms: then the next `try_acquire` or arriving waiter ends the
/// reservation.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// # #[tokio::main] async fn main() -> Result<(), amphi::Closed> {
/// let sem = Arc::new(amphi::Semaphore::new(2));
/// let a = sem.acquire().await?;
/// let b = sem.acquire_blocking()?;
/// assert!(sem.try_acquire().is_err());
/// drop(a);
/// assert_eq!(sem.available(), 1);
/// # drop(b);
/// # Ok(())
/// # }
/// ```
pub struct Semaphore {
    /// Free permits times `PERMIT`, plus the "someone waits" count and the
    /// flags in the low bits. One word, so that a release learns whether
    /// anyone waits from the same read-modify-write that adds the permit,
    /// and a waiter that announces itself sees every earlier release: no
    /// lost wake-up, without relying on `SeqCst` fences (the loom model
    /// checks it).
    gate: Gate<SemaphoreWord>,
    /// Permits that are not forgotten: free ones plus those held as
    /// permits. Only `release` and `forget` change it, and `release` may not
    /// take it past `bound`; so permit drops, which do not look at it, can
    /// never pass the bound either.
    total: StdAtomicUsize,
    /// [`MAX_PERMITS`](Self::MAX_PERMITS), or a [`BoundedSemaphore`]'s
    /// initial value.
    bound: usize,
}

impl Semaphore {
    /// The most permits a semaphore can hold (2^31 - 1 on 64-bit targets,
    /// 2^15 - 1 on 32-bit ones); [`release`](Self::release) beyond it panics.
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
                "amphi::Semaphore::new: more than Semaphore::MAX_PERMITS permits"
            );
            Semaphore::with_bound(permits, Self::MAX_PERMITS)
        }
    }

    const_fn! {
        fn with_bound(permits: usize, bound: usize) -> Self {
            Semaphore {
                gate: Gate::new(permits * PERMIT),
                total: StdAtomicUsize::new(permits),
                bound,
            }
        }
    }

    /// Takes one permit, waiting while there is none; `.await` it, or block
    /// with [`AcquireFuture::wait`] and its timed variants. `Err(Closed)` once
    /// the semaphore is [closed](Self::close).
    ///
    /// Timed forms give `Result<permit, AcquireTimeoutError>`.
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
    /// let permit = sem.acquire().await.unwrap();
    /// assert_eq!(sem.available(), 0);
    /// drop(permit);
    /// assert_eq!(sem.available(), 1);
    /// # }
    /// ```
    pub fn acquire(&self) -> AcquireFuture<'_> {
        Acquiring::new(self)
    }

    /// Takes one permit, blocking the thread while there is none.
    ///
    /// # Blocking
    ///
    /// Parks the thread without allocating; on a tokio multi-thread worker it
    /// moves the worker's other tasks away first. On a thread that drives a
    /// current-thread runtime it panics at the caller's line, every time,
    /// even with permits free: `.await` [`acquire`](Self::acquire) there.
    ///
    /// # Cancel safety
    ///
    /// Not a future; it returns only with a permit, or `Err(Closed)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = amphi::Semaphore::new(1);
    /// let permit = sem.acquire_blocking().unwrap();
    /// assert!(sem.try_acquire().is_err());
    /// # drop(permit);
    /// ```
    #[doc(alias = "blocking_acquire")]
    #[track_caller]
    pub fn acquire_blocking(&self) -> Result<SemaphorePermit<'_>, Closed> {
        let mode = blocking_mode("Semaphore::acquire_blocking");
        match self.try_acquire() {
            Ok(permit) => Ok(permit),
            Err(TryAcquireError::Closed) => Err(Closed),
            Err(TryAcquireError::NoPermits) => block_forever(&mut self.acquire(), mode),
        }
    }

    /// Takes a permit if one is free right now (Python
    /// `acquire(blocking=False)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use amphi::TryAcquireError;
    /// let sem = amphi::Semaphore::new(0);
    /// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    /// sem.release(1);
    /// assert!(sem.try_acquire().is_ok());
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        match self.gate.try_acquire(false) {
            Attempt::Acquired => Ok(SemaphorePermit { sem: self }),
            Attempt::Busy | Attempt::Held => Err(TryAcquireError::NoPermits),
            Attempt::Closed => Err(TryAcquireError::Closed),
        }
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
    /// let permit = sem.acquire_arc().await.unwrap();
    /// tokio::spawn(async move { drop(permit) }).await.unwrap();
    /// assert_eq!(sem.available(), 1);
    /// # }
    /// ```
    pub fn acquire_arc(self: &Arc<Self>) -> AcquireArcFuture {
        Acquiring::new(Arc::clone(self))
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
    /// let permit = sem.acquire_arc_blocking().unwrap();
    /// std::thread::spawn(move || drop(permit)).join().unwrap();
    /// assert_eq!(sem.available(), 1);
    /// ```
    #[track_caller]
    pub fn acquire_arc_blocking(self: &Arc<Self>) -> Result<SemaphorePermitArc, Closed> {
        arc_blocking(self, "Semaphore::acquire_arc_blocking")
    }

    /// [`try_acquire`](Self::try_acquire) with an owned permit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(amphi::Semaphore::new(1));
    /// let p = sem.try_acquire_arc().unwrap();
    /// assert!(sem.try_acquire_arc().is_err());
    /// # drop(p);
    /// ```
    pub fn try_acquire_arc(self: &Arc<Self>) -> Result<SemaphorePermitArc, TryAcquireError> {
        try_arc(self)
    }

    /// Adds `n` permits and wakes up to `n` waiters (Python `release(n)`).
    /// `release(0)` does nothing. Works on a closed semaphore too (the
    /// permits are counted; acquires still fail).
    ///
    /// # Panics
    ///
    /// If the permits (free, held as permits, and `n`) would exceed
    /// [`MAX_PERMITS`](Self::MAX_PERMITS); the count is then left unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = amphi::Semaphore::new(0);
    /// sem.release(3);
    /// assert_eq!(sem.available(), 3);
    /// ```
    #[track_caller]
    pub fn release(&self, n: usize) {
        if let Err(e) = self.add(n) {
            panic!(
                "amphi::Semaphore::release({n}): the permits would pass Semaphore::MAX_PERMITS \
                 ({}), with {} free or held",
                Self::MAX_PERMITS,
                e.bound - e.releasable
            );
        }
    }

    /// Adds `n` permits unless that passes the bound, then wakes up to `n`
    /// waiters.
    fn add(&self, n: usize) -> Result<(), OverRelease> {
        if n == 0 {
            return Ok(());
        }
        let bound = self.bound;
        self.total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                t.checked_add(n).filter(|&after| after <= bound)
            })
            .map_err(|t| OverRelease {
                requested: n,
                releasable: bound - t,
                bound,
            })?;
        let prev = self.gate.state.fetch_add(n * PERMIT, Ordering::AcqRel);
        if prev & (WAITER_MASK | RESERVED) != 0 {
            self.gate.released(n, prev);
        }
        Ok(())
    }

    /// Closes the semaphore (tokio's `Semaphore::close`; not in Python):
    /// every waiting thread and task wakes with [`Closed`], and every later
    /// acquire fails at once, even with permits free. Permits already held
    /// stay valid and are counted back when dropped. Returns `false` if it
    /// was closed already.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(amphi::Semaphore::new(0));
    /// let s = Arc::clone(&sem);
    /// let worker = std::thread::spawn(move || s.acquire_blocking().is_err());
    /// while sem.waiters().threads == 0 {
    ///     std::thread::yield_now();
    /// }
    /// assert!(sem.close());
    /// assert!(worker.join().unwrap()); // woke with Err(Closed)
    /// assert!(sem.is_closed());
    /// ```
    pub fn close(&self) -> bool {
        self.gate.close()
    }

    /// Whether [`close`](Self::close) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = amphi::Semaphore::new(1);
    /// assert!(!sem.is_closed());
    /// sem.close();
    /// assert!(sem.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.gate.state.load(Ordering::Acquire) & CLOSED != 0
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
        self.gate.state.load(Ordering::Acquire) / PERMIT
    }

    /// How many threads and tasks wait for a permit right now (a snapshot,
    /// kept on the slow path only).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = amphi::Semaphore::new(1);
    /// assert_eq!(sem.waiters().total(), 0);
    /// ```
    pub fn waiters(&self) -> Waiters {
        self.gate.waiters()
    }

    /// Gives one permit back (permit drop): one atomic read-modify-write,
    /// plus a notify only when someone waits. Never passes the bound: the
    /// permit was counted in `total` when it was taken.
    #[inline]
    fn give_back(&self) {
        let prev = self.gate.state.fetch_add(PERMIT, Ordering::AcqRel);
        if prev & (WAITER_MASK | RESERVED) != 0 {
            self.gate.released(1, prev);
        }
    }

    /// A permit is kept for good: it leaves `total`, so a later `release`
    /// may put it back.
    fn forgotten(&self) {
        self.total.fetch_sub(1, Ordering::AcqRel);
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// A semaphore that can stand behind an owned permit: [`Semaphore`] or
/// [`BoundedSemaphore`]. Sealed.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// fn free<S: amphi::AsSemaphore>(_: &Arc<S>) {}
/// free(&Arc::new(amphi::BoundedSemaphore::new(1)));
/// ```
pub trait AsSemaphore: sealed::Sealed + Send + Sync + 'static {}

mod sealed {
    pub trait Sealed {
        fn semaphore(&self) -> &super::Semaphore;
    }
}

impl sealed::Sealed for Semaphore {
    fn semaphore(&self) -> &Semaphore {
        self
    }
}
impl AsSemaphore for Semaphore {}

impl sealed::Sealed for BoundedSemaphore {
    fn semaphore(&self) -> &Semaphore {
        &self.sem
    }
}
impl AsSemaphore for BoundedSemaphore {}

#[track_caller]
fn arc_blocking<S: AsSemaphore>(
    sem: &Arc<S>,
    name: &'static str,
) -> Result<SemaphorePermitArc<S>, Closed> {
    let mode = blocking_mode(name);
    match try_arc(sem) {
        Ok(permit) => Ok(permit),
        Err(TryAcquireError::Closed) => Err(Closed),
        Err(TryAcquireError::NoPermits) => {
            block_forever(&mut Acquiring::new(Arc::clone(sem)), mode)
        }
    }
}

fn try_arc<S: AsSemaphore>(sem: &Arc<S>) -> Result<SemaphorePermitArc<S>, TryAcquireError> {
    match sem.semaphore().gate.try_acquire(false) {
        Attempt::Acquired => Ok(SemaphorePermitArc {
            sem: Some(Arc::clone(sem)),
        }),
        Attempt::Busy | Attempt::Held => Err(TryAcquireError::NoPermits),
        Attempt::Closed => Err(TryAcquireError::Closed),
    }
}

impl<'a> Handle for &'a Semaphore {
    type Word = SemaphoreWord;
    type Output = Result<SemaphorePermit<'a>, Closed>;
    type Timed = Result<SemaphorePermit<'a>, AcquireTimeoutError>;
    const NAME: &'static str = "Semaphore::acquire";

    fn gate(&self) -> &Gate<SemaphoreWord> {
        &self.gate
    }
    fn granted(self) -> Self::Output {
        Ok(SemaphorePermit { sem: self })
    }
    fn closed() -> Self::Output {
        Err(Closed)
    }
    fn in_time(out: Self::Output) -> Self::Timed {
        out.map_err(|Closed| AcquireTimeoutError::Closed)
    }
    fn timed_out() -> Self::Timed {
        Err(AcquireTimeoutError::TimedOut)
    }
}

impl<S: AsSemaphore> Handle for Arc<S> {
    type Word = SemaphoreWord;
    type Output = Result<SemaphorePermitArc<S>, Closed>;
    type Timed = Result<SemaphorePermitArc<S>, AcquireTimeoutError>;
    const NAME: &'static str = "Semaphore::acquire_arc";

    fn gate(&self) -> &Gate<SemaphoreWord> {
        &self.semaphore().gate
    }
    fn granted(self) -> Self::Output {
        Ok(SemaphorePermitArc { sem: Some(self) })
    }
    fn closed() -> Self::Output {
        Err(Closed)
    }
    fn in_time(out: Self::Output) -> Self::Timed {
        out.map_err(|Closed| AcquireTimeoutError::Closed)
    }
    fn timed_out() -> Self::Timed {
        Err(AcquireTimeoutError::TimedOut)
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
/// let permit = sem.acquire_blocking().unwrap();
/// permit.forget(); // never given back
/// assert_eq!(sem.available(), 0);
/// ```
#[must_use = "the permit is given back as soon as it is dropped: bind it to a named variable (`let _permit = ...`; `let _ = ...` gives it back at once)"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken for good (Python: `acquire()` with no
    /// `release()`). A later `release` may put it back, which a
    /// [`BoundedSemaphore`] allows only for forgotten permits.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = amphi::Semaphore::new(2);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn forget(self) {
        self.sem.forgotten();
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

/// An owned permit of a [`Semaphore`] (or, as
/// `SemaphorePermitArc<BoundedSemaphore>`, of a [`BoundedSemaphore`]) in an
/// `Arc`; released on drop.
///
/// `Send`, `Sync` and `'static`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let sem = Arc::new(amphi::Semaphore::new(1));
/// let permit: amphi::SemaphorePermitArc = sem.acquire_arc_blocking().unwrap();
/// drop(permit);
/// assert_eq!(sem.available(), 1);
/// ```
#[must_use = "the permit is given back as soon as it is dropped: bind it to a named variable (`let _permit = ...`; `let _ = ...` gives it back at once)"]
pub struct SemaphorePermitArc<S: AsSemaphore = Semaphore> {
    /// `None` once forgotten.
    sem: Option<Arc<S>>,
}

impl<S: AsSemaphore> SemaphorePermitArc<S> {
    /// Keeps the permit taken for good.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(amphi::Semaphore::new(1));
    /// sem.acquire_arc_blocking().unwrap().forget();
    /// assert_eq!(sem.available(), 0);
    /// ```
    pub fn forget(mut self) {
        if let Some(sem) = self.sem.take() {
            sem.semaphore().forgotten();
        }
    }
}

impl<S: AsSemaphore> Drop for SemaphorePermitArc<S> {
    fn drop(&mut self) {
        if let Some(sem) = &self.sem {
            sem.semaphore().give_back();
        }
    }
}

impl<S: AsSemaphore> fmt::Debug for SemaphorePermitArc<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermitArc").finish_non_exhaustive()
    }
}

/// The future of [`Semaphore::acquire`] (and of
/// [`BoundedSemaphore::acquire`]): the crate's one [`Acquiring`] future over
/// a borrowed semaphore. `Send`, `Sync`, `Unpin`.
///
/// Gives `Result<permit, Closed>`; timed forms give
/// `Result<permit, AcquireTimeoutError>`.
///
/// # Cancel safety
///
/// Cancel safe.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use amphi::AcquireTimeoutError;
/// let sem = amphi::Semaphore::new(0);
/// let fut: amphi::futures::AcquireFuture<'_> = sem.acquire();
/// let err = fut.wait_timeout(Duration::from_millis(1)).unwrap_err();
/// assert_eq!(err, AcquireTimeoutError::TimedOut);
/// ```
pub type AcquireFuture<'a> = Acquiring<&'a Semaphore>;

/// The future of [`Semaphore::acquire_arc`] (and, with
/// `S = BoundedSemaphore`, of [`BoundedSemaphore::acquire_arc`]). `Send`,
/// `Sync`, `Unpin`, `'static`.
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
/// let fut: amphi::futures::AcquireArcFuture = sem.acquire_arc();
/// let _permit = fut.wait().unwrap();
/// ```
pub type AcquireArcFuture<S = Semaphore> = Acquiring<Arc<S>>;

/// The semaphore was [closed](Semaphore::close).
///
/// # Examples
///
/// ```
/// let sem = amphi::Semaphore::new(1);
/// sem.close();
/// assert_eq!(sem.acquire_blocking().unwrap_err(), amphi::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the semaphore is closed")
    }
}

impl std::error::Error for Closed {}

/// Why [`Semaphore::try_acquire`] gave no permit.
///
/// # Examples
///
/// ```
/// use amphi::TryAcquireError;
/// let sem = amphi::Semaphore::new(0);
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
/// sem.close();
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// No permit is free right now.
    NoPermits,
    /// The semaphore is closed.
    Closed,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::NoPermits => f.write_str("no permit is free"),
            TryAcquireError::Closed => f.write_str("the semaphore is closed"),
        }
    }
}

impl std::error::Error for TryAcquireError {}

/// Why a timed acquire gave no permit.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use amphi::AcquireTimeoutError;
/// let sem = amphi::Semaphore::new(0);
/// let err = sem.acquire().wait_timeout(Duration::from_millis(1)).unwrap_err();
/// assert_eq!(err, AcquireTimeoutError::TimedOut);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireTimeoutError {
    /// The time ran out.
    TimedOut,
    /// The semaphore was closed.
    Closed,
}

impl fmt::Display for AcquireTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireTimeoutError::TimedOut => f.write_str("timed out waiting for a permit"),
            AcquireTimeoutError::Closed => f.write_str("the semaphore is closed"),
        }
    }
}

impl std::error::Error for AcquireTimeoutError {}

/// The error of [`BoundedSemaphore::release`] past the bound (Python raises
/// `ValueError`). The semaphore is left unchanged.
///
/// # Examples
///
/// ```
/// let sem = amphi::BoundedSemaphore::new(1);
/// let err = sem.release(1).unwrap_err();
/// assert_eq!((err.requested, err.releasable, err.bound), (1, 0, 1));
/// assert_eq!(sem.available(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OverRelease {
    /// Permits the call tried to add.
    pub requested: usize,
    /// Permits that could have been released: those kept for good with
    /// [`forget`](SemaphorePermit::forget) (or released too few times).
    pub releasable: usize,
    /// The initial (and largest allowed) number of permits.
    pub bound: usize,
}

impl fmt::Display for OverRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "semaphore released too many times: release({}) when only {} permit(s) below the \
             bound of {} were taken for good (permits held as guards give themselves back on drop)",
            self.requested, self.releasable, self.bound
        )
    }
}

impl std::error::Error for OverRelease {}

/// A semaphore that refuses to grow past its initial value (Python's
/// `threading.BoundedSemaphore`).
///
/// It has the same acquires as [`Semaphore`] (the same [`SemaphorePermit`]s,
/// and owned `SemaphorePermitArc<BoundedSemaphore>` permits), but it is not
/// a `Semaphore` and does not deref to one, so it cannot reach code that
/// would release it unchecked. Its [`release`](Self::release) returns an
/// error, and changes nothing, unless the permits it puts back were kept for
/// good with [`forget`](SemaphorePermit::forget): a permit held as a guard
/// gives itself back on drop, so releasing it as well would pass the bound.
/// Python raises at the release that takes the count past the bound; amphi
/// refuses already at the extra release, since it knows which permits are
/// still out as guards.
///
/// # Examples
///
/// ```
/// let sem = amphi::BoundedSemaphore::new(2);
/// sem.acquire_blocking().unwrap().forget();
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
            assert!(
                permits <= Semaphore::MAX_PERMITS,
                "amphi::BoundedSemaphore::new: more than Semaphore::MAX_PERMITS permits"
            );
            BoundedSemaphore {
                sem: Semaphore::with_bound(permits, permits),
            }
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

    /// As [`Semaphore::acquire`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped future holds no permit.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let sem = amphi::BoundedSemaphore::new(1);
    /// let permit = sem.acquire().await.unwrap();
    /// assert_eq!(sem.available(), 0);
    /// # drop(permit);
    /// # }
    /// ```
    pub fn acquire(&self) -> AcquireFuture<'_> {
        self.sem.acquire()
    }

    /// As [`Semaphore::acquire_blocking`].
    ///
    /// # Blocking
    ///
    /// As [`Semaphore::acquire_blocking`].
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = amphi::BoundedSemaphore::new(1);
    /// let _permit = sem.acquire_blocking().unwrap();
    /// assert_eq!(sem.available(), 0);
    /// ```
    #[doc(alias = "blocking_acquire")]
    #[track_caller]
    pub fn acquire_blocking(&self) -> Result<SemaphorePermit<'_>, Closed> {
        let mode = blocking_mode("BoundedSemaphore::acquire_blocking");
        match self.sem.try_acquire() {
            Ok(permit) => Ok(permit),
            Err(TryAcquireError::Closed) => Err(Closed),
            Err(TryAcquireError::NoPermits) => block_forever(&mut self.sem.acquire(), mode),
        }
    }

    /// As [`Semaphore::try_acquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = amphi::BoundedSemaphore::new(1);
    /// let p = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_err());
    /// # drop(p);
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.sem.try_acquire()
    }

    /// As [`Semaphore::acquire_arc`], with an owned
    /// `SemaphorePermitArc<BoundedSemaphore>`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # #[tokio::main] async fn main() {
    /// let sem = Arc::new(amphi::BoundedSemaphore::new(1));
    /// let permit = sem.acquire_arc().await.unwrap();
    /// tokio::spawn(async move { drop(permit) }).await.unwrap();
    /// assert_eq!(sem.available(), 1);
    /// # }
    /// ```
    pub fn acquire_arc(self: &Arc<Self>) -> AcquireArcFuture<BoundedSemaphore> {
        Acquiring::new(Arc::clone(self))
    }

    /// Blocking [`acquire_arc`](Self::acquire_arc).
    ///
    /// # Blocking
    ///
    /// As [`Semaphore::acquire_blocking`].
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(amphi::BoundedSemaphore::new(1));
    /// let permit = sem.acquire_arc_blocking().unwrap();
    /// std::thread::spawn(move || drop(permit)).join().unwrap();
    /// assert_eq!(sem.available(), 1);
    /// ```
    #[track_caller]
    pub fn acquire_arc_blocking(
        self: &Arc<Self>,
    ) -> Result<SemaphorePermitArc<BoundedSemaphore>, Closed> {
        arc_blocking(self, "BoundedSemaphore::acquire_arc_blocking")
    }

    /// [`try_acquire`](Self::try_acquire) with an owned permit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(amphi::BoundedSemaphore::new(1));
    /// let p = sem.try_acquire_arc().unwrap();
    /// assert!(sem.try_acquire_arc().is_err());
    /// # drop(p);
    /// ```
    pub fn try_acquire_arc(
        self: &Arc<Self>,
    ) -> Result<SemaphorePermitArc<BoundedSemaphore>, TryAcquireError> {
        try_arc(self)
    }

    /// Puts back `n` permits that were kept for good
    /// ([`forget`](SemaphorePermit::forget)) and wakes up to `n` waiters.
    /// Anything more would pass the bound: then nothing changes and the
    /// error says why (Python raises `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = amphi::BoundedSemaphore::new(3);
    /// let held = sem.acquire_blocking().unwrap();
    /// // `held` gives itself back on drop: releasing it too is refused.
    /// assert!(sem.release(1).is_err());
    /// held.forget();
    /// assert!(sem.release(1).is_ok());
    /// assert_eq!(sem.available(), 3);
    /// ```
    pub fn release(&self, n: usize) -> Result<(), OverRelease> {
        self.sem.add(n)
    }

    /// As [`Semaphore::close`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = amphi::BoundedSemaphore::new(1);
    /// sem.close();
    /// assert!(sem.acquire_blocking().is_err());
    /// ```
    pub fn close(&self) -> bool {
        self.sem.close()
    }

    /// As [`Semaphore::is_closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!amphi::BoundedSemaphore::new(1).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.sem.is_closed()
    }

    /// The number of free permits right now (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = amphi::BoundedSemaphore::new(2);
    /// let _p = sem.try_acquire();
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn available(&self) -> usize {
        self.sem.available()
    }

    /// As [`Semaphore::waiters`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(amphi::BoundedSemaphore::new(1).waiters().total(), 0);
    /// ```
    pub fn waiters(&self) -> Waiters {
        self.sem.waiters()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("available", &self.available())
            .field("bound", &self.sem.bound)
            .field("closed", &self.is_closed())
            .finish()
    }
}
