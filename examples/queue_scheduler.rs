//! A job scheduler on one [`PriorityQueue`]: critical jobs skip the line,
//! and OS threads and tokio tasks both submit and run jobs.
//!
//! * Jobs are [`Prioritized`]`<Priority, Job>`: only the priority orders
//!   them, the smallest first (`Critical` < `High` < `Normal` < `Low`).
//!   Among equal priorities the queue keeps put order by itself, so no
//!   sequence number is needed (Python needs `(priority, count, job)`).
//! * Submitters: an API handler (a task) and a cron thread queue the
//!   backlog; then a pager task queues two critical jobs, last. `peek()`
//!   shows they are next anyway.
//! * Workers: a plain thread, a `spawn_blocking` thread and a task wait for
//!   the `open` [`Event`], then take jobs and report each one done on a
//!   second (FIFO) [`Queue`] that `main` reads.
//! * Once three jobs have started, a monitor thread queues one more
//!   critical job behind the remaining backlog: the next free worker takes
//!   it before all of them.
//! * After a few jobs (the new critical one among them) `main` stops the
//!   scheduler with `shutdown(true)`: the jobs not started come back to it,
//!   in the order they would have run, and are printed, so nothing is lost.
//!   The workers finish the jobs they hold; their next `get` ends them. A
//!   job submitted after the shutdown is refused and handed back.
//!
//! The example checks at the end that every job either ran exactly once or
//! came back from the shutdown, that every critical job ran, and that every
//! job that ran comes before every job that came back in (priority, put
//! order); it panics if not. Run it with `cargo run --example
//! queue_scheduler`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use amphi::{Event, Prioritized, PriorityQueue, Queue, TryPutError};

/// Smallest first: `Critical` leaves before everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Priority {
    Critical,
    High,
    Normal,
    Low,
}

/// A job. Only its priority orders it in the queue (it is wrapped in
/// [`Prioritized`]), so jobs of one priority leave in put order. (In a
/// plain `(Priority, Job)` tuple a derived `Ord` would sort jobs of one
/// priority by their fields instead.)
#[derive(Debug, Clone)]
struct Job {
    /// Numbered in put order (the submitters take turns).
    id: u32,
    name: &'static str,
    by: &'static str,
}

type Entry = Prioritized<Priority, Job>;

/// One line about a job: `#4 Normal "send invoices" (from [task api])`.
struct Show<'a>(&'a Entry);

impl fmt::Display for Show<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Prioritized {
            priority: prio,
            item: job,
        } = self.0;
        let prio = format!("{prio:?}");
        write!(
            f,
            "#{:<2} {prio:<8} {:?} (from {})",
            job.id, job.name, job.by
        )
    }
}

/// A job that ran: which, and on which worker.
struct Report {
    entry: Entry,
    worker: String,
}

/// `main` stops the scheduler after this many jobs are done (the late
/// critical one among them).
const STOP_AFTER: usize = 5;
/// The monitor queues its critical job once this many jobs have started.
const BUSY_AT: usize = 3;
/// Time limits for waits that would otherwise hang if something broke.
const PATIENCE: Duration = Duration::from_secs(2);

fn say(who: &str, what: impl fmt::Display) {
    println!("{who:<26} {what}");
}

struct Scheduler {
    jobs: PriorityQueue<Entry>,
    /// Workers report each job done here; `main` reads them.
    reports: Queue<Report>,
    /// Set when the scheduler opens: workers wait for it.
    open: Event,
    /// Set when `BUSY_AT` jobs have started.
    busy: Event,
    started: AtomicUsize,
    next_id: AtomicU32,
}

impl Scheduler {
    fn job(&self, prio: Priority, name: &'static str, by: &'static str) -> Entry {
        let id = self.next_id.fetch_add(1, SeqCst) + 1;
        Prioritized::new(prio, Job { id, name, by })
    }

    /// How long a job runs: long enough that a backlog builds up.
    fn duration(entry: &Entry) -> Duration {
        Duration::from_millis(if entry.priority == Priority::Low {
            4
        } else {
            3
        })
    }

    fn begin(&self, me: &str, entry: &Entry) {
        say(me, format_args!("starts {}", Show(entry)));
        if self.started.fetch_add(1, SeqCst) + 1 == BUSY_AT {
            self.busy.set();
        }
    }

