//! Opening the database: one writer connection (SQLite has one writer anyway; serialising
//! here avoids busy retries) and a pool of readers, WAL mode so readers never block the writer.
//!
//! Checkpoints (copying the WAL back into the database file) run on a connection of their
//! own, in the background, when a hot writer asks with [`Db::checkpoint_soon`] after its
//! commit. A passive checkpoint does not block the writer, so the next transaction does not
//! wait for it. The writer still checkpoints by itself past [`AUTO_CHECKPOINT_PAGES`]
//! (for writers that never ask), and the WAL file is truncated back to
//! [`WAL_SIZE_LIMIT`] when it restarts.

use std::{
    path::Path,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};
use sqlx::{
    Sqlite, SqlitePool, Transaction,
    pool::PoolConnection,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::DbError;

/// A connection every query function takes: a read connection or a write transaction.
pub type Conn = sqlx::SqliteConnection;
/// A write transaction; commit with `.commit().await`.
pub type WriteTx = Transaction<'static, Sqlite>;
/// A pooled read connection.
pub type ReadConn = PoolConnection<Sqlite>;

/// WAL pages after which the writer checkpoints inline (64 MiB with 4 KiB pages).
const AUTO_CHECKPOINT_PAGES: u32 = 16_384;
/// Size the WAL file is truncated to when it restarts, bytes.
const WAL_SIZE_LIMIT: u64 = 64 << 20;
/// Rows buffered between sqlx's SQLite thread and the caller (see `Db::open_with`).
const ROW_BUFFER: usize = 4096;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Database settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbConfig {
    /// Read connections for the API.
    pub read_connections: u32,
    /// How long a query waits on a locked database before failing, in milliseconds.
    pub busy_timeout_ms: u64,
}

impl Default for DbConfig {
    fn default() -> Self {
        Self {
            read_connections: 4,
            busy_timeout_ms: 10_000,
        }
    }
}

impl DbConfig {
    /// Checks the values are usable.
    pub fn validate(&self) -> Result<(), String> {
        if self.read_connections == 0 {
            return Err("db.read_connections must be at least 1".into());
        }
        Ok(())
    }
}

/// The state database: cheap to clone (pools are reference-counted).
#[derive(Debug, Clone)]
pub struct Db {
    write: SqlitePool,
    read: SqlitePool,
    /// One connection for background checkpoints.
    checkpoint: SqlitePool,
    /// A background checkpoint is running.
    checkpointing: Arc<AtomicBool>,
}

impl Db {
    /// Opens (creating if missing) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, DbError> {
        Self::open_with(path, &DbConfig::default()).await
    }

    /// [`Db::open`] with explicit settings.
    pub async fn open_with(path: &Path, config: &DbConfig) -> Result<Self, DbError> {
        let open_err = |source| DbError::Open {
            path: path.display().to_string(),
            source,
        };
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(open_err)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode: a commit is in the OS before it returns, so a killed
            // process loses nothing; only a power cut can lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_millis(config.busy_timeout_ms))
            .foreign_keys(false)
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory")
            .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string())
            // sqlx hands rows from its SQLite thread to the caller through a bounded
            // channel (50 by default): a batch read of 1,000 rows then blocked and woke that
            // thread every few rows. A batch's reads fit in this one.
            .row_buffer_size(ROW_BUFFER);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", AUTO_CHECKPOINT_PAGES.to_string()),
            )
            .await
            .map_err(open_err)?;
        MIGRATOR.run(&write).await?;
        let checkpoint = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(open_err)?;
        let read = SqlitePoolOptions::new()
            .max_connections(config.read_connections)
            .connect_with(options.read_only(true))
            .await
            .map_err(open_err)?;
        Ok(Self {
            write,
            read,
            checkpoint,
            checkpointing: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Starts a passive checkpoint in the background unless one is running. Call it after
    /// committing on a hot write path: the commit then never pays for the checkpoint.
    pub fn checkpoint_soon(&self) {
        if self.checkpointing.swap(true, Ordering::AcqRel) {
            return;
        }
        let pool = self.checkpoint.clone();
        let running = Arc::clone(&self.checkpointing);
        tokio::spawn(async move {
            // Failing is harmless: the next call or the writer's own checkpoint catches up.
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                tracing::debug!(error = %e, "background checkpoint failed");
            }
            running.store(false, Ordering::Release);
        });
    }

    /// Starts the (single) write transaction; waits while another one is open.
    pub async fn begin(&self) -> Result<WriteTx, DbError> {
        Ok(self.write.begin().await?)
    }

    /// A read connection (sees the last committed state).
    pub async fn read(&self) -> Result<ReadConn, DbError> {
        Ok(self.read.acquire().await?)
    }

    /// Refreshes the query planner's statistics (`PRAGMA optimize`): without them SQLite
    /// may pick a low-selectivity index (e.g. message type over sender). Cheap when nothing
    /// changed much; call it now and then, when idle.
    pub async fn optimize(&self) -> Result<(), DbError> {
        sqlx::query("PRAGMA optimize=0x10002")
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Closes both pools, waiting for connections to be returned.
    pub async fn close(&self) {
        self.read.close().await;
        self.checkpoint.close().await;
        self.write.close().await;
    }
}
