//! Heap-allocation checks: amphi's uncontended paths and its blocking waits
//! (even ones that really park the thread) allocate nothing.
//!
//! A counting global allocator keeps a per-thread count, so the test
//! harness's other threads (and the threads that hold or release a primitive
//! here) do not disturb the thread being measured.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use amphi::{BoundedSemaphore, Event, Lock, Semaphore, TryAcquireError};
use common::{DEADLINE, current_thread_runtime};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call forwards to `System` unchanged; the counter is a
// thread-local `Cell` without a destructor, so touching it never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

/// Heap allocations made by this thread while running `f`.
fn allocs_in<R>(f: impl FnOnce() -> R) -> usize {
    let before = allocs();
    black_box(f());
    allocs() - before
}

#[track_caller]
fn assert_no_alloc<R>(what: &str, f: impl FnOnce() -> R) {
    let n = allocs_in(f);
    assert_eq!(n, 0, "{what}: {n} heap allocation(s)");
}

/// Polls `fut` once with a no-op waker (no executor, so nothing else
/// allocates).
fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let fut = pin!(fut);
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

const HOLD: Duration = Duration::from_millis(30);

#[test]
fn the_counter_counts() {
    // The allocator itself works, or every zero below means nothing.
    let n = allocs_in(|| Box::new(black_box(1u64)));
    assert_eq!(n, 1);
    let n = allocs_in(|| vec![0u8; 64]);
    assert_eq!(n, 1);
}

#[test]
fn uncontended_lock() {
    let lock = Lock::new(0u64);
    assert_no_alloc("lock_blocking + drop", || {
        *lock.lock_blocking() += 1;
    });
    assert_no_alloc("try_lock", || {
        let g = lock.try_lock().unwrap();
        assert!(lock.try_lock().is_none());
        drop(g);
    });
    assert_no_alloc("lock().wait()", || *lock.lock().wait() += 1);
    assert_no_alloc("lock().wait_timeout()", || {
        drop(lock.lock().wait_timeout(DEADLINE).unwrap());
        drop(lock.lock().wait_timeout(Duration::MAX).unwrap());
        drop(lock.lock().wait_timeout(Duration::ZERO).unwrap());
    });
    assert_no_alloc("is_locked", || lock.is_locked());
    assert_no_alloc("async lock polled once", || {
        let Poll::Ready(mut g) = poll_once(lock.lock()) else {
            panic!("uncontended lock() was pending");
        };
        *g += 1;
    });
    assert_no_alloc("timed-out try (zero timeout) on a held lock", || {
        let g = lock.lock_blocking();
        assert!(lock.lock().wait_timeout(Duration::ZERO).is_none());
        drop(g);
    });
    assert_eq!(*lock.lock_blocking(), 3);
}

#[test]
fn uncontended_lock_arc() {
    let lock = Arc::new(Lock::new(0u64));
    assert_no_alloc("lock_arc_blocking + drop", || {
        *lock.lock_arc_blocking() += 1;
    });
    assert_no_alloc("try_lock_arc", || drop(lock.try_lock_arc().unwrap()));
    assert_no_alloc("async lock_arc polled once", || {
        let Poll::Ready(g) = poll_once(lock.lock_arc()) else {
            panic!("uncontended lock_arc() was pending");
        };
        drop(g);
    });
}

#[test]
fn uncontended_timeout_future() {
    let rt = current_thread_runtime();
    let _enter = rt.enter();
    let lock = Lock::new(());
    let sem = Semaphore::new(1);
    assert_no_alloc("lock().timeout() ready at first poll", || {
        let Poll::Ready(Some(g)) = poll_once(lock.lock().timeout(DEADLINE)) else {
            panic!("uncontended timed lock failed");
        };
        drop(g);
    });
    assert_no_alloc("acquire().timeout() ready at first poll", || {
        let Poll::Ready(Ok(p)) = poll_once(sem.acquire().timeout(DEADLINE)) else {
            panic!("uncontended timed acquire failed");
        };
        drop(p);
    });
}

