//! Python's `threading.Thread` scenarios with amphi threads:
//!
//! 1. **A background heartbeat**: a daemon [`Thread`](amphi::Thread)
//!    beats every 20 ms until a stop [`Event`]; `join_non_daemon` at the
//!    end of `main` (what Python does at exit) leaves it out.
//! 2. **Workers with results**: non-daemon workers return values; one is
//!    joined with a timeout while it still runs (a timeout is `None`, not
//!    mistaken for the result), another is awaited from a tokio task.
//! 3. **A crashing worker and the excepthook**: a worker panics; the
//!    `excepthook` logs it with the thread's name, and its join gives the
//!    panic as an error instead of a value.
//! 4. **The registry**: `enumerate`, `active_count`, `current_thread` and
//!    `main_thread`, with a tokio worker seen as a dummy thread.
//!
//! Each line says who acts. The example checks its own outcome and panics
//! if one is wrong. Run it with `cargo run --example guide_threads`.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amphi::Event;
use amphi::thread::{self, ExceptHookArgs, ThreadBuilder, ThreadError};

const LIMIT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() {
    let t0 = Instant::now();
    let log = move |what: String| {
        let me = thread::current_thread();
        println!(
            "[{:>4} ms] [{:<14}] {what}",
            t0.elapsed().as_millis(),
            me.name()
        );
    };

    // The excepthook: Python's threading.excepthook.
    let crashes = Arc::new(Mutex::new(Vec::new()));
    let c = Arc::clone(&crashes);
    thread::set_excepthook(move |a: &ExceptHookArgs<'_>| {
        println!(
            "[excepthook] thread {:?} (ident {}) panicked: {}",
            a.thread().name(),
            a.thread().ident(),
            a.panic().message()
        );
        c.lock().unwrap().push(a.thread().name().to_owned());
    });

    // 1. The heartbeat daemon.
    let stop = Arc::new(Event::new());
    let beats = Arc::new(AtomicU32::new(0));
    let (s, b) = (Arc::clone(&stop), Arc::clone(&beats));
    let heartbeat = ThreadBuilder::new()
        .name("heartbeat")
        .daemon(true)
        .spawn(move || {
            // A timed wait on the stop event paces the beats and ends
            // the loop at once when it is set.
            while !s.wait().wait_timeout(Duration::from_millis(20)) {
                let n = b.fetch_add(1, SeqCst) + 1;
                if n % 5 == 1 {
                    log(format!("beat {n}"));
                }
            }
            log("stopping".into());
        })
        .unwrap();

    // 2. Workers with results.
    let gate = Arc::new(Event::new());
    let g = Arc::clone(&gate);
    let slow = ThreadBuilder::new()
        .name("slow-report")
        .daemon(false)
        .spawn(move || {
            log("waiting for the data".into());
            assert!(g.wait().wait_timeout(LIMIT));
            log("report done".into());
            42u64
        })
        .unwrap();
    assert!(
        slow.join()
            .wait_timeout(Duration::from_millis(30))
            .is_none()
    );
    log(format!(
        "{} still runs after a 30 ms join: None",
        slow.name()
    ));
    let quick = ThreadBuilder::new()
        .name("quick-sum")
        .daemon(false)
        .spawn(|| (1..=100u64).sum::<u64>())
        .unwrap();
    let awaited = tokio::spawn({
        let quick = quick.clone();
        async move { quick.join().timeout(LIMIT).await }
    });

    // 3. A crashing worker.
    let crasher = ThreadBuilder::new()
        .name("parser")
        .daemon(false)
        .spawn(|| -> u64 { panic!("unexpected end of input") })
        .unwrap();

    // 4. The registry, while everything runs.
    let names: Vec<String> = thread::enumerate()
        .iter()
        .map(|t| t.name().to_owned())
        .collect();
    log(format!(
        "{} threads known: {names:?}",
        thread::active_count()
    ));
    assert!(names.contains(&"heartbeat".to_owned()) && names.contains(&"MainThread".to_owned()));
    let worker = tokio::spawn(async { thread::current_thread() })
        .await
        .unwrap();
    log(format!(
        "a tokio worker is seen as {:?} (dummy: {}, daemon: {})",
        worker.name(),
        worker.is_dummy(),
        worker.is_daemon()
    ));
    assert!(worker.is_dummy() && worker.is_daemon());
    assert!(!thread::current_thread().same_thread(&heartbeat.thread().clone()));

    gate.set();
    assert_eq!(
        slow.join().wait_timeout(LIMIT).expect("finished").unwrap(),
        42
    );
    assert_eq!(awaited.await.unwrap().expect("finished").unwrap(), 5050);
    match crasher.join().timeout(LIMIT).await.expect("finished") {
        Err(ThreadError::Panicked(p)) => {
            log(format!("parser's join: Err(Panicked({:?}))", p.message()));
            assert_eq!(p.message(), "unexpected end of input");
        }
        other => panic!("expected the panic, got {other:?}"),
    }
    assert_eq!(*crashes.lock().unwrap(), ["parser"]);

    // The end of main: wait for the non-daemon threads (all done), not for
    // the heartbeat, which still beats.
    assert!(thread::join_non_daemon().timeout(LIMIT).await);
    assert!(heartbeat.is_alive());
    log(format!(
        "non-daemon threads done; heartbeat at {} beats",
        beats.load(SeqCst)
    ));
    stop.set();
    heartbeat
        .join()
        .timeout(LIMIT)
        .await
        .expect("stopped")
        .unwrap();
    assert!(beats.load(SeqCst) >= 1);
    for t in [
        slow.thread(),
        quick.thread(),
        crasher.thread(),
        heartbeat.thread(),
    ] {
        assert!(!thread::enumerate().iter().any(|x| x.same_thread(t)));
    }
    thread::reset_excepthook();
    println!("every thread scenario behaved as expected");
}
