//! Ports of the parts of CPython 3.13's `Lib/test/test_threading.py` that
//! apply to amphi's threads (`amphi::thread`) and timers (`amphi::Timer`):
//! `ThreadTests`, `ThreadJoinOnShutdown.test_thread_from_thread`,
//! `ThreadingExceptionTests`, `ExceptHookTests`, `TimerTests` and
//! `MiscTestCase`. The lock classes at the end of that file run
//! `lock_tests.py`, ported in `tests/lock_tests_cpython.rs`.
//!
//! Python's `Thread(target=f, ...).start()` is `ThreadBuilder::new()...
//! .spawn(f)` (a thread starts when it is made); `_thread.start_new_thread`
//! (a thread `threading` did not start) is a plain `std::thread`. The tests
//! run on libtest's threads, which amphi did not start: for amphi they are
//! dummy threads (daemons, as Python's), not the main thread. Every join
//! and wait has a deadline ([`DEADLINE`]).
//!
//! amphi's excepthook is global: the tests that set it, or whose threads
//! panic, hold [`HookScope`], which serializes them and puts the default
//! hook back when it goes, also when the test fails.
//!
//! Not ported, and why:
//!
//! * interpreter shutdown and finalization: `test_finalize_running_thread`,
//!   `test_finalize_with_trace`, `test_main_thread_during_shutdown`,
//!   `test_finalization_shutdown`, `test_locals_at_exit`,
//!   `test_import_from_another_thread`, `test_start_new_thread_at_finalization`,
//!   `ThreadJoinOnShutdown.test_1_join_on_shutdown` (it joins the main
//!   thread, whose end amphi cannot see: documented) and
//!   `test_4_daemon_threads`, `AtexitTests`: a Rust process has no
//!   interpreter to shut down (`test_join_nondaemon_on_shutdown` and
//!   `test_thread_from_thread` are ported through `join_non_daemon`);
//! * `fork`: `test_dummy_thread_after_fork`, `test_is_alive_after_fork`,
//!   `test_main_thread_after_fork*`, `test_2_join_in_forked_process`,
//!   `test_3_join_in_forked_from_thread`, `test_reinit_tls_after_fork`,
//!   `test_clear_threads_states_after_fork`;
//! * subinterpreters: `SubinterpThreadingTests`;
//! * signals: `InterruptMainTests`;
//! * tracing and profiling (`sys.settrace`, `setprofile`):
//!   `test_frame_tstate_tracing`, `test_gettrace*`, `test_getprofile*`
//!   (no interpreter to hook, README);
//! * the gc and CPython's C API: `test_PyThreadState_SetAsyncExc` (no
//!   asynchronous exceptions in Rust), `test_excepthook_thread_None`
//!   (`ExceptHookArgs` is made only by amphi, always with a thread);
//! * Python's type system and arguments: `test_args_argument` (a closure
//!   captures its arguments), `test_lock_no_args`, `test_lock_no_subclass`,
//!   `test_lock_or_none`, `test_boolean_target` (no truthiness),
//!   `CRLockTests.test_signature`;
//! * the deprecated camelCase API: `test_old_threading_api` (README: the
//!   snake_case names only);
//! * setters after the start: `test_daemonize_active_thread` (the daemon
//!   flag is fixed at spawn: there is no setter to call);
//! * `test_releasing_unacquired_lock`: a guard releases once, so there is
//!   nothing unacquired to release;
//! * stderr output of the default hook: `test_print_exception*`,
//!   `test_excepthook`'s text, `test_custom_excepthook_fail`'s text,
//!   `test_original_excepthook`'s text (amphi's default hook adds nothing
//!   to Rust's panic message, documented; libtest captures stderr, so the
//!   ports check who was called instead); `test_print_exception_gh_102056`,
//!   `test_bare_raise_in_brand_new_thread` (Python exception machinery);
//! * `test_system_exit` (no `SystemExit`: `std::process::exit` ends the
//!   process), `test_recursion_limit` (a Rust stack overflow aborts the
//!   process; no `RecursionError` to catch), `test_multithread_modify_file_noerror`
//!   (file I/O and `traceback`, not threads).

mod common;

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use amphi::thread::{self, ExceptHookArgs, ThreadBuilder, ThreadError};
use amphi::{BoundedSemaphore, Event, Lock, RLock, Thread, ThreadHandle, Timer};
use common::{DEADLINE, Rng, SHORT, multi_thread_runtime, spawn_thread, wait_until};
use futures::FutureExt;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The tests that set the global excepthook, or whose amphi threads panic,
/// run one at a time.
static HOOK: Mutex<()> = Mutex::new(());

