//! [`Barrier`]: a meeting point for a fixed number of threads and tasks.
//!
//! State: one small mutex over the current round (its count, its free
//! indices, its cell) and the broken flag. A barrier wait is never a fast
//! path except for the last arriver (every other arrival waits anyway), so
//! one short, uncontended lock per arrival costs nothing next to the wait it
//! leads to; and arriving changes several fields together (the count, an
//! index, the round's phase), which one atomic word could not hold without
//! giving up the free-index list that keeps indices distinct after
//! cancellations. The mutex is never held across user code (the action runs
//! outside it) nor across a wait, so it cannot be poisoned by a panic of
//! ours, and poisoning is ignored anyway.
//!
//! Each round has a cell (`Arc<Round>`) whose phase says whether the round
//! is filling, tripping (its action runs), tripped or broken. A waiter keeps
//! its round's cell, so it learns its round's outcome however many rounds
//! have passed since (a future kept alive but not polled), and a round that
//! ended is never confused with a later one. Ended cells are recycled once
//! no waiter holds them, so a barrier used in a loop allocates nothing.
//!
//! Waiting is the core's "woken means done" [`Signal`], with one [`Flag`]
//! per waiter: "my round is over". A wake-up meant for an earlier round can
//! reach a listener set up just before that round's end was announced; the
//! waiter then sees its own round still open and listens again.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, PoisonError};
use std::task::{Poll, ready};

#[cfg(loom)]
use loom::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
use std::sync::{Mutex, MutexGuard};

use crate::core::{
    AtomicUsize, Census, Flag, Op, Ordering, Signal, Strategy, Waiters, block_forever,
    blocking_mode, waiting_future,
};

// The phases of a round. The current round is `FILLING` or `TRIPPING`;
// an ended one is `TRIPPED` or `BROKEN` for good.
/// Parties arrive.
const FILLING: usize = 0;
/// All parties have arrived; the action runs. The round has tripped: only
/// a panicking action can still break it.
const TRIPPING: usize = 1;
/// Released: its waiters return `Ok`.
const TRIPPED: usize = 2;
/// Broken (abort, reset, a timeout, a panicking action): its waiters
/// return `Err`.
const BROKEN: usize = 3;

/// One round of the barrier, shared by its waiters.
struct Round {
    /// Written under the barrier's mutex; read by waiters without it.
    phase: AtomicUsize,
}

impl Round {
    fn new_cell() -> Arc<Round> {
        Arc::new(Round {
            phase: AtomicUsize::new(FILLING),
        })
    }

    fn phase(&self) -> usize {
        self.phase.load(Ordering::Acquire)
    }

    fn set(&self, phase: usize) {
        self.phase.store(phase, Ordering::Release);
    }

    fn is_over(&self) -> bool {
        self.phase() >= TRIPPED
    }
}

/// What the barrier's mutex guards.
struct State {
    /// The current round (`FILLING` or `TRIPPING`).
    round: Arc<Round>,
    /// Parties of `round` that have arrived and not left.
    count: usize,
    /// Indices of `round` freed by waiters that left before it tripped; the
    /// next arrival takes the lowest. Invariant: the indices handed out in
    /// this round are exactly `0..count + free.len()`.
    free: BinaryHeap<Reverse<usize>>,
    /// Broken until `reset`.
    broken: bool,
    /// The cell of the last ended round, reused once no waiter holds it.
    spare: Option<Arc<Round>>,
}

impl State {
    /// The index of a new arrival.
    fn take_index(&mut self) -> usize {
        match self.free.pop() {
            Some(Reverse(index)) => index,
            None => self.count,
        }
    }

    /// Ends the current round with `phase` (`TRIPPED` or `BROKEN`) and
    /// starts an empty one.
    fn end_round(&mut self, phase: usize) {
        self.round.set(phase);
        let next = match self.spare.take() {
            // Reused once no waiter holds it (`get_mut` is the uniqueness
            // test, with the ordering it needs).
            Some(mut cell) => {
                if Arc::get_mut(&mut cell).is_some() {
                    cell.set(FILLING);
                    cell
                } else {
                    Round::new_cell()
                }
            }
            None => Round::new_cell(),
        };
        self.spare = Some(std::mem::replace(&mut self.round, next));
        self.count = 0;
        self.free.clear();
    }

    /// Breaks the barrier: the parties of a filling round get the error; a
    /// round whose last party has arrived still trips. Returns whether a
    /// round ended (its waiters must be woken).
    fn break_barrier(&mut self) -> bool {
        self.broken = true;
        if self.round.phase() == FILLING && self.count > 0 {
            self.end_round(BROKEN);
            true
        } else {
            false
        }
    }
}

