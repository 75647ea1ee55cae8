//! Building a message on the client side: content → `item_content` + `item_hash`, the text
//! to sign, then the signed [`IncomingMessage`].

use serde_json::{Value, json};

use super::{IncomingMessage, MessageError, parse::check_inline_content};
use crate::{Address, Chain, Channel, ItemHash, ItemType, MessageType, signature};

/// Everything of a message but its signature.
#[derive(Debug, Clone, PartialEq)]
pub struct UnsignedMessage {
    sender: Address,
    chain: Chain,
    message_type: MessageType,
    item_type: ItemType,
    item_content: Option<String>,
    item_hash: ItemHash,
    time: f64,
    channel: Option<Channel>,
}

impl UnsignedMessage {
    /// An inline message: `content` is serialised as compact JSON with non-ASCII escaped
    /// (as the Python SDK's `json.dumps(…, separators=(",", ":"))` does), then hashed.
    pub fn inline(
        chain: Chain,
        sender: Address,
        message_type: MessageType,
        content: &Value,
        time: f64,
    ) -> Result<Self, MessageError> {
        let item_content = compact_ascii_json(content);
        check_inline_content(&item_content)?;
        Ok(Self {
            item_hash: ItemHash::sha256_of(&item_content),
            item_type: ItemType::Inline,
            item_content: Some(item_content),
            sender,
            chain,
            message_type,
            time,
            channel: None,
        })
    }

    /// A message whose content was stored first (storage or ipfs, decided by the hash).
    pub fn stored(
        chain: Chain,
        sender: Address,
        message_type: MessageType,
        item_hash: ItemHash,
        time: f64,
    ) -> Self {
        Self {
            item_type: item_hash.item_type(),
            item_content: None,
            item_hash,
            sender,
            chain,
            message_type,
            time,
            channel: None,
        }
    }

    pub fn with_channel(mut self, channel: Channel) -> Self {
        self.channel = Some(channel);
        self
    }

    pub fn chain(&self) -> Chain {
        self.chain
    }

    pub fn sender(&self) -> &Address {
        &self.sender
    }

    pub fn item_hash(&self) -> &ItemHash {
        &self.item_hash
    }

    pub fn item_content(&self) -> Option<&str> {
        self.item_content.as_deref()
    }

    /// The text to sign: `"{chain}\n{sender}\n{type}\n{item_hash}"`.
    pub fn verification_buffer(&self) -> String {
        signature::verification_buffer(
            self.chain,
            self.sender.as_str(),
            self.message_type,
            self.item_hash.as_str(),
        )
    }

    /// Attaches the signature and validates the result like any received message.
    pub fn into_signed(self, signature: String) -> Result<IncomingMessage, MessageError> {
        IncomingMessage::from_value(json!({
            "sender": self.sender,
            "chain": self.chain,
            "signature": signature,
            "type": self.message_type,
            "item_type": self.item_type,
            "item_content": self.item_content,
            "item_hash": self.item_hash,
            "time": self.time,
            "channel": self.channel,
        }))
    }
}

/// Compact JSON with every non-ASCII character (and DEL) as a `\uXXXX` escape (UTF-16
/// units), like Python's `json.dumps(…, separators=(",", ":"))` with sorted keys.
pub fn compact_ascii_json(value: &Value) -> String {
    let compact = value.to_string();
    // Python's `ensure_ascii` escapes DEL (0x7f) as well as everything above it.
    let plain = |c: char| c.is_ascii() && c != '\u{7f}';
    if compact.chars().all(plain) {
        return compact;
    }
    // Outside strings JSON is plain ASCII, so every escaped char is inside a string.
    let mut out = String::with_capacity(compact.len() + 16);
    let mut units = [0u16; 2];
    for c in compact.chars() {
        if plain(c) {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_messages_hash_their_ascii_compact_content() {
        let content = json!({"type": "note", "content": {"text": "héllo 🌍"}, "time": 1.5});
        let unsigned = UnsignedMessage::inline(
            Chain::ETH,
            Address::new("0xabc"),
            MessageType::Post,
            &content,
            1.5,
        )
        .unwrap()
        .with_channel(Channel::new("TEST").unwrap());
        let text = unsigned.item_content().unwrap();
        assert_eq!(
            text,
            r#"{"content":{"text":"h\u00e9llo \ud83c\udf0d"},"time":1.5,"type":"note"}"#
        );
        assert_eq!(serde_json::from_str::<Value>(text).unwrap(), content);
        assert_eq!(compact_ascii_json(&json!("\u{7f}")), r#""\u007f""#);
        assert_eq!(unsigned.item_hash(), &ItemHash::sha256_of(text));
        let buffer = unsigned.verification_buffer();
        assert_eq!(
            buffer,
            format!("ETH\n0xabc\nPOST\n{}", unsigned.item_hash())
        );

        let message = unsigned.clone().into_signed("0xsig".to_owned()).unwrap();
        assert_eq!(message.item_content(), unsigned.item_content());
        assert_eq!(message.signature(), Some("0xsig"));
        assert_eq!(message.channel().map(Channel::as_str), Some("TEST"));
        assert_eq!(
            message.signed_fields().unwrap().verification_buffer(),
            buffer
        );
    }

    #[test]
    fn stored_messages_take_their_item_type_from_the_hash() {
        let cid = ItemHash::parse("QmYULJoNGPDmoRq4WNWTDTUvJGJv1hosox8H6vVd1kCsY8").unwrap();
        let sender = Address::new("0xabc");
        let unsigned = UnsignedMessage::stored(Chain::SOL, sender, MessageType::Store, cid, 2.0);
        let message = unsigned.into_signed("{}".to_owned()).unwrap();
        assert_eq!(message.item_type(), ItemType::Ipfs);
        assert_eq!(message.item_content(), None);
    }

    #[test]
    fn oversized_or_nul_content_is_refused_when_building() {
        let big = json!({"a": "x".repeat(crate::MAX_INLINE_CHARS)});
        let build = |c: &Value| {
            UnsignedMessage::inline(Chain::ETH, Address::new("a"), MessageType::Post, c, 1.0)
        };
        assert!(matches!(
            build(&big),
            Err(MessageError::ContentTooLong { .. })
        ));
        assert_eq!(
            build(&json!({"a": "\u{0}"})),
            Err(MessageError::NullCharacter)
        );
    }
}
