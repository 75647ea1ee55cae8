//! Posts and amends. An original's `latest_amend` names the amend whose content is current.

use sqlx::{QueryBuilder, Sqlite};

use crate::{Conn, DbError, MergedPost, PostRecord, messages, query::SortOrder};

const POST_COLUMNS: &str = "item_hash, owner, post_type, ref, amends, channel, time, latest_amend";

/// Stores a post or an amend.
pub async fn insert_post(conn: &mut Conn, p: &PostRecord) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO posts (item_hash, owner, post_type, ref, amends, channel, time, latest_amend) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (item_hash) DO NOTHING",
    )
    .bind(&p.item_hash)
    .bind(&p.owner)
    .bind(&p.post_type)
    .bind(&p.post_ref)
    .bind(&p.amends)
    .bind(&p.channel)
    .bind(p.time)
    .bind(&p.latest_amend)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A post or amend by hash.
pub async fn post(conn: &mut Conn, item_hash: &str) -> Result<Option<PostRecord>, DbError> {
    let sql = format!("SELECT {POST_COLUMNS} FROM posts WHERE item_hash = $1");
    Ok(sqlx::query_as::<_, PostRecord>(&sql)
        .bind(item_hash)
        .fetch_optional(&mut *conn)
        .await?)
}

/// The amends of an original, newest `(time, item_hash)` first.
pub async fn amends_of(conn: &mut Conn, original: &str) -> Result<Vec<PostRecord>, DbError> {
    let sql = format!(
        "SELECT {POST_COLUMNS} FROM posts WHERE amends = $1 ORDER BY time DESC, item_hash DESC"
    );
    Ok(sqlx::query_as::<_, PostRecord>(&sql)
        .bind(original)
        .fetch_all(&mut *conn)
        .await?)
}

/// Sets which amend is current on an original.
pub async fn set_latest_amend(
    conn: &mut Conn,
    original: &str,
    latest: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query("UPDATE posts SET latest_amend = $2 WHERE item_hash = $1")
        .bind(original)
        .bind(latest)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Deletes a post or amend row.
pub async fn delete_post(conn: &mut Conn, item_hash: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM posts WHERE item_hash = $1")
        .bind(item_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Filters of `posts.json` (v0 and v1).
#[derive(Debug, Clone, Default)]
pub struct PostFilter {
    pub addresses: Vec<String>,
    /// Original or current item hashes.
    pub hashes: Vec<String>,
    pub refs: Vec<String>,
    pub types: Vec<String>,
    pub tags: Vec<String>,
    pub channels: Vec<String>,
    pub start_date: Option<f64>,
    pub end_date: Option<f64>,
    pub sort_order: SortOrder,
    /// 0 = unlimited.
    pub per_page: i64,
    /// 1-based.
    pub page: i64,
}

fn push_post_where(qb: &mut QueryBuilder<'_, Sqlite>, f: &PostFilter) {
    qb.push(" WHERE p.amends IS NULL");
    let lists: [(&str, &Vec<String>); 4] = [
        ("p.owner", &f.addresses),
        ("p.ref", &f.refs),
        ("p.post_type", &f.types),
        ("p.channel", &f.channels),
    ];
    for (column, values) in lists {
        push_in(qb, column, values);
    }
    if !f.hashes.is_empty() {
        qb.push(" AND (");
        push_in_bare(qb, "p.item_hash", &f.hashes);
        qb.push(" OR ");
        push_in_bare(qb, "p.latest_amend", &f.hashes);
        qb.push(")");
    }
    if !f.tags.is_empty() {
        qb.push(" AND COALESCE(p.latest_amend, p.item_hash) IN (SELECT item_hash FROM message_tags WHERE ");
        push_in_bare(qb, "tag", &f.tags);
        qb.push(")");
    }
    if let Some(start) = f.start_date {
        qb.push(" AND p.time >= ").push_bind(start);
    }
    if let Some(end) = f.end_date {
        qb.push(" AND p.time < ").push_bind(end);
    }
}

pub(crate) fn push_in(qb: &mut QueryBuilder<'_, Sqlite>, column: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    qb.push(" AND ");
    push_in_bare(qb, column, values);
}

pub(crate) fn push_in_bare(qb: &mut QueryBuilder<'_, Sqlite>, column: &str, values: &[String]) {
    qb.push(format!("{column} IN ("));
    let mut sep = qb.separated(", ");
    for v in values {
        sep.push_bind(v.clone());
    }
    sep.push_unseparated(")");
}

/// Merged posts matching `f` (a page of them) and the total count.
pub async fn list_posts(
    conn: &mut Conn,
    f: &PostFilter,
) -> Result<(Vec<MergedPost>, i64), DbError> {
    let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM posts p");
    push_post_where(&mut count, f);
    let total = count
        .build_query_scalar::<i64>()
        .fetch_one(&mut *conn)
        .await?;
    let mut qb = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {} FROM posts p",
        POST_COLUMNS
            .split(", ")
            .map(|c| format!("p.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    push_post_where(&mut qb, f);
    let dir = f.sort_order.sql();
    qb.push(format!(" ORDER BY p.time {dir}, p.item_hash {dir}"));
    if f.per_page > 0 {
        qb.push(" LIMIT ").push_bind(f.per_page);
        qb.push(" OFFSET ")
            .push_bind(f.per_page.saturating_mul(f.page.max(1) - 1));
    }
    let rows = qb
        .build_query_as::<PostRecord>()
        .fetch_all(&mut *conn)
        .await?;
    let mut posts = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(original) = messages::message(conn, &row.item_hash).await? else {
            continue;
        };
        let current = match &row.latest_amend {
            Some(latest) => messages::message(conn, latest)
                .await?
                .unwrap_or_else(|| original.clone()),
            None => original.clone(),
        };
        posts.push(MergedPost {
            original,
            current,
            post_type: row.post_type,
            post_ref: row.post_ref,
        });
    }
    Ok((posts, total))
}
