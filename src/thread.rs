//! OS threads with Python's vocabulary: names, a "daemon" flag, `join`
//! with a timeout that is told apart from the result, awaitable from a task,
//! and the registry (`current_thread`, `enumerate`, `active_count`,
//! `main_thread`, `excepthook`).
//!
//! An amphi thread is a `std::thread` underneath. What amphi adds lives in
//! one shared record per thread ([`Thread`]): its name and ident, and an
//! [`Event`] set when it has finished, which every join (blocking, async,
//! timed) waits on and which is its "alive" flag too. The typed result travels in a
//! separate slot that only [`ThreadHandle`] can reach.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::task::Poll;
use std::time::Duration;

use crate::core::{Op, Signal, Strategy, block_forever, blocking_mode, waiting_future};
use crate::event::{Event, EventWait};
use crate::panic::Panic;

// ---------------------------------------------------------------------------
// The record every handle shares.
// ---------------------------------------------------------------------------

/// What kind of thread a record stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Started by amphi.
    Amphi,
    /// The process's main thread.
    Main,
    /// A thread amphi did not start, seen by `current_thread`.
    Dummy,
}

struct Record {
    ident: u64,
    name: String,
    daemon: bool,
    origin: Origin,
    /// Set by the thread itself once it runs.
    native_id: OnceLock<u64>,
    /// Set once the thread has finished (its function returned or
    /// panicked, and the excepthook ran).
    done: Event,
}

/// A thread, as Python's `threading.Thread` object sees it: a name, an
/// ident, whether it is alive, and a wait for its end. Cheap to clone;
/// clones stand for the same thread.
///
/// [`spawn`] and [`ThreadBuilder::spawn`] give a [`ThreadHandle`], which
/// also carries the thread's result; [`current_thread`], [`main_thread`]
/// and [`enumerate`] give `Thread`s.
///
/// Threads amphi did not start (the main thread, a tokio worker, a
/// `std::thread`) get a record the first time [`current_thread`] runs on
/// them: Python's "dummy threads". Unlike Python's, a dummy thread leaves
/// the registry when it ends (amphi sees its thread-local storage go), and
/// can be joined.
///
/// # Examples
///
/// ```
/// let t = amphi::thread::spawn(|| amphi::thread::current_thread());
/// let seen = t.join_blocking().unwrap();
/// assert_eq!(seen.ident(), t.thread().ident());
/// assert!(!seen.is_alive());
/// ```
#[derive(Clone)]
pub struct Thread {
    record: Arc<Record>,
}

impl Thread {
    /// The thread's name: the one given to the builder, else `Thread-N`
    /// (Python's default, without Python's ` (target)` suffix: a Rust
    /// closure has no name). The main thread is `MainThread`; a dummy thread
    /// takes its std name, else `Dummy-N`. The OS thread of an amphi thread
    /// carries the same name (`std::thread::current().name()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::thread::ThreadBuilder::new().name("worker").spawn(|| ()).unwrap();
    /// assert_eq!(t.thread().name(), "worker");
    /// ```
    pub fn name(&self) -> &str {
        &self.record.name
    }

    /// amphi's number for the thread: unique for the life of the process
    /// and never reused (Python's `ident` is the OS's, which can be). The
    /// main thread's is 0; the others count up from 1 in the order amphi
    /// first saw them, which is the order of [`enumerate`].
    ///
    /// # Examples
    ///
    /// ```
    /// let a = amphi::thread::spawn(|| ());
    /// let b = amphi::thread::spawn(|| ());
    /// assert_ne!(a.thread().ident(), b.thread().ident());
    /// ```
    pub fn ident(&self) -> u64 {
        self.record.ident
    }

    /// The OS's id for the thread (Linux: its `gettid`), as Python's
    /// `native_id`. `None` on platforms where amphi cannot read it, and for
    /// an amphi thread during the first microseconds after `spawn`, before
    /// it runs (a join makes sure it ran).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::thread::spawn(|| amphi::thread::get_native_id());
    /// let inside = t.join_blocking().unwrap();
    /// assert_eq!(t.thread().native_id(), inside);
    /// ```
    pub fn native_id(&self) -> Option<u64> {
        self.record.native_id.get().copied()
    }

