//! `Transaction`: an explicit transaction on the writer, for work whose statements
//! are separated by awaits (`Pool::transaction`).
//!
//! The writer thread leaves its batches while a transaction is open: it runs
//! `BEGIN IMMEDIATE`, then the transaction's steps as they arrive, until `commit`,
//! `rollback`, the handle's drop, or the hold limit (`pool.transaction_max_ms`),
//! past which it rolls back and takes writes again. The steps travel on a channel of
//! their own; the handle learns why the writer let go from a shared state.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use rusqlite::Connection;
use strata_core::{Error, Result};
use tokio::sync::oneshot;

/// A transaction on the writer connection, begun with `BEGIN IMMEDIATE` by
/// [`Pool::transaction`](crate::Pool::transaction). Each [`Transaction::run`] runs its
/// closure on the writer inside the transaction; nothing is visible to readers until
/// [`Transaction::commit`]. While it is open, no other write runs: the writer waits
/// for its next step. It holds the writer for at most `pool.transaction_max_ms`: past
/// that the writer rolls it back and every later call fails with E2050. Dropping it
/// without `commit` rolls it back. A step that panics (E2007) or that ends the
/// transaction itself rolls the transaction back; later calls fail with E2051. A step
/// that returns `Err` rolls nothing back: the caller decides whether to go on,
/// [`Transaction::rollback`] or drop.
#[derive(Debug)]
pub struct Transaction {
    steps: std::sync::mpsc::Sender<Step>,
    state: Arc<AtomicU8>,
    limit_ms: u64,
}

/// The transaction is open on the writer.
pub(crate) const OPEN: u8 = 0;
/// The writer rolled it back at the hold limit.
pub(crate) const EXPIRED: u8 = 1;
/// It ended otherwise (a panic, a step that ended it, a failed COMMIT).
pub(crate) const ENDED: u8 = 2;

/// What the handle sends to the writer.
pub(crate) enum Step {
    /// A closure to run inside the transaction.
    Run(Box<dyn TxJob>),
    /// COMMIT and answer.
    Commit(oneshot::Sender<Result<()>>),
    /// ROLLBACK and answer.
    Rollback(oneshot::Sender<Result<()>>),
}

/// A transaction step, its closure type erased.
pub(crate) trait TxJob: Send {
    /// Runs the closure and answers; true when it panicked.
    fn run(self: Box<Self>, conn: &Connection) -> bool;
    /// Answers with `err` without running.
    fn refuse(self: Box<Self>, err: Error);
}

struct Job<F, T> {
    f: F,
    reply: oneshot::Sender<Result<T>>,
}

impl<F, T> TxJob for Job<F, T>
where
    F: FnOnce(&Connection) -> Result<T> + Send,
    T: Send,
{
    fn run(self: Box<Self>, conn: &Connection) -> bool {
        let Job { f, reply } = *self;
        let (result, panicked) = match catch_unwind(AssertUnwindSafe(|| f(conn))) {
            Ok(result) => (result, false),
            Err(panic) => {
                (Err(Error::WritePanicked { message: crate::writer::panic_message(&*panic) }), true)
            }
        };
        let _ = reply.send(result);
        panicked
    }

    fn refuse(self: Box<Self>, err: Error) {
        let _ = self.reply.send(Err(err));
    }
}

/// What the writer receives to begin a transaction.
pub(crate) struct Begin {
    /// The transaction's steps.
    pub(crate) steps: std::sync::mpsc::Receiver<Step>,
    /// Told when BEGIN IMMEDIATE ran (or failed).
    pub(crate) ready: oneshot::Sender<Result<()>>,
    /// Why the writer let go, for the handle.
    pub(crate) state: Arc<AtomicU8>,
    /// The hold limit.
    pub(crate) limit: Duration,
}

impl Transaction {
    /// A handle and what the writer needs to begin it.
    pub(crate) fn new(limit: Duration) -> (Transaction, Begin, oneshot::Receiver<Result<()>>) {
        let (steps_tx, steps_rx) = std::sync::mpsc::channel();
        let (ready, answer) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(OPEN));
        let begin = Begin { steps: steps_rx, ready, state: Arc::clone(&state), limit };
        let limit_ms = limit.as_millis() as u64;
        (Transaction { steps: steps_tx, state, limit_ms }, begin, answer)
    }

    /// Runs `f` on the writer connection inside the transaction and answers its
    /// result. E2050 when the hold limit has passed (the transaction was rolled
    /// back), E2051 when the transaction ended otherwise.
    pub async fn run<F, T>(&mut self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Step::Run(Box::new(Job { f, reply })))?;
        match answer.await {
            Ok(result) => result,
            Err(_) => Err(self.gone()),
        }
    }

    /// Commits the transaction. E2050 when the hold limit passed first (nothing was
    /// committed).
    pub async fn commit(self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Step::Commit(reply))?;
        answer.await.unwrap_or_else(|_| Err(self.gone()))
    }

    /// Rolls the transaction back. Past the hold limit it is already rolled back, and
    /// this answers `Ok`.
    pub async fn rollback(self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        if self.send(Step::Rollback(reply)).is_err() {
            return Ok(());
        }
        answer.await.unwrap_or(Ok(()))
    }

    fn send(&self, step: Step) -> Result<()> {
        if self.state.load(Ordering::Acquire) != OPEN {
            return Err(self.gone());
        }
        self.steps.send(step).map_err(|_| self.gone())
    }

    /// The error for a transaction the writer has let go.
    fn gone(&self) -> Error {
        match self.state.load(Ordering::Acquire) {
            EXPIRED => Error::TransactionExpired { limit_ms: self.limit_ms },
            ENDED => Error::TransactionEnded { reason: "it was rolled back after a failed step".into() },
            _ => Error::PoolClosed,
        }
    }
}
