//! What can go wrong talking to a node. Each variant's message is meant for a person: it says
//! what failed and, where there is one, what to do.

use alephd_message::ErrorCode;

/// An SDK call that failed.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The base URL does not parse.
    #[error("invalid node URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// No connection: the node is down, or the address is wrong.
    #[error(
        "node unreachable at {url} (is `alephd daemon` running there? set --api or ALEPHD_API)"
    )]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The node rejected the message: pyaleph's error code (when the node gave one) and what it
    /// means.
    #[error("{}", rejected_text(item_hash, *code, meaning, details))]
    Rejected {
        item_hash: String,
        /// pyaleph's number (`None` when the node refused the message before processing it,
        /// e.g. a malformed envelope, with the reason in `details`).
        code: Option<i32>,
        /// The code's one-line explanation.
        meaning: String,
        details: serde_json::Value,
    },
    /// The node does not know it.
    #[error("not found: {what}")]
    NotFound { what: String },
    /// The node refuses a body this large.
    #[error("too large: the node accepts at most {limit} bytes ({} MiB) here", limit / (1024 * 1024))]
    TooLarge { limit: u64 },
    /// The owner's balance does not cover the cost (HTTP 402).
    #[error("payment required: {reason}")]
    PaymentRequired { reason: String },
    /// The node refused the request (HTTP 403): bad signature, disabled engine, …
    #[error("forbidden: {reason}")]
    Forbidden { reason: String },
    /// The node answered with another error status.
    #[error("{method} {path} failed with HTTP {status}: {body}")]
    Http {
        method: &'static str,
        path: String,
        status: u16,
        body: String,
    },
    /// The answer is not what the API documents.
    #[error("unexpected answer from {path}: {reason}")]
    Decode { path: String, reason: String },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The message could not be built or signed.
    #[error("cannot sign the message: {0}")]
    Sign(#[from] alephd_message::signature::SignError),
    /// The message content is not valid (too long, NUL characters, …).
    #[error("invalid message: {0}")]
    Message(#[from] alephd_message::MessageError),
    /// The content does not follow its type's schema.
    #[error("invalid content: {0}")]
    Content(#[from] alephd_message::ContentError),
    /// The websocket failed.
    #[error("websocket {url}: {reason}")]
    WebSocket { url: String, reason: String },
}

impl SdkError {
    /// A rejection with pyaleph's code and its meaning.
    pub fn rejected(item_hash: &str, code: Option<i32>, details: serde_json::Value) -> Self {
        let meaning = match code.and_then(ErrorCode::from_code) {
            Some(known) => format!("{}: {}", known.name(), known.message()),
            None => match code {
                Some(other) => format!("error code {other}"),
                None => "refused by the node".to_owned(),
            },
        };
        Self::Rejected {
            item_hash: item_hash.to_owned(),
            code,
            meaning,
            details,
        }
    }

    /// A short stable name of the variant, for `--json` error output and scripts.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidUrl { .. } => "invalid_url",
            Self::Unreachable { .. } => "unreachable",
            Self::Rejected { .. } => "rejected",
            Self::NotFound { .. } => "not_found",
            Self::TooLarge { .. } => "too_large",
            Self::PaymentRequired { .. } => "payment_required",
            Self::Forbidden { .. } => "forbidden",
            Self::Http { .. } => "http",
            Self::Decode { .. } => "decode",
            Self::Io { .. } => "io",
            Self::Sign(_) => "sign",
            Self::Message(_) | Self::Content(_) => "invalid_message",
            Self::WebSocket { .. } => "websocket",
        }
    }
}

fn rejected_text(
    item_hash: &str,
    code: Option<i32>,
    meaning: &str,
    details: &serde_json::Value,
) -> String {
    let mut text = format!("message {item_hash} rejected: {meaning}");
    if let Some(code) = code {
        text.push_str(&format!(" (error code {code})"));
    }
    if !details.is_null() {
        let details = details.to_string();
        let short: String = details.chars().take(300).collect();
        text.push_str(&format!("; details: {short}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_explain_the_code() {
        let err = SdkError::rejected("abc", Some(102), serde_json::Value::Null);
        let text = err.to_string();
        assert!(text.contains("POST_AMEND_AMEND"), "{text}");
        assert!(text.contains("cannot amend another amend"), "{text}");
        assert!(text.contains("error code 102"), "{text}");
        assert_eq!(err.kind(), "rejected");
        let unknown = SdkError::rejected("abc", Some(9999), serde_json::json!("x"));
        assert!(unknown.to_string().contains("error code 9999"));
    }

    #[test]
    fn too_large_names_the_limit() {
        let text = SdkError::TooLarge {
            limit: 100 * 1024 * 1024,
        }
        .to_string();
        assert!(text.contains("104857600 bytes (100 MiB)"), "{text}");
    }
}
