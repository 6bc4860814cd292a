//! Compile-time checks that every primitive, guard, permit and future of amphi
//! is `Send`/`Sync`/`Unpin`/`'static` as its docs promise, and not more than
//! it may be (a guard of a `!Send` value must not be `Send`).
//!
//! Value types used: `u8` (Send + Sync), `Cell<u8>` (Send, !Sync), `Rc<u8>`
//! (!Send, !Sync) and `MutexGuard<'static, u8>` (Sync, !Send).
//!
//! Most checks are `static_assertions`, so a regression stops the build. A
//! few are runtime tests built on the `implements!` probe below: they cover
//! documented promises that the code does not keep today, so they fail as
//! tests instead of breaking the build of every other test.

mod common;

use std::cell::Cell;
use std::fmt::{Debug, Display};
use std::future::Future;
use std::rc::Rc;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use amphi::futures::{
    AcquireArcFuture, AcquireFuture, ConditionWait, ConditionWaitWhile, EventWait, LockArcFuture,
    LockFuture, Timeout,
};
use amphi::{
    AcquireTimeoutError, BoundedSemaphore, Closed, Condition, Event, Lock, LockGuard, LockGuardArc,
    OverRelease, Relock, Semaphore, SemaphorePermit, SemaphorePermitArc, TryAcquireError,
    WaitTimeoutResult, Waiters,
};
use common::within;
use static_assertions::{assert_impl_all, assert_not_impl_any};

/// Sync but not Send.
type SyncNotSend = MutexGuard<'static, u8>;

/// A `wait_while` closure type that is Send, Sync and Unpin.
type Pred = fn(&u8) -> bool;

/// `T: 'static`, checked at compile time.
const fn assert_static<T: 'static>() {}

/// Whether `$ty` implements the bounds, as a `bool` (the `impls` crate's
/// trick: an inherent associated const wins over the trait's default when
/// its bounds hold). Only for concrete types.
macro_rules! implements {
    ($ty:ty: $($bounds:tt)+) => {{
        #[allow(dead_code)]
        trait DoesNotImpl {
            const IMPLS: bool = false;
        }
        impl<T: ?Sized> DoesNotImpl for T {}
        struct Wrapper<T: ?Sized>(std::marker::PhantomData<T>);
        #[allow(dead_code)]
        impl<T: ?Sized + $($bounds)+> Wrapper<T> {
            const IMPLS: bool = true;
        }
        <Wrapper<$ty>>::IMPLS
    }};
}

// ---------------------------------------------------------------------------
// The primitives
// ---------------------------------------------------------------------------

// Lock<T> is Send + Sync exactly when T: Send (as std's Mutex).
assert_impl_all!(Lock<u8>: Send, Sync, Unpin, Debug, Default, From<u8>);
assert_impl_all!(Lock: Send, Sync, Default); // the bare lock, T = ()
assert_impl_all!(Lock<Cell<u8>>: Send, Sync);
assert_not_impl_any!(Lock<Rc<u8>>: Send, Sync);
assert_not_impl_any!(Lock<SyncNotSend>: Send, Sync);

assert_impl_all!(Condition: Send, Sync, Unpin, Debug, Default);
assert_impl_all!(Event: Send, Sync, Unpin, Debug, Default);
assert_impl_all!(Semaphore: Send, Sync, Unpin, Debug);
assert_impl_all!(BoundedSemaphore: Send, Sync, Unpin, Debug);
assert_impl_all!(
    OverRelease: Send,
    Sync,
    Debug,
    Display,
    Copy,
    Eq,
    std::error::Error
);
assert_impl_all!(Closed: Send, Sync, Debug, Display, Copy, Eq, std::error::Error);
assert_impl_all!(TryAcquireError: Send, Sync, Debug, Display, Copy, Eq, std::error::Error);
assert_impl_all!(AcquireTimeoutError: Send, Sync, Debug, Display, Copy, Eq, std::error::Error);
assert_impl_all!(WaitTimeoutResult: Send, Sync, Debug, Copy, Eq);
assert_impl_all!(Waiters: Send, Sync, Debug, Copy, Eq);
// No primitive passes for another (DESIGN.md, principle 9).
assert_not_impl_any!(BoundedSemaphore: std::ops::Deref);