    /// Whether the thread runs: from `spawn` until it has finished: its
    /// function returned or panicked (and the excepthook ran), and its
    /// thread-local values were dropped; a join returns from then on. A
    /// dummy thread is alive until it ends; the main thread always is.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::thread::spawn(|| ());
    /// t.join_blocking().unwrap();
    /// assert!(!t.thread().is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        !self.record.done.is_set()
    }

    /// The daemon flag (see [`ThreadBuilder::daemon`] for what it means in
    /// amphi). The main thread is not a daemon; dummy threads are.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::thread::ThreadBuilder::new().daemon(true).spawn(|| ()).unwrap();
    /// assert!(t.thread().is_daemon());
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.record.daemon
    }

    /// Whether this is a thread amphi did not start (the main thread
    /// excepted): Python's `_DummyThread`.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = std::thread::spawn(|| amphi::thread::current_thread().is_dummy());
    /// assert!(t.join().unwrap());
    /// ```
    pub fn is_dummy(&self) -> bool {
        self.record.origin == Origin::Dummy
    }

    /// Whether two `Thread`s stand for the same thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let me = amphi::thread::current_thread();
    /// assert!(me.same_thread(&amphi::thread::current_thread()));
    /// ```
    pub fn same_thread(&self, other: &Thread) -> bool {
        Arc::ptr_eq(&self.record, &other.record)
    }

    /// Waits until the thread has finished, without its result (which only
    /// the [`ThreadHandle`] has). Output `()`; the timed forms give `bool`
    /// (`false`: it still runs), so a timeout is never mistaken for the end
    /// (Python's `join(timeout)` needs an `is_alive()` after it).
    ///
    /// Joining the main thread waits for ever (it ends with the process).
    ///
    /// # Blocking
    ///
    /// `.await` it, or block with `.wait()` / `.wait_timeout(d)`. A join
    /// of a thread from that thread itself (blocking or awaited, any
    /// timeout) panics: it could never see the end (Python's
    /// `RuntimeError`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the end is a broadcast; a dropped wait takes nothing
    /// from anybody.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let gate = std::sync::Arc::new(amphi::Event::new());
    /// let g = gate.clone();
    /// let t = amphi::thread::spawn(move || { g.wait_blocking(); });
    /// let thread = t.thread().clone();
    /// assert!(!thread.join().wait_timeout(Duration::from_millis(10)));
    /// gate.set();
    /// assert!(thread.join().wait_timeout(Duration::from_secs(10)));
    /// ```
    pub fn join(&self) -> ThreadWait<'_> {
        ThreadWait {
            thread: self,
            done: self.record.done.wait(),
        }
    }

    /// Blocks until the thread has finished: `join().wait()`.
    ///
    /// # Blocking
    ///
    /// Parks the thread (see [`ThreadWait::wait`]). Panics when called on
    /// the thread itself.
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::thread::spawn(|| ());
    /// t.thread().join_blocking();
    /// assert!(!t.thread().is_alive());
    /// ```
    #[track_caller]
    pub fn join_blocking(&self) {
        let mode = blocking_mode("Thread::join_blocking");
        block_forever(&mut self.join(), mode)
    }

    /// Panics if a join of this thread runs on the thread itself, whatever
    /// the strategy and the timeout (it could never see the end).
    fn refuse_self_join(&self) {
        if is_current(self) {
            panic!(
                "amphi: thread {:?} cannot join itself (it would wait for ever)",
                self.name()
            );
        }
    }
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("name", &self.name())
            .field("ident", &self.ident())
            .field("alive", &self.is_alive())
            .field("daemon", &self.is_daemon())
            .field("dummy", &self.is_dummy())
            .finish_non_exhaustive()
    }
}

/// Whether `t` is the thread we run on.
fn is_current(t: &Thread) -> bool {
    let mine = CURRENT
        .try_with(|c| c.get().map(|c| c.0.ident()))
        .ok()
        .flatten();
    match mine {
        Some(id) => id == t.ident(),
        None => t.record.origin == Origin::Main && on_main_thread(),
    }
}

// ---------------------------------------------------------------------------
// The registry.
// ---------------------------------------------------------------------------

static NEXT_IDENT: AtomicU64 = AtomicU64::new(1);
static NEXT_NAME: AtomicU64 = AtomicU64::new(1);
static NEXT_DUMMY: AtomicU64 = AtomicU64::new(1);
/// The live threads, in start order (idents grow).
static REGISTRY: Mutex<BTreeMap<u64, Thread>> = Mutex::new(BTreeMap::new());
static MAIN: OnceLock<Thread> = OnceLock::new();

fn registry() -> MutexGuard<'static, BTreeMap<u64, Thread>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

fn new_record(name: String, daemon: bool, origin: Origin) -> Thread {
    // The main thread is ident 0, first in `enumerate` as in Python,
    // whenever its record is made.
    let ident = match origin {
        Origin::Main => 0,
        _ => NEXT_IDENT.fetch_add(1, Ordering::Relaxed),
    };
    Thread {
        record: Arc::new(Record {
            ident,
            name,
            daemon,
            origin,
            native_id: OnceLock::new(),
            done: Event::new(),
        }),
    }
}

fn register(t: &Thread) {
    registry().insert(t.ident(), t.clone());
}

/// The thread has finished: out of the registry, then "done" (not alive,
/// joiners woken), in that order, so a join that returned sees the
/// registry without it.
fn finish(t: &Thread) {
    registry().remove(&t.ident());
    t.record.done.set();
}

/// The thread-local entry of the thread we run on.
struct Current(Thread);