/// A meeting point for a fixed number of parties, threads and tasks alike
/// (Python's `threading.Barrier`, std's and tokio's `Barrier`).
///
/// Each party calls [`wait`](Self::wait) (`.await` it) or
/// [`wait_blocking`](Self::wait_blocking); when the `parties`-th one
/// arrives, the barrier *trips*: it runs the optional action (see
/// [`with_action`](Self::with_action)) and releases them all at once. Then
/// it is ready for the next round, so the same barrier can separate the
/// phases of a loop.
///
/// Each released waiter gets a [`BarrierWaitResult`]: its
/// [`index`](BarrierWaitResult::index), from `0` to `parties - 1`, distinct
/// within a round (the arrival order, as in Python), and
/// [`is_leader`](BarrierWaitResult::is_leader), true for exactly one waiter
/// per round: the one whose arrival tripped the barrier (index
/// `parties - 1`), which also ran the action.
///
/// # Breaking
///
/// The barrier *breaks* when [`abort`](Self::abort) is called, when a timed
/// wait runs out of time before its round trips, and when the action
/// panics. Then every waiter of the round in progress, and every later
/// waiter, gets [`BrokenBarrier`] until [`reset`](Self::reset) (the waiter
/// whose time ran out gets [`BarrierTimeoutError::TimedOut`]). `reset` also
/// breaks the round in progress, but leaves the barrier usable at once: it
/// is how all parties agree to start over.
///
/// A round whose last party has arrived has tripped: a timeout, an `abort`
/// or a `reset` that comes while its action runs does not undo it (an
/// `abort` then breaks the barrier for the rounds after it). Only a panic
/// of the action breaks it.
///
/// # Python → amphi
///
/// | Python | amphi, thread | amphi, task |
/// |---|---|---|
/// | `b = Barrier(n)` | `let b = Barrier::new(n)` | same |
/// | `Barrier(n, action=f)` | `Barrier::with_action(n, f)` | same |
/// | `i = b.wait()` | `let i = b.wait_blocking()?.index()` | `b.wait().await?.index()` |
/// | `b.wait(timeout=t)` | `b.wait().wait_timeout(t)` | `b.wait().timeout(t).await` |
/// | `except BrokenBarrierError` | `Err(BrokenBarrier)` | same |
/// | `b.abort()` / `b.reset()` | `b.abort()` / `b.reset()` | same |
/// | `b.broken` | `b.is_broken()` | same |
/// | `b.n_waiting` / `b.parties` | `b.n_waiting()` / `b.parties()` | same |
///
/// # Where amphi differs from Python, on purpose
///
/// * **Zero parties are refused**: [`new`](Self::new) panics, [`try_new`]
///   returns [`ZeroParties`]. (Python 3.13 raises `ValueError`; 3.11 and
///   3.12 accept `Barrier(0)`, whose `wait` hangs, or breaks it on timeout.)
/// * **Timed waits say who broke it**: the waiter whose time ran out gets
///   [`BarrierTimeoutError::TimedOut`], the others `Broken` (Python raises
///   `BrokenBarrierError` in both). [`BrokenBarrier`] converts from it for
///   `?`.
/// * **No default timeout** (Python's `timeout=` argument): pass one to each
///   wait.
/// * **A trip stands.** In Python an `abort()` that takes the barrier's lock
///   after the action but before a released thread re-takes it makes that
///   thread raise `BrokenBarrierError` (a race: 167 of 300 runs of a test
///   with CPython 3.11), although its round tripped and the leader returned
///   normally. Here every waiter of a tripped round returns `Ok`.
/// * **No drain phase.** Python makes a thread that arrives while released
///   threads are still leaving wait until they have left (and
///   `n_waiting` does not count it meanwhile); here it joins the next round
///   at once. Arrivals do wait while an action runs, as in Python.
/// * **The action may use the barrier**: it runs outside the barrier's lock,
///   so it may call [`abort`](Self::abort), [`reset`](Self::reset),
///   [`n_waiting`](Self::n_waiting) (which gives `parties`, as in Python).
///   In Python, `abort()` or `reset()` from the action deadlocks. A *wait*
///   on the barrier from its own action could only wait for itself: it
///   panics with a message saying so.
/// * **Cancellation** (Python's threads cannot be cancelled; asyncio's
///   `Barrier` can): a dropped waiter leaves its round, as in asyncio, and
///   the next arrival takes the index it freed, so indices stay distinct
///   (asyncio's can repeat: cancel one of two waiters of a 3-party barrier
///   and the next two arrivals get indices `1, 1, 2`).
///
/// # Examples
///
/// Two threads and two tasks meet:
///
/// ```
/// use std::sync::Arc;
/// # #[tokio::main] async fn main() {
/// let barrier = Arc::new(amphi::Barrier::new(4));
/// let mut threads = Vec::new();
/// for _ in 0..2 {
///     let b = Arc::clone(&barrier);
///     threads.push(std::thread::spawn(move || b.wait_blocking().unwrap()));
/// }
/// let mut tasks = Vec::new();
/// for _ in 0..2 {
///     let b = Arc::clone(&barrier);
///     tasks.push(tokio::spawn(async move { b.wait().await.unwrap() }));
/// }
/// let mut results = Vec::new();
/// for t in tasks {
///     results.push(t.await.unwrap());
/// }
/// for t in threads {
///     results.push(t.join().unwrap()); // released already: no long block
/// }
/// let mut indices: Vec<_> = results.iter().map(|r| r.index()).collect();
/// indices.sort();
/// assert_eq!(indices, [0, 1, 2, 3]);
/// assert_eq!(results.iter().filter(|r| r.is_leader()).count(), 1);
/// # }
/// ```
///
/// [`try_new`]: Self::try_new
pub struct Barrier {
    parties: usize,
    state: Mutex<State>,
    event: event_listener::Event,
    /// Waiters listening on `event`: a round's end skips `notify` when there
    /// are none. Raised under the mutex (so a round's end, which reads it
    /// under the mutex, sees every listener that missed the end), lowered
    /// without it (a stale read only costs a spare `notify`).
    listening: AtomicUsize,
    census: Census,
    action: Option<Box<dyn Fn() + Send + Sync>>,
}

