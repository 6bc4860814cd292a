//! Two jobs for an [`Event`]: a server's "ready" signal to every handler,
//! and the graceful shutdown of background workers.
//!
//! 1. **Ready.** Three handler threads and three handler tasks wait for the
//!    server's `ready` event (threads with `wait().wait_timeout(..)`, tasks
//!    with `wait().timeout(..)`). The server thread loads its configuration
//!    (30 ms), publishes the port, and sets `ready`: one `set` wakes all
//!    six, and each finds the port published. A health probe that asked
//!    before the server started was told "not ready" (its 5 ms wait gave
//!    `false`); a handler that comes after the `set` does not wait at all.
//! 2. **Graceful shutdown.** A janitor thread and a flusher task work in
//!    units (30 ms each) and, between units, wait on a `stop` event for up
//!    to 500 ms as their pause (Python's `while not stop.wait(pause):`).
//!    `main` sets `stop` while they are busy with their second unit. Each
//!    finishes the unit it is in, and its pause ends at once: the example
//!    checks that no unit was left half done, and that each stopped within
//!    the pause (a `sleep` as the pause would have made it wait the pause
//!    out).
//!
//! Each line says who acts. Run it with `cargo run --example guide_events`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering::SeqCst};
use std::time::{Duration, Instant};

use amphi::Event;

const STARTUP: Duration = Duration::from_millis(30);
const PROBE_PATIENCE: Duration = Duration::from_millis(5);
const PORT: u16 = 8080;

/// A unit of background work, and the pause between units.
const UNIT: Duration = Duration::from_millis(30);
const PAUSE: Duration = Duration::from_millis(500);
/// `stop` is set during this unit (counting from 1).
const STOP_DURING: u32 = 2;

/// How long any other wait may take before the example calls it a bug.
const PATIENCE: Duration = Duration::from_secs(5);
/// The backstop for waits that have no timeout of their own (joins).
const WATCHDOG: Duration = Duration::from_secs(10);

#[derive(Clone, Copy)]
struct Log {
    t0: Instant,
}

impl Log {
    fn say(&self, who: &str, what: impl std::fmt::Display) {
        println!("[{:>4} ms] {who:<22} {what}", self.t0.elapsed().as_millis());
    }
}

struct Server {
    log: Log,
    ready: Event,
    /// Published before `ready` is set.
    port: AtomicU16,
}

/// Part 1: every handler waits for the server.
async fn ready_signal(log: Log) {
    let s = Arc::new(Server {
        log,
        ready: Event::new(),
        port: AtomicU16::new(0),
    });

    // Nothing starts the server yet: the probe's wait must time out.
    let ready = s.ready.wait().timeout(PROBE_PATIENCE).await;
    assert!(!ready, "nobody has set `ready` yet");
    s.log.say(
        "[task probe]",
        format!("not ready within {} ms", PROBE_PATIENCE.as_millis()),
    );

    let threads: Vec<_> = (1..=3)
        .map(|i| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let me = format!("[thread handler-{i}]");
                s.log.say(&me, "waits for 'ready'");
                assert!(
                    s.ready.wait().wait_timeout(PATIENCE),
                    "{me}: the server starts within 5 s"
                );
                let port = s.port.load(SeqCst);
                assert_eq!(port, PORT, "{me}: the port is published before 'ready'");
                s.log.say(&me, format!("ready: serves on port {port}"));
            })
        })
        .collect();
    let tasks: Vec<_> = (1..=3)
        .map(|i| {
            let s = Arc::clone(&s);
            tokio::spawn(async move {
                let me = format!("[task handler-{i}]");
                s.log.say(&me, "waits for 'ready'");
                assert!(
                    s.ready.wait().timeout(PATIENCE).await,
                    "{me}: the server starts within 5 s"
                );
                let port = s.port.load(SeqCst);
                assert_eq!(port, PORT, "{me}: the port is published before 'ready'");
                s.log.say(&me, format!("ready: serves on port {port}"));
            })
        })
        .collect();
    let server = std::thread::spawn({
        let s = Arc::clone(&s);
        move || {
            let me = "[thread server]";
            s.log.say(me, "loads its configuration");
            std::thread::sleep(STARTUP);
            s.port.store(PORT, SeqCst);
            let waiting = s.ready.waiters();
            s.ready.set();
            s.log.say(
                me,
                format!(
                    "set 'ready' ({} threads and {} tasks were waiting)",
                    waiting.threads, waiting.tasks
                ),
            );
        }
    });

    for t in tasks {
        t.await.expect("a task handler panicked");
    }
    tokio::task::spawn_blocking(move || {
        server.join().expect("the server panicked");
        for t in threads {
            t.join().expect("a thread handler panicked");
        }
    })
    .await
    .unwrap();

    // Late: `ready` is set, the wait returns at once, even with a zero
    // timeout (which only looks).
    assert!(s.ready.wait().timeout(Duration::ZERO).await);
    s.log.say("[task handler-late]", "ready at once: no wait");
    assert_eq!(s.ready.waiters().total(), 0);
}

