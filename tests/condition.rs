//! Integration tests of `amphi::Condition`: blocking, async and mixed
//! (threads and tasks on one condition), deterministic poll tests of
//! `notify`, timed waits, `wait_while`, the lost-wake-up race, and
//! cancellation (asyncio gh-112202 class: a notification that reached a
//! dropped waiter must pass on).
//!
//! Every wait has a deadline: threads are joined through a channel with
//! `recv_timeout`, async bodies run under `tokio::time::timeout`, and timed
//! waits use deadlines, so a lost wake-up fails the test instead of hanging.

mod common;

use std::collections::VecDeque;
use std::future::Future;
use std::ops::DerefMut;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use amphi::futures::ConditionWait;
use amphi::{Condition, Lock, LockGuard, LockGuardArc, Relock};
use common::{DEADLINE, Joiner, SHORT, deadline, join_task, spawn_pending, spawn_thread, within};
use tokio_test::task::{Spawn, spawn};
use tokio_test::{assert_pending, assert_ready};

// ---------------------------------------------------------------------------
// Producer / consumer
// ---------------------------------------------------------------------------

/// A bounded queue built from one lock and two conditions.
struct Queue {
    items: Arc<Lock<VecDeque<u64>>>,
    not_empty: Condition,
    not_full: Condition,
    cap: usize,
}

impl Queue {
    fn new(cap: usize) -> Arc<Self> {
        Arc::new(Queue {
            items: Arc::new(Lock::new(VecDeque::new())),
            not_empty: Condition::new(),
            not_full: Condition::new(),
            cap,
        })
    }

    /// Pushes `v` once there is room, under `g` (a guard of either kind).
    fn push_blocking<G>(&self, g: G, v: u64)
    where
        G: Relock + DerefMut<Target = VecDeque<u64>>,
    {
        let cap = self.cap;
        let (mut g, res) = self
            .not_full
            .wait_while(g, |q| q.len() >= cap)
            .wait_deadline(deadline());
        assert!(!res.timed_out(), "producer thread never saw room");
        g.push_back(v);
    }

    /// Pops an item once there is one, under `g` (a guard of either kind).
    fn pop_blocking<G>(&self, g: G) -> u64
    where
        G: Relock + DerefMut<Target = VecDeque<u64>>,
    {
        let (mut g, res) = self
            .not_empty
            .wait_while(g, |q| q.is_empty())
            .wait_deadline(deadline());
        assert!(!res.timed_out(), "consumer thread never saw an item");
        g.pop_front().unwrap()
    }

    async fn push<G>(&self, g: G, v: u64)
    where
        G: Relock + DerefMut<Target = VecDeque<u64>>,
    {
        let cap = self.cap;
        let (mut g, res) = self
            .not_full
            .wait_while(g, |q| q.len() >= cap)
            .timeout_at(deadline())
            .await;
        assert!(!res.timed_out(), "producer task never saw room");
        g.push_back(v);
    }

    async fn pop<G>(&self, g: G) -> u64
    where
        G: Relock + DerefMut<Target = VecDeque<u64>>,
    {
        let (mut g, res) = self
            .not_empty
            .wait_while(g, |q| q.is_empty())
            .timeout_at(deadline())
            .await;
        assert!(!res.timed_out(), "consumer task never saw an item");
        g.pop_front().unwrap()
    }

    /// `owned` picks the guard: `LockGuardArc` or `LockGuard`.
    fn put_blocking(&self, v: u64, owned: bool) {
        if owned {
            self.push_blocking(self.items.lock_arc_blocking(), v);
        } else {
            self.push_blocking(self.items.lock_blocking(), v);
        }
        self.not_empty.notify(1);
    }

    fn get_blocking(&self, owned: bool) -> u64 {
        let v = if owned {
            self.pop_blocking(self.items.lock_arc_blocking())
        } else {
            self.pop_blocking(self.items.lock_blocking())
        };
        self.not_full.notify(1);
        v
    }

    async fn put(&self, v: u64, owned: bool) {
        if owned {
            self.push(self.items.lock_arc().await, v).await;
        } else {
            self.push(self.items.lock().await, v).await;
        }
        self.not_empty.notify(1);
    }

    async fn get(&self, owned: bool) -> u64 {
        let v = if owned {
            self.pop(self.items.lock_arc().await).await
        } else {
            self.pop(self.items.lock().await).await
        };
        self.not_full.notify(1);
        v
    }
}

/// Items per producer.
const ITEMS: u64 = 300;

/// Checks that the consumers got every item exactly once.
fn check_all_received(mut got: Vec<u64>, producers: u64) {
    got.sort_unstable();
    let want: Vec<u64> = (0..producers * ITEMS).collect();
    assert_eq!(got, want, "items lost or duplicated");
}

/// Producers and consumers of `Queue`, each putting or getting `ITEMS`
/// items; `owned` picks the guard kind they use.
impl Queue {
    /// A thread that puts producer `p`'s items.
    fn producer_thread(self: &Arc<Self>, p: u64, owned: bool) -> Joiner<()> {
        let q = Arc::clone(self);
        spawn_thread(move || {
            for i in 0..ITEMS {
                q.put_blocking(p * ITEMS + i, owned);
            }
        })
    }

    /// A thread that gets `ITEMS` items.
    fn consumer_thread(self: &Arc<Self>, owned: bool) -> Joiner<Vec<u64>> {
        let q = Arc::clone(self);
        spawn_thread(move || {
            (0..ITEMS)
                .map(|_| q.get_blocking(owned))
                .collect::<Vec<_>>()
        })
    }

    /// A task that puts producer `p`'s items.
    fn producer_task(self: &Arc<Self>, p: u64, owned: bool) -> tokio::task::JoinHandle<()> {
        let q = Arc::clone(self);
        tokio::spawn(async move {
            for i in 0..ITEMS {
                q.put(p * ITEMS + i, owned).await;
            }
        })
    }

