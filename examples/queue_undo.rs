//! An editor's undo stack: a [`LifoQueue`] of edits that tokio tasks push
//! and a blocking worker thread pops, the most recent edit first.
//!
//! * Two typists (tokio tasks) type into one document (a [`Lock`]`<String>`)
//!   at the same time; a spell checker (a `spawn_blocking` thread) fixes a
//!   typo. Each applies its edit and pushes how to revert it onto the undo
//!   stack while holding the document, so the stack's order is the order
//!   in which the edits were made.
//! * The undo worker (a plain OS thread) serves undo requests that a UI
//!   task sends on a FIFO [`Queue`]. For each one it shows the next undo
//!   with `peek()`, pops it with `try_get()` (an undo never waits: with
//!   nothing to undo it says so) and reverts it, and calls `task_done()`;
//!   the UI awaits `requests.join()` to know its requests were served.
//! * After three undos a typist types again: LIFO, so that new edit is the
//!   next undo, ahead of the older ones.
//!
//! Each line says who acts. The example checks that every undo restored
//! the exact text from before its edit, that every edit was undone at most
//! once, and that replaying the edits still on the stack gives the final
//! document; it panics if not. Run it with `cargo run --example
//! queue_undo`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use amphi::{LifoQueue, Lock, Queue, TryGetError};

/// A change to the document, as recorded on the undo stack.
#[derive(Debug, Clone)]
struct Edit {
    id: u32,
    by: &'static str,
    change: Change,
    /// The document before the edit: an undo must give back exactly this.
    before: String,
}

#[derive(Debug, Clone)]
enum Change {
    /// `text` was inserted at byte `at`.
    Insert { at: usize, text: String },
    /// `old` at byte `at` was replaced by `new`.
    Replace { at: usize, old: String, new: String },
}

impl Change {
    fn apply(&self, doc: &mut String) {
        match self {
            Change::Insert { at, text } => doc.insert_str(*at, text),
            Change::Replace { at, old, new } => doc.replace_range(*at..*at + old.len(), new),
        }
    }

    fn revert(&self, doc: &mut String) {
        match self {
            Change::Insert { at, text } => doc.replace_range(*at..*at + text.len(), ""),
            Change::Replace { at, old, new } => doc.replace_range(*at..*at + new.len(), old),
        }
    }
}

impl fmt::Display for Edit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.change {
            Change::Insert { text, .. } => write!(f, "#{} insert {text:?}", self.id)?,
            Change::Replace { old, new, .. } => {
                write!(f, "#{} replace {old:?} by {new:?}", self.id)?;
            }
        }
        write!(f, " by {}", self.by)
    }
}

/// What the UI asks of the undo worker.
enum Request {
    Undo,
}

/// What the document lock protects.
#[derive(Default)]
struct Doc {
    text: String,
    /// Edits made so far (the last edit's number).
    edits: u32,
}

struct Editor {
    doc: Lock<Doc>,
    /// The undo stack: the most recent edit comes out first.
    undo: LifoQueue<Edit>,
    requests: Queue<Request>,
}

fn say(who: &str, what: impl fmt::Display) {
    println!("{who:<28} {what}");
}

impl Editor {
    /// Makes an edit and records it, in one hold of the document. Used by
    /// tasks (`doc.lock().await`) and threads (`lock_blocking`) alike.
    fn record(&self, doc: &mut Doc, by: &'static str, change: Change) -> Edit {
        doc.edits += 1;
        let edit = Edit {
            id: doc.edits,
            by,
            before: doc.text.clone(),
            change,
        };
        edit.change.apply(&mut doc.text);
        // Unbounded: a push never waits, and the stack is never shut down
        // while editing.
        self.undo.try_put(edit.clone()).expect("unbounded and open");
        edit
    }

    /// A typist (a tokio task) appends its words, one edit each.
    async fn type_words(&self, me: &'static str, words: &[&str]) {
        for word in words {
            let mut doc = self.doc.lock().await;
            let at = doc.text.len();
            let text = if doc.text.is_empty() {
                word.to_string()
            } else {
                format!(" {word}")
            };
            let edit = self.record(&mut doc, me, Change::Insert { at, text });
            say(me, format_args!("{edit}: {:?}", doc.text));
            drop(doc);
            tokio::time::sleep(Duration::from_millis(1)).await; // thinking
        }
    }

    /// The spell checker (a blocking thread) fixes every "teh".
    fn spell_check(&self, me: &'static str) -> usize {
        let mut doc = self.doc.lock_blocking();
        let mut fixed = 0;
        while let Some(at) = doc.text.find("teh") {
            let change = Change::Replace {
                at,
                old: "teh".into(),
                new: "the".into(),
            };
            let edit = self.record(&mut doc, me, change);
            say(me, format_args!("{edit}: {:?}", doc.text));
            fixed += 1;
        }
        fixed
    }