#[test]
fn uncontended_semaphore() {
    let sem = Semaphore::new(2);
    assert_no_alloc("acquire_blocking + drop", || {
        drop(sem.acquire_blocking().unwrap())
    });
    assert_no_alloc("try_acquire", || {
        let a = sem.try_acquire().unwrap();
        let b = sem.try_acquire().unwrap();
        assert!(matches!(sem.try_acquire(), Err(TryAcquireError::NoPermits)));
        drop((a, b));
    });
    assert_no_alloc("acquire().wait()", || drop(sem.acquire().wait().unwrap()));
    assert_no_alloc("acquire().wait_timeout()", || {
        drop(sem.acquire().wait_timeout(DEADLINE).unwrap());
    });
    assert_no_alloc("async acquire polled once", || {
        let Poll::Ready(Ok(p)) = poll_once(sem.acquire()) else {
            panic!("uncontended acquire() was pending");
        };
        drop(p);
    });
    assert_no_alloc("forget + release(n) with no waiter", || {
        sem.try_acquire().unwrap().forget();
        sem.release(1);
        sem.release(0);
        sem.available()
    });
    assert_eq!(sem.available(), 2);

    let sem = Arc::new(Semaphore::new(1));
    assert_no_alloc("owned permits", || {
        drop(sem.acquire_arc_blocking().unwrap());
        drop(sem.try_acquire_arc().unwrap());
        let Poll::Ready(Ok(p)) = poll_once(sem.acquire_arc()) else {
            panic!("uncontended acquire_arc() was pending");
        };
        p.forget();
        sem.release(1);
    });

    let bounded = BoundedSemaphore::new(1);
    assert_no_alloc("bounded acquire/over-release", || {
        drop(bounded.acquire_blocking().unwrap());
        assert!(bounded.release(1).is_err());
    });
    assert_eq!(bounded.available(), 1);
}

#[test]
fn event_without_waiters() {
    let ev = Event::new();
    assert_no_alloc("Event::set with no waiters", || ev.set());
    assert_no_alloc("is_set / wait_blocking / wait when set", || {
        assert!(ev.is_set());
        assert!(ev.wait_blocking());
        assert!(ev.wait().wait_timeout(DEADLINE));
        assert_eq!(poll_once(ev.wait()), Poll::Ready(true));
    });
    assert_no_alloc("clear + set again", || {
        ev.clear();
        ev.set();
    });
    ev.clear();
    assert_no_alloc("zero-timeout wait on a clear event", || {
        assert!(!ev.wait().wait_timeout(Duration::ZERO));
    });
}

/// Runs `measured` on a fresh plain thread (outside any runtime) twice, each
/// time after `block` made sure it must wait and before `unblock` (run
/// `HOLD` after the thread announced itself) let it go. The first round
/// warms the thread up (event-listener caches a parker per thread, tokio's
/// and std's thread-locals register: two allocations today, which shows the
/// counter does see allocations made inside a wait); the second round's
/// allocations on the waiting thread are returned, with how long it waited.
fn measure_blocked_wait<S>(
    shared: Arc<S>,
    block: impl Fn(&Arc<S>) -> Box<dyn std::any::Any>,
    unblock: impl Fn(&Arc<S>, Box<dyn std::any::Any>),
    measured: impl Fn(&S) + Send + 'static,
) -> (usize, Duration)
where
    S: Send + Sync + 'static,
{
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (res_tx, res_rx) = mpsc::channel::<(usize, Duration)>();
    let s = Arc::clone(&shared);
    thread::spawn(move || {
        for _ in 0..2 {
            go_rx.recv_timeout(DEADLINE).expect("go");
            ready_tx.send(()).unwrap();
            let start = Instant::now();
            let before = allocs();
            measured(&s);
            let n = allocs() - before;
            res_tx.send((n, start.elapsed())).unwrap();
        }
    });
    let mut last = (0, Duration::ZERO);
    for _ in 0..2 {
        let token = block(&shared);
        go_tx.send(()).unwrap();
        ready_rx
            .recv_timeout(DEADLINE)
            .expect("waiter did not start");
        thread::sleep(HOLD);
        unblock(&shared, token);
        last = res_rx
            .recv_timeout(DEADLINE)
            .expect("the blocked waiter never woke (lost wake-up?)");
    }
    last
}

#[track_caller]
fn assert_blocked_without_alloc(what: &str, (n, waited): (usize, Duration)) {
    // It cannot have got through before the release, which came `HOLD`
    // after it started: so it really waited.
    assert!(
        waited >= HOLD / 2,
        "{what}: returned after {waited:?}, it cannot have waited"
    );
    assert_eq!(n, 0, "{what}: {n} heap allocation(s) in a blocking wait");
}

