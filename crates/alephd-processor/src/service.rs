//! The processor service: an ingest writer that group-commits submissions to the durable
//! queue, and a worker that runs pipeline batches whenever messages are due. Both are tasks
//! owned by [`Processor::spawn`]; [`ProcessorHandle`] is the cheap, clonable client.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alephd_db::{Db, DbError, EnqueueOutcome, MessageStatus, NewPending, ops};
use alephd_message::IncomingMessage;
use tokio::{
    sync::{Notify, broadcast, mpsc, oneshot},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use crate::{
    ContentFetcher, MessageEvent, Pipeline, ProcessorConfig, ProcessorError, SubmitError,
    pipeline::PreparedBatch,
};

/// How often (at most, when idle) the worker refreshes the planner statistics.
const OPTIMIZE_EVERY: Duration = Duration::from_secs(300);

/// The queue-row origin of [`Origin::SmartContract`] messages.
pub(crate) const SMART_CONTRACT_ORIGIN: &str = "smart-contract";

/// Where a message came from (kept on its queue row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Http,
    P2p,
    Onchain,
    /// Built by the chain reader from a contract call (`MessageEvent`): unsigned, the
    /// transaction authenticated its sender, so the signature check is skipped (spec §2.3).
    SmartContract,
}

impl Origin {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::P2p => "p2p",
            Self::Onchain => "onchain",
            Self::SmartContract => SMART_CONTRACT_ORIGIN,
        }
    }
}

/// What submitting did; the message is durable in every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Queued (or already queued): status `pending`.
    Queued,
    /// Already known with this status; nothing queued.
    Known(MessageStatus),
}

/// The result of [`ProcessorHandle::submit_and_wait`].
#[derive(Debug, Clone)]
pub enum WaitOutcome {
    /// Processing finished (processed, rejected, forgotten) or deferred (pending, with the
    /// retry's code) within the time limit.
    Done(MessageEvent),
    /// Still pending when the time limit passed.
    TimedOut,
    /// Already known; not processed again.
    Known(MessageStatus),
}

struct SubmitRequest {
    message: IncomingMessage,
    /// The message as queued, serialised by the submitter (outside the writer's turn).
    wire: String,
    origin: Origin,
    reception_time: f64,
    reply: oneshot::Sender<Result<SubmitOutcome, String>>,
}

/// The processor: spawn it once per node.
#[derive(Debug)]
pub struct Processor;

impl Processor {
    /// Starts the ingest writer and the worker. The returned task ends when `shutdown` is
    /// cancelled, after finishing the batch in flight (queued messages stay queued).
    pub fn spawn(
        db: Db,
        config: ProcessorConfig,
        fetcher: Arc<dyn ContentFetcher>,
        shutdown: CancellationToken,
    ) -> (ProcessorHandle, JoinHandle<Result<(), ProcessorError>>) {
        let (events, _) = broadcast::channel(config.event_capacity);
        let (submit_tx, submit_rx) = mpsc::channel(config.submit_capacity);
        let wake = Arc::new(Notify::new());
        let pipeline = Pipeline::new(db.clone(), fetcher.clone(), config.clone(), events.clone());
        let handle = ProcessorHandle {
            billing: Arc::new(config.billing.clone()),
            db: db.clone(),
            submit: submit_tx,
            events,
            wake: wake.clone(),
        };
        let ingest = Ingest {
            rx: submit_rx,
            batch: config.ingest_batch,
            requests: Vec::with_capacity(config.ingest_batch),
        };
        let lifecycle = tokio::spawn(lifecycle_loop(
            db.clone(),
            fetcher.store().cloned(),
            config.billing.clone(),
            shutdown.clone(),
        ));
        let worker = tokio::spawn(worker_loop(db, pipeline, ingest, wake, shutdown));
        let task = tokio::spawn(async move {
            let result = worker.await?;
            lifecycle.abort();
            result
        });
        (handle, task)
    }
}

/// Client of the processor: submit messages, watch results. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProcessorHandle {
    billing: Arc<crate::billing::BillingConfig>,
    db: Db,
    submit: mpsc::Sender<SubmitRequest>,
    events: broadcast::Sender<MessageEvent>,
    wake: Arc<Notify>,
}

impl ProcessorHandle {
    /// Queues a message durably; returns once it is committed (a 200/202 may then be sent).
    pub async fn submit(
        &self,
        message: IncomingMessage,
        origin: Origin,
    ) -> Result<SubmitOutcome, SubmitError> {
        let (reply, rx) = oneshot::channel();
        let request = SubmitRequest {
            wire: message.to_wire_value().to_string(),
            message,
            origin,
            reception_time: now(),
            reply,
        };
        self.submit
            .send(request)
            .await
            .map_err(|_| SubmitError::Closed)?;
        rx.await
            .map_err(|_| SubmitError::Closed)?
            .map_err(SubmitError::Queue)
    }

