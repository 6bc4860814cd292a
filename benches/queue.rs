//! The queue family (`Queue`, `LifoQueue`, `PriorityQueue`) against the
//! channel crates (crossbeam-channel, flume, kanal, async-channel), std and
//! tokio mpsc, and a hand-written `Mutex` + `Condvar` stack / heap.
//!
//! Groups (one per scenario, amphi and its peers side by side, same run);
//! the throughput groups move `MSGS` = 1024 `u64` messages per iteration in
//! all, split evenly among the producers:
//!
//! * `queue_spsc_bounded_blocking`, `queue_spsc_unbounded_blocking`: one
//!   producer thread, one consumer thread, capacity `BOUND` = 64 or
//!   unbounded; peers crossbeam, flume, kanal, async-channel
//!   (`send_blocking` / `recv_blocking`) and std mpsc (`sync_channel(64)` /
//!   `channel()`).
//! * `queue_mpmc_bounded_blocking_{4,16}`: N producer and N consumer threads
//!   on one queue of 64 (16 + 16 threads oversubscribe 2 cores on purpose);
//!   peers crossbeam, flume, kanal, async-channel.
//! * `queue_spsc_bounded_async`: one producer task, one consumer task on the
//!   multi-thread runtime, capacity 64; peers flume (`send_async` /
//!   `recv_async`), kanal (`as_async`), async-channel and tokio mpsc.
//! * `queue_mpmc_bounded_async_4`: 4 producer and 4 consumer tasks, capacity
//!   64; peers flume, kanal, async-channel (tokio mpsc has one receiver).
//! * `queue_mpsc_bounded_async_4`: 4 producer tasks, 1 consumer task,
//!   capacity 64; the same peers plus tokio mpsc.
//! * `queue_mixed_threads_to_tasks`: 2 producer threads (blocking sends,
//!   outside the runtime) feed **one** consumer task; and
//!   `queue_mixed_tasks_to_threads`: 2 producer tasks feed **one** consumer
//!   thread (blocking receives). Capacity 64; peers flume, kanal,
//!   async-channel, tokio mpsc (`blocking_send` / `blocking_recv` on the
//!   thread side). One consumer for every implementation, so that tokio mpsc
//!   (single receiver) runs the same scenario as the others: these groups
//!   are about crossing between threads and tasks; many-consumer contention
//!   is what the mpmc groups measure.
//! * `queue_lifo_threads_4`, `queue_priority_threads_4`: 2 producer + 2
//!   consumer threads, unbounded; amphi's `LifoQueue` / `PriorityQueue`
//!   against `Mutex<Vec<u64>>` / `Mutex<BinaryHeap<Reverse<u64>>>` +
//!   `Condvar` written here (`mutex_condvar`: notifies only when a consumer
//!   waits). The messages are scrambled so the heap really orders them.
//! * `queue_pingpong_thread_task`: round-trip latency between an OS thread
//!   (blocking calls, outside the runtime) and a task, through two queues of
//!   capacity 1 (one each way); peers tokio mpsc (`blocking_send` /
//!   `blocking_recv` on the thread) and flume. One iteration is one round
//!   trip.
//!
//! Ending: a channel ends when its last sender is dropped; amphi's producers
//! hold a shared handle whose drop calls `shutdown(false)` (consumers then
//! drain what is left and get `ShutDown`), the same cost as a sender count.
//! Every run checks itself: the count and the (wrapping) sum of what the
//! consumers received must equal what the producers sent, and the ping-pong
//! thread checks every answer, so a broken setup panics instead of timing.
//!
//! One iteration is the whole batch; lower is better. Threads are spawned
//! and channels made outside the timed region (threads wait at a start
//! line); tasks are spawned inside it, as in the other bench files.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

mod common;
use common::Group;

/// Messages through the queue per iteration, in all (a multiple of every
/// producer count used).
const MSGS: u64 = 1024;
/// The capacity of the bounded groups.
const BOUND: usize = 64;

// ---- what the runs check ---------------------------------------------------

/// The count and wrapping sum of messages sent or received.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    n: u64,
    sum: u64,
}

