//! [`Local`]: a value of which each thread has its own copy (Python's
//! `threading.local`).
//!
//! Built on the `thread_local` crate (per-object thread-local storage,
//! Amanieu d'Antras's, as used by `tracing-subscriber` and `regex`): it finds
//! this thread's slot without a lock after the first use, which std's
//! `thread_local!` (one static per declaration) cannot do per object. Its
//! slots are indexed by thread ids that are reused once a thread ends, so a
//! new thread can land on an ended thread's slot; each slot therefore holds
//! a chain of values tagged with a per-thread token that is never reused,
//! and a thread that finds only other threads' values appends its own. So
//! every thread starts from a fresh value, as in Python.

use std::cell::RefCell;
use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use thread_local::ThreadLocal;

type Init<T> = Box<dyn Fn() -> T + Send + Sync>;

/// This thread's token: unique among all threads the process ever ran.
fn token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TOKEN.with(|t| *t)
}

thread_local! {
    /// The `Local`s whose `init` runs on this thread right now (their
    /// addresses): a `get` of one of them from its own `init` is refused.
    static INITIALIZING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Runs `init` for the `Local` at `addr`, refusing a re-entrant `get`.
fn make<T>(addr: usize, init: &dyn Fn() -> T) -> T {
    let busy = INITIALIZING.with(|i| {
        let mut i = i.borrow_mut();
        if i.contains(&addr) {
            return true;
        }
        i.push(addr);
        false
    });
    assert!(
        !busy,
        "amphi::Local::get called from the Local's own init on the same thread \
         (the value it would return is the one being made)"
    );
    struct Done(usize);
    impl Drop for Done {
        fn drop(&mut self) {
            let _ = INITIALIZING.try_with(|i| i.borrow_mut().retain(|&a| a != self.0));
        }
    }
    let _done = Done(addr);
    init()
}

/// The values made in one slot: the first thread's, then those of threads
/// that were given the slot after an earlier owner ended.
struct Chain<T> {
    owner: u64,
    value: T,
    next: OnceLock<Box<Chain<T>>>,
}

/// Unlinks the chain in a loop: a slot reused by many short threads holds
/// a long chain, which a recursive drop would overflow the stack on.
impl<T> Drop for Chain<T> {
    fn drop(&mut self) {
        let mut next = self.next.take();
        while let Some(mut node) = next {
            next = node.next.take();
        }
    }
}

impl<T> Chain<T> {
    fn new(owner: u64, value: T) -> Self {
        Chain {
            owner,
            value,
            next: OnceLock::new(),
        }
    }

    fn find(&self, owner: u64) -> Option<&T> {
        let mut node = self;
        loop {
            if node.owner == owner {
                return Some(&node.value);
            }
            node = node.next.get()?;
        }
    }

    fn values_mut(&mut self) -> Vec<&mut T> {
        let mut out = Vec::new();
        let mut node = Some(self);
        while let Some(n) = node {
            out.push(&mut n.value);
            node = n.next.get_mut().map(|b| &mut **b);
        }
        out
    }
}

/// A value of which each thread has its own copy, made on the thread's
/// first use by the function given to [`new`](Self::new) (Python's
/// `threading.local`, with the subclass `__init__` as that function).
///
/// Share it between threads in an `Arc`: it is `Sync` for any `T: Send`,
/// because each thread only ever touches its own value. For a value a
/// thread changes, put interior mutability in `T` (`Cell`, `RefCell`):
/// [`get`](Self::get) gives `&T`.
///
/// **Tasks.** A value belongs to an OS thread, not to a tokio task: on a
/// multi-thread runtime a task can move to another worker thread at any
/// `.await` and then sees that thread's value, and the tasks of one worker
/// share its value. For a value per task use `tokio::task_local!`; a
/// `Local` suits per-thread resources of long-lived threads (a buffer, a
/// connection per runtime worker or per pool thread).
///
/// **Lifetime** (where amphi differs from Python): the values are dropped
/// when the `Local` is dropped (or [`clear`](Self::clear)ed), all at once;
/// a thread that ends does not drop its value then (Python's does), since
/// `get` hands out `&T` for as long as the `Local` lives. So the values
/// (and the memory) grow with every thread that ever used the `Local`:
/// with short-lived threads (tokio's `spawn_blocking` threads end after
/// 10 s idle) a per-thread connection stays open until the `Local` goes.
/// Every thread starts from a fresh value, also one started after others
/// ended. Python makes the creating thread's value at once; amphi at each
/// thread's first `get`.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::sync::Arc;
/// // A per-thread scratch buffer, shared by every thread through one Arc.
/// let scratch = Arc::new(amphi::Local::new(|| RefCell::new(Vec::<u8>::new())));
/// let s = Arc::clone(&scratch);
/// std::thread::spawn(move || s.get().borrow_mut().push(1)).join().unwrap();
/// scratch.get().borrow_mut().extend([2, 3]);
/// assert_eq!(*scratch.get().borrow(), [2, 3]); // this thread's own
/// ```
pub struct Local<T: Send> {
    slots: ThreadLocal<Chain<T>>,
    init: Init<T>,
}

impl<T: Send> Local<T> {
    /// A `Local` whose value, on each thread, is made by `init` at that
    /// thread's first [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let id = amphi::Local::new(|| std::thread::current().id());
    /// assert_eq!(*id.get(), std::thread::current().id());
    /// ```
    pub fn new(init: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Local {
            slots: ThreadLocal::new(),
            init: Box::new(init),
        }
    }

    /// This thread's value, made now if this thread has none yet.
    ///
    /// If `init` panics, the panic goes to the caller and this thread gets
    /// no value (the next `get` calls `init` again).
    ///
    /// # Panics
    ///
    /// If called from this `Local`'s own `init` on the same thread (the
    /// value it would return is the one being made; Python hands `__init__`
    /// the half-made object instead). Called from another thread-local's
    /// destructor, late in a thread's exit, it may abort the process: the
    /// storage's own thread-local is gone by then.
    ///
    /// # Cost
    ///
    /// After the first use on a thread, a lock-free lookup of this thread's
    /// slot and a walk of that slot's chain: one step per earlier thread
    /// that used the same slot and ended (slots are reused; a pool of
    /// long-lived threads keeps one step).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// let count = amphi::Local::new(|| Cell::new(0));
    /// count.get().set(count.get().get() + 1);
    /// count.get().set(count.get().get() + 1);
    /// assert_eq!(count.get().get(), 2);
    /// ```
    pub fn get(&self) -> &T {
        let me = token();
        let addr = self as *const Self as usize;
        let head = self.slots.get_or(|| Chain::new(me, make(addr, &self.init)));
        if let Some(v) = head.find(me) {
            return v;
        }
        // The slot was an ended thread's: add this thread's own value at
        // the end of the chain (only this thread uses the slot now).
        let mut node = head;
        loop {
            match node.next.get() {
                Some(next) => node = next,
                None => {
                    let fresh = Box::new(Chain::new(me, make(addr, &self.init)));
                    return &node.next.get_or_init(|| fresh).value;
                }
            }
        }
    }

    /// This thread's value if it has one already; never makes one.
    ///
    /// # Examples
    ///
    /// ```
    /// let local = amphi::Local::new(|| 7);
    /// assert_eq!(local.try_get(), None);
    /// local.get();
    /// assert_eq!(local.try_get(), Some(&7));
    /// ```
    pub fn try_get(&self) -> Option<&T> {
        self.slots.get()?.find(token())
    }

    /// Drops every thread's value now; each thread makes a new one at its
    /// next `get`. Needs `&mut self`: no thread is using a value then.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut local = amphi::Local::new(|| String::from("fresh"));
    /// local.get();
    /// local.clear();
    /// assert_eq!(local.try_get(), None);
    /// ```
    pub fn clear(&mut self) {
        self.slots.clear();
    }

    /// Every value made so far, one per thread that used this `Local`
    /// (ended threads included), for example to add up per-thread counters
    /// at the end. Needs `&mut self`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// let mut hits = amphi::Local::new(|| Cell::new(0u32));
    /// std::thread::scope(|s| {
    ///     for _ in 0..3 {
    ///         s.spawn(|| hits.get().set(hits.get().get() + 1));
    ///     }
    /// });
    /// let total: u32 = hits.iter_mut().map(|c| c.get()).sum();
    /// assert_eq!(total, 3);
    /// ```
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().flat_map(Chain::values_mut)
    }
}

impl<T: Send + Default + 'static> Default for Local<T> {
    /// A `Local` whose values start as `T::default()`.
    fn default() -> Self {
        Local::new(T::default)
    }
}

impl<T: Send + fmt::Debug> fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local")
            .field("this_thread", &self.try_get())
            .finish_non_exhaustive()
    }
}
