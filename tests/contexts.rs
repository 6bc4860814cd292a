//! The blocking waits of `Lock`, `Event`, `Semaphore` and `Condition` in every
//! place a thread can be relative to tokio:
//!
//! * a plain thread (with or without a runtime handle entered);
//! * a `spawn_blocking` thread (current-thread and multi-thread runtimes);
//! * a multi-thread runtime's worker, where the wait runs inside
//!   `block_in_place` so the worker's other tasks keep running: the task that
//!   releases the waiter is queued on the same, only, worker;
//! * a multi-thread runtime's `block_on` thread;
//! * a current-thread runtime's task, `block_on` or `LocalSet`, where every
//!   blocking call panics with amphi's message naming the method, whether or
//!   not it would have to wait (uncontended calls and zero timeouts too), and
//!   leaves the primitive as it was.
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

use amphi::{BoundedSemaphore, Condition, Event, Lock, LockGuardArc, Semaphore};
use common::{
    DEADLINE, current_thread_runtime, deadline, join_task, let_thread_block, multi_thread_runtime,
    panic_message, spawn_thread, within,
};

/// amphi's panic message for a blocking call inside a current-thread runtime
/// starts with "amphi: `<method>` " and goes on with this.
const REFUSAL: &str =
    "blocks the thread, but this thread is running a current-thread tokio runtime";

/// Checks that `msg` is amphi's refusal for `method`.
#[track_caller]
fn assert_refusal(msg: &str, method: &str, what: &str) {
    let prefix = format!("amphi: `{method}` {REFUSAL}");
    assert!(
        msg.starts_with(&prefix),
        "{what}: unexpected panic {msg:?}, expected it to start with {prefix:?}"
    );
}

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
        // Not `lock_arc_blocking`: subjects are made inside current-thread
        // runtimes too, where blocking calls refuse.
        let held = Mutex::new(Some(lock.try_lock_arc().expect("a new lock is free")));
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
                self.sem.acquire_blocking().unwrap().forget();
                true
            }
            (Kind::Semaphore, false) => self
                .sem
                .acquire()
                .wait_deadline(give_up)
                .map(|p| p.forget())
                .is_ok(),
            (Kind::Condition, true) => {
                let mut g = self.cond_guard();
                while !*g {
                    g = self.cond.wait_blocking(g);
                }
                true
            }
            (Kind::Condition, false) => {
                let g = self.cond_guard();
                let (g, res) = self.cond.wait_while(g, |f| !*f).wait_deadline(give_up);
                *g && !res.timed_out()
            }
        }
    }

    /// The method whose refusal a blocking [`wait`](Self::wait) inside a
    /// current-thread runtime reports.
    fn method(&self, untimed: bool) -> &'static str {
        match (self.kind, untimed) {
            (Kind::Lock, true) => "Lock::lock_blocking",
            (Kind::Lock, false) => "Lock::lock",
            (Kind::Event, true) => "Event::wait_blocking",
            (Kind::Event, false) => "Event::wait",
            (Kind::Semaphore, true) => "Semaphore::acquire_blocking",
            (Kind::Semaphore, false) => "Semaphore::acquire",
            (Kind::Condition, true) => "Condition::wait_blocking",
            (Kind::Condition, false) => "Condition::wait_while",
        }
    }

    /// The condition's lock, taken without blocking when it is free, so that
    /// inside a current-thread runtime it is the condition wait itself that
    /// refuses (the releaser holds the lock only for a moment).
    fn cond_guard(&self) -> amphi::LockGuard<'_, bool> {
        self.cond_lock
            .try_lock()
            .unwrap_or_else(|| self.cond_lock.lock_blocking())
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
            // Called where the lock is free (and maybe inside a
            // current-thread runtime, where blocking calls refuse).
            Kind::Condition => *self
                .cond_lock
                .try_lock()
                .expect("the condition's lock is free"),
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
        assert_eq!(
            self.waiters(),
            0,
            "{:?}: a waiter is still counted",
            self.kind
        );
        // This may run inside a current-thread runtime, where blocking calls
        // refuse: release and wait again from a plain thread.
        thread::scope(|scope| {
            let again = scope.spawn(|| {
                self.release_blocking();
                self.wait(false)
            });
            assert!(
                again.join().unwrap(),
                "{:?}: a wait after release failed",
                self.kind
            );
        });
    }

    /// The threads and tasks waiting on the subject's primitive.
    fn waiters(&self) -> usize {
        match self.kind {
            Kind::Lock => self.lock.waiters().total(),
            Kind::Event => self.event.waiters().total(),
            Kind::Semaphore => self.sem.waiters().total(),
            Kind::Condition => self.cond.waiters().total() + self.cond_lock.waiters().total(),
        }
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
/// wait panics with amphi's message instead of stalling the runtime, and
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
        assert_refusal(&panic_message(&*payload), s.method(untimed), &what);
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
        assert_refusal(&panic_message(&*err.into_panic()), s.method(untimed), &what);
        s.check_unharmed_after_panic();
        // The runtime is still alive.
        assert_eq!(join_task(tokio::spawn(async { 7 })).await, 7);
    }
}

