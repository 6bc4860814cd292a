//! [`RLock`]: a reentrant lock for threads and tasks at once.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::core::{
    Acquiring, Gate, Handle, ModelU64, Waiters, block_forever, blocking_mode, const_fn,
};
use crate::lock::{Lock, LockWord};
use std::sync::PoisonError;

/// A reentrant lock (Python's `threading.RLock`) holding a `T`, shared by
/// threads and tasks.
///
/// The owner that holds it may lock it again without waiting; it is free
/// once every guard of that owner is dropped. Guards give `&T` (several may
/// exist at once, one per level), so the value is changed through interior
/// mutability that is `Sync`: atomics, or a [`Lock`](crate::Lock) inside
/// (see the example). `RLock<()>`, the default, is Python's bare RLock.
///
/// # Who is the owner
///
/// **The current tokio task if there is one, otherwise the current OS
/// thread**, for the blocking and the async methods alike:
///
/// * a tokio task (`tokio::spawn`, `spawn_local`, `spawn_blocking`) is one
///   owner wherever it runs: it keeps the lock when it moves to another
///   worker thread at an `.await`, and a blocking `lock_blocking()` called
///   from synchronous code inside the task that holds the lock re-enters
///   instead of deadlocking (on a multi-thread runtime; on a current-thread
///   runtime every blocking call panics, see the crate docs);
/// * the futures joined inside one task (`join!`, `select!`,
///   `FuturesUnordered`) share the task's ownership, as two calls on one
///   Python thread do: they are not excluded from each other;
/// * outside any tokio task (a plain thread, a `block_on` body, another
///   executor), the owner is the OS thread. On another executor whose tasks
///   move between threads, a task that locks again after such a move is a
///   different owner and waits; two tasks of a single-threaded foreign
///   executor are one owner.
///
/// tokio numbers tasks with a 64-bit counter and does not reuse the numbers
/// today (its documentation allows reuse once a task has finished): a lock
/// still held when its owner task ended, through a leaked or sent-away
/// guard, could then be re-entered by a later task with the same number.
///
/// # Soundness
///
/// Ownership decides only who waits. Memory safety does not depend on it:
/// guards give only `&T`, and the lock is `Sync` only when `T: Sync`, so
/// even two owners inside at once (a guard sent to another thread
/// while its owner re-enters, or a foreign executor's task moving between
/// threads) could only share a `Sync` value.
///
/// Guards are `Send` (hold one across `.await` in a spawned task; drop it on
/// another thread): dropping one anywhere releases one level of its owner
/// (Python raises if another thread releases; amphi lets the guard carry the
/// ownership).
///
/// **Fairness**, **blocking rules** and **cancel safety** are those of
/// [`Lock`](crate::Lock): an `RLock` is a `Lock<()>` with an owner and a
/// depth. Re-entering more than 2^20 - 1 levels deep panics.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicI64, Ordering};
/// use amphi::RLock;
///
/// struct Account {
///     balance: RLock<AtomicI64>,
/// }
///
/// impl Account {
///     fn deposit(&self, amount: i64) {
///         let b = self.balance.lock_blocking();
///         b.fetch_add(amount, Ordering::Relaxed);
///     }
///     fn transfer_in(&self, amount: i64, fee: i64) {
///         // Holds the lock across both steps; `deposit` re-enters it.
///         let b = self.balance.lock_blocking();
///         self.deposit(amount);
///         b.fetch_sub(fee, Ordering::Relaxed);
///     }
/// }
///
/// let account = Arc::new(Account { balance: RLock::new(AtomicI64::new(0)) });
/// account.transfer_in(100, 1);
/// assert_eq!(account.balance.lock_blocking().load(Ordering::Relaxed), 99);
/// ```
pub struct RLock<T: ?Sized = ()> {
    lock: Lock<()>,
    /// The owner's identity ([`owner_id`]) of the live session. Written
    /// (Release) by a new owner before it publishes its session in `word`;
    /// read only after `word` (Acquire) shows that session live.
    owner: ModelU64,
    /// The live session and its depth in one word (`session << DEPTH_BITS |
    /// depth`; 0: no live session), changed only by compare-and-swap, so a
    /// re-entry, a drop and a condition wait's release of all levels never
    /// act on different sessions.
    word: ModelU64,
    /// The last session number handed out (written only by the holder of
    /// the inner lock).
    sessions: ModelU64,
    /// Sessions parked by a condition wait with outer levels: (session,
    /// outer guards still alive). A guard of a parked session is outside the
    /// lock until the wait re-acquires it; if the wait is dropped first, its
    /// outer guards stay outside for good and release nothing.
    parked: std::sync::Mutex<Vec<(u64, usize)>>,
    data: T,
}