impl Drop for Current {
    fn drop(&mut self) {
        // A thread ends with its thread-local storage: an amphi thread's
        // entry was set before its function ran, so (on the platforms
        // where std runs these destructors in reverse order) the values
        // its function put in thread-locals are dropped before a join
        // returns, as with std's join. The main thread's storage goes, if
        // ever, with the process.
        if self.0.record.origin != Origin::Main {
            finish(&self.0);
        }
    }
}

thread_local! {
    static CURRENT: std::cell::OnceCell<Current> = const { std::cell::OnceCell::new() };
}

/// The OS's id of the calling thread (Linux: the `gettid` number, read
/// from `/proc/thread-self` since amphi uses no unsafe code for it).
fn native_id_now() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let link = std::fs::read_link("/proc/thread-self").ok()?;
        link.file_name()?.to_str()?.parse().ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Whether the calling thread is the process's main thread: on Linux its
/// id is the process id; elsewhere std names it `main`.
fn on_main_thread() -> bool {
    thread_local! {
        static MAIN_HERE: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
    }
    let look = || match native_id_now() {
        Some(tid) => tid == u64::from(std::process::id()),
        None => std::thread::current().name() == Some("main"),
    };
    MAIN_HERE
        .try_with(|m| match m.get() {
            Some(known) => known,
            None => {
                let known = look();
                m.set(Some(known));
                known
            }
        })
        .unwrap_or_else(|_| look())
}

/// The main thread's record: Python's `threading.main_thread()`. It is in
/// [`enumerate`] from the start and always alive.
///
/// # Examples
///
/// ```
/// let main = amphi::thread::main_thread();
/// assert_eq!(main.name(), "MainThread");
/// assert!(main.is_alive() && !main.is_daemon());
/// ```
pub fn main_thread() -> Thread {
    MAIN.get_or_init(|| {
        let t = new_record("MainThread".to_owned(), false, Origin::Main);
        #[cfg(target_os = "linux")]
        let _ = t.record.native_id.set(u64::from(std::process::id()));
        register(&t);
        t
    })
    .clone()
}

/// The thread we run on, as Python's `threading.current_thread()`.
///
/// An amphi thread gets its own record; the main thread gets
/// [`main_thread`]'s; any other thread (a tokio worker, a `std::thread`)
/// gets a dummy record, made on the first call on that thread, in the
/// registry until that thread ends. From a tokio task it is the worker
/// thread the task runs on at that moment (tasks move between threads at
/// `.await`).
///
/// # Examples
///
/// ```
/// let t = amphi::thread::ThreadBuilder::new()
///     .name("named")
///     .spawn(|| amphi::thread::current_thread().name().to_owned())
///     .unwrap();
/// assert_eq!(t.join_blocking().unwrap(), "named");
/// ```
pub fn current_thread() -> Thread {
    let found = CURRENT.try_with(|c| {
        c.get_or_init(|| {
            if on_main_thread() {
                return Current(main_thread());
            }
            let name = match std::thread::current().name() {
                Some(n) => n.to_owned(),
                None => format!("Dummy-{}", NEXT_DUMMY.fetch_add(1, Ordering::Relaxed)),
            };
            let t = new_record(name, true, Origin::Dummy);
            if let Some(id) = native_id_now() {
                let _ = t.record.native_id.set(id);
            }
            register(&t);
            Current(t)
        })
        .0
        .clone()
    });
    // During the thread's own teardown its storage is gone: an
    // unregistered record, already finished.
    found.unwrap_or_else(|_| {
        let t = new_record("Dummy-exiting".to_owned(), true, Origin::Dummy);
        t.record.done.set();
        t
    })
}

/// `current_thread().ident()`: Python's `threading.get_ident()`. On a
/// thread amphi did not start, this makes its dummy record (it joins
/// [`enumerate`]), since the ident is the record's.
///
/// # Examples
///
/// ```
/// assert_eq!(amphi::thread::get_ident(), amphi::thread::current_thread().ident());
/// ```
pub fn get_ident() -> u64 {
    current_thread().ident()
}

/// The OS's id of the calling thread: Python's
/// `threading.get_native_id()`. `None` where amphi cannot read it (see
/// [`Thread::native_id`]).
///
/// # Examples
///
/// ```
/// # #[cfg(target_os = "linux")]
/// assert!(amphi::thread::get_native_id().is_some());
/// ```
pub fn get_native_id() -> Option<u64> {
    native_id_now()
}

/// Every thread alive that amphi knows of, in start order: the main
/// thread, the amphi threads that have not finished, and the dummy threads
/// that called [`current_thread`] and have not ended. Python's
/// `threading.enumerate()`.
///
/// # Examples
///
/// ```
/// let all = amphi::thread::enumerate();
/// assert!(all.iter().any(|t| t.same_thread(&amphi::thread::main_thread())));
/// ```
pub fn enumerate() -> Vec<Thread> {
    let _ = main_thread();
    registry().values().cloned().collect()
}

/// `enumerate().len()`, without the copy: Python's
/// `threading.active_count()`.
///
/// # Examples
///
/// ```
/// assert!(amphi::thread::active_count() >= 1);
/// ```
pub fn active_count() -> usize {
    let _ = main_thread();
    registry().len()
}

