//! Randomized cancellation storms on the queue family: threads and tasks put
//! and get with random timeouts, `try_` calls, batch calls and futures that
//! are polled once and dropped, on a small bounded queue. At the end every
//! item put was got exactly once or is still in the queue (or was returned
//! by `shutdown(true)`), every refused item came back to its putter, and
//! the unfinished count agrees with the `task_done` calls.

mod common;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::task::{Context, Poll};

use amphi::{GenericQueue, GetTimeoutError, Order, PutTimeoutError, TryGetError, TryPutError};
use common::*;

fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let waker = futures::task::noop_waker();
    Pin::new(fut).poll(&mut Context::from_waker(&waker))
}

/// What every participant reports.
#[derive(Default)]
struct Ledger {
    put: Mutex<Vec<u64>>,
    refused: Mutex<Vec<u64>>,
    got: Mutex<Vec<u64>>,
}

impl Ledger {
    fn put(&self, id: u64) {
        self.put.lock().unwrap().push(id);
    }
    fn refused(&self, id: u64) {
        self.refused.lock().unwrap().push(id);
    }
    fn got<T, O: Order<T>>(&self, q: &GenericQueue<T, O>, ids: impl IntoIterator<Item = u64>) {
        let mut got = self.got.lock().unwrap();
        for id in ids {
            got.push(id);
            q.task_done().unwrap();
        }
    }
}

type Q<O> = GenericQueue<u64, O>;

const OPS: u64 = 3000;

