//! Rows as the database stores them. Identifiers are plain strings here: the database is the
//! persistence boundary; the processor and the API wrap them in `alephd-message` newtypes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::DbError;

/// Where a message is in its life (pyaleph's statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Pending,
    Processed,
    Rejected,
    Forgotten,
    Removing,
    Removed,
}

impl MessageStatus {
    /// Every status.
    pub const ALL: [MessageStatus; 6] = [
        Self::Pending,
        Self::Processed,
        Self::Rejected,
        Self::Forgotten,
        Self::Removing,
        Self::Removed,
    ];

    /// The stored and API name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processed => "processed",
            Self::Rejected => "rejected",
            Self::Forgotten => "forgotten",
            Self::Removing => "removing",
            Self::Removed => "removed",
        }
    }

    /// Parses a stored or query-string status name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    pub(crate) fn from_db(s: String) -> Result<Self, DbError> {
        Self::parse(&s).ok_or(DbError::UnknownStatus(s))
    }

    /// Whether the message's effects are live (served and forgettable).
    pub const fn is_live(self) -> bool {
        matches!(self, Self::Processed | Self::Removing)
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message's status row.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusRecord {
    pub item_hash: String,
    pub status: MessageStatus,
    pub reception_time: f64,
}

/// An applied message.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MessageRecord {
    pub item_hash: String,
    pub sender: String,
    pub chain: String,
    pub signature: Option<String>,
    #[sqlx(rename = "type")]
    pub message_type: String,
    pub item_type: String,
    /// The exact received `item_content` (inline messages only).
    pub item_content: Option<String>,
    /// The content as JSON text, defaults filled.
    pub content: String,
    pub time: f64,
    pub channel: Option<String>,
    /// `content.address`.
    pub owner: String,
    /// `content.type` (POST type, program type).
    pub content_type: Option<String>,
    /// `content.key` (AGGREGATE).
    pub content_key: Option<String>,
    /// `content.ref` (a hash or free text).
    pub content_ref: Option<String>,
    /// `content.item_hash` (STORE file).
    pub content_item_hash: Option<String>,
    pub payment_type: Option<String>,
    pub size: i64,
    pub reception_time: f64,
}

/// A rejected message: the raw submission, why, and (when readable) its owner.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RejectedRecord {
    pub item_hash: String,
    /// The raw submitted message JSON.
    pub message: String,
    pub error_code: i64,
    /// JSON text of the details, if any.
    pub details: Option<String>,
    pub owner: Option<String>,
}

/// A forgotten message's metadata.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ForgottenRecord {
    pub item_hash: String,
    pub sender: String,
    pub chain: String,
    pub signature: Option<String>,
    #[sqlx(rename = "type")]
    pub message_type: String,
    pub item_type: String,
    pub time: f64,
    pub channel: Option<String>,
    pub owner: String,
    /// `content.type`, kept so later FORGETs are authorized like the first.
    pub content_type: Option<String>,
    /// `content.key`, same reason.
    pub content_key: Option<String>,
    pub payment_type: Option<String>,
    pub size: i64,
    /// JSON array of FORGET hashes.
    pub forgotten_by: String,
    pub forgotten_at: f64,
}

impl ForgottenRecord {
    /// The tombstone of an applied message.
    pub fn of(message: &MessageRecord, forgotten_by: &str, forgotten_at: f64) -> Self {
        Self {
            item_hash: message.item_hash.clone(),
            sender: message.sender.clone(),
            chain: message.chain.clone(),
            signature: message.signature.clone(),
            message_type: message.message_type.clone(),
            item_type: message.item_type.clone(),
            time: message.time,
            channel: message.channel.clone(),
            owner: message.owner.clone(),
            content_type: message.content_type.clone(),
            content_key: message.content_key.clone(),
            payment_type: message.payment_type.clone(),
            size: message.size,
            forgotten_by: serde_json::json!([forgotten_by]).to_string(),
            forgotten_at,
        }
    }

    /// The FORGET hashes, parsed.
    pub fn forgotten_by_list(&self) -> Result<Vec<String>, DbError> {
        serde_json::from_str(&self.forgotten_by).map_err(|source| DbError::StoredJson {
            column: "forgotten_by",
            source,
        })
    }
}

/// A queued message waiting for (another) processing attempt.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PendingRecord {
    pub id: i64,
    pub item_hash: String,
    pub sender: String,
    pub signature: String,
    /// The raw wire message JSON as received.
    pub message: String,
    pub origin: String,
    pub reception_time: f64,
    pub retries: i64,
    pub next_attempt: f64,
    pub last_error_code: Option<i64>,
}

/// One AGGREGATE message's contribution to `(owner, key)`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AggregateElement {
    pub item_hash: String,
    pub owner: String,
    pub key: String,
    /// `content.time`, the merge order.
    pub time: f64,
    /// JSON object text.
    pub content: String,
}

/// The merged value of `(owner, key)`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AggregateRecord {
    pub owner: String,
    pub key: String,
    /// Merged JSON object text.
    pub content: String,
    pub created: f64,
    pub last_updated: f64,
    pub original_item_hash: String,
    pub last_update_item_hash: String,
}

/// A post or an amend.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PostRecord {
    pub item_hash: String,
    pub owner: String,
    pub post_type: String,
    #[sqlx(rename = "ref")]
    pub post_ref: Option<String>,
    /// The original's hash, for amends.
    pub amends: Option<String>,
    pub channel: Option<String>,
    /// `content.time`.
    pub time: f64,
    /// On originals: the amend with the newest `(time, item_hash)`.
    pub latest_amend: Option<String>,
}

/// An original post with its latest amend's content: what `posts.json` serves.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedPost {
    /// The original message.
    pub original: MessageRecord,
    /// The message whose content is current (the latest amend, or the original).
    pub current: MessageRecord,
    pub post_type: String,
    pub post_ref: Option<String>,
}
