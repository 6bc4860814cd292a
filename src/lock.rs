//! [`Lock`]: a mutex holding data, for threads and tasks at once.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::Poll;

use event_listener::Event;

use crate::core::{
    Acquire, AtomicUsize, Op, Ordering, Strategy, Waiting, const_fn, waiting_future,
};
use crate::raw::DataCell;

/// Set while the lock is held.
const LOCKED: usize = 1;
/// Set while a starved waiter has reserved the lock: only it may take it.
const RESERVED: usize = 2;
/// One waiter in the "someone waits" count kept above the flag bits.
const WAITER: usize = 4;

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
/// that has been barged for more than a millisecond reserves the lock: the
/// next unlock lets only that waiter in. So no thread or task starves, even
/// against a holder that relocks in a tight loop.
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
    /// `LOCKED` and `RESERVED` bits plus `WAITER` times the number of
    /// counted waiters.
    state: AtomicUsize,
    event: Event,
    /// Where the waiter holding the reservation listens.
    reserved: Event,
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
                state: AtomicUsize::new(0),
                event: Event::new(),
                reserved: Event::new(),
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
        LockFuture {
            lock: self,
            waiting: Waiting::new(),
        }
    }

    /// Locks, blocking the current thread as long as it takes.
    ///
    /// # Blocking
    ///
    /// Parks the thread without allocating. Works on plain threads and
    /// `spawn_blocking` threads; on a tokio multi-thread worker it first moves
    /// the worker's other tasks away (`block_in_place`); inside a task of a
    /// current-thread runtime it panics if it would have to wait (blocking
    /// there would stall the runtime). Uncontended, it is one atomic
    /// compare-and-swap and never looks at the runtime.
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
    pub fn lock_blocking(&self) -> LockGuard<'_, T> {
        if self.fast_lock() {
            return LockGuard::new(self);
        }
        self.lock().wait()
    }

    /// Locks if the lock is free right now (Python `acquire(blocking=False)`).
    ///
    /// It also fails in the short moment after an unlock during which a
    /// starved waiter holds the lock's reservation (see Fairness above), even
    /// though [`is_locked`](Self::is_locked) is then `false`.
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
        self.try_acquire(false).then(|| LockGuard::new(self))
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
        LockArcFuture {
            lock: Some(Arc::clone(self)),
            waiting: Waiting::new(),
        }
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
    pub fn lock_arc_blocking(self: &Arc<Self>) -> LockGuardArc<T> {
        if self.fast_lock() {
            return LockGuardArc::new(Arc::clone(self));
        }
        self.lock_arc().wait()
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
        self.try_acquire(false)
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
        self.state.load(Ordering::Relaxed) & LOCKED != 0
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
    fn fast_lock(&self) -> bool {
        self.state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Releases the lock: one atomic read-modify-write, plus a notify only
    /// when someone waits.
    #[inline]
    pub(crate) fn unlock(&self) {
        let prev = self.state.fetch_sub(LOCKED, Ordering::AcqRel);
        if prev >= RESERVED {
            self.wake_one(prev);
        }
    }

    #[cold]
    fn wake_one(&self, state: usize) {
        if state & RESERVED != 0 {
            self.reserved.notify(1);
        } else {
            self.event.notify(1);
        }
    }
}

impl<T: ?Sized> Acquire for Lock<T> {
    fn event(&self) -> &Event {
        &self.event
    }

    #[inline]
    fn try_acquire(&self, counted: bool) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (LOCKED | RESERVED) != 0 {
                return false;
            }
            let new = if counted {
                (s - WAITER) | LOCKED
            } else {
                s | LOCKED
            };
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
        self.state.fetch_add(WAITER, Ordering::SeqCst);
    }

    fn uncount_waiter(&self) {
        let prev = self.state.fetch_sub(WAITER, Ordering::SeqCst);
        // If the lock is free and others wait, make sure one of them looks.
        if prev & LOCKED == 0 && prev >= 2 * WAITER {
            self.wake_one(prev - WAITER);
        }
    }

    fn reserve(&self) -> bool {
        // Free: just compete for it. Already reserved: keep waiting.
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |s| {
                (s & LOCKED != 0 && s & RESERVED == 0).then_some(s | RESERVED)
            })
            .is_ok()
    }

    fn reserved_event(&self) -> &Event {
        &self.reserved
    }

    fn try_claim(&self) -> bool {
        self.state
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |s| {
                (s & LOCKED == 0).then(|| (s - RESERVED - WAITER) | LOCKED)
            })
            .is_ok()
    }

    fn unreserve(&self) {
        let prev = self.state.fetch_sub(RESERVED + WAITER, Ordering::SeqCst);
        // While reserved, unlocks woke only us: if the lock is free now,
        // hand the turn to the other waiters.
        if prev & LOCKED == 0 && prev >= RESERVED + 2 * WAITER {
            self.event.notify(1);
        }
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
#[must_use = "the lock is released as soon as the guard is dropped"]
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
#[must_use = "the lock is released as soon as the guard is dropped"]
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

/// The future of [`Lock::lock`]; also blocks a thread, with or without a time
/// limit.
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
/// assert!(lock.lock().wait_timeout(Duration::from_millis(5)).is_none());
/// drop(held);
/// *lock.lock().wait() += 1;
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct LockFuture<'a, T: ?Sized> {
    lock: &'a Lock<T>,
    waiting: Waiting,
}

