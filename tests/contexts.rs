//! The blocking waits of `Lock`, `Event`, `Semaphore` and `Condition` in every
//! place a thread can be relative to tokio:
//!
//! * a plain thread (with or without a runtime handle entered);
//! * a `spawn_blocking` thread (current-thread and multi-thread runtimes);
//! * a multi-thread runtime's worker, where the wait runs inside
//!   `block_in_place` so the worker's other tasks keep running: the task that
//!   releases the waiter is queued on the same, only, worker;
//! * a multi-thread runtime's `block_on` thread;
//! * a current-thread runtime's task or `block_on`, where a blocking wait that
//!   must wait panics with tokio's message, while an uncontended (or zero
//!   timeout) blocking call works.
//!
//! Each blocking call is tried both untimed (`x_blocking()`) and with a
//! deadline (`.wait_deadline`). Untimed waits are guarded by a backstop
//! thread that releases the waiter after `DEADLINE` and makes the test fail,
//! so no test can hang.

mod common;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use amphi::{Condition, Event, Lock, LockGuardArc, Semaphore};
use common::{
    DEADLINE, current_thread_runtime, deadline, join_task, let_thread_block, multi_thread_runtime,
    panic_message, spawn_thread, within,
};

/// tokio's panic message for blocking inside a current-thread runtime.
const TOKIO_MESSAGE: &str = "can call blocking only when running on the multi-threaded runtime";

// ---------------------------------------------------------------------------
// The subjects
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Lock,
    Event,
    Semaphore,
    Condition,
}

const KINDS: [Kind; 4] = [Kind::Lock, Kind::Event, Kind::Semaphore, Kind::Condition];

/// One primitive of `kind`, set up so that its blocking wait must wait until
/// `release` runs: the lock is held, the event clear, the semaphore empty,
/// the condition's flag false.
struct Subject {
    kind: Kind,
    lock: Arc<Lock<()>>,
    held: Mutex<Option<LockGuardArc<()>>>,
    event: Event,
    sem: Semaphore,
    cond_lock: Lock<bool>,
    cond: Condition,
}

impl Subject {
    fn new(kind: Kind) -> Arc<Self> {
        let lock = Arc::new(Lock::new(()));
        let held = Mutex::new(Some(lock.lock_arc_blocking()));
        Arc::new(Subject {
            kind,
            lock,
            held,
            event: Event::new(),
            sem: Semaphore::new(0),
            cond_lock: Lock::new(false),
            cond: Condition::new(),
        })
    }

    /// The blocking wait: `x_blocking()` when `untimed`, else the future's
    /// `wait_deadline`. True if it got through (false: the deadline passed).
    fn wait(&self, untimed: bool) -> bool {
        let give_up = deadline();
        match (self.kind, untimed) {
            (Kind::Lock, true) => {
                drop(self.lock.lock_blocking());
                true
            }
            (Kind::Lock, false) => self.lock.lock().wait_deadline(give_up).is_some(),
            (Kind::Event, true) => self.event.wait_blocking(),
            (Kind::Event, false) => self.event.wait().wait_deadline(give_up),
            (Kind::Semaphore, true) => {
                self.sem.acquire_blocking().forget();
                true
            }
            (Kind::Semaphore, false) => self
                .sem
                .acquire()
                .wait_deadline(give_up)
                .map(|p| p.forget())
                .is_some(),
            (Kind::Condition, true) => {
                let mut g = self.cond_lock.lock_blocking();
                while !*g {
                    g = self.cond.wait_blocking(g);
                }
                true
            }
            (Kind::Condition, false) => {
                let g = self.cond_lock.lock_blocking();
                let (g, still) = self.cond.wait_while(g, |f| !*f).wait_deadline(give_up);
                *g && !still
            }
        }
    }

    /// Releases the waiter, from a thread.
    fn release_blocking(&self) {
        match self.kind {
            Kind::Lock => drop(self.held.lock().unwrap().take()),
            Kind::Event => self.event.set(),
            Kind::Semaphore => self.sem.release(1),
            Kind::Condition => {
                *self.cond_lock.lock_blocking() = true;
                self.cond.notify_all();
            }
        }
    }