// ---------------------------------------------------------------------------
// The excepthook.
// ---------------------------------------------------------------------------

/// What the excepthook is told about a panicked amphi thread: Python's
/// `ExceptHookArgs` (`thread`, and the panic for `exc_value`).
///
/// # Examples
///
/// ```
/// amphi::thread::set_excepthook(|args: &amphi::thread::ExceptHookArgs<'_>| {
///     eprintln!("{} failed: {}", args.thread().name(), args.panic().message());
/// });
/// # amphi::thread::reset_excepthook();
/// ```
#[derive(Debug)]
pub struct ExceptHookArgs<'a> {
    thread: &'a Thread,
    panic: &'a Panic,
}

impl ExceptHookArgs<'_> {
    /// The thread that panicked (still alive while the hook runs).
    ///
    /// # Examples
    ///
    /// ```
    /// amphi::thread::set_excepthook(|a: &amphi::thread::ExceptHookArgs<'_>| assert!(a.thread().is_alive()));
    /// # amphi::thread::reset_excepthook();
    /// ```
    pub fn thread(&self) -> &Thread {
        self.thread
    }

    /// The panic: its message (the payload stays for the join).
    ///
    /// # Examples
    ///
    /// ```
    /// amphi::thread::set_excepthook(|a: &amphi::thread::ExceptHookArgs<'_>| eprintln!("{}", a.panic().message()));
    /// # amphi::thread::reset_excepthook();
    /// ```
    pub fn panic(&self) -> &Panic {
        self.panic
    }
}