// The primitives are usable in statics (their `new` is const).
static _LOCK: Lock<u8> = Lock::new(0);
static _COND: Condition = Condition::new();
static _EVENT: Event = Event::new();
static _SEM: Semaphore = Semaphore::new(1);
static _BSEM: BoundedSemaphore = BoundedSemaphore::new(1);

// ---------------------------------------------------------------------------
// Lock guards: Send when T: Send, Sync when T: Sync (docs)
// ---------------------------------------------------------------------------

assert_impl_all!(LockGuard<'static, u8>: Send, Sync, Unpin, Debug, Display, Relock);
assert_impl_all!(LockGuard<'static, Cell<u8>>: Send);
assert_not_impl_any!(LockGuard<'static, Cell<u8>>: Sync);
assert_not_impl_any!(LockGuard<'static, Rc<u8>>: Send, Sync);
assert_not_impl_any!(LockGuard<'static, SyncNotSend>: Send);

assert_impl_all!(LockGuardArc<u8>: Send, Sync, Unpin, Debug, Relock);
assert_impl_all!(LockGuardArc<Cell<u8>>: Send);
assert_not_impl_any!(LockGuardArc<Cell<u8>>: Sync);
assert_not_impl_any!(LockGuardArc<Rc<u8>>: Send, Sync);
assert_not_impl_any!(LockGuardArc<SyncNotSend>: Send);
const _: () = assert_static::<LockGuardArc<u8>>();
const _: () = assert_static::<LockGuardArc<Cell<u8>>>();

// ---------------------------------------------------------------------------
// Lock futures: Send and Sync when T: Send; Unpin (docs)
// ---------------------------------------------------------------------------

assert_impl_all!(LockFuture<'static, u8>: Send, Sync, Unpin, Debug, Future);
assert_impl_all!(LockFuture<'static, Cell<u8>>: Send, Sync, Unpin);
assert_impl_all!(LockFuture<'static, Rc<u8>>: Unpin);
assert_not_impl_any!(LockFuture<'static, Rc<u8>>: Send, Sync);

assert_impl_all!(LockArcFuture<u8>: Send, Sync, Unpin, Debug, Future);
assert_impl_all!(LockArcFuture<Cell<u8>>: Send, Sync, Unpin);
assert_impl_all!(LockArcFuture<Rc<u8>>: Unpin);
assert_not_impl_any!(LockArcFuture<Rc<u8>>: Send, Sync);
const _: () = assert_static::<LockArcFuture<u8>>();

// ---------------------------------------------------------------------------
// Semaphore permits and futures: Send, Sync, Unpin; owned ones 'static
// ---------------------------------------------------------------------------

assert_impl_all!(SemaphorePermit<'static>: Send, Sync, Unpin, Debug);
assert_impl_all!(SemaphorePermitArc: Send, Sync, Unpin, Debug);
const _: () = assert_static::<SemaphorePermitArc>();
assert_impl_all!(SemaphorePermitArc<BoundedSemaphore>: Send, Sync, Unpin, Debug);
const _: () = assert_static::<SemaphorePermitArc<BoundedSemaphore>>();

assert_impl_all!(AcquireFuture<'static>: Send, Sync, Unpin, Debug, Future);
assert_impl_all!(AcquireArcFuture: Send, Sync, Unpin, Debug, Future);
const _: () = assert_static::<AcquireArcFuture>();
assert_impl_all!(AcquireArcFuture<BoundedSemaphore>: Send, Sync, Unpin, Debug, Future);
const _: () = assert_static::<AcquireArcFuture<BoundedSemaphore>>();

// ---------------------------------------------------------------------------
// Event future: Send, Sync, Unpin
// ---------------------------------------------------------------------------

assert_impl_all!(EventWait<'static>: Send, Sync, Unpin, Debug, Future<Output = bool>);

// ---------------------------------------------------------------------------
// Condition futures: Send when the guard (and closure) are; Unpin (when the
// closure is)
// ---------------------------------------------------------------------------

assert_impl_all!(ConditionWait<'static, LockGuard<'static, u8>>: Send, Unpin, Debug, Future);
assert_impl_all!(ConditionWait<'static, LockGuardArc<u8>>: Send, Unpin, Debug, Future);
assert_impl_all!(ConditionWait<'static, LockGuard<'static, Cell<u8>>>: Send, Unpin);
assert_impl_all!(ConditionWait<'static, LockGuardArc<Cell<u8>>>: Send, Unpin);
assert_impl_all!(ConditionWait<'static, LockGuard<'static, Rc<u8>>>: Unpin);
assert_not_impl_any!(ConditionWait<'static, LockGuard<'static, Rc<u8>>>: Send);
assert_not_impl_any!(ConditionWait<'static, LockGuardArc<Rc<u8>>>: Send);

assert_impl_all!(ConditionWaitWhile<'static, LockGuard<'static, u8>, Pred>: Send, Unpin, Debug, Future);
assert_impl_all!(ConditionWaitWhile<'static, LockGuardArc<u8>, Pred>: Send, Unpin, Future);
assert_not_impl_any!(ConditionWaitWhile<'static, LockGuard<'static, Rc<u8>>, Pred>: Send);
// The closure's own auto traits carry over (any type stands in for a closure
// type here: the struct puts no bound on it).
assert_not_impl_any!(ConditionWaitWhile<'static, LockGuard<'static, u8>, Rc<u8>>: Send);
assert_not_impl_any!(ConditionWaitWhile<'static, LockGuard<'static, u8>, std::marker::PhantomPinned>: Unpin);

// ---------------------------------------------------------------------------
// Timeout: Send when the inner future is (not documented, but needed to
// `tokio::spawn` a `.timeout()` future)
// ---------------------------------------------------------------------------

assert_impl_all!(Timeout<EventWait<'static>>: Send, Debug, Future<Output = bool>);
assert_impl_all!(Timeout<LockArcFuture<u8>>: Send, Future<Output = Option<LockGuardArc<u8>>>);
assert_impl_all!(Timeout<AcquireArcFuture>: Send, Future<Output = Result<SemaphorePermitArc, AcquireTimeoutError>>);
assert_impl_all!(Timeout<ConditionWait<'static, LockGuardArc<u8>>>: Send, Future<Output = (LockGuardArc<u8>, WaitTimeoutResult)>);
assert_not_impl_any!(Timeout<LockFuture<'static, Rc<u8>>>: Send);

// ---------------------------------------------------------------------------
// The queue family: Send + Sync when the items are Send; every future and
// the stream are Unpin whatever the item (the item is never pinned).
// ---------------------------------------------------------------------------

assert_impl_all!(amphi::Queue<u8>: Send, Sync, Unpin, Debug, Default);
assert_impl_all!(amphi::LifoQueue<Cell<u8>>: Send, Sync);
assert_impl_all!(amphi::PriorityQueue<u8>: Send, Sync, Unpin, Debug, Default);
assert_not_impl_any!(amphi::Queue<Rc<u8>>: Send, Sync);
assert_impl_all!(amphi::futures::Get<&'static amphi::Queue<u8>>: Send, Sync, Unpin, Debug, Future);
assert_impl_all!(amphi::futures::Get<Arc<amphi::Queue<u8>>>: Send, Sync, Unpin, Future);
const _: () = assert_static::<amphi::futures::Get<Arc<amphi::Queue<u8>>>>();
assert_impl_all!(amphi::futures::Put<Arc<amphi::Queue<std::marker::PhantomPinned>>>: Unpin);
assert_impl_all!(amphi::futures::Put<Arc<amphi::Queue<u8>>>: Send, Sync, Unpin, Debug, Future);
assert_impl_all!(amphi::futures::Put<&'static amphi::Queue<Cell<u8>>>: Send, Unpin);
assert_not_impl_any!(amphi::futures::Put<&'static amphi::Queue<Rc<u8>>>: Send);
assert_impl_all!(amphi::futures::GetMany<&'static amphi::Queue<u8>>: Send, Sync, Unpin, Debug, Future);
assert_impl_all!(amphi::futures::PutMany<&'static amphi::Queue<std::marker::PhantomPinned>>: Unpin);
assert_impl_all!(amphi::futures::PutMany<&'static amphi::Queue<u8>>: Send, Sync, Debug, Future);
assert_impl_all!(amphi::futures::Join<&'static amphi::Queue<u8>>: Send, Sync, Unpin, Debug, Future<Output = ()>);
assert_impl_all!(amphi::futures::Join<Arc<amphi::Queue<u8>>>: Send, Sync, Unpin, Future<Output = ()>);
const _: () = assert_static::<amphi::futures::Join<Arc<amphi::Queue<u8>>>>();
assert_impl_all!(amphi::futures::GetStream<Arc<amphi::Queue<u8>>>: futures::stream::FusedStream);
assert_impl_all!(amphi::futures::GetStream<Arc<amphi::Queue<u8>>>: Send, Sync, Unpin, Debug, futures::Stream<Item = u8>);

// The executor: the pool is Send + Sync (share it in an Arc); a handle is
// Send + Sync when the job's output is Send, Clone, Unpin and a Future;
// every future and stream is Send (tokio::spawn takes it); errors are
// Send + Sync + 'static errors (they fit Box<dyn Error + Send + Sync>).
type Job = fn() -> u8;
type MapOf = amphi::Map<'static, fn(u8) -> u8, std::vec::IntoIter<u8>, u8>;
assert_impl_all!(amphi::ThreadPoolExecutor: Send, Sync, Unpin, Debug);
assert_impl_all!(amphi::ExecutorBuilder: Send, Debug);
assert_impl_all!(amphi::JobHandle<u8>: Send, Sync, Unpin, Debug, Clone, Future<Output = Result<u8, amphi::JobError>>);
assert_impl_all!(amphi::JobHandle<Cell<u8>>: Send, Sync);
assert_not_impl_any!(amphi::JobHandle<Rc<u8>>: Send, Sync);
const _: () = assert_static::<amphi::JobHandle<u8>>();
assert_impl_all!(amphi::futures::JobResult<'static, u8>: Send, Sync, Unpin, Debug, Future<Output = Result<u8, amphi::JobError>>);
assert_impl_all!(amphi::futures::JobFinished<'static, u8>: Send, Sync, Unpin, Debug, Future<Output = ()>);
assert_impl_all!(amphi::futures::Submit<'static, Job, u8>: Send, Sync, Unpin, Debug, Future);
assert_impl_all!(amphi::futures::Shutdown<'static>: Send, Sync, Unpin, Debug, Future<Output = ()>);
assert_impl_all!(amphi::futures::WaitJobs<u8>: Send, Sync, Unpin, Debug, Future<Output = amphi::Waited<u8>>);
const _: () = assert_static::<amphi::futures::WaitJobs<u8>>();
assert_impl_all!(amphi::AsCompleted<u8>: Send, Sync, Unpin, Debug, Iterator);
assert_impl_all!(amphi::AsCompletedStream<u8>: Send, Sync, Unpin, Debug, futures::stream::FusedStream);
const _: () = assert_static::<amphi::AsCompletedStream<u8>>();
assert_impl_all!(MapOf: Send, Unpin, Debug, Iterator<Item = Result<u8, amphi::MapError>>);
assert_impl_all!(amphi::MapStream<'static, fn(u8) -> u8, std::vec::IntoIter<u8>, u8>: Send, Unpin, Debug, futures::stream::FusedStream);
assert_impl_all!(amphi::JobError: Send, Sync, Debug, Display, std::error::Error);
assert_impl_all!(amphi::JobPanic: Send, Sync, Debug, Display, std::error::Error);
assert_impl_all!(amphi::MapError: Send, Sync, Debug, Display, std::error::Error);
assert_impl_all!(amphi::SubmitError<Job>: Send, Sync, Debug, Display, std::error::Error);
assert_impl_all!(amphi::TrySubmitError<Job>: Send, Sync, Debug, Display, std::error::Error);
assert_impl_all!(amphi::SubmitTimeoutError<Job>: Send, Sync, Debug, Display, std::error::Error);
assert_impl_all!(amphi::AsCompletedTimeout: Send, Sync, Copy, Debug, Display, std::error::Error);
assert_impl_all!(amphi::BuildError: Send, Sync, Copy, Debug, Display, std::error::Error);
assert_impl_all!(amphi::ExecutorStats: Send, Sync, Copy, Debug, Default);

// Local: Send + Sync for any Send value, Sync ones or not (each thread
// touches its own); a value that cannot move between threads (`Rc`) is not
// accepted by the type at all (`T: Send`).
assert_impl_all!(amphi::Local<Cell<u8>>: Send, Sync, Unpin, Debug, Default);
// Threads and timers: handles and records are Send + Sync + Clone; a
// handle carries a `T: Send` result, so it is Send + Sync for any such T
// (only the join that takes it touches it, under a lock).
assert_impl_all!(amphi::Thread: Send, Sync, Unpin, Debug, Clone);
assert_impl_all!(amphi::ThreadHandle<Cell<u8>>: Send, Sync, Unpin, Debug, Clone);
assert_impl_all!(amphi::ThreadBuilder: Send, Sync, Debug, Clone, Default);
assert_impl_all!(amphi::ThreadError: Send, Sync, Debug, Display, std::error::Error);
assert_impl_all!(amphi::thread::SpawnError<Job>: Send, Sync, Debug, Display, std::error::Error);
assert_impl_all!(amphi::futures::ThreadJoin<'static, u8>: Send, Sync, Unpin, Future<Output = Result<u8, amphi::ThreadError>>);
assert_impl_all!(amphi::futures::ThreadWait<'static>: Send, Sync, Unpin, Future<Output = ()>);
assert_impl_all!(amphi::futures::NonDaemonJoin: Send, Sync, Unpin, Future<Output = ()>);
assert_impl_all!(amphi::Timer: Send, Sync, Unpin, Debug, Clone);
assert_impl_all!(amphi::Repeat: Send, Sync, Copy, Debug, Eq);
assert_impl_all!(amphi::Panic: Send, Sync, Debug, Display, std::error::Error);
const _: () = assert_static::<amphi::ThreadHandle<u8>>();
assert_impl_all!(amphi::BlockingIter<'static, u8, amphi::Fifo>: Send, Sync, Debug, Iterator<Item = u8>);
assert_impl_all!(Timeout<amphi::futures::Get<Arc<amphi::Queue<u8>>>>: Send, Future<Output = Result<u8, amphi::GetTimeoutError>>);
assert_impl_all!(amphi::TryPutError<Rc<u8>>: Debug, Display);
assert_impl_all!(amphi::PutError<u8>: Send, Sync, Debug, Display, Copy, Eq, std::error::Error);
assert_impl_all!(amphi::ShutDown: Send, Sync, Debug, Display, Copy, Eq, std::error::Error);
assert_impl_all!(amphi::TaskDoneError: Send, Sync, Debug, Display, Copy, Eq, std::error::Error);

// ---------------------------------------------------------------------------
// Runtime checks
// ---------------------------------------------------------------------------

/// The probe itself works (so the tests below mean something).
#[test]
fn implements_probe_works() {
    assert!(implements!(u8: Sync));
    assert!(!implements!(Cell<u8>: Sync));
    assert!(implements!(Cell<u8>: Send));
    assert!(!implements!(Rc<u8>: Send));
    assert!(implements!(SyncNotSend: Sync));
    assert!(!implements!(SyncNotSend: Send));
    assert!(implements!(LockGuard<'static, u8>: Send + Sync));
    assert!(!implements!(LockGuard<'static, Cell<u8>>: Sync));
}

/// Docs of `LockGuard` and `LockGuardArc`: "Sync when T: Sync" (as std's
/// `MutexGuard`, which is `Sync` for any `T: Sync`). A shared `&guard` only
/// gives out `&T`, so `T: Sync` is all that is needed.
///
/// Fails today: the guards are `Sync` only when `T: Send + Sync` (their
/// `&Lock<T>` / `Arc<Lock<T>>` field is `Sync` only when `T: Send`). Either
/// the docs should say "Sync when T: Send + Sync", or the guards need
/// `unsafe impl<T: ?Sized + Sync> Sync` as std has.
#[test]
fn lock_guards_are_sync_only_when_t_is_send_and_sync() {
    // Documented: Sync when T: Send + Sync (a Lock<T> is shared only when
    // T: Send, and the guard hands out &T).
    assert!(!implements!(LockGuard<'static, SyncNotSend>: Sync));
    assert!(!implements!(LockGuardArc<SyncNotSend>: Sync));
    assert!(implements!(LockGuard<'static, u8>: Sync));
    assert!(implements!(LockGuardArc<u8>: Sync));
}

fn require_send<F: Future + Send>(f: F) -> F {
    f
}

/// Borrowed guards can be held across `.await` in a future that must be
/// `Send` (for `tokio::spawn` through an `Arc`), and so can condition waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn borrowed_guards_across_await_keep_futures_send() {
    let state = Arc::new((
        Lock::new(0u32),
        Condition::new(),
        Semaphore::new(1),
        Event::new(),
    ));
    let s = Arc::clone(&state);
    let task = tokio::spawn(require_send(async move {
        let (lock, cond, sem, ev) = &*s;
        let permit = sem.acquire().await.unwrap();
        let mut g = lock.lock().await;
        tokio::task::yield_now().await; // guard and permit held across .await
        *g += 1;
        let (g, res) = cond.wait(g).timeout(Duration::from_millis(1)).await;
        assert!(res.timed_out());
        let g = cond.wait_while(g, |v| *v == 0).await;
        drop(g);
        drop(permit);
        ev.wait().timeout(Duration::from_millis(1)).await
    }));
    let set = within(task).await.unwrap();
    assert!(!set);
    assert_eq!(*state.0.lock().await, 1);
}

/// Owned guards, permits and futures move into `tokio::spawn`ed ('static)
/// tasks and onto threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owned_guards_permits_and_futures_are_static_and_send() {
    let lock = Arc::new(Lock::new(0u32));
    let sem = Arc::new(Semaphore::new(1));
    let cond = Arc::new(Condition::new());

    // Owned futures, created here and awaited in another task.
    let lock_fut = lock.lock_arc();
    let sem_fut = sem.acquire_arc();
    let c = Arc::clone(&cond);
    let task = tokio::spawn(async move {
        let mut g = lock_fut.await;
        let permit = sem_fut.await.unwrap();
        tokio::task::yield_now().await;
        *g += 1;
        let (g, res) = c.wait(g).timeout(Duration::from_millis(1)).await;
        assert!(res.timed_out());
        (g, permit)
    });
    let (g, permit) = within(task).await.unwrap();
    assert_eq!(*g, 1);
    assert_eq!(sem.available(), 0);

    // Owned guard and permit released on a plain thread.
    std::thread::spawn(move || {
        drop(g);
        drop(permit);
    })
    .join()
    .unwrap();
    assert!(!lock.is_locked());
    assert_eq!(sem.available(), 1);
}

/// `Lock<T: ?Sized>`: unsized values behind an `Arc`, with guards and a
/// condition wait.
#[test]
fn unsized_values() {
    let slice: Arc<Lock<[u8]>> = Arc::new(Lock::new([1, 2, 3]));
    slice.lock_blocking()[0] = 9;
    assert_eq!(&*slice.lock_arc_blocking(), &[9, 2, 3]);
    let cond = Condition::new();
    let (g, res) = cond
        .wait(slice.lock_blocking())
        .wait_timeout(Duration::ZERO);
    assert!(res.timed_out());
    assert_eq!(g.len(), 3);
    drop(g);

    let dynamic: Arc<Lock<dyn Debug + Send>> = Arc::new(Lock::new(5u8));
    assert_eq!(format!("{:?}", &*dynamic.lock_blocking()), "5");
    assert!(implements!(Lock<dyn Debug + Send>: Send + Sync));
}