fn put_thread<O: Order<u64>>(q: &Q<O>, l: &Ledger, who: u64) {
    let mut rng = Rng::new(who + 1);
    for i in 0..OPS {
        let id = who * 1_000_000 + i;
        match rng.below(5) {
            0 => match q.put_blocking(id) {
                Ok(()) => l.put(id),
                Err(e) => l.refused(e.into_inner()),
            },
            1 => match q.put(id).wait_timeout(rng.micros(300)) {
                Ok(()) => l.put(id),
                Err(e) => l.refused(e.into_inner()),
            },
            2 => match q.try_put(id) {
                Ok(()) => l.put(id),
                Err(TryPutError::Full(id) | TryPutError::ShutDown(id)) => l.refused(id),
            },
            3 => {
                // Polled once (perhaps registered), then abandoned.
                let mut fut = q.put(id);
                match poll_once(&mut fut) {
                    Poll::Ready(Ok(())) => l.put(id),
                    Poll::Ready(Err(e)) => l.refused(e.into_inner()),
                    Poll::Pending => l.refused(fut.into_item().expect("not put")),
                }
            }
            _ => {
                let batch = [id, id + 500_000];
                match q.put_many(batch).wait_timeout(rng.micros(300)) {
                    Ok(()) => batch.iter().for_each(|&i| l.put(i)),
                    Err(e) => {
                        let back = e.into_inner();
                        for i in batch {
                            if back.contains(&i) {
                                l.refused(i);
                            } else {
                                l.put(i);
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn put_task<O: Order<u64>>(q: &Q<O>, l: &Ledger, who: u64) {
    let mut rng = Rng::new(who + 7);
    for i in 0..OPS {
        let id = who * 1_000_000 + i;
        match rng.below(3) {
            0 => match q.put(id).await {
                Ok(()) => l.put(id),
                Err(e) => l.refused(e.into_inner()),
            },
            1 => match q.put(id).timeout(rng.micros(300)).await {
                Ok(()) => l.put(id),
                Err(PutTimeoutError::TimedOut(id) | PutTimeoutError::ShutDown(id)) => l.refused(id),
            },
            _ => {
                // Cancelled by an outer timeout: the item is dropped with
                // the future, and was never put.
                let mut fut = q.put(id);
                let out = tokio::time::timeout(rng.micros(200), &mut fut).await;
                match out {
                    Ok(Ok(())) => l.put(id),
                    Ok(Err(e)) => l.refused(e.into_inner()),
                    Err(_) => l.refused(fut.into_item().expect("not put")),
                }
            }
        }
        if i % 16 == 0 {
            tokio::task::yield_now().await;
        }
    }
}

/// Gets until the queue is shut down and empty.
fn get_thread<O: Order<u64>>(q: &Q<O>, l: &Ledger, who: u64) {
    let mut rng = Rng::new(who + 13);
    loop {
        match rng.below(5) {
            0 => match q.get().wait_timeout(rng.micros(300)) {
                Ok(id) => l.got(q, [id]),
                Err(GetTimeoutError::TimedOut) => {}
                Err(GetTimeoutError::ShutDown) => return,
            },
            1 => match q.try_get() {
                Ok(id) => l.got(q, [id]),
                Err(TryGetError::Empty) => {}
                Err(TryGetError::ShutDown) => return,
            },
            2 => {
                let mut fut = q.get();
                if let Poll::Ready(r) = poll_once(&mut fut) {
                    match r {
                        Ok(id) => l.got(q, [id]),
                        Err(_) => return,
                    }
                }
            }
            3 => match q.get_many(3).wait_timeout(rng.micros(300)) {
                Ok(ids) => l.got(q, ids),
                Err(GetTimeoutError::TimedOut) => {}
                Err(GetTimeoutError::ShutDown) => return,
            },
            _ => match q.get_blocking() {
                Ok(id) => l.got(q, [id]),
                Err(_) => return,
            },
        }
    }
}

async fn get_task<O: Order<u64>>(q: &Q<O>, l: &Ledger, who: u64) {
    let mut rng = Rng::new(who + 17);
    loop {
        match rng.below(3) {
            0 => match q.get().await {
                Ok(id) => l.got(q, [id]),
                Err(_) => return,
            },
            1 => match q.get().timeout(rng.micros(300)).await {
                Ok(id) => l.got(q, [id]),
                Err(GetTimeoutError::TimedOut) => {}
                Err(GetTimeoutError::ShutDown) => return,
            },
            _ => {
                if let Ok(r) = tokio::time::timeout(rng.micros(200), q.get()).await {
                    match r {
                        Ok(id) => l.got(q, [id]),
                        Err(_) => return,
                    }
                }
            }
        }
    }
}

/// The storm; with `cut_short`, `shutdown(true)` runs while producers are
/// still putting.
fn storm<O: Order<u64> + Send + Sync + 'static>(cut_short: bool)
where
    O::Store: Send,
{
    let rt = multi_thread_runtime(2);
    let q: Arc<Q<O>> = Arc::new(GenericQueue::new(4));
    let l = Arc::new(Ledger::default());
    let mut producers = Vec::new();
    let mut consumers = Vec::new();
    let mut producer_tasks = Vec::new();
    let mut consumer_tasks = Vec::new();
    for who in 0..3 {
        let (q1, l1) = (Arc::clone(&q), Arc::clone(&l));
        producers.push(spawn_thread(move || put_thread(&q1, &l1, who)));
        let (q2, l2) = (Arc::clone(&q), Arc::clone(&l));
        consumers.push(spawn_thread(move || get_thread(&q2, &l2, who)));
    }
    for who in 3..5 {
        let (q1, l1) = (Arc::clone(&q), Arc::clone(&l));
        producer_tasks.push(rt.spawn(async move { put_task(&q1, &l1, who).await }));
        let (q2, l2) = (Arc::clone(&q), Arc::clone(&l));
        consumer_tasks.push(rt.spawn(async move { get_task(&q2, &l2, who).await }));
    }
    let mut removed = Vec::new();
    if cut_short {
        let l = Arc::clone(&l);
        wait_until("some items went through", move || {
            l.got.lock().unwrap().len() > 100
        });
        removed = q.shutdown(true);
    }
    rt.block_on(async {
        for t in producer_tasks {
            join_task(t).await;
        }
        join_threads(producers).await;
        // Every put is over: end the consumers.
        removed.extend(q.shutdown(false));
        for t in consumer_tasks {
            join_task(t).await;
        }
        join_threads(consumers).await;
    });

    let put: Vec<u64> = l.put.lock().unwrap().clone();
    let refused: Vec<u64> = l.refused.lock().unwrap().clone();
    let got: Vec<u64> = l.got.lock().unwrap().clone();
    let put_set: HashSet<u64> = put.iter().copied().collect();
    assert_eq!(put_set.len(), put.len(), "an id was put twice");
    for id in &refused {
        assert!(!put_set.contains(id), "item {id} both put and refused");
    }
    let mut out: Vec<u64> = got.iter().chain(removed.iter()).copied().collect();
    out.sort_unstable();
    let before = out.len();
    out.dedup();
    assert_eq!(out.len(), before, "an item came out twice");
    let mut put_sorted = put.clone();
    put_sorted.sort_unstable();
    assert_eq!(out, put_sorted, "items lost or invented");
    assert!(q.is_empty());
    // Removed items were counted done by shutdown(true); got ones by the
    // getters' task_done.
    assert_eq!(q.unfinished(), 0);
    assert_eq!(q.waiters().total(), 0);
    assert!(q.join().wait_timeout(SHORT));
    assert!(
        put.len() + refused.len() >= (5 * OPS) as usize,
        "every put attempt was accounted for"
    );
    if !cut_short {
        assert!(!refused.is_empty(), "the storm never filled the queue");
        assert!(got.len() > 100, "the storm moved items ({} got)", got.len());
    }
}

#[test]
fn storm_fifo() {
    storm::<amphi::Fifo>(false);
}

#[test]
fn storm_lifo() {
    storm::<amphi::Lifo>(false);
}

#[test]
fn storm_priority() {
    storm::<amphi::Priority>(false);
}

#[test]
fn storm_fifo_cut_short_by_shutdown_immediate() {
    storm::<amphi::Fifo>(true);
}

#[test]
fn storm_priority_cut_short_by_shutdown_immediate() {
    storm::<amphi::Priority>(true);
}