impl<T> RLock<T> {
    const_fn! {
        /// Creates an unlocked reentrant lock holding `value`. `const`.
        ///
        /// # Examples
        ///
        /// ```
        /// static R: amphi::RLock<u32> = amphi::RLock::new(7);
        /// assert_eq!(*R.lock_blocking(), 7);
        /// ```
        pub fn new(value: T) -> Self {
            RLock {
                lock: Lock::new(()),
                owner: ModelU64::new(0),
                word: ModelU64::new(0),
                sessions: ModelU64::new(0),
                parked: std::sync::Mutex::new(Vec::new()),
                data: value,
            }
        }
    }

    /// Consumes the lock and returns the value.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(amphi::RLock::new(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.data
    }
}

impl<T: ?Sized> RLock<T> {
    /// Locks, or re-enters if the caller owns it already; `.await` it.
    ///
    /// The future also blocks a thread ([`wait`](RLockFuture::wait) and the
    /// timed forms) or awaits with a time limit
    /// ([`timeout`](RLockFuture::timeout)); timed forms give `Option<guard>`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped future holds nothing, and a wake-up it had been
    /// given passes on to the next waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let r = amphi::RLock::new(());
    /// let outer = r.lock().await;
    /// let inner = r.lock().await; // the same task: re-enters
    /// assert_eq!(r.depth(), 2);
    /// drop((inner, outer));
    /// assert!(!r.is_locked());
    /// # }
    /// ```
    pub fn lock(&self) -> RLockFuture<'_, T> {
        Acquiring::new(self)
    }

    /// Locks, or re-enters, blocking the thread while another owner holds it.
    ///
    /// # Blocking
    ///
    /// As [`Lock::lock_blocking`](crate::Lock::lock_blocking): parks the
    /// thread, moving a multi-thread worker's tasks away first; on a thread
    /// that drives a current-thread runtime it panics at the caller's line,
    /// every time it has to take the lock from another owner or a free
    /// state. Re-entering never waits and works everywhere.
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = amphi::RLock::new(1);
    /// let a = r.lock_blocking();
    /// let b = r.lock_blocking();
    /// assert_eq!(*a + *b, 2);
    /// ```
    #[doc(alias = "blocking_lock")]
    #[track_caller]
    pub fn lock_blocking(&self) -> RLockGuard<'_, T> {
        let me = owner_id();
        // Re-entering never waits, so it needs no blocking check: it works
        // the same everywhere, whatever the contention.
        if let Some(session) = self.reenter(me) {
            return RLockGuard {
                rlock: self,
                session,
            };
        }
        let mode = blocking_mode("RLock::lock_blocking");
        if let Some(session) = self.enter_free(me) {
            return RLockGuard {
                rlock: self,
                session,
            };
        }
        block_forever(&mut self.lock(), mode)
    }

    /// Locks or re-enters if that needs no waiting (Python
    /// `acquire(blocking=False)`).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = std::sync::Arc::new(amphi::RLock::new(()));
    /// let g = r.try_lock().unwrap();
    /// assert!(r.try_lock().is_some()); // same owner
    /// let r2 = r.clone();
    /// assert!(std::thread::spawn(move || r2.try_lock().is_none()).join().unwrap());
    /// # drop(g);
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Option<RLockGuard<'_, T>> {
        let me = owner_id();
        let session = self.reenter(me).or_else(|| self.enter_free(me))?;
        Some(RLockGuard {
            rlock: self,
            session,
        })
    }

    /// [`lock`](Self::lock) through an `Arc`, with an owned guard.
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
    /// let r = Arc::new(amphi::RLock::new(5));
    /// let g = r.lock_arc().await;
    /// assert_eq!(tokio::spawn(async move { *g }).await.unwrap(), 5);
    /// # }
    /// ```
    pub fn lock_arc(self: &Arc<Self>) -> RLockArcFuture<T> {
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
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let r = Arc::new(amphi::RLock::new(()));
    /// let g = r.lock_arc_blocking();
    /// std::thread::spawn(move || drop(g)).join().unwrap();
    /// assert!(!r.is_locked());
    /// ```
    #[track_caller]
    pub fn lock_arc_blocking(self: &Arc<Self>) -> RLockGuardArc<T> {
        let me = owner_id();
        // As `lock_blocking`: re-entering needs no blocking check.
        if let Some(session) = self.reenter(me) {
            return RLockGuardArc::new(Arc::clone(self), session);
        }
        let mode = blocking_mode("RLock::lock_arc_blocking");
        if let Some(session) = self.enter_free(me) {
            return RLockGuardArc::new(Arc::clone(self), session);
        }
        block_forever(&mut self.lock_arc(), mode)
    }

    /// [`try_lock`](Self::try_lock) with an owned guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let r = Arc::new(amphi::RLock::new(()));
    /// assert!(r.try_lock_arc().is_some());
    /// ```
    pub fn try_lock_arc(self: &Arc<Self>) -> Option<RLockGuardArc<T>> {
        let me = owner_id();
        let session = self.reenter(me).or_else(|| self.enter_free(me))?;
        Some(RLockGuardArc::new(Arc::clone(self), session))
    }

    /// Whether anyone holds the lock (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = amphi::RLock::new(());
    /// assert!(!r.is_locked());
    /// let _g = r.lock_blocking();
    /// assert!(r.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.lock.is_locked()
    }

    /// Whether the caller (this task, else this thread: see "Who is the
    /// owner") holds the lock (Python's `RLock._is_owned`).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = std::sync::Arc::new(amphi::RLock::new(()));
    /// let _g = r.lock_blocking();
    /// assert!(r.is_owned());
    /// let r2 = r.clone();
    /// assert!(!std::thread::spawn(move || r2.is_owned()).join().unwrap());
    /// ```
    pub fn is_owned(&self) -> bool {
        self.word.load(Ordering::Acquire) != 0 && self.owner.load(Ordering::Acquire) == owner_id()
    }

    /// How many levels the owner holds (0 when free); a snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = amphi::RLock::new(());
    /// let a = r.lock_blocking();
    /// let b = r.lock_blocking();
    /// assert_eq!(r.depth(), 2);
    /// # drop((a, b));
    /// ```
    pub fn depth(&self) -> usize {
        (self.word.load(Ordering::Relaxed) & DEPTH_MASK) as usize
    }

    /// How many threads and tasks wait for the lock right now (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(amphi::RLock::new(()).waiters().total(), 0);
    /// ```
    pub fn waiters(&self) -> Waiters {
        self.lock.waiters()
    }

    /// The value, through `&mut self`: no locking needed.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut r = amphi::RLock::new(1);
    /// *r.get_mut() = 2;
    /// assert_eq!(*r.lock_blocking(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.data
    }

    /// Re-enters if `me` owns the lock; the session of the new level. One
    /// compare-and-swap from `(S, d)` to `(S, d + 1)`: if it succeeds, `S`
    /// was still live, and `owner` (read after `S` was seen live) was its
    /// owner.
    #[inline]
    fn reenter(&self, me: u64) -> Option<u64> {
        let w = self.word.load(Ordering::Acquire);
        if w == 0 || self.owner.load(Ordering::Acquire) != me {
            return None;
        }
        assert!(
            w & DEPTH_MASK != DEPTH_MASK,
            "amphi: RLock re-entered more than {DEPTH_MASK} levels deep"
        );
        self.word
            .compare_exchange(w, w + 1, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| w >> DEPTH_BITS)
    }

    /// Takes the free lock for `me`; the new session.
    #[inline]
    fn enter_free(&self, me: u64) -> Option<u64> {
        if self.lock.fast_lock() || self.lock.try_lock().map(std::mem::forget).is_some() {
            Some(self.became_owner(me))
        } else {
            None
        }
    }

    /// The inner lock was just taken for `me`: a new session of depth 1.
    fn became_owner(&self, me: u64) -> u64 {
        // Only the holder of the inner lock writes this: no read-modify-write.
        let session = (self.sessions.load(Ordering::Relaxed) + 1) & SESSION_MASK;
        let session = session.max(1);
        self.sessions.store(session, Ordering::Relaxed);
        self.start(me, session, 1);
        session
    }

    /// Publishes `session` live with `depth` levels for `me` (the inner lock
    /// is held).
    fn start(&self, me: u64, session: u64, depth: usize) {
        self.owner.store(me, Ordering::Release);
        self.word
            .store(session << DEPTH_BITS | depth as u64, Ordering::Release);
    }

    /// Drops one level of `session`; the last level of the live session
    /// frees the lock.
    fn leave(&self, session: u64) {
        let mut w = self.word.load(Ordering::Acquire);
        while w != 0 && w >> DEPTH_BITS == session {
            let new = if w & DEPTH_MASK == 1 { 0 } else { w - 1 };
            match self
                .word
                .compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if new == 0 {
                        self.lock.unlock();
                    }
                    return;
                }
                Err(now) => w = now,
            }
        }
        self.leave_parked(session);
    }

    /// A guard of a session that is not live (parked by a condition wait,
    /// or abandoned) is dropped. Under the registry lock, which
    /// [`restore`](Self::restore) also holds while it makes the session
    /// live again: if the session came back meanwhile, leave it normally.
    #[cold]
    fn leave_parked(&self, session: u64) {
        let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = parked.iter().position(|&(s, _)| s == session) {
            parked[i].1 -= 1;
            if parked[i].1 == 0 {
                parked.swap_remove(i);
            }
            return;
        }
        let w = self.word.load(Ordering::Acquire);
        if w != 0 && w >> DEPTH_BITS == session {
            drop(parked);
            self.leave(session);
        }
    }

    /// Releases every level of `session` at once for a condition wait;
    /// returns how many it released (0 if `session` is not live, e.g. a
    /// second wait of the same owner: then its guard's level is dropped,
    /// and nothing else changes). Outer levels are parked until
    /// [`restore`](Self::restore).
    pub(crate) fn leave_all(&self, session: u64) -> usize {
        let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        let mut w = self.word.load(Ordering::Acquire);
        loop {
            if w == 0 || w >> DEPTH_BITS != session {
                drop(parked);
                self.leave_parked(session);
                return 0;
            }
            match self
                .word
                .compare_exchange_weak(w, 0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => w = now,
            }
        }
        let depth = (w & DEPTH_MASK) as usize;
        if depth > 1 {
            parked.push((session, depth - 1));
        }
        drop(parked);
        self.lock.unlock();
        depth
    }

    pub(crate) fn inner(&self) -> &Lock<()> {
        &self.lock
    }

    /// The inner lock was re-acquired after [`leave_all`](Self::leave_all):
    /// `session` is live again, with its outer levels that are still held
    /// (published under the registry lock, see
    /// [`leave_parked`](Self::leave_parked)).
    pub(crate) fn restore(&self, session: u64) {
        let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        let outer = match parked.iter().position(|&(s, _)| s == session) {
            Some(i) => parked.swap_remove(i).1,
            None => 0,
        };
        self.start(owner_id(), session, 1 + outer);
    }

    /// A condition wait's relock: re-enter if the caller owns the lock
    /// already (a second wait of the same task), else nothing.
    pub(crate) fn try_reenter(&self) -> Option<u64> {
        self.reenter(owner_id())
    }

    /// A condition wait that parked `session` was dropped before it
    /// re-acquired the lock: its outer guards stay outside for good.
    pub(crate) fn abandon(&self, session: u64) {
        let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        parked.retain(|&(s, _)| s != session);
    }
}

