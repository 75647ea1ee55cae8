//! Aggregate elements, merged values and key tombstones.

use sqlx::{QueryBuilder, Sqlite};

use crate::{AggregateElement, AggregateRecord, Conn, DbError};

const ELEMENT_COLUMNS: &str = "item_hash, owner, key, time, content";
const AGGREGATE_COLUMNS: &str =
    "owner, key, content, created, last_updated, original_item_hash, last_update_item_hash";

/// Stores one element.
pub async fn insert_element(conn: &mut Conn, e: &AggregateElement) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO aggregate_elements (item_hash, owner, key, time, content) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (item_hash) DO NOTHING",
    )
    .bind(&e.item_hash)
    .bind(&e.owner)
    .bind(&e.key)
    .bind(e.time)
    .bind(&e.content)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One element by message hash.
pub async fn element(
    conn: &mut Conn,
    item_hash: &str,
) -> Result<Option<AggregateElement>, DbError> {
    let sql = format!("SELECT {ELEMENT_COLUMNS} FROM aggregate_elements WHERE item_hash = $1");
    Ok(sqlx::query_as::<_, AggregateElement>(&sql)
        .bind(item_hash)
        .fetch_optional(&mut *conn)
        .await?)
}

/// Every element of `(owner, key)` in merge order: `content.time`, then item hash.
pub async fn elements(
    conn: &mut Conn,
    owner: &str,
    key: &str,
) -> Result<Vec<AggregateElement>, DbError> {
    let sql = format!(
        "SELECT {ELEMENT_COLUMNS} FROM aggregate_elements WHERE owner = $1 AND key = $2 \
         ORDER BY time, item_hash"
    );
    Ok(sqlx::query_as::<_, AggregateElement>(&sql)
        .bind(owner)
        .bind(key)
        .fetch_all(&mut *conn)
        .await?)
}

/// Elements of `(owner, key)` after `(time, item_hash)` in merge order.
pub async fn elements_after(
    conn: &mut Conn,
    owner: &str,
    key: &str,
    time: f64,
    item_hash: &str,
) -> Result<Vec<AggregateElement>, DbError> {
    let sql = format!(
        "SELECT {ELEMENT_COLUMNS} FROM aggregate_elements WHERE owner = $1 AND key = $2 \
         AND (time > $3 OR (time = $3 AND item_hash > $4)) ORDER BY time, item_hash"
    );
    Ok(sqlx::query_as::<_, AggregateElement>(&sql)
        .bind(owner)
        .bind(key)
        .bind(time)
        .bind(item_hash)
        .fetch_all(&mut *conn)
        .await?)
}

/// Elements of `(owner, key)` with `time <= max_time` (what a key FORGET removes).
pub async fn elements_up_to(
    conn: &mut Conn,
    owner: &str,
    key: &str,
    max_time: f64,
) -> Result<Vec<AggregateElement>, DbError> {
    let sql = format!(
        "SELECT {ELEMENT_COLUMNS} FROM aggregate_elements WHERE owner = $1 AND key = $2 \
         AND time <= $3 ORDER BY time, item_hash"
    );
    Ok(sqlx::query_as::<_, AggregateElement>(&sql)
        .bind(owner)
        .bind(key)
        .bind(max_time)
        .fetch_all(&mut *conn)
        .await?)
}

/// Deletes one element; returns it if it existed.
pub async fn delete_element(
    conn: &mut Conn,
    item_hash: &str,
) -> Result<Option<AggregateElement>, DbError> {
    let existing = element(conn, item_hash).await?;
    if existing.is_some() {
        sqlx::query("DELETE FROM aggregate_elements WHERE item_hash = $1")
            .bind(item_hash)
            .execute(&mut *conn)
            .await?;
    }
    Ok(existing)
}

/// Writes the merged value of `(owner, key)`.
pub async fn upsert_aggregate(conn: &mut Conn, a: &AggregateRecord) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO aggregates (owner, key, content, created, last_updated, \
         original_item_hash, last_update_item_hash) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (owner, key) DO UPDATE SET content = excluded.content, \
         created = excluded.created, last_updated = excluded.last_updated, \
         original_item_hash = excluded.original_item_hash, \
         last_update_item_hash = excluded.last_update_item_hash",
    )
    .bind(&a.owner)
    .bind(&a.key)
    .bind(&a.content)
    .bind(a.created)
    .bind(a.last_updated)
    .bind(&a.original_item_hash)
    .bind(&a.last_update_item_hash)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes the merged value of `(owner, key)` (its last element was forgotten).