    /// Submits and waits up to `timeout` for the first processing result of that message.
    pub async fn submit_and_wait(
        &self,
        message: IncomingMessage,
        origin: Origin,
        timeout: Duration,
    ) -> Result<WaitOutcome, SubmitError> {
        let hash = message.item_hash().as_str().to_owned();
        let mut events = self.events.subscribe();
        match self.submit(message, origin).await? {
            SubmitOutcome::Known(status) => return Ok(WaitOutcome::Known(status)),
            SubmitOutcome::Queued => {}
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Err(_) => return Ok(WaitOutcome::TimedOut),
                Ok(Ok(event)) if event.item_hash == hash => return Ok(WaitOutcome::Done(event)),
                Ok(Ok(_)) => {}
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                    // Missed events: the database has the answer if there is one.
                    let mut conn = self.db.read().await?;
                    if let Some(s) = ops::status(&mut conn, &hash).await?
                        && s.status != MessageStatus::Pending
                    {
                        return Ok(WaitOutcome::Known(s.status));
                    }
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return Err(SubmitError::Closed),
            }
        }
    }

    /// Every processing result from now on (slow receivers lag and skip).
    pub fn subscribe(&self) -> broadcast::Receiver<MessageEvent> {
        self.events.subscribe()
    }

    /// The billing rules the processor applies (the API checks uploads against them).
    pub fn billing(&self) -> &crate::billing::BillingConfig {
        &self.billing
    }

    /// The state database (for reads).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Asks the worker to look at the queue now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// The current time as float UNIX seconds.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Submissions waiting to be queued. Only the worker writes to the database (SQLite has one
/// writer): it queues the submissions waiting when a batch is about to commit in that
/// batch's transaction, and commits submissions on their own only while it would otherwise
/// wait (idle, or while the next batch is being prepared). Either way every submission
/// waiting at that moment shares one commit (group commit).
struct Ingest {
    rx: mpsc::Receiver<SubmitRequest>,
    /// Most submissions per transaction.
    batch: usize,
    /// Taken from `rx`, not answered yet.
    requests: Vec<SubmitRequest>,
}

impl Ingest {
    /// Waits for at least one submission. Never resolves once every handle is gone.
    async fn recv(&mut self) {
        if self.rx.recv_many(&mut self.requests, self.batch).await == 0 {
            std::future::pending::<()>().await;
        }
    }

    /// Moves submissions that are waiting into `requests`, without waiting.
    fn take_waiting(&mut self) {
        while self.requests.len() < self.batch {
            match self.rx.try_recv() {
                Ok(request) => self.requests.push(request),
                Err(_) => break,
            }
        }
    }

    /// Queues the taken submissions in a transaction of their own and answers them.
    async fn commit_alone(&mut self, db: &Db) {
        self.take_waiting();
        let result = async {
            let mut tx = db.begin().await?;
            let outcomes = queue_in(&mut tx, &self.requests).await?;
            tx.commit().await?;
            Ok::<_, DbError>(outcomes)
        }
        .await;
        if result.is_ok() {
            db.checkpoint_soon();
        }
        self.reply(result.map_err(|e| e.to_string()));
    }