type Hook = dyn Fn(&ExceptHookArgs<'_>) + Send + Sync;
static EXCEPTHOOK: RwLock<Option<Arc<Hook>>> = RwLock::new(None);

/// Sets the hook that amphi threads call when their function panics:
/// Python's `threading.excepthook = hook`. It runs on the panicked thread,
/// after the panic was caught and before the thread counts as finished (so
/// a join that returns finds it has run). The panic still reaches the
/// join, as `Err(ThreadError::Panicked(p))`.
///
/// The hook of a panicked [async timer](crate::Timer::new_async) call runs
/// inside that call's task, on the runtime: there it must not block (on a
/// current-thread runtime amphi's blocking calls refuse, and the refusal
/// is reported as a panicking hook).
///
/// The default hook does nothing: Rust's panic hook has already printed
/// `thread 'NAME' panicked at ...: MESSAGE` to stderr, which is what
/// Python's default excepthook prints. A hook that panics is caught and
/// reported on stderr. A panic in a [`Timer`](crate::Timer)'s call comes
/// here too (its `thread()` is the thread that ran the call). Other
/// threads amphi did not start are not covered (set a
/// `std::panic::set_hook` for those).
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// amphi::thread::set_excepthook(move |args: &amphi::thread::ExceptHookArgs<'_>| {
///     s.lock().unwrap().push(args.panic().message().to_owned());
/// });
/// let t = amphi::thread::spawn(|| panic!("disk full"));
/// assert!(t.join_blocking().is_err());
/// amphi::thread::reset_excepthook();
/// assert!(seen.lock().unwrap().contains(&"disk full".to_owned()));
/// ```
pub fn set_excepthook(hook: impl Fn(&ExceptHookArgs<'_>) + Send + Sync + 'static) {
    *EXCEPTHOOK.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(hook));
}

/// Puts the default hook back (Python's
/// `threading.excepthook = threading.__excepthook__`).
///
/// # Examples
///
/// ```
/// amphi::thread::set_excepthook(|_: &amphi::thread::ExceptHookArgs<'_>| ());
/// amphi::thread::reset_excepthook();
/// ```
pub fn reset_excepthook() {
    *EXCEPTHOOK.write().unwrap_or_else(|e| e.into_inner()) = None;
}

pub(crate) fn run_excepthook(thread: &Thread, panic: &Panic) {
    let hook = EXCEPTHOOK.read().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(hook) = hook {
        let args = ExceptHookArgs { thread, panic };
        if catch_unwind(AssertUnwindSafe(|| hook(&args))).is_err() {
            eprintln!(
                "amphi: the excepthook panicked for thread {:?}",
                thread.name()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Starting threads.
// ---------------------------------------------------------------------------

/// Builds an amphi thread: Python's `Thread(name=.., daemon=..)`.
///
/// # Examples
///
/// ```
/// let t = amphi::thread::ThreadBuilder::new()
///     .name("heartbeat")
///     .daemon(true)
///     .stack_size(256 * 1024)
///     .spawn(|| 1 + 1)
///     .unwrap();
/// assert_eq!(t.join_blocking().unwrap(), 2);
/// ```
#[derive(Debug, Default, Clone)]
#[must_use = "a builder does nothing until `spawn`"]
pub struct ThreadBuilder {
    name: Option<String>,
    daemon: Option<bool>,
    stack_size: Option<usize>,
}

impl ThreadBuilder {
    /// A builder with the defaults: name `Thread-N`, daemon flag of the
    /// calling thread, std's stack size.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::thread::ThreadBuilder::new().spawn(|| ()).unwrap();
    /// assert!(t.thread().name().starts_with("Thread-"));
    /// ```
    pub fn new() -> Self {
        ThreadBuilder::default()
    }

    /// The thread's name (also the OS thread's). A name with a NUL byte is
    /// refused at `spawn`; an empty one means the default `Thread-N`, as
    /// in Python.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::thread::ThreadBuilder::new().name("io").spawn(|| ()).unwrap();
    /// assert_eq!(t.thread().name(), "io");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The daemon flag. Default: the calling thread's (Python's rule): an
    /// amphi thread's own flag, `false` on the main thread, `true` on any
    /// other thread amphi did not start.
    ///
    /// What it means in Rust: a Rust process ends when `main` returns,
    /// killing every thread, daemon or not; there is no interpreter to wait
    /// at exit. amphi gives the flag Python's meaning through
    /// [`join_non_daemon`]: call it at the end of `main` (Python does it
    /// for you) to wait for every non-daemon amphi thread, and leave out
    /// the daemons (a heartbeat, a watchdog). Nothing else depends on it.
    ///
    /// amphi's own threads (an executor's workers, the timers' callback
    /// threads) count as threads amphi did not start, so a thread that a
    /// job or a timer call spawns is a daemon unless told `daemon(false)`;
    /// and pending timers are not waited for (Python waits for a pending
    /// non-daemon `Timer`): cancel or join them before `main` ends.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::thread::ThreadBuilder::new().daemon(true).spawn(|| ()).unwrap();
    /// assert!(t.thread().is_daemon());
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = Some(daemon);
        self
    }

    /// The stack size in bytes (std's default otherwise, which
    /// `RUST_MIN_STACK` sets: Python's `threading.stack_size`).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::thread::ThreadBuilder::new().stack_size(1 << 20).spawn(|| ()).unwrap();
    /// t.join_blocking().unwrap();
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the thread running `f`: Python's `Thread(target=f).start()`.
    /// The thread is in [`enumerate`] and alive when this returns.
    ///
    /// A panic in `f` is caught: the [excepthook](set_excepthook) runs,
    /// then the join gives `Err(ThreadError::Panicked(p))`.
    ///
    /// # Errors
    ///
    /// [`SpawnError`], carrying `f` back, when the name holds a NUL byte or
    /// the OS refuses a thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = amphi::thread::ThreadBuilder::new().name("a\0b").spawn(|| 5).unwrap_err();
    /// assert_eq!(err.error().kind(), std::io::ErrorKind::InvalidInput);
    /// assert_eq!((err.into_closure())(), 5);
    /// ```
    pub fn spawn<F, T>(self, f: F) -> Result<ThreadHandle<T>, SpawnError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let name = match self.name {
            Some(n) if n.contains('\0') => {
                return Err(SpawnError {
                    error: io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "a thread name may not contain a NUL byte",
                    ),
                    f,
                });
            }
            // An empty name is the default, as in Python.
            Some(n) if !n.is_empty() => n,
            _ => format!("Thread-{}", NEXT_NAME.fetch_add(1, Ordering::Relaxed)),
        };
        let daemon = self.daemon.unwrap_or_else(calling_thread_is_daemon);
        let thread = new_record(name, daemon, Origin::Amphi);
        let slot: Arc<Mutex<Slot<T>>> = Arc::new(Mutex::new(Slot::Running));
        // The closure waits here so that a refused spawn can give it back.
        let start = Arc::new(Mutex::new(Some(f)));

        let mut std_builder = std::thread::Builder::new().name(thread.name().to_owned());
        if let Some(bytes) = self.stack_size {
            std_builder = std_builder.stack_size(bytes);
        }
        register(&thread);
        let (t, s, st) = (thread.clone(), Arc::clone(&slot), Arc::clone(&start));
        let spawned = std_builder.spawn(move || {
            let f = lock(&st).take().expect("the closure is taken once");
            drop(st);
            run_thread(t, s, f)
        });
        match spawned {
            Ok(_detached) => Ok(ThreadHandle { thread, slot }),
            Err(error) => {
                finish(&thread);
                let f = lock(&start).take().expect("the thread never ran");
                Err(SpawnError { error, f })
            }
        }
    }
}

fn calling_thread_is_daemon() -> bool {
    let mine = CURRENT
        .try_with(|c| c.get().map(|c| c.0.is_daemon()))
        .ok()
        .flatten();
    mine.unwrap_or_else(|| !on_main_thread())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The body of every amphi thread.
fn run_thread<T>(thread: Thread, slot: Arc<Mutex<Slot<T>>>, f: impl FnOnce() -> T) {
    if let Some(id) = native_id_now() {
        let _ = thread.record.native_id.set(id);
    }
    let registered = CURRENT
        .try_with(|c| c.set(Current(thread.clone())).is_ok())
        .unwrap_or(false);
    let outcome = catch_unwind(AssertUnwindSafe(f)).map_err(|p| Panic::of("thread", p));
    if let Err(p) = &outcome {
        run_excepthook(&thread, p);
    }
    *lock(&slot) = Slot::Done(outcome);
    drop(slot);
    // The thread finishes when its thread-local entry is dropped (see
    // `Current`), after the thread-locals its function used.
    if !registered {
        finish(&thread);
    }
}

/// Starts an amphi thread with the default name and daemon flag:
/// `ThreadBuilder::new().spawn(f)`.
///
/// # Panics
///
/// If the OS refuses a thread, as `std::thread::spawn` (use
/// [`ThreadBuilder::spawn`] to get the error and the closure back).
///
/// # Examples
///
/// ```
/// let t = amphi::thread::spawn(|| 6 * 7);
/// assert_eq!(t.join_blocking().unwrap(), 42);
/// ```
pub fn spawn<F, T>(f: F) -> ThreadHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match ThreadBuilder::new().spawn(f) {
        Ok(h) => h,
        Err(e) => panic!("amphi: failed to spawn a thread: {}", e.error),
    }
}

/// A refused [`ThreadBuilder::spawn`]: why, and the closure back.
///
/// # Examples
///
/// ```
/// let err = amphi::thread::ThreadBuilder::new().name("\0").spawn(|| ()).unwrap_err();
/// println!("{err}");
/// let _f = err.into_closure();
/// ```
pub struct SpawnError<F> {
    error: io::Error,
    f: F,
}

impl<F> SpawnError<F> {
    /// Why: `InvalidInput` for a NUL in the name, else the OS's error.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = amphi::thread::ThreadBuilder::new().name("\0").spawn(|| ()).unwrap_err();
    /// assert_eq!(err.error().kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn error(&self) -> &io::Error {
        &self.error
    }

    /// The closure, never run.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = amphi::thread::ThreadBuilder::new().name("\0").spawn(|| 3).unwrap_err();
    /// assert_eq!(err.into_closure()(), 3);
    /// ```
    pub fn into_closure(self) -> F {
        self.f
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed to spawn a thread: {}", self.error)
    }
}

impl<F> std::error::Error for SpawnError<F> {}

// ---------------------------------------------------------------------------
// The handle with the result.
// ---------------------------------------------------------------------------

enum Slot<T> {
    Running,
    Done(Result<T, Panic>),
    Taken,
}

/// Why a join gave no value.
///
/// # Examples
///
/// ```
/// let t = amphi::thread::spawn(|| -> u8 { panic!("oops") });
/// match t.join_blocking() {
///     Err(amphi::thread::ThreadError::Panicked(p)) => assert_eq!(p.message(), "oops"),
///     other => panic!("{other:?}"),
/// }
/// assert!(matches!(t.join_blocking(), Err(amphi::thread::ThreadError::Taken)));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ThreadError {
    /// The thread's function panicked (the excepthook has run).
    Panicked(Panic),
    /// Another join (through this handle or a clone) took the result.
    Taken,
}

