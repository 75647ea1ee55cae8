//! One batch through the pipeline: take due messages from the queue, verify signatures
//! (threads), fetch and parse content (bounded concurrency), then check and apply every
//! message in ONE write transaction, in queue order, so a batch can hold a post and its amend.
//! Events are announced only after the commit.

use std::{collections::HashMap, sync::Arc, time::Instant};

use alephd_db::{
    Conn, Db, DbError, MessageRecord, MessageStatus, NewPending, PendingRecord, RejectedRecord,
    WriteTx, ops,
};
use alephd_message::{ErrorCode, IncomingMessage, ItemType, MessageType};
use futures::{StreamExt, stream};
use tokio::sync::broadcast;

use crate::{
    ContentFetcher, MessageEvent, ProcessingError, ProcessorConfig, ProcessorError,
    content::{Body, Content},
    fetch::{FetchError, MAX_FETCHED_CONTENT},
    handlers::{self, Ctx, Disposition},
    permissions::{self, Action},
    staged::{Prefetch, Staged},
    verify,
};

/// A step failed: the message is invalid (or must wait), or the database failed.
#[derive(Debug)]
pub(crate) enum ApplyError {
    Invalid(ProcessingError),
    Db(DbError),
}

impl From<ProcessingError> for ApplyError {
    fn from(e: ProcessingError) -> Self {
        Self::Invalid(e)
    }
}

impl From<DbError> for ApplyError {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

/// Side effects a batch collects for after its messages.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Owners whose `security` aggregate changed: their PERMISSION_DENIED rejections are
    /// queued again (order independence for delegations).
    pub(crate) security_changed: Vec<String>,
}

/// A batch after the stateless steps, ready for [`Pipeline::apply_batch`].
pub(crate) struct PreparedBatch(Vec<Prepared>);

impl PreparedBatch {
    /// Queue ids of the batch's messages.
    pub(crate) fn ids(&self) -> Vec<i64> {
        self.0.iter().map(|p| p.pending.id).collect()
    }
}

/// A batch applied in a transaction not committed yet (see [`Pipeline::apply_uncommitted`]).
pub(crate) struct Applied {
    pub(crate) tx: WriteTx,
    events: Vec<MessageEvent>,
    taken: usize,
}

/// A queued message after the stateless steps.
struct Prepared {
    pending: PendingRecord,
    /// Parsed message and content, or why it is invalid / must wait.
    checked: Result<(IncomingMessage, Content, i64), ProcessingError>,
    /// Owner, when the content could be read (kept on rejections).
    owner: Option<String>,
}

/// Runs batches for the processor service (and for tests, directly).
#[derive(Debug, Clone)]
pub struct Pipeline {
    db: Db,
    fetcher: Arc<dyn ContentFetcher>,
    config: ProcessorConfig,
    events: broadcast::Sender<MessageEvent>,
}

impl Pipeline {
    pub fn new(
        db: Db,
        fetcher: Arc<dyn ContentFetcher>,
        config: ProcessorConfig,
        events: broadcast::Sender<MessageEvent>,
    ) -> Self {
        Self {
            db,
            fetcher,
            config,
            events,
        }
    }

    /// Processes up to one batch of messages due at `now`; returns how many were taken.
    pub async fn run_batch(&self, now: f64) -> Result<usize, ProcessorError> {
        match self.take_and_prepare(now, &[]).await? {
            Some(batch) => self.apply_batch(batch, now).await,
            None => Ok(0),
        }
    }

    /// The stateless half of a batch (parse, verify, fetch): due messages except `in_flight`
    /// ones (those of the batch being applied meanwhile). `None` when nothing is due.
    pub(crate) async fn take_and_prepare(
        &self,
        now: f64,
        in_flight: &[i64],
    ) -> Result<Option<PreparedBatch>, ProcessorError> {
        let started = Instant::now();
        let batch = {
            let mut conn = self.db.read().await?;
            ops::take_ready(&mut conn, now, self.config.batch_size as i64, in_flight).await?
        };
        if batch.is_empty() {
            return Ok(None);
        }
        let taken = started.elapsed();
        let prepared = self.prepare(batch).await?;
        tracing::debug!(
            messages = prepared.len(),
            take = ?taken,
            prepare = ?(started.elapsed() - taken),
            "batch prepared"
        );
        Ok(Some(PreparedBatch(prepared)))
    }

