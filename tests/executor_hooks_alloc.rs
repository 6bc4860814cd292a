//! The hooks that `wait` and `as_completed` hang on a job come off again
//! when the watcher gives up: timed-out waits in a loop on one long job
//! leave nothing behind. Its own test binary, as it counts live heap bytes
//! through a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use amphi::{Event, ReturnWhen, ThreadPoolExecutor};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const DEADLINE: Duration = Duration::from_secs(10);

fn block_worker(pool: &ThreadPoolExecutor, gate: &Arc<Event>) -> amphi::JobHandle<()> {
    let g = Arc::clone(gate);
    let started = Arc::new(Event::new());
    let s = Arc::clone(&started);
    let h = pool
        .try_submit(move || {
            s.set();
            assert!(g.wait().wait_timeout(DEADLINE));
        })
        .unwrap();
    assert!(started.wait().wait_timeout(DEADLINE));
    h
}

// ---------------------------------------------------------------------------
// Was: every `wait` / `as_completed` hangs a hook on each handle that is
// removed only when the job finishes: a polling loop on a long job grows
// without bound (Python removes its waiter when `wait` returns).
// ---------------------------------------------------------------------------

#[test]
fn r09_wait_hooks_accumulate_until_the_job_is_done() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Arc::new(Event::new());
    let long = block_worker(&pool, &gate);
    // warm up
    for _ in 0..10 {
        let _ =
            amphi::wait([long.clone()], ReturnWhen::FirstCompleted).wait_timeout(Duration::ZERO);
    }
    let before = LIVE.load(Ordering::SeqCst);
    for _ in 0..20_000 {
        let w =
            amphi::wait([long.clone()], ReturnWhen::FirstCompleted).wait_timeout(Duration::ZERO);
        assert_eq!(w.not_done.len(), 1);
    }
    let grown = LIVE.load(Ordering::SeqCst) - before;
    gate.set();
    long.result().wait_timeout(DEADLINE).unwrap().unwrap();
    let after_done = LIVE.load(Ordering::SeqCst) - before;
    assert!(
        grown < 200_000,
        "20k timed-out waits on one running job left {grown} bytes live \
         ({after_done} once the job finished)"
    );
}
