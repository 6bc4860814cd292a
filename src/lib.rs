//! amphi: Python's `threading` toolbox for Rust, in which every primitive
//! lives in both worlds.
//!
//! The same [`Lock`], [`RLock`], [`Condition`], [`Semaphore`],
//! [`BoundedSemaphore`], [`Event`], [`Barrier`] and queues ([`Queue`],
//! [`LifoQueue`], [`PriorityQueue`]) can be waited on by OS threads
//! (blocking) and by tokio tasks (`.await`) at the same time, with timeouts
//! on both sides.
//!
//! A [`ThreadPoolExecutor`] (Python's `concurrent.futures`) runs blocking
//! jobs on its own threads; its [`JobHandle`]s are awaited by tasks and
//! blocked on by threads, and [`as_completed`] and [`wait`] watch many at
//! once, in both worlds.
//!
//! A [`Timer`] calls a function after a delay, or repeatedly at a fixed
//! rate or delay ([`Repeat`]); every timer of the process shares one
//! scheduler thread, [`Timer::cancel`] says whether it prevented the call
//! and [`Timer::reset`] postpones it. [`thread`] gives OS threads Python's
//! vocabulary: names, a daemon flag, the registry
//! ([`thread::current_thread`], [`thread::enumerate`]), an excepthook, and
//! a [`ThreadHandle::join`] that a task awaits and a thread blocks on with
//! a timeout told apart from the result. [`Local`] is `threading.local`.
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
//! Timed lock acquires give `Option<guard>` (`None`: the time ran out), timed
//! semaphore acquires `Result<permit, AcquireTimeoutError>` (a semaphore can
//! also be closed), timed [`Event`] waits `bool` (`true`: set), and timed
//! [`Condition`] waits give the guard back together with a
//! [`WaitTimeoutResult`] (`.timed_out()`). Timed queue calls give a
//! `Result` whose error says timed out or shut down, and a refused put
//! carries its item back ([`PutTimeoutError::TimedOut`]`(item)`). A zero
//! timeout only tries; a timeout too large for `Instant` means "wait
//! forever".
//!
//! Every primitive reports how many threads and tasks wait on it right now
//! (`waiters()`, a [`Waiters`] snapshot), to see what is stuck; the
//! executor reports what its jobs and threads do instead
//! ([`ThreadPoolExecutor::stats`]).
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
//! | `rlock = RLock()` | `let r = RLock::new(data)`; guards give `&T` | same |
//! | `rlock.acquire()` by its owner again | `r.lock_blocking()` re-enters | `r.lock().await` re-enters |
//! | `cond = Condition(lock)` | `let cond = Condition::new()`, used with a `Lock` or `RLock` guard | same |
//! | `cond.wait()` | `g = cond.wait_blocking(g)` | `g = cond.wait(g).await` |
//! | `cond.wait(t)` → `True` if notified | `let (g, r) = cond.wait(g).wait_timeout(t)`, `r.notified()` | `cond.wait(g).timeout(t).await` |
//! | `cond.wait_for(pred)` | `cond.wait_while(g, \|v\| !pred(v)).wait()` | `cond.wait_while(g, ..).await` |
//! | `cond.wait_for(pred, t)` | `cond.wait_while(g, ..).wait_timeout(t)` → `(g, r)`, `r.timed_out()` | `.timeout(t).await` |
//! | `cond.notify(n)` / `notify_all()` | `cond.notify(n)` / `cond.notify_all()` | same |
//! | `sem = Semaphore(n)` | `let sem = Semaphore::new(n)` | same |
//! | `sem.acquire()` / `with sem:` | `let p = sem.acquire_blocking()?` | `let p = sem.acquire().await?` |
//! | `sem.acquire(timeout=t)` | `sem.acquire().wait_timeout(t)` → `Result` | `sem.acquire().timeout(t).await` |
//! | `sem.acquire(blocking=False)` | `sem.try_acquire()` → `Result` | same |
//! | `sem.release(n)` | `sem.release(n)` (or drop the permit) | same |
//! | `acquire()` without `release()` | `p.forget()` | same |
//! | `BoundedSemaphore(n).release()` past `n` | `Err(OverRelease)`, nothing changes | same |
//! | (no Python equivalent) | `sem.close()`: waiters wake with `Err(Closed)` | same |
//! | `b = Barrier(n)` | `let b = Barrier::new(n)` (0 parties refused) | same |
//! | `i = b.wait()` | `b.wait_blocking()?.index()` | `b.wait().await?.index()` |
//! | `b.wait(t)` (breaks it for all) | `b.wait().wait_timeout(t)` | `b.wait().timeout(t).await` |
//! | `b.abort()` / `b.reset()` / `b.broken` | `b.abort()` / `b.reset()` / `b.is_broken()` | same |
//! | `ev = Event()` | `let ev = Event::new()` | same |
//! | `ev.set()` / `clear()` / `is_set()` | `ev.set()` / `ev.clear()` / `ev.is_set()` | same |
//! | `ev.wait()` | `ev.wait_blocking()` | `ev.wait().await` |
//! | `ev.wait(t)` | `ev.wait().wait_timeout(t)` (`bool`) | `ev.wait().timeout(t).await` (`bool`) |
//! | `q = Queue(maxsize)` / `LifoQueue` / `PriorityQueue` | `let q = Queue::new(maxsize)` (0: unbounded) / `LifoQueue::new(..)` / `PriorityQueue::new(..)` | same |
//! | `q.qsize()` / `empty()` / `full()` / `maxsize` | `q.len()` / `q.is_empty()` / `q.is_full()` / `q.maxsize()` | same |
//! | `q.put(x)` | `q.put_blocking(x)?` | `q.put(x).await?` |
//! | `q.put(x, timeout=t)` → `Full` | `q.put(x).wait_timeout(t)` → `Err(TimedOut(x))` | `q.put(x).timeout(t).await` |
//! | `q.put_nowait(x)` → `Full` | `q.try_put(x)` → `Err(TryPutError::Full(x))` | same |
//! | `q.get()` | `q.get_blocking()?` | `q.get().await?` |
//! | `q.get(timeout=t)` → `Empty` | `q.get().wait_timeout(t)` → `Err(GetTimeoutError::TimedOut)` | `q.get().timeout(t).await` |
//! | `q.get_nowait()` → `Empty` | `q.try_get()` → `Err(TryGetError::Empty)` | same |
//! | `q.task_done()` (`ValueError` if too often) | `q.task_done()` → `Err(TaskDoneError)` | same |
//! | `q.join()` | `q.join_blocking()` | `q.join().await` |
//! | `q.unfinished_tasks` | `q.unfinished()` | same |
//! | `q.shutdown(immediate)` | `q.shutdown(immediate)` → the removed items | same |
//! | `except ShutDown` | `Err(ShutDown)`; a put's error carries the item | same |
//! | (no Python equivalent) | `put_many`, `get_many(n)`, `drain()`, `peek()`, `iter_blocking()` | `put_many(..).await`, `get_many(n).await`, `stream()` |
//! | `data = threading.local()` | `let data = Local::new(\|\| ..)`; `data.get()` (this thread's) | same (per OS thread, not per task) |
//! | `ex = ThreadPoolExecutor(n)` | `let ex = ThreadPoolExecutor::new(n)`; [`ThreadPoolExecutor::builder`] | same |
//! | `f = ex.submit(fn)` | `let h = ex.submit_blocking(fn)?` or `ex.try_submit(fn)?` | `let h = ex.submit(fn).await?` |
//! | `f.result()` / `f.result(t)` | `h.result_blocking()` / `h.result().wait_timeout(t)` (`None`: still running) | `h.await` / `h.result().timeout(t).await` |
//! | `f.cancel()` / `done()` / `running()` / `cancelled()` | same names | same |
//! | `f.add_done_callback(fn)` | `h.add_done_callback(\|h\| ..)` | same |
//! | `ex.map(fn, xs, timeout, buffersize)` | `ex.map_buffered(f, xs, n).timeout(t)` (iterator) | `.stream()` |
//! | `as_completed(fs, timeout)` | `amphi::as_completed(hs).timeout(t)` (iterator) | `.stream()` |
//! | `wait(fs, timeout, return_when)` | `amphi::wait(hs, ReturnWhen::..).wait_timeout(t)` | `.timeout(t).await` |
//! | `ex.shutdown(wait, cancel_futures)` | `ex.shutdown_blocking(c)`; `wait=False`: drop the returned future | `ex.shutdown(c).await` |
//! | `t = Thread(target=f, name=n, daemon=d); t.start()` | `let t = ThreadBuilder::new().name(n).daemon(d).spawn(f)?` or [`thread::spawn`] | same |
//! | `t.join()` / `t.join(s)` | `t.join_blocking()` → the value or the panic / `t.join().wait_timeout(d)` (`None`: still running) | `t.join().await` / `t.join().timeout(d).await` |
//! | `t.is_alive()`, `name`, `ident`, `native_id`, `daemon` | `t.is_alive()`, `t.name()`, `t.thread().ident()`, `.native_id()`, `.is_daemon()` | same |
//! | `current_thread()`, `main_thread()`, `enumerate()`, `active_count()`, `get_ident()`, `get_native_id()` | the same names in [`thread`] | same |
//! | `threading.excepthook = f` | [`thread::set_excepthook`]`(f)`, [`thread::reset_excepthook`] | same |
//! | (interpreter exit joins non-daemon threads) | [`thread::join_non_daemon_blocking`] last in `main` | `thread::join_non_daemon().await` |
//! | `t = Timer(s, f); t.start()` | `Timer::new(d, f).start()` or `Timer::after(d, f)` | `Timer::new_async(d, \|\| async { .. })` |
//! | `t.cancel()` | `t.cancel()` → `bool` (whether it prevented the call) | same |
//! | `t.join()`, `t.finished.wait(s)` | `t.join_blocking()`, `t.join().wait_timeout(d)` | `t.join().await` |
//! | (no Python equivalent) | `t.reset()`, `Timer::repeating(period, Repeat::FixedRate, f)` | `Timer::repeating_async(..)` |
//! | `settrace`, `setprofile` | no use in Rust (no interpreter) | |
//!
//! Where the queues differ from Python on purpose: `shutdown(true)` returns
//! the items it removes (Python drops them); equal priorities leave in put
//! order; [`join`](GenericQueue::join) returns once the unfinished count was
//! zero at some moment after the call (as `asyncio.Queue.join`; threading's
//! `join` looks again after waking and can miss that moment); `maxsize` is a
//! `usize` fixed at construction, 0 meaning unbounded.
//!
//! Where the executor differs from Python on purpose: a job's result is
//! handed out once (another clone of its handle then gets
//! [`JobError::Taken`]); dropping the executor shuts it down without waiting
//! (Python's `with` waits); `shutdown` from one of the pool's own jobs does
//! not wait; `map` keeps at most twice `max_workers` jobs in flight by
//! default, and goes on after a job's panic (that item is an `Err`; Python
//! raises and ends); `wait` gives lists in input order, not sets, and
//! `as_completed` yields every handle given, clones of one job included; a
//! cancelled job is done at once for every waiter (no
//! `CANCELLED_AND_NOTIFIED` state); a panicking done callback is reported
//! on stderr and counted (Python logs it).
//!
//! # Blocking inside a runtime
//!
//! Blocking methods never build a runtime or call `block_on`. Every blocking
//! call, fast path included, first asks where it runs, so that the same call
//! in the same place behaves the same way whatever the contention:
//!
//! * **a plain thread** (no runtime): it parks the thread;
//! * **a `spawn_blocking` thread**, or a thread that only entered a runtime:
//!   it parks the thread;
//! * **a multi-thread runtime's worker** (a task, or its `block_on` body): it
//!   parks inside `tokio::task::block_in_place`, which first moves the
//!   worker's other tasks to another thread. Two limits: the other futures
//!   of the *same* task (`join!`/`select!` siblings, a `FuturesUnordered`)
//!   stall until the call returns, and `block_in_place` can hand the worker's
//!   tasks on only if the runtime can start another thread: with its
//!   blocking pool full (`max_blocking_threads` all busy, for example with
//!   `spawn_blocking` jobs waiting on the same lock), those tasks wait until
//!   the blocking call returns;
//! * **a `LocalSet` on a multi-thread runtime's `block_on`**: it parks plainly
//!   (tokio refuses `block_in_place` there), stalling that `LocalSet`'s
//!   other tasks while it waits;
//! * **the thread that drives a current-thread runtime** (its tasks, its
//!   `block_on` body, a `LocalSet` on it, and so a default `#[tokio::test]`):
//!   it panics at the caller's line, every time, even when it would not have
//!   had to wait, naming the method and the fix: `.await` the async form
//!   there, or move the blocking code to `spawn_blocking` or a plain thread.
//!   Blocking there would stall every task of that runtime, perhaps the very
//!   one that would wake the waiter.
//!
//! Known gaps in that rule, all from what tokio lets a library see: the
//! refusal on a current-thread runtime is learnt by catching tokio's own
//! panic, so under `panic = "abort"` the process aborts there instead (with
//! tokio's message), and a custom panic hook sees tokio's panic first; a
//! `LocalSet` on a multi-thread runtime (where tokio refuses
//! `block_in_place`) parks plainly on contention instead of refusing; and a
//! current-thread runtime's thread that has also entered a multi-thread
//! runtime's handle (`mt.handle().enter()` inside `block_on`) is taken for a
//! multi-thread thread and parks, which can deadlock if a task of the
//! current-thread runtime holds the lock.
//!
//! Off any runtime the question costs one thread-local read. On a
//! current-thread runtime's `spawn_blocking` threads it also costs a call of
//! `block_in_place` that returns at once (tokio offers no other way to tell
//! those threads from the runtime's own); tokio's refusal message may be
//! printed just before amphi's panic. Without the default `tokio` feature,
//! blocking calls simply park the thread.
//!
//! `let _ = lock.lock_blocking();` unlocks at once, as for every RAII guard
//! (`let _` drops its value on the spot; rustc's `let_underscore_lock` lint
//! knows only std's locks): bind guards to a named variable (`let _guard`).
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
//! loses nothing: no lock hand-off, no permit, no queue item, no
//! notification. A wake-up meant for one waiter that had already reached the
//! dropped one (a lock hand-off, a permit, a `notify(1)`, an "item ready" or
//! "room free") passes on to the next waiter. A broadcast (`Event::set`,
//! [`Condition::notify_all`], `Semaphore::close`, a queue's "all done" and
//! shutdown) is not handed on: a waiter that came after it must not wake
//! for something that happened before it came. An item leaves a queue only
//! when a get returns it; a put future dropped before it is ready never put
//! its item (take it back first with [`Put::into_item`](futures::Put::into_item)).
//! A [`submit`](ThreadPoolExecutor::submit) future dropped before its job
//! went in never queued it (take the closure back first with
//! [`Submit::into_closure`](futures::Submit::into_closure)); dropping a
//! [`JobHandle`], or a future awaiting one, never cancels the job.
//!
//! A future kept alive but not polled (a `&mut fut` in a `select!` loop that
//! is busy elsewhere) stops nobody for long: a lock or permit reserved for
//! it by the fairness fallback goes to others once it has been free for
//! 2 ms (the next `try_` call or arriving waiter takes it), and a lock
//! wake-up it does not take up is repeated to the next waiter once unlocks
//! have kept finding it pending for 2 ms. In a queue, a get or put future
//! that was woken and has not come for its item (or room) within 2 ms no
//! longer holds the turn: the next put, get or `try_` call wakes the next
//! waiter in its place (new callers are never stopped: a new get takes an
//! item at once). Without any such call there is no timer: a waiter
//! already asleep stays asleep until then, or until its own deadline.
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