/// One test's hold on the excepthook: serialized, and the default hook
/// put back when it is dropped (CPython's `restore_default_excepthook`).
struct HookScope {
    _one: MutexGuard<'static, ()>,
}

impl HookScope {
    fn new() -> Self {
        let one = HOOK.lock().unwrap_or_else(|e| e.into_inner());
        thread::reset_excepthook();
        HookScope { _one: one }
    }
}

impl Drop for HookScope {
    fn drop(&mut self) {
        thread::reset_excepthook();
    }
}

/// What a recording hook saw: the thread, its message, and whether the
/// thread was still alive then.
type Seen = Arc<Mutex<Vec<(Thread, String, bool)>>>;

/// Sets a hook that records what it is told.
fn recording_hook() -> Seen {
    let seen: Seen = Arc::default();
    let s = Arc::clone(&seen);
    thread::set_excepthook(move |a: &ExceptHookArgs<'_>| {
        s.lock().unwrap().push((
            a.thread().clone(),
            a.panic().message().to_owned(),
            a.thread().is_alive(),
        ));
    });
    seen
}

/// What a recording hook saw about the thread `t`.
fn seen_for(seen: &Seen, t: &Thread) -> Vec<(String, bool)> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(th, ..)| th.same_thread(t))
        .map(|(_, m, alive)| (m.clone(), *alive))
        .collect()
}

/// CPython's `ThreadRunFail`: a thread whose function raises
/// `ValueError("run failed")`.
fn thread_run_fail(name: Option<&str>) -> ThreadHandle<()> {
    let mut b = ThreadBuilder::new();
    if let Some(n) = name {
        b = b.name(n);
    }
    b.spawn(|| panic!("run failed")).unwrap()
}

/// Joins `t` within the deadline and takes its result.
#[track_caller]
fn join<T>(t: &ThreadHandle<T>) -> Result<T, ThreadError> {
    t.join()
        .wait_timeout(DEADLINE)
        .expect("the thread did not finish in time")
}

fn in_registry(t: &Thread) -> bool {
    thread::enumerate().iter().any(|x| x.same_thread(t))
}

