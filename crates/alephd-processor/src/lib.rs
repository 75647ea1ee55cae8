//! The message pipeline: durable queue → verify → fetch → check → apply → announce.
//!
//! [`Processor::spawn`] starts the service; [`ProcessorHandle::submit`] queues a message
//! durably (committed before it returns, so a 200/202 survives kill -9). Batches of due
//! messages are verified on threads, their content fetched through a [`ContentFetcher`],
//! then checked and applied in one transaction per batch; results are broadcast as
//! [`MessageEvent`]s. Retryable failures back off with full jitter (≤ `max_backoff_secs`,
//! `max_retries` attempts) before becoming rejections with their last code.
//!
//! State depends only on the set of valid messages: aggregates merge by
//! `(content.time, item_hash)`, the newest amend wins, FORGETs are tombstones (also for
//! targets arriving later), and a `security` grant re-queues the PERMISSION_DENIED
//! rejections it would have allowed. `alephd_db::ops::state_root` checks it.

pub mod billing;
mod config;
mod content;
mod error;
mod event;
mod fetch;
mod handlers;
pub mod lifecycle;
mod permissions;
mod pipeline;
mod service;
mod staged;
mod verify;

pub use config::ProcessorConfig;
pub use error::{ProcessingError, ProcessorError, SubmitError};
pub use event::MessageEvent;
pub use fetch::{
    ContentFetcher, FetchError, MAX_FETCHED_CONTENT, MemoryContent, NoContentStore, StoreFetcher,
};
pub use permissions::SECURITY_KEY;
pub use pipeline::Pipeline;
pub use service::{Origin, Processor, ProcessorHandle, SubmitOutcome, WaitOutcome, now};
