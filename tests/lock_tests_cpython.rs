//! Ports of CPython 3.13's `Lib/test/lock_tests.py` to amphi: `LockTests`,
//! `RLockTests`, `EventTests`, `ConditionTests`, `SemaphoreTests` and
//! `BoundedSemaphoreTests` (`BarrierTests` is ported in `tests/barrier.rs`).
//!
//! CPython's `Bunch` (N threads running one function) becomes [`Bunch`],
//! made by `bunch!`: N threads, N tokio tasks, or both alternating
//! ([`Mode`]), all on the same primitive. A test with one waiter runs as a
//! thread and as a task; a test with several runs in all three modes. The
//! "main thread" of each test is the test's own thread, using the blocking
//! calls, as CPython's main thread does.
//!
//! CPython's `wait_threads_blocked(n)` (a sleep, hoping the threads have
//! reached their wait) becomes a wait, with the deadline, until amphi counts
//! the waiters (`waiters()`); CPython's polls of shared lists stay polls
//! (`wait_until`, with the deadline). Every wait that CPython makes without
//! a timeout has the [`DEADLINE`] here, so a lost wake-up fails instead of
//! hanging. Python's `acquire()`/`release()` pairs become guards and
//! permits; an acquire that Python never releases becomes a forgotten
//! permit (`forget()`), which is what lets Python's bare `release()` follow.
//! CPython's `Condition()` owns an `RLock` by default: the condition tests
//! run over an `RLock` (`condition_tests`) and over a `Lock`
//! (`condition_tests_with_lock`, CPython's `Condition(Lock())`).
//!
//! Not ported, and why:
//!
//! * `test_weakref_exists`, `test_weakref_deleted` (both lock classes): no
//!   weak references to a Rust value that is not in an `Arc`; `Arc`/`Weak`
//!   would test std, not amphi.
//! * `LockTests.test_at_fork_reinit`, `EventTests.test_at_fork_reinit`: no
//!   `fork` support (and no `_at_fork_reinit`) in amphi.
//! * `BaseLockTests.test_timeout`, the `ValueError`/`OverflowError` parts:
//!   `Duration` cannot be negative, a try (`try_lock`) takes no timeout, and
//!   amphi saturates timeouts past `Instant`'s range to "for ever" where
//!   Python raises past `TIMEOUT_MAX` (documented); the rest is ported.
//! * `RLockTests.test_release_unacquired`,
//!   `RLockTests.test_release_save_unacquired`: an RLock is released by
//!   dropping a guard, which exists only if it was acquired; `_release_save`
//!   is internal (a condition wait does it, tested in `condition_tests`).
//! * `ConditionTests.test_acquire`: amphi's `Condition` owns no lock (it
//!   takes the guard of a `Lock` or `RLock`, as std's `Condvar`,
//!   documented), so there is nothing to acquire through it; the locks'
//!   own tests cover acquiring.
//! * `ConditionTests.test_unacquired_wait`: `wait` takes a guard, so waiting
//!   without the lock does not compile.
//! * `BaseSemaphoreTests.test_constructor`: the permits are a `usize`, so a
//!   negative value does not compile.
//! * `BaseSemaphoreTests.test_acquire_timeout`, the `ValueError` part: a
//!   try (`try_acquire`) takes no timeout.
//! * From `test_threading.py`: `ConditionAsRLockTests` (a `Condition` is
//!   not a lock in amphi) and `CRLockTests.test_signature` (Python's
//!   constructor arguments).

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use amphi::{BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore, TryAcquireError};
use common::{DEADLINE, Joiner, SLACK, multi_thread_runtime, spawn_thread, wait_until, within};

// ---------------------------------------------------------------------------
// Helpers: CPython's Bunch in three modes, and the waits of each world
// ---------------------------------------------------------------------------

/// Who the parties of a bunch are.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Threads,
    Tasks,
    /// Threads and tasks, alternating.
    Mixed,
}

/// The modes of a bunch of several parties.
const MODES: [Mode; 3] = [Mode::Threads, Mode::Tasks, Mode::Mixed];
/// The modes of a bunch of one party (mixed is the same as threads).
const ONE: [Mode; 2] = [Mode::Threads, Mode::Tasks];

impl Mode {
    /// Whether party `i` is a thread.
    fn thread(self, i: usize) -> bool {
        match self {
            Mode::Threads => true,
            Mode::Tasks => false,
            Mode::Mixed => i.is_multiple_of(2),
        }
    }
}

/// A party of a bunch: a thread or a task.
enum Party<T> {
    Thread(Joiner<T>),
    Task(tokio::task::JoinHandle<T>),
}

/// CPython's `Bunch`: parties running the same scenario.
struct Bunch<T> {
    parties: Vec<Party<T>>,
    rt: tokio::runtime::Handle,
}

impl<T: Send + 'static> Bunch<T> {
    /// How many parties have finished (CPython's `len(bunch.finished)`).
    fn finished(&self) -> usize {
        self.parties
            .iter()
            .filter(|p| match p {
                Party::Thread(j) => j.finished(),
                Party::Task(h) => h.is_finished(),
            })
            .count()
    }

    /// CPython's `Bunch.__exit__`: waits for every party (each within the
    /// deadline) and gives their results in start order; a party's panic
    /// (a failed assertion) is raised here.
    fn join(self) -> Vec<T> {
        let rt = self.rt;
        self.parties
            .into_iter()
            .map(|p| match p {
                Party::Thread(j) => j.join(),
                Party::Task(h) => match rt.block_on(within(h)) {
                    Ok(v) => v,
                    Err(e) => panic::resume_unwind(e.into_panic()),
                },
            })
            .collect()
    }
}

/// Starts `$n` parties on `$rt` running the scenario macro `$s!(world,
/// caps...)`; each party gets its own clone of every `Arc` in `caps`.
macro_rules! bunch {
    ($rt:expr, $mode:expr, $n:expr, $s:ident!($($cap:ident),* $(,)?)) => {{
        let rt: &tokio::runtime::Runtime = &$rt;
        let mode: Mode = $mode;
        let mut parties = Vec::new();
        for i in 0..$n {
            $( let $cap = Arc::clone(&$cap); )*
            parties.push(if mode.thread(i) {
                Party::Thread(spawn_thread(move || $s!(thread $(, $cap)*)))
            } else {
                Party::Task(rt.spawn(async move { $s!(task $(, $cap)*) }))
            });
        }
        Bunch { parties, rt: rt.handle().clone() }
    }};
}