    fn finish(&self, me: &str, entry: Entry) {
        let report = Report {
            entry,
            worker: me.to_string(),
        };
        self.reports
            .try_put(report)
            .expect("reports is unbounded and shut down last");
    }

    /// A blocking worker (a plain or `spawn_blocking` thread).
    fn thread_worker(&self, me: &str) {
        assert!(
            self.open.wait().wait_timeout(PATIENCE),
            "the scheduler opens"
        );
        while let Ok(entry) = self.jobs.get_blocking() {
            self.begin(me, &entry);
            std::thread::sleep(Self::duration(&entry));
            self.finish(me, entry);
        }
        say(me, "jobs shut down: stops");
    }

    /// An async worker (a tokio task).
    async fn task_worker(&self, me: &str) {
        let opened = self.open.wait().timeout(PATIENCE).await;
        assert!(opened, "the scheduler opens");
        while let Ok(entry) = self.jobs.get().await {
            self.begin(me, &entry);
            tokio::time::sleep(Self::duration(&entry)).await;
            self.finish(me, entry);
        }
        say(me, "jobs shut down: stops");
    }

    /// The monitor (a plain thread): once the workers are busy, a disk
    /// fills up and it queues a critical job behind the backlog.
    fn monitor(&self) -> u32 {
        let me = "[thread monitor]";
        assert!(self.busy.wait().wait_timeout(PATIENCE), "jobs start");
        let next = self.jobs.peek_with(|e| Show(e).to_string());
        let waiting = self.jobs.len();
        let urgent = self.job(Priority::Critical, "free disk space", "[thread monitor]");
        let id = urgent.item.id;
        self.jobs.put_blocking(urgent).expect("open");
        say(
            me,
            format_args!(
                "disk 95% full: queues #{id} Critical behind {waiting} waiting job(s); \
                 next was {}",
                next.as_deref().unwrap_or("nothing")
            ),
        );
        id
    }
}

