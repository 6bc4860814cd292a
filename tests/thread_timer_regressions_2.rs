//! Reproductions from a second independent review of `amphi::thread` and
//! `amphi::Timer` (after the first review's fixes). Each test failed on
//! the code it was written against (a bug, a difference from Python's
//! `threading`, or a doc promise the code broke) and passes since its fix;
//! two design questions are kept as checks of the documented choice
//! ("DOCUMENTED CHOICE").
//!
//! Tests that need a fresh process (the global excepthook or panic hook,
//! the process-wide scheduler thread or callback pool, a lowered resource
//! limit) run isolated: the test re-runs this binary on itself alone, in a
//! child process with a deadline (the pattern of
//! tests/thread_timer_regressions.rs).

mod common;

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amphi::thread::{self, ExceptHookArgs};
use amphi::{Event, Repeat, Timer};
#[cfg(target_os = "linux")]
use common::child::{address_space_limited, limit_address_space_for};
use common::child::{holds_within, isolated};
use common::{DEADLINE, current_thread_runtime, multi_thread_runtime, panic_message};

// ---------------------------------------------------------------------------
// Address-space limits (Linux): how the tests make thread creation fail.
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// 1. An async call whose future panics when dropped strands its timer.
// ---------------------------------------------------------------------------

/// A future that is ready at once and whose destructor panics.
struct PanicOnDrop;

impl std::future::Future for PanicOnDrop {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Ready(())
    }
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("a future's destructor failed");
        }
    }
}

/// `AsyncCall::drop` drops the call's future first and only then puts
/// the maker back and calls `ended()`. A future whose destructor panics
/// (tokio catches that panic in its harness) unwinds out of the `drop`
/// half way: `ended()` never runs, the maker is lost, and the timer stays
/// "running" for ever (`is_alive()` true, every join hangs, `reset` only
/// records a `then`). The sync path has no such window.
#[test]
fn an_async_call_whose_future_panics_on_drop_still_ends() {
    let rt = multi_thread_runtime(1);
    let t = rt.block_on(async { Timer::new_async(Duration::ZERO, || PanicOnDrop) });
    assert!(t.start());
    let ended = t.join().wait_timeout(Duration::from_secs(3));
    assert!(
        ended,
        "the call's future completed, but its destructor's panic skipped `ended()`: {t:?}"
    );
}

// ---------------------------------------------------------------------------
// 2. A sync call's excepthook runs outside `IN_CALL`: a join there hangs.
// ---------------------------------------------------------------------------

isolated! {
    /// Python runs `excepthook` on the `Timer`'s own thread, where
    /// `timer.join()` raises "cannot join current thread". amphi refuses a
    /// join inside the call, and for an async timer also inside the
    /// excepthook (`report` runs while the `InCall` guard lives), but
    /// `SyncCall::run` drops the guard before `report`: a hook that joins
    /// the timer (to wait for it, or to restart it when done) waits for a
    /// call that waits for the hook, until its timeout (for ever without
    /// one), holding a callback thread.
    fn a_sync_calls_excepthook_that_joins_the_timer_is_refused() {
        let slot: Arc<Mutex<Option<Timer>>> = Arc::new(Mutex::new(None));
        let outcome: Arc<Mutex<Option<&'static str>>> = Arc::new(Mutex::new(None));
        let (s, o) = (Arc::clone(&slot), Arc::clone(&outcome));
        thread::set_excepthook(move |_: &ExceptHookArgs<'_>| {
            let Some(me) = s.lock().unwrap().clone() else { return };
            let r = catch_unwind(AssertUnwindSafe(|| {
                me.join().wait_timeout(Duration::from_millis(500))
            }));
            *o.lock().unwrap() = Some(match r {
                Err(_) => "refused",
                Ok(true) => "returned",
                Ok(false) => "timed out",
            });
        });
        let t = Timer::new(Duration::ZERO, || panic!("a failing call"));
        *slot.lock().unwrap() = Some(t.clone());
        t.start();
        assert!(t.join().wait_timeout(DEADLINE));
        thread::reset_excepthook();
        slot.lock().unwrap().take();
        let got = *outcome.lock().unwrap();
        assert_eq!(
            got,
            Some("refused"),
            "a join of the timer from its call's excepthook was not refused"
        );
    }
}

// ---------------------------------------------------------------------------
// 3. A `start` that could not start the scheduler leaves a dead timer.
// ---------------------------------------------------------------------------