/// A timed wait in the given world: `wait_timeout` on a thread, `timeout`
/// awaited in a task (every amphi future has both).
macro_rules! timed {
    (thread, $f:expr, $t:expr) => {
        $f.wait_timeout($t)
    };
    (task, $f:expr, $t:expr) => {
        $f.timeout($t).await
    };
}

/// CPython's `assertTimeout`: at least 0.6 of the timeout (CPython allows
/// an imprecise clock) and nothing insane (10 times it, or the timeout
/// plus [`SLACK`] on this noisy machine, whichever is longer).
#[track_caller]
fn assert_timeout(actual: Duration, expected: Duration) {
    assert!(
        actual >= expected.mul_f64(0.6),
        "returned after {actual:?}, well before the timeout {expected:?}"
    );
    let insane = (expected * 10).max(expected + SLACK);
    assert!(
        actual < insane,
        "returned after {actual:?}, far past the timeout {expected:?}"
    );
}

/// CPython's `N` for the bunches of several parties.
const N: usize = 5;

/// Runs `f` on a named std thread (a "foreign" thread for amphi's
/// registry) and joins it within the deadline.
fn on_named_thread(name: String, f: impl FnOnce() + Send + 'static) {
    let h = std::thread::Builder::new().name(name).spawn(f).unwrap();
    wait_until("the named thread ends", || h.is_finished());
    if let Err(p) = h.join() {
        panic::resume_unwind(p);
    }
}

// ---------------------------------------------------------------------------
// BaseLockTests: for Lock and RLock
// ---------------------------------------------------------------------------

/// `BaseLockTests`, for the lock type `L` of the module it expands in.
macro_rules! base_lock_tests {
    ($type_name:literal) => {
        /// test_constructor
        #[test]
        fn test_constructor() {
            let lock = L::new(());
            drop(lock);
        }

        /// test_repr: the `Debug` form names the type and does not say
        /// locked.
        #[test]
        fn test_repr() {
            let lock = L::new(());
            let s = format!("{lock:?}");
            assert!(s.starts_with($type_name), "{s}");
            assert!(!s.contains("locked"), "an unlocked lock shows as {s}");
        }

        /// test_locked_repr: the `Debug` form of a held lock says locked
        /// (Python: `<locked ... object ...>`), seen by the holder and by
        /// another thread.
        #[test]
        fn test_locked_repr() {
            let lock = Arc::new(L::new(()));
            let _g = lock.lock_blocking();
            let l = Arc::clone(&lock);
            let elsewhere = spawn_thread(move || format!("{l:?}")).join();
            assert!(
                elsewhere.contains("locked"),
                "seen by another thread: {elsewhere}"
            );
            let here = format!("{lock:?}");
            assert!(here.contains("locked"), "seen by the holder: {here}");
        }

        /// test_acquire_destroy: a lock dropped while locked (its guard
        /// leaked: a guard borrows its lock, so only a leaked one can
        /// outlive it).
        #[test]
        fn test_acquire_destroy() {
            let lock = L::new(());
            std::mem::forget(lock.lock_blocking());
            drop(lock);
        }

        /// test_acquire_release
        #[test]
        fn test_acquire_release() {
            let lock = L::new(());
            let g = lock.lock_blocking();
            drop(g);
            assert!(!lock.is_locked());
        }

        /// test_try_acquire
        #[test]
        fn test_try_acquire() {
            let lock = L::new(());
            let g = lock.try_lock();
            assert!(g.is_some());
        }

        /// test_try_acquire_contended: another thread (task) cannot take
        /// a held lock without waiting.
        #[test]
        fn test_try_acquire_contended() {
            let rt = multi_thread_runtime(2);
            for mode in ONE {
                let lock = Arc::new(L::new(()));
                let g = lock.lock_blocking();
                macro_rules! f {
                    ($w:ident, $lock:ident) => {
                        $lock.try_lock().is_some()
                    };
                }
                let result = bunch!(rt, mode, 1, f!(lock)).join();
                assert_eq!(result, [false], "{mode:?}");
                drop(g);
            }
        }

        /// test_acquire_contended: N waiters block until the release, then
        /// all get the lock in turn.
        #[test]
        fn test_acquire_contended() {
            let rt = multi_thread_runtime(2);
            for mode in MODES {
                let lock = Arc::new(L::new(()));
                let g = lock.lock_blocking();
                macro_rules! f {
                    ($w:ident, $lock:ident) => {{
                        let g = timed!($w, $lock.lock(), DEADLINE);
                        assert!(g.is_some(), "lock: lost wake-up?");
                    }};
                }
                let bunch = bunch!(rt, mode, N, f!(lock));
                // Threads block on lock.acquire()
                wait_until("N waiters", || lock.waiters().total() == N);
                assert_eq!(bunch.finished(), 0, "{mode:?}");
                // Threads unblocked
                drop(g);
                assert_eq!(bunch.join().len(), N);
                assert!(!lock.is_locked());
            }
        }

        /// test_with: a guard's scope releases the lock, also when it ends
        /// by a panic (Python: an exception leaving `with lock:`).
        #[test]
        fn test_with() {
            let rt = multi_thread_runtime(2);
            macro_rules! f {
                ($w:ident, $lock:ident) => {{
                    let g = timed!($w, $lock.lock(), DEADLINE);
                    assert!(g.is_some(), "the lock was left acquired");
                }};
            }
            for mode in ONE {
                let lock = Arc::new(L::new(()));
                {
                    let _g = lock.lock_blocking();
                }
                // Check that the lock is unacquired
                bunch!(rt, mode, 1, f!(lock)).join();
                let r = panic::catch_unwind(AssertUnwindSafe(|| {
                    let _g = lock.lock_blocking();
                    panic!("TypeError");
                }));
                assert!(r.is_err());
                // ... even after a panic in the guard's scope
                bunch!(rt, mode, 1, f!(lock)).join();
            }
        }

        /// test_thread_leak: using the lock from 15 foreign (std) threads
        /// leaves no record of them in amphi's registry once they ended.
        #[test]
        fn test_thread_leak() {
            let lock = Arc::new(L::new(()));
            let prefix = format!("lock-leak-{}", $type_name);
            for i in 0..15 {
                let l = Arc::clone(&lock);
                on_named_thread(format!("{prefix}-{i}"), move || {
                    let g = l.lock().wait_timeout(DEADLINE);
                    assert!(g.is_some());
                });
            }
            let leaked: Vec<_> = amphi::thread::enumerate()
                .into_iter()
                .filter(|t| t.name().starts_with(&prefix))
                .collect();
            assert!(leaked.is_empty(), "{leaked:?}");
        }

        /// test_timeout: `TIMEOUT_MAX` is fine, an uncontended timed
        /// acquire does not wait, a contended one gives up after its
        /// timeout.
        #[test]
        fn test_timeout() {
            let rt = multi_thread_runtime(2);
            let lock = Arc::new(L::new(()));
            // TIMEOUT_MAX is ok (amphi's is Duration::MAX: huge timeouts
            // saturate to "for ever", documented)
            drop(
                lock.lock()
                    .wait_timeout(amphi::thread::TIMEOUT_MAX)
                    .expect("free"),
            );
            drop(
                rt.block_on(lock.lock().timeout(amphi::thread::TIMEOUT_MAX))
                    .expect("free"),
            );
            let t1 = Instant::now();
            let g = lock.lock().wait_timeout(Duration::from_secs(5));
            assert!(g.is_some());
            // Just a sanity test that it didn't actually wait for the timeout.
            assert!(t1.elapsed() < Duration::from_secs(5));
            macro_rules! f {
                ($w:ident, $lock:ident) => {{
                    let t1 = Instant::now();
                    let r = timed!($w, $lock.lock(), Duration::from_millis(500)).is_some();
                    (r, t1.elapsed())
                }};
            }
            for mode in ONE {
                let results = bunch!(rt, mode, 1, f!(lock)).join();
                let (acquired, dt) = results[0];
                assert!(!acquired, "{mode:?}");
                assert_timeout(dt, Duration::from_millis(500));
            }
            drop(g);
        }
    };
}