    /// The transactional half: check and apply every message, commit, announce.
    pub(crate) async fn apply_batch(
        &self,
        batch: PreparedBatch,
        now: f64,
    ) -> Result<usize, ProcessorError> {
        let applied = self.apply_uncommitted(batch, now).await?;
        self.commit(applied).await
    }

    /// Checks and applies every message in a write transaction left open, so the caller
    /// may add its own writes (the service queues the submissions waiting meanwhile) before
    /// [`Pipeline::commit`].
    pub(crate) async fn apply_uncommitted(
        &self,
        batch: PreparedBatch,
        now: f64,
    ) -> Result<Applied, ProcessorError> {
        let prepared = batch.0;
        let taken = prepared.len();
        let started = Instant::now();
        let mut tx = self.db.begin().await?;
        let hashes: Vec<&str> = prepared
            .iter()
            .map(|p| p.pending.item_hash.as_str())
            .collect();
        let mut writes = BatchWrites {
            statuses: ops::applied_statuses(&mut tx, &hashes).await?,
            ..Default::default()
        };
        let read_statuses = started.elapsed();
        writes
            .staged
            .prefetch(&mut tx, prefetch_of(&prepared))
            .await?;
        let prefetched = started.elapsed();
        let mut events = Vec::with_capacity(prepared.len());
        let mut effects = Effects::default();
        for item in &prepared {
            events.push(
                self.settle(&mut tx, item, now, &mut writes, &mut effects)
                    .await?,
            );
            if writes.stale {
                writes.statuses = ops::applied_statuses(&mut tx, &hashes).await?;
                writes.stale = false;
            }
        }
        let settled = started.elapsed();
        writes.flush(&mut tx).await?;
        requeue_delegated(&mut tx, &effects, now).await?;
        tracing::debug!(
            messages = taken,
            statuses = ?read_statuses,
            prefetch = ?(prefetched - read_statuses),
            settle = ?(settled - prefetched),
            flush = ?(started.elapsed() - settled),
            "batch applied"
        );
        Ok(Applied {
            tx,
            events: events.into_iter().flatten().collect(),
            taken,
        })
    }

    /// Commits an applied batch, then announces its results; returns how many messages
    /// it took from the queue.
    pub(crate) async fn commit(&self, applied: Applied) -> Result<usize, ProcessorError> {
        let started = Instant::now();
        applied.tx.commit().await.map_err(DbError::from)?;
        tracing::debug!(messages = applied.taken, took = ?started.elapsed(), "batch committed");
        self.db.checkpoint_soon();
        for event in applied.events {
            // No subscriber is fine: nobody is waiting.
            let _ = self.events.send(event);
        }
        Ok(applied.taken)
    }

    /// Parses, verifies and fetches outside the transaction.
    async fn prepare(&self, batch: Vec<PendingRecord>) -> Result<Vec<Prepared>, ProcessorError> {
        let threads = self.config.verify_threads;
        let (batch, parsed, valid) = tokio::task::spawn_blocking(move || {
            let parsed: Vec<Option<IncomingMessage>> = batch
                .iter()
                .map(|p| IncomingMessage::from_json(p.message.as_bytes()).ok())
                .collect();
            let valid = verify::verify_batch(&parsed, threads);
            (batch, parsed, valid)
        })
        .await?;
        let items = batch.into_iter().zip(parsed).zip(valid);
        let prepared = stream::iter(items)
            .map(|((pending, message), valid)| self.prepare_one(pending, message, valid))
            .buffered(self.config.fetch_concurrency)
            .collect::<Vec<_>>()
            .await;
        Ok(prepared)
    }

    async fn prepare_one(
        &self,
        pending: PendingRecord,
        message: Option<IncomingMessage>,
        valid: bool,
    ) -> Prepared {
        let Some(message) = message else {
            let e = ProcessingError::format("the queued message no longer parses");
            return Prepared {
                pending,
                checked: Err(e),
                owner: None,
            };
        };
        // Only the chain reader queues with this origin, and only unsigned contract calls.
        let unsigned_call = pending.origin == crate::service::SMART_CONTRACT_ORIGIN
            && message.signature().is_none();
        if !valid && !unsigned_call {
            let e = ProcessingError::new(ErrorCode::InvalidSignature, "invalid signature");
            return Prepared {
                pending,
                checked: Err(e),
                owner: None,
            };
        }
        let text = match self.content_text(&message).await {
            Ok(text) => text,
            Err(e) => {
                return Prepared {
                    pending,
                    checked: Err(e),
                    owner: None,
                };
            }
        };
        let size = text.len() as i64;
        match Content::parse(&text, &message) {
            Ok(content) => {
                let owner = Some(content.address.as_str().to_owned());
                if let Err(e) = self.ensure_file(&content).await {
                    return Prepared {
                        pending,
                        checked: Err(e),
                        owner,
                    };
                }
                Prepared {
                    pending,
                    checked: Ok((message, content, size)),
                    owner,
                }
            }
            Err(e) => Prepared {
                pending,
                checked: Err(e),
                owner: None,
            },
        }
    }

