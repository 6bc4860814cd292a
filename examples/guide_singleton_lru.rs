//! A lazily created singleton, and an LRU cache behind a [`Lock`], both hit
//! by threads and tasks at once.
//!
//! 1. **A singleton, std's way.** amphi has no lazy cell of its own: for a
//!    value made by a plain function, std's [`OnceLock`] is the tool, and
//!    threads and tasks share it as they share any `static`. Three threads
//!    and three tasks meet at a [`Barrier`] and ask for the settings at the
//!    same moment; the constructor (20 ms) runs once, and all six get the
//!    same instance. (A task that asks while another caller is constructing
//!    blocks its runtime worker until the value is there: fine for a short
//!    constructor.)
//! 2. **A singleton whose constructor awaits.** Opening a connection pool
//!    awaits I/O, which `OnceLock::get_or_init` cannot do, and a task
//!    should not block its worker for it. Python's double-checked locking,
//!    with an amphi [`Lock`]: a lock-free look at a `OnceLock` first, then,
//!    only if it is empty, the lock (threads block on it, tasks await it),
//!    and a second look under the lock before constructing. Whoever takes
//!    the lock first constructs, a task awaiting inside the lock or a
//!    thread blocking; the same six-way race, and it is opened once.
//! 3. **An LRU cache.** A tiny least-recently-used cache (a `HashMap` and a
//!    `VecDeque` of keys by recency) behind one `Lock`, with the fetch of a
//!    missing page done under the lock, so that each page is fetched once.
//!    Three threads and three tasks each read the eight pages that fit
//!    twice, in different orders: exactly 8 misses and 88 hits, whatever
//!    the interleaving. Then `main` fixes the recency order, touches page 0
//!    and reads page 100: page 1, the least recently used, is evicted. Last,
//!    the six workers read pages at random from 24: the cache never holds
//!    more than 8, every miss fetched once, evictions = misses - 8.
//!
//! Each line says who acts. Run it with `cargo run --example
//! guide_singleton_lru`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use amphi::{Barrier, Lock};

/// What each constructor takes.
const CONSTRUCT: Duration = Duration::from_millis(20);
const CAPACITY: usize = 8;
/// Part 3's random reads: per worker, and from how many pages.
const RANDOM_READS: usize = 50;
const PAGES: u64 = 3 * CAPACITY as u64;

/// How long any wait may take before the example calls it a bug.
const PATIENCE: Duration = Duration::from_secs(5);
/// The backstop for waits that have no timeout of their own (joins).
const WATCHDOG: Duration = Duration::from_secs(10);

fn say(who: &str, what: impl std::fmt::Display) {
    println!("{who:<24} {what}");
}

