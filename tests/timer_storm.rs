//! Cancellation storms for timers and threads: threads and tasks arm,
//! reset, cancel and join the same timers with random timeouts, drop
//! pending joins, and join amphi threads the same way. At the end every
//! count is checked: each call the timer counted ran exactly once and never
//! overlapped another of the same timer, a `cancel` that said it prevented
//! a one-shot's call is matched by a call that never came, nothing fires
//! after the final cancel, every thread's value was taken exactly once, and
//! the registry has forgotten every thread.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amphi::{Event, Repeat, Timer};
use common::{DEADLINE, Rng, multi_thread_runtime};

struct Probe {
    timer: Timer,
    ran: AtomicU64,
    running: AtomicBool,
}

fn probe(i: u64) -> Arc<Probe> {
    Arc::new_cyclic(|me: &std::sync::Weak<Probe>| {
        let me = me.clone();
        let call = move || {
            let p = me.upgrade().expect("alive while armed");
            assert!(!p.running.swap(true, SeqCst), "calls of one timer overlap");
            p.ran.fetch_add(1, SeqCst);
            std::hint::black_box(0..100).for_each(drop);
            p.running.store(false, SeqCst);
        };
        let delay = Duration::from_micros(50 + 300 * (i % 5));
        let timer = match i % 3 {
            0 => Timer::new(delay, call),
            1 => Timer::repeating(delay, Repeat::FixedRate, call),
            _ => Timer::repeating(delay, Repeat::FixedDelay, call),
        };
        Probe {
            timer,
            ran: AtomicU64::new(0),
            running: AtomicBool::new(false),
        }
    })
}

/// One random operation on a timer, from a thread.
fn poke(p: &Probe, rng: &mut Rng) {
    match rng.below(6) {
        0 => {
            p.timer.start();
        }
        1 => p.timer.reset(),
        2 => {
            p.timer.cancel();
        }
        3 => {
            let _ = p.timer.join().wait_timeout(rng.micros(500));
        }
        4 => {
            let _ = (p.timer.is_alive(), p.timer.is_finished(), p.timer.calls());
        }
        _ => std::thread::yield_now(),
    }
}

