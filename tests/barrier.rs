//! Integration tests of `amphi::Barrier`: rounds of threads, tasks and both;
//! indices and the leader; the action (once per trip, before the release,
//! a panic reaching the leader); timeouts that break the barrier for all;
//! `abort` and `reset`; cancellation (a dropped waiter leaves its round, a
//! waiter dropped after the trip hands nothing on, a future kept alive but
//! not polled stops nobody); the ports of CPython's
//! `Lib/test/lock_tests.py` `BarrierTests`, run with threads, with tasks and
//! with both; and a randomized cancellation storm.
//!
//! Every test that waits has a deadline ([`DEADLINE`]): threads are joined
//! with a timeout, async bodies run under `within`, and blocking waits that
//! could hang use `wait_timeout`.

mod common;

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use amphi::futures::{BarrierWait, Timeout};
use amphi::{
    Barrier, BarrierTimeoutError, BarrierWaitResult, BrokenBarrier, Event, Waiters, ZeroParties,
};
use common::{
    DEADLINE, Joiner, Rng, SHORT, assert_elapsed_about, current_thread_runtime, deadline,
    join_task, panic_message, spawn_pending, spawn_thread, wait_until, within,
};
use static_assertions::{assert_impl_all, assert_not_impl_any};
use tokio_test::task::spawn;
use tokio_test::{assert_pending, assert_ready};

// ---------------------------------------------------------------------------
// Helpers: the three modes, and the waits of each world
// ---------------------------------------------------------------------------

/// Who the parties of a test are.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Threads,
    Tasks,
    /// Threads and tasks, alternating.
    Mixed,
}

const MODES: [Mode; 3] = [Mode::Threads, Mode::Tasks, Mode::Mixed];

impl Mode {
    /// Whether party `i` is a thread.
    fn thread(self, i: usize) -> bool {
        match self {
            Mode::Threads => true,
            Mode::Tasks => false,
            Mode::Mixed => i.is_multiple_of(2),
        }
    }
}

/// A party of a test: a thread or a task.
enum Party<T> {
    Thread(Joiner<T>),
    Task(tokio::task::JoinHandle<T>),
}

impl<T: Send + 'static> Party<T> {
    async fn join(self) -> T {
        match self {
            Party::Thread(j) => j.join_async().await,
            Party::Task(h) => join_task(h).await,
        }
    }
}

async fn join_all<T: Send + 'static>(parties: Vec<Party<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for p in parties {
        out.push(p.join().await);
    }
    out
}

/// An untimed wait in the given world.
macro_rules! wait_in {
    (thread, $b:expr) => {
        $b.wait_blocking()
    };
    (task, $b:expr) => {
        $b.wait().await
    };
}

/// A timed wait in the given world.
macro_rules! wait_timeout_in {
    (thread, $b:expr, $t:expr) => {
        $b.wait().wait_timeout($t)
    };
    (task, $b:expr, $t:expr) => {
        $b.wait().timeout($t).await
    };
}

/// Sleeps in the given world.
macro_rules! sleep_in {
    (thread, $d:expr) => {
        std::thread::sleep($d)
    };
    (task, $d:expr) => {
        tokio::time::sleep($d).await
    };
}

/// Waits (with the deadline) until `$c` holds, in the given world.
macro_rules! until_in {
    (thread, $c:expr) => {
        wait_until(stringify!($c), || $c)
    };
    (task, $c:expr) => {{
        let start = Instant::now();
        while !$c {
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting until {}",
                stringify!($c)
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }};
}

/// Spawns party `$i` of a `$mode` test: a thread or a task that runs the
/// scenario macro `$s!(world, args...)`.
macro_rules! spawn_party {
    ($mode:expr, $i:expr, $s:ident!($($args:tt)*)) => {
        if $mode.thread($i) {
            Party::Thread(spawn_thread(move || $s!(thread, $($args)*)))
        } else {
            Party::Task(tokio::spawn(async move { $s!(task, $($args)*) }))
        }
    };
}

/// A thread that runs `f` with the barrier.
fn on_thread<T: Send + 'static>(
    b: &Arc<Barrier>,
    f: impl FnOnce(&Barrier) -> T + Send + 'static,
) -> Joiner<T> {
    let b = Arc::clone(b);
    spawn_thread(move || f(&b))
}

/// A task that awaits `b.wait()`.
fn wait_task(
    b: &Arc<Barrier>,
) -> tokio::task::JoinHandle<Result<BarrierWaitResult, BrokenBarrier>> {
    let b = Arc::clone(b);
    tokio::spawn(async move { b.wait().await })
}

/// The indices of `results`, sorted, and how many were leaders.
fn indices_and_leaders(results: &[BarrierWaitResult]) -> (Vec<usize>, usize) {
    let mut idx: Vec<_> = results.iter().map(|r| r.index()).collect();
    idx.sort_unstable();
    (idx, results.iter().filter(|r| r.is_leader()).count())
}

/// One complete round: distinct indices `0..n`, one leader, at `n - 1`.
#[track_caller]
fn assert_one_round(results: &[BarrierWaitResult], n: usize) {
    let (idx, leaders) = indices_and_leaders(results);
    assert_eq!(idx, (0..n).collect::<Vec<_>>(), "indices of one round");
    assert_eq!(leaders, 1, "one leader per round");
    let leader = results.iter().find(|r| r.is_leader()).unwrap();
    assert_eq!(leader.index(), n - 1, "the leader tripped the barrier");
}

/// The barrier is quiet: nobody counted, nobody waiting.
#[track_caller]
fn assert_quiet(b: &Barrier) {
    assert_eq!(b.n_waiting(), 0, "n_waiting");
    assert_eq!(b.waiters(), Waiters::default(), "waiters()");
}

/// A context whose waker does nothing.
fn noop_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// Polls `fut` once with a no-op waker.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut noop_cx())
}

// ---------------------------------------------------------------------------
// Compile-time checks
// ---------------------------------------------------------------------------