impl Tally {
    #[inline]
    fn add(&mut self, v: u64) {
        self.n += 1;
        self.sum = self.sum.wrapping_add(v);
    }

    fn total(all: impl IntoIterator<Item = Tally>) -> Tally {
        all.into_iter().fold(Tally::default(), |a, b| Tally {
            n: a.n + b.n,
            sum: a.sum.wrapping_add(b.sum),
        })
    }
}

/// The `i`th message of a producer: a bijection of `i`, so that messages are
/// not already sorted (it matters to the priority queue, not to the others).
#[inline]
fn message(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Panics unless the consumers got exactly what the producers sent, and
/// that was `expected` messages.
fn check(sent: Tally, received: Tally, expected: u64) {
    assert_eq!(sent.n, expected, "the producers did not send every message");
    assert_eq!(received, sent, "the consumers did not get what was sent");
}

// ---- the implementations ---------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Cap {
    Bounded(usize),
    Unbounded,
}

/// A queue under test, as a sender and a receiver handle: the queue ends
/// (receives give `None` once it is empty) when every sender is dropped.
trait Chan: 'static {
    type Tx: Clone + Send + Sync + 'static;
    type Rx: Send + 'static;
    fn channel(cap: Cap) -> (Self::Tx, Self::Rx);
}

/// A queue that OS threads can block on.
trait BlockingChan: Chan {
    fn send_blocking(tx: &Self::Tx, v: u64);
    fn recv_blocking(rx: &mut Self::Rx) -> Option<u64>;
}

/// A queue that tasks can await.
trait AsyncChan: Chan {
    fn send(tx: &Self::Tx, v: u64) -> impl Future<Output = ()> + Send;
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<u64>> + Send;
}

// amphi: the producers share a handle that shuts the queue down when the
// last of them drops it.

struct Amphi<O>(PhantomData<O>);

struct AmphiCloser<O: amphi::Order<u64>> {
    queue: Arc<amphi::GenericQueue<u64, O>>,
}

impl<O: amphi::Order<u64>> Drop for AmphiCloser<O> {
    fn drop(&mut self) {
        let left = self.queue.shutdown(false);
        debug_assert!(left.is_empty());
    }
}

impl<O> Chan for Amphi<O>
where
    O: amphi::Order<u64> + 'static,
    amphi::GenericQueue<u64, O>: Send + Sync,
{
    type Tx = Arc<AmphiCloser<O>>;
    type Rx = Arc<amphi::GenericQueue<u64, O>>;
    fn channel(cap: Cap) -> (Self::Tx, Self::Rx) {
        let queue = Arc::new(match cap {
            Cap::Bounded(n) => amphi::GenericQueue::bounded(n),
            Cap::Unbounded => amphi::GenericQueue::unbounded(),
        });
        let closer = AmphiCloser {
            queue: Arc::clone(&queue),
        };
        (Arc::new(closer), queue)
    }
}

impl<O> BlockingChan for Amphi<O>
where
    O: amphi::Order<u64> + 'static,
    amphi::GenericQueue<u64, O>: Send + Sync,
{
    #[inline]
    fn send_blocking(tx: &Self::Tx, v: u64) {
        tx.queue.put_blocking(v).unwrap();
    }
    #[inline]
    fn recv_blocking(rx: &mut Self::Rx) -> Option<u64> {
        rx.get_blocking().ok()
    }
}

impl<O> AsyncChan for Amphi<O>
where
    O: amphi::Order<u64> + 'static,
    amphi::GenericQueue<u64, O>: Send + Sync,
{
    #[inline]
    async fn send(tx: &Self::Tx, v: u64) {
        tx.queue.put(v).await.unwrap();
    }
    #[inline]
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.get().await.ok()
    }
}

type AmphiFifo = Amphi<amphi::Fifo>;
type AmphiLifo = Amphi<amphi::Lifo>;
type AmphiPriority = Amphi<amphi::Priority>;

struct Crossbeam;