#[cfg(target_os = "linux")]
isolated! {
    /// `scheduler()` says: if the OS refuses the scheduler thread, "every
    /// timer call panics the same way, at the `start` or `reset` that
    /// needed it". But `Inner::arm` sets the stage to `Waiting` before it
    /// asks for the scheduler: after the panic the timer is "waiting" with
    /// no scheduler entry. It never fires, `is_alive()` is true for ever,
    /// every join hangs, and `start()` (the natural retry once the
    /// transient EAGAIN is over) returns `false`.
    fn a_start_that_panicked_for_want_of_a_scheduler_can_be_retried() {
        let Some(mut helper) = limit_address_space_for(Duration::from_millis(300)) else {
            return;
        };
        let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = Arc::clone(&fired);
        let t = Timer::new(Duration::from_millis(1), move || f.store(true, SeqCst));
        let first = catch_unwind(AssertUnwindSafe(|| t.start()));
        assert!(helper.wait().expect("the helper").success(), "could not restore the limit");
        assert!(!address_space_limited());
        if first.is_ok() {
            eprintln!("the scheduler thread started under the limit: skipped");
            return;
        }
        let alive = t.is_alive();
        let retried = t.start();
        let ran = t.join().wait_timeout(Duration::from_secs(2)) && fired.load(SeqCst);
        assert!(
            retried && ran,
            "after the start that panicked: is_alive {alive}, start() again {retried}, \
             ran {ran}: {t:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// 4. A callback thread that cannot start stops a repeating timer for good.
// ---------------------------------------------------------------------------

#[cfg(target_os = "linux")]
isolated! {
    /// When no callback thread can be started, the fresh pool accepts the
    /// call and then fails it (`mark_broken` drops the queued job), so
    /// `SyncCall::drop` ends it as `Dropped`: the timer is finished, never
    /// having run the call. The "the call runs here" fallback in
    /// `dispatch` is dead code (only a refused submit reaches it, and the
    /// fresh pool never refuses). For a repeating timer a transient EAGAIN
    /// ends it for good, silently: `is_finished()`, not `is_cancelled()`,
    /// not `panicked()`, no excepthook, no message; `calls()` counts a
    /// call that never began. Python raises at `start()`; nothing in
    /// amphi's docs says a call can be skipped.
    fn a_repeating_timer_survives_a_moment_without_threads() {
        // The scheduler thread first, not the callback pool.
        let warm = Timer::after(Duration::from_secs(3600), || ());
        assert!(warm.cancel());
        let ran = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&ran);
        let t = Timer::repeating(Duration::from_millis(5), Repeat::FixedDelay, move || {
            r.fetch_add(1, SeqCst);
        });
        let Some(mut helper) = limit_address_space_for(Duration::from_millis(300)) else {
            t.cancel();
            return;
        };
        t.start();
        assert!(helper.wait().expect("the helper").success(), "could not restore the limit");
        assert!(!address_space_limited());
        let ticking = holds_within(Duration::from_secs(2), || ran.load(SeqCst) >= 3);
        let state = format!("{t:?}");
        let (alive, calls, runs) = (t.is_alive(), t.calls(), ran.load(SeqCst));
        t.cancel();
        assert!(t.join().wait_timeout(DEADLINE));
        assert!(
            ticking && alive,
            "a repeating timer, never cancelled and never panicked, stopped: alive {alive}, \
             calls() {calls}, calls that ran {runs}: {state}"
        );
    }
}

// ---------------------------------------------------------------------------
// 5. `try_join` gives the result of a thread that has not finished.
// ---------------------------------------------------------------------------

struct SlowDrop;

impl Drop for SlowDrop {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(300));
    }
}

std::thread_local! {
    static SLOW: RefCell<Option<SlowDrop>> = const { RefCell::new(None) };
}

/// Since 4c8600b a thread finishes (leaves the registry, `is_alive()`
/// false, joins return) when its thread-locals are dropped, but the result
/// slot is filled when the function returns, before them. So while the
/// thread's thread-local destructors run, `try_join` ("the result if the
/// thread has finished ...; `None` while it runs") and a timed
/// `ThreadHandle::join` that runs out (`poll_expired` reads the slot:
/// "`None` means it still runs") hand the result out, while `is_alive()`
/// is true, the thread is in `enumerate()`, and `Thread::join` says it
/// has not finished. The `is_alive` docs ("until its function has
/// returned") and the README's Threads bullet ("in `enumerate()` ... until
/// its function returned ... then it leaves the registry") describe the
/// old order.
#[test]
fn a_thread_is_not_joined_while_its_thread_locals_drop() {
    let returning = Arc::new(Event::new());
    let r = Arc::clone(&returning);
    let t = thread::spawn(move || {
        SLOW.with(|s| *s.borrow_mut() = Some(SlowDrop));
        r.set();
        5
    });
    assert!(returning.wait().wait_timeout(DEADLINE));
    // The function returns now; its thread-local takes 300 ms to drop.
    std::thread::sleep(Duration::from_millis(50));
    let timed = t.join().wait_timeout(Duration::from_millis(1));
    let alive = t.is_alive();
    let listed = thread::enumerate()
        .iter()
        .any(|x| x.same_thread(t.thread()));
    let finished = t.thread().join().wait_timeout(Duration::ZERO);
    assert!(t.thread().join().wait_timeout(DEADLINE));
    let timed = timed.map(|r| r.map_err(|e| e.to_string()));
    assert!(
        timed.is_none() || (!alive && !listed && finished),
        "a 1 ms join gave {timed:?} while is_alive {alive}, in enumerate {listed}, \
         Thread::join finished {finished}"
    );
}