/// Bits of `RLock::word` that hold the depth: at most 2^20 - 1 levels.
const DEPTH_BITS: u32 = 20;
const DEPTH_MASK: u64 = (1 << DEPTH_BITS) - 1;
/// Session numbers wrap at 2^44 (and skip 0).
const SESSION_MASK: u64 = (1 << (64 - DEPTH_BITS)) - 1;

/// The identity of the caller as an owner: the current tokio task if there
/// is one, else the current OS thread. Tasks are odd, threads even, never 0.
#[inline]
fn owner_id() -> u64 {
    #[cfg(feature = "tokio")]
    {
        if let Some(id) = tokio::task::try_id() {
            return task_number(&id) << 1 | 1;
        }
    }
    thread_number() << 1
}

/// The number of a tokio task id. tokio keeps it private; its `Hash` writes
/// exactly that `u64`, which this hasher captures (were that ever to change,
/// the bytes are folded instead: still the same number for the same id).
#[cfg(feature = "tokio")]
#[inline]
fn task_number(id: &tokio::task::Id) -> u64 {
    use std::hash::{Hash, Hasher};
    #[derive(Default)]
    struct Capture(u64);
    impl Hasher for Capture {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(b);
            }
        }
        fn write_u64(&mut self, n: u64) {
            self.0 = n;
        }
    }
    let mut h = Capture::default();
    id.hash(&mut h);
    h.finish()
}