impl<'a, T: ?Sized> Op for LockFuture<'a, T> {
    const SPIN: bool = true;
    type Output = LockGuard<'a, T>;
    type Timed = Option<LockGuard<'a, T>>;

    #[inline]
    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Output> {
        self.waiting
            .poll(self.lock, s)
            .map(|()| LockGuard::new(self.lock))
    }

    fn poll_expired(&mut self, _: &mut Strategy<'_, '_>) -> Poll<Self::Timed> {
        self.waiting.cancel(self.lock);
        Poll::Ready(None)
    }

    fn in_time(out: Self::Output) -> Self::Timed {
        Some(out)
    }
}

impl<T: ?Sized> Drop for LockFuture<'_, T> {
    fn drop(&mut self) {
        self.waiting.cancel(self.lock);
    }
}

impl<T: ?Sized> fmt::Debug for LockFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockFuture").finish_non_exhaustive()
    }
}

waiting_future! {
    impl['a, T: ?Sized] LockFuture<'a, T> => LockGuard<'a, T>, timed Option<LockGuard<'a, T>>;
    example: "```
use std::time::Duration;
let lock = amphi::Lock::new(0);
let held = lock.lock_blocking();
assert!(lock.lock().wait_timeout(Duration::from_millis(5)).is_none());
drop(held);
*lock.lock().wait() += 1;
```"
}

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
/// let mut guard = lock.lock_arc().wait();
/// *guard += 1;
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct LockArcFuture<T: ?Sized> {
    /// `None` once the guard has been handed out.
    lock: Option<Arc<Lock<T>>>,
    waiting: Waiting,
}

impl<T: ?Sized> Op for LockArcFuture<T> {
    const SPIN: bool = true;
    type Output = LockGuardArc<T>;
    type Timed = Option<LockGuardArc<T>>;

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Output> {
        let lock = self
            .lock
            .as_ref()
            .expect("LockArcFuture polled after completion");
        std::task::ready!(self.waiting.poll(&**lock, s));
        Poll::Ready(LockGuardArc::new(self.lock.take().expect("checked above")))
    }

    fn poll_expired(&mut self, _: &mut Strategy<'_, '_>) -> Poll<Self::Timed> {
        if let Some(lock) = &self.lock {
            self.waiting.cancel(&**lock);
        }
        Poll::Ready(None)
    }

    fn in_time(out: Self::Output) -> Self::Timed {
        Some(out)
    }
}

impl<T: ?Sized> Drop for LockArcFuture<T> {
    fn drop(&mut self) {
        if let Some(lock) = &self.lock {
            self.waiting.cancel(&**lock);
        }
    }
}

impl<T: ?Sized> fmt::Debug for LockArcFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockArcFuture").finish_non_exhaustive()
    }
}

waiting_future! {
    impl[T: ?Sized] LockArcFuture<T> => LockGuardArc<T>, timed Option<LockGuardArc<T>>;
    example: "```
use std::sync::Arc;
use std::time::Duration;
let lock = Arc::new(amphi::Lock::new(0));
let held = lock.lock_arc().wait();
assert!(lock.lock_arc().wait_timeout(Duration::from_millis(5)).is_none());
drop(held);
assert!(lock.lock_arc().wait_timeout(Duration::from_millis(5)).is_some());
```"
}