    /// A task that gets `ITEMS` items.
    fn consumer_task(self: &Arc<Self>, owned: bool) -> tokio::task::JoinHandle<Vec<u64>> {
        let q = Arc::clone(self);
        tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..ITEMS {
                got.push(q.get(owned).await);
            }
            got
        })
    }
}

#[test]
fn producer_consumer_threads() {
    let q = Queue::new(2);
    let producers: Vec<_> = (0..2).map(|p| q.producer_thread(p, p == 1)).collect();
    let consumers: Vec<_> = (0..2).map(|c| q.consumer_thread(c == 0)).collect();
    for p in producers {
        p.join();
    }
    let got = consumers.into_iter().flat_map(Joiner::join).collect();
    check_all_received(got, 2);
    assert!(q.items.lock_blocking().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_consumer_tasks() {
    within(async {
        let q = Queue::new(2);
        let producers: Vec<_> = (0..2).map(|p| q.producer_task(p, p == 0)).collect();
        let consumers: Vec<_> = (0..2).map(|c| q.consumer_task(c == 1)).collect();
        for p in producers {
            join_task(p).await;
        }
        let mut got = Vec::new();
        for c in consumers {
            got.extend(join_task(c).await);
        }
        check_all_received(got, 2);
    })
    .await;
}

/// Two producer threads, two producer tasks, two consumer threads and two
/// consumer tasks on one queue of capacity 3, half with owned guards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_consumer_mixed() {
    within(async {
        let q = Queue::new(3);
        let thread_producers: Vec<_> = (0..2).map(|p| q.producer_thread(p, p == 0)).collect();
        let task_producers: Vec<_> = (2..4).map(|p| q.producer_task(p, p == 3)).collect();
        let thread_consumers: Vec<_> = (0..2).map(|c| q.consumer_thread(c == 1)).collect();
        let task_consumers: Vec<_> = (0..2).map(|c| q.consumer_task(c == 0)).collect();
        let mut got = Vec::new();
        for c in task_consumers {
            got.extend(join_task(c).await);
        }
        for p in task_producers {
            join_task(p).await;
        }
        // The tasks are done; joining the threads may now block this thread.
        for p in thread_producers {
            p.join();
        }
        for c in thread_consumers {
            got.extend(c.join());
        }
        check_all_received(got, 4);
    })
    .await;
}

/// A thread waits with `wait_blocking` (borrowed guard), a task notifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_waits_task_notifies() {
    let pair = Arc::new((Lock::new(false), Condition::new()));
    let p = Arc::clone(&pair);
    let waiter = spawn_thread(move || {
        let (lock, cond) = &*p;
        let mut g = lock.lock_blocking();
        let mut wakeups = 0;
        while !*g {
            g = cond.wait_blocking(g);
            wakeups += 1;
        }
        wakeups
    });
    let p = Arc::clone(&pair);
    join_task(tokio::spawn(async move {
        let (lock, cond) = &*p;
        *lock.lock().await = true;
        cond.notify_all();
    }))
    .await;
    // At most one wake-up (none if the thread came after the task).
    assert!(waiter.join() <= 1);
    assert!(!pair.0.is_locked());
}

/// A task waits with an owned guard, a thread notifies.
#[tokio::test]
async fn task_waits_thread_notifies_owned_guard() {
    let lock = Arc::new(Lock::new(0u32));
    let cond = Arc::new(Condition::new());
    let (l, c) = (Arc::clone(&lock), Arc::clone(&cond));
    let task = tokio::spawn(async move {
        let mut g = l.lock_arc().await;
        while *g == 0 {
            g = c.wait(g).await;
        }
        *g
    });
    let (l, c) = (Arc::clone(&lock), Arc::clone(&cond));
    let notifier = spawn_thread(move || {
        *l.lock_blocking() = 42;
        c.notify(1)
    });
    assert_eq!(join_task(task).await, 42);
    assert!(notifier.join() <= 1);
}

// ---------------------------------------------------------------------------
// notify / notify_all: counts and exactness (deterministic)
// ---------------------------------------------------------------------------

#[test]
fn notify_with_nobody_waiting_returns_zero() {
    let cond = Condition::new();
    assert_eq!(cond.notify(0), 0);
    assert_eq!(cond.notify(1), 0);
    assert_eq!(cond.notify(usize::MAX), 0);
    assert_eq!(cond.notify_all(), 0);
}

#[test]
fn notify_n_wakes_exactly_n_in_fifo_order() {
    let lock = Lock::new(());
    let cond = Condition::new();
    let mut w = Vec::new();
    // Each wait must be polled (releasing the lock) before the next locks.
    for _ in 0..4 {
        let f = spawn_pending(cond.wait(lock.lock_blocking()));
        assert!(!lock.is_locked(), "a pending wait must release the lock");
        w.push(f);
    }
    assert_eq!(cond.notify(0), 0);
    assert!(w.iter().all(|w| !w.is_woken()));

    assert_eq!(cond.notify(2), 2);
    assert!(w[0].is_woken() && w[1].is_woken(), "FIFO: the first two");
    assert!(!w[2].is_woken() && !w[3].is_woken(), "woke more than 2");

    // Already-woken waiters are not counted again: the next notify(1)
    // reaches the third waiter, not the first again.
    assert_eq!(cond.notify(1), 1);
    assert!(w[2].is_woken());
    assert!(!w[3].is_woken());

    for w in &mut w[..3] {
        let g = assert_ready!(w.poll());
        drop(g);
    }
    assert_pending!(w[3].poll());
    assert_eq!(cond.notify(5), 1, "only one waiter is left");
    assert!(w[3].is_woken());
    drop(assert_ready!(w[3].poll()));
    assert_eq!(cond.notify(1), 0);
    assert!(!lock.is_locked());
}