/// Runs `f(who, n)` on three threads (n = 0, 1, 2) and `g(who, n)` on three
/// tasks (n = 3, 4, 5), all released together by one barrier; returns what
/// each returned.
async fn race<T, F, G, Fut>(f: F, g: G) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(String, usize) -> T + Send + Sync + Clone + 'static,
    G: Fn(String, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = T> + Send,
{
    let start = Arc::new(Barrier::new(6));
    let threads: Vec<_> = (0..3)
        .map(|n| {
            let (f, start) = (f.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait().wait_timeout(PATIENCE).expect("all six start");
                f(format!("[thread worker-{}]", n + 1), n)
            })
        })
        .collect();
    let tasks: Vec<_> = (3..6)
        .map(|n| {
            let (g, start) = (g.clone(), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().timeout(PATIENCE).await.expect("all six start");
                g(format!("[task worker-{}]", n - 2), n).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("a task worker panicked"));
    }
    out.extend(
        tokio::task::spawn_blocking(move || {
            threads
                .into_iter()
                .map(|t| t.join().expect("a thread worker panicked"))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap(),
    );
    out
}

// ---------------------------------------------------------------------------
// 1. A singleton, std's way.
// ---------------------------------------------------------------------------

struct Settings {
    name: &'static str,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();
static SETTINGS_MADE: AtomicUsize = AtomicUsize::new(0);

fn settings(who: &str) -> &'static Settings {
    SETTINGS.get_or_init(|| {
        SETTINGS_MADE.fetch_add(1, SeqCst);
        say(who, "reads the settings file (the constructor runs)");
        std::thread::sleep(CONSTRUCT);
        Settings { name: "production" }
    })
}

fn address<T>(r: &T) -> usize {
    std::ptr::from_ref(r) as usize
}

/// A caller of part 1: reports, and returns the instance's address.
fn got_settings(who: &str) -> usize {
    let s = settings(who);
    say(who, format!("got the settings ('{}')", s.name));
    address(s)
}

// ---------------------------------------------------------------------------
// 2. A singleton whose constructor awaits.
// ---------------------------------------------------------------------------

struct Pool {
    opened_by: String,
}

/// A value made on first use, by a thread or a task.
struct Lazy<T> {
    value: OnceLock<T>,
    /// Taken only while the value is missing.
    constructing: Lock<()>,
}

impl<T> Lazy<T> {
    const fn new() -> Self {
        Lazy {
            value: OnceLock::new(),
            constructing: Lock::new(()),
        }
    }

    fn get_blocking(&self, make: impl FnOnce() -> T) -> &T {
        if let Some(v) = self.value.get() {
            return v; // the fast path: no lock
        }
        let _constructing = self
            .constructing
            .lock()
            .wait_timeout(PATIENCE)
            .expect("the constructor runs well within 5 s");
        if let Some(v) = self.value.get() {
            return v; // made while we waited for the lock
        }
        self.install(make())
    }

    async fn get(&self, make: impl Future<Output = T>) -> &T {
        if let Some(v) = self.value.get() {
            return v;
        }
        let _constructing = self
            .constructing
            .lock()
            .timeout(PATIENCE)
            .await
            .expect("the constructor runs well within 5 s");
        if let Some(v) = self.value.get() {
            return v;
        }
        self.install(make.await)
    }

    /// With `constructing` held: nobody else sets the value.
    fn install(&self, v: T) -> &T {
        assert!(self.value.set(v).is_ok(), "set only under the lock");
        self.value.get().expect("just set")
    }
}

static POOL: Lazy<Pool> = Lazy::new();

/// A caller of part 2: reports, and returns the instance's address.
fn got_pool(who: &str, p: &Pool) -> usize {
    say(who, format!("got the pool opened by {}", p.opened_by));
    address(p)
}
static POOLS_OPENED: AtomicUsize = AtomicUsize::new(0);

fn pool_blocking(who: &str) -> &'static Pool {
    POOL.get_blocking(|| {
        POOLS_OPENED.fetch_add(1, SeqCst);
        say(who, "opens the pool (blocking)");
        std::thread::sleep(CONSTRUCT);
        Pool {
            opened_by: who.to_owned(),
        }
    })
}

async fn pool(who: &str) -> &'static Pool {
    POOL.get(async {
        POOLS_OPENED.fetch_add(1, SeqCst);
        say(who, "opens the pool (awaiting, its worker free)");
        tokio::time::sleep(CONSTRUCT).await;
        Pool {
            opened_by: who.to_owned(),
        }
    })
    .await
}

// ---------------------------------------------------------------------------
// 3. An LRU cache.
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Lru {
    pages: HashMap<u64, String>,
    /// Keys from least to most recently used.
    recency: VecDeque<u64>,
    hits: usize,
    misses: usize,
    evictions: usize,
}

static FETCHES: AtomicUsize = AtomicUsize::new(0);

/// The slow source the cache saves us from.
fn fetch(page: u64) -> String {
    FETCHES.fetch_add(1, SeqCst);
    format!("page {page}")
}

impl Lru {
    /// The page, from the cache or fetched (and cached, evicting the least
    /// recently used page if full).
    fn read(&mut self, page: u64) -> String {
        let value = if let Some(v) = self.pages.get(&page) {
            let v = v.clone();
            self.hits += 1;
            let at = self
                .recency
                .iter()
                .position(|&k| k == page)
                .expect("cached keys are in the recency list");
            self.recency.remove(at);
            v
        } else {
            self.misses += 1;
            if self.pages.len() == CAPACITY {
                let old = self.recency.pop_front().expect("a full cache");
                self.pages.remove(&old);
                self.evictions += 1;
            }
            let v = fetch(page);
            self.pages.insert(page, v.clone());
            v
        };
        self.recency.push_back(page);
        assert!(
            self.pages.len() <= CAPACITY,
            "the cache grew past its capacity"
        );
        assert_eq!(self.pages.len(), self.recency.len());
        value
    }
}

fn read_blocking(cache: &Lock<Lru>, page: u64) -> String {
    cache
        .lock()
        .wait_timeout(PATIENCE)
        .expect("the cache's lock within 5 s")
        .read(page)
}

async fn read(cache: &Lock<Lru>, page: u64) -> String {
    cache
        .lock()
        .timeout(PATIENCE)
        .await
        .expect("the cache's lock within 5 s")
        .read(page)
}

/// Worker `n`'s warm-up reads: the pages that fit, twice, rotated by `n`.
fn warm_reads(n: usize) -> impl Iterator<Item = u64> {
    (0..2 * CAPACITY).map(move |i| ((i + n) % CAPACITY) as u64)
}

/// A worker's random reads (xorshift, seeded by the worker's name).
fn random_reads(who: &str) -> impl Iterator<Item = u64> {
    let mut x = who.bytes().fold(0x9E37_79B9_7F4A_7C15u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    });
    (0..RANDOM_READS).map(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % PAGES
    })
}