/// `LockTests`: non-recursive locks, released from any thread.
mod lock_tests {
    use super::*;

    type L = Lock<()>;

    base_lock_tests!("Lock");

    /// test_reacquire: a Lock must be released before it can be acquired
    /// again, even by its holder. The holder sends its first guard to the
    /// test thread, which releases it (Python: `lock.release()` from the
    /// main thread).
    #[test]
    fn test_reacquire() {
        let rt = multi_thread_runtime(2);
        for mode in ONE {
            let lock = Arc::new(L::new(()));
            let phase = Arc::new(AtomicUsize::new(0));
            let (tx, rx) = mpsc::channel();
            let tx = Arc::new(Mutex::new(tx));
            macro_rules! f {
                ($w:ident, $lock:ident, $phase:ident, $tx:ident) => {{
                    let first = timed!($w, $lock.lock_arc(), DEADLINE).expect("free");
                    $phase.fetch_add(1, SeqCst);
                    $tx.lock().unwrap().send(first).unwrap();
                    let second = timed!($w, $lock.lock(), DEADLINE);
                    assert!(second.is_some(), "lock: lost wake-up?");
                    $phase.fetch_add(1, SeqCst);
                }};
            }
            let bunch = bunch!(rt, mode, 1, f!(lock, phase, tx));
            let first = rx.recv_timeout(DEADLINE).expect("the first acquire");
            // Thread blocked on its second lock.acquire()
            wait_until("the holder waits", || lock.waiters().total() == 1);
            assert_eq!(phase.load(SeqCst), 1, "{mode:?}");
            // Thread unblocked
            drop(first);
            bunch.join();
            assert_eq!(phase.load(SeqCst), 2, "{mode:?}");
        }
    }

    /// test_different_thread: a Lock can be released from a different
    /// thread (the guard moves there and is dropped).
    #[test]
    fn test_different_thread() {
        let rt = multi_thread_runtime(2);
        for mode in ONE {
            let lock = Arc::new(L::new(()));
            let slot = Arc::new(Mutex::new(Some(lock.lock_arc_blocking())));
            macro_rules! f {
                ($w:ident, $slot:ident) => {
                    drop($slot.lock().unwrap().take().expect("the guard"))
                };
            }
            bunch!(rt, mode, 1, f!(slot)).join();
            let g = lock.lock().wait_timeout(DEADLINE);
            assert!(g.is_some(), "{mode:?}");
        }
    }

    /// test_state_after_timeout (issue #11618): the lock is in a proper
    /// state after a (non-zero) timeout, blocking and awaited.
    #[test]
    fn test_state_after_timeout() {
        let lock = L::new(());
        let g = lock.lock_blocking();
        assert!(
            lock.lock()
                .wait_timeout(Duration::from_millis(10))
                .is_none()
        );
        drop(g);
        assert!(!lock.is_locked());
        assert!(lock.try_lock().is_some());

        let rt = multi_thread_runtime(1);
        rt.block_on(async {
            let g = lock.lock().await;
            assert!(
                lock.lock()
                    .timeout(Duration::from_millis(10))
                    .await
                    .is_none()
            );
            drop(g);
        });
        assert!(!lock.is_locked());
        assert!(lock.try_lock().is_some());
    }
}

/// `RLockTests`: recursive locks.
mod rlock_tests {
    use super::*;

    type L = RLock<()>;

    base_lock_tests!("RLock");

    /// Python's `RLock._recursion_count()`: the caller's depth, 0 if the
    /// caller does not own the lock.
    fn recursion_count(lock: &L) -> usize {
        if lock.is_owned() { lock.depth() } else { 0 }
    }