/// Blocking calls that need not wait: uncontended calls, waits that are
/// already satisfied, and zero timeouts (which only try). They work on any
/// thread that does not drive a current-thread runtime.
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
    drop(sem.acquire_blocking().unwrap());
    drop(sem.acquire_arc_blocking().unwrap());
    drop(sem.acquire().wait().unwrap());
    assert!(sem.acquire().wait_timeout(DEADLINE).is_ok());
    let all: Vec<_> = (0..3).map(|_| sem.acquire_blocking().unwrap()).collect();
    assert!(matches!(
        sem.acquire().wait_timeout(Duration::ZERO),
        Err(amphi::AcquireTimeoutError::TimedOut)
    ));
    drop(all);
    assert_eq!(sem.available(), 3);

    // Condition: a wait_while whose condition does not hold, and a zero
    // timeout.
    let cond = Condition::new();
    let g = cond.wait_while(lock.lock_blocking(), |v| *v == 0).wait();
    let (g, res) = cond.wait_while(g, |v| *v == 0).wait_timeout(DEADLINE);
    assert!(!res.timed_out());
    let (g, res) = cond.wait(g).wait_timeout(Duration::ZERO);
    assert!(res.timed_out());
    assert_eq!(*g, 1);
    drop(g);
    assert!(!lock.is_locked());
}

/// On a current-thread runtime's `spawn_blocking` thread the calls that
/// need not wait work (the ones that must wait are in
/// `spawn_blocking_thread_current_thread_runtime`).
#[tokio::test]
async fn current_thread_spawn_blocking_uncontended_blocking_calls_work() {
    join_task(tokio::task::spawn_blocking(uncontended_blocking_calls)).await;
}

/// Primitives on which no blocking call needs to wait: a free lock holding
/// 1, a set event, free permits, and a condition nobody waits on.
struct Uncontended {
    lock: Arc<Lock<i32>>,
    event: Event,
    sem: Arc<Semaphore>,
    bounded: Arc<BoundedSemaphore>,
    cond: Condition,
}

impl Uncontended {
    fn new() -> Self {
        let event = Event::new();
        event.set();
        Uncontended {
            lock: Arc::new(Lock::new(1)),
            event,
            sem: Arc::new(Semaphore::new(3)),
            bounded: Arc::new(BoundedSemaphore::new(2)),
            cond: Condition::new(),
        }
    }

    /// Nothing was taken, changed or left waiting.
    #[track_caller]
    fn check_unchanged(&self, what: &str) {
        assert!(!self.lock.is_locked(), "{what}: lock left held");
        assert_eq!(*self.lock.try_lock().unwrap(), 1, "{what}: value changed");
        assert!(self.event.is_set(), "{what}: event cleared");
        assert_eq!(self.sem.available(), 3, "{what}: a permit was taken");
        assert_eq!(self.bounded.available(), 2, "{what}: a permit was taken");
        let waiters = self.lock.waiters().total()
            + self.event.waiters().total()
            + self.sem.waiters().total()
            + self.bounded.waiters().total()
            + self.cond.waiters().total();
        assert_eq!(waiters, 0, "{what}: a waiter is still counted");
        assert_eq!(self.cond.notify_all(), 0, "{what}: a condition waiter left");
    }
}