/// Python's default name: `Thread-N`.
fn is_default_name(name: &str) -> bool {
    name.strip_prefix("Thread-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

// ---------------------------------------------------------------------------
// ThreadTests
// ---------------------------------------------------------------------------

/// test_name: a given name is kept (also the OS thread's); the default is
/// `Thread-N`, counting up. amphi differs on purpose (documented): no
/// ` (target)` suffix, a closure has no name.
#[test]
fn test_name() {
    let t = ThreadBuilder::new()
        .name("myname1")
        .spawn(|| std::thread::current().name().map(str::to_owned))
        .unwrap();
    assert_eq!(t.name(), "myname1");
    assert_eq!(join(&t).unwrap().as_deref(), Some("myname1"));

    // Convert int name to str
    let t = ThreadBuilder::new()
        .name(123.to_string())
        .spawn(|| ())
        .unwrap();
    assert_eq!(t.name(), "123");
    join(&t).unwrap();

    let a = ThreadBuilder::new().spawn(|| ()).unwrap();
    let b = thread::spawn(|| ());
    assert!(is_default_name(a.name()), "{}", a.name());
    assert!(is_default_name(b.name()), "{}", b.name());
    assert_ne!(a.name(), b.name());
    join(&a).unwrap();
    join(&b).unwrap();
}

/// test_name, `Thread(name="")`: an empty name gets the default name
/// (Python: `Thread-N`).
#[test]
fn test_name_empty() {
    let t = ThreadBuilder::new().name("").spawn(|| ()).unwrap();
    join(&t).unwrap();
    assert!(
        is_default_name(t.name()),
        "Thread(name=\"\") is named {:?}, Python names it Thread-N",
        t.name()
    );
}

/// `test_various_ops`: 10 threads, at most 3 at once behind a
/// `BoundedSemaphore(3)`, counting under an `RLock`; distinct native ids;
/// after the join, not alive and a non-zero ident.
fn various_ops(stack_size: Option<usize>) {
    const NUMTASKS: usize = 10;
    let sema = Arc::new(BoundedSemaphore::new(3));
    let mutex = Arc::new(RLock::new(AtomicIsize::new(0)));
    let mut rng = Rng::new(195);
    let mut threads = Vec::new();
    for i in 0..NUMTASKS {
        let (sema, mutex) = (Arc::clone(&sema), Arc::clone(&mutex));
        // CPython's `random.random() / 10000.0` seconds of "work".
        let delay = rng.micros(100);
        let mut b = ThreadBuilder::new().name(format!("<thread {i}>"));
        if let Some(bytes) = stack_size {
            b = b.stack_size(bytes);
        }
        threads.push(
            b.spawn(move || {
                let _permit = sema.acquire().wait_timeout(DEADLINE).expect("a permit");
                {
                    let n = mutex.lock().wait_timeout(DEADLINE).expect("the mutex");
                    let running = n.fetch_add(1, SeqCst) + 1;
                    assert!(running <= 3, "{running} tasks are running");
                }
                std::thread::sleep(delay);
                let n = mutex.lock().wait_timeout(DEADLINE).expect("the mutex");
                let running = n.fetch_sub(1, SeqCst) - 1;
                assert!(running >= 0);
            })
            .unwrap(),
        );
    }
    for t in &threads {
        join(t).unwrap();
        assert!(!t.is_alive());
        assert_ne!(t.thread().ident(), 0);
    }
    // amphi sets a native id once the thread runs (documented: a join
    // makes sure it ran), where Python has it when start() returns.
    let mut native_ids: HashSet<Option<u64>> =
        threads.iter().map(|t| t.thread().native_id()).collect();
    native_ids.insert(thread::get_native_id());
    assert!(!native_ids.contains(&None), "{native_ids:?}");
    assert_eq!(native_ids.len(), NUMTASKS + 1);
    assert_eq!(mutex.lock_blocking().load(SeqCst), 0);
}

/// test_various_ops
#[test]
fn test_various_ops() {
    various_ops(None);
}

/// test_various_ops_small_stack (256 KiB; Python's `stack_size` is global,
/// amphi's is per builder)
#[test]
fn test_various_ops_small_stack() {
    various_ops(Some(262_144));
}

/// test_various_ops_large_stack (1 MiB)
#[test]
fn test_various_ops_large_stack() {
    various_ops(Some(0x10_0000));
}

/// test_ident_of_no_threading_threads: the ident works for this thread
/// and for a thread amphi did not start, where it is the ident of its
/// dummy record in the registry.
#[test]
fn test_ident_of_no_threading_threads() {
    assert_eq!(thread::current_thread().ident(), thread::get_ident());
    let (tx, rx) = mpsc::channel();
    let go = Arc::new(Event::new());
    let g = Arc::clone(&go);
    let foreign = spawn_thread(move || {
        tx.send((thread::current_thread().ident(), thread::get_ident()))
            .unwrap();
        assert!(g.wait().wait_timeout(DEADLINE));
    });
    let (ident, again) = rx.recv_timeout(DEADLINE).expect("the ident");
    assert_eq!(ident, again);
    let record = thread::enumerate()
        .into_iter()
        .find(|t| t.ident() == ident)
        .expect("the foreign thread is in the registry");
    assert!(record.is_dummy());
    go.set();
    foreign.join();
}

/// test_foreign_thread: a thread amphi did not start gets a dummy record
/// from `current_thread()`: in the registry, alive, a dummy; once the
/// thread ends it leaves the registry. amphi differs on purpose
/// (documented): a dummy thread can be joined (Python raises
/// `RuntimeError`).
#[test]
fn test_foreign_thread() {
    let (tx, rx) = mpsc::channel();
    let go = Arc::new(Event::new());
    let g = Arc::clone(&go);
    let foreign = spawn_thread(move || {
        // Calling current_thread() forces an entry for the foreign thread
        let dummy = thread::current_thread();
        let tid = dummy.ident();
        assert!(in_registry(&dummy));
        assert!(dummy.is_dummy());
        // gh-29376
        assert!(dummy.is_alive(), "Expected the dummy thread to be alive");
        let repr = format!("{dummy:?}");
        assert!(repr.contains("dummy: true"), "{repr}");
        // Python's `Dummy-N` (libtest's helper threads have no std name).
        assert!(dummy.name().starts_with("Dummy-"), "{}", dummy.name());
        assert!(thread::active_count() >= 2);
        tx.send(dummy.clone()).unwrap();
        assert!(g.wait().wait_timeout(DEADLINE));
        tid
    });
    let dummy = rx.recv_timeout(DEADLINE).expect("the dummy record");
    // The documented difference: the join waits for the thread's end.
    assert!(!dummy.join().wait_timeout(Duration::from_millis(10)));
    go.set();
    let tid = foreign.join();
    assert_eq!(tid, dummy.ident());
    assert!(dummy.join().wait_timeout(DEADLINE));
    assert!(!dummy.is_alive());
    // after the thread dies, the dummy thread is removed from the registry
    wait_until("the dummy thread leaves the registry", || {
        !in_registry(&dummy)
    });
}

/// test_limbo_cleanup (issue 7481): a thread that fails to start leaves
/// nothing in the registry (a NUL in its name, or a stack the OS cannot
/// give), and the closure comes back.
#[test]
fn test_limbo_cleanup() {
    let err = ThreadBuilder::new()
        .name("limbo\0cleanup")
        .spawn(|| 1)
        .unwrap_err();
    assert_eq!(err.error().kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(err.into_closure()(), 1);
    let err = ThreadBuilder::new()
        .name("limbo-cleanup")
        .stack_size(1 << 50)
        .spawn(|| 2)
        .expect_err("a petabyte stack");
    assert_eq!(err.into_closure()(), 2);
    let names: Vec<_> = thread::enumerate()
        .iter()
        .map(|t| t.name().to_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("limbo")),
        "Failed to clean up the registry on a failed spawn: {names:?}"
    );
}

/// test_join_nondaemon_on_shutdown (issue 1722344): the interpreter waits
/// for a non-daemon thread at exit; amphi's `join_non_daemon` is that
/// wait.
#[test]
fn test_join_nondaemon_on_shutdown() {
    let woke = Arc::new(AtomicBool::new(false));
    let w = Arc::clone(&woke);
    let child = ThreadBuilder::new()
        .daemon(false)
        .spawn(move || {
            // CPython's sleep keeps the thread running past the main
            // program's end; the test holds if it is late or early.
            std::thread::sleep(Duration::from_millis(100));
            w.store(true, SeqCst);
        })
        .unwrap();
    let record = child.thread().clone();
    drop(child);
    assert!(thread::join_non_daemon().wait_timeout(DEADLINE));
    assert!(
        woke.load(SeqCst),
        "the non-daemon thread was not waited for"
    );
    assert!(!record.is_alive());
}

/// ThreadJoinOnShutdown.test_thread_from_thread: a non-daemon thread
/// started by a non-daemon thread is waited for too.
#[test]
fn test_thread_from_thread() {
    let ok = Arc::new(AtomicBool::new(false));
    let o = Arc::clone(&ok);
    let t = ThreadBuilder::new()
        .daemon(false)
        .spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let t2 = thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                o.store(true, SeqCst);
            });
            assert!(!t2.thread().is_daemon());
            // do not join() -- join_non_daemon waits for it
        })
        .unwrap();
    drop(t);
    assert!(thread::join_non_daemon().wait_timeout(DEADLINE));
    assert!(ok.load(SeqCst));
}

