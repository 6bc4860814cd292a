//! A per-thread database connection with [`Local`] (Python's
//! `threading.local`): every thread that talks to the "database" opens its
//! own connection on first use and reuses it afterwards.
//!
//! * Four plain worker threads run 25 queries each: four connections.
//! * Two `spawn_blocking` jobs do the same: their threads get their own.
//! * Tasks on a two-worker runtime run queries too: a value belongs to an
//!   OS thread, so the tasks share the connection of the worker they run
//!   on (at most two more), which is what a per-thread resource is for;
//!   `tokio::task_local!` is the tool for a value per task.
//!
//! At the end, with `&mut` access, `iter_mut` adds up the queries each
//! connection ran. The example checks that no connection was shared by two
//! threads, that every query was counted once, and that no more
//! connections were opened than threads used them. Run it with
//! `cargo run --example local_connection`.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use amphi::Local;

/// A stand-in for a driver's connection: not `Sync` (one thread at a time).
struct Connection {
    id: usize,
    thread: std::thread::ThreadId,
    queries: Cell<u32>,
    log: RefCell<Vec<String>>,
}

static OPENED: AtomicUsize = AtomicUsize::new(0);

fn connect() -> Connection {
    let id = OPENED.fetch_add(1, SeqCst);
    let thread = std::thread::current().id();
    println!(
        "  connection {id} opened by {:?}",
        std::thread::current().name().unwrap_or("?")
    );
    Connection {
        id,
        thread,
        queries: Cell::new(0),
        log: RefCell::new(Vec::new()),
    }
}

fn query(db: &Local<Connection>, sql: &str) -> usize {
    let conn = db.get();
    assert_eq!(
        conn.thread,
        std::thread::current().id(),
        "never another thread's connection"
    );
    conn.queries.set(conn.queries.get() + 1);
    conn.log.borrow_mut().push(sql.to_owned());
    conn.id
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let db = Arc::new(Local::new(connect));
    let mut users = HashSet::new();

    println!("[threads] four workers, 25 queries each");
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let db = Arc::clone(&db);
            std::thread::Builder::new()
                .name(format!("worker-{w}"))
                .spawn(move || {
                    let ids: HashSet<usize> = (0..25)
                        .map(|q| query(&db, &format!("SELECT {q}")))
                        .collect();
                    assert_eq!(ids.len(), 1, "one connection per thread, reused");
                    ids.into_iter().next().unwrap()
                })
                .unwrap()
        })
        .collect();
    for w in workers {
        users.insert(w.join().unwrap());
    }

    println!("[spawn_blocking] two blocking jobs");
    for _ in 0..2 {
        let db = Arc::clone(&db);
        let id = tokio::task::spawn_blocking(move || {
            let mut id = 0;
            for q in 0..25 {
                id = query(&db, &format!("UPDATE {q}"));
            }
            id
        })
        .await
        .unwrap();
        users.insert(id);
    }

    println!("[tasks] eight tasks on two runtime workers");
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let db = Arc::clone(&db);
            tokio::spawn(async move {
                let mut ids = HashSet::new();
                for q in 0..25 {
                    ids.insert(query(&db, &format!("INSERT {t}-{q}")));
                    tokio::task::yield_now().await; // may move to the other worker
                }
                ids
            })
        })
        .collect();
    let mut task_conns = HashSet::new();
    for t in tasks {
        task_conns.extend(t.await.unwrap());
    }
    println!(
        "  the tasks used {} connection(s): one per runtime worker they ran on",
        task_conns.len()
    );
    assert!((1..=2).contains(&task_conns.len()));
    users.extend(&task_conns);

    let mut db = Arc::into_inner(db).expect("every user is done");
    let per_conn: Vec<(usize, u32)> = db.iter_mut().map(|c| (c.id, c.queries.get())).collect();
    let total: u32 = per_conn.iter().map(|(_, n)| n).sum();
    let logged: usize = db.iter_mut().map(|c| c.log.get_mut().len()).sum();
    println!("queries per connection: {per_conn:?}");
    println!(
        "{} connections opened, {total} queries",
        OPENED.load(SeqCst)
    );
    assert_eq!(total, 4 * 25 + 2 * 25 + 8 * 25, "every query counted once");
    assert_eq!(logged, total as usize);
    assert_eq!(OPENED.load(SeqCst), per_conn.len(), "no connection lost");
    // Four workers, at most two blocking threads, two runtime workers.
    assert!(
        OPENED.load(SeqCst) <= 4 + 2 + 2,
        "at most one per thread that queried"
    );
    assert_eq!(
        users.len(),
        OPENED.load(SeqCst),
        "every connection was used"
    );
    println!("ok");
}