impl fmt::Display for ThreadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThreadError::Panicked(p) => p.fmt(f),
            ThreadError::Taken => f.write_str("the thread's result was taken by another join"),
        }
    }
}

impl std::error::Error for ThreadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ThreadError::Panicked(p) => Some(p),
            ThreadError::Taken => None,
        }
    }
}

/// An amphi thread and its result: what [`spawn`] gives. Cheap to clone
/// (a task can await the join while a thread blocks on it); the result is
/// handed out once, to the first join that returns.
///
/// Dropping every handle detaches the thread (it runs on), as std.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let t = amphi::thread::spawn(|| "done");
/// assert_eq!(t.join().await.unwrap(), "done");
/// # }
/// ```
#[doc(alias = "JoinHandle")]
#[must_use = "dropping a ThreadHandle detaches the thread; its result is lost"]
pub struct ThreadHandle<T> {
    thread: Thread,
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> Clone for ThreadHandle<T> {
    fn clone(&self) -> Self {
        ThreadHandle {
            thread: self.thread.clone(),
            slot: Arc::clone(&self.slot),
        }
    }
}

impl<T> fmt::Debug for ThreadHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadHandle")
            .field("thread", &self.thread)
            .finish_non_exhaustive()
    }
}

impl<T> ThreadHandle<T> {
    /// The thread's record (name, ident, registry identity).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::thread::spawn(|| ());
    /// println!("{} is {}", t.thread().name(), t.thread().ident());
    /// ```
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// `thread().is_alive()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::thread::spawn(|| ());
    /// t.join_blocking().unwrap();
    /// assert!(!t.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        self.thread.is_alive()
    }

    /// `thread().name()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::thread::ThreadBuilder::new().name("n").spawn(|| ()).unwrap();
    /// assert_eq!(t.name(), "n");
    /// ```
    pub fn name(&self) -> &str {
        self.thread.name()
    }

    /// The result if the thread has finished (as a join would see it),
    /// without waiting; `None` while it runs. Takes the result, as a join
    /// does.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::thread::spawn(|| 1);
    /// t.thread().join_blocking();
    /// assert_eq!(t.try_join().unwrap().unwrap(), 1);
    /// ```
    pub fn try_join(&self) -> Option<Result<T, ThreadError>> {
        // Finished means joinable: the function returned and the thread's
        // thread-local values were dropped.
        if !self.thread.record.done.is_set() {
            return None;
        }
        let mut slot = lock(&self.slot);
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Running => {
                *slot = Slot::Running;
                None
            }
            Slot::Done(r) => Some(r.map_err(ThreadError::Panicked)),
            Slot::Taken => Some(Err(ThreadError::Taken)),
        }
    }

    /// Waits for the thread to finish and takes its result: its return
    /// value, or its panic as `Err(ThreadError::Panicked(p))`. The timed
    /// forms give `Option`: `None` means it still runs (told apart from
    /// the result, unlike Python's `join(timeout)`), and a later join can
    /// try again.
    ///
    /// # Blocking
    ///
    /// `.await` it, or block with `.wait()` / `.wait_timeout(d)` (no
    /// runtime needed). A join of a thread from that thread itself
    /// (blocking or awaited, any timeout) panics.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the result is taken only when the join returns it; a
    /// dropped or timed-out join leaves it for the next.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = amphi::thread::spawn(|| 7);
    /// let r = t.join().wait_timeout(Duration::from_secs(10));
    /// assert_eq!(r.unwrap().unwrap(), 7);
    /// ```
    pub fn join(&self) -> ThreadJoin<'_, T> {
        ThreadJoin {
            handle: self,
            done: self.thread.record.done.wait(),
        }
    }

    /// Blocks until the thread finishes and takes its result:
    /// `join().wait()`.
    ///
    /// # Blocking
    ///
    /// Parks the thread (see [`ThreadJoin::wait`]). Panics when called on
    /// the thread itself.
    ///
    /// # Cancel safety
    ///
    /// Not a future.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::thread::spawn(|| vec![1, 2]);
    /// assert_eq!(t.join_blocking().unwrap(), [1, 2]);
    /// ```
    #[track_caller]
    pub fn join_blocking(&self) -> Result<T, ThreadError> {
        let mode = blocking_mode("ThreadHandle::join_blocking");
        block_forever(&mut self.join(), mode)
    }
}

