//! Group commit: concurrent part writes share one metadata transaction, so one commit (one WAL
//! fsync in SQLite, one WAL flush in PostgreSQL) makes a whole batch durable.
//!
//! Requests queue up; when none is being committed, the first one starts a committer task that
//! takes everything queued, commits it as one batch, answers each waiter with its own result, and
//! goes on with what arrived meanwhile until the queue is empty. Nobody waits for a timer: a lone
//! request is committed at once, and batches grow only as large as the load makes them. Each
//! store's batch function decides per request (a refused request fails alone); a waiter is
//! answered only after the commit holding its row returned, so acknowledged still means durable.

use std::future::Future;
use std::sync::{Arc, Mutex};

use ferry_core::{Error, Result};
use tokio::sync::oneshot;

/// The most requests committed in one transaction: bounds how long one batch holds the store.
const MAX_BATCH: usize = 256;

/// A queue of requests of type `R`, committed in batches.
pub(crate) struct CommitQueue<R> {
    state: Arc<Mutex<Queue<R>>>,
}

impl<R> Clone for CommitQueue<R> {
    fn clone(&self) -> Self {
        CommitQueue { state: self.state.clone() }
    }
}

impl<R> Default for CommitQueue<R> {
    fn default() -> Self {
        CommitQueue { state: Arc::new(Mutex::new(Queue { waiting: Vec::new(), running: false })) }
    }
}

type Waiter<R> = (R, oneshot::Sender<Result<()>>);

struct Queue<R> {
    waiting: Vec<Waiter<R>>,
    /// A committer task is running: it will take what is queued.
    running: bool,
}

impl<R: Send + 'static> CommitQueue<R> {
    /// Queue `request` and wait for the commit that holds it. `commit` runs one batch in one
    /// transaction and returns one result per request, in order; it is used only if this call
    /// has to start the committer.
    pub(crate) async fn submit<F, Fut>(&self, request: R, commit: F) -> Result<()>
    where
        F: Fn(Vec<R>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<Result<()>>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut queue = self.state.lock().map_err(|_| Error::Meta("commit queue lock poisoned".into()))?;
            queue.waiting.push((request, tx));
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            // A task of its own: a caller that goes away (client disconnected) must not take
            // the other waiters' commit with it.
            tokio::spawn(run(self.state.clone(), commit));
        }
        rx.await.map_err(|_| Error::Meta("the commit queue stopped before answering".into()))?
    }
}

async fn run<R, F, Fut>(state: Arc<Mutex<Queue<R>>>, commit: F)
where
    F: Fn(Vec<R>) -> Fut,
    Fut: Future<Output = Vec<Result<()>>>,
{
    // Should the task end abnormally (a panic in a batch), the queue must not stay marked as
    // running with nobody to serve it: the guard drops the waiters (each learns the queue
    // stopped) and lets the next request start a new committer.
    let _guard = Stopped(state.clone());
    loop {
        let batch: Vec<Waiter<R>> = {
            let Ok(mut queue) = state.lock() else { return };
            if queue.waiting.is_empty() {
                queue.running = false;
                return;
            }
            let take = queue.waiting.len().min(MAX_BATCH);
            queue.waiting.drain(..take).collect()
        };
        let (requests, waiters): (Vec<R>, Vec<_>) = batch.into_iter().unzip();
        let count = requests.len();
        let mut results = commit(requests).await.into_iter();
        for waiter in waiters {
            let result = results
                .next()
                .unwrap_or_else(|| Err(Error::Meta(format!("the batch commit answered fewer than {count} requests"))));
            // A waiter that went away no longer needs its answer.
            let _ = waiter.send(result);
        }
    }
}

struct Stopped<R>(Arc<Mutex<Queue<R>>>);

impl<R> Drop for Stopped<R> {
    fn drop(&mut self) {
        if let Ok(mut queue) = self.0.lock()
            && queue.running
            && std::thread::panicking()
        {
            queue.waiting.clear();
            queue.running = false;
        }
    }
}

/// The same failure for every request of a batch whose commit failed (errors are not `Clone`).
pub(crate) fn each(e: &Error) -> Error {
    match e {
        Error::InsufficientStorage(m) => Error::InsufficientStorage(m.clone()),
        other => Error::Meta(other.to_string()),
    }
}