/// test_enumerate_after_join (#1703448): a joined thread is never in
/// `enumerate()`.
#[test]
fn test_enumerate_after_join() {
    for i in 1..100 {
        let t = thread::spawn(|| ());
        join(&t).unwrap();
        let l = thread::enumerate();
        assert!(
            !l.iter().any(|x| x.same_thread(t.thread())),
            "#1703448 triggered after {i} trials: {l:?}"
        );
    }
}

/// test_join_from_multiple_threads: joins from many threads at once all
/// return.
#[test]
fn test_join_from_multiple_threads() {
    for n in 2..20 {
        let worker = thread::spawn(|| std::thread::sleep(Duration::from_millis(5)));
        let joiners: Vec<_> = (0..n)
            .map(|_| {
                let w = worker.thread().clone();
                thread::spawn(move || w.join().wait_timeout(DEADLINE))
            })
            .collect();
        for j in &joiners {
            assert!(join(j).unwrap(), "a join from a thread timed out");
        }
        join(&worker).unwrap();
    }
}

/// test_join_with_timeout: a timed join of a blocked thread comes back
/// with the thread alive; after the unblock, a join sees it end.
#[test]
fn test_join_with_timeout() {
    let lock = Arc::new(Lock::new(()));
    let held = lock.lock_blocking();
    let l = Arc::clone(&lock);
    let worker = thread::spawn(move || l.lock().wait_timeout(DEADLINE).is_some());
    assert!(
        worker
            .join()
            .wait_timeout(Duration::from_millis(10))
            .is_none()
    );
    assert!(worker.is_alive());
    drop(held);
    assert!(join(&worker).unwrap());
    assert!(!worker.is_alive());
}

