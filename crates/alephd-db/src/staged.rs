//! Set-based reads and writes of posts and aggregates: what the pipeline needs to apply a
//! whole batch of POSTs and AGGREGATEs with a fixed number of statements (prefetch what the
//! batch touches, change it in memory, write it back) instead of several per message.

use std::collections::HashSet;

use sqlx::{QueryBuilder, Sqlite};

use crate::{AggregateElement, AggregateRecord, Conn, DbError, PostRecord, posts::push_in_bare};

/// Rows per statement, under SQLite's and PostgreSQL's bind limits (8 columns × 500).
const CHUNK: usize = 500;

/// Posts and amends by hash (absent hashes are left out).
pub async fn posts_by_hash(conn: &mut Conn, hashes: &[String]) -> Result<Vec<PostRecord>, DbError> {
    let mut out = Vec::with_capacity(hashes.len());
    for chunk in hashes.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT item_hash, owner, post_type, ref, amends, channel, time, latest_amend \
             FROM posts WHERE ",
        );
        push_in_bare(&mut qb, "item_hash", chunk);
        out.extend(
            qb.build_query_as::<PostRecord>()
                .fetch_all(&mut *conn)
                .await?,
        );
    }
    Ok(out)
}

/// Inserts posts; a hash already stored is left as it is (like [`crate::ops::insert_post`]).
pub async fn insert_posts(conn: &mut Conn, posts: &[&PostRecord]) -> Result<(), DbError> {
    for chunk in posts.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO posts (item_hash, owner, post_type, ref, amends, channel, time, \
             latest_amend) ",
        );
        qb.push_values(chunk, |mut b, p| {
            b.push_bind(p.item_hash.clone())
                .push_bind(p.owner.clone())
                .push_bind(p.post_type.clone())
                .push_bind(p.post_ref.clone())
                .push_bind(p.amends.clone())
                .push_bind(p.channel.clone())
                .push_bind(p.time)
                .push_bind(p.latest_amend.clone());
        });
        qb.push(" ON CONFLICT (item_hash) DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Sets `latest_amend` on many originals: `(original, latest)` pairs.
pub async fn set_latest_amends(
    conn: &mut Conn,
    rows: &[(&str, Option<&str>)],
) -> Result<(), DbError> {
    for chunk in rows.chunks(CHUNK) {
        // VALUES columns are `column1`, `column2` in both SQLite and PostgreSQL.
        let mut qb =
            QueryBuilder::<Sqlite>::new("UPDATE posts SET latest_amend = v.column2 FROM (");
        qb.push_values(chunk, |mut b, (original, latest)| {
            b.push_bind(*original).push_bind(*latest);
        });
        qb.push(") AS v WHERE posts.item_hash = v.column1");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Merged values of the given `(owner, key)`s (absent ones are left out).
pub async fn aggregates_by_key(
    conn: &mut Conn,
    keys: &[(String, String)],
) -> Result<Vec<AggregateRecord>, DbError> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT owner, key, content, created, last_updated, original_item_hash, \
             last_update_item_hash FROM aggregates WHERE (owner, key) IN (",
        );
        qb.push_values(chunk, |mut b, (owner, key)| {
            b.push_bind(owner.clone()).push_bind(key.clone());
        });
        qb.push(")");
        out.extend(
            qb.build_query_as::<AggregateRecord>()
                .fetch_all(&mut *conn)
                .await?,
        );
    }
    Ok(out)
}

/// Writes many merged values (insert or replace).
pub async fn upsert_aggregates(conn: &mut Conn, rows: &[&AggregateRecord]) -> Result<(), DbError> {
    for chunk in rows.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO aggregates (owner, key, content, created, last_updated, \
             original_item_hash, last_update_item_hash) ",
        );
        qb.push_values(chunk, |mut b, a| {
            b.push_bind(a.owner.clone())
                .push_bind(a.key.clone())
                .push_bind(a.content.clone())
                .push_bind(a.created)
                .push_bind(a.last_updated)
                .push_bind(a.original_item_hash.clone())
                .push_bind(a.last_update_item_hash.clone());
        });
        qb.push(
            " ON CONFLICT (owner, key) DO UPDATE SET content = excluded.content, \
             created = excluded.created, last_updated = excluded.last_updated, \
             original_item_hash = excluded.original_item_hash, \
             last_update_item_hash = excluded.last_update_item_hash",
        );
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts many elements; a hash already stored is left as it is.
pub async fn insert_elements(conn: &mut Conn, rows: &[AggregateElement]) -> Result<(), DbError> {
    for chunk in rows.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO aggregate_elements (item_hash, owner, key, time, content) ",
        );
        qb.push_values(chunk, |mut b, e| {
            b.push_bind(e.item_hash.clone())
                .push_bind(e.owner.clone())
                .push_bind(e.key.clone())
                .push_bind(e.time)
                .push_bind(e.content.clone());
        });
        qb.push(" ON CONFLICT (item_hash) DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The `(owner, key)`s of these owners that have at least one key FORGET.
pub async fn tombstoned_keys(
    conn: &mut Conn,
    owners: &[String],
) -> Result<HashSet<(String, String)>, DbError> {
    let mut out = HashSet::new();
    for chunk in owners.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT DISTINCT owner, key FROM aggregate_tombstones WHERE ",
        );
        push_in_bare(&mut qb, "owner", chunk);
        out.extend(
            qb.build_query_as::<(String, String)>()
                .fetch_all(&mut *conn)
                .await?,
        );
    }
    Ok(out)
}
