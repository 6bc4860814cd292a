//! A three-stage download pipeline, fetch -> parse -> store, in which tokio
//! tasks and OS threads share the same [`Queue`]s.
//!
//! * The work list is a `Queue` of URLs, filled and then shut down before
//!   anyone starts: the fetchers drain it, and each one stops when its
//!   `get` finds it shut down and empty.
//! * Fetch: three async fetchers (tokio tasks) "download" each page (a
//!   `tokio::time::sleep` of a ms or two) and put it on `pages`, a bounded
//!   queue of two. When it is full, `try_put` gives the page back and the
//!   fetcher awaits `put` instead: backpressure from the parsers.
//! * Parse: two blocking parsers, a plain OS thread and a `spawn_blocking`
//!   thread, take pages, parse them (CPU work, so not on a runtime worker)
//!   and put records on `records`, a bounded queue of three. A parser calls
//!   `task_done()` on `pages` once the page's record is out.
//! * Store: one async task takes the records through `records.stream()`
//!   and keeps them, calling `task_done()` on `records` for each.
//!
//! Each stage shuts the next queue down when it is done, as Python 3.13's
//! `Queue.shutdown` is meant to be used: `main`, once the fetchers are
//! done, awaits `pages.join()` (every page parsed) and calls
//! `pages.shutdown(false)`; the parsers' gets then end, and the last parser
//! out waits in `records.join()` (blocking, with a time limit) for the
//! store and calls `records.shutdown(false)`; the store's stream then ends.
//!
//! Each line says who acts. The example checks at the end that every page
//! was fetched, parsed and stored exactly once and that both queues are
//! empty, done and shut down, and panics if not. Run it with
//! `cargo run --example queue_pipeline`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use amphi::{Queue, TryPutError};
use futures::StreamExt;

const URLS: [&str; 8] = [
    "/",
    "/about",
    "/blog",
    "/blog/queues",
    "/blog/locks",
    "/docs",
    "/docs/queue",
    "/contact",
];
const FETCHERS: usize = 3;
const PARSERS: usize = 2;
/// The bounds of the two hand-over queues: small, to show backpressure.
const PAGES_BOUND: usize = 2;
const RECORDS_BOUND: usize = 3;
/// How long the last parser waits for the store to take every record.
const STORE_PATIENCE: Duration = Duration::from_secs(2);

fn say(who: &str, what: impl std::fmt::Display) {
    println!("{who:<26} {what}");
}

/// A downloaded page.
struct Page {
    url: &'static str,
    html: String,
    fetched_by: String,
}

/// What a parser makes of a page.
#[derive(Debug)]
struct Record {
    url: &'static str,
    title: String,
    words: usize,
    fetched_by: String,
    parsed_by: String,
}

struct Pipeline {
    urls: Queue<&'static str>,
    pages: Queue<Page>,
    records: Queue<Record>,
    /// Parsers still running: the last one out shuts `records` down.
    parsers_left: AtomicUsize,
}

/// A simulated download: a ms or two, depending on the URL.
async fn download(url: &'static str) -> String {
    tokio::time::sleep(Duration::from_millis(1 + url.len() as u64 % 2)).await;
    let title = url.trim_matches('/').replace('/', " / ");
    let title = if title.is_empty() { "home" } else { &title };
    let body = "lorem ipsum dolor sit amet ".repeat(1 + url.len() % 4);
    format!("<html><title>{title}</title><body>{body}</body></html>")
}

/// An async fetcher (a tokio task).
async fn fetch(p: Arc<Pipeline>, me: String) -> usize {
    let mut fetched = 0;
    // The work list was shut down when it was filled: `get` takes what is
    // left, then gives `Err(ShutDown)`, and the loop ends.
    while let Ok(url) = p.urls.get().await {
        let html = download(url).await;
        say(&me, format_args!("fetched {url} ({} bytes)", html.len()));
        let page = Page {
            url,
            html,
            fetched_by: me.clone(),
        };
        match p.pages.try_put(page) {
            Ok(()) => {}
            Err(TryPutError::Full(page)) => {
                // The page came back with the error: wait for room.
                say(
                    &me,
                    format_args!("pages full ({PAGES_BOUND} of {PAGES_BOUND}): waits for a parser"),
                );
                p.pages
                    .put(page)
                    .await
                    .expect("pages shuts down after the fetchers");
                say(&me, format_args!("room again: put {url}"));
            }
            Err(TryPutError::ShutDown(_)) => unreachable!("pages shuts down after the fetchers"),
        }
        fetched += 1;
    }
    say(&me, "work list empty and shut down: done");
    fetched
}

/// Extracts the title and counts the words of a page (CPU work).
fn parse(page: &Page) -> (String, usize) {
    let title = page
        .html
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map_or("?", |(title, _)| title)
        .to_string();
    let body = page
        .html
        .split_once("<body>")
        .map_or("", |(_, rest)| rest.trim_end_matches("</body></html>"));
    std::thread::sleep(Duration::from_millis(3)); // pretend it is expensive
    (title, body.split_whitespace().count())
}

