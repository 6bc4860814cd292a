//! [`Lock`]: a mutex holding data, for threads and tasks at once.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::core::{
    Acquiring, Attempt, Gate, Handle, Ordering, Waiters, Word, block_forever, blocking_mode,
    const_fn,
};
use crate::raw::DataCell;

/// Set while the lock is held.
const LOCKED: usize = 1;
/// Set while a starved waiter has reserved the lock: only it may take it.
const RESERVED: usize = 2;
/// One waiter in the "someone waits" count kept above the flag bits.
const WAITER: usize = 4;

/// The layout of a lock's state word, for the waiting core.
#[derive(Debug)]
#[allow(unreachable_pub)]
pub struct LockWord;

impl Word for LockWord {
    const WAITER: usize = WAITER;
    const WAITER_MASK: usize = !(LOCKED | RESERVED);
    const RESERVED: usize = RESERVED;
    const CLOSED: usize = 0;
    const ADDITIONAL: bool = false;
    #[inline]
    fn units(s: usize) -> usize {
        usize::from(s & LOCKED == 0)
    }
    #[inline]
    fn take(s: usize) -> usize {
        s | LOCKED
    }
}

/// A mutual-exclusion lock holding a `T` (Python's `threading.Lock`; with the
/// default `T = ()` it is the bare lock).
///
/// OS threads lock it with [`lock_blocking`](Self::lock_blocking), tokio tasks
/// with [`lock().await`](Self::lock), at the same time. Timed waits exist on
/// both sides; `try_lock` never waits. The guard unlocks on drop, is `Send`
/// when `T: Send` (hold it across `.await`, or drop it on another thread, as
/// Python allows), and [`lock_arc`](Self::lock_arc) gives an owned guard for
/// `'static` work.
///
/// **Fairness**: waiters are woken in FIFO order, and a running thread or
/// task may take a freed lock before the woken waiter runs (barging, as in
/// parking_lot, std and async-lock), which keeps throughput high. A waiter
/// that has waited for more than a millisecond and then loses one more race
/// reserves the lock: the next unlock lets only that waiter in. So no thread
/// or task starves, even against a holder that relocks in a tight loop.
///
/// **A future kept alive but not polled stops nobody** (a `&mut fut` in a
/// `select!` loop that is busy elsewhere): if it holds the reservation and
/// the lock has been free for 2 ms, the next `try_lock` or arriving waiter
/// ends the reservation (a thread that finds the lock held that way looks
/// again when it would be stale); if it was woken and does not come, unlocks
/// that keep finding its wake-up pending for 2 ms wake the next waiter too.
///
/// **No poisoning**: a panic while the guard is held unlocks the lock.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use amphi::Lock;
///
/// # #[tokio::main] async fn main() {
/// let hits = Arc::new(Lock::new(0u64));
///
/// // A blocking worker thread and an async task share the same lock.
/// let h = Arc::clone(&hits);
/// let thread = std::thread::spawn(move || *h.lock_blocking() += 1);
/// *hits.lock().await += 1;
/// thread.join().unwrap();
///
/// assert_eq!(*hits.lock().await, 2);
/// # }
/// ```
pub struct Lock<T: ?Sized = ()> {
    /// The state word (`LOCKED` and `RESERVED` bits plus `WAITER` times the
    /// number of counted waiters) and the waiting bookkeeping.
    gate: Gate<LockWord>,
    pub(crate) data: DataCell<T>,
}

impl<T> Lock<T> {
    const_fn! {
        /// Creates an unlocked lock holding `value`. `const`: usable in statics.
        ///
        /// # Examples
        ///
        /// ```
        /// static COUNTER: amphi::Lock<u32> = amphi::Lock::new(0);
        /// *COUNTER.lock_blocking() += 1;
        /// assert_eq!(*COUNTER.lock_blocking(), 1);
        /// ```
        pub fn new(value: T) -> Self {
            Lock {
                gate: Gate::new(0),
                data: DataCell::new(value),
            }
        }
    }