/// The same through `try_join`.
#[test]
fn try_join_gives_nothing_until_the_thread_has_finished() {
    let t = thread::spawn(|| {
        SLOW.with(|s| *s.borrow_mut() = Some(SlowDrop));
        5
    });
    let start = Instant::now();
    let got = loop {
        if let Some(r) = t.try_join() {
            break r;
        }
        assert!(start.elapsed() < DEADLINE, "the thread never ended");
        std::thread::yield_now();
    };
    let alive = t.is_alive();
    let finished = t.thread().join().wait_timeout(Duration::ZERO);
    assert_eq!(got.unwrap(), 5);
    assert!(t.thread().join().wait_timeout(DEADLINE));
    assert!(
        !alive && finished,
        "try_join gave the result while is_alive {alive}, Thread::join finished {finished}"
    );
}

// ---------------------------------------------------------------------------
// 6. `is_cancelled` forgets a successful cancel when the running call panics.
// ---------------------------------------------------------------------------

/// `is_cancelled`: "Whether `cancel` stopped it (and no `reset` armed it
/// since)". A repeating timer cancelled during a call (`cancel()` true,
/// `is_cancelled()` true at once) whose running call then panics ends
/// `Finished`, not `Cancelled`: `is_cancelled()` turns false again though
/// nothing re-armed it.
#[test]
fn a_cancel_during_a_call_that_then_panics_stays_cancelled() {
    let gate = Arc::new(Event::new());
    let in_call = Arc::new(Event::new());
    let (g, e) = (Arc::clone(&gate), Arc::clone(&in_call));
    let t = Timer::repeating(Duration::from_millis(1), Repeat::FixedDelay, move || {
        e.set();
        let _ = g.wait().wait_timeout(DEADLINE);
        panic!("the call fails after the cancel");
    });
    t.start();
    assert!(in_call.wait().wait_timeout(DEADLINE));
    assert!(t.cancel());
    let before = t.is_cancelled();
    gate.set();
    assert!(t.join().wait_timeout(DEADLINE));
    assert!(before, "control: cancelled at once");
    assert!(
        t.is_cancelled(),
        "cancel() stopped the timer and nothing re-armed it, yet is_cancelled() is false: {t:?}"
    );
}

// ---------------------------------------------------------------------------
// 7. The README says a one-shot's `is_finished` is true at the cancel.
// ---------------------------------------------------------------------------

/// README (Python table): "`t.finished.is_set()` / `t.is_alive()` |
/// `t.is_finished()` (true at the cancel, while a running call ends)".
/// Python sets `finished` at a one-shot's `cancel()` during its call too.
/// amphi's one-shot `cancel()` during the call returns `false` and
/// `is_finished()` stays false until the call returns (as the rustdoc of
/// `is_finished` says). The README row claims the Python behaviour.
/// DOCUMENTED CHOICE (README reworded): a one-shot's running call cannot be
/// cancelled, so it is finished when the call returns.
#[test]
fn a_one_shot_cancelled_during_its_call_is_finished_when_the_call_returns() {
    let gate = Arc::new(Event::new());
    let in_call = Arc::new(Event::new());
    let (g, e) = (Arc::clone(&gate), Arc::clone(&in_call));
    let t = Timer::after(Duration::ZERO, move || {
        e.set();
        let _ = g.wait().wait_timeout(DEADLINE);
    });
    assert!(in_call.wait().wait_timeout(DEADLINE));
    let cancelled = t.cancel();
    let finished = t.is_finished();
    gate.set();
    assert!(t.join().wait_timeout(DEADLINE));
    assert!(
        !cancelled && !finished,
        "cancel() = {cancelled}, is_finished() = {finished}"
    );
    assert!(t.is_finished() && !t.is_cancelled());
}

// ---------------------------------------------------------------------------
// 8. The `_blocking` forms' refusals name another method.
// ---------------------------------------------------------------------------