assert_impl_all!(Barrier: Send, Sync, std::fmt::Debug);
assert_impl_all!(BarrierWait<'static>: Send, Sync, Unpin, std::fmt::Debug, Future);
assert_impl_all!(Timeout<BarrierWait<'static>>: Send, std::fmt::Debug, Future);
assert_not_impl_any!(Timeout<BarrierWait<'static>>: Unpin);
assert_impl_all!(BarrierWaitResult: Send, Sync, Unpin, Copy, Eq, std::hash::Hash, std::fmt::Debug);
assert_impl_all!(BrokenBarrier: std::error::Error, Send, Sync, Copy, Eq);
assert_impl_all!(BarrierTimeoutError: std::error::Error, Send, Sync, Copy, Eq);
assert_impl_all!(ZeroParties: std::error::Error, Send, Sync, Copy, Eq);
assert_impl_all!(BrokenBarrier: From<BarrierTimeoutError>);
assert_impl_all!(BarrierTimeoutError: From<BrokenBarrier>);

/// The future of a `'static` barrier can be spawned.
#[tokio::test]
async fn futures_are_spawnable() {
    static B: std::sync::LazyLock<Barrier> = std::sync::LazyLock::new(|| Barrier::new(1));
    let r = within(tokio::spawn(B.wait())).await.unwrap().unwrap();
    assert!(r.is_leader());
    let r = within(tokio::spawn(B.wait().timeout(DEADLINE)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.index(), 0);
}

// ---------------------------------------------------------------------------
// Construction, accessors, errors
// ---------------------------------------------------------------------------

#[test]
#[should_panic(expected = "a Barrier needs at least one party")]
fn zero_parties_panics_in_new() {
    let _ = Barrier::new(0);
}

#[test]
#[should_panic(expected = "a Barrier needs at least one party")]
fn zero_parties_panics_in_with_action() {
    let _ = Barrier::with_action(0, || ());
}

#[test]
fn zero_parties_is_an_error_in_try_new() {
    assert_eq!(Barrier::try_new(0).unwrap_err(), ZeroParties);
    assert_eq!(Barrier::try_with_action(0, || ()).unwrap_err(), ZeroParties);
    assert_eq!(
        ZeroParties.to_string(),
        "a barrier needs at least one party"
    );
    assert_eq!(Barrier::try_new(2).unwrap().parties(), 2);
    assert_eq!(Barrier::try_with_action(3, || ()).unwrap().parties(), 3);
}

#[test]
fn accessors_and_debug() {
    let b = Barrier::new(3);
    assert_eq!(b.parties(), 3);
    assert!(!b.is_broken());
    assert_quiet(&b);
    let dbg = format!("{b:?}");
    assert!(
        dbg.contains("parties: 3") && dbg.contains("n_waiting: 0"),
        "{dbg}"
    );
    assert!(dbg.contains("broken: false"), "{dbg}");

    let mut w = b.wait();
    assert!(format!("{w:?}").contains("not arrived"));
    assert_eq!(b.n_waiting(), 0, "a waiter arrives when first polled");
    assert!(poll_once(&mut w).is_pending());
    assert_eq!(b.n_waiting(), 1);
    assert!(format!("{w:?}").contains("arrived"));
    drop(w);
    b.abort();
    assert!(format!("{b:?}").contains("broken: true"));
}

#[test]
fn errors_display_and_convert() {
    assert_eq!(BrokenBarrier.to_string(), "the barrier is broken");
    assert_eq!(
        BarrierTimeoutError::Broken.to_string(),
        "the barrier is broken"
    );
    assert!(
        BarrierTimeoutError::TimedOut
            .to_string()
            .contains("timed out")
    );
    assert_eq!(
        BrokenBarrier::from(BarrierTimeoutError::TimedOut),
        BrokenBarrier
    );
    assert_eq!(
        BrokenBarrier::from(BarrierTimeoutError::Broken),
        BrokenBarrier
    );
    assert_eq!(
        BarrierTimeoutError::from(BrokenBarrier),
        BarrierTimeoutError::Broken
    );
    // `?` turns a timed error into `BrokenBarrier`.
    fn timed(b: &Barrier) -> Result<usize, BrokenBarrier> {
        Ok(b.wait().wait_timeout(Duration::ZERO)?.index())
    }
    assert_eq!(timed(&Barrier::new(1)), Ok(0));
    assert_eq!(timed(&Barrier::new(2)), Err(BrokenBarrier));
}

/// Python's `test_single_thread`, on every path: a one-party barrier trips
/// at each wait, and its single waiter is the leader, at index 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_party_trips_at_every_wait() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    let b = Barrier::with_action(1, move || {
        r.fetch_add(1, SeqCst);
    });
    let one = b.wait_blocking().unwrap();
    assert_eq!((one.index(), one.is_leader()), (0, true));
    assert_eq!(b.wait().wait().unwrap(), one);
    assert_eq!(b.wait().wait_timeout(Duration::ZERO).unwrap(), one);
    assert_eq!(b.wait().wait_deadline(Instant::now() - SHORT).unwrap(), one);
    assert_eq!(b.wait().await.unwrap(), one);
    assert_eq!(b.wait().timeout(Duration::ZERO).await.unwrap(), one);
    assert_eq!(
        b.wait().timeout_at(Instant::now() - SHORT).await.unwrap(),
        one
    );
    assert_eq!(assert_ready!(spawn(b.wait()).poll()).unwrap(), one);
    assert_eq!(runs.load(SeqCst), 8);
    assert!(!b.is_broken());
    assert_quiet(&b);
}

// ---------------------------------------------------------------------------
// Rounds: threads, tasks and both
// ---------------------------------------------------------------------------

/// Threads (untimed, timed, deadline), tasks (untimed, timed, deadline) and
/// a hand-polled future meet at one barrier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_tasks_and_futures_meet() {
    within(async {
        let b = Arc::new(Barrier::new(7));
        let t1 = on_thread(&b, |b| b.wait_blocking().unwrap());
        let t2 = on_thread(&b, |b| b.wait().wait_timeout(DEADLINE).unwrap());
        let t3 = on_thread(&b, |b| b.wait().wait_deadline(deadline()).unwrap());
        let k1 = wait_task(&b);
        let bb = Arc::clone(&b);
        let k2 = tokio::spawn(async move { bb.wait().timeout(DEADLINE).await.unwrap() });
        let bb = Arc::clone(&b);
        let k3 = tokio::spawn(async move { bb.wait().timeout_at(deadline()).await.unwrap() });
        until_in!(task, b.n_waiting() == 6 && b.waiters().total() == 6);
        assert!(
            b.waiters().threads >= 1 && b.waiters().tasks >= 1,
            "{:?}",
            b.waiters()
        );
        // The last party is a hand-polled future: it trips the barrier.
        let mut last = spawn(b.wait());
        let mine = assert_ready!(last.poll()).unwrap();
        assert!(mine.is_leader());
        let mut results = vec![mine, t1.join_async().await, t2.join_async().await];
        results.push(t3.join_async().await);
        results.push(join_task(k1).await.unwrap());
        results.push(join_task(k2).await);
        results.push(join_task(k3).await);
        assert_one_round(&results, 7);
        assert_quiet(&b);
    })
    .await;
}

/// Many rounds: each party's k-th wait is in round k; every round has the
/// indices `0..n` once, one leader, and one run of the action, which ran
/// before anyone of its round was released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indices_are_distinct_in_every_round() {
    const N: usize = 4;
    const ROUNDS: usize = 200;
    macro_rules! rounds {
        ($w:ident, $b:expr, $trips:expr) => {{
            let (b, trips): (&Barrier, &AtomicUsize) = (&$b, &$trips);
            let mut mine = Vec::new();
            for k in 0..ROUNDS {
                let r = wait_in!($w, b).unwrap();
                // The action of round k ran before round k released anyone,
                // and round k + 1 cannot trip before this party arrives.
                assert_eq!(trips.load(SeqCst), k + 1);
                mine.push(r);
            }
            mine
        }};
    }
    for mode in MODES {
        within(async {
            let trips = Arc::new(AtomicUsize::new(0));
            let t = Arc::clone(&trips);
            let b = Arc::new(Barrier::with_action(N, move || {
                t.fetch_add(1, SeqCst);
            }));
            let parties: Vec<_> = (0..N)
                .map(|i| {
                    let (b, trips) = (Arc::clone(&b), Arc::clone(&trips));
                    spawn_party!(mode, i, rounds!(b, trips))
                })
                .collect();
            let all = join_all(parties).await;
            for k in 0..ROUNDS {
                let round: Vec<_> = all.iter().map(|mine| mine[k]).collect();
                assert_one_round(&round, N);
            }
            assert_eq!(trips.load(SeqCst), ROUNDS, "{mode:?}");
            assert_quiet(&b);
        })
        .await;
    }
}

