//! The Aleph protocol model, byte-exact with the network's wire format.
//!
//! This crate owns what a message *is*: its wire and API forms, the content of every message
//! type, item-hash rules, size limits, error codes, and signatures for every chain family.
//! It does no I/O and knows nothing of tokio, databases or HTTP: everything here is a pure
//! function of its input, so it can be fuzzed and used by clients as well as the node.
//!
//! The path of a message through this crate:
//!
//! ```
//! use alephd_message::{IncomingMessage, MessageContent};
//!
//! let item_content = r#"{"type":"note","address":"0xabc","time":1.5,"content":{"a":1}}"#;
//! let wire = serde_json::json!({
//!     "sender": "0xabc", "chain": "ETH", "signature": "0x…", "type": "POST",
//!     "item_type": "inline", "item_content": item_content,
//!     "item_hash": alephd_message::ItemHash::sha256_of(item_content),
//!     "time": 1.5, "channel": "TEST",
//! });
//! // 1. Envelope: shape, item hash ↔ content, sizes, time, chain (errors are code 0).
//! let message = IncomingMessage::from_value(wire)?;
//! // 2. The text the signature covers (checked by `signature`).
//! let signed = message.signed_fields().expect("signed").verification_buffer();
//! assert!(signed.starts_with("ETH\n0xabc\nPOST\n"));
//! // 3. Content schema (storage / ipfs content: fetch it, then `parse_content`).
//! let parsed = message.parse_inline_content().expect("inline")?;
//! let MessageContent::Post(post) = &parsed.content else { unreachable!() };
//! assert_eq!(post.post_type, "note");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
