//! RLock against parking_lot's `ReentrantMutex` (blocking; both hand out
//! `&T` guards), on one thread: the outermost lock+unlock, and a lock+unlock
//! nested inside a held one (the re-entry path). One iteration: one
//! lock + unlock.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

mod common;

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("rlock_uncontended");
    let pl = parking_lot::ReentrantMutex::new(0u64);
    g.bench_function("parking_lot", |b| b.iter(|| drop(black_box(&pl).lock())));
    let am = amphi::RLock::new(0u64);
    g.bench_function("amphi", |b| b.iter(|| drop(black_box(&am).lock_blocking())));
    g.finish();
}

fn reentrant(c: &mut Criterion) {
    let mut g = c.benchmark_group("rlock_reentrant");
    let pl = parking_lot::ReentrantMutex::new(0u64);
    let outer = pl.lock();
    g.bench_function("parking_lot", |b| b.iter(|| drop(black_box(&pl).lock())));
    drop(outer);
    let am = amphi::RLock::new(0u64);
    let outer = am.lock_blocking();
    g.bench_function("amphi", |b| b.iter(|| drop(black_box(&am).lock_blocking())));
    drop(outer);
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = uncontended, reentrant
}
criterion_main!(benches);