mod barrier;
mod condition;
mod core;
mod event;
mod executor;
mod local;
mod lock;
mod panic;
mod queue;
mod raw;
mod rlock;
mod semaphore;
pub mod thread;
mod timer;

pub mod futures;

pub use barrier::{Barrier, BarrierTimeoutError, BarrierWaitResult, BrokenBarrier, ZeroParties};
pub use condition::{Condition, Relock, WaitTimeoutResult};
pub use core::Waiters;
pub use event::Event;
pub use executor::{
    AsCompleted, AsCompletedStream, AsCompletedTimeout, BuildError, ExecutorBuilder, ExecutorStats,
    JobError, JobHandle, JobPanic, Map, MapError, MapStream, ReturnWhen, SubmitError,
    SubmitTimeoutError, ThreadPoolExecutor, TrySubmitError, Waited, as_completed, wait,
};
pub use local::Local;
pub use lock::{Lock, LockGuard, LockGuardArc};
pub use panic::Panic;
pub use queue::{
    BlockingIter, Fifo, GenericQueue, GetTimeoutError, Lifo, LifoQueue, Order, Prioritized,
    Priority, PriorityQueue, PutError, PutTimeoutError, Queue, QueueRef, QueueWaiting, ShutDown,
    TaskDoneError, TryGetError, TryPutError,
};
pub use rlock::{RLock, RLockGuard, RLockGuardArc};
pub use semaphore::{
    AcquireTimeoutError, AsSemaphore, BoundedSemaphore, Closed, OverRelease, Semaphore,
    SemaphorePermit, SemaphorePermitArc, TryAcquireError,
};
pub use thread::{Thread, ThreadBuilder, ThreadError, ThreadHandle};
pub use timer::{Repeat, Timer};