/// test_no_refcycle_through_target: a thread's closure (and what it
/// captured) is dropped when the thread ends, so an object that holds the
/// thread and is captured by it is not kept alive; also when the function
/// panics (Python: raises `SystemExit`).
#[test]
fn test_no_refcycle_through_target() {
    let _hook = HookScope::new(); // restore_default_excepthook
    struct RunSelf {
        thread: Mutex<Option<ThreadHandle<()>>>,
    }
    for should_raise in [false, true] {
        let cyclic = Arc::new(RunSelf {
            thread: Mutex::new(None),
        });
        let weak = Arc::downgrade(&cyclic);
        // The target and its args and kwargs: three references to self.
        let (target, other_ref, yet_another) = (
            Arc::clone(&cyclic),
            Arc::clone(&cyclic),
            Arc::clone(&cyclic),
        );
        let handle = thread::spawn(move || {
            let _ = (&target, &other_ref, &yet_another);
            if should_raise {
                panic!("SystemExit");
            }
        });
        *cyclic.thread.lock().unwrap() = Some(handle.clone());
        let r = join(&handle);
        assert_eq!(r.is_err(), should_raise);
        drop(handle);
        drop(cyclic);
        assert!(
            weak.upgrade().is_none(),
            "{} references still around (should_raise: {should_raise})",
            weak.strong_count()
        );
    }
}

/// test_repr_daemon: the `Debug` form tells a daemon (Python: the repr
/// says `daemon` only for one; amphi's always shows the flag).
#[test]
fn test_repr_daemon() {
    let t = ThreadBuilder::new().daemon(false).spawn(|| ()).unwrap();
    let repr = format!("{:?}", t.thread());
    assert!(repr.contains("daemon: false"), "{repr}");
    let t = ThreadBuilder::new().daemon(true).spawn(|| ()).unwrap();
    let repr = format!("{:?}", t.thread());
    assert!(repr.contains("daemon: true"), "{repr}");
}

/// test_daemon_param: the default is the creating thread's flag (Python's
/// `Thread()` from the main thread is not a daemon; from a dummy thread,
/// such as the one this test runs on, it is), and the parameter sets it.
#[test]
fn test_daemon_param() {
    let non_daemon = ThreadBuilder::new()
        .daemon(false)
        .spawn(|| {
            [
                ThreadBuilder::new().spawn(|| ()).unwrap(),
                ThreadBuilder::new().daemon(false).spawn(|| ()).unwrap(),
                ThreadBuilder::new().daemon(true).spawn(|| ()).unwrap(),
            ]
            .map(|t| {
                join(&t).unwrap();
                t.thread().is_daemon()
            })
        })
        .unwrap();
    assert_eq!(join(&non_daemon).unwrap(), [false, false, true]);
    let daemon = ThreadBuilder::new()
        .daemon(true)
        .spawn(|| thread::spawn(|| ()).thread().is_daemon())
        .unwrap();
    assert!(join(&daemon).unwrap());
    // From this thread, which amphi did not start: a daemon, as in Python.
    assert!(thread::current_thread().is_daemon());
    let t = thread::spawn(|| ());
    assert!(t.thread().is_daemon());
}

/// test_main_thread: `MainThread`, the ident of the main thread only; a
/// spawned thread's ident differs.
#[test]
fn test_main_thread() {
    let main = thread::main_thread();
    assert_eq!(main.name(), "MainThread");
    assert!(main.is_alive() && !main.is_daemon() && !main.is_dummy());
    // libtest runs the test on a thread of its own, unless on `main`.
    let on_main = std::thread::current().name() == Some("main");
    assert_eq!(main.ident() == thread::current_thread().ident(), on_main);
    assert_eq!(main.ident() == thread::get_ident(), on_main);
    assert_eq!(main.same_thread(&thread::current_thread()), on_main);
    assert!(thread::enumerate()[0].same_thread(&main));

    let th = thread::spawn(|| {
        (
            thread::main_thread().ident(),
            thread::current_thread().ident(),
        )
    });
    let (main_ident, own) = join(&th).unwrap();
    assert_eq!(main_ident, main.ident());
    assert_ne!(main_ident, own);
}