    /// test_reacquire: the owner re-enters; levels release in any order.
    #[test]
    fn test_reacquire() {
        let lock = L::new(());
        let a = lock.lock_blocking();
        let b = lock.lock_blocking();
        drop(b);
        let c = lock.lock_blocking();
        drop(c);
        drop(a);
        assert!(!lock.is_locked());

        // The same from a task, which owns it across its awaits.
        let rt = multi_thread_runtime(2);
        let lock = Arc::new(lock);
        let l = Arc::clone(&lock);
        rt.block_on(within(rt.spawn(async move {
            let a = l.lock().await;
            let b = within(l.lock()).await;
            drop(b);
            let c = within(l.lock()).await;
            drop(c);
            drop(a);
        })))
        .unwrap();
        assert!(!lock.is_locked());
    }

    /// test_recursion_count: the depth counts the owner's levels, and
    /// another thread's (task's) hold counts 0 for the caller.
    #[test]
    fn test_recursion_count() {
        let lock = Arc::new(L::new(()));
        assert_eq!(0, recursion_count(&lock));
        let a = lock.lock_blocking();
        assert_eq!(1, recursion_count(&lock));
        let b = lock.lock_blocking();
        let c = lock.lock_blocking();
        assert_eq!(3, recursion_count(&lock));
        drop(c);
        assert_eq!(2, recursion_count(&lock));
        drop(b);
        drop(a);
        assert_eq!(0, recursion_count(&lock));

        let rt = multi_thread_runtime(2);
        for mode in ONE {
            let held = Arc::new(Event::new());
            let release = Arc::new(Event::new());
            macro_rules! f {
                ($w:ident, $lock:ident, $held:ident, $release:ident) => {{
                    let g = timed!($w, $lock.lock(), DEADLINE).expect("free");
                    $held.set();
                    assert!(timed!($w, $release.wait(), DEADLINE));
                    drop(g);
                }};
            }
            let bunch = bunch!(rt, mode, 1, f!(lock, held, release));
            assert!(held.wait().wait_timeout(DEADLINE));
            assert_eq!(0, recursion_count(&lock), "{mode:?}");
            // amphi's `depth()` is the owner's depth, whoever asks (its
            // documented meaning): 1 here, where Python's count is 0.
            assert_eq!(lock.depth(), 1);
            release.set();
            bunch.join();
            assert_eq!(0, recursion_count(&lock));
        }
    }

    /// test_different_thread: a thread cannot release an RLock that
    /// another thread owns. With guards only the owner has something to
    /// release: the test thread can neither take the lock nor owns it.
    /// amphi differs on purpose (documented): the owner's guard, sent to
    /// the test thread and dropped there, releases one level of its owner
    /// (Python raises `RuntimeError`).
    #[test]
    fn test_different_thread() {
        let rt = multi_thread_runtime(2);
        for mode in ONE {
            let lock = Arc::new(L::new(()));
            let can_exit = Arc::new(Event::new());
            let (tx, rx) = mpsc::channel();
            let tx = Arc::new(Mutex::new(tx));
            macro_rules! f {
                ($w:ident, $lock:ident, $tx:ident, $can_exit:ident) => {{
                    let g = timed!($w, $lock.lock_arc(), DEADLINE).expect("free");
                    $tx.lock().unwrap().send(g).unwrap();
                    assert!(timed!($w, $can_exit.wait(), DEADLINE));
                }};
            }
            let bunch = bunch!(rt, mode, 1, f!(lock, tx, can_exit));
            let g = rx.recv_timeout(DEADLINE).expect("the party's guard");
            assert!(lock.try_lock().is_none(), "{mode:?}");
            assert!(!lock.is_owned());
            // The documented difference: the guard releases where it drops.
            drop(g);
            assert!(!lock.is_locked(), "{mode:?}");
            assert!(lock.try_lock().is_some());
            can_exit.set();
            bunch.join();
        }
    }

    /// test__is_owned (`_is_owned` is `is_owned`)
    #[test]
    fn test_is_owned() {
        let rt = multi_thread_runtime(2);
        for mode in ONE {
            let lock = Arc::new(L::new(()));
            assert!(!lock.is_owned());
            let a = lock.lock_blocking();
            assert!(lock.is_owned());
            let b = lock.lock_blocking();
            assert!(lock.is_owned());
            macro_rules! f {
                ($w:ident, $lock:ident) => {
                    $lock.is_owned()
                };
            }
            let result = bunch!(rt, mode, 1, f!(lock)).join();
            assert_eq!(result, [false], "{mode:?}");
            drop(b);
            assert!(lock.is_owned());
            drop(a);
            assert!(!lock.is_owned());
        }
    }
}

// ---------------------------------------------------------------------------
// EventTests
// ---------------------------------------------------------------------------

/// `EventTests`.
mod event_tests {
    use super::*;

    /// test_is_set
    #[test]
    fn test_is_set() {
        let evt = Event::new();
        assert!(!evt.is_set());
        evt.set();
        assert!(evt.is_set());
        evt.set();
        assert!(evt.is_set());
        evt.clear();
        assert!(!evt.is_set());
        evt.clear();
        assert!(!evt.is_set());
    }

    /// `_check_notify`: all waiters get notified, and a second wait on the
    /// set event returns at once.
    fn check_notify(rt: &tokio::runtime::Runtime, mode: Mode, evt: &Arc<Event>) {
        let results1 = Arc::new(AtomicUsize::new(0));
        macro_rules! f {
            ($w:ident, $evt:ident, $results1:ident) => {{
                let r1 = timed!($w, $evt.wait(), DEADLINE);
                $results1.fetch_add(1, SeqCst);
                let r2 = timed!($w, $evt.wait(), DEADLINE);
                (r1, r2)
            }};
        }
        let bunch = bunch!(rt, mode, N, f!(evt, results1));
        // Threads blocked on first evt.wait()
        wait_until("N waiters", || evt.waiters().total() == N);
        assert_eq!(results1.load(SeqCst), 0, "{mode:?}");
        // Threads unblocked
        evt.set();
        assert_eq!(bunch.join(), [(true, true); N], "{mode:?}");
    }

