//! `Timer` against one `std::thread` per timer and `tokio::time::sleep`
//! tasks; amphi threads against `std::thread`.
//!
//! Groups (function names `amphi`, `std_thread_per_timer`, `tokio_sleep`,
//! `std`):
//!
//! * `timer_arm_cancel_10k`: arm `N` = 10^4 timers due in an hour, then
//!   cancel all of them, and (for the thread peer) join the threads. amphi
//!   `Timer::after` + `cancel`; tokio: `N` spawned tasks in
//!   `sleep(1 h)`, then `abort` each; std: `N` threads (64 KiB stacks) in
//!   `recv_timeout(1 h)` on their own channel, cancelled by a send, joined.
//!   One iteration is all `N` armed and cancelled.
//! * `timer_fire_10k`: arm `N` timers due at delays spread evenly over
//!   `SPREAD` = 50 ms, and wait until all have fired. One iteration is the
//!   whole wave: about 50 ms plus the last one's lateness, so the ratio to
//!   the peers says how late the wave ends. Each call records its lateness
//!   (when it ran, minus its deadline); the p50 and p99 of the last
//!   iteration are printed after the group and written to
//!   `target/criterion/timer_fire_10k/lateness.txt`.
//! * `thread_spawn_join`: spawn a thread that returns a number and join it
//!   (amphi: `thread::spawn` + `join_blocking`, std: `std::thread::spawn` +
//!   `join`). One iteration is one thread.
//!
//! Lower is better.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

mod common;

const N: usize = 10_000;
const SPREAD: Duration = Duration::from_millis(50);
const HOUR: Duration = Duration::from_secs(3600);

fn arm_cancel(c: &mut Criterion) {
    let mut g = c.benchmark_group("timer_arm_cancel_10k");
    g.bench_function("amphi", |b| {
        b.iter(|| {
            let timers: Vec<amphi::Timer> = (0..N)
                .map(|_| amphi::Timer::after(HOUR, || unreachable!()))
                .collect();
            for t in &timers {
                assert!(t.cancel());
            }
            black_box(timers)
        })
    });
    let rt = common::runtime();
    g.bench_function("tokio_sleep", |b| {
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..N)
                    .map(|_| tokio::spawn(tokio::time::sleep(HOUR)))
                    .collect();
                for t in &tasks {
                    t.abort();
                }
                for t in tasks {
                    assert!(t.await.unwrap_err().is_cancelled());
                }
            })
        })
    });
    g.bench_function("std_thread_per_timer", |b| {
        b.iter(|| {
            let armed: Vec<_> = (0..N)
                .map(|_| {
                    let (tx, rx) = mpsc::channel::<()>();
                    let h = std::thread::Builder::new()
                        .stack_size(64 * 1024)
                        .spawn(move || rx.recv_timeout(HOUR).is_ok())
                        .unwrap();
                    (tx, h)
                })
                .collect();
            for (tx, h) in armed {
                tx.send(()).unwrap();
                assert!(h.join().unwrap(), "cancelled, not fired");
            }
        })
    });
    g.finish();
}

/// Latenesses of one wave, in nanoseconds, one slot per timer.
struct Wave {
    base: Instant,
    late: Vec<AtomicU64>,
    left: AtomicUsize,
    all: amphi::Event,
}

impl Wave {
    fn new() -> Arc<Self> {
        Arc::new(Wave {
            base: Instant::now(),
            late: (0..N).map(|_| AtomicU64::new(0)).collect(),
            left: AtomicUsize::new(N),
            all: amphi::Event::new(),
        })
    }

    /// Timer `i`'s deadline.
    fn deadline(&self, i: usize) -> Instant {
        self.base + SPREAD * i as u32 / N as u32
    }

    fn delay(&self, i: usize) -> Duration {
        self.deadline(i).saturating_duration_since(Instant::now())
    }

    fn fired(&self, i: usize) {
        let late = Instant::now().saturating_duration_since(self.deadline(i));
        self.late[i].store(late.as_nanos() as u64, Ordering::Relaxed);
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.all.set();
        }
    }

    fn wait(&self) {
        assert!(self.all.wait().wait_timeout(Duration::from_secs(60)));
    }

    fn percentiles(&self) -> (Duration, Duration) {
        let mut v: Vec<u64> = self
            .late
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect();
        v.sort_unstable();
        let at = |q: f64| Duration::from_nanos(v[((v.len() - 1) as f64 * q) as usize]);
        (at(0.50), at(0.99))
    }
}

fn fire(c: &mut Criterion) {
    let report: Arc<Mutex<Vec<(String, Duration, Duration)>>> = Arc::default();
    let mut g = c.benchmark_group("timer_fire_10k");
    let last = Arc::new(Mutex::new(None::<Arc<Wave>>));
    let mut run = |name: &str, wave: &mut dyn FnMut() -> Arc<Wave>| {
        g.bench_function(name, |b| {
            b.iter(|| {
                let w = wave();
                w.wait();
                *last.lock().unwrap() = Some(w);
            })
        });
        if let Some(w) = last.lock().unwrap().take() {
            let (p50, p99) = w.percentiles();
            report.lock().unwrap().push((name.to_owned(), p50, p99));
        }
    };
    run("amphi", &mut || {
        let w = Wave::new();
        let timers: Vec<_> = (0..N)
            .map(|i| {
                let w2 = Arc::clone(&w);
                amphi::Timer::after(w.delay(i), move || w2.fired(i))
            })
            .collect();
        drop(timers);
        w
    });
    let rt = common::runtime();
    run("tokio_sleep", &mut || {
        let w = Wave::new();
        let _guard = rt.enter();
        for i in 0..N {
            let w2 = Arc::clone(&w);
            let at = tokio::time::Instant::from_std(w.deadline(i));
            rt.spawn(async move {
                tokio::time::sleep_until(at).await;
                w2.fired(i);
            });
        }
        w
    });
    run("std_thread_per_timer", &mut || {
        let w = Wave::new();
        for i in 0..N {
            let w2 = Arc::clone(&w);
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    std::thread::sleep(w2.delay(i));
                    w2.fired(i);
                })
                .unwrap();
        }
        w
    });
    g.finish();
    let lines: Vec<String> = report
        .lock()
        .unwrap()
        .iter()
        .map(|(name, p50, p99)| format!("timer_fire_10k/{name}: lateness p50 {p50:?}, p99 {p99:?}"))
        .collect();
    for l in &lines {
        println!("{l}");
    }
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion/timer_fire_10k");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("lateness.txt"), lines.join("\n") + "\n");
}

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("thread_spawn_join");
    g.bench_function("amphi", |b| {
        b.iter(|| {
            let t = amphi::thread::spawn(|| black_box(41) + 1);
            assert_eq!(t.join_blocking().unwrap(), 42);
        })
    });
    g.bench_function("std", |b| {
        b.iter(|| {
            let t = std::thread::spawn(|| black_box(41) + 1);
            assert_eq!(t.join().unwrap(), 42);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = arm_cancel, fire, spawn_join
}
criterion_main!(benches);