/// A number per live OS thread: the address of a thread-local byte (as
/// parking_lot's reentrant mutex does). A thread that ends frees the number
/// for a later thread; a lock still held by an ended thread (a leaked or
/// sent-away guard) could then be re-entered by that later thread.
#[cfg(not(loom))]
#[inline]
fn thread_number() -> u64 {
    std::thread_local! {
        static MARK: u8 = const { 0 };
    }
    MARK.with(|m| std::ptr::from_ref(m).addr() as u64)
}

/// Under loom, the model's threads may share one OS thread: number them
/// with loom's thread-locals instead.
#[cfg(loom)]
fn thread_number() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    loom::thread_local! {
        static NUMBER: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NUMBER.with(|n| *n)
}

impl<T: Default> Default for RLock<T> {
    fn default() -> Self {
        RLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RLock");
        // The owner may look at the data (re-entering for it), but it
        // should still see that the lock is held, and how deep.
        let owned_depth = self.is_owned().then(|| self.depth());
        match self.try_lock() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        if let Some(depth) = owned_depth {
            d.field(
                "state",
                &format_args!("<locked by the caller, depth {depth}>"),
            );
        }
        d.finish_non_exhaustive()
    }
}

/// A guard of an [`RLock`]: derefs to `&T`; drops one level.
///
/// `Send` and `Sync` when `T: Sync`.
///
/// # Examples
///
/// ```
/// let r = amphi::RLock::new(String::from("hi"));
/// let g: amphi::RLockGuard<'_, String> = r.lock_blocking();
/// assert_eq!(g.len(), 2);
/// ```
#[must_use = "the level is released as soon as the guard is dropped: bind it to a named variable (`let _guard = ...`)"]
pub struct RLockGuard<'a, T: ?Sized> {
    pub(crate) rlock: &'a RLock<T>,
    /// The session this level belongs to.
    pub(crate) session: u64,
}

