//! What the processor announces after each committed batch.

use std::sync::Arc;

use alephd_db::{MessageRecord, MessageStatus};

/// The result of one processing attempt, broadcast after its transaction committed.
#[derive(Debug, Clone)]
pub struct MessageEvent {
    pub item_hash: String,
    /// `processed`, `rejected`, `forgotten` (forgotten on arrival, or a forgotten duplicate)
    /// or `pending` (will be retried).
    pub status: MessageStatus,
    /// The applied message, for `processed`.
    pub message: Option<Arc<MessageRecord>>,
    /// pyaleph's code for `rejected`, forgotten duplicates (504) and retries.
    pub error_code: Option<i32>,
}

impl MessageEvent {
    /// Whether this is the end of the message's processing (nothing more will be announced
    /// unless it is submitted again).
    pub fn is_final(&self) -> bool {
        self.status != MessageStatus::Pending
    }
}