/// Principle 6b: the refusal names the amphi method. Every other
/// primitive names its `_blocking` form (`Lock::lock_blocking`,
/// `Queue::join_blocking`, `JobHandle::result_blocking`), but
/// `Timer::join_blocking`, `ThreadHandle::join_blocking`,
/// `Thread::join_blocking` and `join_non_daemon_blocking` go through the
/// future's `wait()` and name `Timer::join`, `ThreadHandle::join`, ...: a
/// user grepping for the method in the message finds the async one.
#[test]
fn the_blocking_joins_refused_in_a_current_thread_runtime_name_themselves() {
    let rt = current_thread_runtime();
    let refusal = |f: &dyn Fn()| {
        let r = catch_unwind(AssertUnwindSafe(|| rt.block_on(async { f() })));
        panic_message(&*r.expect_err("a blocking join in block_on is refused"))
    };
    let timer = Timer::new(Duration::from_secs(60), || ());
    let handle = thread::spawn(|| ());
    assert!(handle.join().wait_timeout(DEADLINE).is_some());
    let mut wrong = Vec::new();
    let cases: [(&str, &dyn Fn()); 4] = [
        ("Timer::join_blocking", &|| timer.join_blocking()),
        ("ThreadHandle::join_blocking", &|| {
            drop(handle.join_blocking())
        }),
        ("Thread::join_blocking", &|| handle.thread().join_blocking()),
        ("join_non_daemon_blocking", &|| {
            thread::join_non_daemon_blocking()
        }),
    ];
    for (name, call) in cases {
        let msg = refusal(call);
        if !msg.contains(name) {
            wrong.push(format!(
                "{name}: {}",
                msg.split(" blocks").next().unwrap_or(&msg)
            ));
        }
    }
    timer.cancel();
    assert!(
        wrong.is_empty(),
        "refusals that name another method: {wrong:#?}"
    );
}

// ---------------------------------------------------------------------------
// 9. A `reset` from the excepthook of a failed call is lost.
// ---------------------------------------------------------------------------

isolated! {
    /// `reset` arms a timer "again ..., whatever it was doing: ... a
    /// finished or cancelled one is armed again". A natural recovery is to
    /// re-arm a timer whose call failed, from the excepthook. But the hook
    /// runs before `ended()`, while the stage is still `Running`: the
    /// `reset` only records `then`, and `ended(Panicked)` throws `then`
    /// away. The timer ends finished, with no later call (a `reset` made
    /// anywhere during a call that then panics is lost the same way).
    fn a_reset_from_the_excepthook_re_arms_the_failed_timer() {
        let slot: Arc<Mutex<Option<Timer>>> = Arc::new(Mutex::new(None));
        let s = Arc::clone(&slot);
        thread::set_excepthook(move |_: &ExceptHookArgs<'_>| {
            if let Some(t) = s.lock().unwrap().clone() {
                t.reset();
            }
        });
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&runs);
        let t = Timer::new(Duration::from_millis(1), move || {
            if r.fetch_add(1, SeqCst) == 0 {
                panic!("the first call fails");
            }
        });
        *slot.lock().unwrap() = Some(t.clone());
        t.start();
        let second = holds_within(Duration::from_secs(2), || runs.load(SeqCst) >= 2);
        assert!(t.join().wait_timeout(DEADLINE));
        thread::reset_excepthook();
        slot.lock().unwrap().take();
        assert!(
            second,
            "the excepthook reset the failed timer, yet no second call came: {t:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// 10. An async call's excepthook runs inside the runtime.
// ---------------------------------------------------------------------------

isolated! {
    /// `set_excepthook` says the hook runs "on the thread that ran the
    /// call" (for an amphi thread: a plain thread, where Python's hook
    /// runs too). For an async timer that is inside the runtime's task
    /// poll, so on a current-thread runtime every blocking amphi call in
    /// the hook (an `Event::wait_blocking`, a `Queue::put_blocking` to
    /// hand the error to a logger) panics by principle 6b, and that panic
    /// is swallowed into "amphi: the excepthook panicked". The docs do not
    /// say the hook may run inside a runtime, nor that it must not block
    /// there.
    /// DOCUMENTED CHOICE (`set_excepthook`): the hook of an async call runs
    /// in its task and must not block; on a current-thread runtime a
    /// blocking call there is refused, as everywhere on that thread.
    fn an_async_calls_excepthook_is_refused_blocking_on_a_current_thread_runtime() {
        let blocked_ok: Arc<Mutex<Option<bool>>> = Arc::new(Mutex::new(None));
        let b = Arc::clone(&blocked_ok);
        thread::set_excepthook(move |_: &ExceptHookArgs<'_>| {
            let ev = Event::new();
            ev.set();
            let ok = catch_unwind(AssertUnwindSafe(|| ev.wait_blocking())).is_ok();
            *b.lock().unwrap() = Some(ok);
        });
        let rt = current_thread_runtime();
        rt.block_on(async {
            let t = Timer::new_async(Duration::ZERO, || async { panic!("an async call fails") });
            t.start();
            assert!(t.join().timeout(DEADLINE).await);
        });
        thread::reset_excepthook();
        let got = *blocked_ok.lock().unwrap();
        assert_eq!(got, Some(false), "the hook ran, and its blocking wait was refused");
    }
}