    /// Releases the waiter, from a task.
    async fn release(&self) {
        match self.kind {
            Kind::Condition => {
                *self.cond_lock.lock().await = true;
                self.cond.notify_all();
            }
            _ => self.release_blocking(),
        }
    }

    /// Whether `release` has run (nothing else changes these states).
    fn released(&self) -> bool {
        match self.kind {
            Kind::Lock => self.held.lock().unwrap().is_none(),
            Kind::Event => self.event.is_set(),
            // The waiter forgets the permit it takes.
            Kind::Semaphore => self.sem.available() > 0,
            Kind::Condition => *self.cond_lock.lock_blocking(),
        }
    }

    /// Checks that nothing is left locked or taken by a wait that panicked,
    /// and that the primitive still works after `release`.
    fn check_unharmed_after_panic(&self) {
        assert!(
            !self.cond_lock.is_locked(),
            "{:?}: lock left held",
            self.kind
        );
        assert!(!self.released(), "{:?}: state changed", self.kind);
        if self.kind == Kind::Semaphore {
            assert_eq!(self.sem.available(), 0);
        }
        self.release_blocking();
        assert!(
            self.wait(false),
            "{:?}: a wait after release failed",
            self.kind
        );
    }
}

/// Releases the subject from a plain thread if the test has not finished
/// after `DEADLINE`, so a blocking wait that should have been woken (or should
/// have panicked) cannot hang the test. `disarm` reports whether it fired.
struct Backstop {
    cancel: Option<mpsc::Sender<()>>,
    fired: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Backstop {
    fn arm(subject: &Arc<Subject>) -> Self {
        let (cancel, rx) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let (s, f) = (Arc::clone(subject), Arc::clone(&fired));
        let handle = thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(DEADLINE) {
                f.store(true, Ordering::SeqCst);
                s.release_blocking();
            }
        });
        Backstop {
            cancel: Some(cancel),
            fired,
            handle: Some(handle),
        }
    }

    /// Stops the backstop; panics if it had to release the waiter.
    fn disarm(mut self, what: &str) {
        drop(self.cancel.take());
        self.handle.take().unwrap().join().unwrap();
        assert!(
            !self.fired.load(Ordering::SeqCst),
            "{what}: the waiter was only released by the backstop after {DEADLINE:?}"
        );
    }
}

/// Every (kind, untimed) pair.
fn cases() -> impl Iterator<Item = (Kind, bool)> {
    KINDS.into_iter().flat_map(|k| [(k, false), (k, true)])
}

// ---------------------------------------------------------------------------
// 1. Plain threads
// ---------------------------------------------------------------------------

/// No runtime anywhere: a thread blocks, another thread releases it.
#[test]
fn plain_thread() {
    for (kind, untimed) in cases() {
        let what = format!("plain thread, {kind:?}, untimed={untimed}");
        let s = Subject::new(kind);
        let backstop = Backstop::arm(&s);
        let s2 = Arc::clone(&s);
        let waiter = spawn_thread(move || s2.wait(untimed));
        let_thread_block();
        s.release_blocking();
        assert!(waiter.join(), "{what}: wait failed");
        backstop.disarm(&what);
    }
}

/// A plain thread that has entered a runtime handle (so `Handle::try_current`
/// succeeds) but is not running a task: blocking is fine there, even for a
/// current-thread runtime's handle. A task of that runtime releases it.
#[test]
fn plain_thread_with_runtime_handle_entered() {
    for flavor_multi in [false, true] {
        let rt = if flavor_multi {
            multi_thread_runtime(1)
        } else {
            current_thread_runtime()
        };
        for (kind, untimed) in cases() {
            let what =
                format!("handle entered (multi={flavor_multi}), {kind:?}, untimed={untimed}");
            let s = Subject::new(kind);
            let backstop = Backstop::arm(&s);
            let (s2, handle) = (Arc::clone(&s), rt.handle().clone());
            let waiter = spawn_thread(move || {
                let _enter = handle.enter();
                assert!(tokio::runtime::Handle::try_current().is_ok());
                s2.wait(untimed)
            });
            let_thread_block();
            let s3 = Arc::clone(&s);
            rt.block_on(async move { within(s3.release()).await });
            assert!(waiter.join(), "{what}: wait failed");
            backstop.disarm(&what);
        }
    }
}