/// A blocking wait from a multi-thread runtime's task moves the worker's
/// other tasks away: a task on the same runtime can still come and trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_wait_inside_a_multi_thread_task() {
    within(async {
        let b = Arc::new(Barrier::new(2));
        let bb = Arc::clone(&b);
        let blocker = tokio::spawn(async move { bb.wait_blocking().unwrap() });
        until_in!(task, b.n_waiting() == 1);
        let other = wait_task(&b);
        let results = [join_task(blocker).await, join_task(other).await.unwrap()];
        assert_one_round(&results, 2);
    })
    .await;
}

/// On the thread of a current-thread runtime, a blocking wait panics every
/// time, naming the method, even as the last arriver; nothing is counted.
#[test]
fn blocking_wait_on_a_current_thread_runtime_panics() {
    let rt = current_thread_runtime();
    rt.block_on(async {
        let b = Barrier::new(1);
        let err = panic::catch_unwind(AssertUnwindSafe(|| b.wait_blocking())).unwrap_err();
        assert!(panic_message(&*err).contains("Barrier::wait_blocking"));
        let err = panic::catch_unwind(AssertUnwindSafe(|| b.wait().wait())).unwrap_err();
        assert!(panic_message(&*err).contains("Barrier::wait"));
        let err =
            panic::catch_unwind(AssertUnwindSafe(|| b.wait().wait_timeout(SHORT))).unwrap_err();
        assert!(panic_message(&*err).contains("Barrier::wait"));
        assert_quiet(&b);
        assert!(!b.is_broken());
        // The async form works there.
        assert!(b.wait().await.unwrap().is_leader());
    });
}

// ---------------------------------------------------------------------------
// Deterministic poll tests
// ---------------------------------------------------------------------------

/// Arrival order gives the indices; the trip wakes every waiter at once; the
/// leader returns in the poll that tripped.
#[test]
fn the_trip_wakes_every_waiter() {
    let b = Barrier::new(4);
    let mut ws: Vec<_> = (0..3).map(|_| spawn_pending(b.wait())).collect();
    assert_eq!(b.n_waiting(), 3);
    assert_eq!(
        b.waiters(),
        Waiters {
            threads: 0,
            tasks: 3
        }
    );
    assert!(ws.iter().all(|w| !w.is_woken()));
    let mut last = spawn(b.wait());
    let lead = assert_ready!(last.poll()).unwrap();
    assert_eq!((lead.index(), lead.is_leader()), (3, true));
    assert_eq!(b.n_waiting(), 0, "the next round is empty");
    for (i, w) in ws.iter_mut().enumerate() {
        assert!(w.is_woken(), "the trip missed waiter {i}");
        let r = assert_ready!(w.poll()).unwrap();
        assert_eq!((r.index(), r.is_leader()), (i, false));
    }
    assert_quiet(&b);
}

/// A dropped waiter leaves its round: the count goes back down, the next
/// arrival takes the freed index, and the trip needs the full count
/// (tokio#6493 must not happen).
#[test]
fn a_dropped_waiter_leaves_its_round() {
    let b = Barrier::new(3);
    let a = spawn_pending(b.wait()); // index 0
    let mut c = spawn_pending(b.wait()); // index 1
    assert_eq!(b.n_waiting(), 2);
    drop(a);
    assert_eq!(b.n_waiting(), 1);
    assert_eq!(b.waiters().total(), 1);
    let mut d = spawn_pending(b.wait()); // takes index 0
    assert_eq!(b.n_waiting(), 2);
    assert!(!c.is_woken() && !d.is_woken());
    let mut e = spawn(b.wait());
    let lead = assert_ready!(e.poll()).unwrap();
    assert_eq!(lead.index(), 2);
    assert_eq!(assert_ready!(c.poll()).unwrap().index(), 1);
    assert_eq!(assert_ready!(d.poll()).unwrap().index(), 0);

    // Never-polled futures never arrived; dropping them changes nothing.
    drop(b.wait());
    // The next round needs three parties again.
    let mut f = spawn_pending(b.wait());
    let g = spawn_pending(b.wait());
    drop(g);
    let mut h = spawn_pending(b.wait());
    assert!(!f.is_woken() && !h.is_woken());
    assert_pending!(f.poll());
    assert_eq!(b.n_waiting(), 2);
    let mut i = spawn(b.wait());
    assert!(assert_ready!(i.poll()).unwrap().is_leader());
    assert_eq!(assert_ready!(f.poll()).unwrap().index(), 0);
    assert_eq!(assert_ready!(h.poll()).unwrap().index(), 1);
    assert_quiet(&b);
}

/// Several waiters leave; indices stay distinct and the leader is still at
/// `parties - 1`.
#[test]
fn freed_indices_are_reused_lowest_first() {
    let b = Barrier::new(4);
    let w0 = spawn_pending(b.wait());
    let mut w1 = spawn_pending(b.wait());
    let w2 = spawn_pending(b.wait());
    drop(w2);
    drop(w0);
    assert_eq!(b.n_waiting(), 1);
    let mut x = spawn_pending(b.wait()); // 0
    let mut y = spawn_pending(b.wait()); // 2
    let mut z = spawn(b.wait());
    let lead = assert_ready!(z.poll()).unwrap();
    assert_eq!((lead.index(), lead.is_leader()), (3, true));
    let got = [
        assert_ready!(w1.poll()).unwrap().index(),
        assert_ready!(x.poll()).unwrap().index(),
        assert_ready!(y.poll()).unwrap().index(),
    ];
    assert_eq!(got, [1, 0, 2]);
}

/// A waiter dropped after the trip woke it hands nothing on: a waiter of
/// the next round is not released by it.
#[test]
fn a_waiter_dropped_after_the_trip_hands_nothing_on() {
    let b = Barrier::new(2);
    let a = spawn_pending(b.wait());
    let mut lead = spawn(b.wait());
    assert!(assert_ready!(lead.poll()).unwrap().is_leader());
    assert!(a.is_woken());
    drop(a); // woken by the trip, never polled again
    assert_quiet(&b);
    let mut c = spawn_pending(b.wait());
    assert!(!c.is_woken(), "a dropped waiter handed the trip on");
    assert_pending!(c.poll());
    assert_eq!(b.n_waiting(), 1);
    let mut d = spawn(b.wait());
    assert!(assert_ready!(d.poll()).unwrap().is_leader());
    assert_eq!(assert_ready!(c.poll()).unwrap().index(), 0);
    assert_quiet(&b);
}