impl Barrier {
    /// A barrier for `parties` threads and tasks.
    ///
    /// # Panics
    ///
    /// If `parties` is zero (a barrier nobody can trip); use
    /// [`try_new`](Self::try_new) to get an error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = amphi::Barrier::new(1);
    /// assert_eq!(b.parties(), 1);
    /// assert!(b.wait_blocking().unwrap().is_leader());
    /// ```
    #[track_caller]
    pub fn new(parties: usize) -> Barrier {
        match Self::try_new(parties) {
            Ok(barrier) => barrier,
            Err(ZeroParties) => zero_parties(),
        }
    }

    /// A barrier for `parties` threads and tasks, or [`ZeroParties`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(amphi::Barrier::try_new(0).is_err());
    /// assert_eq!(amphi::Barrier::try_new(3).unwrap().parties(), 3);
    /// ```
    pub fn try_new(parties: usize) -> Result<Barrier, ZeroParties> {
        Self::build(parties, None)
    }

    /// A barrier whose `action` runs each time it trips (Python's `action`).
    ///
    /// The waiter whose arrival trips the barrier (the leader) runs it, once
    /// per round, after every party has arrived and before any is released;
    /// the next round's arrivals wait until it returns. If it panics, the
    /// barrier breaks: the leader's wait resumes the panic (Python re-raises
    /// in that thread) and the other waiters get [`BrokenBarrier`]. It runs
    /// outside the barrier's lock, so it may call [`abort`](Self::abort)
    /// (which breaks the barrier for later rounds; this round still trips)
    /// or [`n_waiting`](Self::n_waiting), but not wait on the barrier.
    ///
    /// It runs inside a poll when the leader is a task: keep it short, as
    /// any code in a poll.
    ///
    /// # Panics
    ///
    /// If `parties` is zero; see [`try_with_action`](Self::try_with_action).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// let trips = Arc::new(AtomicUsize::new(0));
    /// let t = Arc::clone(&trips);
    /// let b = Arc::new(amphi::Barrier::with_action(2, move || {
    ///     t.fetch_add(1, Ordering::SeqCst);
    /// }));
    /// let b2 = Arc::clone(&b);
    /// let other = std::thread::spawn(move || b2.wait_blocking().unwrap());
    /// b.wait_blocking().unwrap();
    /// other.join().unwrap();
    /// assert_eq!(trips.load(Ordering::SeqCst), 1);
    /// ```
    #[track_caller]
    pub fn with_action<F>(parties: usize, action: F) -> Barrier
    where
        F: Fn() + Send + Sync + 'static,
    {
        match Self::try_with_action(parties, action) {
            Ok(barrier) => barrier,
            Err(ZeroParties) => zero_parties(),
        }
    }

    /// [`with_action`](Self::with_action), or [`ZeroParties`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(amphi::Barrier::try_with_action(0, || ()).is_err());
    /// ```
    pub fn try_with_action<F>(parties: usize, action: F) -> Result<Barrier, ZeroParties>
    where
        F: Fn() + Send + Sync + 'static,
    {
        Self::build(parties, Some(Box::new(action)))
    }