// ---------------------------------------------------------------------------
// 2. spawn_blocking threads
// ---------------------------------------------------------------------------

async fn spawn_blocking_cases(flavor: &str) {
    for (kind, untimed) in cases() {
        let what = format!("spawn_blocking ({flavor}), {kind:?}, untimed={untimed}");
        let s = Subject::new(kind);
        let backstop = Backstop::arm(&s);
        let s2 = Arc::clone(&s);
        let waiter = tokio::task::spawn_blocking(move || s2.wait(untimed));
        tokio::time::sleep(Duration::from_millis(10)).await; // let it park
        // A task of the same runtime releases it.
        let s3 = Arc::clone(&s);
        join_task(tokio::spawn(async move { s3.release().await })).await;
        assert!(join_task(waiter).await, "{what}: wait failed");
        backstop.disarm(&what);
    }
}

#[tokio::test]
async fn spawn_blocking_thread_current_thread_runtime() {
    spawn_blocking_cases("current-thread").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn spawn_blocking_thread_multi_thread_runtime() {
    spawn_blocking_cases("multi-thread").await;
}

// ---------------------------------------------------------------------------
// 3. Multi-thread runtime worker
// ---------------------------------------------------------------------------

/// Task T1 runs on the runtime's only worker. It spawns T2 (queued on that
/// same worker) and then blocks, without yielding, until T2 releases it. T2
/// can only run if the blocking wait moved the worker's tasks to another
/// thread (`block_in_place`); otherwise T1's wait runs into its deadline (or
/// the backstop) and the test fails.
#[test]
fn multi_thread_worker_keeps_other_tasks_running() {
    let rt = multi_thread_runtime(1);
    for (kind, untimed) in cases() {
        let what = format!("multi-thread worker, {kind:?}, untimed={untimed}");
        let s = Subject::new(kind);
        let backstop = Backstop::arm(&s);
        let (ok, waiter_thread, releaser_thread) = rt.block_on(within(async {
            let s1 = Arc::clone(&s);
            let t1 = tokio::spawn(async move {
                let s2 = Arc::clone(&s1);
                let t2 = tokio::spawn(async move {
                    s2.release().await;
                    thread::current().id()
                });
                let ok = s1.wait(untimed); // blocks this worker thread
                (ok, thread::current().id(), t2)
            });
            let (ok, waiter_thread, t2) = join_task(t1).await;
            let releaser_thread: ThreadId = join_task(t2).await;
            (ok, waiter_thread, releaser_thread)
        }));
        backstop.disarm(&what);
        assert!(ok, "{what}: wait failed");
        assert_ne!(
            waiter_thread, releaser_thread,
            "{what}: the releasing task ran on the blocked thread?"
        );
    }
}

/// The `block_on` thread of a multi-thread runtime may block too
/// (`block_in_place` allows it); a spawned task releases it.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn multi_thread_block_on_thread() {
    for (kind, untimed) in cases() {
        let what = format!("multi-thread block_on, {kind:?}, untimed={untimed}");
        let s = Subject::new(kind);
        let backstop = Backstop::arm(&s);
        let s2 = Arc::clone(&s);
        let releaser = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await; // let us park
            s2.release().await;
        });
        assert!(s.wait(untimed), "{what}: wait failed");
        join_task(releaser).await;
        backstop.disarm(&what);
    }
}

// ---------------------------------------------------------------------------
// 4. Current-thread runtime
// ---------------------------------------------------------------------------

