//! The Aleph protocol model, byte-exact with the network's wire format.
//!
//! This crate owns what a message *is*: its wire and API forms, the content of every message
//! type, item-hash rules, size limits, error codes, and signatures for every chain family.
//! It does no I/O and knows nothing of tokio, databases or HTTP: everything here is a pure
//! function of its input, so it can be fuzzed and used by clients as well as the node.

mod chain;
mod message_type;
pub mod signature;

pub use chain::{Chain, SignatureScheme};
pub use message_type::MessageType;