impl<T: ?Sized> Deref for RLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.rlock.data
    }
}

impl<T: ?Sized> Drop for RLockGuard<'_, T> {
    fn drop(&mut self) {
        self.rlock.leave(self.session);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// The owned guard of an [`RLock`] in an `Arc`.
///
/// `Send` and `Sync` when `T: Send + Sync`; `'static` when `T` is.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let r = Arc::new(amphi::RLock::new(1));
/// let g: amphi::RLockGuardArc<i32> = r.lock_arc_blocking();
/// assert_eq!(*g, 1);
/// ```
#[must_use = "the level is released as soon as the guard is dropped: bind it to a named variable (`let _guard = ...`)"]
pub struct RLockGuardArc<T: ?Sized> {
    /// `None` only while a condition wait takes it apart.
    rlock: Option<Arc<RLock<T>>>,
    /// The session this level belongs to.
    session: u64,
}

impl<T: ?Sized> RLockGuardArc<T> {
    pub(crate) fn new(rlock: Arc<RLock<T>>, session: u64) -> Self {
        RLockGuardArc {
            rlock: Some(rlock),
            session,
        }
    }

    /// The lock and the session, without releasing the level (a condition
    /// wait releases every level itself).
    pub(crate) fn into_parts(mut self) -> (Arc<RLock<T>>, u64) {
        let rlock = self.rlock.take().expect("a live guard holds its lock");
        (rlock, self.session)
    }

    fn lock(&self) -> &RLock<T> {
        self.rlock.as_ref().expect("a live guard holds its lock")
    }
}

impl<T: ?Sized> Deref for RLockGuardArc<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.lock().data
    }
}