/// A blocking call that need not wait, and the method its refusal names.
type Call = (&'static str, fn(&Uncontended));

/// Every blocking call, where it need not wait.
const UNCONTENDED_CALLS: &[Call] = &[
    ("Lock::lock_blocking", |u| drop(u.lock.lock_blocking())),
    ("Lock::lock_arc_blocking", |u| {
        drop(u.lock.lock_arc_blocking())
    }),
    ("Lock::lock", |u| drop(u.lock.lock().wait())),
    ("Lock::lock", |u| drop(u.lock.lock().wait_timeout(DEADLINE))),
    ("Lock::lock_arc", |u| {
        drop(u.lock.lock_arc().wait_deadline(deadline()))
    }),
    // Held: a zero timeout only tries, and is refused all the same.
    ("Lock::lock", |u| {
        let _held = u.lock.try_lock().unwrap();
        drop(u.lock.lock().wait_timeout(Duration::ZERO));
    }),
    ("Event::wait_blocking", |u| {
        let _ = u.event.wait_blocking();
    }),
    ("Event::wait", |u| {
        let _ = u.event.wait().wait();
    }),
    ("Event::wait", |u| {
        let _ = u.event.wait().wait_timeout(DEADLINE);
    }),
    ("Event::wait", |u| {
        let _ = u.event.wait().wait_timeout(Duration::ZERO);
    }),
    ("Semaphore::acquire_blocking", |u| {
        drop(u.sem.acquire_blocking())
    }),
    ("Semaphore::acquire_arc_blocking", |u| {
        drop(u.sem.acquire_arc_blocking())
    }),
    ("Semaphore::acquire", |u| drop(u.sem.acquire().wait())),
    ("Semaphore::acquire", |u| {
        drop(u.sem.acquire().wait_timeout(DEADLINE))
    }),
    ("Semaphore::acquire_arc", |u| {
        drop(u.sem.acquire_arc().wait_deadline(deadline()))
    }),
    ("Semaphore::acquire", |u| {
        drop(u.sem.acquire().wait_timeout(Duration::ZERO))
    }),
    ("BoundedSemaphore::acquire_blocking", |u| {
        drop(u.bounded.acquire_blocking())
    }),
    ("BoundedSemaphore::acquire_arc_blocking", |u| {
        drop(u.bounded.acquire_arc_blocking())
    }),
    // A condition that does not hold: the wait returns at once.
    ("Condition::wait_while", |u| {
        let g = u.lock.try_lock().unwrap();
        drop(u.cond.wait_while(g, |v| *v == 0).wait());
    }),
    ("Condition::wait_while", |u| {
        let g = u.lock.try_lock().unwrap();
        drop(u.cond.wait_while(g, |v| *v == 0).wait_timeout(DEADLINE));
    }),
    ("Condition::wait", |u| {
        let g = u.lock.try_lock().unwrap();
        drop(u.cond.wait(g).wait_timeout(Duration::ZERO));
    }),
];

/// Runs every call of [`UNCONTENDED_CALLS`] here: each must panic with
/// amphi's refusal and change nothing. `place` names where, for messages.
fn every_uncontended_call_refuses(place: &str) {
    let u = Uncontended::new();
    for (i, &(method, call)) in UNCONTENDED_CALLS.iter().enumerate() {
        let what = format!("{place}, call {i} ({method})");
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| call(&u)));
        let payload = result.expect_err(&format!("{what}: did not panic"));
        assert_refusal(&panic_message(&*payload), method, &what);
        u.check_unchanged(&what);
    }
}

/// Blocking calls fail the same way every time inside a current-thread
/// runtime (DESIGN.md 6b): even where they would not have to wait, in
/// `block_on`, in a spawned task and in a `LocalSet`, and nothing leaks. (The
/// same calls work on a `spawn_blocking` thread, see
/// `current_thread_spawn_blocking_uncontended_blocking_calls_work`.)
#[tokio::test]
async fn current_thread_uncontended_blocking_calls_panic() {
    // In block_on ...
    every_uncontended_call_refuses("current-thread block_on");
    // ... in a spawned task ...
    join_task(tokio::spawn(async {
        every_uncontended_call_refuses("current-thread task")
    }))
    .await;
    // ... and in a LocalSet, in its body and in a local task.
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            every_uncontended_call_refuses("LocalSet body");
            join_task(tokio::task::spawn_local(async {
                every_uncontended_call_refuses("LocalSet task")
            }))
            .await;
        })
        .await;
    // The runtime is still alive.
    assert_eq!(join_task(tokio::spawn(async { 7 })).await, 7);
}