    /// A STORE's file must be in the local store before the message is applied: fetch it
    /// (from peers, through the fetcher) when it is not. Outside the transaction, like every
    /// network wait. Still missing → FILE_UNAVAILABLE (4), retried.
    async fn ensure_file(&self, content: &Content) -> Result<(), ProcessingError> {
        let (Body::Store(store_content), Some(store)) = (&content.body, self.fetcher.store())
        else {
            return Ok(());
        };
        let Ok(target) = store_content
            .item_hash
            .as_str()
            .parse::<alephd_storage::ContentRef>()
        else {
            return Ok(()); // the handler rejects the hash
        };
        if matches!(store.stat(&target).await, Ok(Some(_))) {
            return Ok(());
        }
        let limit = store.config().max_file_size as usize;
        let unavailable = |reason: String| ProcessingError::new(ErrorCode::FileUnavailable, reason);
        self.fetcher
            .fetch(store_content.item_type, &store_content.item_hash, limit)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        match store.stat(&target).await {
            Ok(Some(_)) => Ok(()),
            _ => Err(unavailable(format!(
                "file {} could not be fetched into the store",
                store_content.item_hash
            ))),
        }
    }

    async fn content_text(&self, message: &IncomingMessage) -> Result<String, ProcessingError> {
        if let Some(inline) = message.item_content() {
            return Ok(inline.to_owned());
        }
        let hash = message.item_hash();
        let bytes = self
            .fetcher
            .fetch(message.item_type(), hash, MAX_FETCHED_CONTENT)
            .await
            .map_err(|e| match e {
                FetchError::Unavailable(_) => {
                    ProcessingError::new(ErrorCode::ContentUnavailable, e.to_string())
                }
                FetchError::TooLarge { .. } => ProcessingError::format(e.to_string()),
            })?;
        if message.item_type() == ItemType::Storage
            && alephd_message::ItemHash::sha256_of(&bytes) != *hash
        {
            return Err(ProcessingError::format(
                "fetched content does not match the item hash",
            ));
        }
        String::from_utf8(bytes).map_err(|_| ProcessingError::format("content is not UTF-8"))
    }

    /// Decides and records one message inside the batch transaction. Rows every message
    /// writes (message, status, queue deletion) are buffered in `writes`; handlers write
    /// their own tables directly, and a FORGET sees everything before it (flush first).
    async fn settle(
        &self,
        conn: &mut Conn,
        item: &Prepared,
        now: f64,
        writes: &mut BatchWrites,
        effects: &mut Effects,
    ) -> Result<Option<MessageEvent>, DbError> {
        let hash = item.pending.item_hash.as_str();
        match writes.statuses.get(hash) {
            Some(MessageStatus::Processed | MessageStatus::Removing | MessageStatus::Removed) => {
                writes.deleted.push(item.pending.id);
                return Ok(None);
            }
            Some(MessageStatus::Forgotten) => {
                writes.deleted.push(item.pending.id);
                let code = Some(ErrorCode::ForgottenDuplicate);
                return Ok(Some(event(hash, MessageStatus::Forgotten, None, code)));
            }
            Some(MessageStatus::Pending | MessageStatus::Rejected) | None => {}
        }
        let result = match &item.checked {
            Ok((message, content, size)) => {
                // Handlers that use the connection see every earlier message of the batch.
                let direct = !handlers::staged_only(message, content);
                if direct {
                    writes.flush(conn).await?;
                }
                let record = record(message, content, *size, item.pending.reception_time);
                let ctx = Ctx {
                    now,
                    store: self.fetcher.store(),
                    billing: &self.config.billing,
                };
                let staged = &mut writes.staged;
                let applied =
                    match apply(conn, staged, message, content, &record, &ctx, effects).await {
                        Ok(d) => stored_size(conn, message, record).await.map(|r| (d, r)),
                        Err(e) => Err(e),
                    };
                if direct {
                    // What they wrote through the connection is not in the cache.
                    writes.staged.reset(conn).await?;
                    // A FORGET writes statuses directly too.
                    writes.stale |= message.message_type() == MessageType::Forget;
                }
                applied
            }
            Err(e) => Err(ApplyError::Invalid(e.clone())),
        };
        match result {
            Ok((Disposition::Processed, record)) => {
                if let Ok((_, content, _)) = &item.checked {
                    writes.tags.extend(
                        content
                            .tags()
                            .iter()
                            .map(|t| (t.clone(), record.item_hash.clone())),
                    );
                }
                writes.set_status(hash, MessageStatus::Processed, record.reception_time);
                writes.deleted.push(item.pending.id);
                let record = Arc::new(record);
                writes.messages.push(Arc::clone(&record));
                Ok(Some(MessageEvent {
                    item_hash: hash.to_owned(),
                    status: MessageStatus::Processed,
                    message: Some(record),
                    error_code: None,
                }))
            }
            Ok((Disposition::ForgottenOnArrival { forgotten_by }, record)) => {
                handlers::forget::tombstone(conn, &record, &forgotten_by, now).await?;
                writes
                    .statuses
                    .insert(hash.to_owned(), MessageStatus::Forgotten);
                writes.deleted.push(item.pending.id);
                Ok(Some(event(hash, MessageStatus::Forgotten, None, None)))
            }
            Err(ApplyError::Db(e)) => Err(e),
            Err(ApplyError::Invalid(e)) => self.fail(conn, item, e, now, writes).await.map(Some),
        }
    }

