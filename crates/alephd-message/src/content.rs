//! Message content: the JSON behind `item_content` (or fetched for storage / ipfs items),
//! one schema per message type, with aleph-message's field rules and limits.
//!
//! Parsing fills `address` from the sender and `time` from the envelope when the content lacks
//! them (as pyaleph does), then validates against the type's schema. Unknown keys are refused
//! where aleph-message forbids them and ignored where it ignores them.

mod aggregate;
mod executable;
mod forget;
mod instance;
mod lax;
mod post;
mod program;
mod store;
mod volume;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::message::{MAX_TIME, contains_nul};
use crate::{Address, ErrorCode, IncomingMessage, MessageType};

pub use aggregate::{AggregateContent, AggregateKey, LegacyAggregateKey};
pub use executable::{
    CpuArchitecture, CpuProperties, FunctionEnvironment, GpuDeviceClass, GpuProperties,
    HostRequirements, HypervisorType, InstanceEnvironment, MachineResources, NetworkProtocol,
    NodeRequirements, Payment, PaymentType, PublishedPort, TrustedExecution,
};
pub use forget::{ForgetContent, MAX_FORGET_REASON_CHARS, MAX_FORGET_TARGETS};
pub use instance::{InstanceContent, RootfsVolume};
pub use post::{AMEND_POST_TYPE, ChainRef, PostContent, PostLiteral, PostRef};
pub use program::{
    CodeContent, DataContent, Encoding, ExportContent, FunctionRuntime, FunctionTriggers,
    Interface, ProgramContent, ProgramType, WASM_RUNTIME_REF,
};
pub use store::StoreContent;
pub use volume::{
    EphemeralMarker, EphemeralVolume, ImmutableVolume, MachineVolume, ParentVolume,
    PersistentVolume, VolumePersistence,
};

/// The content of a message, by type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Post(PostContent),
    Aggregate(AggregateContent),
    Store(StoreContent),
    Program(Box<ProgramContent>),
    Instance(Box<InstanceContent>),
    Forget(ForgetContent),
}

/// A content that failed its schema. Codes are INVALID_FORMAT except where noted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ContentError {
    #[error("content is not valid JSON: {0}")]
    NotJson(String),
    #[error("content must be a JSON object")]
    NotAnObject,
    #[error("Unsupported character in message: \\u0000")]
    NullCharacter,
    #[error("invalid {message_type} content: {reason}")]
    Schema {
        message_type: MessageType,
        reason: String,
    },
    #[error("content time {0} is outside the accepted range 0..=9223372036")]
    TimeOutOfRange(f64),
    /// FORGET_NO_TARGET (500): checked when processing, not when parsing.
    #[error("a FORGET must name at least one hash or aggregate")]
    ForgetNoTarget,
}

impl ContentError {
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::ForgetNoTarget => ErrorCode::ForgetNoTarget,
            _ => ErrorCode::InvalidFormat,
        }
    }

    pub(crate) fn schema(message_type: MessageType, reason: impl Into<String>) -> Self {
        Self::Schema {
            message_type,
            reason: reason.into(),
        }
    }
}

/// A parsed content: the typed view, and the JSON object it came from (with `address` and
/// `time` filled in), which is what the API serves as the message's `content`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedContent {
    pub object: Map<String, Value>,
    pub content: MessageContent,
    /// Whether `address` or `time` was filled in from the envelope. When false, the received
    /// text is a faithful serialisation of `object` (keeping the sender's key order).
    pub filled_defaults: bool,
}

/// Parses and validates content JSON (inline `item_content`, or fetched storage/ipfs bytes).
///
/// `sender` and `time` come from the envelope and fill `address` / `time` when absent.
pub fn parse_content(
    message_type: MessageType,
    json: &[u8],
    sender: &Address,
    time: f64,
) -> Result<ParsedContent, ContentError> {
    let text = std::str::from_utf8(json).map_err(|e| ContentError::NotJson(e.to_string()))?;
    if contains_nul(text) {
        return Err(ContentError::NullCharacter);
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| ContentError::NotJson(e.to_string()))?;
    let Value::Object(mut object) = value else {
        return Err(ContentError::NotAnObject);
    };
    // pyaleph fills a field that is absent *or null* (`content.get(key) is None`).
    let mut filled_defaults = false;
    if object.get("address").is_none_or(Value::is_null) {
        filled_defaults = true;
        let sender = Value::String(sender.as_str().to_owned());
        object.insert("address".to_owned(), sender);
    }
    if object.get("time").is_none_or(Value::is_null) {
        filled_defaults = true;
        // A finite f64 always converts; a non-finite one is caught by the range check below.
        let time = serde_json::Number::from_f64(time).map_or(Value::Null, Value::Number);
        object.insert("time".to_owned(), time);
    }
    let content = MessageContent::from_object(message_type, &object)?;
    Ok(ParsedContent {
        object,
        content,
        filled_defaults,
    })
}