/// A background worker's account of itself.
#[derive(Debug)]
struct Report {
    started: u32,
    finished: u32,
    exited: Instant,
}

/// What the workers share with `main`.
struct Workers {
    log: Log,
    stop: Event,
    /// Set by the janitor / the flusher when it starts unit `STOP_DURING`.
    janitor_busy: Event,
    flusher_busy: Event,
}

fn janitor(w: &Workers) -> Report {
    let me = "[thread janitor]";
    let (mut started, mut finished) = (0, 0);
    loop {
        started += 1;
        w.log.say(me, format!("unit {started}: cleaning"));
        if started == STOP_DURING {
            w.janitor_busy.set();
        }
        std::thread::sleep(UNIT); // the work
        finished += 1;
        // The pause, which `stop` cuts short.
        if w.stop.wait().wait_timeout(PAUSE) {
            w.log
                .say(me, format!("finished unit {finished}, saw 'stop': exits"));
            return Report {
                started,
                finished,
                exited: Instant::now(),
            };
        }
    }
}

async fn flusher(w: &Workers) -> Report {
    let me = "[task flusher]";
    let (mut started, mut finished) = (0, 0);
    loop {
        started += 1;
        w.log.say(me, format!("unit {started}: flushing"));
        if started == STOP_DURING {
            w.flusher_busy.set();
        }
        tokio::time::sleep(UNIT).await; // the work
        finished += 1;
        if w.stop.wait().timeout(PAUSE).await {
            w.log
                .say(me, format!("finished unit {finished}, saw 'stop': exits"));
            return Report {
                started,
                finished,
                exited: Instant::now(),
            };
        }
    }
}

/// Part 2: stop two background workers in the middle of their work.
async fn graceful_shutdown(log: Log) {
    let w = Arc::new(Workers {
        log,
        stop: Event::new(),
        janitor_busy: Event::new(),
        flusher_busy: Event::new(),
    });
    let thread = std::thread::spawn({
        let w = Arc::clone(&w);
        move || janitor(&w)
    });
    let task = tokio::spawn({
        let w = Arc::clone(&w);
        async move { flusher(&w).await }
    });

    for busy in [&w.janitor_busy, &w.flusher_busy] {
        assert!(
            busy.wait().timeout(PATIENCE).await,
            "each worker reaches unit {STOP_DURING} within 5 s"
        );
    }
    let stop_at = Instant::now();
    w.stop.set();
    w.log.say("[task main]", "both are busy: sets 'stop'");

    let flusher = task.await.expect("the flusher panicked");
    let janitor = tokio::task::spawn_blocking(move || thread.join().expect("the janitor panicked"))
        .await
        .unwrap();
    for (who, r) in [("janitor", &janitor), ("flusher", &flusher)] {
        assert_eq!(r.started, r.finished, "the {who} left a unit half done");
        assert!(
            r.finished >= STOP_DURING,
            "the {who} was in unit {STOP_DURING}"
        );
        let took = r.exited.saturating_duration_since(stop_at);
        assert!(
            took < PAUSE,
            "the {who} took {took:?} to stop: it slept out its pause"
        );
        w.log.say(
            "[task main]",
            format!(
                "the {who} stopped {} ms after 'stop', {} units done",
                took.as_millis(),
                r.finished
            ),
        );
    }
    assert_eq!(w.stop.waiters().total(), 0);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    watchdog();
    let log = Log { t0: Instant::now() };
    log.say("[task main]", "1. a 'ready' signal for every handler");
    ready_signal(log).await;
    log.say("[task main]", "2. graceful shutdown of background workers");
    graceful_shutdown(log).await;
    log.say("[task main]", "checks passed");
}

/// Ends the process if the example hangs.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(WATCHDOG);
        eprintln!("guide_events: still running after {WATCHDOG:?}; something is stuck");
        std::process::exit(1);
    });
}