impl Chan for Crossbeam {
    type Tx = crossbeam_channel::Sender<u64>;
    type Rx = crossbeam_channel::Receiver<u64>;
    fn channel(cap: Cap) -> (Self::Tx, Self::Rx) {
        match cap {
            Cap::Bounded(n) => crossbeam_channel::bounded(n),
            Cap::Unbounded => crossbeam_channel::unbounded(),
        }
    }
}

impl BlockingChan for Crossbeam {
    #[inline]
    fn send_blocking(tx: &Self::Tx, v: u64) {
        tx.send(v).unwrap();
    }
    #[inline]
    fn recv_blocking(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

struct Flume;

impl Chan for Flume {
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;
    fn channel(cap: Cap) -> (Self::Tx, Self::Rx) {
        match cap {
            Cap::Bounded(n) => flume::bounded(n),
            Cap::Unbounded => flume::unbounded(),
        }
    }
}

impl BlockingChan for Flume {
    #[inline]
    fn send_blocking(tx: &Self::Tx, v: u64) {
        tx.send(v).unwrap();
    }
    #[inline]
    fn recv_blocking(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

impl AsyncChan for Flume {
    #[inline]
    async fn send(tx: &Self::Tx, v: u64) {
        tx.send_async(v).await.unwrap();
    }
    #[inline]
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv_async().await.ok()
    }
}

/// kanal's sync handles; the async side goes through `as_async` (a free
/// reinterpretation of the same channel).
struct Kanal;

impl Chan for Kanal {
    type Tx = kanal::Sender<u64>;
    type Rx = kanal::Receiver<u64>;
    fn channel(cap: Cap) -> (Self::Tx, Self::Rx) {
        match cap {
            Cap::Bounded(n) => kanal::bounded(n),
            Cap::Unbounded => kanal::unbounded(),
        }
    }
}

impl BlockingChan for Kanal {
    #[inline]
    fn send_blocking(tx: &Self::Tx, v: u64) {
        tx.send(v).unwrap();
    }
    #[inline]
    fn recv_blocking(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

impl AsyncChan for Kanal {
    #[inline]
    async fn send(tx: &Self::Tx, v: u64) {
        tx.as_async().send(v).await.unwrap();
    }
    #[inline]
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.as_async().recv().await.ok()
    }
}

struct AsyncChannel;

impl Chan for AsyncChannel {
    type Tx = async_channel::Sender<u64>;
    type Rx = async_channel::Receiver<u64>;
    fn channel(cap: Cap) -> (Self::Tx, Self::Rx) {
        match cap {
            Cap::Bounded(n) => async_channel::bounded(n),
            Cap::Unbounded => async_channel::unbounded(),
        }
    }
}

impl BlockingChan for AsyncChannel {
    #[inline]
    fn send_blocking(tx: &Self::Tx, v: u64) {
        tx.send_blocking(v).unwrap();
    }
    #[inline]
    fn recv_blocking(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv_blocking().ok()
    }
}

impl AsyncChan for AsyncChannel {
    #[inline]
    async fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).await.unwrap();
    }
    #[inline]
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }
}

/// std mpsc: `sync_channel(n)` when bounded, `channel()` when not.
struct StdMpsc;

#[derive(Clone)]
enum StdTx {
    Bounded(std::sync::mpsc::SyncSender<u64>),
    Unbounded(std::sync::mpsc::Sender<u64>),
}

impl Chan for StdMpsc {
    type Tx = StdTx;
    type Rx = std::sync::mpsc::Receiver<u64>;
    fn channel(cap: Cap) -> (Self::Tx, Self::Rx) {
        match cap {
            Cap::Bounded(n) => {
                let (tx, rx) = std::sync::mpsc::sync_channel(n);
                (StdTx::Bounded(tx), rx)
            }
            Cap::Unbounded => {
                let (tx, rx) = std::sync::mpsc::channel();
                (StdTx::Unbounded(tx), rx)
            }
        }
    }
}

impl BlockingChan for StdMpsc {
    #[inline]
    fn send_blocking(tx: &Self::Tx, v: u64) {
        match tx {
            StdTx::Bounded(tx) => tx.send(v).unwrap(),
            StdTx::Unbounded(tx) => tx.send(v).unwrap(),
        }
    }
    #[inline]
    fn recv_blocking(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

/// tokio mpsc, bounded only (no group here runs it unbounded). Its blocking
/// calls panic inside a runtime; the benches call them on plain threads.
struct TokioMpsc;

impl Chan for TokioMpsc {
    type Tx = tokio::sync::mpsc::Sender<u64>;
    type Rx = tokio::sync::mpsc::Receiver<u64>;
    fn channel(cap: Cap) -> (Self::Tx, Self::Rx) {
        match cap {
            Cap::Bounded(n) => tokio::sync::mpsc::channel(n),
            Cap::Unbounded => unreachable!("no group runs tokio mpsc unbounded"),
        }
    }
}

impl BlockingChan for TokioMpsc {
    #[inline]
    fn send_blocking(tx: &Self::Tx, v: u64) {
        tx.blocking_send(v).unwrap();
    }
    #[inline]
    fn recv_blocking(rx: &mut Self::Rx) -> Option<u64> {
        rx.blocking_recv()
    }
}

impl AsyncChan for TokioMpsc {
    #[inline]
    async fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).await.unwrap();
    }
    #[inline]
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await
    }
}