    /// test_notify
    #[test]
    fn test_notify() {
        let rt = multi_thread_runtime(2);
        for mode in MODES {
            let evt = Arc::new(Event::new());
            check_notify(&rt, mode, &evt);
            // Another time, after an explicit clear()
            evt.set();
            evt.clear();
            check_notify(&rt, mode, &evt);
        }
    }

    /// test_timeout: a zero timeout only looks; a timed wait on an unset
    /// event gives up after its timeout; both return true once it is set.
    #[test]
    fn test_timeout() {
        let rt = multi_thread_runtime(2);
        let timeout = Duration::from_millis(500);
        macro_rules! f {
            ($w:ident, $evt:ident) => {{
                let r1 = timed!($w, $evt.wait(), Duration::ZERO);
                let t1 = Instant::now();
                let r = timed!($w, $evt.wait(), Duration::from_millis(500));
                (r1, r, t1.elapsed())
            }};
        }
        for mode in MODES {
            let evt = Arc::new(Event::new());
            for (r1, r, dt) in bunch!(rt, mode, N, f!(evt)).join() {
                assert!(!r1, "{mode:?}");
                assert!(!r, "{mode:?}");
                assert_timeout(dt, timeout);
            }
            // The event is set
            evt.set();
            for (r1, r, _) in bunch!(rt, mode, N, f!(evt)).join() {
                assert!(r1, "{mode:?}");
                assert!(r, "{mode:?}");
            }
        }
    }

    /// test_set_and_clear (gh-57711): a wait returns true even when the
    /// event is cleared before the waiter is woken.
    #[test]
    fn test_set_and_clear() {
        let rt = multi_thread_runtime(2);
        macro_rules! f {
            ($w:ident, $evt:ident) => {
                timed!($w, $evt.wait(), DEADLINE)
            };
        }
        for mode in MODES {
            let evt = Arc::new(Event::new());
            let bunch = bunch!(rt, mode, N, f!(evt));
            // Threads blocked on event.wait()
            wait_until("N waiters", || evt.waiters().total() == N);
            // Threads unblocked
            evt.set();
            evt.clear();
            assert_eq!(bunch.join(), [true; N], "{mode:?}");
        }
    }

    /// test_repr: the `Debug` form tells set from unset.
    #[test]
    fn test_repr() {
        let evt = Event::new();
        let s = format!("{evt:?}");
        assert!(s.starts_with("Event") && s.contains("is_set: false"), "{s}");
        evt.set();
        let s = format!("{evt:?}");
        assert!(s.contains("is_set: true"), "{s}");
    }
}

// ---------------------------------------------------------------------------
// ConditionTests: over an RLock (CPython's default) and over a Lock
// ---------------------------------------------------------------------------

/// What the parties of `_check_notify` write down (Python's lists and its
/// `phase_num` global). `phase` changes only while the condition's lock is
/// held, as in CPython.
#[derive(Default)]
struct Notes {
    ready: usize,
    phase: usize,
    results1: Vec<(bool, usize)>,
    results2: Vec<(bool, usize)>,
}

