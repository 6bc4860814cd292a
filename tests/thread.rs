//! amphi threads: joins in both worlds (blocking, async, timed, told apart
//! from the result), panics reaching the join and the excepthook, the
//! registry (current_thread, enumerate, active_count, main_thread, dummy
//! threads), names, idents, the daemon flag and join_non_daemon.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amphi::thread::{self, ExceptHookArgs, ThreadBuilder, ThreadError};
use amphi::{Event, Semaphore};
use common::{DEADLINE, SHORT, assert_elapsed_about, multi_thread_runtime, within};

/// A thread that waits for `gate` and then returns `v`.
fn gated<T: Send + 'static>(gate: &Arc<Event>, v: T) -> amphi::ThreadHandle<T> {
    let g = Arc::clone(gate);
    thread::spawn(move || {
        assert!(g.wait().wait_timeout(DEADLINE), "the gate never opened");
        v
    })
}

/// The tests that set the global excepthook run one at a time.
static HOOK: Mutex<()> = Mutex::new(());

fn in_registry(t: &amphi::Thread) -> bool {
    thread::enumerate().iter().any(|x| x.same_thread(t))
}

#[test]
fn join_blocking_gives_the_value() {
    let t = thread::spawn(|| 6 * 7);
    assert_eq!(t.join().wait_timeout(DEADLINE).unwrap().unwrap(), 42);
    assert!(!t.is_alive());
}

#[test]
fn timed_join_tells_a_timeout_from_the_result() {
    let gate = Arc::new(Event::new());
    let t = gated(&gate, "value");
    let start = Instant::now();
    assert!(t.join().wait_timeout(SHORT).is_none());
    assert_elapsed_about(start, SHORT);
    assert!(t.is_alive());
    assert!(t.try_join().is_none());
    // The untyped record's join says the same.
    assert!(!t.thread().join().wait_timeout(Duration::ZERO));
    gate.set();
    assert_eq!(t.join().wait_timeout(DEADLINE).unwrap().unwrap(), "value");
    assert!(t.thread().join().wait_timeout(Duration::ZERO));
}

#[tokio::test(flavor = "current_thread")]
async fn join_awaited_on_a_current_thread_runtime() {
    let gate = Arc::new(Event::new());
    let t = gated(&gate, 5u8);
    assert!(t.join().timeout(SHORT).await.is_none());
    gate.set();
    assert_eq!(within(t.join()).await.unwrap(), 5);
}

#[test]
fn joined_by_threads_and_tasks_at_once() {
    let gate = Arc::new(Event::new());
    let t = gated(&gate, 1u32);
    let rt = multi_thread_runtime(2);
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let th = t.thread().clone();
        tasks.push(rt.spawn(async move { th.join().timeout(DEADLINE).await }));
    }
    let mut threads = Vec::new();
    for _ in 0..3 {
        let th = t.thread().clone();
        threads.push(std::thread::spawn(move || th.join().wait_timeout(DEADLINE)));
    }
    // The typed result is waited for by a task and a thread; one gets it.
    let (a, b) = (t.clone(), t.clone());
    let typed_task = rt.spawn(async move { a.join().timeout(DEADLINE).await });
    let typed_thread = std::thread::spawn(move || b.join().wait_timeout(DEADLINE));
    gate.set();
    for h in threads {
        assert!(h.join().unwrap());
    }
    rt.block_on(async {
        for h in tasks {
            assert!(h.await.unwrap());
        }
    });
    let r1 = rt.block_on(typed_task).unwrap().expect("in time");
    let r2 = typed_thread.join().unwrap().expect("in time");
    let (ok, taken): (Vec<_>, Vec<_>) = [r1, r2].into_iter().partition(|r| r.is_ok());
    assert_eq!(ok.len(), 1);
    assert!(matches!(taken[0], Err(ThreadError::Taken)));
}

#[test]
fn a_dropped_join_leaves_the_result() {
    let gate = Arc::new(Event::new());
    let t = gated(&gate, String::from("kept"));
    let rt = multi_thread_runtime(1);
    // A task's join times out (its future is dropped), then the value is
    // still there for the next join.
    rt.block_on(async {
        assert!(t.join().timeout(SHORT).await.is_none());
        let mut pending = tokio_test::task::spawn(t.join());
        tokio_test::assert_pending!(pending.poll());
        drop(pending);
    });
    gate.set();
    assert_eq!(t.join_blocking().unwrap(), "kept");
    assert!(matches!(t.join_blocking(), Err(ThreadError::Taken)));
}