    /// Consumes the lock and returns the value.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = amphi::Lock::new(vec![1]);
    /// lock.lock_blocking().push(2);
    /// assert_eq!(lock.into_inner(), vec![1, 2]);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Lock<T> {
    /// Locks, waiting as long as it takes; `.await` it from a task.
    ///
    /// The returned [`LockFuture`] can also block a thread
    /// ([`wait`](LockFuture::wait), [`wait_timeout`](LockFuture::wait_timeout),
    /// [`wait_deadline`](LockFuture::wait_deadline)) or be awaited with a time
    /// limit ([`timeout`](LockFuture::timeout)).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the future before it completes leaves the lock
    /// as it was; if it had just been woken to take the lock, the wake-up
    /// passes on to the next waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let lock = amphi::Lock::new(String::new());
    /// lock.lock().await.push_str("hi");
    /// assert_eq!(*lock.lock().await, "hi");
    /// # }
    /// ```
    #[inline]
    pub fn lock(&self) -> LockFuture<'_, T> {
        Acquiring::new(self)
    }

    /// Locks, blocking the current thread as long as it takes.
    ///
    /// # Blocking
    ///
    /// Parks the thread without allocating, after a short spin. Works on
    /// plain threads and `spawn_blocking` threads; on a tokio multi-thread
    /// worker it first moves the worker's other tasks away
    /// (`block_in_place`). On a thread that drives a current-thread runtime
    /// (its tasks, `block_on`, a `LocalSet`) it panics at the caller's line,
    /// every time, contended or not: `.await` [`lock`](Self::lock) there.
    /// Uncontended, it is one compare-and-swap plus a thread-local read.
    ///
    /// # Cancel safety
    ///
    /// Not a future; it returns only with the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = amphi::Lock::new(1);
    /// *lock.lock_blocking() += 1;
    /// assert_eq!(*lock.lock_blocking(), 2);
    /// ```
    #[doc(alias = "blocking_lock")]
    #[inline]
    #[track_caller]
    pub fn lock_blocking(&self) -> LockGuard<'_, T> {
        let mode = blocking_mode("Lock::lock_blocking");
        if self.fast_lock() {
            return LockGuard::new(self);
        }
        block_forever(&mut self.lock(), mode)
    }

    /// Locks if the lock is free right now (Python `acquire(blocking=False)`).
    ///
    /// It also fails in the short moment after an unlock during which a
    /// starved waiter holds the lock's reservation (see Fairness above), even
    /// though [`is_locked`](Self::is_locked) is then `false`; that moment
    /// lasts at most 2 ms, even if the reserving waiter never comes.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = amphi::Lock::new(());
    /// let guard = lock.try_lock().unwrap();
    /// assert!(lock.try_lock().is_none());
    /// drop(guard);
    /// assert!(lock.try_lock().is_some());
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        (self.gate.try_acquire(false) == Attempt::Acquired).then(|| LockGuard::new(self))
    }

    /// Locks through an `Arc`, giving an owned guard that can move into
    /// `tokio::spawn`ed (`'static`) work.
    ///
    /// # Cancel safety
    ///
    /// As [`lock`](Self::lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # #[tokio::main] async fn main() {
    /// let lock = Arc::new(amphi::Lock::new(0));
    /// let guard = lock.lock_arc().await;
    /// tokio::spawn(async move {
    ///     let mut guard = guard;
    ///     *guard += 1;
    /// })
    /// .await
    /// .unwrap();
    /// assert_eq!(*lock.lock().await, 1);
    /// # }
    /// ```
    pub fn lock_arc(self: &Arc<Self>) -> LockArcFuture<T> {
        Acquiring::new(Arc::clone(self))
    }

    /// Blocking [`lock_arc`](Self::lock_arc).
    ///
    /// # Blocking
    ///
    /// As [`lock_blocking`](Self::lock_blocking).
    ///
    /// # Cancel safety
    ///
    /// Not a future; it returns only with the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(amphi::Lock::new(0));
    /// let mut guard = lock.lock_arc_blocking();
    /// std::thread::spawn(move || *guard += 1).join().unwrap();
    /// assert_eq!(*lock.lock_blocking(), 1);
    /// ```
    #[track_caller]
    pub fn lock_arc_blocking(self: &Arc<Self>) -> LockGuardArc<T> {
        let mode = blocking_mode("Lock::lock_arc_blocking");
        if self.fast_lock() {
            return LockGuardArc::new(Arc::clone(self));
        }
        block_forever(&mut self.lock_arc(), mode)
    }

    /// [`try_lock`](Self::try_lock) with an owned guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(amphi::Lock::new(()));
    /// let guard = lock.try_lock_arc().unwrap();
    /// assert!(lock.try_lock_arc().is_none());
    /// drop(guard);
    /// ```
    pub fn try_lock_arc(self: &Arc<Self>) -> Option<LockGuardArc<T>> {
        (self.gate.try_acquire(false) == Attempt::Acquired)
            .then(|| LockGuardArc::new(Arc::clone(self)))
    }

    /// Whether the lock is held right now (Python `locked()`); a snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = amphi::Lock::new(());
    /// let guard = lock.lock_blocking();
    /// assert!(lock.is_locked());
    /// drop(guard);
    /// assert!(!lock.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.gate.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// How many threads and tasks wait for the lock right now (a snapshot,
    /// for seeing what is stuck; kept on the slow path only).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = amphi::Lock::new(());
    /// assert_eq!(lock.waiters().total(), 0);
    /// ```
    pub fn waiters(&self) -> Waiters {
        self.gate.waiters()
    }

    /// The value, through `&mut self`: no locking needed.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut lock = amphi::Lock::new(1);
    /// *lock.get_mut() = 5;
    /// assert_eq!(*lock.lock_blocking(), 5);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    #[inline]
    pub(crate) fn fast_lock(&self) -> bool {
        self.gate
            .state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Releases the lock: one atomic read-modify-write, plus a notify only
    /// when someone waits.
    #[inline]
    pub(crate) fn unlock(&self) {
        let prev = self.gate.state.fetch_sub(LOCKED, Ordering::AcqRel);
        if prev >= RESERVED {
            self.gate.released(1, prev);
        }
    }

    pub(crate) fn gate(&self) -> &Gate<LockWord> {
        &self.gate
    }
}

