//! The only module of amphi that contains `unsafe` code.
//!
//! Two things cannot be written in safe Rust at the cost the crate promises:
//!
//! * the data cell of [`Lock<T>`](crate::Lock): a lock that hands out `&mut T`
//!   needs an `UnsafeCell`. The safe alternatives (a second mutex inside, or
//!   `RefCell`-like cells) cost a second atomic read-modify-write per acquire
//!   and make guards `!Send`;
//! * allocation-free blocking: `event-listener`'s `listener!` macro pins a
//!   listener on the stack and expands to an `unsafe` block in the caller.
//!
//! Everything here is small and runs under Miri in CI (`cargo +nightly miri
//! test --test lock`).
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::task::Poll;
use std::time::Instant;

use event_listener::{Event, Listener, listener};

use crate::core::Wake;
use crate::lock::{LockGuard, LockGuardArc};

/// Parks the thread on a stack listener of `event` (see
/// [`Strategy::wait_on`](crate::core::Strategy::wait_on)).
pub(crate) fn park<T>(
    event: &Event,
    deadline: Option<Instant>,
    arm: impl FnOnce() -> Option<T>,
) -> Poll<Wake<T>> {
    listener!(event => l);
    if let Some(done) = arm() {
        // Finished without waiting. A notification that raced `arm` is
        // discarded rather than handed to a later waiter; the caller hears
        // whether there was one (see `Wake::Done`).
        let notified = l.discard();
        return Poll::Ready(Wake::Done(done, notified));
    }
    crate::core::park_on(l, deadline)
}

/// The value inside a [`Lock`](crate::Lock).
pub(crate) struct DataCell<T: ?Sized>(UnsafeCell<T>);

// SAFETY: the cell is only reached through a lock guard (below) or `&mut`
// access, so at most one thread touches the value at a time; sending the
// value between threads needs `T: Send`, as for `std::sync::Mutex`.
unsafe impl<T: ?Sized + Send> Send for DataCell<T> {}
unsafe impl<T: ?Sized + Send> Sync for DataCell<T> {}

impl<T> DataCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        DataCell(UnsafeCell::new(value))
    }

    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T: ?Sized> DataCell<T> {
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }
}

// SAFETY (all four impls): a guard exists only while its lock's LOCKED bit is
// set by that guard's acquire, and the bit is cleared only when the guard is
// dropped (or parked by a condition wait, which consumes the guard). So while
// `&self`/`&mut self` of a guard lives, no other guard of the same lock exists,
// and the borrows below do not alias any other access to the value.
impl<T: ?Sized> Deref for LockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        unsafe { &*self.lock.data.0.get() }
    }
}

impl<T: ?Sized> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        unsafe { &mut *self.lock.data.0.get() }
    }
}

impl<T: ?Sized> Deref for LockGuardArc<T> {
    type Target = T;
    fn deref(&self) -> &T {
        unsafe { &*self.lock.data.0.get() }
    }
}

impl<T: ?Sized> DerefMut for LockGuardArc<T> {
    fn deref_mut(&mut self) -> &mut T {
        unsafe { &mut *self.lock.data.0.get() }
    }
}