#[test]
fn blocking_lock_wait_that_really_blocks() {
    let lock = Arc::new(Lock::new(0u64));
    let r = measure_blocked_wait(
        Arc::clone(&lock),
        |l| Box::new(l.lock_arc_blocking()),
        |_, g| drop(g),
        |l| *l.lock_blocking() += 1,
    );
    assert_blocked_without_alloc("lock_blocking", r);
    let r = measure_blocked_wait(
        Arc::clone(&lock),
        |l| Box::new(l.lock_arc_blocking()),
        |_, g| drop(g),
        |l| *l.lock().wait_timeout(DEADLINE).expect("in time") += 1,
    );
    assert_blocked_without_alloc("lock().wait_timeout", r);
    assert_eq!(*lock.lock_blocking(), 4);
}

#[test]
fn blocking_lock_wait_that_times_out() {
    let lock = Arc::new(Lock::new(()));
    let r = measure_blocked_wait(
        Arc::clone(&lock),
        |l| Box::new(l.lock_arc_blocking()),
        |_, g| drop(g),
        |l| assert!(l.lock().wait_timeout(HOLD / 2).is_none()),
    );
    assert_blocked_without_alloc("lock().wait_timeout expiring", r);
}

#[test]
fn blocking_semaphore_wait_that_really_blocks() {
    let sem = Arc::new(Semaphore::new(0));
    let r = measure_blocked_wait(
        Arc::clone(&sem),
        |_| Box::new(()),
        |s, _| s.release(1),
        |s| s.acquire_blocking().unwrap().forget(),
    );
    assert_blocked_without_alloc("acquire_blocking", r);
    assert_eq!(sem.available(), 0);
}

#[test]
fn blocking_event_wait_that_really_blocks() {
    let ev = Arc::new(Event::new());
    let r = measure_blocked_wait(
        Arc::clone(&ev),
        |e| {
            e.clear();
            Box::new(())
        },
        |e, _| e.set(),
        |e| assert!(e.wait_blocking()),
    );
    assert_blocked_without_alloc("Event::wait_blocking", r);
}

/// The documented cost of an async wait that must really wait: one heap
/// allocation (event-listener's listener), once the event is warmed up.
#[test]
fn async_contended_wait_allocates_at_most_once() {
    let lock = Lock::new(());
    let held = lock.lock_blocking();
    // Warm-up: event-listener allocates its list on first use.
    drop(poll_once(lock.lock()));

    let mut fut = Box::pin(lock.lock());
    let n = allocs_in(|| {
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
    });
    assert!(n <= 1, "a contended async lock() made {n} allocations");
    drop(held);
    let n = allocs_in(|| {
        let Poll::Ready(g) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) else {
            panic!("not ready after unlock");
        };
        drop(g);
    });
    assert_eq!(n, 0, "completing a woken async lock() allocated");
}

#[test]
fn uncontended_rlock() {
    let r = amphi::RLock::new(0u8);
    assert_no_alloc("RLock lock_blocking + drop", || drop(r.lock_blocking()));
    let outer = r.lock_blocking();
    assert_no_alloc("RLock re-entry", || drop(r.lock_blocking()));
    assert_no_alloc("RLock async re-entry polled once", || {
        let Poll::Ready(g) = poll_once(r.lock()) else {
            panic!("re-entry was not ready")
        };
        drop(g)
    });
    drop(outer);
    assert_no_alloc("RLock try_lock", || drop(r.try_lock()));
}

#[test]
fn blocking_rlock_wait_that_really_blocks() {
    let r = Arc::new(amphi::RLock::new(()));
    let res = measure_blocked_wait(
        Arc::clone(&r),
        |r| Box::new(r.lock_arc_blocking()),
        |_, g| drop(g),
        |r| drop(r.lock_blocking()),
    );
    assert_blocked_without_alloc("RLock::lock_blocking", res);
}

