//! What a sync node anchors on chain next: applied messages that no chain has confirmed yet.
//! The confirmations themselves are written by `messages::add_confirmation`.

use crate::{Conn, DbError, MessageRecord, messages::MESSAGE_COLUMNS};

/// Up to `limit` applied messages without any confirmation, oldest first.
pub async fn unconfirmed(conn: &mut Conn, limit: i64) -> Result<Vec<MessageRecord>, DbError> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE NOT EXISTS \
         (SELECT 1 FROM confirmations c WHERE c.item_hash = m.item_hash) \
         ORDER BY m.time, m.item_hash LIMIT $1"
    );
    Ok(sqlx::query_as::<_, MessageRecord>(&sql)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?)
}
