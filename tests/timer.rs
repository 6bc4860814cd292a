//! Timers: firing after the delay, cancel saying whether it prevented the
//! call (raced against the deadline), reset postponing and re-arming,
//! repeating timers keeping their rule under a slow call, async timers,
//! panics, and joins in both worlds.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amphi::{Event, Repeat, Semaphore, Timer};
use common::{DEADLINE, Rng, SLACK, multi_thread_runtime, within};

/// A timer whose call sets an event (and records when it ran).
fn flag_timer(delay: Duration) -> (Timer, Arc<Event>, Arc<Mutex<Vec<Instant>>>) {
    let ev = Arc::new(Event::new());
    let at = Arc::new(Mutex::new(Vec::new()));
    let (e, a) = (Arc::clone(&ev), Arc::clone(&at));
    let t = Timer::new(delay, move || {
        a.lock().unwrap().push(Instant::now());
        e.set();
    });
    (t, ev, at)
}

#[test]
fn fires_after_about_its_delay() {
    let delay = Duration::from_millis(40);
    let (t, ev, at) = flag_timer(delay);
    assert!(!t.is_alive() && !t.is_finished());
    let start = Instant::now();
    assert!(t.start());
    assert!(t.is_alive());
    assert!(t.join().wait_timeout(DEADLINE));
    assert!(ev.is_set());
    let fired = at.lock().unwrap()[0];
    assert!(fired.duration_since(start) >= delay, "fired early");
    assert!(
        fired.duration_since(start) < delay + SLACK,
        "fired very late"
    );
    assert!(t.is_finished() && !t.is_alive() && !t.is_cancelled());
    assert_eq!(t.calls(), 1);
    assert!(!t.cancel(), "nothing left to prevent");
    assert!(!t.start(), "a timer starts once");
}

#[test]
fn a_cancel_before_the_deadline_prevents_the_call() {
    let (t, ev, _) = flag_timer(Duration::from_millis(30));
    t.start();
    assert!(t.cancel());
    assert!(!t.cancel());
    assert!(t.is_cancelled() && t.is_finished() && !t.is_alive());
    assert!(
        t.join().wait_timeout(Duration::ZERO),
        "a cancel finishes it at once"
    );
    // Well past the deadline, the call never came.
    assert!(!ev.wait().wait_timeout(Duration::from_millis(150)));
    assert_eq!(t.calls(), 0);
    // Cancelled before start: start refuses.
    let (t, _, _) = flag_timer(Duration::ZERO);
    assert!(t.cancel());
    assert!(!t.start());
}

#[test]
fn a_cancel_racing_the_deadline_is_false_exactly_when_the_call_ran() {
    let mut rng = Rng::new(7);
    let (mut prevented, mut ran) = (0, 0);
    for _ in 0..300 {
        let called = Arc::new(AtomicBool::new(false));
        let c = Arc::clone(&called);
        let t = Timer::after(rng.micros(400), move || c.store(true, SeqCst));
        let spin = Instant::now() + rng.micros(400);
        while Instant::now() < spin {
            std::hint::spin_loop();
        }
        let stopped = t.cancel();
        // A cancel that came late waits out the running call in the join.
        assert!(t.join().wait_timeout(DEADLINE));
        assert_eq!(stopped, !called.load(SeqCst), "cancel said {stopped}");
        if stopped {
            prevented += 1;
            assert!(t.is_cancelled());
        } else {
            ran += 1;
            assert!(!t.is_cancelled() && t.calls() == 1);
        }
    }
    // Both sides of the race were seen (the delays and spins overlap).
    assert!(prevented > 0 && ran > 0, "prevented {prevented}, ran {ran}");
}

#[test]
fn reset_postpones_the_call() {
    let delay = Duration::from_millis(80);
    let (t, _, at) = flag_timer(delay);
    let start = Instant::now();
    t.start();
    std::thread::sleep(Duration::from_millis(50));
    let reset_at = Instant::now();
    t.reset();
    assert!(t.join().wait_timeout(DEADLINE));
    let fired = at.lock().unwrap()[0];
    assert!(
        fired.duration_since(reset_at) >= delay,
        "fired {:?} after the reset",
        fired.duration_since(reset_at)
    );
    assert!(fired.duration_since(start) >= delay + Duration::from_millis(50));
    assert_eq!(t.calls(), 1);
}

/// The "finished" broadcast of a round is not handed on: a join that
/// starts after a `reset` re-armed the timer waits for the new call.
#[test]
fn a_join_after_a_rearm_waits_for_the_new_call() {
    // 300 ms, so a 50 ms join ends well before the new call is due.
    let (t, _, at) = flag_timer(Duration::from_millis(300));
    t.start();
    assert!(t.join().wait_timeout(DEADLINE));
    t.reset();
    assert!(
        !t.join().wait_timeout(Duration::from_millis(50)),
        "a join after the re-arm returned for the earlier round"
    );
    assert!(t.join().wait_timeout(DEADLINE));
    assert_eq!(at.lock().unwrap().len(), 2);
    // The same after a cancel.
    t.reset();
    assert!(t.cancel());
    assert!(t.join().wait_timeout(Duration::ZERO));
    t.reset();
    assert!(!t.join().wait_timeout(Duration::from_millis(50)));
    assert!(t.cancel());
}

