//! The lines of waiting getters and putters, kept under the queue's lock.
//!
//! Why not `event-listener` here, as the other primitives do: the queue
//! already takes its mutex for every get and put, and deciding who to wake
//! in that same critical section costs nothing more, while a separate event
//! costs a second lock on every wait and wake (event-listener wakes under
//! its own lock, so a woken waiter often finds that lock still held and
//! sleeps again). Keeping the line here also keeps the bookkeeping exact:
//! the line *is* the "someone waits" count, so a notification can never
//! land on a listener that does not count, and a waiter that was woken but
//! lost the item to a running caller keeps its place.
//!
//! The rule, restored after every change of the queue: at least
//! `min(items, waiting getters)` getters are notified (and all of them after
//! a shutdown), and likewise putters for the free room. A notified waiter
//! that leaves without taking anything gives its turn to the next one. A
//! notified waiter that has not come for its item within `HOLD_AT_MOST`
//! (a future kept alive but not polled) no longer counts: the next queue
//! call wakes one more waiter in its place.
//!
//! Waiter ids only grow and new waiters join at the back, so the line stays
//! sorted by id and a waiter finds its entry by binary search.

use std::collections::VecDeque;
use std::task::Waker;

use crate::core::{FAIR_AFTER, held_too_long, nanos_now};

#[cfg(loom)]
use loom::thread::{self as threads, Thread};
#[cfg(not(loom))]
use std::thread::{self as threads, Thread};

/// How to wake one waiter.
#[derive(Debug)]
pub(super) enum Wakeup {
    Task(Waker),
    Thread(Thread),
}

impl Wakeup {
    fn wake(self) {
        match self {
            Wakeup::Task(waker) => waker.wake(),
            Wakeup::Thread(thread) => thread.unpark(),
        }
    }
}

/// The waiter's side of a registration: its task's waker, or "this thread".
#[derive(Debug, Clone, Copy)]
pub(super) enum Waiting<'a> {
    Task(&'a Waker),
    Thread,
}

/// One waiter in line. `wakeup` is `None` once it has been notified (the
/// wake-up was taken out to be sent), at `since` on the core's clock.
#[derive(Debug)]
struct Entry {
    id: u64,
    wakeup: Option<Wakeup>,
    since: u64,
    /// When it joined the line (the core's clock).
    joined: u64,
    /// It was woken and found nothing at least once (a running caller
    /// took the item or the room first).
    barged: bool,
}

/// The waiters of one side, in the order they started waiting.
#[derive(Debug)]
pub(super) struct Line {
    entries: VecDeque<Entry>,
    /// How many entries are notified.
    notified: usize,
}

impl Line {
    pub(super) const fn new() -> Self {
        Line {
            entries: VecDeque::new(),
            notified: 0,
        }
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// A new waiter (`id` above every id in line) joins the back.
    pub(super) fn join(&mut self, id: u64, how: Waiting<'_>) {
        debug_assert!(self.entries.back().is_none_or(|e| e.id < id));
        self.entries.push_back(Entry {
            id,
            wakeup: Some(wakeup(how)),
            since: 0,
            joined: nanos_now(),
            barged: false,
        });
    }

    fn find(&self, id: u64) -> Option<usize> {
        self.entries.binary_search_by_key(&id, |e| e.id).ok()
    }

    /// Waiter `id`, in line, must wait again (woken, it found nothing): it
    /// is un-notified and keeps its place, with a fresh wake-up.
    pub(super) fn wait(&mut self, id: u64, how: Waiting<'_>) {
        let Some(at) = self.find(id) else {
            return self.join(id, how);
        };
        let entry = &mut self.entries[at];
        match (&mut entry.wakeup, how) {
            (Some(Wakeup::Task(w)), Waiting::Task(new)) if w.will_wake(new) => return,
            (Some(Wakeup::Thread(_)), Waiting::Thread) => return,
            (None, _) => {
                self.notified -= 1;
                entry.barged = true;
            }
            _ => {}
        }
        entry.wakeup = Some(wakeup(how));
    }

    /// Waiter `id` leaves the line; whether it had been notified.
    pub(super) fn leave(&mut self, id: u64) -> bool {
        let Some(at) = self.find(id) else {
            return false;
        };
        let entry = self.entries.remove(at).expect("found");
        let notified = entry.wakeup.is_none();
        if notified {
            self.notified -= 1;
        }
        notified
    }

    /// Notifies waiters, first in line first, until `want` of them (at
    /// most all) are notified; their wake-ups go to `out`. A notified
    /// waiter that has held its wake-up for `HOLD_AT_MOST` without coming
    /// (see the module docs) does not count toward `want`.
    pub(super) fn ensure(&mut self, want: usize, out: &mut Wakers) {
        let len = self.entries.len();
        let want = want.min(len);
        if want == 0 || self.notified == len {
            return;
        }
        let target = if self.notified >= want {
            let stale = self.stale();
            if self.notified - stale >= want {
                return;
            }
            (want + stale).min(len)
        } else {
            want
        };
        let now = nanos_now();
        for entry in self.entries.iter_mut() {
            if let Some(w) = entry.wakeup.take() {
                entry.since = now;
                out.push(w);
                self.notified += 1;
                if self.notified >= target {
                    break;
                }
            }
        }
    }

    /// How many notified waiters have held their wake-up for too long.
    fn stale(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.wakeup.is_none() && held_too_long(e.since))
            .count()
    }

