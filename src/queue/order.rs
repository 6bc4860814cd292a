//! The three orders of the queue family: where a put goes and which item a
//! get takes. Each one is a plain container under the queue's lock.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, VecDeque};

/// The order in which a [`GenericQueue`](crate::GenericQueue) hands out its
/// items: [`Fifo`], [`Lifo`] or [`Priority`]. Sealed: amphi's three orders
/// are the only ones.
///
/// # Examples
///
/// ```
/// use amphi::{GenericQueue, Lifo};
/// let stack: GenericQueue<u32, Lifo> = GenericQueue::new(0);
/// stack.try_put(1).unwrap();
/// stack.try_put(2).unwrap();
/// assert_eq!(stack.try_get(), Ok(2));
/// ```
pub trait Order<T>: sealed::Sealed {
    /// The container behind the queue (private to amphi).
    #[doc(hidden)]
    type Store: Store<T>;
}

pub(crate) mod sealed {
    #[allow(unreachable_pub)]
    pub trait Sealed {}
}

/// What the queue needs of its container. Nominally `pub` (in a private
/// module) because the sealed [`Order`] names it.
#[allow(unreachable_pub)]
pub trait Store<T> {
    /// An empty container ready for `capacity` items.
    fn with_capacity(capacity: usize) -> Self;
    /// Adds an item.
    fn push(&mut self, item: T);
    /// Removes the next item in this order.
    fn pop(&mut self) -> Option<T>;
    /// The item `pop` would remove.
    fn peek(&self) -> Option<&T>;
    /// How many items there are.
    fn len(&self) -> usize;
}

/// First in, first out: Python's `queue.Queue`. The order of
/// [`Queue`](crate::Queue).
///
/// # Examples
///
/// ```
/// use amphi::{Fifo, GenericQueue};
/// let q: GenericQueue<&str, Fifo> = GenericQueue::new(0);
/// q.try_put("a").unwrap();
/// q.try_put("b").unwrap();
/// assert_eq!(q.try_get(), Ok("a"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fifo;

/// Last in, first out: Python's `queue.LifoQueue`. The order of
/// [`LifoQueue`](crate::LifoQueue).
///
/// # Examples
///
/// ```
/// let q = amphi::LifoQueue::new(0);
/// q.try_put("a").unwrap();
/// q.try_put("b").unwrap();
/// assert_eq!(q.try_get(), Ok("b"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifo;

/// Smallest first, as Python's `queue.PriorityQueue` (a `heapq`); among
/// equal items, the one put first leaves first. The order of
/// [`PriorityQueue`](crate::PriorityQueue).
///
/// # Examples
///
/// ```
/// let q = amphi::PriorityQueue::new(0);
/// q.try_put((2, "later")).unwrap();
/// q.try_put((1, "first")).unwrap();
/// assert_eq!(q.try_get(), Ok((1, "first")));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Priority;

impl sealed::Sealed for Fifo {}
impl sealed::Sealed for Lifo {}
impl sealed::Sealed for Priority {}

impl<T> Order<T> for Fifo {
    type Store = VecDeque<T>;
}

impl<T> Order<T> for Lifo {
    type Store = Vec<T>;
}

impl<T: Ord> Order<T> for Priority {
    type Store = Heap<T>;
}

impl<T> Store<T> for VecDeque<T> {
    fn with_capacity(capacity: usize) -> Self {
        VecDeque::with_capacity(capacity)
    }
    #[inline]
    fn push(&mut self, item: T) {
        self.push_back(item);
    }
    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.pop_front()
    }
    fn peek(&self) -> Option<&T> {
        self.front()
    }
    #[inline]
    fn len(&self) -> usize {
        VecDeque::len(self)
    }
}

impl<T> Store<T> for Vec<T> {
    fn with_capacity(capacity: usize) -> Self {
        Vec::with_capacity(capacity)
    }
    #[inline]
    fn push(&mut self, item: T) {
        Vec::push(self, item);
    }
    #[inline]
    fn pop(&mut self) -> Option<T> {
        Vec::pop(self)
    }
    fn peek(&self) -> Option<&T> {
        self.last()
    }
    #[inline]
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// A min-heap that keeps equal items in arrival order: each item carries
/// the number of its put, compared after the item.
#[allow(unreachable_pub, missing_debug_implementations)]
pub struct Heap<T> {
    heap: BinaryHeap<Entry<T>>,
    next: u64,
}

struct Entry<T> {
    item: T,
    seq: u64,
}

impl<T: Ord> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}

impl<T: Ord> Eq for Entry<T> {}

impl<T: Ord> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> Ord for Entry<T> {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the smallest item,
    /// and of equal items the earliest.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other
            .item
            .cmp(&self.item)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl<T: Ord> Store<T> for Heap<T> {
    fn with_capacity(capacity: usize) -> Self {
        Heap {
            heap: BinaryHeap::with_capacity(capacity),
            next: 0,
        }
    }
    fn push(&mut self, item: T) {
        let seq = self.next;
        self.next = self.next.wrapping_add(1);
        self.heap.push(Entry { item, seq });
    }
    fn pop(&mut self) -> Option<T> {
        self.heap.pop().map(|e| e.item)
    }
    fn peek(&self) -> Option<&T> {
        self.heap.peek().map(|e| &e.item)
    }
    fn len(&self) -> usize {
        self.heap.len()
    }
}

/// An item with a priority, ordered by the priority alone: put these in a
/// [`PriorityQueue`](crate::PriorityQueue) to get "lowest priority value
/// first, and in put order within a priority" without a tie-breaking
/// counter and without an `Ord` for the item.
///
/// A plain `(priority, item)` tuple compares the item too, so two jobs of
/// the same priority leave in the item's order, not in put order.
///
/// Equality follows the order: two `Prioritized` with the same priority
/// are `==` whatever their items (compare `.item` to tell them apart).
///
/// # Examples
///
/// ```
/// use amphi::{Prioritized, PriorityQueue};
/// let jobs = PriorityQueue::new(0);
/// jobs.try_put(Prioritized::new(5, "report")).unwrap();
/// jobs.try_put(Prioritized::new(5, "backup")).unwrap();
/// jobs.try_put(Prioritized::new(0, "page the on-call")).unwrap();
/// let order: Vec<&str> = jobs.drain().into_iter().map(|j| j.item).collect();
/// assert_eq!(order, ["page the on-call", "report", "backup"]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Prioritized<P, T> {
    /// Smaller leaves first.
    pub priority: P,
    /// The payload, never compared.
    pub item: T,
}

impl<P, T> Prioritized<P, T> {
    /// Pairs `item` with `priority`.
    ///
    /// # Examples
    ///
    /// ```
    /// let job = amphi::Prioritized::new(1, "build");
    /// assert_eq!((job.priority, job.item), (1, "build"));
    /// ```
    pub fn new(priority: P, item: T) -> Self {
        Prioritized { priority, item }
    }

    /// The item, without its priority.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(amphi::Prioritized::new(1, "build").into_item(), "build");
    /// ```
    pub fn into_item(self) -> T {
        self.item
    }
}

impl<P: PartialEq, T> PartialEq for Prioritized<P, T> {
    fn eq(&self, other: &Self) -> bool {
        self.priority == other.priority
    }
}

impl<P: Eq, T> Eq for Prioritized<P, T> {}

impl<P: PartialOrd, T> PartialOrd for Prioritized<P, T> {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        self.priority.partial_cmp(&other.priority)
    }
}

impl<P: Ord, T> Ord for Prioritized<P, T> {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.priority.cmp(&other.priority)
    }
}