#[test]
fn timer_storm() {
    let probes: Arc<Vec<Arc<Probe>>> = Arc::new((0..24).map(probe).collect());
    let rt = multi_thread_runtime(2);
    let mut threads = Vec::new();
    for seed in 0..3u64 {
        let probes = Arc::clone(&probes);
        threads.push(std::thread::spawn(move || {
            let mut rng = Rng::new(seed + 1);
            for _ in 0..3_000 {
                let p = &probes[rng.below(probes.len() as u64) as usize];
                poke(p, &mut rng);
            }
        }));
    }
    let mut tasks = Vec::new();
    for seed in 0..3u64 {
        let probes = Arc::clone(&probes);
        tasks.push(rt.spawn(async move {
            let mut rng = Rng::new(seed + 100);
            for _ in 0..1_500 {
                let p = &probes[rng.below(probes.len() as u64) as usize];
                match rng.below(4) {
                    // A join with a random time limit, or one dropped after
                    // a poll (a select! that went the other way).
                    0 => {
                        let _ = p.timer.join().timeout(rng.micros(500)).await;
                    }
                    1 => {
                        let mut j = Box::pin(p.timer.join());
                        let _ = futures::poll!(j.as_mut());
                        drop(j);
                    }
                    2 => p.timer.reset(),
                    _ => {
                        p.timer.cancel();
                    }
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    // The end: every timer stopped; its counts agree; nothing fires later.
    for p in probes.iter() {
        p.timer.cancel();
        assert!(p.timer.join().wait_timeout(DEADLINE), "{:?}", p.timer);
        assert!(!p.timer.is_alive());
        assert_eq!(p.ran.load(SeqCst), p.timer.calls(), "{:?}", p.timer);
        assert!(!p.timer.panicked());
    }
    let counts: Vec<u64> = probes.iter().map(|p| p.ran.load(SeqCst)).collect();
    // Longer than any delay in the storm: a stale heap entry would fire.
    std::thread::sleep(Duration::from_millis(20));
    let later: Vec<u64> = probes.iter().map(|p| p.timer.calls()).collect();
    assert_eq!(counts, later, "a call after the final cancel");
    assert!(counts.iter().sum::<u64>() > 0, "the storm fired nothing");
}

/// A one-shot's rounds: each `cancel() == true` prevented one call; each
/// round that was not cancelled made exactly one call.
#[test]
fn one_shot_rounds_add_up() {
    let mut rng = Rng::new(42);
    let ran = Arc::new(AtomicU64::new(0));
    let r = Arc::clone(&ran);
    let t = Timer::new(Duration::from_micros(200), move || {
        r.fetch_add(1, SeqCst);
    });
    let (mut rounds, mut prevented) = (0u64, 0u64);
    for _ in 0..400 {
        t.reset(); // a new round (or the same one postponed, if waiting)
        if !t.is_alive() {
            continue;
        }
        rounds += 1;
        std::thread::sleep(rng.micros(400));
        if t.cancel() {
            prevented += 1;
        }
        assert!(t.join().wait_timeout(DEADLINE));
    }
    assert_eq!(ran.load(SeqCst) + prevented, rounds);
    assert_eq!(ran.load(SeqCst), t.calls());
    assert!(prevented > 0 && ran.load(SeqCst) > 0);
}

#[test]
fn thread_storm() {
    let rt = multi_thread_runtime(2);
    let gates: Vec<Arc<Event>> = (0..4).map(|_| Arc::new(Event::new())).collect();
    let taken = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    let mut rng = Rng::new(9);
    for i in 0..60u64 {
        let g = Arc::clone(&gates[(i % 4) as usize]);
        let daemon = rng.below(2) == 0;
        let h = amphi::ThreadBuilder::new()
            .daemon(daemon)
            .spawn(move || {
                assert!(g.wait().wait_timeout(DEADLINE));
                if i % 7 == 0 {
                    panic!("thread {i} fails");
                }
                i
            })
            .unwrap();
        handles.push(h);
    }
    // Joiners with random time limits, from threads and tasks, while the
    // gates open one by one.
    let mut joiners = Vec::new();
    for seed in 0..2u64 {
        let hs = handles.clone();
        let taken = Arc::clone(&taken);
        joiners.push(std::thread::spawn(move || {
            let mut rng = Rng::new(seed + 1);
            for _ in 0..400 {
                let h = &hs[rng.below(hs.len() as u64) as usize];
                if let Some(r) = h.join().wait_timeout(rng.micros(300)) {
                    taken.lock().unwrap().push(r.map_err(|e| e.to_string()));
                }
            }
        }));
    }
    let mut tasks = Vec::new();
    for seed in 0..2u64 {
        let hs = handles.clone();
        let taken = Arc::clone(&taken);
        tasks.push(rt.spawn(async move {
            let mut rng = Rng::new(seed + 50);
            for _ in 0..400 {
                let h = &hs[rng.below(hs.len() as u64) as usize];
                if rng.below(2) == 0 {
                    let mut j = Box::pin(h.join());
                    if let std::task::Poll::Ready(r) = futures::poll!(j.as_mut()) {
                        taken.lock().unwrap().push(r.map_err(|e| e.to_string()));
                    }
                    drop(j); // dropped pending: the result must stay
                } else if let Ok(Some(r)) =
                    tokio::time::timeout(DEADLINE, h.join().timeout(rng.micros(300))).await
                {
                    taken.lock().unwrap().push(r.map_err(|e| e.to_string()));
                }
            }
        }));
    }
    for g in &gates {
        std::thread::sleep(Duration::from_millis(2));
        g.set();
    }
    for j in joiners {
        j.join().unwrap();
    }
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    // Whatever the storm left, a last join takes.
    for h in &handles {
        let r = h.join().wait_timeout(DEADLINE).expect("finished");
        taken.lock().unwrap().push(r.map_err(|e| e.to_string()));
    }
    let taken = taken.lock().unwrap();
    let values: Vec<u64> = taken
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    let panics = taken
        .iter()
        .filter(|r| matches!(r, Err(m) if m.contains("fails")))
        .count();
    let again = taken
        .iter()
        .filter(|r| matches!(r, Err(m) if m.contains("taken")))
        .count();
    let mut sorted = values.clone();
    sorted.sort_unstable();
    let expect: Vec<u64> = (0..60).filter(|i| i % 7 != 0).collect();
    assert_eq!(sorted, expect, "each value exactly once");
    assert_eq!(panics, (0..60).filter(|i| i % 7 == 0).count());
    // Everything else any join got was "taken already".
    assert_eq!(again + values.len() + panics, taken.len());
    let alive: Vec<u64> = handles.iter().map(|h| h.thread().ident()).collect();
    assert!(
        amphi::thread::enumerate()
            .iter()
            .all(|t| !alive.contains(&t.ident())),
        "the registry kept an ended thread"
    );
}