#[test]
fn reset_rearms_a_finished_or_cancelled_timer() {
    let (t, _, at) = flag_timer(Duration::from_millis(1));
    t.start();
    assert!(t.join().wait_timeout(DEADLINE));
    t.reset();
    assert!(t.is_alive() && !t.is_finished());
    assert!(t.join().wait_timeout(DEADLINE));
    assert_eq!(at.lock().unwrap().len(), 2);
    assert!(t.cancel() || t.is_finished());
    let (t, _, at) = flag_timer(Duration::from_secs(60));
    t.start();
    assert!(t.cancel());
    t.reset();
    assert!(t.is_alive() && !t.is_cancelled());
    assert!(t.cancel());
    assert!(at.lock().unwrap().is_empty());
    // reset on a new timer starts it.
    let (t, _, at) = flag_timer(Duration::from_millis(1));
    t.reset();
    assert!(t.join().wait_timeout(DEADLINE));
    assert_eq!(at.lock().unwrap().len(), 1);
}

#[test]
fn debounce_many_resets_one_call() {
    let calls = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&calls);
    let t = Timer::new(Duration::from_millis(30), move || {
        c.fetch_add(1, SeqCst);
    });
    for _ in 0..20 {
        t.reset();
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(t.join().wait_timeout(DEADLINE));
    assert_eq!(calls.load(SeqCst), 1);
}

/// Call start and end times of a repeating timer with a slow call.
fn slow_repeating(
    repeat: Repeat,
    period: Duration,
    work: Duration,
    n: usize,
) -> Vec<(Instant, Instant)> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let enough = Arc::new(Event::new());
    let (l, e) = (Arc::clone(&log), Arc::clone(&enough));
    let running = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&running);
    let t = Timer::repeating(period, repeat, move || {
        assert!(!r.swap(true, SeqCst), "calls overlap");
        let begin = Instant::now();
        std::thread::sleep(work);
        r.store(false, SeqCst);
        let mut l = l.lock().unwrap();
        l.push((begin, Instant::now()));
        if l.len() == n {
            e.set();
        }
    });
    let start = Instant::now();
    t.start();
    assert!(enough.wait().wait_timeout(DEADLINE));
    assert!(t.cancel(), "a repeating timer's later calls are prevented");
    assert!(t.join().wait_timeout(DEADLINE));
    assert!(!t.panicked());
    let mut l = log.lock().unwrap().clone();
    l.truncate(n);
    l.insert(0, (start, start));
    l
}

#[test]
fn fixed_rate_skips_missed_ticks_and_keeps_the_phase() {
    // Each call lasts 1.5 periods: it ends mid-period, so the next tick of
    // the schedule comes half a period after it returns (fixed delay would
    // wait a whole period).
    let period = Duration::from_millis(60);
    let work = Duration::from_millis(90);
    let log = slow_repeating(Repeat::FixedRate, period, work, 4);
    let start = log[0].0;
    let p = period.as_micros();
    for w in log[1..].windows(2) {
        let (prev, next) = (w[0], w[1]);
        // No overlap, no burst to catch up.
        assert!(next.0 >= prev.1);
        // The first tick of the original schedule after the previous call
        // returned (ticks are start + k periods, k >= 1).
        let ended = prev.1.duration_since(start).as_micros();
        let tick = start + Duration::from_micros(((ended / p + 1) * p) as u64);
        let late = next.0.saturating_duration_since(tick);
        assert!(
            next.0 + Duration::from_millis(2) >= tick,
            "a call came before its tick"
        );
        assert!(
            late < period / 4,
            "a call came {late:?} after its tick (a later tick, or fixed delay?)"
        );
    }
}

#[test]
fn fixed_delay_waits_a_period_after_each_call() {
    let period = Duration::from_millis(15);
    let work = Duration::from_millis(30);
    let log = slow_repeating(Repeat::FixedDelay, period, work, 4);
    for w in log[1..].windows(2) {
        let gap = w[1].0.duration_since(w[0].1);
        assert!(gap >= period, "only {gap:?} between calls");
        assert!(gap < period + SLACK);
    }
}

#[test]
fn a_cancel_from_inside_the_call_stops_a_repeating_timer() {
    let calls = Arc::new(AtomicU64::new(0));
    let slot: Arc<Mutex<Option<Timer>>> = Arc::new(Mutex::new(None));
    let (c, s) = (Arc::clone(&calls), Arc::clone(&slot));
    let t = Timer::repeating(Duration::from_millis(1), Repeat::FixedDelay, move || {
        if c.fetch_add(1, SeqCst) == 2 {
            let me = s.lock().unwrap().clone().unwrap();
            assert!(me.cancel());
            assert!(!me.cancel());
        }
    });
    *slot.lock().unwrap() = Some(t.clone());
    t.start();
    assert!(t.join().wait_timeout(DEADLINE));
    assert_eq!(calls.load(SeqCst), 3);
    assert!(t.is_cancelled());
}

