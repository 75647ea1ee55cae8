//! The storage index (`<data-dir>/storage.db`, SQLite): blocks with reference counts, roots,
//! pins, the GC work list and the `storage` item table.
//!
//! Invariant: a block's `refs` equals the number of links to it from stored parents plus one if
//! it is a root. Blocks enter only through [`commit_blocks`] (after their children), leave only
//! through [`collect`]; both run inside one write transaction under the store's writer lock.

use std::{collections::HashMap, path::Path};

use sqlx::{
    QueryBuilder, Row, Sqlite, SqliteConnection,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};

use crate::{blockstore::BlockRecord, content_ref::BlockDigest};

/// The pin owner of message-less uploads; never a valid item hash (`@`).
pub(crate) const GRACE_OWNER: &str = "@grace";

pub(crate) async fn open(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(std::time::Duration::from_secs(30));
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

fn encode_links(links: &[BlockDigest]) -> Option<Vec<u8>> {
    (!links.is_empty()).then(|| links.iter().flat_map(|d| d.0).collect())
}

fn decode_links(blob: Option<Vec<u8>>) -> Vec<BlockDigest> {
    blob.unwrap_or_default()
        .chunks_exact(32)
        .filter_map(|c| c.try_into().ok().map(BlockDigest))
        .collect()
}

fn digest_of_row(bytes: Vec<u8>) -> Option<BlockDigest> {
    bytes.try_into().ok().map(BlockDigest)
}

pub(crate) async fn block_size(
    conn: &mut SqliteConnection,
    digest: &BlockDigest,
) -> Result<Option<u64>, sqlx::Error> {
    let row = sqlx::query("SELECT size FROM blocks WHERE digest = ?")
        .bind(&digest.0[..])
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.get::<i64, _>(0) as u64))
}

/// Which of `records` are not yet in the index.
pub(crate) async fn missing(
    conn: &mut SqliteConnection,
    records: &[BlockRecord],
) -> Result<Vec<BlockRecord>, sqlx::Error> {
    let mut out = Vec::new();
    for record in records {
        if block_size(conn, &record.digest).await?.is_none() {
            out.push(record.clone());
        }
    }
    Ok(out)
}

/// Inserts new blocks (refs 0) then counts their links. Returns `Err(child)` if a link points
/// to a block that is neither stored nor new: the caller must roll back.
pub(crate) async fn commit_blocks(
    conn: &mut SqliteConnection,
    new: &[BlockRecord],
) -> Result<Result<(), BlockDigest>, sqlx::Error> {
    for record in new {
        sqlx::query("INSERT INTO blocks (digest, size, refs, links) VALUES (?, ?, 0, ?)")
            .bind(&record.digest.0[..])
            .bind(record.size as i64)
            .bind(encode_links(&record.links))
            .execute(&mut *conn)
            .await?;
    }
    for record in new {
        for child in &record.links {
            if add_ref(conn, child, 1).await? == 0 {
                return Ok(Err(*child));
            }
        }
    }
    Ok(Ok(()))
}