/// `ConditionTests`, for the lock type `L` of the module it expands in.
macro_rules! condition_tests {
    () => {
        /// test_unacquired_notify: amphi lets `notify` be called without
        /// the lock (documented, as std's `Condvar`), where Python raises
        /// `RuntimeError`; with nobody waiting it wakes nobody.
        #[test]
        fn test_unacquired_notify() {
            let cond = Condition::new();
            assert_eq!(cond.notify(1), 0);
            assert_eq!(cond.notify_all(), 0);
        }

        /// `_check_notify`: notify(3) wakes 3 of the 5 waiters, notify(5)
        /// the 2 still in their first wait and the 3 in their second,
        /// notify_all the last 2; each sees the phase in which it was
        /// woken, and every wait returns "notified".
        fn check_notify(
            rt: &tokio::runtime::Runtime,
            mode: Mode,
            lock: &Arc<L>,
            cond: &Arc<Condition>,
        ) {
            let notes = Arc::new(Mutex::new(Notes::default()));
            macro_rules! f {
                ($w:ident, $lock:ident, $cond:ident, $notes:ident) => {{
                    let g = timed!($w, $lock.lock(), DEADLINE).expect("lock");
                    $notes.lock().unwrap().ready += 1;
                    let (g, result) = timed!($w, $cond.wait(g), DEADLINE);
                    drop(g);
                    {
                        let mut n = $notes.lock().unwrap();
                        let phase = n.phase;
                        n.results1.push((result.notified(), phase));
                    }
                    let g = timed!($w, $lock.lock(), DEADLINE).expect("lock");
                    $notes.lock().unwrap().ready += 1;
                    let (g, result) = timed!($w, $cond.wait(g), DEADLINE);
                    drop(g);
                    let mut n = $notes.lock().unwrap();
                    let phase = n.phase;
                    n.results2.push((result.notified(), phase));
                }};
            }
            let notes_of = || notes.lock().unwrap();
            let bunch = bunch!(rt, mode, N, f!(lock, cond, notes));
            // first wait, to ensure all workers settle into cond.wait()
            // before we continue (a worker counts itself ready under the
            // lock, which its wait releases).
            wait_until("N ready", || notes_of().ready >= N);
            notes_of().ready = 0;
            assert!(notes_of().results1.is_empty(), "{mode:?}");

            // Notify 3 threads at first
            let count1 = 3;
            let g = lock.lock().wait_timeout(DEADLINE).expect("lock");
            assert_eq!(cond.notify(count1), count1, "{mode:?}");
            // CPython sleeps here; the woken wait for the lock we hold.
            wait_until("3 re-acquire", || lock.waiters().total() >= count1);
            // Phase 1
            notes_of().phase = 1;
            drop(g);
            wait_until("3 woken", || notes_of().results1.len() >= count1);
            assert_eq!(notes_of().results1, [(true, 1); 3], "{mode:?}");
            assert!(notes_of().results2.is_empty(), "{mode:?}");

            // Wait until awaken workers are blocked on cond.wait()
            wait_until("3 ready", || notes_of().ready >= count1);

            // Notify 5 threads: they might be in their first or second wait
            let g = lock.lock().wait_timeout(DEADLINE).expect("lock");
            assert_eq!(cond.notify(5), 5, "{mode:?}");
            wait_until("5 re-acquire", || lock.waiters().total() >= N);
            // Phase 2
            notes_of().phase = 2;
            drop(g);
            wait_until("8 woken", || {
                let n = notes_of();
                n.results1.len() + n.results2.len() >= N + count1
            });
            let count2 = N - count1;
            {
                let n = notes_of();
                let mut expected1 = vec![(true, 1); count1];
                expected1.extend([(true, 2); 2]);
                assert_eq!(n.results1, expected1, "{mode:?}");
                assert_eq!(n.results2, [(true, 2); 3], "{mode:?}");
            }

            // Make sure all workers settle into cond.wait()
            wait_until("N ready", || notes_of().ready >= N);

            // Notify all threads: they are all in their second wait
            let g = lock.lock().wait_timeout(DEADLINE).expect("lock");
            assert_eq!(cond.notify_all(), count2, "{mode:?}");
            wait_until("2 re-acquire", || lock.waiters().total() >= count2);
            // Phase 3
            notes_of().phase = 3;
            drop(g);
            wait_until("5 done", || notes_of().results2.len() >= N);
            {
                let n = notes_of();
                let mut expected1 = vec![(true, 1); count1];
                expected1.extend([(true, 2); 2]);
                let mut expected2 = vec![(true, 2); count1];
                expected2.extend([(true, 3); 2]);
                assert_eq!(n.results1, expected1, "{mode:?}");
                assert_eq!(n.results2, expected2, "{mode:?}");
            }
            bunch.join();
        }

        /// test_notify
        #[test]
        fn test_notify() {
            let rt = multi_thread_runtime(2);
            for mode in MODES {
                let lock = Arc::new(L::new(()));
                let cond = Arc::new(Condition::new());
                check_notify(&rt, mode, &lock, &cond);
                // A second time, to check internal state is still ok.
                check_notify(&rt, mode, &lock, &cond);
            }
        }

        /// test_timeout: timed waits with nobody notifying time out, and
        /// say so.
        #[test]
        fn test_timeout() {
            let rt = multi_thread_runtime(2);
            let timeout = Duration::from_millis(500);
            macro_rules! f {
                ($w:ident, $lock:ident, $cond:ident) => {{
                    let g = timed!($w, $lock.lock(), DEADLINE).expect("lock");
                    let t1 = Instant::now();
                    let (g, result) = timed!($w, $cond.wait(g), Duration::from_millis(500));
                    let dt = t1.elapsed();
                    drop(g);
                    (dt, result.notified())
                }};
            }
            for mode in MODES {
                let lock = Arc::new(L::new(()));
                let cond = Arc::new(Condition::new());
                let results = bunch!(rt, mode, N, f!(lock, cond)).join();
                assert_eq!(results.len(), N);
                for (dt, notified) in results {
                    assert_timeout(dt, timeout);
                    // In practice, this implementation has no spurious
                    // wakeups.
                    assert!(!notified, "{mode:?}");
                }
            }
        }

        /// test_waitfor: `wait_for(state == 4)` is `wait_while(state != 4)`;
        /// it returns true with the state reached.
        #[test]
        fn test_waitfor() {
            let rt = multi_thread_runtime(2);
            macro_rules! f {
                ($w:ident, $lock:ident, $cond:ident, $state:ident) => {{
                    let g = timed!($w, $lock.lock(), DEADLINE).expect("lock");
                    let (g, result) = timed!(
                        $w,
                        $cond.wait_while(g, |_| $state.load(SeqCst) != 4),
                        DEADLINE
                    );
                    assert!(result.notified());
                    assert_eq!($state.load(SeqCst), 4);
                    drop(g);
                }};
            }
            for mode in ONE {
                let lock = Arc::new(L::new(()));
                let cond = Arc::new(Condition::new());
                let state = Arc::new(AtomicUsize::new(0));
                let bunch = bunch!(rt, mode, 1, f!(lock, cond, state));
                for _ in 0..4 {
                    // CPython's pacing, not a synchronization.
                    std::thread::sleep(Duration::from_millis(10));
                    let _g = lock.lock().wait_timeout(DEADLINE).expect("lock");
                    state.fetch_add(1, SeqCst);
                    cond.notify(1);
                }
                bunch.join();
            }
        }

        /// test_waitfor_timeout: the state never gets to 4, so the wait
        /// times out and returns false.
        #[test]
        fn test_waitfor_timeout() {
            let rt = multi_thread_runtime(2);
            macro_rules! f {
                ($w:ident, $lock:ident, $cond:ident, $state:ident) => {{
                    let g = timed!($w, $lock.lock(), DEADLINE).expect("lock");
                    let t1 = Instant::now();
                    let (g, result) = timed!(
                        $w,
                        $cond.wait_while(g, |_| $state.load(SeqCst) != 4),
                        Duration::from_millis(100)
                    );
                    let dt = t1.elapsed();
                    drop(g);
                    assert!(!result.notified());
                    assert_timeout(dt, Duration::from_millis(100));
                    true
                }};
            }
            for mode in ONE {
                let lock = Arc::new(L::new(()));
                let cond = Arc::new(Condition::new());
                let state = Arc::new(AtomicUsize::new(0));
                let bunch = bunch!(rt, mode, 1, f!(lock, cond, state));
                // Only increment 3 times, so state == 4 is never reached.
                for _ in 0..3 {
                    std::thread::sleep(Duration::from_millis(10));
                    let _g = lock.lock().wait_timeout(DEADLINE).expect("lock");
                    state.fetch_add(1, SeqCst);
                    cond.notify(1);
                }
                assert_eq!(bunch.join(), [true], "{mode:?}");
            }
        }
    };
}

/// `ConditionTests` with CPython's default lock, an `RLock`.
mod condition_tests {
    use super::*;

    type L = RLock<()>;

    condition_tests!();

