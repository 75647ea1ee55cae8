//! The `messages.json` query: every filter, time or tx-time sort, page or cursor pagination.

use sqlx::{QueryBuilder, Sqlite};

use crate::{
    Conn, DbError, MessageRecord, MessageStatus,
    messages::MESSAGE_COLUMNS,
    posts::{push_in, push_in_bare},
};

/// Sort key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortBy {
    #[default]
    Time,
    /// Confirmation (earliest confirmation height), unconfirmed last, then time.
    TxTime,
}

/// Sort direction; Aleph's default is newest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortOrder {
    #[default]
    Descending,
    Ascending,
}

impl SortOrder {
    pub(crate) const fn sql(self) -> &'static str {
        match self {
            Self::Descending => "DESC",
            Self::Ascending => "ASC",
        }
    }

    /// From Aleph's `sortOrder` value (`-1` or `1`).
    pub fn from_aleph(value: i64) -> Option<Self> {
        match value {
            -1 => Some(Self::Descending),
            1 => Some(Self::Ascending),
            _ => None,
        }
    }
}

/// A keyset position: the `(time, item_hash)` of the last message of the previous page.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub time: f64,
    pub item_hash: String,
}

impl Cursor {
    /// The opaque token given to clients: hex of `"{time bits}:{item_hash}"`.
    pub fn encode(&self) -> String {
        hex::encode(format!("{}:{}", self.time.to_bits(), self.item_hash))
    }

    /// Parses a token made by [`Cursor::encode`].
    pub fn decode(token: &str) -> Result<Self, DbError> {
        let bytes = hex::decode(token).map_err(|_| DbError::InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| DbError::InvalidCursor)?;
        let (bits, item_hash) = text.split_once(':').ok_or(DbError::InvalidCursor)?;
        let bits: u64 = bits.parse().map_err(|_| DbError::InvalidCursor)?;
        let time = f64::from_bits(bits);
        if !time.is_finite() || item_hash.is_empty() || item_hash.len() > 128 {
            return Err(DbError::InvalidCursor);
        }
        Ok(Self {
            time,
            item_hash: item_hash.to_owned(),
        })
    }
}

/// Filters of `GET /api/v0/messages.json`. Empty lists mean "any".
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub hashes: Vec<String>,
    /// Senders.
    pub addresses: Vec<String>,
    /// `content.address`.
    pub owners: Vec<String>,
    pub refs: Vec<String>,
    pub content_hashes: Vec<String>,
    pub content_keys: Vec<String>,
    pub content_types: Vec<String>,
    pub chains: Vec<String>,
    pub channels: Vec<String>,
    pub tags: Vec<String>,
    pub message_types: Vec<String>,
    /// Empty = processed and removing.
    pub statuses: Vec<MessageStatus>,
    pub payment_types: Vec<String>,
    /// Inclusive.
    pub start_date: Option<f64>,
    /// Exclusive.
    pub end_date: Option<f64>,
    pub start_block: Option<i64>,
    pub end_block: Option<i64>,
    pub sort_by: SortBy,
    pub sort_order: SortOrder,
}

fn push_where(qb: &mut QueryBuilder<'_, Sqlite>, f: &MessageFilter) {
    qb.push(" WHERE 1 = 1");
    let lists: [(&str, &Vec<String>); 10] = [
        ("m.item_hash", &f.hashes),
        ("m.sender", &f.addresses),
        ("m.owner", &f.owners),
        ("m.content_ref", &f.refs),
        ("m.content_item_hash", &f.content_hashes),
        ("m.content_key", &f.content_keys),
        ("m.content_type", &f.content_types),
        ("m.chain", &f.chains),
        ("m.channel", &f.channels),
        ("m.type", &f.message_types),
    ];
    for (column, values) in lists {
        push_in(qb, column, values);
    }
    push_in(qb, "m.payment_type", &f.payment_types);
    if !f.tags.is_empty() {
        qb.push(" AND m.item_hash IN (SELECT item_hash FROM message_tags WHERE ");
        push_in_bare(qb, "tag", &f.tags);
        qb.push(")");
    }
    let statuses: Vec<String> = f.statuses.iter().map(|s| s.as_str().to_owned()).collect();
    let default =
        statuses.iter().all(|s| s == "processed" || s == "removing") && statuses.len() == 2;
    if !statuses.is_empty() && !default {
        qb.push(" AND m.item_hash IN (SELECT item_hash FROM message_status WHERE ");
        push_in_bare(qb, "status", &statuses);
        qb.push(")");
    }
    if let Some(start) = f.start_date {
        qb.push(" AND m.time >= ").push_bind(start);
    }
    if let Some(end) = f.end_date {
        qb.push(" AND m.time < ").push_bind(end);
    }
    if f.start_block.is_some() || f.end_block.is_some() {
        qb.push(" AND EXISTS (SELECT 1 FROM confirmations c WHERE c.item_hash = m.item_hash");
        if let Some(start) = f.start_block {
            qb.push(" AND c.height >= ").push_bind(start);
        }
        if let Some(end) = f.end_block {
            qb.push(" AND c.height < ").push_bind(end);
        }
        qb.push(")");
    }
}