#[test]
fn notify_all_wakes_every_waiter_and_counts_them() {
    let lock = Arc::new(Lock::new(0));
    let cond = Condition::new();
    let mut a = spawn_pending(cond.wait(lock.lock_blocking()));
    let mut b = spawn_pending(cond.wait(lock.lock_arc_blocking()));
    let mut c = spawn_pending(cond.wait(lock.lock_blocking()));
    assert_eq!(cond.notify_all(), 3);
    assert!(a.is_woken() && b.is_woken() && c.is_woken());
    assert_eq!(cond.notify_all(), 0, "all three were already woken");
    // They re-acquire the lock one at a time.
    let ga = assert_ready!(a.poll());
    assert_pending!(b.poll());
    drop(ga);
    assert!(b.is_woken(), "unlock must wake the next re-acquirer");
    let gb = assert_ready!(b.poll());
    assert_pending!(c.poll());
    drop(gb);
    drop(assert_ready!(c.poll()));
    assert!(!lock.is_locked());
}

/// The state shared by the counting tests.
#[derive(Default)]
struct Counts {
    waiting: usize,
    woken: usize,
}

/// Two threads and two tasks wait; `notify` must count blocking and async
/// waiters alike and wake exactly as many as it says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_counts_threads_and_tasks_alike() {
    within(async {
        let lock = Arc::new(Lock::new(Counts::default()));
        let cond = Arc::new(Condition::new());
        // Signalled by the waiters whenever `Counts` changes.
        let changed = Arc::new(Condition::new());

        let mut threads = Vec::new();
        for _ in 0..2 {
            let (l, c, ch) = (Arc::clone(&lock), Arc::clone(&cond), Arc::clone(&changed));
            threads.push(spawn_thread(move || {
                let mut g = l.lock_blocking();
                g.waiting += 1;
                ch.notify_all();
                let (mut g, res) = c.wait(g).wait_deadline(deadline());
                g.woken += 1;
                ch.notify_all();
                res.timed_out()
            }));
        }
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let (l, c, ch) = (Arc::clone(&lock), Arc::clone(&cond), Arc::clone(&changed));
            tasks.push(tokio::spawn(async move {
                let mut g = l.lock_arc().await;
                g.waiting += 1;
                ch.notify_all();
                let (mut g, res) = c.wait(g).timeout_at(deadline()).await;
                g.woken += 1;
                ch.notify_all();
                res.timed_out()
            }));
        }

        // Once we hold the lock and see 4 waiting, all 4 are listening: a
        // waiter lets go of the lock only after it listens.
        let g = changed
            .wait_while(lock.lock().await, |s| s.waiting < 4)
            .await;
        assert_eq!(cond.notify(3), 3);
        drop(g);
        let g = changed.wait_while(lock.lock().await, |s| s.woken < 3).await;
        assert_eq!(g.woken, 3, "notify(3) woke more than 3");
        assert_eq!(cond.notify_all(), 1, "exactly one waiter must be left");
        drop(g);
        let g = changed.wait_while(lock.lock().await, |s| s.woken < 4).await;
        drop(g);

        for t in tasks {
            assert!(!join_task(t).await, "a notified task reported a timeout");
        }
        for t in threads {
            assert!(!t.join(), "a notified thread reported a timeout");
        }
        assert_eq!(cond.notify_all(), 0);
    })
    .await;
}

// ---------------------------------------------------------------------------
// Timed waits
// ---------------------------------------------------------------------------

#[test]
fn timed_wait_times_out_blocking() {
    let lock = Arc::new(Lock::new(7));
    let cond = Condition::new();

    let start = Instant::now();
    let (g, res) = cond.wait(lock.lock_blocking()).wait_timeout(SHORT);
    assert!(res.timed_out());
    assert!(
        start.elapsed() >= SHORT,
        "returned early: {:?}",
        start.elapsed()
    );
    assert!(
        lock.is_locked() && lock.try_lock().is_none(),
        "lock not held"
    );
    assert_eq!(*g, 7);
    drop(g);

    let start = Instant::now();
    let (g, res) = cond
        .wait(lock.lock_arc_blocking())
        .wait_deadline(start + SHORT);
    assert!(res.timed_out());
    assert!(start.elapsed() >= SHORT);
    assert!(lock.try_lock().is_none(), "lock not held");
    assert_eq!(*g, 7);
    drop(g);
    assert!(!lock.is_locked());
    assert_eq!(cond.notify_all(), 0, "a timed-out waiter is still counted");
}

