//! Errors of the state database.

/// A database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Opening or configuring the SQLite file failed.
    #[error("cannot open database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: sqlx::Error,
    },
    /// Applying the schema migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Sql(#[from] sqlx::Error),
    /// A stored JSON column did not parse (the database was edited by hand or is corrupt).
    #[error("stored JSON in {column} is invalid: {source}")]
    StoredJson {
        column: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A stored status string is not one this node writes.
    #[error("unknown message status {0:?} in the database")]
    UnknownStatus(String),
    /// A pagination cursor did not decode.
    #[error("invalid cursor")]
    InvalidCursor,
}