    /// How many items (or slots) are held for starving waiters ahead of
    /// `id` in line (all of them for a caller not in line, `id` 0): the
    /// fairness fallback. A waiter that has been in line for
    /// `FAIR_AFTER` and lost a woken race at least once is starving; once
    /// notified again, the item (or room) that woke it is its own, and
    /// callers that are not in line (or are behind it) may not take it.
    /// Its hold lapses with its turn, `HOLD_AT_MOST` after the
    /// notification (a future kept alive but not polled stops nobody).
    pub(super) fn held_for_others(&self, id: u64) -> usize {
        if self.notified == 0 {
            return 0;
        }
        let now = nanos_now();
        let fair_after = FAIR_AFTER.as_nanos() as u64;
        self.entries
            .iter()
            .filter(|e| {
                (id == 0 || e.id < id)
                    && e.wakeup.is_none()
                    && e.barged
                    && now.saturating_sub(e.joined) >= fair_after
                    && !held_too_long(e.since)
            })
            .count()
    }
}

fn wakeup(how: Waiting<'_>) -> Wakeup {
    match how {
        Waiting::Task(waker) => Wakeup::Task(waker.clone()),
        Waiting::Thread => Wakeup::Thread(threads::current()),
    }
}

/// How many wake-ups a step sends without allocating.
const INLINE: usize = 4;

/// Wake-ups decided under the lock, sent after it is released. The first
/// `INLINE` need no allocation (a batch, a shutdown of a busy queue may
/// spill over).
#[derive(Debug)]
pub(super) struct Wakers {
    inline: [Option<Wakeup>; INLINE],
    len: usize,
    rest: Vec<Wakeup>,
}

impl Wakers {
    pub(super) const fn new() -> Self {
        Wakers {
            inline: [None, None, None, None],
            len: 0,
            rest: Vec::new(),
        }
    }

    fn push(&mut self, w: Wakeup) {
        if self.len < INLINE {
            self.inline[self.len] = Some(w);
            self.len += 1;
        } else {
            self.rest.push(w);
        }
    }

    pub(super) fn wake(self) {
        for w in self.inline.into_iter().flatten() {
            w.wake();
        }
        for w in self.rest {
            w.wake();
        }
    }
}

/// Parks this thread until it is unparked, or `deadline` passes (then
/// `false`). May return early (a spurious or stale unpark): the caller
/// looks again.
pub(super) fn park(deadline: Option<std::time::Instant>) -> bool {
    match deadline {
        None => {
            threads::park();
            true
        }
        Some(deadline) => {
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            #[cfg(not(loom))]
            threads::park_timeout(deadline - now);
            // loom models only the untimed paths.
            #[cfg(loom)]
            threads::park();
            true
        }
    }
}