    fn build(
        parties: usize,
        action: Option<Box<dyn Fn() + Send + Sync>>,
    ) -> Result<Barrier, ZeroParties> {
        if parties == 0 {
            return Err(ZeroParties);
        }
        Ok(Barrier {
            parties,
            state: Mutex::new(State {
                round: Round::new_cell(),
                count: 0,
                free: BinaryHeap::new(),
                broken: false,
                spare: None,
            }),
            event: event_listener::Event::new(),
            listening: AtomicUsize::new(0),
            census: Census::new(),
            action,
        })
    }

    /// Waits until `parties` waiters have arrived; `.await` it, or block with
    /// [`BarrierWait::wait`] / [`wait_timeout`](BarrierWait::wait_timeout).
    ///
    /// The waiter arrives when the future is first polled (or blocked on),
    /// not when `wait` is called. The output is a [`BarrierWaitResult`], or
    /// [`BrokenBarrier`] if the barrier is broken, or breaks or is reset
    /// before this waiter's round trips.
    ///
    /// Timed forms (`wait_timeout`, `wait_deadline`, `timeout`,
    /// `timeout_at`) give `Result<BarrierWaitResult, BarrierTimeoutError>`.
    /// If the time runs out before the round trips, the waiter **breaks the
    /// barrier** (as in Python): it gets [`BarrierTimeoutError::TimedOut`],
    /// the other waiters of its round `Broken`. If its round tripped at the
    /// last moment, or trips while its action runs, it gets `Ok`. A zero
    /// timeout therefore succeeds only for the last arriver. An arrival
    /// whose time runs out while it still waits for another round's action
    /// to end breaks the barrier too (that round still trips).
    ///
    /// # Blocking
    ///
    /// This call does not block: it makes the future. Blocking happens in
    /// [`BarrierWait::wait`] and its timed forms (see there) and in
    /// [`wait_blocking`](Self::wait_blocking).
    ///
    /// # Cancel safety
    ///
    /// * Dropped **before its round trips** (pending, or never polled), the
    ///   waiter leaves cleanly: the round's count goes back down (as
    ///   asyncio's `Barrier`; unlike tokio's, whose dropped waiters still
    ///   count, tokio#6493), so the round needs the full number of parties
    ///   again, and the next arrival takes the index it freed.
    /// * A future **whose arrival tripped the barrier** returned `Ready` in
    ///   that same poll: its trip stands, whatever happens to the future.
    /// * Dropped **after its round tripped** (woken but not polled again),
    ///   it has nothing to hand on: a trip is a broadcast, so no later
    ///   waiter is released by it.
    /// * A future kept alive but not polled stops nobody: its round trips
    ///   and the next rounds go on without it; when polled at last, it
    ///   reports its own round's outcome.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use amphi::{Barrier, BarrierTimeoutError};
    /// # #[tokio::main] async fn main() {
    /// let b = Barrier::new(2);
    /// // Alone, the wait times out and breaks the barrier...
    /// let err = b.wait().timeout(Duration::from_millis(5)).await.unwrap_err();
    /// assert_eq!(err, BarrierTimeoutError::TimedOut);
    /// assert!(b.is_broken());
    /// assert!(b.wait().await.is_err());
    /// // ...until it is reset.
    /// b.reset();
    /// let (x, y) = tokio::join!(b.wait(), b.wait());
    /// assert_ne!(x.unwrap().index(), y.unwrap().index());
    /// # }
    /// ```
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            stage: Stage::Start,
            signal: Signal::new(),
        }
    }

    /// Blocks the thread until `parties` waiters have arrived (see
    /// [`wait`](Self::wait)).
    ///
    /// # Blocking
    ///
    /// As [`BarrierWait::wait`]: parks the thread, moving a tokio
    /// multi-thread worker's tasks away first. On a thread that drives a
    /// current-thread runtime it panics at the caller's line, every time,
    /// even as the last arriver, who would not have to wait: `.await`
    /// [`wait`](Self::wait) there.
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Panics
    ///
    /// Where blocking is refused (above), and when called from the
    /// barrier's own action. A panic of the action is resumed here when this
    /// call is the one that tripped the barrier.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let b = Arc::new(amphi::Barrier::new(2));
    /// let b2 = Arc::clone(&b);
    /// let t = std::thread::spawn(move || b2.wait_blocking().unwrap().index());
    /// let mine = b.wait_blocking().unwrap().index();
    /// assert_eq!(mine + t.join().unwrap(), 1); // indices 0 and 1
    /// ```
    #[doc(alias = "blocking_wait")]
    #[track_caller]
    pub fn wait_blocking(&self) -> Result<BarrierWaitResult, BrokenBarrier> {
        let mode = blocking_mode("Barrier::wait_blocking");
        block_forever(&mut self.wait(), mode)
    }

    /// Breaks the barrier: the waiters of the round in progress, and every
    /// later waiter, get [`BrokenBarrier`] until [`reset`](Self::reset)
    /// (Python's `abort`). Use it when a party cannot come, so that the
    /// others do not wait forever.
    ///
    /// A round whose action is running has tripped already: it still
    /// releases its waiters with `Ok`; the rounds after it are broken.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = amphi::Barrier::new(2);
    /// b.abort();
    /// assert!(b.is_broken());
    /// assert_eq!(b.wait_blocking(), Err(amphi::BrokenBarrier));
    /// ```
    pub fn abort(&self) {
        let mut st = self.lock();
        if st.break_barrier() {
            self.wake(st);
        }
    }

    /// Starts over: the waiters of the round in progress get
    /// [`BrokenBarrier`], and the barrier is usable at once, by them and by
    /// others, unbroken (Python's `reset`). Resetting a broken barrier with
    /// no one waiting just repairs it.
    ///
    /// A round whose action is running has tripped already and is not
    /// affected.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = amphi::Barrier::new(1);
    /// b.abort();
    /// b.reset();
    /// assert!(!b.is_broken());
    /// assert_eq!(b.wait_blocking().unwrap().index(), 0);
    /// ```
    pub fn reset(&self) {
        let mut st = self.lock();
        st.broken = false;
        if st.round.phase() == FILLING && st.count > 0 {
            st.end_round(BROKEN);
            self.wake(st);
        }
    }

    /// Whether the barrier is broken (Python's `broken`): by
    /// [`abort`](Self::abort), a timeout or a panicking action, and not
    /// [`reset`](Self::reset) since.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = amphi::Barrier::new(3);
    /// assert!(!b.is_broken());
    /// ```
    #[doc(alias = "broken")]
    pub fn is_broken(&self) -> bool {
        self.lock().broken
    }

    /// How many parties of the round in progress have arrived and wait
    /// (Python's `n_waiting`): `0` right after a trip, and while the barrier
    /// is broken; `parties` while the action runs. A snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::Pin;
    /// use std::task::{Context, Waker};
    /// let b = amphi::Barrier::new(2);
    /// assert_eq!(b.n_waiting(), 0);
    /// let mut w = b.wait();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(Pin::new(&mut w).poll(&mut cx).is_pending()); // arrived, waits
    /// assert_eq!(b.n_waiting(), 1);
    /// drop(w); // leaves the round
    /// assert_eq!(b.n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        let st = self.lock();
        if st.broken { 0 } else { st.count }
    }

    /// The number of parties that trip the barrier.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(amphi::Barrier::new(5).parties(), 5);
    /// ```
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many threads and tasks wait on the barrier right now (a
    /// snapshot): arrived waiters, and arrivals waiting for an action to
    /// finish. The leader never counts: it does not wait.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = amphi::Barrier::new(2);
    /// assert_eq!(b.waiters().total(), 0);
    /// ```
    pub fn waiters(&self) -> Waiters {
        self.census.snapshot()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Unlocks, then wakes every listener if there is one (a round ended).
    fn wake(&self, st: MutexGuard<'_, State>) {
        let someone = self.listening.load(Ordering::Relaxed) > 0;
        drop(st);
        if someone {
            self.event.notify(usize::MAX);
        }
    }

    /// One arrival, under the lock.
    fn arrive(&self) -> Arrival {
        let mut st = self.lock();
        if st.broken {
            return Arrival::Broken;
        }
        if st.round.phase() == TRIPPING {
            if in_own_action(self) {
                drop(st);
                panic!(
                    "amphi: `Barrier::wait` called from the barrier's own action; the action \
                     runs before its round is released, so this wait could only wait for itself"
                );
            }
            return Arrival::Entering(Arc::clone(&st.round));
        }
        let index = st.take_index();
        st.count += 1;
        if st.count == self.parties {
            debug_assert_eq!(index, self.parties - 1);
            st.round.set(TRIPPING);
            Arrival::Leader
        } else {
            Arrival::Member(Arc::clone(&st.round), index)
        }
    }

    /// The leader: runs the action, then releases the round.
    fn trip(&self) -> BarrierWaitResult {
        if let Some(action) = &self.action {
            let ran = {
                let _running = ActionScope::enter(self);
                panic::catch_unwind(AssertUnwindSafe(action))
            };
            if let Err(payload) = ran {
                // Nothing but the leader ends a tripping round.
                let mut st = self.lock();
                st.broken = true;
                st.end_round(BROKEN);
                self.wake(st);
                panic::resume_unwind(payload);
            }
        }
        let mut st = self.lock();
        debug_assert_eq!(st.round.phase(), TRIPPING);
        st.end_round(TRIPPED);
        self.wake(st);
        BarrierWaitResult {
            index: self.parties - 1,
            leader: true,
        }
    }

    /// A waiter whose time ran out while its round is filling breaks the
    /// barrier (and returns `true`); a round past filling (tripping or
    /// over) is left as it is.
    fn time_out(&self, round: &Round) -> bool {
        let mut st = self.lock();
        if round.phase() != FILLING {
            return false;
        }
        st.broken = true;
        st.end_round(BROKEN);
        self.wake(st);
        true
    }

    /// A waiter dropped while its round fills leaves it.
    fn leave(&self, round: &Arc<Round>, index: usize) {
        let mut st = self.lock();
        if round.phase() == FILLING {
            debug_assert!(Arc::ptr_eq(round, &st.round));
            st.count -= 1;
            st.free.push(Reverse(index));
        }
    }
}

#[track_caller]
#[cold]
fn zero_parties() -> ! {
    panic!("amphi: a Barrier needs at least one party, got 0")
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.is_broken())
            .finish_non_exhaustive()
    }
}