#[test]
fn barrier_rounds_do_not_allocate() {
    let b = amphi::Barrier::new(1);
    // Warm-up: the first rounds create and recycle the round cells.
    for _ in 0..3 {
        b.wait_blocking().unwrap();
    }
    assert_no_alloc("Barrier(1) round", || b.wait_blocking().unwrap());
    let b = Arc::new(amphi::Barrier::new(2));
    let res = measure_blocked_wait(
        Arc::clone(&b),
        |_| Box::new(()),
        |b, _| {
            b.wait_blocking().unwrap();
        },
        |b| {
            b.wait_blocking().unwrap();
        },
    );
    assert_blocked_without_alloc("Barrier::wait_blocking", res);
}

#[test]
fn bounded_queue_steady_state_allocates_nothing_per_item() {
    let q = amphi::Queue::bounded(64);
    let p = amphi::PriorityQueue::bounded(64);
    let l = amphi::LifoQueue::bounded(64);
    assert_no_alloc("bounded put/get, 10 000 items", || {
        for i in 0..10_000u64 {
            q.try_put(i).unwrap();
            p.try_put(i).unwrap();
            l.try_put(i).unwrap();
            if i % 32 == 31 {
                for _ in 0..32 {
                    q.get_blocking().unwrap();
                    p.get().wait().unwrap();
                    l.try_get().unwrap();
                }
                q.task_done_many(32).unwrap();
            }
        }
    });
    drop((q.drain(), p.drain(), l.drain()));
    q.task_done_many(q.unfinished()).unwrap();
    assert_no_alloc("blocking put/get and the timed forms", || {
        q.put_blocking(1).unwrap();
        q.put(2).wait_timeout(DEADLINE).unwrap();
        assert_eq!(q.get().wait_timeout(DEADLINE), Ok(1));
        assert_eq!(q.get().wait_timeout(Duration::ZERO), Ok(2));
        assert!(q.get().wait_timeout(Duration::ZERO).is_err());
        assert_eq!(q.peek(), None);
        q.len()
    });
    assert_no_alloc("async put/get polled once, uncontended", || {
        assert!(poll_once(q.put(3)).is_ready());
        assert!(matches!(poll_once(q.get()), Poll::Ready(Ok(3))));
    });
}

#[test]
fn blocking_queue_waits_that_really_block() {
    let q = Arc::new(amphi::Queue::<u64>::bounded(1));
    let r = measure_blocked_wait(
        Arc::clone(&q),
        |_| Box::new(()),
        |q, _| q.try_put(7).unwrap(),
        |q| assert_eq!(q.get_blocking(), Ok(7)),
    );
    assert_blocked_without_alloc("Queue::get_blocking", r);
    let r = measure_blocked_wait(
        Arc::clone(&q),
        |q| {
            drop(q.drain());
            q.try_put(1).unwrap();
            Box::new(())
        },
        |q, _| assert_eq!(q.try_get(), Ok(1)),
        |q| q.put_blocking(2).unwrap(),
    );
    assert_blocked_without_alloc("Queue::put_blocking", r);
    assert_eq!(q.drain(), vec![2]);
    let r = measure_blocked_wait(
        Arc::clone(&q),
        |q| {
            q.try_put(1).unwrap();
            Box::new(())
        },
        |q, _| {
            assert_eq!(q.drain(), vec![1]);
            q.task_done_many(q.unfinished()).unwrap();
        },
        |q| q.join_blocking(),
    );
    assert_blocked_without_alloc("Queue::join_blocking", r);
}

/// A step that wakes up to four waiters sends their wake-ups without
/// allocating: a batch put that wakes three getters allocates what the same
/// batch allocates with nobody waiting.
#[test]
fn waking_several_queue_waiters_allocates_nothing_more() {
    let q = amphi::Queue::<u64>::new(0);
    let mut getters: Vec<_> = (0..3).map(|_| Box::pin(q.get())).collect();
    let cx = &mut Context::from_waker(Waker::noop());
    for g in &mut getters {
        assert!(g.as_mut().poll(cx).is_pending());
    }
    // The same batch into a queue nobody waits on: what the batch itself
    // allocates (its `Vec` and the queue's copy of it).
    let idle = amphi::Queue::<u64>::new(0);
    let baseline = allocs_in(|| idle.try_put_many(vec![1, 2, 3]).unwrap());
    let n = allocs_in(|| q.try_put_many(vec![1, 2, 3]).unwrap());
    assert_eq!(n, baseline, "waking three waiters allocated");
    for g in &mut getters {
        assert!(g.as_mut().poll(cx).is_ready());
    }
}