/// Principle 4b: a future kept alive but not polled stops nobody. Its round
/// trips, later rounds trip and break without it, and when it is polled at
/// last it reports its own round's outcome.
#[test]
fn a_future_kept_but_not_polled_stops_nobody() {
    let b = Barrier::new(2);
    let mut stale_ok = spawn_pending(b.wait());
    let mut l = spawn(b.wait());
    assert!(assert_ready!(l.poll()).unwrap().is_leader());
    // Round 2 trips without it, round 3 breaks, and the barrier is reset.
    for _ in 0..2 {
        let mut x = spawn_pending(b.wait());
        assert!(assert_ready!(spawn(b.wait()).poll()).is_ok());
        assert!(assert_ready!(x.poll()).is_ok());
    }
    let mut stale_broken = spawn_pending(b.wait());
    b.abort();
    let mut y = spawn(b.wait());
    assert_eq!(assert_ready!(y.poll()), Err(BrokenBarrier));
    b.reset();
    let mut x = spawn_pending(b.wait());
    assert!(assert_ready!(spawn(b.wait()).poll()).is_ok());
    assert!(assert_ready!(x.poll()).is_ok());
    // Polled at last: each reports its own round.
    let r = assert_ready!(stale_ok.poll()).unwrap();
    assert_eq!((r.index(), r.is_leader()), (0, false));
    assert_eq!(assert_ready!(stale_broken.poll()), Err(BrokenBarrier));
    assert_quiet(&b);
}

/// Many rounds pass while a dozen futures of old rounds are kept: they are
/// each told their own round's outcome.
#[test]
fn old_rounds_keep_their_outcome() {
    let b = Barrier::new(2);
    let mut kept = Vec::new();
    for round in 0..12 {
        let w = spawn_pending(b.wait());
        if round % 3 == 2 {
            b.reset(); // breaks this round
        } else {
            assert!(assert_ready!(spawn(b.wait()).poll()).unwrap().is_leader());
        }
        kept.push((round % 3 != 2, w));
    }
    for (tripped, mut w) in kept {
        assert!(w.is_woken());
        assert_eq!(assert_ready!(w.poll()).is_ok(), tripped);
    }
    assert_quiet(&b);
}

/// A future first polled from a task and then blocked on keeps its place.
#[test]
fn polled_then_blocked_on() {
    let b = Arc::new(Barrier::new(2));
    let mut w = b.wait();
    assert!(poll_once(&mut w).is_pending());
    assert_eq!(
        b.waiters(),
        Waiters {
            threads: 0,
            tasks: 1
        }
    );
    let t = on_thread(&b, |b| {
        wait_until("the first waiter blocks", || b.waiters().threads == 1);
        b.wait_blocking().unwrap()
    });
    let mine = w.wait_timeout(DEADLINE).unwrap();
    assert_eq!(mine.index(), 0);
    assert!(t.join().is_leader());
    assert_quiet(&b);
}

/// Polling a finished future is a bug, reported as such.
#[test]
fn polling_after_completion_panics() {
    let b = Barrier::new(1);
    let mut w = b.wait();
    assert!(poll_once(&mut w).is_ready());
    let err = panic::catch_unwind(AssertUnwindSafe(|| poll_once(&mut w))).unwrap_err();
    assert!(panic_message(&*err).contains("polled after it completed"));
}

// ---------------------------------------------------------------------------
// Timeouts break the barrier for everyone
// ---------------------------------------------------------------------------

/// A thread's timed wait runs out: it gets `TimedOut`, the thread and task
/// and future waiting with it get `Broken`, and so does every later wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_timeout_breaks_the_barrier_for_all() {
    within(async {
        let b = Arc::new(Barrier::new(5));
        let t = on_thread(&b, |b| b.wait_blocking());
        let k = wait_task(&b);
        let mut f = spawn_pending(b.wait());
        until_in!(task, b.n_waiting() == 3);
        let timed = on_thread(&b, |b| {
            let start = Instant::now();
            let r = b.wait().wait_timeout(SHORT);
            (r, start)
        });
        let (r, start) = timed.join_async().await;
        assert_eq!(r, Err(BarrierTimeoutError::TimedOut));
        assert_elapsed_about(start, SHORT);
        assert_eq!(t.join_async().await, Err(BrokenBarrier));
        assert_eq!(join_task(k).await, Err(BrokenBarrier));
        assert!(f.is_woken());
        assert_eq!(assert_ready!(f.poll()), Err(BrokenBarrier));
        assert!(b.is_broken());
        assert_quiet(&b);
        // Later waits fail at once, timed ones with `Broken`.
        let start = Instant::now();
        assert_eq!(b.wait().await, Err(BrokenBarrier));
        assert_eq!(
            b.wait().timeout(DEADLINE).await,
            Err(BarrierTimeoutError::Broken)
        );
        let b2 = Arc::clone(&b);
        let later = spawn_thread(move || (b2.wait_blocking(), b2.wait().wait_deadline(deadline())));
        assert_eq!(
            later.join_async().await,
            (Err(BrokenBarrier), Err(BarrierTimeoutError::Broken))
        );
        assert!(start.elapsed() < DEADLINE / 2);
    })
    .await;
}

/// The same with an async timeout, on a current-thread runtime.
#[tokio::test]
async fn an_async_timeout_breaks_the_barrier_for_all() {
    within(async {
        for at in [false, true] {
            let b = Arc::new(Barrier::new(4));
            let k = wait_task(&b);
            let t = on_thread(&b, |b| b.wait().wait_timeout(DEADLINE));
            until_in!(task, b.n_waiting() == 2);
            let start = Instant::now();
            let r = if at {
                b.wait().timeout_at(start + SHORT).await
            } else {
                b.wait().timeout(SHORT).await
            };
            assert_eq!(r, Err(BarrierTimeoutError::TimedOut));
            assert_elapsed_about(start, SHORT);
            assert_eq!(join_task(k).await, Err(BrokenBarrier));
            assert_eq!(t.join_async().await, Err(BarrierTimeoutError::Broken));
            assert!(b.is_broken());
            assert_quiet(&b);
        }
    })
    .await;
}

/// A zero timeout (or a deadline in the past) succeeds only for the last
/// arriver; anyone else breaks the barrier at once (as Python's
/// `wait(timeout=0)`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_timeouts() {
    let b = Barrier::new(2);
    let start = Instant::now();
    assert_eq!(
        b.wait().wait_timeout(Duration::ZERO),
        Err(BarrierTimeoutError::TimedOut)
    );
    assert!(b.is_broken());
    b.reset();
    assert_eq!(
        b.wait().timeout_at(Instant::now() - SHORT).await,
        Err(BarrierTimeoutError::TimedOut)
    );
    b.reset();
    let mut first = spawn_pending(b.wait());
    let r = b.wait().wait_deadline(Instant::now() - SHORT).unwrap();
    assert!(r.is_leader());
    assert_eq!(assert_ready!(first.poll()).unwrap().index(), 0);
    let mut first = spawn_pending(b.wait());
    assert!(b.wait().timeout(Duration::ZERO).await.unwrap().is_leader());
    assert!(assert_ready!(first.poll()).is_ok());
    assert!(
        start.elapsed() < DEADLINE / 2,
        "zero timeouts must not wait"
    );
    assert!(!b.is_broken());
    assert_quiet(&b);
}

