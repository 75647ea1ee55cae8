//! The wire message: the nine broadcast fields exactly as a client or peer sent them.
//!
//! [`IncomingMessage`] can only be built by parsing, which enforces the envelope rules of the
//! protocol (item hash ↔ item type ↔ item content, sizes, time range, known chain). Signature
//! and content-schema checks come later in the pipeline. `item_content` is kept as the exact
//! received string and never re-serialised: its sha256 is the message's identity.

mod build;
mod error;
mod parse;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::signature::SignedFields;
use crate::{Address, Chain, Channel, ItemHash, ItemType, MessageType};

pub use build::{UnsignedMessage, compact_ascii_json};
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CID0: &str = "QmYULJoNGPDmoRq4WNWTDTUvJGJv1hosox8H6vVd1kCsY8";
    const CID1: &str = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";

    fn inline(content: &str) -> Value {
        json!({
            "sender": "0xB68B9D4f3771c246233823ed1D3Add451055F9Ef",
            "chain": "ETH",
            "signature": "0x1234",
            "type": "POST",
            "item_type": "inline",
            "item_content": content,
            "item_hash": ItemHash::sha256_of(content),
            "time": 1730410918.092607,
            "channel": "TEST",
        })
    }

    fn with(mut value: Value, key: &str, field: Value) -> Value {
        value[key] = field;
        value
    }

    fn without(mut value: Value, key: &str) -> Value {
        value.as_object_mut().unwrap().remove(key);
        value
    }

    fn err(value: Value) -> MessageError {
        IncomingMessage::from_value(value).unwrap_err()
    }

    const CONTENT: &str = r#"{"type":"test","address":"0xabc","time":1.5,"content":{"a":"é"}}"#;

    #[test]
    fn a_valid_inline_message_parses_and_keeps_the_exact_content() {
        let message = IncomingMessage::from_value(inline(CONTENT)).unwrap();
        assert_eq!(message.item_content(), Some(CONTENT));
        assert_eq!(message.item_type(), ItemType::Inline);
        assert_eq!(message.chain(), Chain::ETH);
        assert_eq!(message.message_type(), MessageType::Post);
        assert_eq!(message.channel().map(Channel::as_str), Some("TEST"));
        assert_eq!(message.time(), 1730410918.092607);
        let fields = message.signed_fields().unwrap();
        assert_eq!(
            fields.verification_buffer(),
            format!("ETH\n{}\nPOST\n{}", message.sender(), message.item_hash())
        );
    }

    #[test]
    fn item_type_is_inferred() {
        let m = IncomingMessage::from_value(without(inline(CONTENT), "item_type")).unwrap();
        assert_eq!(m.item_type(), ItemType::Inline);
        for (hash, expected) in [
            (ItemHash::sha256_of("x").into_string(), ItemType::Storage),
            (CID0.to_owned(), ItemType::Ipfs),
            (CID1.to_owned(), ItemType::Ipfs),
        ] {
            let v = without(without(inline(CONTENT), "item_type"), "item_content");
            let m = IncomingMessage::from_value(with(v, "item_hash", json!(hash))).unwrap();
            assert_eq!(m.item_type(), expected);
            assert_eq!(m.item_content(), None);
        }
    }

    #[test]
    fn item_rules_are_enforced() {
        let other = ItemHash::sha256_of("other").into_string();
        assert!(matches!(
            err(with(inline(CONTENT), "item_hash", json!(other))),
            MessageError::ItemHashMismatch { computed } if computed == ItemHash::sha256_of(CONTENT)
        ));
        assert_eq!(
            err(with(inline(CONTENT), "item_type", json!("storage"))),
            MessageError::ContentNotAllowed {
                item_type: ItemType::Storage
            }
        );
        let storage = with(
            without(inline(CONTENT), "item_content"),
            "item_type",
            json!("ipfs"),
        );
        assert_eq!(
            err(storage),
            MessageError::ItemTypeMismatch {
                declared: ItemType::Ipfs,
                from_hash: ItemType::Storage
            }
        );
        let cid = with(
            without(inline(CONTENT), "item_content"),
            "item_hash",
            json!(CID0),
        );
        assert_eq!(err(cid.clone()), MessageError::InlineWithoutContent);
        assert!(matches!(
            err(with(cid, "item_type", json!("storage"))),
            MessageError::ItemTypeMismatch { .. }
        ));
        let bad_hash = without(without(inline(CONTENT), "item_content"), "item_type");
        assert!(matches!(
            err(with(bad_hash, "item_hash", json!("0xdeadbeef"))),
            MessageError::UnknownHashShape(_)
        ));
        assert!(matches!(
            err(with(inline(CONTENT), "item_type", json!("car"))),
            MessageError::UnknownItemType(_)
        ));
    }

    #[test]
    fn limits_are_enforced() {
        let long = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_INLINE_CHARS));
        assert!(matches!(
            err(inline(&long)),
            MessageError::ContentTooLong { .. }
        ));
        // 200 000 characters is fine even when it is more bytes than that.
        let wide = format!(r#"["{}"]"#, "é".repeat(MAX_INLINE_CHARS - 4));
        assert!(IncomingMessage::from_value(inline(&wide)).is_ok());
        assert_eq!(
            err(inline(r#"{"a":"\u0000"}"#)),
            MessageError::NullCharacter
        );
        assert!(matches!(
            err(inline("{not json")),
            MessageError::ContentNotJson(_)
        ));
        let channel = json!("c".repeat(crate::MAX_CHANNEL_LEN + 1));
        assert!(matches!(
            err(with(inline(CONTENT), "channel", channel)),
            MessageError::ChannelTooLong(_)
        ));
        for time in [json!(-1.0), json!(MAX_TIME + 1.0), json!(1e300)] {
            assert!(matches!(
                err(with(inline(CONTENT), "time", time)),
                MessageError::TimeOutOfRange(_)
            ));
        }
    }

    #[test]
    fn envelope_fields_are_typed() {
        assert_eq!(err(json!([1, 2])), MessageError::NotAnObject);
        assert!(matches!(
            IncomingMessage::from_json(b"{"),
            Err(MessageError::InvalidJson(_))
        ));
        assert!(matches!(
            err(with(inline(CONTENT), "type", json!("SPAM"))),
            MessageError::UnknownMessageType(_)
        ));
        assert!(matches!(
            err(with(inline(CONTENT), "type", json!(3))),
            MessageError::UnknownMessageType(_)
        ));
        assert!(matches!(
            err(with(inline(CONTENT), "chain", json!("DOGE"))),
            MessageError::UnknownChain(_)
        ));
        assert_eq!(
            err(without(inline(CONTENT), "sender")),
            MessageError::MissingField("sender")
        );
        assert_eq!(
            err(without(inline(CONTENT), "time")),
            MessageError::MissingField("time")
        );
        assert_eq!(
            err(with(inline(CONTENT), "time", json!("2022-10-06T11:15:54Z"))),
            MessageError::WrongType {
                field: "time",
                expected: "a number"
            }
        );
        assert_eq!(
            err(with(inline(CONTENT), "signature", json!(12))),
            MessageError::WrongType {
                field: "signature",
                expected: "a string"
            }
        );
        assert_eq!(
            err(with(inline(CONTENT), "item_content", json!({"a": 1}))),
            MessageError::WrongType {
                field: "item_content",
                expected: "a string"
            }
        );
        assert!(err(json!({})).error_code() == crate::ErrorCode::InvalidFormat);
    }

    #[test]
    fn tolerant_inputs_are_accepted() {
        let int_time =
            IncomingMessage::from_value(with(inline(CONTENT), "time", json!(17))).unwrap();
        assert_eq!(int_time.time(), 17.0);
        let unsigned = IncomingMessage::from_value(with(inline(CONTENT), "signature", Value::Null));
        assert_eq!(unsigned.unwrap().signed_fields().map(|_| ()), None);
        let object_sig = json!({"signature": "abc", "publicKey": "def"});
        let m =
            IncomingMessage::from_value(with(inline(CONTENT), "signature", object_sig)).unwrap();
        assert_eq!(
            m.signature(),
            Some(r#"{"publicKey":"def","signature":"abc"}"#)
        );
        let extra = with(inline(CONTENT), "unexpected", json!({"x": 1}));
        let m = IncomingMessage::from_value(extra).unwrap();
        assert_eq!(m.raw()["unexpected"], json!({"x": 1}));
        assert!(
            !m.to_wire_value()
                .as_object()
                .unwrap()
                .contains_key("unexpected")
        );
        assert_eq!(m.to_wire_value().as_object().unwrap().len(), 9);
    }
}