// Which barrier's action runs on this thread, to refuse a wait from it.
// (Not under loom: its threads may share one OS thread.)
#[cfg(not(loom))]
std::thread_local! {
    static IN_ACTION: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn addr(b: &Barrier) -> usize {
    b as *const Barrier as usize
}

fn in_own_action(b: &Barrier) -> bool {
    #[cfg(not(loom))]
    {
        IN_ACTION.with(|c| c.get() == addr(b))
    }
    #[cfg(loom)]
    {
        let _ = b;
        false
    }
}

/// Marks the thread as running `b`'s action while it lives.
struct ActionScope {
    #[cfg(not(loom))]
    outer: usize,
}

impl ActionScope {
    fn enter(b: &Barrier) -> ActionScope {
        #[cfg(not(loom))]
        {
            ActionScope {
                outer: IN_ACTION.with(|c| c.replace(addr(b))),
            }
        }
        #[cfg(loom)]
        {
            let _ = addr(b);
            ActionScope {}
        }
    }
}

impl Drop for ActionScope {
    fn drop(&mut self) {
        #[cfg(not(loom))]
        IN_ACTION.with(|c| c.set(self.outer));
    }
}

/// What an arrival gave.
enum Arrival {
    Broken,
    /// A round's action runs: wait for it to end, then arrive.
    Entering(Arc<Round>),
    Member(Arc<Round>, usize),
    /// This arrival trips the barrier.
    Leader,
}

/// What a released waiter gets from [`Barrier::wait`].
///
/// # Examples
///
/// ```
/// let b = amphi::Barrier::new(1);
/// let r = b.wait_blocking().unwrap();
/// assert_eq!((r.index(), r.is_leader()), (0, true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BarrierWaitResult {
    index: usize,
    leader: bool,
}

