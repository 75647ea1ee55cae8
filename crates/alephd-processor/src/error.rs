//! Why a message was not applied (pyaleph's codes), and why submitting failed.

use alephd_message::ErrorCode;
use serde_json::Value;

/// A message could not be applied: rejected now, or retried later when the code is retryable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct ProcessingError {
    pub code: ErrorCode,
    /// Human-readable cause (logged; not part of the API record).
    pub reason: String,
    /// Structured details served as `details` in the rejection record.
    pub details: Option<Value>,
}

impl ProcessingError {
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// pyaleph's numeric code.
    pub fn error_code(&self) -> i32 {
        self.code.code()
    }

    /// Retry later (the message may become valid) rather than reject now.
    pub fn is_retryable(&self) -> bool {
        self.code.is_retryable()
    }

    pub(crate) fn format(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidFormat, reason)
    }

    pub(crate) fn denied(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, reason)
    }
}

/// Submitting a message failed: nothing was queued, the caller must not report success.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The database refused the write.
    #[error("could not queue the message: {0}")]
    Db(#[from] alephd_db::DbError),
    /// The batch transaction that was to queue it failed.
    #[error("could not queue the message: {0}")]
    Queue(String),
    /// The processor is shutting down.
    #[error("the processor is shut down")]
    Closed,
}

/// The processor stopped on an error it cannot recover from.
#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    #[error("database error in the processor: {0}")]
    Db(#[from] alephd_db::DbError),
    #[error("a processor task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
