//! Applied messages, statuses, rejections, tombstones and confirmations.

use crate::{
    Conn, DbError, ForgottenRecord, MessageRecord, MessageStatus, RejectedRecord, StatusRecord,
};

pub(crate) const MESSAGE_COLUMNS: &str = "item_hash, sender, chain, signature, type, item_type, \
    item_content, content, time, channel, owner, content_type, content_key, content_ref, \
    content_item_hash, payment_type, size, reception_time";

/// Inserts an applied message and its tags (`content.content.tags` of posts).
pub async fn insert_message(
    conn: &mut Conn,
    m: &MessageRecord,
    tags: &[String],
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO messages (item_hash, sender, chain, signature, type, item_type, \
         item_content, content, time, channel, owner, content_type, content_key, content_ref, \
         content_item_hash, payment_type, size, reception_time) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         ON CONFLICT (item_hash) DO NOTHING",
    )
    .bind(&m.item_hash)
    .bind(&m.sender)
    .bind(&m.chain)
    .bind(&m.signature)
    .bind(&m.message_type)
    .bind(&m.item_type)
    .bind(&m.item_content)
    .bind(&m.content)
    .bind(m.time)
    .bind(&m.channel)
    .bind(&m.owner)
    .bind(&m.content_type)
    .bind(&m.content_key)
    .bind(&m.content_ref)
    .bind(&m.content_item_hash)
    .bind(&m.payment_type)
    .bind(m.size)
    .bind(m.reception_time)
    .execute(&mut *conn)
    .await?;
    for tag in tags {
        sqlx::query(
            "INSERT INTO message_tags (tag, item_hash) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(tag)
        .bind(&m.item_hash)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// An applied message by hash.
pub async fn message(conn: &mut Conn, item_hash: &str) -> Result<Option<MessageRecord>, DbError> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE item_hash = $1");
    Ok(sqlx::query_as::<_, MessageRecord>(&sql)
        .bind(item_hash)
        .fetch_optional(&mut *conn)
        .await?)
}

/// Deletes an applied message (it is being forgotten) with its tags and confirmations.
pub async fn delete_message(conn: &mut Conn, item_hash: &str) -> Result<(), DbError> {
    for sql in [
        "DELETE FROM messages WHERE item_hash = $1",
        "DELETE FROM message_tags WHERE item_hash = $1",
    ] {
        sqlx::query(sql).bind(item_hash).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Sets a message's status, keeping the first reception time.
pub async fn set_status(
    conn: &mut Conn,
    item_hash: &str,
    status: MessageStatus,
    reception_time: f64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO message_status (item_hash, status, reception_time) VALUES ($1, $2, $3) \
         ON CONFLICT (item_hash) DO UPDATE SET status = excluded.status",
    )
    .bind(item_hash)
    .bind(status.as_str())
    .bind(reception_time)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A message's status, if the node has seen it.
pub async fn status(conn: &mut Conn, item_hash: &str) -> Result<Option<StatusRecord>, DbError> {
    let row = sqlx::query_as::<_, (String, String, f64)>(
        "SELECT item_hash, status, reception_time FROM message_status WHERE item_hash = $1",
    )
    .bind(item_hash)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|(item_hash, status, reception_time)| {
        Ok(StatusRecord {
            item_hash,
            status: MessageStatus::from_db(status)?,
            reception_time,
        })
    })
    .transpose()
}

/// Records (or replaces) a rejection.
pub async fn insert_rejected(conn: &mut Conn, r: &RejectedRecord) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO rejected_messages (item_hash, message, error_code, details, owner) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (item_hash) DO UPDATE SET \
         message = excluded.message, error_code = excluded.error_code, \
         details = excluded.details, owner = excluded.owner",
    )
    .bind(&r.item_hash)
    .bind(&r.message)
    .bind(r.error_code)
    .bind(&r.details)
    .bind(&r.owner)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A rejection by hash.
pub async fn rejected(conn: &mut Conn, item_hash: &str) -> Result<Option<RejectedRecord>, DbError> {
    Ok(sqlx::query_as::<_, RejectedRecord>(
        "SELECT item_hash, message, error_code, details, owner FROM rejected_messages \
         WHERE item_hash = $1",
    )
    .bind(item_hash)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Rejections of `owner`'s messages with `error_code` whose status is still `rejected`
/// (a new `security` grant gives PERMISSION_DENIED ones another chance).
pub async fn rejected_for_owner(
    conn: &mut Conn,
    owner: &str,
    error_code: i64,
) -> Result<Vec<RejectedRecord>, DbError> {
    Ok(sqlx::query_as::<_, RejectedRecord>(
        "SELECT r.item_hash, r.message, r.error_code, r.details, r.owner \
         FROM rejected_messages r JOIN message_status s ON s.item_hash = r.item_hash \
         WHERE r.owner = $1 AND r.error_code = $2 AND s.status = 'rejected' LIMIT 10000",
    )
    .bind(owner)
    .bind(error_code)
    .fetch_all(&mut *conn)
    .await?)
}

/// Records a tombstone.
pub async fn insert_forgotten(conn: &mut Conn, f: &ForgottenRecord) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO forgotten_messages (item_hash, sender, chain, signature, type, item_type, \
         time, channel, owner, content_type, content_key, payment_type, size, forgotten_by, \
         forgotten_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (item_hash) DO NOTHING",
    )
    .bind(&f.item_hash)
    .bind(&f.sender)
    .bind(&f.chain)
    .bind(&f.signature)
    .bind(&f.message_type)
    .bind(&f.item_type)
    .bind(f.time)
    .bind(&f.channel)
    .bind(&f.owner)
    .bind(&f.content_type)
    .bind(&f.content_key)
    .bind(&f.payment_type)
    .bind(f.size)
    .bind(&f.forgotten_by)
    .bind(f.forgotten_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A tombstone by hash.
pub async fn forgotten(
    conn: &mut Conn,
    item_hash: &str,
) -> Result<Option<ForgottenRecord>, DbError> {
    Ok(sqlx::query_as::<_, ForgottenRecord>(
        "SELECT item_hash, sender, chain, signature, type, item_type, time, channel, owner, \
         content_type, content_key, payment_type, size, forgotten_by, forgotten_at \
         FROM forgotten_messages \
         WHERE item_hash = $1",
    )
    .bind(item_hash)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Adds a FORGET hash to a tombstone's `forgotten_by` (kept sorted, no duplicates).
pub async fn append_forgotten_by(
    conn: &mut Conn,
    item_hash: &str,
    forget_hash: &str,
) -> Result<(), DbError> {
    let Some(record) = forgotten(conn, item_hash).await? else {
        return Ok(());
    };
    let mut list = record.forgotten_by_list()?;
    if list.iter().any(|h| h == forget_hash) {
        return Ok(());
    }
    list.push(forget_hash.to_owned());
    list.sort();
    let text = serde_json::to_string(&list).map_err(|source| DbError::StoredJson {
        column: "forgotten_by",
        source,
    })?;
    sqlx::query("UPDATE forgotten_messages SET forgotten_by = $2 WHERE item_hash = $1")
        .bind(item_hash)
        .bind(text)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records an on-chain confirmation.
pub async fn add_confirmation(
    conn: &mut Conn,
    item_hash: &str,
    chain: &str,
    height: i64,
    tx_hash: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO confirmations (item_hash, chain, height, tx_hash) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(item_hash)
    .bind(chain)
    .bind(height)
    .bind(tx_hash)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A message's confirmations as `(chain, height, tx_hash)`.
pub async fn confirmations(
    conn: &mut Conn,
    item_hash: &str,
) -> Result<Vec<(String, i64, String)>, DbError> {
    Ok(sqlx::query_as::<_, (String, i64, String)>(
        "SELECT chain, height, tx_hash FROM confirmations WHERE item_hash = $1 ORDER BY height",
    )
    .bind(item_hash)
    .fetch_all(&mut *conn)
    .await?)
}

/// Every channel used by an applied message, sorted.
pub async fn channels(conn: &mut Conn) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT DISTINCT channel FROM messages WHERE channel IS NOT NULL ORDER BY channel",
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Channels an owner posted to, sorted.
pub async fn owner_channels(conn: &mut Conn, owner: &str) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT DISTINCT channel FROM messages WHERE owner = $1 AND channel IS NOT NULL \
         ORDER BY channel",
    )
    .bind(owner)
    .fetch_all(&mut *conn)
    .await?)
}

/// Post types an owner used, sorted.
pub async fn owner_post_types(conn: &mut Conn, owner: &str) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT DISTINCT post_type FROM posts WHERE owner = $1 AND amends IS NULL \
         ORDER BY post_type",
    )
    .bind(owner)
    .fetch_all(&mut *conn)
    .await?)
}

/// Applied message counts per `(sender, type)`, for the given senders or all of them.
pub async fn type_counts(
    conn: &mut Conn,
    senders: &[String],
    limit: i64,
    offset: i64,
) -> Result<Vec<(String, String, i64)>, DbError> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "SELECT sender, type, COUNT(*) FROM messages WHERE sender IN (SELECT DISTINCT sender FROM messages",
    );
    if !senders.is_empty() {
        qb.push(" WHERE sender IN (");
        let mut sep = qb.separated(", ");
        for s in senders {
            sep.push_bind(s);
        }
        qb.push(")");
    }
    qb.push(" ORDER BY sender LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    qb.push(") GROUP BY sender, type ORDER BY sender, type");
    Ok(qb
        .build_query_as::<(String, String, i64)>()
        .fetch_all(&mut *conn)
        .await?)
}