/// A waiter whose time runs out while the action runs has tripped: it gets
/// `Ok`, nothing breaks (Python: the waiter re-takes the lock after the
/// action and sees the trip).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_during_the_action_still_trips() {
    within(async {
        for leader_is_task in [false, true] {
            // The timed waits give the leader 200 ms to come; the action
            // outlasts them.
            let b = Arc::new(Barrier::with_action(3, || {
                std::thread::sleep(12 * SHORT);
            }));
            let t = on_thread(&b, |b| b.wait().wait_timeout(4 * SHORT));
            let bb = Arc::clone(&b);
            let k = tokio::spawn(async move { bb.wait().timeout(4 * SHORT).await });
            until_in!(task, b.n_waiting() == 2);
            let start = Instant::now();
            let lead = if leader_is_task {
                let bb = Arc::clone(&b);
                join_task(tokio::spawn(async move { bb.wait().await })).await
            } else {
                on_thread(&b, |b| b.wait_blocking()).join_async().await
            };
            assert!(lead.unwrap().is_leader());
            assert!(start.elapsed() >= 12 * SHORT);
            assert!(t.join_async().await.is_ok(), "timed out during the action");
            assert!(join_task(k).await.is_ok(), "timed out during the action");
            assert!(!b.is_broken());
            assert_quiet(&b);
        }
    })
    .await;
}

/// An arrival whose time runs out while another round's action still runs
/// (it has not joined a round yet) breaks the barrier; the round whose
/// action runs still trips.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_while_waiting_for_an_action_breaks_the_barrier() {
    within(async {
        for timed_task in [false, true] {
            let started = Arc::new(Event::new());
            let resume = Arc::new(Event::new());
            let (s, r) = (Arc::clone(&started), Arc::clone(&resume));
            let b = Arc::new(Barrier::with_action(1, move || {
                s.set();
                assert!(r.wait().wait_timeout(DEADLINE));
            }));
            let lead = on_thread(&b, |b| b.wait_blocking());
            assert!(started.wait().timeout(DEADLINE).await);
            let start = Instant::now();
            let r = if timed_task {
                b.wait().timeout(SHORT).await
            } else {
                on_thread(&b, |b| b.wait().wait_timeout(SHORT))
                    .join_async()
                    .await
            };
            assert_eq!(r, Err(BarrierTimeoutError::TimedOut));
            assert_elapsed_about(start, SHORT);
            assert!(b.is_broken());
            resume.set();
            assert!(lead.join_async().await.unwrap().is_leader());
            assert_eq!(b.wait().await, Err(BrokenBarrier));
            assert_quiet(&b);
        }
    })
    .await;
}

/// A timeout too large for `Instant` means "wait forever", on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_timeouts_saturate() {
    within(async {
        let b = Arc::new(Barrier::new(3));
        let t = on_thread(&b, |b| b.wait().wait_timeout(Duration::MAX));
        let bb = Arc::clone(&b);
        let k = tokio::spawn(async move { bb.wait().timeout(Duration::MAX).await });
        until_in!(task, b.n_waiting() == 2);
        let r = b.wait().await.unwrap();
        assert!(r.is_leader());
        assert!(t.join_async().await.is_ok());
        assert!(join_task(k).await.is_ok());
    })
    .await;
}

// ---------------------------------------------------------------------------
// abort and reset
// ---------------------------------------------------------------------------

/// `abort` wakes every waiter, thread, task and future, with `Broken`;
/// later waits fail until `reset`, and then the barrier works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_breaks_current_and_future_waiters() {
    within(async {
        let b = Arc::new(Barrier::new(4));
        let t = on_thread(&b, |b| b.wait().wait_timeout(DEADLINE));
        let k = wait_task(&b);
        let mut f = spawn_pending(b.wait());
        until_in!(task, b.n_waiting() == 3);
        b.abort();
        assert!(b.is_broken());
        assert_eq!(b.n_waiting(), 0);
        assert_eq!(t.join_async().await, Err(BarrierTimeoutError::Broken));
        assert_eq!(join_task(k).await, Err(BrokenBarrier));
        assert!(f.is_woken());
        assert_eq!(assert_ready!(f.poll()), Err(BrokenBarrier));
        assert_eq!(b.wait().await, Err(BrokenBarrier));
        b.abort(); // idempotent
        assert_quiet(&b);

        b.reset();
        assert!(!b.is_broken());
        let parties: Vec<_> = (0..3).map(|_| wait_task(&b)).collect();
        let t = on_thread(&b, |b| b.wait_blocking());
        let mut results = vec![t.join_async().await.unwrap()];
        for k in parties {
            results.push(join_task(k).await.unwrap());
        }
        assert_one_round(&results, 4);
    })
    .await;
}

/// `reset` breaks the round in progress for its waiters, and the barrier is
/// usable at once, with the full count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_with_waiters() {
    within(async {
        let b = Arc::new(Barrier::new(3));
        let t = on_thread(&b, |b| b.wait_blocking());
        let k = wait_task(&b);
        until_in!(task, b.n_waiting() == 2);
        b.reset();
        assert!(!b.is_broken(), "reset leaves the barrier usable");
        assert_eq!(b.n_waiting(), 0);
        assert_eq!(t.join_async().await, Err(BrokenBarrier));
        assert_eq!(join_task(k).await, Err(BrokenBarrier));
        // The next round needs all three.
        let mut x = spawn_pending(b.wait());
        let mut y = spawn_pending(b.wait());
        assert_eq!(b.n_waiting(), 2);
        let z = b.wait().await.unwrap();
        assert!(z.is_leader());
        assert!(assert_ready!(x.poll()).is_ok() && assert_ready!(y.poll()).is_ok());
        // Resetting an idle, unbroken barrier changes nothing.
        b.reset();
        assert!(!b.is_broken());
        assert_quiet(&b);
    })
    .await;
}

/// The action may call `abort` and `reset` (in Python both deadlock there)
/// and `n_waiting` (which gives `parties`, as in Python). Its round trips
/// anyway; an `abort` breaks the barrier for the rounds after it.
#[test]
fn the_action_may_use_the_barrier() {
    let seen = Arc::new(AtomicUsize::new(usize::MAX));
    let cell: Arc<std::sync::OnceLock<std::sync::Weak<Barrier>>> = Arc::default();
    let (s, c) = (Arc::clone(&seen), Arc::clone(&cell));
    let b = Arc::new(Barrier::with_action(2, move || {
        let b = c.get().unwrap().upgrade().unwrap();
        s.store(b.n_waiting(), SeqCst);
        assert!(!b.is_broken());
        b.abort();
        assert!(b.is_broken());
    }));
    cell.set(Arc::downgrade(&b)).unwrap();
    let mut first = spawn_pending(b.wait());
    let lead = b.wait().wait_timeout(DEADLINE).unwrap();
    assert!(lead.is_leader(), "the trip stands");
    assert_eq!(assert_ready!(first.poll()).unwrap().index(), 0);
    assert_eq!(seen.load(SeqCst), 2);
    assert!(b.is_broken());
    assert_eq!(b.wait_blocking(), Err(BrokenBarrier));
    b.reset();
    assert!(!b.is_broken());
    assert_quiet(&b);
}