    /// A wait on an RLock held several levels deep releases every level
    /// and restores them (Python's `Condition` does this through the
    /// RLock's `_release_save`/`_acquire_restore`).
    #[test]
    fn test_wait_releases_every_level() {
        let lock = Arc::new(L::new(()));
        let cond = Arc::new(Condition::new());
        let outer = lock.lock_blocking();
        let inner = lock.lock_blocking();
        assert_eq!(lock.depth(), 2);
        let (l, c) = (Arc::clone(&lock), Arc::clone(&cond));
        let notifier = spawn_thread(move || {
            let _g = l
                .lock()
                .wait_timeout(DEADLINE)
                .expect("the wait released the lock");
            c.notify(1);
        });
        let (inner, result) = cond.wait(inner).wait_timeout(DEADLINE);
        assert!(result.notified());
        assert!(lock.is_owned());
        assert_eq!(lock.depth(), 2);
        drop(inner);
        drop(outer);
        notifier.join();
        assert!(!lock.is_locked());
    }
}

/// `ConditionTests` with `Condition(Lock())`.
mod condition_tests_with_lock {
    use super::*;

    type L = Lock<()>;

    condition_tests!();
}

// ---------------------------------------------------------------------------
// BaseSemaphoreTests: for Semaphore and BoundedSemaphore
// ---------------------------------------------------------------------------

/// `BaseSemaphoreTests`, for the semaphore type `S` and its `release` of
/// the module it expands in.
macro_rules! base_semaphore_tests {
    () => {
        /// test_acquire (Python's `release()` after an acquire: the permit
        /// dropped).
        #[test]
        fn test_acquire() {
            let sem = S::new(1);
            let p = sem.acquire_blocking().unwrap();
            drop(p);
            let sem = S::new(2);
            let p1 = sem.acquire_blocking().unwrap();
            let p2 = sem.acquire_blocking().unwrap();
            drop(p1);
            drop(p2);
            assert_eq!(sem.available(), 2);
        }

        /// test_acquire_destroy (Python's default value is 1; amphi has no
        /// default: `new(1)`).
        #[test]
        fn test_acquire_destroy() {
            let sem = S::new(1);
            sem.acquire_blocking().unwrap().forget();
            drop(sem);
        }

        /// `test_acquire_contended` and `test_multirelease`: 10 workers
        /// take 2 permits each (never given back); the test thread
        /// releases them phase by phase, one at a time or all at once.
        fn acquire_contended(multirelease: bool) {
            let rt = multi_thread_runtime(2);
            for mode in MODES {
                let sem_value = 7;
                let sem = Arc::new(S::new(sem_value));
                sem.acquire_blocking().unwrap().forget();
                let phase = Arc::new(AtomicUsize::new(0));
                // results1 + results2: the phase of every acquire.
                let results = Arc::new(Mutex::new(Vec::new()));
                macro_rules! func {
                    ($w:ident, $sem:ident, $phase:ident, $results:ident) => {{
                        let mut sem_results = Vec::new();
                        for _ in 0..2 {
                            let p = timed!($w, $sem.acquire(), DEADLINE);
                            sem_results.push(p.is_ok());
                            if let Ok(p) = p {
                                p.forget();
                            }
                            $results.lock().unwrap().push($phase.load(SeqCst));
                        }
                        sem_results
                    }};
                }
                let wait_count = |count: usize| {
                    wait_until("the acquires", || results.lock().unwrap().len() >= count);
                };
                let sorted = || {
                    let mut r = results.lock().unwrap().clone();
                    r.sort_unstable();
                    r
                };
                let rel = |n: usize| {
                    if multirelease {
                        release(&sem, n);
                    } else {
                        for _ in 0..n {
                            release(&sem, 1);
                        }
                    }
                };
                let bunch = bunch!(rt, mode, 10, func!(sem, phase, results));
                // Phase 0
                let count1 = sem_value - 1;
                wait_count(count1);
                assert_eq!(*results.lock().unwrap(), vec![0; count1], "{mode:?}");
                // Phase 1
                phase.store(1, SeqCst);
                let count2 = sem_value;
                rel(count2);
                wait_count(count1 + count2);
                let mut expected = vec![0; count1];
                expected.extend(vec![1; count2]);
                assert_eq!(sorted(), expected, "{mode:?}");
                // Phase 2
                phase.store(2, SeqCst);
                let count3 = sem_value - 1;
                rel(count3);
                wait_count(count1 + count2 + count3);
                expected.extend(vec![2; count3]);
                assert_eq!(sorted(), expected, "{mode:?}");
                // The semaphore is still locked
                assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
                // Final release, to let the last thread finish
                let count4 = 1;
                release(&sem, 1);
                let sem_results: Vec<bool> = bunch.join().concat();
                assert_eq!(
                    sem_results,
                    vec![true; count1 + count2 + count3 + count4],
                    "{mode:?}"
                );
            }
        }

        /// test_acquire_contended
        #[test]
        fn test_acquire_contended() {
            acquire_contended(false);
        }

        /// test_multirelease
        #[test]
        fn test_multirelease() {
            acquire_contended(true);
        }

        /// test_try_acquire
        #[test]
        fn test_try_acquire() {
            let sem = S::new(2);
            let p1 = sem.try_acquire();
            assert!(p1.is_ok());
            let p2 = sem.try_acquire();
            assert!(p2.is_ok());
            assert!(sem.try_acquire().is_err());
            drop(p1);
            assert!(sem.try_acquire().is_ok());
            drop(p2);
        }

        /// test_try_acquire_contended: 5 parties try twice each for the 3
        /// free permits (kept).
        #[test]
        fn test_try_acquire_contended() {
            let rt = multi_thread_runtime(2);
            macro_rules! f {
                ($w:ident, $sem:ident) => {{
                    let mut results = Vec::new();
                    for _ in 0..2 {
                        match $sem.try_acquire() {
                            Ok(p) => {
                                p.forget();
                                results.push(true);
                            }
                            Err(_) => results.push(false),
                        }
                    }
                    results
                }};
            }
            for mode in MODES {
                let sem = Arc::new(S::new(4));
                sem.acquire_blocking().unwrap().forget();
                let mut results: Vec<bool> = bunch!(rt, mode, 5, f!(sem)).join().concat();
                // There can be a thread switch between acquiring the
                // semaphore and appending the result, therefore results
                // will not necessarily be ordered.
                results.sort_unstable();
                let mut expected = vec![false; 7];
                expected.extend([true; 3]);
                assert_eq!(results, expected, "{mode:?}");
            }
        }

        /// test_acquire_timeout, blocking and awaited.
        #[test]
        fn test_acquire_timeout() {
            let ms = Duration::from_millis;
            let sem = S::new(2);
            sem.acquire().wait_timeout(ms(5)).unwrap().forget();
            sem.acquire().wait_timeout(ms(5)).unwrap().forget();
            assert!(sem.acquire().wait_timeout(ms(5)).is_err());
            release(&sem, 1);
            sem.acquire().wait_timeout(ms(5)).unwrap().forget();
            let t = Instant::now();
            assert!(sem.acquire().wait_timeout(ms(500)).is_err());
            assert_timeout(t.elapsed(), ms(500));

            let rt = multi_thread_runtime(1);
            rt.block_on(async {
                let sem = S::new(2);
                sem.acquire().timeout(ms(5)).await.unwrap().forget();
                sem.acquire().timeout(ms(5)).await.unwrap().forget();
                assert!(sem.acquire().timeout(ms(5)).await.is_err());
                release(&sem, 1);
                sem.acquire().timeout(ms(5)).await.unwrap().forget();
                let t = Instant::now();
                assert!(sem.acquire().timeout(ms(500)).await.is_err());
                assert_timeout(t.elapsed(), ms(500));
            });
        }

        /// test_default_value: one permit (amphi has no default value:
        /// `new(1)`); a second acquirer waits for the release.
        #[test]
        fn test_default_value() {
            let rt = multi_thread_runtime(2);
            macro_rules! f {
                ($w:ident, $sem:ident) => {{
                    let p = timed!($w, $sem.acquire(), DEADLINE);
                    assert!(p.is_ok(), "acquire: lost wake-up?");
                }};
            }
            for mode in ONE {
                let sem = Arc::new(S::new(1));
                let p = sem.acquire_blocking().unwrap();
                let bunch = bunch!(rt, mode, 1, f!(sem));
                // Thread blocked on sem.acquire()
                wait_until("the waiter", || sem.waiters().total() == 1);
                assert_eq!(bunch.finished(), 0, "{mode:?}");
                // Thread unblocked
                drop(p);
                bunch.join();
            }
        }

        /// test_with: a permit's scope gives it back, also when it ends by
        /// a panic.
        #[test]
        fn test_with() {
            let sem = S::new(2);
            let with = |err: bool| {
                let _p = sem.acquire_blocking().unwrap();
                let extra = sem.try_acquire();
                assert!(extra.is_ok());
                drop(extra);
                let _p2 = sem.acquire_blocking().unwrap();
                assert!(sem.try_acquire().is_err());
                if err {
                    panic!("TypeError");
                }
            };
            with(false);
            assert!(sem.try_acquire().is_ok());
            let r = panic::catch_unwind(AssertUnwindSafe(|| with(true)));
            assert!(r.is_err());
            assert!(sem.try_acquire().is_ok());
            assert_eq!(sem.available(), 2);
        }
    };
}