async fn scheduler() {
    let me = "[task main]";
    let s = Arc::new(Scheduler {
        jobs: PriorityQueue::unbounded(),
        reports: Queue::unbounded(),
        open: Event::new(),
        busy: Event::new(),
        started: AtomicUsize::new(0),
        next_id: AtomicU32::new(0),
    });

    // Workers of both kinds; they wait for `open`.
    let w1 = std::thread::spawn({
        let s = Arc::clone(&s);
        move || s.thread_worker("[thread worker-1]")
    });
    let w2 = tokio::task::spawn_blocking({
        let s = Arc::clone(&s);
        move || s.thread_worker("[spawn_blocking worker-2]")
    });
    let w3 = tokio::spawn({
        let s = Arc::clone(&s);
        async move { s.task_worker("[task worker-3]").await }
    });

    // The backlog, submitted in turns so that the job numbers follow the
    // put order: first the API handler (a task), then cron (a thread).
    let api = tokio::spawn({
        let s = Arc::clone(&s);
        async move {
            let me = "[task api]";
            for (prio, name) in [
                (Priority::Normal, "resize avatar"),
                (Priority::Normal, "send invoices"),
                (Priority::High, "refund order 1234"),
                (Priority::Normal, "send newsletter"),
                (Priority::Normal, "resize banner"),
            ] {
                let entry = s.job(prio, name, me);
                say(me, format_args!("submits {}", Show(&entry)));
                s.jobs.put(entry).await.expect("open");
            }
        }
    });
    api.await.expect("the API handler panicked");
    let cron = std::thread::spawn({
        let s = Arc::clone(&s);
        move || {
            let me = "[thread cron]";
            for (prio, name) in [
                (Priority::Low, "nightly backup"),
                (Priority::Normal, "weekly report"),
                (Priority::Low, "rotate logs"),
                (Priority::Low, "reindex search"),
            ] {
                let entry = s.job(prio, name, me);
                say(me, format_args!("submits {}", Show(&entry)));
                s.jobs.put_blocking(entry).expect("open");
            }
        }
    });
    tokio::task::spawn_blocking(move || cron.join())
        .await
        .unwrap()
        .expect("cron panicked");
    // Then the pager (a task), last: its jobs leave first anyway.
    let pager = tokio::spawn({
        let s = Arc::clone(&s);
        async move {
            let me = "[task pager]";
            for name in ["page the on-call", "fail over the database"] {
                let entry = s.job(Priority::Critical, name, me);
                say(me, format_args!("submits {}", Show(&entry)));
                s.jobs.put(entry).await.expect("open");
            }
        }
    });
    pager.await.expect("the pager panicked");
    let total_before = s.jobs.len();
    let next = s.jobs.peek().expect("the backlog is there");
    assert_eq!(next.priority, Priority::Critical, "a critical job is next");
    say(
        me,
        format_args!(
            "{total_before} jobs waiting; peek(): next out is {}",
            Show(&next)
        ),
    );

    let monitor = std::thread::spawn({
        let s = Arc::clone(&s);
        move || s.monitor()
    });
    say(me, "opens the scheduler");
    s.open.set();

    // Read reports until STOP_AFTER jobs are done, the monitor's among them.
    let urgent_id = tokio::task::spawn_blocking(move || monitor.join())
        .await
        .unwrap()
        .expect("the monitor panicked");
    let mut reports = Vec::new();
    while reports.len() < STOP_AFTER
        || !reports
            .iter()
            .any(|r: &Report| r.entry.item.id == urgent_id)
    {
        let report = s
            .reports
            .get()
            .timeout(PATIENCE)
            .await
            .expect("a job is done within the time limit");
        say(
            me,
            format_args!("report: {} done by {}", Show(&report.entry), report.worker),
        );
        reports.push(report);
    }

    // Stop for maintenance: the jobs not started come back, in run order.
    let left = s.jobs.shutdown(true);
    say(
        me,
        format_args!(
            "shutdown(true) after {} jobs done: {} not started, handed back:",
            reports.len(),
            left.len()
        ),
    );
    for entry in &left {
        say("", format_args!("  {}", Show(entry)));
    }
    // A job submitted now is refused, and comes back with the error.
    let late = s.job(Priority::Normal, "late job", me);
    match s.jobs.try_put(late) {
        Err(TryPutError::ShutDown(entry)) => say(
            me,
            format_args!("try_put after shutdown: refused, got back {}", Show(&entry)),
        ),
        other => panic!("a put after shutdown must be refused: {other:?}"),
    }

    // The workers finish the jobs they hold, then their get ends them.
    w3.await.expect("worker-3 panicked");
    w2.await.expect("worker-2 panicked");
    tokio::task::spawn_blocking(move || w1.join())
        .await
        .unwrap()
        .expect("worker-1 panicked");
    s.reports.shutdown(false);
    for report in s.reports.drain() {
        say(
            me,
            format_args!(
                "report (after shutdown): {} done by {}",
                Show(&report.entry),
                report.worker
            ),
        );
        reports.push(report);
    }

    // Every job ran exactly once or came back: nothing lost, nothing twice.
    let submitted = s.next_id.load(SeqCst) - 1; // not the refused late job
    let mut ids: Vec<u32> = reports.iter().map(|r| r.entry.item.id).collect();
    ids.extend(left.iter().map(|e| e.item.id));
    ids.sort_unstable();
    assert_eq!(ids, (1..=submitted).collect::<Vec<_>>(), "nothing lost");
    // Every critical job ran (the monitor's too), none came back.
    let critical_ran = reports
        .iter()
        .filter(|r| r.entry.priority == Priority::Critical)
        .count();
    assert_eq!(critical_ran, 3, "all three critical jobs ran");
    assert!(left.iter().all(|e| e.priority != Priority::Critical));
    // What came back is in run order: priority, then put order.
    let key = |e: &Entry| (e.priority, e.item.id);
    assert!(left.windows(2).all(|w| key(&w[0]) < key(&w[1])));
    // Every job that ran had to run before every job that came back: the
    // backlog was all in before the workers started, and the one job put
    // later was critical.
    if let (Some(last_ran), Some(first_left)) = (
        reports.iter().map(|r| key(&r.entry)).max(),
        left.first().map(key),
    ) {
        assert!(
            last_ran < first_left,
            "{last_ran:?} ran before {first_left:?}"
        );
    }
    assert!(s.jobs.is_empty() && s.reports.is_empty());
    assert_eq!(s.jobs.waiters().total(), 0);
    println!();
    println!(
        "All checks passed: {} jobs ran (every critical one among them), {} came back \
         from shutdown(true), none lost.",
        reports.len(),
        left.len()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    watchdog();
    scheduler().await;
}

/// Ends the process if the example hangs.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(10));
        eprintln!("queue_scheduler: still running after 10 s (a lost wake-up?)");
        std::process::exit(1);
    });
}