// The hand-written peer of the LIFO and priority groups: a container under a
// std `Mutex`, a `Condvar` for consumers, unbounded.

/// The container of a [`MutexCondvar`]: a stack or a min-heap.
trait Pile: Default + Send + 'static {
    fn push(&mut self, v: u64);
    fn pop(&mut self) -> Option<u64>;
}

impl Pile for Vec<u64> {
    #[inline]
    fn push(&mut self, v: u64) {
        Vec::push(self, v);
    }
    #[inline]
    fn pop(&mut self) -> Option<u64> {
        Vec::pop(self)
    }
}

impl Pile for BinaryHeap<Reverse<u64>> {
    #[inline]
    fn push(&mut self, v: u64) {
        BinaryHeap::push(self, Reverse(v));
    }
    #[inline]
    fn pop(&mut self) -> Option<u64> {
        BinaryHeap::pop(self).map(|Reverse(v)| v)
    }
}

struct PileState<P> {
    items: P,
    /// Consumers inside `Condvar::wait`: a push notifies only if one is.
    waiting: usize,
    closed: bool,
}

struct PileQueue<P> {
    state: Mutex<PileState<P>>,
    not_empty: Condvar,
}

struct PileCloser<P: Pile>(Arc<PileQueue<P>>);

impl<P: Pile> Drop for PileCloser<P> {
    fn drop(&mut self) {
        self.0.state.lock().unwrap().closed = true;
        self.0.not_empty.notify_all();
    }
}

struct MutexCondvar<P>(PhantomData<P>);

impl<P: Pile> Chan for MutexCondvar<P> {
    type Tx = Arc<PileCloser<P>>;
    type Rx = Arc<PileQueue<P>>;
    fn channel(cap: Cap) -> (Self::Tx, Self::Rx) {
        assert!(
            matches!(cap, Cap::Unbounded),
            "the mutex_condvar peer is unbounded only"
        );
        let queue = Arc::new(PileQueue {
            state: Mutex::new(PileState {
                items: P::default(),
                waiting: 0,
                closed: false,
            }),
            not_empty: Condvar::new(),
        });
        (Arc::new(PileCloser(Arc::clone(&queue))), queue)
    }
}

impl<P: Pile> BlockingChan for MutexCondvar<P> {
    #[inline]
    fn send_blocking(tx: &Self::Tx, v: u64) {
        let q = &tx.0;
        let mut st = q.state.lock().unwrap();
        st.items.push(v);
        let wake = st.waiting > 0;
        drop(st);
        if wake {
            q.not_empty.notify_one();
        }
    }
    #[inline]
    fn recv_blocking(rx: &mut Self::Rx) -> Option<u64> {
        let mut st = rx.state.lock().unwrap();
        loop {
            if let Some(v) = st.items.pop() {
                return Some(v);
            }
            if st.closed {
                return None;
            }
            st.waiting += 1;
            st = rx.not_empty.wait(st).unwrap();
            st.waiting -= 1;
        }
    }
}