#[test]
fn a_panic_reaches_the_join_and_the_excepthook() {
    let _one = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    thread::set_excepthook(move |a: &ExceptHookArgs<'_>| {
        assert!(a.thread().is_alive(), "the hook runs before the end");
        s.lock()
            .unwrap()
            .push((a.thread().name().to_owned(), a.panic().message().to_owned()));
    });
    let t = ThreadBuilder::new()
        .name("doomed")
        .spawn(|| -> u8 { panic!("out of disk") })
        .unwrap();
    let err = t.join().wait_timeout(DEADLINE).unwrap().unwrap_err();
    // The hook ran before the join returned.
    let got = seen.lock().unwrap().clone();
    thread::reset_excepthook();
    let ThreadError::Panicked(p) = err else {
        panic!("{err:?}")
    };
    assert_eq!(p.message(), "out of disk");
    assert!(p.to_string().contains("thread panicked"));
    assert!(
        got.contains(&("doomed".to_owned(), "out of disk".to_owned())),
        "{got:?}"
    );
    // The payload survives for resume_unwind.
    let t = thread::spawn(|| std::panic::panic_any(7u32));
    let ThreadError::Panicked(p) = t.join_blocking().unwrap_err() else {
        panic!()
    };
    assert_eq!(*p.into_payload().unwrap().downcast::<u32>().unwrap(), 7);
}

