//! amphi: Python's `threading` toolbox for Rust, in which every primitive
//! lives in both worlds.
//!
//! The same [`Lock`], [`Condition`], [`Semaphore`], [`BoundedSemaphore`] and
//! [`Event`] can be waited on by OS threads (blocking) and by tokio tasks
//! (`.await`) at the same time, with timeouts on both sides.
//!
//! # The naming grid
//!
//! | form | example | meaning |
//! |---|---|---|
//! | `x()` | `lock.lock().await` | a named, `#[must_use]` future (all in [`futures`]) |
//! | `x_blocking()` | `lock.lock_blocking()` | parks the thread until done |
//! | `.wait()`, `.wait_timeout(d)`, `.wait_deadline(t)` | `lock.lock().wait_timeout(d)` | the future, driven by blocking the thread |
//! | `.timeout(d)`, `.timeout_at(t)` | `lock.lock().timeout(d).await` | the future, awaited with a time limit |
//! | `try_x()` | `lock.try_lock()` | never waits |
//! | `x_arc()` | `lock.lock_arc()` | owned guard for an `Arc<Self>` |
//!
//! Timed acquires give `Option<guard>` (`None`: the time ran out), timed
//! [`Event`] waits give `bool`, and timed [`Condition`] waits give the guard
//! back together with a `timed_out` flag. A zero timeout only tries; a
//! timeout too large for `Instant` means "wait forever".
//!
//! # Python → amphi
//!
//! | Python | amphi, thread | amphi, task |
//! |---|---|---|
//! | `lock = Lock()` | `let lock = Lock::new(data)` (or `Lock::new(())`) | same |
//! | `lock.acquire()` / `with lock:` | `let g = lock.lock_blocking()` | `let g = lock.lock().await` |
//! | `lock.acquire(timeout=t)` | `lock.lock().wait_timeout(t)` | `lock.lock().timeout(t).await` |
//! | `lock.acquire(blocking=False)` | `lock.try_lock()` | same |
//! | `lock.release()` | `drop(g)` | same |
//! | `lock.locked()` | `lock.is_locked()` | same |
//! | `cond = Condition(lock)` | `let cond = Condition::new()`, used with the lock's guards | same |
//! | `cond.wait()` | `g = cond.wait_blocking(g)` | `g = cond.wait(g).await` |
//! | `cond.wait(t)` | `let (g, timed_out) = cond.wait(g).wait_timeout(t)` | `cond.wait(g).timeout(t).await` |
//! | `cond.wait_for(pred)` | `cond.wait_while(g, \|v\| !pred(v)).wait()` | `cond.wait_while(g, ..).await` |
//! | `cond.notify(n)` / `notify_all()` | `cond.notify(n)` / `cond.notify_all()` | same |
//! | `sem = Semaphore(n)` | `let sem = Semaphore::new(n)` | same |
//! | `sem.acquire()` / `with sem:` | `let p = sem.acquire_blocking()` | `let p = sem.acquire().await` |
//! | `sem.acquire(timeout=t)` | `sem.acquire().wait_timeout(t)` | `sem.acquire().timeout(t).await` |
//! | `sem.acquire(blocking=False)` | `sem.try_acquire()` | same |
//! | `sem.release(n)` | `sem.release(n)` (or drop the permit) | same |
//! | `BoundedSemaphore(n).release()` past `n` | `Err(OverRelease)`, nothing changes | same |
//! | `ev = Event()` | `let ev = Event::new()` | same |
//! | `ev.set()` / `clear()` / `is_set()` | `ev.set()` / `ev.clear()` / `ev.is_set()` | same |
//! | `ev.wait()` | `ev.wait_blocking()` | `ev.wait().await` |
//! | `ev.wait(t)` | `ev.wait().wait_timeout(t)` (`bool`) | `ev.wait().timeout(t).await` (`bool`) |
//!
//! # Blocking inside a runtime
//!
//! Blocking methods never build a runtime or call `block_on`. On their slow
//! path (when they really must wait) they run the wait inside tokio's
//! `block_in_place` if the thread belongs to a tokio runtime: on a
//! multi-thread worker this moves the worker's other tasks to another thread
//! first; on a `spawn_blocking` thread, or a thread outside any runtime, it
//! costs nothing; inside a task of a current-thread runtime it panics (tokio's
//! message: "can call blocking only when running on the multi-threaded
//! runtime"), since blocking there would stall every task of that runtime,
//! perhaps the very one that would wake the waiter. Uncontended blocking calls
//! never look at the runtime and work everywhere. Without the default `tokio`
//! feature, blocking calls simply park the thread.
//!
//! # Async timeouts
//!
//! `timeout`/`timeout_at` use tokio's timer: they need a tokio runtime with
//! the time driver (current-thread or multi-thread) and the default `tokio`
//! feature. Outside tokio, use your runtime's own timeout around the plain
//! future: every amphi future is cancel safe.
//!
//! # Cancel safety
//!
//! Dropping a pending amphi future (a timeout, `select!`, an aborted task)
//! loses nothing: no lock hand-off, no permit, no notification. A wake-up that
//! had already been delivered to the dropped waiter passes on to the next one.
//!
//! # No poisoning
//!
//! A panic while a guard or permit is held releases it, as in parking_lot,
//! async-lock and tokio. There is no poisoned state to recover from.
//!
//! # Unsafe code
//!
//! All `unsafe` lives in one private module of about forty lines: the data
//! cell of [`Lock`] and the stack-pinned listener used by blocking waits. The
//! rest of the crate denies unsafe code.
#![deny(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod condition;
mod core;
mod event;
mod lock;
mod raw;
mod semaphore;

pub mod futures;

pub use condition::{Condition, Relock, WaitTimeoutResult};
pub use core::Waiters;
pub use event::Event;
pub use lock::{Lock, LockGuard, LockGuardArc};
pub use semaphore::{
    AcquireTimeoutError, AsSemaphore, BoundedSemaphore, Closed, OverRelease, Semaphore,
    SemaphorePermit, SemaphorePermitArc, TryAcquireError,
};