type StackCondvar = MutexCondvar<Vec<u64>>;
type HeapCondvar = MutexCondvar<BinaryHeap<Reverse<u64>>>;

// ---- producers, consumers and drivers --------------------------------------

/// `producers` sender handles and one receiver.
fn ends<C: Chan>(cap: Cap, producers: usize) -> (Vec<C::Tx>, C::Rx) {
    let (tx, rx) = C::channel(cap);
    let mut txs: Vec<_> = (1..producers).map(|_| tx.clone()).collect();
    txs.push(tx);
    (txs, rx)
}

/// `producers` sender handles and `consumers` receiver handles.
fn ends_mc<C: Chan>(cap: Cap, producers: usize, consumers: usize) -> (Vec<C::Tx>, Vec<C::Rx>)
where
    C::Rx: Clone,
{
    let (txs, rx) = ends::<C>(cap, producers);
    let mut rxs: Vec<_> = (1..consumers).map(|_| rx.clone()).collect();
    rxs.push(rx);
    (txs, rxs)
}

/// Sends `n` messages, then drops its handle.
fn produce_blocking<C: BlockingChan>(tx: C::Tx, n: u64) -> Tally {
    let mut sent = Tally::default();
    for i in 0..n {
        let v = message(i);
        C::send_blocking(&tx, v);
        sent.add(v);
    }
    sent
}

/// Receives until the queue ends.
fn consume_blocking<C: BlockingChan>(mut rx: C::Rx) -> Tally {
    let mut got = Tally::default();
    while let Some(v) = C::recv_blocking(&mut rx) {
        got.add(v);
    }
    got
}

async fn produce_async<C: AsyncChan>(tx: C::Tx, n: u64) -> Tally {
    let mut sent = Tally::default();
    for i in 0..n {
        let v = message(i);
        C::send(&tx, v).await;
        sent.add(v);
    }
    sent
}

async fn consume_async<C: AsyncChan>(mut rx: C::Rx) -> Tally {
    let mut got = Tally::default();
    while let Some(v) = C::recv(&mut rx).await {
        got.add(v);
    }
    got
}

/// A thread that waits at `line`, then runs `work`.
fn spawn_at(
    line: &Arc<Barrier>,
    work: impl FnOnce() -> Tally + Send + 'static,
) -> JoinHandle<Tally> {
    let line = Arc::clone(line);
    std::thread::spawn(move || {
        line.wait();
        work()
    })
}

fn join_threads(threads: Vec<JoinHandle<Tally>>) -> Tally {
    Tally::total(
        threads
            .into_iter()
            .map(|t| t.join().expect("benchmark thread panicked")),
    )
}

async fn join_tasks(tasks: Vec<tokio::task::JoinHandle<Tally>>) -> Tally {
    let mut all = Vec::with_capacity(tasks.len());
    for t in tasks {
        all.push(t.await.expect("benchmark task panicked"));
    }
    Tally::total(all)
}

/// Producer threads to consumer threads, `total` messages in all; the time
/// from the start line until every thread has finished.
fn threads_to_threads<C: BlockingChan>(txs: Vec<C::Tx>, rxs: Vec<C::Rx>, total: u64) -> Duration {
    let per = total / txs.len() as u64;
    let line = Arc::new(Barrier::new(txs.len() + rxs.len() + 1));
    let producers: Vec<_> = txs
        .into_iter()
        .map(|tx| spawn_at(&line, move || produce_blocking::<C>(tx, per)))
        .collect();
    let consumers: Vec<_> = rxs
        .into_iter()
        .map(|rx| spawn_at(&line, move || consume_blocking::<C>(rx)))
        .collect();
    line.wait();
    let start = Instant::now();
    let received = join_threads(consumers);
    let elapsed = start.elapsed();
    check(join_threads(producers), received, total);
    elapsed
}

