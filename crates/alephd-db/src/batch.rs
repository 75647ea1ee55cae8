//! Multi-row writes and reads: one statement for a whole batch instead of one per message
//! (each statement has a fixed cost; the pipeline's throughput depends on paying it per batch).

use std::collections::HashMap;

use sqlx::{QueryBuilder, Sqlite};

use crate::{
    Conn, DbError, EnqueueOutcome, MessageRecord, MessageStatus, NewPending,
    messages::MESSAGE_COLUMNS, posts::push_in_bare,
};

/// Rows per statement: keeps every statement under SQLite's (and PostgreSQL's) bind limits.
const CHUNK: usize = 500;

/// Statuses of the given hashes (absent = unknown).
pub async fn statuses(
    conn: &mut Conn,
    hashes: &[&str],
) -> Result<HashMap<String, MessageStatus>, DbError> {
    read_statuses(conn, hashes, "").await
}

/// Statuses of the given hashes that were applied: processed, removing, removed or
/// forgotten. Pending, rejected and unknown hashes are absent: those are the ones a new copy
/// may still be processed for. The pipeline's and the queue's dedup read only these, so a
/// batch of fresh messages (all pending) reads no row back.
pub async fn applied_statuses(
    conn: &mut Conn,
    hashes: &[&str],
) -> Result<HashMap<String, MessageStatus>, DbError> {
    read_statuses(conn, hashes, " AND status NOT IN ('pending', 'rejected')").await
}

async fn read_statuses(
    conn: &mut Conn,
    hashes: &[&str],
    and: &str,
) -> Result<HashMap<String, MessageStatus>, DbError> {
    let mut out = HashMap::new();
    for chunk in hashes.chunks(CHUNK) {
        let owned: Vec<String> = chunk.iter().map(|h| (*h).to_owned()).collect();
        let mut qb =
            QueryBuilder::<Sqlite>::new("SELECT item_hash, status FROM message_status WHERE ");
        push_in_bare(&mut qb, "item_hash", &owned);
        qb.push(and);
        for (hash, status) in qb
            .build_query_as::<(String, String)>()
            .fetch_all(&mut *conn)
            .await?
        {
            out.insert(hash, MessageStatus::from_db(status)?);
        }
    }
    Ok(out)
}

/// Sets many statuses (the last entry wins for a repeated hash), keeping first reception times.
pub async fn set_statuses(
    conn: &mut Conn,
    rows: &[(String, MessageStatus, f64)],
) -> Result<(), DbError> {
    let mut last: HashMap<&str, (MessageStatus, f64)> = HashMap::with_capacity(rows.len());
    let mut order = Vec::with_capacity(rows.len());
    for (hash, status, time) in rows {
        if last.insert(hash, (*status, *time)).is_none() {
            order.push(hash.as_str());
        }
    }
    for chunk in order.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO message_status (item_hash, status, reception_time) ",
        );
        qb.push_values(chunk, |mut b, hash| {
            let (status, time) = last[hash];
            b.push_bind(*hash)
                .push_bind(status.as_str())
                .push_bind(time);
        });
        qb.push(" ON CONFLICT (item_hash) DO UPDATE SET status = excluded.status");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts applied messages and their `(tag, item_hash)` rows.
pub async fn insert_messages(
    conn: &mut Conn,
    messages: &[MessageRecord],
    tags: &[(String, String)],
) -> Result<(), DbError> {
    for chunk in messages.chunks(CHUNK) {
        let mut qb =
            QueryBuilder::<Sqlite>::new(format!("INSERT INTO messages ({MESSAGE_COLUMNS}) "));
        qb.push_values(chunk, |mut b, m| {
            b.push_bind(m.item_hash.clone())
                .push_bind(m.sender.clone())
                .push_bind(m.chain.clone())
                .push_bind(m.signature.clone())
                .push_bind(m.message_type.clone())
                .push_bind(m.item_type.clone())
                .push_bind(m.item_content.clone())
                .push_bind(m.content.clone())
                .push_bind(m.time)
                .push_bind(m.channel.clone())
                .push_bind(m.owner.clone())
                .push_bind(m.content_type.clone())
                .push_bind(m.content_key.clone())
                .push_bind(m.content_ref.clone())
                .push_bind(m.content_item_hash.clone())
                .push_bind(m.payment_type.clone())
                .push_bind(m.size)
                .push_bind(m.reception_time);
        });
        qb.push(" ON CONFLICT (item_hash) DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    for chunk in tags.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new("INSERT INTO message_tags (tag, item_hash) ");
        qb.push_values(chunk, |mut b, (tag, hash)| {
            b.push_bind(tag.clone()).push_bind(hash.clone());
        });
        qb.push(" ON CONFLICT DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Deletes queue rows by id.
pub async fn delete_pending(conn: &mut Conn, ids: &[i64]) -> Result<(), DbError> {
    for chunk in ids.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new("DELETE FROM pending_messages WHERE id IN (");
        let mut sep = qb.separated(", ");
        for id in chunk {
            sep.push_bind(*id);
        }
        qb.push(")");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Queues many messages in three statements (see [`crate::pending::enqueue`] for the rules).
pub async fn enqueue_many(
    conn: &mut Conn,
    items: &[NewPending<'_>],
) -> Result<Vec<EnqueueOutcome>, DbError> {
    let hashes: Vec<&str> = items.iter().map(|p| p.item_hash).collect();
    let known = applied_statuses(conn, &hashes).await?;
    let mut outcomes = Vec::with_capacity(items.len());
    let mut queued = Vec::with_capacity(items.len());
    for p in items {
        match known.get(p.item_hash) {
            Some(s) if !matches!(s, MessageStatus::Pending | MessageStatus::Rejected) => {
                outcomes.push(EnqueueOutcome::Known(*s));
            }
            _ => {
                outcomes.push(EnqueueOutcome::Queued);
                queued.push(p);
            }
        }
    }
    for chunk in queued.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO pending_messages \
             (item_hash, sender, signature, message, origin, reception_time, next_attempt) ",
        );
        qb.push_values(chunk, |mut b, p| {
            b.push_bind(p.item_hash.to_owned())
                .push_bind(p.sender.to_owned())
                .push_bind(p.signature.to_owned())
                .push_bind(p.message.to_owned())
                .push_bind(p.origin.to_owned())
                .push_bind(p.reception_time)
                .push_bind(p.reception_time);
        });
        qb.push(" ON CONFLICT (item_hash, sender, signature) DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    let rows: Vec<(String, MessageStatus, f64)> = queued
        .iter()
        .map(|p| {
            (
                p.item_hash.to_owned(),
                MessageStatus::Pending,
                p.reception_time,
            )
        })
        .collect();
    set_statuses(conn, &rows).await?;
    Ok(outcomes)
}

/// Confirmations of many messages, by item hash (messages without any are absent).
pub async fn confirmations_for(
    conn: &mut Conn,
    hashes: &[String],
) -> Result<HashMap<String, Vec<(String, i64, String)>>, DbError> {
    let mut out: HashMap<String, Vec<(String, i64, String)>> = HashMap::new();
    for chunk in hashes.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT item_hash, chain, height, tx_hash FROM confirmations WHERE ",
        );
        push_in_bare(&mut qb, "item_hash", chunk);
        qb.push(" ORDER BY height");
        for (hash, chain, height, tx) in qb
            .build_query_as::<(String, String, i64, String)>()
            .fetch_all(&mut *conn)
            .await?
        {
            out.entry(hash).or_default().push((chain, height, tx));
        }
    }
    Ok(out)
}