async fn add_ref(
    conn: &mut SqliteConnection,
    digest: &BlockDigest,
    delta: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("UPDATE blocks SET refs = refs + ? WHERE digest = ?")
        .bind(delta)
        .bind(&digest.0[..])
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Makes `digest` (a stored block) a root if it is not one yet.
pub(crate) async fn ensure_root(
    conn: &mut SqliteConnection,
    digest: &BlockDigest,
    now: i64,
) -> Result<(), sqlx::Error> {
    let inserted =
        sqlx::query("INSERT INTO roots (digest, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(&digest.0[..])
            .bind(now)
            .execute(&mut *conn)
            .await?;
    if inserted.rows_affected() == 1 {
        add_ref(conn, digest, 1).await?;
    }
    Ok(())
}

/// Adds a pin; a grace pin (with `expires_at`) only ever extends its expiry.
pub(crate) async fn upsert_pin(
    conn: &mut SqliteConnection,
    digest: &BlockDigest,
    owner: &str,
    expires_at: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO pins (digest, owner, expires_at) VALUES (?, ?, ?) \
         ON CONFLICT (digest, owner) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
    )
    .bind(&digest.0[..])
    .bind(owner)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A root with no pin goes to the GC work list.
pub(crate) async fn queue_if_unpinned(
    conn: &mut SqliteConnection,
    digest: &BlockDigest,
) -> Result<(), sqlx::Error> {
    if pin_count(conn, digest).await? == 0 {
        sqlx::query("INSERT INTO gc_queue (digest) VALUES (?) ON CONFLICT DO NOTHING")
            .bind(&digest.0[..])
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Removes a pin; returns whether it existed.
pub(crate) async fn remove_pin(
    conn: &mut SqliteConnection,
    digest: &BlockDigest,
    owner: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM pins WHERE digest = ? AND owner = ?")
        .bind(&digest.0[..])
        .bind(owner)
        .execute(&mut *conn)
        .await?;
    queue_if_unpinned(conn, digest).await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn pin_count(
    conn: &mut SqliteConnection,
    digest: &BlockDigest,
) -> Result<u64, sqlx::Error> {
    let row = sqlx::query("SELECT count(*) FROM pins WHERE digest = ?")
        .bind(&digest.0[..])
        .fetch_one(conn)
        .await?;
    Ok(row.get::<i64, _>(0) as u64)
}

/// A `storage` item: its DAG root, the root's codec and the file size.
pub(crate) async fn storage_item(
    conn: &mut SqliteConnection,
    sha256: &[u8; 32],
) -> Result<Option<(BlockDigest, u64, u64)>, sqlx::Error> {
    let row = sqlx::query("SELECT root, codec, size FROM storage_items WHERE sha256 = ?")
        .bind(&sha256[..])
        .fetch_optional(conn)
        .await?;
    Ok(row.and_then(|r| {
        let root = digest_of_row(r.get(0))?;
        Some((root, r.get::<i64, _>(1) as u64, r.get::<i64, _>(2) as u64))
    }))
}

pub(crate) async fn insert_storage_item(
    conn: &mut SqliteConnection,
    sha256: &[u8; 32],
    root: &BlockDigest,
    codec: u64,
    size: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO storage_items (sha256, root, codec, size) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
        .bind(&sha256[..])
        .bind(&root.0[..])
        .bind(codec as i64)
        .bind(size as i64)
        .execute(conn)
        .await?;
    Ok(())
}

/// Drops grace pins expired at `now`, queueing roots left without pins. Returns how many.
pub(crate) async fn expire_grace(
    conn: &mut SqliteConnection,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let rows = sqlx::query(
        "DELETE FROM pins WHERE expires_at IS NOT NULL AND expires_at <= ? RETURNING digest",
    )
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        if let Some(digest) = digest_of_row(row.get(0)) {
            queue_if_unpinned(conn, &digest).await?;
        }
    }
    Ok(rows.len() as u64)
}

/// What one GC batch removed from the index (the caller unlinks the files after commit).
#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub(crate) roots: u64,
    pub(crate) blocks: Vec<BlockDigest>,
    pub(crate) bytes: u64,
}

/// Collects up to `limit` queued roots. Returns `None` when the queue is empty.
///
/// Set-based: a handful of statements per batch and per DAG level, whatever the batch size
/// (per-row statements cost a round trip to SQLite's thread each, which dominated GC time).
pub(crate) async fn collect(
    conn: &mut SqliteConnection,
    limit: i64,
) -> Result<Option<Collected>, sqlx::Error> {
    // Scratch tables, private to this connection; emptied before use.
    sqlx::query("CREATE TEMP TABLE IF NOT EXISTS gc_batch (digest BLOB PRIMARY KEY) WITHOUT ROWID")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "CREATE TEMP TABLE IF NOT EXISTS gc_level \
         (digest BLOB PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM gc_batch")
        .execute(&mut *conn)
        .await?;
    let taken = sqlx::query("INSERT INTO gc_batch SELECT digest FROM gc_queue LIMIT ?")
        .bind(limit)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if taken == 0 {
        return Ok(None);
    }
    sqlx::query("DELETE FROM gc_queue WHERE digest IN (SELECT digest FROM gc_batch)")
        .execute(&mut *conn)
        .await?;
    // Pinned again since it was queued: not garbage.
    sqlx::query(
        "DELETE FROM gc_batch WHERE EXISTS (SELECT 1 FROM pins WHERE pins.digest = gc_batch.digest)",
    )
    .execute(&mut *conn)
    .await?;
    let dead_roots: Vec<BlockDigest> = sqlx::query(
        "DELETE FROM roots WHERE digest IN (SELECT digest FROM gc_batch) RETURNING digest",
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .filter_map(|r| digest_of_row(r.get(0)))
    .collect();
    sqlx::query("DELETE FROM storage_items WHERE root IN (SELECT digest FROM gc_batch)")
        .execute(&mut *conn)
        .await?;
    let mut out = Collected {
        roots: dead_roots.len() as u64,
        ..Collected::default()
    };
    // Level by level (iterative: DAGs can be deep and come from peers): each block loses one
    // reference per dead parent link (or dead root row); blocks reaching zero die and their
    // links make the next level.
    let mut level: HashMap<BlockDigest, i64> = dead_roots.into_iter().map(|d| (d, 1)).collect();
    while !level.is_empty() {
        sqlx::query("DELETE FROM gc_level")
            .execute(&mut *conn)
            .await?;
        let entries: Vec<(BlockDigest, i64)> = level.drain().collect();
        for chunk in entries.chunks(LEVEL_CHUNK) {
            let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO gc_level (digest, n) ");
            insert.push_values(chunk, |mut row, (digest, n)| {
                row.push_bind(&digest.0[..]).push_bind(*n);
            });
            insert.build().execute(&mut *conn).await?;
        }
        let rows = sqlx::query(
            "UPDATE blocks SET refs = refs - (SELECT n FROM gc_level WHERE gc_level.digest = blocks.digest) \
             WHERE digest IN (SELECT digest FROM gc_level) RETURNING digest, refs, size, links",
        )
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            if row.get::<i64, _>(1) > 0 {
                continue;
            }
            let Some(digest) = digest_of_row(row.get(0)) else {
                continue;
            };
            out.bytes += row.get::<i64, _>(2) as u64;
            out.blocks.push(digest);
            for child in decode_links(row.get(3)) {
                *level.entry(child).or_default() += 1;
            }
        }
        sqlx::query(
            "DELETE FROM blocks WHERE refs <= 0 AND digest IN (SELECT digest FROM gc_level)",
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(Some(out))
}

/// Rows per multi-row insert into `gc_level` (two parameters each, under SQLite's limit).
const LEVEL_CHUNK: usize = 10_000;

/// Counts for `stat`/metrics: (blocks, bytes, roots, pins).
pub(crate) async fn totals(
    conn: &mut SqliteConnection,
) -> Result<(u64, u64, u64, u64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM blocks), (SELECT coalesce(sum(size), 0) FROM blocks), \
         (SELECT count(*) FROM roots), (SELECT count(*) FROM pins)",
    )
    .fetch_one(conn)
    .await?;
    let get = |i| row.get::<i64, _>(i) as u64;
    Ok((get(0), get(1), get(2), get(3)))
}