    /// Answers the taken submissions once their transaction committed (or failed).
    fn reply(&mut self, result: Result<Vec<SubmitOutcome>, String>) {
        match result {
            Ok(outcomes) => {
                for (request, outcome) in self.requests.drain(..).zip(outcomes) {
                    let _ = request.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "queuing submitted messages failed");
                for request in self.requests.drain(..) {
                    let _ = request.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Queues submissions in an open write transaction.
async fn queue_in(
    tx: &mut alephd_db::WriteTx,
    requests: &[SubmitRequest],
) -> Result<Vec<SubmitOutcome>, DbError> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    let pending: Vec<NewPending<'_>> = requests
        .iter()
        .map(|r| NewPending {
            item_hash: r.message.item_hash().as_str(),
            sender: r.message.sender().as_str(),
            signature: r.message.signature().unwrap_or_default(),
            message: &r.wire,
            origin: r.origin.as_str(),
            reception_time: r.reception_time,
        })
        .collect();
    let outcomes = ops::enqueue_many(tx, &pending).await?;
    Ok(outcomes
        .into_iter()
        .map(|o| match o {
            EnqueueOutcome::Queued => SubmitOutcome::Queued,
            EnqueueOutcome::Known(status) => SubmitOutcome::Known(status),
        })
        .collect())
}

/// Runs batches while messages are due, preparing the next batch (verify, fetch: CPU and
/// network) while the current one is applied (database).
async fn drain(db: &Db, pipeline: &Pipeline, ingest: &mut Ingest) -> Result<(), ProcessorError> {
    let mut current = prepare_serving(db, pipeline, ingest, Vec::new()).await?;
    while let Some(batch) = current {
        let in_flight = batch.ids();
        let next_pipeline = pipeline.clone();
        let next =
            tokio::spawn(async move { next_pipeline.take_and_prepare(now(), &in_flight).await });
        let applied = apply_with_submissions(pipeline, ingest, batch).await;
        current = serve_until(db, ingest, next).await??;
        applied?;
    }
    Ok(())
}

/// Takes and prepares due messages except `in_flight`, serving submissions meanwhile.
async fn prepare_serving(
    db: &Db,
    pipeline: &Pipeline,
    ingest: &mut Ingest,
    in_flight: Vec<i64>,
) -> Result<Option<PreparedBatch>, ProcessorError> {
    let pipeline = pipeline.clone();
    let task = tokio::spawn(async move { pipeline.take_and_prepare(now(), &in_flight).await });
    serve_until(db, ingest, task).await?
}

/// Commits submissions on their own until `task` is done.
async fn serve_until<T>(
    db: &Db,
    ingest: &mut Ingest,
    mut task: JoinHandle<T>,
) -> Result<T, tokio::task::JoinError> {
    loop {
        tokio::select! {
            done = &mut task => return done,
            () = ingest.recv() => ingest.commit_alone(db).await,
        }
    }
}

/// Applies a batch, queues the submissions waiting by then in the same transaction, commits.
async fn apply_with_submissions(
    pipeline: &Pipeline,
    ingest: &mut Ingest,
    batch: PreparedBatch,
) -> Result<usize, ProcessorError> {
    let mut applied = pipeline.apply_uncommitted(batch, now()).await?;
    ingest.take_waiting();
    match queue_in(&mut applied.tx, &ingest.requests).await {
        Ok(outcomes) => {
            let committed = pipeline.commit(applied).await;
            ingest.reply(match &committed {
                Ok(_) => Ok(outcomes),
                Err(e) => Err(e.to_string()),
            });
            committed
        }
        Err(e) => {
            // Rolls the batch back too: it is retried whole.
            drop(applied);
            ingest.reply(Err(e.to_string()));
            Err(e.into())
        }
    }
}

/// Runs batches while messages are due, then sleeps until woken or the next retry is due.
async fn worker_loop(
    db: Db,
    pipeline: Pipeline,
    mut ingest: Ingest,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) -> Result<(), ProcessorError> {
    let mut last_optimize = tokio::time::Instant::now();
    loop {
        if let Err(e) = drain(&db, &pipeline, &mut ingest).await {
            // A failed batch is retried whole; back off so a broken disk does not spin.
            tracing::error!(error = %e, "processing batch failed");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if last_optimize.elapsed() > OPTIMIZE_EVERY {
            // Planner statistics follow the data; a failure only costs query speed.
            if let Err(e) = db.optimize().await {
                tracing::warn!(error = %e, "PRAGMA optimize failed");
            }
            last_optimize = tokio::time::Instant::now();
        }
        let next = {
            let mut conn = db.read().await?;
            ops::next_attempt(&mut conn).await?
        };
        let sleep = next.map_or(Duration::from_secs(60), |t| {
            Duration::from_secs_f64((t - now()).clamp(0.0, 60.0))
        });
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            () = ingest.recv() => ingest.commit_alone(&db).await,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

/// Every `check_interval_secs`: the balance check, then removals past their grace period and
/// garbage collection. Failures are logged and retried at the next period.
async fn lifecycle_loop(
    db: Db,
    store: Option<alephd_storage::Store>,
    config: crate::billing::BillingConfig,
    shutdown: CancellationToken,
) {
    let period = Duration::from_secs_f64(config.check_interval_secs);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        match crate::lifecycle::balance_sweep(&db, &config, now()).await {
            Ok(r) if r.to_removing + r.to_processed > 0 => {
                tracing::info!(
                    removing = r.to_removing,
                    restored = r.to_processed,
                    "balance check"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "balance check failed"),
        }
        match crate::lifecycle::removal_pass(&db, store.as_ref(), &config, now()).await {
            Ok(r) if r.removed > 0 => {
                tracing::info!(removed = r.removed, "unpaid resources removed")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "removal pass failed"),
        }
    }
}
