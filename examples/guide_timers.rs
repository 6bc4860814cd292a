//! Three timer scenarios from the Python guide, on one [`Timer`] type that
//! threads and tokio tasks share:
//!
//! 1. **Auto-logout after inactivity.** A session's logout timer is
//!    `reset()` on every request, from a task (web requests) and from a
//!    thread (a blocking job). While requests keep coming the timer never
//!    fires; once they stop it logs the user out, exactly once.
//! 2. **A debounced save.** Rapid edits (from tasks and a thread) each
//!    `reset()` one save timer, so the document is saved once, with the
//!    last edit, shortly after the typing stops. A final `cancel()` on a
//!    second document shows the "did it stop the call?" answer Python's
//!    `cancel()` cannot give.
//! 3. **A repeating timer.** A fixed-rate "metrics flush" ticks while a
//!    slow flush makes it skip a tick (never a burst), then it is cancelled
//!    from a task and joined from a thread.
//!
//! Each line says who acts. The example checks its own outcome and panics
//! if one is wrong. Run it with `cargo run --example guide_timers`.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amphi::{Event, Repeat, Timer};

const LIMIT: Duration = Duration::from_secs(10);

fn log(t0: Instant, who: &str, what: &str) {
    println!("[{:>4} ms] {who:<16} {what}", t0.elapsed().as_millis());
}

#[tokio::main]
async fn main() {
    let t0 = Instant::now();
    auto_logout(t0).await;
    debounced_save(t0).await;
    repeating(t0).await;
    println!("all three timer scenarios behaved as expected");
}

async fn auto_logout(t0: Instant) {
    println!("-- auto-logout after 120 ms of inactivity");
    let logged_out = Arc::new(Event::new());
    let lo = Arc::clone(&logged_out);
    let logout = Timer::after(Duration::from_millis(120), move || {
        log(t0, "[timer]", "no activity: logging the user out");
        lo.set();
    });
    // Requests from a task and from a blocking thread, every 30 ms for
    // 300 ms: each one resets the timer.
    let l = logout.clone();
    let thread = std::thread::spawn(move || {
        for i in 0..5 {
            std::thread::sleep(Duration::from_millis(60));
            l.reset();
            log(t0, "[thread job]", &format!("request {i}: timer reset"));
        }
    });
    for i in 0..10 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        logout.reset();
        if i % 3 == 0 {
            log(t0, "[task handler]", &format!("request {i}: timer reset"));
        }
        assert!(!logged_out.is_set(), "logged out while active");
    }
    thread.join().unwrap();
    let idle_from = Instant::now();
    assert!(logout.join().timeout(LIMIT).await, "the logout never came");
    let idle = idle_from.elapsed();
    assert!(logged_out.is_set());
    assert!(
        idle >= Duration::from_millis(90),
        "logged out after {idle:?} idle"
    );
    assert_eq!(logout.calls(), 1, "logged out exactly once");
    log(
        t0,
        "[main]",
        &format!("logged out after {} ms idle", idle.as_millis()),
    );
}

struct Doc {
    text: Mutex<String>,
    saved: Mutex<Vec<String>>,
}

fn save_timer(doc: &Arc<Doc>, t0: Instant, name: &'static str) -> Timer {
    let d = Arc::clone(doc);
    Timer::new(Duration::from_millis(50), move || {
        let text = d.text.lock().unwrap().clone();
        log(t0, "[timer]", &format!("saving {name}: {text:?}"));
        d.saved.lock().unwrap().push(text);
    })
}

async fn debounced_save(t0: Instant) {
    println!("-- a debounced save, 50 ms after the last edit");
    let doc = Arc::new(Doc {
        text: Mutex::new(String::new()),
        saved: Mutex::new(Vec::new()),
    });
    let save = save_timer(&doc, t0, "notes.txt");
    // Two tasks and a thread type into the document, each keystroke
    // resetting the same timer.
    let mut typists = Vec::new();
    for who in ["ab", "cd"] {
        let (doc, save) = (Arc::clone(&doc), save.clone());
        typists.push(tokio::spawn(async move {
            for c in who.chars() {
                doc.text.lock().unwrap().push(c);
                save.reset();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    let (d, s) = (Arc::clone(&doc), save.clone());
    let thread = tokio::task::spawn_blocking(move || {
        for c in "xyz".chars() {
            d.text.lock().unwrap().push(c);
            s.reset();
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    for t in typists {
        t.await.unwrap();
    }
    thread.await.unwrap();
    log(t0, "[main]", "typing stopped");
    assert!(save.join().timeout(LIMIT).await, "never saved");
    let saved = doc.saved.lock().unwrap().clone();
    let last = doc.text.lock().unwrap().clone();
    assert_eq!(
        saved,
        std::slice::from_ref(&last),
        "one save, with the last edit"
    );
    assert_eq!(last.len(), 7);

    // A second document is closed before its save is due: the cancel says
    // whether it stopped the save.
    let other = Arc::new(Doc {
        text: Mutex::new("draft".into()),
        saved: Mutex::new(Vec::new()),
    });
    let other_save = save_timer(&other, t0, "draft.txt");
    other_save.reset();
    let stopped = other_save.cancel();
    log(
        t0,
        "[main]",
        &format!("closed draft.txt unsaved: cancel() = {stopped}"),
    );
    assert!(stopped && other.saved.lock().unwrap().is_empty());
    // Too late to cancel the first one: it ran.
    assert!(!save.cancel());
}

async fn repeating(t0: Instant) {
    println!("-- a fixed-rate flush every 20 ms; the third flush is slow");
    let flushes = Arc::new(AtomicU32::new(0));
    let starts = Arc::new(Mutex::new(Vec::new()));
    let (f, s) = (Arc::clone(&flushes), Arc::clone(&starts));
    let begin = Instant::now();
    let flush = Timer::repeating(Duration::from_millis(20), Repeat::FixedRate, move || {
        let n = f.fetch_add(1, SeqCst) + 1;
        s.lock().unwrap().push(begin.elapsed());
        log(t0, "[timer]", &format!("flush {n}"));
        if n == 3 {
            // Runs past the next tick: that tick is skipped, not queued.
            std::thread::sleep(Duration::from_millis(30));
        }
    });
    flush.start();
    while flushes.load(SeqCst) < 6 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let f = flush.clone();
    let stopper = tokio::spawn(async move { f.cancel() });
    assert!(
        stopper.await.unwrap(),
        "the cancel stopped the later flushes"
    );
    let f = flush.clone();
    let joined = std::thread::spawn(move || f.join().wait_timeout(LIMIT));
    assert!(joined.join().unwrap(), "the timer did not finish");
    let starts = starts.lock().unwrap().clone();
    // No burst after the slow flush: the next one came at a later tick,
    // at least 20 ms after the slow one began.
    assert!(starts[3] - starts[2] >= Duration::from_millis(30));
    for w in starts.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(15),
            "a burst: {starts:?}"
        );
    }
    log(
        t0,
        "[main]",
        &format!("{} flushes, then cancelled", flush.calls()),
    );
}