fn push_order(qb: &mut QueryBuilder<'_, Sqlite>, f: &MessageFilter) {
    let dir = f.sort_order.sql();
    if f.sort_by == SortBy::TxTime {
        qb.push(format!(
            " ORDER BY (SELECT MIN(c.height) FROM confirmations c WHERE c.item_hash = m.item_hash) \
             IS NULL, (SELECT MIN(c.height) FROM confirmations c WHERE c.item_hash = m.item_hash) \
             {dir}, m.time {dir}, m.item_hash {dir}"
        ));
    } else {
        qb.push(format!(" ORDER BY m.time {dir}, m.item_hash {dir}"));
    }
}

fn select_messages() -> QueryBuilder<'static, Sqlite> {
    let columns: Vec<String> = MESSAGE_COLUMNS
        .split(", ")
        .map(|c| format!("m.{c}"))
        .collect();
    QueryBuilder::new(format!("SELECT {} FROM messages m", columns.join(", ")))
}

/// A page of messages (`per_page` 0 = all; `page` is 1-based), or the page after `cursor`.
pub async fn find_messages(
    conn: &mut Conn,
    f: &MessageFilter,
    per_page: i64,
    page: i64,
    cursor: Option<&Cursor>,
) -> Result<Vec<MessageRecord>, DbError> {
    let mut qb = select_messages();
    push_where(&mut qb, f);
    if let Some(c) = cursor {
        let op = match f.sort_order {
            SortOrder::Descending => "<",
            SortOrder::Ascending => ">",
        };
        qb.push(format!(" AND (m.time {op} ")).push_bind(c.time);
        qb.push(" OR (m.time = ").push_bind(c.time);
        qb.push(format!(" AND m.item_hash {op} "))
            .push_bind(c.item_hash.clone());
        qb.push("))");
    }
    push_order(&mut qb, f);
    if per_page > 0 {
        qb.push(" LIMIT ").push_bind(per_page);
        if cursor.is_none() {
            qb.push(" OFFSET ")
                .push_bind(per_page.saturating_mul(page.max(1) - 1));
        }
    }
    Ok(qb
        .build_query_as::<MessageRecord>()
        .fetch_all(&mut *conn)
        .await?)
}

/// How many messages match `f`.
pub async fn count_messages(conn: &mut Conn, f: &MessageFilter) -> Result<i64, DbError> {
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM messages m");
    push_where(&mut qb, f);
    Ok(qb.build_query_scalar::<i64>().fetch_one(&mut *conn).await?)
}

/// Item hashes by status and reception time window (`GET /messages/hashes`).
pub async fn find_hashes(
    conn: &mut Conn,
    status: Option<MessageStatus>,
    start: Option<f64>,
    end: Option<f64>,
    order: SortOrder,
    per_page: i64,
    page: i64,
) -> Result<(Vec<(String, MessageStatus, f64)>, i64), DbError> {
    let push = |qb: &mut QueryBuilder<'_, Sqlite>| {
        qb.push(" WHERE 1 = 1");
        if let Some(s) = status {
            qb.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(s) = start {
            qb.push(" AND reception_time >= ").push_bind(s);
        }
        if let Some(e) = end {
            qb.push(" AND reception_time < ").push_bind(e);
        }
    };
    let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM message_status");
    push(&mut count);
    let total = count
        .build_query_scalar::<i64>()
        .fetch_one(&mut *conn)
        .await?;
    let mut qb =
        QueryBuilder::<Sqlite>::new("SELECT item_hash, status, reception_time FROM message_status");
    push(&mut qb);
    let dir = order.sql();
    qb.push(format!(" ORDER BY reception_time {dir}, item_hash {dir}"));
    if per_page > 0 {
        qb.push(" LIMIT ").push_bind(per_page);
        qb.push(" OFFSET ")
            .push_bind(per_page.saturating_mul(page.max(1) - 1));
    }
    let rows = qb
        .build_query_as::<(String, String, f64)>()
        .fetch_all(&mut *conn)
        .await?;
    let rows = rows
        .into_iter()
        .map(|(h, s, t)| Ok((h, MessageStatus::from_db(s)?, t)))
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok((rows, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            time: 1_700_000_000.25,
            item_hash: "ab".repeat(32),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for bad in [
            "",
            "zz",
            &hex::encode("nocolon"),
            &hex::encode("1:"),
            &hex::encode("x:ab"),
        ] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }
}