/// `abort` and `reset` from other threads while the action runs do not undo
/// the trip: every waiter of that round gets `Ok`; the abort breaks the
/// barrier for later rounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_or_reset_during_the_action_does_not_undo_the_trip() {
    within(async {
        for abort in [true, false] {
            let started = Arc::new(Event::new());
            let resume = Arc::new(Event::new());
            let (s, r) = (Arc::clone(&started), Arc::clone(&resume));
            let b = Arc::new(Barrier::with_action(3, move || {
                s.set();
                assert!(r.wait().wait_timeout(DEADLINE));
            }));
            let t = on_thread(&b, |b| b.wait().wait_timeout(DEADLINE));
            let k = wait_task(&b);
            until_in!(task, b.n_waiting() == 2);
            let lead = on_thread(&b, |b| b.wait_blocking());
            assert!(started.wait().timeout(DEADLINE).await);
            assert_eq!(b.n_waiting(), 3, "all parties are in while the action runs");
            // An arrival during the action waits for it to end, then joins
            // the next round (or finds the barrier broken).
            let late = wait_task(&b);
            if abort {
                b.abort();
                assert!(b.is_broken());
            } else {
                b.reset();
            }
            resume.set();
            assert!(lead.join_async().await.unwrap().is_leader());
            assert!(t.join_async().await.is_ok());
            assert!(join_task(k).await.is_ok());
            if abort {
                assert_eq!(join_task(late).await, Err(BrokenBarrier));
                assert!(b.is_broken());
            } else {
                until_in!(task, b.n_waiting() == 1);
                let mut second = spawn_pending(b.wait());
                assert!(b.wait().await.unwrap().is_leader());
                assert!(assert_ready!(second.poll()).is_ok());
                assert!(join_task(late).await.is_ok());
                assert!(!b.is_broken());
            }
            assert_quiet(&b);
        }
    })
    .await;
}

/// An arrival while the action runs waits until the action has finished,
/// so two actions never overlap, and is counted only in the next round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrivals_wait_while_the_action_runs() {
    within(async {
        let running = Arc::new(AtomicBool::new(false));
        let overlap = Arc::new(AtomicBool::new(false));
        let (r, o) = (Arc::clone(&running), Arc::clone(&overlap));
        let b = Arc::new(Barrier::with_action(2, move || {
            if r.swap(true, SeqCst) {
                o.store(true, SeqCst);
            }
            std::thread::sleep(Duration::from_millis(2));
            r.store(false, SeqCst);
        }));
        // Eight parties, four rounds at once, 200 arrivals in all (an even
        // number, so nobody is left alone at the end).
        let tickets = Arc::new(AtomicUsize::new(0));
        let mut parties = Vec::new();
        for i in 0..8usize {
            let tickets = Arc::clone(&tickets);
            if i.is_multiple_of(2) {
                parties.push(Party::Thread(on_thread(&b, move |b| {
                    let mut n = 0;
                    while tickets.fetch_add(1, SeqCst) < 200 {
                        b.wait_blocking().unwrap();
                        n += 1;
                    }
                    n
                })));
            } else {
                let bb = Arc::clone(&b);
                parties.push(Party::Task(tokio::spawn(async move {
                    let mut n = 0;
                    while tickets.fetch_add(1, SeqCst) < 200 {
                        bb.wait().await.unwrap();
                        n += 1;
                    }
                    n
                })));
            }
        }
        assert_eq!(join_all(parties).await.iter().sum::<usize>(), 200);
        assert!(!overlap.load(SeqCst), "two actions ran at once");
        assert_quiet(&b);
    })
    .await;
}

/// A wait on the barrier from its own action could only wait for itself:
/// it panics, which breaks the barrier and reaches the leader.
#[test]
fn a_wait_from_the_action_panics() {
    let cell: Arc<std::sync::OnceLock<std::sync::Weak<Barrier>>> = Arc::default();
    let c = Arc::clone(&cell);
    let b = Arc::new(Barrier::with_action(1, move || {
        let b = c.get().unwrap().upgrade().unwrap();
        let _ = b.wait().wait_timeout(SHORT);
    }));
    cell.set(Arc::downgrade(&b)).unwrap();
    let err = panic::catch_unwind(AssertUnwindSafe(|| b.wait_blocking())).unwrap_err();
    assert!(panic_message(&*err).contains("from the barrier's own action"));
    assert!(b.is_broken());
    assert_quiet(&b);
}

// ---------------------------------------------------------------------------
// An action that panics
// ---------------------------------------------------------------------------

