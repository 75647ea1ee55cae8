//! The Aleph protocol model, byte-exact with the network's wire format.
//!
//! This crate owns what a message *is*: its wire and API forms, the content of every message
//! type, item-hash rules, size limits, error codes, and signatures for every chain family.
//! It does no I/O and knows nothing of tokio, databases or HTTP: everything here is a pure
//! function of its input, so it can be fuzzed and used by clients as well as the node.

mod address;
mod api_message;
mod chain;
pub mod content;
mod error_code;
pub mod fuzzing;
mod item_hash;
mod message;
mod message_type;
pub mod signature;

pub use address::{Address, Channel, ChannelTooLong, MAX_CHANNEL_LEN};
pub use api_message::{ApiMessage, Confirmation};
pub use chain::{Chain, SignatureScheme, UnknownChain};
pub use content::{ContentError, MessageContent, ParsedContent, parse_content};
pub use error_code::ErrorCode;
pub use item_hash::{ItemHash, ItemHashKind, ItemType, UnknownHashShape, UnknownItemType};
pub use message::{
    IncomingMessage, MAX_INLINE_CHARS, MAX_TIME, MessageError, UnsignedMessage, compact_ascii_json,
};
pub use message_type::MessageType;
