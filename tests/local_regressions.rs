//! Regression tests from an independent review of `Local` (src/local.rs):
//! dropping a `Local` whose slots hold long chains (many short threads) no
//! longer overflows the stack, a re-entrant `get` from `init` is a clear
//! panic instead of a recursion that aborts the process, and churning
//! threads each get a fresh value of their own.
//! Tests that may abort the process run the scenario in a child process
//! (this same test binary, one `#[ignore]`d `child_*` test).

use std::cell::Cell;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use amphi::Local;

const LIMIT: Duration = Duration::from_secs(60);
const CHILD: &str = "REVIEW_LOCAL_CHILD";

/// Joins `h` or panics after `limit`.
fn join_within<T: Send + 'static>(h: thread::JoinHandle<T>, limit: Duration) -> T {
    let end = Instant::now() + limit;
    while !h.is_finished() {
        assert!(Instant::now() < end, "thread did not finish in {limit:?}");
        thread::sleep(Duration::from_millis(1));
    }
    h.join().unwrap()
}

/// Runs the ignored test `name` in a child process; returns (success, output).
fn run_child(name: &str) -> (bool, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + LIMIT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            child.kill().ok();
            child.wait().ok();
            panic!("child {name} did not finish in {LIMIT:?} (deadlock?)");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "status {status:?}\n--stdout--\n{}\n--stderr--\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (status.success(), text)
}

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

// ---------------------------------------------------------------------------
// 1. Re-entrant init: init calls `get` on the same Local, same thread.
//    Python: __init__ touching the local sees the (partial) new dict; no
//    recursion. Here: unbounded recursion -> stack overflow -> abort of the
//    whole process (not a catchable panic).

static REENTRANT: LazyLock<Local<u32>> = LazyLock::new(|| Local::new(|| *REENTRANT.get() + 1));

#[test]
#[ignore]
fn child_reentrant_init() {
    if !is_child() {
        return;
    }
    let r = std::panic::catch_unwind(|| *REENTRANT.get());
    println!("CAUGHT_PANIC ok={}", r.is_ok());
}

#[test]
fn reentrant_init_panics_instead_of_aborting() {
    let (ok, out) = run_child("child_reentrant_init");
    assert!(
        ok && out.contains("CAUGHT_PANIC"),
        "re-entrant init should give a catchable panic, got:\n{out}"
    );
}

// ---------------------------------------------------------------------------
// Many short threads: every ended thread's value stays alive (documented)
// and they all chain on the few reused slots.

// Dropping a Local whose slot chain is long recurses once per node
// (Chain -> OnceLock<Box<Chain>> -> Chain ...): stack overflow, abort.
#[test]
#[ignore]
fn child_drop_long_chain() {
    if !is_child() {
        return;
    }
    let local = Arc::new(Local::new(|| 0u8));
    for _ in 0..20_000 {
        let l = local.clone();
        join_within(thread::spawn(move || *l.get()), LIMIT);
    }
    println!("BUILT");
    // Drop on a thread with an ordinary 2 MiB stack.
    let h = thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || drop(local))
        .unwrap();
    join_within(h, LIMIT);
    println!("DROPPED_OK");
}

#[test]
fn dropping_a_local_after_many_short_threads_does_not_overflow() {
    let (ok, out) = run_child("child_drop_long_chain");
    assert!(ok && out.contains("DROPPED_OK"), "{out}");
}

// ---------------------------------------------------------------------------
// 4. Sanity (expected to pass): concurrent churn never hands a thread a
//    value it did not make, a panicking init on a reused slot appends
//    nothing, and values are made once per thread.

#[test]
fn concurrent_churn_every_thread_fresh_and_own() {
    let made = Arc::new(AtomicUsize::new(0));
    let m = made.clone();
    let local = Arc::new(Local::new(move || {
        m.fetch_add(1, Ordering::SeqCst);
        (thread::current().id(), Cell::new(0u32))
    }));
    let (tx, rx) = mpsc::channel();
    let mut total = 0;
    for _round in 0..50 {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let (l, tx) = (local.clone(), tx.clone());
                thread::spawn(move || {
                    let (id, c) = l.get();
                    let ok = *id == thread::current().id() && c.get() == 0;
                    for _ in 0..10 {
                        let (id, c) = l.get();
                        assert_eq!(*id, thread::current().id());
                        c.set(c.get() + 1);
                    }
                    tx.send(ok).unwrap();
                })
            })
            .collect();
        for h in hs {
            join_within(h, LIMIT);
        }
        total += 8;
    }
    drop(tx);
    assert!(
        rx.iter().all(|ok| ok),
        "a thread saw a value it did not make"
    );
    assert_eq!(made.load(Ordering::SeqCst), total);
    let mut local = Arc::into_inner(local).unwrap();
    assert_eq!(local.iter_mut().count(), total);
    assert!(local.iter_mut().all(|(_, c)| c.get() == 10));
}

#[test]
fn panicking_init_on_a_reused_slot_appends_nothing() {
    let tries = Arc::new(AtomicUsize::new(0));
    let t = tries.clone();
    let local = Arc::new(Local::new(move || {
        if t.fetch_add(1, Ordering::SeqCst) == 1 {
            panic!("second init fails");
        }
        1u32
    }));
    let l = local.clone();
    join_within(thread::spawn(move || *l.get()), LIMIT);
    let l = local.clone();
    let r = join_within(
        thread::spawn(move || {
            let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *l.get()));
            (first.is_err(), l.try_get().copied(), *l.get())
        }),
        LIMIT,
    );
    assert_eq!(r, (true, None, 1));
    let mut local = Arc::into_inner(local).unwrap();
    assert_eq!(local.iter_mut().count(), 2);
}

#[test]
fn bounds() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Local<Cell<u32>>>();
    send_sync::<Local<std::cell::RefCell<Vec<u8>>>>();
}