/// The panic reaches the leader (thread or task); the others get `Broken`;
/// the barrier is broken, not poisoned: `reset` makes it work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_action_breaks_the_barrier() {
    within(async {
        for leader_is_task in [false, true] {
            let fail = Arc::new(AtomicBool::new(true));
            let runs = Arc::new(AtomicUsize::new(0));
            let (f, r) = (Arc::clone(&fail), Arc::clone(&runs));
            let b = Arc::new(Barrier::with_action(3, move || {
                r.fetch_add(1, SeqCst);
                if f.swap(false, SeqCst) {
                    panic!("boom");
                }
            }));
            let t = on_thread(&b, |b| b.wait().wait_timeout(DEADLINE));
            let mut f = spawn_pending(b.wait());
            until_in!(task, b.n_waiting() == 2);
            let message = if leader_is_task {
                let err = within(wait_task(&b)).await.unwrap_err();
                assert!(err.is_panic());
                panic_message(&*err.into_panic())
            } else {
                let err = on_thread(&b, |b| b.wait_blocking())
                    .join_outcome()
                    .unwrap_err();
                panic_message(&*err)
            };
            assert_eq!(message, "boom");
            assert_eq!(t.join_async().await, Err(BarrierTimeoutError::Broken));
            assert_eq!(assert_ready!(f.poll()), Err(BrokenBarrier));
            assert!(b.is_broken());
            assert_eq!(b.wait().await, Err(BrokenBarrier));
            assert_quiet(&b);

            b.reset();
            let mut x = spawn_pending(b.wait());
            let mut y = spawn_pending(b.wait());
            assert!(b.wait().await.unwrap().is_leader());
            assert!(assert_ready!(x.poll()).is_ok() && assert_ready!(y.poll()).is_ok());
            assert_eq!(runs.load(SeqCst), 2);
            assert_quiet(&b);
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// Ports of CPython's Lib/test/lock_tests.py BarrierTests (3.11), each run
// with threads, with tasks, and with both. `test_default_timeout` has no
// port: amphi has no default timeout. `test_repr` is `accessors_and_debug`.
// ---------------------------------------------------------------------------

/// `BarrierTests.N`.
const N: usize = 5;

/// test_barrier / test_barrier_10: the barrier is passed in lockstep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpython_test_barrier() {
    macro_rules! multipass {
        ($w:ident, $b:expr, $res:expr, $passes:expr) => {{
            let (b, res): (&Barrier, &(AtomicUsize, AtomicUsize)) = (&$b, &$res);
            let m = b.parties();
            assert_eq!(m, N);
            for i in 0..$passes {
                res.0.fetch_add(1, SeqCst);
                assert_eq!(res.1.load(SeqCst), i * m);
                wait_in!($w, b).unwrap();
                res.1.fetch_add(1, SeqCst);
                assert_eq!(res.0.load(SeqCst), (i + 1) * m);
                wait_in!($w, b).unwrap();
            }
            assert_eq!(b.n_waiting(), 0);
            assert!(!b.is_broken());
        }};
    }
    for passes in [1, 10] {
        for mode in MODES {
            within(async {
                let b = Arc::new(Barrier::new(N));
                let res = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
                let parties: Vec<_> = (0..N)
                    .map(|i| {
                        let (b, res) = (Arc::clone(&b), Arc::clone(&res));
                        spawn_party!(mode, i, multipass!(b, res, passes))
                    })
                    .collect();
                join_all(parties).await;
                b.abort(); // tearDown
            })
            .await;
        }
    }
}

/// test_wait_return: the indices of a round are `0..N`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpython_test_wait_return() {
    macro_rules! once {
        ($w:ident, $b:expr) => {
            wait_in!($w, $b).unwrap()
        };
    }
    for mode in MODES {
        within(async {
            let b = Arc::new(Barrier::new(N));
            let parties: Vec<_> = (0..N)
                .map(|i| {
                    let b = Arc::clone(&b);
                    spawn_party!(mode, i, once!(b))
                })
                .collect();
            let results = join_all(parties).await;
            let sum: usize = results.iter().map(|r| r.index()).sum();
            assert_eq!(sum, (0..N).sum::<usize>());
            assert_one_round(&results, N);
        })
        .await;
    }
}

/// test_action: the action ran once, before any party was released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpython_test_action() {
    macro_rules! check_action {
        ($w:ident, $b:expr, $runs:expr) => {{
            wait_in!($w, $b).unwrap();
            assert_eq!($runs.load(SeqCst), 1);
        }};
    }
    for mode in MODES {
        within(async {
            let runs = Arc::new(AtomicUsize::new(0));
            let r = Arc::clone(&runs);
            let b = Arc::new(Barrier::with_action(N, move || {
                r.fetch_add(1, SeqCst);
            }));
            let parties: Vec<_> = (0..N)
                .map(|i| {
                    let (b, runs) = (Arc::clone(&b), Arc::clone(&runs));
                    spawn_party!(mode, i, check_action!(b, runs))
                })
                .collect();
            join_all(parties).await;
        })
        .await;
    }
}

/// What a party of the abort and reset ports saw.
#[derive(Default)]
struct Tally {
    passed: AtomicUsize,
    broken: AtomicUsize,
    again: AtomicUsize,
}

/// test_abort: the party at index N/2 "raises" and aborts; the others get
/// `Broken`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpython_test_abort() {
    macro_rules! abort_party {
        ($w:ident, $b:expr, $t:expr) => {{
            let (b, t): (&Barrier, &Tally) = (&$b, &$t);
            match wait_in!($w, b) {
                Ok(r) if r.index() == N / 2 => b.abort(), // "raise RuntimeError"
                Ok(_) => match wait_in!($w, b) {
                    Ok(_) => {
                        t.passed.fetch_add(1, SeqCst);
                    }
                    Err(BrokenBarrier) => {
                        t.broken.fetch_add(1, SeqCst);
                    }
                },
                Err(BrokenBarrier) => {
                    t.broken.fetch_add(1, SeqCst);
                }
            }
        }};
    }
    for mode in MODES {
        within(async {
            let b = Arc::new(Barrier::new(N));
            let tally = Arc::new(Tally::default());
            let parties: Vec<_> = (0..N)
                .map(|i| {
                    let (b, tally) = (Arc::clone(&b), Arc::clone(&tally));
                    spawn_party!(mode, i, abort_party!(b, tally))
                })
                .collect();
            join_all(parties).await;
            assert_eq!(tally.passed.load(SeqCst), 0);
            assert_eq!(tally.broken.load(SeqCst), N - 1);
            assert!(b.is_broken());
            assert_quiet(&b);
        })
        .await;
    }
}

/// test_reset: the party at index N/2 waits until the others are in the
/// barrier again and resets it; they get `Broken`; then all pass it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpython_test_reset() {
    macro_rules! reset_party {
        ($w:ident, $b:expr, $t:expr) => {{
            let (b, t): (&Barrier, &Tally) = (&$b, &$t);
            let i = wait_in!($w, b).unwrap().index();
            if i == N / 2 {
                until_in!($w, b.n_waiting() >= N - 1);
                b.reset();
            } else {
                match wait_in!($w, b) {
                    Ok(_) => {
                        t.passed.fetch_add(1, SeqCst);
                    }
                    Err(BrokenBarrier) => {
                        t.broken.fetch_add(1, SeqCst);
                    }
                }
            }
            wait_in!($w, b).unwrap();
            t.again.fetch_add(1, SeqCst);
        }};
    }
    for mode in MODES {
        within(async {
            let b = Arc::new(Barrier::new(N));
            let tally = Arc::new(Tally::default());
            let parties: Vec<_> = (0..N)
                .map(|i| {
                    let (b, tally) = (Arc::clone(&b), Arc::clone(&tally));
                    spawn_party!(mode, i, reset_party!(b, tally))
                })
                .collect();
            join_all(parties).await;
            assert_eq!(tally.passed.load(SeqCst), 0);
            assert_eq!(tally.broken.load(SeqCst), N - 1);
            assert_eq!(tally.again.load(SeqCst), N);
            assert!(!b.is_broken());
            assert_quiet(&b);
        })
        .await;
    }
}

/// test_abort_and_reset: a barrier can be reset after being broken, with a
/// second barrier to make sure everyone has left before the reset and no
/// one enters before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpython_test_abort_and_reset() {
    macro_rules! abort_reset_party {
        ($w:ident, $b:expr, $b2:expr, $t:expr) => {{
            let (b, b2, t): (&Barrier, &Barrier, &Tally) = (&$b, &$b2, &$t);
            match wait_in!($w, b) {
                Ok(r) if r.index() == N / 2 => b.abort(),
                Ok(_) => match wait_in!($w, b) {
                    Ok(_) => {
                        t.passed.fetch_add(1, SeqCst);
                    }
                    Err(BrokenBarrier) => {
                        t.broken.fetch_add(1, SeqCst);
                    }
                },
                Err(BrokenBarrier) => {
                    t.broken.fetch_add(1, SeqCst);
                }
            }
            if wait_in!($w, b2).unwrap().index() == N / 2 {
                b.reset();
            }
            wait_in!($w, b2).unwrap();
            wait_in!($w, b).unwrap();
            t.again.fetch_add(1, SeqCst);
        }};
    }
    for mode in MODES {
        within(async {
            let b = Arc::new(Barrier::new(N));
            let b2 = Arc::new(Barrier::new(N));
            let tally = Arc::new(Tally::default());
            let parties: Vec<_> = (0..N)
                .map(|i| {
                    let (b, b2, tally) = (Arc::clone(&b), Arc::clone(&b2), Arc::clone(&tally));
                    spawn_party!(mode, i, abort_reset_party!(b, b2, tally))
                })
                .collect();
            join_all(parties).await;
            assert_eq!(tally.passed.load(SeqCst), 0);
            assert_eq!(tally.broken.load(SeqCst), N - 1);
            assert_eq!(tally.again.load(SeqCst), N);
            assert_quiet(&b);
        })
        .await;
    }
}