/// `SemaphoreTests`: unbounded semaphores.
mod semaphore_tests {
    use super::*;

    type S = Semaphore;

    fn release(sem: &S, n: usize) {
        sem.release(n);
    }

    base_semaphore_tests!();

    /// test_release_unacquired: unbounded releases are allowed and add to
    /// the semaphore's value.
    #[test]
    fn test_release_unacquired() {
        let sem = S::new(1);
        sem.release(1);
        sem.acquire_blocking().unwrap().forget();
        sem.acquire_blocking().unwrap().forget();
        sem.release(1);
        assert_eq!(sem.available(), 1);
    }

    /// test_repr: the `Debug` form shows the value.
    #[test]
    fn test_repr() {
        let sem = S::new(3);
        let s = format!("{sem:?}");
        assert!(
            s.starts_with("Semaphore") && s.contains("available: 3"),
            "{s}"
        );
        sem.acquire_blocking().unwrap().forget();
        let s = format!("{sem:?}");
        assert!(s.contains("available: 2"), "{s}");
        sem.release(1);
        sem.release(1);
        let s = format!("{sem:?}");
        assert!(s.contains("available: 4"), "{s}");
    }
}

/// `BoundedSemaphoreTests`.
mod bounded_semaphore_tests {
    use super::*;

    type S = BoundedSemaphore;

    fn release(sem: &S, n: usize) {
        sem.release(n).expect("within the bound");
    }

    base_semaphore_tests!();

    /// test_release_unacquired: a release cannot go past the initial
    /// value.
    #[test]
    fn test_release_unacquired() {
        let sem = S::new(1);
        assert!(sem.release(1).is_err());
        sem.acquire_blocking().unwrap().forget();
        assert!(sem.release(1).is_ok());
        assert!(sem.release(1).is_err());
        assert_eq!(sem.available(), 1);
        // amphi differs on purpose (documented): a permit still held as a
        // guard gives itself back on drop, so a release beside it is
        // refused at once (Python's `acquire(); release()` is fine).
        let p = sem.acquire_blocking().unwrap();
        assert!(sem.release(1).is_err());
        drop(p);
        assert_eq!(sem.available(), 1);
    }

    /// test_repr: the `Debug` form shows the value and the bound.
    #[test]
    fn test_repr() {
        let sem = S::new(3);
        let s = format!("{sem:?}");
        assert!(
            s.starts_with("BoundedSemaphore")
                && s.contains("available: 3")
                && s.contains("bound: 3"),
            "{s}"
        );
        sem.acquire_blocking().unwrap().forget();
        let s = format!("{sem:?}");
        assert!(s.contains("available: 2") && s.contains("bound: 3"), "{s}");
    }
}