async fn lru_cache() {
    let cache = Arc::new(Lock::new(Lru::default()));

    // Warm: every worker reads the pages that fit, twice.
    let c = Arc::clone(&cache);
    let c2 = Arc::clone(&cache);
    race(
        move |_, n| {
            for page in warm_reads(n) {
                assert_eq!(read_blocking(&c, page), format!("page {page}"));
            }
        },
        move |_, n| {
            let c = Arc::clone(&c2);
            async move {
                for page in warm_reads(n) {
                    assert_eq!(read(&c, page).await, format!("page {page}"));
                }
            }
        },
    )
    .await;
    {
        let lru = cache.lock().timeout(PATIENCE).await.expect("free now");
        let reads = 6 * 2 * CAPACITY;
        say(
            "[task main]",
            format!(
                "warm: {reads} reads, {} hits, {} misses, {} cached",
                lru.hits,
                lru.misses,
                lru.pages.len()
            ),
        );
        assert_eq!(lru.misses, CAPACITY, "each page missed once");
        assert_eq!(lru.hits, reads - CAPACITY);
        assert_eq!(lru.evictions, 0);
        assert_eq!(FETCHES.load(SeqCst), CAPACITY, "each page fetched once");
    }

    // Eviction: set the recency order 0..8, touch 0, read 100.
    {
        let mut lru = cache.lock().timeout(PATIENCE).await.expect("free now");
        for page in 0..CAPACITY as u64 {
            lru.read(page);
        }
        lru.read(0); // now 1 is the least recently used
        lru.read(100);
        assert!(!lru.pages.contains_key(&1), "page 1 was evicted");
        assert!(lru.pages.contains_key(&0) && lru.pages.contains_key(&100));
        assert_eq!((lru.evictions, lru.pages.len()), (1, CAPACITY));
        say(
            "[task main]",
            "read pages 0..8 in order, then 0 again, then 100: evicted page 1",
        );
    }

    // Churn: random reads from three times as many pages as fit.
    let c = Arc::clone(&cache);
    let c2 = Arc::clone(&cache);
    race(
        move |who, _| {
            for page in random_reads(&who) {
                assert_eq!(read_blocking(&c, page), format!("page {page}"));
            }
        },
        move |who, _| {
            let c = Arc::clone(&c2);
            async move {
                for page in random_reads(&who) {
                    assert_eq!(read(&c, page).await, format!("page {page}"));
                }
            }
        },
    )
    .await;
    let lru = cache.lock().timeout(PATIENCE).await.expect("free now");
    // The warm-up's, main's, and the churn's.
    let reads = 6 * 2 * CAPACITY + CAPACITY + 2 + 6 * RANDOM_READS;
    say(
        "[task main]",
        format!(
            "after churn: {} hits + {} misses = {reads} reads, {} evictions, {} cached",
            lru.hits,
            lru.misses,
            lru.evictions,
            lru.pages.len()
        ),
    );
    assert_eq!(lru.hits + lru.misses, reads, "every read counted once");
    assert_eq!(FETCHES.load(SeqCst), lru.misses, "every miss fetched once");
    assert_eq!(lru.pages.len(), CAPACITY);
    assert_eq!(
        lru.evictions,
        lru.misses - CAPACITY,
        "full since the warm-up"
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    watchdog();

    say("[task main]", "1. a singleton in a std OnceLock");
    let got = race(
        |who, _| got_settings(&who),
        |who, _| async move { got_settings(&who) },
    )
    .await;
    assert_eq!(SETTINGS_MADE.load(SeqCst), 1, "constructed once");
    assert!(got.iter().all(|&a| a == got[0]), "one instance for all");
    say(
        "[task main]",
        format!(
            "6 callers, 1 construction, one instance ('{}')",
            settings("[task main]").name
        ),
    );

    say(
        "[task main]",
        "2. a singleton whose constructor awaits: OnceLock + amphi Lock",
    );
    let got = race(
        |who, _| got_pool(&who, pool_blocking(&who)),
        |who, _| async move { got_pool(&who, pool(&who).await) },
    )
    .await;
    assert_eq!(POOLS_OPENED.load(SeqCst), 1, "opened once");
    assert!(got.iter().all(|&a| a == got[0]), "one pool for all");
    assert!(!POOL.constructing.is_locked());
    say(
        "[task main]",
        format!(
            "6 callers, 1 pool, opened by {}",
            pool("[task main]").await.opened_by
        ),
    );

    say("[task main]", "3. an LRU cache behind a Lock");
    lru_cache().await;
    say("[task main]", "checks passed");
}

/// Ends the process if the example hangs.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(WATCHDOG);
        eprintln!("guide_singleton_lru: still running after {WATCHDOG:?}; something is stuck");
        std::process::exit(1);
    });
}