pub async fn delete_aggregate(conn: &mut Conn, owner: &str, key: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM aggregates WHERE owner = $1 AND key = $2")
        .bind(owner)
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The merged value of `(owner, key)`.
pub async fn aggregate(
    conn: &mut Conn,
    owner: &str,
    key: &str,
) -> Result<Option<AggregateRecord>, DbError> {
    let sql = format!("SELECT {AGGREGATE_COLUMNS} FROM aggregates WHERE owner = $1 AND key = $2");
    Ok(sqlx::query_as::<_, AggregateRecord>(&sql)
        .bind(owner)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?)
}

/// An owner's aggregates, optionally only `keys`, sorted by key.
pub async fn aggregates_of(
    conn: &mut Conn,
    owner: &str,
    keys: &[String],
    limit: i64,
) -> Result<Vec<AggregateRecord>, DbError> {
    let mut qb = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {AGGREGATE_COLUMNS} FROM aggregates WHERE owner = "
    ));
    qb.push_bind(owner);
    if !keys.is_empty() {
        qb.push(" AND key IN (");
        let mut sep = qb.separated(", ");
        for k in keys {
            sep.push_bind(k);
        }
        qb.push(")");
    }
    qb.push(" ORDER BY key LIMIT ").push_bind(limit);
    Ok(qb
        .build_query_as::<AggregateRecord>()
        .fetch_all(&mut *conn)
        .await?)
}

/// Records a FORGET of a whole aggregate key.
pub async fn insert_tombstone(
    conn: &mut Conn,
    owner: &str,
    key: &str,
    forget_hash: &str,
    time: f64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO aggregate_tombstones (owner, key, forget_hash, time) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(owner)
    .bind(key)
    .bind(forget_hash)
    .bind(time)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The FORGETs of `(owner, key)` at or after `time`, sorted by hash: an element with that
/// time is forgotten on arrival by these.
pub async fn tombstone_time(
    conn: &mut Conn,
    owner: &str,
    key: &str,
    time: f64,
) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT forget_hash FROM aggregate_tombstones WHERE owner = $1 AND key = $2 \
         AND time >= $3 ORDER BY forget_hash",
    )
    .bind(owner)
    .bind(key)
    .bind(time)
    .fetch_all(&mut *conn)
    .await?)
}

/// Sort of the aggregate list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AggregateSort {
    #[default]
    LastModified,
    CreationTime,
}

/// Filters of `GET /api/v0/aggregates.json`.
#[derive(Debug, Clone, Default)]
pub struct AggregateListFilter {
    pub keys: Vec<String>,
    pub addresses: Vec<String>,
    pub sort: AggregateSort,
    /// Ascending when true.
    pub ascending: bool,
    pub limit: i64,
    pub offset: i64,
}

/// Aggregates matching `f`, and how many match in total.
pub async fn list_aggregates(
    conn: &mut Conn,
    f: &AggregateListFilter,
) -> Result<(Vec<AggregateRecord>, i64), DbError> {
    let push_where = |qb: &mut QueryBuilder<'_, Sqlite>| {
        qb.push(" WHERE 1 = 1");
        for (column, values) in [("key", &f.keys), ("owner", &f.addresses)] {
            if values.is_empty() {
                continue;
            }
            qb.push(format!(" AND {column} IN ("));
            let mut sep = qb.separated(", ");
            for v in values {
                sep.push_bind(v.clone());
            }
            qb.push(")");
        }
    };
    let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM aggregates");
    push_where(&mut count);
    let total = count
        .build_query_scalar::<i64>()
        .fetch_one(&mut *conn)
        .await?;
    let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {AGGREGATE_COLUMNS} FROM aggregates"));
    push_where(&mut qb);
    let column = match f.sort {
        AggregateSort::LastModified => "last_updated",
        AggregateSort::CreationTime => "created",
    };
    let dir = if f.ascending { "ASC" } else { "DESC" };
    qb.push(format!(" ORDER BY {column} {dir}, owner, key LIMIT "));
    qb.push_bind(f.limit).push(" OFFSET ").push_bind(f.offset);
    Ok((
        qb.build_query_as::<AggregateRecord>()
            .fetch_all(&mut *conn)
            .await?,
        total,
    ))
}