/// test_repr_stopped: a finished thread shows as stopped (not alive) on
/// its own, without a join.
#[test]
fn test_repr_stopped() {
    let started = Arc::new(Event::new());
    let finish = Arc::new(Event::new());
    let (s, f) = (Arc::clone(&started), Arc::clone(&finish));
    let t = thread::spawn(move || {
        s.set();
        assert!(f.wait().wait_timeout(DEADLINE));
    });
    assert!(started.wait().wait_timeout(DEADLINE));
    let repr = format!("{:?}", t.thread());
    assert!(repr.contains("alive: true"), "{repr}");
    finish.set();
    // "stopped" should appear in the repr in a reasonable amount of time.
    wait_until("the thread shows as stopped", || !t.is_alive());
    let repr = format!("{:?}", t.thread());
    assert!(repr.contains("alive: false"), "{repr}");
    join(&t).unwrap();
}

/// test_BoundedSemaphore_limit: released from other threads as often as
/// it was acquired, one more release is refused.
#[test]
#[allow(non_snake_case)]
fn test_BoundedSemaphore_limit() {
    for limit in 1..10 {
        let bs = Arc::new(BoundedSemaphore::new(limit));
        let acquirers: Vec<_> = (0..limit)
            .map(|_| {
                let bs = Arc::clone(&bs);
                thread::spawn(move || {
                    bs.acquire()
                        .wait_timeout(DEADLINE)
                        .expect("a permit")
                        .forget();
                })
            })
            .collect();
        for t in &acquirers {
            join(t).unwrap();
        }
        let releasers: Vec<_> = (0..limit)
            .map(|_| {
                let bs = Arc::clone(&bs);
                thread::spawn(move || bs.release(1).is_ok())
            })
            .collect();
        for t in &releasers {
            assert!(join(t).unwrap());
        }
        assert!(bs.release(1).is_err(), "limit {limit}");
    }
}

/// test_leak_without_join (bpo-37788): a thread never joined still leaves
/// the registry when it ends.
#[test]
fn test_leak_without_join() {
    let t = thread::spawn(|| ());
    let record = t.thread().clone();
    drop(t); // Thread.join() is not called
    assert!(record.join().wait_timeout(DEADLINE));
    assert!(!in_registry(&record));
}

// ---------------------------------------------------------------------------
// ThreadingExceptionTests
// ---------------------------------------------------------------------------

/// test_joining_current_thread: a thread cannot join itself (Python's
/// `RuntimeError`, amphi's documented panic), blocking or timed, on an
/// amphi thread, on this foreign thread, and from a task on its worker.
#[test]
fn test_joining_current_thread() {
    let t = thread::spawn(|| {
        let me = thread::current_thread();
        let blocking = panic::catch_unwind(AssertUnwindSafe(|| me.join_blocking()));
        let timed =
            panic::catch_unwind(AssertUnwindSafe(|| me.join().wait_timeout(Duration::ZERO)));
        (blocking.is_err(), timed.is_err())
    });
    assert_eq!(join(&t).unwrap(), (true, true));

    let me = thread::current_thread();
    let timed = panic::catch_unwind(AssertUnwindSafe(|| me.join().wait_timeout(SHORT)));
    assert!(timed.is_err());

    let rt = multi_thread_runtime(1);
    let refused = rt
        .block_on(rt.spawn(async {
            let me = thread::current_thread();
            AssertUnwindSafe(me.join().timeout(SHORT))
                .catch_unwind()
                .await
                .is_err()
        }))
        .unwrap();
    assert!(refused);
}

/// test_joining_current_thread, for a timer: a join inside the timer's
/// own call panics (documented), where it would wait for itself.
#[test]
fn test_joining_current_thread_timer() {
    let refused = Arc::new(Mutex::new(None));
    let r = Arc::clone(&refused);
    let slot: Arc<Mutex<Option<Timer>>> = Arc::default();
    let s = Arc::clone(&slot);
    let timer = Timer::new(Duration::from_millis(1), move || {
        let me = s.lock().unwrap().clone().expect("the timer");
        let joined =
            panic::catch_unwind(AssertUnwindSafe(|| me.join().wait_timeout(Duration::ZERO)));
        *r.lock().unwrap() = Some(joined.is_err());
    });
    *slot.lock().unwrap() = Some(timer.clone());
    assert!(timer.start());
    assert!(timer.join().wait_timeout(DEADLINE));
    slot.lock().unwrap().take(); // the timer's own clone: no cycle left
    assert_eq!(*refused.lock().unwrap(), Some(true));
}

