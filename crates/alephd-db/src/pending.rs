//! The durable pending queue: a message is queued (and its status set to `pending`) in the
//! same transaction, before the submitter gets its 200/202, and leaves the queue in the
//! transaction that applies or rejects it.

use sqlx::{QueryBuilder, Sqlite};

use crate::{Conn, DbError, MessageStatus, PendingRecord, messages};

/// A message to queue.
#[derive(Debug, Clone)]
pub struct NewPending<'a> {
    pub item_hash: &'a str,
    pub sender: &'a str,
    /// The wire signature (empty when the message has none).
    pub signature: &'a str,
    /// The raw wire message JSON.
    pub message: &'a str,
    /// Where it came from: `http`, `p2p`, `onchain`, `retry`.
    pub origin: &'a str,
    pub reception_time: f64,
}

/// What queuing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnqueueOutcome {
    /// Queued now (or already queued with the same sender and signature).
    Queued,
    /// Not queued: the message already has this final-ish status.
    Known(MessageStatus),
}

/// Queues a message unless it is already applied or forgotten; a previous rejection is
/// overwritten by `pending` (pyaleph: re-submission gives a rejected message another chance).
pub async fn enqueue(conn: &mut Conn, p: &NewPending<'_>) -> Result<EnqueueOutcome, DbError> {
    if let Some(existing) = messages::status(conn, p.item_hash).await? {
        match existing.status {
            MessageStatus::Pending | MessageStatus::Rejected => {}
            other => return Ok(EnqueueOutcome::Known(other)),
        }
    }
    sqlx::query(
        "INSERT INTO pending_messages \
         (item_hash, sender, signature, message, origin, reception_time, next_attempt) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) \
         ON CONFLICT (item_hash, sender, signature) DO NOTHING",
    )
    .bind(p.item_hash)
    .bind(p.sender)
    .bind(p.signature)
    .bind(p.message)
    .bind(p.origin)
    .bind(p.reception_time)
    .execute(&mut *conn)
    .await?;
    messages::set_status(conn, p.item_hash, MessageStatus::Pending, p.reception_time).await?;
    Ok(EnqueueOutcome::Queued)
}

/// Up to `limit` queued messages whose next attempt is due, oldest first, except the `skip`
/// ids (a batch being applied meanwhile: its rows leave the queue when it commits).
pub async fn take_ready(
    conn: &mut Conn,
    now: f64,
    limit: i64,
    skip: &[i64],
) -> Result<Vec<PendingRecord>, DbError> {
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT id, item_hash, sender, signature, message, origin, reception_time, retries, \
         next_attempt, last_error_code FROM pending_messages WHERE next_attempt <= ",
    );
    qb.push_bind(now);
    if !skip.is_empty() {
        qb.push(" AND id NOT IN (");
        let mut ids = qb.separated(", ");
        for id in skip {
            ids.push_bind(*id);
        }
        ids.push_unseparated(")");
    }
    qb.push(" ORDER BY next_attempt, id LIMIT ");
    qb.push_bind(limit);
    Ok(qb
        .build_query_as::<PendingRecord>()
        .fetch_all(&mut *conn)
        .await?)
}

/// Queued rows for one item hash (the pending shape of `GET /messages/{h}`).
pub async fn for_hash(conn: &mut Conn, item_hash: &str) -> Result<Vec<PendingRecord>, DbError> {
    Ok(sqlx::query_as::<_, PendingRecord>(
        "SELECT id, item_hash, sender, signature, message, origin, reception_time, retries, \
         next_attempt, last_error_code FROM pending_messages WHERE item_hash = $1 ORDER BY id",
    )
    .bind(item_hash)
    .fetch_all(&mut *conn)
    .await?)
}

/// Schedules another attempt.
pub async fn reschedule(
    conn: &mut Conn,
    id: i64,
    retries: i64,
    next_attempt: f64,
    error_code: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE pending_messages SET retries = $2, next_attempt = $3, last_error_code = $4 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(retries)
    .bind(next_attempt)
    .bind(error_code)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Removes a queue row (processed, rejected or duplicate).
pub async fn delete(conn: &mut Conn, id: i64) -> Result<(), DbError> {
    sqlx::query("DELETE FROM pending_messages WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The earliest scheduled attempt, if anything is queued.
pub async fn next_attempt(conn: &mut Conn) -> Result<Option<f64>, DbError> {
    Ok(
        sqlx::query_scalar::<_, Option<f64>>("SELECT MIN(next_attempt) FROM pending_messages")
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// How many messages are queued.
pub async fn count(conn: &mut Conn) -> Result<i64, DbError> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM pending_messages")
            .fetch_one(&mut *conn)
            .await?,
    )
}