/// Inside a current-thread runtime's `block_on`, a blocking wait that must
/// wait panics with tokio's message instead of stalling the runtime, and
/// leaves the primitive as it was.
#[tokio::test]
async fn current_thread_block_on_panics_when_it_must_wait() {
    for (kind, untimed) in cases() {
        let what = format!("current-thread block_on, {kind:?}, untimed={untimed}");
        let s = Subject::new(kind);
        let backstop = Backstop::arm(&s);
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| s.wait(untimed)));
        backstop.disarm(&what);
        let payload = result.expect_err(&format!("{what}: did not panic"));
        let msg = panic_message(&*payload);
        assert!(
            msg.contains(TOKIO_MESSAGE),
            "{what}: unexpected panic {msg:?}"
        );
        s.check_unharmed_after_panic();
    }
}

/// The same inside a spawned task of a current-thread runtime: the task
/// panics (JoinError::is_panic) and the runtime goes on.
#[tokio::test]
async fn current_thread_task_panics_when_it_must_wait() {
    for (kind, untimed) in cases() {
        let what = format!("current-thread task, {kind:?}, untimed={untimed}");
        let s = Subject::new(kind);
        let backstop = Backstop::arm(&s);
        let s2 = Arc::clone(&s);
        let err = within(tokio::spawn(async move { s2.wait(untimed) }))
            .await
            .expect_err(&format!("{what}: did not panic"));
        backstop.disarm(&what);
        assert!(err.is_panic(), "{what}: {err}");
        let msg = panic_message(&*err.into_panic());
        assert!(
            msg.contains(TOKIO_MESSAGE),
            "{what}: unexpected panic {msg:?}"
        );
        s.check_unharmed_after_panic();
        // The runtime is still alive.
        assert_eq!(join_task(tokio::spawn(async { 7 })).await, 7);
    }
}

/// Blocking calls that need not wait never look at the runtime, so they work
/// inside a current-thread runtime: uncontended calls, waits that are already
/// satisfied, and zero timeouts (which only try).
fn uncontended_blocking_calls() {
    // Lock: free.
    let lock = Arc::new(Lock::new(0));
    *lock.lock_blocking() += 1;
    drop(lock.lock_arc_blocking());
    drop(lock.lock().wait());
    assert!(lock.lock().wait_timeout(DEADLINE).is_some());
    assert!(lock.lock_arc().wait_deadline(deadline()).is_some());
    // Lock: held, zero timeout only tries.
    let held = lock.lock_blocking();
    assert!(lock.lock().wait_timeout(Duration::ZERO).is_none());
    assert!(lock.lock_arc().wait_timeout(Duration::ZERO).is_none());
    drop(held);
    assert_eq!(*lock.lock_blocking(), 1);

    // Event: set.
    let ev = Event::new();
    assert!(!ev.wait().wait_timeout(Duration::ZERO));
    ev.set();
    assert!(ev.wait_blocking());
    assert!(ev.wait().wait());
    assert!(ev.wait().wait_timeout(DEADLINE));

    // Semaphore: permits available.
    let sem = Arc::new(Semaphore::new(3));
    drop(sem.acquire_blocking());
    drop(sem.acquire_arc_blocking());
    drop(sem.acquire().wait());
    assert!(sem.acquire().wait_timeout(DEADLINE).is_some());
    let all: Vec<_> = (0..3).map(|_| sem.acquire_blocking()).collect();
    assert!(sem.acquire().wait_timeout(Duration::ZERO).is_none());
    drop(all);
    assert_eq!(sem.available(), 3);

    // Condition: a wait_while whose condition does not hold, and a zero
    // timeout.
    let cond = Condition::new();
    let g = cond.wait_while(lock.lock_blocking(), |v| *v == 0).wait();
    let (g, still) = cond.wait_while(g, |v| *v == 0).wait_timeout(DEADLINE);
    assert!(!still);
    let (g, timed_out) = cond.wait(g).wait_timeout(Duration::ZERO);
    assert!(timed_out);
    assert_eq!(*g, 1);
    drop(g);
    assert!(!lock.is_locked());
}

#[tokio::test]
async fn current_thread_uncontended_blocking_calls_do_not_panic() {
    // In block_on ...
    uncontended_blocking_calls();
    // ... and in a spawned task.
    join_task(tokio::spawn(async { uncontended_blocking_calls() })).await;
}