#[tokio::test]
async fn timed_wait_times_out_async_current_thread() {
    within(async {
        let lock = Arc::new(Lock::new(7));
        let cond = Condition::new();

        let start = Instant::now();
        let (g, res) = cond.wait(lock.lock().await).timeout(SHORT).await;
        assert!(res.timed_out());
        assert!(
            start.elapsed() >= SHORT,
            "returned early: {:?}",
            start.elapsed()
        );
        assert!(lock.try_lock().is_none(), "lock not held");
        assert_eq!(*g, 7);
        drop(g);

        let start = Instant::now();
        let (g, res) = cond
            .wait(lock.lock_arc().await)
            .timeout_at(start + SHORT)
            .await;
        assert!(res.timed_out());
        assert!(start.elapsed() >= SHORT);
        assert!(lock.try_lock().is_none(), "lock not held");
        drop(g);
        assert!(!lock.is_locked());
        assert_eq!(cond.notify_all(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_wait_times_out_async_multi_thread() {
    within(async {
        let lock = Lock::new(());
        let cond = Condition::new();
        let start = Instant::now();
        let (g, res) = cond.wait(lock.lock().await).timeout(SHORT).await;
        assert!(res.timed_out() && start.elapsed() >= SHORT);
        assert!(lock.try_lock().is_none());
        drop(g);
    })
    .await;
}

/// A zero timeout only tries: it never lets go of the lock. (Multi-thread:
/// the blocking calls refuse to run inside a current-thread runtime.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_timeout_returns_at_once_holding_the_lock() {
    let lock = Lock::new(1);
    let cond = Condition::new();
    let (g, res) = cond.wait(lock.lock_blocking()).wait_timeout(Duration::ZERO);
    assert!(res.timed_out());
    assert_eq!(*g, 1);
    let (g, res) = cond.wait(g).wait_deadline(Instant::now() - SHORT);
    assert!(res.timed_out());
    let (g, res) = within(cond.wait(g).timeout(Duration::ZERO)).await;
    assert!(res.timed_out());
    assert!(lock.try_lock().is_none());
    drop(g);
    assert!(!lock.is_locked());
}

/// A thread waits with a long timeout; a task notifies in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_wait_notified_in_time_blocking() {
    let pair = Arc::new((Lock::new(false), Condition::new()));
    let p = Arc::clone(&pair);
    let waiter = spawn_thread(move || {
        let (lock, cond) = &*p;
        let start = Instant::now();
        let mut g = lock.lock_blocking();
        while !*g {
            let (g2, res) = cond.wait(g).wait_timeout(DEADLINE);
            assert!(!res.timed_out(), "notified wait reported a timeout");
            g = g2;
        }
        start.elapsed()
    });
    let p = Arc::clone(&pair);
    join_task(tokio::spawn(async move {
        *p.0.lock().await = true;
        p.1.notify_all();
    }))
    .await;
    assert!(waiter.join() < DEADLINE);
}

/// A task waits with a long async timeout (owned guard); a thread notifies.
#[tokio::test]
async fn timed_wait_notified_in_time_async() {
    let lock = Arc::new(Lock::new(false));
    let cond = Arc::new(Condition::new());
    let (l, c) = (Arc::clone(&lock), Arc::clone(&cond));
    let task = tokio::spawn(async move {
        let mut g = l.lock_arc().await;
        while !*g {
            let (g2, res) = c.wait(g).timeout(DEADLINE).await;
            assert!(!res.timed_out(), "notified wait reported a timeout");
            g = g2;
        }
    });
    let (l, c) = (Arc::clone(&lock), Arc::clone(&cond));
    let notifier = spawn_thread(move || {
        *l.lock_blocking() = true;
        c.notify(1);
    });
    join_task(task).await;
    notifier.join();
}

/// A timeout too large for `Instant` means "wait forever", on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_timeouts_saturate() {
    within(async {
        let lock = Arc::new(Lock::new(0u8));
        let cond = Arc::new(Condition::new());
        let (l, c) = (Arc::clone(&lock), Arc::clone(&cond));
        let waiter = spawn_thread(move || {
            let g = l.lock_blocking();
            let (g, res) = c.wait_while(g, |v| *v < 1).wait_timeout(Duration::MAX);
            (*g, res.timed_out())
        });
        let (l, c) = (Arc::clone(&lock), Arc::clone(&cond));
        let task = tokio::spawn(async move {
            let g = l.lock().await;
            let (g, res) = c.wait_while(g, |v| *v < 2).timeout(Duration::MAX).await;
            (*g, res.timed_out())
        });
        *lock.lock().await = 1;
        cond.notify_all();
        // Tasks see 1 and keep waiting; the thread returns.
        let (v, timed_out) = waiter.join_async().await;
        assert!(v >= 1 && !timed_out);
        *lock.lock().await = 2;
        cond.notify_all();
        assert_eq!(join_task(task).await, (2, false));
    })
    .await;
}

/// A thread waits (owned guard) with the timeout `SHORT`. As soon as it has
/// let go of the lock (it is waiting), this takes the lock, notifies it if
/// `notify`, holds the lock for `HOLD`, past the waiter's deadline, and
/// writes 5. Returns what the waiter saw, whether it timed out and how long
/// it took.
fn relock_past_the_deadline_blocking(notify: bool) -> (i32, bool, Duration) {
    let lock = Arc::new(Lock::new(0));
    let cond = Arc::new(Condition::new());
    let g = lock.lock_arc_blocking();
    let c = Arc::clone(&cond);
    let waiter = spawn_thread(move || {
        let start = Instant::now();
        let (g, res) = c.wait(g).wait_timeout(SHORT);
        (*g, res.timed_out(), start.elapsed())
    });
    let mut held = lock.lock_blocking(); // the waiter is listening now
    if notify {
        assert_eq!(cond.notify(1), 1);
    }
    thread::sleep(HOLD); // outlast the waiter's timeout while holding the lock
    *held = 5;
    drop(held);
    waiter.join()
}

/// The same with a task as the waiter.
async fn relock_past_the_deadline(notify: bool) -> (i32, bool, Duration) {
    let lock = Arc::new(Lock::new(0));
    let cond = Arc::new(Condition::new());
    let g = lock.lock_arc().await;
    let c = Arc::clone(&cond);
    let waiter = tokio::spawn(async move {
        let start = Instant::now();
        let (g, res) = c.wait(g).timeout(SHORT).await;
        (*g, res.timed_out(), start.elapsed())
    });
    let mut held = lock.lock().await;
    if notify {
        assert_eq!(cond.notify(1), 1);
    }
    tokio::time::sleep(HOLD).await; // outlast the waiter's timeout
    *held = 5;
    drop(held);
    join_task(waiter).await
}

/// How long `relock_past_the_deadline` holds the lock.
const HOLD: Duration = SHORT.saturating_mul(3);

/// A timed-out wait re-acquires the lock without a time limit: if someone
/// else holds it, the wait returns only after they let go (Python does the
/// same).
#[test]
fn timed_out_wait_reacquires_a_lock_held_by_another_blocking() {
    let (v, timed_out, elapsed) = relock_past_the_deadline_blocking(false);
    assert!(timed_out);
    assert_eq!(v, 5, "the waiter returned without the lock");
    assert!(elapsed >= HOLD);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_wait_reacquires_a_lock_held_by_another_async() {
    let (v, timed_out, elapsed) = within(relock_past_the_deadline(false)).await;
    assert!(timed_out);
    assert_eq!(v, 5, "the waiter returned without the lock");
    assert!(elapsed >= HOLD);
}

/// Notified in time, but the lock is held past the deadline: the wait still
/// reports `timed_out == false` (it was notified; Python returns True), and
/// comes back only with the lock.
#[test]
fn notified_wait_relocking_past_the_deadline_is_not_a_timeout_blocking() {
    let (v, timed_out, _) = relock_past_the_deadline_blocking(true);
    assert_eq!((v, timed_out), (5, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notified_wait_relocking_past_the_deadline_is_not_a_timeout_async() {
    let (v, timed_out, _) = within(relock_past_the_deadline(true)).await;
    assert_eq!((v, timed_out), (5, false));
}

// ---------------------------------------------------------------------------
// wait_while
// ---------------------------------------------------------------------------

#[test]
fn wait_while_returns_at_once_if_the_condition_does_not_hold() {
    let lock = Lock::new(0);
    let cond = Condition::new();
    let mut w = spawn(cond.wait_while(lock.lock_blocking(), |v| *v > 0));
    let g = assert_ready!(w.poll());
    assert_eq!(*g, 0);
    assert_eq!(cond.notify_all(), 0, "it must not have waited");
    drop(g);
    let g = cond.wait_while(lock.lock_blocking(), |v| *v > 0).wait();
    drop(g);
    let (g, res) = cond
        .wait_while(lock.lock_blocking(), |v| *v > 0)
        .wait_timeout(Duration::ZERO);
    assert!(!res.timed_out());
    drop(g);
    assert!(!lock.is_locked());
}

#[test]
fn wait_while_keeps_waiting_while_the_condition_holds() {
    let lock = Lock::new(0);
    let cond = Condition::new();
    let mut calls = 0;
    let mut w = spawn(cond.wait_while(lock.lock_blocking(), |v| {
        calls += 1;
        *v < 2
    }));
    assert_pending!(w.poll());
    assert!(!lock.is_locked());

    // A notify that does not change the outcome: woken, re-checks, waits.
    assert_eq!(cond.notify_all(), 1);
    assert!(w.is_woken());
    assert_pending!(w.poll());
    assert!(!lock.is_locked(), "waiting again must release the lock");

    *lock.lock_blocking() = 1;
    assert_eq!(cond.notify(1), 1);
    assert_pending!(w.poll());

    *lock.lock_blocking() = 2;
    assert_eq!(cond.notify(1), 1);
    let g = assert_ready!(w.poll());
    assert_eq!(*g, 2);
    drop(g);
    drop(w);
    assert_eq!(calls, 4, "the condition is checked once per wake-up");
}

#[test]
fn wait_while_timed_blocking() {
    let lock = Arc::new(Lock::new(3));
    let cond = Arc::new(Condition::new());
    // Times out: the condition still holds, the lock is held again.
    let start = Instant::now();
    let (g, res) = cond
        .wait_while(lock.lock_blocking(), |v| *v > 0)
        .wait_timeout(SHORT);
    assert!(res.timed_out());
    assert!(start.elapsed() >= SHORT);
    assert_eq!(*g, 3);
    assert!(lock.try_lock().is_none());
    drop(g);

    // Made false in time by another thread (owned guard this time).
    let (l, c) = (Arc::clone(&lock), Arc::clone(&cond));
    let waiter = spawn_thread(move || {
        let (g, res) = c
            .wait_while(l.lock_arc_blocking(), |v| *v > 0)
            .wait_deadline(deadline());
        (*g, res.timed_out())
    });
    for _ in 0..3 {
        *lock.lock_blocking() -= 1;
        cond.notify_all();
    }
    assert_eq!(waiter.join(), (0, false));
}

#[tokio::test]
async fn wait_while_timed_async() {
    within(async {
        let lock = Arc::new(Lock::new(3));
        let cond = Arc::new(Condition::new());
        let start = Instant::now();
        let (g, res) = cond
            .wait_while(lock.lock().await, |v| *v > 0)
            .timeout(SHORT)
            .await;
        assert!(res.timed_out() && start.elapsed() >= SHORT);
        assert_eq!(*g, 3);
        assert!(lock.try_lock().is_none());
        drop(g);

        let (l, c) = (Arc::clone(&lock), Arc::clone(&cond));
        let waiter = tokio::spawn(async move {
            let (g, res) = c
                .wait_while(l.lock_arc().await, |v| *v > 0)
                .timeout_at(deadline())
                .await;
            (*g, res.timed_out())
        });
        for _ in 0..3 {
            *lock.lock().await -= 1;
            cond.notify_all();
            tokio::task::yield_now().await;
        }
        assert_eq!(join_task(waiter).await, (0, false));
    })
    .await;
}

/// Untimed `wait_while` on both sides at once: a thread (`.wait()`) and a task
/// (`.await`) wait for different thresholds of one counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_while_untimed_mixed() {
    within(async {
        let lock = Arc::new(Lock::new(0u32));
        let cond = Arc::new(Condition::new());
        let (l, c) = (Arc::clone(&lock), Arc::clone(&cond));
        let thread_waiter =
            spawn_thread(move || *c.wait_while(l.lock_blocking(), |v| *v < 50).wait());
        let (l, c) = (Arc::clone(&lock), Arc::clone(&cond));
        let task_waiter =
            tokio::spawn(async move { *c.wait_while(l.lock_arc().await, |v| *v < 100).await });
        for _ in 0..100 {
            *lock.lock().await += 1;
            cond.notify_all();
        }
        assert_eq!(join_task(task_waiter).await, 100);
        let v = thread_waiter.join_async().await;
        assert!(v >= 50);
    })
    .await;
}

// ---------------------------------------------------------------------------
// No lost wake-up when notify races a wait
// ---------------------------------------------------------------------------

/// Rounds per race test.
const ROUNDS: usize = 200;

/// The waiter's side of one round: marks itself waiting (1) and waits until
/// the notifier has written 2.
fn race_waiter_blocking(lock: &Lock<u8>, cond: &Condition) {
    let mut g = lock.lock_blocking();
    *g = 1;
    let (g, res) = cond.wait(g).wait_deadline(deadline());
    assert!(
        !res.timed_out(),
        "lost wake-up: blocking waiter never notified"
    );
    assert_eq!(*g, 2);
}

async fn race_waiter_async(lock: &Lock<u8>, cond: &Condition) {
    let mut g = lock.lock().await;
    *g = 1;
    let (g, res) = cond.wait(g).timeout_at(deadline()).await;
    assert!(
        !res.timed_out(),
        "lost wake-up: async waiter never notified"
    );
    assert_eq!(*g, 2);
}

/// The notifier's side: takes the lock until it sees the waiter's 1; the
/// waiter then must be listening (it lets go of the lock only after it
/// listens), so `notify(1)` must report exactly one waiter.
fn race_notifier_blocking(lock: &Lock<u8>, cond: &Condition) {
    let dl = deadline();
    loop {
        let mut g = lock.lock_blocking();
        if *g == 1 {
            assert_eq!(cond.notify(1), 1, "the waiter was not listening");
            *g = 2;
            return;
        }
        drop(g);
        assert!(Instant::now() < dl, "the waiter never started");
        thread::yield_now();
    }
}

async fn race_notifier_async(lock: &Lock<u8>, cond: &Condition) {
    loop {
        let mut g = lock.lock().await;
        if *g == 1 {
            assert_eq!(cond.notify(1), 1, "the waiter was not listening");
            *g = 2;
            return;
        }
        drop(g);
        tokio::task::yield_now().await;
    }
}

/// One round's lock and condition.
type Race = Arc<(Lock<u8>, Condition)>;

fn new_race() -> Race {
    Arc::new((Lock::new(0u8), Condition::new()))
}

fn race_waiter_thread(r: &Race) -> Joiner<()> {
    let r = Arc::clone(r);
    spawn_thread(move || race_waiter_blocking(&r.0, &r.1))
}

fn race_waiter_task(r: &Race) -> tokio::task::JoinHandle<()> {
    let r = Arc::clone(r);
    tokio::spawn(async move { race_waiter_async(&r.0, &r.1).await })
}

fn race_notifier_thread(r: &Race) -> Joiner<()> {
    let r = Arc::clone(r);
    spawn_thread(move || race_notifier_blocking(&r.0, &r.1))
}

fn race_notifier_task(r: &Race) -> tokio::task::JoinHandle<()> {
    let r = Arc::clone(r);
    tokio::spawn(async move { race_notifier_async(&r.0, &r.1).await })
}

#[test]
fn no_lost_wakeup_threads() {
    for _ in 0..ROUNDS {
        let r = new_race();
        let waiter = race_waiter_thread(&r);
        race_notifier_blocking(&r.0, &r.1);
        waiter.join();
    }
}

/// Runs `round` `ROUNDS` times, each with a fresh `Race`, within the
/// deadline.
async fn race_rounds<F: Future<Output = ()>>(round: impl Fn(Race) -> F) {
    within(async {
        for _ in 0..ROUNDS {
            round(new_race()).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_lost_wakeup_tasks() {
    race_rounds(|r| async move {
        let waiter = race_waiter_task(&r);
        let notifier = race_notifier_task(&r);
        notifier.await.unwrap();
        waiter.await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_lost_wakeup_thread_waits_task_notifies() {
    race_rounds(|r| async move {
        let waiter = race_waiter_thread(&r);
        race_notifier_task(&r).await.unwrap();
        waiter.join();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_lost_wakeup_task_waits_thread_notifies() {
    race_rounds(|r| async move {
        let waiter = race_waiter_task(&r);
        let notifier = race_notifier_thread(&r);
        waiter.await.unwrap();
        notifier.join();
    })
    .await;
}

/// The classic pattern with a flag and `notify` after unlocking: whatever the
/// interleaving, the waiter never hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_lost_wakeup_flag_and_notify_after_unlock_mixed() {
    within(async {
        for round in 0..ROUNDS {
            let pair = Arc::new((Lock::new(false), Condition::new()));
            let p = Arc::clone(&pair);
            let thread_waiter = spawn_thread(move || {
                let (g, res) =
                    p.1.wait_while(p.0.lock_blocking(), |f| !*f)
                        .wait_deadline(deadline());
                assert!(*g && !res.timed_out());
            });
            let p = Arc::clone(&pair);
            let task_waiter = tokio::spawn(async move {
                let (g, res) =
                    p.1.wait_while(p.0.lock().await, |f| !*f)
                        .timeout_at(deadline())
                        .await;
                assert!(*g && !res.timed_out());
            });
            if round % 2 == 0 {
                *pair.0.lock().await = true;
                pair.1.notify_all();
            } else {
                let p = Arc::clone(&pair);
                spawn_thread(move || {
                    *p.0.lock_blocking() = true;
                    p.1.notify_all();
                })
                .join();
            }
            task_waiter.await.unwrap();
            thread_waiter.join();
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// Cancellation
// ---------------------------------------------------------------------------

/// notify(1) reaches A; A is dropped before it runs; B must be woken.
fn dropped_notified_waiter_passes_on<G: Relock + std::fmt::Debug>(
    lock: &Lock<u8>,
    guard: impl Fn() -> G,
) {
    let cond = Condition::new();
    let a = spawn_pending(cond.wait(guard()));
    let mut b = spawn_pending(cond.wait(guard()));
    assert_eq!(cond.notify(1), 1);
    assert!(a.is_woken());
    assert!(!b.is_woken());
    drop(a);
    assert!(
        b.is_woken(),
        "the notification died with the dropped waiter"
    );
    let g = assert_ready!(b.poll());
    assert!(lock.is_locked());
    drop(g);
    assert!(!lock.is_locked());
    assert_eq!(cond.notify_all(), 0);
}

#[test]
fn dropped_notified_waiter_passes_notification_on_borrowed_guard() {
    let lock = Lock::new(0u8);
    dropped_notified_waiter_passes_on(&lock, || lock.lock_blocking());
}

#[test]
fn dropped_notified_waiter_passes_notification_on_owned_guard() {
    let lock = Arc::new(Lock::new(0u8));
    dropped_notified_waiter_passes_on(&lock, || lock.lock_arc_blocking());
}

/// The same through the async `timeout` wrapper.
#[tokio::test]
async fn dropped_notified_timeout_waiter_passes_notification_on() {
    let lock = Lock::new(());
    let cond = Condition::new();
    let a = spawn_pending(cond.wait(lock.lock().await).timeout(DEADLINE));
    let mut b = spawn_pending(cond.wait(lock.lock().await).timeout(DEADLINE));
    assert_eq!(cond.notify(1), 1);
    drop(a);
    assert!(b.is_woken());
    let (g, res) = assert_ready!(b.poll());
    assert!(!res.timed_out());
    drop(g);
    assert!(!lock.is_locked());
}

/// A pending task-side wait A (owned guard) on `cond` and, behind it, a
/// thread B that writes 1 and waits with the deadline (it returns the value
/// it sees and whether it timed out). Returns A, B and the lock, held, once
/// B is listening.
async fn task_then_thread_waiting<'a>(
    lock: &'a Arc<Lock<u8>>,
    cond: &'a Arc<Condition>,
) -> (
    Spawn<ConditionWait<'a, LockGuardArc<u8>>>,
    Joiner<(u8, bool)>,
    LockGuard<'a, u8>,
) {
    let changed = Arc::new(Condition::new());
    let a = spawn_pending(cond.wait(lock.lock_arc().await));
    let (l, c, ch) = (Arc::clone(lock), Arc::clone(cond), Arc::clone(&changed));
    let b = spawn_thread(move || {
        let mut g = l.lock_blocking();
        *g = 1;
        ch.notify_all();
        let (g, res) = c.wait(g).wait_deadline(deadline());
        (*g, res.timed_out())
    });
    // B is listening (after A) once we see 1 under the lock.
    let held = changed.wait_while(lock.lock().await, |v| *v != 1).await;
    (a, b, held)
}

/// A task waiter A is notified and dropped; the notification passes on to a
/// blocked thread B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_notified_task_passes_notification_to_thread() {
    within(async {
        let lock = Arc::new(Lock::new(0u8));
        let cond = Arc::new(Condition::new());
        let (a, b, g) = task_then_thread_waiting(&lock, &cond).await;
        assert_eq!(cond.notify(1), 1);
        assert!(a.is_woken(), "FIFO: A first");
        drop(g);
        drop(a);
        let (v, timed_out) = b.join_async().await;
        assert_eq!(v, 1);
        assert!(!timed_out, "B was not woken: the notification was lost");
    })
    .await;
}

/// A is notified while the test holds the lock, polled once (now waiting for
/// the lock), then dropped: B must get the notification.
fn dropped_relocking_waiter_passes_on<G: Relock + std::fmt::Debug>(
    lock: &Lock<u8>,
    guard: impl Fn() -> G,
) {
    let cond = Condition::new();
    let mut a = spawn_pending(cond.wait(guard()));
    let mut b = spawn_pending(cond.wait(guard()));

    let held = lock.lock_blocking();
    assert_eq!(cond.notify(1), 1);
    assert!(a.is_woken() && !b.is_woken());
    assert_pending!(a.poll()); // woken, now waiting for the lock
    assert!(!b.is_woken());
    drop(a);
    assert!(
        b.is_woken(),
        "the notification died with the relocking waiter"
    );
    assert_pending!(b.poll()); // the lock is still held
    drop(held);
    assert!(b.is_woken());
    let g = assert_ready!(b.poll());
    drop(g);
    assert!(!lock.is_locked());
    // The dropped relocker left the lock's waiter count clean: an uncontended
    // lock/unlock cycle still works, and a contended one wakes its waiter.
    let held = lock.lock_blocking();
    let mut c = spawn_pending(lock.lock());
    drop(held);
    assert!(c.is_woken());
    drop(assert_ready!(c.poll()));
    assert!(!lock.is_locked());
}

#[test]
fn dropped_relocking_waiter_passes_notification_on_borrowed_guard() {
    let lock = Lock::new(0u8);
    dropped_relocking_waiter_passes_on(&lock, || lock.lock_blocking());
}

#[test]
fn dropped_relocking_waiter_passes_notification_on_owned_guard() {
    let lock = Arc::new(Lock::new(0u8));
    dropped_relocking_waiter_passes_on(&lock, || lock.lock_arc_blocking());
}

/// The relocking waiter is a task, B is a thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_relocking_task_passes_notification_to_thread() {
    within(async {
        let lock = Arc::new(Lock::new(0u8));
        let cond = Arc::new(Condition::new());
        let (mut a, b, mut held) = task_then_thread_waiting(&lock, &cond).await;
        assert_eq!(cond.notify(1), 1);
        assert_pending!(a.poll()); // now waiting for the lock we hold
        drop(a);
        *held = 2;
        drop(held);
        let (v, timed_out) = b.join_async().await;
        assert_eq!(v, 2);
        assert!(!timed_out, "B was not woken: the notification was lost");
    })
    .await;
}

/// A relocking waiter that has been barged long enough to take the lock's
/// starvation fallback (a reservation, in the current implementation) and is
/// then dropped must pass on both its notification and the lock.
#[test]
fn dropped_starved_relocking_waiter_passes_notification_and_lock_on() {
    let lock = Lock::new(0u8);
    let cond = Condition::new();
    let mut a = spawn_pending(cond.wait(lock.lock_blocking()));
    let mut b = spawn_pending(cond.wait(lock.lock_blocking()));

    let held = lock.lock_blocking();
    assert_eq!(cond.notify(1), 1);
    assert_pending!(a.poll()); // notified, now waiting for the lock
    thread::sleep(Duration::from_millis(5)); // A waits for a while ...
    drop(held); // ... is woken by the unlock ...
    assert!(a.is_woken());
    let held = lock.try_lock().expect("nobody else holds the lock");
    assert_pending!(a.poll()); // ... and barged: it may reserve the lock
    drop(a);
    assert!(
        b.is_woken(),
        "the notification died with the starved waiter"
    );
    assert_pending!(b.poll()); // the lock is still held
    drop(held);
    assert!(b.is_woken(), "the unlock did not reach B");
    let g = assert_ready!(b.poll());
    drop(g);

    // Nothing of A's is left in the lock: it is free, and a contended
    // lock/unlock still wakes its waiter.
    assert!(!lock.is_locked());
    let held = lock.try_lock().expect("the lock stayed reserved");
    let mut c = spawn_pending(lock.lock());
    drop(held);
    assert!(c.is_woken());
    drop(assert_ready!(c.poll()));
    assert_eq!(cond.notify_all(), 0);
}

#[test]
fn dropping_a_pending_wait_leaves_the_lock_unlocked() {
    let lock = Lock::new(());
    let cond = Condition::new();

    // Never polled: the future still owns the guard.
    let w = cond.wait(lock.lock_blocking());
    assert!(lock.is_locked());
    drop(w);
    assert!(!lock.is_locked());

    // Waiting for a notification.
    let w = spawn_pending(cond.wait(lock.lock_blocking()));
    drop(w);
    assert!(!lock.is_locked());
    assert_eq!(cond.notify(1), 0, "a dropped waiter is still counted");

    // Notified, not yet polled.
    let w = spawn_pending(cond.wait(lock.lock_blocking()));
    assert_eq!(cond.notify(1), 1);
    drop(w);
    assert!(!lock.is_locked());

    // Notified and waiting for the lock.
    let mut w = spawn_pending(cond.wait(lock.lock_blocking()));
    let held = lock.lock_blocking();
    assert_eq!(cond.notify(1), 1);
    assert_pending!(w.poll());
    drop(w);
    assert!(lock.is_locked());
    drop(held);
    assert!(!lock.is_locked());
    assert!(lock.try_lock().is_some());
    assert_eq!(cond.notify_all(), 0);

    // wait_while, waiting.
    let w = spawn_pending(cond.wait_while(lock.lock_blocking(), |_| true));
    drop(w);
    assert!(!lock.is_locked());
    assert_eq!(cond.notify_all(), 0);
}

/// Cancellation by `tokio::time::timeout` and by `select!`.
#[tokio::test]
async fn cancelled_by_timeout_or_select_loses_nothing() {
    within(async {
        let lock = Arc::new(Lock::new(()));
        let cond = Condition::new();

        let r = tokio::time::timeout(SHORT, cond.wait(lock.lock().await)).await;
        assert!(r.is_err());
        assert!(!lock.is_locked());
        assert_eq!(cond.notify(1), 0);

        tokio::select! {
            biased;
            _ = cond.wait(lock.lock_arc().await) => panic!("nobody notified"),
            _ = tokio::task::yield_now() => {}
        }
        assert!(!lock.is_locked());
        assert_eq!(cond.notify(1), 0);

        // Later waits work normally.
        let mut w = spawn_pending(cond.wait(lock.lock().await));
        assert_eq!(cond.notify(1), 1);
        drop(assert_ready!(w.poll()));
    })
    .await;
}

/// A notification delivered before the deadline is reported as such, even if
/// the waiter first runs after the deadline.
#[tokio::test]
async fn notified_before_deadline_reports_no_timeout() {
    let lock = Lock::new(());
    let cond = Condition::new();
    let mut w = spawn_pending(cond.wait(lock.lock().await).timeout(SHORT));
    assert_eq!(cond.notify(1), 1);
    // Let the deadline pass before the waiter runs again.
    tokio::time::sleep(2 * SHORT).await;
    let (g, res) = assert_ready!(w.poll());
    assert!(
        !res.timed_out(),
        "a delivered notification was reported as a timeout"
    );
    drop(g);
}

/// A wait first polled from a task and then driven by blocking keeps the
/// notification its listener already holds.
#[test]
fn notification_survives_switching_from_polling_to_blocking() {
    use futures::FutureExt;
    use std::task::{Context, Poll};

    let lock = amphi::Lock::new(());
    let cond = amphi::Condition::new();
    let mut fut = cond.wait(lock.lock_blocking());
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(matches!(fut.poll_unpin(&mut cx), Poll::Pending));
    assert_eq!(cond.notify(1), 1);
    let (_guard, res) = fut.wait_timeout(std::time::Duration::from_secs(5));
    assert!(
        !res.timed_out(),
        "notify(1) reported 1 woken, but the waiter timed out"
    );
}