impl BarrierWaitResult {
    /// This waiter's place in its round, from `0` to `parties - 1`, distinct
    /// among the waiters of one round (Python's return value of `wait`): the
    /// arrival order, except that an arrival takes the lowest index freed
    /// by a waiter that left (was dropped) before the round tripped.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = amphi::Barrier::new(1);
    /// assert_eq!(b.wait_blocking().unwrap().index(), 0);
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// Whether this waiter tripped the barrier: its arrival was the last
    /// one of its round (index `parties - 1`), and it ran the action. True
    /// for exactly one waiter per round. (tokio's `is_leader` also marks
    /// one waiter per round; Python has no leader.)
    ///
    /// # Examples
    ///
    /// ```
    /// let b = amphi::Barrier::new(1);
    /// assert!(b.wait_blocking().unwrap().is_leader());
    /// ```
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

/// The error of a barrier wait: the barrier was broken (by
/// [`abort`](Barrier::abort), a timeout or a panicking action) or reset
/// before the waiter's round tripped (Python's `BrokenBarrierError`).
///
/// # Examples
///
/// ```
/// let b = amphi::Barrier::new(2);
/// b.abort();
/// assert_eq!(b.wait_blocking().unwrap_err(), amphi::BrokenBarrier);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BrokenBarrier;

impl fmt::Display for BrokenBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken")
    }
}

impl std::error::Error for BrokenBarrier {}

