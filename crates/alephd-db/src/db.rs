//! Opening the database: one writer connection (SQLite has one writer anyway; serialising
//! here avoids busy retries) and a pool of readers, WAL mode so readers never block the writer.

use std::{path::Path, str::FromStr, time::Duration};

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
            .pragma("temp_store", "memory");
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(open_err)?;
        MIGRATOR.run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(config.read_connections)
            .connect_with(options.read_only(true))
            .await
            .map_err(open_err)?;
        Ok(Self { write, read })
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
        self.write.close().await;
    }
}