#[test]
fn a_panicking_excepthook_is_contained() {
    let _one = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    thread::set_excepthook(|_: &ExceptHookArgs<'_>| panic!("the hook itself"));
    let t = thread::spawn(|| -> () { panic!("first") });
    let r = t
        .join()
        .wait_timeout(DEADLINE)
        .expect("the thread still finishes");
    thread::reset_excepthook();
    assert!(matches!(r, Err(ThreadError::Panicked(p)) if p.message() == "first"));
    assert!(!t.is_alive());
}

#[test]
fn the_registry_sees_threads_start_and_end() {
    let gate = Arc::new(Event::new());
    let t = gated(&gate, ());
    // In the registry as soon as spawn returns.
    assert!(in_registry(t.thread()));
    assert!(t.is_alive());
    assert!(thread::active_count() >= 2); // the main thread and t
    gate.set();
    t.join_blocking().unwrap();
    // Out of it once a join has returned.
    assert!(!in_registry(t.thread()));
    assert!(!t.is_alive());
}

#[test]
fn current_thread_inside_an_amphi_thread_is_its_own_record() {
    let t = ThreadBuilder::new()
        .name("me")
        .spawn(|| {
            let me = thread::current_thread();
            (
                me.clone(),
                std::thread::current().name().map(str::to_owned),
                thread::get_ident(),
                thread::get_native_id(),
            )
        })
        .unwrap();
    let (me, std_name, ident, native) = t.join_blocking().unwrap();
    assert!(me.same_thread(t.thread()));
    assert_eq!(me.name(), "me");
    assert_eq!(std_name.as_deref(), Some("me"));
    assert_eq!(ident, t.thread().ident());
    assert_eq!(native, t.thread().native_id());
    assert!(!me.is_dummy());
    #[cfg(target_os = "linux")]
    assert!(native.is_some());
}

#[test]
fn names_and_idents() {
    let a = thread::spawn(thread::get_native_id);
    let b = thread::spawn(thread::get_native_id);
    for t in [&a, &b] {
        let n = t.name().strip_prefix("Thread-").expect("default name");
        assert!(n.parse::<u64>().is_ok(), "{n}");
    }
    assert_ne!(a.name(), b.name());
    assert_ne!(a.thread().ident(), b.thread().ident());
    let (na, nb) = (a.join_blocking().unwrap(), b.join_blocking().unwrap());
    #[cfg(target_os = "linux")]
    {
        assert_ne!(na, nb);
        assert_ne!(na, thread::get_native_id());
    }
    let _ = (na, nb);
    let main = thread::main_thread();
    assert_eq!(main.name(), "MainThread");
    assert!(main.is_alive() && !main.is_daemon() && !main.is_dummy());
    #[cfg(target_os = "linux")]
    assert_eq!(main.native_id(), Some(u64::from(std::process::id())));
    assert!(in_registry(&main));
    // The test harness runs this test on a thread that is not main.
    assert!(!thread::current_thread().same_thread(&main));
}

#[test]
fn a_nul_in_the_name_is_refused_with_the_closure_back() {
    let err = ThreadBuilder::new().name("a\0b").spawn(|| 9).unwrap_err();
    assert_eq!(err.error().kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("NUL"));
    assert_eq!(err.into_closure()(), 9);
}

#[test]
fn dummy_threads_join_the_registry_and_leave_it_at_their_end() {
    let (tx, rx) = std::sync::mpsc::channel();
    let gate = Arc::new(Event::new());
    let g = Arc::clone(&gate);
    let std_thread = std::thread::Builder::new()
        .name("foreign".into())
        .spawn(move || {
            let me = thread::current_thread();
            tx.send(me.clone()).unwrap();
            assert!(g.wait().wait_timeout(DEADLINE));
            // The same record every time on this thread.
            assert!(me.same_thread(&thread::current_thread()));
        })
        .unwrap();
    let me = rx.recv_timeout(DEADLINE).unwrap();
    assert!(me.is_dummy() && me.is_daemon() && me.is_alive());
    assert_eq!(me.name(), "foreign");
    assert!(in_registry(&me));
    gate.set();
    // amphi can join a dummy thread (Python cannot): it ends with the
    // thread's storage.
    assert!(me.join().wait_timeout(DEADLINE));
    std_thread.join().unwrap();
    assert!(!me.is_alive());
    assert!(!in_registry(&me));
    // An unnamed foreign thread is Dummy-N.
    let name = std::thread::spawn(|| thread::current_thread().name().to_owned())
        .join()
        .unwrap();
    assert!(name.starts_with("Dummy-"), "{name}");
}

#[test]
fn the_daemon_flag_is_inherited() {
    // From an amphi thread: its own flag.
    let parent = ThreadBuilder::new()
        .daemon(false)
        .spawn(|| {
            let child = thread::spawn(|| ());
            let d = child.thread().is_daemon();
            child.join_blocking().unwrap();
            d
        })
        .unwrap();
    assert!(!parent.join_blocking().unwrap());
    let parent = ThreadBuilder::new()
        .daemon(true)
        .spawn(|| thread::spawn(|| ()).thread().is_daemon())
        .unwrap();
    assert!(parent.join_blocking().unwrap());
    // From a thread amphi did not start (this test's): daemon, as Python's
    // dummy threads.
    assert!(thread::spawn(|| ()).thread().is_daemon());
}

#[test]
fn join_non_daemon_waits_for_the_non_daemon_threads_only() {
    let gate = Arc::new(Event::new());
    let g = Arc::clone(&gate);
    let worker = ThreadBuilder::new()
        .daemon(false)
        .spawn(move || assert!(g.wait().wait_timeout(DEADLINE)))
        .unwrap();
    let forever = Arc::new(Event::new());
    let f = Arc::clone(&forever);
    let daemon = ThreadBuilder::new()
        .daemon(true)
        .spawn(move || assert!(f.wait().wait_timeout(DEADLINE)))
        .unwrap();
    assert!(!thread::join_non_daemon().wait_timeout(SHORT));
    let rt = multi_thread_runtime(1);
    let waiter = rt.spawn(async { thread::join_non_daemon().timeout(DEADLINE).await });
    gate.set();
    assert!(thread::join_non_daemon().wait_timeout(DEADLINE));
    assert!(rt.block_on(waiter).unwrap());
    assert!(!worker.is_alive());
    // The daemon still runs: not waited for.
    assert!(daemon.is_alive());
    forever.set();
    daemon.join_blocking().unwrap();
}

#[test]
fn a_thread_joining_itself_panics_instead_of_hanging() {
    let t = thread::spawn(|| thread::current_thread().join_blocking());
    let err = t.join().wait_timeout(DEADLINE).unwrap().unwrap_err();
    let ThreadError::Panicked(p) = err else {
        panic!()
    };
    assert!(
        p.message().contains("cannot join itself"),
        "{}",
        p.message()
    );
}

#[test]
fn a_join_in_a_current_thread_runtime_refuses_to_block() {
    let t = thread::spawn(|| ());
    let rt = common::current_thread_runtime();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { t.join_blocking() })
    }));
    let msg = common::panic_message(&*r.unwrap_err());
    assert!(msg.contains("ThreadHandle::join"), "{msg}");
    assert!(t.join().wait_timeout(DEADLINE).unwrap().is_ok());
}

#[test]
fn many_threads_from_threads_and_tasks() {
    let done = Arc::new(AtomicUsize::new(0));
    let rt = multi_thread_runtime(2);
    let spawned = Arc::new(Semaphore::new(0));
    let mut handles = Vec::new();
    for i in 0..50u64 {
        let d = Arc::clone(&done);
        handles.push(thread::spawn(move || {
            d.fetch_add(1, SeqCst);
            i
        }));
    }
    let tasks: Vec<_> = handles
        .iter()
        .cloned()
        .map(|h| {
            let s = Arc::clone(&spawned);
            rt.spawn(async move {
                let r = h.join().timeout(DEADLINE).await;
                s.release(1);
                r
            })
        })
        .collect();
    let mut sum = 0;
    rt.block_on(async {
        for t in tasks {
            sum += t.await.unwrap().expect("in time").unwrap();
        }
    });
    assert_eq!(sum, (0..50).sum::<u64>());
    assert_eq!(done.load(SeqCst), 50);
    for h in &handles {
        assert!(matches!(h.try_join(), Some(Err(ThreadError::Taken))));
        assert!(!in_registry(h.thread()));
    }
}