    /// The undo worker (a plain OS thread): one undo per request, until the
    /// requests queue is shut down.
    fn undo_worker(&self, me: &str) -> Vec<u32> {
        let mut undone = Vec::new();
        // Each `next` is a `get_blocking`; the loop ends at shutdown.
        for request in self.requests.iter_blocking() {
            let Request::Undo = request;
            // Edits are pushed with the document held: holding it too, the
            // peek and the pop see the same top of the stack.
            let mut doc = self.doc.lock_blocking();
            let next = self.undo.peek();
            say(
                me,
                format_args!(
                    "undo requested; peek(): next undo is {}",
                    next.as_ref().map_or("nothing".into(), Edit::to_string)
                ),
            );
            match self.undo.try_get() {
                Ok(edit) => {
                    edit.change.revert(&mut doc.text);
                    assert_eq!(
                        doc.text, edit.before,
                        "undo of #{} restores the text",
                        edit.id
                    );
                    say(me, format_args!("undid #{}: {:?}", edit.id, doc.text));
                    undone.push(edit.id);
                    self.undo.task_done().expect("one task_done per edit got");
                }
                Err(TryGetError::Empty) => say(me, "nothing to undo"),
                Err(TryGetError::ShutDown) => unreachable!("the undo stack stays open"),
            }
            drop(doc);
            self.requests
                .task_done()
                .expect("one task_done per request");
        }
        say(me, "requests shut down: stops");
        undone
    }
}

/// The UI (a tokio task) asks for `n` undos and waits until they are done.
async fn press_undo(e: &Editor, n: usize) {
    let me = "[task ui]";
    say(me, format_args!("Ctrl-Z x{n}"));
    for _ in 0..n {
        e.requests.put(Request::Undo).await.expect("open");
    }
    let served = e.requests.join().timeout(Duration::from_secs(2)).await;
    assert!(served, "the undo worker serves every request");
}

async fn editor() {
    let e = Arc::new(Editor {
        doc: Lock::new(Doc::default()),
        undo: LifoQueue::unbounded(),
        requests: Queue::unbounded(),
    });
    let worker = std::thread::spawn({
        let e = Arc::clone(&e);
        move || e.undo_worker("[thread undo-worker]")
    });

    // Nothing typed yet: the undo finds nothing, and waits for nothing.
    press_undo(&e, 1).await;

    let typists = [
        ("[task typist-1]", &["amphi", "shares", "teh"][..]),
        ("[task typist-2]", &["queue", "with", "threads"][..]),
    ]
    .map(|(me, words)| {
        let e = Arc::clone(&e);
        tokio::spawn(async move { e.type_words(me, words).await })
    });
    for t in typists {
        t.await.expect("a typist panicked");
    }
    let fixed = tokio::task::spawn_blocking({
        let e = Arc::clone(&e);
        move || e.spell_check("[spawn_blocking spellcheck]")
    })
    .await
    .expect("the spell checker panicked");
    assert_eq!(fixed, 1, "one typo fixed");
    let (edits, text) = {
        let doc = e.doc.lock().await;
        (doc.edits, doc.text.clone())
    };
    assert_eq!(e.undo.len(), edits as usize);
    say(
        "[task main]",
        format_args!("{edits} edits on the undo stack: {text:?}"),
    );

    // The spell fix is the most recent edit: it is undone first.
    press_undo(&e, 3).await;

    // New typing goes on top of the stack: it is the next undo.
    e.type_words("[task typist-1]", &["again"]).await;
    let next = e.undo.peek().expect("an edit to undo");
    say("[task main]", format_args!("peek(): next undo is {next}"));
    assert_eq!(next.by, "[task typist-1]");
    press_undo(&e, 1).await;

    e.requests.shutdown(false);
    let undone = tokio::task::spawn_blocking(move || worker.join())
        .await
        .unwrap()
        .expect("the undo worker panicked");

    // What is left on the stack, most recent first; replayed in the order
    // the edits were made, it rebuilds the document.
    let left = e.undo.drain();
    e.undo
        .task_done_many(left.len())
        .expect("one per edit drained");
    let (total, doc) = {
        let doc = e.doc.lock().await;
        (doc.edits, doc.text.clone())
    };
    let mut replay = String::new();
    for edit in left.iter().rev() {
        assert_eq!(replay, edit.before, "#{} was made on this text", edit.id);
        edit.change.apply(&mut replay);
    }
    assert_eq!(replay, doc, "the edits left rebuild the document");

    println!();
    println!("Undone, most recent first: {undone:?}");
    println!(
        "Still on the undo stack (top first): {:?}",
        left.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    println!("Document: {doc:?}");

    // Each edit was undone at most once, and the most recent one at each
    // request: the first three undos took the three newest edits in turn.
    let mut ids: Vec<u32> = undone
        .iter()
        .chain(left.iter().map(|e| &e.id))
        .copied()
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=total).collect::<Vec<_>>(),
        "every edit undone or kept, once"
    );
    assert_eq!(undone[..3], [edits, edits - 1, edits - 2], "newest first");
    assert_eq!(
        undone[3], total,
        "the new edit was undone before the older ones"
    );
    assert_eq!(e.undo.unfinished(), 0);
    assert_eq!(e.requests.unfinished(), 0);
    println!();
    println!(
        "All checks passed: {} edits, {} undone newest first, each undo restored \
         the text before its edit.",
        total,
        undone.len()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    watchdog();
    editor().await;
}

/// Ends the process if the example hangs.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(10));
        eprintln!("queue_undo: still running after 10 s (a lost wake-up?)");
        std::process::exit(1);
    });
}