/// Producer tasks to consumer tasks on `rt`, all spawned inside the clock.
fn tasks_to_tasks<C: AsyncChan>(
    rt: &Runtime,
    txs: Vec<C::Tx>,
    rxs: Vec<C::Rx>,
    total: u64,
) -> Duration {
    let per = total / txs.len() as u64;
    rt.block_on(async {
        let start = Instant::now();
        let producers: Vec<_> = txs
            .into_iter()
            .map(|tx| tokio::spawn(produce_async::<C>(tx, per)))
            .collect();
        let consumers: Vec<_> = rxs
            .into_iter()
            .map(|rx| tokio::spawn(consume_async::<C>(rx)))
            .collect();
        let received = join_tasks(consumers).await;
        let elapsed = start.elapsed();
        check(join_tasks(producers).await, received, total);
        elapsed
    })
}

/// Producer threads (outside the runtime) to consumer tasks on `rt`.
fn threads_to_tasks<C: BlockingChan + AsyncChan>(
    rt: &Runtime,
    txs: Vec<C::Tx>,
    rxs: Vec<C::Rx>,
    total: u64,
) -> Duration {
    let per = total / txs.len() as u64;
    let line = Arc::new(Barrier::new(txs.len() + 1));
    let producers: Vec<_> = txs
        .into_iter()
        .map(|tx| spawn_at(&line, move || produce_blocking::<C>(tx, per)))
        .collect();
    line.wait();
    let start = Instant::now();
    let received = rt.block_on(join_tasks(
        rxs.into_iter()
            .map(|rx| rt.spawn(consume_async::<C>(rx)))
            .collect(),
    ));
    let elapsed = start.elapsed();
    check(join_threads(producers), received, total);
    elapsed
}

/// Producer tasks on `rt` to consumer threads (outside the runtime).
fn tasks_to_threads<C: BlockingChan + AsyncChan>(
    rt: &Runtime,
    txs: Vec<C::Tx>,
    rxs: Vec<C::Rx>,
    total: u64,
) -> Duration {
    let per = total / txs.len() as u64;
    let line = Arc::new(Barrier::new(rxs.len() + 1));
    let consumers: Vec<_> = rxs
        .into_iter()
        .map(|rx| spawn_at(&line, move || consume_blocking::<C>(rx)))
        .collect();
    line.wait();
    let start = Instant::now();
    let sent = rt.block_on(join_tasks(
        txs.into_iter()
            .map(|tx| rt.spawn(produce_async::<C>(tx, per)))
            .collect(),
    ));
    let received = join_threads(consumers);
    let elapsed = start.elapsed();
    check(sent, received, total);
    elapsed
}

/// [`threads_to_tasks`] or [`tasks_to_threads`] for one implementation.
type Driver<C> = fn(&Runtime, Vec<<C as Chan>::Tx>, Vec<<C as Chan>::Rx>, u64) -> Duration;

/// `rounds` round trips: this thread (blocking) sends `i` through one queue
/// of capacity 1, a task of `rt` answers `i + 1` through another.
fn pingpong<C: BlockingChan + AsyncChan>(rt: &Runtime, rounds: u64) -> Duration {
    let (ping_tx, mut ping_rx) = C::channel(Cap::Bounded(1));
    let (pong_tx, mut pong_rx) = C::channel(Cap::Bounded(1));
    let start = Instant::now();
    let task = rt.spawn(async move {
        let mut answered = 0;
        while let Some(v) = C::recv(&mut ping_rx).await {
            C::send(&pong_tx, v + 1).await;
            answered += 1;
        }
        answered
    });
    for i in 0..rounds {
        C::send_blocking(&ping_tx, i);
        assert_eq!(
            C::recv_blocking(&mut pong_rx),
            Some(i + 1),
            "a wrong answer"
        );
    }
    let elapsed = start.elapsed();
    drop(ping_tx);
    assert_eq!(rt.block_on(task).unwrap(), rounds);
    elapsed
}

// ---- groups ----------------------------------------------------------------

