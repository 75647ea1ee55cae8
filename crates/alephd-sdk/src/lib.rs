//! A client for Aleph-compatible nodes (alephd, pyaleph): the HTTP API and message building.
//!
//! Usable without the node: depends only on the protocol model and an HTTP client.
//! Errors keep the node's answer (status, pyaleph error code, details) so callers can explain a
//! rejection to a person.

mod client;
mod error;

pub use client::{AlephClient, SubmitResult};
pub use error::SdkError;