/// test_timeout: one party is late; the others' timed waits run out and
/// break the barrier; the late one finds it broken. (CPython's default
/// timeout of 2 s, scaled down to 400 ms.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpython_test_timeout() {
    const TIMEOUT: Duration = Duration::from_millis(400);
    macro_rules! timeout_party {
        ($w:ident, $b:expr) => {{
            let b: &Barrier = &$b;
            let i = wait_timeout_in!($w, b, TIMEOUT).unwrap().index();
            if i == N / 2 {
                sleep_in!($w, TIMEOUT / 2); // one party is late
            }
            wait_timeout_in!($w, b, TIMEOUT / 4).unwrap_err()
        }};
    }
    for mode in MODES {
        within(async {
            let b = Arc::new(Barrier::new(N));
            let parties: Vec<_> = (0..N)
                .map(|i| {
                    let b = Arc::clone(&b);
                    spawn_party!(mode, i, timeout_party!(b))
                })
                .collect();
            let errors = join_all(parties).await;
            let timed_out = errors
                .iter()
                .filter(|e| **e == BarrierTimeoutError::TimedOut)
                .count();
            assert!(timed_out >= 1, "{errors:?}");
            assert!(b.is_broken());
            assert_quiet(&b);
        })
        .await;
    }
}

// ---------------------------------------------------------------------------
// Randomized cancellation storm
// ---------------------------------------------------------------------------

/// What the storm's parties saw.
#[derive(Default)]
struct Storm {
    /// `Ok` results, and the leaders among them.
    ok: AtomicUsize,
    leaders: AtomicUsize,
    /// Timed waits that ran out (each broke the barrier).
    timed_out: AtomicUsize,
    broken: AtomicUsize,
    /// Futures dropped before they returned.
    dropped: AtomicUsize,
}

impl Storm {
    fn record(&self, b: &Barrier, r: Result<BarrierWaitResult, BarrierTimeoutError>) {
        match r {
            Ok(r) => {
                assert!(r.index() < b.parties());
                assert_eq!(r.is_leader(), r.index() == b.parties() - 1);
                self.ok.fetch_add(1, SeqCst);
                if r.is_leader() {
                    self.leaders.fetch_add(1, SeqCst);
                }
            }
            Err(e) => {
                if e == BarrierTimeoutError::TimedOut {
                    self.timed_out.fetch_add(1, SeqCst);
                } else {
                    self.broken.fetch_add(1, SeqCst);
                }
                // Whoever sees the barrier broken starts it over.
                b.reset();
            }
        }
    }
}

/// Threads and tasks wait with random timeouts, are dropped pending (by
/// `select!`, or after one poll) or after their round tripped, while the
/// barrier trips, breaks and is reset. At the end every trip was counted
/// exactly once (the action's count equals the leaders seen: a leader
/// always returns in the poll that tripped), no round released more than
/// `parties` waiters, and nobody is left counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_storm() {
    const PARTIES: usize = 3;
    const THREADS: u64 = 3;
    const TASKS: u64 = 4;
    const ITERS: usize = 150;
    within(async {
        let trips = Arc::new(AtomicUsize::new(0));
        let t = Arc::clone(&trips);
        let b = Arc::new(Barrier::with_action(PARTIES, move || {
            t.fetch_add(1, SeqCst);
        }));
        let storm = Arc::new(Storm::default());
        let mut parties = Vec::new();
        for id in 0..THREADS {
            let (b, storm) = (Arc::clone(&b), Arc::clone(&storm));
            parties.push(Party::Thread(spawn_thread(move || {
                let mut rng = Rng::new(id + 1);
                for _ in 0..ITERS {
                    match rng.below(4) {
                        0 => {
                            // Polled once, then dropped, pending or woken.
                            let mut w = b.wait();
                            match poll_once(&mut w) {
                                Poll::Ready(r) => storm.record(&b, r.map_err(Into::into)),
                                Poll::Pending => {
                                    if rng.below(2) == 0 {
                                        std::thread::sleep(rng.millis(2));
                                    }
                                    drop(w);
                                    storm.dropped.fetch_add(1, SeqCst);
                                }
                            }
                        }
                        1 => {
                            let r = b.wait().wait_deadline(Instant::now() + rng.millis(5));
                            storm.record(&b, r);
                        }
                        _ => storm.record(&b, b.wait().wait_timeout(rng.millis(30))),
                    }
                }
            })));
        }
        for id in 0..TASKS {
            let (b, storm) = (Arc::clone(&b), Arc::clone(&storm));
            parties.push(Party::Task(tokio::spawn(async move {
                let mut rng = Rng::new(100 + id);
                for _ in 0..ITERS {
                    match rng.below(4) {
                        0 => {
                            // Dropped by `select!` if the sleep wins.
                            let nap = rng.millis(5);
                            tokio::select! {
                                r = b.wait() => storm.record(&b, r.map_err(Into::into)),
                                _ = tokio::time::sleep(nap) => {
                                    storm.dropped.fetch_add(1, SeqCst);
                                }
                            }
                        }
                        1 => {
                            let r = b.wait().timeout_at(Instant::now() + rng.millis(5)).await;
                            storm.record(&b, r);
                        }
                        _ => storm.record(&b, b.wait().timeout(rng.millis(30)).await),
                    }
                }
            })));
        }
        join_all(parties).await;

        let trips = trips.load(SeqCst);
        let ok = storm.ok.load(SeqCst);
        assert_eq!(storm.leaders.load(SeqCst), trips, "each trip counted once");
        assert!(ok <= trips * PARTIES, "{ok} releases from {trips} trips");
        assert!(
            trips > 0 && storm.timed_out.load(SeqCst) > 0,
            "a storm without weather"
        );
        assert_eq!(b.waiters(), Waiters::default(), "a waiter is left counted");
        assert_eq!(b.n_waiting(), 0, "a waiter is left in the round");
        eprintln!(
            "storm: {trips} trips, {ok} released, {} timed out, {} broken, {} dropped",
            storm.timed_out.load(SeqCst),
            storm.broken.load(SeqCst),
            storm.dropped.load(SeqCst)
        );

        // The barrier still works, with the full count.
        b.reset();
        let mut x = spawn_pending(b.wait());
        let mut y = spawn_pending(b.wait());
        let z = b.wait().timeout(DEADLINE).await.unwrap();
        assert!(z.is_leader());
        let results = [
            assert_ready!(x.poll()).unwrap(),
            assert_ready!(y.poll()).unwrap(),
            z,
        ];
        assert_one_round(&results, PARTIES);
    })
    .await;
}