    /// Reschedules a retryable failure, or records the rejection.
    async fn fail(
        &self,
        conn: &mut Conn,
        item: &Prepared,
        error: ProcessingError,
        now: f64,
        writes: &mut BatchWrites,
    ) -> Result<MessageEvent, DbError> {
        let p = &item.pending;
        let attempts = p.retries + 1;
        if error.is_retryable() && attempts < i64::from(self.config.max_retries) {
            let delay = self.config.backoff(attempts as u32, rand::random::<f64>());
            ops::reschedule(
                conn,
                p.id,
                attempts,
                now + delay.as_secs_f64(),
                i64::from(error.error_code()),
            )
            .await?;
            tracing::debug!(item_hash = %p.item_hash, %error, attempts, "processing deferred");
            return Ok(event(
                &p.item_hash,
                MessageStatus::Pending,
                None,
                Some(error.code),
            ));
        }
        tracing::debug!(item_hash = %p.item_hash, %error, "message rejected");
        let rejected = RejectedRecord {
            item_hash: p.item_hash.clone(),
            message: p.message.clone(),
            error_code: i64::from(error.error_code()),
            details: error.details.as_ref().map(|d| d.to_string()),
            owner: item.owner.clone(),
        };
        ops::insert_rejected(conn, &rejected).await?;
        if let Some(store) = self.fetcher.store() {
            handlers::store::release_upload_pin(store, &p.message, &p.item_hash).await;
        }
        writes.deleted.push(p.id);
        // Another copy (other signature) may still be queued: it keeps the status pending.
        let others = ops::pending_for_hash(conn, &p.item_hash).await?;
        if others.iter().all(|o| writes.deleted.contains(&o.id)) {
            writes.set_status(&p.item_hash, MessageStatus::Rejected, p.reception_time);
        }
        Ok(event(
            &p.item_hash,
            MessageStatus::Rejected,
            None,
            Some(error.code),
        ))
    }
}

/// Rows buffered during a batch and written with one statement per table.
#[derive(Debug, Default)]
struct BatchWrites {
    /// Posts and aggregates of the batch.
    staged: Staged,
    /// Applied statuses of the batch's hashes (read once, kept up to date; pending,
    /// rejected and unknown ones are absent or set by this batch).
    statuses: HashMap<String, MessageStatus>,
    /// A FORGET wrote statuses directly: re-read them.
    stale: bool,
    messages: Vec<Arc<MessageRecord>>,
    tags: Vec<(String, String)>,
    status_rows: Vec<(String, MessageStatus, f64)>,
    deleted: Vec<i64>,
}

impl BatchWrites {
    fn set_status(&mut self, hash: &str, status: MessageStatus, reception_time: f64) {
        self.statuses.insert(hash.to_owned(), status);
        self.status_rows
            .push((hash.to_owned(), status, reception_time));
    }

    async fn flush(&mut self, conn: &mut Conn) -> Result<(), DbError> {
        self.staged.flush(conn).await?;
        let messages: Vec<MessageRecord> = self.messages.drain(..).map(|m| (*m).clone()).collect();
        ops::insert_messages(conn, &messages, &self.tags).await?;
        self.tags.clear();
        ops::set_statuses(conn, &self.status_rows).await?;
        self.status_rows.clear();
        ops::delete_pending_many(conn, &self.deleted).await?;
        self.deleted.clear();
        Ok(())
    }
}