/// Why a timed barrier wait gave no [`BarrierWaitResult`].
///
/// Both mean that this waiter's round did not trip, and that the barrier is
/// broken (unless it was reset): `TimedOut` says this waiter's own time ran
/// out, and that it broke the barrier. Converts into [`BrokenBarrier`]
/// (Python raises `BrokenBarrierError` in both cases).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use amphi::{BarrierTimeoutError, BrokenBarrier};
/// let b = amphi::Barrier::new(2);
/// let err = b.wait().wait_timeout(Duration::from_millis(1)).unwrap_err();
/// assert_eq!(err, BarrierTimeoutError::TimedOut);
/// assert_eq!(BrokenBarrier::from(err), BrokenBarrier);
/// let err = b.wait().wait_timeout(Duration::from_millis(1)).unwrap_err();
/// assert_eq!(err, BarrierTimeoutError::Broken);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BarrierTimeoutError {
    /// This waiter's time ran out before its round tripped; it broke the
    /// barrier.
    TimedOut,
    /// The barrier was broken, or reset, before this waiter's round
    /// tripped.
    Broken,
}

impl fmt::Display for BarrierTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarrierTimeoutError::TimedOut => {
                f.write_str("timed out waiting at the barrier, which is now broken")
            }
            BarrierTimeoutError::Broken => f.write_str("the barrier is broken"),
        }
    }
}

impl std::error::Error for BarrierTimeoutError {}

impl From<BarrierTimeoutError> for BrokenBarrier {
    fn from(_: BarrierTimeoutError) -> BrokenBarrier {
        BrokenBarrier
    }
}

impl From<BrokenBarrier> for BarrierTimeoutError {
    fn from(_: BrokenBarrier) -> BarrierTimeoutError {
        BarrierTimeoutError::Broken
    }
}

/// The error of [`Barrier::try_new`]: a barrier needs at least one party
/// (Python 3.13 raises `ValueError`).
///
/// # Examples
///
/// ```
/// assert_eq!(amphi::Barrier::try_new(0).unwrap_err(), amphi::ZeroParties);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ZeroParties;

impl fmt::Display for ZeroParties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a barrier needs at least one party")
    }
}

impl std::error::Error for ZeroParties {}

/// Where a [`BarrierWait`] stands.
enum Stage {
    /// Not arrived yet.
    Start,
    /// Waits for this round's action to end before arriving.
    Entering(Arc<Round>),
    /// Arrived in `round`, with `index`.
    Member { round: Arc<Round>, index: usize },
    /// Returned its output.
    Done,
}

/// "This round is over", the flag one waiter waits for.
struct Watch<'a> {
    barrier: &'a Barrier,
    round: &'a Round,
}

impl Flag for Watch<'_> {
    fn event(&self) -> &event_listener::Event {
        &self.barrier.event
    }
    fn census(&self) -> &Census {
        &self.barrier.census
    }
    fn is_over(&self) -> bool {
        self.round.is_over()
    }
    fn count(&self) -> bool {
        let _st = self.barrier.lock();
        self.barrier.listening.fetch_add(1, Ordering::Relaxed);
        self.round.is_over()
    }
    fn uncount(&self) {
        self.barrier.listening.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The future of [`Barrier::wait`]: `Ok` once its round trips, `Err` if the
/// barrier breaks first.
///
/// `Send`, `Sync` and `Unpin`.
///
/// # Cancel safety
///
/// Cancel safe, as [`Barrier::wait`] details: dropped before its round
/// trips, it leaves the round; dropped after, it hands nothing on.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let b = amphi::Barrier::new(1);
/// let fut: amphi::futures::BarrierWait<'_> = b.wait();
/// assert!(fut.wait_timeout(Duration::from_millis(1)).unwrap().is_leader());
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it or use `Barrier::wait_blocking`"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    stage: Stage,
    signal: Signal,
}

impl BarrierWait<'_> {
    /// Waits (per `s`) until the round of `stage` is over; `Pending` as
    /// `Signal::poll` gives it. Stale wake-ups (meant for an earlier round)
    /// are waited past.
    fn poll_over(&mut self, s: &mut Strategy<'_, '_>) -> Poll<()> {
        let BarrierWait {
            barrier,
            stage,
            signal,
        } = self;
        let round = match stage {
            Stage::Entering(round) | Stage::Member { round, .. } => &**round,
            Stage::Start | Stage::Done => return Poll::Ready(()),
        };
        let watch = Watch { barrier, round };
        loop {
            ready!(signal.poll(&watch, s));
            if round.is_over() {
                return Poll::Ready(());
            }
        }
    }

    /// Finishes the signal (uncounts, discards the listener) and leaves the
    /// stage `Done`, giving back what it was.
    fn take_stage(&mut self) -> Stage {
        let stage = std::mem::replace(&mut self.stage, Stage::Done);
        if let Stage::Entering(round) | Stage::Member { round, .. } = &stage {
            self.signal.finish(&Watch {
                barrier: self.barrier,
                round,
            });
        }
        stage
    }

    /// The output of a waiter whose round is over.
    fn outcome(round: &Round, index: usize) -> Result<BarrierWaitResult, BrokenBarrier> {
        match round.phase() {
            TRIPPED => Ok(BarrierWaitResult {
                index,
                leader: false,
            }),
            _ => Err(BrokenBarrier),
        }
    }
}