/// A throughput group: `MSGS` elements per iteration.
fn group<'a>(c: &'a mut Criterion, name: &str) -> Group<'a> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10);
    g.throughput(Throughput::Elements(MSGS));
    g
}

fn spsc_blocking(c: &mut Criterion) {
    fn bench<C: BlockingChan>(g: &mut Group<'_>, name: &str, cap: Cap) {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (txs, rx) = ends::<C>(cap, 1);
                threads_to_threads::<C>(txs, vec![rx], iters * MSGS)
            })
        });
    }
    for (label, cap) in [
        ("bounded", Cap::Bounded(BOUND)),
        ("unbounded", Cap::Unbounded),
    ] {
        let mut g = group(c, &format!("queue_spsc_{label}_blocking"));
        bench::<Crossbeam>(&mut g, "crossbeam", cap);
        bench::<Flume>(&mut g, "flume", cap);
        bench::<Kanal>(&mut g, "kanal", cap);
        bench::<AsyncChannel>(&mut g, "async_channel", cap);
        bench::<StdMpsc>(&mut g, "std_mpsc", cap);
        bench::<AmphiFifo>(&mut g, "amphi", cap);
        g.finish();
    }
}

fn mpmc_blocking(c: &mut Criterion) {
    fn bench<C: BlockingChan>(g: &mut Group<'_>, name: &str, n: usize)
    where
        C::Rx: Clone,
    {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (txs, rxs) = ends_mc::<C>(Cap::Bounded(BOUND), n, n);
                threads_to_threads::<C>(txs, rxs, iters * MSGS)
            })
        });
    }
    for n in [4, 16] {
        let mut g = group(c, &format!("queue_mpmc_bounded_blocking_{n}"));
        bench::<Crossbeam>(&mut g, "crossbeam", n);
        bench::<Flume>(&mut g, "flume", n);
        bench::<Kanal>(&mut g, "kanal", n);
        bench::<AsyncChannel>(&mut g, "async_channel", n);
        bench::<AmphiFifo>(&mut g, "amphi", n);
        g.finish();
    }
}

fn async_groups(c: &mut Criterion) {
    let rt = common::runtime();
    /// `producers` tasks to one consumer task.
    fn bench_sc<C: AsyncChan>(g: &mut Group<'_>, rt: &Runtime, name: &str, producers: usize) {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (txs, rx) = ends::<C>(Cap::Bounded(BOUND), producers);
                tasks_to_tasks::<C>(rt, txs, vec![rx], iters * MSGS)
            })
        });
    }
    /// `n` tasks to `n` tasks.
    fn bench_mc<C: AsyncChan>(g: &mut Group<'_>, rt: &Runtime, name: &str, n: usize)
    where
        C::Rx: Clone,
    {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (txs, rxs) = ends_mc::<C>(Cap::Bounded(BOUND), n, n);
                tasks_to_tasks::<C>(rt, txs, rxs, iters * MSGS)
            })
        });
    }

    let mut g = group(c, "queue_spsc_bounded_async");
    bench_sc::<Flume>(&mut g, &rt, "flume", 1);
    bench_sc::<Kanal>(&mut g, &rt, "kanal", 1);
    bench_sc::<AsyncChannel>(&mut g, &rt, "async_channel", 1);
    bench_sc::<TokioMpsc>(&mut g, &rt, "tokio_mpsc", 1);
    bench_sc::<AmphiFifo>(&mut g, &rt, "amphi", 1);
    g.finish();

    let mut g = group(c, "queue_mpmc_bounded_async_4");
    bench_mc::<Flume>(&mut g, &rt, "flume", 4);
    bench_mc::<Kanal>(&mut g, &rt, "kanal", 4);
    bench_mc::<AsyncChannel>(&mut g, &rt, "async_channel", 4);
    bench_mc::<AmphiFifo>(&mut g, &rt, "amphi", 4);
    g.finish();

    let mut g = group(c, "queue_mpsc_bounded_async_4");
    bench_sc::<Flume>(&mut g, &rt, "flume", 4);
    bench_sc::<Kanal>(&mut g, &rt, "kanal", 4);
    bench_sc::<AsyncChannel>(&mut g, &rt, "async_channel", 4);
    bench_sc::<TokioMpsc>(&mut g, &rt, "tokio_mpsc", 4);
    bench_sc::<AmphiFifo>(&mut g, &rt, "amphi", 4);
    g.finish();
}