/// test_joining_inactive_thread, for a timer never started: Python raises
/// `RuntimeError`; amphi's join waits until the timer is cancelled or
/// started and done (documented under "Not built yet").
#[test]
fn test_joining_inactive_thread() {
    let timer = Timer::new(Duration::from_millis(1), || ());
    assert!(!timer.join().wait_timeout(SHORT));
    assert!(timer.cancel());
    assert!(timer.join().wait_timeout(DEADLINE));
}

// ---------------------------------------------------------------------------
// ExceptHookTests
// ---------------------------------------------------------------------------

/// test_excepthook, without its stderr text: with the default hook the
/// panic reaches the join with its message (Rust's panic hook prints
/// `thread 'excepthook thread' panicked at ...: run failed`).
#[test]
fn test_excepthook() {
    let _hook = HookScope::new();
    let t = thread_run_fail(Some("excepthook thread"));
    match join(&t) {
        Err(ThreadError::Panicked(p)) => assert_eq!(p.message(), "run failed"),
        other => panic!("{other:?}"),
    }
    assert!(!t.is_alive());
}

/// test_custom_excepthook: the hook is called with the thread (still
/// alive) and its exception, before the join returns.
#[test]
fn test_custom_excepthook() {
    let _hook = HookScope::new();
    let seen = recording_hook();
    let t = thread_run_fail(None);
    let r = join(&t);
    assert!(matches!(r, Err(ThreadError::Panicked(ref p)) if p.message() == "run failed"));
    assert_eq!(
        seen_for(&seen, t.thread()),
        [("run failed".to_owned(), true)]
    );
}

/// test_custom_excepthook_fail: a hook that raises is contained: the
/// thread still finishes with its own panic, and the hook stays set.
#[test]
fn test_custom_excepthook_fail() {
    let _hook = HookScope::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    thread::set_excepthook(move |_: &ExceptHookArgs<'_>| {
        c.fetch_add(1, SeqCst);
        panic!("threading_hook failed");
    });
    for round in 1..=2 {
        let t = thread_run_fail(None);
        let r = join(&t);
        assert!(matches!(r, Err(ThreadError::Panicked(ref p)) if p.message() == "run failed"));
        assert!(!t.is_alive());
        assert!(!in_registry(t.thread()));
        assert_eq!(calls.load(SeqCst), round);
    }
}

/// test_original_excepthook: a custom hook replaces the default one, and
/// `reset_excepthook` (Python's `threading.__excepthook__`) puts the
/// default back.
#[test]
fn test_original_excepthook() {
    let _hook = HookScope::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let run_thread = || {
        let t = thread_run_fail(Some("excepthook thread"));
        assert!(join(&t).is_err());
    };
    run_thread(); // the default hook
    let c = Arc::clone(&calls);
    thread::set_excepthook(move |_: &ExceptHookArgs<'_>| {
        c.fetch_add(1, SeqCst);
    });
    run_thread();
    assert_eq!(calls.load(SeqCst), 1);
    thread::reset_excepthook();
    run_thread();
    assert_eq!(calls.load(SeqCst), 1, "the custom hook ran after the reset");
}

/// A `Timer` is a `Thread` in Python, so an exception in its function
/// reaches `threading.excepthook`; amphi's hook gets the thread that ran
/// the call (documented), the timer says it panicked.
#[test]
fn test_timer_exception_reaches_excepthook() {
    let _hook = HookScope::new();
    let seen = recording_hook();
    let timer = Timer::after(Duration::from_millis(1), || panic!("timer failed"));
    assert!(timer.join().wait_timeout(DEADLINE));
    assert!(timer.panicked());
    let got: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, m, _)| m.clone())
        .collect();
    assert_eq!(got, ["timer failed"]);
}

// ---------------------------------------------------------------------------
// TimerTests
// ---------------------------------------------------------------------------