fn event(
    hash: &str,
    status: MessageStatus,
    message: Option<Arc<MessageRecord>>,
    code: Option<ErrorCode>,
) -> MessageEvent {
    MessageEvent {
        item_hash: hash.to_owned(),
        status,
        message,
        error_code: code.map(ErrorCode::code),
    }
}

/// What the batch's POST and AGGREGATE handlers and permission checks will read.
fn prefetch_of(prepared: &[Prepared]) -> Prefetch {
    let mut wanted = Prefetch::default();
    for (message, content, _) in prepared.iter().filter_map(|p| p.checked.as_ref().ok()) {
        let owner = content.address.as_str();
        if !message.sender().same_as(&content.address) {
            wanted
                .aggregates
                .insert((owner.to_owned(), permissions::SECURITY_KEY.to_owned()));
        }
        match (message.message_type(), &content.body) {
            (MessageType::Aggregate, Body::Aggregate { key, .. }) => {
                wanted.aggregates.insert((owner.to_owned(), key.clone()));
            }
            (MessageType::Post, _)
                if content.content_type.as_deref() == Some(handlers::post::AMEND) =>
            {
                wanted.posts.extend(content.reference().map(str::to_owned));
            }
            _ => {}
        }
    }
    wanted
}

/// Permissions, dependencies and the type handler.
async fn apply(
    conn: &mut Conn,
    staged: &mut Staged,
    message: &IncomingMessage,
    content: &Content,
    record: &MessageRecord,
    ctx: &Ctx<'_>,
    effects: &mut Effects,
) -> Result<Disposition, ApplyError> {
    let action = Action {
        sender: message.sender(),
        owner: &content.address,
        chain: message.chain(),
        channel: message.channel().map(|c| c.as_str()),
        message_type: message.message_type(),
        post_type: content.content_type.as_deref(),
        aggregate_key: content.key(),
    };
    permissions::authorize(conn, Some(&mut *staged), &action).await?;
    handlers::process(conn, staged, message, content, record, ctx, effects).await
}

/// The row an applied message becomes.
fn record(
    message: &IncomingMessage,
    content: &Content,
    size: i64,
    reception_time: f64,
) -> MessageRecord {
    MessageRecord {
        item_hash: message.item_hash().as_str().to_owned(),
        sender: message.sender().as_str().to_owned(),
        chain: message.chain().as_str().to_owned(),
        signature: message.signature().map(str::to_owned),
        message_type: message.message_type().as_str().to_owned(),
        item_type: message.item_type().as_str().to_owned(),
        item_content: message.item_content().map(str::to_owned),
        content: content.json.clone(),
        time: message.time(),
        channel: message.channel().map(|c| c.as_str().to_owned()),
        owner: content.address.as_str().to_owned(),
        content_type: content.content_type.clone(),
        content_key: content.key().map(str::to_owned),
        content_ref: content.reference().map(str::to_owned),
        content_item_hash: content.file_hash().map(str::to_owned),
        payment_type: content.payment_type.clone(),
        size,
        reception_time,
    }
}

/// A STORE message's size is its file's (what the API serves as `size`).
async fn stored_size(
    conn: &mut Conn,
    message: &IncomingMessage,
    mut record: MessageRecord,
) -> Result<MessageRecord, ApplyError> {
    if message.message_type() == MessageType::Store
        && let Some(pin) = ops::file_pin(conn, &record.item_hash).await?
    {
        record.size = pin.size;
    }
    Ok(record)
}

/// Queues again the PERMISSION_DENIED rejections of owners whose delegations changed.
async fn requeue_delegated(conn: &mut Conn, effects: &Effects, now: f64) -> Result<(), DbError> {
    for owner in &effects.security_changed {
        for rejected in
            ops::rejected_for_owner(conn, owner, i64::from(ErrorCode::PermissionDenied.code()))
                .await?
        {
            let Ok(message) = IncomingMessage::from_json(rejected.message.as_bytes()) else {
                continue;
            };
            let pending = NewPending {
                item_hash: message.item_hash().as_str(),
                sender: message.sender().as_str(),
                signature: message.signature().unwrap_or_default(),
                message: &rejected.message,
                origin: "delegation",
                reception_time: now,
            };
            ops::enqueue(conn, &pending).await?;
        }
    }
    Ok(())
}