impl<T: ?Sized> Drop for RLockGuardArc<T> {
    fn drop(&mut self) {
        if let Some(rlock) = &self.rlock {
            rlock.leave(self.session);
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RLockGuardArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RLockGuardArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<'a, T: ?Sized> Handle for &'a RLock<T> {
    type Word = LockWord;
    type Output = RLockGuard<'a, T>;
    type Timed = Option<RLockGuard<'a, T>>;
    const NAME: &'static str = "RLock::lock";

    fn gate(&self) -> &Gate<LockWord> {
        self.lock.gate()
    }
    fn shortcut(&self) -> Option<RLockGuard<'a, T>> {
        let session = self.reenter(owner_id())?;
        Some(RLockGuard {
            rlock: *self,
            session,
        })
    }
    fn granted(self) -> RLockGuard<'a, T> {
        let session = self.became_owner(owner_id());
        RLockGuard {
            rlock: self,
            session,
        }
    }
    fn closed() -> RLockGuard<'a, T> {
        unreachable!("an RLock is never closed")
    }
    fn in_time(out: RLockGuard<'a, T>) -> Option<RLockGuard<'a, T>> {
        Some(out)
    }
    fn timed_out() -> Option<RLockGuard<'a, T>> {
        None
    }
}

impl<T: ?Sized> Handle for Arc<RLock<T>> {
    type Word = LockWord;
    type Output = RLockGuardArc<T>;
    type Timed = Option<RLockGuardArc<T>>;
    const NAME: &'static str = "RLock::lock_arc";

    fn gate(&self) -> &Gate<LockWord> {
        self.lock.gate()
    }
    fn shortcut(&self) -> Option<RLockGuardArc<T>> {
        let session = self.reenter(owner_id())?;
        Some(RLockGuardArc::new(Arc::clone(self), session))
    }
    fn granted(self) -> RLockGuardArc<T> {
        let session = self.became_owner(owner_id());
        RLockGuardArc::new(self, session)
    }
    fn closed() -> RLockGuardArc<T> {
        unreachable!("an RLock is never closed")
    }
    fn in_time(out: RLockGuardArc<T>) -> Option<RLockGuardArc<T>> {
        Some(out)
    }
    fn timed_out() -> Option<RLockGuardArc<T>> {
        None
    }
}

/// The future of [`RLock::lock`]: the crate's one
/// [`Acquiring`](crate::futures::Acquiring) future over a borrowed RLock,
/// which re-enters on any poll at which its caller owns the lock. It also
/// blocks a thread ([`wait`](Acquiring::wait) and the timed forms) or
/// awaits with a time limit ([`timeout`](Acquiring::timeout)); timed forms
/// give `Option<guard>`.
///
/// `Send` and `Sync` when `T: Sync`; `Unpin`.
///
/// # Cancel safety
///
/// Cancel safe (see [`RLock::lock`]).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let r = std::sync::Arc::new(amphi::RLock::new(()));
/// let held = r.lock_blocking();
/// let r2 = r.clone();
/// let other = std::thread::spawn(move || {
///     let fut: amphi::futures::RLockFuture<'_, ()> = r2.lock();
///     fut.wait_timeout(Duration::from_millis(5)).is_none()
/// });
/// assert!(other.join().unwrap());
/// // The owner re-enters at once, even with a zero timeout.
/// assert!(r.lock().wait_timeout(Duration::ZERO).is_some());
/// # drop(held);
/// ```
pub type RLockFuture<'a, T> = Acquiring<&'a RLock<T>>;

/// The future of [`RLock::lock_arc`]; as [`RLockFuture`], with an owned
/// guard. `Send` and `Sync` when `T: Send + Sync`; `Unpin`.
///
/// # Cancel safety
///
/// Cancel safe.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let r = Arc::new(amphi::RLock::new(1));
/// let fut: amphi::futures::RLockArcFuture<i32> = r.lock_arc();
/// assert_eq!(*fut.wait(), 1);
/// ```
pub type RLockArcFuture<T> = Acquiring<Arc<RLock<T>>>;