/// test_init_immutable_default_args (issue 17435): each timer's call has
/// its own arguments; what one timer's call changes in its own does not
/// reach another timer.
#[test]
fn test_init_immutable_default_args() {
    type Record = (Vec<String>, Vec<(String, String)>);
    let callback_args: Arc<Mutex<Vec<Record>>> = Arc::default();
    let callback_event = Arc::new(Event::new());
    // `_callback_spy` with the Timer's default (empty) args and kwargs.
    let spy = || {
        let (out, ev) = (Arc::clone(&callback_args), Arc::clone(&callback_event));
        let mut args: Vec<String> = Vec::new();
        let mut kwargs: Vec<(String, String)> = Vec::new();
        move || {
            out.lock().unwrap().push((args.clone(), kwargs.clone()));
            // timer1.args.append("blah"); timer1.kwargs["foo"] = "bar"
            args.push("blah".into());
            kwargs.push(("foo".into(), "bar".into()));
            ev.set();
        }
    };
    let timer1 = Timer::new(Duration::from_millis(10), spy());
    assert!(timer1.start());
    assert!(callback_event.wait().wait_timeout(DEADLINE));
    callback_event.clear();
    let timer2 = Timer::new(Duration::from_millis(10), spy());
    assert!(timer2.start());
    assert!(callback_event.wait().wait_timeout(DEADLINE));
    assert_eq!(
        *callback_args.lock().unwrap(),
        [(vec![], vec![]), (vec![], vec![])]
    );
    assert!(timer1.join().wait_timeout(DEADLINE));
    assert!(timer2.join().wait_timeout(DEADLINE));
}

/// `Timer.cancel()`: "stop the timer if it hasn't finished yet": a
/// cancelled timer never calls its function and is finished; a cancel
/// after the call changes nothing (amphi's `false`, documented).
#[test]
fn test_cancel() {
    let called = Arc::new(AtomicBool::new(false));
    let c = Arc::clone(&called);
    let delay = Duration::from_millis(100);
    let timer = Timer::new(delay, move || c.store(true, SeqCst));
    assert!(timer.start());
    let cancelled_at = Instant::now();
    assert!(timer.cancel());
    assert!(timer.is_finished() && !timer.is_alive());
    assert!(timer.join().wait_timeout(DEADLINE));
    // Past the deadline, the function has still not run (a sleep to see
    // that nothing happens, not a synchronization).
    std::thread::sleep((delay * 2).saturating_sub(cancelled_at.elapsed()));
    assert!(!called.load(SeqCst));
    assert_eq!(timer.calls(), 0);

    let ran = Arc::new(Event::new());
    let r = Arc::clone(&ran);
    let timer = Timer::after(Duration::from_millis(1), move || r.set());
    assert!(ran.wait().wait_timeout(DEADLINE));
    assert!(timer.join().wait_timeout(DEADLINE));
    assert!(!timer.cancel());
    assert_eq!(timer.calls(), 1);
}

/// ThreadingExceptionTests.test_start_thread_again, for a timer: a second
/// `start` is refused (amphi returns `false`, documented, where Python
/// raises `RuntimeError`), also after a cancel; the function runs once.
#[test]
fn test_start_timer_again() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let timer = Timer::new(Duration::from_millis(1), move || {
        c.fetch_add(1, SeqCst);
    });
    assert!(timer.start());
    assert!(!timer.start());
    assert!(timer.join().wait_timeout(DEADLINE));
    assert!(!timer.start());
    assert_eq!(calls.load(SeqCst), 1);

    let timer = Timer::new(Duration::from_secs(60), || ());
    assert!(timer.cancel());
    assert!(!timer.start());
    assert!(!timer.is_alive());
}

// ---------------------------------------------------------------------------
// MiscTestCase
// ---------------------------------------------------------------------------

/// test__all__: the names of Python's `threading.__all__` that apply have
/// their amphi counterpart (this compiles only if they exist).
#[test]
#[allow(non_snake_case)]
fn test__all__() {
    let _: fn() -> Thread = thread::current_thread;
    let _: fn() -> Thread = thread::main_thread;
    let _: fn() -> Vec<Thread> = thread::enumerate;
    let _: fn() -> usize = thread::active_count;
    let _: fn() -> u64 = thread::get_ident;
    let _: fn() -> Option<u64> = thread::get_native_id;
    let _: fn() = thread::reset_excepthook;
    let _: Duration = thread::TIMEOUT_MAX;
    let _: fn(fn(&ExceptHookArgs<'_>)) = thread::set_excepthook;
    let _: fn(fn()) -> ThreadHandle<()> = thread::spawn;
    let _ = ThreadBuilder::new;
    let _: fn(Duration, fn()) -> Timer = Timer::new;
    let _ = amphi::Lock::<()>::new;
    let _ = amphi::RLock::<()>::new;
    let _ = amphi::Condition::new;
    let _ = amphi::Semaphore::new;
    let _ = amphi::BoundedSemaphore::new;
    let _ = amphi::Event::new;
    let _ = amphi::Barrier::new;
    let _: amphi::Local<u8> = amphi::Local::new(|| 0);
    let _: Option<amphi::BrokenBarrier> = None;
}