impl IncomingMessage {
    /// Parses the inline content; `None` for storage / ipfs messages (fetch it first, then
    /// call [`parse_content`]).
    pub fn parse_inline_content(&self) -> Option<Result<ParsedContent, ContentError>> {
        let json = self.item_content()?;
        Some(parse_content(
            self.message_type(),
            json.as_bytes(),
            self.sender(),
            self.time(),
        ))
    }
}

impl MessageContent {
    /// Validates a content object (already carrying `address` and `time`) against its type.
    pub fn from_object(
        message_type: MessageType,
        object: &Map<String, Value>,
    ) -> Result<Self, ContentError> {
        let content = match message_type {
            MessageType::Post => Self::Post(typed(message_type, object)?),
            MessageType::Aggregate => Self::Aggregate(typed(message_type, object)?),
            MessageType::Store => Self::Store(typed(message_type, object)?),
            MessageType::Program => Self::Program(Box::new(typed(message_type, object)?)),
            MessageType::Instance => Self::Instance(Box::new(typed(message_type, object)?)),
            MessageType::Forget => Self::Forget(typed(message_type, object)?),
        };
        let time = content.time();
        if !(0.0..=MAX_TIME).contains(&time) {
            return Err(ContentError::TimeOutOfRange(time));
        }
        content.validate()?;
        Ok(content)
    }

    pub fn message_type(&self) -> MessageType {
        match self {
            Self::Post(_) => MessageType::Post,
            Self::Aggregate(_) => MessageType::Aggregate,
            Self::Store(_) => MessageType::Store,
            Self::Program(_) => MessageType::Program,
            Self::Instance(_) => MessageType::Instance,
            Self::Forget(_) => MessageType::Forget,
        }
    }

    /// The owner on whose behalf the message acts.
    pub fn address(&self) -> &Address {
        match self {
            Self::Post(c) => &c.address,
            Self::Aggregate(c) => &c.address,
            Self::Store(c) => &c.address,
            Self::Program(c) => &c.address,
            Self::Instance(c) => &c.address,
            Self::Forget(c) => &c.address,
        }
    }

    /// The content's own time (UNIX seconds): orders aggregate merges and amends.
    pub fn time(&self) -> f64 {
        match self {
            Self::Post(c) => c.time,
            Self::Aggregate(c) => c.time,
            Self::Store(c) => c.time,
            Self::Program(c) => c.time,
            Self::Instance(c) => c.time,
            Self::Forget(c) => c.time,
        }
    }

    /// The value checks serde cannot express (ranges, lengths, cross-field rules).
    fn validate(&self) -> Result<(), ContentError> {
        let message_type = self.message_type();
        let result = match self {
            Self::Post(c) => c.validate(),
            Self::Aggregate(_) => Ok(()),
            Self::Store(c) => c.validate(),
            Self::Program(c) => c.validate(),
            Self::Instance(c) => c.validate(),
            Self::Forget(c) => c.validate(),
        };
        result.map_err(|reason| ContentError::schema(message_type, reason))
    }
}

fn typed<T: DeserializeOwned>(
    message_type: MessageType,
    object: &Map<String, Value>,
) -> Result<T, ContentError> {
    serde_path_to_error::deserialize(object).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let reason = if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        ContentError::schema(message_type, reason)
    })
}

/// Length checks shared by the content modules; the message names the field.
pub(crate) fn check_len(field: &str, len: usize, max: usize) -> Result<(), String> {
    if len > max {
        return Err(format!(
            "{field}: {len} entries or characters, the maximum is {max}"
        ));
    }
    Ok(())
}

/// Character count of a string, as Python's `len` (code points).
pub(crate) fn chars(s: &str) -> usize {
    s.chars().count()
}