/// A join of an amphi thread that takes its result, from
/// [`ThreadHandle::join`]. Output `Result<T, ThreadError>`; the timed forms
/// give `Option<..>` (`None`: still running).
///
/// # Examples
///
/// ```
/// let t = amphi::thread::spawn(|| 1);
/// let fut: amphi::futures::ThreadJoin<'_, i32> = t.join();
/// assert_eq!(fut.wait().unwrap(), 1);
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it or use `ThreadHandle::join_blocking`"]
pub struct ThreadJoin<'a, T> {
    handle: &'a ThreadHandle<T>,
    done: EventWait<'a>,
}

impl<T> fmt::Debug for ThreadJoin<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadJoin")
            .field("thread", &self.handle.thread)
            .finish_non_exhaustive()
    }
}

impl<T> Op for ThreadJoin<'_, T> {
    type Output = Result<T, ThreadError>;
    type Timed = Option<Result<T, ThreadError>>;

    fn name(&self) -> &'static str {
        "ThreadHandle::join"
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Output> {
        self.handle.thread.refuse_self_join();
        let handle = self.handle;
        self.done
            .poll_op(s)
            .map(|_| handle.try_join().expect("finished"))
    }

    fn poll_expired(&mut self, s: &mut Strategy<'_, '_>) -> Poll<Self::Timed> {
        let handle = self.handle;
        self.done.poll_expired(s).map(|_| handle.try_join())
    }

    fn in_time(out: Self::Output) -> Self::Timed {
        Some(out)
    }
}

waiting_future! {
    impl['a, T] ThreadJoin<'a, T> => Result<T, ThreadError>, timed Option<Result<T, ThreadError>>;
    example: "```
use std::time::Duration;
let t = amphi::thread::spawn(|| 2);
assert_eq!(t.join().wait_timeout(Duration::from_secs(10)).unwrap().unwrap(), 2);
```"
}

/// A wait for a thread's end, from [`Thread::join`]. Output `()`; the timed
/// forms give `bool` (`false`: still running).
///
/// # Examples
///
/// ```
/// let t = amphi::thread::spawn(|| ());
/// let fut: amphi::futures::ThreadWait<'_> = t.thread().join();
/// fut.wait();
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it or use `Thread::join_blocking`"]
pub struct ThreadWait<'a> {
    thread: &'a Thread,
    done: EventWait<'a>,
}

impl fmt::Debug for ThreadWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadWait")
            .field("thread", self.thread)
            .finish_non_exhaustive()
    }
}