/// A blocking parser (an OS thread): one page at a time, until `pages` is
/// shut down and empty.
fn parse_pages(p: &Pipeline, me: &str) -> usize {
    let mut parsed = 0;
    // Each `next` is a `get_blocking`; the iterator ends at shutdown.
    for page in p.pages.iter_blocking() {
        let (title, words) = parse(&page);
        say(
            me,
            format_args!("parsed {} -> {title:?}, {words} words", page.url),
        );
        let record = Record {
            url: page.url,
            title,
            words,
            fetched_by: page.fetched_by,
            parsed_by: me.to_string(),
        };
        p.records
            .put_blocking(record)
            .expect("records shuts down after the parsers");
        // The page is fully handled: its record is on the next queue.
        p.pages.task_done().expect("one task_done per page got");
        parsed += 1;
    }
    say(me, "pages shut down and empty: done");
    if p.parsers_left.fetch_sub(1, SeqCst) == 1 {
        // The last parser out closes the parse stage.
        let stored = p.records.join().wait_timeout(STORE_PATIENCE);
        assert!(
            stored,
            "the store took every record within {STORE_PATIENCE:?}"
        );
        say(
            me,
            "last parser: records.join() says every record is stored; records.shutdown(false)",
        );
        p.records.shutdown(false);
    }
    parsed
}

/// The async store (a tokio task): keeps every record until the stream
/// ends at shutdown.
async fn store(p: Arc<Pipeline>) -> Vec<Record> {
    let me = "[task store]";
    let mut db = Vec::new();
    let mut records = p.records.stream();
    while let Some(record) = records.next().await {
        say(
            me,
            format_args!("stored {} ({} waiting)", record.url, p.records.len()),
        );
        db.push(record);
        p.records.task_done().expect("one task_done per record got");
    }
    say(me, "records shut down and empty: done");
    db
}

async fn pipeline() {
    let me = "[task main]";
    let p = Arc::new(Pipeline {
        urls: Queue::unbounded(),
        pages: Queue::bounded(PAGES_BOUND),
        records: Queue::bounded(RECORDS_BOUND),
        parsers_left: AtomicUsize::new(PARSERS),
    });
    p.urls.try_put_many(URLS).expect("unbounded and open");
    p.urls.shutdown(false); // no more URLs come: fetchers drain the list
    say(
        me,
        format_args!(
            "{} URLs queued; {FETCHERS} fetcher tasks, {PARSERS} parser threads, 1 store task",
            URLS.len()
        ),
    );

    let store = tokio::spawn(store(Arc::clone(&p)));
    let parser_1 = std::thread::spawn({
        let p = Arc::clone(&p);
        move || parse_pages(&p, "[thread parser-1]")
    });
    let parser_2 = tokio::task::spawn_blocking({
        let p = Arc::clone(&p);
        move || parse_pages(&p, "[spawn_blocking parser-2]")
    });
    let fetchers: Vec<_> = (1..=FETCHERS)
        .map(|i| tokio::spawn(fetch(Arc::clone(&p), format!("[task fetch-{i}]"))))
        .collect();

    let mut fetched = 0;
    for f in fetchers {
        fetched += f.await.expect("a fetcher panicked");
    }
    say(
        me,
        format_args!("fetchers done ({fetched} pages); awaits pages.join()"),
    );
    // Python's work tracking: join returns once every page put has been
    // marked done by a parser. (shutdown(false) alone would also let the
    // parsers drain what is left; join shows that nothing is left.)
    p.pages.join().await;
    say(
        me,
        format_args!(
            "pages.join(): every page parsed ({} unfinished); pages.shutdown(false)",
            p.pages.unfinished()
        ),
    );
    p.pages.shutdown(false);

    let db = store.await.expect("the store panicked");
    let parsed_2 = parser_2.await.expect("parser-2 panicked");
    let parsed_1 = tokio::task::spawn_blocking(move || parser_1.join())
        .await
        .unwrap()
        .expect("parser-1 panicked");

    println!();
    println!("Stored records:");
    let mut by_url = BTreeMap::new();
    for r in &db {
        println!(
            "  {:<14} {:<15} {:>2} words  fetched by {:<16} parsed by {}",
            r.url, r.title, r.words, r.fetched_by, r.parsed_by
        );
        assert!(by_url.insert(r.url, r).is_none(), "{} stored twice", r.url);
    }
    let mut wanted = URLS.to_vec();
    wanted.sort_unstable();
    assert_eq!(
        by_url.keys().copied().collect::<Vec<_>>(),
        wanted,
        "every page stored exactly once"
    );
    assert_eq!(fetched, URLS.len());
    assert_eq!(parsed_1 + parsed_2, URLS.len(), "every page parsed once");
    for r in &db {
        assert!(r.words > 0 && !r.title.is_empty());
    }
    finished("urls", &p.urls);
    finished("pages", &p.pages);
    finished("records", &p.records);
    // Work tracking: every page and record got was marked done. (The work
    // list is not tracked: nobody calls task_done on it, so its 8 URLs stay
    // "unfinished"; a join on it would never return.)
    assert_eq!(
        p.urls.unfinished(),
        URLS.len(),
        "the work list is not tracked"
    );
    assert_eq!(p.pages.unfinished(), 0, "every page marked done");
    assert_eq!(p.records.unfinished(), 0, "every record marked done");
    println!();
    println!(
        "All checks passed: {} pages fetched, parsed and stored exactly once \
         (parser-1 {parsed_1}, parser-2 {parsed_2}).",
        URLS.len()
    );
}

/// Checks that a stage's queue ended empty and shut down, with nobody
/// waiting on it.
fn finished<T>(name: &str, q: &Queue<T>) {
    assert!(q.is_empty(), "{name} is empty");
    assert!(q.is_shutdown(), "{name} is shut down");
    assert_eq!(q.waiters().total(), 0, "nobody waits on {name}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    watchdog();
    pipeline().await;
}

/// Ends the process if the example hangs.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(10));
        eprintln!("queue_pipeline: still running after 10 s (a lost wake-up?)");
        std::process::exit(1);
    });
}