impl Op for BarrierWait<'_> {
    type Output = Result<BarrierWaitResult, BrokenBarrier>;
    type Timed = Result<BarrierWaitResult, BarrierTimeoutError>;

    fn name(&self) -> &'static str {
        "Barrier::wait"
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Output> {
        loop {
            match &self.stage {
                Stage::Start => {}
                Stage::Entering(_) => {
                    ready!(self.poll_over(s));
                    self.take_stage();
                    // The action ended: arrive now.
                }
                Stage::Member { .. } => {
                    ready!(self.poll_over(s));
                    let Stage::Member { round, index } = self.take_stage() else {
                        unreachable!()
                    };
                    return Poll::Ready(Self::outcome(&round, index));
                }
                Stage::Done => panic!("amphi: `Barrier::wait` future polled after it completed"),
            }
            match self.barrier.arrive() {
                Arrival::Broken => {
                    self.stage = Stage::Done;
                    return Poll::Ready(Err(BrokenBarrier));
                }
                Arrival::Entering(round) => self.stage = Stage::Entering(round),
                Arrival::Member(round, index) => self.stage = Stage::Member { round, index },
                Arrival::Leader => {
                    self.stage = Stage::Done;
                    return Poll::Ready(Ok(self.barrier.trip()));
                }
            }
        }
    }

    fn poll_expired(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Timed> {
        // A last try, as at any arrival (the drivers poll before they
        // expire, so this only arrives a waiter nobody polled yet).
        if matches!(self.stage, Stage::Start | Stage::Entering(_))
            && let Poll::Ready(out) = self.poll_op(&mut Strategy::NoWait)
        {
            return Poll::Ready(Self::in_time(out));
        }
        match &self.stage {
            Stage::Start | Stage::Done => {
                panic!("amphi: `Barrier::wait` future polled after it completed")
            }
            Stage::Entering(_) => {
                // Still waiting for another round's action: it never
                // arrived, but its party is late, so it breaks the barrier.
                self.take_stage();
                let mut st = self.barrier.lock();
                if st.broken {
                    return Poll::Ready(Err(BarrierTimeoutError::Broken));
                }
                if st.break_barrier() {
                    self.barrier.wake(st);
                }
                Poll::Ready(Err(BarrierTimeoutError::TimedOut))
            }
            Stage::Member { round, .. } => {
                if !round.is_over() {
                    if self.barrier.time_out(round) {
                        self.take_stage();
                        return Poll::Ready(Err(BarrierTimeoutError::TimedOut));
                    }
                    // All parties have arrived: the round has tripped and
                    // its action runs. Wait for it (no deadline), as a
                    // Python waiter whose time ran out waits for the lock
                    // and then sees the trip.
                    ready!(self.poll_over(s));
                }
                let Stage::Member { round, index } = self.take_stage() else {
                    unreachable!()
                };
                Poll::Ready(Self::in_time(Self::outcome(&round, index)))
            }
        }
    }

    fn in_time(out: Self::Output) -> Self::Timed {
        out.map_err(BarrierTimeoutError::from)
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if let Stage::Member { round, index } = self.take_stage() {
            // Leaves the round if it is still filling; after a trip there
            // is nothing to hand on (a broadcast).
            self.barrier.leave(&round, index);
        }
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match &self.stage {
            Stage::Start => "not arrived",
            Stage::Entering(_) => "waiting for an action to end",
            Stage::Member { .. } => "arrived",
            Stage::Done => "done",
        };
        f.debug_struct("BarrierWait")
            .field("stage", &stage)
            .finish_non_exhaustive()
    }
}

waiting_future! {
    impl['a] BarrierWait<'a> => Result<BarrierWaitResult, BrokenBarrier>,
        timed Result<BarrierWaitResult, BarrierTimeoutError>;
    example: "```
use std::time::Duration;
let b = amphi::Barrier::new(1);
assert!(b.wait().wait().unwrap().is_leader());
assert_eq!(b.wait().wait_timeout(Duration::from_millis(1)).unwrap().index(), 0);
```"
}
