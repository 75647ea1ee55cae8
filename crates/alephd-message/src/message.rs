//! The wire message: the nine broadcast fields exactly as a client or peer sent them.
//!
//! [`IncomingMessage`] can only be built by parsing, which enforces the envelope rules of the
//! protocol (item hash ↔ item type ↔ item content, sizes, time range, known chain). Signature
//! and content-schema checks come later in the pipeline. `item_content` is kept as the exact
//! received string and never re-serialised: its sha256 is the message's identity.

mod error;
mod parse;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::signature::SignedFields;
use crate::{Address, Chain, Channel, ItemHash, ItemType, MessageType};

pub use error::MessageError;
pub(crate) use parse::contains_nul;

/// Longest accepted `item_content`, in characters ("Message too long" beyond).
pub const MAX_INLINE_CHARS: usize = 200_000;

/// Latest accepted message or content `time` (UNIX seconds, year 2262).
pub const MAX_TIME: f64 = 9_223_372_036.0;

/// A message as received on `POST /api/v0/messages`, over gossip or from a chain.
///
/// Equality compares the nine wire fields, not the raw object.
#[derive(Debug, Clone)]
pub struct IncomingMessage {
    sender: Address,
    chain: Chain,
    signature: Option<String>,
    message_type: MessageType,
    item_type: ItemType,
    item_content: Option<String>,
    item_hash: ItemHash,
    time: f64,
    channel: Option<Channel>,
    /// The object as received, extra keys included (rejection records echo it).
    raw: Map<String, Value>,
}

impl IncomingMessage {
    /// Parses a JSON message (the `message` object of a POST body, or a gossip payload).
    pub fn from_json(json: &[u8]) -> Result<Self, MessageError> {
        let value: Value =
            serde_json::from_slice(json).map_err(|e| MessageError::InvalidJson(e.to_string()))?;
        Self::from_value(value)
    }

    /// Parses an already decoded JSON value.
    pub fn from_value(value: Value) -> Result<Self, MessageError> {
        match value {
            Value::Object(map) => parse::parse(map),
            _ => Err(MessageError::NotAnObject),
        }
    }

    /// The signer's address (not necessarily the owner: see the content's `address`).
    pub fn sender(&self) -> &Address {
        &self.sender
    }

    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// The signature as a string (a JSON object on the wire is kept as its compact JSON
    /// text); `None` only for messages synthesised from on-chain events.
    pub fn signature(&self) -> Option<&str> {
        self.signature.as_deref()
    }

    pub fn message_type(&self) -> MessageType {
        self.message_type
    }

    /// The declared item type, or the inferred one when the sender left it out.
    pub fn item_type(&self) -> ItemType {
        self.item_type
    }

    /// The exact received content string; `Some` iff `item_type` is inline.
    pub fn item_content(&self) -> Option<&str> {
        self.item_content.as_deref()
    }

    pub fn item_hash(&self) -> &ItemHash {
        &self.item_hash
    }

    /// UNIX seconds, as sent (integers are accepted and widened).
    pub fn time(&self) -> f64 {
        self.time
    }

    pub fn channel(&self) -> Option<&Channel> {
        self.channel.as_ref()
    }

    /// The JSON object as received, including any extra keys.
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }

    /// The fields a signature covers; `None` when the message carries no signature
    /// (a user message without one is rejected with INVALID_SIGNATURE).
    pub fn signed_fields(&self) -> Option<SignedFields<'_>> {
        Some(SignedFields {
            chain: self.chain,
            sender: self.sender.as_str(),
            message_type: self.message_type,
            item_hash: self.item_hash.as_str(),
            signature: self.signature.as_deref()?,
            time: self.time,
        })
    }

    /// The nine broadcast fields as a JSON object (what is gossiped and stored as pending).
    pub fn to_wire_value(&self) -> Value {
        serde_json::json!({
            "sender": self.sender,
            "chain": self.chain,
            "signature": self.signature,
            "type": self.message_type,
            "item_type": self.item_type,
            "item_content": self.item_content,
            "item_hash": self.item_hash,
            "time": self.time,
            "channel": self.channel,
        })
    }
}

impl PartialEq for IncomingMessage {
    fn eq(&self, other: &Self) -> bool {
        self.sender == other.sender
            && self.chain == other.chain
            && self.signature == other.signature
            && self.message_type == other.message_type
            && self.item_type == other.item_type
            && self.item_content == other.item_content
            && self.item_hash == other.item_hash
            && self.time.to_bits() == other.time.to_bits()
            && self.channel == other.channel
    }
}

impl Serialize for IncomingMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_wire_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for IncomingMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_value(value).map_err(serde::de::Error::custom)
    }
}