impl<'a, T: ?Sized> Handle for &'a Lock<T> {
    type Word = LockWord;
    type Output = LockGuard<'a, T>;
    type Timed = Option<LockGuard<'a, T>>;
    const NAME: &'static str = "Lock::lock";

    fn gate(&self) -> &Gate<LockWord> {
        &self.gate
    }
    fn granted(self) -> LockGuard<'a, T> {
        LockGuard::new(self)
    }
    fn closed() -> LockGuard<'a, T> {
        unreachable!("a Lock is never closed")
    }
    fn in_time(out: LockGuard<'a, T>) -> Option<LockGuard<'a, T>> {
        Some(out)
    }
    fn timed_out() -> Option<LockGuard<'a, T>> {
        None
    }
}

impl<T: ?Sized> Handle for Arc<Lock<T>> {
    type Word = LockWord;
    type Output = LockGuardArc<T>;
    type Timed = Option<LockGuardArc<T>>;
    const NAME: &'static str = "Lock::lock_arc";

    fn gate(&self) -> &Gate<LockWord> {
        &self.gate
    }
    fn granted(self) -> LockGuardArc<T> {
        LockGuardArc::new(self)
    }
    fn closed() -> LockGuardArc<T> {
        unreachable!("a Lock is never closed")
    }
    fn in_time(out: LockGuardArc<T>) -> Option<LockGuardArc<T>> {
        Some(out)
    }
    fn timed_out() -> Option<LockGuardArc<T>> {
        None
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T> From<T> for Lock<T> {
    fn from(value: T) -> Self {
        Lock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Lock");
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// The guard of a [`Lock`]: derefs to the value, unlocks on drop.
///
/// `Send` when `T: Send`, `Sync` when `T: Send + Sync`.
///
/// # Examples
///
/// ```
/// let lock = amphi::Lock::new(vec![0]);
/// let mut guard = lock.lock_blocking();
/// guard.push(1);
/// drop(guard); // unlocks
/// assert_eq!(lock.lock_blocking().len(), 2);
/// ```
#[must_use = "the lock unlocks as soon as the guard is dropped: bind it to a named variable (`let _guard = ...`; `let _ = ...` unlocks at once)"]
pub struct LockGuard<'a, T: ?Sized> {
    pub(crate) lock: &'a Lock<T>,
    /// Gives the guard the `Send`/`Sync` of `&mut T`.
    _marker: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> LockGuard<'a, T> {
    #[inline]
    pub(crate) fn new(lock: &'a Lock<T>) -> Self {
        LockGuard {
            lock,
            _marker: PhantomData,
        }
    }

    /// The lock this guard holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = amphi::Lock::new(());
    /// let guard = lock.lock_blocking();
    /// assert!(std::ptr::eq(amphi::LockGuard::source(&guard), &lock));
    /// ```
    pub fn source(guard: &Self) -> &'a Lock<T> {
        guard.lock
    }
}

impl<T: ?Sized> Drop for LockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// The owned guard of a [`Lock`] in an `Arc`, from [`Lock::lock_arc`].
///
/// `'static` when `T` is; `Send` when `T: Send`, `Sync` when `T: Send + Sync`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(amphi::Lock::new(1));
/// let guard: amphi::LockGuardArc<i32> = lock.lock_arc_blocking();
/// assert_eq!(*guard, 1);
/// ```
#[must_use = "the lock unlocks as soon as the guard is dropped: bind it to a named variable (`let _guard = ...`; `let _ = ...` unlocks at once)"]
pub struct LockGuardArc<T: ?Sized> {
    pub(crate) lock: Arc<Lock<T>>,
    /// Gives the guard the `Send`/`Sync` of `Box<T>`.
    _marker: PhantomData<Box<T>>,
}

impl<T: ?Sized> LockGuardArc<T> {
    pub(crate) fn new(lock: Arc<Lock<T>>) -> Self {
        LockGuardArc {
            lock,
            _marker: PhantomData,
        }
    }

    /// The lock this guard holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(amphi::Lock::new(()));
    /// let guard = lock.lock_arc_blocking();
    /// assert!(Arc::ptr_eq(amphi::LockGuardArc::source(&guard), &lock));
    /// ```
    pub fn source(guard: &Self) -> &Arc<Lock<T>> {
        &guard.lock
    }
}

impl<T: ?Sized> Drop for LockGuardArc<T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for LockGuardArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for LockGuardArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// The future of [`Lock::lock`]: the crate's one [`Acquiring`] future over
/// a borrowed lock. It also blocks a thread
/// ([`wait`](Acquiring::wait), [`wait_timeout`](Acquiring::wait_timeout),
/// [`wait_deadline`](Acquiring::wait_deadline)), or awaits with a time limit
/// ([`timeout`](Acquiring::timeout)); timed forms give `Option<guard>`.
///
/// `Send` and `Sync` when `T: Send`; `Unpin`.
///
/// # Cancel safety
///
/// Cancel safe: dropping it loses nothing (see [`Lock::lock`]).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let lock = amphi::Lock::new(0);
/// let held = lock.lock_blocking();
/// let fut: amphi::futures::LockFuture<'_, i32> = lock.lock();
/// assert!(fut.wait_timeout(Duration::from_millis(5)).is_none());
/// drop(held);
/// *lock.lock().wait() += 1;
/// ```
pub type LockFuture<'a, T> = Acquiring<&'a Lock<T>>;

/// The future of [`Lock::lock_arc`]; as [`LockFuture`], with an owned guard.
///
/// `Send` and `Sync` when `T: Send`; `Unpin`; `'static` when `T` is.
///
/// # Cancel safety
///
/// Cancel safe: dropping it loses nothing.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(amphi::Lock::new(0));
/// let fut: amphi::futures::LockArcFuture<i32> = lock.lock_arc();
/// let mut guard = fut.wait();
/// *guard += 1;
/// ```
pub type LockArcFuture<T> = Acquiring<Arc<Lock<T>>>;