impl Op for ThreadWait<'_> {
    type Output = ();
    type Timed = bool;

    fn name(&self) -> &'static str {
        "Thread::join"
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<()> {
        self.thread.refuse_self_join();
        self.done.poll_op(s).map(|_| ())
    }

    fn poll_expired(&mut self, s: &mut Strategy<'_, '_>) -> Poll<bool> {
        self.done.poll_expired(s)
    }

    fn in_time((): ()) -> bool {
        true
    }
}

waiting_future! {
    impl['a] ThreadWait<'a> => (), timed bool;
    example: "```
use std::time::Duration;
let t = amphi::thread::spawn(|| ());
assert!(t.thread().join().wait_timeout(Duration::from_secs(10)));
```"
}

// ---------------------------------------------------------------------------
// Waiting for the non-daemon threads.
// ---------------------------------------------------------------------------

/// Waits until every non-daemon amphi thread has finished (except the
/// caller, if it is one): what Python does at interpreter exit, and what
/// gives [`ThreadBuilder::daemon`] its meaning. Threads started while it
/// waits are waited for too. Output `()`; the timed forms give `bool`
/// (`false`: some still run).
///
/// # Blocking
///
/// `.await` it, or block with `.wait()` / `.wait_timeout(d)`, or
/// [`join_non_daemon_blocking`].
///
/// # Cancel safety
///
/// Cancel safe: it only watches.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let t = amphi::thread::ThreadBuilder::new().daemon(false).spawn(|| ()).unwrap();
/// assert!(amphi::thread::join_non_daemon().wait_timeout(Duration::from_secs(10)));
/// assert!(!t.is_alive());
/// ```
pub fn join_non_daemon() -> NonDaemonJoin {
    let me = CURRENT
        .try_with(|c| c.get().map(|c| c.0.ident()))
        .ok()
        .flatten();
    NonDaemonJoin {
        me,
        target: None,
        signal: Signal::new(),
    }
}

/// `join_non_daemon().wait()`: call it last in `main`.
///
/// # Blocking
///
/// Parks the thread until the non-daemon threads have finished.
///
/// # Cancel safety
///
/// Not a future.
///
/// # Examples
///
/// ```
/// let _t = amphi::thread::ThreadBuilder::new().daemon(false).spawn(|| ()).unwrap();
/// amphi::thread::join_non_daemon_blocking();
/// ```
#[track_caller]
pub fn join_non_daemon_blocking() {
    let mode = blocking_mode("thread::join_non_daemon_blocking");
    block_forever(&mut join_non_daemon(), mode)
}

/// The wait of [`join_non_daemon`].
///
/// # Examples
///
/// ```
/// let fut: amphi::futures::NonDaemonJoin = amphi::thread::join_non_daemon();
/// fut.wait();
/// ```
#[must_use = "futures do nothing unless you `.await` them; to block the thread instead, call `.wait()` on it"]
pub struct NonDaemonJoin {
    me: Option<u64>,
    /// The thread waited for now.
    target: Option<Thread>,
    signal: Signal,
}

impl NonDaemonJoin {
    fn next(&self) -> Option<Thread> {
        registry()
            .values()
            .find(|t| {
                t.record.origin == Origin::Amphi && !t.is_daemon() && Some(t.ident()) != self.me
            })
            .cloned()
    }

    fn leave(&mut self) {
        if let Some(t) = self.target.take() {
            self.signal.finish(&t.record.done);
        }
    }
}

impl Drop for NonDaemonJoin {
    fn drop(&mut self) {
        self.leave();
    }
}

impl fmt::Debug for NonDaemonJoin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonDaemonJoin")
            .field("waiting_for", &self.target)
            .finish_non_exhaustive()
    }
}

impl Op for NonDaemonJoin {
    type Output = ();
    type Timed = bool;

    fn name(&self) -> &'static str {
        "thread::join_non_daemon"
    }

    fn poll_op(&mut self, s: &mut Strategy<'_, '_>) -> Poll<()> {
        loop {
            let target = match &self.target {
                Some(t) => t.clone(),
                None => match self.next() {
                    Some(t) => self.target.insert(t).clone(),
                    None => return Poll::Ready(()),
                },
            };
            match self.signal.poll(&target.record.done, s) {
                Poll::Ready(()) => self.target = None,
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_expired(&mut self, _: &mut Strategy<'_, '_>) -> Poll<bool> {
        self.leave();
        Poll::Ready(self.next().is_none())
    }

    fn in_time((): ()) -> bool {
        true
    }
}

waiting_future! {
    impl[] NonDaemonJoin => (), timed bool;
    example: "```
use std::time::Duration;
assert!(amphi::thread::join_non_daemon().wait_timeout(Duration::from_secs(10)));
```"
}

/// The longest a timeout can be: none, as amphi saturates huge timeouts to
/// "wait for ever" (Python's `threading.TIMEOUT_MAX` caps them).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// assert_eq!(amphi::thread::TIMEOUT_MAX, Duration::MAX);
/// ```
pub const TIMEOUT_MAX: Duration = Duration::MAX;