#[test]
fn a_panicking_call_finishes_the_timer() {
    let t = Timer::repeating(Duration::from_millis(1), Repeat::FixedRate, || {
        panic!("tick failed")
    });
    t.start();
    assert!(t.join().wait_timeout(DEADLINE));
    assert!(t.panicked() && t.is_finished() && !t.is_cancelled());
    assert_eq!(t.calls(), 1);
    // The callback threads survive it.
    let (t, ev, _) = flag_timer(Duration::ZERO);
    t.start();
    assert!(ev.wait().wait_timeout(DEADLINE));
}

#[test]
#[should_panic(expected = "period greater than zero")]
fn a_zero_period_is_refused() {
    let _ = Timer::repeating(Duration::ZERO, Repeat::FixedRate, || ());
}

#[test]
fn a_slow_call_does_not_hold_up_other_timers() {
    let gate = Arc::new(Event::new());
    let g = Arc::clone(&gate);
    let slow = Timer::after(Duration::ZERO, move || {
        assert!(g.wait().wait_timeout(DEADLINE));
    });
    let (quick, ev, _) = flag_timer(Duration::from_millis(5));
    quick.start();
    assert!(
        ev.wait().wait_timeout(DEADLINE),
        "the quick timer waited for the slow call"
    );
    gate.set();
    assert!(slow.join().wait_timeout(DEADLINE));
}

#[test]
fn joined_by_threads_and_tasks_at_once() {
    let rt = multi_thread_runtime(2);
    let (t, _, _) = flag_timer(Duration::from_millis(30));
    t.start();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let t = t.clone();
            rt.spawn(async move { t.join().timeout(DEADLINE).await })
        })
        .collect();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let t = t.clone();
            std::thread::spawn(move || t.join().wait_timeout(DEADLINE))
        })
        .collect();
    for h in threads {
        assert!(h.join().unwrap());
    }
    rt.block_on(async {
        for h in tasks {
            assert!(h.await.unwrap());
        }
    });
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_timer_runs_its_future_on_the_runtime() {
    let ran_on = Arc::new(Mutex::new(None));
    let r = Arc::clone(&ran_on);
    let t = Timer::new_async(Duration::from_millis(10), move || {
        let r = Arc::clone(&r);
        async move {
            tokio::task::yield_now().await;
            *r.lock().unwrap() = Some(std::thread::current().id());
        }
    });
    let start = Instant::now();
    assert!(t.start());
    within(t.join()).await;
    assert!(start.elapsed() >= Duration::from_millis(10));
    // A current-thread runtime: the call ran on this very thread.
    assert_eq!(*ran_on.lock().unwrap(), Some(std::thread::current().id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_repeating_timer_and_its_cancel() {
    let beats = Arc::new(Semaphore::new(0));
    let b = Arc::clone(&beats);
    let t = Timer::repeating_async(Duration::from_millis(2), Repeat::FixedRate, move || {
        let b = Arc::clone(&b);
        async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            b.release(1);
        }
    });
    t.start();
    for _ in 0..3 {
        within(beats.acquire()).await.unwrap().forget();
    }
    assert!(t.cancel());
    within(t.join()).await;
    let calls = t.calls();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(t.calls(), calls, "no call after the cancel");
}

#[test]
fn an_async_timer_stops_when_its_runtime_goes() {
    let rt = multi_thread_runtime(1);
    let gate = Arc::new(Event::new());
    let g = Arc::clone(&gate);
    let t = rt.block_on(async move {
        Timer::repeating_async(Duration::from_millis(1), Repeat::FixedDelay, move || {
            let g = Arc::clone(&g);
            async move {
                g.set();
                std::future::pending::<()>().await;
            }
        })
    });
    t.start();
    assert!(gate.wait().wait_timeout(DEADLINE));
    drop(rt); // drops the pending call's task
    assert!(t.join().wait_timeout(DEADLINE));
    assert!(t.is_finished() && !t.panicked());
}

#[test]
fn an_async_timer_outside_a_runtime_panics_clearly() {
    let r = std::panic::catch_unwind(|| Timer::new_async(Duration::ZERO, || async {}));
    let msg = common::panic_message(&*r.unwrap_err());
    assert!(msg.contains("need a tokio runtime"), "{msg}");
}

#[test]
fn a_huge_delay_saturates() {
    let (t, _, _) = flag_timer(Duration::MAX);
    assert!(t.start());
    assert!(!t.join().wait_timeout(Duration::from_millis(5)));
    assert!(t.cancel());
}

#[test]
fn a_timer_needs_no_runtime() {
    // A plain thread with no tokio anywhere near it.
    let h = std::thread::spawn(|| {
        let (t, ev, _) = flag_timer(Duration::from_millis(1));
        t.start();
        t.join_blocking();
        ev.is_set()
    });
    assert!(h.join().unwrap());
}
