//! Why a wire message was refused at the door.

use crate::address::ChannelTooLong;
use crate::chain::UnknownChain;
use crate::item_hash::{UnknownHashShape, UnknownItemType};
use crate::{ErrorCode, ItemHash, ItemType};

/// A message that fails the envelope rules. All of them are INVALID_FORMAT (code 0) rejections;
/// the texts follow pyaleph's where clients may show them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    #[error("message is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("Message is not a dictionary")]
    NotAnObject,
    #[error("field {0:?} is required")]
    MissingField(&'static str),
    #[error("field {field:?} must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    #[error("Invalid message_type: {0:?}")]
    UnknownMessageType(String),
    #[error(transparent)]
    UnknownChain(#[from] UnknownChain),
    #[error(transparent)]
    UnknownItemType(#[from] UnknownItemType),
    #[error("Unexpected hash type: {0}")]
    UnknownHashShape(#[from] UnknownHashShape),
    #[error("Item content not specified for inline item type")]
    InlineWithoutContent,
    #[error("{item_type} messages cannot define item_content")]
    ContentNotAllowed { item_type: ItemType },
    #[error("Expected {from_hash} based on hash but item type is {declared}.")]
    ItemTypeMismatch {
        declared: ItemType,
        from_hash: ItemType,
    },
    #[error("'item_hash' does not match 'sha256(item_content)', expecting {computed}")]
    ItemHashMismatch { computed: ItemHash },
    #[error("Message too long")]
    ContentTooLong { chars: usize },
    #[error("Message content is not valid JSON data: {0}")]
    ContentNotJson(String),
    #[error("Unsupported character in message: \\u0000")]
    NullCharacter,
    #[error(transparent)]
    ChannelTooLong(#[from] ChannelTooLong),
    #[error("time {0} is outside the accepted range 0..=9223372036")]
    TimeOutOfRange(f64),
}

impl MessageError {
    /// pyaleph's code for this rejection: always INVALID_FORMAT.
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::InvalidFormat
    }

    /// Envelope errors never heal with time.
    pub fn is_retryable(&self) -> bool {
        self.error_code().is_retryable()
    }
}
