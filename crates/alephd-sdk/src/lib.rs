//! A client for Aleph-compatible nodes (alephd, pyaleph): the HTTP API, file transfers by
//! streaming, the message websocket, and building + signing messages with ETH or SOL keys.
//!
//! Usable without the node: depends on the protocol model, content addressing (to hash files
//! before uploading them) and an HTTP client. Errors keep the node's answer (status, pyaleph
//! error code and its meaning, limits) so callers can explain a failure to a person.
//!
//! ```no_run
//! use alephd_sdk::{Account, AlephClient, Composer, KeyKind};
//! # async fn run() -> Result<(), alephd_sdk::SdkError> {
//! let client = AlephClient::new("http://127.0.0.1:4024")?;
//! let account = Account::generate(KeyKind::Eth);
//! let post = Composer::new(&account).post("note", serde_json::json!({"body": "hi"}), None)?;
//! let result = client.send(&post).await?; // waits; a rejection is SdkError::Rejected
//! assert_eq!(result.message_status, "processed");
//! # Ok(()) }
//! ```

mod account;
mod client;
mod compose;
mod error;
mod transfer;
mod watch;

pub use account::{Account, KeyKind};
pub use client::{AlephClient, SubmitResult};
pub use compose::{Composer, DEFAULT_RUNTIME, ProgramSpec, StoreSpec, now};
pub use error::SdkError;
pub use transfer::{
    Downloaded, FileDigest, FileEngine, NoProgress, TransferPhase, TransferProgress, UploadOptions,
    Uploaded, digest_file,
};
pub use watch::MessageWatch;