fn mixed(c: &mut Criterion) {
    const PRODUCERS: usize = 2;
    let rt = common::runtime();
    fn bench<C: BlockingChan + AsyncChan>(
        g: &mut Group<'_>,
        rt: &Runtime,
        name: &str,
        drive: Driver<C>,
    ) {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (txs, rx) = ends::<C>(Cap::Bounded(BOUND), PRODUCERS);
                drive(rt, txs, vec![rx], iters * MSGS)
            })
        });
    }

    let mut g = group(c, "queue_mixed_threads_to_tasks");
    bench::<Flume>(&mut g, &rt, "flume", threads_to_tasks::<Flume>);
    bench::<Kanal>(&mut g, &rt, "kanal", threads_to_tasks::<Kanal>);
    bench::<AsyncChannel>(
        &mut g,
        &rt,
        "async_channel",
        threads_to_tasks::<AsyncChannel>,
    );
    bench::<TokioMpsc>(&mut g, &rt, "tokio_mpsc", threads_to_tasks::<TokioMpsc>);
    bench::<AmphiFifo>(&mut g, &rt, "amphi", threads_to_tasks::<AmphiFifo>);
    g.finish();

    let mut g = group(c, "queue_mixed_tasks_to_threads");
    bench::<Flume>(&mut g, &rt, "flume", tasks_to_threads::<Flume>);
    bench::<Kanal>(&mut g, &rt, "kanal", tasks_to_threads::<Kanal>);
    bench::<AsyncChannel>(
        &mut g,
        &rt,
        "async_channel",
        tasks_to_threads::<AsyncChannel>,
    );
    bench::<TokioMpsc>(&mut g, &rt, "tokio_mpsc", tasks_to_threads::<TokioMpsc>);
    bench::<AmphiFifo>(&mut g, &rt, "amphi", tasks_to_threads::<AmphiFifo>);
    g.finish();
}

fn ordered(c: &mut Criterion) {
    /// 2 producer threads, 2 consumer threads, unbounded.
    fn bench<C: BlockingChan>(g: &mut Group<'_>, name: &str)
    where
        C::Rx: Clone,
    {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (txs, rxs) = ends_mc::<C>(Cap::Unbounded, 2, 2);
                threads_to_threads::<C>(txs, rxs, iters * MSGS)
            })
        });
    }

    let mut g = group(c, "queue_lifo_threads_4");
    bench::<StackCondvar>(&mut g, "mutex_condvar");
    bench::<AmphiLifo>(&mut g, "amphi");
    g.finish();

    let mut g = group(c, "queue_priority_threads_4");
    bench::<HeapCondvar>(&mut g, "mutex_condvar");
    bench::<AmphiPriority>(&mut g, "amphi");
    g.finish();
}

fn pingpong_group(c: &mut Criterion) {
    let rt = common::runtime();
    let mut g = c.benchmark_group("queue_pingpong_thread_task");
    g.sample_size(10);
    g.bench_function("tokio_mpsc", |b| {
        b.iter_custom(|rounds| pingpong::<TokioMpsc>(&rt, rounds))
    });
    g.bench_function("flume", |b| {
        b.iter_custom(|rounds| pingpong::<Flume>(&rt, rounds))
    });
    g.bench_function("amphi", |b| {
        b.iter_custom(|rounds| pingpong::<AmphiFifo>(&rt, rounds))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    // No HTML plots: with 53 benchmarks, rendering them (plotters, several
    // seconds per benchmark on 2 cores) would take longer than measuring;
    // scripts/bench_table.py reads only criterion's estimates.
    config = common::config().without_plots();
    targets = spsc_blocking, mpmc_blocking, async_groups, mixed, ordered, pingpong_group
}
criterion_main!(benches);
