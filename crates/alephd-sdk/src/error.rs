//! What can go wrong talking to a node.

/// An SDK call that failed.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The base URL does not parse.
    #[error("invalid node URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// No connection: the node is down, or the address is wrong.
    #[error("node unreachable at {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The node answered with an error status.
    #[error("{method} {path} failed with HTTP {status}: {body}")]
    Http {
        method: &'static str,
        path: String,
        status: u16,
        body: String,
    },
    /// The node rejected the message (pyaleph error code and details).
    #[error("message {item_hash} rejected with error code {code}: {details}")]
    Rejected {
        item_hash: String,
        code: i64,
        details: serde_json::Value,
    },
    /// The answer is not what the API documents.
    #[error("unexpected answer from {path}: {reason}")]
    Decode { path: String, reason: String },
}
